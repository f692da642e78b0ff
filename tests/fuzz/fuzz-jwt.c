/* Fuzz target: the session cookie's way in. Arbitrary bytes are read as a
 * Cookie header (the getbot_session cookie found, then verified as a
 * session token), as a bare token of either kind, and as a return path and
 * request URI. Built with libFuzzer under --enable-fuzzing, and replayed
 * over tests/fuzz/corpus/jwt by replay.c in `make check`. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth-http.h"
#include "auth-jwt.h"
#include "strbuf.h"
#include "xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key the corpus is signed with: 32 bytes of 'k'. */
static const unsigned char fuzz_jwt_key[AUTH_JWT_KEY_BYTES + 1] =
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";

static void
fuzz_jwt_verify(const char *token, size_t len, const char *typ)
{
	struct auth_jwt_claims claims = AUTH_JWT_CLAIMS_INIT;
	struct strbuf err = STRBUF_INIT;

	/* a time inside the corpus tokens' lifetimes */
	(void)auth_jwt_verify(fuzz_jwt_key, token, len, typ, 1700000000,
	    AUTH_HTTP_SESSION_LIFETIME, &claims, &err);
	auth_jwt_claims_clear(&claims);
	strbuf_release(&err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *value;
	size_t value_len;
	char *copy, *bot = NULL;

	if (auth_jwt_cookie_find(
		text, size, AUTH_HTTP_COOKIE, &value, &value_len) == 0)
		fuzz_jwt_verify(value, value_len, AUTH_JWT_TYP_SESSION);
	fuzz_jwt_verify(text, size, AUTH_JWT_TYP_SESSION);
	fuzz_jwt_verify(text, size, AUTH_JWT_TYP_STATE);

	copy = xstrndup(text, size);
	(void)auth_http_return_path_ok(copy);
	if (auth_http_bot_from_uri(copy, &bot) == 0)
		free(bot);
	free(copy);
	return 0;
}
