/* Secret resolution into locked memory, and fingerprints. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"
#include "xmalloc.h"

#define SECRET_FPR_DOMAIN "getbot fingerprint v1"

void
secret_fingerprint(const unsigned char *value, size_t len, const char *address,
    const char *name, char out[SECRET_FPR_HEX])
{
	unsigned char key[crypto_generichash_KEYBYTES];
	unsigned char hash[16];
	crypto_generichash_state st;

	/* The key is derived, not stored, so a lost state file or another
	 * machine computes the same fingerprint for the same secret. */
	crypto_generichash_init(&st, NULL, 0, sizeof(key));
	crypto_generichash_update(&st, (const unsigned char *)SECRET_FPR_DOMAIN,
	    sizeof(SECRET_FPR_DOMAIN));
	crypto_generichash_update(
	    &st, (const unsigned char *)address, strlen(address) + 1);
	crypto_generichash_update(
	    &st, (const unsigned char *)name, strlen(name) + 1);
	crypto_generichash_final(&st, key, sizeof(key));
	crypto_generichash(hash, sizeof(hash), value, len, key, sizeof(key));
	sodium_bin2hex(out, SECRET_FPR_HEX, hash, sizeof(hash));
	sodium_memzero(key, sizeof(key));
}

static struct secret *
secret_new(size_t len)
{
	struct secret *secret = xcalloc(1, sizeof(*secret));

	secret->value = sodium_malloc(len + 1);
	if (secret->value == NULL) {
		free(secret);
		return NULL;
	}
	secret->len = len;
	secret->value[len] = 0;
	return secret;
}

void
secret_free(struct secret *secret)
{
	if (secret == NULL)
		return;
	sodium_free(secret->value); /* zeroes before freeing */
	free(secret);
}

/* A copy of text in locked memory, trailing newlines dropped. */
static struct secret *
secret_from_bytes(const unsigned char *text, size_t len)
{
	struct secret *secret;

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	secret = secret_new(len);
	if (secret != NULL)
		memcpy(secret->value, text, len);
	return secret;
}

static int
secret_from_file(const char *path, const char *base_dir, struct secret **out,
    struct strbuf *err)
{
	char *full = NULL;
	unsigned char *buf = NULL;
	struct stat st;
	size_t got = 0;
	int fd = -1, rc = -1;

	if (path[0] == '~' && path[1] == '/' && getenv("HOME") != NULL)
		full = xasprintf("%s/%s", getenv("HOME"), path + 2);
	else if (path[0] != '/' && base_dir != NULL)
		full = xasprintf("%s/%s", base_dir, path);
	else
		full = xstrdup(path);
	fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		strbuf_addf(err, "cannot open '%s': %s", full, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		strbuf_addf(err, "'%s' is not a regular file", full);
		goto out;
	}
	if (st.st_size > SECRET_MAX_SIZE) {
		strbuf_addf(
		    err, "'%s' is larger than %d bytes", full, SECRET_MAX_SIZE);
		goto out;
	}
	buf = sodium_malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		strbuf_addstr(err, "cannot allocate locked memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			strbuf_addf(err, "cannot read '%s': %s", full,
			    n < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		got += (size_t)n;
	}
	*out = secret_from_bytes(buf, got);
	if (*out == NULL) {
		strbuf_addstr(err, "cannot allocate locked memory");
		goto out;
	}
	rc = 0;
out:
	if (buf != NULL)
		sodium_free(buf);
	if (fd >= 0)
		close(fd);
	free(full);
	return rc;
}

/* Open a sealed box with the key in $GETBOT_SEAL_KEY_FILE (base64 of the
 * 32-byte X25519 secret key). */
static int
secret_from_sealed(const char *b64, struct secret **out, struct strbuf *err)
{
	const char *key_path = getenv("GETBOT_SEAL_KEY_FILE");
	struct secret *key_text = NULL;
	unsigned char *sk = NULL, pk[crypto_box_PUBLICKEYBYTES];
	unsigned char *box = NULL;
	size_t box_len = 0, sk_len = 0, b64_len = strlen(b64);
	int rc = -1;

	if (key_path == NULL) {
		strbuf_addstr(err, "a sealed secret needs the deployment key: "
				   "set GETBOT_SEAL_KEY_FILE to its file");
		return -1;
	}
	if (secret_from_file(key_path, NULL, &key_text, err) != 0)
		goto out;
	sk = sodium_malloc(crypto_box_SECRETKEYBYTES);
	box = xmalloc(b64_len + 1);
	if (sk == NULL ||
	    sodium_base642bin(sk, crypto_box_SECRETKEYBYTES,
		(const char *)key_text->value, key_text->len, NULL, &sk_len,
		NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    sk_len != crypto_box_SECRETKEYBYTES) {
		strbuf_addf(err,
		    "'%s' does not hold a base64 X25519 secret key", key_path);
		goto out;
	}
	if (sodium_base642bin(box, b64_len, b64, b64_len, NULL, &box_len, NULL,
		sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    box_len <= crypto_box_SEALBYTES) {
		strbuf_addstr(err, "the sealed value is not a sealed box");
		goto out;
	}
	crypto_scalarmult_base(pk, sk);
	*out = secret_new(box_len - crypto_box_SEALBYTES);
	if (*out == NULL) {
		strbuf_addstr(err, "cannot allocate locked memory");
		goto out;
	}
	if (crypto_box_seal_open((*out)->value, box, box_len, pk, sk) != 0) {
		secret_free(*out);
		*out = NULL;
		strbuf_addf(err,
		    "the sealed value does not open with the key in "
		    "'%s'",
		    key_path);
		goto out;
	}
	rc = 0;
out:
	if (sk != NULL)
		sodium_free(sk);
	free(box);
	secret_free(key_text);
	return rc;
}

int
secret_resolve(const struct bots_secret *ref, const char *base_dir,
    const char *address, const char *name, struct secret **out,
    struct strbuf *err)
{
	const char *value;
	int rc = -1;

	*out = NULL;
	switch (ref->kind) {
	case BOTS_SECRET_ENV:
		value = getenv(ref->ref);
		if (value == NULL) {
			strbuf_addf(err, "environment variable '%s' is not set",
			    ref->ref);
			break;
		}
		if (value[0] == '\0') {
			strbuf_addf(err, "environment variable '%s' is empty",
			    ref->ref);
			break;
		}
		*out = secret_from_bytes(
		    (const unsigned char *)value, strlen(value));
		rc = *out != NULL ? 0 : -1;
		if (rc != 0)
			strbuf_addstr(err, "cannot allocate locked memory");
		break;
	case BOTS_SECRET_FILE:
		rc = secret_from_file(ref->ref, base_dir, out, err);
		break;
	case BOTS_SECRET_SEALED:
		rc = secret_from_sealed(ref->ref, out, err);
		break;
	case BOTS_SECRET_NONE:
		strbuf_addstr(err, "no secret reference");
		break;
	}
	if (rc == 0 && (*out)->len == 0) {
		strbuf_addstr(err, "the secret is empty");
		secret_free(*out);
		*out = NULL;
		rc = -1;
	}
	if (rc == 0)
		secret_fingerprint((*out)->value, (*out)->len, address, name,
		    (*out)->fingerprint);
	return rc;
}
