/*
 * The Docker Engine API of the org containers on a server, over the
 * server's connection: each org's daemon answers on the socket its
 * container's proxy device exposes on the server (incus_docker_socket),
 * dialled through the connection. Requests carry the API version agreed
 * with that daemon, the highest both speak: min(DOCKER_API_OURS, its
 * ApiVersion), asked once per client with the unversioned GET /version.
 * getbot speaks DOCKER_API_MIN (Docker 20.10, Debian 12's) to
 * DOCKER_API_OURS (Docker 29.0), every version in between checked against
 * the Engine API's version history for the fields getbot sends and reads
 * (README, "Docker API versions").
 *
 * Errors go into the call's slot in Docker's own words, prefixed with the
 * org ("org acme: Docker: POST /v1.52/containers/create: HTTP 409: ...").
 * Docker's 500 is an answer (a port taken, a runtime error), not a hiccup:
 * it is PROVIDER_ERROR, never retried.
 *
 * A client may be used by several threads at once.
 */
#ifndef GETBOT_DOCKER_H
#define GETBOT_DOCKER_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "provider.h"

#define DOCKER_API_OURS   "1.52" /* what getbot speaks, at most: Docker 29.0 */
#define DOCKER_API_MIN    "1.41" /* and at least: Docker 20.10, Debian 12's */
#define DOCKER_PREFIX_MAX 16     /* "/v1.52" and its NUL, with room */
#define DOCKER_READY_WAIT 90     /* seconds a new org's dockerd has to answer */
#define DOCKER_MAX_BODY   (32u << 20)

struct docker_version;

struct docker_client {
	struct conn *conn;               /* borrowed: the server's connection */
	pthread_mutex_t lock;            /* guards versions */
	struct docker_version *versions; /* agreed per org, filled lazily */
	size_t nversions, alloc;
};

void docker_client_init(struct docker_client *c, struct conn *conn);
void docker_client_release(struct docker_client *c);

/* Does anything take a connection on org's Docker socket? False when the
 * socket is missing (no org container yet) or refuses (it is stopped). */
bool docker_listening(struct docker_client *c, const char *org);

/*
 * The version prefix ("/v1.41") for org's daemon in prefix, agreed once
 * per client. With wait the daemon gets DOCKER_READY_WAIT seconds to
 * answer (a new org container's dockerd is still starting). A daemon
 * whose range (MinAPIVersion to ApiVersion) misses DOCKER_API_MIN to
 * DOCKER_API_OURS is PROVIDER_ERROR, and the message names both ranges.
 */
int docker_prefix(struct docker_client *c, struct provider_call *call,
    const char *org, bool wait, char prefix[DOCKER_PREFIX_MAX]);

/*
 * One versioned request to org's daemon, throttled by call's budget:
 * base's method, body and limits, to the version prefix and path (which
 * starts with '/' and is sent as is). The answer goes into resp, which
 * this initialises and the caller releases, whatever the outcome.
 */
int docker_request(struct docker_client *c, struct provider_call *call,
    const char *org, const struct http_request *base, const char *path,
    struct http_response *resp);

/*
 * docker_request with an optional JSON body (wiped after sending: a
 * container's create body carries its keys); the answer's JSON in *out
 * when out is not NULL (the caller deletes it). Docker's 404 and 409 are
 * answers, not failures to retry.
 */
int docker_call(struct docker_client *c, struct provider_call *call,
    const char *org, const char *method, const char *path, const cJSON *body,
    cJSON **out);

/* Was the call's last failure this HTTP status? */
bool docker_failed_with(const struct provider_call *call, long status);

/* rc, where Docker's 404 counts as success (the error slot cleared): for
 * a delete or a lookup, "there is none" is an answer. */
int docker_none_is_ok(struct provider_call *call, int rc);

/* Wipe the values of Config.Env in a container's inspect answer (they
 * hold its keys), then delete it. */
void docker_wipe_env(cJSON *inspect);

#endif
