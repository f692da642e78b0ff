/*
 * The in-memory provider for engine tests (never in the product: it is
 * linked only into tests/engine/getbot-mem). Its "remote system" is a JSON
 * file named by $GETBOT_MEM_WORLD, so that several processes (two applies,
 * an apply killed with SIGKILL and the next one) share it:
 *
 *   {"objects": {"ADDR": {"kind", "name", "org", "team", "owned",
 *                         "spec": {...}, "fingerprints": {...},
 *                         "secrets": {...}}},
 *    "faults": [{"op": "create", "address": "ADDR", "times": 1,
 *                "fault": "transient" | "permanent" | "lost-answer" |
 *                         "crash-before" | "crash-after" | "slow",
 *                "retry_after": 1, "message": "...",
 *                "seconds": 2, "step": "building image x"}],
 *    "log": [{"op": "observe", "kind": "bot"}, {"op": "create", ...}]}
 *
 * provider_mem serves targets of kind incus, standing in for the real
 * providers: per target a network, per org a container and an allowlist,
 * per team a bot (persona and instructions immutable; model and key:
 * update-secret; runtime: in place). provider_mem_edge serves kind
 * cloudflare: per team a worker and a card (registration fields), with a
 * request rate limit.
 *
 * A "slow" fault holds the call for its seconds; with "step", as a slow
 * step that apply shows (provider_step_begin), as an image build is.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "engine.h"
#include "identity.h"
#include "provider-mem.h"
#include "xmalloc.h"

static const struct field_def mem_network_fields[] = {
	{ "subnet", FIELD_INPLACE },
	{ NULL, 0 },
};
static const struct field_def mem_container_fields[] = {
	{ "cpu", FIELD_INPLACE },
	{ "memory", FIELD_INPLACE },
	{ NULL, 0 },
};
static const struct field_def mem_bot_fields[] = {
	{ "persona", FIELD_IMMUTABLE },
	{ "instructions", FIELD_IMMUTABLE },
	{ "model", FIELD_SECRET },
	{ "runtime", FIELD_INPLACE },
	{ NULL, 0 },
};
static const struct field_def mem_card_fields[] = {
	{ "display_name", FIELD_REGISTRATION },
	{ "description", FIELD_REGISTRATION },
	{ "visibility", FIELD_REGISTRATION },
	{ NULL, 0 },
};
static const struct field_def mem_allowlist_fields[] = {
	{ "emails", FIELD_INPLACE },
	{ NULL, 0 },
};

/* Every kind of the in-memory world is written and removed alike. */
static int mem_create(
    struct provider_call *call, const struct resource *desired);
static int mem_update(struct provider_call *call,
    const struct resource *desired, const struct observed *current);
static int mem_update_secret(struct provider_call *call,
    const struct resource *desired, const struct observed *current);
static int mem_reregister(struct provider_call *call,
    const struct resource *desired, const struct observed *current);
static int mem_delete(
    struct provider_call *call, const struct observed *current, bool purge);
#define MEM_OPERATIONS                                                         \
	.create = mem_create, .update = mem_update,                            \
	.update_secret = mem_update_secret, .reregister = mem_reregister,      \
	.delete = mem_delete

static const struct resource_kind mem_network = {
	.name = "network",
	.fields = mem_network_fields,
	.lost_on_replace = NULL,
	.order = 0,
	MEM_OPERATIONS,
};
static const struct resource_kind mem_container = {
	.name = "container",
	.fields = mem_container_fields,
	.lost_on_replace = "the org's container and everything in it",
	.order = 1,
	MEM_OPERATIONS,
};
static const struct resource_kind mem_bot = {
	.name = "bot",
	.fields = mem_bot_fields,
	.lost_on_replace =
	    "the bot's volumes, its conversation history and workspace",
	.order = 2,
	MEM_OPERATIONS,
};
static const struct resource_kind mem_card = {
	.name = "card",
	.fields = mem_card_fields,
	.lost_on_replace = NULL,
	.order = 3,
	MEM_OPERATIONS,
};
static const struct resource_kind mem_allowlist = {
	.name = "allowlist",
	.fields = mem_allowlist_fields,
	.lost_on_replace = NULL,
	.order = 3,
	MEM_OPERATIONS,
};

static const struct field_def mem_worker_fields[] = {
	{ "persona", FIELD_IMMUTABLE },
	{ "instructions", FIELD_IMMUTABLE },
	{ "model", FIELD_SECRET },
	{ "keep_alive", FIELD_SECRET },
	{ "runtime", FIELD_INPLACE },
	{ NULL, 0 },
};
static const struct resource_kind mem_worker = {
	.name = "worker",
	.fields = mem_worker_fields,
	.lost_on_replace = "the agent's bucket and its data",
	.order = 2,
	MEM_OPERATIONS,
};

static const struct resource_kind *const mem_kinds[] = { &mem_network,
	&mem_container, &mem_bot, &mem_allowlist, NULL };
static const struct resource_kind *const mem_edge_kinds[] = { &mem_worker,
	&mem_card, NULL };

/* ---- the world file ---- */

struct mem_world {
	int fd;
	cJSON *root;
};

static int
mem_world_open(struct mem_world *w, struct strbuf *err)
{
	const char *path = getenv("GETBOT_MEM_WORLD");
	struct strbuf text = STRBUF_INIT;
	char chunk[65536];
	ssize_t got;

	w->root = NULL;
	if (path == NULL) {
		strbuf_addstr(err, "GETBOT_MEM_WORLD is not set");
		return -1;
	}
	w->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (w->fd < 0 || flock(w->fd, LOCK_EX) != 0) {
		strbuf_addf(
		    err, "mem: cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	while ((got = read(w->fd, chunk, sizeof(chunk))) > 0)
		strbuf_add(&text, chunk, (size_t)got);
	w->root = text.len > 0 ? cJSON_ParseWithLength(text.buf, text.len)
			       : cJSON_CreateObject();
	strbuf_release(&text);
	if (w->root == NULL) {
		strbuf_addf(err, "mem: '%s' is not JSON", path);
		close(w->fd);
		return -1;
	}
	if (cJSON_GetObjectItem(w->root, "objects") == NULL)
		cJSON_AddObjectToObject(w->root, "objects");
	if (cJSON_GetObjectItem(w->root, "log") == NULL)
		cJSON_AddArrayToObject(w->root, "log");
	return 0;
}

static void
mem_world_close(struct mem_world *w, bool write_back)
{
	if (write_back) {
		char *text = cJSON_Print(w->root);
		size_t len = strlen(text);

		if (ftruncate(w->fd, 0) != 0 ||
		    pwrite(w->fd, text, len, 0) != (ssize_t)len)
			abort(); /* a test world that cannot be written */
		fsync(w->fd);
		free(text);
	}
	cJSON_Delete(w->root);
	close(w->fd); /* releases the flock */
}

static void
mem_log(struct mem_world *w, const char *op, const char *key, const char *value)
{
	cJSON *entry = cJSON_CreateObject();

	cJSON_AddStringToObject(entry, "op", op);
	cJSON_AddStringToObject(entry, key, value);
	cJSON_AddItemToArray(cJSON_GetObjectItem(w->root, "log"), entry);
}

/* The fault kinds, as static strings that outlive the world's JSON. */
static const char *
mem_fault_kind(const char *kind)
{
	static const char *const kinds[] = { "transient", "permanent",
		"lost-answer", "crash-before", "crash-after", "slow" };
	size_t i;

	for (i = 0; kind != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kind, kinds[i]) == 0)
			return kinds[i];
	return "transient";
}

/* What a fault does besides its return: the caller acts on it. */
struct mem_effect {
	bool lost_answer;
	bool crash_after;
	double slow; /* seconds the call is held */
	char *step;  /* owned: what apply shows while it is held, or NULL */
};

/* Apply the first fault for (op, address), counting it down. */
static int
mem_fault(struct mem_world *w, const char *op, const char *address,
    struct provider_call *call, struct mem_effect *effect)
{
	cJSON *faults = cJSON_GetObjectItem(w->root, "faults");
	cJSON *f;
	int index = 0;

	memset(effect, 0, sizeof(*effect));
	cJSON_ArrayForEach (f, faults) {
		const cJSON *fop = cJSON_GetObjectItem(f, "op");
		const cJSON *faddr = cJSON_GetObjectItem(f, "address");
		cJSON *times = cJSON_GetObjectItem(f, "times");
		const char *kind =
		    cJSON_GetStringValue(cJSON_GetObjectItem(f, "fault"));
		const char *message =
		    cJSON_GetStringValue(cJSON_GetObjectItem(f, "message"));
		const cJSON *retry = cJSON_GetObjectItem(f, "retry_after");
		const cJSON *seconds = cJSON_GetObjectItem(f, "seconds");
		const char *step =
		    cJSON_GetStringValue(cJSON_GetObjectItem(f, "step"));

		if (!cJSON_IsString(fop) || strcmp(fop->valuestring, op) != 0 ||
		    (cJSON_IsString(faddr) &&
			strcmp(faddr->valuestring, address) != 0)) {
			index++;
			continue;
		}
		strbuf_addf(&call->err, "mem: %s",
		    message != NULL ? message : "injected fault");
		if (cJSON_IsNumber(retry))
			call->retry_after = retry->valuedouble;
		if (cJSON_IsNumber(seconds))
			effect->slow = seconds->valuedouble;
		if (step != NULL)
			effect->step = xstrdup(step);
		kind = mem_fault_kind(kind);
		/* count it down; the last use removes it (and its strings) */
		if (!cJSON_IsNumber(times) || times->valueint <= 1)
			cJSON_DeleteItemFromArray(faults, index);
		else
			cJSON_SetNumberValue(times, times->valueint - 1);
		if (kind != NULL && strcmp(kind, "permanent") == 0)
			return PROVIDER_ERROR;
		if (kind != NULL && strcmp(kind, "crash-before") == 0) {
			mem_world_close(w, true);
			raise(SIGKILL);
		}
		if (kind != NULL && strcmp(kind, "crash-after") == 0) {
			effect->crash_after = true;
			return PROVIDER_OK;
		}
		if (kind != NULL && strcmp(kind, "slow") == 0) {
			/* hold the call (not the world) for a while */
			strbuf_reset(&call->err);
			if (effect->slow == 0)
				effect->slow = 2;
			return PROVIDER_OK;
		}
		if (kind != NULL && strcmp(kind, "lost-answer") == 0) {
			effect->lost_answer = true;
			return PROVIDER_OK;
		}
		return PROVIDER_TRANSIENT;
	}
	return PROVIDER_OK;
}

/* ---- the provider ---- */

static int
mem_open(const struct bots_target *target, struct conn *conn,
    const char *base_dir, void **session, struct strbuf *err)
{
	struct conn_file_info root;

	(void)target;
	(void)base_dir;
	*session = NULL;
	if (getenv("GETBOT_MEM_WORLD") == NULL) {
		strbuf_addstr(err, "mem: GETBOT_MEM_WORLD is not set");
		return -1;
	}
	/* a server's connection (tests/conn-ssh.sh) works: its / is there */
	if (conn != NULL &&
	    (conn->ops->stat(conn, "/", &root, err) != 0 || !root.directory)) {
		if (err->len == 0)
			strbuf_addstr(err, "mem: the server has no /");
		return -1;
	}
	return 0;
}

static cJSON *
mem_strings(const struct node *list, cJSON *into)
{
	size_t i;

	for (i = 0;
	     list != NULL && list->kind == NODE_SEQUENCE && i < list->nitems;
	     i++)
		if (node_str(list->items[i]) != NULL)
			cJSON_AddItemToArray(
			    into, cJSON_CreateString(node_str(list->items[i])));
	return into;
}

/* The edge: per team a worker and its card. */
static int
mem_edge_expand(const struct bots *bots, const struct bots_target *target,
    struct resource_set *out, struct strbuf *err)
{
	const struct provider *self = &provider_mem_edge;
	size_t o, t, k;

	(void)err;
	for (o = 0; o < bots->norgs; o++) {
		const struct bots_org *org = &bots->orgs[o];

		if (org->target != target)
			continue;
		for (t = 0; t < org->nteams; t++) {
			const struct bots_team *team = &org->teams[t];
			char *name =
			    identity_worker_name(org->name, team->name);
			cJSON *spec = cJSON_CreateObject();
			const char *shown =
			    node_str(node_get(team->card, "display_name"));
			const char *about =
			    node_str(node_get(team->card, "description"));
			const char *visibility =
			    node_str(node_get(team->card, "visibility"));
			struct resource *r, *card;

			cJSON_AddStringToObject(spec, "persona", team->persona);
			cJSON_AddStringToObject(
			    spec, "instructions", team->instructions);
			cJSON_AddStringToObject(spec, "model", team->model);
			cJSON_AddBoolToObject(
			    spec, "keep_alive", team->keep_alive);
			cJSON_AddStringToObject(spec, "runtime", team->runtime);
			r = resource_new(self, &mem_worker, name, org->name,
			    team->name, spec);
			r->target = target;
			for (k = 0; k < team->napi_keys; k++) {
				char *env = identity_key_env(
				    team->api_keys[k].provider);

				resource_add_secret(
				    r, env, &team->api_keys[k].secret);
				free(env);
			}
			resource_set_add(out, r);

			spec = cJSON_CreateObject();
			cJSON_AddStringToObject(
			    spec, "display_name", shown ? shown : team->name);
			cJSON_AddStringToObject(
			    spec, "description", about ? about : "");
			cJSON_AddStringToObject(spec, "visibility",
			    visibility ? visibility : "private");
			card = resource_new(
			    self, &mem_card, name, org->name, team->name, spec);
			card->target = target;
			resource_add_dep(card, r->address);
			resource_set_add(out, card);
			free(name);
		}
	}
	return 0;
}

/* A server: a network, per org a container and an allowlist, per team a
 * bot. */
static int
mem_expand(const struct bots *bots, const struct bots_target *target,
    struct resource_set *out, struct strbuf *err)
{
	const struct provider *self = &provider_mem;
	struct resource *net, *r;
	size_t o, t, k;
	cJSON *spec;

	(void)err;
	spec = cJSON_CreateObject();
	cJSON_AddStringToObject(spec, "subnet", "10.199.0.0/24");
	net = resource_new(self, &mem_network, target->name, NULL, NULL, spec);
	net->target = target;
	resource_set_add(out, net);
	for (o = 0; o < bots->norgs; o++) {
		const struct bots_org *org = &bots->orgs[o];
		char *container_addr;
		cJSON *emails;

		if (org->target != target)
			continue;
		spec = cJSON_CreateObject();
		cJSON_AddNumberToObject(spec, "cpu", org->cpu ? org->cpu : 1);
		cJSON_AddStringToObject(
		    spec, "memory", org->memory ? org->memory : "1GiB");
		r = resource_new(
		    self, &mem_container, org->name, org->name, NULL, spec);
		r->target = target;
		resource_add_dep(r, net->address);
		container_addr = xstrdup(r->address);
		resource_set_add(out, r);

		spec = cJSON_CreateObject();
		emails = mem_strings(org->allowed_emails,
		    cJSON_AddArrayToObject(spec, "emails"));
		for (t = 0; t < org->nteams; t++)
			mem_strings(org->teams[t].allowed_emails, emails);
		r = resource_new(
		    self, &mem_allowlist, org->name, org->name, NULL, spec);
		r->target = target;
		resource_add_dep(r, container_addr);
		resource_set_add(out, r);

		for (t = 0; t < org->nteams; t++) {
			const struct bots_team *team = &org->teams[t];
			char *name = resource_scope_name(org->name, team->name);

			spec = cJSON_CreateObject();
			cJSON_AddStringToObject(spec, "persona", team->persona);
			cJSON_AddStringToObject(
			    spec, "instructions", team->instructions);
			cJSON_AddStringToObject(spec, "model", team->model);
			cJSON_AddStringToObject(spec, "runtime", team->runtime);
			r = resource_new(
			    self, &mem_bot, name, org->name, team->name, spec);
			r->target = target;
			r->url = identity_bot_url(org->name,
			    target->server.domain != NULL
				? target->server.domain
				: IDENTITY_DEFAULT_DOMAIN,
			    team->name);
			resource_add_dep(r, container_addr);
			for (k = 0; k < team->napi_keys; k++) {
				char *env = identity_key_env(
				    team->api_keys[k].provider);

				resource_add_secret(
				    r, env, &team->api_keys[k].secret);
				free(env);
			}
			resource_set_add(out, r);
			free(name);
		}
		free(container_addr);
	}
	return 0;
}

/* Objects carry their provider's name, as addresses do. */
static bool
mem_is_mine(const struct provider *self, const cJSON *obj)
{
	const char *provider =
	    cJSON_GetStringValue(cJSON_GetObjectItem(obj, "provider"));

	return provider != NULL && strcmp(provider, self->name) == 0;
}

static int
mem_observe_as(const struct provider *self, struct provider_call *call,
    const struct bots_target *target, struct observed_set *out)
{
	struct mem_world w;
	const cJSON *obj;
	struct mem_effect effect;
	int rc;
	size_t k;

	(void)target;
	if (mem_world_open(&w, &call->err) != 0)
		return PROVIDER_ERROR;
	rc = mem_fault(&w, "observe", "", call, &effect);
	free(effect.step);
	/* one bulk call per kind, as a real provider makes */
	for (k = 0; self->kinds[k] != NULL && rc == PROVIDER_OK; k++) {
		provider_throttle(call);
		mem_log(&w, "observe", "kind", self->kinds[k]->name);
		cJSON_ArrayForEach (
		    obj, cJSON_GetObjectItem(w.root, "objects")) {
			const char *kind = cJSON_GetStringValue(
			    cJSON_GetObjectItem(obj, "kind"));
			const char *name = cJSON_GetStringValue(
			    cJSON_GetObjectItem(obj, "name"));
			const char *org = cJSON_GetStringValue(
			    cJSON_GetObjectItem(obj, "org"));
			const char *team = cJSON_GetStringValue(
			    cJSON_GetObjectItem(obj, "team"));
			struct observed *o;

			if (kind == NULL || name == NULL ||
			    strcmp(kind, self->kinds[k]->name) != 0 ||
			    !mem_is_mine(self, obj))
				continue;
			o = observed_new(self, self->kinds[k], name);
			o->owned =
			    cJSON_IsTrue(cJSON_GetObjectItem(obj, "owned"));
			o->org = org != NULL ? xstrdup(org) : NULL;
			o->team = team != NULL ? xstrdup(team) : NULL;
			cJSON_Delete(o->spec);
			cJSON_Delete(o->fingerprints);
			o->spec = cJSON_Duplicate(
			    cJSON_GetObjectItem(obj, "spec"), true);
			o->fingerprints = cJSON_Duplicate(
			    cJSON_GetObjectItem(obj, "fingerprints"), true);
			if (o->spec == NULL)
				o->spec = cJSON_CreateObject();
			if (o->fingerprints == NULL)
				o->fingerprints = cJSON_CreateObject();
			observed_set_add(out, o);
		}
	}
	mem_world_close(&w, true);
	return rc;
}

/* Write the desired resource into the world (create and every update). */
static int
mem_put(struct provider_call *call, const struct resource *r, const char *op,
    bool must_be_new)
{
	struct mem_world w;
	cJSON *objects, *obj, *fprs, *secrets;
	struct mem_effect effect;
	int rc;
	size_t i;

	if (mem_world_open(&w, &call->err) != 0)
		return PROVIDER_ERROR;
	provider_throttle(call);
	mem_log(&w, op, "address", r->address);
	rc = mem_fault(&w, op, r->address, call, &effect);
	if (rc != PROVIDER_OK) {
		mem_world_close(&w, true);
		free(effect.step);
		return rc;
	}
	if (effect.slow > 0) {
		mem_world_close(&w, true);
		if (effect.step != NULL)
			provider_step_begin(
			    call, r->address, "%s", effect.step);
		engine_sleep(effect.slow);
		provider_step_end(call, true);
		rc = mem_world_open(&w, &call->err);
	}
	free(effect.step);
	if (rc != 0)
		return PROVIDER_ERROR;
	objects = cJSON_GetObjectItem(w.root, "objects");
	if (must_be_new && cJSON_GetObjectItem(objects, r->address) != NULL) {
		/* what Incus says to a second create of one name */
		strbuf_addf(&call->err, "mem: %s already exists", r->address);
		mem_world_close(&w, true);
		return PROVIDER_ERROR;
	}
	cJSON_DeleteItemFromObject(objects, r->address);
	obj = cJSON_AddObjectToObject(objects, r->address);
	cJSON_AddStringToObject(obj, "provider", r->provider->name);
	cJSON_AddStringToObject(obj, "kind", r->kind->name);
	cJSON_AddStringToObject(obj, "name", r->name);
	if (r->org != NULL)
		cJSON_AddStringToObject(obj, "org", r->org);
	if (r->team != NULL)
		cJSON_AddStringToObject(obj, "team", r->team);
	cJSON_AddBoolToObject(obj, "owned", true);
	cJSON_AddItemToObject(obj, "spec", cJSON_Duplicate(r->spec, true));
	fprs = cJSON_AddObjectToObject(obj, "fingerprints");
	secrets = cJSON_AddObjectToObject(obj, "secrets");
	for (i = 0; i < r->nsecrets; i++) {
		cJSON_AddStringToObject(
		    fprs, r->secrets[i].name, r->secrets[i].fingerprint);
		/* the remote holds the value, as a container's env does */
		cJSON_AddStringToObject(secrets, r->secrets[i].name,
		    (const char *)r->secrets[i].value->value);
	}
	mem_world_close(&w, true);
	if (effect.crash_after)
		raise(SIGKILL);
	return effect.lost_answer ? PROVIDER_TRANSIENT : PROVIDER_OK;
}

static int
mem_create(struct provider_call *call, const struct resource *desired)
{
	return mem_put(call, desired, "create", true);
}

static int
mem_update(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	(void)current;
	return mem_put(call, desired, "update", false);
}

static int
mem_update_secret(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	(void)current;
	return mem_put(call, desired, "update-secret", false);
}

static int
mem_reregister(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	(void)current;
	return mem_put(call, desired, "re-register", false);
}

static int
mem_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	struct mem_world w;
	struct mem_effect effect;
	int rc;

	if (mem_world_open(&w, &call->err) != 0)
		return PROVIDER_ERROR;
	provider_throttle(call);
	mem_log(
	    &w, purge ? "delete-purge" : "delete", "address", current->address);
	rc = mem_fault(&w, "delete", current->address, call, &effect);
	free(effect.step);
	if (rc == PROVIDER_OK)
		cJSON_DeleteItemFromObject(
		    cJSON_GetObjectItem(w.root, "objects"), current->address);
	mem_world_close(&w, true);
	if (effect.crash_after)
		raise(SIGKILL);
	return effect.lost_answer ? PROVIDER_TRANSIENT : rc;
}

static int
mem_observe(struct provider_call *call, const struct bots_target *target,
    struct observed_set *out)
{
	return mem_observe_as(&provider_mem, call, target, out);
}

static int
mem_edge_observe(struct provider_call *call, const struct bots_target *target,
    struct observed_set *out)
{
	return mem_observe_as(&provider_mem_edge, call, target, out);
}

const struct provider provider_mem = {
	.name = "mem",
	.target_kind = "incus",
	.kinds = mem_kinds,
	.server = true, /* its calls get the server's connection */
	.max_concurrency = 4,
	.max_rate = 0,
	.burst = 0,
	.open = mem_open,
	.close = NULL,
	.expand = mem_expand,
	.observe = mem_observe,
};

const struct provider provider_mem_edge = {
	.name = "memedge",
	.target_kind = "cloudflare",
	.kinds = mem_edge_kinds,
	.max_concurrency = 4,
	.max_rate = 20,
	.burst = 5,
	.open = mem_open,
	.close = NULL,
	.expand = mem_edge_expand,
	.observe = mem_edge_observe,
};
