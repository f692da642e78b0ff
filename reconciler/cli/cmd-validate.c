/* getbot validate: load bots.yaml files and report every problem. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bots.h"
#include "cmd.h"
#include "prepare.h"
#include "strbuf.h"

static const struct cmd_option cmd_validate_options[] = {
	{ "file", 'f', "FILE", "the config to check (default: bots.yaml)" },
	PREPARE_REF_OPTION,
	{ "json", 0, NULL,
	    "print one JSON object per line: a diagnostic per problem, then "
	    "a summary per file" },
	{ NULL, 0, NULL, NULL },
};

static void
cmd_validate_summary_json(
    const char *file, const struct bots *bots, const struct diag_list *diags)
{
	struct strbuf sb = STRBUF_INIT;
	size_t errors = diag_list_errors(diags);

	strbuf_addstr(&sb, "{\"type\":\"validate_summary\",\"file\":");
	strbuf_add_json_string(&sb, file, strlen(file));
	strbuf_addf(&sb, ",\"valid\":%s,\"errors\":%zu,\"warnings\":%zu",
	    bots != NULL ? "true" : "false", errors, diags->count - errors);
	if (bots != NULL)
		strbuf_addf(&sb, ",\"orgs\":%zu,\"teams\":%zu,\"targets\":%zu",
		    bots->norgs, bots_count_teams(bots), bots->ntargets);
	strbuf_addch(&sb, '}');
	puts(sb.buf);
	strbuf_release(&sb);
}

/* Validate one file (as commit rev has it, unless rev is NULL); returns 0
 * when it has no error. */
static int
cmd_validate_one(const char *path, const char *rev, bool json)
{
	struct diag_list diags = DIAG_LIST_INIT;
	struct gitinfo_tree tree = { 0 };
	struct strbuf err = STRBUF_INIT;
	struct bots *bots = NULL;
	const char *file = path;
	int rc;

	if (rev != NULL) {
		if (prepare_checkout(path, rev, &tree, &err) != 0) {
			fprintf(stderr, "getbot validate: --ref %s: %s\n", rev,
			    err.buf);
			rc = -1;
			goto out;
		}
		file = tree.label;
		rc = bots_load_file_as(
		    tree.config_path, tree.label, &bots, &diags);
	} else
		rc = bots_load_file(file, &bots, &diags);
	diag_list_print(&diags, json);
	if (json)
		cmd_validate_summary_json(file, bots, &diags);
	else if (rc == 0)
		printf("%s: valid (%zu %s, %zu %s, %zu %s)\n", file,
		    bots->norgs, bots->norgs == 1 ? "org" : "orgs",
		    bots_count_teams(bots),
		    bots_count_teams(bots) == 1 ? "team" : "teams",
		    bots->ntargets, bots->ntargets == 1 ? "target" : "targets");
	else
		fprintf(stderr, "%s: %zu %s\n", file, diag_list_errors(&diags),
		    diag_list_errors(&diags) == 1 ? "error" : "errors");
out:
	bots_free(bots);
	diag_list_clear(&diags);
	gitinfo_tree_release(&tree);
	strbuf_release(&err);
	return rc;
}

static int
cmd_validate_exec(const struct cmd_args *args)
{
	const char *file = cmd_args_get(args, "file");
	const char *rev = cmd_args_get(args, "ref");
	bool json = cmd_args_has(args, "json");
	int rc = EXIT_OK;
	size_t i;

	if (file != NULL && cmd_validate_one(file, rev, json) != 0)
		rc = EXIT_ERROR;
	for (i = 0; i < args->npositional; i++)
		if (cmd_validate_one(args->positional[i], rev, json) != 0)
			rc = EXIT_ERROR;
	if (file == NULL && args->npositional == 0 &&
	    cmd_validate_one("bots.yaml", rev, json) != 0)
		rc = EXIT_ERROR;
	return rc;
}

const struct cmd_entry cmd_validate_entry = {
	.name = "validate",
	.args_usage = "[FILE...]",
	.summary =
	    "check bots.yaml files against the schema and getbot's rules",
	.description =
	    "Loads each FILE (default: bots.yaml in the current directory), "
	    "checks it against the bots.yaml schema and the rules a schema "
	    "cannot say (org names derived from owners' emails, target "
	    "references, keys for each model's provider, derived names), and "
	    "prints every problem as FILE:LINE:COL: PATH: message. Nothing is "
	    "contacted and no secret is read.\n"
	    "With --ref REV each file is read as git commit REV has it, "
	    "with the files it names, and messages call it REV:FILE.\n"
	    "Exits 0 when every file is valid, printing one summary line per "
	    "file; 1 otherwise.",
	.options = cmd_validate_options,
	.min_args = 0,
	.max_args = SIZE_MAX,
	.exec = cmd_validate_exec,
};
