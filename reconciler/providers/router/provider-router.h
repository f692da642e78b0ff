/*
 * The Agent Router provider: the agent cards of the agents on a
 * cloudflare target, which carry the digest of their Worker's hub auth
 * token (the cloudflare provider's output, through the engine).
 */
#ifndef GETBOT_PROVIDER_ROUTER_H
#define GETBOT_PROVIDER_ROUTER_H

#include "provider.h"

extern const struct provider provider_router;

#endif
