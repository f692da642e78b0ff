/* Apply's output: its lines, slow steps and, on a terminal, their status. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "apply-print.h"
#include "budget.h"
#include "strbuf.h"
#include "xmalloc.h"

#define APPLY_PRINT_COLUMNS 80 /* when the terminal does not say */
/* The status line's carriage return and erase to the end of the line
 * (ECMA-48 EL), which every terminal but a dumb one knows. */
#define APPLY_PRINT_ERASE "\r\033[K"

bool
apply_print_can_redraw(FILE *out)
{
	const char *term = getenv("TERM");

	return isatty(fileno(out)) && term != NULL && *term != '\0' &&
	       strcmp(term, "dumb") != 0;
}

static double
apply_printer_now(const struct apply_printer *p)
{
	return p->now != NULL ? p->now() : budget_now();
}

static unsigned
apply_printer_columns(const struct apply_printer *p)
{
	struct winsize size;

	if (p->columns > 0)
		return p->columns;
	if (ioctl(fileno(p->out), TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
		return size.ws_col;
	return APPLY_PRINT_COLUMNS;
}

/* The status line: each step running and how long it has run, cut to
 * one line of the terminal, so that a carriage return reaches its start. */
static void
apply_printer_status(const struct apply_printer *p, struct strbuf *line)
{
	double now = apply_printer_now(p);
	size_t i, most = apply_printer_columns(p) - 1;

	strbuf_addstr(line, " ");
	for (i = 0; i < p->nsteps; i++) {
		long seconds = (long)(now - p->steps[i].started);

		strbuf_addf(line, "%s %s (%ld:%02ld)", i > 0 ? "," : "",
		    p->steps[i].what, seconds / 60, seconds % 60);
	}
	if (line->len > most && most > 3) {
		size_t cut = most - 3;

		/* not inside a UTF-8 character */
		while (cut > 0 && (line->buf[cut] & 0xc0) == 0x80)
			cut--;
		strbuf_setlen(line, cut);
		strbuf_addstr(line, "...");
	}
}

static void
apply_printer_erase(struct apply_printer *p)
{
	if (!p->shown)
		return;
	fputs(APPLY_PRINT_ERASE, p->out);
	p->shown = false;
}

static void
apply_printer_draw(struct apply_printer *p)
{
	struct strbuf line = STRBUF_INIT;

	if (!p->redraw || p->nsteps == 0) {
		apply_printer_erase(p);
		return;
	}
	apply_printer_status(p, &line);
	fputs(APPLY_PRINT_ERASE, p->out);
	fputs(line.buf, p->out);
	p->shown = true;
	p->shown_at = apply_printer_now(p);
	strbuf_release(&line);
}

void
apply_printer_vline(struct apply_printer *p, const char *fmt, va_list ap)
{
	if (p->out == NULL)
		return;
	apply_printer_erase(p);
	if (p->live)
		fprintf(p->out, "[%zu/%zu] ", p->finished, p->total);
	vfprintf(p->out, fmt, ap);
	fputc('\n', p->out);
	apply_printer_draw(p);
	fflush(p->out);
}

void
apply_printer_line(struct apply_printer *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	apply_printer_vline(p, fmt, ap);
	va_end(ap);
}

unsigned
apply_printer_step_begin(
    struct apply_printer *p, const char *address, const char *what)
{
	struct apply_step *step;

	if (p->nsteps == p->alloc) {
		p->alloc = p->alloc ? 2 * p->alloc : 8;
		p->steps = xreallocarray(p->steps, p->alloc, sizeof(*p->steps));
	}
	step = &p->steps[p->nsteps++];
	step->id = ++p->last_id;
	step->address = xstrdup(address);
	step->what = xstrdup(what);
	step->started = apply_printer_now(p);
	apply_printer_line(p, "%s: %s...", address, what);
	return step->id;
}

void
apply_printer_step_end(struct apply_printer *p, unsigned id, bool ok)
{
	struct apply_step step;
	size_t i;

	for (i = 0; i < p->nsteps && p->steps[i].id != id; i++)
		;
	if (i == p->nsteps)
		return;
	step = p->steps[i];
	memmove(&p->steps[i], &p->steps[i + 1],
	    (p->nsteps - i - 1) * sizeof(*p->steps));
	p->nsteps--;
	apply_printer_line(p, "%s: %s %s %.1fs", step.address, step.what,
	    ok ? "took" : "failed after", apply_printer_now(p) - step.started);
	free(step.address);
	free(step.what);
}

void
apply_printer_tick(struct apply_printer *p)
{
	if (p->out == NULL || !p->redraw || p->nsteps == 0 ||
	    (p->shown && apply_printer_now(p) - p->shown_at < 1))
		return;
	apply_printer_draw(p);
	fflush(p->out);
}

void
apply_printer_finish(struct apply_printer *p)
{
	size_t i;

	if (p->out != NULL) {
		apply_printer_erase(p);
		fflush(p->out);
	}
	for (i = 0; i < p->nsteps; i++) {
		free(p->steps[i].address);
		free(p->steps[i].what);
	}
	free(p->steps);
	p->steps = NULL;
	p->nsteps = p->alloc = 0;
}
