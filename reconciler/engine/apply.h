/*
 * Apply: run a plan's actions as a graph, in parallel within each
 * provider's limits, journaling each one in the state before its first
 * remote call and recording what was applied after it.
 */
#ifndef GETBOT_APPLY_H
#define GETBOT_APPLY_H

#include <stdbool.h>
#include <stdio.h>

#include "engine.h"
#include "plan.h"
#include "state.h"

struct apply_options {
	unsigned parallelism; /* actions at once (default 10) */
	bool purge_data;      /* deletes also remove kept data */
	FILE *progress;       /* one line per action start and end */
	bool live;            /* a terminal: a running count on each line */
	/* A terminal that rewrites a line (apply_print_can_redraw): the
	 * slow steps running have a counter there. */
	bool redraw;
};

/* What became of one action of the plan. */
enum apply_outcome {
	APPLY_OUTCOME_NOT_RUN,
	APPLY_OUTCOME_SUCCEEDED,
	APPLY_OUTCOME_FAILED,
	APPLY_OUTCOME_SKIPPED, /* an action it needs failed */
};

struct apply_summary {
	size_t succeeded;
	size_t failed;
	size_t skipped;
	struct strbuf failures; /* "ADDR: message" lines */
	/* One per action, in the plan's order (count of them): its outcome
	 * and, for a failure or a skip, why (else NULL). Owned. */
	enum apply_outcome *outcomes;
	char **messages;
	size_t count;
};

/* Run plan. Returns 0 when every action succeeded, -1 otherwise (the
 * summary says what happened to each). state may not be NULL. */
int apply_run(struct engine *engine, struct plan *plan, struct state *state,
    const struct apply_options *options, struct apply_summary *summary);
void apply_summary_release(struct apply_summary *summary);
/*
 * Intents an interrupted apply left unfinished are resolved by what was
 * observed: an object that exists as desired is adopted into the state; one
 * that does not is created again by this plan. Either way the intent is
 * closed, so that nothing is done twice. Changes only the state.
 */
int apply_resolve_intents(struct engine *engine, const struct plan *plan,
    struct state *state, const struct apply_options *options,
    struct strbuf *err);

#endif
