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
/* Wipe and free. */
void secret_free(struct secret *secret);
/* The fingerprint of value, keyed by address and name, as hex. */
void secret_fingerprint(const unsigned char *value, size_t len,
    const char *address, const char *name, char out[SECRET_FPR_HEX]);

#endif
