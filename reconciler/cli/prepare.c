/* From bots.yaml to a plan: the part plan, apply and graph share. */
#include "config.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepare.h"
#include "gitinfo.h"
#include "plan-print.h"
#include "report.h"
#include "xmalloc.h"

char *
prepare_state_path(const char *config_path, const char *state_option)
{
	char *copy, *path;

	if (state_option != NULL)
		return xstrdup(state_option);
	copy = xstrdup(config_path);
	path = xasprintf("%s/.getbot/state.json", dirname(copy));
	free(copy);
	return path;
}

int
prepare_options(const struct cmd_args *args, struct prepared *p)
{
	const char *only = cmd_args_get(args, "only");
	const char *config = cmd_args_get(args, "file");

	memset(p, 0, sizeof(*p));
	strbuf_init(&p->failure, 0);
	if (config == NULL)
		config = "bots.yaml";
	p->config_path = config;
	p->state_path = prepare_state_path(config, cmd_args_get(args, "state"));
	p->options.nreplace = cmd_args_all(args, "replace", &p->lists[0]);
	p->options.replace = p->lists[0];
	p->options.norgs = cmd_args_all(args, "org", &p->lists[1]);
	p->options.orgs = p->lists[1];
	p->options.nexcludes = cmd_args_all(args, "exclude", &p->lists[2]);
	p->options.excludes = p->lists[2];
	p->options.allow_deletes = cmd_args_has(args, "allow-deletes");
	while (only != NULL && *only != '\0') {
		size_t len = strcspn(only, ",");
		char *word = xstrndup(only, len);
		int kind = action_kind_parse(word);

		if (strcmp(word, "drift") == 0)
			p->options.only_drift = true;
		else if (kind < 0) {
			fprintf(stderr,
			    "getbot: --only: unknown action '%s' (create, "
			    "update, update-secret, re-register, replace, "
			    "delete or drift)\n",
			    word);
			strbuf_addf(&p->failure,
			    "--only: unknown action '%s' (create, update, "
			    "update-secret, re-register, replace, delete or "
			    "drift)",
			    word);
			free(word);
			return EXIT_ERROR;
		} else
			p->options.only |= 1u << kind;
		free(word);
		only += len + (only[len] == ',');
	}
	return EXIT_OK;
}

static void
prepare_error(struct prepared *p, bool json, const char *message)
{
	strbuf_addstr(&p->failure, message);
	if (json) {
		cJSON *o = cJSON_CreateObject();
		char *text;

		cJSON_AddStringToObject(o, "type", "diagnostic");
		cJSON_AddStringToObject(o, "severity", "error");
		cJSON_AddStringToObject(o, "message", message);
		text = cJSON_PrintUnformatted(o);
		printf("%s\n", text);
		free(text);
		cJSON_Delete(o);
	} else
		fprintf(stderr, "getbot: %s\n", message);
}

/* A connection's word for the user (a host key added to known_hosts). */
static void
prepare_note(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "getbot: %s\n", line);
}

/* Hand observation what the state remembers, provider by provider. */
static void
prepare_remember(struct prepared *p)
{
	const char *const *addresses;
	size_t n, i;

	addresses = state_addresses(p->state, &n);
	for (i = 0; i < n; i++) {
		const cJSON *snapshot = state_resource(p->state, addresses[i]);
		const char *provider = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(snapshot, "provider"));

		if (provider != NULL)
			engine_remember(&p->engine, provider, addresses[i],
			    cJSON_GetObjectItemCaseSensitive(snapshot, "spec"));
	}
}

void
prepare_state_where(const struct bots *bots, const char *config_path,
    const char *state_path, bool state_option, struct state_where *where)
{
	memset(where, 0, sizeof(*where));
	where->path = state_path;
	where->config_path = config_path;
	where->lease = bots->state_lease;
	/* --state names a file: the local backend, whatever the config says */
	where->git = bots->state_backend == BOTS_STATE_GIT && !state_option;
	where->remote = bots->state_remote;
}

int
prepare_load(const struct cmd_args *args,
    const struct provider *const *providers, struct prepared *p, bool json)
{
	struct diag_list diags = DIAG_LIST_INIT;
	const char *config = cmd_args_get(args, "file");
	size_t i;
	int rc = EXIT_ERROR;

	if (config == NULL)
		config = "bots.yaml";
	if (engine_init(&p->engine, providers, config, &diags) != 0) {
		for (i = 0; i < diags.count; i++) {
			diag_format(&p->failure, &diags.items[i]);
			if (json) {
				diag_print_json(stdout, &diags.items[i]);
				putchar('\n');
			} else
				diag_print(stderr, &diags.items[i]);
		}
		goto out;
	}
	prepare_state_where(p->engine.bots, config, p->state_path,
	    cmd_args_has(args, "state"), &p->where);
	rc = EXIT_OK;
out:
	diag_list_clear(&diags);
	return rc;
}

int
prepare_observe(const struct cmd_args *args, struct prepared *p, bool json)
{
	struct strbuf err = STRBUF_INIT;
	int rc = EXIT_ERROR;

	p->engine.conn_options.accept_new_host_key =
	    cmd_args_has(args, "accept-new-host-key");
	p->engine.conn_options.note = prepare_note;
	p->engine.observe_only = p->observe_only;
	p->engine.nobserve_only = p->nobserve_only;
	if (state_open(&p->where, &p->state, &err) != 0) {
		prepare_error(p, json, err.buf);
		goto out;
	}
	if (p->lock != NULL)
		state_lock_attach(p->lock, p->state);
	prepare_remember(p);
	if (engine_expand(&p->engine, &err) != 0 ||
	    engine_observe(&p->engine, &err) != 0) {
		prepare_error(p, json, err.buf);
		goto out;
	}
	plan_make(&p->engine.desired, &p->engine.observed, p->state,
	    &p->options, &p->plan);
	p->planned = true;
	if (p->plan.nerrors > 0)
		rc = EXIT_ERROR;
	else if (p->plan.nrefusals > 0)
		rc = EXIT_POLICY;
	else
		rc = EXIT_OK;
out:
	strbuf_release(&err);
	return rc;
}

int
prepare_plan(const struct cmd_args *args,
    const struct provider *const *providers, struct prepared *p, bool json)
{
	int rc = prepare_load(args, providers, p, json);

	return rc != EXIT_OK ? rc : prepare_observe(args, p, json);
}

void
prepare_release(struct prepared *p)
{
	size_t i;

	plan_release(&p->plan);
	engine_release(&p->engine);
	state_free(p->state);
	free(p->state_path);
	for (i = 0; i < 4; i++)
		free(p->lists[i]);
	strbuf_release(&p->failure);
	memset(p, 0, sizeof(*p));
}

int
prepare_report(const struct cmd_args *args, struct prepared *p,
    const struct apply_summary *applied, const char *failure, int rc)
{
	const char *path = cmd_args_get(args, "report");
	struct report report = { 0 };
	struct strbuf err = STRBUF_INIT;
	char *commit = NULL;

	if (path == NULL)
		return rc;
	if (failure == NULL && p->failure.len > 0)
		failure = p->failure.buf;
	commit = gitinfo_commit(p->config_path);
	report.command = args->entry->name;
	report.config = p->config_path;
	report.commit = commit;
	report.plan = p->planned ? &p->plan : NULL;
	report.applied = applied;
	report.failure = failure;
	report.exit_code = rc;
	if (report_save(path, &report, &err) != 0) {
		fprintf(stderr, "getbot %s: --report: %s\n", args->entry->name,
		    err.buf);
		if (rc == EXIT_OK || rc == EXIT_CHANGES)
			rc = EXIT_ERROR;
	}
	free(commit);
	strbuf_release(&err);
	return rc;
}
