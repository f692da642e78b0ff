/*
 * HTTP for providers: one request with libcurl, a bounded answer (curl's
 * dynbuf model: a body over max_body ends the transfer), the JSON parsed,
 * Retry-After read, and the outcome mapped to provider return codes:
 *
 *   2xx                               -> PROVIDER_OK
 *   no answer (connect, reset,
 *   timeout), 5xx, 429                -> PROVIDER_TRANSIENT
 *   other 4xx and the rest            -> PROVIDER_ERROR
 *
 * with the remote's own message in err ("HTTP 404: script not found").
 * The message is looked up in the shapes the APIs getbot speaks use:
 * Cloudflare's errors[].message, the router's error.message, Incus's and
 * Caddy's "error", Docker's "message". Generic over systems: a unix socket
 * path reaches Incus and Docker. The answer's ETag is kept, and a request
 * may carry If-Match, for safe concurrent edits (Incus, Caddy).
 *
 * Requests are independent (one easy handle each), so any thread may send
 * one at any time.
 */
#ifndef GETBOT_HTTP_H
#define GETBOT_HTTP_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

struct conn;

#define HTTP_MAX_BODY_DEFAULT (4u << 20) /* 4 MiB */
#define HTTP_MAX_ETAG         1024       /* longer ETags are dropped */

/* One part of a multipart/form-data body (curl's mime API). */
struct http_part {
	const char *name;
	const char *filename; /* or NULL */
	const char *type;     /* Content-Type, or NULL */
	const char *data;
	size_t len;
};

struct http_request {
	const char *method; /* GET, PUT, POST, PATCH, DELETE */
	const char *url;
	const char *bearer;         /* Authorization: Bearer ..., or NULL */
	const char *const *headers; /* more "Name: value" lines, NULL-ended */
	const char *json; /* a JSON body (Content-Type set), or NULL */
	const struct http_part *parts; /* a multipart body, or NULL */
	size_t nparts;
	const char *unix_socket; /* or NULL */
	/* Or through a server connection: the stream conn dials to
	 * endpoint ("unix:/PATH" or "HOST:PORT" on the server) carries the
	 * request, whatever the URL's host says. */
	struct conn *conn;
	const char *endpoint;
	long timeout_ms;         /* whole request; 0: 60 s */
	size_t max_body;         /* 0: HTTP_MAX_BODY_DEFAULT */
	/* any other body (a tar stream), when json and parts are NULL */
	const char *body;
	size_t body_len;
	const char *content_type; /* of body */
	const char *if_match;    /* If-Match: the ETag as received, or NULL */
};

struct http_response {
	long status;        /* 0 when no answer came */
	struct strbuf body; /* at most max_body bytes */
	cJSON *json;        /* the body parsed, or NULL */
	double retry_after; /* seconds, from Retry-After (0: none) */
	char *etag; /* owned: the ETag, from a header or a trailer (Caddy
		       <= 2.7 sends it after the body), quotes kept; or NULL */
};

void http_response_init(struct http_response *resp);
void http_response_release(struct http_response *resp);

/*
 * Send req; the answer goes into resp (initialised by the caller, reset
 * here). Returns PROVIDER_OK, PROVIDER_TRANSIENT or PROVIDER_ERROR as
 * above; on failure err says "METHOD PATH: why" in the remote's words. The
 * bearer token and bodies never appear in err.
 */
int http_request(const struct http_request *req, struct http_response *resp,
    struct strbuf *err);

/* The remote's message in a JSON error body, or NULL (borrowed). */
const char *http_error_message(const cJSON *body);

/* Seconds a Retry-After value asks for: delta-seconds or an HTTP date;
 * 0 when absent or malformed. now is the current time (for dates). */
double http_parse_retry_after(const char *value, long now);

/*
 * May getbot send credentials to url? https always; http only to a
 * loopback host (127.0.0.0/8, ::1, localhost), which tests and local
 * fakes use. Otherwise -1 and err says why.
 */
int http_check_url(const char *url, struct strbuf *err);

/* Percent-encode s for a path segment or query value. */
void http_add_escaped(struct strbuf *sb, const char *s);

#endif
