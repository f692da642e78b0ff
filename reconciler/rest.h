/*
 * A small JSON-over-HTTP client (libcurl) for the providers that speak REST:
 * over a unix socket (Incus, Docker) or TCP (Caddy's admin API). Every
 * answer is read into a bounded buffer; transport failures and answers
 * that may succeed later are told apart from permanent ones.
 */
#ifndef GETBOT_REST_H
#define GETBOT_REST_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "strbuf.h"

#define REST_MAX_BODY (32 * 1024 * 1024)

struct rest_client {
	const char *endpoint;    /* for messages: the socket path or URL */
	const char *base_url;    /* "http://incus" or "http://127.0.0.1:2019" */
	const char *unix_socket; /* or NULL for TCP */
	long timeout_seconds;    /* whole request; 0: none */
	size_t max_body;         /* 0: REST_MAX_BODY */
};

struct rest_response {
	long status;
	struct strbuf body;
	cJSON *json;        /* the body parsed, when it is JSON */
	char *etag;         /* ETag header or trailer, or NULL */
	char *location;     /* Location header, or NULL */
	char *api_version;  /* Docker's API-Version header, or NULL */
	double retry_after; /* seconds, or 0 */
};

/*
 * Send method path (appended to base_url) with an optional JSON or raw
 * body (content_type NULL: none) and extra headers ("Name: value" strings,
 * NULL-terminated, may be NULL). Returns 0 when an answer arrived (any
 * status; see resp->status), PROVIDER_TRANSIENT when the endpoint could not
 * be reached or the connection broke, PROVIDER_ERROR otherwise; err says
 * why, naming the endpoint.
 */
int rest_request(const struct rest_client *client, const char *method,
    const char *path, const char *content_type, const void *body,
    size_t body_len, const char *const *headers, struct rest_response *resp,
    struct strbuf *err);
void rest_response_release(struct rest_response *resp);
/* Percent-encode s for a URL query or path segment into sb. */
void rest_escape(struct strbuf *sb, const char *s);

#endif
