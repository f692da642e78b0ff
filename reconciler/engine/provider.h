/*
 * Providers: one const struct provider per system (curl's TLS backends,
 * tmux's cmd_entry are the models). The engine calls through these tables
 * and never names a system. Optional operations are NULL.
 */
#ifndef GETBOT_PROVIDER_H
#define GETBOT_PROVIDER_H

#include <stdbool.h>

#include "bots.h"
#include "resource.h"
#include "strbuf.h"

/* Returns of provider operations. */
#define PROVIDER_OK        0
#define PROVIDER_ERROR     (-1) /* permanent: the message says why */
#define PROVIDER_TRANSIENT (-2) /* 5xx, 429, timeout, reset: may retry */

struct budget;
struct conn;
struct engine;

/* One call's context: the session and an error slot of its own, so that
 * calls can run on several threads at once. */
struct provider_call {
	void *session;
	const struct bots_target *target;
	/* The server's connection, opened by the engine once per server
	 * target and shared by every provider on it; NULL for targets that
	 * are not servers. Borrowed. */
	struct conn *conn;
	struct strbuf err;  /* the remote system's own words */
	double retry_after; /* seconds from Retry-After, or 0 */
	/* What the state file remembers of this provider's resources,
	 * {ADDRESS: last applied spec}, or NULL: for an observation that
	 * the config alone cannot direct (a DNS zone that no server in the
	 * config names any more still holds getbot's records). Borrowed. */
	const cJSON *remembered;
	/* The engine that made the call: its rate budget, its outputs.
	 * NULL in calls made outside an engine (then nothing is limited). */
	struct engine *engine;
	const struct provider *provider;
	struct budget *budget; /* the engine's: what requests count against */
	unsigned step; /* the slow step running (provider_step_begin), or 0 */
};

/* Wait for the rate budget this call counts against (if any) before
 * sending one request. */
void provider_throttle(struct provider_call *call);
/* Nobody sends under the call's budget for seconds from now: a 429 that
 * the remote side counts against the whole token or account. */
void provider_block(struct provider_call *call, double seconds);
/* A progress line for a long step of address's action ("installing
 * Docker: 40 s, Unpacking containerd ..."), shown with apply's own
 * lines; nothing outside an apply. */
void provider_progress(struct provider_call *call, const char *address,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A slow step of address's action that a user waits on ("building image
 * getbot/openclaw:v1 in acme"): apply prints a line when it starts and
 * one with its time when provider_step_end ends it, and on a terminal
 * counts the time while it runs. One step at a time per call; one still
 * running when the operation returns ends with it. Nothing outside an
 * apply. */
void provider_step_begin(struct provider_call *call, const char *address,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void provider_step_end(struct provider_call *call, bool ok);

/*
 * Outputs of dependencies: what one resource's observation or apply
 * produced, for the resources that depend on it (a Worker's digest for its
 * card, an org container's address for its routes). They pass through the
 * engine, never through statics, so the order of providers never matters.
 *
 * provider_output records key of address (call's target); a NULL value
 * forgets it (the resource is gone). provider_input
 * reads it: from what this run observed or applied, else from a fresh
 * observation of the kind that makes address. Returns PROVIDER_OK with
 * *value (the caller frees it), PROVIDER_MISSING when address has no such
 * output (it does not exist, or not yet), or an error of the observation.
 */
#define PROVIDER_MISSING (-3)
void provider_output(struct provider_call *call, const char *address,
    const char *key, const char *value);
int provider_input(struct provider_call *call, const char *address,
    const char *key, char **value);

/* A rate budget: what the remote side counts requests against. */
struct provider_budget {
	char *key;      /* owned: "cloudflare:TOKEN-FINGERPRINT" */
	double rate;    /* requests per second (0: unlimited) */
	unsigned burst; /* requests allowed at once above the rate */
};

struct provider {
	const char *name;        /* first part of its addresses */
	const char *target_kind; /* the kind of target it serves */
	const struct resource_kind *const *kinds; /* NULL-terminated */
	unsigned max_concurrency; /* calls at once per target (0: no limit) */
	double max_rate;          /* calls per second per target (0: none) */
	unsigned burst;           /* calls allowed at once above the rate */
	/* It works on a server: calls get the server's connection. */
	bool server;

	/* Open and close a session with a target (tokens, what the server
	 * is); conn is the server's connection or NULL. */
	int (*open)(const struct bots_target *target, struct conn *conn,
	    const char *base_dir, void **session, struct strbuf *err);
	void (*close)(void *session);
	/*
	 * Before anything is observed or changed on a server (.server): is
	 * what this provider needs there? One line per missing piece is
	 * appended to missing, "WHAT: what is wrong (how to mend it)";
	 * nothing when all is there. wanted: the config has resources of
	 * this provider on target (else they are only looked for, to delete
	 * what is left). Called before open, with no session.
	 */
	void (*check)(const struct bots_target *target, struct conn *conn,
	    bool wanted, struct strbuf *missing);
	/* The budget the session's requests count against; NULL: one budget
	 * per provider and target, at max_rate and burst. */
	void (*budget)(void *session, const struct bots_target *target,
	    struct provider_budget *out);
	/* Desired state: add this provider's resources for target. */
	int (*expand)(const struct bots *bots, const struct bots_target *target,
	    struct resource_set *out, struct strbuf *err);
	/* The kinds that one answer describes together (Caddy's config holds
	 * its server, callbacks and routes), in bulk; NULL when each kind
	 * observes itself. */
	int (*observe)(struct provider_call *call,
	    const struct bots_target *target, struct observed_set *out);
};

/* The kind of provider named kind_name, or NULL. */
const struct resource_kind *provider_kind(
    const struct provider *provider, const char *kind_name);

#endif
