/*
 * What plan, apply and graph share: the options that shape a plan, and the
 * run from bots.yaml to a plan (load, expand, resolve secrets, observe,
 * read the state, diff).
 */
#ifndef GETBOT_PREPARE_H
#define GETBOT_PREPARE_H

#include "cmd.h"
#include "engine.h"
#include "gitinfo.h"
#include "plan.h"
#include "state.h"

#include <stdio.h>

/* Rows for the option tables of plan, apply and graph. */
#define PREPARE_OPTIONS                                                        \
	{ "file", 'f', "FILE", "the config (default: bots.yaml)" },            \
	    { "state", 0, "PATH",                                              \
		    "the state file (default: .getbot/state.json beside the "  \
		    "config)" },                                               \
	    { "replace", 0, "ADDR",                                            \
		    "rebuild ADDR (delete and create), also when its persona " \
		    "or "                                                      \
		    "instructions changed; repeatable" },                      \
	    { "only", 0, "KIND[,KIND]",                                        \
		    "only these actions: create, update, update-secret, "      \
		    "re-register, replace, delete, or drift (repairs of "      \
		    "drift, "                                                  \
		    "never deletes)" },                                        \
	    { "org", 0, "ORG[/TEAM]",                                          \
		    "only this org or bot (and what it needs); repeatable" },  \
	    { "exclude", 0, "ORG[/TEAM]",                                      \
		    "leave this org or bot out; repeatable" },                 \
	{                                                                      \
		"allow-deletes", 0, NULL,                                      \
		    "allow a plan that deletes more than 10 resources and "    \
		    "more than a third of those managed"                       \
	}

/* The row for commands that read the config (validate, plan, apply). */
#define PREPARE_REF_OPTION                                                     \
	{                                                                      \
		"ref", 0, "REV",                                               \
		    "read the config, and the runtime bundles, build "         \
		    "contexts and certificate files it names, as git commit "  \
		    "REV has them, not from the work tree ({file} secrets "    \
		    "and the state are still read beside the config)"          \
	}

/* The row for commands that connect to servers (plan, apply). */
#define PREPARE_HOST_KEY_OPTION                                                \
	{                                                                      \
		"accept-new-host-key", 0, NULL,                                \
		    "trust a server's host key on first contact and add it "   \
		    "to known_hosts (a changed key is always refused)"         \
	}

struct prepared {
	struct engine engine;
	struct state *state;
	struct plan plan;
	struct plan_options options;
	char *state_path;                /* owned */
	struct state_where where;        /* where the state lives */
	struct state_lock *lock; /* apply's, held; borrowed (NULL for plan) */
	const char *const *observe_only; /* see struct engine; borrowed */
	size_t nobserve_only;
	const char **lists[4]; /* option value arrays, owned */
	char *config;          /* owned: the config as the user names it */
	struct gitinfo_tree ref; /* --ref: the commit's copy (ref.dir NULL
				    without) */
	/* The config's commit (HEAD, or --ref's); sha NULL when it is in no
	 * repository or the repository has no commit yet. */
	struct gitinfo commit;
	bool in_repo;
	char *dirty; /* owned: the first file that differs from HEAD, or NULL */
	/* apply: refuse a work tree that differs from HEAD (prepare_load
	 * ends with EXIT_ERROR naming the file, before the lock) */
	bool refuse_dirty;
	bool planned; /* plan holds a plan (for --report) */
	/* Why prepare_options or prepare_plan failed, as printed (for
	 * --report). */
	struct strbuf failure;
};

/* The row for commands that write a report (plan, apply). */
#define PREPARE_REPORT_OPTION                                                  \
	{                                                                      \
		"report", 0, "FILE",                                           \
		    "also write a Markdown summary (outcome, commit, plan, "   \
		    "drift, problems, results) to FILE, for a pull-request "   \
		    "comment or a mail; written even when the run fails"       \
	}

/* Parse the PREPARE_OPTIONS of args into p->options (and the paths).
 * Returns an exit code: EXIT_OK to go on. */
int prepare_options(const struct cmd_args *args, struct prepared *p);
/*
 * Load the config and state, expand, observe and plan. Problems are
 * printed on stderr (or as JSON lines when json). Returns EXIT_OK, or the
 * exit code to end with (1 for errors, 3 for refusals).
 */
int prepare_plan(const struct cmd_args *args,
    const struct provider *const *providers, struct prepared *p, bool json);
/* prepare_plan in two steps: load the config (and p->where), then the
 * rest; apply takes the lock in between. */
int prepare_load(const struct cmd_args *args,
    const struct provider *const *providers, struct prepared *p, bool json);
int prepare_observe(const struct cmd_args *args, struct prepared *p, bool json);
/* Where the state of a loaded config lives: state_path (the local file)
 * unless the config says git and --state was not given. */
void prepare_state_where(const struct bots *bots, const char *config_path,
    const char *state_path, bool state_option, struct state_where *where);
void prepare_release(struct prepared *p);
struct apply_summary;
/*
 * With --report FILE, write the report of this run: p's plan if one was
 * made, applied (NULL when nothing was applied), failure (NULL: p's own)
 * and the exit code rc. Returns rc, or EXIT_ERROR when the report could
 * not be written and the run had not failed already.
 */
int prepare_report(const struct cmd_args *args, struct prepared *p,
    const struct apply_summary *applied, const char *failure, int rc);
/*
 * Copy config as commit rev has it into tree (gitinfo_checkout), with the
 * runtime bundles, build contexts and certificate files it names. Returns
 * 0, or -1 with err. Release tree in every case.
 */
int prepare_checkout(const char *config, const char *rev,
    struct gitinfo_tree *tree, struct strbuf *err);
/* The header line naming the commit the plan compares, and a blank line;
 * nothing when the config is in no repository. */
void prepare_print_commit(FILE *out, const struct prepared *p);
/* The config's commit for the state: {"sha", "author", "date",
 * "subject"} with "-dirty" in sha when the work tree differs; NULL when
 * there is none. The caller frees it. */
cJSON *prepare_provenance(const struct prepared *p);
/* A state resource's commit as "SHA "subject" by Name <email>, DATE"
 * (abbreviate: the first 12 digits, and -dirty) appended to out; false,
 * and nothing appended, when it has no sha. */
bool prepare_commit_line(const cJSON *commit, bool abbreviate, struct strbuf *out);
/* bots.yaml's directory + /.getbot/state.json, or --state. */
char *prepare_state_path(const char *config_path, const char *state_option);

#endif
