/*
 * The Agent Router provider (api-contracts.md): per agent ORG-TEAM one card,
 * router.card.ORG-TEAM, registered with PUT /api/v1/agents/NAME (register
 * and re-register are the same idempotent call), removed with DELETE, and
 * observed with GET /api/v1/agents?owner=getbot, cursor-paginated
 * ({"agents": [...], "next_cursor": "..." | null}).
 *
 * Every field of a card is a registration field: a change re-registers it
 * and calls nothing on Cloudflare. Ownership: metadata.managed_by "getbot".
 * The card's authentication.credentials is the SHA-256 of the Worker's hub
 * auth token, which the Cloudflare provider made: the worker's output
 * "hub_digest", read through the engine (provider_input), whichever
 * provider the table lists first. When the Worker was replaced, the digest
 * no longer matches and the card plans a re-register ("hub_token": "stale"
 * -> "current").
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "identity.h"
#include "provider-router.h"
#include "xmalloc.h"

#define ROUTER_PAGE_LIMIT 1000
#define ROUTER_OWNER      "getbot"
/* The worker's address and output that hold a card's credentials. */
#define ROUTER_WORKER     "cloudflare.worker."
#define ROUTER_HUB_OUTPUT "hub_digest"

struct router_session {
	char *url; /* base, no trailing slash */
	struct secret *token;
};

static const struct field_def router_card_fields[] = {
	{ "display_name", FIELD_REGISTRATION },
	{ "description", FIELD_REGISTRATION },
	{ "visibility", FIELD_REGISTRATION },
	{ "appearance", FIELD_REGISTRATION },
	{ "wallet", FIELD_REGISTRATION },
	{ "skills", FIELD_REGISTRATION },
	{ "hub_token", FIELD_REGISTRATION },
	{ NULL, 0 },
};

static int router_observe(struct provider_call *call, struct observed_set *out);
static int router_create(
    struct provider_call *call, const struct resource *desired);
static int router_reregister(struct provider_call *call,
    const struct resource *desired, const struct observed *current);
static int router_delete(
    struct provider_call *call, const struct observed *current, bool purge);

/* The card goes first when an agent is deleted: nothing is routed to it. */
static const struct resource_kind router_card = {
	.name = "card",
	.fields = router_card_fields,
	.lost_on_replace = NULL,
	.order = 3,
	.observe = router_observe,
	.create = router_create,
	.reregister = router_reregister,
	.delete = router_delete,
};
static const struct resource_kind *const router_kinds[] = { &router_card,
	NULL };

static void router_close(void *session);

static int
router_open(const struct bots_target *target, struct conn *conn,
    const char *base_dir, void **session, struct strbuf *err)
{
	struct router_session *s = xcalloc(1, sizeof(*s));
	struct strbuf why = STRBUF_INIT;
	char *address = xasprintf("target.%s", target->name);
	size_t len;
	int rc = -1;

	(void)conn;
	s->url = xstrdup(
	    target->edge.router_url != NULL ? target->edge.router_url : "");
	len = strlen(s->url);
	while (len > 0 && s->url[len - 1] == '/')
		s->url[--len] = '\0';
	if (http_check_url(s->url, err) != 0) {
		strbuf_addf(err, " (target '%s', router.url)", target->name);
		goto out;
	}
	if (secret_resolve(&target->edge.router_token, base_dir, address,
		"router_token", &s->token, &why) != 0) {
		strbuf_addf(err, "target '%s': router.token: %s", target->name,
		    why.buf);
		goto out;
	}
	rc = 0;
out:
	free(address);
	strbuf_release(&why);
	if (rc != 0) {
		router_close(s);
		s = NULL;
	}
	*session = s;
	return rc;
}

static void
router_close(void *session)
{
	struct router_session *s = session;

	if (s == NULL)
		return;
	secret_free(s->token);
	free(s->url);
	free(s);
}

static int
router_send(struct provider_call *call, const char *method, const char *path,
    const char *json, struct http_response *resp)
{
	struct router_session *s = call->session;
	struct http_request req;
	struct strbuf url = STRBUF_INIT;
	int rc;

	memset(&req, 0, sizeof(req));
	strbuf_addf(&url, "%s%s", s->url, path);
	req.method = method;
	req.url = url.buf;
	req.bearer = (const char *)s->token->value;
	req.json = json;
	provider_throttle(call);
	strbuf_reset(&call->err);
	rc = http_request(&req, resp, &call->err);
	if (resp->status == 429)
		call->retry_after =
		    resp->retry_after > 0 ? resp->retry_after : 10;
	strbuf_release(&url);
	return rc;
}

/* ---- desired ---- */

static cJSON *
router_strings(const struct node *list)
{
	cJSON *out = cJSON_CreateArray();
	size_t i;

	for (i = 0;
	     list != NULL && list->kind == NODE_SEQUENCE && i < list->nitems;
	     i++)
		if (node_str(list->items[i]) != NULL)
			cJSON_AddItemToArray(
			    out, cJSON_CreateString(node_str(list->items[i])));
	return out;
}

static const char *
router_node_str(const struct node *mapping, const char *key, const char *dflt)
{
	const char *s = node_str(node_get(mapping, key));

	return s != NULL ? s : dflt;
}

/* A skill as the card carries it, every member present. */
static cJSON *
router_skill(const struct node *skill)
{
	cJSON *out = cJSON_CreateObject();
	const struct node *pricing = node_get(skill, "pricing");
	const struct node *price = node_get(pricing, "price_usd");

	cJSON_AddStringToObject(out, "id", router_node_str(skill, "id", ""));
	cJSON_AddStringToObject(
	    out, "name", router_node_str(skill, "name", ""));
	cJSON_AddStringToObject(
	    out, "description", router_node_str(skill, "description", ""));
	cJSON_AddItemToObject(
	    out, "tags", router_strings(node_get(skill, "tags")));
	cJSON_AddItemToObject(
	    out, "examples", router_strings(node_get(skill, "examples")));
	cJSON_AddStringToObject(
	    out, "pricing_model", router_node_str(pricing, "model", "free"));
	cJSON_AddNumberToObject(out, "price_usd",
	    price != NULL && price->kind == NODE_SCALAR &&
		    (price->scalar_type == SCALAR_INT ||
			price->scalar_type == SCALAR_FLOAT)
		? price->number
		: 0);
	return out;
}

static int
router_expand(const struct bots *bots, const struct bots_target *target,
    struct resource_set *out, struct strbuf *err)
{
	size_t o, t, i;

	(void)err;
	for (o = 0; o < bots->norgs; o++) {
		const struct bots_org *org = &bots->orgs[o];

		if (org->target != target)
			continue;
		for (t = 0; t < org->nteams; t++) {
			const struct bots_team *team = &org->teams[t];
			const struct node *card = team->card;
			const struct node *look = node_get(card, "appearance");
			const struct node *skills = node_get(card, "skills");
			char *name =
			    identity_worker_name(org->name, team->name);
			char *worker;
			cJSON *spec = cJSON_CreateObject(), *appearance, *list;
			struct resource *r;

			cJSON_AddStringToObject(spec, "display_name",
			    router_node_str(card, "display_name", team->name));
			cJSON_AddStringToObject(spec, "description",
			    router_node_str(card, "description", ""));
			cJSON_AddStringToObject(spec, "visibility",
			    router_node_str(card, "visibility", "private"));
			appearance =
			    cJSON_AddObjectToObject(spec, "appearance");
			if (node_str(node_get(look, "primary_color")) != NULL)
				cJSON_AddStringToObject(appearance,
				    "primary_color",
				    node_str(node_get(look, "primary_color")));
			if (node_str(node_get(look, "avatar_url")) != NULL)
				cJSON_AddStringToObject(appearance,
				    "avatar_url",
				    node_str(node_get(look, "avatar_url")));
			cJSON_AddStringToObject(spec, "wallet",
			    router_node_str(card, "wallet", ""));
			list = cJSON_AddArrayToObject(spec, "skills");
			for (i = 0;
			     skills != NULL && skills->kind == NODE_SEQUENCE &&
			     i < skills->nitems;
			     i++)
				cJSON_AddItemToArray(
				    list, router_skill(skills->items[i]));
			cJSON_AddStringToObject(spec, "hub_token", "current");
			r = resource_new(&provider_router, &router_card, name,
			    org->name, team->name, spec);
			r->target = target;
			worker = xasprintf(ROUTER_WORKER "%s", name);
			resource_add_dep(r, worker);
			free(worker);
			resource_set_add(out, r);
			free(name);
		}
	}
	return 0;
}

/* ---- observe ---- */

static const char *
router_str(const cJSON *obj, const char *key)
{
	const char *s =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));

	return s != NULL ? s : "";
}

/*
 * The hub token digest of the Worker of card name, from the Cloudflare
 * provider through the engine: PROVIDER_OK with *digest (the caller frees
 * it), PROVIDER_MISSING when the Worker does not exist or carries none, or
 * the error of observing it.
 */
static int
router_hub_digest(struct provider_call *call, const char *name, char **digest)
{
	char *address = xasprintf(ROUTER_WORKER "%s", name);
	int rc;

	rc = provider_input(call, address, ROUTER_HUB_OUTPUT, digest);
	free(address);
	return rc;
}

/* A card's fields back into the spec's shape; hub_token is "stale" or
 * "current". */
static cJSON *
router_card_spec(const cJSON *card, const char *hub_token)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(card, "metadata");
	const cJSON *theme = cJSON_GetObjectItemCaseSensitive(meta, "theme");
	const cJSON *skill;
	cJSON *spec = cJSON_CreateObject(), *appearance, *list;

	cJSON_AddStringToObject(
	    spec, "display_name", router_str(meta, "display_name"));
	cJSON_AddStringToObject(
	    spec, "description", router_str(card, "description"));
	cJSON_AddStringToObject(
	    spec, "visibility", router_str(meta, "visibility"));
	appearance = cJSON_AddObjectToObject(spec, "appearance");
	if (cJSON_IsString(cJSON_GetObjectItem(theme, "primary_color")))
		cJSON_AddStringToObject(appearance, "primary_color",
		    router_str(theme, "primary_color"));
	if (cJSON_IsString(cJSON_GetObjectItem(theme, "avatar_url")))
		cJSON_AddStringToObject(
		    appearance, "avatar_url", router_str(theme, "avatar_url"));
	cJSON_AddStringToObject(
	    spec, "wallet", router_str(meta, "wallet_address"));
	list = cJSON_AddArrayToObject(spec, "skills");
	cJSON_ArrayForEach (skill, cJSON_GetObjectItem(card, "skills")) {
		cJSON *s = cJSON_CreateObject();
		const cJSON *price = cJSON_GetObjectItem(skill, "price_usd");

		cJSON_AddStringToObject(s, "id", router_str(skill, "id"));
		cJSON_AddStringToObject(s, "name", router_str(skill, "name"));
		cJSON_AddStringToObject(
		    s, "description", router_str(skill, "description"));
		cJSON_AddItemToObject(s, "tags",
		    cJSON_IsArray(cJSON_GetObjectItem(skill, "tags"))
			? cJSON_Duplicate(cJSON_GetObjectItem(skill, "tags"), 1)
			: cJSON_CreateArray());
		cJSON_AddItemToObject(s, "examples",
		    cJSON_IsArray(cJSON_GetObjectItem(skill, "examples"))
			? cJSON_Duplicate(
			      cJSON_GetObjectItem(skill, "examples"), 1)
			: cJSON_CreateArray());
		cJSON_AddStringToObject(
		    s, "pricing_model", router_str(skill, "pricing_model"));
		cJSON_AddNumberToObject(s, "price_usd",
		    cJSON_IsNumber(price) ? price->valuedouble : 0);
		cJSON_AddItemToArray(list, s);
	}
	cJSON_AddStringToObject(spec, "hub_token", hub_token);
	return spec;
}

/* Is card's hub token stale: does the Worker's digest differ from its
 * credentials? "current" when the Worker's digest is not known. */
static int
router_hub_token(
    struct provider_call *call, const cJSON *card, const char **hub_token)
{
	const char *credentials =
	    router_str(cJSON_GetObjectItemCaseSensitive(card, "authentication"),
		"credentials");
	char *digest = NULL;
	int rc;

	*hub_token = "current";
	rc = router_hub_digest(call, router_str(card, "name"), &digest);
	if (rc == PROVIDER_OK && strcmp(digest, credentials) != 0)
		*hub_token = "stale";
	free(digest);
	return rc == PROVIDER_MISSING ? PROVIDER_OK : rc;
}

/* Every card of getbot's on the router (owner=getbot), cursor-paginated. */
static int
router_observe(struct provider_call *call, struct observed_set *out)
{
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	char *cursor = NULL;
	int rc = PROVIDER_OK, page;

	http_response_init(&resp);
	for (page = 0; page < ROUTER_PAGE_LIMIT; page++) {
		const cJSON *card;
		const char *next;

		strbuf_reset(&path);
		strbuf_addstr(
		    &path, "/api/v1/agents?owner=" ROUTER_OWNER "&limit=100");
		if (cursor != NULL) {
			strbuf_addstr(&path, "&cursor=");
			http_add_escaped(&path, cursor);
		}
		rc = router_send(call, "GET", path.buf, NULL, &resp);
		if (rc != PROVIDER_OK)
			break;
		cJSON_ArrayForEach (
		    card, cJSON_GetObjectItem(resp.json, "agents")) {
			const cJSON *meta =
			    cJSON_GetObjectItem(card, "metadata");
			const char *name = router_str(card, "name");
			const char *hub_token;
			struct observed *o;

			if (!identity_is_dns_label(name))
				continue;
			o = observed_new(&provider_router, &router_card, name);
			o->owned = strcmp(router_str(meta, "managed_by"),
				       ROUTER_OWNER) == 0;
			if (o->owned) {
				rc = router_hub_token(call, card, &hub_token);
				if (rc != PROVIDER_OK) {
					observed_free(o);
					goto out;
				}
				o->org = xstrdup(router_str(meta, "org"));
				o->team = xstrdup(router_str(meta, "team"));
				cJSON_Delete(o->spec);
				o->spec = router_card_spec(card, hub_token);
				o->handle = cJSON_CreateObject();
				cJSON_AddStringToObject(o->handle,
				    "credentials",
				    router_str(cJSON_GetObjectItem(
						   card, "authentication"),
					"credentials"));
			}
			observed_set_add(out, o);
		}
		next = cJSON_GetStringValue(
		    cJSON_GetObjectItem(resp.json, "next_cursor"));
		free(cursor);
		cursor = NULL;
		if (next == NULL || *next == '\0')
			break;
		cursor = xstrdup(next);
	}
out:
	free(cursor);
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

/* ---- register ---- */

/* The Agent Card for desired, with credentials (hex SHA-256). */
static char *
router_card_json(const struct resource *desired, const char *credentials)
{
	const cJSON *spec = desired->spec;
	const cJSON *appearance = cJSON_GetObjectItem(spec, "appearance");
	cJSON *card = cJSON_CreateObject(), *meta, *theme, *auth, *provider;
	cJSON *caps;
	const cJSON *skill;
	char *url = xasprintf("ws-agent://%s", desired->name);
	char *json;

	cJSON_AddStringToObject(card, "name", desired->name);
	cJSON_AddStringToObject(
	    card, "description", router_str(spec, "description"));
	cJSON_AddStringToObject(card, "url", url);
	cJSON_AddStringToObject(card, "version", "1");
	provider = cJSON_AddObjectToObject(card, "provider");
	cJSON_AddStringToObject(provider, "organization", desired->org);
	caps = cJSON_AddObjectToObject(card, "capabilities");
	cJSON_AddBoolToObject(caps, "streaming", true);
	cJSON_AddItemToObject(card, "skills", cJSON_CreateArray());
	cJSON_ArrayForEach (skill, cJSON_GetObjectItem(spec, "skills"))
		cJSON_AddItemToArray(cJSON_GetObjectItem(card, "skills"),
		    cJSON_Duplicate(skill, true));
	meta = cJSON_AddObjectToObject(card, "metadata");
	cJSON_AddStringToObject(
	    meta, "display_name", router_str(spec, "display_name"));
	cJSON_AddStringToObject(
	    meta, "visibility", router_str(spec, "visibility"));
	theme = cJSON_AddObjectToObject(meta, "theme");
	if (cJSON_IsString(cJSON_GetObjectItem(appearance, "primary_color")))
		cJSON_AddStringToObject(theme, "primary_color",
		    router_str(appearance, "primary_color"));
	if (cJSON_IsString(cJSON_GetObjectItem(appearance, "avatar_url")))
		cJSON_AddStringToObject(
		    theme, "avatar_url", router_str(appearance, "avatar_url"));
	if (router_str(spec, "wallet")[0] != '\0')
		cJSON_AddStringToObject(
		    meta, "wallet_address", router_str(spec, "wallet"));
	cJSON_AddStringToObject(meta, "managed_by", ROUTER_OWNER);
	cJSON_AddStringToObject(meta, "org", desired->org);
	cJSON_AddStringToObject(meta, "team", desired->team);
	auth = cJSON_AddObjectToObject(card, "authentication");
	cJSON_AddStringToObject(auth, "scheme", "token-sha256");
	cJSON_AddStringToObject(auth, "credentials", credentials);
	json = cJSON_PrintUnformatted(card);
	cJSON_Delete(card);
	free(url);
	return json;
}

static int
router_put(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	struct http_response resp;
	struct strbuf path = STRBUF_INIT, why = STRBUF_INIT;
	char *digest = NULL;
	const char *had =
	    current != NULL ? router_str(current->handle, "credentials") : "";
	char *json;
	int rc;

	http_response_init(&resp);
	/* the Worker's digest as this run made or saw it; the card's own
	 * when it cannot tell */
	rc = router_hub_digest(call, desired->name, &digest);
	if (rc == PROVIDER_MISSING)
		strbuf_addf(&why,
		    "worker '%s' does not exist or carries no hub token "
		    "digest (is it getbot's?)",
		    desired->name);
	else if (rc != PROVIDER_OK)
		strbuf_add(&why, call->err.buf, call->err.len);
	strbuf_reset(&call->err);
	if (rc != PROVIDER_OK) {
		if (*had == '\0') {
			strbuf_addf(&call->err,
			    "the hub token digest of worker '%s': %s",
			    desired->name, why.buf);
			rc = PROVIDER_ERROR;
			goto out;
		}
		digest = xstrdup(had);
	}
	json = router_card_json(desired, digest);
	strbuf_addstr(&path, "/api/v1/agents/");
	http_add_escaped(&path, desired->name);
	rc = router_send(call, "PUT", path.buf, json, &resp);
	free(json);
out:
	free(digest);
	http_response_release(&resp);
	strbuf_release(&path);
	strbuf_release(&why);
	return rc;
}

/*
 * Observation lists only getbot's cards (owner=getbot), so before the
 * first PUT of a name ask whether someone else registered it: getbot never
 * overwrites a card it does not own.
 */
static int
router_create(struct provider_call *call, const struct resource *desired)
{
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	const char *owner;
	int rc;

	http_response_init(&resp);
	strbuf_addstr(&path, "/api/v1/agents/");
	http_add_escaped(&path, desired->name);
	rc = router_send(call, "GET", path.buf, NULL, &resp);
	if (rc == PROVIDER_ERROR && resp.status == 404) {
		strbuf_reset(&call->err);
		rc = router_put(call, desired, NULL);
		goto out;
	}
	if (rc != PROVIDER_OK)
		goto out;
	owner = router_str(
	    cJSON_GetObjectItem(resp.json, "metadata"), "managed_by");
	if (strcmp(owner, ROUTER_OWNER) != 0) {
		strbuf_addf(&call->err,
		    "the router already has an agent named '%s' that getbot "
		    "did not register; getbot never touches it: rename the "
		    "team or remove that agent",
		    desired->name);
		rc = PROVIDER_ERROR;
		goto out;
	}
	rc = router_put(call, desired, NULL); /* ours: an earlier try */
out:
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

static int
router_reregister(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	return router_put(call, desired, current);
}

static int
router_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	struct http_response resp;
	struct strbuf path = STRBUF_INIT;
	int rc;

	(void)purge;
	http_response_init(&resp);
	strbuf_addstr(&path, "/api/v1/agents/");
	http_add_escaped(&path, current->name);
	rc = router_send(call, "DELETE", path.buf, NULL, &resp);
	if (rc == PROVIDER_ERROR && resp.status == 404) {
		strbuf_reset(&call->err);
		rc = PROVIDER_OK; /* not routed any more: done */
	}
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

const struct provider provider_router = {
	.name = "router",
	.target_kind = "cloudflare",
	.kinds = router_kinds,
	.max_concurrency = 8,
	.max_rate = 20,
	.burst = 20,
	.open = router_open,
	.close = router_close,
	.expand = router_expand,
};
