/* Apply's output of slow steps: their lines and, on a terminal, the
 * status line that counts their time, with a clock the test sets. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "apply-print.h"
#include "engine.h"
#include "tap.h"

static double test_clock;

static double
test_now(void)
{
	return test_clock;
}

/* A printer into memory; what it wrote since the last look. */
struct test_out {
	struct apply_printer printer;
	char *buf;
	size_t len, seen;
	char *fresh;
};

static void
test_out_open(struct test_out *t, bool redraw, unsigned columns)
{
	memset(t, 0, sizeof(*t));
	t->printer.out = open_memstream(&t->buf, &t->len);
	t->printer.redraw = redraw;
	t->printer.columns = columns;
	t->printer.now = test_now;
	test_clock = 100;
}

static const char *
test_out_fresh(struct test_out *t)
{
	fflush(t->printer.out);
	free(t->fresh);
	t->fresh = strndup(t->buf + t->seen, t->len - t->seen);
	t->seen = t->len;
	return t->fresh;
}

static void
test_out_close(struct test_out *t)
{
	apply_printer_finish(&t->printer);
	fclose(t->printer.out);
	free(t->buf);
	free(t->fresh);
}

static void
test_step__a_line_when_it_starts_and_one_with_its_time_when_it_ends(void)
{
	struct test_out t;
	unsigned id;

	test_out_open(&t, false, 0);
	id = apply_printer_step_begin(&t.printer, "docker.image.acme:v1",
	    "building image getbot/openclaw:v1 in acme");
	is_str(test_out_fresh(&t),
	    "docker.image.acme:v1: building image getbot/openclaw:v1 in "
	    "acme...\n",
	    "a step's start is one line");
	test_clock += 42;
	apply_printer_step_end(&t.printer, id, true);
	is_str(test_out_fresh(&t),
	    "docker.image.acme:v1: building image getbot/openclaw:v1 in acme "
	    "took 42.0s\n",
	    "its end is one line with its time");
	test_out_close(&t);
}

static void
test_step__a_failed_step_says_after_how_long(void)
{
	struct test_out t;
	unsigned id;

	test_out_open(&t, false, 0);
	id = apply_printer_step_begin(&t.printer, "docker.bot.acme/marketing",
	    "waiting for bot acme/marketing to turn healthy");
	test_clock += 60.5;
	(void)test_out_fresh(&t);
	apply_printer_step_end(&t.printer, id, false);
	is_str(test_out_fresh(&t),
	    "docker.bot.acme/marketing: waiting for bot acme/marketing to turn "
	    "healthy failed after 60.5s\n",
	    "a failed step's end says so, with its time");
	apply_printer_step_end(&t.printer, id, false);
	is_str(test_out_fresh(&t), "", "a step ends once");
	test_out_close(&t);
}

static void
test_step__steps_end_in_any_order(void)
{
	struct test_out t;
	unsigned first, second;

	test_out_open(&t, false, 0);
	first = apply_printer_step_begin(&t.printer, "a", "one");
	test_clock += 1;
	second = apply_printer_step_begin(&t.printer, "b", "two");
	ok(first != 0 && second != 0 && first != second,
	    "each step has an id of its own");
	test_clock += 2;
	apply_printer_step_end(&t.printer, first, true);
	test_clock += 4;
	apply_printer_step_end(&t.printer, second, true);
	is_str(test_out_fresh(&t),
	    "a: one...\nb: two...\na: one took 3.0s\nb: two took 6.0s\n",
	    "each end has its own step's time");
	test_out_close(&t);
}

static void
test_step__off_a_terminal_only_lines_are_written(void)
{
	struct test_out t;
	unsigned id;
	const char *out;

	test_out_open(&t, false, 0);
	id = apply_printer_step_begin(&t.printer, "a", "building");
	test_clock += 5;
	apply_printer_tick(&t.printer);
	apply_printer_line(&t.printer, "b: created (0.1s)");
	test_clock += 5;
	apply_printer_tick(&t.printer);
	apply_printer_step_end(&t.printer, id, true);
	apply_printer_finish(&t.printer);
	out = test_out_fresh(&t);
	is_str(out,
	    "a: building...\nb: created (0.1s)\na: building took 10.0s\n",
	    "the lines and nothing else");
	ok(strchr(out, '\r') == NULL && strchr(out, '\033') == NULL,
	    "no carriage return, no escape code");
	test_out_close(&t);
}

static void
test_step__on_a_terminal_a_status_line_counts_the_time(void)
{
	struct test_out t;
	unsigned build, install;

	test_out_open(&t, true, 200);
	build = apply_printer_step_begin(
	    &t.printer, "docker.image.acme:v1", "building image x");
	is_str(test_out_fresh(&t),
	    "docker.image.acme:v1: building image x...\n"
	    "\r\033[K  building image x (0:00)",
	    "a step's start is its line, then the status line below it");
	test_clock += 0.5;
	apply_printer_tick(&t.printer);
	is_str(test_out_fresh(&t), "", "not redrawn within a second");
	test_clock += 41.5;
	apply_printer_tick(&t.printer);
	is_str(test_out_fresh(&t), "\r\033[K  building image x (0:42)",
	    "redrawn in place after a second, with the time");
	test_clock += 30;
	install = apply_printer_step_begin(&t.printer, "incus.container.globex",
	    "installing Docker in globex");
	is_str(test_out_fresh(&t),
	    "\r\033[Kincus.container.globex: installing Docker in globex...\n"
	    "\r\033[K  building image x (1:12), installing Docker in globex "
	    "(0:00)",
	    "erased before a line; every step running is on it");
	test_clock += 3;
	apply_printer_step_end(&t.printer, build, true);
	is_str(test_out_fresh(&t),
	    "\r\033[Kdocker.image.acme:v1: building image x took 75.0s\n"
	    "\r\033[K  installing Docker in globex (0:03)",
	    "a step that ends leaves it");
	apply_printer_step_end(&t.printer, install, true);
	is_str(test_out_fresh(&t),
	    "\r\033[Kincus.container.globex: installing Docker in globex took "
	    "3.0s\n",
	    "with no step running there is no status line");
	test_clock += 5;
	apply_printer_tick(&t.printer);
	is_str(test_out_fresh(&t), "", "and nothing to redraw");
	test_out_close(&t);
}

static void
test_step__the_status_line_is_erased_at_the_end(void)
{
	struct test_out t;

	test_out_open(&t, true, 200);
	(void)apply_printer_step_begin(&t.printer, "a", "building");
	(void)test_out_fresh(&t);
	apply_printer_finish(&t.printer);
	is_str(test_out_fresh(&t), "\r\033[K", "finish erases it");
	test_out_close(&t);
}

static void
test_step__the_status_line_fits_the_terminal(void)
{
	struct test_out t;
	const char *out;

	test_out_open(&t, true, 24);
	(void)apply_printer_step_begin(
	    &t.printer, "a", "building image getbot/openclaw:v1 in acme");
	out = strchr(test_out_fresh(&t), '\r');
	is_str(out, "\r\033[K  building image get...",
	    "cut to one line short of the width, so that a carriage return "
	    "reaches its start");
	test_out_close(&t);
}

static void
test_step__live_lines_count_the_actions(void)
{
	struct test_out t;

	test_out_open(&t, false, 0);
	t.printer.live = true;
	t.printer.finished = 3;
	t.printer.total = 10;
	(void)apply_printer_step_begin(&t.printer, "a", "building");
	is_str(test_out_fresh(&t), "[3/10] a: building...\n",
	    "on a terminal a step's line has the count too");
	test_out_close(&t);
}

/* What the provider side calls, through an engine that records it. */
static unsigned test_begun, test_ended, test_ended_ok;

static unsigned
test_step_begin(void *ctx, const char *address, const char *what)
{
	(void)ctx;
	(void)address;
	(void)what;
	return ++test_begun;
}

static void
test_step_end(void *ctx, unsigned step, bool ok)
{
	(void)ctx;
	test_ended = step;
	test_ended_ok += ok;
}

static void
test_provider_step__one_at_a_time_and_ended_once(void)
{
	struct engine engine;
	struct provider_call call;

	memset(&engine, 0, sizeof(engine));
	memset(&call, 0, sizeof(call));
	provider_step_begin(&call, "a", "outside an apply");
	ok(call.step == 0, "outside an apply a step is nothing");
	engine.step_begin = test_step_begin;
	engine.step_end = test_step_end;
	call.engine = &engine;
	provider_step_begin(&call, "a", "%s image", "downloading");
	provider_step_begin(&call, "a", "installing Docker");
	is_int(test_ended, 1, "a second step ends the first");
	is_int(test_ended_ok, 1, "as done");
	provider_step_end(&call, false);
	provider_step_end(&call, true);
	is_int(test_ended, 2, "end ends the step running");
	is_int(test_ended_ok, 1, "failed, and only once");
}

int
main(void)
{
	test_step__a_line_when_it_starts_and_one_with_its_time_when_it_ends();
	test_step__a_failed_step_says_after_how_long();
	test_step__steps_end_in_any_order();
	test_step__off_a_terminal_only_lines_are_written();
	test_step__on_a_terminal_a_status_line_counts_the_time();
	test_step__the_status_line_is_erased_at_the_end();
	test_step__the_status_line_fits_the_terminal();
	test_step__live_lines_count_the_actions();
	test_provider_step__one_at_a_time_and_ended_once();
	return tap_done();
}
