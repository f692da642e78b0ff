/*
 * getbot-auth's tokens: compact JWTs signed with HS256 (HMAC-SHA256 under the
 * 32-byte signing key of auth.json). Two kinds exist, told apart by the
 * claim "typ" so one can never stand in for the other:
 *   getbot-session  the session cookie: sub (email), org, iat, exp
 *   getbot-state    the sign-in state:  org, ret (the page first asked for),
 *                   iat, exp
 * Every token also carries a random jti. Verification accepts only what
 * getbot-auth itself signs: header {"alg":"HS256"[,"typ":"JWT"]}, the known
 * claims and nothing else.
 */
#ifndef GETBOT_AUTH_JWT_H
#define GETBOT_AUTH_JWT_H

#include <stddef.h>

#include "strbuf.h"

#define AUTH_JWT_KEY_BYTES   32
#define AUTH_JWT_MAX         4096 /* the longest token looked at */
#define AUTH_JWT_RET_MAX     2048 /* the longest return path carried */
#define AUTH_JWT_LEEWAY      60   /* seconds of clock skew allowed on iat */
#define AUTH_JWT_TYP_SESSION "getbot-session"
#define AUTH_JWT_TYP_STATE   "getbot-state"

struct auth_jwt_claims {
	char *typ; /* owned; AUTH_JWT_TYP_* */
	char *sub; /* owned; the email (session), else NULL */
	char *org; /* owned; the org's name */
	char *ret; /* owned; the return path (state), else NULL */
	long long iat;
	long long exp;
};

#define AUTH_JWT_CLAIMS_INIT                                                   \
	{                                                                      \
		NULL, NULL, NULL, NULL, 0, 0                                   \
	}

/* Free the strings of claims and reset it. */
void auth_jwt_claims_clear(struct auth_jwt_claims *claims);

/* Sign the claims typ, sub, org, ret (each left out when NULL), iat and exp
 * into a new token the caller frees. */
char *auth_jwt_sign(const unsigned char key[AUTH_JWT_KEY_BYTES],
    const char *typ, const char *sub, const char *org, const char *ret,
    long long iat, long long exp);

/*
 * Verify token (len bytes, no NUL needed): an HS256 signature under key, the
 * claim typ equal to typ, exp after now, iat not after now + leeway, at
 * most max_lifetime seconds between them, org a DNS label, sub an email
 * (session) and ret a string (state). Returns 0 and fills *claims (the
 * caller clears it), or -1 with the reason in err (never the token).
 */
int auth_jwt_verify(const unsigned char key[AUTH_JWT_KEY_BYTES],
    const char *token, size_t len, const char *typ, long long now,
    long long max_lifetime, struct auth_jwt_claims *claims, struct strbuf *err);

/* Append data as unpadded base64url. */
void auth_jwt_base64url_encode(struct strbuf *sb, const void *data, size_t len);
/* Decode unpadded, canonical base64url into out; 0 or -1. */
int auth_jwt_base64url_decode(const char *s, size_t len, struct strbuf *out);

/*
 * Find the first cookie called name in a Cookie header (len bytes:
 * "a=1; b=2"). Returns 0 with *value pointing into header (quotes removed)
 * and *value_len, or -1 when there is none.
 */
int auth_jwt_cookie_find(const char *header, size_t len, const char *name,
    const char **value, size_t *value_len);

#endif
