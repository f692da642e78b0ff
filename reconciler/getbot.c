/* getbot: a declarative reconciler for AI-agent bots. */
#include "config.h"

#include <locale.h>
#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/resource.h>

#include "cmd.h"
#include "xmalloc.h"
#include "provider.h"

int
main(int argc, char **argv)
{
	struct rlimit no_core = { 0, 0 };
	cJSON_Hooks json_hooks = { xmalloc, free };

	/* Secrets pass through this process: never leave them in a core. */
	(void)setrlimit(RLIMIT_CORE, &no_core);
	cJSON_InitHooks(&json_hooks); /* out of memory ends the program */
	if (sodium_init() < 0) {
		fprintf(stderr, "getbot: libsodium failed to initialise\n");
		return EXIT_ERROR;
	}
	return cmd_main(argc, argv, provider_table);
}
