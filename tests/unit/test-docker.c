/*
 * The Docker client and the docker provider against what each Docker
 * answers: GET /version and the list, inspect and build answers getbot
 * reads, recorded from the Engine API reference of API 1.41 (Docker 20.10,
 * Debian 12's), 1.44 (Docker 25), 1.47 (Docker 27) and 1.52 (Docker 29)
 * under tests/docker/API/, each file citing its section. A loopback server
 * serves them as that daemon would, refusing the versions it does not
 * speak with the daemon's own words; a connection of the test's own dials
 * it for every org socket, as the server connection dials the proxy
 * device's.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bots.h"
#include "conn.h"
#include "diag.h"
#include "docker.h"
#include "docker/provider-docker.h"
#include "file.h"
#include "provider.h"
#include "resource.h"
#include "strbuf.h"
#include "tap.h"
#include "xmalloc.h"

#define ANSWER_MAX (1u << 20)

/* The recorded versions, and what getbot agrees with each. */
static const struct recorded_version {
	const char *api; /* its folder under tests/docker */
	const char *docker;
	const char *prefix;
} recorded[] = {
	{ "1.41", "Docker 20.10", "/v1.41" },
	{ "1.44", "Docker 25.0", "/v1.44" },
	{ "1.47", "Docker 27.2", "/v1.47" },
	{ "1.52", "Docker 29.0", "/v1.52" },
};
#define NRECORDED (sizeof(recorded) / sizeof(recorded[0]))

/* The marketing bot's container, as every recording has it. */
#define MARKETING_ID                                                           \
	"4e1f0c8a2b6d9e3f7a5c1b8d0e2f4a6c8b0d2e4f6a8c0b2d4e6f8a0c2e4b6d8f"
#define CONTEXT                                                                \
	"5e0c9b1a7d3f2e4c6b8a0d1f3e5c7a9b2d4f6e8a0c1b3d5f7e9a2c4b6d8f0e1a"

static char scratch[] = "/tmp/getbot-test-docker.XXXXXX";

/* ---- a daemon of recorded answers ---- */

struct fake_docker {
	int listener;
	char *dir; /* tests/docker/API */
	/* GET /version's body instead of DIR/version.answer, or NULL */
	const char *version_body;
	pthread_mutex_t lock;   /* guards requests */
	struct strbuf requests; /* "GET /v1.41/containers/json?all=1\n"... */
	pthread_t thread;
};

/* DIR/NAME.answer without its leading comment lines, into body. */
static void
fake_answer(const struct fake_docker *d, const char *name, struct strbuf *body)
{
	char *path = xasprintf("%s/%s.answer", d->dir, name);
	struct strbuf text = STRBUF_INIT, err = STRBUF_INIT;
	const char *p;

	if (file_read(path, ANSWER_MAX, &text, NULL, &err) != 0)
		printf("# %s: %s\n", path, err.buf);
	for (p = text.buf; *p == '#' && strchr(p, '\n') != NULL;)
		p = strchr(p, '\n') + 1;
	strbuf_addstr(body, p);
	strbuf_release(&text);
	strbuf_release(&err);
	free(path);
}

/* Compare API versions "1.41" and "1.52", as the daemon does. */
static int
fake_version_cmp(const char *a, const char *b)
{
	long a1 = strtol(a, NULL, 10), b1 = strtol(b, NULL, 10);
	const char *ad = strchr(a, '.'), *bd = strchr(b, '.');
	long a2 = ad ? strtol(ad + 1, NULL, 10) : 0;
	long b2 = bd ? strtol(bd + 1, NULL, 10) : 0;

	if (a1 != b1)
		return a1 < b1 ? -1 : 1;
	return a2 < b2 ? -1 : a2 > b2;
}

/*
 * The answer to method and target: the recorded one, or what the daemon
 * says to a version outside its MinAPIVersion..ApiVersion (HTTP 400, in
 * the words of moby's server/middleware/version.go, the same from 20.10
 * to 29), or 404 for what was not recorded.
 */
static int
fake_route(const struct fake_docker *d, const char *method, const char *target,
    struct strbuf *body)
{
	struct strbuf version = STRBUF_INIT;
	cJSON *v = NULL;
	const char *ours, *min, *path;
	char asked[16];
	size_t len;
	int status = 200;

	if (strcmp(target, "/version") == 0) {
		if (d->version_body != NULL)
			strbuf_addstr(body, d->version_body);
		else
			fake_answer(d, "version", body);
		return 200;
	}
	len = strspn(target + 2, "0123456789.");
	if (strncmp(target, "/v", 2) != 0 || len == 0 || len >= sizeof(asked) ||
	    target[2 + len] != '/') {
		strbuf_addstr(body, "{\"message\":\"page not found\"}");
		return 404;
	}
	memcpy(asked, target + 2, len);
	asked[len] = '\0';
	path = target + 2 + len;
	if (d->version_body != NULL)
		strbuf_addstr(&version, d->version_body);
	else
		fake_answer(d, "version", &version);
	v = cJSON_Parse(version.buf);
	ours = cJSON_GetStringValue(cJSON_GetObjectItem(v, "ApiVersion"));
	min = cJSON_GetStringValue(cJSON_GetObjectItem(v, "MinAPIVersion"));
	if (ours != NULL && fake_version_cmp(asked, ours) > 0) {
		strbuf_addf(body,
		    "{\"message\":\"client version %s is too new. Maximum "
		    "supported API version is %s\"}",
		    asked, ours);
		status = 400;
	} else if (min != NULL && fake_version_cmp(asked, min) < 0) {
		strbuf_addf(body,
		    "{\"message\":\"client version %s is too old. Minimum "
		    "supported API version is %s, please upgrade your client "
		    "to a newer version\"}",
		    asked, min);
		status = 400;
	} else if (strcmp(method, "GET") == 0 &&
		   strncmp(path, "/containers/json", 16) == 0)
		fake_answer(d, "containers", body);
	else if (strcmp(method, "GET") == 0 &&
		 strncmp(path, "/images/json", 12) == 0)
		fake_answer(d, "images", body);
	else if (strcmp(method, "GET") == 0 &&
		 strncmp(path, "/containers/", 12) == 0 &&
		 strcmp(path + strlen(path) - 5, "/json") == 0)
		fake_answer(d, "inspect", body);
	else if (strcmp(method, "POST") == 0 &&
		 strncmp(path, "/containers/", 12) == 0 &&
		 strcmp(path + strlen(path) - 6, "/start") == 0)
		status = 204;
	else if (strcmp(method, "POST") == 0 &&
		 strncmp(path, "/build?", 7) == 0)
		fake_answer(d, "build", body);
	else {
		strbuf_addstr(body, "{\"message\":\"page not found\"}");
		status = 404;
	}
	cJSON_Delete(v);
	strbuf_release(&version);
	return status;
}

/* One connection: a request (its body read and dropped), one answer. A
 * connection closed at once is a probe (docker_listening). */
static void
fake_serve_one(struct fake_docker *d, int fd)
{
	struct strbuf head = STRBUF_INIT, body = STRBUF_INIT;
	struct strbuf answer = STRBUF_INIT;
	char buf[8192], method[16], target[2048];
	const char *end = NULL, *length;
	size_t have, want = 0;
	ssize_t got;
	int status;

	while (end == NULL && head.len < 65536 &&
	       (got = read(fd, buf, sizeof(buf))) > 0) {
		strbuf_add(&head, buf, (size_t)got);
		end = strstr(head.buf, "\r\n\r\n");
	}
	if (end == NULL || sscanf(head.buf, "%15s %2047s", method, target) != 2)
		goto out;
	length = strstr(head.buf, "Content-Length: ");
	if (length != NULL && length < end)
		want = strtoul(length + 16, NULL, 10);
	if (strstr(head.buf, "Expect: 100-continue") != NULL)
		(void)file_write_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	have = head.len - (size_t)(end + 4 - head.buf);
	while (have < want && (got = read(fd, buf, sizeof(buf))) > 0)
		have += (size_t)got;
	pthread_mutex_lock(&d->lock);
	strbuf_addf(&d->requests, "%s %s\n", method, target);
	pthread_mutex_unlock(&d->lock);
	status = fake_route(d, method, target, &body);
	strbuf_addf(&answer,
	    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	    status,
	    status == 200   ? "OK"
	    : status == 204 ? "No Content"
	    : status == 400 ? "Bad Request"
			    : "Not Found",
	    status == 204 ? (size_t)0 : body.len);
	if (status != 204)
		strbuf_add(&answer, body.buf, body.len);
	(void)file_write_all(fd, answer.buf, answer.len);
out:
	strbuf_release(&head);
	strbuf_release(&body);
	strbuf_release(&answer);
}

static void *
fake_serve(void *arg)
{
	struct fake_docker *d = arg;
	int fd;

	/* until fake_stop shuts the listener down */
	while ((fd = accept(d->listener, NULL, NULL)) >= 0) {
		fake_serve_one(d, fd);
		close(fd);
	}
	return NULL;
}

/* Serve the answers of tests/docker/API (version_body, if not NULL, as
 * GET /version's); the loopback port, or -1. */
static int
fake_start(struct fake_docker *d, const char *api, const char *version_body)
{
	const char *top = getenv("top_srcdir");
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);

	memset(d, 0, sizeof(*d));
	d->dir = xasprintf("%s/tests/docker/%s", top ? top : ".", api);
	d->version_body = version_body;
	strbuf_init(&d->requests, 0);
	pthread_mutex_init(&d->lock, NULL);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d->listener = socket(AF_INET, SOCK_STREAM, 0);
	if (d->listener < 0 ||
	    bind(d->listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(d->listener, 16) != 0 ||
	    getsockname(d->listener, (struct sockaddr *)&addr, &len) != 0)
		return -1;
	pthread_create(&d->thread, NULL, fake_serve, d);
	return ntohs(addr.sin_port);
}

static void
fake_stop(struct fake_docker *d)
{
	shutdown(d->listener, SHUT_RDWR);
	pthread_join(d->thread, NULL);
	close(d->listener);
	pthread_mutex_destroy(&d->lock);
	strbuf_release(&d->requests);
	free(d->dir);
}

/* ---- a server connection that dials the fake for every socket ---- */

struct test_conn {
	struct conn base;
	int port;
	char endpoint[128]; /* the last one dialled */
};

/* A TCP stream to the fake, connected without blocking as conn-local
 * connects one: curl 7.88 connect()s the stream it is handed once more
 * (http.c, http_local_socket), which Linux lets pass only for a socket
 * whose connect was in progress. */
static int
test_conn_dial(
    struct conn *conn, const char *endpoint, int *fd, struct strbuf *err)
{
	struct test_conn *t = (struct test_conn *)conn;
	struct sockaddr_in addr;
	struct pollfd pfd;
	int flags;

	snprintf(t->endpoint, sizeof(t->endpoint), "%s", endpoint);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((unsigned short)t->port);
	*fd = socket(AF_INET, SOCK_STREAM, 0);
	flags = *fd >= 0 ? fcntl(*fd, F_GETFL) : -1;
	pfd.fd = *fd;
	pfd.events = POLLOUT;
	if (flags < 0 || fcntl(*fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
	    (connect(*fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 &&
		(errno != EINPROGRESS || poll(&pfd, 1, 5000) != 1)) ||
	    fcntl(*fd, F_SETFL, flags) != 0) {
		strbuf_addf(
		    err, "cannot connect to %s: %s", endpoint, strerror(errno));
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -1;
	}
	return 0;
}

/* Only dial is used: the org's Docker is all these calls reach. */
static const struct conn_ops test_conn_ops = {
	.name = "test",
	.through = "",
	.dial = test_conn_dial,
};

/* ---- the org the recordings hold ---- */

static struct bots *
load_bots(void)
{
	static const char text[] =
	    "version: 1\n"
	    "targets:\n"
	    "  srv: {kind: incus, connect: local}\n"
	    "defaults: {model: anthropic/claude-sonnet-4-5, runtime: v1}\n"
	    "orgs:\n"
	    "  acme:\n"
	    "    owner: alice@acme.example\n"
	    "    target: srv\n"
	    "    teams:\n"
	    "      marketing:\n"
	    "        api_keys: {anthropic: {env: GETBOT_TEST_KEY}}\n"
	    "        persona: You are the marketing bot.\n"
	    "        instructions: Answer questions about marketing.\n";
	struct diag_list diags = DIAG_LIST_INIT;
	struct bots *bots = NULL;
	char *file = xasprintf("%s/bots.yaml", scratch);

	if (bots_load_buffer(file, text, strlen(text), &bots, &diags) != 0)
		printf("# bots.yaml: %s\n",
		    diags.count ? diags.items[0].message : "?");
	diag_list_clear(&diags);
	free(file);
	return bots;
}

/* One recorded daemon, and a call of the docker provider on the bots'
 * target whose connection reaches it. */
struct recording {
	struct fake_docker daemon;
	struct test_conn conn;
	struct provider_call call;
};

/* Serve tests/docker/API (version_body, if not NULL, as its GET
 * /version's) and open the call; 0, or -1 with call.err saying why. */
static int
recording_open(struct recording *rec, const char *api, const char *version_body,
    const struct bots *bots)
{
	memset(rec, 0, sizeof(*rec));
	rec->conn.base.ops = &test_conn_ops;
	rec->conn.port = fake_start(&rec->daemon, api, version_body);
	strbuf_init(&rec->call.err, 0);
	rec->call.target = &bots->targets[0];
	rec->call.conn = &rec->conn.base;
	rec->call.provider = &provider_docker;
	return provider_docker.open(rec->call.target, rec->call.conn, scratch,
	    &rec->call.session, &rec->call.err);
}

static void
recording_close(struct recording *rec)
{
	provider_docker.close(rec->call.session);
	strbuf_release(&rec->call.err);
	fake_stop(&rec->daemon);
}

/* The spec field key of an observed object, or NULL. */
static const char *
spec_of(const struct observed *o, const char *key)
{
	return o ? cJSON_GetStringValue(cJSON_GetObjectItem(o->spec, key))
		 : NULL;
}

/* ---- the tests ---- */

static void
test_docker__agrees_on_the_highest_version_both_speak(const struct bots *bots)
{
	/* Docker 29.2 and 29.3 speak past getbot: MaxAPIVersion and
	 * defaultMinAPIVersion of docker-v29.2.0 and docker-v29.3.0's
	 * daemon/config/config.go (29.3 lowered the minimum again) */
	static const struct {
		const char *docker, *body, *prefix;
	} newer[] = {
		{ "Docker 29.2",
		    "{\"ApiVersion\":\"1.53\",\"MinAPIVersion\":\"1.44\"}",
		    "/v1.52" },
		{ "Docker 29.3",
		    "{\"ApiVersion\":\"1.54\",\"MinAPIVersion\":\"1.40\"}",
		    "/v1.52" },
	};
	size_t i;

	for (i = 0; i < NRECORDED + 2; i++) {
		bool old = i < NRECORDED;
		const char *docker =
		    old ? recorded[i].docker : newer[i - NRECORDED].docker;
		const char *want =
		    old ? recorded[i].prefix : newer[i - NRECORDED].prefix;
		struct recording rec;
		struct docker_client client;
		char prefix[DOCKER_PREFIX_MAX] = "";
		int rc;

		rc = recording_open(&rec, old ? recorded[i].api : "",
		    old ? NULL : newer[i - NRECORDED].body, bots);
		docker_client_init(&client, &rec.conn.base);
		if (rc == 0)
			rc = docker_prefix(
			    &client, &rec.call, "acme", false, prefix);
		is_int(rc, PROVIDER_OK, "%s: a version is agreed%s%s", docker,
		    rec.call.err.len ? ": " : "", rec.call.err.buf);
		is_str(prefix, want, "%s: getbot speaks %s", docker, want);
		is_str(rec.conn.endpoint, "unix:/run/getbot/docker-acme.sock",
		    "%s: asked on the org's socket", docker);
		rc = docker_prefix(&client, &rec.call, "acme", false, prefix);
		ok(rc == PROVIDER_OK && strcmp(prefix, want) == 0 &&
			strcmp(rec.daemon.requests.buf, "GET /version\n") == 0,
		    "%s: asked once, unversioned, and remembered", docker);
		docker_client_release(&client);
		recording_close(&rec);
	}
}

static void
test_docker__a_daemon_without_a_version_in_common_is_refused(
    const struct bots *bots)
{
	static const struct {
		const char *what, *body, *message;
	} refused[] = {
		{ "a daemon whose minimum is above getbot's highest",
		    "{\"ApiVersion\":\"1.60\",\"MinAPIVersion\":\"1.53\"}",
		    "org acme: Docker speaks API 1.53 to 1.60, getbot 1.41 to "
		    "1.52: no version in common" },
		{ "Docker 19.03, below getbot's lowest",
		    "{\"ApiVersion\":\"1.40\",\"MinAPIVersion\":\"1.12\"}",
		    "org acme: Docker speaks API 1.12 to 1.40, getbot 1.41 to "
		    "1.52: no version in common" },
		{ "a daemon without a minimum, below getbot's lowest",
		    "{\"ApiVersion\":\"1.40\"}",
		    "org acme: Docker speaks API up to 1.40, getbot 1.41 to "
		    "1.52: no version in common" },
		{ "a version that is not one",
		    "{\"ApiVersion\":\"1.52/../x\",\"MinAPIVersion\":\"1.44\"}",
		    "org acme: Docker's GET /version gave no usable API "
		    "version "
		    "(ApiVersion 1.52/../x, MinAPIVersion 1.44)" },
	};
	size_t i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct recording rec;
		struct docker_client client;
		cJSON *list = NULL;
		int rc;

		rc = recording_open(&rec, "", refused[i].body, bots);
		docker_client_init(&client, &rec.conn.base);
		if (rc == 0)
			rc = docker_call(&client, &rec.call, "acme", "GET",
			    "/containers/json?all=1", NULL, &list);
		is_int(rc, PROVIDER_ERROR, "%s: refused", refused[i].what);
		is_str(rec.call.err.buf, refused[i].message,
		    "%s: the message says why", refused[i].what);
		is_str(rec.daemon.requests.buf, "GET /version\n",
		    "%s: and nothing is asked in a version it does not speak",
		    refused[i].what);
		ok(list == NULL, "%s: no answer", refused[i].what);
		docker_client_release(&client);
		recording_close(&rec);
	}
}

static void
test_docker__every_version_shows_the_same_bots(const struct bots *bots)
{
	const struct resource_kind *bot =
	    provider_kind(&provider_docker, "bot");
	size_t i;

	for (i = 0; i < NRECORDED; i++) {
		const struct recorded_version *r = &recorded[i];
		const struct observed *marketing, *sales, *legacy;
		struct observed_set seen = { 0 };
		struct recording rec;
		char *request;
		int rc;

		rc = recording_open(&rec, r->api, NULL, bots);
		if (rc == 0)
			rc = bot->observe(&rec.call, &seen);
		is_int(rc, PROVIDER_OK, "%s: the container list is read%s%s",
		    r->docker, rec.call.err.len ? ": " : "", rec.call.err.buf);
		request = xasprintf(
		    "GET /version\nGET %s/containers/json?all=1\n", r->prefix);
		is_str(rec.daemon.requests.buf, request, "%s: in API %s",
		    r->docker, r->api);
		free(request);
		is_int(seen.count, 3,
		    "%s: three bots, ours or named like one (web is neither)",
		    r->docker);
		marketing =
		    observed_set_find(&seen, "docker.bot.acme/marketing");
		sales = observed_set_find(&seen, "docker.bot.acme/sales");
		legacy = observed_set_find(&seen, "docker.bot.acme/legacy");
		ok(marketing && marketing->owned && sales && sales->owned &&
			legacy && !legacy->owned,
		    "%s: marketing and sales are ours, legacy is not",
		    r->docker);
		is_str(spec_of(marketing, "state"), "healthy",
		    "%s: marketing is healthy", r->docker);
		is_str(spec_of(sales, "state"), "starting",
		    "%s: sales is starting", r->docker);
		is_str(spec_of(legacy, "state"), "exited",
		    "%s: legacy has exited", r->docker);
		is_str(spec_of(marketing, "persona"),
		    "You are the marketing bot.",
		    "%s: the persona from its label", r->docker);
		is_str(spec_of(marketing, "context"), CONTEXT,
		    "%s: the build context from its label", r->docker);
		is_str(spec_of(marketing, "port"), "23851",
		    "%s: the port from its label", r->docker);
		is_str(marketing
			   ? cJSON_GetStringValue(cJSON_GetObjectItem(
				 marketing->fingerprints, "ANTHROPIC_API_KEY"))
			   : NULL,
		    "7f3b9c2e1d4a6f8b0c5e7d9a1b3f5c7e",
		    "%s: the key's fingerprint from its label", r->docker);
		is_str(marketing ? cJSON_GetStringValue(cJSON_GetObjectItem(
				       marketing->handle, "id"))
				 : NULL,
		    MARKETING_ID, "%s: and its Id", r->docker);
		observed_set_clear(&seen);
		recording_close(&rec);
	}
}

static void
test_docker__every_version_shows_the_same_images(const struct bots *bots)
{
	const struct resource_kind *image =
	    provider_kind(&provider_docker, "image");
	size_t i;

	for (i = 0; i < NRECORDED; i++) {
		const struct recorded_version *r = &recorded[i];
		struct observed_set seen = { 0 };
		const struct observed *v1;
		struct recording rec;
		int rc;

		rc = recording_open(&rec, r->api, NULL, bots);
		if (rc == 0)
			rc = image->observe(&rec.call, &seen);
		is_int(rc, PROVIDER_OK, "%s: the image list is read%s%s",
		    r->docker, rec.call.err.len ? ": " : "", rec.call.err.buf);
		ok(strstr(rec.daemon.requests.buf, r->prefix) != NULL,
		    "%s: in API %s", r->docker, r->api);
		v1 = observed_set_find(&seen, "docker.image.acme:v1");
		is_int(seen.count, 1,
		    "%s: one image: the untagged older build is not it",
		    r->docker);
		ok(v1 && v1->owned, "%s: getbot/openclaw:v1 is ours",
		    r->docker);
		is_str(spec_of(v1, "context"), CONTEXT,
		    "%s: built from the context its label names", r->docker);
		observed_set_clear(&seen);
		recording_close(&rec);
	}
}

static void
test_docker__every_version_shows_health_in_inspect(const struct bots *bots)
{
	const struct resource_kind *bot =
	    provider_kind(&provider_docker, "bot");
	size_t i;

	for (i = 0; i < NRECORDED; i++) {
		const struct recorded_version *r = &recorded[i];
		cJSON *spec = cJSON_CreateObject();
		struct resource *want;
		struct observed *stopped;
		struct recording rec;
		char *request;
		int rc;

		/* only the state differs: a start is all it takes */
		cJSON_AddStringToObject(spec, "persona", "p");
		cJSON_AddStringToObject(spec, "state", "healthy");
		want = resource_new(&provider_docker, bot, "acme/marketing",
		    "acme", "marketing", spec);
		want->target = &bots->targets[0];
		stopped = observed_new(&provider_docker, bot, "acme/marketing");
		stopped->org = xstrdup("acme");
		stopped->team = xstrdup("marketing");
		cJSON_AddStringToObject(stopped->spec, "persona", "p");
		cJSON_AddStringToObject(stopped->spec, "state", "exited");
		stopped->handle = cJSON_CreateObject();
		cJSON_AddStringToObject(stopped->handle, "id", MARKETING_ID);

		rc = recording_open(&rec, r->api, NULL, bots);
		if (rc == 0)
			rc = bot->update(&rec.call, want, stopped);
		is_int(rc, PROVIDER_OK,
		    "%s: a stopped bot is started and seen healthy%s%s",
		    r->docker, rec.call.err.len ? ": " : "", rec.call.err.buf);
		request =
		    xasprintf("GET /version\n"
			      "POST %s/containers/" MARKETING_ID "/start\n"
			      "GET %s/containers/" MARKETING_ID "/json\n",
			r->prefix, r->prefix);
		is_str(rec.daemon.requests.buf, request,
		    "%s: started, then inspected once, in API %s", r->docker,
		    r->api);
		free(request);
		recording_close(&rec);
		resource_free(want);
		observed_free(stopped);
	}
}

static void
test_docker__every_version_shows_a_failed_build(const struct bots *bots)
{
	const struct resource_kind *image =
	    provider_kind(&provider_docker, "image");
	char *message = xasprintf("org acme: building getbot/openclaw:v1 from "
				  "%s/runtimes/v1: The command "
				  "'/bin/busybox false' returned a non-zero "
				  "code: 1",
	    scratch);
	size_t i;

	for (i = 0; i < NRECORDED; i++) {
		const struct recorded_version *r = &recorded[i];
		struct resource *want;
		struct recording rec;
		char *request;
		int rc;

		want = resource_new(&provider_docker, image, "acme:v1", "acme",
		    NULL, cJSON_CreateObject());
		want->target = &bots->targets[0];
		rc = recording_open(&rec, r->api, NULL, bots);
		if (rc == 0)
			rc = image->create(&rec.call, want);
		is_int(
		    rc, PROVIDER_ERROR, "%s: a failed build fails", r->docker);
		is_str(rec.call.err.buf, message,
		    "%s: in the daemon's words (errorDetail)", r->docker);
		request = xasprintf("POST %s/build?", r->prefix);
		ok(strstr(rec.daemon.requests.buf, request) != NULL,
		    "%s: built in API %s", r->docker, r->api);
		free(request);
		recording_close(&rec);
		resource_free(want);
	}
	free(message);
}

/* A runtime's build context for the builds: a Dockerfile is all. */
static int
make_runtime(void)
{
	static const char dockerfile[] = "FROM scratch\n";
	struct strbuf err = STRBUF_INIT;
	char *dir = xasprintf("%s/runtimes", scratch);
	char *v1 = xasprintf("%s/v1", dir);
	char *file = xasprintf("%s/Dockerfile", v1);
	int rc = -1;

	if (mkdir(dir, 0700) == 0 && mkdir(v1, 0700) == 0 &&
	    file_replace(file, dockerfile, strlen(dockerfile), 0600, &err) == 0)
		rc = 0;
	else
		printf("# %s: %s\n", file, err.len ? err.buf : strerror(errno));
	strbuf_release(&err);
	free(file);
	free(v1);
	free(dir);
	return rc;
}

static void
remove_runtime(void)
{
	char *dir = xasprintf("%s/runtimes", scratch);
	char *v1 = xasprintf("%s/v1", dir);
	char *file = xasprintf("%s/Dockerfile", v1);

	unlink(file);
	rmdir(v1);
	rmdir(dir);
	rmdir(scratch);
	free(file);
	free(v1);
	free(dir);
}

int
main(void)
{
	struct bots *bots;

	if (mkdtemp(scratch) == NULL || make_runtime() != 0) {
		printf("Bail out! scratch: %s\n", strerror(errno));
		return 1;
	}
	bots = load_bots();
	if (bots == NULL) {
		printf("Bail out! the test's bots.yaml does not load\n");
		remove_runtime();
		return 1;
	}
	test_docker__agrees_on_the_highest_version_both_speak(bots);
	test_docker__a_daemon_without_a_version_in_common_is_refused(bots);
	test_docker__every_version_shows_the_same_bots(bots);
	test_docker__every_version_shows_the_same_images(bots);
	test_docker__every_version_shows_health_in_inspect(bots);
	test_docker__every_version_shows_a_failed_build(bots);
	bots_free(bots);
	remove_runtime();
	return tap_done();
}
