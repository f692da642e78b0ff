/* From bots.yaml to a plan: the part plan, apply and graph share. */
#include "config.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"
#include "prepare.h"
#include "gitinfo.h"
#include "plan-print.h"
#include "report.h"
#include "xmalloc.h"

/* Runtime names that can name a directory (the providers say why others
 * cannot). */
static bool
prepare_plain_name(const char *name)
{
	return name != NULL && name[0] != '\0' && strchr(name, '/') == NULL &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* The runtime names bots uses, each once, into names (NULL-terminated,
 * borrowed strings); returns how many. */
static size_t
prepare_runtimes(const struct bots *bots, const char ***names)
{
	size_t o, t, i, n = 0;

	*names = xcalloc(bots_count_teams(bots) + 1, sizeof(**names));
	for (o = 0; o < bots->norgs; o++)
		for (t = 0; t < bots->orgs[o].nteams; t++) {
			const char *name = bots->orgs[o].teams[t].runtime;

			if (!prepare_plain_name(name))
				continue;
			for (i = 0; i < n && strcmp((*names)[i], name) != 0;
			     i++)
				;
			if (i == n)
				(*names)[n++] = name;
		}
	return n;
}

/* A certificate file target names (relative to the config), or NULL. */
static const char *
prepare_certificate_file(const struct bots_target *target)
{
	const char *value = target->server.image_certificate;

	if (value == NULL || value[0] == '/' ||
	    strstr(value, "-----BEGIN") != NULL)
		return NULL;
	return value;
}

int
prepare_checkout(const char *config, const char *rev, struct gitinfo_tree *tree,
    struct strbuf *err)
{
	struct diag_list diags = DIAG_LIST_INIT;
	struct strbuf content = STRBUF_INIT, why = STRBUF_INIT;
	const char *env = getenv("GETBOT_RUNTIME_DIR");
	struct bots *bots = NULL;
	const char **names = NULL;
	size_t i, n;
	int rc = -1;

	if (gitinfo_checkout(config, rev, tree, err) != 0)
		goto out;
	/* What the commit's config names, from a quiet load of the copy
	 * (named as the real config, so that a certificate file is looked
	 * for there): a config with errors gets nothing more copied, and
	 * the load that counts reports them. */
	if (file_read(tree->config_path, 1024 * 1024, &content, NULL, &why) !=
		0 ||
	    bots_load_buffer(config, content.buf, content.len, &bots, &diags) !=
		0) {
		rc = 0;
		goto out;
	}
	n = prepare_runtimes(bots, &names);
	for (i = 0; i < n && (env == NULL || *env == '\0'); i++) {
		char *sub = xasprintf("runtimes/%s", names[i]);

		rc = gitinfo_checkout_path(tree, sub, err);
		free(sub);
		if (rc != 0)
			goto out;
	}
	for (i = 0; i < bots->ntargets; i++) {
		const char *cert = prepare_certificate_file(&bots->targets[i]);

		if (cert != NULL && gitinfo_checkout_path(tree, cert, err) != 0)
			goto out;
	}
	rc = 0;
out:
	bots_free(bots);
	free(names);
	diag_list_clear(&diags);
	strbuf_release(&content);
	strbuf_release(&why);
	return rc;
}

/* Which commit the config is at, and whether the work tree differs from
 * it in the config or what it names (runtime directories, certificate
 * files). */
static int
prepare_find_commit(struct prepared *p, struct strbuf *err)
{
	const struct bots *bots = p->engine.bots;
	const char **names = NULL;
	char **paths = NULL;
	struct strbuf why = STRBUF_INIT;
	char *runtimes = NULL;
	size_t i, n, npaths = 0;
	int rc;

	if (p->ref.dir != NULL) {
		p->in_repo = true;
		p->commit.sha = xstrdup(p->ref.commit.sha);
		p->commit.author = xstrdup(p->ref.commit.author);
		p->commit.date = xstrdup(p->ref.commit.date);
		p->commit.subject = xstrdup(p->ref.commit.subject);
		return 0;
	}
	rc = gitinfo_lookup(p->config, NULL, &p->commit, &why);
	if (rc == GITINFO_NOT_IN_REPO)
		return 0;
	p->in_repo = true; /* rc -1: a repository without a commit yet */
	n = prepare_runtimes(bots, &names);
	paths = xcalloc(n + bots->ntargets + 2, sizeof(*paths));
	paths[npaths++] = xstrdup(p->config);
	runtimes = bots_runtime_dir(bots);
	for (i = 0; i < n; i++)
		paths[npaths++] = xasprintf("%s/%s", runtimes, names[i]);
	for (i = 0; i < bots->ntargets; i++) {
		const char *cert = prepare_certificate_file(&bots->targets[i]);

		if (cert != NULL)
			paths[npaths++] = xasprintf("%s/%s", bots->dir, cert);
	}
	rc = gitinfo_dirty((const char *const *)paths, npaths, &p->dirty, err);
	for (i = 0; i < npaths; i++)
		free(paths[i]);
	free(paths);
	free(names);
	free(runtimes);
	strbuf_release(&why);
	return rc;
}

void
prepare_print_commit(FILE *out, const struct prepared *p)
{
	if (!p->in_repo)
		return;
	if (p->ref.dir != NULL)
		fprintf(out, "Config: %s, commit %.12s \"%s\"\n", p->ref.label,
		    p->commit.sha, p->commit.subject);
	else if (p->commit.sha == NULL)
		fprintf(out,
		    "Config: %s in the work tree (the repository has no "
		    "commit yet)\n",
		    p->config);
	else if (p->dirty != NULL)
		fprintf(out,
		    "Config: %s in the work tree, %.12s-dirty: changed since "
		    "commit %.12s \"%s\" (%s)\n",
		    p->config, p->commit.sha, p->commit.sha, p->commit.subject,
		    p->dirty);
	else
		fprintf(out, "Config: %s at commit %.12s \"%s\"\n", p->config,
		    p->commit.sha, p->commit.subject);
	fputc('\n', out);
}

bool
prepare_commit_line(const cJSON *commit, bool abbreviate, struct strbuf *out)
{
	const char *sha = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(commit, "sha"));

	if (sha == NULL)
		return false;
	if (abbreviate)
		strbuf_addf(out, "%.12s%s", sha,
		    strstr(sha, "-dirty") != NULL ? "-dirty" : "");
	else
		strbuf_addstr(out, sha);
	strbuf_addf(out, " \"%s\" by %s, %s",
	    cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(commit, "subject")),
	    cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(commit, "author")),
	    cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(commit, "date")));
	return true;
}

cJSON *
prepare_provenance(const struct prepared *p)
{
	if (p->commit.sha == NULL)
		return NULL;
	return gitinfo_json(&p->commit, p->dirty != NULL);
}

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
	const char *rev = cmd_args_get(args, "ref");

	memset(p, 0, sizeof(*p));
	strbuf_init(&p->failure, 0);
	if (config == NULL)
		config = "bots.yaml";
	p->config = xstrdup(config);
	/* the state is the work tree's, also for a commit's config */
	p->state_path = prepare_state_path(config, cmd_args_get(args, "state"));
	if (rev != NULL) {
		struct strbuf err = STRBUF_INIT;
		int rc = prepare_checkout(config, rev, &p->ref, &err);

		if (rc != 0) {
			strbuf_addf(&p->failure, "--ref %s: %s", rev, err.buf);
			fprintf(stderr, "getbot %s: %s\n", args->entry->name,
			    p->failure.buf);
		}
		strbuf_release(&err);
		if (rc != 0)
			return EXIT_ERROR;
	}
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
	struct strbuf err = STRBUF_INIT;
	char *base_dir = file_dir(p->config);
	size_t i;
	int rc = EXIT_ERROR;
	int loaded;

	if (p->ref.dir != NULL)
		loaded = engine_init_copy(&p->engine, providers,
		    p->ref.config_path, p->ref.label, base_dir, &diags);
	else
		loaded = engine_init(&p->engine, providers, p->config, &diags);
	if (loaded != 0) {
		for (i = 0; i < diags.count; i++)
			diag_format(&p->failure, &diags.items[i]);
		diag_list_print(&diags, json);
		goto out;
	}
	if (prepare_find_commit(p, &err) != 0) {
		prepare_error(p, json, err.buf);
		goto out;
	}
	if (p->refuse_dirty && p->dirty != NULL) {
		strbuf_addf(&err,
		    "%s differs from commit %.12s: %s; commit it, apply a "
		    "commit with --ref, or pass --allow-dirty",
		    p->config, p->commit.sha != NULL ? p->commit.sha : "HEAD",
		    p->dirty);
		prepare_error(p, json, err.buf);
		goto out;
	}
	/* the state lives with the real config, also for --ref's copy */
	prepare_state_where(p->engine.bots, p->config, p->state_path,
	    cmd_args_has(args, "state"), &p->where);
	rc = EXIT_OK;
out:
	diag_list_clear(&diags);
	strbuf_release(&err);
	free(base_dir);
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
	free(p->config);
	free(p->dirty);
	gitinfo_release(&p->commit);
	gitinfo_tree_release(&p->ref);
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
	commit = p->ref.dir != NULL && p->ref.commit.sha != NULL
		     ? xstrdup(p->ref.commit.sha)
		     : gitinfo_commit(p->config);
	report.command = args->entry->name;
	report.config = p->ref.dir != NULL ? p->ref.label : p->config;
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
