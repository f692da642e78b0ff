/*
 * The cloudflare provider's DNS records for server targets (the top of
 * provider-cloudflare.c says what they are and how they are observed):
 *
 *   cloudflare.dns.ORG           the record ORG.DOMAIN in the server's zone:
 *                                A (or AAAA) -> the server's address, ttl 1
 *                                (automatic), proxied as configured
 *
 * A record is ours when its comment is "managed by getbot" (records have
 * no other free field); a record of the wanted name without it is never
 * touched, and the plan says so.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cloudflare-internal.h"
#include "identity.h"
#include "provider-cloudflare.h"
#include "xmalloc.h"

#define CF_DNS_COMMENT  "managed by getbot"
#define CF_DNS_PER_PAGE 1000

static const struct field_def cf_dns_fields[] = {
	{ "zone_id", FIELD_IDENTITY },
	{ "name", FIELD_INPLACE },
	{ "type", FIELD_INPLACE },
	{ "content", FIELD_INPLACE },
	{ "proxied", FIELD_INPLACE },
	{ "ttl", FIELD_INPLACE },
	{ NULL, 0 },
};

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
	       server->server.dns_target == target &&
	       server->server.dns_zone_id != NULL &&
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
		if (cf_dns_address(
			server->server.dns_address, &type, content) != 0) {
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
int
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
		cJSON_AddStringToObject(
		    spec, "account_id", target->edge.account_id);
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
	rc = cloudflare_send(
	    cf_client(call), call, "GET", path.buf, NULL, NULL, 0, &resp);
	zone_name = cloudflare_str(cloudflare_result(&resp), "name");
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
	struct cloudflare_pager pager;
	char *path = xasprintf("/zones/%s/dns_records", zone->id);
	int rc;

	cloudflare_pager_init(&pager, path, CLOUDFLARE_PAGES, CF_DNS_PER_PAGE);
	while ((rc = cloudflare_pager_next(cf_client(call), call, &pager)) ==
	       PROVIDER_OK) {
		cJSON *result, *record;

		result =
		    cJSON_GetObjectItemCaseSensitive(pager.resp.json, "result");
		while (
		    (record = cJSON_DetachItemFromArray(result, 0)) != NULL) {
			cJSON_DeleteItemFromObjectCaseSensitive(
			    record, "zone_id");
			cJSON_AddStringToObject(record, "zone_id", zone->id);
			cJSON_AddItemToArray(all, record);
		}
	}
	if (rc == PROVIDER_ERROR && !zone->configured &&
	    pager.resp.status >= 400 && pager.resp.status < 500) {
		strbuf_reset(&call->err);
		rc = PROVIDER_OK;
	}
	if (rc == CLOUDFLARE_PAGER_END)
		rc = PROVIDER_OK;
	cloudflare_pager_release(&pager);
	free(path);
	return rc;
}

/* Is a record getbot's (its comment is the marker, its type one getbot
 * makes)? */
static bool
cf_record_ours(const cJSON *record)
{
	const char *type = cloudflare_str(record, "type");

	return strcmp(cloudflare_str(record, "comment"), CF_DNS_COMMENT) == 0 &&
	       (strcmp(type, "A") == 0 || strcmp(type, "AAAA") == 0);
}

/* Would a record of this type keep getbot's A or AAAA record of the same
 * name from working (a CNAME cannot share its name; an NS delegates it;
 * another address splits the traffic)? */
static bool
cf_record_conflicts(const cJSON *record)
{
	static const char *const types[] = { "A", "AAAA", "CNAME", "NS" };
	const char *type = cloudflare_str(record, "type");
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
	const char *name = cloudflare_str(record, "name");
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

	cJSON_AddStringToObject(
	    spec, "zone_id", cloudflare_str(record, "zone_id"));
	cJSON_AddStringToObject(spec, "name", cloudflare_str(record, "name"));
	cJSON_AddStringToObject(spec, "type", cloudflare_str(record, "type"));
	cJSON_AddStringToObject(
	    spec, "content", cloudflare_str(record, "content"));
	cJSON_AddBoolToObject(spec, "proxied",
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(record, "proxied")));
	cJSON_AddNumberToObject(
	    spec, "ttl", cJSON_IsNumber(ttl) ? ttl->valuedouble : 0);
	o = cf_observed(&cf_dns, name, org, NULL, cf_record_ours(record), spec);
	o->handle = cJSON_CreateObject();
	cJSON_AddStringToObject(
	    o->handle, "zone_id", cloudflare_str(record, "zone_id"));
	cJSON_AddStringToObject(o->handle, "id", cloudflare_str(record, "id"));
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
		    strcmp(cloudflare_str(record, "zone_id"),
			want->server->server.dns_zone_id) == 0 &&
		    strcasecmp(cloudflare_str(record, "name"), want->name) ==
			0) {
			if (cf_record_ours(record))
				rank = strcmp(cloudflare_str(record, "type"),
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
cf_dns_observe(struct provider_call *call, struct observed_set *out)
{
	const struct bots_target *target = call->target;
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
		const char *zone = cloudflare_str(memory, "zone_id");

		if (strncmp(memory->string, "cloudflare.dns.", 15) == 0 &&
		    strcmp(cloudflare_str(memory, "account_id"),
			target->edge.account_id) == 0 &&
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
			    wants[i].server->server.dns_zone_id,
			    cloudflare_str(best, "type"), CF_DNS_COMMENT,
			    wants[i].server->name);
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
			name = xasprintf(
			    "%s~%s", org, cloudflare_str(record, "id"));
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

	cJSON_AddStringToObject(
	    body, "type", cloudflare_str(desired->spec, "type"));
	cJSON_AddStringToObject(
	    body, "name", cloudflare_str(desired->spec, "name"));
	cJSON_AddStringToObject(
	    body, "content", cloudflare_str(desired->spec, "content"));
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
	strbuf_addf(&path, "/zones/%s/dns_records",
	    cloudflare_str(desired->spec, "zone_id"));
	rc = cloudflare_send(
	    cf_client(call), call, "POST", path.buf, json, NULL, 0, &resp);
	code = cloudflare_error_code(&resp);
	if (rc == PROVIDER_ERROR && (code == CLOUDFLARE_RECORD_EXISTS ||
					code == CLOUDFLARE_RECORD_HOST_TAKEN))
		strbuf_addf(&call->err,
		    " (a record named %s that getbot did not make came into "
		    "zone %s after the plan; getbot never touches it)",
		    cloudflare_str(desired->spec, "name"),
		    cloudflare_str(desired->spec, "zone_id"));
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
	    cloudflare_str(current->handle, "zone_id"),
	    cloudflare_str(current->handle, "id"));
	rc = cloudflare_send(
	    cf_client(call), call, "PATCH", path.buf, json, NULL, 0, &resp);
	free(json);
	http_response_release(&resp);
	strbuf_release(&path);
	return rc;
}

static int
cf_dns_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	struct strbuf path = STRBUF_INIT;
	int rc;

	(void)purge;
	strbuf_addf(&path, "/zones/%s/dns_records/%s",
	    cloudflare_str(current->handle, "zone_id"),
	    cloudflare_str(current->handle, "id"));
	rc = cloudflare_delete(
	    cf_client(call), call, path.buf, CLOUDFLARE_RECORD_NOT_FOUND);
	if (rc == PROVIDER_OK)
		strbuf_reset(&call->err);
	strbuf_release(&path);
	return rc;
}

/* After everything a server's org needs (the route is order 8): DNS points
 * at the server last, and goes first when the org does. */
const struct resource_kind cf_dns = {
	.name = "dns",
	.fields = cf_dns_fields,
	.lost_on_replace = NULL,
	.order = 9,
	.observe = cf_dns_observe,
	.create = cf_dns_create,
	.update = cf_dns_update,
	.delete = cf_dns_delete,
};
