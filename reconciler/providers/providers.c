/* The provider table of this build. The engine observes and applies in
 * the order dependencies give, whatever the order here. */
#include "config.h"

#include <stddef.h>

#include "providers.h"
#include "auth/provider-auth.h"
#include "caddy/provider-caddy.h"
#include "cloudflare/provider-cloudflare.h"
#include "docker/provider-docker.h"
#include "incus/provider-incus.h"
#include "router/provider-router.h"

const struct provider *const provider_table[] = {
	/* self-hosted */
	&provider_incus,
	&provider_docker,
	&provider_auth,
	&provider_caddy,
	/* edge */
	&provider_cloudflare,
	&provider_router,
	NULL,
};
