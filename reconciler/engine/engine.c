/* The engine: desired state, secrets, bulk observation. */
#include "config.h"

#include <cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "engine.h"
#include "xmalloc.h"

/* What engine_init and engine_init_copy share: all but loading. */
static void
engine_setup(struct engine *engine, const struct provider *const *providers,
    const char *config_path, const char *base_dir)
{
	memset(engine, 0, sizeof(*engine));
	pthread_mutex_init(&engine->lock, NULL);
	budget_table_init(&engine->budgets);
	engine->providers = providers;
	engine->config_path = xstrdup(config_path);
	engine->base_dir = xstrdup(base_dir);
}

int
engine_init(struct engine *engine, const struct provider *const *providers,
    const char *config_path, struct diag_list *diags)
{
	char *copy = xstrdup(config_path);

	engine_setup(engine, providers, config_path, dirname(copy));
	free(copy);
	return bots_load_file(config_path, &engine->bots, diags);
}

int
engine_init_copy(struct engine *engine, const struct provider *const *providers,
    const char *copy_path, const char *label, const char *base_dir,
    struct diag_list *diags)
{
	engine_setup(engine, providers, copy_path, base_dir);
	return bots_load_file_as(copy_path, label, &engine->bots, diags);
}

/*
 * $GETBOT_STATS names a file that gets one JSON line appended per run,
 * for the benchmarks (tests/bench): what the run cost its servers, per
 * connection: {"connections": [{"target": "srv", "via": "ssh",
 * "channels": 12}]}. Written as the connections close; a file that cannot
 * be written is said on stderr and changes nothing else.
 */
static void
engine_write_stats(const struct engine *engine)
{
	const char *path = getenv("GETBOT_STATS");
	cJSON *stats, *conns, *one;
	char *line;
	FILE *f;
	size_t i;

	if (path == NULL || *path == '\0')
		return;
	stats = cJSON_CreateObject();
	conns = cJSON_AddArrayToObject(stats, "connections");
	for (i = 0; i < engine->nconns; i++) {
		if (engine->conns[i].conn == NULL)
			continue;
		one = cJSON_CreateObject();
		cJSON_AddStringToObject(
		    one, "target", engine->conns[i].target->name);
		cJSON_AddStringToObject(
		    one, "via", engine->conns[i].conn->ops->name);
		cJSON_AddNumberToObject(one, "channels",
		    (double)conn_ssh_channels(engine->conns[i].conn));
		cJSON_AddItemToArray(conns, one);
	}
	line = cJSON_PrintUnformatted(stats);
	f = fopen(path, "a");
	if (f != NULL) {
		bool failed;

		fprintf(f, "%s\n", line);
		failed = ferror(f) != 0;
		if (fclose(f) != 0 || failed)
			f = NULL;
	}
	if (f == NULL)
		fprintf(stderr, "getbot: GETBOT_STATS: cannot write %s: %s\n",
		    path, strerror(errno));
	free(line);
	cJSON_Delete(stats);
}

void
engine_release(struct engine *engine)
{
	size_t i;

	if (engine->config_path == NULL)
		return; /* never initialised */
	engine_write_stats(engine);
	for (i = 0; i < engine->nsessions; i++)
		if (engine->sessions[i].opened &&
		    engine->sessions[i].provider->close != NULL)
			engine->sessions[i].provider->close(
			    engine->sessions[i].session);
	free(engine->sessions);
	for (i = 0; i < engine->nconns; i++) {
		conn_close(engine->conns[i].conn);
		free(engine->conns[i].error);
	}
	free(engine->conns);
	budget_table_release(&engine->budgets);
	cJSON_Delete(engine->outputs);
	resource_set_clear(&engine->desired);
	observed_set_clear(&engine->observed);
	cJSON_Delete(engine->remembered);
	bots_free(engine->bots);
	free(engine->config_path);
	free(engine->base_dir);
	pthread_mutex_destroy(&engine->lock);
	memset(engine, 0, sizeof(*engine));
}

/* Where a secret reference stands in bots.yaml, for messages. */
static void
engine_secret_place(const struct engine *engine, const struct bots_secret *ref,
    struct strbuf *sb)
{
	if (ref->node != NULL)
		strbuf_addf(sb, "%s:%u:%u: ", engine->bots->file,
		    ref->node->line, ref->node->column);
}

static int engine_observe_into_plan(struct engine *engine,
    const struct provider *provider, const struct bots_target *target,
    struct strbuf *err);
static bool engine_wants(const struct engine *engine,
    const struct provider *provider, const struct bots_target *target);

/* Is there a provider in this engine's table whose addresses start like
 * address ("docker.bot.acme/x": a provider named docker)? */
static bool
engine_has_provider_of(const struct engine *engine, const char *address)
{
	size_t p, len = strcspn(address, ".");

	for (p = 0; engine->providers[p] != NULL; p++)
		if (strlen(engine->providers[p]->name) == len &&
		    strncmp(engine->providers[p]->name, address, len) == 0)
			return true;
	return false;
}

/* A dependency on what no provider of this table makes is no dependency:
 * a build without, say, the docker provider has no bots to wait for. */
static void
engine_drop_unserved_deps(struct engine *engine, struct resource *r)
{
	size_t d = 0;

	while (d < r->ndeps)
		if (engine_has_provider_of(engine, r->deps[d]))
			d++;
		else {
			free(r->deps[d]);
			memmove(&r->deps[d], &r->deps[d + 1],
			    (--r->ndeps - d) * sizeof(*r->deps));
		}
}

int
engine_expand(struct engine *engine, struct strbuf *err)
{
	const struct bots *bots = engine->bots;
	size_t t, p, i, s, d;

	for (t = 0; t < bots->ntargets; t++) {
		const struct bots_target *target = &bots->targets[t];
		const char *kind = bots_target_kind_name(target->kind);
		bool served = false;
		bool used = false;

		for (i = 0; i < bots->norgs && !used; i++)
			used = bots->orgs[i].target == target;
		/* a target that keeps DNS records for servers serves them */
		for (i = 0; i < bots->ntargets && !used; i++)
			used = bots->targets[i].server.dns_target == target;
		if (!used)
			continue;
		for (p = 0; engine->providers[p] != NULL; p++) {
			const struct provider *provider = engine->providers[p];

			if (strcmp(provider->target_kind, kind) != 0)
				continue;
			served = true;
			/* a saved plan's apply wants only what it touches:
			 * another provider's resources, unobserved, would
			 * look missing */
			if (provider->expand != NULL &&
			    engine_wants(engine, provider, target) &&
			    provider->expand(
				bots, target, &engine->desired, err) != 0)
				return -1;
		}
		if (!served) {
			strbuf_addf(err,
			    "target '%s': this getbot has no provider for "
			    "targets of kind %s",
			    target->name, kind);
			return -1;
		}
	}
	for (i = 0; i < engine->desired.count; i++) {
		struct resource *r = engine->desired.items[i];

		engine_drop_unserved_deps(engine, r);
		for (d = 0; d < r->ndeps && engine->observe_only == NULL; d++)
			if (resource_set_find(&engine->desired, r->deps[d]) ==
			    NULL) {
				strbuf_addf(err,
				    "internal error: %s needs %s, which no "
				    "provider made",
				    r->address, r->deps[d]);
				return -1;
			}
		for (s = 0; s < r->nsecrets; s++) {
			struct resource_secret *rs = &r->secrets[s];
			struct strbuf why = STRBUF_INIT;

			if (engine->references_only) {
				char *text = xasprintf("%d:%s",
				    (int)rs->ref->kind,
				    rs->ref->ref != NULL ? rs->ref->ref : "");

				secret_fingerprint((unsigned char *)text,
				    strlen(text), r->address, rs->name,
				    rs->fingerprint);
				free(text);
				continue;
			}
			if (secret_resolve(rs->ref, engine->base_dir,
				r->address, rs->name, &rs->value, &why) != 0) {
				engine_secret_place(engine, rs->ref, err);
				strbuf_addf(err, "secret %s of %s: %s",
				    rs->name, r->address, why.buf);
				strbuf_release(&why);
				return -1;
			}
			memcpy(rs->fingerprint, rs->value->fingerprint,
			    sizeof(rs->fingerprint));
			strbuf_release(&why);
		}
	}
	return 0;
}

/* The connection to target's server, opened on first use. Under lock. */
static int
engine_conn(struct engine *engine, const struct bots_target *target,
    struct conn **conn, struct strbuf *err)
{
	struct strbuf why = STRBUF_INIT;
	struct engine_conn *ec;
	size_t i;

	for (i = 0; i < engine->nconns; i++)
		if (engine->conns[i].target == target) {
			*conn = engine->conns[i].conn;
			if (*conn != NULL)
				return 0;
			strbuf_addstr(err, engine->conns[i].error);
			return -1;
		}
	if (engine->conn_options.base_dir == NULL)
		engine->conn_options.base_dir = engine->base_dir;
	engine->conns = xreallocarray(
	    engine->conns, engine->nconns + 1, sizeof(*engine->conns));
	ec = &engine->conns[engine->nconns++];
	memset(ec, 0, sizeof(*ec));
	ec->target = target;
	/* a server that cannot be reached is not tried again by every
	 * provider: its error stands for the run */
	if (conn_open(target, &engine->conn_options, &ec->conn, &why) != 0)
		ec->error = strbuf_detach(&why, NULL);
	strbuf_release(&why);
	*conn = ec->conn;
	if (*conn != NULL)
		return 0;
	strbuf_addstr(err, ec->error);
	return -1;
}

/* The session of provider on target, opened on first use. Under lock. */
static struct engine_session *
engine_session(struct engine *engine, const struct provider *provider,
    const struct bots_target *target)
{
	struct engine_session *es;
	size_t i;

	for (i = 0; i < engine->nsessions; i++)
		if (engine->sessions[i].provider == provider &&
		    engine->sessions[i].target == target)
			return &engine->sessions[i];
	engine->sessions = xreallocarray(
	    engine->sessions, engine->nsessions + 1, sizeof(*engine->sessions));
	es = &engine->sessions[engine->nsessions++];
	memset(es, 0, sizeof(*es));
	es->provider = provider;
	es->target = target;
	return es;
}

/* The budget a newly opened session counts against. Under lock. */
static struct budget *
engine_budget(struct engine *engine, const struct engine_session *es)
{
	struct provider_budget pb = { NULL, es->provider->max_rate,
		es->provider->burst };
	struct budget *b;

	if (es->provider->budget != NULL)
		es->provider->budget(es->session, es->target, &pb);
	if (pb.key == NULL)
		pb.key =
		    xasprintf("%s/%s", es->provider->name, es->target->name);
	b = budget_get(&engine->budgets, pb.key, pb.rate, pb.burst);
	free(pb.key);
	return b;
}

int
engine_call_init(struct engine *engine, const struct provider *provider,
    const struct bots_target *target, struct provider_call *call,
    struct strbuf *err)
{
	struct engine_session *es;
	struct conn *conn = NULL;
	int rc = 0;

	memset(call, 0, sizeof(*call));
	strbuf_init(&call->err, 0);
	call->engine = engine;
	call->provider = provider;
	call->target = target;
	pthread_mutex_lock(&engine->lock);
	if (provider->server)
		rc = engine_conn(engine, target, &conn, err);
	es = engine_session(engine, provider, target);
	if (rc == 0 && !es->opened) {
		if (provider->open != NULL)
			rc = provider->open(
			    target, conn, engine->base_dir, &es->session, err);
		es->opened = rc == 0;
		if (es->opened)
			es->budget = engine_budget(engine, es);
	}
	call->session = es->session;
	call->conn = conn;
	call->budget = es->budget;
	call->remembered = cJSON_GetObjectItemCaseSensitive(
	    engine->remembered, provider->name);
	pthread_mutex_unlock(&engine->lock);
	return rc;
}

double
engine_backoff(unsigned attempt, double retry_after)
{
	double delay = 0.5, jitter;
	unsigned i;

	for (i = 1; i < attempt && delay < 30; i++)
		delay *= 2;
	if (delay > 30)
		delay = 30;
	/* +-25 % so that many clients do not retry in step */
	jitter = (randombytes_uniform(5001) / 10000.0 - 0.25) * delay;
	delay += jitter;
	return delay < retry_after ? retry_after : delay;
}

void
engine_sleep(double seconds)
{
	struct timespec ts;

	if (seconds <= 0)
		return;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* One bulk observation: the provider's shared one, then each kind's. */
static int
engine_observe_kinds(struct provider_call *call,
    const struct provider *provider, struct observed_set *out)
{
	size_t k;
	int rc = PROVIDER_OK;

	if (provider->observe != NULL)
		rc = provider->observe(call, call->target, out);
	for (k = 0; rc == PROVIDER_OK && provider->kinds != NULL &&
		    provider->kinds[k] != NULL;
	     k++)
		if (provider->kinds[k]->observe != NULL)
			rc = provider->kinds[k]->observe(call, out);
	return rc;
}

/* Record what observed objects give their dependants (provider.h). */
static void
engine_harvest_outputs(struct engine *engine, const struct observed_set *set)
{
	size_t i;

	pthread_mutex_lock(&engine->lock);
	if (engine->outputs == NULL)
		engine->outputs = cJSON_CreateObject();
	for (i = 0; i < set->count; i++) {
		const struct observed *o = set->items[i];

		if (o->outputs == NULL || !o->owned)
			continue;
		cJSON_DeleteItemFromObjectCaseSensitive(
		    engine->outputs, o->address);
		cJSON_AddItemToObject(engine->outputs, o->address,
		    cJSON_Duplicate(o->outputs, true));
	}
	pthread_mutex_unlock(&engine->lock);
}

int
engine_observe_pair(struct engine *engine, const struct provider *provider,
    const struct bots_target *target, struct observed_set *out,
    struct strbuf *err)
{
	/* its own set: an input the provider reads may observe another
	 * provider into out meanwhile */
	struct observed_set seen = { NULL, 0, 0 };
	struct provider_call call;
	unsigned attempt;
	int rc = -1;
	size_t i;

	if (engine_call_init(engine, provider, target, &call, err) != 0) {
		strbuf_release(&call.err);
		return -1;
	}
	for (attempt = 1; attempt <= ENGINE_MAX_ATTEMPTS; attempt++) {
		strbuf_reset(&call.err);
		call.retry_after = 0;
		rc = engine_observe_kinds(&call, provider, &seen);
		if (rc != PROVIDER_TRANSIENT)
			break;
		/* drop a partial answer before asking again */
		observed_set_clear(&seen);
		budget_block(&engine->budgets, call.budget, call.retry_after);
		if (attempt < ENGINE_MAX_ATTEMPTS)
			engine_sleep(engine_backoff(attempt, call.retry_after));
	}
	if (rc != PROVIDER_OK)
		strbuf_addf(err, "observing %s on target '%s': %s",
		    provider->name, target->name, call.err.buf);
	for (i = 0; i < seen.count; i++) {
		seen.items[i]->provider = provider;
		seen.items[i]->target = target;
		observed_seal(seen.items[i]);
	}
	if (rc == PROVIDER_OK)
		engine_harvest_outputs(engine, &seen);
	for (i = 0; i < seen.count; i++)
		observed_set_add(out, seen.items[i]);
	free(seen.items);
	strbuf_release(&call.err);
	return rc == PROVIDER_OK ? 0 : -1;
}

void
engine_remember(struct engine *engine, const char *provider,
    const char *address, const cJSON *spec)
{
	cJSON *of;

	if (engine->remembered == NULL)
		engine->remembered = cJSON_CreateObject();
	of = cJSON_GetObjectItemCaseSensitive(engine->remembered, provider);
	if (of == NULL)
		of = cJSON_AddObjectToObject(engine->remembered, provider);
	cJSON_DeleteItemFromObjectCaseSensitive(of, address);
	cJSON_AddItemToObject(of, address,
	    spec != NULL ? cJSON_Duplicate(spec, true) : cJSON_CreateObject());
}

/* Does provider observe anything, itself or through its kinds? */
static bool
engine_observes(const struct provider *provider)
{
	size_t k;

	if (provider->observe != NULL)
		return true;
	for (k = 0; provider->kinds != NULL && provider->kinds[k] != NULL; k++)
		if (provider->kinds[k]->observe != NULL)
			return true;
	return false;
}

/* Is (provider, target) to be observed? */
static bool
engine_wants(const struct engine *engine, const struct provider *provider,
    const struct bots_target *target)
{
	size_t i, len = strlen(provider->name);

	if (engine->observe_only == NULL)
		return true;
	for (i = 0; i < engine->nobserve_only; i++) {
		const char *pair = engine->observe_only[i];

		if (strncmp(pair, provider->name, len) == 0 &&
		    pair[len] == ' ' &&
		    strcmp(pair + len + 1, target->name) == 0)
			return true;
	}
	return false;
}

/* Observe (provider, target) into what the plan compares, once. */
static int
engine_observe_into_plan(struct engine *engine, const struct provider *provider,
    const struct bots_target *target, struct strbuf *err)
{
	struct engine_session *es;
	bool done;

	pthread_mutex_lock(&engine->lock);
	es = engine_session(engine, provider, target);
	done = es->observed;
	es->observed = true;
	pthread_mutex_unlock(&engine->lock);
	if (done)
		return 0;
	return engine_observe_pair(
	    engine, provider, target, &engine->observed, err);
}

/* Does the config want resources of provider on target? */
static bool
engine_desires(const struct engine *engine, const struct provider *provider,
    const struct bots_target *target)
{
	size_t i;

	for (i = 0; i < engine->desired.count; i++)
		if (engine->desired.items[i]->provider == provider &&
		    engine->desired.items[i]->target == target)
			return true;
	return false;
}

/* Is provider to look at target's server this run? */
static bool
engine_visits(const struct engine *engine, const struct provider *provider,
    const struct bots_target *target)
{
	return provider->server && target->kind != BOTS_TARGET_UNKNOWN &&
	       strcmp(provider->target_kind,
		   bots_target_kind_name(target->kind)) == 0 &&
	       engine_wants(engine, provider, target) &&
	       (engine_observes(provider) ||
		   engine_desires(engine, provider, target));
}

/*
 * Reach target's server and ask its providers what they need there that
 * is missing (their check). Returns 0 when all is there; else -1 with one
 * error in err: why the server cannot be reached, or its label and a
 * line for each missing piece.
 */
static int
engine_check_server(
    struct engine *engine, const struct bots_target *target, struct strbuf *err)
{
	struct strbuf missing = STRBUF_INIT;
	struct conn *conn = NULL;
	const char *line;
	size_t p;
	int rc;

	pthread_mutex_lock(&engine->lock);
	rc = engine_conn(engine, target, &conn, err);
	pthread_mutex_unlock(&engine->lock);
	if (rc != 0)
		return -1;
	for (p = 0; engine->providers[p] != NULL; p++) {
		const struct provider *provider = engine->providers[p];

		if (provider->check != NULL &&
		    engine_visits(engine, provider, target))
			provider->check(target, conn,
			    engine_desires(engine, provider, target), &missing);
	}
	if (missing.len == 0)
		goto out;
	strbuf_addf(err,
	    "%s: the server lacks what bots.yaml needs there; nothing was "
	    "changed:",
	    conn->label);
	for (line = missing.buf; *line != '\0';) {
		size_t len = strcspn(line, "\n");

		strbuf_addf(err, "\n  - %.*s", (int)len, line);
		line += len + (line[len] == '\n');
	}
	rc = -1;
out:
	strbuf_release(&missing);
	return rc;
}

/*
 * The pre-flight: before anything is observed or changed, every server
 * target is reached and checked for what its providers need there. All
 * servers are checked, so that one run tells all that is missing, one
 * error per server, on lines of their own.
 */
static int
engine_preflight(struct engine *engine, struct strbuf *err)
{
	const struct bots *bots = engine->bots;
	struct strbuf errors = STRBUF_INIT;
	size_t t, p;
	int rc = 0;

	for (t = 0; t < bots->ntargets; t++) {
		const struct bots_target *target = &bots->targets[t];
		bool server = false;

		for (p = 0; engine->providers[p] != NULL && !server; p++)
			server =
			    engine_visits(engine, engine->providers[p], target);
		if (!server)
			continue;
		if (errors.len > 0)
			strbuf_addch(&errors, '\n');
		if (engine_check_server(engine, target, &errors) != 0)
			rc = -1;
		else if (errors.len > 0)
			strbuf_setlen(&errors, errors.len - 1);
	}
	if (rc != 0)
		strbuf_addstr(err, errors.buf);
	strbuf_release(&errors);
	return rc;
}

int
engine_observe(struct engine *engine, struct strbuf *err)
{
	const struct bots *bots = engine->bots;
	size_t t, p;

	if (engine_preflight(engine, err) != 0)
		return -1;

	for (t = 0; t < bots->ntargets; t++) {
		const struct bots_target *target = &bots->targets[t];
		const char *kind = bots_target_kind_name(target->kind);

		/* every target in the config, used or not: a target whose
		 * last org was removed still has objects to delete */
		for (p = 0; engine->providers[p] != NULL; p++) {
			const struct provider *provider = engine->providers[p];

			if (strcmp(provider->target_kind, kind) != 0 ||
			    !engine_observes(provider) ||
			    target->kind == BOTS_TARGET_UNKNOWN ||
			    !engine_wants(engine, provider, target))
				continue;
			if (engine_observe_into_plan(
				engine, provider, target, err) != 0)
				return -1;
		}
	}
	return 0;
}

void
provider_output(struct provider_call *call, const char *address,
    const char *key, const char *value)
{
	struct engine *engine = call->engine;
	cJSON *of;

	if (engine == NULL)
		return;
	pthread_mutex_lock(&engine->lock);
	if (engine->outputs == NULL)
		engine->outputs = cJSON_CreateObject();
	of = cJSON_GetObjectItemCaseSensitive(engine->outputs, address);
	if (of == NULL)
		of = cJSON_AddObjectToObject(engine->outputs, address);
	cJSON_DeleteItemFromObjectCaseSensitive(of, key);
	if (value != NULL)
		cJSON_AddStringToObject(of, key, value);
	pthread_mutex_unlock(&engine->lock);
}

/* The output key of address, copied, or NULL. */
static char *
engine_output(struct engine *engine, const char *address, const char *key)
{
	const char *v;
	char *copy = NULL;

	pthread_mutex_lock(&engine->lock);
	v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(engine->outputs, address), key));
	if (v != NULL)
		copy = xstrdup(v);
	pthread_mutex_unlock(&engine->lock);
	return copy;
}

/* The provider whose addresses start "NAME." and that serves target. */
static const struct provider *
engine_producer(const struct engine *engine, const char *address,
    const struct bots_target *target)
{
	const char *kind = bots_target_kind_name(target->kind);
	size_t p, len = strcspn(address, ".");

	for (p = 0; engine->providers[p] != NULL; p++) {
		const struct provider *provider = engine->providers[p];

		if (strlen(provider->name) == len &&
		    strncmp(provider->name, address, len) == 0 &&
		    strcmp(provider->target_kind, kind) == 0)
			return provider;
	}
	return NULL;
}

int
provider_input(struct provider_call *call, const char *address, const char *key,
    char **value)
{
	struct engine *engine = call->engine;
	const struct provider *producer;
	struct strbuf err = STRBUF_INIT;
	int rc;

	*value = NULL;
	if (engine == NULL)
		return PROVIDER_MISSING;
	*value = engine_output(engine, address, key);
	if (*value != NULL)
		return PROVIDER_OK;
	producer = engine_producer(engine, address, call->target);
	if (producer == NULL)
		return PROVIDER_MISSING;
	if (!engine->applying && engine_wants(engine, producer, call->target))
		/* planning: observe the producer now, once, for the plan too
		 * (it may come later in the provider table) */
		rc = engine_observe_into_plan(
		    engine, producer, call->target, &err);
	else {
		/* applying, or a saved plan that does not look at the
		 * producer: what it has made since shows in a fresh look */
		struct observed_set fresh = { NULL, 0, 0 };

		rc = engine_observe_pair(
		    engine, producer, call->target, &fresh, &err);
		observed_set_clear(&fresh);
	}
	if (rc != 0) {
		strbuf_addf(&call->err, "%s", err.buf);
		strbuf_release(&err);
		return PROVIDER_ERROR;
	}
	strbuf_release(&err);
	*value = engine_output(engine, address, key);
	return *value != NULL ? PROVIDER_OK : PROVIDER_MISSING;
}
