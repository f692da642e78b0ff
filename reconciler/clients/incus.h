/*
 * The Incus REST API (LXD 5.0 speaks the same) on a server, over the
 * server's connection: requests, operations waited for, the files API.
 * Errors are the daemon's own words. Used by the incus provider for its
 * network and containers, and by the docker provider for the files it
 * leaves inside an org container.
 */
#ifndef GETBOT_INCUS_H
#define GETBOT_INCUS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "provider.h"

/* One wait request for an operation lasts this long; an operation still
 * running then is waited for again, up to INCUS_WAIT_MAX seconds in all
 * (GETBOT_INCUS_WAIT_SECONDS and GETBOT_INCUS_WAIT_MAX override them). */
#define INCUS_WAIT_SECONDS 120
#define INCUS_WAIT_MAX     1800

struct incus_client {
	struct conn *conn; /* borrowed */
	char *endpoint;    /* "unix:/run/incus/unix.socket" */
	char *socket;      /* the path, for messages */
	bool lxd;          /* the daemon is LXD, not Incus */
	bool answered;     /* the daemon has answered a request (any status) */
};

/* incus_client_open: nothing answered on the socket. */
#define INCUS_UNREACHABLE (-2)

/*
 * Find the daemon's socket on the server (socket, the target's incus.socket
 * when not NULL; else $INCUS_SOCKET; else the first of the usual paths that
 * exists) and ask the daemon what it is. Returns 0, INCUS_UNREACHABLE, or
 * -1 (it answered, but not as Incus does) with err. Release with
 * incus_client_release.
 */
int incus_client_open(struct incus_client *c, struct conn *conn,
    const char *socket, struct strbuf *err);
void incus_client_release(struct incus_client *c);

/*
 * One API call, throttled by call's budget: sync answers give their
 * metadata, async ones are waited for (their operation's metadata), errors
 * give the daemon's words in call->err. if_match, metadata and etag may
 * be NULL; *metadata and *etag are the caller's to free.
 */
int incus_call(struct incus_client *c, struct provider_call *call,
    const char *method, const char *path, const cJSON *body,
    const char *if_match, cJSON **metadata, char **etag);

/* How a long operation reports its progress while it runs. */
struct incus_progress {
	const char *address; /* whose action the lines are about */
	const char *doing;   /* "installing Docker inside" */
	int every;           /* seconds between lines, at most */
	/* Called between waits: may add what else it knows to line. */
	void (*poll)(struct incus_client *c, struct provider_call *call,
	    const void *ctx, struct strbuf *line);
	const void *ctx;
};

/* incus_call for a long operation, with progress lines while it runs
 * (provider_progress). */
int incus_call_progress(struct incus_client *c, struct provider_call *call,
    const char *method, const char *path, const cJSON *body,
    const struct incus_progress *progress, cJSON **metadata);

/* Append the file at path inside instance (at most 1 MiB) to content. */
int incus_read_file(struct incus_client *c, struct provider_call *call,
    const char *instance, const char *path, struct strbuf *content);

/*
 * Write a file inside instance through the files API (parent directories
 * made as needed, owned by root), or remove it (data NULL; a missing file
 * is not an error).
 */
int incus_write_file(struct incus_client *c, struct provider_call *call,
    const char *instance, const char *path, const char *data, size_t len,
    unsigned mode);

/* The server's socket an org container's Docker answers on (a proxy
 * device of the container). Free it. */
char *incus_docker_socket(const char *org);
/* The directory those sockets live in. */
#define INCUS_SOCKET_DIR "/run/getbot"
/* An org container's config key, "true" once Docker is installed inside:
 * until then its socket takes connections that nothing answers. */
#define INCUS_MARK_PROVISION "user.getbot.provisioned"

#endif
