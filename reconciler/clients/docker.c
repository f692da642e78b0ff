/* The Docker Engine API of the org containers, over a server connection. */
#include "config.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "docker.h"
#include "incus.h"
#include "xmalloc.h"

/* The API version agreed with one org's daemon. */
struct docker_version {
	char *org;
	char prefix[DOCKER_PREFIX_MAX]; /* "/v1.41" */
};

void
docker_client_init(struct docker_client *c, struct conn *conn)
{
	memset(c, 0, sizeof(*c));
	c->conn = conn;
	pthread_mutex_init(&c->lock, NULL);
}

void
docker_client_release(struct docker_client *c)
{
	size_t i;

	for (i = 0; i < c->nversions; i++)
		free(c->versions[i].org);
	free(c->versions);
	pthread_mutex_destroy(&c->lock);
	memset(c, 0, sizeof(*c));
}

/* "unix:/run/getbot/docker-ORG.sock": where org's daemon is dialled. */
static char *
docker_endpoint(const char *org)
{
	char *sock = incus_docker_socket(org);
	char *endpoint = xasprintf("unix:%s", sock);

	free(sock);
	return endpoint;
}

bool
docker_listening(struct docker_client *c, const char *org)
{
	char *endpoint = docker_endpoint(org);
	struct strbuf ignored = STRBUF_INIT;
	int fd = -1;
	bool up;

	up = c->conn->ops->dial(c->conn, endpoint, &fd, &ignored) == 0;
	if (up)
		close(fd);
	strbuf_release(&ignored);
	free(endpoint);
	return up;
}

/* Is v an API version as Docker writes one, "1.41": digits, a dot,
 * digits? Nothing else is compared, or put in a path. */
static bool
docker_version_valid(const char *v)
{
	size_t major, minor;

	if (v == NULL)
		return false;
	major = strspn(v, "0123456789");
	if (major == 0 || major > 4 || v[major] != '.')
		return false;
	minor = strspn(v + major + 1, "0123456789");
	return minor > 0 && minor <= 4 && v[major + 1 + minor] == '\0';
}

/* Compare valid API versions "1.41" and "1.52". */
static int
docker_version_cmp(const char *a, const char *b)
{
	long a1 = strtol(a, NULL, 10), b1 = strtol(b, NULL, 10);
	long a2 = strtol(strchr(a, '.') + 1, NULL, 10);
	long b2 = strtol(strchr(b, '.') + 1, NULL, 10);

	if (a1 != b1)
		return a1 < b1 ? -1 : 1;
	return a2 < b2 ? -1 : a2 > b2;
}

/* One request to org's daemon; path starts with '/' and is sent as is
 * (the caller adds the version prefix). The org, and for no answer the
 * socket, lead the error. */
static int
docker_send(struct docker_client *c, const char *org,
    const struct http_request *base, const char *path,
    struct http_response *resp, struct strbuf *err)
{
	char *sock = incus_docker_socket(org);
	char *endpoint = docker_endpoint(org);
	char *url = xasprintf("http://docker%s", path);
	struct http_request req = *base;
	int rc;

	req.url = url;
	req.conn = c->conn;
	req.endpoint = endpoint;
	if (req.timeout_ms == 0)
		req.timeout_ms = 120 * 1000L;
	if (req.max_body == 0)
		req.max_body = DOCKER_MAX_BODY;
	http_response_init(resp);
	rc = http_request(&req, resp, err);
	if (rc == PROVIDER_TRANSIENT && resp->status == 0) {
		char *why = strbuf_detach(err, NULL);

		strbuf_addf(err, "org %s: cannot reach Docker at %s%s: %s", org,
		    sock, c->conn->ops->through, why);
		free(why);
	} else if (rc != PROVIDER_OK) {
		char *why = strbuf_detach(err, NULL);

		strbuf_addf(err, "org %s: Docker: %s", org, why);
		free(why);
		/* Docker's 500 is an answer (a port taken, a runtime error),
		 * not a hiccup: retrying would make the same thing again */
		if (resp->status == 500)
			rc = PROVIDER_ERROR;
	}
	free(url);
	free(endpoint);
	free(sock);
	return rc;
}

/* The prefix agreed with org before, into prefix; false if none yet. */
static bool
docker_known_prefix(
    struct docker_client *c, const char *org, char prefix[DOCKER_PREFIX_MAX])
{
	bool found = false;
	size_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nversions && !found; i++)
		if (strcmp(c->versions[i].org, org) == 0) {
			memcpy(
			    prefix, c->versions[i].prefix, DOCKER_PREFIX_MAX);
			found = true;
		}
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* Remember prefix for org (a second thread's agreement is dropped). */
static void
docker_remember_prefix(struct docker_client *c, const char *org,
    const char prefix[DOCKER_PREFIX_MAX])
{
	size_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nversions; i++)
		if (strcmp(c->versions[i].org, org) == 0)
			break;
	if (i == c->nversions) {
		ALLOC_GROW(c->versions, c->nversions + 1, c->alloc);
		c->versions[c->nversions].org = xstrdup(org);
		memcpy(c->versions[c->nversions++].prefix, prefix,
		    DOCKER_PREFIX_MAX);
	}
	pthread_mutex_unlock(&c->lock);
}

int
docker_prefix(struct docker_client *c, struct provider_call *call,
    const char *org, bool wait, char prefix[DOCKER_PREFIX_MAX])
{
	struct http_request req = { 0 };
	struct http_response resp;
	const char *theirs, *minimum;
	time_t deadline = time(NULL) + (wait ? DOCKER_READY_WAIT : 0);
	int rc;

	if (docker_known_prefix(c, org, prefix))
		return PROVIDER_OK;
	req.method = "GET";
	req.timeout_ms = 10 * 1000L;
	for (;;) {
		provider_throttle(call);
		strbuf_reset(&call->err);
		rc = docker_send(c, org, &req, "/version", &resp, &call->err);
		if (rc != PROVIDER_TRANSIENT || time(NULL) >= deadline)
			break;
		http_response_release(&resp);
		sleep(1);
	}
	if (rc != PROVIDER_OK)
		goto out;
	theirs =
	    cJSON_GetStringValue(cJSON_GetObjectItem(resp.json, "ApiVersion"));
	minimum = cJSON_GetStringValue(
	    cJSON_GetObjectItem(resp.json, "MinAPIVersion"));
	if (!docker_version_valid(theirs) ||
	    (minimum != NULL && !docker_version_valid(minimum))) {
		strbuf_addf(&call->err,
		    "org %s: Docker's GET /version gave no usable API version "
		    "(ApiVersion %.16s, MinAPIVersion %.16s)",
		    org, theirs ? theirs : "none", minimum ? minimum : "none");
		rc = PROVIDER_ERROR;
		goto out;
	}
	/* the highest version both speak, if the ranges meet */
	if (docker_version_cmp(theirs, DOCKER_API_MIN) < 0 ||
	    (minimum != NULL &&
		docker_version_cmp(minimum, DOCKER_API_OURS) > 0)) {
		strbuf_addf(&call->err, "org %s: Docker speaks API ", org);
		if (minimum != NULL)
			strbuf_addf(&call->err, "%s to %s", minimum, theirs);
		else
			strbuf_addf(&call->err, "up to %s", theirs);
		strbuf_addf(&call->err,
		    ", getbot %s to %s: no version in common", DOCKER_API_MIN,
		    DOCKER_API_OURS);
		rc = PROVIDER_ERROR;
		goto out;
	}
	snprintf(prefix, DOCKER_PREFIX_MAX, "/v%s",
	    docker_version_cmp(theirs, DOCKER_API_OURS) < 0 ? theirs
							    : DOCKER_API_OURS);
	docker_remember_prefix(c, org, prefix);
out:
	http_response_release(&resp);
	return rc;
}

int
docker_request(struct docker_client *c, struct provider_call *call,
    const char *org, const struct http_request *base, const char *path,
    struct http_response *resp)
{
	char prefix[DOCKER_PREFIX_MAX], *full;
	int rc;

	http_response_init(resp);
	rc = docker_prefix(c, call, org, true, prefix);
	if (rc != PROVIDER_OK)
		return rc;
	full = xasprintf("%s%s", prefix, path);
	provider_throttle(call);
	rc = docker_send(c, org, base, full, resp, &call->err);
	free(full);
	return rc;
}

int
docker_call(struct docker_client *c, struct provider_call *call,
    const char *org, const char *method, const char *path, const cJSON *body,
    cJSON **out)
{
	struct http_request req = { 0 };
	struct http_response resp;
	char *text = NULL;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (body != NULL)
		text = cJSON_PrintUnformatted(body);
	req.method = method;
	req.json = text;
	rc = docker_request(c, call, org, &req, path, &resp);
	if (rc == PROVIDER_OK && out != NULL) {
		*out = resp.json;
		resp.json = NULL;
	}
	if (text != NULL) {
		/* a container's create body carries its keys */
		sodium_memzero(text, strlen(text));
		free(text);
	}
	/* and an inspect answer shows them back */
	sodium_memzero(resp.body.buf, resp.body.len);
	http_response_release(&resp);
	return rc;
}

bool
docker_failed_with(const struct provider_call *call, long status)
{
	char code[16];

	snprintf(code, sizeof(code), "HTTP %ld", status);
	return strstr(call->err.buf, code) != NULL;
}

int
docker_none_is_ok(struct provider_call *call, int rc)
{
	if (rc == PROVIDER_OK || !docker_failed_with(call, 404))
		return rc;
	strbuf_reset(&call->err);
	return PROVIDER_OK;
}

void
docker_wipe_env(cJSON *inspect)
{
	cJSON *item;

	cJSON_ArrayForEach (item,
	    cJSON_GetObjectItem(cJSON_GetObjectItem(inspect, "Config"), "Env"))
		if (cJSON_IsString(item))
			sodium_memzero(
			    item->valuestring, strlen(item->valuestring));
	cJSON_Delete(inspect);
}
