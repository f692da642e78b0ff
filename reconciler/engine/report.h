/*
 * The run's report for people who were not watching: a Markdown summary of
 * a plan or an apply (its outcome, the config's commit, the plan as a
 * table, drift, problems and results), fit for a pull-request comment or a
 * cron mail. Secrets appear only as the plan shows them: not at all, or by
 * fingerprint.
 */
#ifndef GETBOT_REPORT_H
#define GETBOT_REPORT_H

#include "apply.h"
#include "plan.h"
#include "strbuf.h"

/* Rows of a table before the rest is counted, not listed: a pull-request
 * comment has a size limit. */
#define REPORT_ROWS_MAX 300

/* What one run has to tell; every pointer is borrowed and may be NULL. */
struct report {
	const char *command;     /* "plan" or "apply" */
	const char *config;      /* the config's path */
	const char *commit;      /* gitinfo_commit's answer: sha[-dirty] */
	const struct plan *plan; /* NULL: the run failed before a plan */
	/* apply's results; NULL when nothing was applied */
	const struct apply_summary *applied;
	const char *failure; /* why the run failed, in getbot's words */
	int exit_code;
};

/* Append the report as Markdown to sb. */
void report_markdown(struct strbuf *sb, const struct report *report);
/* Write it to path: a temporary file renamed over path, so a reader sees
 * the old report or the new one. Returns 0, or -1 with err set. */
int report_save(
    const char *path, const struct report *report, struct strbuf *err);
/* Append text for a Markdown table cell or list item: '|' escaped, line
 * breaks as <br>, '<', '>' and '&' as entities, other controls dropped. */
void report_add_text(struct strbuf *sb, const char *text);

#endif
