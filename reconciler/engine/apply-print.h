/*
 * What apply prints while it runs: a line when each action starts and
 * ends, providers' progress lines, and the slow steps a user waits on (an
 * image built, Docker installed, a health wait): a line when each starts,
 * "ADDRESS: WHAT...", and one when it ends, "ADDRESS: WHAT took 42.0s" or
 * "ADDRESS: WHAT failed after 12.0s".
 *
 * On a terminal that can rewrite a line, the steps running now also have
 * a status line under the others, "  WHAT (0:42), WHAT (1:10)", rewritten
 * in place about once a second and erased before any other line and at
 * the end. Anywhere else only the lines are written: no carriage return,
 * no escape code.
 *
 * Not thread-safe: apply calls it under its output lock.
 */
#ifndef GETBOT_APPLY_PRINT_H
#define GETBOT_APPLY_PRINT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

struct apply_step {
	unsigned id;
	char *address; /* owned */
	char *what;    /* owned: "building image getbot/openclaw:v1 in acme" */
	double started;
};

struct apply_printer {
	FILE *out;   /* NULL: nothing is printed */
	bool live;   /* a terminal: "[FINISHED/TOTAL] " before each line */
	bool redraw; /* a terminal that rewrites a line: the status line */
	/* The terminal's columns; 0: ask it (80 when it does not say). */
	unsigned columns;
	double (*now)(void);    /* monotonic seconds; NULL: budget_now */
	size_t finished, total; /* actions, for live lines */
	struct apply_step *steps;
	size_t nsteps, alloc;
	unsigned last_id;
	bool shown; /* the status line is on the terminal */
	double shown_at;
};

/* Whether out is a terminal that can rewrite its last line (a carriage
 * return and erase-to-end-of-line): not TERM=dumb, nor TERM unset. */
bool apply_print_can_redraw(FILE *out);

/* One line (the status line, if any, is erased and drawn again below). */
void apply_printer_line(struct apply_printer *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void apply_printer_vline(struct apply_printer *p, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* A slow step of address's action starts: its line, and the status line.
 * Returns the step's id for apply_printer_step_end (never 0). */
unsigned apply_printer_step_begin(
    struct apply_printer *p, const char *address, const char *what);
/* The step ends, done or failed: its line with its time. */
void apply_printer_step_end(struct apply_printer *p, unsigned id, bool ok);
/* Rewrite the status line when a second has passed since it was drawn
 * (apply calls this a few times a second). */
void apply_printer_tick(struct apply_printer *p);
/* Erase the status line and forget the steps: apply has ended. */
void apply_printer_finish(struct apply_printer *p);

#endif
