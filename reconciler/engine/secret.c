/* Secret resolution into locked memory, and fingerprints. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
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

/* Read the regular file at path (at most max bytes) into locked memory,
 * trailing newlines dropped. A private key (owner_only) must be readable
 * by its owner alone, as the state file must. */
static int
secret_read_file(const char *path, size_t max, bool owner_only,
    struct secret **out, struct strbuf *err)
{
	unsigned char *buf = NULL;
	struct stat st;
	size_t got = 0;
	int fd = -1, rc = -1;

	/* O_NONBLOCK: a FIFO put in the file's place must not hang us */
	fd = open(
	    path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		strbuf_addf(err, "cannot open '%s': %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		strbuf_addf(err, "'%s' is not a regular file", path);
		goto out;
	}
	if (owner_only && (st.st_mode & 077) != 0) {
		strbuf_addf(err,
		    "'%s' has mode %04o, but it must be accessible to its "
		    "owner only; run 'chmod 600 %s'",
		    path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if ((uintmax_t)st.st_size > max) {
		strbuf_addf(err, "'%s' is larger than %zu bytes", path, max);
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
			strbuf_addf(err, "cannot read '%s': %s", path,
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
	return rc;
}

static int
secret_from_file(const char *path, const char *base_dir, struct secret **out,
    struct strbuf *err)
{
	char *full = NULL;
	int rc;

	if (path[0] == '~' && path[1] == '/' && getenv("HOME") != NULL)
		full = xasprintf("%s/%s", getenv("HOME"), path + 2);
	else if (path[0] != '/' && base_dir != NULL)
		full = xasprintf("%s/%s", base_dir, path);
	else
		full = xstrdup(path);
	rc = secret_read_file(full, SECRET_MAX_SIZE, false, out, err);
	free(full);
	return rc;
}

int
secret_seal_key_decode(
    const unsigned char *text, size_t len, unsigned char *key, size_t key_len)
{
	size_t got = 0;

	/* one line: a final newline (and a CR before it) is no part of it */
	if (len > 0 && text[len - 1] == '\n')
		len--;
	if (len > 0 && text[len - 1] == '\r')
		len--;
	if (len !=
	    sodium_base64_ENCODED_LEN(key_len, sodium_base64_VARIANT_ORIGINAL) -
		1)
		return -1;
	if (sodium_base642bin(key, key_len, (const char *)text, len, NULL, &got,
		NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != key_len) {
		sodium_memzero(key, key_len);
		return -1;
	}
	return 0;
}

/* GETBOT_SEAL_KEY, taken out of the environment at start. */
static pthread_mutex_t seal_key_lock = PTHREAD_MUTEX_INITIALIZER;
static bool seal_key_taken;
static struct secret *seal_key_text; /* no access but under the lock */

void
secret_take_seal_key(void)
{
	char *value;
	size_t len;

	pthread_mutex_lock(&seal_key_lock);
	value = seal_key_taken ? NULL : getenv("GETBOT_SEAL_KEY");
	seal_key_taken = true;
	if (value != NULL) {
		len = strlen(value);
		seal_key_text = secret_new(len);
		if (seal_key_text == NULL) {
			fprintf(stderr, "getbot: out of memory (%zu bytes)\n",
			    len + 1);
			abort();
		}
		memcpy(seal_key_text->value, value, len);
		(void)sodium_mprotect_noaccess(seal_key_text->value);
		/* the environment's own copy, wherever else it lingers */
		sodium_memzero(value, len);
		unsetenv("GETBOT_SEAL_KEY");
	}
	pthread_mutex_unlock(&seal_key_lock);
}

void
secret_forget_seal_key(void)
{
	pthread_mutex_lock(&seal_key_lock);
	secret_free(seal_key_text); /* zeroed first */
	seal_key_text = NULL;
	pthread_mutex_unlock(&seal_key_lock);
}

/* The private seal key into sk (crypto_box_SECRETKEYBYTES, locked memory):
 * from GETBOT_SEAL_KEY (its text) or the file GETBOT_SEAL_KEY_FILE names.
 * where gets what to name in a message about the key. */
static int
secret_seal_key(unsigned char *sk, struct strbuf *where, struct strbuf *err)
{
	const char *key_path = getenv("GETBOT_SEAL_KEY_FILE");
	struct secret *key_text = NULL;
	int rc = -1, bad;

	secret_take_seal_key(); /* done at start by getbot itself */
	pthread_mutex_lock(&seal_key_lock);
	/* what CI passes for a secret it does not have */
	if (seal_key_text != NULL && seal_key_text->len == 0) {
		strbuf_addstr(err, "GETBOT_SEAL_KEY is set but empty (is the "
				   "CI secret missing, or named otherwise?)");
		goto out;
	}
	if (seal_key_text != NULL && key_path != NULL) {
		strbuf_addstr(err, "both GETBOT_SEAL_KEY and "
				   "GETBOT_SEAL_KEY_FILE are set; set one");
		goto out;
	}
	if (seal_key_text != NULL) {
		strbuf_addstr(where, "GETBOT_SEAL_KEY");
		(void)sodium_mprotect_readonly(seal_key_text->value);
		bad = secret_seal_key_decode(seal_key_text->value,
		    seal_key_text->len, sk, crypto_box_SECRETKEYBYTES);
		(void)sodium_mprotect_noaccess(seal_key_text->value);
	} else if (key_path != NULL) {
		strbuf_addf(where, "'%s'", key_path);
		if (secret_read_file(key_path, SECRET_SEAL_KEY_MAX, true,
			&key_text, err) != 0)
			goto out;
		bad = secret_seal_key_decode(key_text->value, key_text->len, sk,
		    crypto_box_SECRETKEYBYTES);
	} else {
		strbuf_addstr(err,
		    "a sealed secret needs the private seal key: set "
		    "GETBOT_SEAL_KEY to its text, or GETBOT_SEAL_KEY_FILE to "
		    "its file (made by 'getbot secrets keygen')");
		goto out;
	}
	if (bad) {
		strbuf_addf(err,
		    "%s does not hold a seal key (one line of base64 of %d "
		    "bytes, as 'getbot secrets keygen' writes)",
		    where->buf, crypto_box_SECRETKEYBYTES);
		goto out;
	}
	rc = 0;
out:
	pthread_mutex_unlock(&seal_key_lock);
	secret_free(key_text);
	return rc;
}

/* Open a sealed box (base64 of crypto_box_seal's output) with the private
 * seal key. */
static int
secret_from_sealed(const char *b64, struct secret **out, struct strbuf *err)
{
	struct strbuf where = STRBUF_INIT;
	unsigned char *sk = NULL, pk[crypto_box_PUBLICKEYBYTES];
	unsigned char *box = NULL;
	size_t box_len = 0, b64_len = strlen(b64);
	int rc = -1;

	sk = sodium_malloc(crypto_box_SECRETKEYBYTES);
	if (sk == NULL) {
		strbuf_addstr(err, "cannot allocate locked memory");
		goto out;
	}
	if (secret_seal_key(sk, &where, err) != 0)
		goto out;
	box = xmalloc(b64_len + 1);
	if (sodium_base642bin(box, b64_len, b64, b64_len, NULL, &box_len, NULL,
		sodium_base64_VARIANT_ORIGINAL) != 0) {
		strbuf_addstr(err, "the sealed value is not base64");
		goto out;
	}
	if (box_len <= crypto_box_SEALBYTES) {
		strbuf_addf(err,
		    "the sealed value is too short to be a sealed box (%zu "
		    "bytes)",
		    box_len);
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
		    "the sealed value does not open with the key in %s: it "
		    "was sealed to another key, or altered",
		    where.buf);
		goto out;
	}
	rc = 0;
out:
	if (sk != NULL)
		sodium_free(sk);
	free(box);
	strbuf_release(&where);
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
