/*
 * The engine: from bots.yaml to desired resources (through each provider's
 * expand), secrets resolved into locked memory, and what exists observed in
 * bulk, one call per provider and target. It names no system.
 */
#ifndef GETBOT_ENGINE_H
#define GETBOT_ENGINE_H

#include <pthread.h>
#include <stdbool.h>

#include "bots.h"
#include "budget.h"
#include "conn.h"
#include "provider.h"
#include "resource.h"
#include "strbuf.h"

struct engine_session {
	const struct provider *provider;
	const struct bots_target *target;
	void *session;
	bool opened;
	bool observed; /* into engine->observed, this run */
	struct budget *budget;
};

/* The connection to one server target, shared by its providers; or why
 * it could not be opened (tried once a run). */
struct engine_conn {
	const struct bots_target *target;
	struct conn *conn;
	char *error; /* owned; when conn is NULL */
};

struct engine {
	const struct provider *const *providers;
	struct bots *bots; /* owned */
	char *config_path; /* owned */
	char *base_dir;    /* owned: bots.yaml's directory */
	struct resource_set desired;
	struct observed_set observed;
	struct engine_session *sessions;
	size_t nsessions;
	struct engine_conn *conns;
	size_t nconns;
	struct budget_table budgets;
	/* Outputs of dependencies, {ADDRESS: {KEY: "value"}} (provider.h),
	 * from observation and apply. Owned; under lock. */
	cJSON *outputs;
	bool applying;        /* a missing output is observed afresh */
	/* getbot diff: secrets are never read; each is fingerprinted by its
	 * reference ({env: NAME} etc.), so only a changed reference shows */
	bool references_only;
	pthread_mutex_t lock; /* sessions, connections, outputs */
	/* When set: observe only these "PROVIDER TARGET" pairs (a saved plan
	 * re-observes only what it touches). Borrowed. */
	const char *const *observe_only;
	size_t nobserve_only;
	/* The state's last applied specs, {PROVIDER: {ADDRESS: spec}}
	 * (engine_remember), handed to each observation. Owned. */
	cJSON *remembered;
	/* How server connections open (--accept-new-host-key, bots.yaml's
	 * directory, where notes go); the CLI fills it in. */
	struct conn_options conn_options;
	/* Where provider_progress lines and slow steps go while apply runs
	 * (apply sets them); NULL: nowhere. step_begin returns the step's
	 * id for step_end. */
	void (*progress)(void *ctx, const char *line);
	unsigned (*step_begin)(
	    void *ctx, const char *address, const char *what);
	void (*step_end)(void *ctx, unsigned step, bool ok);
	void *progress_ctx;
};

/* Load and validate config_path (problems go to diags). */
int engine_init(struct engine *engine, const struct provider *const *providers,
    const char *config_path, struct diag_list *diags);
/* Likewise for a copy of the config (a commit's, getbot --ref): copy_path
 * is named label in messages and the files it names are read beside it,
 * but secrets and ssh files are found from base_dir, the directory of the
 * config the user knows. */
int engine_init_copy(struct engine *engine,
    const struct provider *const *providers, const char *copy_path,
    const char *label, const char *base_dir, struct diag_list *diags);
void engine_release(struct engine *engine);
/* Desired resources from every provider serving each target, with their
 * secrets resolved and fingerprinted. */
int engine_expand(struct engine *engine, struct strbuf *err);
/* Tell observations what the state remembers: provider's resource address
 * was last applied with spec (copied). */
void engine_remember(struct engine *engine, const char *provider,
    const char *address, const cJSON *spec);
/*
 * Observe every (provider, target) pair that has a desired resource. First
 * the pre-flight: each server target is reached and its providers' check
 * says what they need there that is missing; a server that cannot be
 * reached or lacks something is one error naming it, every server is
 * checked, and nothing is observed then.
 */
int engine_observe(struct engine *engine, struct strbuf *err);
/* One bulk observation of provider on target into out, retried while the
 * remote says the failure is transient. */
int engine_observe_pair(struct engine *engine, const struct provider *provider,
    const struct bots_target *target, struct observed_set *out,
    struct strbuf *err);
/* A call of provider on target: its session (opened on first use), the
 * server's connection, the budget. Release call->err when done. */
int engine_call_init(struct engine *engine, const struct provider *provider,
    const struct bots_target *target, struct provider_call *call,
    struct strbuf *err);

/* Retry policy shared by observation and apply. */
#define ENGINE_MAX_ATTEMPTS 5
/* Seconds to wait before attempt (1-based) given a Retry-After (or 0):
 * exponential from 0.5 s with jitter, never less than Retry-After. */
double engine_backoff(unsigned attempt, double retry_after);
void engine_sleep(double seconds);

#endif
