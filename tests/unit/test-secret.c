/* Sealed secrets: the seal key's format, and boxes opened with it from
 * GETBOT_SEAL_KEY or GETBOT_SEAL_KEY_FILE. */
#include "config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"
#include "strbuf.h"
#include "tap.h"
#include "xmalloc.h"

static char key_dir[] = "/tmp/getbot-test-secret.XXXXXX";

/* A key pair; the secret key's text (one line of base64, as keygen writes
 * it) into sk_text. */
static void
make_keys(unsigned char pk[crypto_box_PUBLICKEYBYTES],
    char sk_text[crypto_box_SECRETKEYBYTES * 2])
{
	unsigned char sk[crypto_box_SECRETKEYBYTES];

	crypto_box_keypair(pk, sk);
	sodium_bin2base64(sk_text, crypto_box_SECRETKEYBYTES * 2, sk,
	    sizeof(sk), sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(sk, sizeof(sk));
}

/* value sealed to pk, as base64 (free it) */
static char *
seal(const unsigned char *pk, const char *value, size_t len)
{
	size_t box_len = crypto_box_SEALBYTES + len, b64_len;
	unsigned char *box = xmalloc(box_len);
	char *b64;

	crypto_box_seal(box, (const unsigned char *)value, len, pk);
	b64_len =
	    sodium_base64_ENCODED_LEN(box_len, sodium_base64_VARIANT_ORIGINAL);
	b64 = xmalloc(b64_len);
	sodium_bin2base64(
	    b64, b64_len, box, box_len, sodium_base64_VARIANT_ORIGINAL);
	free(box);
	return b64;
}

/* A key file holding text with mode; its path (free it). */
static char *
key_file(const char *name, const char *text, mode_t mode)
{
	char *path = xasprintf("%s/%s", key_dir, name);
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

static int
open_sealed(const char *b64, struct secret **out, struct strbuf *err)
{
	struct bots_secret ref = { BOTS_SECRET_SEALED, b64, NULL };

	return secret_resolve(&ref, NULL, "test.a", "KEY", out, err);
}

static void
test_secret__key_text_is_one_line_of_base64(void)
{
	unsigned char key[32];
	const char *good = "XnZrDjPZKEMqh1+vv92mu4hPoKbjRdBfMzv5ahGCA3s=";
	struct {
		const char *text, *why;
		int want;
	} cases[] = {
		{ "XnZrDjPZKEMqh1+vv92mu4hPoKbjRdBfMzv5ahGCA3s=",
		    "44 characters", 0 },
		{ "XnZrDjPZKEMqh1+vv92mu4hPoKbjRdBfMzv5ahGCA3s=\n",
		    "and a newline", 0 },
		{ "XnZrDjPZKEMqh1+vv92mu4hPoKbjRdBfMzv5ahGCA3s=\r\n",
		    "and CR LF", 0 },
		{ "XnZrDjPZKEMqh1+vv92mu4hPoKbjRdBfMzv5ahGCA3s", "no padding",
		    -1 },
		{ "XnZrDjPZKEMqh1-vv92mu4hPoKbjRdBfMzv5ahGCA3s=",
		    "the URL-safe alphabet", -1 },
		{ "XnZrDjPZKEMqh1+vv92mu4hPoKbjRdBfMzv5ahGCA3s=\n\n",
		    "two lines", -1 },
		{ " XnZrDjPZKEMqh1+vv92mu4hPoKbjRdBfMzv5ahGCA3s=", "a space",
		    -1 },
		{ "", "nothing", -1 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(
		    secret_seal_key_decode((const unsigned char *)cases[i].text,
			strlen(cases[i].text), key, sizeof(key)),
		    cases[i].want, "a key's text: %s", cases[i].why);
	ok(secret_seal_key_decode((const unsigned char *)good, strlen(good),
	       key, sizeof(key)) == 0 &&
		key[0] == 0x5e && key[31] == 0x7b,
	    "the key's bytes are the base64's");
}

/* The first test to open a box: GETBOT_SEAL_KEY is taken once. */
static void
test_secret__sealed_opens_with_key_text_in_environment(void)
{
	unsigned char pk[crypto_box_PUBLICKEYBYTES];
	char sk_text[crypto_box_SECRETKEYBYTES * 2];
	const char value[] = "sk-ant-CANARY\n";
	struct strbuf err = STRBUF_INIT;
	struct secret *secret = NULL;
	char *b64, fpr[SECRET_FPR_HEX];

	make_keys(pk, sk_text);
	b64 = seal(pk, value, strlen(value));
	setenv("GETBOT_SEAL_KEY", sk_text, 1);
	unsetenv("GETBOT_SEAL_KEY_FILE");
	is_int(open_sealed(b64, &secret, &err), 0,
	    "a box opens with GETBOT_SEAL_KEY (%s)", err.buf);
	ok(secret != NULL && secret->len == strlen(value) &&
		memcmp(secret->value, value, secret->len) == 0,
	    "to exactly the sealed bytes, a final newline kept");
	secret_fingerprint(
	    (const unsigned char *)value, strlen(value), "test.a", "KEY", fpr);
	is_str(secret != NULL ? secret->fingerprint : NULL, fpr,
	    "its fingerprint is the value's");
	ok(getenv("GETBOT_SEAL_KEY") == NULL,
	    "GETBOT_SEAL_KEY is out of the environment once taken");
	secret_free(secret);
	secret_forget_seal_key();
	strbuf_release(&err);
	free(b64);
}

static void
test_secret__sealed_opens_with_key_file_of_mode_0600(void)
{
	unsigned char pk[crypto_box_PUBLICKEYBYTES];
	char sk_text[crypto_box_SECRETKEYBYTES * 2];
	struct strbuf err = STRBUF_INIT;
	struct secret *secret = NULL;
	char *b64, *path, *loose;

	make_keys(pk, sk_text);
	b64 = seal(pk, "v", 1);
	strcat(sk_text, "\n");
	path = key_file("seal.key", sk_text, 0600);
	loose = key_file("loose.key", sk_text, 0640);
	setenv("GETBOT_SEAL_KEY_FILE", path, 1);
	is_int(open_sealed(b64, &secret, &err), 0,
	    "a box opens with GETBOT_SEAL_KEY_FILE (%s)", err.buf);
	ok(secret != NULL && secret->len == 1 && secret->value[0] == 'v',
	    "to its value");
	secret_free(secret);
	secret = NULL;
	strbuf_reset(&err);
	setenv("GETBOT_SEAL_KEY_FILE", loose, 1);
	is_int(open_sealed(b64, &secret, &err), -1,
	    "a key file others can read is refused");
	ok(strstr(err.buf, "has mode 0640") != NULL &&
		strstr(err.buf, "chmod 600") != NULL,
	    "saying its mode and the fix (got '%s')", err.buf);
	unsetenv("GETBOT_SEAL_KEY_FILE");
	strbuf_reset(&err);
	is_int(open_sealed(b64, &secret, &err), -1, "no key: an error");
	ok(strstr(err.buf, "GETBOT_SEAL_KEY to its text") != NULL &&
		strstr(err.buf, "GETBOT_SEAL_KEY_FILE") != NULL,
	    "naming both variables (got '%s')", err.buf);
	unlink(path);
	unlink(loose);
	free(path);
	free(loose);
	free(b64);
	strbuf_release(&err);
}

static void
test_secret__wrong_key_or_altered_box_does_not_open(void)
{
	unsigned char pk[crypto_box_PUBLICKEYBYTES];
	unsigned char other_pk[crypto_box_PUBLICKEYBYTES];
	char sk_text[crypto_box_SECRETKEYBYTES * 2];
	char other_text[crypto_box_SECRETKEYBYTES * 2];
	struct strbuf err = STRBUF_INIT;
	struct secret *secret = NULL;
	char *b64, *path, *other;

	make_keys(pk, sk_text);
	make_keys(other_pk, other_text);
	b64 = seal(pk, "CANARY-value", 12);
	path = key_file("right.key", sk_text, 0600);
	other = key_file("other.key", other_text, 0600);
	setenv("GETBOT_SEAL_KEY_FILE", other, 1);
	is_int(open_sealed(b64, &secret, &err), -1, "a wrong key fails");
	ok(strstr(err.buf, "does not open with the key in") != NULL &&
		strstr(err.buf, "other.key") != NULL,
	    "saying which key (got '%s')", err.buf);
	ok(strstr(err.buf, "CANARY") == NULL &&
		strstr(err.buf, other_text) == NULL,
	    "never the value or the key");
	setenv("GETBOT_SEAL_KEY_FILE", path, 1);
	b64[20] = b64[20] == 'A' ? 'B' : 'A';
	strbuf_reset(&err);
	is_int(open_sealed(b64, &secret, &err), -1,
	    "a box with one character changed fails");
	ok(strstr(err.buf, "does not open") != NULL, "as altered (got '%s')",
	    err.buf);
	b64[20] = b64[20] == 'A' ? 'B' : 'A';
	b64[strlen(b64) - 4] = '\0';
	strbuf_reset(&err);
	is_int(open_sealed(b64, &secret, &err), -1, "a box cut short fails");
	b64[20] = '!';
	strbuf_reset(&err);
	is_int(open_sealed(b64, &secret, &err), -1, "a box of no base64 fails");
	ok(strstr(err.buf, "not base64") != NULL, "saying so (got '%s')",
	    err.buf);
	ok(secret == NULL, "and nothing is returned");
	unsetenv("GETBOT_SEAL_KEY_FILE");
	unlink(path);
	unlink(other);
	free(path);
	free(other);
	free(b64);
	strbuf_release(&err);
}

int
main(void)
{
	if (sodium_init() < 0 || mkdtemp(key_dir) == NULL)
		return 99;
	test_secret__key_text_is_one_line_of_base64();
	test_secret__sealed_opens_with_key_text_in_environment();
	test_secret__sealed_opens_with_key_file_of_mode_0600();
	test_secret__wrong_key_or_altered_box_does_not_open();
	rmdir(key_dir);
	return tap_done();
}
