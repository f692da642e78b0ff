/*
 * The docker provider: the bots inside each org container, through the
 * Docker Engine API on the socket the incus provider exposes on the server
 * (/run/getbot/docker-ORG.sock), reached over the server's connection
 * (clients/docker.h).
 *
 *   docker.image.ORG:RUNTIME   getbot/openclaw:RUNTIME, built in the org's
 *                              Docker from the build context
 *                              runtimes/RUNTIME/ (a tar stream, context.h,
 *                              sent to /build)
 *   docker.bot.ORG/TEAM        the container TEAM-openclaw-1 with its two
 *                              volumes TEAM_openclaw-config and
 *                              TEAM_openclaw-workspace (UID 1000), the
 *                              provider's key in its environment, a health
 *                              check, and compose's labels; the rendered
 *                              compose file is kept at
 *                              /srv/getbot/TEAM/compose.yaml in the org
 *                              container (written through the Incus files
 *                              API, clients/incus.h)
 *
 * Each kind observes itself, one bulk call per org: the image list, the
 * container list. The session holds what the run learns: the API version
 * agreed with each org's daemon, and the Incus client, both made on first
 * use by whichever thread needs them.
 *
 * Every object carries getbot.* labels; what lacks getbot.managed=true is
 * not ours and is never touched. Container labels cannot change after
 * creation, so each field the plan compares has a label of its own (and
 * a secret its fingerprint, getbot.secret-fpr.NAME).
 *
 * A secret or runtime change recreates the container; the volumes stay.
 * Deleting a bot keeps its volumes unless purge (--purge-data, --replace).
 */
#include "config.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "provider-docker.h"
#include "context.h"
#include "docker.h"
#include "engine.h"
#include "http.h"
#include "identity.h"
#include "incus.h"
#include "xmalloc.h"

#define DOCKER_IMAGE_REPO    "getbot/openclaw"
#define DOCKER_BOT_PORT      18789 /* inside the bot container */
#define DOCKER_CONFIG_DIR    "/home/node/.openclaw"
#define DOCKER_WORKSPACE_DIR "/home/node/.openclaw/workspace"
#define DOCKER_COMPOSE_DIR   "/srv/getbot"
#define DOCKER_HEALTH_WAIT   60 /* seconds a new bot has to turn healthy */
#define DOCKER_BUILD_MAX     (64u << 20) /* the build's progress stream */

/* The kinds, defined with their operations at the end. */
static const struct resource_kind docker_image;
static const struct resource_kind docker_bot;

struct docker_session {
	char *runtime_dir;
	/* the API version agreed with each org's daemon, under its lock */
	struct docker_client docker;
	/* the Incus client for the files left in org containers, opened
	 * on first use */
	pthread_mutex_t incus_lock; /* guards incus and incus_open */
	struct incus_client incus;
	bool incus_open;
};

/* ---- the session ---- */

/* A session with a server target: where its runtimes are, and the
 * clients, which talk to the server only once used. */
static int
docker_open(const struct bots_target *target, struct conn *conn,
    const char *base_dir, void **session, struct strbuf *err)
{
	struct docker_session *s;

	(void)base_dir;
	if (conn == NULL) {
		strbuf_addf(
		    err, "target '%s': no server connection", target->name);
		return -1;
	}
	s = xcalloc(1, sizeof(*s));
	s->runtime_dir = bots_runtime_dir(target->bots);
	docker_client_init(&s->docker, conn);
	pthread_mutex_init(&s->incus_lock, NULL);
	*session = s;
	return 0;
}

static void
docker_close(void *session)
{
	struct docker_session *s = session;

	if (s == NULL)
		return;
	docker_client_release(&s->docker);
	if (s->incus_open)
		incus_client_release(&s->incus);
	pthread_mutex_destroy(&s->incus_lock);
	free(s->runtime_dir);
	free(s);
}

/* docker_call through the session's client. */
static int
docker_org_call(struct provider_call *call, const char *org, const char *method,
    const char *path, const cJSON *body, cJSON **out)
{
	struct docker_session *s = call->session;

	return docker_call(&s->docker, call, org, method, path, body, out);
}

/* The session's Incus client (same server), opened on first use. */
static int
docker_incus(struct provider_call *call)
{
	struct docker_session *s = call->session;
	int rc = PROVIDER_OK;

	pthread_mutex_lock(&s->incus_lock);
	if (!s->incus_open) {
		if (incus_client_open(&s->incus, call->conn,
			call->target->server.incus_socket, &call->err) == 0)
			s->incus_open = true;
		else
			rc = PROVIDER_TRANSIENT;
	}
	pthread_mutex_unlock(&s->incus_lock);
	return rc;
}

/* Write (or remove: data NULL) a file inside the org container, through
 * the Incus files API on the same server; the session's Incus client is
 * opened by the first write. */
static int
docker_write_org_file(struct provider_call *call, const char *org,
    const char *path, const char *data, size_t len, unsigned mode)
{
	struct docker_session *s = call->session;
	int rc = docker_incus(call);

	if (rc != PROVIDER_OK)
		return rc;
	return incus_write_file(&s->incus, call, org, path, data, len, mode);
}

/* ---- desired state ---- */

/* The name of an image resource: "ORG:RUNTIME". Free it. */
static char *
docker_image_name(const char *org, const char *runtime)
{
	return xasprintf("%s:%s", org, runtime);
}

/* Desired state: per org on the target, an image per runtime its teams
 * use and a bot per team. */
static int
docker_expand(const struct bots *bots, const struct bots_target *target,
    struct resource_set *out, struct strbuf *err)
{
	const struct provider *self = &provider_docker;
	char *runtimes = bots_runtime_dir(bots);
	struct strbuf where = STRBUF_INIT;
	cJSON *digests = cJSON_CreateObject();
	int rc = 0;
	size_t o, t;

	for (o = 0; o < bots->norgs && rc == 0; o++) {
		const struct bots_org *org = &bots->orgs[o];
		char *container = xasprintf("incus.container.%s", org->name);

		if (org->target != target) {
			free(container);
			continue;
		}
		for (t = 0; t < org->nteams && rc == 0; t++) {
			const struct bots_team *team = &org->teams[t];
			char *image =
			    docker_image_name(org->name, team->runtime);
			char *image_addr = xasprintf("docker.image.%s", image);
			char digest[DOCKER_DIGEST_HEX];
			struct resource *r;
			cJSON *spec;
			size_t k;

			strbuf_reset(&where);
			if (docker_context_digest(digests, runtimes,
				team->runtime, digest, &where) != 0) {
				strbuf_addf(err, "orgs.%s.teams.%s: %s",
				    org->name, team->name, where.buf);
				rc = -1;
			} else if (resource_set_find(out, image_addr) == NULL) {
				spec = cJSON_CreateObject();
				cJSON_AddStringToObject(
				    spec, "context", digest);
				r = resource_new(self, &docker_image, image,
				    org->name, NULL, spec);
				r->target = target;
				resource_add_dep(r, container);
				resource_set_add(out, r);
			}
			if (rc == 0) {
				char port[16];
				char *scoped =
				    resource_scope_name(org->name, team->name);

				snprintf(port, sizeof(port), "%u", team->port);
				spec = cJSON_CreateObject();
				cJSON_AddStringToObject(
				    spec, "persona", team->persona);
				cJSON_AddStringToObject(
				    spec, "instructions", team->instructions);
				cJSON_AddStringToObject(spec, "model",
				    team->model ? team->model : "");
				cJSON_AddStringToObject(
				    spec, "runtime", team->runtime);
				cJSON_AddStringToObject(
				    spec, "context", digest);
				cJSON_AddStringToObject(spec, "port", port);
				cJSON_AddStringToObject(
				    spec, "state", "healthy");
				r = resource_new(self, &docker_bot, scoped,
				    org->name, team->name, spec);
				free(scoped);
				r->target = target;
				r->url = identity_bot_url(org->name,
				    target->server.domain != NULL
					? target->server.domain
					: IDENTITY_DEFAULT_DOMAIN,
				    team->name);
				resource_add_dep(r, container);
				resource_add_dep(r, image_addr);
				for (k = 0; k < team->napi_keys; k++) {
					char *env = identity_key_env(
					    team->api_keys[k].provider);

					resource_add_secret(
					    r, env, &team->api_keys[k].secret);
					free(env);
				}
				resource_set_add(out, r);
			}
			free(image);
			free(image_addr);
		}
		free(container);
	}
	cJSON_Delete(digests);
	strbuf_release(&where);
	free(runtimes);
	return rc;
}

/* ---- observation ---- */

/* The label key of a list item (a container, an image), or "". */
static const char *
docker_label(const cJSON *item, const char *key)
{
	const char *v = cJSON_GetStringValue(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(item, "Labels"), key));

	return v != NULL ? v : "";
}

/* "healthy" when running and healthy, else what Docker says: exited,
 * created, restarting, unhealthy, starting, ... From API 1.52 the list
 * says health in Health.Status ("none" without a health check); before,
 * only in its Status text, "Up 3 minutes (healthy)", which 1.52 still
 * writes but documents as for people. */
static const char *
docker_state(const cJSON *item)
{
	const char *state =
	    cJSON_GetStringValue(cJSON_GetObjectItem(item, "State"));
	const char *health = cJSON_GetStringValue(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(item, "Health"), "Status"));
	const char *status =
	    cJSON_GetStringValue(cJSON_GetObjectItem(item, "Status"));

	if (state == NULL)
		return "unknown";
	if (strcmp(state, "running") != 0)
		return state;
	if (health != NULL)
		return strcmp(health, "none") != 0 ? health : "running";
	if (status == NULL)
		return state;
	if (strstr(status, "(healthy)") != NULL)
		return "healthy";
	if (strstr(status, "(unhealthy)") != NULL)
		return "unhealthy";
	if (strstr(status, "(health: starting)") != NULL)
		return "starting";
	return "running"; /* no health check: not a bot getbot made */
}

/* A container of the list, if it is a bot: ours by label, or one with a
 * bot's name (observed as not owned). */
static void
docker_bot_item(
    const struct bots_org *org, const cJSON *item, struct observed_set *out)
{
	static const char *const labelled[] = { "persona", "instructions",
		"model", "runtime", "context", "port" };
	const cJSON *names = cJSON_GetObjectItem(item, "Names");
	const char *name = cJSON_GetStringValue(cJSON_GetArrayItem(names, 0));
	const cJSON *label;
	const char *suffix = "-openclaw-1";
	struct observed *o;
	char *team, *scoped;
	size_t len, i;

	/* ours by label, or a container with a bot's name */
	if (name == NULL)
		return;
	name += name[0] == '/';
	len = strlen(name);
	if (strcmp(docker_label(item, "getbot.managed"), "true") == 0 &&
	    strcmp(docker_label(item, "getbot.org"), org->name) == 0)
		team = xstrdup(docker_label(item, "getbot.team"));
	else if (len > strlen(suffix) &&
		 strcmp(name + len - strlen(suffix), suffix) == 0)
		team = xstrndup(name, len - strlen(suffix));
	else
		return;
	if (!identity_is_dns_label(team)) {
		free(team);
		return;
	}
	scoped = resource_scope_name(org->name, team);
	o = observed_new(&provider_docker, &docker_bot, scoped);
	o->owned = strcmp(docker_label(item, "getbot.managed"), "true") == 0;
	o->org = xstrdup(org->name);
	o->team = team;
	for (i = 0; i < sizeof(labelled) / sizeof(labelled[0]); i++) {
		char *key = xasprintf("getbot.%s", labelled[i]);

		cJSON_AddStringToObject(
		    o->spec, labelled[i], docker_label(item, key));
		free(key);
	}
	cJSON_AddStringToObject(o->spec, "state", docker_state(item));
	cJSON_ArrayForEach (label, cJSON_GetObjectItem(item, "Labels"))
		if (strncmp(label->string, "getbot.secret-fpr.", 18) == 0 &&
		    cJSON_IsString(label))
			cJSON_AddStringToObject(o->fingerprints,
			    label->string + 18, label->valuestring);
	o->handle = cJSON_CreateObject();
	cJSON_AddStringToObject(o->handle, "id",
	    cJSON_GetStringValue(cJSON_GetObjectItem(item, "Id"))
		? cJSON_GetStringValue(cJSON_GetObjectItem(item, "Id"))
		: "");
	free(scoped);
	observed_set_add(out, o);
}

/* An image of the list, if it is ours and bears its runtime's tag. */
static void
docker_image_item(
    const struct bots_org *org, const cJSON *item, struct observed_set *out)
{
	const char *runtime = docker_label(item, "getbot.image.runtime");
	const cJSON *tag;
	struct observed *o;
	char *name, *want;
	bool tagged = false;

	if (strcmp(docker_label(item, "getbot.image.managed"), "true") != 0 ||
	    strcmp(docker_label(item, "getbot.image.org"), org->name) != 0 ||
	    *runtime == '\0')
		return;
	/* the image that bears the tag: an older build of the same
	 * runtime, untagged by a rebuild, keeps the labels too */
	want = xasprintf("%s:%s", DOCKER_IMAGE_REPO, runtime);
	cJSON_ArrayForEach (tag, cJSON_GetObjectItem(item, "RepoTags"))
		tagged |=
		    cJSON_IsString(tag) && strcmp(tag->valuestring, want) == 0;
	free(want);
	if (!tagged)
		return;
	name = docker_image_name(org->name, runtime);
	o = observed_new(&provider_docker, &docker_image, name);
	o->owned = true;
	o->org = xstrdup(org->name);
	cJSON_AddStringToObject(
	    o->spec, "context", docker_label(item, "getbot.image.context"));
	observed_set_add(out, o);
	free(name);
}

/*
 * Is org's container one getbot has not installed Docker into yet (its
 * install failed, or still runs)? Its socket then takes connections that
 * nothing answers. Asked of Incus only when Docker did not answer; false
 * when Incus cannot say. call->err (Docker's failure) is kept.
 */
static bool
docker_not_installed(struct provider_call *call, const char *org)
{
	struct docker_session *s = call->session;
	struct strbuf path = STRBUF_INIT;
	char *why = strbuf_detach(&call->err, NULL);
	cJSON *inst = NULL;
	const char *mark;
	bool missing = false;

	strbuf_addstr(&path, "/1.0/instances/");
	http_add_escaped(&path, org);
	if (docker_incus(call) == PROVIDER_OK &&
	    incus_call(&s->incus, call, "GET", path.buf, NULL, NULL, &inst,
		NULL) == PROVIDER_OK) {
		mark = cJSON_GetStringValue(cJSON_GetObjectItem(
		    cJSON_GetObjectItem(inst, "config"), INCUS_MARK_PROVISION));
		missing = mark == NULL || strcmp(mark, "true") != 0;
	}
	strbuf_reset(&call->err);
	strbuf_addstr(&call->err, why);
	free(why);
	cJSON_Delete(inst);
	strbuf_release(&path);
	return missing;
}

/*
 * One kind's bulk observation: per org container of the target, one GET
 * of path (and the version, once per session), each item of the answer
 * read by read_item. An org whose Docker does not answer (no container
 * yet, or stopped: its proxy's socket stays, and refuses; or Docker not
 * yet installed inside) has nothing observed: its bots are planned for
 * creation, and a create replaces a container of ours that was there
 * after all, keeping its volumes. A daemon that is installed and takes
 * the connection but fails (a timeout, a 5xx) is in trouble, and must
 * not look like one without bots.
 */
static int
docker_observe_orgs(struct provider_call *call, const char *path,
    void (*read_item)(const struct bots_org *org, const cJSON *item,
	struct observed_set *out),
    struct observed_set *out)
{
	struct docker_session *s = call->session;
	const struct bots *bots = call->target->bots;
	size_t o;
	int rc = PROVIDER_OK;

	for (o = 0; o < bots->norgs && rc == PROVIDER_OK; o++) {
		const struct bots_org *org = &bots->orgs[o];
		char prefix[DOCKER_PREFIX_MAX];
		cJSON *list = NULL;
		const cJSON *item;

		if (org->target != call->target ||
		    !docker_listening(&s->docker, org->name))
			continue;
		rc = docker_prefix(&s->docker, call, org->name, false, prefix);
		if (rc == PROVIDER_TRANSIENT && docker_not_installed(call, org->name)) {
			rc = PROVIDER_OK;
			continue;
		}
		if (rc == PROVIDER_OK)
			rc = docker_org_call(
			    call, org->name, "GET", path, NULL, &list);
		cJSON_ArrayForEach (item, list)
			read_item(org, item, out);
		cJSON_Delete(list);
	}
	return rc;
}

/* The bot containers of every org on the target, ours or not. */
static int
docker_bot_observe(struct provider_call *call, struct observed_set *out)
{
	return docker_observe_orgs(
	    call, "/containers/json?all=1", docker_bot_item, out);
}

/* getbot's images in every org on the target. */
static int
docker_image_observe(struct provider_call *call, struct observed_set *out)
{
	return docker_observe_orgs(call,
	    "/images/json?filters=%7B%22label%22%3A%5B%22getbot."
	    "image.managed%3Dtrue%22%5D%7D",
	    docker_image_item, out);
}

/* ---- images ---- */

/* The spec field key of a resource, or "". */
static const char *
docker_spec(const struct resource *r, const char *key)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(r->spec, key));

	return v != NULL ? v : "";
}

/* The runtime of an image resource: what follows "ORG:". */
static const char *
docker_image_runtime(const char *name)
{
	const char *colon = strchr(name, ':');

	return colon != NULL ? colon + 1 : name;
}

/*
 * Build the image: POST /build with the context. The answer is always
 * 200 and a stream of JSON lines; a failure is a line with errorDetail
 * (and, before API 1.52, "error").
 */
static int
docker_image_build(struct provider_call *call, const struct resource *r)
{
	struct docker_session *s = call->session;
	const char *runtime = docker_image_runtime(r->name);
	struct strbuf tar = STRBUF_INIT, path = STRBUF_INIT;
	struct http_request req = { 0 };
	struct http_response resp;
	cJSON *labels = cJSON_CreateObject();
	char prefix[DOCKER_PREFIX_MAX], digest[DOCKER_DIGEST_HEX];
	char *labels_text = NULL, *tag = NULL;
	const char *line, *end;
	int rc;

	/* the daemon first: a new org's dockerd may still be starting */
	rc = docker_prefix(&s->docker, call, r->org, true, prefix);
	if (rc != PROVIDER_OK)
		goto out;
	if (docker_context_tar(
		s->runtime_dir, runtime, &tar, digest, &call->err) != 0) {
		rc = PROVIDER_ERROR;
		goto out;
	}
	/* keys of their own: a container inherits its image's labels, and
	 * must not look like getbot's bot for being made from its image */
	cJSON_AddStringToObject(labels, "getbot.image.managed", "true");
	cJSON_AddStringToObject(labels, "getbot.image.org", r->org);
	cJSON_AddStringToObject(labels, "getbot.image.runtime", runtime);
	cJSON_AddStringToObject(labels, "getbot.image.context", digest);
	labels_text = cJSON_PrintUnformatted(labels);
	tag = xasprintf("%s:%s", DOCKER_IMAGE_REPO, runtime);
	strbuf_addstr(&path, "/build?rm=1&forcerm=1&t=");
	http_add_escaped(&path, tag);
	strbuf_addstr(&path, "&labels=");
	http_add_escaped(&path, labels_text);
	req.method = "POST";
	req.body = tar.buf;
	req.body_len = tar.len;
	req.content_type = "application/x-tar";
	req.timeout_ms = 30 * 60 * 1000L;
	req.max_body = DOCKER_BUILD_MAX;
	provider_step_begin(
	    call, r->address, "building image %s in %s", tag, r->org);
	rc = docker_request(&s->docker, call, r->org, &req, path.buf, &resp);
	for (line = resp.body.buf;
	     rc == PROVIDER_OK && line != NULL && *line != '\0';
	     line = end != NULL ? end + 1 : NULL) {
		cJSON *msg;
		const char *why;

		end = strchr(line, '\n');
		msg = cJSON_ParseWithLength(
		    line, end ? (size_t)(end - line) : strlen(line));
		/* errorDetail in every version; "error" beside it is
		 * deprecated from API 1.48 and gone from 1.52's docs */
		why = cJSON_GetStringValue(cJSON_GetObjectItem(
		    cJSON_GetObjectItem(msg, "errorDetail"), "message"));
		if (why == NULL)
			why = cJSON_GetStringValue(
			    cJSON_GetObjectItem(msg, "error"));
		if (why != NULL) {
			strbuf_addf(&call->err,
			    "org %s: building %s from %s/%s: %s", r->org, tag,
			    s->runtime_dir, runtime, why);
			rc = PROVIDER_ERROR;
		}
		cJSON_Delete(msg);
	}
	provider_step_end(call, rc == PROVIDER_OK);
	http_response_release(&resp);
out:
	cJSON_Delete(labels);
	free(labels_text);
	free(tag);
	strbuf_release(&tar);
	strbuf_release(&path);
	return rc;
}

/* A new build context: the image is built again, under the same tag. */
static int
docker_image_update(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	(void)current;
	return docker_image_build(call, desired);
}

/* Remove getbot's image of the runtime, by its tag; none there is fine. */
static int
docker_image_delete(
    struct provider_call *call, const struct observed *o, bool purge)
{
	char *ref = xasprintf(
	    "%s:%s", DOCKER_IMAGE_REPO, docker_image_runtime(o->name));
	struct strbuf path = STRBUF_INIT;
	int rc;

	(void)purge;
	strbuf_addstr(&path, "/images/");
	http_add_escaped(&path, ref);
	rc = docker_none_is_ok(call,
	    docker_org_call(call, o->org, "DELETE", path.buf, NULL, NULL));
	strbuf_release(&path);
	free(ref);
	return rc;
}

/* ---- bots ---- */

/* A container by name or id: its inspect answer in *out, or NULL when
 * there is none. The caller frees it with docker_wipe_env. */
static int
docker_inspect(
    struct provider_call *call, const char *org, const char *name, cJSON **out)
{
	struct strbuf path = STRBUF_INIT;
	int rc;

	strbuf_addstr(&path, "/containers/");
	http_add_escaped(&path, name);
	strbuf_addstr(&path, "/json");
	rc = docker_none_is_ok(
	    call, docker_org_call(call, org, "GET", path.buf, NULL, out));
	strbuf_release(&path);
	return rc;
}

/* Remove a container by name or id, running or not; none is fine. */
static int
docker_remove_container(
    struct provider_call *call, const char *org, const char *name)
{
	struct strbuf path = STRBUF_INIT;
	int rc;

	strbuf_addstr(&path, "/containers/");
	http_add_escaped(&path, name);
	strbuf_addstr(&path, "?force=1");
	rc = docker_none_is_ok(
	    call, docker_org_call(call, org, "DELETE", path.buf, NULL, NULL));
	strbuf_release(&path);
	return rc;
}

/* Remove a container after a failure, keeping the failure's words. */
static void
docker_remove_quietly(
    struct provider_call *call, const char *org, const char *id)
{
	struct strbuf keep = STRBUF_INIT;

	strbuf_add(&keep, call->err.buf, call->err.len);
	(void)docker_remove_container(call, org, id);
	strbuf_reset(&call->err);
	strbuf_add(&call->err, keep.buf, keep.len);
	strbuf_release(&keep);
}

/*
 * Make way for a container named name: one of ours goes (a create that
 * was cut short, or the bot being recreated); one that is not ours stops
 * the create.
 */
static int
docker_make_way(struct provider_call *call, const char *org, const char *name)
{
	cJSON *found = NULL;
	const char *managed;
	int rc;

	rc = docker_inspect(call, org, name, &found);
	if (rc != PROVIDER_OK || found == NULL)
		return rc;
	managed = cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(found, "Config"), "Labels"),
	    "getbot.managed"));
	if (managed == NULL || strcmp(managed, "true") != 0) {
		strbuf_addf(&call->err,
		    "org %s: a container named %s exists that getbot did not "
		    "make; rename or remove it",
		    org, name);
		rc = PROVIDER_ERROR;
	} else
		rc = docker_remove_container(call, org, name);
	docker_wipe_env(found);
	return rc;
}

/* The bot container's labels: getbot's markers, a label per compared
 * field and secret fingerprint, and compose's own. */
static void
docker_add_labels(cJSON *labels, const struct resource *r)
{
	static const char *const labelled[] = { "persona", "instructions",
		"model", "runtime", "context", "port" };
	char *project = identity_compose_project(r->team);
	char *dir = xasprintf("%s/%s", DOCKER_COMPOSE_DIR, r->team);
	char *file = xasprintf("%s/compose.yaml", dir);
	size_t i;

	cJSON_AddStringToObject(labels, "getbot.managed", "true");
	cJSON_AddStringToObject(labels, "getbot.org", r->org);
	cJSON_AddStringToObject(labels, "getbot.team", r->team);
	for (i = 0; i < sizeof(labelled) / sizeof(labelled[0]); i++) {
		char *key = xasprintf("getbot.%s", labelled[i]);

		cJSON_AddStringToObject(
		    labels, key, docker_spec(r, labelled[i]));
		free(key);
	}
	for (i = 0; i < r->nsecrets; i++) {
		char *key =
		    xasprintf("getbot.secret-fpr.%s", r->secrets[i].name);

		cJSON_AddStringToObject(labels, key, r->secrets[i].fingerprint);
		free(key);
	}
	/* what compose itself sets, so `docker compose ps` shows the bot */
	cJSON_AddStringToObject(labels, "com.docker.compose.project", project);
	cJSON_AddStringToObject(
	    labels, "com.docker.compose.service", "openclaw");
	cJSON_AddStringToObject(
	    labels, "com.docker.compose.container-number", "1");
	cJSON_AddStringToObject(labels, "com.docker.compose.oneoff", "False");
	cJSON_AddStringToObject(
	    labels, "com.docker.compose.project.working_dir", dir);
	cJSON_AddStringToObject(
	    labels, "com.docker.compose.project.config_files", file);
	free(project);
	free(dir);
	free(file);
}

/* The bot's two volumes, mounted at the config and workspace dirs. */
static void
docker_add_mounts(cJSON *host, const char *team)
{
	cJSON *mounts = cJSON_AddArrayToObject(host, "Mounts"), *m;
	char *config = identity_bot_volume(team, "openclaw-config");
	char *workspace = identity_bot_volume(team, "openclaw-workspace");

	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "Type", "volume");
	cJSON_AddStringToObject(m, "Source", config);
	cJSON_AddStringToObject(m, "Target", DOCKER_CONFIG_DIR);
	cJSON_AddItemToArray(mounts, m);
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "Type", "volume");
	cJSON_AddStringToObject(m, "Source", workspace);
	cJSON_AddStringToObject(m, "Target", DOCKER_WORKSPACE_DIR);
	cJSON_AddItemToArray(mounts, m);
	free(config);
	free(workspace);
}

/* The bot's two volumes, labelled as compose labels its own. Creating an
 * existing volume hands it back unchanged. */
static int
docker_volumes(struct provider_call *call, const struct resource *r)
{
	static const char *const volumes[] = { "openclaw-config",
		"openclaw-workspace" };
	int rc = PROVIDER_OK;
	size_t i;

	for (i = 0; i < 2 && rc == PROVIDER_OK; i++) {
		cJSON *body = cJSON_CreateObject(), *labels;
		char *name = identity_bot_volume(r->team, volumes[i]);

		cJSON_AddStringToObject(body, "Name", name);
		labels = cJSON_AddObjectToObject(body, "Labels");
		cJSON_AddStringToObject(labels, "getbot.managed", "true");
		cJSON_AddStringToObject(labels, "getbot.org", r->org);
		cJSON_AddStringToObject(labels, "getbot.team", r->team);
		cJSON_AddStringToObject(
		    labels, "com.docker.compose.project", r->team);
		cJSON_AddStringToObject(
		    labels, "com.docker.compose.volume", volumes[i]);
		rc = docker_org_call(
		    call, r->org, "POST", "/volumes/create", body, NULL);
		cJSON_Delete(body);
		free(name);
	}
	return rc;
}

/* IDENTITY.md: persona and instructions, each under its heading. */
static char *
docker_identity_text(const struct resource *r)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addf(&sb, "# Persona\n\n%s", docker_spec(r, "persona"));
	if (sb.buf[sb.len - 1] != '\n')
		strbuf_addch(&sb, '\n');
	strbuf_addf(
	    &sb, "\n# Instructions\n\n%s", docker_spec(r, "instructions"));
	if (sb.buf[sb.len - 1] != '\n')
		strbuf_addch(&sb, '\n');
	return strbuf_detach(&sb, NULL);
}

/* Run a short root container on the bot's volumes, from its image: the
 * volumes become UID 1000's, and IDENTITY.md (persona and instructions)
 * is written once, when the config volume is new. */
static int
docker_prepare_volumes(struct provider_call *call, const struct resource *r)
{
	static const char script[] =
	    "set -e; cd " DOCKER_CONFIG_DIR "; "
	    "chown 1000:1000 . workspace; "
	    "if [ ! -e IDENTITY.md ]; then "
	    "printf '%s' \"$GETBOT_IDENTITY\" > IDENTITY.md.tmp; "
	    "chown 1000:1000 IDENTITY.md.tmp; mv IDENTITY.md.tmp IDENTITY.md; "
	    "fi";
	char *name = xasprintf("%s-openclaw-prepare", r->team);
	char *image =
	    xasprintf("%s:%s", DOCKER_IMAGE_REPO, docker_spec(r, "runtime"));
	char *identity = docker_identity_text(r);
	char *env_identity = xasprintf("GETBOT_IDENTITY=%s", identity);
	struct strbuf path = STRBUF_INIT;
	cJSON *body = cJSON_CreateObject(), *host, *cmd, *env, *labels;
	cJSON *created = NULL, *waited = NULL;
	const char *id;
	int rc;

	rc = docker_make_way(call, r->org, name);
	if (rc != PROVIDER_OK)
		goto out;
	cJSON_AddStringToObject(body, "Image", image);
	cJSON_AddStringToObject(body, "User", "0:0");
	cmd = cJSON_AddArrayToObject(body, "Entrypoint");
	cJSON_AddItemToArray(cmd, cJSON_CreateString("/bin/sh"));
	cJSON_AddItemToArray(cmd, cJSON_CreateString("-c"));
	cJSON_AddItemToArray(cmd, cJSON_CreateString(script));
	cJSON_AddArrayToObject(body, "Cmd");
	env = cJSON_AddArrayToObject(body, "Env");
	cJSON_AddItemToArray(env, cJSON_CreateString(env_identity));
	labels = cJSON_AddObjectToObject(body, "Labels");
	cJSON_AddStringToObject(labels, "getbot.managed", "true");
	cJSON_AddStringToObject(labels, "getbot.org", r->org);
	cJSON_AddStringToObject(labels, "getbot.role", "prepare");
	host = cJSON_AddObjectToObject(body, "HostConfig");
	docker_add_mounts(host, r->team);
	strbuf_addstr(&path, "/containers/create?name=");
	http_add_escaped(&path, name);
	rc = docker_org_call(call, r->org, "POST", path.buf, body, &created);
	id = cJSON_GetStringValue(cJSON_GetObjectItem(created, "Id"));
	if (rc == PROVIDER_OK && id == NULL) {
		strbuf_addf(&call->err,
		    "org %s: Docker created %s without an Id", r->org, name);
		rc = PROVIDER_ERROR;
	}
	if (rc != PROVIDER_OK)
		goto out;
	strbuf_reset(&path);
	strbuf_addf(&path, "/containers/%s/start", id);
	rc = docker_org_call(call, r->org, "POST", path.buf, NULL, NULL);
	if (rc == PROVIDER_OK) {
		strbuf_reset(&path);
		strbuf_addf(&path, "/containers/%s/wait", id);
		rc = docker_org_call(
		    call, r->org, "POST", path.buf, NULL, &waited);
	}
	if (rc == PROVIDER_OK && cJSON_GetNumberValue(cJSON_GetObjectItem(
				     waited, "StatusCode")) != 0) {
		strbuf_addf(&call->err,
		    "org %s: preparing the volumes of %s in %s exited with "
		    "status %d",
		    r->org, r->team, image,
		    (int)cJSON_GetNumberValue(
			cJSON_GetObjectItem(waited, "StatusCode")));
		rc = PROVIDER_ERROR;
	}
	if (rc == PROVIDER_OK)
		rc = docker_remove_container(call, r->org, id);
	else
		docker_remove_quietly(call, r->org, id);
out:
	cJSON_Delete(body);
	cJSON_Delete(created);
	cJSON_Delete(waited);
	strbuf_release(&path);
	free(name);
	free(image);
	free(identity);
	free(env_identity);
	return rc;
}

/* The container's last health check output, trimmed, for an error. */
static void
docker_add_health_log(struct strbuf *err, const cJSON *inspect)
{
	const cJSON *log = cJSON_GetObjectItem(
	    cJSON_GetObjectItem(
		cJSON_GetObjectItem(inspect, "State"), "Health"),
	    "Log");
	const cJSON *last =
	    cJSON_GetArrayItem(log, cJSON_GetArraySize(log) - 1);
	const char *output =
	    cJSON_GetStringValue(cJSON_GetObjectItem(last, "Output"));
	size_t len;

	if (output == NULL) {
		strbuf_addstr(err, "; no health check has run");
		return;
	}
	len = strlen(output);
	while (len > 0 && (output[len - 1] == '\n' || output[len - 1] == ' '))
		len--;
	strbuf_addf(err, "; last health check (exit %d): %.*s",
	    (int)cJSON_GetNumberValue(cJSON_GetObjectItem(last, "ExitCode")),
	    (int)(len > 500 ? 500 : len), output);
}

/* Wait up to DOCKER_HEALTH_WAIT seconds for the container to be healthy. */
static int
docker_wait_healthy(
    struct provider_call *call, const struct resource *r, const char *id)
{
	time_t deadline = time(NULL) + DOCKER_HEALTH_WAIT;
	cJSON *inspect = NULL;
	const char *status = NULL, *state = NULL;
	int rc;

	provider_step_begin(call, r->address,
	    "waiting for bot %s/%s to turn healthy", r->org, r->team);
	for (;;) {
		docker_wipe_env(inspect);
		inspect = NULL;
		rc = docker_inspect(call, r->org, id, &inspect);
		if (rc != PROVIDER_OK)
			goto out;
		state = cJSON_GetStringValue(cJSON_GetObjectItem(
		    cJSON_GetObjectItem(inspect, "State"), "Status"));
		status = cJSON_GetStringValue(cJSON_GetObjectItem(
		    cJSON_GetObjectItem(
			cJSON_GetObjectItem(inspect, "State"), "Health"),
		    "Status"));
		if (status != NULL && strcmp(status, "healthy") == 0)
			goto out;
		if (time(NULL) >= deadline || inspect == NULL)
			break;
		sleep(1);
	}
	strbuf_addf(&call->err,
	    "org %s: bot %s did not turn healthy within %d s (state %s, "
	    "health %s)",
	    r->org, r->team, DOCKER_HEALTH_WAIT, state ? state : "gone",
	    status ? status : "none");
	docker_add_health_log(&call->err, inspect);
	rc = PROVIDER_ERROR;
out:
	provider_step_end(call, rc == PROVIDER_OK);
	docker_wipe_env(inspect);
	return rc;
}

/* The compose file a human can read (and `docker compose ps` finds): the
 * same container, with the keys as ${NAME} references, never values. */
static char *
docker_compose_text(const struct resource *r)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	strbuf_addf(&sb,
	    "# Rendered by getbot for people to read: what runs as "
	    "%s-openclaw-1.\n"
	    "# getbot manages this bot from bots.yaml; edits here are not "
	    "read,\n"
	    "# and the next apply writes this file again. Keys are not "
	    "stored:\n"
	    "# they appear below as ${NAME}.\n"
	    "name: %s\n"
	    "services:\n"
	    "  openclaw:\n"
	    "    image: %s:%s\n"
	    "    user: \"1000:1000\"\n"
	    "    restart: unless-stopped\n"
	    "    ports: [\"%s:%d\"]\n"
	    "    environment:\n"
	    "      GETBOT_MODEL: \"%s\"\n",
	    r->team, r->team, DOCKER_IMAGE_REPO, docker_spec(r, "runtime"),
	    docker_spec(r, "port"), DOCKER_BOT_PORT, docker_spec(r, "model"));
	for (i = 0; i < r->nsecrets; i++)
		strbuf_addf(&sb, "      %s: ${%s}\n", r->secrets[i].name,
		    r->secrets[i].name);
	strbuf_addf(&sb,
	    "    volumes:\n"
	    "      - openclaw-config:%s\n"
	    "      - openclaw-workspace:%s\n"
	    "    healthcheck:\n"
	    "      test: [\"CMD\", \"wget\", \"-q\", \"-O\", \"/dev/null\", "
	    "\"http://127.0.0.1:%d/healthz\"]\n"
	    "      interval: 2s\n"
	    "      timeout: 2s\n"
	    "      retries: 3\n"
	    "volumes:\n"
	    "  openclaw-config: {}\n"
	    "  openclaw-workspace: {}\n",
	    DOCKER_CONFIG_DIR, DOCKER_WORKSPACE_DIR, DOCKER_BOT_PORT);
	return strbuf_detach(&sb, NULL);
}

/* The bot container, made afresh: its name freed, volumes ensured and
 * prepared, created with its keys, started, and healthy. */
static int
docker_bot_run(struct provider_call *call, const struct resource *r)
{
	char *name = identity_bot_container(r->team);
	char *image =
	    xasprintf("%s:%s", DOCKER_IMAGE_REPO, docker_spec(r, "runtime"));
	char *compose = NULL, *dir = NULL, *file = NULL;
	char port_key[32], *model_env;
	struct strbuf path = STRBUF_INIT;
	cJSON *body = cJSON_CreateObject(), *host, *env, *health, *test;
	cJSON *ports, *bindings, *binding, *created = NULL;
	const char *id;
	size_t i;
	int rc;

	rc = docker_make_way(call, r->org, name);
	if (rc == PROVIDER_OK)
		rc = docker_volumes(call, r);
	if (rc == PROVIDER_OK)
		rc = docker_prepare_volumes(call, r);
	if (rc != PROVIDER_OK)
		goto out;
	snprintf(port_key, sizeof(port_key), "%d/tcp", DOCKER_BOT_PORT);
	cJSON_AddStringToObject(body, "Image", image);
	cJSON_AddStringToObject(body, "User", "1000:1000");
	env = cJSON_AddArrayToObject(body, "Env");
	model_env = xasprintf("GETBOT_MODEL=%s", docker_spec(r, "model"));
	cJSON_AddItemToArray(env, cJSON_CreateString(model_env));
	free(model_env);
	for (i = 0; i < r->nsecrets; i++) {
		const struct secret *v = r->secrets[i].value;
		struct strbuf kv = STRBUF_INIT;

		if (v == NULL) {
			strbuf_addf(&call->err, "%s: %s is not resolved",
			    r->address, r->secrets[i].name);
			rc = PROVIDER_ERROR;
			goto out;
		}
		strbuf_addf(&kv, "%s=", r->secrets[i].name);
		strbuf_add(&kv, v->value, v->len);
		cJSON_AddItemToArray(env, cJSON_CreateString(kv.buf));
		sodium_memzero(kv.buf, kv.len);
		strbuf_release(&kv);
	}
	ports = cJSON_AddObjectToObject(body, "ExposedPorts");
	cJSON_AddObjectToObject(ports, port_key);
	health = cJSON_AddObjectToObject(body, "Healthcheck");
	test = cJSON_AddArrayToObject(health, "Test");
	cJSON_AddItemToArray(test, cJSON_CreateString("CMD"));
	cJSON_AddItemToArray(test, cJSON_CreateString("wget"));
	cJSON_AddItemToArray(test, cJSON_CreateString("-q"));
	cJSON_AddItemToArray(test, cJSON_CreateString("-O"));
	cJSON_AddItemToArray(test, cJSON_CreateString("/dev/null"));
	{
		char *url =
		    xasprintf("http://127.0.0.1:%d/healthz", DOCKER_BOT_PORT);

		cJSON_AddItemToArray(test, cJSON_CreateString(url));
		free(url);
	}
	/* nanoseconds */
	cJSON_AddNumberToObject(health, "Interval", 2e9);
	cJSON_AddNumberToObject(health, "Timeout", 2e9);
	cJSON_AddNumberToObject(health, "Retries", 3);
	docker_add_labels(cJSON_AddObjectToObject(body, "Labels"), r);
	host = cJSON_AddObjectToObject(body, "HostConfig");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(host, "RestartPolicy"),
	    "Name", "unless-stopped");
	bindings = cJSON_AddObjectToObject(host, "PortBindings");
	binding = cJSON_CreateObject();
	cJSON_AddStringToObject(binding, "HostPort", docker_spec(r, "port"));
	cJSON_AddItemToArray(
	    cJSON_AddArrayToObject(bindings, port_key), binding);
	docker_add_mounts(host, r->team);
	strbuf_addstr(&path, "/containers/create?name=");
	http_add_escaped(&path, name);
	rc = docker_org_call(call, r->org, "POST", path.buf, body, &created);
	id = cJSON_GetStringValue(cJSON_GetObjectItem(created, "Id"));
	if (rc == PROVIDER_OK && id == NULL) {
		strbuf_addf(&call->err,
		    "org %s: Docker created %s without an Id", r->org, name);
		rc = PROVIDER_ERROR;
	}
	if (rc != PROVIDER_OK)
		goto out;
	strbuf_reset(&path);
	strbuf_addf(&path, "/containers/%s/start", id);
	rc = docker_org_call(call, r->org, "POST", path.buf, NULL, NULL);
	if (rc == PROVIDER_OK)
		rc = docker_wait_healthy(call, r, id);
	if (rc != PROVIDER_OK) {
		/* a bot that does not run is not left looking made: the
		 * next apply (or a retry) sees it missing and makes it */
		docker_remove_quietly(call, r->org, id);
		goto out;
	}
	compose = docker_compose_text(r);
	dir = xasprintf("%s/%s", DOCKER_COMPOSE_DIR, r->team);
	file = xasprintf("%s/compose.yaml", dir);
	rc = docker_write_org_file(
	    call, r->org, file, compose, strlen(compose), 0644);
out:
	/* the body's Env holds the keys */
	{
		cJSON *item;

		cJSON_ArrayForEach (item, cJSON_GetObjectItem(body, "Env"))
			sodium_memzero(
			    item->valuestring, strlen(item->valuestring));
	}
	cJSON_Delete(body);
	cJSON_Delete(created);
	strbuf_release(&path);
	free(name);
	free(image);
	free(compose);
	free(dir);
	free(file);
	return rc;
}

/* Only "state" differs, and a start is what it takes (the container was
 * stopped, or is starting): no need to make it again. */
static bool
docker_just_start(const struct resource *desired, const struct observed *cur)
{
	const cJSON *field;
	const char *state;

	cJSON_ArrayForEach (field, desired->spec) {
		const char *want = cJSON_GetStringValue(field);
		const char *have = cJSON_GetStringValue(
		    cJSON_GetObjectItem(cur->spec, field->string));

		if (strcmp(field->string, "state") == 0)
			continue;
		if (want == NULL || have == NULL || strcmp(want, have) != 0)
			return false;
	}
	state = cJSON_GetStringValue(cJSON_GetObjectItem(cur->spec, "state"));
	return state != NULL &&
	       (strcmp(state, "exited") == 0 || strcmp(state, "created") == 0 ||
		   strcmp(state, "starting") == 0);
}

/* A changed field: a bot that only needs starting is started, any other
 * change makes the container again (the volumes stay). */
static int
docker_bot_update(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	const char *id;
	struct strbuf path = STRBUF_INIT;
	int rc;

	if (!docker_just_start(desired, current))
		return docker_bot_run(call, desired);
	id = cJSON_GetStringValue(cJSON_GetObjectItem(current->handle, "id"));
	strbuf_addf(&path, "/containers/%s/start", id ? id : "");
	rc = docker_org_call(call, desired->org, "POST", path.buf, NULL, NULL);
	if (rc != PROVIDER_OK && docker_failed_with(call, 304)) {
		strbuf_reset(&call->err);
		rc = PROVIDER_OK;
	}
	if (rc == PROVIDER_OK)
		rc = docker_wait_healthy(call, desired, id ? id : "");
	strbuf_release(&path);
	return rc;
}

/* A new key: the container is made again with it; the volumes stay. */
static int
docker_bot_update_secret(struct provider_call *call,
    const struct resource *desired, const struct observed *current)
{
	(void)current;
	return docker_bot_run(call, desired);
}

/* The bot's container, its volumes when purge, and its compose file. */
static int
docker_bot_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	static const char *const volumes[] = { "openclaw-config",
		"openclaw-workspace" };
	const char *id;
	char *name, *file;
	size_t i;
	int rc;

	/* by its id: whatever holds the name now may not be ours */
	id = cJSON_GetStringValue(cJSON_GetObjectItem(current->handle, "id"));
	if (id != NULL && *id != '\0')
		rc = docker_remove_container(call, current->org, id);
	else {
		name = identity_bot_container(current->team);
		rc = docker_remove_container(call, current->org, name);
		free(name);
	}
	for (i = 0; purge && i < 2 && rc == PROVIDER_OK; i++) {
		struct strbuf path = STRBUF_INIT;
		char *volume = identity_bot_volume(current->team, volumes[i]);

		strbuf_addstr(&path, "/volumes/");
		http_add_escaped(&path, volume);
		rc = docker_none_is_ok(
		    call, docker_org_call(call, current->org, "DELETE",
			      path.buf, NULL, NULL));
		strbuf_release(&path);
		free(volume);
	}
	if (rc == PROVIDER_OK) {
		file = xasprintf(
		    "%s/%s/compose.yaml", DOCKER_COMPOSE_DIR, current->team);
		rc =
		    docker_write_org_file(call, current->org, file, NULL, 0, 0);
		free(file);
	}
	return rc;
}

/* ---- the kinds ---- */

static const struct field_def docker_image_fields[] = {
	{ "context", FIELD_INPLACE },
	{ NULL, 0 },
};

static const struct field_def docker_bot_fields[] = {
	{ "persona", FIELD_IMMUTABLE },
	{ "instructions", FIELD_IMMUTABLE },
	{ "model", FIELD_SECRET },
	{ "runtime", FIELD_INPLACE },
	{ "context", FIELD_INPLACE },
	{ "port", FIELD_INPLACE },
	{ "state", FIELD_INPLACE },
	{ NULL, 0 },
};

static const struct resource_kind docker_image = {
	.name = "image",
	.fields = docker_image_fields,
	.lost_on_replace = NULL,
	.order = 2,
	.observe = docker_image_observe,
	.create = docker_image_build,
	.update = docker_image_update,
	.delete = docker_image_delete,
};

static const struct resource_kind docker_bot = {
	.name = "bot",
	.fields = docker_bot_fields,
	.lost_on_replace = "the bot's volumes openclaw-config and "
			   "openclaw-workspace (its memory and files)",
	.order = 3,
	.observe = docker_bot_observe,
	.create = docker_bot_run,
	.update = docker_bot_update,
	.update_secret = docker_bot_update_secret,
	.delete = docker_bot_delete,
};

static const struct resource_kind *const docker_kinds[] = { &docker_image,
	&docker_bot, NULL };

const struct provider provider_docker = {
	.name = "docker",
	.target_kind = "incus",
	.server = true,
	.kinds = docker_kinds,
	.max_concurrency = 4,
	.max_rate = 0,
	.burst = 0,
	.open = docker_open,
	.close = docker_close,
	.expand = docker_expand,
};
