/* The provider table of this build. */
#include "config.h"

#include <string.h>

#include "provider.h"
#include "incus/provider-incus.h"
#include "docker/provider-docker.h"
#include "auth/provider-auth.h"
#include "caddy/provider-caddy.h"
/* edge */
#include "cloudflare/provider-cloudflare.h"

/* Order matters within a target: observation follows it. */
const struct provider *const provider_table[] = {
	/* self-hosted */
	&provider_incus,
	&provider_docker,
	&provider_auth,
	&provider_caddy,
	/* edge: Cloudflare before the router, whose cards carry the digest
	 * of a token the Cloudflare provider observes */
	&provider_cloudflare,
	&provider_router,
	NULL,
};

const struct resource_kind *
provider_kind(const struct provider *provider, const char *kind_name)
{
	size_t i;

	for (i = 0; provider->kinds != NULL && provider->kinds[i] != NULL; i++)
		if (strcmp(provider->kinds[i]->name, kind_name) == 0)
			return provider->kinds[i];
	return NULL;
}

void
provider_throttle(struct provider_call *call)
{
	if (call->throttle != NULL)
		call->throttle(call);
}
