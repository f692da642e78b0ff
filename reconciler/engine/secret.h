/*
 * Secrets: resolved from their references ({env: NAME}, {file: PATH},
 * {sealed: BASE64}) into guarded, locked memory (sodium_malloc: mlock'd,
 * excluded from core dumps, zeroed on free). Only fingerprints, a keyed
 * BLAKE2b of the value, ever leave the process.
 */
#ifndef GETBOT_SECRET_H
#define GETBOT_SECRET_H

#include <stddef.h>

#include "bots.h"
#include "strbuf.h"

#define SECRET_MAX_SIZE 65536
/*
 * Seal keys ('getbot secrets keygen'): a libsodium crypto_box key pair
 * (X25519). Each key file holds one line, the key's 32 bytes in base64
 * (RFC 4648, with padding: 44 characters) and a newline; the public key
 * beside bots.yaml, the private key in a file of mode 0600 or in
 * GETBOT_SEAL_KEY as that text.
 */
#define SECRET_SEAL_KEY_MAX 1024 /* bytes read of a key file, at most */
/* Fingerprints: 16 bytes as 32 hex digits; plans show the first 8. */
#define SECRET_FPR_HEX   33
#define SECRET_FPR_SHORT 8

struct secret {
	unsigned char *value; /* sodium_malloc'd; value[len] == 0 */
	size_t len;
	char fingerprint[SECRET_FPR_HEX];
};

/*
 * Resolve ref for the resource at address (the fingerprint is keyed by
 * address and name, so equal keys on two bots do not look alike). base_dir
 * is where relative {file} paths start (bots.yaml's directory). On error
 * returns -1 and err names the reference (never the value).
 */
int secret_resolve(const struct bots_secret *ref, const char *base_dir,
    const char *address, const char *name, struct secret **out,
    struct strbuf *err);
/*
 * Decode a seal key's text (one line of base64, a final newline allowed)
 * into key_len bytes of key. Returns 0, or -1 when text is not exactly
 * that.
 */
int secret_seal_key_decode(
    const unsigned char *text, size_t len, unsigned char *key, size_t key_len);
/*
 * Take GETBOT_SEAL_KEY (the private seal key's text) out of the
 * environment into guarded memory, so that no command getbot starts
 * inherits it; getbot does it at start, before any thread. {sealed}
 * secrets open with it, or else with the file GETBOT_SEAL_KEY_FILE names
 * (mode 0600 or stricter). secret_forget_seal_key wipes and frees it.
 */
void secret_take_seal_key(void);
void secret_forget_seal_key(void);
/* Wipe and free. */
void secret_free(struct secret *secret);
/* The fingerprint of value, keyed by address and name, as hex. */
void secret_fingerprint(const unsigned char *value, size_t len,
    const char *address, const char *name, char out[SECRET_FPR_HEX]);

#endif
