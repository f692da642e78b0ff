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

/* One call's context: the session and an error slot of its own, so that
 * calls can run on several threads at once. */
struct provider_call {
	void *session;
	struct strbuf err;  /* the remote system's own words */
	double retry_after; /* seconds from Retry-After, or 0 */
	/* The engine's rate limiter: a provider calls provider_throttle()
	 * before each request it sends. */
	void (*throttle)(struct provider_call *call);
	void *throttle_data;
	/* What the state file remembers of this provider's resources,
	 * {ADDRESS: last applied spec}, or NULL: for an observation that
	 * the config alone cannot direct (a DNS zone that no server in the
	 * config names any more still holds getbot's records). Borrowed. */
	const cJSON *remembered;
};

/* Wait for the rate limiter (if any) before sending one request. */
void provider_throttle(struct provider_call *call);

struct provider {
	const char *name;        /* first part of its addresses */
	const char *target_kind; /* the kind of target it serves */
	const struct resource_kind *const *kinds; /* NULL-terminated */
	unsigned max_concurrency; /* calls at once per target (0: no limit) */
	double max_rate;          /* calls per second per target (0: none) */
	unsigned burst;           /* calls allowed at once above the rate */

	/* Open and close a session with a target (connections, tokens). */
	int (*open)(const struct bots_target *target, const char *base_dir,
	    void **session, struct strbuf *err);
	void (*close)(void *session);
	/* Desired state: add this provider's resources for target. */
	int (*expand)(const struct bots *bots, const struct bots_target *target,
	    struct resource_set *out, struct strbuf *err);
	/* Everything this provider has on target, in bulk: one call per
	 * kind, never one per resource. Objects without getbot's marker are
	 * added with owned false, so that they are never touched. */
	int (*observe)(struct provider_call *call,
	    const struct bots_target *target, struct observed_set *out);
	int (*create)(
	    struct provider_call *call, const struct resource *desired);
	int (*update)(struct provider_call *call,
	    const struct resource *desired, const struct observed *current);
	int (*update_secret)(struct provider_call *call,
	    const struct resource *desired, const struct observed *current);
	int (*reregister)(struct provider_call *call,
	    const struct resource *desired, const struct observed *current);
	/* Delete; purge also removes data that is kept by default. */
	int (*delete)(struct provider_call *call,
	    const struct observed *current, bool purge);
};

/* The providers of this build, NULL-terminated (the engine is handed a
 * table, so tests can hand it theirs). */
extern const struct provider *const provider_table[];

/* The kind of provider named kind_name, or NULL. */
const struct resource_kind *provider_kind(
    const struct provider *provider, const char *kind_name);

#endif
