/* The engine: desired state, secrets, bulk observation. */
#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "xmalloc.h"

int
engine_init(struct engine *engine, const struct provider *const *providers,
    const char *config_path, struct diag_list *diags)
{
	char *copy;

	memset(engine, 0, sizeof(*engine));
	pthread_mutex_init(&engine->lock, NULL);
	engine->providers = providers;
	engine->config_path = xstrdup(config_path);
	copy = xstrdup(config_path);
	engine->base_dir = xstrdup(dirname(copy));
	free(copy);
	return bots_load_file(config_path, &engine->bots, diags);
}

void
engine_release(struct engine *engine)
{
	size_t i;

	if (engine->config_path == NULL)
		return; /* never initialised */
	for (i = 0; i < engine->nsessions; i++)
		if (engine->sessions[i].opened &&
		    engine->sessions[i].provider->close != NULL)
			engine->sessions[i].provider->close(
			    engine->sessions[i].session);
	free(engine->sessions);
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

static bool engine_wants(const struct engine *engine,
    const struct provider *provider, const struct bots_target *target);

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
			used = bots->targets[i].dns_target == target;
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

int
engine_session(struct engine *engine, const struct provider *provider,
    const struct bots_target *target, void **session, struct strbuf *err)
{
	struct engine_session *es = NULL;
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&engine->lock);
	for (i = 0; i < engine->nsessions && es == NULL; i++)
		if (engine->sessions[i].provider == provider &&
		    engine->sessions[i].target == target)
			es = &engine->sessions[i];
	if (es == NULL) {
		engine->sessions = xreallocarray(engine->sessions,
		    engine->nsessions + 1, sizeof(*engine->sessions));
		es = &engine->sessions[engine->nsessions++];
		memset(es, 0, sizeof(*es));
		es->provider = provider;
		es->target = target;
	}
	if (!es->opened && provider->open != NULL) {
		rc =
		    provider->open(target, engine->base_dir, &es->session, err);
		es->opened = rc == 0;
	} else
		es->opened = true;
	*session = es->session;
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

int
engine_observe_pair(struct engine *engine, const struct provider *provider,
    const struct bots_target *target, struct observed_set *out,
    struct strbuf *err)
{
	struct provider_call call = { .err = STRBUF_INIT };
	unsigned attempt;
	int rc = -1;
	size_t before = out->count, i;

	if (engine_session(engine, provider, target, &call.session, err) != 0)
		return -1;
	call.remembered = cJSON_GetObjectItemCaseSensitive(
	    engine->remembered, provider->name);
	for (attempt = 1; attempt <= ENGINE_MAX_ATTEMPTS; attempt++) {
		strbuf_reset(&call.err);
		call.retry_after = 0;
		rc = provider->observe(&call, target, out);
		if (rc != PROVIDER_TRANSIENT)
			break;
		/* drop a partial answer before asking again */
		while (out->count > before)
			observed_free(out->items[--out->count]);
		if (attempt < ENGINE_MAX_ATTEMPTS)
			engine_sleep(engine_backoff(attempt, call.retry_after));
	}
	if (rc != PROVIDER_OK)
		strbuf_addf(err, "observing %s on target '%s': %s",
		    provider->name, target->name, call.err.buf);
	for (i = before; i < out->count; i++) {
		out->items[i]->provider = provider;
		out->items[i]->target = target;
		observed_seal(out->items[i]);
	}
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

int
engine_observe(struct engine *engine, struct strbuf *err)
{
	const struct bots *bots = engine->bots;
	size_t t, p;

	for (t = 0; t < bots->ntargets; t++) {
		const struct bots_target *target = &bots->targets[t];
		const char *kind = bots_target_kind_name(target->kind);

		/* every target in the config, used or not: a target whose
		 * last org was removed still has objects to delete */
		for (p = 0; engine->providers[p] != NULL; p++) {
			const struct provider *provider = engine->providers[p];

			if (strcmp(provider->target_kind, kind) != 0 ||
			    provider->observe == NULL ||
			    target->kind == BOTS_TARGET_UNKNOWN ||
			    !engine_wants(engine, provider, target))
				continue;
			if (engine_observe_pair(engine, provider, target,
				&engine->observed, err) != 0)
				return -1;
		}
	}
	return 0;
}
