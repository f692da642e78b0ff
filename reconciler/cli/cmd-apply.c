/* getbot apply: carry out a plan, made now or saved by plan -out. */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply-print.h"
#include "apply.h"
#include "cmd.h"
#include "plan-print.h"
#include "planfile.h"
#include "prepare.h"
#include "xmalloc.h"

static const struct cmd_option cmd_apply_options[] = {
	PREPARE_OPTIONS,
	PREPARE_REF_OPTION,
	PREPARE_HOST_KEY_OPTION,
	PREPARE_REPORT_OPTION,
	{ "allow-dirty", 0, NULL,
	    "apply a work tree whose config, or what it names, differs from "
	    "git's HEAD (without --ref, such a work tree is refused)" },
	{ "auto-approve", 0, NULL,
	    "apply without asking (needed when stdin is not a terminal)" },
	{ "parallelism", 0, "N", "actions at once (default 10)" },
	{ "lock-wait", 0, "DURATION",
	    "wait this long for another apply's lock (30s, 5m; default 0)" },
	{ "purge-data", 0, NULL,
	    "deletes also remove data kept by default (volumes, buckets)" },
	{ NULL, 0, NULL, NULL },
};

#define CMD_APPLY_JOURNAL_KEEP 500

struct cmd_apply_renewer {
	struct state_lock *lock;
	pthread_mutex_t mutex;
	pthread_cond_t stop_cond;
	bool stop;
	pthread_t thread;
};

/* Tick the lock once a second (renewing it, sending the journal's
 * intents) until told to stop. A failure is said once until it passes. */
static void *
cmd_apply_renew(void *arg)
{
	struct cmd_apply_renewer *r = arg;
	struct strbuf err = STRBUF_INIT;
	struct timespec until;
	bool failing = false;

	pthread_mutex_lock(&r->mutex);
	while (!r->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&r->stop_cond, &r->mutex, &until);
		if (r->stop)
			break;
		strbuf_reset(&err);
		if (state_lock_tick(r->lock, &err) == 0)
			failing = false;
		else if (!failing) {
			fprintf(stderr, "getbot: cannot renew the lock: %s\n",
			    err.buf);
			failing = true;
		}
	}
	pthread_mutex_unlock(&r->mutex);
	strbuf_release(&err);
	return NULL;
}

/* Start r's thread for lock; false if it could not be started. */
static bool
cmd_apply_renew_start(struct cmd_apply_renewer *r, struct state_lock *lock)
{
	r->lock = lock;
	r->stop = false;
	pthread_mutex_init(&r->mutex, NULL);
	pthread_cond_init(&r->stop_cond, NULL);
	if (pthread_create(&r->thread, NULL, cmd_apply_renew, r) == 0)
		return true;
	pthread_cond_destroy(&r->stop_cond);
	pthread_mutex_destroy(&r->mutex);
	return false;
}

static void
cmd_apply_renew_stop(struct cmd_apply_renewer *r)
{
	pthread_mutex_lock(&r->mutex);
	r->stop = true;
	pthread_cond_signal(&r->stop_cond);
	pthread_mutex_unlock(&r->mutex);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->stop_cond);
	pthread_mutex_destroy(&r->mutex);
}

/* "30s", "5m", "1h", "1.5" (seconds); -1 when malformed. */
static double
cmd_apply_duration(const char *text)
{
	char *end = NULL;
	double value = strtod(text, &end);

	if (end == text || value < 0)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		return value;
	if (strcmp(end, "m") == 0)
		return value * 60;
	if (strcmp(end, "h") == 0)
		return value * 3600;
	return -1;
}

/* The audit commit's message: what was applied, from which commit. */
static void
cmd_apply_audit(struct strbuf *message, const struct plan *plan,
    const struct apply_summary *summary, const char *commit,
    const struct state_lock *lock)
{
	size_t i;

	if (summary != NULL)
		strbuf_addf(message,
		    "getbot apply: %zu succeeded, %zu failed, %zu skipped\n",
		    summary->succeeded, summary->failed, summary->skipped);
	else
		strbuf_addstr(message, "getbot apply: an interrupted apply's "
				       "intents resolved\n");
	strbuf_addf(message, "\nConfig commit: %s\nLock: %s\n",
	    commit != NULL ? commit : "none (not in a git repository)",
	    state_lock_id(lock));
	if (plan->count > 0)
		strbuf_addstr(message, "\nActions:\n");
	for (i = 0; i < plan->count; i++)
		strbuf_addf(message, "  %s %s\n",
		    action_kind_name(plan->actions[i].kind),
		    plan->actions[i].address);
	if (summary != NULL && summary->failures.len > 0)
		strbuf_addf(message, "\nFailures:\n%s", summary->failures.buf);
}

/* Make what this apply saved the shared record (the git backend);
 * -1 when it could not be. */
static int
cmd_apply_publish(struct prepared *p, const struct apply_summary *summary,
    const char *commit, const struct state_lock *lock)
{
	struct strbuf message = STRBUF_INIT, err = STRBUF_INIT;
	int rc;

	cmd_apply_audit(&message, &p->plan, summary, commit, lock);
	rc = state_publish(p->state, message.buf, &err);
	if (rc != 0)
		fprintf(stderr,
		    "getbot apply: the state was not recorded: %s; it is "
		    "kept in '%s' and the next apply's observation adopts "
		    "what this one made\n",
		    err.buf, state_path(p->state));
	strbuf_release(&message);
	strbuf_release(&err);
	return rc;
}

/* Say why apply stops, on stderr and in failure (for --report). */
static void __attribute__((format(printf, 2, 3)))
cmd_apply_fail(struct strbuf *failure, const char *fmt, ...)
{
	va_list ap;

	strbuf_reset(failure);
	va_start(ap, fmt);
	strbuf_vaddf(failure, fmt, ap);
	va_end(ap);
	fprintf(stderr, "getbot apply: %s\n", failure->buf);
}

/* Ask for "yes" on the terminal. */
static bool
cmd_apply_confirm(void)
{
	char answer[16];

	printf("\nDo you want to apply these actions? Only 'yes' is taken "
	       "as yes.\n  Enter a value: ");
	fflush(stdout);
	if (fgets(answer, sizeof(answer), stdin) == NULL)
		return false;
	answer[strcspn(answer, "\n")] = '\0';
	return strcmp(answer, "yes") == 0;
}

static int
cmd_apply_exec(const struct cmd_args *args)
{
	const char *plan_path =
	    args->npositional > 0 ? args->positional[0] : NULL;
	const char *wait_text = cmd_args_get(args, "lock-wait");
	const char *parallel_text = cmd_args_get(args, "parallelism");
	struct apply_options options = { 10, false, stdout, false, false };
	struct apply_summary summary;
	struct cmd_apply_renewer renewer;
	struct state_lock *lock = NULL;
	struct strbuf err = STRBUF_INIT, failure = STRBUF_INIT;
	struct prepared p;
	const char **pairs = NULL;
	cJSON *saved = NULL;
	bool renewing = false, applied = false;
	double wait = 0;
	long serial_loaded = 0;
	char *commit = NULL;
	cJSON *provenance = NULL;
	int rc;

	rc = prepare_options(args, &p);
	if (rc != EXIT_OK)
		goto out;
	p.refuse_dirty = !cmd_args_has(args, "allow-dirty");
	if (wait_text != NULL && (wait = cmd_apply_duration(wait_text)) < 0) {
		cmd_apply_fail(&failure,
		    "--lock-wait: '%s' is not a duration (30s, 5m, 1h)",
		    wait_text);
		rc = EXIT_ERROR;
		goto out;
	}
	if (parallel_text != NULL) {
		char *end = NULL;
		long n = strtol(parallel_text, &end, 10);

		if (end == parallel_text || *end != '\0' || n < 1 || n > 256) {
			cmd_apply_fail(&failure,
			    "--parallelism: '%s' is not a number from 1 to "
			    "256",
			    parallel_text);
			rc = EXIT_ERROR;
			goto out;
		}
		options.parallelism = (unsigned)n;
	}
	options.purge_data = cmd_args_has(args, "purge-data");
	options.live = isatty(fileno(stdout));
	options.redraw = apply_print_can_redraw(stdout);

	if (plan_path != NULL) {
		if (planfile_load(plan_path,
			p.ref.dir != NULL ? p.ref.config_path : p.config,
			p.ref.dir != NULL ? p.ref.label : p.config, &saved,
			&err) != 0) {
			cmd_apply_fail(&failure, "%s", err.buf);
			rc = EXIT_ERROR;
			goto out;
		}
		/* the saved plan's options, and only the objects it touches */
		free(p.lists[0]);
		free(p.lists[1]);
		free(p.lists[2]);
		planfile_options(saved, &p.options, p.lists);
		p.nobserve_only = planfile_pairs(saved, &pairs);
		p.observe_only = pairs;
	}

	rc = prepare_load(args, args->providers, &p, false);
	if (rc != EXIT_OK)
		goto out;
	rc = state_lock(&p.where, "apply", wait, &lock, &err);
	if (rc != 0) {
		cmd_apply_fail(&failure, "%s", err.buf);
		rc = rc == STATE_LOCKED ? EXIT_LOCKED : EXIT_ERROR;
		goto out;
	}
	if (state_lock_taken_over(lock) != NULL)
		fprintf(stderr, "getbot apply: took over the lock of %s\n",
		    state_lock_taken_over(lock));
	/* held from here on, also while the plan is made and approved */
	renewing = cmd_apply_renew_start(&renewer, lock);
	p.lock = lock;

	rc = prepare_observe(args, &p, false);
	if (p.state != NULL)
		serial_loaded = state_serial(p.state);
	if (rc != EXIT_OK) {
		plan_print_problems(
		    stderr, &p.plan, plan_print_use_colour(stderr));
		goto out;
	}
	if (saved != NULL &&
	    planfile_check(saved, &p.plan, p.state, &err) != 0) {
		cmd_apply_fail(&failure, "%s", err.buf);
		rc = EXIT_ERROR;
		goto out;
	}
	prepare_print_commit(stdout, &p);
	plan_print_human(stdout, &p.plan, plan_print_use_colour(stdout));
	if (apply_resolve_intents(
		&p.engine, &p.plan, p.state, &options, &err) != 0) {
		cmd_apply_fail(&failure, "%s", err.buf);
		rc = EXIT_ERROR;
		goto out;
	}
	if (p.plan.count == 0) {
		/* resolving an interrupted apply's intents changed it */
		if (state_serial(p.state) != serial_loaded &&
		    cmd_apply_publish(&p, NULL, NULL, lock) != 0)
			rc = EXIT_ERROR;
		goto out;
	}
	if (saved == NULL && !cmd_args_has(args, "auto-approve")) {
		if (!isatty(STDIN_FILENO)) {
			cmd_apply_fail(&failure,
			    "not asking for approval: stdin is not a "
			    "terminal; pass --auto-approve, or apply a saved "
			    "plan");
			rc = EXIT_ERROR;
			goto out;
		}
		if (!cmd_apply_confirm()) {
			printf("Apply cancelled.\n");
			goto out;
		}
	}

	/* what this run applies from: the commit, per resource too */
	provenance = prepare_provenance(&p);
	if (cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		provenance, "sha")) != NULL)
		commit = xstrdup(cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(provenance, "sha")));
	state_set_commit(p.state, commit);
	state_set_provenance(p.state, provenance);
	printf("\n");
	if (apply_run(&p.engine, &p.plan, p.state, &options, &summary) != 0)
		rc = EXIT_PARTIAL;
	applied = true;
	/* keep the journal readable: the last runs' entries are enough */
	state_journal_trim(p.state, CMD_APPLY_JOURNAL_KEEP);
	strbuf_reset(&err);
	if (state_save(p.state, &err) != 0)
		cmd_apply_fail(&failure, "%s", err.buf);
	else if (cmd_apply_publish(&p, &summary, commit, lock) != 0 &&
		 rc == EXIT_OK)
		rc = EXIT_ERROR;
	printf("\nApply %s: %zu succeeded, %zu failed, %zu skipped.\n",
	    rc == EXIT_OK ? "complete" : "finished with failures",
	    summary.succeeded, summary.failed, summary.skipped);
	if (summary.failures.len > 0)
		fprintf(stderr, "\n%s", summary.failures.buf);
out:
	if (renewing)
		cmd_apply_renew_stop(&renewer);
	state_unlock(lock);
	rc = prepare_report(args, &p, applied ? &summary : NULL,
	    failure.len > 0 ? failure.buf : NULL, rc);
	if (applied)
		apply_summary_release(&summary);
	prepare_release(&p);
	cJSON_Delete(saved);
	free(pairs);
	cJSON_Delete(provenance);
	free(commit);
	strbuf_release(&err);
	strbuf_release(&failure);
	return rc;
}

const struct cmd_entry cmd_apply_entry = {
	.name = "apply",
	.args_usage = "[PLANFILE]",
	.summary = "carry out the plan",
	.description =
	    "Without PLANFILE, plans as 'getbot plan' does, shows the plan and "
	    "asks for 'yes' (it refuses to ask when stdin is not a terminal: "
	    "pass --auto-approve). With PLANFILE (from 'getbot plan -out'), "
	    "observes again only what that plan touches and refuses it (exit "
	    "1, naming the object) if anything has changed since.\n"
	    "Actions run in dependency order, several at once within each "
	    "provider's limits; transient failures are retried with backoff, "
	    "honouring Retry-After. A failed action skips what depends on it "
	    "while the rest goes on; the run ends with a summary and exits 5 "
	    "if anything failed. Each action is journaled in the state before "
	    "its first remote call, so an interrupted apply is resumed by the "
	    "next one, never duplicated. Only one apply runs at a time: a "
	    "second exits 4 naming the holder of the lock.\n"
	    "It prints a line when each action starts and when it ends, with "
	    "its time. The slow steps inside one (an org container made from "
	    "its image, downloaded the first time; Docker installed in it; an "
	    "image built; a new bot's wait to turn healthy) have a line when "
	    "they start and one when they end, 'took 42.0s' or 'failed after "
	    "60.1s'. On a terminal each "
	    "line starts with [FINISHED/TOTAL], and a status line below the "
	    "others counts the time of the slow steps running, rewritten in "
	    "place about once a second (not with TERM=dumb); anywhere else "
	    "only the lines are written.\n"
	    "When bots.yaml is in a git repository, apply refuses (exit 1, "
	    "naming the file) a work tree where the config, or a runtime "
	    "bundle, build context or certificate file it names, differs "
	    "from HEAD (modified, staged, untracked or ignored), unless "
	    "--allow-dirty or --ref REV (which applies the commit's config). "
	    "The state records for each resource the commit it was last "
	    "applied from (sha, author, date, subject).\n"
	    "--report FILE writes a Markdown summary of the run (the outcome, "
	    "the config's git commit, the plan as a table, drift, refusals, "
	    "and each action that failed or was skipped with its message) "
	    "for a pull-request comment or a cron mail; a run that fails "
	    "before there is a plan (a config error, another apply's lock) "
	    "still writes one saying why.",
	.options = cmd_apply_options,
	.min_args = 0,
	.max_args = 1,
	.needs_providers = true,
	.exec = cmd_apply_exec,
};
