/*
 * What the cloudflare provider's files share: the session, and the DNS
 * kind (dns.c) that the provider's table lists.
 */
#ifndef GETBOT_CLOUDFLARE_INTERNAL_H
#define GETBOT_CLOUDFLARE_INTERNAL_H

#include <pthread.h>

#include "cloudflare.h"
#include "provider.h"

/* A session with one cloudflare target. */
struct cf_session {
	struct cloudflare_client cf; /* the account and its API token */
	char *runtime_dir;           /* where runtime bundles live */
	pthread_mutex_t lock;        /* the subdomain */
	char *subdomain; /* workers.dev subdomain, NULL until asked */
};

/* The client of call's session (borrowed). */
struct cloudflare_client *cf_client(struct provider_call *call);

/* A new observed object of the provider (takes spec). */
struct observed *cf_observed(const struct resource_kind *kind, const char *name,
    const char *org, const char *team, bool owned, cJSON *spec);

/* DNS records of server targets (dns.c). */
extern const struct resource_kind cf_dns;
/* Desired: cloudflare.dns.ORG per org on a server whose dns.target is
 * target. */
int cf_dns_expand(const struct bots *bots, const struct bots_target *target,
    struct resource_set *out, struct strbuf *err);

#endif
