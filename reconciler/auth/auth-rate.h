/*
 * Request rate limits per client: a token bucket for each client address
 * (an IPv6 client counts by its /64), in a fixed table indexed by a keyed
 * hash, so memory stays bounded whatever the traffic; clients that meet in
 * one slot share its bucket. Safe to use from several threads.
 */
#ifndef GETBOT_AUTH_RATE_H
#define GETBOT_AUTH_RATE_H

#include <stddef.h>

enum auth_rate_verdict {
	AUTH_RATE_ALLOW,
	AUTH_RATE_DENY_FIRST, /* refused, the first time since allowed */
	AUTH_RATE_DENY,
};

struct auth_rate;

/* rate requests per second with bursts of up to burst, in slots buckets. */
struct auth_rate *auth_rate_new(double rate, double burst, size_t slots);
void auth_rate_free(struct auth_rate *limiter);
/* Take one token for client (an IP address as text) at now seconds. */
enum auth_rate_verdict auth_rate_take(
    struct auth_rate *limiter, const char *client, double now);

#endif
