/* getbot plan: what apply would do, and why. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>

#include "cmd.h"
#include "plan-print.h"
#include "planfile.h"
#include "prepare.h"

static const struct cmd_option cmd_plan_options[] = {
	PREPARE_OPTIONS,
	PREPARE_REF_OPTION,
	PREPARE_HOST_KEY_OPTION,
	PREPARE_REPORT_OPTION,
	{ "json", 0, NULL,
	    "print one JSON object per line (planned_change, drift, "
	    "diagnostic, change_summary, ...)" },
	{ "out", 0, "FILE",
	    "save the plan to FILE for 'getbot apply FILE' (also -out)" },
	{ "detailed-exitcode", 0, NULL,
	    "exit 2 when there are changes, 0 when there are none" },
	{ NULL, 0, NULL, NULL },
};

static int
cmd_plan_exec(const struct cmd_args *args)
{
	struct prepared p;
	bool json = cmd_args_has(args, "json");
	const char *out = cmd_args_get(args, "out");
	struct strbuf err = STRBUF_INIT;
	const char *failure = NULL;
	int rc;

	rc = prepare_options(args, &p);
	if (rc == EXIT_OK)
		rc = prepare_plan(args, args->providers, &p, json);
	if (rc == EXIT_OK || rc == EXIT_POLICY ||
	    (rc == EXIT_ERROR && p.plan.nerrors > 0)) {
		if (!json)
			prepare_print_commit(stdout, &p);
		if (json)
			plan_print_json(stdout, &p.plan);
		else if (rc != EXIT_OK)
			plan_print_problems(
			    stderr, &p.plan, plan_print_use_colour(stderr));
		else
			plan_print_human(
			    stdout, &p.plan, plan_print_use_colour(stdout));
	}
	if (rc == EXIT_OK && out != NULL) {
		if (planfile_save(out, &p.plan, &p.options,
			p.engine.config_path,
			p.ref.dir != NULL ? p.ref.label : p.config, p.state,
			&err) != 0) {
			fprintf(stderr, "getbot: %s\n", err.buf);
			failure = err.buf;
			rc = EXIT_ERROR;
		} else if (!json)
			printf("\nSaved the plan to %s; 'getbot apply %s' "
			       "applies exactly it.\n",
			    out, out);
	}
	if (rc == EXIT_OK && cmd_args_has(args, "detailed-exitcode") &&
	    p.plan.count > 0)
		rc = EXIT_CHANGES;
	rc = prepare_report(args, &p, NULL, failure, rc);
	prepare_release(&p);
	strbuf_release(&err);
	return rc;
}

const struct cmd_entry cmd_plan_entry = {
	.name = "plan",
	.args_usage = "",
	.summary = "show what apply would change, and why",
	.description =
	    "First checks each server target for what bots.yaml needs there "
	    "(Incus's socket and Caddy's admin API answer, getbot-auth is "
	    "found and runs with its libraries): a server that lacks "
	    "something is one error (exit 1) listing each missing piece and "
	    "how to install it, before anything is observed.\n"
	    "Then observes what exists (one bulk call per kind of object and "
	    "target), compares it with bots.yaml and the state, and prints "
	    "the actions that would close the gap: + create, ~ update, "
	    "update-secret or re-register, -/+ replace, - delete, each with "
	    "its reason. Changes made outside getbot are labelled drift. "
	    "Secrets appear only as fingerprints.\n"
	    "A change of persona or instructions is refused (exit 3) unless "
	    "--replace names the bot; so is a plan that deletes more than 10 "
	    "resources and more than a third of those managed, unless "
	    "--allow-deletes. Nothing is changed.\n"
	    "When bots.yaml is in a git repository, the plan starts with the "
	    "commit it compares (sha and subject), or says the work tree "
	    "differs from it. With --ref REV it plans the config as commit "
	    "REV has it (messages name it REV:bots.yaml); secrets and the "
	    "state are still those beside the config.\n"
	    "--report FILE writes the same as Markdown (the outcome, the "
	    "config's git commit, the plan as a table, drift, refusals and "
	    "errors) for a pull-request comment; a run that fails before "
	    "there is a plan still writes one saying why.",
	.options = cmd_plan_options,
	.min_args = 0,
	.max_args = 0,
	.needs_providers = true,
	.exec = cmd_plan_exec,
};
