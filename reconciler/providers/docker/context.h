/*
 * A runtime's Docker build context: the directory RUNTIME_DIR/RUNTIME/
 * (a Dockerfile and what it copies) as the tar stream Docker's POST /build
 * takes, and the digest of that stream.
 *
 * The stream is reproducible: entries in name order, owner 0, time 0, so
 * the same files make the same bytes and the digest says whether the
 * context changed (the plan compares it with the image's label). Every
 * file is read through file_read, and the stream is bounded by
 * DOCKER_CONTEXT_MAX.
 */
#ifndef GETBOT_DOCKER_CONTEXT_H
#define GETBOT_DOCKER_CONTEXT_H

#include <cjson/cJSON.h>

#include "strbuf.h"

#define DOCKER_CONTEXT_MAX (256u << 20)
#define DOCKER_DIGEST_HEX  65 /* BLAKE2b-256 in hex, and its NUL */

/*
 * Tar runtime_dir/runtime into *tar (replaced; the caller releases it) and
 * put its digest in digest; tar may be NULL when only the digest is
 * wanted. Returns 0, or -1 with err saying which file and why (a runtime
 * without a Dockerfile, a FIFO, a context over DOCKER_CONTEXT_MAX).
 */
int docker_context_tar(const char *runtime_dir, const char *runtime,
    struct strbuf *tar, char digest[DOCKER_DIGEST_HEX], struct strbuf *err);

/*
 * The digest of runtime's context, each runtime tarred once however many
 * bots use it: digests ({RUNTIME: "hex"}, owned by the caller) remembers
 * those already made. Returns 0, or -1 with err as docker_context_tar.
 */
int docker_context_digest(cJSON *digests, const char *runtime_dir,
    const char *runtime, char digest[DOCKER_DIGEST_HEX], struct strbuf *err);

#endif
