/* Planning: diff per field class, reasons, drift, scope, safety, order. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "provider.h"
#include "state.h"
#include "xmalloc.h"

static const char *const action_names[ACTION_KIND_COUNT] = {
	[ACTION_CREATE] = "create",
	[ACTION_UPDATE] = "update",
	[ACTION_UPDATE_SECRET] = "update-secret",
	[ACTION_REREGISTER] = "re-register",
	[ACTION_REPLACE] = "replace",
	[ACTION_DELETE] = "delete",
};

const char *
action_kind_name(enum action_kind kind)
{
	return action_names[kind];
}

int
action_kind_parse(const char *name)
{
	int i;

	for (i = 0; i < ACTION_KIND_COUNT; i++)
		if (strcmp(action_names[i], name) == 0)
			return i;
	return -1;
}

static void
plan_push(char ***list, size_t *n, char *message)
{
	*list = xreallocarray(*list, *n + 1, sizeof(**list));
	(*list)[(*n)++] = message;
}

/* Does one --org/--exclude pattern (ORG or ORG/TEAM) match? */
static bool
plan_pattern_matches(const char *pattern, const char *org, const char *team)
{
	const char *slash = strchr(pattern, '/');
	size_t org_len = slash ? (size_t)(slash - pattern) : strlen(pattern);

	if (org == NULL || strlen(org) != org_len ||
	    strncmp(pattern, org, org_len) != 0)
		return false;
	if (slash == NULL)
		return true;
	return team != NULL && strcmp(slash + 1, team) == 0;
}

bool
plan_in_scope(
    const struct plan_options *options, const char *org, const char *team)
{
	size_t i;
	bool selected = options->norgs == 0;

	for (i = 0; i < options->norgs && !selected; i++)
		selected = plan_pattern_matches(options->orgs[i], org, team);
	for (i = 0; i < options->nexcludes && selected; i++)
		selected =
		    !plan_pattern_matches(options->excludes[i], org, team);
	return selected;
}

static bool
plan_replace_requested(const struct plan_options *options, const char *address)
{
	size_t i;

	for (i = 0; i < options->nreplace; i++)
		if (strcmp(options->replace[i], address) == 0)
			return true;
	return false;
}

static struct plan_action *
plan_add(struct plan *plan, size_t *alloc, enum action_kind kind,
    const char *address)
{
	struct plan_action *a;

	ALLOC_GROW(plan->actions, plan->count + 1, *alloc);
	a = &plan->actions[plan->count++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->address = address;
	return a;
}

static void
plan_add_change(struct plan_action *a, const char *field,
    enum field_class class, const cJSON *before, const cJSON *after, bool drift)
{
	struct plan_change *c;

	a->changes =
	    xreallocarray(a->changes, a->nchanges + 1, sizeof(*a->changes));
	c = &a->changes[a->nchanges++];
	c->field = xstrdup(field);
	c->class = class;
	c->before = before != NULL ? cJSON_Duplicate(before, true) : NULL;
	c->after = after != NULL ? cJSON_Duplicate(after, true) : NULL;
	c->drift = drift;
	c->fingerprint = false;
}

static bool
plan_json_equal(const cJSON *a, const cJSON *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return cJSON_Compare(a, b, true);
}

/* A short line diff of two texts: lines only in before get '-', lines only
 * in after get '+', at most limit lines each. */
static void
plan_text_diff(
    struct strbuf *out, const char *before, const char *after, int limit)
{
	const char *texts[2] = { before, after };
	const char *marks = "-+";
	int side;

	for (side = 0; side < 2; side++) {
		const char *line = texts[side];
		int shown = 0;

		while (*line != '\0' && shown < limit) {
			size_t len = strcspn(line, "\n");
			const char *other = texts[1 - side];
			bool in_other = false;

			while (*other != '\0' && !in_other) {
				size_t olen = strcspn(other, "\n");

				in_other = olen == len &&
					   strncmp(other, line, len) == 0;
				other += olen + (other[olen] == '\n');
			}
			if (!in_other) {
				strbuf_addf(out, "    %c %.*s\n", marks[side],
				    (int)len, line);
				shown++;
			}
			line += len + (line[len] == '\n');
		}
	}
}

/* Compare one desired resource with its observed object. */
static void
plan_diff(struct plan *plan, size_t *alloc, struct resource *r,
    struct observed *o, const cJSON *snapshot,
    const struct plan_options *options)
{
	const cJSON *applied =
	    cJSON_GetObjectItemCaseSensitive(snapshot, "spec");
	const cJSON *applied_fprs =
	    cJSON_GetObjectItemCaseSensitive(snapshot, "fingerprints");
	const struct field_def *f;
	struct plan_action probe;
	bool replace = plan_replace_requested(options, r->address);
	bool classes[FIELD_INPLACE + 1] = { false };
	bool all_drift = true;
	struct strbuf reason = STRBUF_INIT;
	size_t i;

	memset(&probe, 0, sizeof(probe));
	for (f = r->kind->fields; f != NULL && f->name != NULL; f++) {
		const cJSON *want =
		    cJSON_GetObjectItemCaseSensitive(r->spec, f->name);
		const cJSON *have =
		    cJSON_GetObjectItemCaseSensitive(o->spec, f->name);
		const cJSON *was =
		    cJSON_GetObjectItemCaseSensitive(applied, f->name);
		bool drift;

		if (plan_json_equal(want, have))
			continue;
		drift = snapshot != NULL && plan_json_equal(want, was);
		plan_add_change(&probe, f->name, f->class, have, want, drift);
		classes[f->class] = true;
		all_drift &= drift;
	}
	for (i = 0; i < r->nsecrets; i++) {
		const char *want = r->secrets[i].fingerprint;
		const cJSON *have = cJSON_GetObjectItemCaseSensitive(
		    o->fingerprints, r->secrets[i].name);
		const cJSON *was = cJSON_GetObjectItemCaseSensitive(
		    applied_fprs, r->secrets[i].name);
		cJSON *after;
		bool drift;

		if (cJSON_IsString(have) &&
		    strcmp(have->valuestring, want) == 0)
			continue;
		drift =
		    cJSON_IsString(was) && strcmp(was->valuestring, want) == 0;
		after = cJSON_CreateString(want);
		plan_add_change(&probe, r->secrets[i].name, FIELD_SECRET, have,
		    after, drift);
		probe.changes[probe.nchanges - 1].fingerprint = true;
		cJSON_Delete(after);
		classes[FIELD_SECRET] = true;
		all_drift &= drift;
	}

	if (probe.nchanges == 0 && !replace) {
		free(probe.changes);
		return;
	}
	if (classes[FIELD_IMMUTABLE] && !replace) {
		struct strbuf msg = STRBUF_INIT;

		for (i = 0; i < probe.nchanges; i++) {
			const struct plan_change *c = &probe.changes[i];

			if (c->class != FIELD_IMMUTABLE)
				continue;
			strbuf_addf(&msg,
			    "%s of %s cannot change once deployed", c->field,
			    r->address);
			if (c->drift)
				strbuf_addstr(
				    &msg, " (it was changed outside getbot)");
			strbuf_addstr(&msg, ":\n");
			plan_text_diff(&msg,
			    cJSON_IsString(c->before) ? c->before->valuestring
						      : "",
			    cJSON_IsString(c->after) ? c->after->valuestring
						     : "",
			    8);
			strbuf_addf(&msg,
			    "  to rebuild it with the new %s, plan with "
			    "--replace %s",
			    c->field, r->address);
			if (r->kind->lost_on_replace != NULL)
				strbuf_addf(&msg, " (this loses %s)",
				    r->kind->lost_on_replace);
			plan_push(&plan->refusals, &plan->nrefusals,
			    strbuf_detach(&msg, NULL));
		}
	}

	if (replace)
		probe.kind = ACTION_REPLACE;
	else if (classes[FIELD_IDENTITY])
		probe.kind = ACTION_REPLACE;
	else if (classes[FIELD_SECRET])
		probe.kind = ACTION_UPDATE_SECRET;
	else if (classes[FIELD_INPLACE] || classes[FIELD_IMMUTABLE])
		probe.kind = ACTION_UPDATE;
	else
		probe.kind = ACTION_REREGISTER;

	if (replace) {
		strbuf_addstr(&reason, "replacement requested");
		if (r->kind->lost_on_replace != NULL)
			strbuf_addf(&reason, "; this loses %s",
			    r->kind->lost_on_replace);
	} else {
		if (all_drift)
			strbuf_addstr(&reason, "drift: ");
		for (i = 0; i < probe.nchanges; i++)
			strbuf_addf(&reason, "%s%s", i ? ", " : "",
			    probe.changes[i].field);
		strbuf_addstr(&reason,
		    all_drift ? " changed outside getbot" : " changed");
	}
	{
		struct plan_action *a =
		    plan_add(plan, alloc, probe.kind, r->address);

		a->desired = r;
		a->observed = o;
		a->changes = probe.changes;
		a->nchanges = probe.nchanges;
		a->drift = all_drift && !replace;
		a->reason = strbuf_detach(&reason, NULL);
		a->rank = r->kind->order;
	}
}

/* Shared resources (no org) are in scope when a selected one needs them. */
static void
plan_mark_needed(
    const struct resource_set *desired, struct resource *r, bool *in_scope)
{
	size_t i, j;

	for (i = 0; i < r->ndeps; i++)
		for (j = 0; j < desired->count; j++)
			if (!in_scope[j] && strcmp(desired->items[j]->address,
						r->deps[i]) == 0) {
				in_scope[j] = true;
				plan_mark_needed(
				    desired, desired->items[j], in_scope);
			}
}

/* An action's address, with its index, for lookups by address. */
struct plan_index {
	const char *address;
	size_t action;
};

static int
plan_index_compare(const void *a, const void *b)
{
	return strcmp(((const struct plan_index *)a)->address,
	    ((const struct plan_index *)b)->address);
}

/* Does delete action b have to finish before delete action a (objects of
 * a higher order go first, within a's org and team, or everywhere when a
 * is shared)? */
static bool
plan_delete_waits(const struct plan_action *a, const struct plan_action *b)
{
	const struct observed *x = a->observed, *y = b->observed;

	if (b->rank <= a->rank)
		return false;
	if (x->org == NULL)
		return true;
	if (y->org == NULL || strcmp(x->org, y->org) != 0)
		return false;
	return x->team == NULL ||
	       (y->team != NULL && strcmp(x->team, y->team) == 0);
}

static void
plan_add_dep(struct plan_action *a, size_t on)
{
	a->deps = xreallocarray(a->deps, a->ndeps + 1, sizeof(*a->deps));
	a->deps[a->ndeps++] = on;
}

/* Order keys: everything else before deletes, then by address. */
static int
plan_order_compare(const void *a, const void *b)
{
	const struct plan_action *x = *(const struct plan_action *const *)a;
	const struct plan_action *y = *(const struct plan_action *const *)b;
	bool xd = x->kind == ACTION_DELETE, yd = y->kind == ACTION_DELETE;

	if (xd != yd)
		return xd ? 1 : -1;
	return strcmp(x->address, y->address);
}

/*
 * The order actions may run in, and who waits for whom: an action waits
 * for the actions on the resources it needs; a delete waits for the
 * deletes of higher order in its scope. Kahn's algorithm in rounds, each
 * round in (non-delete first, address) order; cycles, which expand never
 * makes, keep their members at the end.
 */
static void
plan_link(struct plan *plan)
{
	size_t n = plan->count, i, j, k, placed = 0;
	struct plan_index *index = xcalloc(n + 1, sizeof(*index));
	size_t *waiting = xcalloc(n + 1, sizeof(*waiting));
	size_t *new_index = xcalloc(n + 1, sizeof(*new_index));
	struct plan_action **ready = xcalloc(n + 1, sizeof(*ready));
	struct plan_action *ordered = xcalloc(n + 1, sizeof(*ordered));
	bool *done = xcalloc(n + 1, sizeof(*done));

	for (i = 0; i < n; i++) {
		index[i].address = plan->actions[i].address;
		index[i].action = i;
	}
	qsort(index, n, sizeof(*index), plan_index_compare);
	for (i = 0; i < n; i++) {
		struct plan_action *a = &plan->actions[i];

		if (a->kind != ACTION_DELETE) {
			for (k = 0; k < a->desired->ndeps; k++) {
				struct plan_index key = { a->desired->deps[k],
					0 };
				const struct plan_index *hit =
				    bsearch(&key, index, n, sizeof(*index),
					plan_index_compare);

				if (hit != NULL &&
				    plan->actions[hit->action].kind !=
					ACTION_DELETE)
					plan_add_dep(a, hit->action);
			}
			continue;
		}
		for (j = 0; j < n; j++)
			if (j != i && plan->actions[j].kind == ACTION_DELETE &&
			    plan_delete_waits(a, &plan->actions[j]))
				plan_add_dep(a, j);
	}
	for (i = 0; i < n; i++)
		waiting[i] = plan->actions[i].ndeps;

	while (placed < n) {
		size_t nready = 0;

		for (i = 0; i < n; i++)
			if (!done[i] && waiting[i] == 0)
				ready[nready++] = &plan->actions[i];
		if (nready == 0) /* a cycle: release it whole */
			for (i = 0; i < n; i++)
				if (!done[i])
					ready[nready++] = &plan->actions[i];
		qsort(ready, nready, sizeof(*ready), plan_order_compare);
		for (k = 0; k < nready; k++) {
			size_t at = (size_t)(ready[k] - plan->actions);

			done[at] = true;
			new_index[at] = placed;
			ordered[placed++] = *ready[k];
		}
		for (i = 0; i < n; i++)
			for (j = 0; !done[i] && j < plan->actions[i].ndeps; j++)
				if (done[plan->actions[i].deps[j]] &&
				    waiting[i] > 0 &&
				    new_index[plan->actions[i].deps[j]] >=
					placed - nready)
					waiting[i]--;
	}
	/* dependencies, as indices in the new order */
	for (i = 0; i < n; i++)
		for (j = 0; j < ordered[i].ndeps; j++)
			ordered[i].deps[j] = new_index[ordered[i].deps[j]];
	free(plan->actions);
	plan->actions = ordered;
	free(index);
	free(waiting);
	free(new_index);
	free(ready);
	free(done);
}

void
plan_make(const struct resource_set *desired,
    const struct observed_set *observed, struct state *state,
    const struct plan_options *options, struct plan *out)
{
	bool *in_scope = xcalloc(desired->count + 1, sizeof(*in_scope));
	size_t alloc = 0, i, deletes = 0;
	bool scoped = options->norgs > 0 || options->nexcludes > 0;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < observed->count; i++)
		out->managed += observed->items[i]->owned;

	for (i = 0; i < desired->count; i++)
		in_scope[i] =
		    desired->items[i]->org != NULL
			? plan_in_scope(options, desired->items[i]->org,
			      desired->items[i]->team)
			: !scoped;
	for (i = 0; i < desired->count; i++)
		if (in_scope[i] && desired->items[i]->org != NULL)
			plan_mark_needed(desired, desired->items[i], in_scope);

	for (i = 0; i < options->nreplace; i++)
		if (resource_set_find(desired, options->replace[i]) == NULL)
			plan_push(&out->errors, &out->nerrors,
			    xasprintf("--replace %s: no such resource in the "
				      "config",
				options->replace[i]));

	for (i = 0; i < desired->count; i++) {
		struct resource *r = desired->items[i];
		struct observed *o = observed_set_find(observed, r->address);
		const cJSON *snapshot =
		    state != NULL ? state_resource(state, r->address) : NULL;

		if (!in_scope[i])
			continue;
		if (o != NULL && !o->owned && o->notice != NULL) {
			plan_push(&out->errors, &out->nerrors,
			    xasprintf("%s: %s", r->address, o->notice));
			continue;
		}
		if (o != NULL && !o->owned) {
			plan_push(&out->errors, &out->nerrors,
			    xasprintf("%s exists but getbot did not make it "
				      "(it has no getbot marker); getbot "
				      "never touches it: rename or remove it",
				r->address));
			continue;
		}
		if (o == NULL) {
			struct plan_action *a =
			    plan_add(out, &alloc, ACTION_CREATE, r->address);

			a->desired = r;
			a->drift = snapshot != NULL;
			a->reason =
			    xstrdup(a->drift ? "drift: deleted outside getbot"
					     : "not found");
			a->rank = r->kind->order;
			continue;
		}
		plan_diff(out, &alloc, r, o, snapshot, options);
	}

	for (i = 0; i < observed->count; i++) {
		struct observed *o = observed->items[i];
		struct plan_action *a;

		if (!o->owned || resource_set_find(desired, o->address) != NULL)
			continue;
		if (o->org != NULL ? !plan_in_scope(options, o->org, o->team)
				   : scoped)
			continue;
		a = plan_add(out, &alloc, ACTION_DELETE, o->address);
		a->observed = o;
		a->reason = xstrdup("no longer in config");
		a->rank = o->kind->order;
		deletes++;
	}

	/* --only: drop what was not asked for */
	if (options->only != 0 || options->only_drift) {
		size_t kept = 0;

		for (i = 0; i < out->count; i++) {
			struct plan_action *a = &out->actions[i];
			bool keep = options->only == 0 ||
				    (options->only & (1u << a->kind)) != 0;

			if (options->only_drift)
				keep = keep && a->drift &&
				       a->kind != ACTION_DELETE;
			if (keep)
				out->actions[kept++] = *a;
			else {
				size_t c;

				for (c = 0; c < a->nchanges; c++) {
					free(a->changes[c].field);
					cJSON_Delete(a->changes[c].before);
					cJSON_Delete(a->changes[c].after);
				}
				free(a->changes);
				free(a->reason);
				if (a->kind == ACTION_DELETE)
					deletes--;
			}
		}
		out->count = kept;
	}

	if (deletes > PLAN_DELETE_THRESHOLD && deletes * 3 > out->managed &&
	    !options->allow_deletes)
		plan_push(&out->refusals, &out->nrefusals,
		    xasprintf(
			"the plan deletes %zu of the %zu resources getbot "
			"manages (more than %d and more than a third); "
			"if that is intended, plan with --allow-deletes",
			deletes, out->managed, PLAN_DELETE_THRESHOLD));

	if (state != NULL) {
		const cJSON *unfinished = state_unfinished(state);
		const cJSON *intent;

		cJSON_ArrayForEach (intent, unfinished) {
			const cJSON *addr =
			    cJSON_GetObjectItemCaseSensitive(intent, "address");
			const cJSON *act =
			    cJSON_GetObjectItemCaseSensitive(intent, "action");
			bool exists = cJSON_IsString(addr) &&
				      observed_set_find(
					  observed, addr->valuestring) != NULL;

			if (!cJSON_IsString(addr) || !cJSON_IsString(act))
				continue;
			plan_push(&out->notes, &out->nnotes,
			    xasprintf("an earlier apply was interrupted during "
				      "%s of %s; it %s, and this plan starts "
				      "from what is there",
				act->valuestring, addr->valuestring,
				exists ? "exists now" : "does not exist"));
		}
	}
	plan_link(out);
	free(in_scope);
}

void
plan_counts(const struct plan *plan, size_t *add, size_t *change,
    size_t *replace, size_t *destroy)
{
	size_t i;

	*add = *change = *replace = *destroy = 0;
	for (i = 0; i < plan->count; i++) {
		switch (plan->actions[i].kind) {
		case ACTION_CREATE:
			(*add)++;
			break;
		case ACTION_DELETE:
			(*destroy)++;
			break;
		case ACTION_REPLACE:
			(*replace)++;
			break;
		default:
			(*change)++;
			break;
		}
	}
}

void
plan_release(struct plan *plan)
{
	size_t i, c;

	for (i = 0; i < plan->count; i++) {
		struct plan_action *a = &plan->actions[i];

		for (c = 0; c < a->nchanges; c++) {
			free(a->changes[c].field);
			cJSON_Delete(a->changes[c].before);
			cJSON_Delete(a->changes[c].after);
		}
		free(a->changes);
		free(a->deps);
		free(a->reason);
	}
	free(plan->actions);
	for (i = 0; i < plan->nrefusals; i++)
		free(plan->refusals[i]);
	free(plan->refusals);
	for (i = 0; i < plan->nerrors; i++)
		free(plan->errors[i]);
	free(plan->errors);
	for (i = 0; i < plan->nnotes; i++)
		free(plan->notes[i]);
	free(plan->notes);
	memset(plan, 0, sizeof(*plan));
}

const struct plan_action *
plan_find(const struct plan *plan, const char *address)
{
	size_t i;

	for (i = 0; i < plan->count; i++)
		if (strcmp(plan->actions[i].address, address) == 0)
			return &plan->actions[i];
	return NULL;
}
