/* getbot: a declarative reconciler for AI-agent bots. */
#include "config.h"

#include <locale.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/resource.h>

#include "cmd.h"

int
main(int argc, char **argv)
{
	struct rlimit no_core = { 0, 0 };

	/* Secrets pass through this process: never leave them in a core. */
	(void)setrlimit(RLIMIT_CORE, &no_core);
	if (sodium_init() < 0) {
		fprintf(stderr, "getbot: libsodium failed to initialise\n");
		return EXIT_ERROR;
	}
	return cmd_main(argc, argv);
}
