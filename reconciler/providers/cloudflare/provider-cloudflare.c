/*
 * The Cloudflare provider (API v4, api-contracts.md, through
 * clients/cloudflare.h): per agent ORG-TEAM
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
 * cloudflare.dns.ORG, the record ORG.DOMAIN in the server's zone (dns.c).
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
 * Observation: one list per kind (workers; buckets with cursor pages;
 * tokens with numbered pages), plus, per Worker, its settings (bindings)
 * and its secret names: the contract's list carries neither, and nothing
 * lists them for a whole account. Workers, secrets, buckets and tokens are
 * observed together: the Workers' markers say whose bucket and token each
 * is, and their secret names say both what the secrets are and whether a
 * token reached its Worker. The Worker's hub token digest is its output
 * "hub_digest", which the router's card reads (provider_input).
 *
 * Rate: the engine's budget of the API token (Cloudflare counts per token),
 * shared by observation and apply: cloudflare_budget says how much.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cloudflare-internal.h"
#include "engine.h"
#include "file.h"
#include "http.h"
#include "identity.h"
#include "provider-cloudflare.h"
#include "xmalloc.h"

#define CF_BUCKET_PREFIX    "getbot-"
#define CF_TOKEN_PREFIX     "getbot "
#define CF_MARKER           "GETBOT_MANAGED"
#define CF_HUB_SECRET       "GETBOT_HUB_TOKEN"
#define CF_HUB_OUTPUT       "hub_digest"
#define CF_FPR_PREFIX       "GETBOT_FPR_"
#define CF_SETTINGS_PREFIX  "GETBOT_SETTINGS_"
#define CF_R2_MARKER_PREFIX "GETBOT_R2_TOKEN_"
#define CF_COMPAT_DATE      "2025-01-01"
#define CF_BUNDLE_MAX       (8u << 20)
#define CF_HUB_TOKEN_BYTES  32

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
static const struct field_def cf_token_fields[] = {
	{ "bucket", FIELD_IDENTITY },
	/* "in worker" once the token's one-time value became the Worker's
	 * R2 credentials; a token whose value was lost (an answer that never
	 * came) is "missing" and is replaced */
	{ "r2_credentials", FIELD_IDENTITY },
	{ NULL, 0 },
};

static int cf_bucket_create(
    struct provider_call *call, const struct resource *desired);
static int cf_bucket_delete(
    struct provider_call *call, const struct observed *current, bool purge);
static int cf_worker_create(
    struct provider_call *call, const struct resource *desired);
static int cf_worker_update(struct provider_call *call,
    const struct resource *desired, const struct observed *current);
static int cf_worker_delete(
    struct provider_call *call, const struct observed *current, bool purge);
static int cf_secrets_create(
    struct provider_call *call, const struct resource *desired);
static int cf_secrets_update(struct provider_call *call,
    const struct resource *desired, const struct observed *current);
static int cf_secrets_delete(
    struct provider_call *call, const struct observed *current, bool purge);
static int cf_token_create(
    struct provider_call *call, const struct resource *desired);
static int cf_token_delete(
    struct provider_call *call, const struct observed *current, bool purge);

/*
 * Deletes go down the order: the card (the router's, order 3) first, so
 * that nothing is routed to an agent being removed; then worker, secrets,
 * token and bucket together (one order), so that a failing step does not
 * keep the others from being cleaned. Creates follow dependencies: bucket,
 * worker (binds the bucket), secrets and token (written into the worker),
 * card (carries the worker's hub token digest). The provider's observe
 * sees these four; DNS records observe themselves.
 */
static const struct resource_kind cf_bucket = {
	.name = "bucket",
	.fields = cf_bucket_fields,
	.lost_on_replace = "the agent's R2 bucket and its data",
	.order = 2,
	.create = cf_bucket_create,
	.delete = cf_bucket_delete,
};
static const struct resource_kind cf_worker = {
	.name = "worker",
	.fields = cf_worker_fields,
	.lost_on_replace =
	    "the agent's Worker with its secrets and hub auth token; the next "
	    "apply pushes the secrets again, makes new R2 credentials and "
	    "re-registers the card with the new token",
	.order = 2,
	.create = cf_worker_create,
	.update = cf_worker_update,
	.delete = cf_worker_delete,
};
static const struct resource_kind cf_secrets = {
	.name = "secrets",
	.fields = cf_secrets_fields,
	.lost_on_replace = NULL,
	.order = 2,
	.create = cf_secrets_create,
	.update_secret = cf_secrets_update,
	.delete = cf_secrets_delete,
};
static const struct resource_kind cf_token = {
	.name = "token",
	.fields = cf_token_fields,
	.lost_on_replace = "the agent's R2 credentials (new ones are made)",
	.order = 2,
	.create = cf_token_create,
	.delete = cf_token_delete,
};

static const struct resource_kind *const cf_kinds[] = { &cf_bucket, &cf_worker,
	&cf_secrets, &cf_token, &cf_dns, NULL };

/* ---- small helpers ---- */

struct cloudflare_client *
cf_client(struct provider_call *call)
{
	return &((struct cf_session *)call->session)->cf;
}

static char *
cf_bucket_name(const char *name)
{
	return xasprintf(CF_BUCKET_PREFIX "%s", name);
}

/* ---- session ---- */

static void cf_close(void *session);

static int
cf_open(const struct bots_target *target, struct conn *conn,
    const char *base_dir, void **session, struct strbuf *err)
{
	struct cf_session *s = xcalloc(1, sizeof(*s));

	(void)conn;
	pthread_mutex_init(&s->lock, NULL);
	/* bundles come with the config (a commit's copy under --ref); only
	 * secrets are read from base_dir */
	s->runtime_dir = bots_runtime_dir(target->bots);
	if (cloudflare_client_open(&s->cf, target, base_dir, err) != 0) {
		cf_close(s);
		*session = NULL;
		return -1;
	}
	*session = s;
	return 0;
}

static void
cf_close(void *session)
{
	struct cf_session *s = session;

	if (s == NULL)
		return;
	cloudflare_client_release(&s->cf);
	free(s->runtime_dir);
	free(s->subdomain);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* The API token's budget (Cloudflare counts per token). */
static void
cf_budget(void *session, const struct bots_target *target,
    struct provider_budget *out)
{
	struct cf_session *s = session;

	(void)target;
	cloudflare_budget(&s->cf, out);
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

struct observed *
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
	strbuf_addf(&path, "/accounts/%s/workers/subdomain", s->cf.account);
	rc = cloudflare_send(
	    &s->cf, call, "GET", path.buf, NULL, NULL, 0, &resp);
	sub = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
	    cloudflare_result(&resp), "subdomain"));
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
		const char *secret = cloudflare_str(item, "name");
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
	const char *account = s->cf.account;
	struct http_response resp, one;
	struct strbuf path = STRBUF_INIT;
	const cJSON *script;
	char *subdomain = NULL;
	int rc;

	http_response_init(&resp);
	http_response_init(&one);
	strbuf_addf(&path, "/accounts/%s/workers/scripts", account);
	rc = cloudflare_send(
	    &s->cf, call, "GET", path.buf, NULL, NULL, 0, &resp);
	if (cf_barred(call, &resp, optional, &rc) || rc != PROVIDER_OK)
		goto out;
	cJSON_ArrayForEach (script, cloudflare_result(&resp)) {
		const char *name = cloudflare_str(script, "id");
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
		rc = cloudflare_send(
		    &s->cf, call, "GET", path.buf, NULL, NULL, 0, &one);
		if (rc != PROVIDER_OK && one.status == 404 &&
		    cloudflare_error_code(&one) ==
			CLOUDFLARE_SCRIPT_NOT_FOUND) {
			rc = PROVIDER_OK; /* deleted meanwhile */
			continue;
		}
		if (rc != PROVIDER_OK)
			goto out;
		marker = cf_find_marker(cJSON_GetObjectItemCaseSensitive(
		    cloudflare_result(&one), "bindings"));
		if (marker == NULL) {
			observed_set_add(
			    out, cf_observed(&cf_worker, name, NULL, NULL,
				     false, cJSON_CreateObject()));
			continue;
		}
		org = cloudflare_str(marker, "org");
		team = cloudflare_str(marker, "team");
		spec = cJSON_CreateObject();
		cJSON_AddStringToObject(
		    spec, "persona", cloudflare_str(marker, "persona"));
		cJSON_AddStringToObject(spec, "instructions",
		    cloudflare_str(marker, "instructions"));
		cJSON_AddStringToObject(
		    spec, "runtime", cloudflare_str(marker, "runtime"));
		o = cf_observed(&cf_worker, name, org, team, true, spec);
		o->handle = cJSON_CreateObject();
		cJSON_AddStringToObject(
		    o->handle, "skills", cloudflare_str(marker, "skills"));
		cJSON_AddStringToObject(o->handle, "hub_sha256",
		    cloudflare_str(marker, "hub_sha256"));
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
		if (cloudflare_str(marker, "hub_sha256")[0] != '\0') {
			/* for the card (provider_input) */
			o->outputs = cJSON_CreateObject();
			cJSON_AddStringToObject(o->outputs, CF_HUB_OUTPUT,
			    cloudflare_str(marker, "hub_sha256"));
		}
		observed_set_add(out, o);
		if (cJSON_GetObjectItemCaseSensitive(owners, name) == NULL) {
			cJSON *who = cJSON_AddObjectToObject(owners, name);

			cJSON_AddStringToObject(who, "org", org);
			cJSON_AddStringToObject(who, "team", team);
		}

		strbuf_reset(&path);
		strbuf_addf(&path, "/accounts/%s/workers/scripts/%s/secrets",
		    account, name);
		rc = cloudflare_send(
		    &s->cf, call, "GET", path.buf, NULL, NULL, 0, &one);
		if (rc == PROVIDER_OK) {
			const cJSON *item;
			cJSON *names = cJSON_AddArrayToObject(
			    cJSON_GetObjectItemCaseSensitive(owners, name),
			    "secrets");

			cJSON_ArrayForEach (item, cloudflare_result(&one))
				cJSON_AddItemToArray(
				    names, cJSON_CreateString(
					       cloudflare_str(item, "name")));
			o = cf_observe_secrets(
			    name, org, team, cloudflare_result(&one));
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

	*org = who != NULL ? cloudflare_str(who, "org") : NULL;
	*team = who != NULL ? cloudflare_str(who, "team") : NULL;
}

/* R2 buckets, cursor-paginated. */
static int
cf_observe_buckets(struct provider_call *call, struct observed_set *out,
    const cJSON *owners, bool optional)
{
	struct cf_session *s = call->session;
	struct cloudflare_pager pager;
	char *path = xasprintf("/accounts/%s/r2/buckets", s->cf.account);
	int rc;

	cloudflare_pager_init(&pager, path, CLOUDFLARE_CURSOR, 100);
	while (
	    (rc = cloudflare_pager_next(&s->cf, call, &pager)) == PROVIDER_OK) {
		const cJSON *bucket;

		cJSON_ArrayForEach (
		    bucket, cJSON_GetObjectItemCaseSensitive(
				cloudflare_result(&pager.resp), "buckets")) {
			const char *bname = cloudflare_str(bucket, "name");
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
	}
	if (rc == CLOUDFLARE_PAGER_END ||
	    cf_barred(call, &pager.resp, optional && pager.page == 1, &rc))
		rc = PROVIDER_OK;
	cloudflare_pager_release(&pager);
	free(path);
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
	struct cloudflare_pager pager;
	char *path = xasprintf("/accounts/%s/tokens", s->cf.account);
	int rc;

	cloudflare_pager_init(&pager, path, CLOUDFLARE_PAGES, 50);
	while (
	    (rc = cloudflare_pager_next(&s->cf, call, &pager)) == PROVIDER_OK) {
		const cJSON *token;

		cJSON_ArrayForEach (token, cloudflare_result(&pager.resp)) {
			const char *tname = cloudflare_str(token, "name");
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
				owners, name, cloudflare_str(token, "id"))
				? "in worker"
				: "missing");
			o = cf_observed(&cf_token, name, org, team, true, spec);
			o->handle = cJSON_CreateObject();
			cJSON_AddStringToObject(
			    o->handle, "id", cloudflare_str(token, "id"));
			observed_set_add(out, o);
		}
	}
	if (rc == CLOUDFLARE_PAGER_END ||
	    cf_barred(call, &pager.resp, optional && pager.page == 1, &rc))
		rc = PROVIDER_OK;
	cloudflare_pager_release(&pager);
	free(path);
	return rc;
}

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
	    s->cf.account, worker);
	cJSON_AddStringToObject(body, "name", name);
	cJSON_AddStringToObject(body, "text", text);
	cJSON_AddStringToObject(body, "type", "secret_text");
	json = cJSON_PrintUnformatted(body);
	rc = cloudflare_send(
	    &s->cf, call, "PUT", path.buf, json, NULL, 0, &resp);
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
	    s->cf.account, worker, name);
	rc = cloudflare_send(
	    &s->cf, call, "DELETE", path.buf, NULL, NULL, 0, &resp);
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
cf_secrets_create(struct provider_call *call, const struct resource *desired)
{
	return cf_write_secrets(call, desired, NULL);
}

/* update-secret: only the keys and settings that changed. */
static int
cf_secrets_update(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	return cf_write_secrets(call, desired, current);
}

static int
cf_secrets_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	const cJSON *names = cJSON_GetObjectItem(current->handle, "names");
	const cJSON *name;
	int rc = PROVIDER_OK;

	(void)purge;
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
	int read_rc = -1;
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
	if (runtime != NULL && cf_runtime_name_ok(runtime))
		read_rc =
		    file_read(path.buf, CF_BUNDLE_MAX, &main_js, NULL, &why);
	if (read_rc == FILE_MISSING)
		strbuf_addf(
		    &why, "cannot open '%s': %s", path.buf, strerror(ENOENT));
	if (read_rc != 0) {
		strbuf_addf(&call->err, "runtime bundle: %s",
		    why.len ? why.buf : "bad runtime name");
		goto out;
	}
	cf_identity_text(persona, instructions, skills, &identity);
	cloudflare_sha256_hex(identity.buf, identity.len, identity_sha);
	spec_json = cJSON_PrintUnformatted(desired->spec);
	cloudflare_sha256_hex(spec_json, strlen(spec_json), spec_sha);
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
	strbuf_addf(&path, "/accounts/%s/workers/scripts/%s", s->cf.account,
	    desired->name);
	rc = cloudflare_send(
	    &s->cf, call, "PUT", path.buf, NULL, parts, 3, &resp);
	if (rc != PROVIDER_OK)
		goto out;
	/* workers.dev: the agent's URL. Retried here: once the upload took
	 * effect, the engine sees the Worker as made and would not ask
	 * again (observation cannot see this switch without a call per
	 * Worker). */
	strbuf_addstr(&path, "/subdomain");
	for (attempt = 1; attempt <= ENGINE_MAX_ATTEMPTS; attempt++) {
		call->retry_after = 0;
		rc = cloudflare_send(&s->cf, call, "POST", path.buf,
		    "{\"enabled\":true}", NULL, 0, &resp);
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
	cloudflare_sha256_hex(hub, strlen(hub), hub_sha);
	rc = cf_upload(call, desired, cloudflare_str(desired->spec, "persona"),
	    cloudflare_str(desired->spec, "instructions"),
	    cloudflare_str(desired->spec, "identity_skills"), hub, hub_sha);
	sodium_memzero(hub, sizeof(hub));
	if (rc == PROVIDER_OK)
		provider_output(call, desired->address, CF_HUB_OUTPUT, hub_sha);
	return rc;
}

/* In place (the runtime): the same IDENTITY.md and hub token as before. */
static int
cf_worker_update(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	const char *hub_sha = cloudflare_str(current->handle, "hub_sha256");
	int rc;

	rc = cf_upload(call, desired, cloudflare_str(current->spec, "persona"),
	    cloudflare_str(current->spec, "instructions"),
	    cloudflare_str(current->handle, "skills"), NULL, hub_sha);
	if (rc == PROVIDER_OK && *hub_sha != '\0')
		provider_output(call, desired->address, CF_HUB_OUTPUT, hub_sha);
	return rc;
}

static int
cf_worker_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	struct cf_session *s = call->session;
	struct strbuf path = STRBUF_INIT;
	int rc;

	(void)purge;
	strbuf_addf(&path, "/accounts/%s/workers/scripts/%s", s->cf.account,
	    current->name);
	rc = cloudflare_delete(
	    &s->cf, call, path.buf, CLOUDFLARE_SCRIPT_NOT_FOUND);
	strbuf_release(&path);
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
	cJSON_AddStringToObject(
	    body, "name", cloudflare_str(desired->spec, "name"));
	json = cJSON_PrintUnformatted(body);
	strbuf_addf(&path, "/accounts/%s/r2/buckets", s->cf.account);
	rc = cloudflare_send(
	    &s->cf, call, "POST", path.buf, json, NULL, 0, &resp);
	if (rc == PROVIDER_ERROR && resp.status == 409 &&
	    cloudflare_error_code(&resp) == CLOUDFLARE_BUCKET_EXISTS) {
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
	for (page = 0; page < CLOUDFLARE_PAGE_LIMIT && rc == PROVIDER_OK;
	     page++) {
		const cJSON *object;
		bool any = false;

		strbuf_reset(&path);
		strbuf_addf(&path,
		    "/accounts/%s/r2/buckets/%s/objects?per_page=1000",
		    s->cf.account, bucket);
		rc = cloudflare_send(
		    &s->cf, call, "GET", path.buf, NULL, NULL, 0, &resp);
		if (rc != PROVIDER_OK)
			break;
		cJSON_ArrayForEach (object, cloudflare_result(&resp)) {
			const char *key = cloudflare_str(object, "key");

			any = true;
			strbuf_reset(&path);
			strbuf_addf(&path,
			    "/accounts/%s/r2/buckets/%s/objects/",
			    s->cf.account, bucket);
			http_add_escaped(&path, key);
			rc = cloudflare_delete(&s->cf, call, path.buf, 0);
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
	const char *bucket = cloudflare_str(current->spec, "name");
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	int rc, tries;

	http_response_init(&resp);
	strbuf_addf(&path, "/accounts/%s/r2/buckets/%s", s->cf.account, bucket);
	for (tries = 0; tries < 2; tries++) {
		rc = cloudflare_send(
		    &s->cf, call, "DELETE", path.buf, NULL, NULL, 0, &resp);
		if (rc == PROVIDER_ERROR && resp.status == 404 &&
		    cloudflare_error_code(&resp) ==
			CLOUDFLARE_BUCKET_NOT_FOUND) {
			strbuf_reset(&call->err);
			rc = PROVIDER_OK;
		}
		if (!(rc == PROVIDER_ERROR && resp.status == 409 &&
			cloudflare_error_code(&resp) ==
			    CLOUDFLARE_BUCKET_NOT_EMPTY))
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
	const char *bucket = cloudflare_str(desired->spec, "bucket");
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
	    s->cf.account, bucket);
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
	strbuf_addf(&path, "/accounts/%s/tokens", s->cf.account);
	rc = cloudflare_send(
	    &s->cf, call, "POST", path.buf, json, NULL, 0, &resp);
	if (rc != PROVIDER_OK)
		goto out;
	result = cloudflare_result(&resp);
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
	cloudflare_sha256_hex(value, strlen(value), secret_hex);
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
		strbuf_addf(&path, "/accounts/%s/tokens/%s", s->cf.account, id);
		(void)cloudflare_delete(&s->cf, call, path.buf, 0);
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
cf_token_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	struct cf_session *s = call->session;
	struct strbuf path = STRBUF_INIT;
	int rc;

	(void)purge;
	strbuf_addf(&path, "/accounts/%s/tokens/%s", s->cf.account,
	    cloudflare_str(current->handle, "id"));
	rc = cloudflare_delete(&s->cf, call, path.buf, 0);
	if (rc == PROVIDER_OK) {
		/* its mark on the Worker (gone with it, or now stale) */
		char *marker = xasprintf(CF_R2_MARKER_PREFIX "%s",
		    cloudflare_str(current->handle, "id"));

		rc = cf_delete_secret(call, current->name, marker);
		free(marker);
	}
	strbuf_release(&path);
	return rc;
}

const struct provider provider_cloudflare = {
	.name = "cloudflare",
	.target_kind = "cloudflare",
	.kinds = cf_kinds,
	.max_concurrency = 8,
	.open = cf_open,
	.close = cf_close,
	.budget = cf_budget,
	.expand = cf_expand,
	.observe = cf_observe,
};
