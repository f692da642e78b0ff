/*
 * The edge's providers: Cloudflare (Workers, their secrets, R2 buckets and
 * API tokens) and the Agent Router (agent cards). Both serve targets of
 * kind cloudflare.
 */
#ifndef GETBOT_PROVIDER_CLOUDFLARE_H
#define GETBOT_PROVIDER_CLOUDFLARE_H

#include "provider.h"

#define CLOUDFLARE_API_DEFAULT "https://api.cloudflare.com/client/v4"
#define CLOUDFLARE_HEX_SHA256  65 /* 64 hex digits and a NUL */

extern const struct provider provider_cloudflare;
extern const struct provider provider_router;

/*
 * The SHA-256 (hex) of the hub auth token of worker on target, which the
 * agent's card carries: from what this process observed or created, else
 * read from the worker's GETBOT_MANAGED binding. Returns 0, or -1 with err.
 */
int cloudflare_hub_digest(const struct bots_target *target,
    const char *base_dir, const char *worker, char out[CLOUDFLARE_HEX_SHA256],
    struct strbuf *err);
/* The digest this process knows for worker, without asking Cloudflare;
 * returns false when it knows none. */
bool cloudflare_hub_digest_known(const struct bots_target *target,
    const char *worker, char out[CLOUDFLARE_HEX_SHA256]);

#endif
