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
 *
 * Each kind observes itself (one call each: every network, every
 * instance). An org container's IPv4 address on eth0 is its output
 * "address", for the routes that dial it (see provider_input).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "provider-incus.h"
#include "conn.h"
#include "http.h"
#include "incus.h"
#include "xmalloc.h"

#define INCUS_NETWORK         "getbot-br0"
#define INCUS_NETWORK_ADDRESS "10.199.0.1/24"
#define INCUS_MARK            "user.getbot.managed"
#define INCUS_MARK_ORG        "user.getbot.org"
#define INCUS_MARK_IMAGE      "user.getbot.image"
#define INCUS_MARK_PROFILES   "user.getbot.profiles"

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
	{ "port_isolation", FIELD_INPLACE },
	{ "status", FIELD_INPLACE },
	{ "provisioned", FIELD_INPLACE },
	{ NULL, 0 },
};

static const struct resource_kind incus_network, incus_container;

static int
incus_open(const struct bots_target *target, struct conn *conn,
    const char *base_dir, void **session, struct strbuf *err)
{
	struct incus_client *c = xcalloc(1, sizeof(*c));

	(void)base_dir;
	*session = NULL;
	if (incus_client_open(c, conn, target->server.incus_socket, err) != 0) {
		char *why = strbuf_detach(err, NULL);

		strbuf_addf(err, "target '%s': %s", target->name, why);
		free(why);
		free(c);
		return -1;
	}
	*session = c;
	return 0;
}

/* Incus answers on its socket: observation needs it, whatever is wanted. */
static void
incus_check(const struct bots_target *target, struct conn *conn, bool wanted,
    struct strbuf *missing)
{
	struct incus_client c;
	struct strbuf why = STRBUF_INIT;
	int rc = incus_client_open(&c, conn, target->server.incus_socket, &why);

	(void)wanted;
	if (rc == INCUS_UNREACHABLE)
		strbuf_addf(missing,
		    "Incus: %s (install it: apt-get install -t "
		    "bookworm-backports incus; incus admin init; or name its "
		    "socket with incus: {socket: PATH})\n",
		    why.buf);
	else if (rc != 0)
		strbuf_addf(missing, "Incus: %s\n", why.buf);
	else
		incus_client_release(&c);
	strbuf_release(&why);
}

static void
incus_close(void *session)
{
	struct incus_client *c = session;

	if (c == NULL)
		return;
	incus_client_release(c);
	free(c);
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

/* What the org containers are made from, as the plan shows it and their
 * marker keeps it: "ALIAS" for an image on the server, "SERVER ALIAS"
 * for one from an image server. Free it. */
static char *
incus_image_name(const struct bots_target *target)
{
	if (target->server.image_server == NULL)
		return xstrdup(target->server.image_alias);
	return xasprintf("%s %s", target->server.image_server,
	    target->server.image_alias);
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
		char *profiles, *number, *image;

		if (org->target != target)
			continue;
		spec = cJSON_CreateObject();
		image = incus_image_name(target);
		cJSON_AddStringToObject(spec, "image", image);
		free(image);
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
		cJSON_AddStringToObject(spec, "port_isolation", "true");
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

static bool
incus_config_true(const cJSON *object, const char *key)
{
	const char *v =
	    cJSON_GetStringValue(cJSON_GetObjectItem(object, key));

	return v != NULL && strcmp(v, "true") == 0;
}

/* Every network: the bridge getbot makes, owned or not. */
static int
incus_network_observe(struct provider_call *call, struct observed_set *out)
{
	cJSON *networks = NULL;
	const cJSON *item;
	int rc;

	rc = incus_call(call->session, call, "GET", "/1.0/networks?recursion=1",
	    NULL, NULL, &networks, NULL);
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
out:
	cJSON_Delete(networks);
	return rc;
}

/* The first IPv4 address on eth0 in an instance's state, or NULL
 * (borrowed): none while DHCP is pending or the instance is stopped. */
static const char *
incus_eth0_address(const cJSON *state)
{
	const cJSON *addr, *eth0 = cJSON_GetObjectItem(
			       cJSON_GetObjectItem(state, "network"), "eth0");

	cJSON_ArrayForEach (addr, cJSON_GetObjectItem(eth0, "addresses")) {
		const char *family =
		    cJSON_GetStringValue(cJSON_GetObjectItem(addr, "family"));
		const char *a =
		    cJSON_GetStringValue(cJSON_GetObjectItem(addr, "address"));

		if (family != NULL && strcmp(family, "inet") == 0 && a != NULL)
			return a;
	}
	return NULL;
}

/* Does the instance's own eth0 (the NIC getbot gives it) keep it from
 * the other orgs' containers on the bridge? */
static bool
incus_eth0_isolated(const cJSON *instance)
{
	const cJSON *eth0 = cJSON_GetObjectItem(
	    cJSON_GetObjectItem(instance, "devices"), "eth0");

	return incus_config_true(eth0, "security.port_isolation");
}

/* Every instance, with its state (recursion=2) for the org containers'
 * addresses: still one call. */
static int
incus_container_observe(struct provider_call *call, struct observed_set *out)
{
	cJSON *instances = NULL;
	const cJSON *item;
	int rc;

	rc = incus_call(call->session, call, "GET",
	    "/1.0/instances?recursion=2", NULL, NULL, &instances, NULL);
	if (rc != PROVIDER_OK)
		goto out;
	cJSON_ArrayForEach (item, instances) {
		const char *name =
		    cJSON_GetStringValue(cJSON_GetObjectItem(item, "name"));
		const char *status =
		    cJSON_GetStringValue(cJSON_GetObjectItem(item, "status"));
		const char *ip;
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
		cJSON_AddStringToObject(o->spec, "port_isolation",
		    incus_eth0_isolated(item) ? "true" : "false");
		cJSON_AddStringToObject(
		    o->spec, "status", status != NULL ? status : "");
		cJSON_AddStringToObject(o->spec, "provisioned",
		    strcmp(incus_config(item, INCUS_MARK_PROVISION), "true") ==
			    0
			? "true"
			: "false");
		ip = incus_eth0_address(cJSON_GetObjectItem(item, "state"));
		if (o->owned && *o->org != '\0' && ip != NULL) {
			o->outputs = cJSON_CreateObject();
			cJSON_AddStringToObject(o->outputs, "address", ip);
		}
		observed_set_add(out, o);
	}
out:
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

/* Start or stop an instance (a stop is forced). */
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
	rc = incus_call(
	    call->session, call, "PUT", path.buf, body, NULL, NULL, NULL);
	cJSON_Delete(body);
	strbuf_release(&path);
	return rc;
}

static int
incus_network_create(struct provider_call *call, const struct resource *r)
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
	rc = incus_call(call->session, call, "POST", "/1.0/networks", body,
	    NULL, NULL, NULL);
	cJSON_Delete(body);
	return rc;
}

/* The server's directory the Docker proxy sockets live in. */
static int
incus_socket_dir(struct provider_call *call)
{
	struct strbuf why = STRBUF_INIT;
	int rc = PROVIDER_OK;

	if (call->conn->ops->make_dir(
		call->conn, INCUS_SOCKET_DIR, 0750, &why) != 0) {
		strbuf_addf(&call->err, "cannot create %s: %s",
		    INCUS_SOCKET_DIR, why.buf);
		rc = PROVIDER_ERROR;
	}
	strbuf_release(&why);
	return rc;
}

/*
 * Publish the address of a container just started or changed, when it has
 * one already. Best effort, one call: the container is made whatever this
 * says, and a route that finds no address observes it afresh.
 */
static void
incus_publish_address(struct provider_call *call, const struct resource *r)
{
	struct strbuf path = STRBUF_INIT;
	cJSON *state = NULL;
	const char *ip;
	int rc;

	strbuf_addstr(&path, "/1.0/instances/");
	http_add_escaped(&path, r->name);
	strbuf_addstr(&path, "/state");
	rc = incus_call(
	    call->session, call, "GET", path.buf, NULL, NULL, &state, NULL);
	ip = incus_eth0_address(state);
	if (rc == PROVIDER_OK && ip != NULL)
		provider_output(call, r->address, "address", ip);
	strbuf_reset(&call->err);
	call->retry_after = 0;
	cJSON_Delete(state);
	strbuf_release(&path);
}

#define INCUS_PROVISION_LOG "/var/log/getbot-provision.log"
/* Held by the install while it runs: an install that an earlier apply
 * left running (past GETBOT_INCUS_WAIT_MAX, or killed) is waited for,
 * not raced by a second apt-get. */
#define INCUS_PROVISION_LOCK "/var/log/getbot-provision.lock"

/* The last non-empty line of the provisioning log inside the container
 * (borrowed from text, cut at 160 bytes), or NULL. */
static const char *
incus_last_line(struct strbuf *text)
{
	char *end, *start;

	while (text->len > 0 && (text->buf[text->len - 1] == '\n' ||
				    text->buf[text->len - 1] == '\r' ||
				    text->buf[text->len - 1] == ' '))
		strbuf_setlen(text, text->len - 1);
	if (text->len == 0)
		return NULL;
	end = text->buf + text->len;
	start = end;
	while (start > text->buf && start[-1] != '\n' && start[-1] != '\r')
		start--;
	if (end - start > 160)
		start[160] = '\0';
	return start;
}

/* incus_progress's poll while Docker is installed: the log's last line. */
static void
incus_provision_poll(struct incus_client *c, struct provider_call *call,
    const void *ctx, struct strbuf *line)
{
	struct strbuf text = STRBUF_INIT;
	const char *last;

	if (incus_read_file(c, call, ctx, INCUS_PROVISION_LOG, &text) ==
		PROVIDER_OK &&
	    (last = incus_last_line(&text)) != NULL)
		strbuf_addf(line, "%s%s",
		    line->len > 0 && line->buf[line->len - 1] != ' ' ? "; " : "",
		    last);
	/* a log not there yet is no error: the step goes on */
	strbuf_reset(&call->err);
	strbuf_release(&text);
}

/*
 * What an org container needs inside, added only where missing: Docker
 * (apt-get, once the container's network is up), with bounded logs.
 * Through the exec API; the command's status decides. An install takes
 * minutes on a fresh container: its log's last line is shown every 10 s.
 * One install at a time per container (INCUS_PROVISION_LOCK).
 */
static int
incus_provision(
    struct provider_call *call, const char *name, const char *address)
{
	static const char script[] =
	    "set -e\n"
	    "if command -v flock >/dev/null 2>&1; then\n"
	    "  exec 9>>" INCUS_PROVISION_LOCK "\n"
	    "  if ! flock -n 9; then\n"
	    "    echo 'waiting for the install an earlier run started' "
	    ">>" INCUS_PROVISION_LOG "\n"
	    "    flock 9\n"
	    "  fi\n"
	    "fi\n"
	    "exec >" INCUS_PROVISION_LOG " 2>&1\n"
	    "if [ ! -e /etc/docker/daemon.json ]; then\n"
	    "  mkdir -p /etc/docker\n"
	    "  printf '%s\\n' '{\"log-driver\": \"local\"}' "
	    ">/etc/docker/daemon.json\n"
	    "fi\n"
	    "if ! command -v dockerd >/dev/null 2>&1; then\n"
	    "  echo 'waiting for the network'\n"
	    "  i=0; until getent hosts deb.debian.org >/dev/null 2>&1; do\n"
	    "    i=$((i + 1)); [ $i -lt 60 ] || { echo 'no network: "
	    "deb.debian.org does not resolve'; exit 1; }; sleep 1; done\n"
	    "  apt-get update -q\n"
	    "  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
	    "-o DPkg::Lock::Timeout=120 --no-install-recommends docker.io\n"
	    "fi\n"
	    "echo 'Docker is installed'\n";
	struct incus_progress progress = { 0 };
	cJSON *body = cJSON_CreateObject(), *cmd, *md = NULL;
	struct strbuf path = STRBUF_INIT, log = STRBUF_INIT;
	const cJSON *ret;
	const char *last;
	int rc;

	cmd = cJSON_AddArrayToObject(body, "command");
	cJSON_AddItemToArray(cmd, cJSON_CreateString("/bin/sh"));
	cJSON_AddItemToArray(cmd, cJSON_CreateString("-c"));
	cJSON_AddItemToArray(cmd, cJSON_CreateString(script));
	cJSON_AddBoolToObject(body, "wait-for-websocket", false);
	cJSON_AddBoolToObject(body, "interactive", false);
	cJSON_AddBoolToObject(body, "record-output", false);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "environment"),
	    "PATH",
	    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	strbuf_addstr(&path, "/1.0/instances/");
	http_add_escaped(&path, name);
	strbuf_addstr(&path, "/exec");
	progress.address = address;
	progress.doing = "installing Docker inside";
	progress.every = 10;
	progress.poll = incus_provision_poll;
	progress.ctx = name;
	/* the script decides whether there is anything to install */
	provider_step_begin(
	    call, address, "installing Docker in %s if missing", name);
	rc = incus_call_progress(
	    call->session, call, "POST", path.buf, body, &progress, &md);
	ret =
	    cJSON_GetObjectItem(cJSON_GetObjectItem(md, "metadata"), "return");
	if (rc == PROVIDER_OK && (!cJSON_IsNumber(ret) || ret->valueint != 0)) {
		incus_read_file(call->session, call, name, INCUS_PROVISION_LOG,
		    &log);
		strbuf_reset(&call->err);
		last = incus_last_line(&log);
		strbuf_addf(&call->err,
		    "container %s: installing Docker inside failed (exit %d)%s%s"
		    "; the container needs network access to Debian's "
		    "mirrors (its log: " INCUS_PROVISION_LOG ")",
		    name, cJSON_IsNumber(ret) ? ret->valueint : -1,
		    last != NULL ? ": " : "", last != NULL ? last : "");
		rc = PROVIDER_ERROR;
	}
	provider_step_end(call, rc == PROVIDER_OK);
	cJSON_Delete(md);
	cJSON_Delete(body);
	if (rc == PROVIDER_OK) {
		/* marked only once it worked: a failure is retried by the
		 * next apply, as an update */
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "config"),
		    INCUS_MARK_PROVISION, "true");
		strbuf_setlen(&path, path.len - strlen("/exec"));
		rc = incus_call(call->session, call, "PATCH", path.buf, body,
		    NULL, NULL, NULL);
		cJSON_Delete(body);
	}
	strbuf_release(&log);
	strbuf_release(&path);
	return rc;
}

/*
 * The create request's source: the alias, and for an image server its
 * URL, protocol and pinned certificate (what `incus launch
 * images:debian/12` sends). Incus pulls the image, or uses its cached
 * copy.
 */
static int
incus_image_source(
    struct provider_call *call, const struct resource *r, cJSON *source)
{
	const struct bots_server *server = &r->target->server;
	struct strbuf pem = STRBUF_INIT;

	cJSON_AddStringToObject(source, "type", "image");
	cJSON_AddStringToObject(source, "alias", server->image_alias);
	if (server->image_server == NULL)
		return PROVIDER_OK;
	cJSON_AddStringToObject(source, "server", server->image_server);
	cJSON_AddStringToObject(source, "protocol", server->image_protocol);
	cJSON_AddStringToObject(source, "mode", "pull");
	if (bots_image_certificate(r->target, &pem, &call->err) != 0) {
		strbuf_release(&pem);
		return PROVIDER_ERROR;
	}
	if (pem.len > 0)
		cJSON_AddStringToObject(source, "certificate", pem.buf);
	strbuf_release(&pem);
	return PROVIDER_OK;
}

static int
incus_container_create(struct provider_call *call, const struct resource *r)
{
	cJSON *body = cJSON_CreateObject(), *config, *devices, *dev, *source;
	cJSON *profiles;
	struct incus_progress progress = { 0 };
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
	rc = incus_image_source(call, r, source);
	if (rc != PROVIDER_OK)
		goto out;
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
	/* a first container pulls its image: minutes, with progress */
	progress.address = r->address;
	progress.doing = "creating the container";
	progress.every = 10;
	provider_step_begin(call, r->address,
	    "creating container %s from image %s", r->name,
	    r->target->server.image_alias);
	rc = incus_call_progress(call->session, call, "POST", "/1.0/instances",
	    body, &progress, NULL);
	provider_step_end(call, rc == PROVIDER_OK);
	/* started apart: LXD 5.0 lacks "start" in the create request */
	if (rc == PROVIDER_OK)
		rc = incus_set_state(call, r->name, "start");
	if (rc == PROVIDER_OK)
		rc = incus_provision(call, r->name, r->address);
	if (rc == PROVIDER_OK)
		incus_publish_address(call, r);
out:
	cJSON_Delete(body);
	free(listen);
	free(sock);
	return rc;
}

/*
 * PATCH path with config, If-Match the ETag of what it is now: a change
 * made since is not overwritten (412, read again on the retry).
 */
static int
incus_patch_config(
    struct provider_call *call, const char *path, const cJSON *config)
{
	cJSON *body = cJSON_CreateObject();
	char *etag = NULL;
	int rc;

	cJSON_AddItemToObject(body, "config", cJSON_Duplicate(config, true));
	rc = incus_call(
	    call->session, call, "GET", path, NULL, NULL, NULL, &etag);
	if (rc == PROVIDER_OK)
		rc = incus_call(
		    call->session, call, "PATCH", path, body, etag, NULL, NULL);
	free(etag);
	cJSON_Delete(body);
	return rc;
}

static int
incus_network_update(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	struct strbuf path = STRBUF_INIT;
	cJSON *config = cJSON_CreateObject();
	int rc;

	(void)current;
	strbuf_addstr(&path, "/1.0/networks/");
	http_add_escaped(&path, desired->name);
	cJSON_AddStringToObject(
	    config, "ipv4.address", incus_spec(desired, "ipv4.address"));
	cJSON_AddStringToObject(
	    config, "ipv4.nat", incus_spec(desired, "ipv4.nat"));
	cJSON_AddStringToObject(
	    config, "ipv6.address", incus_spec(desired, "ipv6.address"));
	rc = incus_patch_config(call, path.buf, config);
	cJSON_Delete(config);
	strbuf_release(&path);
	return rc;
}

/*
 * Isolate the container's eth0 from the other orgs' containers (a
 * container made before getbot set security.port_isolation): its own
 * devices, read with their ETag and written back with the key set, so a
 * change made meanwhile is not overwritten (412, read again on the
 * retry). Incus re-plugs the NIC: the container keeps its address.
 */
static int
incus_isolate_ports(struct provider_call *call, const char *name)
{
	struct strbuf path = STRBUF_INIT;
	cJSON *instance = NULL, *body = NULL, *devices, *eth0;
	char *etag = NULL;
	int rc;

	strbuf_addstr(&path, "/1.0/instances/");
	http_add_escaped(&path, name);
	rc = incus_call(call->session, call, "GET", path.buf, NULL, NULL,
	    &instance, &etag);
	if (rc != PROVIDER_OK)
		goto out;
	devices = cJSON_GetObjectItem(instance, "devices");
	eth0 = cJSON_GetObjectItem(devices, "eth0");
	if (!cJSON_IsObject(eth0)) {
		strbuf_addf(&call->err,
		    "container %s has no eth0 device of its own to isolate",
		    name);
		rc = PROVIDER_ERROR;
		goto out;
	}
	cJSON_DeleteItemFromObject(eth0, "security.port_isolation");
	cJSON_AddStringToObject(eth0, "security.port_isolation", "true");
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "devices", cJSON_Duplicate(devices, true));
	rc = incus_call(call->session, call, "PATCH", path.buf, body, etag,
	    NULL, NULL);
out:
	cJSON_Delete(body);
	cJSON_Delete(instance);
	free(etag);
	strbuf_release(&path);
	return rc;
}

/* Limits in place; then started and provisioned where it is not. */
static int
incus_container_update(struct provider_call *call,
    const struct resource *desired, const struct observed *current)
{
	struct strbuf path = STRBUF_INIT;
	cJSON *config = cJSON_CreateObject();
	const char *status, *provisioned;
	int rc;

	strbuf_addstr(&path, "/1.0/instances/");
	http_add_escaped(&path, desired->name);
	incus_add_limits(config, desired);
	rc = incus_patch_config(call, path.buf, config);
	if (rc == PROVIDER_OK &&
	    !incus_config_true(current->spec, "port_isolation"))
		rc = incus_isolate_ports(call, desired->name);
	status =
	    cJSON_GetStringValue(cJSON_GetObjectItem(current->spec, "status"));
	if (rc == PROVIDER_OK &&
	    (status == NULL || strcmp(status, "Running") != 0))
		rc = incus_set_state(call, desired->name, "start");
	provisioned = cJSON_GetStringValue(
	    cJSON_GetObjectItem(current->spec, "provisioned"));
	if (rc == PROVIDER_OK &&
	    (provisioned == NULL || strcmp(provisioned, "true") != 0))
		rc = incus_provision(call, desired->name, desired->address);
	if (rc == PROVIDER_OK)
		incus_publish_address(call, desired);
	cJSON_Delete(config);
	strbuf_release(&path);
	return rc;
}

static int
incus_network_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	struct strbuf path = STRBUF_INIT;
	int rc;

	(void)purge;
	strbuf_addstr(&path, "/1.0/networks/");
	http_add_escaped(&path, current->name);
	rc = incus_call(
	    call->session, call, "DELETE", path.buf, NULL, NULL, NULL, NULL);
	strbuf_release(&path);
	return rc;
}

/* Stopped, deleted, and the host end of its Docker proxy removed. */
static int
incus_container_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	struct strbuf path = STRBUF_INIT, why = STRBUF_INIT;
	const char *status;
	char *sock = NULL;
	int rc = PROVIDER_OK;

	(void)purge; /* a container holds the org's data: it goes whole */
	strbuf_addstr(&path, "/1.0/instances/");
	http_add_escaped(&path, current->name);
	status =
	    cJSON_GetStringValue(cJSON_GetObjectItem(current->spec, "status"));
	if (status != NULL && strcmp(status, "Stopped") != 0)
		rc = incus_set_state(call, current->name, "stop");
	if (rc == PROVIDER_OK)
		rc = incus_call(call->session, call, "DELETE", path.buf, NULL,
		    NULL, NULL, NULL);
	if (rc != PROVIDER_OK)
		goto out;
	/* its address is no one's now */
	provider_output(call, current->address, "address", NULL);
	/* LXD leaves the host end of a proxy device behind */
	sock = incus_docker_socket(current->name);
	if (call->conn->ops->remove_file(call->conn, sock, &why) != 0) {
		strbuf_addf(&call->err, "cannot remove %s: %s", sock, why.buf);
		rc = PROVIDER_ERROR;
	}
out:
	free(sock);
	strbuf_release(&why);
	strbuf_release(&path);
	return rc;
}

static const struct resource_kind incus_network = {
	.name = "network",
	.fields = incus_network_fields,
	.lost_on_replace = NULL,
	.order = 0,
	.observe = incus_network_observe,
	.create = incus_network_create,
	.update = incus_network_update,
	.delete = incus_network_delete,
};
static const struct resource_kind incus_container = {
	.name = "container",
	.fields = incus_container_fields,
	.lost_on_replace = "the org's container with its Docker, images and "
			   "every bot's volumes",
	.order = 1,
	.observe = incus_container_observe,
	.create = incus_container_create,
	.update = incus_container_update,
	.delete = incus_container_delete,
};

static const struct resource_kind *const incus_kinds[] = { &incus_network,
	&incus_container, NULL };

const struct provider provider_incus = {
	.name = "incus",
	.target_kind = "incus",
	.server = true,
	.kinds = incus_kinds,
	.max_concurrency = 4,
	.max_rate = 0,
	.burst = 0,
	.open = incus_open,
	.check = incus_check,
	.close = incus_close,
	.expand = incus_expand,
};
