/*
 * The Cloudflare provider (API v4, api-contracts.md): per agent ORG-TEAM
 *
 *   cloudflare.bucket.ORG-TEAM   the R2 bucket getbot-ORG-TEAM
 *   cloudflare.worker.ORG-TEAM   the Worker ORG-TEAM: runtime bundle and
 *                                IDENTITY.md, workers.dev enabled, the hub
 *                                auth token (a secret_text binding)
 *   cloudflare.secrets.ORG-TEAM  the Worker's secrets: LLM keys, model and
 *                                keep-alive (update-secret touches only the
 *                                secrets endpoints)
 *   cloudflare.token.ORG-TEAM    an API token "getbot ORG-TEAM" scoped to
 *                                the bucket; its value becomes the Worker's
 *                                R2 credentials at once and is then dropped
 *
 * and per org on a server target whose dns.target is this target
 *
 *   cloudflare.dns.ORG           the record ORG.DOMAIN in the server's zone:
 *                                A (or AAAA) -> the server's address, ttl 1
 *                                (automatic), proxied as configured
 *
 * Ownership: Cloudflare has no labels. A Worker is ours when it carries the
 * plain_text binding GETBOT_MANAGED (org, team, runtime, persona,
 * instructions, the skills text of IDENTITY.md, its SHA-256, the spec hash
 * and the hub token's SHA-256); buckets are ours by the "getbot-" prefix,
 * tokens by the "getbot " prefix. Secrets cannot be read back, so their
 * fingerprints live in the names of empty marker secrets,
 * GETBOT_FPR_<NAME>_<FINGERPRINT>, and the model and keep-alive settings in
 * GETBOT_SETTINGS_<HEX OF JSON>: a rotation writes only secrets. Likewise
 * GETBOT_R2_TOKEN_<ID> says that token ID's one-time value reached the
 * Worker as its R2 credentials (a token whose answer was lost is replaced).
 *
 * A DNS record is ours when its comment is "managed by getbot" (records
 * have no other free field); a record of the wanted name without it is
 * never touched, and the plan says so.
 *
 * Observation: one list per kind (workers; buckets with cursor pages;
 * tokens with numbered pages), plus, per Worker, its settings (bindings)
 * and its secret names: the contract's list carries neither, and nothing
 * lists them for a whole account. DNS: per zone one list of every record,
 * page by page (no type filter: a CNAME of the wanted name is in the way
 * too, and a record getbot made as A is found when the address becomes
 * IPv6). The zones are those the config names, plus those the state file
 * remembers getbot's records in (a server whose dns went, or whose zone
 * changed): scoped API tokens may not list an account's zones.
 *
 * Rate: one token bucket per account, shared by observation and apply, at 3.9
 * requests/s with a burst of 20, so that any 5 minutes hold at most 20 + 1170 <
 * 1,200 requests (GETBOT_CLOUDFLARE_RATE overrides the rate for tests). A 429
 * blocks every call of the session until its Retry-After has passed, and is
 * returned as transient with retry_after.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "http.h"
#include "identity.h"
#include "provider-cloudflare.h"
#include "xmalloc.h"

#define CF_RATE_DEFAULT     3.9
#define CF_BURST            20
#define CF_BUCKET_PREFIX    "getbot-"
#define CF_TOKEN_PREFIX     "getbot "
#define CF_MARKER           "GETBOT_MANAGED"
#define CF_HUB_SECRET       "GETBOT_HUB_TOKEN"
#define CF_FPR_PREFIX       "GETBOT_FPR_"
#define CF_SETTINGS_PREFIX  "GETBOT_SETTINGS_"
#define CF_R2_MARKER_PREFIX "GETBOT_R2_TOKEN_"
#define CF_COMPAT_DATE      "2025-01-01"
#define CF_BUNDLE_MAX       (8u << 20)
#define CF_HUB_TOKEN_BYTES  32
#define CF_PAGE_LIMIT       1000 /* pages of one list: a loop guard */
#define CF_DNS_COMMENT      "managed by getbot"
#define CF_DNS_PER_PAGE     1000

/* Cloudflare's error codes (api-contracts.md). */
#define CF_SCRIPT_NOT_FOUND  10007
#define CF_BUCKET_EXISTS     10004
#define CF_BUCKET_NOT_FOUND  10006
#define CF_BUCKET_NOT_EMPTY  10008
#define CF_RECORD_NOT_FOUND  81044
#define CF_RECORD_HOST_TAKEN 81053 /* an A, AAAA or CNAME of that name */
#define CF_RECORD_EXISTS     81057

/* The request budget of one account: every session on it (two targets
 * may name one account) draws from the same bucket. */
struct cf_limiter {
	char *account;
	double rate, tokens, refilled, blocked_until;
};

static pthread_mutex_t cf_limiters_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cf_limiter **cf_limiters;
static size_t cf_nlimiters;

struct cf_session {
	const struct bots_target *target;
	char *api; /* base URL, no trailing slash */
	struct secret *token;
	char *runtime_dir;
	pthread_mutex_t lock; /* the subdomain */
	struct cf_limiter *limiter;
	char *subdomain; /* workers.dev subdomain, NULL until asked */
};

static const struct field_def cf_bucket_fields[] = {
	{ "name", FIELD_IDENTITY },
	{ NULL, 0 },
};
static const struct field_def cf_worker_fields[] = {
	{ "persona", FIELD_IMMUTABLE },
	{ "instructions", FIELD_IMMUTABLE },
	{ "runtime", FIELD_INPLACE },
	{ NULL, 0 },
};
static const struct field_def cf_secrets_fields[] = {
	{ "model", FIELD_SECRET },
	{ "keep_alive", FIELD_SECRET },
	{ NULL, 0 },
};
static const struct field_def cf_dns_fields[] = {
	{ "zone_id", FIELD_IDENTITY },
	{ "name", FIELD_INPLACE },
	{ "type", FIELD_INPLACE },
	{ "content", FIELD_INPLACE },
	{ "proxied", FIELD_INPLACE },
	{ "ttl", FIELD_INPLACE },
	{ NULL, 0 },
};
static const struct field_def cf_token_fields[] = {
	{ "bucket", FIELD_IDENTITY },
	/* "in worker" once the token's one-time value became the Worker's
	 * R2 credentials; a token whose value was lost (an answer that never
	 * came) is "missing" and is replaced */
	{ "r2_credentials", FIELD_IDENTITY },
	{ NULL, 0 },
};

/*
 * Deletes go down the order: the card (the router's, order 3) first, so
 * that nothing is routed to an agent being removed; then worker, secrets,
 * token and bucket together (one order), so that a failing step does not
 * keep the others from being cleaned. Creates follow dependencies: bucket,
 * worker (binds the bucket), secrets and token (written into the worker),
 * card (carries the worker's hub token digest).
 */
static const struct resource_kind cf_bucket = {
	.name = "bucket",
	.fields = cf_bucket_fields,
	.lost_on_replace = "the agent's R2 bucket and its data",
	.order = 2,
};
static const struct resource_kind cf_worker = {
	.name = "worker",
	.fields = cf_worker_fields,
	.lost_on_replace = "the agent's Worker with its secrets and hub auth token; the next "
	"apply pushes the secrets again, makes new R2 credentials and "
	"re-registers the card with the new token",
	.order = 2,
};
static const struct resource_kind cf_secrets = {
	.name = "secrets",
	.fields = cf_secrets_fields,
	.lost_on_replace = NULL,
	.order = 2,
};
static const struct resource_kind cf_token = {
	.name = "token",
	.fields = cf_token_fields,
	.lost_on_replace = "the agent's R2 credentials (new ones are made)",
	.order = 2,
};

/* After everything a server's org needs (the route is order 8): DNS points
 * at the server last, and goes first when the org does. */
static const struct resource_kind cf_dns = {
	.name = "dns",
	.fields = cf_dns_fields,
	.lost_on_replace = NULL,
	.order = 9,
};

static const struct resource_kind *const cf_kinds[] = { &cf_bucket, &cf_worker,
	&cf_secrets, &cf_token, &cf_dns, NULL };

/* ---- what this process knows of hub token digests ---- */

struct cf_digest {
	char *account;
	char *worker;
	char digest[CLOUDFLARE_HEX_SHA256];
};

static pthread_mutex_t cf_digests_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cf_digest *cf_digests;
static size_t cf_ndigests;

static void
cf_digest_remember(const char *account, const char *worker, const char *digest)
{
	size_t i;

	pthread_mutex_lock(&cf_digests_lock);
	for (i = 0; i < cf_ndigests; i++)
		if (strcmp(cf_digests[i].account, account) == 0 &&
		    strcmp(cf_digests[i].worker, worker) == 0)
			break;
	if (i == cf_ndigests) {
		cf_digests = xreallocarray(
		    cf_digests, cf_ndigests + 1, sizeof(*cf_digests));
		cf_digests[i].account = xstrdup(account);
		cf_digests[i].worker = xstrdup(worker);
		cf_ndigests++;
	}
	snprintf(
	    cf_digests[i].digest, sizeof(cf_digests[i].digest), "%s", digest);
	pthread_mutex_unlock(&cf_digests_lock);
}

bool
cloudflare_hub_digest_known(const struct bots_target *target,
    const char *worker, char out[CLOUDFLARE_HEX_SHA256])
{
	bool found = false;
	size_t i;

	pthread_mutex_lock(&cf_digests_lock);
	for (i = 0; i < cf_ndigests && !found; i++)
		if (strcmp(cf_digests[i].account, target->edge.account_id) == 0 &&
		    strcmp(cf_digests[i].worker, worker) == 0) {
			memcpy(
			    out, cf_digests[i].digest, CLOUDFLARE_HEX_SHA256);
			found = true;
		}
	pthread_mutex_unlock(&cf_digests_lock);
	return found;
}

/* ---- small helpers ---- */

static double
cf_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
cf_sha256_hex(const void *data, size_t len, char out[CLOUDFLARE_HEX_SHA256])
{
	unsigned char hash[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(hash, data, len);
	sodium_bin2hex(out, CLOUDFLARE_HEX_SHA256, hash, sizeof(hash));
}

static char *
cf_bucket_name(const char *name)
{
	return xasprintf(CF_BUCKET_PREFIX "%s", name);
}

/* The limiter of account (made on first use; they live as long as the
 * process, a few per run). */
static struct cf_limiter *
cf_limiter_for(const char *account, double rate)
{
	struct cf_limiter *l = NULL;
	size_t i;

	pthread_mutex_lock(&cf_limiters_lock);
	for (i = 0; i < cf_nlimiters && l == NULL; i++)
		if (strcmp(cf_limiters[i]->account, account) == 0)
			l = cf_limiters[i];
	if (l == NULL) {
		l = xcalloc(1, sizeof(*l));
		l->account = xstrdup(account);
		l->rate = rate;
		l->tokens = CF_BURST;
		l->refilled = cf_now();
		cf_limiters = xreallocarray(
		    cf_limiters, cf_nlimiters + 1, sizeof(*cf_limiters));
		cf_limiters[cf_nlimiters++] = l;
	}
	pthread_mutex_unlock(&cf_limiters_lock);
	return l;
}

/* Wait for the account's token bucket (and a 429's block). */
static void
cf_throttle(struct cf_session *s, struct provider_call *call)
{
	struct cf_limiter *l = s->limiter;

	provider_throttle(call);
	for (;;) {
		double now, wait;

		pthread_mutex_lock(&cf_limiters_lock);
		now = cf_now();
		l->tokens += (now - l->refilled) * l->rate;
		if (l->tokens > CF_BURST)
			l->tokens = CF_BURST;
		l->refilled = now;
		if (l->blocked_until > now)
			wait = l->blocked_until - now;
		else if (l->tokens >= 1) {
			l->tokens -= 1;
			pthread_mutex_unlock(&cf_limiters_lock);
			return;
		} else
			wait = (1 - l->tokens) / l->rate;
		pthread_mutex_unlock(&cf_limiters_lock);
		engine_sleep(wait);
	}
}

/* Cloudflare's first error code in a response, or 0. */
static int
cf_error_code(const struct http_response *resp)
{
	const cJSON *errors =
	    cJSON_GetObjectItemCaseSensitive(resp->json, "errors");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(errors, 0), "code");

	return cJSON_IsNumber(code) ? code->valueint : 0;
}

/*
 * One request to the API: path is under the base URL. The answer must be a
 * Cloudflare envelope; success false is an error even in a 2xx.
 */
static int
cf_send(struct provider_call *call, const char *method, const char *path,
    const char *json, const struct http_part *parts, size_t nparts,
    struct http_response *resp)
{
	struct cf_session *s = call->session;
	struct http_request req;
	struct strbuf url = STRBUF_INIT;
	const cJSON *success;
	int rc;

	memset(&req, 0, sizeof(req));
	strbuf_addf(&url, "%s%s", s->api, path);
	req.method = method;
	req.url = url.buf;
	req.bearer = (const char *)s->token->value;
	req.json = json;
	req.parts = parts;
	req.nparts = nparts;
	cf_throttle(s, call);
	strbuf_reset(&call->err);
	rc = http_request(&req, resp, &call->err);
	if (resp->status == 429) {
		double wait = resp->retry_after > 0 ? resp->retry_after : 60;

		pthread_mutex_lock(&cf_limiters_lock);
		if (cf_now() + wait > s->limiter->blocked_until)
			s->limiter->blocked_until = cf_now() + wait;
		pthread_mutex_unlock(&cf_limiters_lock);
		call->retry_after = wait;
	}
	if (rc == PROVIDER_OK) {
		success =
		    cJSON_GetObjectItemCaseSensitive(resp->json, "success");
		if (!cJSON_IsTrue(success)) {
			const char *message = http_error_message(resp->json);

			strbuf_addf(&call->err, "%s %s: %s", method, path,
			    message != NULL ? message
					    : "not a Cloudflare API answer");
			rc = PROVIDER_ERROR;
		}
	}
	strbuf_release(&url);
	return rc;
}

/* The result member of a successful answer. */
static const cJSON *
cf_result(const struct http_response *resp)
{
	return cJSON_GetObjectItemCaseSensitive(resp->json, "result");
}

/* ---- session ---- */

static void cf_close(void *session);
static int cf_dns_expand(const struct bots *bots,
    const struct bots_target *target, struct resource_set *out,
    struct strbuf *err);
static const char *cf_str(const cJSON *obj, const char *key);

static int
cf_open(const struct bots_target *target, struct conn *conn,
    const char *base_dir, void **session,
    struct strbuf *err)
{
	struct cf_session *s = xcalloc(1, sizeof(*s));
	const char *api = getenv("GETBOT_CLOUDFLARE_API");
	const char *rate = getenv("GETBOT_CLOUDFLARE_RATE");
	const char *runtimes = getenv("GETBOT_RUNTIME_DIR");
	struct strbuf why = STRBUF_INIT;
	char *address = xasprintf("target.%s", target->name);
	size_t len;

	s->target = target;
	pthread_mutex_init(&s->lock, NULL);
	s->api =
	    xstrdup(api != NULL && *api != '\0' ? api : CLOUDFLARE_API_DEFAULT);
	len = strlen(s->api);
	while (len > 0 && s->api[len - 1] == '/')
		s->api[--len] = '\0';
	s->limiter = cf_limiter_for(target->edge.account_id,
	    rate != NULL && strtod(rate, NULL) > 0 ? strtod(rate, NULL)
						   : CF_RATE_DEFAULT);
	s->runtime_dir = runtimes != NULL && *runtimes != '\0'
			     ? xstrdup(runtimes)
			     : xasprintf("%s/runtimes", base_dir);
	*session = s;
	if (http_check_url(s->api, err) != 0)
		goto fail;
	if (secret_resolve(&target->edge.api_token, base_dir, address, "api_token",
		&s->token, &why) != 0) {
		strbuf_addf(
		    err, "target '%s': api_token: %s", target->name, why.buf);
		goto fail;
	}
	free(address);
	strbuf_release(&why);
	return 0;
fail:
	free(address);
	strbuf_release(&why);
	cf_close(s);
	*session = NULL;
	return -1;
}

static void
cf_close(void *session)
{
	struct cf_session *s = session;

	if (s == NULL)
		return;
	secret_free(s->token);
	free(s->api);
	free(s->runtime_dir);
	free(s->subdomain);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- desired state ---- */

/* The skills part of IDENTITY.md, from the card. */
static void
cf_skills_text(const struct node *card, struct strbuf *out)
{
	const struct node *skills = node_get(card, "skills");
	size_t i;

	if (skills == NULL || skills->kind != NODE_SEQUENCE ||
	    skills->nitems == 0)
		return;
	for (i = 0; i < skills->nitems; i++) {
		const char *name = node_str(node_get(skills->items[i], "name"));
		const char *about =
		    node_str(node_get(skills->items[i], "description"));

		strbuf_addf(out, "- %s", name != NULL ? name : "");
		if (about != NULL && *about != '\0')
			strbuf_addf(out, ": %s", about);
		strbuf_addch(out, '\n');
	}
}

/* IDENTITY.md: the agent's system prompt. */
static void
cf_identity_text(const char *persona, const char *instructions,
    const char *skills, struct strbuf *out)
{
	strbuf_addf(out, "# Persona\n\n%s", persona);
	if (out->len > 0 && out->buf[out->len - 1] != '\n')
		strbuf_addch(out, '\n');
	strbuf_addf(out, "\n# Instructions\n\n%s", instructions);
	if (out->buf[out->len - 1] != '\n')
		strbuf_addch(out, '\n');
	if (skills != NULL && *skills != '\0')
		strbuf_addf(out, "\n# Skills\n\n%s", skills);
}

/* Is runtime a safe directory name? */
static bool
cf_runtime_name_ok(const char *runtime)
{
	size_t i;

	if (runtime == NULL || runtime[0] == '\0' || runtime[0] == '.')
		return false;
	for (i = 0; runtime[i] != '\0'; i++)
		if (!isalnum((unsigned char)runtime[i]) &&
		    strchr("._-+", runtime[i]) == NULL)
			return false;
	return i <= 128;
}

static int
cf_expand(const struct bots *bots, const struct bots_target *target,
    struct resource_set *out, struct strbuf *err)
{
	const struct provider *self = &provider_cloudflare;
	char *runtimes = bots_runtime_dir(bots);
	int rc = -1;
	size_t o, t, k;

	for (o = 0; o < bots->norgs; o++) {
		const struct bots_org *org = &bots->orgs[o];

		if (org->target != target)
			continue;
		for (t = 0; t < org->nteams; t++) {
			const struct bots_team *team = &org->teams[t];
			char *name =
			    identity_worker_name(org->name, team->name);
			char *bucket = cf_bucket_name(name);
			char *main_js = NULL;
			struct resource *b, *w, *sec, *tok;
			struct stat st;
			cJSON *spec;

			if (strlen(bucket) > IDENTITY_NAME_MAX) {
				strbuf_addf(err,
				    "orgs.%s.teams.%s: the R2 bucket name "
				    "'%s' is longer than %d characters; "
				    "shorten the org or team name",
				    org->name, team->name, bucket,
				    IDENTITY_NAME_MAX);
				free(name);
				free(bucket);
				goto out;
			}
			if (!cf_runtime_name_ok(team->runtime)) {
				strbuf_addf(err,
				    "orgs.%s.teams.%s: runtime '%s' cannot "
				    "name a bundle directory",
				    org->name, team->name,
				    team->runtime ? team->runtime : "");
				free(name);
				free(bucket);
				goto out;
			}
			main_js = xasprintf(
			    "%s/%s/worker.js", runtimes, team->runtime);
			if (stat(main_js, &st) != 0 || !S_ISREG(st.st_mode)) {
				strbuf_addf(err,
				    "orgs.%s.teams.%s: runtime bundle '%s' "
				    "not found (a runtime is a directory "
				    "RUNTIMES/NAME with worker.js, RUNTIMES "
				    "being runtimes/ beside bots.yaml or "
				    "$GETBOT_RUNTIME_DIR)",
				    org->name, team->name, main_js);
				free(main_js);
				free(name);
				free(bucket);
				goto out;
			}
			free(main_js);

			spec = cJSON_CreateObject();
			cJSON_AddStringToObject(spec, "name", bucket);
			b = resource_new(self, &cf_bucket, name, org->name,
			    team->name, spec);
			b->target = target;
			resource_set_add(out, b);

			spec = cJSON_CreateObject();
			cJSON_AddStringToObject(spec, "persona", team->persona);
			cJSON_AddStringToObject(
			    spec, "instructions", team->instructions);
			cJSON_AddStringToObject(spec, "runtime", team->runtime);
			{
				/* what IDENTITY.md says of skills when it is
				 * first compiled (not a field: a card change
				 * only re-registers) */
				struct strbuf skills = STRBUF_INIT;

				cf_skills_text(team->card, &skills);
				cJSON_AddStringToObject(
				    spec, "identity_skills", skills.buf);
				strbuf_release(&skills);
			}
			w = resource_new(self, &cf_worker, name, org->name,
			    team->name, spec);
			w->target = target;
			resource_add_dep(w, b->address);
			resource_set_add(out, w);

			spec = cJSON_CreateObject();
			cJSON_AddStringToObject(spec, "model",
			    team->model != NULL ? team->model : "");
			cJSON_AddBoolToObject(
			    spec, "keep_alive", team->keep_alive);
			sec = resource_new(self, &cf_secrets, name, org->name,
			    team->name, spec);
			sec->target = target;
			resource_add_dep(sec, w->address);
			for (k = 0; k < team->napi_keys; k++) {
				char *env = identity_key_env(
				    team->api_keys[k].provider);

				resource_add_secret(
				    sec, env, &team->api_keys[k].secret);
				free(env);
			}
			resource_set_add(out, sec);

			spec = cJSON_CreateObject();
			cJSON_AddStringToObject(spec, "bucket", bucket);
			cJSON_AddStringToObject(
			    spec, "r2_credentials", "in worker");
			tok = resource_new(
			    self, &cf_token, name, org->name, team->name, spec);
			tok->target = target;
			resource_add_dep(tok, b->address);
			resource_add_dep(tok, w->address);
			resource_set_add(out, tok);
			free(name);
			free(bucket);
		}
	}
	rc = cf_dns_expand(bots, target, out, err);
out:
	free(runtimes);
	return rc;
}

/* ---- observation ---- */

static struct observed *
cf_observed(const struct resource_kind *kind, const char *name, const char *org,
    const char *team, bool owned, cJSON *spec)
{
	struct observed *o = observed_new(&provider_cloudflare, kind, name);

	o->org = org != NULL ? xstrdup(org) : NULL;
	o->team = team != NULL ? xstrdup(team) : NULL;
	o->owned = owned;
	cJSON_Delete(o->spec);
	o->spec = spec;
	return o;
}

/* The workers.dev subdomain of the account (asked once per session). */
static int
cf_subdomain(struct provider_call *call, char **out)
{
	struct cf_session *s = call->session;
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	const char *sub;
	int rc;

	pthread_mutex_lock(&s->lock);
	*out = s->subdomain != NULL ? xstrdup(s->subdomain) : NULL;
	pthread_mutex_unlock(&s->lock);
	if (*out != NULL)
		return PROVIDER_OK;
	http_response_init(&resp);
	strbuf_addf(
	    &path, "/accounts/%s/workers/subdomain", s->target->edge.account_id);
	rc = cf_send(call, "GET", path.buf, NULL, NULL, 0, &resp);
	sub = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(cf_result(&resp), "subdomain"));
	if (rc == PROVIDER_OK && sub == NULL) {
		strbuf_addf(
		    &call->err, "GET %s: no subdomain in the answer", path.buf);
		rc = PROVIDER_ERROR;
	}
	if (rc == PROVIDER_OK) {
		pthread_mutex_lock(&s->lock);
		if (s->subdomain == NULL)
			s->subdomain = xstrdup(sub);
		pthread_mutex_unlock(&s->lock);
		*out = xstrdup(sub);
	}
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

/* The GETBOT_MANAGED marker among a script's bindings, parsed, or NULL. */
static cJSON *
cf_find_marker(const cJSON *bindings)
{
	const cJSON *b;

	cJSON_ArrayForEach (b, bindings) {
		const char *type = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(b, "type"));
		const char *name = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(b, "name"));
		const char *text = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(b, "text"));

		if (type != NULL && name != NULL && text != NULL &&
		    strcmp(type, "plain_text") == 0 &&
		    strcmp(name, CF_MARKER) == 0) {
			cJSON *marker = cJSON_Parse(text);

			if (cJSON_IsObject(marker))
				return marker;
			cJSON_Delete(marker);
		}
	}
	return NULL;
}

static const char *
cf_str(const cJSON *obj, const char *key)
{
	const char *s =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));

	return s != NULL ? s : "";
}

/* Decode hex into a new string, or NULL. */
static char *
cf_unhex(const char *hex)
{
	size_t len = strlen(hex), i;
	char *out;

	if (len % 2 != 0)
		return NULL;
	out = xmalloc(len / 2 + 1);
	for (i = 0; i < len / 2; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1 ||
		    !isxdigit((unsigned char)hex[2 * i]) ||
		    !isxdigit((unsigned char)hex[2 * i + 1])) {
			free(out);
			return NULL;
		}
		out[i] = (char)v;
	}
	out[len / 2] = '\0';
	return out;
}

/* From a Worker's secret names: its secrets resource (spec from the
 * settings marker, fingerprints from the FPR markers), or NULL when getbot
 * never wrote its secrets. */
static struct observed *
cf_observe_secrets(
    const char *name, const char *org, const char *team, const cJSON *list)
{
	struct observed *o = NULL;
	cJSON *spec = NULL, *fprs = cJSON_CreateObject();
	cJSON *names = cJSON_CreateArray();
	const cJSON *item;

	cJSON_ArrayForEach (item, list) {
		const char *secret = cf_str(item, "name");
		size_t len = strlen(secret);

		cJSON_AddItemToArray(names, cJSON_CreateString(secret));
		if (strncmp(secret, CF_SETTINGS_PREFIX,
			sizeof(CF_SETTINGS_PREFIX) - 1) == 0) {
			char *text =
			    cf_unhex(secret + sizeof(CF_SETTINGS_PREFIX) - 1);
			cJSON *parsed = text != NULL ? cJSON_Parse(text) : NULL;

			free(text);
			if (cJSON_IsObject(parsed)) {
				cJSON_Delete(spec);
				spec = parsed;
			} else
				cJSON_Delete(parsed);
		} else if (strncmp(secret, CF_FPR_PREFIX,
			       sizeof(CF_FPR_PREFIX) - 1) == 0 &&
			   len > sizeof(CF_FPR_PREFIX) - 1 + SECRET_FPR_HEX &&
			   secret[len - SECRET_FPR_HEX] == '_') {
			const char *key = secret + sizeof(CF_FPR_PREFIX) - 1;
			char *key_name = xstrndup(
			    key, (size_t)(secret + len - SECRET_FPR_HEX - key));
			char *fpr_text =
			    xstrdup(secret + len - (SECRET_FPR_HEX - 1));
			size_t i;

			for (i = 0; fpr_text[i] != '\0'; i++)
				fpr_text[i] =
				    (char)tolower((unsigned char)fpr_text[i]);
			cJSON_DeleteItemFromObjectCaseSensitive(fprs, key_name);
			cJSON_AddStringToObject(fprs, key_name, fpr_text);
			free(key_name);
			free(fpr_text);
		}
	}
	if (spec != NULL) {
		o = cf_observed(&cf_secrets, name, org, team, true, spec);
		cJSON_Delete(o->fingerprints);
		o->fingerprints = fprs;
		fprs = NULL;
		o->handle = cJSON_CreateObject();
		cJSON_AddItemToObject(o->handle, "names", names);
		names = NULL;
	}
	cJSON_Delete(fprs);
	cJSON_Delete(names);
	return o;
}

/*
 * Was a list refused for want of permission where that is no error? A
 * target that keeps only DNS records may have a token that may touch
 * nothing else; with no bot on the target there is nothing of Workers, R2
 * or tokens it must manage (and nothing it could delete anyway).
 */
static bool
cf_barred(struct provider_call *call, const struct http_response *resp,
    bool optional, int *rc)
{
	if (*rc != PROVIDER_ERROR || !optional || resp->status != 403)
		return false;
	strbuf_reset(&call->err);
	*rc = PROVIDER_OK;
	return true;
}

/* Workers: the list, then per script its settings and (when ours) its
 * secret names. */
static int
cf_observe_workers(struct provider_call *call, struct observed_set *out,
    cJSON *owners, bool optional)
{
	struct cf_session *s = call->session;
	const char *account = s->target->edge.account_id;
	struct http_response resp, one;
	struct strbuf path = STRBUF_INIT;
	const cJSON *script;
	char *subdomain = NULL;
	int rc;

	http_response_init(&resp);
	http_response_init(&one);
	strbuf_addf(&path, "/accounts/%s/workers/scripts", account);
	rc = cf_send(call, "GET", path.buf, NULL, NULL, 0, &resp);
	if (cf_barred(call, &resp, optional, &rc) || rc != PROVIDER_OK)
		goto out;
	cJSON_ArrayForEach (script, cf_result(&resp)) {
		const char *name = cf_str(script, "id");
		cJSON *marker = NULL, *spec;
		struct observed *o;
		const char *org, *team;

		/* ORG-TEAM is a DNS label: other names are never ours, and
		 * cost no call */
		if (!identity_is_dns_label(name))
			continue;
		strbuf_reset(&path);
		strbuf_addf(&path, "/accounts/%s/workers/scripts/%s/settings",
		    account, name);
		rc = cf_send(call, "GET", path.buf, NULL, NULL, 0, &one);
		if (rc != PROVIDER_OK && one.status == 404 &&
		    cf_error_code(&one) == CF_SCRIPT_NOT_FOUND) {
			rc = PROVIDER_OK; /* deleted meanwhile */
			continue;
		}
		if (rc != PROVIDER_OK)
			goto out;
		marker = cf_find_marker(cJSON_GetObjectItemCaseSensitive(
		    cf_result(&one), "bindings"));
		if (marker == NULL) {
			observed_set_add(
			    out, cf_observed(&cf_worker, name, NULL, NULL,
				     false, cJSON_CreateObject()));
			continue;
		}
		org = cf_str(marker, "org");
		team = cf_str(marker, "team");
		spec = cJSON_CreateObject();
		cJSON_AddStringToObject(
		    spec, "persona", cf_str(marker, "persona"));
		cJSON_AddStringToObject(
		    spec, "instructions", cf_str(marker, "instructions"));
		cJSON_AddStringToObject(
		    spec, "runtime", cf_str(marker, "runtime"));
		o = cf_observed(&cf_worker, name, org, team, true, spec);
		o->handle = cJSON_CreateObject();
		cJSON_AddStringToObject(
		    o->handle, "skills", cf_str(marker, "skills"));
		cJSON_AddStringToObject(
		    o->handle, "hub_sha256", cf_str(marker, "hub_sha256"));
		if (subdomain == NULL) {
			rc = cf_subdomain(call, &subdomain);
			if (rc != PROVIDER_OK) {
				cJSON_Delete(marker);
				observed_free(o);
				goto out;
			}
		}
		{
			char *url = xasprintf(
			    "https://%s.%s.workers.dev", name, subdomain);

			cJSON_AddStringToObject(o->handle, "url", url);
			free(url);
		}
		observed_set_add(out, o);
		if (cf_str(marker, "hub_sha256")[0] != '\0')
			cf_digest_remember(
			    account, name, cf_str(marker, "hub_sha256"));
		if (cJSON_GetObjectItemCaseSensitive(owners, name) == NULL) {
			cJSON *who = cJSON_AddObjectToObject(owners, name);

			cJSON_AddStringToObject(who, "org", org);
			cJSON_AddStringToObject(who, "team", team);
		}

		strbuf_reset(&path);
		strbuf_addf(&path, "/accounts/%s/workers/scripts/%s/secrets",
		    account, name);
		rc = cf_send(call, "GET", path.buf, NULL, NULL, 0, &one);
		if (rc == PROVIDER_OK) {
			const cJSON *item;
			cJSON *names = cJSON_AddArrayToObject(
			    cJSON_GetObjectItemCaseSensitive(owners, name),
			    "secrets");

			cJSON_ArrayForEach (item, cf_result(&one))
				cJSON_AddItemToArray(names,
				    cJSON_CreateString(cf_str(item, "name")));
			o = cf_observe_secrets(
			    name, org, team, cf_result(&one));
			if (o != NULL)
				observed_set_add(out, o);
		}
		cJSON_Delete(marker);
		if (rc != PROVIDER_OK)
			goto out;
	}
out:
	free(subdomain);
	http_response_release(&resp);
	http_response_release(&one);
	strbuf_release(&path);
	return rc;
}

/* org and team of a derived name, from the Workers seen, or NULL. */
static void
cf_owner_of(
    const cJSON *owners, const char *name, const char **org, const char **team)
{
	const cJSON *who = cJSON_GetObjectItemCaseSensitive(owners, name);

	*org = who != NULL ? cf_str(who, "org") : NULL;
	*team = who != NULL ? cf_str(who, "team") : NULL;
}

/* R2 buckets, cursor-paginated. */
static int
cf_observe_buckets(struct provider_call *call, struct observed_set *out,
    const cJSON *owners, bool optional)
{
	struct cf_session *s = call->session;
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	char *cursor = NULL;
	int rc = PROVIDER_OK, page;

	http_response_init(&resp);
	for (page = 0; page < CF_PAGE_LIMIT; page++) {
		const cJSON *bucket, *info;
		const char *next;

		strbuf_reset(&path);
		strbuf_addf(&path, "/accounts/%s/r2/buckets?per_page=100",
		    s->target->edge.account_id);
		if (cursor != NULL) {
			strbuf_addstr(&path, "&cursor=");
			http_add_escaped(&path, cursor);
		}
		rc = cf_send(call, "GET", path.buf, NULL, NULL, 0, &resp);
		if (cf_barred(call, &resp, optional && page == 0, &rc) ||
		    rc != PROVIDER_OK)
			break;
		cJSON_ArrayForEach (bucket, cJSON_GetObjectItemCaseSensitive(
						cf_result(&resp), "buckets")) {
			const char *bname = cf_str(bucket, "name");
			const char *name = bname + sizeof(CF_BUCKET_PREFIX) - 1;
			const char *org, *team;
			cJSON *spec;

			if (strncmp(bname, CF_BUCKET_PREFIX,
				sizeof(CF_BUCKET_PREFIX) - 1) != 0 ||
			    !identity_is_dns_label(name))
				continue; /* never one of ours */
			cf_owner_of(owners, name, &org, &team);
			spec = cJSON_CreateObject();
			cJSON_AddStringToObject(spec, "name", bname);
			observed_set_add(out, cf_observed(&cf_bucket, name, org,
						  team, true, spec));
		}
		info =
		    cJSON_GetObjectItemCaseSensitive(resp.json, "result_info");
		next = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(info, "cursor"));
		free(cursor);
		cursor = NULL;
		if (next == NULL || *next == '\0')
			break;
		cursor = xstrdup(next);
	}
	free(cursor);
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

/* The bucket a token's policies name, or "". */
static const char *
cf_token_bucket(const cJSON *token)
{
	const cJSON *policy, *res;

	cJSON_ArrayForEach (
	    policy, cJSON_GetObjectItemCaseSensitive(token, "policies")) {
		cJSON_ArrayForEach (res,
		    cJSON_GetObjectItemCaseSensitive(policy, "resources")) {
			const char *mark = strstr(res->string, "_default_");

			if (res->string != NULL && mark != NULL)
				return mark + strlen("_default_");
		}
	}
	return "";
}

/* Did the Worker name receive token id's value as its R2 credentials (its
 * marker secret GETBOT_R2_TOKEN_<ID> exists)? */
static bool
cf_token_in_worker(const cJSON *owners, const char *name, const char *id)
{
	const cJSON *secrets = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(owners, name), "secrets");
	const cJSON *item;
	size_t len = strlen(CF_R2_MARKER_PREFIX);

	cJSON_ArrayForEach (item, secrets) {
		const char *n = cJSON_GetStringValue(item);

		if (n != NULL && strncmp(n, CF_R2_MARKER_PREFIX, len) == 0 &&
		    strcmp(n + len, id) == 0)
			return true;
	}
	return false;
}

/* API tokens, page-paginated. */
static int
cf_observe_tokens(struct provider_call *call, struct observed_set *out,
    const cJSON *owners, bool optional)
{
	struct cf_session *s = call->session;
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	int rc = PROVIDER_OK, page, pages = 1;

	http_response_init(&resp);
	for (page = 1; page <= pages && page <= CF_PAGE_LIMIT; page++) {
		const cJSON *token, *total;

		strbuf_reset(&path);
		strbuf_addf(&path, "/accounts/%s/tokens?page=%d&per_page=50",
		    s->target->edge.account_id, page);
		rc = cf_send(call, "GET", path.buf, NULL, NULL, 0, &resp);
		if (cf_barred(call, &resp, optional && page == 1, &rc) ||
		    rc != PROVIDER_OK)
			break;
		cJSON_ArrayForEach (token, cf_result(&resp)) {
			const char *tname = cf_str(token, "name");
			const char *name = tname + sizeof(CF_TOKEN_PREFIX) - 1;
			const char *org, *team;
			struct observed *o;
			cJSON *spec;

			if (strncmp(tname, CF_TOKEN_PREFIX,
				sizeof(CF_TOKEN_PREFIX) - 1) != 0 ||
			    !identity_is_dns_label(name))
				continue;
			cf_owner_of(owners, name, &org, &team);
			spec = cJSON_CreateObject();
			cJSON_AddStringToObject(
			    spec, "bucket", cf_token_bucket(token));
			cJSON_AddStringToObject(spec, "r2_credentials",
			    cf_token_in_worker(
				owners, name, cf_str(token, "id"))
				? "in worker"
				: "missing");
			o = cf_observed(&cf_token, name, org, team, true, spec);
			o->handle = cJSON_CreateObject();
			cJSON_AddStringToObject(
			    o->handle, "id", cf_str(token, "id"));
			observed_set_add(out, o);
		}
		total = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(resp.json, "result_info"),
		    "total_pages");
		if (cJSON_IsNumber(total))
			pages = total->valueint;
	}
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

static int cf_observe_dns(struct provider_call *call,
    const struct bots_target *target, struct observed_set *out);

/* Does an org of the config run its bots on target? */
static bool
cf_has_bots(const struct bots_target *target)
{
	size_t o;

	for (o = 0; target->bots != NULL && o < target->bots->norgs; o++)
		if (target->bots->orgs[o].target == target)
			return true;
	return false;
}

static int
cf_observe(struct provider_call *call, const struct bots_target *target,
    struct observed_set *out)
{
	cJSON *owners = cJSON_CreateObject(); /* name -> {org, team} */
	bool optional = !cf_has_bots(target);
	int rc;

	rc = cf_observe_workers(call, out, owners, optional);
	if (rc == PROVIDER_OK)
		rc = cf_observe_buckets(call, out, owners, optional);
	if (rc == PROVIDER_OK)
		rc = cf_observe_tokens(call, out, owners, optional);
	if (rc == PROVIDER_OK)
		rc = cf_observe_dns(call, target, out);
	cJSON_Delete(owners);
	return rc;
}

/* ---- secrets ---- */

static int
cf_put_secret(struct provider_call *call, const char *worker, const char *name,
    const char *text)
{
	struct cf_session *s = call->session;
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	cJSON *body = cJSON_CreateObject();
	char *json;
	int rc;

	http_response_init(&resp);
	strbuf_addf(&path, "/accounts/%s/workers/scripts/%s/secrets",
	    s->target->edge.account_id, worker);
	cJSON_AddStringToObject(body, "name", name);
	cJSON_AddStringToObject(body, "text", text);
	cJSON_AddStringToObject(body, "type", "secret_text");
	json = cJSON_PrintUnformatted(body);
	rc = cf_send(call, "PUT", path.buf, json, NULL, 0, &resp);
	sodium_memzero(json, strlen(json));
	free(json);
	/* the value sits in the tree too */
	sodium_memzero(
	    cJSON_GetObjectItem(body, "text")->valuestring, strlen(text));
	cJSON_Delete(body);
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

static int
cf_delete_secret(
    struct provider_call *call, const char *worker, const char *name)
{
	struct cf_session *s = call->session;
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	int rc;

	http_response_init(&resp);
	strbuf_addf(&path, "/accounts/%s/workers/scripts/%s/secrets/%s",
	    s->target->edge.account_id, worker, name);
	rc = cf_send(call, "DELETE", path.buf, NULL, NULL, 0, &resp);
	if (rc == PROVIDER_ERROR && resp.status == 404)
		rc = PROVIDER_OK; /* gone already (or its worker is) */
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

/* GETBOT_SETTINGS_<hex of the spec as compact JSON>. */
static char *
cf_settings_marker(const cJSON *spec)
{
	char *json = cJSON_PrintUnformatted(spec);
	size_t len = strlen(json);
	char *hex = xmalloc(len * 2 + 1);
	char *name;

	sodium_bin2hex(hex, len * 2 + 1, (const unsigned char *)json, len);
	name = xasprintf(CF_SETTINGS_PREFIX "%s", hex);
	free(hex);
	free(json);
	return name;
}

/*
 * Write what differs from current (NULL: everything): each changed key,
 * then its new marker, then the old marker away; the settings likewise.
 * Values first and markers after, so that an interruption leaves an old
 * marker, which the next plan repairs.
 */
static int
cf_write_secrets(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	const char *worker = desired->name;
	const cJSON *model = cJSON_GetObjectItem(desired->spec, "model");
	const cJSON *keep = cJSON_GetObjectItem(desired->spec, "keep_alive");
	char *marker = NULL, *old_marker = NULL;
	int rc = PROVIDER_OK;
	size_t i;

	for (i = 0; i < desired->nsecrets && rc == PROVIDER_OK; i++) {
		const struct resource_secret *rs = &desired->secrets[i];
		const char *have =
		    current != NULL ? cJSON_GetStringValue(cJSON_GetObjectItem(
					  current->fingerprints, rs->name))
				    : NULL;
		char *name;

		if (have != NULL && strcmp(have, rs->fingerprint) == 0)
			continue;
		rc = cf_put_secret(
		    call, worker, rs->name, (const char *)rs->value->value);
		if (rc != PROVIDER_OK)
			break;
		name =
		    xasprintf(CF_FPR_PREFIX "%s_%s", rs->name, rs->fingerprint);
		rc = cf_put_secret(call, worker, name, "");
		free(name);
		if (rc == PROVIDER_OK && have != NULL) {
			name = xasprintf(CF_FPR_PREFIX "%s_%s", rs->name, have);
			rc = cf_delete_secret(call, worker, name);
			free(name);
		}
	}
	if (rc != PROVIDER_OK)
		return rc;
	marker = cf_settings_marker(desired->spec);
	if (current != NULL) {
		old_marker = cf_settings_marker(current->spec);
		if (strcmp(old_marker, marker) == 0)
			goto out; /* settings unchanged */
	}
	rc = cf_put_secret(call, worker, "GETBOT_MODEL",
	    cJSON_IsString(model) ? model->valuestring : "");
	if (rc == PROVIDER_OK)
		rc = cf_put_secret(call, worker, "GETBOT_KEEP_ALIVE",
		    cJSON_IsTrue(keep) ? "true" : "false");
	if (rc == PROVIDER_OK)
		rc = cf_put_secret(call, worker, marker, "");
	if (rc == PROVIDER_OK && old_marker != NULL)
		rc = cf_delete_secret(call, worker, old_marker);
out:
	free(marker);
	free(old_marker);
	return rc;
}

static int
cf_secrets_delete(struct provider_call *call, const struct observed *current)
{
	const cJSON *names = cJSON_GetObjectItem(current->handle, "names");
	const cJSON *name;
	int rc = PROVIDER_OK;

	/* only what the secrets resource wrote: keys it fingerprints, the
	 * settings and the markers (the hub token is the worker's, the R2
	 * credentials the token's) */
	cJSON_ArrayForEach (name, names) {
		const char *n = cJSON_GetStringValue(name);
		bool ours =
		    n != NULL &&
		    (strncmp(n, "GETBOT_FPR_", 11) == 0 ||
			strncmp(n, CF_SETTINGS_PREFIX,
			    sizeof(CF_SETTINGS_PREFIX) - 1) == 0 ||
			strcmp(n, "GETBOT_MODEL") == 0 ||
			strcmp(n, "GETBOT_KEEP_ALIVE") == 0 ||
			cJSON_GetObjectItem(current->fingerprints, n) != NULL);

		if (!ours)
			continue;
		rc = cf_delete_secret(call, current->name, n);
		if (rc != PROVIDER_OK)
			break;
	}
	return rc;
}

/* ---- workers ---- */

/* Read a file of at most max bytes. */
static int
cf_read_file(
    const char *path, size_t max, struct strbuf *out, struct strbuf *err)
{
	char chunk[8192];
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		strbuf_addf(err, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	while ((got = read(fd, chunk, sizeof(chunk))) > 0) {
		if (out->len + (size_t)got > max) {
			strbuf_addf(
			    err, "'%s' is larger than %zu bytes", path, max);
			close(fd);
			return -1;
		}
		strbuf_add(out, chunk, (size_t)got);
	}
	close(fd);
	if (got < 0) {
		strbuf_addf(err, "cannot read '%s': %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Upload the Worker: metadata (main module, bindings: the marker, the
 * bucket, and on create the hub token; keep_bindings so that secrets
 * survive), worker.js from the runtime bundle and IDENTITY.md. skills is
 * the skills text of IDENTITY.md as first compiled: IDENTITY.md is never
 * uploaded with different text.
 */
static int
cf_upload(struct provider_call *call, const struct resource *desired,
    const char *persona, const char *instructions, const char *skills,
    const char *hub_token, const char *hub_sha256)
{
	struct cf_session *s = call->session;
	const char *runtime =
	    cJSON_GetStringValue(cJSON_GetObjectItem(desired->spec, "runtime"));
	struct strbuf main_js = STRBUF_INIT, identity = STRBUF_INIT;
	struct strbuf path = STRBUF_INIT, why = STRBUF_INIT;
	struct http_response resp;
	struct http_part parts[3];
	cJSON *meta = cJSON_CreateObject(), *marker = cJSON_CreateObject();
	cJSON *bindings, *b, *keep, *hub_item = NULL;
	char identity_sha[CLOUDFLARE_HEX_SHA256],
	    spec_sha[CLOUDFLARE_HEX_SHA256];
	char *bucket = cf_bucket_name(desired->name);
	char *meta_json = NULL, *marker_json = NULL, *spec_json;
	unsigned attempt;
	int rc = PROVIDER_ERROR;

	http_response_init(&resp);
	strbuf_addf(&path, "%s/%s/worker.js", s->runtime_dir,
	    runtime != NULL ? runtime : "");
	if (runtime == NULL || !cf_runtime_name_ok(runtime) ||
	    cf_read_file(path.buf, CF_BUNDLE_MAX, &main_js, &why) != 0) {
		strbuf_addf(&call->err, "runtime bundle: %s",
		    why.len ? why.buf : "bad runtime name");
		goto out;
	}
	cf_identity_text(persona, instructions, skills, &identity);
	cf_sha256_hex(identity.buf, identity.len, identity_sha);
	spec_json = cJSON_PrintUnformatted(desired->spec);
	cf_sha256_hex(spec_json, strlen(spec_json), spec_sha);
	free(spec_json);

	cJSON_AddStringToObject(marker, "managed_by", "getbot");
	cJSON_AddStringToObject(marker, "org", desired->org);
	cJSON_AddStringToObject(marker, "team", desired->team);
	cJSON_AddStringToObject(marker, "runtime", runtime);
	cJSON_AddStringToObject(marker, "persona", persona);
	cJSON_AddStringToObject(marker, "instructions", instructions);
	cJSON_AddStringToObject(marker, "skills", skills);
	cJSON_AddStringToObject(marker, "identity_sha256", identity_sha);
	cJSON_AddStringToObject(marker, "spec_sha256", spec_sha);
	cJSON_AddStringToObject(marker, "hub_sha256", hub_sha256);
	marker_json = cJSON_PrintUnformatted(marker);

	cJSON_AddStringToObject(meta, "main_module", "worker.js");
	cJSON_AddStringToObject(meta, "compatibility_date", CF_COMPAT_DATE);
	bindings = cJSON_AddArrayToObject(meta, "bindings");
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "type", "plain_text");
	cJSON_AddStringToObject(b, "name", CF_MARKER);
	cJSON_AddStringToObject(b, "text", marker_json);
	cJSON_AddItemToArray(bindings, b);
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "type", "r2_bucket");
	cJSON_AddStringToObject(b, "name", "BUCKET");
	cJSON_AddStringToObject(b, "bucket_name", bucket);
	cJSON_AddItemToArray(bindings, b);
	if (hub_token != NULL) {
		b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "type", "secret_text");
		cJSON_AddStringToObject(b, "name", CF_HUB_SECRET);
		hub_item = cJSON_AddStringToObject(b, "text", hub_token);
		cJSON_AddItemToArray(bindings, b);
	}
	keep = cJSON_AddArrayToObject(meta, "keep_bindings");
	cJSON_AddItemToArray(keep, cJSON_CreateString("secret_text"));
	cJSON_AddItemToArray(keep, cJSON_CreateString("secret_key"));
	meta_json = cJSON_PrintUnformatted(meta);

	parts[0] = (struct http_part){ "metadata", NULL, "application/json",
		meta_json, strlen(meta_json) };
	parts[1] = (struct http_part){ "worker.js", "worker.js",
		"application/javascript+module", main_js.buf, main_js.len };
	parts[2] = (struct http_part){ "IDENTITY.md", "IDENTITY.md",
		"text/plain", identity.buf, identity.len };
	strbuf_reset(&path);
	strbuf_addf(&path, "/accounts/%s/workers/scripts/%s",
	    s->target->edge.account_id, desired->name);
	rc = cf_send(call, "PUT", path.buf, NULL, parts, 3, &resp);
	if (rc != PROVIDER_OK)
		goto out;
	/* workers.dev: the agent's URL. Retried here: once the upload took
	 * effect, the engine sees the Worker as made and would not ask
	 * again (observation cannot see this switch without a call per
	 * Worker). */
	strbuf_addstr(&path, "/subdomain");
	for (attempt = 1; attempt <= ENGINE_MAX_ATTEMPTS; attempt++) {
		call->retry_after = 0;
		rc = cf_send(call, "POST", path.buf, "{\"enabled\":true}", NULL,
		    0, &resp);
		if (rc != PROVIDER_TRANSIENT)
			break;
		if (attempt < ENGINE_MAX_ATTEMPTS)
			engine_sleep(
			    engine_backoff(attempt, call->retry_after));
	}
out:
	if (meta_json != NULL) {
		sodium_memzero(meta_json, strlen(meta_json));
		free(meta_json);
	}
	if (hub_item != NULL)
		sodium_memzero(hub_item->valuestring, strlen(hub_token));
	cJSON_Delete(meta);
	cJSON_Delete(marker);
	free(marker_json);
	free(bucket);
	strbuf_release(&main_js);
	strbuf_release(&identity);
	strbuf_release(&path);
	strbuf_release(&why);
	http_response_release(&resp);
	return rc;
}

static int
cf_worker_create(struct provider_call *call, const struct resource *desired)
{
	unsigned char raw[CF_HUB_TOKEN_BYTES];
	char hub[CF_HUB_TOKEN_BYTES * 2 + 1], hub_sha[CLOUDFLARE_HEX_SHA256];
	int rc;

	/* the hub auth token: made here, pushed as a secret with the upload,
	 * kept nowhere else; its digest goes into the marker and the card */
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hub, sizeof(hub), raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	cf_sha256_hex(hub, strlen(hub), hub_sha);
	rc = cf_upload(call, desired, cf_str(desired->spec, "persona"),
	    cf_str(desired->spec, "instructions"),
	    cf_str(desired->spec, "identity_skills"), hub, hub_sha);
	sodium_memzero(hub, sizeof(hub));
	if (rc == PROVIDER_OK)
		cf_digest_remember(
		    ((struct cf_session *)call->session)->target->edge.account_id,
		    desired->name, hub_sha);
	return rc;
}

/* In place (the runtime): the same IDENTITY.md and hub token as before. */
static int
cf_worker_update(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	return cf_upload(call, desired, cf_str(current->spec, "persona"),
	    cf_str(current->spec, "instructions"),
	    cf_str(current->handle, "skills"), NULL,
	    cf_str(current->handle, "hub_sha256"));
}

static int
cf_simple_delete(struct provider_call *call, const char *path, int gone_code)
{
	struct http_response resp;
	int rc;

	http_response_init(&resp);
	rc = cf_send(call, "DELETE", path, NULL, NULL, 0, &resp);
	if (rc == PROVIDER_ERROR && resp.status == 404 &&
	    (gone_code == 0 || cf_error_code(&resp) == gone_code))
		rc = PROVIDER_OK; /* already gone: what a delete wants */
	http_response_release(&resp);
	return rc;
}

/* ---- buckets ---- */

static int
cf_bucket_create(struct provider_call *call, const struct resource *desired)
{
	struct cf_session *s = call->session;
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	cJSON *body = cJSON_CreateObject();
	char *json;
	int rc;

	http_response_init(&resp);
	cJSON_AddStringToObject(body, "name", cf_str(desired->spec, "name"));
	json = cJSON_PrintUnformatted(body);
	strbuf_addf(&path, "/accounts/%s/r2/buckets", s->target->edge.account_id);
	rc = cf_send(call, "POST", path.buf, json, NULL, 0, &resp);
	if (rc == PROVIDER_ERROR && resp.status == 409 &&
	    cf_error_code(&resp) == CF_BUCKET_EXISTS) {
		/* ours by its name: an earlier try made it */
		strbuf_reset(&call->err);
		rc = PROVIDER_OK;
	}
	free(json);
	cJSON_Delete(body);
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

/* Delete every object of a bucket (--purge-data), a page at a time. */
static int
cf_bucket_empty(struct provider_call *call, const char *bucket)
{
	struct cf_session *s = call->session;
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	int rc = PROVIDER_OK, page;

	http_response_init(&resp);
	for (page = 0; page < CF_PAGE_LIMIT && rc == PROVIDER_OK; page++) {
		const cJSON *object;
		bool any = false;

		strbuf_reset(&path);
		strbuf_addf(&path,
		    "/accounts/%s/r2/buckets/%s/objects?per_page=1000",
		    s->target->edge.account_id, bucket);
		rc = cf_send(call, "GET", path.buf, NULL, NULL, 0, &resp);
		if (rc != PROVIDER_OK)
			break;
		cJSON_ArrayForEach (object, cf_result(&resp)) {
			const char *key = cf_str(object, "key");

			any = true;
			strbuf_reset(&path);
			strbuf_addf(&path,
			    "/accounts/%s/r2/buckets/%s/objects/",
			    s->target->edge.account_id, bucket);
			http_add_escaped(&path, key);
			rc = cf_simple_delete(call, path.buf, 0);
			if (rc != PROVIDER_OK)
				break;
		}
		if (!any)
			break;
	}
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

static int
cf_bucket_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	struct cf_session *s = call->session;
	const char *bucket = cf_str(current->spec, "name");
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	int rc, tries;

	http_response_init(&resp);
	strbuf_addf(
	    &path, "/accounts/%s/r2/buckets/%s", s->target->edge.account_id, bucket);
	for (tries = 0; tries < 2; tries++) {
		rc = cf_send(call, "DELETE", path.buf, NULL, NULL, 0, &resp);
		if (rc == PROVIDER_ERROR && resp.status == 404 &&
		    cf_error_code(&resp) == CF_BUCKET_NOT_FOUND) {
			strbuf_reset(&call->err);
			rc = PROVIDER_OK;
		}
		if (!(rc == PROVIDER_ERROR && resp.status == 409 &&
			cf_error_code(&resp) == CF_BUCKET_NOT_EMPTY))
			break;
		if (!purge) {
			strbuf_reset(&call->err);
			strbuf_addf(&call->err,
			    "bucket '%s' holds data, so it was kept; apply "
			    "with --purge-data to delete it and its data",
			    bucket);
			break;
		}
		rc = cf_bucket_empty(call, bucket);
		if (rc != PROVIDER_OK)
			break;
	}
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

/* ---- tokens ---- */

static int
cf_token_create(struct provider_call *call, const struct resource *desired)
{
	struct cf_session *s = call->session;
	const char *bucket = cf_str(desired->spec, "bucket");
	struct http_response resp;
	struct strbuf path = STRBUF_INIT, resource = STRBUF_INIT;
	cJSON *body = cJSON_CreateObject(), *policy, *groups, *group;
	const cJSON *result;
	const char *id, *value;
	char secret_hex[CLOUDFLARE_HEX_SHA256];
	char *json, *name;
	int rc;

	http_response_init(&resp);
	name = xasprintf(CF_TOKEN_PREFIX "%s", desired->name);
	cJSON_AddStringToObject(body, "name", name);
	policy = cJSON_CreateObject();
	cJSON_AddStringToObject(policy, "effect", "allow");
	strbuf_addf(&resource, "com.cloudflare.edge.r2.bucket.%s_default_%s",
	    s->target->edge.account_id, bucket);
	cJSON_AddStringToObject(
	    cJSON_AddObjectToObject(policy, "resources"), resource.buf, "*");
	groups = cJSON_AddArrayToObject(policy, "permission_groups");
	group = cJSON_CreateObject();
	cJSON_AddStringToObject(
	    group, "id", "2efd5506f9c8494dacb1fa10a3e7d5b6");
	cJSON_AddStringToObject(
	    group, "name", "Workers R2 Storage Bucket Item Write");
	cJSON_AddItemToArray(groups, group);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(body, "policies"), policy);
	json = cJSON_PrintUnformatted(body);
	strbuf_addf(&path, "/accounts/%s/tokens", s->target->edge.account_id);
	rc = cf_send(call, "POST", path.buf, json, NULL, 0, &resp);
	if (rc != PROVIDER_OK)
		goto out;
	result = cf_result(&resp);
	id = cJSON_GetStringValue(cJSON_GetObjectItem(result, "id"));
	value = cJSON_GetStringValue(cJSON_GetObjectItem(result, "value"));
	if (id == NULL || value == NULL) {
		strbuf_addf(&call->err,
		    "POST %s: no id and value in the answer", path.buf);
		rc = PROVIDER_ERROR;
		goto out;
	}
	/* The value is shown once: it becomes the Worker's R2 credentials
	 * now, and is wiped. */
	cf_sha256_hex(value, strlen(value), secret_hex);
	rc = cf_put_secret(call, desired->name, "R2_ACCESS_KEY_ID", id);
	if (rc == PROVIDER_OK)
		rc = cf_put_secret(
		    call, desired->name, "R2_SECRET_ACCESS_KEY", secret_hex);
	sodium_memzero(secret_hex, sizeof(secret_hex));
	if (rc == PROVIDER_OK) {
		/* last: the mark that the credentials arrived */
		char *marker = xasprintf(CF_R2_MARKER_PREFIX "%s", id);

		rc = cf_put_secret(call, desired->name, marker, "");
		free(marker);
	}
	if (rc != PROVIDER_OK) {
		/* a token whose value is lost is useless: revoke it, so
		 * that the retry makes a new one */
		struct strbuf keep = STRBUF_INIT;

		strbuf_add(&keep, call->err.buf, call->err.len);
		strbuf_reset(&path);
		strbuf_addf(
		    &path, "/accounts/%s/tokens/%s", s->target->edge.account_id, id);
		(void)cf_simple_delete(call, path.buf, 0);
		strbuf_reset(&call->err);
		strbuf_add(&call->err, keep.buf, keep.len);
		strbuf_release(&keep);
	}
out:
	sodium_memzero(resp.body.buf, resp.body.len);
	if (resp.json != NULL) {
		cJSON *v = cJSON_GetObjectItem(
		    cJSON_GetObjectItem(resp.json, "result"), "value");

		if (cJSON_IsString(v))
			sodium_memzero(v->valuestring, strlen(v->valuestring));
	}
	free(json);
	free(name);
	cJSON_Delete(body);
	http_response_release(&resp);
	strbuf_release(&path);
	strbuf_release(&resource);
	return rc;
}

static int
cf_token_delete(struct provider_call *call, const struct observed *current)
{
	struct cf_session *s = call->session;
	struct strbuf path = STRBUF_INIT;
	int rc;

	strbuf_addf(&path, "/accounts/%s/tokens/%s", s->target->edge.account_id,
	    cf_str(current->handle, "id"));
	rc = cf_simple_delete(call, path.buf, 0);
	if (rc == PROVIDER_OK) {
		/* its mark on the Worker (gone with it, or now stale) */
		char *marker = xasprintf(
		    CF_R2_MARKER_PREFIX "%s", cf_str(current->handle, "id"));

		rc = cf_delete_secret(call, current->name, marker);
		free(marker);
	}
	strbuf_release(&path);
	return rc;
}

/* ---- DNS records for servers ---- */

/* One record getbot wants through a cloudflare target: ORG.DOMAIN of an
 * org on a server whose dns.target is that target. */
struct cf_record_want {
	const struct bots_org *org;
	const struct bots_target *server;
	char *name;
	const char *type; /* "A" or "AAAA" */
	char content[INET6_ADDRSTRLEN];
};

static void
cf_wants_free(struct cf_record_want *wants, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(wants[i].name);
	free(wants);
}

/* Is server's dns.target this cloudflare target? */
static bool
cf_dns_serves(
    const struct bots_target *server, const struct bots_target *target)
{
	return server->kind == BOTS_TARGET_INCUS &&
	       server->server.dns_target == target && server->server.dns_zone_id != NULL &&
	       server->server.dns_address != NULL;
}

/* An address's record type and its canonical text (the form Cloudflare
 * keeps: IPv6 compressed and lowercase), or -1. */
static int
cf_dns_address(
    const char *address, const char **type, char content[INET6_ADDRSTRLEN])
{
	unsigned char raw[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, address, raw) == 1 &&
	    inet_ntop(AF_INET, raw, content, INET6_ADDRSTRLEN) != NULL) {
		*type = "A";
		return 0;
	}
	if (inet_pton(AF_INET6, address, raw) == 1 &&
	    inet_ntop(AF_INET6, raw, content, INET6_ADDRSTRLEN) != NULL) {
		*type = "AAAA";
		return 0;
	}
	return -1;
}

/* The records getbot wants through target, or -1 with err. */
static int
cf_dns_wanted(const struct bots *bots, const struct bots_target *target,
    struct cf_record_want **out, size_t *n, struct strbuf *err)
{
	struct cf_record_want *wants = NULL;
	size_t alloc = 0, s, o;

	*n = 0;
	for (s = 0; s < bots->ntargets; s++) {
		const struct bots_target *server = &bots->targets[s];
		const char *type;
		char content[INET6_ADDRSTRLEN];

		if (!cf_dns_serves(server, target))
			continue;
		if (cf_dns_address(server->server.dns_address, &type, content) != 0) {
			strbuf_addf(err,
			    "targets.%s.dns.address: '%s' is neither an IPv4 "
			    "nor an IPv6 address",
			    server->name, server->server.dns_address);
			cf_wants_free(wants, *n);
			return -1;
		}
		for (o = 0; o < bots->norgs; o++) {
			struct cf_record_want *w;

			if (bots->orgs[o].target != server)
				continue;
			ALLOC_GROW(wants, *n + 1, alloc);
			w = &wants[(*n)++];
			w->org = &bots->orgs[o];
			w->server = server;
			w->name = identity_org_domain(
			    bots->orgs[o].name, server->server.domain);
			w->type = type;
			memcpy(w->content, content, sizeof(w->content));
		}
	}
	*out = wants;
	return 0;
}

/* Desired: cloudflare.dns.ORG per org on a server served by target. The
 * account is kept in the spec (not a field) so that the state remembers
 * which account's zone to look in once the config no longer says. */
static int
cf_dns_expand(const struct bots *bots, const struct bots_target *target,
    struct resource_set *out, struct strbuf *err)
{
	struct cf_record_want *wants;
	size_t n, i;

	if (cf_dns_wanted(bots, target, &wants, &n, err) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		cJSON *spec = cJSON_CreateObject();
		struct resource *r;

		cJSON_AddStringToObject(
		    spec, "zone_id", wants[i].server->server.dns_zone_id);
		cJSON_AddStringToObject(spec, "name", wants[i].name);
		cJSON_AddStringToObject(spec, "type", wants[i].type);
		cJSON_AddStringToObject(spec, "content", wants[i].content);
		cJSON_AddBoolToObject(
		    spec, "proxied", wants[i].server->server.dns_proxied);
		cJSON_AddNumberToObject(spec, "ttl", 1);
		cJSON_AddStringToObject(spec, "account_id", target->edge.account_id);
		r = resource_new(&provider_cloudflare, &cf_dns,
		    wants[i].org->name, wants[i].org->name, NULL, spec);
		r->target = target;
		resource_set_add(out, r);
	}
	cf_wants_free(wants, n);
	return 0;
}

/* A zone to list: named by a server in the config, or only remembered. */
struct cf_zone {
	const char *id;
	bool configured;
};

static void
cf_zone_add(struct cf_zone **zones, size_t *n, size_t *alloc, const char *id,
    bool configured)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp((*zones)[i].id, id) == 0) {
			(*zones)[i].configured |= configured;
			return;
		}
	ALLOC_GROW(*zones, *n + 1, *alloc);
	(*zones)[*n].id = id;
	(*zones)[*n].configured = configured;
	(*n)++;
}

/* Is id a zone id (32 lowercase hex digits), safe in a path? */
static bool
cf_zone_id_ok(const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++)
		if (!isxdigit((unsigned char)id[i]) ||
		    isupper((unsigned char)id[i]))
			return false;
	return i == 32;
}

/* Does the zone named zone hold the name host? */
static bool
cf_zone_holds(const char *zone, const char *host)
{
	size_t zl = strlen(zone), hl = strlen(host);

	return strcasecmp(host, zone) == 0 ||
	       (hl > zl && host[hl - zl - 1] == '.' &&
		   strcasecmp(host + hl - zl, zone) == 0);
}

/* A configured zone: does it exist, and does it hold each server's names?
 * (Cloudflare appends the zone's name to a name outside it, which would
 * make a record getbot never finds again.) */
static int
cf_dns_check_zone(struct provider_call *call, const struct bots *bots,
    const struct bots_target *target, const char *zone_id)
{
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	const char *zone_name;
	int rc;
	size_t s;

	http_response_init(&resp);
	strbuf_addf(&path, "/zones/%s", zone_id);
	rc = cf_send(call, "GET", path.buf, NULL, NULL, 0, &resp);
	zone_name = cf_str(cf_result(&resp), "name");
	if (rc == PROVIDER_OK && *zone_name == '\0') {
		strbuf_addf(
		    &call->err, "GET %s: no zone name in the answer", path.buf);
		rc = PROVIDER_ERROR;
	}
	for (s = 0; rc == PROVIDER_OK && s < bots->ntargets; s++) {
		const struct bots_target *server = &bots->targets[s];

		if (!cf_dns_serves(server, target) ||
		    strcmp(server->server.dns_zone_id, zone_id) != 0 ||
		    cf_zone_holds(zone_name, server->server.domain))
			continue;
		strbuf_addf(&call->err,
		    "targets.%s.dns.zone_id: zone %s is '%s', which cannot "
		    "hold the names ORG.%s of the server's orgs; give the "
		    "zone of %s",
		    server->name, zone_id, zone_name, server->server.domain,
		    server->server.domain);
		rc = PROVIDER_ERROR;
	}
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

/* Every record of a zone, page by page, into all (each with its zone id
 * as "zone_id"). A zone only remembered that answers 4xx (gone, or not
 * this account's) holds nothing getbot can reach: skipped. */
static int
cf_dns_list_zone(
    struct provider_call *call, const struct cf_zone *zone, cJSON *all)
{
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	int rc = PROVIDER_OK, page, pages = 1;

	http_response_init(&resp);
	for (page = 1; page <= pages && page <= CF_PAGE_LIMIT; page++) {
		cJSON *result, *record;
		const cJSON *total;

		strbuf_reset(&path);
		strbuf_addf(&path, "/zones/%s/dns_records?page=%d&per_page=%d",
		    zone->id, page, CF_DNS_PER_PAGE);
		rc = cf_send(call, "GET", path.buf, NULL, NULL, 0, &resp);
		if (rc == PROVIDER_ERROR && !zone->configured &&
		    resp.status >= 400 && resp.status < 500) {
			strbuf_reset(&call->err);
			rc = PROVIDER_OK;
			break;
		}
		if (rc != PROVIDER_OK)
			break;
		result = cJSON_GetObjectItemCaseSensitive(resp.json, "result");
		while (
		    (record = cJSON_DetachItemFromArray(result, 0)) != NULL) {
			cJSON_DeleteItemFromObjectCaseSensitive(
			    record, "zone_id");
			cJSON_AddStringToObject(record, "zone_id", zone->id);
			cJSON_AddItemToArray(all, record);
		}
		total = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(resp.json, "result_info"),
		    "total_pages");
		if (cJSON_IsNumber(total))
			pages = total->valueint;
	}
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

/* Is a record getbot's (its comment is the marker, its type one getbot
 * makes)? */
static bool
cf_record_ours(const cJSON *record)
{
	const char *type = cf_str(record, "type");

	return strcmp(cf_str(record, "comment"), CF_DNS_COMMENT) == 0 &&
	       (strcmp(type, "A") == 0 || strcmp(type, "AAAA") == 0);
}

/* Would a record of this type keep getbot's A or AAAA record of the same
 * name from working (a CNAME cannot share its name; an NS delegates it;
 * another address splits the traffic)? */
static bool
cf_record_conflicts(const cJSON *record)
{
	static const char *const types[] = { "A", "AAAA", "CNAME", "NS" };
	const char *type = cf_str(record, "type");
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(type, types[i]) == 0)
			return true;
	return false;
}

/* The org an owned record is named for: the first label of its name. */
static char *
cf_record_org(const cJSON *record)
{
	const char *name = cf_str(record, "name");
	char *org = xstrndup(name, strcspn(name, "."));

	if (identity_is_dns_label(org) && name[strlen(org)] == '.')
		return org;
	free(org);
	return NULL;
}

static struct observed *
cf_dns_observed(const char *name, const char *org, const cJSON *record)
{
	cJSON *spec = cJSON_CreateObject();
	const cJSON *ttl = cJSON_GetObjectItemCaseSensitive(record, "ttl");
	struct observed *o;

	cJSON_AddStringToObject(spec, "zone_id", cf_str(record, "zone_id"));
	cJSON_AddStringToObject(spec, "name", cf_str(record, "name"));
	cJSON_AddStringToObject(spec, "type", cf_str(record, "type"));
	cJSON_AddStringToObject(spec, "content", cf_str(record, "content"));
	cJSON_AddBoolToObject(spec, "proxied",
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(record, "proxied")));
	cJSON_AddNumberToObject(
	    spec, "ttl", cJSON_IsNumber(ttl) ? ttl->valuedouble : 0);
	o = cf_observed(&cf_dns, name, org, NULL, cf_record_ours(record), spec);
	o->handle = cJSON_CreateObject();
	cJSON_AddStringToObject(
	    o->handle, "zone_id", cf_str(record, "zone_id"));
	cJSON_AddStringToObject(o->handle, "id", cf_str(record, "id"));
	return o;
}

/* The record of all that best stands for want: getbot's own at its name
 * (of its type first), else one of someone else's there that is in the
 * way. NULL when there is none. */
static cJSON *
cf_dns_match(const cJSON *all, const struct cf_record_want *want,
    const bool *used, bool *owned)
{
	cJSON *record, *best = NULL;
	int best_rank = 0;
	size_t i = 0;

	cJSON_ArrayForEach (record, all) {
		int rank = 0;

		if (!used[i++] &&
		    strcmp(cf_str(record, "zone_id"),
			want->server->server.dns_zone_id) == 0 &&
		    strcasecmp(cf_str(record, "name"), want->name) == 0) {
			if (cf_record_ours(record))
				rank = strcmp(cf_str(record, "type"),
					   want->type) == 0
					   ? 3
					   : 2;
			else if (cf_record_conflicts(record))
				rank = 1;
		}
		if (rank > best_rank) {
			best = record;
			best_rank = rank;
		}
	}
	*owned = best_rank >= 2;
	return best;
}

/*
 * DNS records: one paginated list per zone the config names for this
 * target (after a check of the zone's name) and per zone only the state
 * remembers. Per org, cloudflare.dns.ORG is getbot's record at the wanted
 * name, else someone else's record there (observed as not owned, with a
 * notice for the plan), else any record of getbot's for that org; more
 * records of getbot's for one org are observed as cloudflare.dns.ORG~ID,
 * which nothing wants, so they are deleted.
 */
static int
cf_observe_dns(struct provider_call *call, const struct bots_target *target,
    struct observed_set *out)
{
	const struct bots *bots = target->bots;
	struct cf_record_want *wants = NULL;
	struct cf_zone *zones = NULL;
	size_t nwants = 0, nzones = 0, alloc = 0, i, count;
	cJSON *all = cJSON_CreateArray(), *record;
	cJSON *seen = cJSON_CreateObject(); /* orgs with a cloudflare.dns.ORG */
	const cJSON *memory;
	bool *used = NULL;
	int rc = PROVIDER_OK;

	if (bots == NULL)
		goto out;
	if (cf_dns_wanted(bots, target, &wants, &nwants, &call->err) != 0) {
		rc = PROVIDER_ERROR;
		goto out;
	}
	for (i = 0; i < bots->ntargets; i++)
		if (cf_dns_serves(&bots->targets[i], target))
			cf_zone_add(&zones, &nzones, &alloc,
			    bots->targets[i].server.dns_zone_id, true);
	cJSON_ArrayForEach (memory, call->remembered) {
		const char *zone = cf_str(memory, "zone_id");

		if (strncmp(memory->string, "cloudflare.dns.", 15) == 0 &&
		    strcmp(cf_str(memory, "account_id"), target->edge.account_id) ==
			0 &&
		    cf_zone_id_ok(zone))
			cf_zone_add(&zones, &nzones, &alloc, zone, false);
	}
	for (i = 0; i < nzones && rc == PROVIDER_OK; i++) {
		if (zones[i].configured)
			rc = cf_dns_check_zone(call, bots, target, zones[i].id);
		if (rc == PROVIDER_OK)
			rc = cf_dns_list_zone(call, &zones[i], all);
	}
	if (rc != PROVIDER_OK)
		goto out;

	count = (size_t)cJSON_GetArraySize(all);
	used = xcalloc(count + 1, sizeof(*used));
	for (i = 0; i < nwants; i++) {
		bool owned;
		cJSON *best = cf_dns_match(all, &wants[i], used, &owned);
		struct observed *o;
		size_t at = 0;

		if (best == NULL)
			continue;
		cJSON_ArrayForEach (record, all) {
			if (record == best)
				break;
			at++;
		}
		used[at] = true;
		cJSON_AddTrueToObject(seen, wants[i].org->name);
		o = cf_dns_observed(
		    wants[i].org->name, wants[i].org->name, best);
		if (!owned) {
			o->notice = xasprintf(
			    "cannot create the DNS record %s (%s): zone %s "
			    "already holds a %s record of that name that "
			    "getbot did not make (its comment is not '%s'), "
			    "and getbot never touches it; remove that record, "
			    "or give server '%s' another domain",
			    wants[i].name, wants[i].type,
			    wants[i].server->server.dns_zone_id, cf_str(best, "type"),
			    CF_DNS_COMMENT, wants[i].server->name);
		}
		observed_set_add(out, o);
	}
	i = 0;
	cJSON_ArrayForEach (record, all) {
		char *org, *name;

		if (used[i++] || !cf_record_ours(record))
			continue;
		org = cf_record_org(record);
		if (org == NULL)
			continue; /* not a name getbot gives */
		if (cJSON_GetObjectItemCaseSensitive(seen, org) == NULL) {
			cJSON_AddTrueToObject(seen, org);
			name = xstrdup(org);
		} else
			name = xasprintf("%s~%s", org, cf_str(record, "id"));
		observed_set_add(out, cf_dns_observed(name, org, record));
		free(name);
		free(org);
	}
out:
	cJSON_Delete(seen);
	free(used);
	free(zones);
	cf_wants_free(wants, nwants);
	cJSON_Delete(all);
	return rc;
}

/* The record's body: what getbot sets, and its marker. */
static char *
cf_dns_body(const struct resource *desired)
{
	cJSON *body = cJSON_CreateObject();
	char *json;

	cJSON_AddStringToObject(body, "type", cf_str(desired->spec, "type"));
	cJSON_AddStringToObject(body, "name", cf_str(desired->spec, "name"));
	cJSON_AddStringToObject(
	    body, "content", cf_str(desired->spec, "content"));
	cJSON_AddNumberToObject(body, "ttl", 1);
	cJSON_AddBoolToObject(body, "proxied",
	    cJSON_IsTrue(cJSON_GetObjectItem(desired->spec, "proxied")));
	cJSON_AddStringToObject(body, "comment", CF_DNS_COMMENT);
	json = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	return json;
}

static int
cf_dns_create(struct provider_call *call, const struct resource *desired)
{
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	char *json = cf_dns_body(desired);
	int rc, code;

	http_response_init(&resp);
	strbuf_addf(
	    &path, "/zones/%s/dns_records", cf_str(desired->spec, "zone_id"));
	rc = cf_send(call, "POST", path.buf, json, NULL, 0, &resp);
	code = cf_error_code(&resp);
	if (rc == PROVIDER_ERROR &&
	    (code == CF_RECORD_EXISTS || code == CF_RECORD_HOST_TAKEN))
		strbuf_addf(&call->err,
		    " (a record named %s that getbot did not make came into "
		    "zone %s after the plan; getbot never touches it)",
		    cf_str(desired->spec, "name"),
		    cf_str(desired->spec, "zone_id"));
	free(json);
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

/* In place: name, type, content, proxied and ttl in one PATCH. */
static int
cf_dns_update(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	char *json = cf_dns_body(desired);
	int rc;

	http_response_init(&resp);
	strbuf_addf(&path, "/zones/%s/dns_records/%s",
	    cf_str(current->handle, "zone_id"), cf_str(current->handle, "id"));
	rc = cf_send(call, "PATCH", path.buf, json, NULL, 0, &resp);
	free(json);
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

static int
cf_dns_delete(struct provider_call *call, const struct observed *current)
{
	struct strbuf path = STRBUF_INIT;
	int rc;

	strbuf_addf(&path, "/zones/%s/dns_records/%s",
	    cf_str(current->handle, "zone_id"), cf_str(current->handle, "id"));
	rc = cf_simple_delete(call, path.buf, CF_RECORD_NOT_FOUND);
	if (rc == PROVIDER_OK)
		strbuf_reset(&call->err);
	strbuf_release(&path);
	return rc;
}

/* ---- the provider's operations, by kind ---- */

static int
cf_create(struct provider_call *call, const struct resource *desired)
{
	if (desired->kind == &cf_bucket)
		return cf_bucket_create(call, desired);
	if (desired->kind == &cf_worker)
		return cf_worker_create(call, desired);
	if (desired->kind == &cf_secrets)
		return cf_write_secrets(call, desired, NULL);
	if (desired->kind == &cf_dns)
		return cf_dns_create(call, desired);
	return cf_token_create(call, desired);
}

static int
cf_update(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	if (desired->kind == &cf_worker)
		return cf_worker_update(call, desired, current);
	if (desired->kind == &cf_dns)
		return cf_dns_update(call, desired, current);
	strbuf_addf(
	    &call->err, "%s has nothing to update in place", desired->address);
	return PROVIDER_ERROR;
}

static int
cf_update_secret(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	if (desired->kind == &cf_secrets)
		return cf_write_secrets(call, desired, current);
	strbuf_addf(&call->err, "%s has no secrets", desired->address);
	return PROVIDER_ERROR;
}

static int
cf_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	struct cf_session *s = call->session;
	struct strbuf path = STRBUF_INIT;
	int rc;

	if (current->kind == &cf_bucket)
		return cf_bucket_delete(call, current, purge);
	if (current->kind == &cf_secrets)
		return cf_secrets_delete(call, current);
	if (current->kind == &cf_token)
		return cf_token_delete(call, current);
	if (current->kind == &cf_dns)
		return cf_dns_delete(call, current);
	strbuf_addf(&path, "/accounts/%s/workers/scripts/%s",
	    s->target->edge.account_id, current->name);
	rc = cf_simple_delete(call, path.buf, CF_SCRIPT_NOT_FOUND);
	strbuf_release(&path);
	return rc;
}

int
cloudflare_hub_digest(const struct bots_target *target, const char *base_dir,
    const char *worker, char out[CLOUDFLARE_HEX_SHA256], struct strbuf *err)
{
	struct provider_call call = { .err = STRBUF_INIT };
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	cJSON *marker = NULL;
	const char *sha;
	int rc = -1;

	if (cloudflare_hub_digest_known(target, worker, out))
		return 0;
	http_response_init(&resp);
	if (cf_open(target, NULL, base_dir, &call.session, err) != 0)
		goto out;
	strbuf_addf(&path, "/accounts/%s/workers/scripts/%s/settings",
	    target->edge.account_id, worker);
	if (cf_send(&call, "GET", path.buf, NULL, NULL, 0, &resp) !=
	    PROVIDER_OK) {
		strbuf_addf(err, "cloudflare: %s", call.err.buf);
		goto out;
	}
	marker = cf_find_marker(
	    cJSON_GetObjectItemCaseSensitive(cf_result(&resp), "bindings"));
	sha = cf_str(marker, "hub_sha256");
	if (strlen(sha) != CLOUDFLARE_HEX_SHA256 - 1) {
		strbuf_addf(err,
		    "worker '%s' carries no hub token digest (is it getbot's?)",
		    worker);
		goto out;
	}
	memcpy(out, sha, CLOUDFLARE_HEX_SHA256);
	cf_digest_remember(target->edge.account_id, worker, sha);
	rc = 0;
out:
	cJSON_Delete(marker);
	cf_close(call.session);
	http_response_release(&resp);
	strbuf_release(&path);
	strbuf_release(&call.err);
	return rc;
}

const struct provider provider_cloudflare = {
	.name = "cloudflare",
	.target_kind = "cloudflare",
	.kinds = cf_kinds,
	.max_concurrency = 8,
	/* The account's budget is kept by the session's own bucket, which
	 * observation shares (see the top of this file). */
	.max_rate = 0,
	.burst = 0,
	.open = cf_open,
	.close = cf_close,
	.expand = cf_expand,
	.observe = cf_observe,
	.create = cf_create,
	.update = cf_update,
	.update_secret = cf_update_secret,
	.reregister = NULL,
	.delete = cf_delete,
};
