/* The Incus REST API over a server connection. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "http.h"
#include "incus.h"
#include "xmalloc.h"

#define INCUS_MAX_BODY (32u << 20) /* the instance list of a big server */
#define INCUS_MAX_FILE (1u << 20)  /* a file read back: a log's tail */

/* The socket the target names, else $INCUS_SOCKET (a path on the server
 * too), else the first of the usual sockets that exists there. */
static char *
incus_find_socket(struct conn *conn, const char *named)
{
	static const char *const paths[] = { "/run/incus/unix.socket",
		"/var/lib/incus/unix.socket", "/var/lib/lxd/unix.socket" };
	const char *env = getenv("INCUS_SOCKET");
	size_t i;

	if (named != NULL)
		return xstrdup(named);
	if (env != NULL && *env != '\0')
		return xstrdup(env);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct conn_file_info info;
		struct strbuf ignored = STRBUF_INIT;
		int rc = conn->ops->stat(conn, paths[i], &info, &ignored);

		strbuf_release(&ignored);
		if (rc == 0)
			return xstrdup(paths[i]);
	}
	return xstrdup(paths[0]);
}

/*
 * Send one request to the daemon. A status of Incus' 500 is its answer to
 * a request it will not do (a duplicate name, a missing image), so it is
 * not retried; an unreachable socket names the socket.
 */
static int
incus_send(struct incus_client *s, const char *method, const char *path,
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
	req.conn = s->conn;
	req.endpoint = s->endpoint;
	req.timeout_ms = (INCUS_WAIT_SECONDS + 30) * 1000L;
	req.max_body = INCUS_MAX_BODY;
	http_response_init(resp);
	rc = http_request(&req, resp, err);
	if (resp->status != 0)
		s->answered = true;
	if (rc == PROVIDER_TRANSIENT && resp->status == 0) {
		/* curl's words ("METHOD PATH: why"), with the socket named */
		char *why = strbuf_detach(err, NULL);

		strbuf_addf(err, "cannot reach %s%s: %s", s->socket,
		    s->conn->ops->through, why);
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

/* Seconds from the environment variable name (1 to most), else def. */
static int
incus_env_seconds(const char *name, int def, int most)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (v == NULL || *v == '\0')
		return def;
	n = strtol(v, &end, 10);
	return *end == '\0' && n >= 1 && n <= most ? (int)n : def;
}

/* Operation status codes (Incus's REST API, "Status codes"): below 200
 * the operation has not ended; 200 is success; 400 and above failure. */
#define INCUS_STATUS_SUCCESS 200

/* What an operation says of its progress so far: its metadata's
 * "..._progress" strings ("rootfs: 45% (3.2MB/s)"), "; "-joined. */
static void
incus_op_progress(const cJSON *op, struct strbuf *out)
{
	const cJSON *item;
	bool any = false;

	cJSON_ArrayForEach (item, cJSON_GetObjectItem(op, "metadata")) {
		size_t n = item->string != NULL ? strlen(item->string) : 0;

		if (!cJSON_IsString(item) || n < 9 ||
		    strcmp(item->string + n - 9, "_progress") != 0)
			continue;
		strbuf_addf(out, "%s%s", any ? "; " : "", item->valuestring);
		any = true;
	}
}

/*
 * Wait for an operation and hand back its metadata. The wait answer is a
 * sync envelope whose metadata is the operation (new Incus: failure is
 * metadata.status_code 400 with err) or, on Incus <= 6.0.4 and LXD, an
 * error envelope inside HTTP 200. A wait that ends while the operation
 * still runs (the request's timeout) waits again, with a progress line,
 * up to GETBOT_INCUS_WAIT_MAX seconds in all (default INCUS_WAIT_MAX);
 * each request lasts GETBOT_INCUS_WAIT_SECONDS (INCUS_WAIT_SECONDS), or
 * progress->every when the caller wants progress more often.
 */
static int
incus_wait(struct incus_client *s, struct provider_call *call,
    const char *operation, const struct incus_progress *progress,
    cJSON **metadata)
{
	/* a request lasts no longer than incus_send lets it */
	int chunk = incus_env_seconds("GETBOT_INCUS_WAIT_SECONDS",
	    INCUS_WAIT_SECONDS, INCUS_WAIT_SECONDS);
	int max = incus_env_seconds("GETBOT_INCUS_WAIT_MAX", INCUS_WAIT_MAX,
	    7 * 24 * 3600);
	time_t start = time(NULL);
	struct strbuf line = STRBUF_INIT;
	struct http_response resp;
	int rc;

	if (progress != NULL && progress->every > 0 && progress->every < chunk)
		chunk = progress->every;
	http_response_init(&resp);
	for (;;) {
		int elapsed = (int)(time(NULL) - start);
		int timeout = max - elapsed < chunk ? max - elapsed : chunk;
		const char *type, *what;
		const cJSON *md;
		char *path;
		double code;
		size_t bare;

		if (timeout <= 0) {
			strbuf_addf(&call->err,
			    "%s still running after %d s, the most getbot waits "
			    "(GETBOT_INCUS_WAIT_MAX); it goes on on the server, "
			    "and the next apply sees what it did",
			    operation, elapsed);
			rc = PROVIDER_ERROR;
			break;
		}
		http_response_release(&resp);
		path = xasprintf("%s/wait?timeout=%d", operation, timeout);
		rc = incus_send(s, "GET", path, NULL, NULL, &resp, &call->err);
		free(path);
		if (rc != PROVIDER_OK)
			break;
		type = cJSON_GetStringValue(
		    cJSON_GetObjectItem(resp.json, "type"));
		md = cJSON_GetObjectItem(resp.json, "metadata");
		if ((type != NULL && strcmp(type, "error") == 0) ||
		    !cJSON_IsObject(md)) {
			/* Incus 6.0.4 answers a wait that timed out, and a
			 * failed operation, with an error envelope: the
			 * operation itself says which */
			incus_error_text(&resp, &call->err);
			http_response_release(&resp);
			if (incus_send(s, "GET", operation, NULL, NULL, &resp,
				&line) != PROVIDER_OK ||
			    !cJSON_IsObject(md = cJSON_GetObjectItem(
						resp.json, "metadata"))) {
				rc = PROVIDER_ERROR;
				break;
			}
			code = cJSON_GetNumberValue(
			    cJSON_GetObjectItem(md, "status_code"));
			if (!(code <= INCUS_STATUS_SUCCESS)) { /* failed */
				rc = PROVIDER_ERROR;
				break;
			}
			strbuf_reset(&call->err);
		}
		code = cJSON_GetNumberValue(
		    cJSON_GetObjectItem(md, "status_code"));
		if (code == INCUS_STATUS_SUCCESS) {
			if (metadata != NULL)
				*metadata = cJSON_Duplicate(md, true);
			rc = PROVIDER_OK;
			break;
		}
		if (!(code < INCUS_STATUS_SUCCESS)) { /* NaN too */
			const char *why = cJSON_GetStringValue(
			    cJSON_GetObjectItem(md, "err"));

			strbuf_addstr(&call->err,
			    why != NULL && *why ? why : "operation failed");
			rc = PROVIDER_ERROR;
			break;
		}
		/* still running: say so, and wait again */
		what = cJSON_GetStringValue(
		    cJSON_GetObjectItem(md, "description"));
		strbuf_reset(&line);
		strbuf_addf(&line, "%s: still running after %d s",
		    progress != NULL && progress->doing != NULL ? progress->doing
		    : what != NULL				? what
								: operation,
		    (int)(time(NULL) - start));
		strbuf_addstr(&line, ": ");
		bare = line.len;
		incus_op_progress(md, &line);
		if (progress != NULL && progress->poll != NULL)
			progress->poll(s, call, progress->ctx, &line);
		if (line.len == bare)
			strbuf_setlen(&line, bare - 2);
		provider_progress(call,
		    progress != NULL && progress->address != NULL
			? progress->address
			: "incus",
		    "%s", line.buf);
	}
	http_response_release(&resp);
	strbuf_release(&line);
	return rc;
}

static int
incus_request(struct incus_client *s, struct provider_call *call,
    const char *method, const char *path, const cJSON *body,
    const char *if_match, const struct incus_progress *progress,
    cJSON **metadata, char **etag)
{
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
			rc = incus_wait(s, call, op, progress, metadata);
	} else if (metadata != NULL)
		*metadata = cJSON_Duplicate(
		    cJSON_GetObjectItem(resp.json, "metadata"), true);
out:
	http_response_release(&resp);
	return rc;
}

int
incus_call(struct incus_client *s, struct provider_call *call,
    const char *method, const char *path, const cJSON *body,
    const char *if_match, cJSON **metadata, char **etag)
{
	return incus_request(
	    s, call, method, path, body, if_match, NULL, metadata, etag);
}

int
incus_call_progress(struct incus_client *s, struct provider_call *call,
    const char *method, const char *path, const cJSON *body,
    const struct incus_progress *progress, cJSON **metadata)
{
	return incus_request(
	    s, call, method, path, body, NULL, progress, metadata, NULL);
}

int
incus_client_open(struct incus_client *c, struct conn *conn, const char *socket,
    struct strbuf *err)
{
	struct provider_call call = { .err = STRBUF_INIT };
	cJSON *server = NULL;
	const char *kind;
	int rc;

	memset(c, 0, sizeof(*c));
	c->conn = conn;
	c->socket = incus_find_socket(conn, socket);
	c->endpoint = xasprintf("unix:%s", c->socket);
	rc = incus_call(c, &call, "GET", "/1.0", NULL, NULL, &server, NULL);
	if (rc != PROVIDER_OK) {
		bool answered = c->answered;

		strbuf_add(err, call.err.buf, call.err.len);
		strbuf_release(&call.err);
		incus_client_release(c);
		return answered ? -1 : INCUS_UNREACHABLE;
	}
	kind = cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(server, "environment"), "server"));
	c->lxd = kind != NULL && strcmp(kind, "lxd") == 0;
	cJSON_Delete(server);
	strbuf_release(&call.err);
	return 0;
}

void
incus_client_release(struct incus_client *c)
{
	free(c->socket);
	free(c->endpoint);
	memset(c, 0, sizeof(*c));
}

char *
incus_docker_socket(const char *org)
{
	return xasprintf("%s/docker-%s.sock", INCUS_SOCKET_DIR, org);
}

/* One request of the files API: Incus reads X-Incus-*, LXD X-LXD-*; each
 * ignores the other's. */
static int
incus_files_request(struct incus_client *s, const char *method,
    const char *instance, const char *path, const char *type, const char *data,
    size_t len, unsigned mode, struct strbuf *out, struct strbuf *err)
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
	req.conn = s->conn;
	req.endpoint = s->endpoint;
	req.timeout_ms = 60 * 1000L;
	req.body = data != NULL ? data : "";
	req.body_len = data != NULL ? len : 0;
	req.content_type = "application/octet-stream";
	if (strcmp(method, "DELETE") == 0 || strcmp(method, "GET") == 0)
		req.body = NULL;
	req.max_body = out != NULL ? INCUS_MAX_FILE : 0;
	http_response_init(&resp);
	rc = http_request(&req, &resp, err);
	if (rc == PROVIDER_TRANSIENT && resp.status == 500)
		rc = PROVIDER_ERROR;
	if (rc == PROVIDER_OK && out != NULL)
		strbuf_add(out, resp.body.buf, resp.body.len);
	http_response_release(&resp);
	strbuf_release(&url);
	strbuf_release(&mode_lxd);
	strbuf_release(&mode_incus);
	strbuf_release(&type_lxd);
	strbuf_release(&type_incus);
	return rc;
}

int
incus_write_file(struct incus_client *c, struct provider_call *call,
    const char *instance, const char *path, const char *data, size_t len,
    unsigned mode)
{
	struct strbuf dir = STRBUF_INIT;
	const char *slash;
	int rc = PROVIDER_OK;

	provider_throttle(call);
	if (data == NULL) {
		rc = incus_files_request(c, "DELETE", instance, path, "file",
		    NULL, 0, 0, NULL, &call->err);
		if (rc == PROVIDER_ERROR && strstr(call->err.buf, "HTTP 404"))
			rc = PROVIDER_OK, strbuf_reset(&call->err);
		goto out;
	}
	/* mkdir -p: each parent in turn (an existing one is fine) */
	for (slash = strchr(path + 1, '/'); slash != NULL && rc == PROVIDER_OK;
	     slash = strchr(slash + 1, '/')) {
		strbuf_reset(&dir);
		strbuf_add(&dir, path, (size_t)(slash - path));
		rc = incus_files_request(c, "POST", instance, dir.buf,
		    "directory", NULL, 0, 0755, NULL, &call->err);
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
		rc = incus_files_request(c, "POST", instance, path, "file",
		    data, len, mode, NULL, &call->err);
out:
	if (rc != PROVIDER_OK &&
	    strstr(call->err.buf, "cannot reach") == NULL) {
		char *why = strbuf_detach(&call->err, NULL);

		strbuf_addf(&call->err, "%s: %s: %s", instance, path, why);
		free(why);
	}
	strbuf_release(&dir);
	return rc;
}

int
incus_read_file(struct incus_client *c, struct provider_call *call,
    const char *instance, const char *path, struct strbuf *content)
{
	provider_throttle(call);
	return incus_files_request(c, "GET", instance, path, "file", NULL, 0,
	    0, content, &call->err);
}
