/* Apply: the action graph on a pool of threads, with limits and retries. */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply-print.h"
#include "apply.h"
#include "xmalloc.h"

enum apply_status {
	APPLY_PENDING,
	APPLY_RUNNING,
	APPLY_DONE,
	APPLY_FAILED,
	APPLY_SKIPPED,
};

/* The concurrency of one provider on one target (its rate is the
 * engine's budget, shared with observation). */
struct apply_lane {
	const struct provider *provider;
	const struct bots_target *target;
	unsigned running;
};

struct apply_ctx {
	struct engine *engine;
	struct plan *plan;
	struct state *state;
	const struct apply_options *options;
	struct apply_summary *summary;
	pthread_mutex_t mutex; /* everything below, the state, the output */
	pthread_cond_t changed;
	enum apply_status *status;
	struct apply_lane *lanes;
	size_t nlanes;
	struct apply_printer printer;
	bool ended; /* every worker has returned: the ticker stops */
};

static double
apply_now(void)
{
	return budget_now();
}

static const struct provider *
apply_provider(const struct plan_action *a)
{
	return a->desired != NULL ? a->desired->provider
				  : a->observed->provider;
}

static const struct bots_target *
apply_target(const struct plan_action *a)
{
	return a->desired != NULL ? a->desired->target : a->observed->target;
}

static struct apply_lane *
apply_lane(struct apply_ctx *ctx, const struct plan_action *a)
{
	size_t i;

	for (i = 0; i < ctx->nlanes; i++)
		if (ctx->lanes[i].provider == apply_provider(a) &&
		    ctx->lanes[i].target == apply_target(a))
			return &ctx->lanes[i];
	return NULL; /* not reached: lanes are made for every action */
}

static void
apply_lane_enter(struct apply_ctx *ctx, struct apply_lane *lane)
{
	unsigned max = lane->provider->max_concurrency;

	pthread_mutex_lock(&ctx->mutex);
	while (max > 0 && lane->running >= max)
		pthread_cond_wait(&ctx->changed, &ctx->mutex);
	lane->running++;
	pthread_mutex_unlock(&ctx->mutex);
}

static void
apply_lane_leave(struct apply_ctx *ctx, struct apply_lane *lane)
{
	pthread_mutex_lock(&ctx->mutex);
	lane->running--;
	pthread_cond_broadcast(&ctx->changed);
	pthread_mutex_unlock(&ctx->mutex);
}

/* One operation of an action: the one its kind carries. */
static int
apply_op(struct provider_call *call, const struct plan_action *a,
    enum action_kind op, bool purge)
{
	const struct resource_kind *k =
	    a->desired != NULL ? a->desired->kind : a->observed->kind;
	int (*change)(struct provider_call *, const struct resource *,
	    const struct observed *) = NULL;

	switch (op) {
	case ACTION_CREATE:
		if (k->create == NULL)
			break;
		return k->create(call, a->desired);
	case ACTION_DELETE:
		if (k->delete == NULL)
			break;
		return k->delete (call, a->observed, purge);
	case ACTION_UPDATE:
		change = k->update;
		break;
	case ACTION_UPDATE_SECRET:
		change = k->update_secret;
		break;
	case ACTION_REREGISTER:
		change = k->reregister;
		break;
	default:
		break;
	}
	if (change != NULL)
		return change(call, a->desired, a->observed);
	strbuf_addf(&call->err, "%s cannot %s a %s", apply_provider(a)->name,
	    action_kind_name(op), k->name);
	return PROVIDER_ERROR;
}

/* Did a create that failed in transit take effect after all? One bulk
 * observation tells, so a retry never makes a second object. */
static bool
apply_exists_now(struct apply_ctx *ctx, const struct plan_action *a)
{
	struct observed_set seen = { NULL, 0, 0 };
	struct strbuf err = STRBUF_INIT;
	struct observed *o;
	bool exists = false;

	if (engine_observe_pair(ctx->engine, apply_provider(a), apply_target(a),
		&seen, &err) == 0) {
		o = observed_set_find(&seen, a->address);
		exists = o != NULL && o->owned;
	}
	observed_set_clear(&seen);
	strbuf_release(&err);
	return exists;
}

/* Run one operation with retries for transient failures. */
static int
apply_with_retries(struct apply_ctx *ctx, const struct plan_action *a,
    enum action_kind op, struct strbuf *msg)
{
	struct apply_lane *lane = apply_lane(ctx, a);
	struct provider_call call;
	unsigned attempt;
	int rc = PROVIDER_ERROR;

	if (engine_call_init(ctx->engine, apply_provider(a), apply_target(a),
		&call, msg) != 0) {
		strbuf_release(&call.err);
		return PROVIDER_ERROR;
	}
	for (attempt = 1; attempt <= ENGINE_MAX_ATTEMPTS; attempt++) {
		strbuf_reset(&call.err);
		call.retry_after = 0;
		apply_lane_enter(ctx, lane);
		rc = apply_op(&call, a, op,
		    op == ACTION_DELETE && (ctx->options->purge_data ||
					       a->kind == ACTION_REPLACE));
		provider_step_end(&call, rc == PROVIDER_OK);
		apply_lane_leave(ctx, lane);
		budget_block(
		    &ctx->engine->budgets, call.budget, call.retry_after);
		if (rc != PROVIDER_TRANSIENT || attempt == ENGINE_MAX_ATTEMPTS)
			break;
		engine_sleep(engine_backoff(attempt, call.retry_after));
		/* a rate limit's answer (Retry-After) refused the request:
		 * nothing to look for, and a look costs requests that count
		 * against the same limit */
		if (op == ACTION_CREATE && call.retry_after == 0 &&
		    apply_exists_now(ctx, a)) {
			rc = PROVIDER_OK; /* it took effect before failing */
			break;
		}
	}
	if (rc != PROVIDER_OK) {
		strbuf_addstr(msg, call.err.len ? call.err.buf : "failed");
		if (rc == PROVIDER_TRANSIENT)
			strbuf_addf(
			    msg, " (after %u attempts)", ENGINE_MAX_ATTEMPTS);
	}
	strbuf_release(&call.err);
	return rc;
}

static cJSON *
apply_fingerprints(const struct resource *r)
{
	cJSON *fprs = cJSON_CreateObject();
	size_t i;

	for (i = 0; i < r->nsecrets; i++)
		cJSON_AddStringToObject(
		    fprs, r->secrets[i].name, r->secrets[i].fingerprint);
	return fprs;
}

static const char *
apply_past(enum action_kind kind)
{
	static const char *const past[ACTION_KIND_COUNT] = {
		[ACTION_CREATE] = "created",
		[ACTION_UPDATE] = "updated",
		[ACTION_UPDATE_SECRET] = "secrets updated",
		[ACTION_REREGISTER] = "re-registered",
		[ACTION_REPLACE] = "replaced",
		[ACTION_DELETE] = "deleted",
	};

	return past[kind];
}

static void apply_progress(struct apply_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One progress line (called with ctx->mutex held). */
static void
apply_progress(struct apply_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	apply_printer_vline(&ctx->printer, fmt, ap);
	va_end(ap);
}

/* engine->progress during apply: a provider's line among apply's. */
static void
apply_provider_progress(void *arg, const char *line)
{
	struct apply_ctx *ctx = arg;

	pthread_mutex_lock(&ctx->mutex);
	apply_progress(ctx, "%s", line);
	pthread_mutex_unlock(&ctx->mutex);
}

/* engine->step_begin and step_end during apply: a provider's slow step. */
static unsigned
apply_step_begin(void *arg, const char *address, const char *what)
{
	struct apply_ctx *ctx = arg;
	unsigned id;

	pthread_mutex_lock(&ctx->mutex);
	id = apply_printer_step_begin(&ctx->printer, address, what);
	pthread_mutex_unlock(&ctx->mutex);
	return id;
}

static void
apply_step_end(void *arg, unsigned step, bool ok)
{
	struct apply_ctx *ctx = arg;

	pthread_mutex_lock(&ctx->mutex);
	apply_printer_step_end(&ctx->printer, step, ok);
	pthread_mutex_unlock(&ctx->mutex);
}

/* On a terminal: the slow steps' counter, redrawn while apply runs. */
static void *
apply_ticker(void *arg)
{
	struct apply_ctx *ctx = arg;
	struct timespec until;

	pthread_mutex_lock(&ctx->mutex);
	while (!ctx->ended) {
		apply_printer_tick(&ctx->printer);
		/* often enough that a redraw is never much more than a
		 * second late */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250 * 1000 * 1000L;
		if (until.tv_nsec >= 1000 * 1000 * 1000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000 * 1000 * 1000L;
		}
		pthread_cond_timedwait(&ctx->changed, &ctx->mutex, &until);
	}
	pthread_mutex_unlock(&ctx->mutex);
	return NULL;
}

static const char *
apply_doing(enum action_kind kind)
{
	static const char *const doing[ACTION_KIND_COUNT] = {
		[ACTION_CREATE] = "creating",
		[ACTION_UPDATE] = "updating",
		[ACTION_UPDATE_SECRET] = "updating secrets",
		[ACTION_REREGISTER] = "re-registering",
		[ACTION_REPLACE] = "replacing",
		[ACTION_DELETE] = "deleting",
	};

	return doing[kind];
}

/* Journal, run and record one action; returns its final status. */
static enum apply_status
apply_action(struct apply_ctx *ctx, size_t i)
{
	struct plan_action *a = &ctx->plan->actions[i];
	struct strbuf msg = STRBUF_INIT, err = STRBUF_INIT;
	char *intent = NULL;
	double started = apply_now();
	int rc;

	pthread_mutex_lock(&ctx->mutex);
	apply_progress(ctx, "%s: %s...", a->address, apply_doing(a->kind));
	rc = state_intend(
	    ctx->state, a->address, action_kind_name(a->kind), &intent, &err);
	pthread_mutex_unlock(&ctx->mutex);
	if (rc != 0) {
		strbuf_addf(&msg, "cannot journal the intent: %s", err.buf);
		goto done;
	}

	if (a->kind == ACTION_REPLACE) {
		rc = apply_with_retries(ctx, a, ACTION_DELETE, &msg);
		if (rc == PROVIDER_OK)
			rc = apply_with_retries(ctx, a, ACTION_CREATE, &msg);
	} else
		rc = apply_with_retries(ctx, a, a->kind, &msg);

	pthread_mutex_lock(&ctx->mutex);
	if (rc == PROVIDER_OK && a->kind == ACTION_DELETE)
		state_remove_resource(ctx->state, a->address);
	else if (rc == PROVIDER_OK) {
		cJSON *fprs = apply_fingerprints(a->desired);

		state_set_resource(ctx->state, a->address,
		    a->desired->provider->name, a->desired->spec, fprs);
		cJSON_Delete(fprs);
	}
	strbuf_reset(&err);
	if (state_complete(ctx->state, intent, rc == PROVIDER_OK,
		rc == PROVIDER_OK ? NULL : msg.buf, &err) != 0 &&
	    rc == PROVIDER_OK) {
		rc = PROVIDER_ERROR;
		strbuf_addf(
		    &msg, "applied, but the state was not saved: %s", err.buf);
	}
	pthread_mutex_unlock(&ctx->mutex);
done:
	pthread_mutex_lock(&ctx->mutex);
	ctx->printer.finished++;
	if (rc == PROVIDER_OK)
		apply_progress(ctx, "%s: %s (%.1fs)", a->address,
		    apply_past(a->kind), apply_now() - started);
	else {
		apply_progress(ctx, "%s: failed (%.1fs): %s", a->address,
		    apply_now() - started, msg.buf);
		strbuf_addf(
		    &ctx->summary->failures, "%s: %s\n", a->address, msg.buf);
		ctx->summary->messages[i] = xstrdup(msg.buf);
	}
	pthread_mutex_unlock(&ctx->mutex);
	free(intent);
	strbuf_release(&msg);
	strbuf_release(&err);
	return rc == PROVIDER_OK ? APPLY_DONE : APPLY_FAILED;
}

/* Under ctx->mutex: the next action whose dependencies all succeeded,
 * skipping those whose dependencies failed. SIZE_MAX: none now. */
static size_t
apply_next(struct apply_ctx *ctx, bool *all_done)
{
	size_t i, d;
	bool progress = true;

	while (progress) {
		progress = false;
		*all_done = true;
		for (i = 0; i < ctx->plan->count; i++) {
			const struct plan_action *a = &ctx->plan->actions[i];
			bool ready = true, doomed = false;

			if (ctx->status[i] == APPLY_RUNNING)
				*all_done = false;
			if (ctx->status[i] != APPLY_PENDING)
				continue;
			*all_done = false;
			for (d = 0; d < a->ndeps; d++) {
				enum apply_status s = ctx->status[a->deps[d]];

				ready &= s == APPLY_DONE;
				doomed |=
				    s == APPLY_FAILED || s == APPLY_SKIPPED;
			}
			if (doomed) {
				ctx->status[i] = APPLY_SKIPPED;
				ctx->printer.finished++;
				apply_progress(ctx,
				    "%s: skipped: an action it needs failed",
				    a->address);
				strbuf_addf(&ctx->summary->failures,
				    "%s: skipped: an action it needs failed\n",
				    a->address);
				ctx->summary->messages[i] =
				    xstrdup("an action it needs failed");
				progress = true;
				continue;
			}
			if (ready)
				return i;
		}
	}
	return SIZE_MAX;
}

static void *
apply_worker(void *arg)
{
	struct apply_ctx *ctx = arg;

	pthread_mutex_lock(&ctx->mutex);
	for (;;) {
		bool all_done;
		size_t i = apply_next(ctx, &all_done);
		enum apply_status result;

		if (all_done)
			break;
		if (i == SIZE_MAX) {
			pthread_cond_wait(&ctx->changed, &ctx->mutex);
			continue;
		}
		ctx->status[i] = APPLY_RUNNING;
		pthread_mutex_unlock(&ctx->mutex);
		result = apply_action(ctx, i);
		pthread_mutex_lock(&ctx->mutex);
		ctx->status[i] = result;
		pthread_cond_broadcast(&ctx->changed);
	}
	pthread_cond_broadcast(&ctx->changed);
	pthread_mutex_unlock(&ctx->mutex);
	return NULL;
}

int
apply_resolve_intents(struct engine *engine, const struct plan *plan,
    struct state *state, const struct apply_options *options,
    struct strbuf *err)
{
	cJSON *unfinished = cJSON_Duplicate(state_unfinished(state), true);
	const cJSON *intent;
	int rc = 0;

	cJSON_ArrayForEach (intent, unfinished) {
		const char *id =
		    cJSON_GetStringValue(cJSON_GetObjectItem(intent, "id"));
		const char *address = cJSON_GetStringValue(
		    cJSON_GetObjectItem(intent, "address"));
		const struct observed *o;
		const struct resource *r;
		const char *outcome;

		if (id == NULL || address == NULL)
			continue;
		o = observed_set_find(&engine->observed, address);
		r = resource_set_find(&engine->desired, address);
		if (plan_find(plan, address) != NULL)
			outcome = "resolved by observation: this apply does it "
				  "again";
		else if (o != NULL && o->owned && r != NULL) {
			cJSON *fprs = apply_fingerprints(r);

			state_set_resource(
			    state, address, r->provider->name, r->spec, fprs);
			cJSON_Delete(fprs);
			outcome = "resolved by observation: it took effect";
		} else {
			if (o == NULL)
				state_remove_resource(state, address);
			outcome = "resolved by observation: nothing left to do";
		}
		if (options->progress != NULL)
			fprintf(options->progress,
			    "%s: interrupted earlier; %s\n", address,
			    outcome + strlen("resolved by observation: "));
		if (state_complete(state, id, true, outcome, err) != 0) {
			rc = -1;
			break;
		}
	}
	cJSON_Delete(unfinished);
	return rc;
}

/* An action's final status, as the summary tells it. */
static enum apply_outcome
apply_outcome_of(enum apply_status status)
{
	switch (status) {
	case APPLY_DONE:
		return APPLY_OUTCOME_SUCCEEDED;
	case APPLY_FAILED:
		return APPLY_OUTCOME_FAILED;
	case APPLY_SKIPPED:
		return APPLY_OUTCOME_SKIPPED;
	default:
		return APPLY_OUTCOME_NOT_RUN;
	}
}

int
apply_run(struct engine *engine, struct plan *plan, struct state *state,
    const struct apply_options *options, struct apply_summary *summary)
{
	struct apply_ctx ctx;
	pthread_t *threads, ticker;
	bool ticking = false;
	unsigned n = options->parallelism > 0 ? options->parallelism : 10, t;
	size_t i;

	memset(summary, 0, sizeof(*summary));
	strbuf_init(&summary->failures, 0);
	summary->count = plan->count;
	summary->outcomes =
	    xcalloc(plan->count + 1, sizeof(*summary->outcomes));
	summary->messages =
	    xcalloc(plan->count + 1, sizeof(*summary->messages));
	memset(&ctx, 0, sizeof(ctx));
	ctx.engine = engine;
	ctx.plan = plan;
	ctx.state = state;
	ctx.options = options;
	ctx.summary = summary;
	ctx.printer.out = options->progress;
	ctx.printer.live = options->live;
	ctx.printer.redraw = options->redraw;
	ctx.printer.total = plan->count;
	pthread_mutex_init(&ctx.mutex, NULL);
	pthread_cond_init(&ctx.changed, NULL);
	ctx.status = xcalloc(plan->count + 1, sizeof(*ctx.status));
	ctx.lanes = xcalloc(plan->count + 1, sizeof(*ctx.lanes));
	for (i = 0; i < plan->count; i++) {
		if (apply_lane(&ctx, &plan->actions[i]) != NULL)
			continue;
		ctx.lanes[ctx.nlanes].provider =
		    apply_provider(&plan->actions[i]);
		ctx.lanes[ctx.nlanes].target = apply_target(&plan->actions[i]);
		ctx.nlanes++;
	}
	engine->applying = true;
	engine->progress = apply_provider_progress;
	engine->step_begin = apply_step_begin;
	engine->step_end = apply_step_end;
	engine->progress_ctx = &ctx;
	if (options->redraw && options->progress != NULL)
		ticking =
		    pthread_create(&ticker, NULL, apply_ticker, &ctx) == 0;
	if (n > plan->count && plan->count > 0)
		n = (unsigned)plan->count;
	threads = xcalloc(n, sizeof(*threads));
	for (t = 0; t < n; t++)
		if (pthread_create(&threads[t], NULL, apply_worker, &ctx) != 0)
			break;
	if (t == 0)
		apply_worker(&ctx); /* no thread could start: run here */
	while (t > 0)
		pthread_join(threads[--t], NULL);
	pthread_mutex_lock(&ctx.mutex);
	ctx.ended = true;
	pthread_cond_broadcast(&ctx.changed);
	pthread_mutex_unlock(&ctx.mutex);
	if (ticking)
		pthread_join(ticker, NULL);
	apply_printer_finish(&ctx.printer);
	for (i = 0; i < plan->count; i++) {
		summary->succeeded += ctx.status[i] == APPLY_DONE;
		summary->failed += ctx.status[i] == APPLY_FAILED;
		summary->skipped += ctx.status[i] == APPLY_SKIPPED;
		summary->outcomes[i] = apply_outcome_of(ctx.status[i]);
	}
	engine->applying = false;
	engine->progress = NULL;
	engine->step_begin = NULL;
	engine->step_end = NULL;
	engine->progress_ctx = NULL;
	free(threads);
	free(ctx.status);
	free(ctx.lanes);
	pthread_cond_destroy(&ctx.changed);
	pthread_mutex_destroy(&ctx.mutex);
	return summary->failed + summary->skipped == 0 ? 0 : -1;
}

void
apply_summary_release(struct apply_summary *summary)
{
	size_t i;

	strbuf_release(&summary->failures);
	for (i = 0; i < summary->count; i++)
		free(summary->messages[i]);
	free(summary->messages);
	free(summary->outcomes);
	summary->messages = NULL;
	summary->outcomes = NULL;
	summary->count = 0;
}
