/* getbot: a declarative reconciler for AI-agent bots. */
#include "config.h"

#include "cmd.h"
#include "provider.h"

int
main(int argc, char **argv)
{
	return cmd_main(argc, argv, provider_table);
}
