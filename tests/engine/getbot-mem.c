/* getbot with the in-memory provider: the CLI the engine tests drive. It
 * is built for `make check` only and never installed. */
#include "config.h"

#include "cmd.h"
#include "provider-mem.h"

static const struct provider *const test_providers[] = {
	&provider_mem,
	&provider_mem_edge,
	NULL,
};

int
main(int argc, char **argv)
{
	return cmd_main(argc, argv, test_providers);
}
