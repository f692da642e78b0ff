/* The Markdown report of plan and apply (--report), on plans built here. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "tap.h"
#include "xmalloc.h"

static char test_field[] = "memory";
static char test_reason_create[] = "not found";
static char test_reason_drift[] = "drift: memory changed outside getbot";
static char test_reason_delete[] = "no longer in bots.yaml";

static struct plan_change test_drift_change = {
	.field = test_field,
	.drift = true,
};

/* Three actions: a create, a drift repair, a delete. */
static struct plan_action test_actions[] = {
	{ .kind = ACTION_CREATE,
	    .address = "mem.container.acme",
	    .reason = test_reason_create },
	{ .kind = ACTION_UPDATE,
	    .address = "mem.container.globex",
	    .reason = test_reason_drift,
	    .drift = true,
	    .changes = &test_drift_change,
	    .nchanges = 1 },
	{ .kind = ACTION_DELETE,
	    .address = "mem.allowlist.initech",
	    .reason = test_reason_delete },
};

static void
test_plan_init(struct plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan->actions = test_actions;
	plan->count = 3;
}

static char *
test_markdown(const struct report *r)
{
	struct strbuf sb = STRBUF_INIT;

	report_markdown(&sb, r);
	return strbuf_detach(&sb, NULL);
}

static void
test_report__plan_heading_counts_changes_and_drift(void)
{
	struct plan plan;
	struct report r = { .command = "plan",
		.config = "bots.yaml",
		.commit = "0123456789abcdef0123456789abcdef01234567",
		.exit_code = 2 };
	char *md;

	test_plan_init(&plan);
	r.plan = &plan;
	md = test_markdown(&r);
	ok(strncmp(md, "## getbot plan: 3 changes (1 drift)\n", 36) == 0,
	    "the heading gives the outcome: 3 changes, 1 of them drift");
	ok(strstr(
	       md, "- commit: `0123456789abcdef0123456789abcdef01234567`\n") !=
		NULL,
	    "the config's commit is named");
	ok(strstr(md, "- exit code: 2\n") != NULL, "and the exit code");
	free(md);
}

static void
test_report__plan_is_a_table_of_action_address_reason(void)
{
	struct plan plan;
	struct report r = { .command = "plan" };
	char *md;

	test_plan_init(&plan);
	r.plan = &plan;
	md = test_markdown(&r);
	ok(strstr(md, "| action | address | reason |\n|---|---|---|\n") != NULL,
	    "the plan table has action, address and reason columns");
	ok(strstr(md, "| create | `mem.container.acme` | not found |\n") !=
		NULL,
	    "one row per action");
	ok(strstr(md, "| update (drift) | `mem.container.globex` | drift: "
		      "memory changed outside getbot |\n") != NULL,
	    "a drift repair is marked in its row");
	ok(strstr(md, "1 to add, 1 to change, 0 to replace, 1 to delete.") !=
		NULL,
	    "with the plan's counts");
	ok(strstr(md, "none (not in a git repository)") != NULL,
	    "no commit outside a repository");
	free(md);
}

static void
test_report__drift_is_called_out_with_its_fields(void)
{
	struct plan plan;
	struct report r = { .command = "plan" };
	char *md;

	test_plan_init(&plan);
	r.plan = &plan;
	md = test_markdown(&r);
	ok(strstr(md, "### Drift\n\n1 action repairs changes made outside "
		      "getbot:\n\n- `mem.container.globex`: drift: memory "
		      "changed outside getbot (fields: memory)\n") != NULL,
	    "drift has its own section naming the changed fields");
	free(md);
}

static void
test_report__cells_escape_pipes_and_newlines(void)
{
	static char reason[] = "a | b\nc <d> & \\| e";
	struct strbuf sb = STRBUF_INIT;
	struct plan plan;
	struct plan_action action = {
		.kind = ACTION_UPDATE, .address = "x.y.z", .reason = reason
	};
	struct report r = { .command = "plan" };
	char *md;

	report_add_text(&sb, "a|b\r\nc\rd\te\x01");
	is_str(sb.buf, "a\\|b<br>c<br>d e",
	    "| is escaped, line breaks are <br>, "
	    "controls go");
	strbuf_release(&sb);
	memset(&plan, 0, sizeof(plan));
	plan.actions = &action;
	plan.count = 1;
	r.plan = &plan;
	md = test_markdown(&r);
	ok(strstr(md, "| update | `x.y.z` | a \\| b<br>c &lt;d&gt; &amp; "
		      "&#92;\\| e |\n") != NULL,
	    "a reason's pipes, newlines, HTML and backslashes cannot break "
	    "its row");
	free(md);
}

static void
test_report__no_changes(void)
{
	struct plan plan;
	struct report r = { .command = "plan" };
	char *md;

	memset(&plan, 0, sizeof(plan));
	r.plan = &plan;
	md = test_markdown(&r);
	ok(strncmp(md, "## getbot plan: no changes\n", 27) == 0,
	    "an empty plan says no changes");
	ok(strstr(md, "| action |") == NULL && strstr(md, "### Drift") == NULL,
	    "and has no table and no drift");
	ok(md[strlen(md) - 1] == '\n' && md[strlen(md) - 2] != '\n',
	    "the report ends with one newline");
	free(md);
}

static void
test_report__refusal_is_a_problem_and_nothing_is_planned(void)
{
	struct plan plan;
	static char refusal_text[] =
	    "persona of cloudflare.worker.research-pro cannot change once "
	    "deployed; --replace it";
	char *refusal = refusal_text;
	struct report r = { .command = "plan", .exit_code = 3 };
	char *md;

	test_plan_init(&plan);
	plan.refusals = &refusal;
	plan.nrefusals = 1;
	r.plan = &plan;
	md = test_markdown(&r);
	ok(strncmp(md, "## getbot plan: refused\n", 24) == 0,
	    "a refused plan says so in the heading");
	ok(strstr(md, "### Problems\n\n- **refused:** persona of "
		      "cloudflare.worker.research-pro cannot change") != NULL,
	    "the refusal is listed in getbot's words");
	ok(strstr(md, "| action |") == NULL,
	    "no table of actions that will not run");
	free(md);
}

static void
test_report__apply_results_list_each_failure_with_its_message(void)
{
	struct plan plan;
	enum apply_outcome outcomes[] = { APPLY_OUTCOME_SUCCEEDED,
		APPLY_OUTCOME_FAILED, APPLY_OUTCOME_SKIPPED };
	static char failed[] = "injected failure (403)";
	static char skipped[] = "an action it needs failed";
	char *messages[] = { NULL, failed, skipped };
	struct apply_summary summary = { .succeeded = 1,
		.failed = 1,
		.skipped = 1,
		.outcomes = outcomes,
		.messages = messages,
		.count = 3 };
	struct report r = { .command = "apply", .exit_code = 5 };
	char *md;

	test_plan_init(&plan);
	r.plan = &plan;
	r.applied = &summary;
	md = test_markdown(&r);
	ok(strncmp(md,
	       "## getbot apply: finished with failures (1 succeeded, 1 "
	       "failed, 1 skipped)\n",
	       70) == 0,
	    "the heading gives the results");
	ok(strstr(md, "| `mem.container.globex` | failed | injected failure "
		      "(403) |\n") != NULL,
	    "a failure with its message");
	ok(strstr(md, "| `mem.allowlist.initech` | skipped | an action it "
		      "needs failed |\n") != NULL,
	    "a skip with why");
	ok(strstr(md, "| `mem.container.acme` | succeeded") == NULL,
	    "successes are counted, not listed as failures");
	summary.failed = summary.skipped = 0;
	summary.succeeded = 3;
	outcomes[1] = outcomes[2] = APPLY_OUTCOME_SUCCEEDED;
	free(md);
	md = test_markdown(&r);
	ok(strncmp(md, "## getbot apply: complete (3 succeeded)\n", 40) == 0,
	    "a complete apply says so");
	free(md);
}

static void
test_report__failure_before_a_plan_says_why(void)
{
	struct report r = { .command = "apply",
		.commit = "0123456789abcdef0123456789abcdef01234567-dirty",
		.failure = "state is locked by ci@runner (pid 42) since "
			   "10:00:00",
		.exit_code = 4 };
	char *md = test_markdown(&r);

	ok(strncmp(
	       md, "## getbot apply: failed before a plan was made\n", 47) == 0,
	    "the heading says the run failed before a plan");
	ok(strstr(md, "### Error\n\n```text\nstate is locked by ci@runner "
		      "(pid 42) since 10:00:00\n```\n") != NULL,
	    "the error text is quoted as it was printed");
	ok(strstr(md, "(the config differs from it)") != NULL,
	    "a dirty work tree is said in words");
	free(md);
}

static void
test_report__error_text_with_backticks_keeps_its_fence(void)
{
	struct report r = { .command = "plan",
		.failure = "bots.yaml:1:1: ```` here" };
	char *md = test_markdown(&r);

	ok(strstr(md, "`````text\nbots.yaml:1:1: ```` here\n`````\n") != NULL,
	    "the fence is longer than any backticks in the text");
	free(md);
}

static void
test_report__save_replaces_the_file(void)
{
	char dir[] = "/tmp/getbot-report.XXXXXX";
	struct strbuf err = STRBUF_INIT;
	struct report r = { .command = "plan", .failure = "boom" };
	char *path;
	FILE *f;
	char line[128] = "";

	ok(mkdtemp(dir) != NULL, "a scratch directory");
	path = xasprintf("%s/report.md", dir);
	f = fopen(path, "w");
	fputs("old\n", f);
	fclose(f);
	is_int(report_save(path, &r, &err), 0, "report_save succeeds");
	f = fopen(path, "r");
	if (f != NULL) {
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
	}
	is_str(line, "## getbot plan: failed before a plan was made\n",
	    "and the file holds the new report");
	unlink(path);
	is_int(report_save("/nonexistent/dir/report.md", &r, &err), -1,
	    "an unwritable path is an error");
	ok(strstr(err.buf, "/nonexistent/dir/report.md") != NULL,
	    "naming the path");
	rmdir(dir);
	free(path);
	strbuf_release(&err);
}

int
main(void)
{
	test_report__plan_heading_counts_changes_and_drift();
	test_report__plan_is_a_table_of_action_address_reason();
	test_report__drift_is_called_out_with_its_fields();
	test_report__cells_escape_pipes_and_newlines();
	test_report__no_changes();
	test_report__refusal_is_a_problem_and_nothing_is_planned();
	test_report__apply_results_list_each_failure_with_its_message();
	test_report__failure_before_a_plan_says_why();
	test_report__error_text_with_backticks_keeps_its_fence();
	test_report__save_replaces_the_file();
	return tap_done();
}
