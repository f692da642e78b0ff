/* getbot state: list, show, unlock. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bots.h"
#include "cmd.h"
#include "diag.h"
#include "prepare.h"
#include "state.h"

static const struct cmd_option cmd_state_options[] = {
	{ "file", 'f', "FILE", "the config (default: bots.yaml)" },
	{ "state", 0, "PATH",
	    "the state file (default: .getbot/state.json beside the config, "
	    "or the config's state: backend)" },
	{ NULL, 0, NULL, NULL },
};

static int
cmd_state_exec(const struct cmd_args *args)
{
	const char *sub = args->positional[0];
	const char *config = cmd_args_get(args, "file");
	char *path;
	struct diag_list diags = DIAG_LIST_INIT;
	struct strbuf err = STRBUF_INIT;
	struct state_where where;
	struct state *state = NULL;
	struct bots *bots = NULL;
	size_t d;
	int rc = EXIT_ERROR;

	if (config == NULL)
		config = "bots.yaml";
	path = prepare_state_path(config, cmd_args_get(args, "state"));
	/* the config says where the state lives */
	if (bots_load_file(config, &bots, &diags) != 0) {
		for (d = 0; d < diags.count; d++)
			diag_print(stderr, &diags.items[d]);
		goto out;
	}
	prepare_state_where(
	    bots, config, path, cmd_args_has(args, "state"), &where);
	if (strcmp(sub, "unlock") == 0) {
		if (args->npositional != 2) {
			fprintf(stderr, "usage: getbot state unlock LOCK_ID\n");
			goto out;
		}
		if (state_force_unlock(&where, args->positional[1], &err) !=
		    0) {
			fprintf(stderr, "getbot state unlock: %s\n", err.buf);
			goto out;
		}
		printf("Lock %s released.\n", args->positional[1]);
		rc = EXIT_OK;
		goto out;
	}
	if (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0) {
		fprintf(stderr,
		    "getbot state: unknown subcommand '%s' (list, show ADDR, "
		    "unlock LOCK_ID)\n",
		    sub);
		goto out;
	}
	if (state_open(&where, &state, &err) != 0) {
		fprintf(stderr, "getbot state: %s\n", err.buf);
		goto out;
	}
	if (strcmp(sub, "list") == 0) {
		size_t n, i;
		const char *const *addresses = state_addresses(state, &n);

		if (args->npositional != 1) {
			fprintf(stderr, "usage: getbot state list\n");
			goto out;
		}
		for (i = 0; i < n; i++)
			printf("%s\n", addresses[i]);
		rc = EXIT_OK;
	} else {
		const cJSON *snapshot;
		char *text;

		if (args->npositional != 2) {
			fprintf(stderr, "usage: getbot state show ADDR\n");
			goto out;
		}
		snapshot = state_resource(state, args->positional[1]);
		if (snapshot == NULL) {
			strbuf_reset(&err);
			state_describe(state, &err);
			fprintf(stderr,
			    "getbot state show: no resource %s in %s\n",
			    args->positional[1], err.buf);
			goto out;
		}
		text = cJSON_Print(snapshot);
		printf("# %s\n", args->positional[1]);
		strbuf_reset(&err);
		if (prepare_commit_line(cJSON_GetObjectItemCaseSensitive(
						snapshot, "commit"),
			false, &err))
			printf("# applied from commit %s\n", err.buf);
		printf("%s\n", text);
		free(text);
		rc = EXIT_OK;
	}
out:
	state_free(state);
	bots_free(bots);
	diag_list_clear(&diags);
	free(path);
	strbuf_release(&err);
	return rc;
}

const struct cmd_entry cmd_state_entry = {
	.name = "state",
	.args_usage = "list | show ADDR | unlock LOCK_ID",
	.summary = "list or show what getbot last applied, or break a lock",
	.description =
	    "'getbot state list' prints the address of every resource in the "
	    "state; 'getbot state show ADDR' prints what was last applied to "
	    "it (fields and secret fingerprints, never values) and the git "
	    "commit of the config it was applied from; 'getbot state "
	    "unlock LOCK_ID' removes the lock of an apply that is gone, when "
	    "LOCK_ID is the id a locked apply named.",
	.options = cmd_state_options,
	.min_args = 1,
	.max_args = 2,
	.needs_providers = true,
	.exec = cmd_state_exec,
};
