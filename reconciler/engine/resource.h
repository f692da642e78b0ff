/*
 * Resources: what should exist (struct resource, from bots.yaml) and what
 * does (struct observed, from a provider's bulk observation), each with an
 * address such as incus.container.acme or docker.bot.acme/marketing.
 *
 * A resource's spec is a JSON object of its non-secret fields; each field
 * has a class (struct field_def, declared by the provider's kind) that
 * decides what a change costs. Secrets are carried separately, resolved
 * into locked memory, and compared by fingerprint.
 */
#ifndef GETBOT_RESOURCE_H
#define GETBOT_RESOURCE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "bots.h"
#include "secret.h"

struct provider;
struct provider_call;
struct resource;
struct observed;
struct observed_set;

enum field_class {
	FIELD_IDENTITY,     /* a change is a delete plus a create */
	FIELD_IMMUTABLE,    /* refused unless --replace */
	FIELD_SECRET,       /* update-secret */
	FIELD_REGISTRATION, /* re-register */
	FIELD_INPLACE,      /* update */
};

struct field_def {
	const char *name;
	enum field_class class;
};

/*
 * A kind of resource and its operations (curl's Curl_handler is the
 * model): the engine calls through these and never asks which kind it
 * holds. An operation a kind does not have is NULL. Every operation gets
 * the call's context (session, server connection, target, error slot) and
 * returns PROVIDER_OK, PROVIDER_ERROR or PROVIDER_TRANSIENT.
 */
struct resource_kind {
	const char *name;               /* "container" */
	const struct field_def *fields; /* ends with { NULL } */
	const char *lost_on_replace;    /* what --replace destroys, or NULL */
	unsigned order; /* creates go up this order, deletes down it */

	/* Everything of this kind on call->target, in bulk: one call, never
	 * one per resource. Objects without getbot's marker are added with
	 * owned false, so that they are never touched. NULL when the
	 * provider's observe sees this kind together with others (one
	 * answer holds them all). */
	int (*observe)(struct provider_call *call, struct observed_set *out);
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

struct resource_secret {
	char *name; /* ANTHROPIC_API_KEY */
	const struct bots_secret *ref;
	struct secret *value; /* NULL until resolved */
	char fingerprint[SECRET_FPR_HEX];
};

struct resource {
	char *address;
	const struct provider *provider;
	const struct resource_kind *kind;
	char *name; /* acme, acme/marketing */
	char *org;  /* scope: NULL for what several orgs share */
	char *team;
	const struct bots_target *target;
	cJSON *spec; /* owned */
	struct resource_secret *secrets;
	size_t nsecrets;
	char **deps; /* addresses this one needs */
	size_t ndeps;
	char *url; /* owned: where people reach it, when the config says so
		      (a bot behind a server's Caddy), or NULL */
};

struct observed {
	char *address;
	const struct provider *provider;
	const struct resource_kind *kind;
	char *name;
	char *org;
	char *team;
	const struct bots_target *target;
	bool owned;          /* carries getbot's marker */
	cJSON *spec;         /* owned: the fields as they are */
	cJSON *fingerprints; /* owned: secret name -> fingerprint (markers) */
	cJSON *handle; /* owned: provider-private ids and etags, or NULL */
	/* owned: what dependants may read of it, {KEY: "value"} (an org
	 * container's address, a Worker's digest), or NULL; see
	 * provider_input. Not part of version. */
	cJSON *outputs;
	char *version; /* digest of everything observed, for stale plans */
	/* Not owned: what it is, in the provider's words, for the plan's
	 * message ("zone Z holds a CNAME record acme.example.com that ..."),
	 * or NULL for the general one. Owned string. */
	char *notice;
};

struct resource_set {
	struct resource **items;
	size_t count, alloc;
};

struct observed_set {
	struct observed **items;
	size_t count, alloc;
};

/* A new resource; the address is PROVIDER.KIND.NAME. Takes spec. */
struct resource *resource_new(const struct provider *provider,
    const struct resource_kind *kind, const char *name, const char *org,
    const char *team, cJSON *spec);
void resource_add_dep(struct resource *r, const char *address);
void resource_add_secret(
    struct resource *r, const char *name, const struct bots_secret *ref);
void resource_free(struct resource *r);
const struct field_def *resource_field(
    const struct resource_kind *kind, const char *name);

void resource_set_add(struct resource_set *set, struct resource *r);
struct resource *resource_set_find(
    const struct resource_set *set, const char *address);
void resource_set_clear(struct resource_set *set);

/* A new observed object; computes nothing: the provider fills it in. */
struct observed *observed_new(const struct provider *provider,
    const struct resource_kind *kind, const char *name);
/* Set o->version from its spec, fingerprints and handle. */
void observed_seal(struct observed *o);
void observed_free(struct observed *o);
void observed_set_add(struct observed_set *set, struct observed *o);
struct observed *observed_set_find(
    const struct observed_set *set, const char *address);
void observed_set_clear(struct observed_set *set);

/* "acme/marketing" from org and team; org alone when team is NULL. */
char *resource_scope_name(const char *org, const char *team);

#endif
