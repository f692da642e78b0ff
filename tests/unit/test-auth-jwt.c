/* getbot-auth's tokens: HS256 signing and the strict verifier, base64url,
 * and finding the session cookie in a Cookie header. */
#include "config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth-jwt.h"
#include "strbuf.h"
#include "tap.h"
#include "xmalloc.h"

#define NOW  1700000000LL
#define HOUR 3600LL

static unsigned char key[AUTH_JWT_KEY_BYTES];
static unsigned char other_key[AUTH_JWT_KEY_BYTES];

/* A token with any header and payload JSON, signed with k (NULL: no
 * signature at all, as alg none sends it). */
static char *
raw_token(const unsigned char *k, const char *header, const char *payload)
{
	struct strbuf sb = STRBUF_INIT;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];

	auth_jwt_base64url_encode(&sb, header, strlen(header));
	strbuf_addch(&sb, '.');
	auth_jwt_base64url_encode(&sb, payload, strlen(payload));
	strbuf_addch(&sb, '.');
	if (k != NULL) {
		crypto_auth_hmacsha256_state st;

		crypto_auth_hmacsha256_init(&st, k, AUTH_JWT_KEY_BYTES);
		crypto_auth_hmacsha256_update(
		    &st, (const unsigned char *)sb.buf, sb.len - 1);
		crypto_auth_hmacsha256_final(&st, mac);
		auth_jwt_base64url_encode(&sb, mac, sizeof(mac));
	}
	return strbuf_detach(&sb, NULL);
}

static char *
session_payload(long long iat, long long exp)
{
	return xasprintf("{\"typ\":\"getbot-session\",\"sub\":\"bob@acme.com\","
			 "\"org\":\"acme\",\"iat\":%lld,\"exp\":%lld}",
	    iat, exp);
}

/* Verify token as a session at NOW; returns the verifier's result and
 * leaves its reason in why. */
static int
verify_session(const char *token, struct strbuf *why)
{
	struct auth_jwt_claims claims = AUTH_JWT_CLAIMS_INIT;
	int rc;

	strbuf_reset(why);
	rc = auth_jwt_verify(key, token, strlen(token), AUTH_JWT_TYP_SESSION,
	    NOW, 12 * HOUR, &claims, why);
	auth_jwt_claims_clear(&claims);
	return rc;
}

static void
expect_refused(const char *token, const char *reason, const char *what)
{
	struct strbuf why = STRBUF_INIT;

	is_int(verify_session(token, &why), -1, "%s is refused", what);
	ok(strstr(why.buf, reason) != NULL,
	    "%s: the reason says '%s' (got '%s')", what, reason, why.buf);
	strbuf_release(&why);
}

static void
expect_raw_refused(const unsigned char *k, const char *header,
    const char *payload, const char *reason, const char *what)
{
	char *token = raw_token(k, header, payload);

	expect_refused(token, reason, what);
	free(token);
}

static void
test_auth_jwt__session_round_trip(void)
{
	struct auth_jwt_claims claims = AUTH_JWT_CLAIMS_INIT;
	struct strbuf why = STRBUF_INIT;
	char *token = auth_jwt_sign(key, AUTH_JWT_TYP_SESSION, "bob@acme.com",
	    "acme", NULL, NOW, NOW + 12 * HOUR);
	int rc = auth_jwt_verify(key, token, strlen(token),
	    AUTH_JWT_TYP_SESSION, NOW, 12 * HOUR, &claims, &why);

	is_int(rc, 0, "a session token verifies (%s)", why.buf);
	is_str(claims.typ, "getbot-session", "typ");
	is_str(claims.sub, "bob@acme.com", "sub");
	is_str(claims.org, "acme", "org");
	ok(claims.ret == NULL, "no ret");
	is_int(claims.iat, NOW, "iat");
	is_int(claims.exp, NOW + 12 * HOUR, "exp");
	ok(strncmp(token, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37) == 0,
	    "the header is {\"alg\":\"HS256\",\"typ\":\"JWT\"}");
	auth_jwt_claims_clear(&claims);
	strbuf_release(&why);
	free(token);
}

static void
test_auth_jwt__state_round_trip(void)
{
	struct auth_jwt_claims claims = AUTH_JWT_CLAIMS_INIT;
	struct strbuf why = STRBUF_INIT;
	char *token = auth_jwt_sign(key, AUTH_JWT_TYP_STATE, NULL, "acme",
	    "/marketing/x?q=\"1\"", NOW, NOW + 600);
	int rc = auth_jwt_verify(key, token, strlen(token), AUTH_JWT_TYP_STATE,
	    NOW, 600, &claims, &why);

	is_int(rc, 0, "a state token verifies (%s)", why.buf);
	is_str(claims.ret, "/marketing/x?q=\"1\"", "ret survives JSON quoting");
	ok(claims.sub == NULL, "no sub");
	auth_jwt_claims_clear(&claims);
	strbuf_release(&why);
	free(token);
}

static void
test_auth_jwt__every_token_differs(void)
{
	char *a = auth_jwt_sign(key, AUTH_JWT_TYP_SESSION, "bob@acme.com",
	    "acme", NULL, NOW, NOW + HOUR);
	char *b = auth_jwt_sign(key, AUTH_JWT_TYP_SESSION, "bob@acme.com",
	    "acme", NULL, NOW, NOW + HOUR);

	ok(strcmp(a, b) != 0, "two tokens with the same claims differ (jti)");
	free(a);
	free(b);
}

static void
test_auth_jwt__typ_keeps_kinds_apart(void)
{
	struct auth_jwt_claims claims = AUTH_JWT_CLAIMS_INIT;
	struct strbuf why = STRBUF_INIT;
	char *state = auth_jwt_sign(
	    key, AUTH_JWT_TYP_STATE, NULL, "acme", "/x", NOW, NOW + 600);
	char *session = auth_jwt_sign(key, AUTH_JWT_TYP_SESSION, "bob@acme.com",
	    "acme", NULL, NOW, NOW + 600);

	expect_refused(state, "not a getbot-session token",
	    "a state token used as a session");
	is_int(auth_jwt_verify(key, session, strlen(session),
		   AUTH_JWT_TYP_STATE, NOW, 600, &claims, &why),
	    -1, "a session token used as a state is refused");
	ok(strstr(why.buf, "not a getbot-state token") != NULL,
	    "and the reason says so (got '%s')", why.buf);
	auth_jwt_claims_clear(&claims);
	strbuf_release(&why);
	free(state);
	free(session);
}

static void
test_auth_jwt__only_hs256_is_accepted(void)
{
	char *payload = session_payload(NOW, NOW + HOUR);

	expect_raw_refused(NULL, "{\"alg\":\"none\",\"typ\":\"JWT\"}", payload,
	    "token is not three base64url parts", "alg none, no signature");
	expect_raw_refused(key, "{\"alg\":\"none\",\"typ\":\"JWT\"}", payload,
	    "token alg 'none' is not accepted", "alg none, signed");
	expect_raw_refused(key, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload,
	    "token alg 'HS512' is not accepted", "alg HS512");
	expect_raw_refused(key, "{\"alg\":\"hs256\"}", payload,
	    "token alg 'hs256' is not accepted", "alg in lower case");
	expect_raw_refused(key, "{\"alg\":\"RS256\"}", payload,
	    "token alg 'RS256' is not accepted", "alg RS256");
	expect_raw_refused(key, "{\"typ\":\"JWT\"}", payload,
	    "token header has no alg", "a header without alg");
	expect_raw_refused(key, "{\"alg\":[\"HS256\"]}", payload,
	    "token header has no alg", "alg that is not a string");
	expect_raw_refused(key, "{\"alg\":\"HS256\",\"kid\":\"../../key\"}",
	    payload, "unknown key 'kid'", "a header with kid");
	expect_raw_refused(key, "{\"alg\":\"HS256\",\"typ\":\"JWS\"}", payload,
	    "typ is not JWT", "a header typ other than JWT");
	expect_raw_refused(key, "{\"alg\":\"HS256\",\"alg\":\"none\"}", payload,
	    "duplicate key 'alg'", "a header with alg twice");
	expect_raw_refused(key, "[\"HS256\"]", payload,
	    "header is not base64url JSON", "a header that is not an object");
	free(payload);
}

static void
test_auth_jwt__signature_must_match(void)
{
	char *payload = session_payload(NOW, NOW + HOUR);
	char *token = raw_token(key, "{\"alg\":\"HS256\"}", payload);
	size_t dot = strrchr(token, '.') - token;

	{
		char *good = raw_token(key, "{\"alg\":\"HS256\"}", payload);
		struct strbuf why = STRBUF_INIT;

		is_int(verify_session(good, &why), 0,
		    "a hand-made HS256 token verifies (%s)", why.buf);
		strbuf_release(&why);
		free(good);
	}
	expect_raw_refused(other_key, "{\"alg\":\"HS256\"}", payload,
	    "signature does not match", "a token signed with another key");
	token[dot + 5] = token[dot + 5] == 'A' ? 'B' : 'A';
	expect_refused(token, "signature", "a token with a changed signature");
	token[dot] = '\0';
	strcat(token, ".");
	expect_refused(token, "three base64url parts", "an empty signature");
	free(token);

	/* a changed payload under the original signature */
	token = raw_token(key, "{\"alg\":\"HS256\"}", payload);
	{
		char *other = session_payload(NOW, NOW + 2 * HOUR);
		char *forged = raw_token(key, "{\"alg\":\"HS256\"}", other);
		struct strbuf mix = STRBUF_INIT;

		strbuf_add(&mix, forged, strrchr(forged, '.') - forged);
		strbuf_addstr(&mix, strrchr(token, '.'));
		expect_refused(mix.buf, "signature does not match",
		    "a changed payload with the old signature");
		strbuf_release(&mix);
		free(forged);
		free(other);
	}
	free(token);
	free(payload);
}

static void
test_auth_jwt__time_claims(void)
{
	char *payload;

	payload = session_payload(NOW - HOUR, NOW);
	expect_raw_refused(key, "{\"alg\":\"HS256\"}", payload, "expired",
	    "a token whose exp is now");
	free(payload);
	payload = session_payload(NOW - 13 * HOUR, NOW - HOUR);
	expect_raw_refused(
	    key, "{\"alg\":\"HS256\"}", payload, "expired", "an expired token");
	free(payload);
	payload = session_payload(NOW + AUTH_JWT_LEEWAY + 1, NOW + HOUR);
	expect_raw_refused(key, "{\"alg\":\"HS256\"}", payload,
	    "issued in the future", "a token issued in the future");
	free(payload);
	payload = session_payload(NOW + AUTH_JWT_LEEWAY, NOW + HOUR);
	{
		char *token = raw_token(key, "{\"alg\":\"HS256\"}", payload);
		struct strbuf why = STRBUF_INIT;

		is_int(verify_session(token, &why), 0,
		    "a clock a minute ahead is tolerated (%s)", why.buf);
		strbuf_release(&why);
		free(token);
	}
	free(payload);
	payload = session_payload(NOW, NOW + 12 * HOUR + 1);
	expect_raw_refused(key, "{\"alg\":\"HS256\"}", payload,
	    "lifetime is out of range", "a lifetime over the maximum");
	free(payload);
	expect_raw_refused(key, "{\"alg\":\"HS256\"}",
	    "{\"typ\":\"getbot-session\",\"sub\":\"bob@acme.com\","
	    "\"org\":\"acme\",\"iat\":1700000000.5,\"exp\":1700003600}",
	    "no valid iat and exp", "a fractional iat");
	expect_raw_refused(key, "{\"alg\":\"HS256\"}",
	    "{\"typ\":\"getbot-session\",\"sub\":\"bob@acme.com\","
	    "\"org\":\"acme\",\"iat\":\"1700000000\",\"exp\":1700003600}",
	    "no valid iat and exp", "a string iat");
	expect_raw_refused(key, "{\"alg\":\"HS256\"}",
	    "{\"typ\":\"getbot-session\",\"sub\":\"bob@acme.com\","
	    "\"org\":\"acme\",\"iat\":1700000000}",
	    "no valid iat and exp", "a token without exp");
	expect_raw_refused(key, "{\"alg\":\"HS256\"}",
	    "{\"typ\":\"getbot-session\",\"sub\":\"bob@acme.com\","
	    "\"org\":\"acme\",\"iat\":1700000000,\"exp\":1e400}",
	    "no valid iat and exp", "an exp out of range");
}

static void
test_auth_jwt__claims_are_checked(void)
{
	expect_raw_refused(key, "{\"alg\":\"HS256\"}",
	    "{\"typ\":\"getbot-session\",\"sub\":\"not an email\","
	    "\"org\":\"acme\",\"iat\":1700000000,\"exp\":1700003600}",
	    "no valid sub", "a sub that is not an email");
	expect_raw_refused(key, "{\"alg\":\"HS256\"}",
	    "{\"typ\":\"getbot-session\",\"org\":\"acme\","
	    "\"iat\":1700000000,\"exp\":1700003600}",
	    "no valid sub", "a session without sub");
	expect_raw_refused(key, "{\"alg\":\"HS256\"}",
	    "{\"typ\":\"getbot-session\",\"sub\":\"bob@acme.com\","
	    "\"org\":\"Acme Corp\",\"iat\":1700000000,\"exp\":1700003600}",
	    "no valid org", "an org that is not a DNS label");
	expect_raw_refused(key, "{\"alg\":\"HS256\"}",
	    "{\"typ\":\"getbot-session\",\"sub\":\"bob@acme.com\","
	    "\"org\":\"acme\",\"iat\":1700000000,\"exp\":1700003600,"
	    "\"admin\":true}",
	    "unknown key 'admin'", "an unknown claim");
	expect_raw_refused(key, "{\"alg\":\"HS256\"}",
	    "{\"typ\":\"getbot-session\",\"sub\":\"bob@acme.com\","
	    "\"sub\":\"alice@acme.com\",\"org\":\"acme\","
	    "\"iat\":1700000000,\"exp\":1700003600}",
	    "duplicate key 'sub'", "a claim given twice");
	expect_raw_refused(key, "{\"alg\":\"HS256\"}",
	    "{\"typ\":\"getbot-session\",\"sub\":\"bob@acme.com\","
	    "\"org\":\"acme\",\"iat\":1700000000,\"exp\":1700003600} x",
	    "payload is not base64url JSON", "a payload with trailing bytes");
	expect_raw_refused(key, "{\"alg\":\"HS256\"}", "\"just a string\"",
	    "payload is not base64url JSON", "a payload that is not an object");
	expect_raw_refused(key, "{\"alg\":\"HS256\"}",
	    "{\"typ\":\"getbot-session\",\"sub\":\"bob@acme.com\","
	    "\"org\":\"acme\",\"ret\":\"/x\",\"iat\":1700000000,"
	    "\"exp\":1700003600}",
	    "no valid ret", "a session carrying ret");
}

static void
test_auth_jwt__malformed_tokens(void)
{
	char *good = auth_jwt_sign(key, AUTH_JWT_TYP_SESSION, "bob@acme.com",
	    "acme", NULL, NOW, NOW + HOUR);
	struct strbuf sb = STRBUF_INIT;
	const char *first_dot = strchr(good, '.');

	expect_refused("", "empty or too long", "an empty token");
	expect_refused("abc", "three base64url parts", "one part");
	expect_refused("a.b", "three base64url parts", "two parts");
	expect_refused("a.b.c.d", "three base64url parts", "four parts");
	expect_refused("..", "three base64url parts", "empty parts");
	expect_refused(".e30.abc", "three base64url parts", "an empty header");
	expect_refused("e30..abc", "three base64url parts", "an empty payload");
	expect_refused(
	    "e30=.e30.abc", "three base64url parts", "padding in a part");
	expect_refused("e3+.e30.abc", "three base64url parts",
	    "standard base64 characters");
	expect_refused("e30 .e30.abc", "three base64url parts", "a space");
	/* "e31" decodes to "{}" too, but its last character carries bits
	 * that are not zero: not the canonical encoding */
	expect_refused("e31.e30.abc", "header is not base64url JSON",
	    "non-canonical base64url");
	expect_refused("e.e30.abc", "header is not base64url JSON",
	    "a part of impossible length");

	/* a NUL inside the token, counted in its length */
	strbuf_addstr(&sb, good);
	sb.buf[first_dot - good + 3] = '\0';
	{
		struct auth_jwt_claims claims = AUTH_JWT_CLAIMS_INIT;
		struct strbuf why = STRBUF_INIT;

		is_int(auth_jwt_verify(key, sb.buf, sb.len,
			   AUTH_JWT_TYP_SESSION, NOW, HOUR, &claims, &why),
		    -1, "a NUL inside the token is refused");
		auth_jwt_claims_clear(&claims);
		strbuf_release(&why);
	}
	strbuf_reset(&sb);
	strbuf_addstr(&sb, good);
	while (sb.len <= AUTH_JWT_MAX)
		strbuf_addch(&sb, 'A');
	expect_refused(sb.buf, "empty or too long", "a token over 4096 bytes");
	strbuf_release(&sb);
	free(good);
}

static void
test_auth_jwt__base64url(void)
{
	static const unsigned char bytes[] = { 0xfb, 0xff, 0x00, 0x3e, 0x3f };
	struct strbuf enc = STRBUF_INIT, dec = STRBUF_INIT;

	auth_jwt_base64url_encode(&enc, bytes, sizeof(bytes));
	is_str(enc.buf, "-_8APj8", "base64url uses - and _, and no padding");
	is_int(auth_jwt_base64url_decode(enc.buf, enc.len, &dec), 0,
	    "and decodes");
	ok(dec.len == sizeof(bytes) && memcmp(dec.buf, bytes, dec.len) == 0,
	    "to the same bytes");
	is_int(auth_jwt_base64url_decode("-_8APj8=", 8, &dec), -1,
	    "padding is refused");
	is_int(auth_jwt_base64url_decode("+/8APj8", 7, &dec), -1,
	    "+ and / are refused");
	is_int(auth_jwt_base64url_decode("-_8APj9", 7, &dec), -1,
	    "non-zero trailing bits are refused");
	strbuf_release(&enc);
	strbuf_release(&dec);
}

static void
expect_cookie(const char *header, const char *want, const char *what)
{
	const char *value = NULL;
	size_t len = 0;
	int rc = auth_jwt_cookie_find(
	    header, strlen(header), "getbot_session", &value, &len);

	if (want == NULL) {
		is_int(rc, -1, "%s: no cookie", what);
		return;
	}
	is_int(rc, 0, "%s: found", what);
	ok(rc == 0 && len == strlen(want) && memcmp(value, want, len) == 0,
	    "%s: the value is '%s' (got '%.*s')", what, want, (int)len,
	    rc == 0 ? value : "");
}

static void
test_auth_jwt__cookie_header(void)
{
	expect_cookie("getbot_session=abc", "abc", "alone");
	expect_cookie("a=1; getbot_session=abc; b=2", "abc", "among others");
	expect_cookie("a=1;getbot_session=abc;b=2", "abc", "without spaces");
	expect_cookie(
	    "getbot_session=abc ; x=1", "abc", "trailing white space");
	expect_cookie("getbot_session=\"abc\"", "abc", "quoted");
	expect_cookie("getbot_session=one; getbot_session=two", "one",
	    "the first of two");
	expect_cookie("xgetbot_session=abc", NULL, "a longer name");
	expect_cookie("getbot_sessionx=abc", NULL, "a name it prefixes");
	expect_cookie("Getbot_Session=abc", NULL, "another case");
	expect_cookie("getbot_session", NULL, "a name without value");
	expect_cookie("", NULL, "an empty header");
	expect_cookie(";;; ;", NULL, "only separators");
	expect_cookie("getbot_session=", "", "an empty value");
	expect_cookie("a=b=c; getbot_session=x=y", "x=y", "= inside values");
}

int
main(void)
{
	if (sodium_init() < 0)
		return 99;
	memset(key, 'k', sizeof(key));
	memset(other_key, 'o', sizeof(other_key));
	test_auth_jwt__session_round_trip();
	test_auth_jwt__state_round_trip();
	test_auth_jwt__every_token_differs();
	test_auth_jwt__typ_keeps_kinds_apart();
	test_auth_jwt__only_hs256_is_accepted();
	test_auth_jwt__signature_must_match();
	test_auth_jwt__time_claims();
	test_auth_jwt__claims_are_checked();
	test_auth_jwt__malformed_tokens();
	test_auth_jwt__base64url();
	test_auth_jwt__cookie_header();
	return tap_done();
}
