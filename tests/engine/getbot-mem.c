/* getbot with the in-memory provider: the CLI the engine tests drive. It
 * is built for `make check` only and never installed. */
#include "config.h"

#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/resource.h>

#include "cmd.h"
#include "xmalloc.h"
#include "provider-mem.h"

static const struct provider *const test_providers[] = {
	&provider_mem,
	&provider_mem_edge,
	NULL,
};

int
main(int argc, char **argv)
{
	struct rlimit no_core = { 0, 0 };
	cJSON_Hooks json_hooks = { xmalloc, free };

	(void)setrlimit(RLIMIT_CORE, &no_core);
	cJSON_InitHooks(&json_hooks); /* out of memory ends the program */
	if (sodium_init() < 0)
		return EXIT_ERROR;
	return cmd_main(argc, argv, test_providers);
}
