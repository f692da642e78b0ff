/* HS256 JWTs for getbot-auth: signing, strict verification, cookies. */
#include "config.h"

#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "auth-json.h"
#include "auth-jwt.h"
#include "identity.h"
#include "xmalloc.h"

/* The one header getbot-auth writes. */
#define AUTH_JWT_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

void
auth_jwt_claims_clear(struct auth_jwt_claims *claims)
{
	free(claims->typ);
	free(claims->sub);
	free(claims->org);
	free(claims->ret);
	memset(claims, 0, sizeof(*claims));
}

void
auth_jwt_base64url_encode(struct strbuf *sb, const void *data, size_t len)
{
	size_t need = sodium_base64_ENCODED_LEN(
	    len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);

	strbuf_grow(sb, need);
	sodium_bin2base64(sb->buf + sb->len, need, data, len,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	strbuf_setlen(sb, sb->len + strlen(sb->buf + sb->len));
}

int
auth_jwt_base64url_decode(const char *s, size_t len, struct strbuf *out)
{
	size_t max = len / 4 * 3 + 3, bin_len = 0;
	const char *end = NULL;

	strbuf_reset(out);
	strbuf_grow(out, max);
	/* libsodium refuses padding, stray characters and non-zero
	 * trailing bits, so every value has exactly one encoding */
	if (sodium_base642bin((unsigned char *)out->buf, max, s, len, NULL,
		&bin_len, &end,
		sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    end != s + len)
		return -1;
	strbuf_setlen(out, bin_len);
	return 0;
}

/* HMAC-SHA256 of data under key. */
static void
auth_jwt_hmac(const unsigned char key[AUTH_JWT_KEY_BYTES], const char *data,
    size_t len, unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
	crypto_auth_hmacsha256_state state;

	crypto_auth_hmacsha256_init(&state, key, AUTH_JWT_KEY_BYTES);
	crypto_auth_hmacsha256_update(&state, (const unsigned char *)data, len);
	crypto_auth_hmacsha256_final(&state, mac);
	sodium_memzero(&state, sizeof(state));
}

static void
auth_jwt_add_claim(struct strbuf *sb, const char *name, const char *value)
{
	if (value == NULL)
		return;
	strbuf_addf(sb, ",\"%s\":", name);
	strbuf_add_json_string(sb, value, strlen(value));
}

char *
auth_jwt_sign(const unsigned char key[AUTH_JWT_KEY_BYTES], const char *typ,
    const char *sub, const char *org, const char *ret, long long iat,
    long long exp)
{
	struct strbuf payload = STRBUF_INIT, token = STRBUF_INIT;
	unsigned char jti[16], mac[crypto_auth_hmacsha256_BYTES];

	randombytes_buf(jti, sizeof(jti));
	strbuf_addstr(&payload, "{\"typ\":");
	strbuf_add_json_string(&payload, typ, strlen(typ));
	auth_jwt_add_claim(&payload, "sub", sub);
	auth_jwt_add_claim(&payload, "org", org);
	auth_jwt_add_claim(&payload, "ret", ret);
	strbuf_addf(
	    &payload, ",\"iat\":%lld,\"exp\":%lld,\"jti\":\"", iat, exp);
	auth_jwt_base64url_encode(&payload, jti, sizeof(jti));
	strbuf_addstr(&payload, "\"}");

	auth_jwt_base64url_encode(
	    &token, AUTH_JWT_HEADER, strlen(AUTH_JWT_HEADER));
	strbuf_addch(&token, '.');
	auth_jwt_base64url_encode(&token, payload.buf, payload.len);
	auth_jwt_hmac(key, token.buf, token.len, mac);
	strbuf_addch(&token, '.');
	auth_jwt_base64url_encode(&token, mac, sizeof(mac));
	strbuf_release(&payload);
	return strbuf_detach(&token, NULL);
}

/* Decode one base64url part and parse it as a JSON object. */
static cJSON *
auth_jwt_parse_part(const char *s, size_t len, struct strbuf *scratch)
{
	cJSON *json;

	if (auth_jwt_base64url_decode(s, len, scratch) != 0)
		return NULL;
	json = auth_json_parse(scratch->buf, scratch->len, NULL);
	if (json != NULL && !cJSON_IsObject(json)) {
		cJSON_Delete(json);
		return NULL;
	}
	return json;
}

static int
auth_jwt_check_header(const char *s, size_t len, struct strbuf *err)
{
	static const char *const keys[] = { "alg", "typ", NULL };
	struct strbuf scratch = STRBUF_INIT;
	const cJSON *alg, *typ;
	cJSON *header = NULL;
	int rc = -1;

	header = auth_jwt_parse_part(s, len, &scratch);
	if (header == NULL) {
		strbuf_addstr(err, "token header is not base64url JSON");
		goto out;
	}
	alg = cJSON_GetObjectItemCaseSensitive(header, "alg");
	if (!cJSON_IsString(alg)) {
		strbuf_addstr(err, "token header has no alg");
		goto out;
	}
	if (strcmp(alg->valuestring, "HS256") != 0) {
		/* the name is shown only when it is short and plain */
		if (strlen(alg->valuestring) <= 16 &&
		    strspn(alg->valuestring,
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			"0123456789") == strlen(alg->valuestring))
			strbuf_addf(err, "token alg '%s' is not accepted",
			    alg->valuestring);
		else
			strbuf_addstr(err, "token alg is not accepted");
		goto out;
	}
	typ = cJSON_GetObjectItemCaseSensitive(header, "typ");
	if (typ != NULL &&
	    (!cJSON_IsString(typ) || strcmp(typ->valuestring, "JWT") != 0)) {
		strbuf_addstr(err, "token header typ is not JWT");
		goto out;
	}
	if (auth_json_check_keys(header, keys, "token header", err) != 0)
		goto out;
	rc = 0;
out:
	cJSON_Delete(header);
	strbuf_release(&scratch);
	return rc;
}

/* A string claim: NULL when absent, "" when present but not a string. */
static char *
auth_jwt_string_claim(const cJSON *payload, const char *name, size_t max)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(payload, name);

	if (item == NULL)
		return NULL;
	if (!cJSON_IsString(item) || strlen(item->valuestring) > max)
		return xstrdup("");
	return xstrdup(item->valuestring);
}

static int
auth_jwt_check_claims(const char *s, size_t len, const char *typ, long long now,
    long long max_lifetime, struct auth_jwt_claims *claims, struct strbuf *err)
{
	static const char *const keys[] = { "typ", "sub", "org", "ret", "iat",
		"exp", "jti", NULL };
	struct strbuf scratch = STRBUF_INIT;
	bool session = strcmp(typ, AUTH_JWT_TYP_SESSION) == 0;
	cJSON *payload = NULL;
	int rc = -1;

	payload = auth_jwt_parse_part(s, len, &scratch);
	if (payload == NULL) {
		strbuf_addstr(err, "token payload is not base64url JSON");
		goto out;
	}
	if (auth_json_check_keys(payload, keys, "token payload", err) != 0)
		goto out;
	claims->typ = auth_jwt_string_claim(payload, "typ", 32);
	claims->sub = auth_jwt_string_claim(payload, "sub", 320);
	claims->org = auth_jwt_string_claim(payload, "org", 63);
	claims->ret = auth_jwt_string_claim(payload, "ret", AUTH_JWT_RET_MAX);
	if (claims->typ == NULL || strcmp(claims->typ, typ) != 0) {
		strbuf_addf(err, "not a %s token", typ);
		goto out;
	}
	if (!auth_json_get_int(cJSON_GetObjectItemCaseSensitive(payload, "iat"),
		&claims->iat) ||
	    !auth_json_get_int(cJSON_GetObjectItemCaseSensitive(payload, "exp"),
		&claims->exp)) {
		strbuf_addstr(err, "token has no valid iat and exp");
		goto out;
	}
	if (claims->exp <= now) {
		strbuf_addstr(err, "token expired");
		goto out;
	}
	if (claims->iat > now + AUTH_JWT_LEEWAY) {
		strbuf_addstr(err, "token issued in the future");
		goto out;
	}
	if (claims->exp <= claims->iat ||
	    claims->exp - claims->iat > max_lifetime) {
		strbuf_addstr(err, "token lifetime is out of range");
		goto out;
	}
	if (claims->org == NULL || !identity_is_dns_label(claims->org)) {
		strbuf_addstr(err, "token has no valid org");
		goto out;
	}
	if (session ? claims->sub == NULL || !identity_is_email(claims->sub)
		    : claims->sub != NULL) {
		strbuf_addstr(err, "token has no valid sub");
		goto out;
	}
	if (session ? claims->ret != NULL
		    : claims->ret == NULL || claims->ret[0] == '\0') {
		strbuf_addstr(err, "token has no valid ret");
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(payload);
	strbuf_release(&scratch);
	return rc;
}

int
auth_jwt_verify(const unsigned char key[AUTH_JWT_KEY_BYTES], const char *token,
    size_t len, const char *typ, long long now, long long max_lifetime,
    struct auth_jwt_claims *claims, struct strbuf *err)
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	struct strbuf sig = STRBUF_INIT;
	size_t dot1 = 0, dot2 = 0, dots = 0, i;
	int rc = -1;

	memset(claims, 0, sizeof(*claims));
	if (len == 0 || len > AUTH_JWT_MAX) {
		strbuf_addstr(err, "token is empty or too long");
		goto out;
	}
	for (i = 0; i < len; i++) {
		if (token[i] == '.') {
			if (dots++ == 0)
				dot1 = i;
			else
				dot2 = i;
		} else if (token[i] == '\0' || strchr(b64url, token[i]) == NULL)
			break;
	}
	if (i != len || dots != 2 || dot1 == 0 || dot2 == dot1 + 1 ||
	    dot2 + 1 >= len) {
		strbuf_addstr(err, "token is not three base64url parts");
		goto out;
	}
	if (auth_jwt_check_header(token, dot1, err) != 0)
		goto out;
	if (auth_jwt_base64url_decode(token + dot2 + 1, len - dot2 - 1, &sig) !=
		0 ||
	    sig.len != sizeof(mac)) {
		strbuf_addstr(err, "token signature is malformed");
		goto out;
	}
	auth_jwt_hmac(key, token, dot2, mac);
	if (sodium_memcmp(mac, sig.buf, sizeof(mac)) != 0) {
		strbuf_addstr(err, "token signature does not match");
		goto out;
	}
	if (auth_jwt_check_claims(token + dot1 + 1, dot2 - dot1 - 1, typ, now,
		max_lifetime, claims, err) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		auth_jwt_claims_clear(claims);
	sodium_memzero(mac, sizeof(mac));
	strbuf_release(&sig);
	return rc;
}

static bool
auth_jwt_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

int
auth_jwt_cookie_find(const char *header, size_t len, const char *name,
    const char **value, size_t *value_len)
{
	size_t name_len = strlen(name), pos = 0;

	while (pos < len) {
		size_t start, end, eq;

		while (pos < len &&
		       (auth_jwt_is_ows(header[pos]) || header[pos] == ';'))
			pos++;
		start = pos;
		while (pos < len && header[pos] != ';')
			pos++;
		end = pos;
		while (end > start && auth_jwt_is_ows(header[end - 1]))
			end--;
		for (eq = start; eq < end && header[eq] != '='; eq++)
			;
		if (eq == end)
			continue;
		if (eq - start == name_len &&
		    memcmp(header + start, name, name_len) == 0) {
			const char *v = header + eq + 1;
			size_t vlen = end - eq - 1;

			if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
				v++;
				vlen -= 2;
			}
			*value = v;
			*value_len = vlen;
			return 0;
		}
	}
	return -1;
}
