/* getbot-auth's decisions, without a network: /verify and the callback
 * with a stand-in for the code exchange, the return-path rules that keep
 * the sign-in from being an open redirect, and how a request URI names
 * its bot. */
#include "config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth-exchange.h"
#include "auth-http.h"
#include "auth-jwt.h"
#include "strbuf.h"
#include "tap.h"
#include "xmalloc.h"

#define NOW 1700000000LL
#define SIGN_IN                                                                \
	"https://auth.getbot.run/authorize?redirect_uri="                      \
	"https%3A%2F%2Facme.getbot.run%2F_getbot%2Fcallback&state="

static const char config_text[] =
    "{\"version\": 1,"
    " \"signing_key\": \"a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=\","
    " \"code_exchange_secret\": "
    "\"c3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3M=\","
    " \"auth_url\": \"https://auth.getbot.run\","
    " \"orgs\": {\"acme\": {\"domain\": \"acme.getbot.run\","
    "   \"emails\": [\"alice@acme.com\"],"
    "   \"bots\": {\"marketing\": {\"emails\": [\"bob@acme.com\"]}}},"
    "  \"globex\": {\"domain\": \"globex.getbot.run\"}}}";

static struct auth_config *config;
static struct auth_replay *replay;

/* The stand-in exchange: answers with exchange_email, or fails with
 * exchange_rc; counts its calls. */
static const char *exchange_email;
static int exchange_rc;
static int exchange_calls;
static char exchange_redirect_uri[256];

static int
fake_exchange(const struct auth_config *cfg, const char *code,
    const char *redirect_uri, char **email, struct strbuf *err)
{
	exchange_calls++;
	snprintf(exchange_redirect_uri, sizeof(exchange_redirect_uri), "%s",
	    redirect_uri);
	*email = NULL;
	if (exchange_rc != 0) {
		strbuf_addstr(err, "the sign-in server refused the code");
		return exchange_rc;
	}
	*email = xstrdup(exchange_email);
	return 0;
}

static void
handle(const struct auth_http_request *req, struct auth_http_response *resp)
{
	struct auth_http_context ctx = { config, replay, fake_exchange, NOW };

	auth_http_response_init(resp);
	auth_http_handle(&ctx, req, resp);
}

static void
verify(const char *host, const char *uri, const char *cookie,
    struct auth_http_response *resp)
{
	struct auth_http_request req = { "GET", "/verify", host, uri, cookie,
		NULL, NULL };

	handle(&req, resp);
}

static void
callback(const char *host, const char *code, const char *state,
    struct auth_http_response *resp)
{
	struct auth_http_request req = { "GET", AUTH_HTTP_CALLBACK_PATH, host,
		NULL, NULL, code, state };

	handle(&req, resp);
}

static char *
session_cookie(const char *email, const char *org)
{
	char *token = auth_jwt_sign(config->signing_key, AUTH_JWT_TYP_SESSION,
	    email, org, NULL, NOW - 60, NOW + 3600);
	char *cookie = xasprintf("getbot_session=%s", token);

	free(token);
	return cookie;
}

static char *
state_for(const char *org, const char *ret)
{
	return auth_jwt_sign(config->signing_key, AUTH_JWT_TYP_STATE, NULL, org,
	    ret, NOW, NOW + AUTH_HTTP_STATE_LIFETIME);
}

/* The state a sign-in redirect carries, or NULL. */
static char *
state_of(const struct auth_http_response *resp)
{
	const char *state = strstr(resp->location.buf, "&state=");

	return state != NULL ? xstrdup(state + 7) : NULL;
}

static void
test_auth_http__verify_without_cookie_redirects_to_sign_in(void)
{
	struct auth_http_response resp;
	struct auth_jwt_claims claims = AUTH_JWT_CLAIMS_INIT;
	struct strbuf why = STRBUF_INIT;
	char *state;

	verify("acme.getbot.run", "/marketing/page?x=1", NULL, &resp);
	is_int(resp.status, 302, "no cookie: 302");
	ok(strncmp(resp.location.buf, SIGN_IN, strlen(SIGN_IN)) == 0,
	    "to auth_url/authorize with the org's callback (got %s)",
	    resp.location.buf);
	state = state_of(&resp);
	is_int(auth_jwt_verify(config->signing_key, state, strlen(state),
		   AUTH_JWT_TYP_STATE, NOW, AUTH_HTTP_STATE_LIFETIME, &claims,
		   &why),
	    0, "the state is a signed state token (%s)", why.buf);
	is_str(claims.ret, "/marketing/page?x=1", "carrying the page");
	is_str(claims.org, "acme", "and the org");
	is_int(claims.exp - claims.iat, 600, "valid for 10 minutes");
	ok(resp.set_cookie.len == 0 && resp.remote_user.len == 0,
	    "no cookie, no Remote-User");
	ok(strstr(resp.log.buf, "verify sign-in org=acme bot=marketing "
				"path=/marketing/page reason=\"no session "
				"cookie\"") != NULL,
	    "the log line says why, without the query (got %s)", resp.log.buf);
	auth_jwt_claims_clear(&claims);
	strbuf_release(&why);
	free(state);
	auth_http_response_release(&resp);
}

static void
test_auth_http__verify_with_cookie(void)
{
	struct auth_http_response resp;
	char *bob = session_cookie("bob@acme.com", "acme");
	char *alice = session_cookie("alice@acme.com", "acme");
	char *mixed = xasprintf("a=1; %s; b=2", bob);

	verify("acme.getbot.run", "/marketing/x", bob, &resp);
	is_int(resp.status, 200, "a bot-level email on its bot: 200");
	is_str(resp.remote_user.buf, "bob@acme.com", "with Remote-User");
	ok(strstr(resp.log.buf, "verify allow org=acme bot=marketing "
				"email=bob@acme.com") != NULL,
	    "logged as allowed");
	ok(strstr(resp.log.buf, bob + 15) == NULL, "without the cookie");
	auth_http_response_release(&resp);

	verify("acme.getbot.run:443", "/marketing", mixed, &resp);
	is_int(resp.status, 200, "among other cookies, with a port: 200");
	auth_http_response_release(&resp);

	verify("acme.getbot.run", "/other", bob, &resp);
	is_int(resp.status, 302, "a bot-level email on another bot: sign in");
	ok(strstr(resp.log.buf, "reason=\"email not allowed here\"") != NULL,
	    "because the email is not allowed there");
	auth_http_response_release(&resp);

	verify("acme.getbot.run", "/other", alice, &resp);
	is_int(resp.status, 200, "an org-level email on any bot: 200");
	auth_http_response_release(&resp);

	verify("globex.getbot.run", "/x", alice, &resp);
	is_int(resp.status, 302, "a session of another org: sign in");
	ok(strstr(resp.log.buf, "session is for another org") != NULL,
	    "and the log says why");
	auth_http_response_release(&resp);
	free(bob);
	free(alice);
	free(mixed);
}

static void
test_auth_http__verify_refusals(void)
{
	struct auth_http_response resp;
	char *big = xmalloc(AUTH_HTTP_COOKIE_MAX + 2);

	verify("evil.example", "/marketing", NULL, &resp);
	is_int(resp.status, 403, "a host no org serves: 403");
	ok(resp.location.len == 0, "not a sign-in");
	auth_http_response_release(&resp);
	verify(NULL, "/marketing", NULL, &resp);
	is_int(resp.status, 403, "no host: 403");
	auth_http_response_release(&resp);
	verify("acme.getbot.run", NULL, NULL, &resp);
	is_int(resp.status, 400, "no X-Forwarded-Uri: 400");
	auth_http_response_release(&resp);
	verify("acme.getbot.run", "/marketing/../x", NULL, &resp);
	is_int(resp.status, 400, "a dot-dot path: 400");
	auth_http_response_release(&resp);

	memset(big, 'a', AUTH_HTTP_COOKIE_MAX + 1);
	big[AUTH_HTTP_COOKIE_MAX + 1] = '\0';
	verify("acme.getbot.run", "/marketing", big, &resp);
	is_int(resp.status, 302, "an oversized Cookie header: sign in");
	ok(strstr(resp.log.buf, "cookie header too large") != NULL,
	    "and the log says why");
	auth_http_response_release(&resp);
	free(big);
}

static void
test_auth_http__callback_signs_in(void)
{
	struct auth_http_response resp;
	struct auth_jwt_claims claims = AUTH_JWT_CLAIMS_INIT;
	struct strbuf why = STRBUF_INIT;
	char *state = state_for("acme", "/marketing/page?x=1");
	const char *value;
	size_t len;

	exchange_email = "bob@acme.com";
	exchange_rc = 0;
	exchange_calls = 0;
	callback("acme.getbot.run", "code-1", state, &resp);
	is_int(resp.status, 302, "an allowed email: 302");
	is_str(resp.location.buf, "/marketing/page?x=1",
	    "back to the page first asked for");
	is_str(exchange_redirect_uri,
	    "https://acme.getbot.run/_getbot/callback",
	    "the code was exchanged for the org's redirect_uri");
	ok(strncmp(resp.set_cookie.buf, "getbot_session=", 15) == 0,
	    "a session cookie is set");
	ok(strstr(resp.set_cookie.buf,
	       "; Path=/; Max-Age=43200; HttpOnly; Secure; SameSite=Lax") !=
		NULL,
	    "HttpOnly, Secure, SameSite=Lax, for 12 hours (got %s)",
	    resp.set_cookie.buf);
	ok(auth_jwt_cookie_find(resp.set_cookie.buf, resp.set_cookie.len,
	       AUTH_HTTP_COOKIE, &value, &len) == 0,
	    "the cookie can be read back");
	len = strcspn(value, ";");
	is_int(auth_jwt_verify(config->signing_key, value, len,
		   AUTH_JWT_TYP_SESSION, NOW, AUTH_HTTP_SESSION_LIFETIME,
		   &claims, &why),
	    0, "and is a session token (%s)", why.buf);
	is_str(claims.sub, "bob@acme.com", "for the email");
	is_str(claims.org, "acme", "and the org");
	ok(strstr(resp.log.buf, "code-1") == NULL &&
		strstr(resp.log.buf, state) == NULL,
	    "the log has neither code nor state (got %s)", resp.log.buf);
	auth_http_response_release(&resp);

	callback("acme.getbot.run", "code-1", state, &resp);
	is_int(resp.status, 400, "the same code again: 400");
	ok(resp.set_cookie.len == 0, "no cookie");
	is_int(exchange_calls, 1, "and the sign-in server is not asked again");
	ok(strstr(resp.log.buf, "code already used") != NULL,
	    "the log says why");
	auth_http_response_release(&resp);
	auth_jwt_claims_clear(&claims);
	strbuf_release(&why);
	free(state);
}

static void
test_auth_http__callback_refusals(void)
{
	struct auth_http_response resp;
	char *state = state_for("acme", "/marketing");
	char *evil = state_for("acme", "//evil.example/");
	char *globex = state_for("globex", "/x");
	char *session = session_cookie("bob@acme.com", "acme");

	exchange_email = "eve@acme.com";
	exchange_rc = 0;
	callback("acme.getbot.run", "code-2", state, &resp);
	is_int(resp.status, 403, "an email on no list: 403");
	ok(resp.set_cookie.len == 0, "no cookie");
	ok(strstr(resp.body.buf, "eve@acme.com may not use this bot") != NULL,
	    "the page says who");
	auth_http_response_release(&resp);

	exchange_email = "<script>@acme.com";
	callback("acme.getbot.run", "code-2b", state, &resp);
	ok(strstr(resp.body.buf, "<script>") == NULL,
	    "what the page shows is escaped");
	auth_http_response_release(&resp);

	exchange_rc = AUTH_EXCHANGE_REFUSED;
	callback("acme.getbot.run", "code-3", state, &resp);
	is_int(resp.status, 400, "a code the sign-in server refuses: 400");
	ok(resp.set_cookie.len == 0, "no cookie");
	auth_http_response_release(&resp);
	exchange_rc = -1;
	callback("acme.getbot.run", "code-4", state, &resp);
	is_int(resp.status, 502, "a sign-in server that fails: 502");
	auth_http_response_release(&resp);
	exchange_rc = 0;
	exchange_email = "alice@acme.com";

	exchange_calls = 0;
	callback("acme.getbot.run", "code-5", evil, &resp);
	is_int(resp.status, 400, "a signed state with an open redirect: 400");
	auth_http_response_release(&resp);
	callback("globex.getbot.run", "code-6", state, &resp);
	is_int(resp.status, 400, "a state of another org: 400");
	auth_http_response_release(&resp);
	callback("acme.getbot.run", "code-7", session + 15, &resp);
	is_int(resp.status, 400, "a session token as state: 400");
	auth_http_response_release(&resp);
	callback("acme.getbot.run", NULL, state, &resp);
	is_int(resp.status, 400, "no code: 400");
	auth_http_response_release(&resp);
	callback("acme.getbot.run", "code 8", state, &resp);
	is_int(resp.status, 400, "a code with a space: 400");
	auth_http_response_release(&resp);
	callback("acme.getbot.run", "code-9", NULL, &resp);
	is_int(resp.status, 400, "no state: 400");
	auth_http_response_release(&resp);
	callback("evil.example", "code-10", state, &resp);
	is_int(resp.status, 403, "a host no org serves: 403");
	auth_http_response_release(&resp);
	is_int(exchange_calls, 0, "none of these reached the sign-in server");
	free(state);
	free(evil);
	free(globex);
	free(session);
}

static void
test_auth_http__other_requests(void)
{
	struct auth_http_response resp;
	struct auth_http_request post = { "POST", "/verify", "acme.getbot.run",
		"/marketing", NULL, NULL, NULL };
	struct auth_http_request other = { "GET", "/admin", NULL, NULL, NULL,
		NULL, NULL };
	struct auth_http_request health = { "GET", "/healthz", NULL, NULL, NULL,
		NULL, NULL };

	handle(&post, &resp);
	is_int(resp.status, 405, "POST: 405");
	auth_http_response_release(&resp);
	handle(&other, &resp);
	is_int(resp.status, 404, "another path: 404");
	auth_http_response_release(&resp);
	handle(&health, &resp);
	is_int(resp.status, 200, "/healthz: 200");
	is_int(resp.log.len, 0, "and not logged");
	auth_http_response_release(&resp);
}

static void
expect_return_path(const char *path, bool want)
{
	ok(auth_http_return_path_ok(path) == want, "'%s' is %s", path,
	    want ? "a safe return path" : "not a return path");
}

static void
test_auth_http__return_paths(void)
{
	expect_return_path("/", true);
	expect_return_path("/marketing", true);
	expect_return_path("/marketing/page?x=1&y=%2F", true);
	expect_return_path("/marketing/a%20b", true);
	expect_return_path("", false);
	expect_return_path("marketing", false);
	expect_return_path("//evil.com", false);
	expect_return_path("//evil.com/marketing", false);
	expect_return_path("https://evil.com", false);
	expect_return_path("javascript:alert(1)", false);
	expect_return_path("/\\evil.com", false);
	expect_return_path("\\\\evil.com", false);
	expect_return_path("/marketing\\..\\x", false);
	expect_return_path("/%2F%2Fevil.com", false);
	expect_return_path("/%2fevil.com", false);
	expect_return_path("/%5Cevil.com", false);
	expect_return_path("/%5cevil.com", false);
	expect_return_path("/x%5Cy", false);
	expect_return_path("/x y", false);
	expect_return_path("/x\tevil", false);
	expect_return_path("/x%0d%0aSet-Cookie:%20a=b", false);
	expect_return_path("/x%00", false);
	expect_return_path("/x%", false);
	expect_return_path("/x%2", false);
	expect_return_path("/x%zz", false);
	expect_return_path("/caf\xc3\xa9", false);
	ok(!auth_http_return_path_ok(NULL), "NULL is not a return path");
	{
		char *long_path = xmalloc(AUTH_JWT_RET_MAX + 2);

		memset(long_path, 'a', AUTH_JWT_RET_MAX + 1);
		long_path[0] = '/';
		long_path[AUTH_JWT_RET_MAX + 1] = '\0';
		ok(!auth_http_return_path_ok(long_path),
		    "a path over 2048 bytes is not a return path");
		free(long_path);
	}
}

static void
expect_bot(const char *uri, const char *want)
{
	char *bot = NULL;
	int rc = auth_http_bot_from_uri(uri, &bot);

	if (want == NULL)
		is_int(rc, -1, "'%s' is not judged", uri);
	else
		is_str(bot, want, "'%s' is for bot '%s'", uri, want);
	free(bot);
}

static void
test_auth_http__bot_from_uri(void)
{
	expect_bot("/marketing", "marketing");
	expect_bot("/marketing/", "marketing");
	expect_bot("/marketing/x/y?z=/research", "marketing");
	expect_bot("/marketing?../research", "marketing");
	expect_bot("/MarKeting/x", "marketing");
	expect_bot("/%6Darketing/x", "marketing");
	expect_bot("/marketing%2Fx", "marketing");
	expect_bot("/", "");
	expect_bot("/?x", "");
	expect_bot("/marketing//x", "marketing");
	expect_bot("/marketing/../research", NULL);
	expect_bot("/marketing/%2E%2E/research", NULL);
	expect_bot("/marketing%2F..%2Fresearch", NULL);
	expect_bot("/./research", NULL);
	expect_bot("/marketing/.", NULL);
	expect_bot("//research", NULL);
	expect_bot("/%2Fresearch", NULL);
	expect_bot("/marketing\\..\\research", NULL);
	expect_bot("/marketing%5C..", NULL);
	expect_bot("/marketing%00", NULL);
	expect_bot("/marketing%", NULL);
	expect_bot("marketing", NULL);
	expect_bot("", NULL);
	expect_bot("http://acme.getbot.run/marketing", NULL);
}

static void
test_auth_http__query_values(void)
{
	struct strbuf sb = STRBUF_INIT;

	auth_http_add_query_value(&sb, "https://a.b/c?d=e&f g~-._");
	is_str(sb.buf, "https%3A%2F%2Fa.b%2Fc%3Fd%3De%26f%20g~-._",
	    "query values are percent-encoded");
	strbuf_release(&sb);
}

int
main(void)
{
	struct strbuf err = STRBUF_INIT;

	if (sodium_init() < 0 || auth_config_parse(config_text,
				     strlen(config_text), &config, &err) != 0) {
		printf("Bail out! %s\n", err.buf);
		return 99;
	}
	replay = auth_replay_new(16, 600);
	test_auth_http__verify_without_cookie_redirects_to_sign_in();
	test_auth_http__verify_with_cookie();
	test_auth_http__verify_refusals();
	test_auth_http__callback_signs_in();
	test_auth_http__callback_refusals();
	test_auth_http__other_requests();
	test_auth_http__return_paths();
	test_auth_http__bot_from_uri();
	test_auth_http__query_values();
	auth_replay_free(replay);
	auth_config_unref(config);
	strbuf_release(&err);
	return tap_done();
}
