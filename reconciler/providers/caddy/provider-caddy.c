/*
 * The caddy provider: what Caddy serves for getbot, through its admin API
 * (api-contracts.md, "Caddy admin API"; Debian ships 2.6.2).
 *
 *   caddy.server.getbot     the server block "getbot" under
 *                           /config/apps/http/servers ("@id":
 *                           "getbot-server"): where it listens, and
 *                           whether Caddy does automatic HTTPS
 *   caddy.callback.ORG      ORG.DOMAIN/_getbot/callback, straight to
 *                           getbot-auth: the way back from the sign-in
 *   caddy.route.ORG/TEAM    ORG.DOMAIN/TEAM: forward_auth to getbot-auth,
 *                           then reverse_proxy to the bot in the org's
 *                           container
 *
 * Everything getbot writes carries an "@id" that starts with "getbot-";
 * what lacks one is observed as not owned and never touched, and a server
 * named getbot without getbot's id is not getbot's, nor anything in it.
 * Every write carries If-Match with the ETag of the config it was computed
 * from, so an edit made meanwhile (by a human, another tool) is never
 * overwritten: Caddy answers 412 and the write is computed again. /load is
 * never used: it replaces the whole config, the admin block included.
 *
 * A route's upstream is "ORG:PORT" in the desired spec, so that a plan can
 * be made before the org's container exists. Writing reads the org's
 * address, the output "address" of incus.container.ORG, through the
 * engine (provider_input); observing maps a route's dial address back to
 * its org the same way, so an unchanged route compares equal.
 *
 * The admin API is reached through the server's connection (clients/
 * caddy.h). One read of the server block describes all three kinds, so
 * they are observed together; each kind has its own changes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "provider-caddy.h"
#include "caddy.h"
#include "http.h"
#include "identity.h"
#include "xmalloc.h"

#define CADDY_SERVER        "getbot"
#define CADDY_SERVER_ID     "getbot-server"
#define CADDY_ID_PREFIX     "getbot-"
#define CADDY_SERVER_PATH   "/config/apps/http/servers/" CADDY_SERVER
#define CADDY_CALLBACK_PATH "/_getbot/callback"
#define CADDY_WRITE_TRIES   5
#define CADDY_EXISTS        (-5) /* a server block to create is there, getbot's */
/* The handlers field: what a route does when it is exactly as getbot
 * writes it, and what it says of a route changed by hand. */
#define CADDY_ROUTE_HANDLERS    "forward_auth, reverse_proxy"
#define CADDY_CALLBACK_HANDLERS "reverse_proxy"
#define CADDY_HANDLERS_EDITED   "changed by hand"

static const struct field_def caddy_server_fields[] = {
	{ "listen", FIELD_INPLACE },
	{ "https", FIELD_INPLACE },
	{ NULL, 0 },
};

static const struct field_def caddy_callback_fields[] = {
	{ "host", FIELD_INPLACE },
	{ "path", FIELD_INPLACE },
	{ "upstream", FIELD_INPLACE },
	{ "handlers", FIELD_INPLACE },
	{ NULL, 0 },
};

static const struct field_def caddy_route_fields[] = {
	{ "host", FIELD_INPLACE },
	{ "path", FIELD_INPLACE },
	{ "auth", FIELD_INPLACE },
	{ "upstream", FIELD_INPLACE },
	{ "handlers", FIELD_INPLACE },
	{ NULL, 0 },
};

static const struct resource_kind caddy_server, caddy_callback, caddy_route;

/* The session is a struct caddy_client. */

/* ---- talking to the admin API ---- */

static const char *
caddy_endpoint(const struct provider_call *call)
{
	return ((const struct caddy_client *)call->session)->admin;
}

/* One request to the admin API (clients/caddy.h). */
static int
caddy_call(struct provider_call *call, const char *method, const char *path,
    const cJSON *body, const char *if_match, struct http_response *resp)
{
	return caddy_request(
	    call->session, call, method, path, body, if_match, resp);
}

/* The path of an object by its @id: /id/ID. */
static char *
caddy_id_path(const char *id)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addstr(&sb, "/id/");
	http_add_escaped(&sb, id);
	return strbuf_detach(&sb, NULL);
}

/* The item at a dotted path of keys and array indexes
 * ("handle.0.upstreams.0.dial"), or NULL. */
static const cJSON *
caddy_at(const cJSON *item, const char *path)
{
	while (item != NULL && *path != '\0') {
		size_t len = strcspn(path, ".");
		char key[32];

		if (len >= sizeof(key))
			return NULL;
		memcpy(key, path, len);
		key[len] = '\0';
		if (cJSON_IsArray(item))
			item = cJSON_GetArrayItem(item, atoi(key));
		else if (cJSON_IsObject(item))
			item = cJSON_GetObjectItemCaseSensitive(item, key);
		else
			item = NULL;
		path += len + (path[len] == '.');
	}
	return item;
}

static const char *
caddy_str_at(const cJSON *item, const char *path)
{
	const char *s = cJSON_GetStringValue(caddy_at(item, path));

	return s != NULL ? s : "";
}

/* Is server the getbot server block getbot made? */
static bool
caddy_server_is_ours(const cJSON *server)
{
	return strcmp(caddy_str_at(server, "@id"), CADDY_SERVER_ID) == 0;
}

/* Does this @id carry getbot's marker? */
static bool
caddy_id_is_ours(const char *id)
{
	return id != NULL &&
	       strncmp(id, CADDY_ID_PREFIX, strlen(CADDY_ID_PREFIX)) == 0;
}

/*
 * The server block and the ETag of its path. *server is NULL when Caddy
 * has none: the admin API answers null for a missing last key, and 400
 * "invalid traversal path" when a key above it is missing too (no apps,
 * no http app).
 */
static int
caddy_read_server(struct provider_call *call, cJSON **server, char **etag)
{
	const char *why;
	struct http_response resp;
	size_t mark = call->err.len;
	int rc;

	*server = NULL;
	*etag = NULL;
	http_response_init(&resp);
	rc = caddy_call(call, "GET", CADDY_SERVER_PATH, NULL, NULL, &resp);
	why = http_error_message(resp.json);
	if (rc == PROVIDER_ERROR && resp.status == 400 && why != NULL &&
	    strncmp(why, "invalid traversal path", 22) == 0) {
		strbuf_setlen(&call->err, mark);
		rc = PROVIDER_OK;
		goto out;
	}
	if (rc != PROVIDER_OK)
		goto out;
	if (cJSON_IsObject(resp.json)) {
		*server = resp.json;
		resp.json = NULL;
	} else if (!cJSON_IsNull(resp.json)) {
		strbuf_addf(&call->err,
		    "Caddy's admin API at %s: %s is not an object",
		    caddy_endpoint(call), CADDY_SERVER_PATH);
		rc = PROVIDER_ERROR;
		goto out;
	}
	if (resp.etag == NULL) {
		/* every write needs it: without it, no write is safe */
		strbuf_addf(&call->err,
		    "Caddy's admin API at %s sent no ETag for %s",
		    caddy_endpoint(call), CADDY_SERVER_PATH);
		rc = PROVIDER_ERROR;
		goto out;
	}
	*etag = resp.etag;
	resp.etag = NULL;
out:
	if (rc != PROVIDER_OK) {
		cJSON_Delete(*server);
		*server = NULL;
	}
	http_response_release(&resp);
	return rc;
}

static void
caddy_not_ours(struct provider_call *call)
{
	strbuf_addf(&call->err,
	    "Caddy's server '%s' was not made by getbot (it has no "
	    "\"@id\": \"%s\"); getbot never touches it nor its routes: "
	    "rename or remove it",
	    CADDY_SERVER, CADDY_SERVER_ID);
}

/* The server block for a write: it must be there, and getbot's. */
static int
caddy_read_our_server(struct provider_call *call, cJSON **server, char **etag)
{
	int rc = caddy_read_server(call, server, etag);

	if (rc != PROVIDER_OK)
		return rc;
	if (*server == NULL) {
		strbuf_addf(&call->err,
		    "Caddy has no server '%s' (%s is null); caddy.server.%s "
		    "makes it",
		    CADDY_SERVER, CADDY_SERVER_PATH, CADDY_SERVER);
		rc = PROVIDER_ERROR;
	} else if (!caddy_server_is_ours(*server)) {
		caddy_not_ours(call);
		rc = PROVIDER_ERROR;
	}
	if (rc != PROVIDER_OK) {
		cJSON_Delete(*server);
		*server = NULL;
		free(*etag);
		*etag = NULL;
	}
	return rc;
}

/* The route with this @id among routes, or NULL. */
static const cJSON *
caddy_find_route(const cJSON *routes, const char *id)
{
	const cJSON *route;

	cJSON_ArrayForEach (route, routes)
		if (strcmp(caddy_str_at(route, "@id"), id) == 0)
			return route;
	return NULL;
}

/* ---- what getbot writes ---- */

/* {"handler": "reverse_proxy", "upstreams": [{"dial": DIAL}]} */
static cJSON *
caddy_proxy(const char *dial)
{
	cJSON *handler = cJSON_CreateObject(), *upstreams, *upstream;

	cJSON_AddStringToObject(handler, "handler", "reverse_proxy");
	upstreams = cJSON_AddArrayToObject(handler, "upstreams");
	upstream = cJSON_CreateObject();
	cJSON_AddStringToObject(upstream, "dial", dial);
	cJSON_AddItemToArray(upstreams, upstream);
	return handler;
}

/* [{"host": [HOST], "path": [PATH]}], and everything below PATH too
 * for the subtree. */
static cJSON *
caddy_match(const char *host, const char *path, bool subtree)
{
	cJSON *match = cJSON_CreateArray(), *m = cJSON_CreateObject(), *list;

	list = cJSON_AddArrayToObject(m, "host");
	cJSON_AddItemToArray(list, cJSON_CreateString(host));
	list = cJSON_AddArrayToObject(m, "path");
	cJSON_AddItemToArray(list, cJSON_CreateString(path));
	if (subtree) {
		char *below = xasprintf("%s/*", path);

		cJSON_AddItemToArray(list, cJSON_CreateString(below));
		free(below);
	}
	cJSON_AddItemToArray(match, m);
	return match;
}

/* set[name] = [value]: one header value to set. */
static void
caddy_set_header(cJSON *set, const char *name, const char *value)
{
	cJSON *values = cJSON_AddArrayToObject(set, name);

	cJSON_AddItemToArray(values, cJSON_CreateString(value));
}

/*
 * What Caddyfile's forward_auth expands to on 2.6.2: ask getbot-auth's
 * /verify with the request's method and URI; on a 2xx answer copy its
 * Remote-User into the request and go on, otherwise its answer (a 302 to
 * the sign-in, a 403) goes back to the client.
 */
static cJSON *
caddy_forward_auth(const char *auth)
{
	cJSON *handler = caddy_proxy(auth), *obj, *set, *list, *item, *route;

	obj = cJSON_AddObjectToObject(handler, "rewrite");
	cJSON_AddStringToObject(obj, "method", "GET");
	cJSON_AddStringToObject(obj, "uri", "/verify");
	obj = cJSON_AddObjectToObject(handler, "headers");
	set = cJSON_AddObjectToObject(
	    cJSON_AddObjectToObject(obj, "request"), "set");
	caddy_set_header(set, "X-Forwarded-Method", "{http.request.method}");
	caddy_set_header(set, "X-Forwarded-Uri", "{http.request.uri}");
	list = cJSON_AddArrayToObject(handler, "handle_response");
	item = cJSON_CreateObject();
	cJSON_AddItemToArray(list, item);
	obj = cJSON_AddArrayToObject(
	    cJSON_AddObjectToObject(item, "match"), "status_code");
	cJSON_AddItemToArray(obj, cJSON_CreateNumber(2));
	list = cJSON_AddArrayToObject(item, "routes");
	route = cJSON_CreateObject();
	cJSON_AddItemToArray(list, route);
	list = cJSON_AddArrayToObject(route, "handle");
	item = cJSON_CreateObject();
	cJSON_AddItemToArray(list, item);
	cJSON_AddStringToObject(item, "handler", "headers");
	set = cJSON_AddObjectToObject(
	    cJSON_AddObjectToObject(item, "request"), "set");
	caddy_set_header(
	    set, "Remote-User", "{http.reverse_proxy.header.Remote-User}");
	return handler;
}

/* A bot's route: forward_auth to auth, then reverse_proxy to dial. */
static cJSON *
caddy_bot_route(const char *id, const char *host, const char *path,
    const char *auth, const char *dial)
{
	cJSON *route = cJSON_CreateObject(), *list, *sub, *inner;

	cJSON_AddStringToObject(route, "@id", id);
	cJSON_AddItemToObject(route, "match", caddy_match(host, path, true));
	list = cJSON_AddArrayToObject(route, "handle");
	sub = cJSON_CreateObject();
	cJSON_AddItemToArray(list, sub);
	cJSON_AddStringToObject(sub, "handler", "subroute");
	list = cJSON_AddArrayToObject(sub, "routes");
	inner = cJSON_CreateObject();
	cJSON_AddItemToArray(list, inner);
	list = cJSON_AddArrayToObject(inner, "handle");
	cJSON_AddItemToArray(list, caddy_forward_auth(auth));
	cJSON_AddItemToArray(list, caddy_proxy(dial));
	cJSON_AddBoolToObject(route, "terminal", true);
	return route;
}

/* An org's sign-in callback: straight to getbot-auth at dial. */
static cJSON *
caddy_callback_route(
    const char *id, const char *host, const char *path, const char *dial)
{
	cJSON *route = cJSON_CreateObject(), *list;

	cJSON_AddStringToObject(route, "@id", id);
	cJSON_AddItemToObject(route, "match", caddy_match(host, path, false));
	list = cJSON_AddArrayToObject(route, "handle");
	cJSON_AddItemToArray(list, caddy_proxy(dial));
	cJSON_AddBoolToObject(route, "terminal", true);
	return route;
}

/* ---- session ---- */

static int
caddy_open(const struct bots_target *target, struct conn *conn,
    const char *base_dir, void **session, struct strbuf *err)
{
	struct caddy_client *c = xcalloc(1, sizeof(*c));
	struct strbuf why = STRBUF_INIT;

	(void)base_dir;
	*session = NULL;
	if (caddy_client_open(c, conn, target->server.caddy_admin, &why) != 0) {
		strbuf_addf(err, "target '%s': %s", target->name, why.buf);
		strbuf_release(&why);
		free(c);
		return -1;
	}
	*session = c;
	return 0;
}

/* Caddy's admin API answers: observation needs it, whatever is wanted.
 * GET /config/admin is the smallest answer it gives (null by default). */
static void
caddy_check(const struct bots_target *target, struct conn *conn, bool wanted,
    struct strbuf *missing)
{
	struct provider_call call = { .err = STRBUF_INIT, .target = target };
	struct caddy_client c;
	struct http_response resp;
	int rc;

	(void)wanted;
	if (caddy_client_open(
		&c, conn, target->server.caddy_admin, &call.err) != 0) {
		strbuf_addf(missing, "Caddy: %s\n", call.err.buf);
		strbuf_release(&call.err);
		return;
	}
	http_response_init(&resp);
	rc =
	    caddy_request(&c, &call, "GET", "/config/admin", NULL, NULL, &resp);
	if (rc != PROVIDER_OK && resp.status == 0)
		strbuf_addf(missing,
		    "Caddy: %s (install it: apt-get install caddy, whose admin "
		    "API answers at localhost:2019; or name it with caddy: "
		    "{admin: ADDRESS})\n",
		    call.err.buf);
	else if (rc != PROVIDER_OK)
		strbuf_addf(missing, "Caddy: %s\n", call.err.buf);
	http_response_release(&resp);
	caddy_client_release(&c);
	strbuf_release(&call.err);
}

static void
caddy_close(void *session)
{
	struct caddy_client *c = session;

	if (c == NULL)
		return;
	caddy_client_release(c);
	free(c);
}

/* ---- desired state ---- */

/* The server block's listen addresses: the target's, else [":443"]. */
static cJSON *
caddy_listen(const struct bots_target *target)
{
	const struct node *seq = target->server.caddy_listen;
	cJSON *list = cJSON_CreateArray();
	size_t i;

	if (seq == NULL || seq->kind != NODE_SEQUENCE || seq->nitems == 0) {
		cJSON_AddItemToArray(
		    list, cJSON_CreateString(BOTS_DEFAULT_CADDY_LISTEN));
		return list;
	}
	for (i = 0; i < seq->nitems; i++)
		if (node_str(seq->items[i]) != NULL)
			cJSON_AddItemToArray(
			    list, cJSON_CreateString(node_str(seq->items[i])));
	return list;
}

static int
caddy_expand(const struct bots *bots, const struct bots_target *target,
    struct resource_set *out, struct strbuf *err)
{
	const struct provider *self = &provider_caddy;
	struct resource *server, *r;
	cJSON *spec;
	size_t o, t;

	(void)err;
	spec = cJSON_CreateObject();
	cJSON_AddItemToObject(spec, "listen", caddy_listen(target));
	cJSON_AddBoolToObject(spec, "https", target->server.caddy_https);
	server =
	    resource_new(self, &caddy_server, CADDY_SERVER, NULL, NULL, spec);
	server->target = target;
	resource_set_add(out, server);
	for (o = 0; o < bots->norgs; o++) {
		const struct bots_org *org = &bots->orgs[o];
		char *host, *address;

		if (org->target != target)
			continue;
		host = identity_org_domain(org->name, target->server.domain);
		spec = cJSON_CreateObject();
		cJSON_AddStringToObject(spec, "host", host);
		cJSON_AddStringToObject(spec, "path", CADDY_CALLBACK_PATH);
		cJSON_AddStringToObject(
		    spec, "upstream", target->server.auth_listen);
		cJSON_AddStringToObject(
		    spec, "handlers", CADDY_CALLBACK_HANDLERS);
		r = resource_new(
		    self, &caddy_callback, org->name, org->name, NULL, spec);
		r->target = target;
		resource_add_dep(r, "auth.service.getbot-auth");
		resource_add_dep(r, server->address);
		resource_set_add(out, r);
		for (t = 0; t < org->nteams; t++) {
			const struct bots_team *team = &org->teams[t];
			char *name = resource_scope_name(org->name, team->name);
			char *path = identity_team_path(team->name);
			char *upstream =
			    xasprintf("%s:%u", org->name, team->port);

			spec = cJSON_CreateObject();
			cJSON_AddStringToObject(spec, "host", host);
			cJSON_AddStringToObject(spec, "path", path);
			cJSON_AddStringToObject(
			    spec, "auth", target->server.auth_listen);
			cJSON_AddStringToObject(spec, "upstream", upstream);
			cJSON_AddStringToObject(
			    spec, "handlers", CADDY_ROUTE_HANDLERS);
			r = resource_new(self, &caddy_route, name, org->name,
			    team->name, spec);
			r->target = target;
			address = xasprintf("docker.bot.%s", name);
			resource_add_dep(r, address);
			free(address);
			address = xasprintf("auth.allowlist.%s", org->name);
			resource_add_dep(r, address);
			free(address);
			/* the org's address, which the route dials */
			address = xasprintf("incus.container.%s", org->name);
			resource_add_dep(r, address);
			free(address);
			resource_add_dep(r, server->address);
			resource_set_add(out, r);
			free(name);
			free(path);
			free(upstream);
		}
		free(host);
	}
	return 0;
}

/* ---- observation ---- */

/* The address incus.container.ORG publishes (its IPv4 address on the
 * bridge): PROVIDER_OK with *ip, PROVIDER_MISSING when it has none yet,
 * or the error of observing it. */
static int
caddy_org_address(struct provider_call *call, const char *org, char **ip)
{
	char *address = xasprintf("incus.container.%s", org);
	int rc = provider_input(call, address, "address", ip);

	free(address);
	return rc;
}

/* "ORG:PORT" for a dial address "IP:PORT" of org's container, else the
 * dial address as it is (in *upstream, the caller frees it). */
static int
caddy_symbolic_upstream(struct provider_call *call, const char *org,
    const char *dial, char **upstream)
{
	const char *colon = strrchr(dial, ':');
	char *ip = NULL;
	int rc = PROVIDER_OK;

	*upstream = NULL;
	if (colon != NULL)
		rc = caddy_org_address(call, org, &ip);
	if (rc == PROVIDER_MISSING)
		rc = PROVIDER_OK; /* no address: nothing dials it yet */
	if (rc != PROVIDER_OK)
		return rc;
	if (ip != NULL && strlen(ip) == (size_t)(colon - dial) &&
	    strncmp(ip, dial, colon - dial) == 0)
		*upstream = xasprintf("%s%s", org, colon);
	else
		*upstream = xstrdup(dial);
	free(ip);
	return PROVIDER_OK;
}

/* What a route's @id of getbot's names. */
enum caddy_route_role {
	CADDY_ROLE_UNKNOWN,  /* no org or team of today's names */
	CADDY_ROLE_CALLBACK, /* getbot-ORG_callback */
	CADDY_ROLE_BOT,      /* getbot-ORG-TEAM */
};

/*
 * Which resource a route of getbot's is: the callback of ORG
 * (getbot-ORG_callback), or the route of ORG/TEAM, the org read from the
 * route's host (getbot-ORG-TEAM alone is ambiguous when ORG holds a '-').
 */
static enum caddy_route_role
caddy_route_identity(const char *id, const char *host, char **org, char **team)
{
	const char *rest = id + strlen(CADDY_ID_PREFIX);
	size_t len = strlen(rest);
	static const char suffix[] = "_callback";
	char *expect;
	bool match;

	*org = NULL;
	*team = NULL;
	if (len > sizeof(suffix) - 1 &&
	    strcmp(rest + len - (sizeof(suffix) - 1), suffix) == 0) {
		*org = xstrndup(rest, len - (sizeof(suffix) - 1));
		if (identity_is_dns_label(*org))
			return CADDY_ROLE_CALLBACK;
	} else {
		*org = xstrndup(host, strcspn(host, "."));
		len = strlen(*org);
		if (identity_is_dns_label(*org) &&
		    strncmp(rest, *org, len) == 0 && rest[len] == '-') {
			*team = xstrdup(rest + len + 1);
			expect = identity_route_id(*org, *team);
			match = identity_is_dns_label(*team) &&
				strcmp(expect, id) == 0;
			free(expect);
			if (match)
				return CADDY_ROLE_BOT;
		}
	}
	free(*org);
	free(*team);
	*org = NULL;
	*team = NULL;
	return CADDY_ROLE_UNKNOWN;
}

/* An observed route of getbot's of kind, for org (and team), taken. */
static struct observed *
caddy_observed_route(const struct resource_kind *kind, const char *id,
    const cJSON *route, char *org, char *team)
{
	char *name = resource_scope_name(org, team);
	struct observed *o = observed_new(&provider_caddy, kind, name);

	free(name);
	o->owned = true;
	o->org = org;
	o->team = team;
	o->handle = cJSON_CreateObject();
	cJSON_AddStringToObject(o->handle, "id", id);
	cJSON_AddStringToObject(
	    o->spec, "host", caddy_str_at(route, "match.0.host.0"));
	cJSON_AddStringToObject(
	    o->spec, "path", caddy_str_at(route, "match.0.path.0"));
	return o;
}

/* The handlers field: what getbot writes, or a sign of an edit by hand
 * (a handler added, a header dropped) when route is not expect. */
static void
caddy_observe_handlers(
    struct observed *o, const cJSON *route, cJSON *expect, const char *handlers)
{
	cJSON_AddStringToObject(o->spec, "handlers",
	    cJSON_Compare(expect, route, true) ? handlers
					       : CADDY_HANDLERS_EDITED);
	cJSON_Delete(expect);
}

/* An org's sign-in callback route, as observed. */
static struct observed *
caddy_observe_callback(const cJSON *route, const char *id, char *org)
{
	struct observed *o =
	    caddy_observed_route(&caddy_callback, id, route, org, NULL);
	const char *dial = caddy_str_at(route, "handle.0.upstreams.0.dial");

	cJSON_AddStringToObject(o->spec, "upstream", dial);
	caddy_observe_handlers(o, route,
	    caddy_callback_route(id, caddy_str_at(route, "match.0.host.0"),
		caddy_str_at(route, "match.0.path.0"), dial),
	    CADDY_CALLBACK_HANDLERS);
	return o;
}

/* A bot's route, as observed, its dial address mapped back to the org's
 * "ORG:PORT" when it is the org container's. */
static int
caddy_observe_bot(struct provider_call *call, const cJSON *route,
    const char *id, char *org, char *team, struct observed **out)
{
	const char *auth =
	    caddy_str_at(route, "handle.0.routes.0.handle.0.upstreams.0.dial");
	const char *dial =
	    caddy_str_at(route, "handle.0.routes.0.handle.1.upstreams.0.dial");
	char *upstream = NULL;
	struct observed *o;
	int rc;

	*out = NULL;
	rc = caddy_symbolic_upstream(call, org, dial, &upstream);
	if (rc != PROVIDER_OK) {
		free(org);
		free(team);
		return rc;
	}
	o = caddy_observed_route(&caddy_route, id, route, org, team);
	cJSON_AddStringToObject(o->spec, "auth", auth);
	cJSON_AddStringToObject(o->spec, "upstream", upstream);
	caddy_observe_handlers(o, route,
	    caddy_bot_route(id, caddy_str_at(route, "match.0.host.0"),
		caddy_str_at(route, "match.0.path.0"), auth, dial),
	    CADDY_ROUTE_HANDLERS);
	free(upstream);
	*out = o;
	return PROVIDER_OK;
}

/* One route of the getbot server block, as an observed object in *out. */
static int
caddy_observe_route(struct provider_call *call, const cJSON *route, int index,
    struct observed **out)
{
	const char *id = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(route, "@id"));
	struct observed *o;
	char *org, *team, *name;

	*out = NULL;
	if (!caddy_id_is_ours(id)) {
		/* someone else's: seen, never touched */
		name = xasprintf("#%d", index);
		o = observed_new(&provider_caddy, &caddy_route, name);
		free(name);
		o->owned = false;
		*out = o;
		return PROVIDER_OK;
	}
	switch (caddy_route_identity(
	    id, caddy_str_at(route, "match.0.host.0"), &org, &team)) {
	case CADDY_ROLE_CALLBACK:
		*out = caddy_observe_callback(route, id, org);
		return PROVIDER_OK;
	case CADDY_ROLE_BOT:
		return caddy_observe_bot(call, route, id, org, team, out);
	case CADDY_ROLE_UNKNOWN:
	default:
		break;
	}
	/* getbot's marker, but no org or team of today's names: it goes as
	 * no longer in the config */
	o = observed_new(&provider_caddy, &caddy_route, id);
	o->owned = true;
	o->handle = cJSON_CreateObject();
	cJSON_AddStringToObject(o->handle, "id", id);
	*out = o;
	return PROVIDER_OK;
}

/* The server block, its callbacks and its routes: one read describes
 * the three kinds. */
static int
caddy_observe(struct provider_call *call, const struct bots_target *target,
    struct observed_set *out)
{
	cJSON *server = NULL;
	const cJSON *route, *listen;
	struct observed *o;
	char *etag = NULL;
	int rc, index = 0;

	(void)target;
	/* one GET: the server block, routes and all */
	rc = caddy_read_server(call, &server, &etag);
	if (rc != PROVIDER_OK || server == NULL)
		goto out;
	o = observed_new(&provider_caddy, &caddy_server, CADDY_SERVER);
	o->owned = caddy_server_is_ours(server);
	listen = cJSON_GetObjectItemCaseSensitive(server, "listen");
	cJSON_AddItemToObject(o->spec, "listen",
	    cJSON_IsArray(listen) ? cJSON_Duplicate(listen, true)
				  : cJSON_CreateArray());
	cJSON_AddBoolToObject(o->spec, "https",
	    !cJSON_IsTrue(caddy_at(server, "automatic_https.disable")));
	observed_set_add(out, o);
	if (!o->owned)
		goto out; /* nothing in a server that is not getbot's is */
	cJSON_ArrayForEach (
	    route, cJSON_GetObjectItemCaseSensitive(server, "routes")) {
		rc = caddy_observe_route(call, route, index++, &o);
		if (rc != PROVIDER_OK)
			break;
		observed_set_add(out, o);
	}
out:
	cJSON_Delete(server);
	free(etag);
	return rc;
}

/* ---- changes ---- */

static const char *
caddy_spec(const struct resource *r, const char *key)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(r->spec, key));

	return v != NULL ? v : "";
}

/* The address a bot's route dials: its org's container's (the output of
 * incus.container.ORG), with the port of the spec's "ORG:PORT". */
static int
caddy_resolve_upstream(
    struct provider_call *call, const struct resource *r, char **dial)
{
	const char *upstream = caddy_spec(r, "upstream");
	const char *colon = strrchr(upstream, ':');
	char *org, *ip = NULL;
	int rc;

	*dial = NULL;
	if (colon == NULL) {
		strbuf_addf(&call->err, "%s: upstream '%s' is not ORG:PORT",
		    r->address, upstream);
		return PROVIDER_ERROR;
	}
	org = xstrndup(upstream, colon - upstream);
	rc = caddy_org_address(call, org, &ip);
	if (rc == PROVIDER_OK)
		*dial = xasprintf("%s%s", ip, colon);
	else if (rc == PROVIDER_MISSING) {
		/* just created or restarted: DHCP is not done yet */
		strbuf_addf(&call->err,
		    "the container of org '%s' has no IPv4 address yet; %s "
		    "needs it",
		    org, r->address);
		rc = PROVIDER_TRANSIENT;
	}
	free(ip);
	free(org);
	return rc;
}

/* A 412 each time: give the engine's backoff a turn. */
static int
caddy_gave_up(struct provider_call *call, int rc)
{
	if (rc != CADDY_STALE)
		return rc;
	strbuf_addf(&call->err,
	    " (the config changed between getbot's read and write %d times)",
	    CADDY_WRITE_TRIES);
	return PROVIDER_TRANSIENT;
}

/*
 * Write route (a bot's or a callback, @id id) as desired: read the server
 * block and its ETag, then POST the route to the block's routes, or PATCH
 * it when it is there already (an update, or a create that took effect
 * before its answer was lost), with If-Match. A 412 says the config
 * changed in between: read again.
 */
static int
caddy_put_route(struct provider_call *call, const char *id, cJSON *route)
{
	struct http_response resp;
	char *path = caddy_id_path(id);
	int rc = PROVIDER_OK, attempt;

	http_response_init(&resp);
	for (attempt = 1; attempt <= CADDY_WRITE_TRIES; attempt++) {
		cJSON *server = NULL, *list;
		const cJSON *routes;
		char *etag = NULL;

		strbuf_reset(&call->err);
		rc = caddy_read_our_server(call, &server, &etag);
		if (rc != PROVIDER_OK)
			break;
		routes = cJSON_GetObjectItemCaseSensitive(server, "routes");
		if (caddy_find_route(routes, id) != NULL)
			rc =
			    caddy_call(call, "PATCH", path, route, etag, &resp);
		else if (cJSON_IsArray(routes))
			rc = caddy_call(call, "POST",
			    CADDY_SERVER_PATH "/routes", route, etag, &resp);
		else {
			/* no routes yet: POST sets the key, a list of one */
			list = cJSON_CreateArray();
			cJSON_AddItemReferenceToArray(list, route);
			rc = caddy_call(call, "POST",
			    CADDY_SERVER_PATH "/routes", list, etag, &resp);
			cJSON_Delete(list);
		}
		cJSON_Delete(server);
		free(etag);
		if (rc != CADDY_STALE)
			break;
	}
	rc = caddy_gave_up(call, rc);
	http_response_release(&resp);
	free(path);
	return rc;
}

/* A bot's route, dialling its org's container. */
static int
caddy_route_put(struct provider_call *call, const struct resource *r)
{
	char *id = identity_route_id(r->org, r->team), *dial = NULL;
	cJSON *route = NULL;
	int rc;

	rc = caddy_resolve_upstream(call, r, &dial);
	if (rc == PROVIDER_OK) {
		route = caddy_bot_route(id, caddy_spec(r, "host"),
		    caddy_spec(r, "path"), caddy_spec(r, "auth"), dial);
		rc = caddy_put_route(call, id, route);
	}
	cJSON_Delete(route);
	free(dial);
	free(id);
	return rc;
}

static int
caddy_route_create(struct provider_call *call, const struct resource *desired)
{
	return caddy_route_put(call, desired);
}

static int
caddy_route_update(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	(void)current;
	return caddy_route_put(call, desired);
}

/* An org's sign-in callback, straight to getbot-auth. */
static int
caddy_callback_put(struct provider_call *call, const struct resource *r)
{
	char *id = identity_callback_route_id(r->org);
	cJSON *route = caddy_callback_route(id, caddy_spec(r, "host"),
	    caddy_spec(r, "path"), caddy_spec(r, "upstream"));
	int rc = caddy_put_route(call, id, route);

	cJSON_Delete(route);
	free(id);
	return rc;
}

static int
caddy_callback_create(
    struct provider_call *call, const struct resource *desired)
{
	return caddy_callback_put(call, desired);
}

static int
caddy_callback_update(struct provider_call *call,
    const struct resource *desired, const struct observed *current)
{
	(void)current;
	return caddy_callback_put(call, desired);
}

/* Delete the route with @id id, unless it is gone already. */
static int
caddy_delete_route(struct provider_call *call, const char *id)
{
	struct http_response resp;
	char *path = caddy_id_path(id);
	int rc = PROVIDER_OK, attempt;

	http_response_init(&resp);
	for (attempt = 1; attempt <= CADDY_WRITE_TRIES; attempt++) {
		cJSON *server = NULL;
		char *etag = NULL;

		strbuf_reset(&call->err);
		rc = caddy_read_server(call, &server, &etag);
		if (rc == PROVIDER_OK && server != NULL &&
		    !caddy_server_is_ours(server)) {
			caddy_not_ours(call);
			rc = PROVIDER_ERROR;
		} else if (rc == PROVIDER_OK && server != NULL &&
			   caddy_find_route(cJSON_GetObjectItemCaseSensitive(
						server, "routes"),
			       id) != NULL)
			rc =
			    caddy_call(call, "DELETE", path, NULL, etag, &resp);
		/* else: gone already, with the server or by hand */
		cJSON_Delete(server);
		free(etag);
		if (rc != CADDY_STALE)
			break;
	}
	rc = caddy_gave_up(call, rc);
	http_response_release(&resp);
	free(path);
	return rc;
}

/* The @id observation found on o, or NULL. */
static const char *
caddy_handle_id(const struct observed *o)
{
	return cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(o->handle, "id"));
}

static int
caddy_route_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	char *id = caddy_handle_id(current) != NULL
		       ? xstrdup(caddy_handle_id(current))
		       : identity_route_id(current->org, current->team);
	int rc = caddy_delete_route(call, id);

	(void)purge; /* nothing of Caddy's holds data */
	free(id);
	return rc;
}

static int
caddy_callback_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	char *id = caddy_handle_id(current) != NULL
		       ? xstrdup(caddy_handle_id(current))
		       : identity_callback_route_id(current->org);
	int rc = caddy_delete_route(call, id);

	(void)purge;
	free(id);
	return rc;
}

/* The server block as desired: server as it is (routes and all, never
 * changed) with listen and automatic_https set from r. */
static void
caddy_set_server_fields(cJSON *server, const struct resource *r)
{
	const cJSON *listen = cJSON_GetObjectItem(r->spec, "listen");
	bool https = cJSON_IsTrue(cJSON_GetObjectItem(r->spec, "https"));
	cJSON *auto_https;

	cJSON_DeleteItemFromObjectCaseSensitive(server, "listen");
	cJSON_AddItemToObject(server, "listen", cJSON_Duplicate(listen, true));
	auto_https =
	    cJSON_GetObjectItemCaseSensitive(server, "automatic_https");
	if (!https) {
		if (!cJSON_IsObject(auto_https)) {
			cJSON_DeleteItemFromObjectCaseSensitive(
			    server, "automatic_https");
			auto_https =
			    cJSON_AddObjectToObject(server, "automatic_https");
		}
		cJSON_DeleteItemFromObjectCaseSensitive(auto_https, "disable");
		cJSON_AddBoolToObject(auto_https, "disable", true);
	} else if (cJSON_IsObject(auto_https)) {
		cJSON_DeleteItemFromObjectCaseSensitive(auto_https, "disable");
		if (auto_https->child == NULL)
			cJSON_DeleteItemFromObjectCaseSensitive(
			    server, "automatic_https");
	}
}

/*
 * The server block, made where the config has none: PUT at the first key
 * of apps/http/servers/getbot that is missing, with what goes below it,
 * If-Match the whole config's ETag. PUT fails on a key that exists, so a
 * server block made meanwhile is never overwritten.
 */
static int
caddy_create_server(struct provider_call *call, const struct resource *r)
{
	static const char *const keys[] = { "apps", "http", "servers",
		CADDY_SERVER };
	const size_t nkeys = sizeof(keys) / sizeof(keys[0]);
	struct http_response resp;
	int rc = PROVIDER_OK, attempt;

	http_response_init(&resp);
	for (attempt = 1; attempt <= CADDY_WRITE_TRIES; attempt++) {
		struct strbuf path = STRBUF_INIT;
		const cJSON *node;
		cJSON *body, *wrap;
		char *etag;
		size_t depth = 0, k;

		strbuf_reset(&call->err);
		rc = caddy_call(call, "GET", "/config/", NULL, NULL, &resp);
		if (rc != PROVIDER_OK)
			break;
		if (resp.etag == NULL) {
			strbuf_addf(&call->err,
			    "Caddy's admin API at %s sent no ETag for /config/",
			    caddy_endpoint(call));
			rc = PROVIDER_ERROR;
			break;
		}
		strbuf_addstr(&path, "/config");
		node = resp.json;
		while (depth < nkeys && cJSON_IsObject(node) &&
		       cJSON_GetObjectItemCaseSensitive(node, keys[depth]) !=
			   NULL &&
		       !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
			   node, keys[depth]))) {
			node =
			    cJSON_GetObjectItemCaseSensitive(node, keys[depth]);
			strbuf_addf(&path, "/%s", keys[depth++]);
		}
		if (depth == nkeys) {
			/* made since the plan: the update's business */
			strbuf_release(&path);
			rc = cJSON_IsObject(node) && caddy_server_is_ours(node)
				 ? CADDY_EXISTS
				 : PROVIDER_ERROR;
			if (rc == PROVIDER_ERROR)
				caddy_not_ours(call);
			break;
		}
		if (depth > 0 && !cJSON_IsObject(node)) {
			strbuf_addf(&call->err,
			    "Caddy's admin API at %s: %s is not an object",
			    caddy_endpoint(call), path.buf);
			strbuf_release(&path);
			rc = PROVIDER_ERROR;
			break;
		}
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "@id", CADDY_SERVER_ID);
		cJSON_AddArrayToObject(body, "routes");
		caddy_set_server_fields(body, r);
		for (k = nkeys - 1; k > depth; k--) {
			wrap = cJSON_CreateObject();
			cJSON_AddItemToObject(wrap, keys[k], body);
			body = wrap;
		}
		strbuf_addf(&path, "/%s", keys[depth]);
		etag = resp.etag;
		resp.etag = NULL;
		rc = caddy_call(call, "PUT", path.buf, body, etag, &resp);
		free(etag);
		cJSON_Delete(body);
		strbuf_release(&path);
		if (rc != CADDY_STALE)
			break;
	}
	http_response_release(&resp);
	return rc;
}

/* Listen and automatic HTTPS of the server block: one PATCH of the block
 * as read, so its routes (getbot's or not) go back exactly as they were;
 * If-Match makes sure they were. */
static int
caddy_update_server(struct provider_call *call, const struct resource *r)
{
	struct http_response resp;
	int rc = PROVIDER_OK, attempt;

	http_response_init(&resp);
	for (attempt = 1; attempt <= CADDY_WRITE_TRIES; attempt++) {
		cJSON *server = NULL;
		char *etag = NULL;

		strbuf_reset(&call->err);
		rc = caddy_read_our_server(call, &server, &etag);
		if (rc != PROVIDER_OK)
			break;
		caddy_set_server_fields(server, r);
		rc = caddy_call(
		    call, "PATCH", CADDY_SERVER_PATH, server, etag, &resp);
		cJSON_Delete(server);
		free(etag);
		if (rc != CADDY_STALE)
			break;
	}
	http_response_release(&resp);
	return caddy_gave_up(call, rc);
}

/* The server block goes only when nothing in it is someone else's. */
static int
caddy_delete_server(struct provider_call *call)
{
	struct http_response resp;
	int rc = PROVIDER_OK, attempt;

	http_response_init(&resp);
	for (attempt = 1; attempt <= CADDY_WRITE_TRIES; attempt++) {
		cJSON *server = NULL;
		const cJSON *route;
		char *etag = NULL;
		int foreign = 0;

		strbuf_reset(&call->err);
		rc = caddy_read_server(call, &server, &etag);
		if (rc != PROVIDER_OK || server == NULL)
			break;
		cJSON_ArrayForEach (
		    route, cJSON_GetObjectItemCaseSensitive(server, "routes"))
			foreign +=
			    !caddy_id_is_ours(caddy_str_at(route, "@id"));
		if (!caddy_server_is_ours(server)) {
			caddy_not_ours(call);
			rc = PROVIDER_ERROR;
		} else if (foreign > 0) {
			strbuf_addf(&call->err,
			    "Caddy's server '%s' holds %d route%s getbot did "
			    "not make; getbot never touches them, so the "
			    "server stays: remove them by hand first",
			    CADDY_SERVER, foreign, foreign == 1 ? "" : "s");
			rc = PROVIDER_ERROR;
		} else
			rc = caddy_call(call, "DELETE", CADDY_SERVER_PATH, NULL,
			    etag, &resp);
		cJSON_Delete(server);
		free(etag);
		if (rc != CADDY_STALE)
			break;
	}
	http_response_release(&resp);
	return caddy_gave_up(call, rc);
}

static int
caddy_server_create(struct provider_call *call, const struct resource *desired)
{
	int rc = caddy_create_server(call, desired);

	if (rc == CADDY_EXISTS) /* there since the plan, and getbot's */
		rc = caddy_update_server(call, desired);
	return caddy_gave_up(call, rc);
}

static int
caddy_server_update(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	(void)current;
	return caddy_update_server(call, desired);
}

static int
caddy_server_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	(void)current;
	(void)purge;
	return caddy_delete_server(call);
}

/* Created after the containers, bots and auth (orders 1 to 5), routes
 * last: a bot is reachable only once everything behind it is there. */
static const struct resource_kind caddy_server = {
	.name = "server",
	.fields = caddy_server_fields,
	.lost_on_replace = NULL,
	.order = 6,
	.create = caddy_server_create,
	.update = caddy_server_update,
	.delete = caddy_server_delete,
};
static const struct resource_kind caddy_callback = {
	.name = "callback",
	.fields = caddy_callback_fields,
	.lost_on_replace = NULL,
	.order = 7,
	.create = caddy_callback_create,
	.update = caddy_callback_update,
	.delete = caddy_callback_delete,
};
static const struct resource_kind caddy_route = {
	.name = "route",
	.fields = caddy_route_fields,
	.lost_on_replace = NULL,
	.order = 8,
	.create = caddy_route_create,
	.update = caddy_route_update,
	.delete = caddy_route_delete,
};

static const struct resource_kind *const caddy_kinds[] = { &caddy_server,
	&caddy_callback, &caddy_route, NULL };

const struct provider provider_caddy = {
	.name = "caddy",
	.target_kind = "incus",
	.server = true,
	.kinds = caddy_kinds,
	/* one config document: writes in parallel would only 412 */
	.max_concurrency = 1,
	.max_rate = 0,
	.burst = 0,
	.open = caddy_open,
	.check = caddy_check,
	.close = caddy_close,
	.expand = caddy_expand,
	.observe = caddy_observe,
};
