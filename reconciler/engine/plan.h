/*
 * The plan: desired minus observed, per field class, as ordered actions
 * with reasons. Drift is told apart from config changes by the last
 * applied snapshot in the state.
 */
#ifndef GETBOT_PLAN_H
#define GETBOT_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "resource.h"
#include "strbuf.h"

struct state;

enum action_kind {
	ACTION_CREATE,
	ACTION_UPDATE,
	ACTION_UPDATE_SECRET,
	ACTION_REREGISTER,
	ACTION_REPLACE,
	ACTION_DELETE,
	ACTION_KIND_COUNT,
};

struct plan_change {
	char *field;
	enum field_class class;
	cJSON *before;    /* owned; NULL when absent (secrets: fingerprint) */
	cJSON *after;     /* owned; NULL when absent */
	bool drift;       /* the config still says what was applied */
	bool fingerprint; /* a secret: before and after are fingerprints */
};

struct plan_action {
	enum action_kind kind;
	const char *address;       /* borrowed from desired or observed */
	struct resource *desired;  /* borrowed; NULL for delete */
	struct observed *observed; /* borrowed; NULL for create */
	char *reason;
	bool drift;
	struct plan_change *changes;
	size_t nchanges;
	size_t *deps; /* indices of actions that must succeed first */
	size_t ndeps;
	unsigned rank; /* the kind's place in the dependency order */
};

struct plan_options {
	const char *const *replace; /* --replace ADDR */
	size_t nreplace;
	unsigned only;   /* bit (1 << kind) per allowed kind; 0: all */
	bool only_drift; /* --only drift: drift repairs, never deletes */
	const char *const *orgs; /* --org ORG[/TEAM] */
	size_t norgs;
	const char *const *excludes; /* --exclude ORG[/TEAM] */
	size_t nexcludes;
	bool allow_deletes;
};

struct plan {
	struct plan_action *actions; /* in the order they may run */
	size_t count;
	size_t managed;  /* objects observed with getbot's marker */
	char **refusals; /* policy: the plan may not be applied (exit 3) */
	size_t nrefusals;
	char **errors; /* the plan cannot be made as asked (exit 1) */
	size_t nerrors;
	char **notes; /* said before the plan (interrupted applies) */
	size_t nnotes;
};

#define PLAN_DELETE_THRESHOLD 10

const char *action_kind_name(enum action_kind kind);
/* Parse "create", ..., "delete"; -1 when unknown. */
int action_kind_parse(const char *name);

/* Diff desired against observed (and the state's snapshots, may be NULL). */
void plan_make(const struct resource_set *desired,
    const struct observed_set *observed, struct state *state,
    const struct plan_options *options, struct plan *out);
void plan_release(struct plan *plan);
/* The action the plan has for address, or NULL. */
const struct plan_action *plan_find(
    const struct plan *plan, const char *address);
/* Counts for the summary line. */
void plan_counts(const struct plan *plan, size_t *add, size_t *change,
    size_t *replace, size_t *destroy);
/* Is address selected by --org/--exclude (org, team may be NULL)? */
bool plan_in_scope(
    const struct plan_options *options, const char *org, const char *team);

#endif
