/* getbot: a declarative reconciler for AI-agent bots. */
#include "config.h"

#include "cmd.h"
#include "providers.h"

int
main(int argc, char **argv)
{
	return cmd_main(argc, argv, provider_table);
}
