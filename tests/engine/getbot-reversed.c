/*
 * getbot with its provider table reversed: the CLI of tests/reversed.sh,
 * which runs suites through it to show that the order of providers does
 * not matter (outputs of dependencies pass through the engine, and the
 * engine observes a producer when a consumer first asks). Built for make
 * check only, never installed.
 */
#include "config.h"

#include <stdlib.h>

#include "cmd.h"
#include "providers.h"
#include "xmalloc.h"

int
main(int argc, char **argv)
{
	const struct provider **reversed;
	size_t n = 0, i;
	int rc;

	while (provider_table[n] != NULL)
		n++;
	reversed = xcalloc(n + 1, sizeof(*reversed));
	for (i = 0; i < n; i++)
		reversed[i] = provider_table[n - 1 - i];
	rc = cmd_main(argc, argv, reversed);
	free(reversed);
	return rc;
}
