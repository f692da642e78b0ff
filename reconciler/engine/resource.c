/* Resources and observed objects. */
#include "config.h"

#include <assert.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"
#include "resource.h"
#include "xmalloc.h"

struct resource *
resource_new(const struct provider *provider, const struct resource_kind *kind,
    const char *name, const char *org, const char *team, cJSON *spec)
{
	struct resource *r = xcalloc(1, sizeof(*r));

	r->provider = provider;
	r->kind = kind;
	r->name = xstrdup(name);
	r->address = xasprintf("%s.%s.%s", provider->name, kind->name, name);
	r->org = org != NULL ? xstrdup(org) : NULL;
	r->team = team != NULL ? xstrdup(team) : NULL;
	r->spec = spec != NULL ? spec : cJSON_CreateObject();
	return r;
}

void
resource_add_dep(struct resource *r, const char *address)
{
	r->deps = xreallocarray(r->deps, r->ndeps + 1, sizeof(*r->deps));
	r->deps[r->ndeps++] = xstrdup(address);
}

void
resource_add_secret(
    struct resource *r, const char *name, const struct bots_secret *ref)
{
	struct resource_secret *s;

	r->secrets =
	    xreallocarray(r->secrets, r->nsecrets + 1, sizeof(*r->secrets));
	s = &r->secrets[r->nsecrets++];
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name);
	s->ref = ref;
}

void
resource_free(struct resource *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nsecrets; i++) {
		free(r->secrets[i].name);
		secret_free(r->secrets[i].value);
	}
	for (i = 0; i < r->ndeps; i++)
		free(r->deps[i]);
	free(r->secrets);
	free(r->deps);
	cJSON_Delete(r->spec);
	free(r->address);
	free(r->name);
	free(r->org);
	free(r->team);
	free(r->url);
	free(r);
}

const struct field_def *
resource_field(const struct resource_kind *kind, const char *name)
{
	const struct field_def *f;

	for (f = kind->fields; f != NULL && f->name != NULL; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/*
 * Both sets are arrays of pointers to structs that begin with their
 * address: one implementation serves both.
 */
static_assert(offsetof(struct resource, address) == 0, "address first");
static_assert(offsetof(struct observed, address) == 0, "address first");

static void
addressed_add(void ***items, size_t *count, size_t *alloc, void *item)
{
	ALLOC_GROW(*items, *count + 1, *alloc);
	(*items)[(*count)++] = item;
}

static void *
addressed_find(void *const *items, size_t count, const char *address)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (strcmp(*(char *const *)items[i], address) == 0)
			return items[i];
	return NULL;
}

void
resource_set_add(struct resource_set *set, struct resource *r)
{
	addressed_add((void ***)&set->items, &set->count, &set->alloc, r);
}

struct resource *
resource_set_find(const struct resource_set *set, const char *address)
{
	return addressed_find((void *const *)set->items, set->count, address);
}

void
resource_set_clear(struct resource_set *set)
{
	while (set->count > 0)
		resource_free(set->items[--set->count]);
	free(set->items);
	memset(set, 0, sizeof(*set));
}

struct observed *
observed_new(const struct provider *provider, const struct resource_kind *kind,
    const char *name)
{
	struct observed *o = xcalloc(1, sizeof(*o));

	o->provider = provider;
	o->kind = kind;
	o->name = xstrdup(name);
	o->address = xasprintf("%s.%s.%s", provider->name, kind->name, name);
	o->spec = cJSON_CreateObject();
	o->fingerprints = cJSON_CreateObject();
	return o;
}

void
observed_seal(struct observed *o)
{
	unsigned char digest[16];
	char hex[33];
	crypto_generichash_state st;
	const cJSON *parts[3] = { o->spec, o->fingerprints, o->handle };
	size_t i;

	crypto_generichash_init(&st, NULL, 0, sizeof(digest));
	for (i = 0; i < 3; i++) {
		char *text =
		    parts[i] != NULL ? cJSON_PrintUnformatted(parts[i]) : NULL;

		if (text != NULL)
			crypto_generichash_update(
			    &st, (const unsigned char *)text, strlen(text) + 1);
		free(text);
	}
	crypto_generichash_final(&st, digest, sizeof(digest));
	sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
	free(o->version);
	o->version = xstrdup(hex);
}

void
observed_free(struct observed *o)
{
	if (o == NULL)
		return;
	cJSON_Delete(o->spec);
	cJSON_Delete(o->fingerprints);
	cJSON_Delete(o->handle);
	cJSON_Delete(o->outputs);
	free(o->address);
	free(o->name);
	free(o->org);
	free(o->team);
	free(o->version);
	free(o->notice);
	free(o);
}

void
observed_set_add(struct observed_set *set, struct observed *o)
{
	addressed_add((void ***)&set->items, &set->count, &set->alloc, o);
}

struct observed *
observed_set_find(const struct observed_set *set, const char *address)
{
	return addressed_find((void *const *)set->items, set->count, address);
}

void
observed_set_clear(struct observed_set *set)
{
	while (set->count > 0)
		observed_free(set->items[--set->count]);
	free(set->items);
	memset(set, 0, sizeof(*set));
}

char *
resource_scope_name(const char *org, const char *team)
{
	if (team == NULL)
		return xstrdup(org);
	return xasprintf("%s/%s", org, team);
}
