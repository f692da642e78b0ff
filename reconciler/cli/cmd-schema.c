/* getbot schema: print the JSON Schema of bots.yaml. */
#include "config.h"

#include <stdio.h>

#include "cmd.h"
#include "embedded.h"

static int
cmd_schema_exec(const struct cmd_args *args)
{
	(void)args;
	if (fwrite(bots_schema_json, 1, bots_schema_json_len, stdout) !=
	    bots_schema_json_len)
		return EXIT_ERROR;
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_ERROR;
}

const struct cmd_entry cmd_schema_entry = {
	.name = "schema",
	.args_usage = "",
	.summary = "print the JSON Schema of bots.yaml",
	.description =
	    "Prints the JSON Schema (2020-12) that getbot validates bots.yaml "
	    "against, as built into this binary: the same file as "
	    "schema/bots.schema.json, for editors and other tools.",
	.options = NULL,
	.min_args = 0,
	.max_args = 0,
	.exec = cmd_schema_exec,
};
