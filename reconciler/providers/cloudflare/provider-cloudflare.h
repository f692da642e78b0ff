/*
 * The Cloudflare provider: Workers, their secrets, R2 buckets and API
 * tokens of the agents on a cloudflare target, and the DNS records of
 * server targets whose dns.target it is.
 */
#ifndef GETBOT_PROVIDER_CLOUDFLARE_H
#define GETBOT_PROVIDER_CLOUDFLARE_H

#include "provider.h"

extern const struct provider provider_cloudflare;

#endif
