/*
 * getbot with the edge providers only, the CLI of tests/edge-dns.sh: the
 * real cloudflare and router providers, and in place of the self-hosted
 * ones a stand-in for server targets that wants and sees nothing. So a
 * config whose server keeps its DNS records through a cloudflare target is
 * planned and applied against the Cloudflare and router fakes without LXD,
 * Docker and Caddy, whatever self-hosted providers the build grows (those
 * are tested against the real services by tests/selfhost-*.sh). Built for
 * make check only, never installed.
 */
#include "config.h"

#include "cmd.h"
#include "cloudflare/provider-cloudflare.h"
#include "router/provider-router.h"

static const struct provider server_stand_in = {
	.name = "server",
	.target_kind = "incus",
};

static const struct provider *const edge_providers[] = {
	&provider_cloudflare,
	&provider_router,
	&server_stand_in,
	NULL,
};

int
main(int argc, char **argv)
{
	return cmd_main(argc, argv, edge_providers);
}
