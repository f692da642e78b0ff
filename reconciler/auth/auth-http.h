/*
 * getbot-auth's answers, apart from the HTTP server that carries them:
 *
 *   GET /verify             Caddy's forward_auth asks whether the request
 *                           (X-Forwarded-Host, X-Forwarded-Uri, Cookie) may
 *                           pass: 200 with Remote-User, 302 to the central
 *                           sign-in with a signed state, 403 for a host no
 *                           org serves, 400 for a path it will not judge.
 *   GET /_getbot/callback   the browser comes back from the sign-in with
 *                           ?code=&state=: the code is exchanged for an
 *                           email, checked against the allowlist, and a
 *                           session cookie set; 302 to the first page.
 *   GET /healthz            200 "ok".
 *
 * Every answer carries one log line describing the decision; it holds no
 * token, cookie, code or secret.
 */
#ifndef GETBOT_AUTH_HTTP_H
#define GETBOT_AUTH_HTTP_H

#include <stdbool.h>

#include "auth-config.h"
#include "auth-replay.h"
#include "strbuf.h"

#define AUTH_HTTP_COOKIE           "getbot_session"
#define AUTH_HTTP_CALLBACK_PATH    "/_getbot/callback"
#define AUTH_HTTP_SESSION_LIFETIME (12 * 60 * 60)
#define AUTH_HTTP_STATE_LIFETIME   (10 * 60)
#define AUTH_HTTP_COOKIE_MAX       8192 /* a longer Cookie header is ignored */
#define AUTH_HTTP_URI_MAX          4096
#define AUTH_HTTP_CODE_MAX         512

/* What a handler reads of a request; NULL when absent. */
struct auth_http_request {
	const char *method;
	const char *path;          /* the request's own path, no query */
	const char *host;          /* X-Forwarded-Host, else Host */
	const char *forwarded_uri; /* X-Forwarded-Uri */
	const char *cookie;        /* the Cookie header(s), joined by "; " */
	const char *code;          /* query argument of the callback */
	const char *state;         /* query argument of the callback */
};

struct auth_http_response {
	unsigned status;
	struct strbuf location;    /* Location, when not empty */
	struct strbuf set_cookie;  /* Set-Cookie, when not empty */
	struct strbuf remote_user; /* Remote-User, when not empty */
	struct strbuf body;        /* text/html; charset=utf-8 */
	struct strbuf log;         /* the decision, one line, no newline */
};

/* Exchanges a sign-in code for an email: auth_exchange_code's contract. */
typedef int auth_http_exchange_fn(const struct auth_config *cfg,
    const char *code, const char *redirect_uri, char **email,
    struct strbuf *err);

struct auth_http_context {
	const struct auth_config *config;
	struct auth_replay *replay; /* codes already used */
	auth_http_exchange_fn *exchange;
	long long now; /* seconds since the epoch */
};

void auth_http_response_init(struct auth_http_response *resp);
void auth_http_response_release(struct auth_http_response *resp);

/* Answer one request. */
void auth_http_handle(const struct auth_http_context *ctx,
    const struct auth_http_request *req, struct auth_http_response *resp);

/*
 * Is path safe to send a browser back to on the same host: it starts with
 * exactly one '/', has no backslash, no control or non-ASCII byte, and
 * decoding its %XX escapes changes none of that (no //evil.com, /\evil.com,
 * /%2F%2Fevil.com, https://evil.com)?
 */
bool auth_http_return_path_ok(const char *path);

/*
 * The bot a request URI is for: the first segment of its path once %XX
 * escapes are decoded, lowercased ("" for "/"), as Caddy's path matcher
 * sees it. Returns 0 and *bot (the caller frees it), or -1 when the path is
 * one getbot-auth will not judge, because a proxy may route it elsewhere
 * than it reads: not absolute, a bad escape, a leading "//", a "." or ".."
 * segment, a backslash or a control byte once decoded.
 */
int auth_http_bot_from_uri(const char *uri, char **bot);

/* Append s, percent-encoded for a URL query value. */
void auth_http_add_query_value(struct strbuf *sb, const char *s);

#endif
