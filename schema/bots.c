/* bots.yaml: load, validate against the schema, build, check semantics. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bots.h"
#include "embedded.h"
#include "file.h"
#include "identity.h"
#include "jsonschema.h"
#include "load.h"
#include "strbuf.h"
#include "xmalloc.h"

#define BOTS_BASE64_CHARS                                                      \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="

struct bots_check {
	struct bots *bots;
	struct diag_list *diags;
	struct strbuf path;
};

static struct jsonschema *
bots_schema(struct strbuf *err)
{
	static struct jsonschema *schema;

	if (schema == NULL && jsonschema_load(bots_schema_json,
				  bots_schema_json_len, &schema, err) != 0)
		return NULL;
	return schema;
}

static void __attribute__((format(printf, 4, 5)))
bots_error(struct bots_check *check, const struct node *at, const char *path,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_addv(check->diags, DIAG_ERROR, check->bots->file, at->line,
	    at->column, path, fmt, ap);
	va_end(ap);
}

static void
bots_read_secret(struct bots_secret *secret, const struct node *node)
{
	static const struct {
		const char *key;
		enum bots_secret_kind kind;
	} kinds[] = {
		{ "env", BOTS_SECRET_ENV },
		{ "file", BOTS_SECRET_FILE },
		{ "sealed", BOTS_SECRET_SEALED },
	};
	size_t i;

	memset(secret, 0, sizeof(*secret));
	secret->node = node;
	if (node == NULL || node->kind != NODE_MAPPING || node->npairs != 1)
		return;
	for (i = 0; i < ARRAY_SIZE(kinds); i++) {
		const char *ref = node_str(node_get(node, kinds[i].key));

		if (ref != NULL) {
			secret->kind = kinds[i].kind;
			secret->ref = ref;
		}
	}
}

/* image: ALIAS (on the server), images:ALIAS, or {server, protocol,
 * alias, certificate}; unset is debian/12 from the images server. */
static void
bots_read_image(struct bots_server *server, const struct node *image)
{
	const char *alias = node_str(image);

	server->image_node = image;
	server->image_server = BOTS_IMAGES_SERVER;
	server->image_protocol = BOTS_IMAGES_PROTOCOL;
	server->image_certificate = NULL;
	if (image == NULL) {
		server->image_alias = BOTS_DEFAULT_IMAGE;
	} else if (alias != NULL) {
		if (strncmp(alias, "images:", 7) == 0)
			server->image_alias = alias + 7;
		else {
			server->image_alias = alias;
			server->image_server = NULL;
			server->image_protocol = NULL;
		}
	} else {
		server->image_alias = node_str(node_get(image, "alias"));
		if (node_str(node_get(image, "server")) != NULL)
			server->image_server =
			    node_str(node_get(image, "server"));
		if (node_str(node_get(image, "protocol")) != NULL)
			server->image_protocol =
			    node_str(node_get(image, "protocol"));
		server->image_certificate =
		    node_str(node_get(image, "certificate"));
	}
	if (server->image_alias == NULL) /* the schema has said why */
		server->image_alias = BOTS_DEFAULT_IMAGE;
}

static void
bots_read_target(struct bots_target *target, const struct node_pair *pair)
{
	const struct node *t = pair->value;
	const struct node *router = node_get(t, "router");
	const struct node *caddy = node_get(t, "caddy");
	const struct node *auth = node_get(t, "auth");
	const struct node *dns = node_get(t, "dns");
	const struct node *https, *proxied;
	const char *kind = node_str(node_get(t, "kind"));

	target->name = pair->key->value;
	target->node = pair->key;
	target->node_body = t;
	target->kind = kind != NULL && strcmp(kind, "cloudflare") == 0
			   ? BOTS_TARGET_CLOUDFLARE
			   : BOTS_TARGET_INCUS;
	target->server.connect = node_str(node_get(t, "connect"));
	target->server.known_hosts = node_str(node_get(t, "known_hosts"));
	target->server.host_key = node_str(node_get(t, "host_key"));
	target->server.identity = node_str(node_get(t, "identity"));
	target->server.domain = node_str(node_get(t, "domain"));
	if (target->server.domain == NULL)
		target->server.domain = IDENTITY_DEFAULT_DOMAIN;
	bots_read_image(&target->server, node_get(t, "image"));
	target->server.profiles = node_get(t, "profiles");
	target->server.auth_url = node_str(node_get(t, "auth_url"));
	target->server.caddy_admin = node_str(node_get(caddy, "admin"));
	if (target->server.caddy_admin == NULL)
		target->server.caddy_admin = BOTS_DEFAULT_CADDY_ADMIN;
	target->server.caddy_listen = node_get(caddy, "listen");
	https = node_get(caddy, "https");
	target->server.caddy_https = https == NULL ||
			      https->scalar_type != SCALAR_BOOL ||
			      https->boolean;
	target->server.auth_config = node_str(node_get(auth, "config"));
	if (target->server.auth_config == NULL)
		target->server.auth_config = BOTS_DEFAULT_AUTH_CONFIG;
	target->server.auth_listen = node_str(node_get(auth, "listen"));
	if (target->server.auth_listen == NULL)
		target->server.auth_listen = BOTS_DEFAULT_AUTH_LISTEN;
	target->server.auth_binary = node_str(node_get(auth, "binary"));
	target->server.incus_socket =
	    node_str(node_get(node_get(t, "incus"), "socket"));
	target->server.dns_target_name = node_str(node_get(dns, "target"));
	target->server.dns_zone_id = node_str(node_get(dns, "zone_id"));
	target->server.dns_address = node_str(node_get(dns, "address"));
	proxied = node_get(dns, "proxied");
	target->server.dns_proxied = proxied != NULL &&
			      proxied->scalar_type == SCALAR_BOOL &&
			      proxied->boolean;
	target->edge.account_id = node_str(node_get(t, "account_id"));
	bots_read_secret(&target->edge.api_token, node_get(t, "api_token"));
	target->edge.router_url = node_str(node_get(router, "url"));
	bots_read_secret(&target->edge.router_token, node_get(router, "token"));
}

static void
bots_read_team(struct bots *bots, struct bots_org *org, struct bots_team *team,
    const struct node_pair *pair)
{
	const struct node *t = pair->value;
	const struct node *keys = node_get(t, "api_keys");
	const struct node *keep_alive = node_get(t, "keep_alive");
	size_t i;

	team->name = pair->key->value;
	team->org = org;
	team->node = pair->key;
	team->body = t;
	team->model = node_str(node_get(t, "model"));
	if (team->model == NULL)
		team->model = bots->default_model;
	team->runtime = node_str(node_get(t, "runtime"));
	if (team->runtime == NULL)
		team->runtime = bots->default_runtime;
	team->allowed_emails = node_get(t, "allowed_emails");
	team->persona = node_str(node_get(t, "persona"));
	team->instructions = node_str(node_get(t, "instructions"));
	team->keep_alive = keep_alive != NULL &&
			   keep_alive->scalar_type == SCALAR_BOOL &&
			   keep_alive->boolean;
	team->card = node_get(t, "card");
	if (keys != NULL && keys->kind == NODE_MAPPING && keys->npairs > 0) {
		team->api_keys = xcalloc(keys->npairs, sizeof(*team->api_keys));
		for (i = 0; i < keys->npairs; i++) {
			team->api_keys[i].provider = keys->pairs[i].key->value;
			bots_read_secret(
			    &team->api_keys[i].secret, keys->pairs[i].value);
		}
		team->napi_keys = keys->npairs;
	}
}

static void
bots_read_org(
    struct bots *bots, struct bots_org *org, const struct node_pair *pair)
{
	const struct node *o = pair->value;
	const struct node *limits = node_get(o, "limits");
	const struct node *cpu = node_get(limits, "cpu");
	const struct node *override = node_get(o, "org_name_override");
	const struct node *teams = node_get(o, "teams");
	size_t i;

	org->name = pair->key->value;
	org->node = pair->key;
	org->body = o;
	org->owner = node_str(node_get(o, "owner"));
	org->org_name_override = override != NULL &&
				 override->scalar_type == SCALAR_BOOL &&
				 override->boolean;
	org->target_name = node_str(node_get(o, "target"));
	if (org->target_name != NULL)
		org->target = bots_find_target(bots, org->target_name);
	if (cpu != NULL && cpu->kind == NODE_SCALAR &&
	    (cpu->scalar_type == SCALAR_INT ||
		cpu->scalar_type == SCALAR_FLOAT) &&
	    cpu->number >= 1 && cpu->number <= 1024)
		org->cpu = (long)cpu->number; /* 2.0 is 2, as the schema says */
	org->memory = node_str(node_get(limits, "memory"));
	org->allowed_emails = node_get(o, "allowed_emails");
	if (teams != NULL && teams->kind == NODE_MAPPING && teams->npairs > 0) {
		org->teams = xcalloc(teams->npairs, sizeof(*org->teams));
		for (i = 0; i < teams->npairs; i++)
			bots_read_team(
			    bots, org, &org->teams[i], &teams->pairs[i]);
		org->nteams = teams->npairs;
	}
}

static int
bots_team_cmp(const void *a, const void *b)
{
	const struct bots_team *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/*
 * Give each team of an org its port: FNV-1a of the team's name picks a
 * slot in [BOTS_PORT_FIRST, +BOTS_PORT_COUNT); teams take theirs in name
 * order and a taken slot moves on to the next free one. The port depends
 * only on the org's set of team names, so a plan can name it before
 * anything exists, and it stays put while the teams do.
 */
static void
bots_assign_ports(struct bots_org *org)
{
	struct bots_team **sorted;
	size_t i, j;

	if (org->nteams == 0)
		return;
	sorted = xcalloc(org->nteams, sizeof(*sorted));
	for (i = 0; i < org->nteams; i++)
		sorted[i] = &org->teams[i];
	qsort(sorted, org->nteams, sizeof(*sorted), bots_team_cmp);
	for (i = 0; i < org->nteams && i < BOTS_PORT_COUNT; i++) {
		uint32_t h = 2166136261u;
		const char *c;
		unsigned slot;
		bool taken;

		for (c = sorted[i]->name; *c != '\0'; c++)
			h = (h ^ (unsigned char)*c) * 16777619u;
		slot = h % BOTS_PORT_COUNT;
		do {
			taken = false;
			for (j = 0; j < i && !taken; j++)
				taken = sorted[j]->port == BOTS_PORT_FIRST + slot;
			if (taken)
				slot = (slot + 1) % BOTS_PORT_COUNT;
		} while (taken);
		sorted[i]->port = BOTS_PORT_FIRST + slot;
	}
	free(sorted);
}

/* Build the structs from the tree, skipping what has the wrong shape (the
 * schema has said so already). */
static void
bots_read(struct bots *bots)
{
	const struct node *root = bots->doc->root;
	const struct node *targets = node_get(root, "targets");
	const struct node *orgs = node_get(root, "orgs");
	const struct node *defaults = node_get(root, "defaults");
	const struct node *state = node_get(root, "state");
	const char *backend = node_str(node_get(state, "backend"));
	const struct node *lease = node_get(state, "lease");
	size_t i;

	if (backend != NULL && strcmp(backend, "git") == 0)
		bots->state_backend = BOTS_STATE_GIT;
	bots->state_remote = node_str(node_get(state, "remote"));
	if (lease != NULL && lease->kind == NODE_SCALAR &&
	    lease->scalar_type == SCALAR_INT)
		bots->state_lease = (long)lease->number;
	bots->default_model = node_str(node_get(defaults, "model"));
	bots->default_runtime = node_str(node_get(defaults, "runtime"));
	if (targets != NULL && targets->kind == NODE_MAPPING &&
	    targets->npairs > 0) {
		bots->targets =
		    xcalloc(targets->npairs, sizeof(*bots->targets));
		/* a malformed target still exists: orgs may name it */
		for (i = 0; i < targets->npairs; i++) {
			bots->targets[bots->ntargets].bots = bots;
			bots_read_target(&bots->targets[bots->ntargets++],
			    &targets->pairs[i]);
		}
		for (i = 0; i < bots->ntargets; i++)
			if (bots->targets[i].server.dns_target_name != NULL)
				bots->targets[i].server.dns_target = bots_find_target(
				    bots, bots->targets[i].server.dns_target_name);
	}
	if (orgs != NULL && orgs->kind == NODE_MAPPING && orgs->npairs > 0) {
		bots->orgs = xcalloc(orgs->npairs, sizeof(*bots->orgs));
		for (i = 0; i < orgs->npairs; i++) {
			if (orgs->pairs[i].value->kind != NODE_MAPPING)
				continue;
			bots_read_org(
			    bots, &bots->orgs[bots->norgs++], &orgs->pairs[i]);
		}
	}
	for (i = 0; i < bots->norgs; i++)
		bots_assign_ports(&bots->orgs[i]);
}

/* ---- semantic rules ---- */

static void
bots_path_set(struct bots_check *check, const char *org, const char *team,
    const char *key)
{
	strbuf_reset(&check->path);
	diag_path_key(&check->path, "orgs");
	diag_path_key(&check->path, org);
	if (team != NULL) {
		diag_path_key(&check->path, "teams");
		diag_path_key(&check->path, team);
	}
	if (key != NULL)
		diag_path_key(&check->path, key);
}

static void
bots_check_owner(struct bots_check *check, const struct bots_org *org)
{
	const struct node *owner_node = node_get(org->body, "owner");
	struct strbuf err = STRBUF_INIT;
	char *derived = NULL;

	if (org->owner == NULL || !identity_is_email(org->owner))
		return; /* the schema reported it */
	bots_path_set(check, org->name, NULL, "owner");
	if (identity_org_from_email(org->owner, &derived, &err) != 0) {
		bots_error(check, owner_node, check->path.buf, "%s", err.buf);
	} else if (!org->org_name_override && strcmp(derived, org->name) != 0) {
		bots_error(check, owner_node, check->path.buf,
		    "org '%s' does not match its owner: '%s' derives '%s'; "
		    "rename the org to '%s' or set org_name_override: true",
		    org->name, org->owner, derived, derived);
	}
	free(derived);
	strbuf_release(&err);
}

static void
bots_check_target(struct bots_check *check, const struct bots_org *org)
{
	const char **names;
	const char *close;
	size_t i;

	if (org->target_name == NULL || org->target != NULL)
		return;
	if (!identity_is_dns_label(org->target_name))
		return; /* the schema reported it */
	names = xcalloc(check->bots->ntargets + 1, sizeof(*names));
	for (i = 0; i < check->bots->ntargets; i++)
		names[i] = check->bots->targets[i].name;
	close = jsonschema_did_you_mean(
	    org->target_name, names, check->bots->ntargets);
	bots_path_set(check, org->name, NULL, "target");
	if (close != NULL)
		bots_error(check, node_get(org->body, "target"),
		    check->path.buf, "no target named '%s'; did you mean '%s'?",
		    org->target_name, close);
	else
		bots_error(check, node_get(org->body, "target"),
		    check->path.buf, "no target named '%s' in targets",
		    org->target_name);
	free(names);
}

/* A key that only one kind of target takes. */
static void
bots_check_kind_only(struct bots_check *check, const struct node *mapping,
    const char *org, const char *team, const char *key,
    const struct bots_target *target, enum bots_target_kind only)
{
	const struct node *at = node_get_key(mapping, key);

	if (at == NULL || target == NULL || target->kind == only ||
	    target->kind == BOTS_TARGET_UNKNOWN)
		return;
	bots_path_set(check, org, team, key);
	bots_error(check, at, check->path.buf,
	    "'%s' is for %s targets only; target '%s' is of kind %s", key,
	    only == BOTS_TARGET_INCUS ? "server (incus)" : "cloudflare",
	    target->name,
	    bots_target_kind_name(target->kind));
}

/* Lists are unique already (schema); addresses differ only by case too. */
static void
bots_check_email_case(struct bots_check *check, const struct node *list,
    const char *org, const char *team)
{
	size_t i, j;

	if (list == NULL || list->kind != NODE_SEQUENCE)
		return;
	for (i = 1; i < list->nitems; i++) {
		for (j = 0; j < i; j++) {
			const char *a = node_str(list->items[i]);
			const char *b = node_str(list->items[j]);

			if (a == NULL || b == NULL || strcmp(a, b) == 0 ||
			    strcasecmp(a, b) != 0)
				continue;
			bots_path_set(check, org, team, "allowed_emails");
			diag_path_index(&check->path, i);
			bots_error(check, list->items[i], check->path.buf,
			    "'%s' is item [%zu] again (addresses ignore case)",
			    a, j);
			break;
		}
	}
}

static void
bots_check_model(struct bots_check *check, const struct bots_team *team,
    const struct node *t)
{
	const char **providers;
	const char *close;
	char *provider;
	size_t i;
	bool found = false;

	if (team->model == NULL) {
		bots_path_set(check, team->org->name, team->name, NULL);
		bots_error(check, team->node, check->path.buf,
		    "no model: set model here or in defaults");
		return;
	}
	provider = xstrndup(team->model, strcspn(team->model, "/"));
	if (team->model[strlen(provider)] != '/' ||
	    !identity_is_dns_label(provider)) {
		free(provider); /* the schema reported it */
		return;
	}
	providers = xcalloc(team->napi_keys + 1, sizeof(*providers));
	for (i = 0; i < team->napi_keys; i++) {
		providers[i] = team->api_keys[i].provider;
		found |= strcmp(providers[i], provider) == 0;
	}
	if (!found) {
		const struct node *keys = node_get_key(t, "api_keys");

		close = jsonschema_did_you_mean(
		    provider, providers, team->napi_keys);
		bots_path_set(check, team->org->name, team->name, "api_keys");
		bots_error(check, keys != NULL ? keys : team->node,
		    check->path.buf, "model '%s' needs a key for '%s'%s%s%s",
		    team->model, provider, close ? " (is '" : "",
		    close ? close : "", close ? "' a typo?)" : "");
	}
	free(providers);
	free(provider);
}

static void
bots_check_sealed(struct bots_check *check, const struct bots_secret *secret,
    const char *path)
{
	unsigned char *bin;
	char *sealed_path;
	size_t len, bin_len = 0;

	if (secret->kind != BOTS_SECRET_SEALED)
		return;
	len = strlen(secret->ref);
	bin = xmalloc(len + 1);
	sealed_path = xasprintf("%s.sealed", path);
	/* text that is no base64 at all was reported by the schema */
	if (sodium_base642bin(bin, len, secret->ref, len, NULL, &bin_len, NULL,
		sodium_base64_VARIANT_ORIGINAL) != 0) {
		if (strspn(secret->ref, BOTS_BASE64_CHARS) == len)
			bots_error(check, node_get(secret->node, "sealed"),
			    sealed_path,
			    "sealed is not valid base64 (padding)");
	} else if (bin_len <= crypto_box_SEALBYTES)
		bots_error(check, node_get(secret->node, "sealed"), sealed_path,
		    "sealed is too short to be a sealed box (%zu bytes)",
		    bin_len);
	free(sealed_path);
	free(bin);
}

static void
bots_check_team(struct bots_check *check, const struct bots_team *team)
{
	const struct node *t = team->body;
	const struct bots_target *target = team->org->target;
	size_t i;

	if (t == NULL || t->kind != NODE_MAPPING)
		return;
	bots_check_kind_only(check, t, team->org->name, team->name, "card",
	    target, BOTS_TARGET_CLOUDFLARE);
	bots_check_kind_only(check, t, team->org->name, team->name,
	    "keep_alive", target, BOTS_TARGET_CLOUDFLARE);
	bots_check_model(check, team, t);
	if (team->runtime == NULL) {
		bots_path_set(check, team->org->name, team->name, NULL);
		bots_error(check, team->node, check->path.buf,
		    "no runtime: set runtime here or in defaults");
	}
	bots_check_email_case(
	    check, team->allowed_emails, team->org->name, team->name);
	for (i = 0; i < team->napi_keys; i++) {
		bots_path_set(check, team->org->name, team->name, "api_keys");
		diag_path_key(&check->path, team->api_keys[i].provider);
		bots_check_sealed(
		    check, &team->api_keys[i].secret, check->path.buf);
	}
}

/* Derived names must be valid for their system and unique. */
static void
bots_check_names(struct bots_check *check)
{
	struct bots *bots = check->bots;
	char **names = NULL;
	const struct bots_team **owners = NULL;
	size_t n = 0, alloc = 0, alloc2 = 0, o, t, k;
	struct strbuf err = STRBUF_INIT;

	for (o = 0; o < bots->norgs; o++) {
		for (t = 0; t < bots->orgs[o].nteams; t++) {
			const struct bots_team *team = &bots->orgs[o].teams[t];
			char *name = identity_worker_name(
			    bots->orgs[o].name, team->name);

			bots_path_set(
			    check, bots->orgs[o].name, team->name, NULL);
			strbuf_reset(&err);
			if (bots->orgs[o].target != NULL &&
			    bots->orgs[o].target->kind ==
				BOTS_TARGET_CLOUDFLARE &&
			    identity_check_worker_name(name, &err) != 0)
				bots_error(check, team->node, check->path.buf,
				    "%s", err.buf);
			for (k = 0; k < n; k++) {
				if (strcmp(names[k], name) != 0)
					continue;
				bots_error(check, team->node, check->path.buf,
				    "derives the name '%s', as %s/%s does; "
				    "rename one of them",
				    name, owners[k]->org->name,
				    owners[k]->name);
				break;
			}
			ALLOC_GROW(names, n + 1, alloc);
			ALLOC_GROW(owners, n + 1, alloc2);
			names[n] = name;
			owners[n++] = team;
		}
	}
	for (k = 0; k < n; k++)
		free(names[k]);
	free(names);
	free(owners);
	strbuf_release(&err);
}

/* A server's dns.target names a cloudflare target. */
static void
bots_check_dns_target(
    struct bots_check *check, const struct bots_target *target)
{
	const struct node *at;

	if (target->server.dns_target_name == NULL ||
	    !identity_is_dns_label(target->server.dns_target_name))
		return; /* none, or the schema reported it */
	if (target->server.dns_target != NULL &&
	    target->server.dns_target->kind == BOTS_TARGET_CLOUDFLARE)
		return;
	at = node_get(node_get(target->node_body, "dns"), "target");
	strbuf_reset(&check->path);
	diag_path_key(&check->path, "targets");
	diag_path_key(&check->path, target->name);
	diag_path_key(&check->path, "dns");
	diag_path_key(&check->path, "target");
	if (target->server.dns_target == NULL)
		bots_error(check, at, check->path.buf,
		    "no target named '%s' in targets",
		    target->server.dns_target_name);
	else
		bots_error(check, at, check->path.buf,
		    "target '%s' is of kind %s; DNS records are kept through "
		    "a cloudflare target",
		    target->server.dns_target_name,
		    bots_target_kind_name(target->server.dns_target->kind));
}

/* A pinned image server certificate must be there and be PEM. */
static void
bots_check_image_certificate(
    struct bots_check *check, const struct bots_target *target)
{
	struct strbuf pem = STRBUF_INIT, err = STRBUF_INIT;

	if (target->kind != BOTS_TARGET_INCUS ||
	    target->server.image_certificate == NULL)
		return;
	if (bots_image_certificate(target, &pem, &err) != 0) {
		strbuf_reset(&check->path);
		diag_path_key(&check->path, "targets");
		diag_path_key(&check->path, target->name);
		diag_path_key(&check->path, "image");
		diag_path_key(&check->path, "certificate");
		bots_error(check,
		    node_get(target->server.image_node, "certificate"),
		    check->path.buf, "%s", err.buf);
	}
	strbuf_release(&pem);
	strbuf_release(&err);
}

#define BOTS_PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define BOTS_PEM_END   "-----END CERTIFICATE-----"

int
bots_image_certificate(const struct bots_target *target, struct strbuf *pem,
    struct strbuf *err)
{
	const char *value = target->server.image_certificate;
	const char *dir;
	char *path;
	int rc;

	strbuf_reset(pem);
	if (value == NULL)
		return 0;
	if (strstr(value, BOTS_PEM_BEGIN) != NULL) {
		strbuf_addstr(pem, value);
		return 0;
	}
	dir = target->bots->dir;
	path = value[0] == '/' || strcmp(dir, ".") == 0
		   ? xstrdup(value)
		   : xasprintf("%s/%s", dir, value);
	rc = file_read(path, 64 * 1024, pem, NULL, err);
	if (rc == FILE_MISSING)
		strbuf_addf(err, "%s: no such file", path);
	if (rc == 0 && (strstr(pem->buf, BOTS_PEM_BEGIN) == NULL ||
			   strstr(pem->buf, BOTS_PEM_END) == NULL)) {
		strbuf_addf(err, "%s holds no PEM certificate (" BOTS_PEM_BEGIN
				 " ... " BOTS_PEM_END ")",
		    path);
		rc = -1;
	}
	free(path);
	return rc == 0 ? 0 : -1;
}

static void
bots_check_targets_used(struct bots_check *check)
{
	struct bots *bots = check->bots;
	size_t t, o;

	for (t = 0; t < bots->ntargets; t++) {
		bool used = false;
		size_t d;

		for (o = 0; o < bots->norgs && !used; o++)
			used = bots->orgs[o].target == &bots->targets[t];
		for (d = 0; d < bots->ntargets && !used; d++)
			used = bots->targets[d].server.dns_target == &bots->targets[t];
		if (used)
			continue;
		strbuf_reset(&check->path);
		diag_path_key(&check->path, "targets");
		diag_path_key(&check->path, bots->targets[t].name);
		diag_add(check->diags, DIAG_WARNING, bots->file,
		    bots->targets[t].node->line, bots->targets[t].node->column,
		    check->path.buf, "no org uses this target");
	}
}

static void
bots_check(struct bots *bots, struct diag_list *diags)
{
	struct bots_check check = { bots, diags, STRBUF_INIT };
	size_t o, t;

	for (o = 0; o < bots->norgs; o++) {
		struct bots_org *org = &bots->orgs[o];

		bots_check_owner(&check, org);
		bots_check_target(&check, org);
		bots_check_kind_only(&check, org->body, org->name, NULL,
		    "limits", org->target, BOTS_TARGET_INCUS);
		bots_check_email_case(
		    &check, org->allowed_emails, org->name, NULL);
		for (t = 0; t < org->nteams; t++)
			bots_check_team(&check, &org->teams[t]);
	}
	for (t = 0; t < bots->ntargets; t++) {
		strbuf_reset(&check.path);
		diag_path_key(&check.path, "targets");
		diag_path_key(&check.path, bots->targets[t].name);
		diag_path_key(&check.path, "api_token");
		bots_check_sealed(
		    &check, &bots->targets[t].edge.api_token, check.path.buf);
		strbuf_setlen(
		    &check.path, check.path.len - strlen("api_token"));
		strbuf_addstr(&check.path, "router.token");
		bots_check_sealed(
		    &check, &bots->targets[t].edge.router_token, check.path.buf);
	}
	for (t = 0; t < bots->ntargets; t++) {
		bots_check_dns_target(&check, &bots->targets[t]);
		bots_check_image_certificate(&check, &bots->targets[t]);
	}
	bots_check_names(&check);
	bots_check_targets_used(&check);
	strbuf_release(&check.path);
}

static int
bots_from_doc(struct node_doc *doc, const char *dir, struct bots **out,
    struct diag_list *diags)
{
	struct strbuf err = STRBUF_INIT;
	struct jsonschema *schema = bots_schema(&err);
	struct bots *bots;
	size_t before = diag_list_errors(diags);

	if (schema == NULL) {
		diag_add(diags, DIAG_ERROR, doc->file, 0, 0, "",
		    "internal error: the embedded schema does not load: %s",
		    err.buf);
		strbuf_release(&err);
		node_doc_free(doc);
		return -1;
	}
	bots = xcalloc(1, sizeof(*bots));
	bots->doc = doc;
	bots->file = doc->file;
	bots->dir = dir != NULL ? xstrdup(dir) : file_dir(doc->file);
	jsonschema_validate(schema, doc, diags);
	if (doc->root->kind == NODE_MAPPING) {
		bots_read(bots);
		bots_check(bots, diags);
	}
	diag_list_sort(diags);
	if (diag_list_errors(diags) > before) {
		bots_free(bots);
		return -1;
	}
	*out = bots;
	return 0;
}

int
bots_load_buffer(const char *file, const char *buf, size_t len,
    struct bots **out, struct diag_list *diags)
{
	struct node_doc *doc;

	*out = NULL;
	if (load_buffer(file, buf, len, &doc, diags) != 0) {
		diag_list_sort(diags);
		return -1;
	}
	return bots_from_doc(doc, NULL, out, diags);
}

int
bots_load_file(const char *path, struct bots **out, struct diag_list *diags)
{
	struct node_doc *doc;

	*out = NULL;
	if (load_file(path, &doc, diags) != 0) {
		diag_list_sort(diags);
		return -1;
	}
	return bots_from_doc(doc, NULL, out, diags);
}

int
bots_load_file_as(const char *path, const char *label, struct bots **out,
    struct diag_list *diags)
{
	struct strbuf content = STRBUF_INIT, err = STRBUF_INIT;
	struct node_doc *doc = NULL;
	char *dir = file_dir(path);
	int rc;

	*out = NULL;
	/* past the limit file_read stops, and load_buffer says why */
	rc = file_read(path, LOAD_MAX_SIZE, &content, NULL, &err);
	if (rc == FILE_MISSING)
		diag_add(diags, DIAG_ERROR, label, 0, 0, "", "cannot open: %s",
		    strerror(ENOENT));
	else if (rc != 0 && content.len <= LOAD_MAX_SIZE)
		diag_add(diags, DIAG_ERROR, label, 0, 0, "", "%s", err.buf);
	else
		rc = load_buffer(label, content.buf, content.len, &doc, diags);
	if (rc != 0) {
		diag_list_sort(diags);
		rc = -1;
	} else
		rc = bots_from_doc(doc, dir, out, diags);
	free(dir);
	strbuf_release(&content);
	strbuf_release(&err);
	return rc;
}

void
bots_free(struct bots *bots)
{
	size_t o, t;

	if (bots == NULL)
		return;
	for (o = 0; o < bots->norgs; o++) {
		for (t = 0; t < bots->orgs[o].nteams; t++)
			free(bots->orgs[o].teams[t].api_keys);
		free(bots->orgs[o].teams);
	}
	free(bots->orgs);
	free(bots->targets);
	free(bots->dir);
	node_doc_free(bots->doc);
	free(bots);
}

size_t
bots_count_teams(const struct bots *bots)
{
	size_t o, n = 0;

	for (o = 0; o < bots->norgs; o++)
		n += bots->orgs[o].nteams;
	return n;
}

char *
bots_runtime_dir(const struct bots *bots)
{
	const char *env = getenv("GETBOT_RUNTIME_DIR");

	if (env != NULL && *env != '\0')
		return xstrdup(env);
	return xasprintf("%s/runtimes", bots->dir);
}

struct bots_target *
bots_find_target(const struct bots *bots, const char *name)
{
	size_t i;

	for (i = 0; i < bots->ntargets; i++)
		if (strcmp(bots->targets[i].name, name) == 0)
			return &bots->targets[i];
	return NULL;
}

const char *
bots_target_kind_name(enum bots_target_kind kind)
{
	switch (kind) {
	case BOTS_TARGET_INCUS:
		return "incus";
	case BOTS_TARGET_CLOUDFLARE:
		return "cloudflare";
	case BOTS_TARGET_UNKNOWN:
		break;
	}
	return "unknown";
}
