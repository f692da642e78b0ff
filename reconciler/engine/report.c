/* The Markdown report of a plan or an apply. */
#include "config.h"

#include <string.h>

#include "file.h"
#include "report.h"

static const char *const report_outcome_words[] = {
	[APPLY_OUTCOME_NOT_RUN] = "not run",
	[APPLY_OUTCOME_SUCCEEDED] = "succeeded",
	[APPLY_OUTCOME_FAILED] = "failed",
	[APPLY_OUTCOME_SKIPPED] = "skipped",
};

void
report_add_text(struct strbuf *sb, const char *text)
{
	const unsigned char *c;

	for (c = (const unsigned char *)text; *c != '\0'; c++) {
		switch (*c) {
		case '|':
			strbuf_addstr(sb, "\\|");
			break;
		case '\\': /* never an escape of what follows */
			strbuf_addstr(sb, "&#92;");
			break;
		case '<':
			strbuf_addstr(sb, "&lt;");
			break;
		case '>':
			strbuf_addstr(sb, "&gt;");
			break;
		case '&':
			strbuf_addstr(sb, "&amp;");
			break;
		case '\n':
			strbuf_addstr(sb, "<br>");
			break;
		case '\r':
			if (c[1] != '\n')
				strbuf_addstr(sb, "<br>");
			break;
		case '\t':
			strbuf_addch(sb, ' ');
			break;
		default:
			if (*c >= 0x20 && *c != 0x7f)
				strbuf_addch(sb, *c);
		}
	}
}

/* An address or a path as code when nothing in it needs escaping (escapes
 * do not work inside code), else as text. */
static void
report_add_code(struct strbuf *sb, const char *text)
{
	if (text[0] != '\0' &&
	    strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._-:/@+=,~") == strlen(text))
		strbuf_addf(sb, "`%s`", text);
	else
		report_add_text(sb, text);
}

/* text as a fenced code block, the fence longer than any run of backticks
 * in it. */
static void
report_add_block(struct strbuf *sb, const char *text)
{
	size_t run = 0, longest = 0, len = strlen(text), i;

	for (i = 0; i < len; i++) {
		run = text[i] == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	longest = longest < 3 ? 3 : longest + 1;
	for (i = 0; i < longest; i++)
		strbuf_addch(sb, '`');
	strbuf_addstr(sb, "text\n");
	strbuf_addstr(sb, text);
	if (len == 0 || text[len - 1] != '\n')
		strbuf_addch(sb, '\n');
	for (i = 0; i < longest; i++)
		strbuf_addch(sb, '`');
	strbuf_addstr(sb, "\n\n");
}

static size_t
report_drift_count(const struct plan *plan)
{
	size_t i, n = 0;

	for (i = 0; i < plan->count; i++)
		n += plan->actions[i].drift;
	return n;
}

/* "## getbot plan: 3 changes (1 drift)" and the like. */
static void
report_heading(struct strbuf *sb, const struct report *r)
{
	const struct plan *plan = r->plan;
	const struct apply_summary *applied = r->applied;
	const char *command = r->command != NULL ? r->command : "plan";

	strbuf_addf(sb, "## getbot %s: ", command);
	if (plan == NULL)
		strbuf_addstr(sb, "failed before a plan was made");
	else if (plan->nerrors > 0)
		strbuf_addstr(sb, "failed: the plan cannot be made");
	else if (plan->nrefusals > 0)
		strbuf_addstr(sb, "refused");
	else if (applied != NULL && applied->failed + applied->skipped > 0)
		strbuf_addf(sb,
		    "finished with failures (%zu succeeded, %zu failed, %zu "
		    "skipped)",
		    applied->succeeded, applied->failed, applied->skipped);
	else if (applied != NULL)
		strbuf_addf(sb, "complete (%zu succeeded)", applied->succeeded);
	else if (r->failure != NULL)
		strbuf_addstr(sb, "failed");
	else if (plan->count == 0)
		strbuf_addstr(sb, "no changes");
	else {
		size_t drift = report_drift_count(plan);

		strbuf_addf(sb, "%zu change%s", plan->count,
		    plan->count == 1 ? "" : "s");
		if (drift > 0)
			strbuf_addf(sb, " (%zu drift)", drift);
		if (strcmp(command, "apply") == 0)
			strbuf_addstr(sb, ", not applied");
	}
	strbuf_addstr(sb, "\n\n");
}

static void
report_about(struct strbuf *sb, const struct report *r)
{
	strbuf_addstr(sb, "- config: ");
	report_add_code(sb, r->config != NULL ? r->config : "bots.yaml");
	strbuf_addstr(sb, "\n- commit: ");
	if (r->commit != NULL) {
		report_add_code(sb, r->commit);
		if (strstr(r->commit, "-dirty") != NULL)
			strbuf_addstr(sb, " (the config differs from it)");
	} else
		strbuf_addstr(sb, "none (not in a git repository)");
	strbuf_addf(sb, "\n- exit code: %d\n\n", r->exit_code);
}

static void
report_problems(struct strbuf *sb, const struct report *r)
{
	const struct plan *plan = r->plan;
	size_t i;

	if (r->failure != NULL && r->failure[0] != '\0') {
		strbuf_addstr(sb, "### Error\n\n");
		report_add_block(sb, r->failure);
	}
	if (plan == NULL || plan->nerrors + plan->nrefusals == 0)
		return;
	strbuf_addstr(sb, "### Problems\n\n");
	for (i = 0; i < plan->nerrors; i++) {
		strbuf_addstr(sb, "- **error:** ");
		report_add_text(sb, plan->errors[i]);
		strbuf_addch(sb, '\n');
	}
	for (i = 0; i < plan->nrefusals; i++) {
		strbuf_addstr(sb, "- **refused:** ");
		report_add_text(sb, plan->refusals[i]);
		strbuf_addch(sb, '\n');
	}
	strbuf_addstr(sb, "\nNothing was changed.\n\n");
}

static void
report_notes(struct strbuf *sb, const struct plan *plan)
{
	size_t i;

	if (plan->nnotes == 0)
		return;
	strbuf_addstr(sb, "### Notes\n\n");
	for (i = 0; i < plan->nnotes; i++) {
		strbuf_addstr(sb, "- ");
		report_add_text(sb, plan->notes[i]);
		strbuf_addch(sb, '\n');
	}
	strbuf_addch(sb, '\n');
}

static void
report_more_rows(struct strbuf *sb, size_t shown, size_t total)
{
	if (total > shown)
		strbuf_addf(sb,
		    "\n%zu more not listed here; `getbot plan` shows them "
		    "all.\n",
		    total - shown);
}

static void
report_plan_table(struct strbuf *sb, const struct plan *plan)
{
	size_t i, add, change, replace, destroy;

	if (plan->nerrors + plan->nrefusals > 0)
		return;
	if (plan->count == 0) {
		strbuf_addstr(
		    sb, "No changes. What exists matches the config.\n\n");
		return;
	}
	plan_counts(plan, &add, &change, &replace, &destroy);
	strbuf_addf(sb,
	    "### Plan\n\n%zu to add, %zu to change, %zu to replace, %zu to "
	    "delete.\n\n",
	    add, change, replace, destroy);
	strbuf_addstr(sb, "| action | address | reason |\n|---|---|---|\n");
	for (i = 0; i < plan->count && i < REPORT_ROWS_MAX; i++) {
		const struct plan_action *a = &plan->actions[i];

		strbuf_addf(sb, "| %s%s | ", action_kind_name(a->kind),
		    a->drift ? " (drift)" : "");
		report_add_code(sb, a->address);
		strbuf_addstr(sb, " | ");
		report_add_text(sb, a->reason != NULL ? a->reason : "");
		strbuf_addstr(sb, " |\n");
	}
	report_more_rows(sb, i, plan->count);
	strbuf_addch(sb, '\n');
}

static void
report_drift(struct strbuf *sb, const struct plan *plan)
{
	size_t i, c, drift = report_drift_count(plan), shown = 0;

	if (drift == 0 || plan->nerrors + plan->nrefusals > 0)
		return;
	strbuf_addf(sb,
	    "### Drift\n\n%zu action%s repair%s changes made outside "
	    "getbot:\n\n",
	    drift, drift == 1 ? "" : "s", drift == 1 ? "s" : "");
	for (i = 0; i < plan->count && shown < REPORT_ROWS_MAX; i++) {
		const struct plan_action *a = &plan->actions[i];
		bool first = true;

		if (!a->drift)
			continue;
		shown++;
		strbuf_addstr(sb, "- ");
		report_add_code(sb, a->address);
		strbuf_addstr(sb, ": ");
		report_add_text(sb, a->reason != NULL ? a->reason : "");
		for (c = 0; c < a->nchanges; c++) {
			if (!a->changes[c].drift)
				continue;
			strbuf_addstr(sb, first ? " (fields: " : ", ");
			report_add_text(sb, a->changes[c].field);
			first = false;
		}
		if (!first)
			strbuf_addch(sb, ')');
		strbuf_addch(sb, '\n');
	}
	report_more_rows(sb, shown, drift);
	strbuf_addch(sb, '\n');
}

static void
report_results(struct strbuf *sb, const struct report *r)
{
	const struct apply_summary *applied = r->applied;
	size_t i, rows = 0;

	if (applied == NULL)
		return;
	strbuf_addf(sb,
	    "### Results\n\n%zu succeeded, %zu failed, %zu skipped.\n\n",
	    applied->succeeded, applied->failed, applied->skipped);
	if (applied->failed + applied->skipped == 0)
		return;
	strbuf_addstr(sb, "| address | result | message |\n|---|---|---|\n");
	for (i = 0; i < applied->count && rows < REPORT_ROWS_MAX; i++) {
		enum apply_outcome outcome = applied->outcomes[i];
		const char *address = r->plan != NULL && i < r->plan->count
					  ? r->plan->actions[i].address
					  : "?";

		if (outcome != APPLY_OUTCOME_FAILED &&
		    outcome != APPLY_OUTCOME_SKIPPED)
			continue;
		rows++;
		strbuf_addstr(sb, "| ");
		report_add_code(sb, address);
		strbuf_addf(sb, " | %s | ", report_outcome_words[outcome]);
		report_add_text(sb,
		    applied->messages[i] != NULL ? applied->messages[i] : "");
		strbuf_addstr(sb, " |\n");
	}
	report_more_rows(sb, rows, applied->failed + applied->skipped);
	strbuf_addch(sb, '\n');
}

void
report_markdown(struct strbuf *sb, const struct report *report)
{
	size_t start = sb->len;

	report_heading(sb, report);
	report_about(sb, report);
	report_problems(sb, report);
	if (report->plan != NULL) {
		report_notes(sb, report->plan);
		report_results(sb, report);
		report_drift(sb, report->plan);
		report_plan_table(sb, report->plan);
	}
	/* one newline at the end, not a blank line */
	while (sb->len > start + 1 && sb->buf[sb->len - 1] == '\n' &&
	       sb->buf[sb->len - 2] == '\n')
		strbuf_setlen(sb, sb->len - 1);
}

int
report_save(const char *path, const struct report *report, struct strbuf *err)
{
	struct strbuf text = STRBUF_INIT;
	int rc;

	report_markdown(&text, report);
	rc = file_replace(path, text.buf, text.len, 0644, err);
	strbuf_release(&text);
	return rc;
}
