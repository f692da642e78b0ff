/*
 * The incus provider: the server's bridge network and one container per
 * org, through the Incus REST API on its unix socket (LXD 5.0 speaks the
 * same API and stands in for it in tests). Everything it makes carries
 * user.getbot.* keys; what lacks them is observed as not owned and never
 * touched.
 *
 *   incus.network.getbot-br0   10.199.0.0/24 with NAT, shared by the orgs
 *   incus.container.ORG        security.nesting, limits, a NIC on the
 *                              bridge, and a proxy device that exposes the
 *                              org's Docker socket on the host at
 *                              /run/getbot/docker-ORG.sock
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provider-incus.h"
#include "http.h"
#include "xmalloc.h"

#define INCUS_NETWORK         "getbot-br0"
#define INCUS_NETWORK_ADDRESS "10.199.0.1/24"
#define INCUS_SOCKET_DIR      "/run/getbot"
#define INCUS_WAIT_SECONDS    120
#define INCUS_MAX_BODY        (32u << 20) /* the instance list of a big server */
#define INCUS_MARK            "user.getbot.managed"
#define INCUS_MARK_ORG        "user.getbot.org"
#define INCUS_MARK_IMAGE      "user.getbot.image"
#define INCUS_MARK_PROFILES   "user.getbot.profiles"
#define INCUS_MARK_PROVISION  "user.getbot.provisioned"

static const struct field_def incus_network_fields[] = {
	{ "ipv4.address", FIELD_INPLACE },
	{ "ipv4.nat", FIELD_INPLACE },
	{ "ipv6.address", FIELD_INPLACE },
	{ NULL, 0 },
};

static const struct field_def incus_container_fields[] = {
	{ "image", FIELD_IMMUTABLE },
	{ "profiles", FIELD_INPLACE },
	{ "limits.cpu", FIELD_INPLACE },
	{ "limits.memory", FIELD_INPLACE },
	{ "status", FIELD_INPLACE },
	{ "provisioned", FIELD_INPLACE },
	{ NULL, 0 },
};

static const struct resource_kind incus_network = {
	.name = "network",
	.fields = incus_network_fields,
	.lost_on_replace = NULL,
	.order = 0,
};
static const struct resource_kind incus_container = {
	.name = "container",
	.fields = incus_container_fields,
	.lost_on_replace = "the org's container with its Docker, images and every bot's volumes",
	.order = 1,
};

static const struct resource_kind *const incus_kinds[] = { &incus_network,
	&incus_container, NULL };

struct incus_session {
	char *socket;
	bool lxd; /* the server is LXD, not Incus */
};

/* The first of the usual sockets that exists ($INCUS_SOCKET first). */
static char *
incus_find_socket(void)
{
	static const char *const paths[] = { "/run/incus/unix.socket",
		"/var/lib/incus/unix.socket", "/var/lib/lxd/unix.socket" };
	const char *env = getenv("INCUS_SOCKET");
	size_t i;

	if (env != NULL && *env != '\0')
		return xstrdup(env);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], F_OK) == 0)
			return xstrdup(paths[i]);
	return xstrdup(paths[0]);
}

/*
 * Send one request to the daemon. A status of Incus' 500 is its answer to
 * a request it will not do (a duplicate name, a missing image), so it is
 * not retried; an unreachable socket names the socket.
 */
static int
incus_send(struct incus_session *s, const char *method, const char *path,
    const char *json, const char *if_match, struct http_response *resp,
    struct strbuf *err)
{
	char *url = xasprintf("http://incus%s", path);
	struct http_request req = { 0 };
	int rc;

	req.method = method;
	req.url = url;
	req.json = json;
	req.if_match = if_match;
	req.unix_socket = s->socket;
	req.timeout_ms = (INCUS_WAIT_SECONDS + 30) * 1000L;
	req.max_body = INCUS_MAX_BODY;
	http_response_init(resp);
	rc = http_request(&req, resp, err);
	if (rc == PROVIDER_TRANSIENT && resp->status == 0) {
		/* curl's words ("METHOD PATH: why"), with the socket named */
		char *why = strbuf_detach(err, NULL);

		strbuf_addf(err, "cannot reach %s: %s", s->socket, why);
		free(why);
	} else if (rc == PROVIDER_TRANSIENT && resp->status == 500)
		rc = PROVIDER_ERROR;
	else if (resp->status == 412) /* changed since read: read again */
		rc = PROVIDER_TRANSIENT;
	free(url);
	return rc;
}

/* An error envelope's own words, or the status. */
static void
incus_error_text(const struct http_response *resp, struct strbuf *err)
{
	const char *message =
	    cJSON_GetStringValue(cJSON_GetObjectItem(resp->json, "error"));

	if (message != NULL && *message != '\0')
		strbuf_addstr(err, message);
	else
		strbuf_addf(err, "HTTP %ld", resp->status);
}

/*
 * Wait for an operation and hand back its metadata. The wait answer is a
 * sync envelope whose metadata is the operation (new Incus: failure is
 * metadata.status_code 400 with err) or, on Incus <= 6.0.4 and LXD, an
 * error envelope inside HTTP 200.
 */
static int
incus_wait(struct incus_session *s, const char *operation, cJSON **metadata,
    struct strbuf *err)
{
	struct http_response resp;
	char *path =
	    xasprintf("%s/wait?timeout=%d", operation, INCUS_WAIT_SECONDS);
	const char *type;
	const cJSON *md;
	int rc;

	rc = incus_send(s, "GET", path, NULL, NULL, &resp, err);
	free(path);
	if (rc != PROVIDER_OK)
		goto out;
	type = cJSON_GetStringValue(cJSON_GetObjectItem(resp.json, "type"));
	md = cJSON_GetObjectItem(resp.json, "metadata");
	if ((type != NULL && strcmp(type, "error") == 0) ||
	    !cJSON_IsObject(md)) {
		incus_error_text(&resp, err);
		rc = PROVIDER_ERROR;
		goto out;
	}
	if (cJSON_GetNumberValue(cJSON_GetObjectItem(md, "status_code")) !=
	    200) {
		const char *why =
		    cJSON_GetStringValue(cJSON_GetObjectItem(md, "err"));

		strbuf_addstr(
		    err, why != NULL && *why ? why : "operation failed");
		rc = PROVIDER_ERROR;
		goto out;
	}
	if (metadata != NULL)
		*metadata = cJSON_Duplicate(md, true);
	rc = PROVIDER_OK;
out:
	http_response_release(&resp);
	return rc;
}

/*
 * One API call: sync answers give their metadata, async ones are waited
 * for (their operation's metadata), errors give the remote's words.
 */
static int
incus_call_etag(struct provider_call *call, const char *method,
    const char *path, const cJSON *body, const char *if_match,
    cJSON **metadata, char **etag)
{
	struct incus_session *s = call->session;
	struct http_response resp;
	char *text = body != NULL ? cJSON_PrintUnformatted(body) : NULL;
	const char *type;
	int rc;

	if (metadata != NULL)
		*metadata = NULL;
	provider_throttle(call);
	rc = incus_send(s, method, path, text, if_match, &resp, &call->err);
	free(text);
	if (rc != PROVIDER_OK)
		goto out;
	if (etag != NULL && resp.etag != NULL)
		*etag = xstrdup(resp.etag);
	type = cJSON_GetStringValue(cJSON_GetObjectItem(resp.json, "type"));
	if (type != NULL && strcmp(type, "async") == 0) {
		const char *op = cJSON_GetStringValue(
		    cJSON_GetObjectItem(resp.json, "operation"));

		if (op == NULL) {
			strbuf_addf(&call->err,
			    "%s %s: no operation in an async answer", method,
			    path);
			rc = PROVIDER_ERROR;
		} else
			rc = incus_wait(s, op, metadata, &call->err);
	} else if (metadata != NULL)
		*metadata = cJSON_Duplicate(
		    cJSON_GetObjectItem(resp.json, "metadata"), true);
out:
	http_response_release(&resp);
	return rc;
}

static int
incus_call(struct provider_call *call, const char *method, const char *path,
    const cJSON *body, cJSON **metadata)
{
	return incus_call_etag(call, method, path, body, NULL, metadata, NULL);
}

static int
incus_open(const struct bots_target *target, struct conn *conn,
    const char *base_dir,
    void **session, struct strbuf *err)
{
	struct incus_session *s = xcalloc(1, sizeof(*s));
	struct provider_call call = { .session = s, .err = STRBUF_INIT };
	cJSON *server = NULL;
	const char *kind;
	int rc;

	(void)base_dir;
	*session = NULL;
	if (target->server.connect == NULL || strcmp(target->server.connect, "local") != 0) {
		strbuf_addf(err,
		    "target '%s': connect: %s is not supported yet; this "
		    "getbot "
		    "manages a server it runs on (connect: local)",
		    target->name, target->server.connect ? target->server.connect : "(none)");
		free(s);
		return -1;
	}
	s->socket = incus_find_socket();
	rc = incus_call(&call, "GET", "/1.0", NULL, &server);
	if (rc != PROVIDER_OK) {
		strbuf_addf(err, "target '%s': %s", target->name, call.err.buf);
		strbuf_release(&call.err);
		free(s->socket);
		free(s);
		return -1;
	}
	kind = cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(server, "environment"), "server"));
	s->lxd = kind != NULL && strcmp(kind, "lxd") == 0;
	cJSON_Delete(server);
	strbuf_release(&call.err);
	*session = s;
	return 0;
}

static void
incus_close(void *session)
{
	struct incus_session *s = session;

	if (s == NULL)
		return;
	free(s->socket);
	free(s);
}

static char *
incus_profiles_text(const struct bots_target *target)
{
	struct strbuf sb = STRBUF_INIT;
	const struct node *list = target->server.profiles;
	size_t i;

	for (i = 0;
	     list != NULL && list->kind == NODE_SEQUENCE && i < list->nitems;
	     i++)
		strbuf_addf(&sb, "%s%s", i ? "," : "",
		    node_str(list->items[i]) ? node_str(list->items[i]) : "");
	return strbuf_detach(&sb, NULL);
}

static int
incus_expand(const struct bots *bots, const struct bots_target *target,
    struct resource_set *out, struct strbuf *err)
{
	const struct provider *self = &provider_incus;
	struct resource *net, *r;
	cJSON *spec;
	size_t o;

	(void)err;
	spec = cJSON_CreateObject();
	cJSON_AddStringToObject(spec, "ipv4.address", INCUS_NETWORK_ADDRESS);
	cJSON_AddStringToObject(spec, "ipv4.nat", "true");
	cJSON_AddStringToObject(spec, "ipv6.address", "none");
	net =
	    resource_new(self, &incus_network, INCUS_NETWORK, NULL, NULL, spec);
	net->target = target;
	resource_set_add(out, net);
	for (o = 0; o < bots->norgs; o++) {
		const struct bots_org *org = &bots->orgs[o];
		char *profiles, *number;

		if (org->target != target)
			continue;
		spec = cJSON_CreateObject();
		cJSON_AddStringToObject(spec, "image", target->server.image);
		profiles = incus_profiles_text(target);
		cJSON_AddStringToObject(spec, "profiles", profiles);
		free(profiles);
		if (org->cpu > 0) {
			number = xasprintf("%ld", org->cpu);
			cJSON_AddStringToObject(spec, "limits.cpu", number);
			free(number);
		} else
			cJSON_AddStringToObject(spec, "limits.cpu", "");
		cJSON_AddStringToObject(spec, "limits.memory",
		    org->memory != NULL ? org->memory : "");
		cJSON_AddStringToObject(spec, "status", "Running");
		cJSON_AddStringToObject(spec, "provisioned", "true");
		/* the container is named as identity_container_name() says:
		 * the org's name */
		r = resource_new(
		    self, &incus_container, org->name, org->name, NULL, spec);
		r->target = target;
		resource_add_dep(r, net->address);
		resource_set_add(out, r);
	}
	return 0;
}

static const char *
incus_config(const cJSON *item, const char *key)
{
	const char *v = cJSON_GetStringValue(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(item, "config"), key));

	return v != NULL ? v : "";
}

static int
incus_observe(struct provider_call *call, const struct bots_target *target,
    struct observed_set *out)
{
	cJSON *networks = NULL, *instances = NULL;
	const cJSON *item;
	int rc;

	(void)target;
	/* two bulk calls: every network, every instance */
	rc = incus_call(
	    call, "GET", "/1.0/networks?recursion=1", NULL, &networks);
	if (rc == PROVIDER_OK)
		rc = incus_call(call, "GET", "/1.0/instances?recursion=1", NULL,
		    &instances);
	if (rc != PROVIDER_OK)
		goto out;
	cJSON_ArrayForEach (item, networks) {
		const char *name =
		    cJSON_GetStringValue(cJSON_GetObjectItem(item, "name"));
		struct observed *o;
		size_t f;

		if (name == NULL || strcmp(name, INCUS_NETWORK) != 0)
			continue;
		o = observed_new(&provider_incus, &incus_network, name);
		o->owned = strcmp(incus_config(item, INCUS_MARK), "true") == 0;
		for (f = 0; incus_network_fields[f].name != NULL; f++)
			cJSON_AddStringToObject(o->spec,
			    incus_network_fields[f].name,
			    incus_config(item, incus_network_fields[f].name));
		observed_set_add(out, o);
	}
	cJSON_ArrayForEach (item, instances) {
		const char *name =
		    cJSON_GetStringValue(cJSON_GetObjectItem(item, "name"));
		const char *status =
		    cJSON_GetStringValue(cJSON_GetObjectItem(item, "status"));
		struct observed *o;

		if (name == NULL)
			continue;
		o = observed_new(&provider_incus, &incus_container, name);
		o->owned = strcmp(incus_config(item, INCUS_MARK), "true") == 0;
		if (o->owned)
			o->org = xstrdup(incus_config(item, INCUS_MARK_ORG));
		cJSON_AddStringToObject(
		    o->spec, "image", incus_config(item, INCUS_MARK_IMAGE));
		cJSON_AddStringToObject(o->spec, "profiles",
		    incus_config(item, INCUS_MARK_PROFILES));
		cJSON_AddStringToObject(
		    o->spec, "limits.cpu", incus_config(item, "limits.cpu"));
		cJSON_AddStringToObject(o->spec, "limits.memory",
		    incus_config(item, "limits.memory"));
		cJSON_AddStringToObject(
		    o->spec, "status", status != NULL ? status : "");
		cJSON_AddStringToObject(o->spec, "provisioned",
		    strcmp(incus_config(item, INCUS_MARK_PROVISION), "true") == 0
			? "true"
			: "false");
		observed_set_add(out, o);
	}
out:
	cJSON_Delete(networks);
	cJSON_Delete(instances);
	return rc;
}

static const char *
incus_spec(const struct resource *r, const char *key)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(r->spec, key));

	return v != NULL ? v : "";
}

/* Add limits to config, leaving out the unset ones. */
static void
incus_add_limits(cJSON *config, const struct resource *r)
{
	if (*incus_spec(r, "limits.cpu") != '\0')
		cJSON_AddStringToObject(
		    config, "limits.cpu", incus_spec(r, "limits.cpu"));
	if (*incus_spec(r, "limits.memory") != '\0')
		cJSON_AddStringToObject(
		    config, "limits.memory", incus_spec(r, "limits.memory"));
}

static int incus_set_state(
    struct provider_call *call, const char *name, const char *action);

static int
incus_create_network(struct provider_call *call, const struct resource *r)
{
	cJSON *body = cJSON_CreateObject(), *config;
	int rc;

	cJSON_AddStringToObject(body, "name", r->name);
	cJSON_AddStringToObject(body, "type", "bridge");
	config = cJSON_AddObjectToObject(body, "config");
	cJSON_AddStringToObject(
	    config, "ipv4.address", incus_spec(r, "ipv4.address"));
	cJSON_AddStringToObject(config, "ipv4.nat", incus_spec(r, "ipv4.nat"));
	cJSON_AddStringToObject(
	    config, "ipv6.address", incus_spec(r, "ipv6.address"));
	cJSON_AddStringToObject(config, INCUS_MARK, "true");
	rc = incus_call(call, "POST", "/1.0/networks", body, NULL);
	cJSON_Delete(body);
	return rc;
}

/* The host directory the Docker proxy sockets live in. */
static int
incus_socket_dir(struct provider_call *call)
{
	if (mkdir(INCUS_SOCKET_DIR, 0750) != 0 && errno != EEXIST) {
		strbuf_addf(&call->err, "cannot create %s: %s",
		    INCUS_SOCKET_DIR, strerror(errno));
		return PROVIDER_ERROR;
	}
	return PROVIDER_OK;
}

/*
 * What an org container needs inside, added only where missing: Docker
 * (apt-get, once the container's network is up), with bounded logs.
 * Through the exec API; the command's status decides.
 */
static int
incus_provision(struct provider_call *call, const char *name)
{
	static const char script[] =
	    "set -e\n"
	    "if [ ! -e /etc/docker/daemon.json ]; then\n"
	    "  mkdir -p /etc/docker\n"
	    "  printf '%s\\n' '{\"log-driver\": \"local\"}' "
	    ">/etc/docker/daemon.json\n"
	    "fi\n"
	    "if ! command -v dockerd >/dev/null 2>&1; then\n"
	    "  i=0; until getent hosts deb.debian.org >/dev/null 2>&1; do\n"
	    "    i=$((i + 1)); [ $i -lt 60 ] || { echo 'no network' >&2; "
	    "exit 1; }; sleep 1; done\n"
	    "  apt-get update -q\n"
	    "  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
	    "-o DPkg::Lock::Timeout=120 --no-install-recommends docker.io\n"
	    "fi\n";
	cJSON *body = cJSON_CreateObject(), *cmd, *md = NULL;
	struct strbuf path = STRBUF_INIT;
	const cJSON *ret;
	int rc;

	cmd = cJSON_AddArrayToObject(body, "command");
	cJSON_AddItemToArray(cmd, cJSON_CreateString("/bin/sh"));
	cJSON_AddItemToArray(cmd, cJSON_CreateString("-c"));
	cJSON_AddItemToArray(cmd, cJSON_CreateString(script));
	cJSON_AddBoolToObject(body, "wait-for-websocket", false);
	cJSON_AddBoolToObject(body, "interactive", false);
	cJSON_AddBoolToObject(body, "record-output", false);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "environment"),
	    "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	strbuf_addstr(&path, "/1.0/instances/");
	http_add_escaped(&path, name);
	strbuf_addstr(&path, "/exec");
	rc = incus_call(call, "POST", path.buf, body, &md);
	ret = cJSON_GetObjectItem(cJSON_GetObjectItem(md, "metadata"), "return");
	if (rc == PROVIDER_OK && (!cJSON_IsNumber(ret) || ret->valueint != 0)) {
		strbuf_addf(&call->err,
		    "container %s: installing Docker inside failed (exit %d); "
		    "the container needs network access to Debian's mirrors",
		    name, cJSON_IsNumber(ret) ? ret->valueint : -1);
		rc = PROVIDER_ERROR;
	}
	cJSON_Delete(md);
	cJSON_Delete(body);
	if (rc == PROVIDER_OK) {
		/* marked only once it worked: a failure is retried by the
		 * next apply, as an update */
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "config"),
		    INCUS_MARK_PROVISION, "true");
		strbuf_setlen(&path, path.len - strlen("/exec"));
		rc = incus_call(call, "PATCH", path.buf, body, NULL);
		cJSON_Delete(body);
	}
	strbuf_release(&path);
	return rc;
}

static int
incus_create_container(struct provider_call *call, const struct resource *r)
{
	cJSON *body = cJSON_CreateObject(), *config, *devices, *dev, *source;
	cJSON *profiles;
	char *sock = incus_docker_socket(r->name);
	char *listen = xasprintf("unix:%s", sock);
	const char *list = incus_spec(r, "profiles");
	int rc;

	rc = incus_socket_dir(call);
	if (rc != PROVIDER_OK)
		goto out;
	cJSON_AddStringToObject(body, "name", r->name);
	cJSON_AddStringToObject(body, "type", "container");
	source = cJSON_AddObjectToObject(body, "source");
	cJSON_AddStringToObject(source, "type", "image");
	cJSON_AddStringToObject(source, "alias", incus_spec(r, "image"));
	profiles = cJSON_AddArrayToObject(body, "profiles");
	cJSON_AddItemToArray(profiles, cJSON_CreateString("default"));
	while (*list != '\0') {
		size_t len = strcspn(list, ",");
		char *name = xstrndup(list, len);

		cJSON_AddItemToArray(profiles, cJSON_CreateString(name));
		free(name);
		list += len + (list[len] == ',');
	}
	config = cJSON_AddObjectToObject(body, "config");
	cJSON_AddStringToObject(config, "security.nesting", "true");
	incus_add_limits(config, r);
	cJSON_AddStringToObject(config, INCUS_MARK, "true");
	cJSON_AddStringToObject(config, INCUS_MARK_ORG, r->org);
	cJSON_AddStringToObject(
	    config, INCUS_MARK_IMAGE, incus_spec(r, "image"));
	cJSON_AddStringToObject(
	    config, INCUS_MARK_PROFILES, incus_spec(r, "profiles"));
	devices = cJSON_AddObjectToObject(body, "devices");
	dev = cJSON_AddObjectToObject(devices, "eth0");
	cJSON_AddStringToObject(dev, "type", "nic");
	cJSON_AddStringToObject(dev, "network", INCUS_NETWORK);
	cJSON_AddStringToObject(dev, "name", "eth0");
	/* the orgs share the bridge: one org's container must not reach
	 * another's bots except through Caddy, on the host */
	cJSON_AddStringToObject(dev, "security.port_isolation", "true");
	dev = cJSON_AddObjectToObject(devices, "docker");
	cJSON_AddStringToObject(dev, "type", "proxy");
	cJSON_AddStringToObject(dev, "listen", listen);
	cJSON_AddStringToObject(dev, "connect", "unix:/var/run/docker.sock");
	cJSON_AddStringToObject(dev, "bind", "host");
	cJSON_AddStringToObject(dev, "mode", "0660");
	rc = incus_call(call, "POST", "/1.0/instances", body, NULL);
	/* started apart: LXD 5.0 lacks "start" in the create request */
	if (rc == PROVIDER_OK)
		rc = incus_set_state(call, r->name, "start");
	if (rc == PROVIDER_OK)
		rc = incus_provision(call, r->name);
out:
	cJSON_Delete(body);
	free(listen);
	free(sock);
	return rc;
}

static int
incus_create(struct provider_call *call, const struct resource *desired)
{
	if (desired->kind == &incus_network)
		return incus_create_network(call, desired);
	return incus_create_container(call, desired);
}

static int
incus_set_state(
    struct provider_call *call, const char *name, const char *action)
{
	cJSON *body = cJSON_CreateObject();
	struct strbuf path = STRBUF_INIT;
	int rc;

	strbuf_addstr(&path, "/1.0/instances/");
	http_add_escaped(&path, name);
	strbuf_addstr(&path, "/state");
	cJSON_AddStringToObject(body, "action", action);
	cJSON_AddNumberToObject(body, "timeout", 30);
	cJSON_AddBoolToObject(body, "force", strcmp(action, "stop") == 0);
	rc = incus_call(call, "PUT", path.buf, body, NULL);
	cJSON_Delete(body);
	strbuf_release(&path);
	return rc;
}

static int
incus_update(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	cJSON *body = cJSON_CreateObject(), *config;
	struct strbuf path = STRBUF_INIT;
	const char *status, *provisioned;
	char *etag = NULL;
	int rc;

	config = cJSON_AddObjectToObject(body, "config");
	if (desired->kind == &incus_network) {
		strbuf_addstr(&path, "/1.0/networks/");
		cJSON_AddStringToObject(config, "ipv4.address",
		    incus_spec(desired, "ipv4.address"));
		cJSON_AddStringToObject(
		    config, "ipv4.nat", incus_spec(desired, "ipv4.nat"));
		cJSON_AddStringToObject(config, "ipv6.address",
		    incus_spec(desired, "ipv6.address"));
	} else {
		strbuf_addstr(&path, "/1.0/instances/");
		incus_add_limits(config, desired);
	}
	http_add_escaped(&path, desired->name);
	/* what it is now, and its ETag: a change made since is not
	 * overwritten (412, read again on the retry) */
	rc = incus_call_etag(call, "GET", path.buf, NULL, NULL, NULL, &etag);
	if (rc == PROVIDER_OK)
		rc = incus_call_etag(
		    call, "PATCH", path.buf, body, etag, NULL, NULL);
	free(etag);
	status =
	    cJSON_GetStringValue(cJSON_GetObjectItem(current->spec, "status"));
	if (rc == PROVIDER_OK && desired->kind == &incus_container &&
	    (status == NULL || strcmp(status, "Running") != 0))
		rc = incus_set_state(call, desired->name, "start");
	provisioned = cJSON_GetStringValue(
	    cJSON_GetObjectItem(current->spec, "provisioned"));
	if (rc == PROVIDER_OK && desired->kind == &incus_container &&
	    (provisioned == NULL || strcmp(provisioned, "true") != 0))
		rc = incus_provision(call, desired->name);
	cJSON_Delete(body);
	strbuf_release(&path);
	return rc;
}

static int
incus_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	struct strbuf path = STRBUF_INIT;
	const char *status;
	int rc = PROVIDER_OK;

	(void)purge; /* a container holds the org's data: it goes whole */
	if (current->kind == &incus_network)
		strbuf_addstr(&path, "/1.0/networks/");
	else {
		strbuf_addstr(&path, "/1.0/instances/");
		status = cJSON_GetStringValue(
		    cJSON_GetObjectItem(current->spec, "status"));
		if (status != NULL && strcmp(status, "Stopped") != 0)
			rc = incus_set_state(call, current->name, "stop");
	}
	http_add_escaped(&path, current->name);
	if (rc == PROVIDER_OK)
		rc = incus_call(call, "DELETE", path.buf, NULL, NULL);
	if (rc == PROVIDER_OK && current->kind == &incus_container) {
		/* LXD leaves the host end of a proxy device behind */
		char *sock = incus_docker_socket(current->name);

		if (unlink(sock) != 0 && errno != ENOENT) {
			strbuf_addf(&call->err, "cannot remove %s: %s", sock,
			    strerror(errno));
			rc = PROVIDER_ERROR;
		}
		free(sock);
	}
	strbuf_release(&path);
	return rc;
}

char *
incus_docker_socket(const char *org)
{
	return xasprintf("%s/docker-%s.sock", INCUS_SOCKET_DIR, org);
}

/* One request of the files API: Incus reads X-Incus-*, LXD X-LXD-*; each
 * ignores the other's. */
static int
incus_files_request(struct incus_session *s, const char *method,
    const char *instance, const char *path, const char *type,
    const char *data, size_t len, unsigned mode, struct strbuf *err)
{
	struct strbuf url = STRBUF_INIT, mode_lxd = STRBUF_INIT,
		      mode_incus = STRBUF_INIT, type_lxd = STRBUF_INIT,
		      type_incus = STRBUF_INIT;
	const char *headers[9] = { NULL };
	struct http_request req = { 0 };
	struct http_response resp;
	int rc;

	strbuf_addstr(&url, "http://incus/1.0/instances/");
	http_add_escaped(&url, instance);
	strbuf_addstr(&url, "/files?path=");
	http_add_escaped(&url, path);
	strbuf_addf(&mode_lxd, "X-LXD-mode: %04o", mode);
	strbuf_addf(&mode_incus, "X-Incus-mode: %04o", mode);
	strbuf_addf(&type_lxd, "X-LXD-type: %s", type);
	strbuf_addf(&type_incus, "X-Incus-type: %s", type);
	if (strcmp(method, "POST") == 0) {
		headers[0] = mode_lxd.buf;
		headers[1] = mode_incus.buf;
		headers[2] = type_lxd.buf;
		headers[3] = type_incus.buf;
		headers[4] = "X-LXD-uid: 0";
		headers[5] = "X-Incus-uid: 0";
		headers[6] = "X-LXD-gid: 0";
		headers[7] = "X-Incus-gid: 0";
	}
	req.method = method;
	req.url = url.buf;
	req.headers = headers;
	req.unix_socket = s->socket;
	req.timeout_ms = 60 * 1000L;
	req.body = data != NULL ? data : "";
	req.body_len = data != NULL ? len : 0;
	req.content_type = "application/octet-stream";
	if (strcmp(method, "DELETE") == 0)
		req.body = NULL;
	http_response_init(&resp);
	rc = http_request(&req, &resp, err);
	if (rc == PROVIDER_TRANSIENT && resp.status == 500)
		rc = PROVIDER_ERROR;
	http_response_release(&resp);
	strbuf_release(&url);
	strbuf_release(&mode_lxd);
	strbuf_release(&mode_incus);
	strbuf_release(&type_lxd);
	strbuf_release(&type_incus);
	return rc;
}

int
incus_write_file(struct provider_call *call, const char *instance,
    const char *path, const char *data, size_t len, unsigned mode)
{
	struct incus_session s = { incus_find_socket(), false };
	struct strbuf dir = STRBUF_INIT;
	const char *slash;
	int rc = PROVIDER_OK;

	provider_throttle(call);
	if (data == NULL) {
		rc = incus_files_request(&s, "DELETE", instance, path, "file",
		    NULL, 0, 0, &call->err);
		if (rc == PROVIDER_ERROR && strstr(call->err.buf, "HTTP 404"))
			rc = PROVIDER_OK, strbuf_reset(&call->err);
		goto out;
	}
	/* mkdir -p: each parent in turn (an existing one is fine) */
	for (slash = strchr(path + 1, '/'); slash != NULL && rc == PROVIDER_OK;
	     slash = strchr(slash + 1, '/')) {
		strbuf_reset(&dir);
		strbuf_add(&dir, path, (size_t)(slash - path));
		rc = incus_files_request(&s, "POST", instance, dir.buf,
		    "directory", NULL, 0, 0755, &call->err);
		/* an existing directory is fine; so is one another apply
		 * thread made a moment ago (LXD's sftp then says "file
		 * exists") */
		if (rc == PROVIDER_ERROR &&
		    strstr(call->err.buf, "file exists") != NULL) {
			strbuf_reset(&call->err);
			rc = PROVIDER_OK;
		}
	}
	if (rc == PROVIDER_OK)
		rc = incus_files_request(&s, "POST", instance, path, "file",
		    data, len, mode, &call->err);
out:
	if (rc != PROVIDER_OK && strstr(call->err.buf, "cannot reach") == NULL) {
		char *why = strbuf_detach(&call->err, NULL);

		strbuf_addf(&call->err, "%s: %s: %s", instance, path, why);
		free(why);
	}
	strbuf_release(&dir);
	free(s.socket);
	return rc;
}

int
incus_org_addresses(struct provider_call *call,
    const struct bots_target *target, cJSON **out)
{
	struct incus_session s = { incus_find_socket(), false };
	struct provider_call mine = { .session = &s,
		.err = STRBUF_INIT,
		.engine = call->engine,
		.budget = call->budget };
	cJSON *instances = NULL;
	const cJSON *item;
	int rc;

	(void)target; /* connect: local is all there is yet */
	*out = NULL;
	rc = incus_call(
	    &mine, "GET", "/1.0/instances?recursion=2", NULL, &instances);
	if (rc != PROVIDER_OK) {
		strbuf_add(&call->err, mine.err.buf, mine.err.len);
		goto out;
	}
	*out = cJSON_CreateObject();
	cJSON_ArrayForEach (item, instances) {
		const char *org = incus_config(item, INCUS_MARK_ORG);
		const cJSON *addr, *eth0 = cJSON_GetObjectItem(
		    cJSON_GetObjectItem(
			cJSON_GetObjectItem(item, "state"), "network"),
		    "eth0");

		if (strcmp(incus_config(item, INCUS_MARK), "true") != 0 ||
		    *org == '\0')
			continue;
		cJSON_ArrayForEach (
		    addr, cJSON_GetObjectItem(eth0, "addresses")) {
			const char *family = cJSON_GetStringValue(
			    cJSON_GetObjectItem(addr, "family"));
			const char *a = cJSON_GetStringValue(
			    cJSON_GetObjectItem(addr, "address"));

			if (family != NULL && strcmp(family, "inet") == 0 &&
			    a != NULL && cJSON_GetObjectItem(*out, org) == NULL)
				cJSON_AddStringToObject(*out, org, a);
		}
	}
out:
	call->retry_after = mine.retry_after;
	cJSON_Delete(instances);
	strbuf_release(&mine.err);
	free(s.socket);
	return rc;
}

const struct provider provider_incus = {
	.name = "incus",
	.target_kind = "incus",
	.server = true,
	.kinds = incus_kinds,
	.max_concurrency = 4,
	.max_rate = 0,
	.burst = 0,
	.open = incus_open,
	.close = incus_close,
	.expand = incus_expand,
	.observe = incus_observe,
	.create = incus_create,
	.update = incus_update,
	.update_secret = NULL,
	.reregister = NULL,
	.delete = incus_delete,
};
