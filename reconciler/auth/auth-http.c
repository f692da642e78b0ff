/* getbot-auth's decisions: /verify and the sign-in callback. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth-exchange.h"
#include "auth-http.h"
#include "auth-jwt.h"
#include "xmalloc.h"

void
auth_http_response_init(struct auth_http_response *resp)
{
	resp->status = 500;
	strbuf_init(&resp->location, 0);
	strbuf_init(&resp->set_cookie, 0);
	strbuf_init(&resp->remote_user, 0);
	strbuf_init(&resp->body, 0);
	strbuf_init(&resp->log, 0);
}

void
auth_http_response_release(struct auth_http_response *resp)
{
	strbuf_release(&resp->location);
	strbuf_release(&resp->set_cookie);
	strbuf_release(&resp->remote_user);
	strbuf_release(&resp->body);
	strbuf_release(&resp->log);
}

static int
auth_http_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode the %XX escapes of s[0..len) into out; -1 on a bad escape. */
static int
auth_http_unescape(const char *s, size_t len, struct strbuf *out)
{
	size_t i;

	strbuf_reset(out);
	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = auth_http_hex((unsigned char)s[i + 1]);
			lo = auth_http_hex((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			strbuf_addch(out, hi * 16 + lo);
			i += 2;
		} else
			strbuf_addch(out, s[i]);
	}
	return 0;
}

static bool
auth_http_has_control(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

bool
auth_http_return_path_ok(const char *path)
{
	struct strbuf decoded = STRBUF_INIT;
	size_t len, i;
	bool ok = false;

	if (path == NULL)
		return false;
	len = strlen(path);
	if (len == 0 || len > AUTH_JWT_RET_MAX || path[0] != '/' ||
	    path[1] == '/' || path[1] == '\\')
		goto out;
	for (i = 0; i < len; i++)
		if ((unsigned char)path[i] <= 0x20 ||
		    (unsigned char)path[i] >= 0x7f || path[i] == '\\')
			goto out;
	if (auth_http_unescape(path, len, &decoded) != 0 || decoded.len == 0 ||
	    decoded.buf[0] != '/' || decoded.buf[1] == '/' ||
	    decoded.buf[1] == '\\' ||
	    memchr(decoded.buf, '\\', decoded.len) != NULL ||
	    auth_http_has_control(decoded.buf, decoded.len))
		goto out;
	ok = true;
out:
	strbuf_release(&decoded);
	return ok;
}

int
auth_http_bot_from_uri(const char *uri, char **bot)
{
	struct strbuf path = STRBUF_INIT;
	size_t len, start, end, i;
	int rc = -1;

	*bot = NULL;
	if (uri == NULL || uri[0] != '/')
		goto out;
	len = strcspn(uri, "?#");
	if (auth_http_unescape(uri, len, &path) != 0 ||
	    auth_http_has_control(path.buf, path.len) ||
	    memchr(path.buf, '\\', path.len) != NULL ||
	    (path.len > 1 && path.buf[1] == '/'))
		goto out;
	for (start = 1; start <= path.len; start = end + 1) {
		end = start;
		while (end < path.len && path.buf[end] != '/')
			end++;
		if ((end - start == 1 && path.buf[start] == '.') ||
		    (end - start == 2 && path.buf[start] == '.' &&
			path.buf[start + 1] == '.'))
			goto out;
	}
	len = strcspn(path.buf + 1, "/");
	*bot = xstrndup(path.buf + 1, len);
	for (i = 0; i < len; i++)
		(*bot)[i] = (char)tolower((unsigned char)(*bot)[i]);
	rc = 0;
out:
	strbuf_release(&path);
	return rc;
}

void
auth_http_add_query_value(struct strbuf *sb, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			strbuf_addch(sb, c);
		else
			strbuf_addf(sb, "%%%02X", c);
	}
}

/* Append " name=value" to a log line, value escaped and cut short. */
static void
auth_http_log(struct strbuf *log, const char *name, const char *value)
{
	size_t i;

	strbuf_addf(log, " %s=", name);
	if (value == NULL) {
		strbuf_addch(log, '-');
		return;
	}
	for (i = 0; value[i] != '\0'; i++) {
		unsigned char c = (unsigned char)value[i];

		if (i == 128) {
			strbuf_addstr(log, "...");
			break;
		}
		if (c > 0x20 && c < 0x7f && c != '"' && c != '\\')
			strbuf_addch(log, c);
		else
			strbuf_addf(log, "\\x%02x", c);
	}
}

static void
auth_http_add_html(struct strbuf *sb, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<':
			strbuf_addstr(sb, "&lt;");
			break;
		case '>':
			strbuf_addstr(sb, "&gt;");
			break;
		case '&':
			strbuf_addstr(sb, "&amp;");
			break;
		case '"':
			strbuf_addstr(sb, "&quot;");
			break;
		case '\'':
			strbuf_addstr(sb, "&#39;");
			break;
		default:
			strbuf_addch(sb, *s);
		}
	}
}

/* A short HTML page; message is plain text. */
static void
auth_http_page(struct auth_http_response *resp, unsigned status,
    const char *title, const char *message)
{
	resp->status = status;
	strbuf_reset(&resp->body);
	strbuf_addstr(&resp->body,
	    "<!doctype html>\n<html lang=\"en\"><meta charset=\"utf-8\">"
	    "<title>");
	auth_http_add_html(&resp->body, title);
	strbuf_addstr(&resp->body, "</title>\n<h1>");
	auth_http_add_html(&resp->body, title);
	strbuf_addstr(&resp->body, "</h1>\n<p>");
	auth_http_add_html(&resp->body, message);
	strbuf_addstr(&resp->body, "</p>\n</html>\n");
}

/* The path part of a URI, for logs: the query may hold anything. */
static char *
auth_http_log_path(const char *uri)
{
	return xstrndup(uri, strcspn(uri, "?#"));
}

static char *
auth_http_redirect_uri(const struct auth_org *org)
{
	return xasprintf("https://%s%s", org->domain, AUTH_HTTP_CALLBACK_PATH);
}

/* 302 to the central sign-in, with a state for the page asked for. */
static void
auth_http_sign_in(const struct auth_http_context *ctx,
    const struct auth_org *org, const char *bot, const char *uri,
    struct auth_http_response *resp)
{
	char *ret = NULL, *token, *redirect_uri;

	if (auth_http_return_path_ok(uri))
		ret = xstrdup(uri);
	else
		ret = xasprintf("/%s", bot);
	token =
	    auth_jwt_sign(ctx->config->signing_key, AUTH_JWT_TYP_STATE, NULL,
		org->name, ret, ctx->now, ctx->now + AUTH_HTTP_STATE_LIFETIME);
	redirect_uri = auth_http_redirect_uri(org);

	resp->status = 302;
	strbuf_addf(&resp->location,
	    "%s/authorize?redirect_uri=", ctx->config->auth_url);
	auth_http_add_query_value(&resp->location, redirect_uri);
	strbuf_addstr(&resp->location, "&state=");
	auth_http_add_query_value(&resp->location, token);
	free(redirect_uri);
	free(token);
	free(ret);
}

static void
auth_http_verify(const struct auth_http_context *ctx,
    const struct auth_http_request *req, struct auth_http_response *resp)
{
	struct auth_jwt_claims claims = AUTH_JWT_CLAIMS_INIT;
	struct strbuf why = STRBUF_INIT;
	const struct auth_org *org;
	const char *value;
	size_t value_len;
	char *bot = NULL, *path = NULL;

	strbuf_addstr(&resp->log, "verify");
	org = auth_config_find_org(ctx->config, req->host);
	if (org == NULL) {
		strbuf_addstr(&resp->log, " deny");
		auth_http_log(&resp->log, "host", req->host);
		strbuf_addstr(&resp->log, " reason=\"no org for this host\"");
		auth_http_page(resp, 403, "Forbidden",
		    "No organisation is served at this address.");
		goto out;
	}
	if (req->forwarded_uri == NULL ||
	    strlen(req->forwarded_uri) > AUTH_HTTP_URI_MAX ||
	    auth_http_bot_from_uri(req->forwarded_uri, &bot) != 0) {
		strbuf_addf(&resp->log, " fail org=%s", org->name);
		strbuf_addstr(&resp->log, " reason=\"a request path it will "
					  "not judge\"");
		auth_http_page(
		    resp, 400, "Bad request", "This address cannot be served.");
		goto out;
	}
	path = auth_http_log_path(req->forwarded_uri);
	if (req->cookie == NULL)
		strbuf_addstr(&why, "no session cookie");
	else if (strlen(req->cookie) > AUTH_HTTP_COOKIE_MAX)
		strbuf_addstr(&why, "cookie header too large");
	else if (auth_jwt_cookie_find(req->cookie, strlen(req->cookie),
		     AUTH_HTTP_COOKIE, &value, &value_len) != 0)
		strbuf_addstr(&why, "no session cookie");
	else if (auth_jwt_verify(ctx->config->signing_key, value, value_len,
		     AUTH_JWT_TYP_SESSION, ctx->now, AUTH_HTTP_SESSION_LIFETIME,
		     &claims, &why) != 0)
		; /* why says it */
	else if (strcmp(claims.org, org->name) != 0)
		strbuf_addstr(&why, "session is for another org");
	else if (!auth_config_allowed(org, bot, claims.sub))
		strbuf_addstr(&why, "email not allowed here");
	else {
		resp->status = 200;
		strbuf_addstr(&resp->remote_user, claims.sub);
		strbuf_addf(&resp->log, " allow org=%s", org->name);
		auth_http_log(&resp->log, "bot", bot);
		auth_http_log(&resp->log, "email", claims.sub);
		auth_http_log(&resp->log, "path", path);
		goto out;
	}
	auth_http_sign_in(ctx, org, bot, req->forwarded_uri, resp);
	strbuf_addf(&resp->log, " sign-in org=%s", org->name);
	auth_http_log(&resp->log, "bot", bot);
	if (claims.sub != NULL)
		auth_http_log(&resp->log, "email", claims.sub);
	auth_http_log(&resp->log, "path", path);
	strbuf_addf(&resp->log, " reason=\"%s\"", why.buf);
out:
	auth_jwt_claims_clear(&claims);
	strbuf_release(&why);
	free(bot);
	free(path);
}

static bool
auth_http_is_code(const char *code)
{
	size_t len = strlen(code), i;

	if (len == 0 || len > AUTH_HTTP_CODE_MAX)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)code[i] <= 0x20 ||
		    (unsigned char)code[i] >= 0x7f)
			return false;
	return true;
}

/* A failed sign-in: a page saying what to do, and the reason logged. */
static void
auth_http_fail(
    struct auth_http_response *resp, unsigned status, const char *message)
{
	auth_http_page(resp, status,
	    status == 502 ? "Sign-in unavailable" : "Sign-in failed", message);
}

static void
auth_http_callback(const struct auth_http_context *ctx,
    const struct auth_http_request *req, struct auth_http_response *resp)
{
	struct auth_jwt_claims state = AUTH_JWT_CLAIMS_INIT;
	struct strbuf why = STRBUF_INIT, msg = STRBUF_INIT;
	const struct auth_org *org;
	char *email = NULL, *bot = NULL, *redirect_uri = NULL, *token = NULL;
	int rc;

	org = auth_config_find_org(ctx->config, req->host);
	if (org == NULL) {
		strbuf_addstr(&why, "no org for this host");
		auth_http_page(resp, 403, "Forbidden",
		    "No organisation is served at this address.");
		goto out;
	}
	if (req->code == NULL || req->state == NULL ||
	    !auth_http_is_code(req->code)) {
		strbuf_addstr(&why, "no valid code and state");
		auth_http_fail(resp, 400,
		    "The sign-in link is incomplete. Please open the page "
		    "again.");
		goto out;
	}
	if (auth_jwt_verify(ctx->config->signing_key, req->state,
		strlen(req->state), AUTH_JWT_TYP_STATE, ctx->now,
		AUTH_HTTP_STATE_LIFETIME, &state, &why) != 0) {
		auth_http_fail(resp, 400,
		    "The sign-in link is invalid or has expired. Please open "
		    "the page again.");
		goto out;
	}
	if (strcmp(state.org, org->name) != 0) {
		strbuf_addstr(&why, "state is for another org");
		auth_http_fail(
		    resp, 400, "The sign-in link is for another address.");
		goto out;
	}
	if (!auth_http_return_path_ok(state.ret) ||
	    auth_http_bot_from_uri(state.ret, &bot) != 0) {
		strbuf_addstr(&why, "state carries a bad return path");
		auth_http_fail(resp, 400, "The sign-in link is invalid.");
		goto out;
	}
	if (auth_replay_use(
		ctx->replay, req->code, strlen(req->code), ctx->now) != 0) {
		strbuf_addstr(&why, "code already used");
		auth_http_fail(resp, 400,
		    "This sign-in link was already used. Please open the page "
		    "again.");
		goto out;
	}
	redirect_uri = auth_http_redirect_uri(org);
	rc = ctx->exchange(ctx->config, req->code, redirect_uri, &email, &why);
	if (rc != 0) {
		if (rc == AUTH_EXCHANGE_REFUSED)
			auth_http_fail(resp, 400,
			    "The sign-in server did not accept this sign-in. "
			    "Please open the page again.");
		else
			auth_http_fail(resp, 502,
			    "The sign-in server cannot be reached. Please try "
			    "again later.");
		goto out;
	}
	if (!auth_config_allowed(org, bot, email)) {
		strbuf_addstr(&why, "email not allowed here");
		strbuf_addf(&msg,
		    "%s may not use this bot. Ask its owner to add you.",
		    email);
		auth_http_page(resp, 403, "Forbidden", msg.buf);
		goto out;
	}
	token = auth_jwt_sign(ctx->config->signing_key, AUTH_JWT_TYP_SESSION,
	    email, org->name, NULL, ctx->now,
	    ctx->now + AUTH_HTTP_SESSION_LIFETIME);
	strbuf_addf(&resp->set_cookie,
	    "%s=%s; Path=/; Max-Age=%d; HttpOnly; Secure; SameSite=Lax",
	    AUTH_HTTP_COOKIE, token, AUTH_HTTP_SESSION_LIFETIME);
	strbuf_addstr(&resp->location, state.ret);
	resp->status = 302;
out:
	strbuf_addf(&resp->log, "callback %s",
	    resp->status == 302   ? "allow"
	    : resp->status == 403 ? "deny"
				  : "fail");
	if (org != NULL)
		strbuf_addf(&resp->log, " org=%s", org->name);
	else
		auth_http_log(&resp->log, "host", req->host);
	if (bot != NULL)
		auth_http_log(&resp->log, "bot", bot);
	if (email != NULL)
		auth_http_log(&resp->log, "email", email);
	if (state.ret != NULL) {
		char *path = auth_http_log_path(state.ret);

		auth_http_log(&resp->log, "path", path);
		free(path);
	}
	if (why.len > 0)
		strbuf_addf(&resp->log, " reason=\"%s\"", why.buf);
	auth_jwt_claims_clear(&state);
	strbuf_release(&why);
	strbuf_release(&msg);
	free(email);
	free(bot);
	free(redirect_uri);
	free(token);
}

void
auth_http_handle(const struct auth_http_context *ctx,
    const struct auth_http_request *req, struct auth_http_response *resp)
{
	if (req->method == NULL || (strcmp(req->method, "GET") != 0 &&
				       strcmp(req->method, "HEAD") != 0)) {
		strbuf_addstr(&resp->log, "request refused reason=\"method\"");
		auth_http_page(resp, 405, "Method not allowed",
		    "Only GET is served here.");
	} else if (strcmp(req->path, "/verify") == 0)
		auth_http_verify(ctx, req, resp);
	else if (strcmp(req->path, AUTH_HTTP_CALLBACK_PATH) == 0)
		auth_http_callback(ctx, req, resp);
	else if (strcmp(req->path, "/healthz") == 0) {
		resp->status = 200;
		strbuf_addstr(&resp->body, "ok\n");
	} else {
		strbuf_addstr(&resp->log, "request refused reason=\"no such "
					  "path\"");
		auth_http_page(resp, 404, "Not found", "Nothing is here.");
	}
}
