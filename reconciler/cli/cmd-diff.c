/* getbot diff: what would change between two commits of the config. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "file.h"
#include "plan-print.h"
#include "prepare.h"
#include "xmalloc.h"

static const struct cmd_option cmd_diff_options[] = {
	{ "file", 'f', "FILE", "the config (default: bots.yaml)" },
	{ "json", 0, NULL,
	    "print one JSON object per line, as 'getbot plan --json' does" },
	{ NULL, 0, NULL, NULL },
};

/* One side of the diff: the config as a commit has it, expanded. */
struct cmd_diff_side {
	struct gitinfo_tree tree;
	struct engine engine;
	bool engine_ready;
};

/* Copy, load and expand config at rev, secrets fingerprinted by their
 * references only. Problems are printed; returns 0 or -1. */
static int
cmd_diff_load(const char *config, const char *rev,
    const struct provider *const *providers, struct cmd_diff_side *side,
    bool json)
{
	struct diag_list diags = DIAG_LIST_INIT;
	struct strbuf err = STRBUF_INIT;
	char *base_dir = file_dir(config);
	int rc = -1;

	if (prepare_checkout(config, rev, &side->tree, &err) != 0) {
		fprintf(stderr, "getbot diff: %s\n", err.buf);
		goto out;
	}
	side->engine_ready = true;
	if (engine_init_copy(&side->engine, providers, side->tree.config_path,
		side->tree.label, base_dir, &diags) != 0) {
		diag_list_print(&diags, json);
		goto out;
	}
	/* no secret is read and no target is contacted: expand only */
	side->engine.references_only = true;
	if (engine_expand(&side->engine, &err) != 0) {
		fprintf(
		    stderr, "getbot diff: %s: %s\n", side->tree.label, err.buf);
		goto out;
	}
	rc = 0;
out:
	diag_list_clear(&diags);
	strbuf_release(&err);
	free(base_dir);
	return rc;
}

/* What the old commit's config would have made, as if it were what
 * exists (owned by getbot, exactly as desired). */
static void
cmd_diff_as_observed(
    const struct resource_set *desired, struct observed_set *out)
{
	size_t i, s;

	for (i = 0; i < desired->count; i++) {
		const struct resource *r = desired->items[i];
		struct observed *o =
		    observed_new(r->provider, r->kind, r->name);

		o->org = r->org != NULL ? xstrdup(r->org) : NULL;
		o->team = r->team != NULL ? xstrdup(r->team) : NULL;
		o->target = r->target;
		o->owned = true;
		cJSON_Delete(o->spec);
		o->spec = cJSON_Duplicate(r->spec, 1);
		for (s = 0; s < r->nsecrets; s++)
			cJSON_AddStringToObject(o->fingerprints,
			    r->secrets[s].name, r->secrets[s].fingerprint);
		observed_seal(o);
		observed_set_add(out, o);
	}
}

static void
cmd_diff_print_side(const char *which, const struct cmd_diff_side *side)
{
	printf("%s %s, commit %.12s \"%s\"\n", which, side->tree.label,
	    side->tree.commit.sha, side->tree.commit.subject);
}

static int
cmd_diff_exec(const struct cmd_args *args)
{
	const char *config = cmd_args_get(args, "file");
	const char *rev_old = args->positional[0];
	const char *rev_new = args->positional[1];
	bool json = cmd_args_has(args, "json");
	struct cmd_diff_side old_side, new_side;
	struct observed_set observed = { 0 };
	struct plan_options options;
	struct plan plan = { 0 };
	size_t i;
	int rc = EXIT_ERROR;

	memset(&old_side, 0, sizeof(old_side));
	memset(&new_side, 0, sizeof(new_side));
	memset(&options, 0, sizeof(options));
	if (config == NULL)
		config = "bots.yaml";
	if (cmd_diff_load(config, rev_old, args->providers, &old_side, json) !=
		0 ||
	    cmd_diff_load(config, rev_new, args->providers, &new_side, json) !=
		0)
		goto out;
	cmd_diff_as_observed(&old_side.engine.desired, &observed);
	plan_make(&new_side.engine.desired, &observed, NULL, &options, &plan);
	for (i = 0; i < plan.count; i++) {
		struct plan_action *a = &plan.actions[i];

		if (a->kind == ACTION_CREATE) {
			free(a->reason);
			a->reason = xasprintf("new in %s", rev_new);
		}
	}
	if (json)
		plan_print_json(stdout, &plan);
	else {
		cmd_diff_print_side("From:", &old_side);
		cmd_diff_print_side("To:  ", &new_side);
		putchar('\n');
		if (plan.count == 0 && plan.nerrors == 0)
			printf("No changes. Applying %s where %s was applied "
			       "would change nothing.\n",
			    rev_new, rev_old);
		else
			plan_print_human(
			    stdout, &plan, plan_print_use_colour(stdout));
		plan_print_problems(
		    stderr, &plan, plan_print_use_colour(stderr));
	}
	if (plan.nerrors > 0)
		rc = EXIT_ERROR;
	else if (plan.nrefusals > 0)
		rc = EXIT_POLICY;
	else
		rc = plan.count > 0 ? EXIT_CHANGES : EXIT_OK;
out:
	plan_release(&plan);
	observed_set_clear(&observed);
	if (old_side.engine_ready)
		engine_release(&old_side.engine);
	if (new_side.engine_ready)
		engine_release(&new_side.engine);
	gitinfo_tree_release(&old_side.tree);
	gitinfo_tree_release(&new_side.tree);
	return rc;
}

const struct cmd_entry cmd_diff_entry = {
	.name = "diff",
	.args_usage = "REV1 REV2",
	.summary = "show what would change between two commits of the config",
	.description =
	    "Plans the config as git commit REV2 has it against what the "
	    "config at REV1 would have made, as if REV1 had been applied and "
	    "nothing had drifted since: the same + ~ -/+ - actions with "
	    "reasons as 'getbot plan', and the same refusals (a changed "
	    "persona or instructions is refused). Each side is read with the "
	    "runtime bundles, build contexts and certificate files it names, "
	    "as its commit has them; for review of a pull request, run it in "
	    "a clone: 'getbot diff origin/main HEAD'.\n"
	    "No target is contacted and no secret is read: a secret is "
	    "compared by its reference ({env: NAME}, {file: PATH}, {sealed: "
	    "...}), so a changed reference is an update-secret and a changed "
	    "value behind the same reference is not seen (fingerprints in "
	    "its output are those of the references). The state is not "
	    "read.\n"
	    "Exits 0 when nothing would change, 2 when something would, 3 "
	    "when the change is refused by policy, 1 on errors (an unknown "
	    "revision names it).",
	.options = cmd_diff_options,
	.min_args = 2,
	.max_args = 2,
	.needs_providers = true,
	.exec = cmd_diff_exec,
};
