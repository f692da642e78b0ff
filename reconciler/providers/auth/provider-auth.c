/*
 * The auth provider: getbot-auth, the server's sign-in gatekeeper, and its
 * config auth.json (CONFIG.md), on a server, reached through the server's
 * connection (call->conn).
 *
 *   auth.service.getbot-auth  auth.json's keys, auth_url and listen, and
 *                             the running service; shared by the orgs
 *   auth.allowlist.ORG        the org's section of auth.json: its domain,
 *                             who may use every bot, who may use each
 *
 * The signing key and the code-exchange secret are made (libsodium) the
 * first time auth.json is written and never again: a file that has them
 * keeps them, whatever the state says. They appear in no spec, plan, state
 * or message; the service's spec says only "keys": "present".
 *
 * Every write is a read-modify-write of the whole file under a lock (the
 * session's mutex for this process's threads, flock on auth.json.lock for
 * cron beside CI), written atomically through the connection, and is
 * checked first with getbot-auth's own parser (auth-config.c): a file
 * getbot-auth would refuse is never written.
 *
 * The service itself (a systemd unit, or a detached daemon with its pid
 * file and log beside auth.json) is service.c's. Either way a stopped
 * service is drift that apply restarts, as is a unit that is not the one
 * getbot would install ("unit": "stale": edited by hand, or written for
 * another getbot-auth or auth.json), and deleting the service (its last
 * org gone) stops it and keeps auth.json, keys and all, unless
 * --purge-data.
 *
 * auth.json describes both kinds (the service's keys, address and mode;
 * each org's allowlist), so one provider-level observation reads it once
 * for all of them; each kind has its own changes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "provider-auth.h"
#include "auth-config.h"
#include "auth-json.h"
#include "conn.h"
#include "file.h"
#include "identity.h"
#include "service.h"
#include "xmalloc.h"

#define AUTH_BINARY     "getbot-auth"
#define AUTH_KEY_BYTES  32
#define AUTH_SECRET_MAX 128 /* bytes of code_exchange_secret accepted */

static int auth_service_create(
    struct provider_call *call, const struct resource *desired);
static int auth_service_update(struct provider_call *call,
    const struct resource *desired, const struct observed *current);
static int auth_service_delete(
    struct provider_call *call, const struct observed *current, bool purge);
static int auth_allowlist_create(
    struct provider_call *call, const struct resource *desired);
static int auth_allowlist_update(struct provider_call *call,
    const struct resource *desired, const struct observed *current);
static int auth_allowlist_delete(
    struct provider_call *call, const struct observed *current, bool purge);

static const struct field_def auth_service_fields[] = {
	{ "auth_url", FIELD_INPLACE },
	{ "listen", FIELD_INPLACE },
	{ "keys", FIELD_INPLACE },
	{ "mode", FIELD_INPLACE },
	{ "status", FIELD_INPLACE },
	{ "unit", FIELD_INPLACE },
	{ NULL, 0 },
};

static const struct field_def auth_allowlist_fields[] = {
	{ "domain", FIELD_INPLACE },
	{ "emails", FIELD_INPLACE },
	{ "bots", FIELD_INPLACE },
	{ NULL, 0 },
};

/* auth.service.getbot-auth: observed with the allowlists (auth_observe) */
static const struct resource_kind auth_service = {
	.name = "service",
	.fields = auth_service_fields,
	.lost_on_replace = NULL,
	.order = 4,
	.create = auth_service_create,
	.update = auth_service_update,
	.delete = auth_service_delete,
};

/* auth.allowlist.ORG: observed with the service (auth_observe) */
static const struct resource_kind auth_allowlist = {
	.name = "allowlist",
	.fields = auth_allowlist_fields,
	.lost_on_replace = NULL,
	.order = 5,
	.create = auth_allowlist_create,
	.update = auth_allowlist_update,
	.delete = auth_allowlist_delete,
};

static const struct resource_kind *const auth_kinds[] = { &auth_service,
	&auth_allowlist, NULL };

/* One server's auth.json, the lock beside it, and its service. */
struct auth_session {
	const struct bots_target *target;
	char *config; /* auth.json */
	char *dir;    /* the directory it is in */
	char *lock;   /* auth.json.lock */
	struct service service;
	/* every edit of auth.json by this run's threads */
	pthread_mutex_t mutex;
};

static const char *
auth_config_path(const struct bots_target *target)
{
	return target->server.auth_config != NULL ? target->server.auth_config
						  : BOTS_DEFAULT_AUTH_CONFIG;
}

static const char *
auth_target_url(const struct bots_target *target)
{
	return target->server.auth_url != NULL ? target->server.auth_url
					       : IDENTITY_DEFAULT_AUTH_URL;
}

static const char *
auth_target_listen(const struct bots_target *target)
{
	return target->server.auth_listen != NULL ? target->server.auth_listen
						  : BOTS_DEFAULT_AUTH_LISTEN;
}

static int
auth_open(const struct bots_target *target, struct conn *conn,
    const char *base_dir, void **session, struct strbuf *err)
{
	struct auth_session *s;
	const char *config = auth_config_path(target);

	(void)base_dir;
	*session = NULL;
	if (conn == NULL) {
		strbuf_addstr(err, "auth: no connection to the server");
		return -1;
	}
	/* a path getbot writes, and may write into a unit's ExecStart */
	if (service_check_path("auth.config", config, err) != 0)
		return -1;
	s = xcalloc(1, sizeof(*s));
	s->target = target;
	s->config = xstrdup(config);
	s->dir = file_dir(config);
	s->lock = xasprintf("%s.lock", config);
	service_init(&s->service, conn, config, target->server.auth_binary);
	pthread_mutex_init(&s->mutex, NULL);
	*session = s;
	return 0;
}

/* getbot-auth, runnable, where the config has it serve orgs. */
static void
auth_check(const struct bots_target *target, struct conn *conn, bool wanted,
    struct strbuf *missing)
{
	const char *config = auth_config_path(target);
	struct strbuf why = STRBUF_INIT;
	struct service service;

	if (!wanted)
		return;
	if (service_check_path("auth.config", config, &why) != 0) {
		strbuf_addf(missing, "getbot-auth: %s\n", why.buf);
		strbuf_release(&why);
		return;
	}
	service_init(&service, conn, config, target->server.auth_binary);
	service_check(&service, conn, missing);
	service_release(&service);
	strbuf_release(&why);
}

static void
auth_close(void *session)
{
	struct auth_session *s = session;

	if (s == NULL)
		return;
	free(s->config);
	free(s->dir);
	free(s->lock);
	service_release(&s->service);
	pthread_mutex_destroy(&s->mutex);
	free(s);
}

/* --- specs and auth.json's sections ----------------------------------- */

/* A sequence of emails from bots.yaml as a JSON array. */
static cJSON *
auth_emails(const struct node *list)
{
	cJSON *emails = cJSON_CreateArray();
	size_t i;

	for (i = 0;
	     list != NULL && list->kind == NODE_SEQUENCE && i < list->nitems;
	     i++)
		if (node_str(list->items[i]) != NULL)
			cJSON_AddItemToArray(emails,
			    cJSON_CreateString(node_str(list->items[i])));
	return emails;
}

/* An allowlist's spec {"domain", "emails", "bots": {TEAM: [EMAIL]}} as
 * auth.json's section {"domain", "emails", "bots": {TEAM: {"emails"}}}. */
static cJSON *
auth_section_from_spec(const cJSON *spec)
{
	cJSON *section = cJSON_CreateObject(), *bots;
	const cJSON *bot;

	cJSON_AddItemToObject(section, "domain",
	    cJSON_Duplicate(cJSON_GetObjectItem(spec, "domain"), true));
	cJSON_AddItemToObject(section, "emails",
	    cJSON_Duplicate(cJSON_GetObjectItem(spec, "emails"), true));
	bots = cJSON_AddObjectToObject(section, "bots");
	cJSON_ArrayForEach (bot, cJSON_GetObjectItem(spec, "bots")) {
		cJSON *entry = cJSON_AddObjectToObject(bots, bot->string);

		cJSON_AddItemToObject(
		    entry, "emails", cJSON_Duplicate(bot, true));
	}
	return section;
}

/* The reverse, for what is observed: missing lists are empty. */
static void
auth_spec_from_section(const cJSON *section, cJSON *spec)
{
	const cJSON *domain = cJSON_GetObjectItem(section, "domain");
	const cJSON *emails = cJSON_GetObjectItem(section, "emails");
	const cJSON *bot;
	cJSON *bots;

	cJSON_AddStringToObject(
	    spec, "domain", cJSON_IsString(domain) ? domain->valuestring : "");
	cJSON_AddItemToObject(spec, "emails",
	    cJSON_IsArray(emails) ? cJSON_Duplicate(emails, true)
				  : cJSON_CreateArray());
	bots = cJSON_AddObjectToObject(spec, "bots");
	cJSON_ArrayForEach (bot, cJSON_GetObjectItem(section, "bots")) {
		const cJSON *list = cJSON_GetObjectItem(bot, "emails");

		if (bot->string == NULL)
			continue;
		cJSON_AddItemToObject(bots, bot->string,
		    cJSON_IsArray(list) ? cJSON_Duplicate(list, true)
					: cJSON_CreateArray());
	}
}

/* Overwrite the copies of the keys in a tree, then delete it. */
static void
auth_doc_free(cJSON *doc)
{
	static const char *const names[] = { "signing_key",
		"code_exchange_secret" };
	size_t i;

	if (doc == NULL)
		return;
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		cJSON *item = cJSON_GetObjectItemCaseSensitive(doc, names[i]);

		if (cJSON_IsString(item))
			sodium_memzero(
			    item->valuestring, strlen(item->valuestring));
	}
	cJSON_Delete(doc);
}

/* The base64 of 32 zero bytes: a key that is not one, for checking a
 * config's other parts with getbot-auth's parser. */
static char *
auth_zero_key(void)
{
	unsigned char zero[AUTH_KEY_BYTES] = { 0 };
	size_t size = sodium_base64_ENCODED_LEN(
	    sizeof(zero), sodium_base64_VARIANT_ORIGINAL);
	char *text = xmalloc(size);

	sodium_bin2base64(
	    text, size, zero, sizeof(zero), sodium_base64_VARIANT_ORIGINAL);
	return text;
}

/* Would getbot-auth load text? If not, err says why in its own words. */
static int
auth_check_loads(const char *text, struct strbuf *err)
{
	struct auth_config *cfg = NULL;
	int rc = auth_config_parse(text, strlen(text), &cfg, err);

	auth_config_unref(cfg);
	return rc;
}

static int
auth_expand(const struct bots *bots, const struct bots_target *target,
    struct resource_set *out, struct strbuf *err)
{
	const struct provider *self = &provider_auth;
	struct resource *service, *r;
	cJSON *spec, *check, *orgs;
	char *zero = auth_zero_key(), *text;
	struct strbuf why = STRBUF_INIT;
	size_t o, t;
	int rc = -1;

	check = cJSON_CreateObject();
	if (service_check_path("auth.config", auth_config_path(target), &why) !=
	    0)
		goto out;
	spec = cJSON_CreateObject();
	cJSON_AddStringToObject(spec, "auth_url", auth_target_url(target));
	cJSON_AddStringToObject(spec, "listen", auth_target_listen(target));
	cJSON_AddStringToObject(spec, "keys", "present");
	cJSON_AddStringToObject(spec, "mode", "0600");
	cJSON_AddStringToObject(spec, "status", "running");
	cJSON_AddStringToObject(spec, "unit", "current");
	service =
	    resource_new(self, &auth_service, AUTH_BINARY, NULL, NULL, spec);
	service->target = target;
	resource_set_add(out, service);

	/* the whole of what will be written, less the keys, goes through
	 * getbot-auth's parser now: its refusals belong in the plan */
	cJSON_AddNumberToObject(check, "version", 1);
	cJSON_AddStringToObject(check, "signing_key", zero);
	cJSON_AddStringToObject(check, "code_exchange_secret", zero);
	cJSON_AddStringToObject(check, "auth_url", auth_target_url(target));
	cJSON_AddStringToObject(check, "listen", auth_target_listen(target));
	orgs = cJSON_AddObjectToObject(check, "orgs");
	for (o = 0; o < bots->norgs; o++) {
		const struct bots_org *org = &bots->orgs[o];
		char *domain;
		cJSON *teams;

		if (org->target != target)
			continue;
		spec = cJSON_CreateObject();
		domain = identity_org_domain(org->name, target->server.domain);
		cJSON_AddStringToObject(spec, "domain", domain);
		free(domain);
		cJSON_AddItemToObject(
		    spec, "emails", auth_emails(org->allowed_emails));
		teams = cJSON_AddObjectToObject(spec, "bots");
		for (t = 0; t < org->nteams; t++)
			cJSON_AddItemToObject(teams, org->teams[t].name,
			    auth_emails(org->teams[t].allowed_emails));
		cJSON_AddItemToObject(
		    orgs, org->name, auth_section_from_spec(spec));
		r = resource_new(
		    self, &auth_allowlist, org->name, org->name, NULL, spec);
		r->target = target;
		resource_add_dep(r, service->address);
		resource_set_add(out, r);
	}
	text = cJSON_PrintUnformatted(check);
	rc = auth_check_loads(text, &why);
	free(text);
out:
	if (rc != 0)
		strbuf_addf(
		    err, "target '%s': auth: %s", target->name, why.buf);
	strbuf_release(&why);
	cJSON_Delete(check);
	free(zero);
	return rc;
}

/* --- files ------------------------------------------------------------ */

/*
 * auth.json as a tree in *doc, or NULL when there is none; mode, if not
 * NULL, gets its permission bits. A file that is there but cannot be read
 * as JSON is an error: it may hold the keys, and getbot never writes over
 * them. Free *doc with auth_doc_free.
 */
static int
auth_doc_read(const struct auth_session *s, struct conn *conn, cJSON **doc,
    unsigned *mode, struct strbuf *err)
{
	struct strbuf content = STRBUF_INIT, why = STRBUF_INIT;
	struct conn_file_info info;
	int rc;

	*doc = NULL;
	/* one allocation: no stray copies of the keys left by a realloc */
	strbuf_init(&content, AUTH_CONFIG_MAX_SIZE + 1);
	rc = conn->ops->read_file(
	    conn, s->config, AUTH_CONFIG_MAX_SIZE, &content, err);
	if (rc == CONN_MISSING) {
		rc = 0;
		goto out;
	}
	if (rc != 0)
		goto out;
	if (mode != NULL) {
		rc = conn->ops->stat(conn, s->config, &info, err);
		if (rc == CONN_MISSING)
			strbuf_addf(
			    err, "'%s' went away while read", s->config);
		if (rc != 0) {
			rc = -1;
			goto out;
		}
		*mode = info.mode;
	}
	*doc = auth_json_parse(content.buf, content.len, &why);
	if (*doc == NULL || !cJSON_IsObject(*doc)) {
		strbuf_addf(err,
		    "'%s': %s; it may hold the keys, which getbot never "
		    "writes over: fix it or move it away",
		    s->config, *doc == NULL ? why.buf : "not a JSON object");
		auth_doc_free(*doc);
		*doc = NULL;
		rc = -1;
	}
out:
	sodium_memzero(content.buf, content.alloc);
	strbuf_release(&content);
	strbuf_release(&why);
	return rc;
}

enum auth_key_state {
	AUTH_KEY_MISSING,
	AUTH_KEY_GOOD,
	AUTH_KEY_BAD,
};

/* Is doc's key name the base64 of min to max bytes, as getbot-auth
 * wants it? */
static enum auth_key_state
auth_key_state(const cJSON *doc, const char *name, size_t min, size_t max)
{
	static const int variants[] = { sodium_base64_VARIANT_ORIGINAL,
		sodium_base64_VARIANT_ORIGINAL_NO_PADDING };
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(doc, name);
	unsigned char scratch[AUTH_SECRET_MAX];
	enum auth_key_state state = AUTH_KEY_BAD;
	const char *end;
	size_t len, i;

	if (item == NULL)
		return AUTH_KEY_MISSING;
	if (!cJSON_IsString(item))
		return AUTH_KEY_BAD;
	for (i = 0; i < ARRAY_SIZE(variants) && state == AUTH_KEY_BAD; i++)
		if (sodium_base642bin(scratch, max, item->valuestring,
			strlen(item->valuestring), NULL, &len, &end,
			variants[i]) == 0 &&
		    *end == '\0' && len >= min)
			state = AUTH_KEY_GOOD;
	sodium_memzero(scratch, sizeof(scratch));
	return state;
}

/* What the service's spec says of the keys: present, absent, partial
 * (one is missing) or invalid. */
static const char *
auth_keys_word(const cJSON *doc)
{
	enum auth_key_state key =
	    auth_key_state(doc, "signing_key", AUTH_KEY_BYTES, AUTH_KEY_BYTES);
	enum auth_key_state secret = auth_key_state(
	    doc, "code_exchange_secret", AUTH_KEY_BYTES, AUTH_SECRET_MAX);

	if (doc == NULL || (key == AUTH_KEY_MISSING && secret == key))
		return "absent";
	if (key == AUTH_KEY_BAD || secret == AUTH_KEY_BAD)
		return "invalid";
	if (key == AUTH_KEY_MISSING || secret == AUTH_KEY_MISSING)
		return "partial";
	return "present";
}

/*
 * Put key name into doc: the one in old when it has one, else 32 new
 * random bytes. One that is there but not valid is an error: replacing it
 * would be a rotation nobody asked for.
 */
static int
auth_key_keep_or_make(cJSON *doc, const cJSON *old, const char *name,
    size_t max, const char *path, struct strbuf *err)
{
	unsigned char key[AUTH_KEY_BYTES];
	char text[sodium_base64_ENCODED_LEN(
	    AUTH_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL)];

	switch (auth_key_state(old, name, AUTH_KEY_BYTES, max)) {
	case AUTH_KEY_GOOD:
		cJSON_AddStringToObject(doc, name,
		    cJSON_GetObjectItemCaseSensitive(old, name)->valuestring);
		return 0;
	case AUTH_KEY_BAD:
		strbuf_addf(err,
		    "'%s': %s is not the base64 of %d%s bytes; getbot never "
		    "replaces a key: fix it, or delete it to have a new one "
		    "made",
		    path, name, AUTH_KEY_BYTES,
		    max > AUTH_KEY_BYTES ? " or more" : "");
		return -1;
	case AUTH_KEY_MISSING:
		break;
	}
	randombytes_buf(key, sizeof(key));
	sodium_bin2base64(text, sizeof(text), key, sizeof(key),
	    sodium_base64_VARIANT_ORIGINAL);
	cJSON_AddStringToObject(doc, name, text);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(text, sizeof(text));
	return 0;
}

/* Replace path with text atomically (file_replace), the directory
 * synced so the rename lasts. */
/* auth.json's directory, made (mode 0700) if missing, with any missing
 * parents (0755, as /etc is). */
static int
auth_make_dir(
    const struct auth_session *s, struct conn *conn, struct strbuf *err)
{
	struct conn_file_info info;
	char *parent = xstrdup(s->dir), *slash;
	int rc = -1;

	for (slash = strchr(parent + 1, '/'); slash != NULL;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (conn->ops->make_dir(conn, parent, 0755, err) != 0)
			goto out;
		*slash = '/';
	}
	if (conn->ops->make_dir(conn, s->dir, 0700, err) != 0)
		goto out;
	/* a file in its place is an error now; a link (stat does not
	 * follow it) is left to the writes to judge */
	rc = conn->ops->stat(conn, s->dir, &info, err);
	if (rc == 0 && info.regular)
		rc = CONN_MISSING;
	if (rc == CONN_MISSING) {
		strbuf_addf(err, "cannot create directory '%s': %s", s->dir,
		    "it is not a directory");
		rc = -1;
	}
out:
	free(parent);
	return rc;
}

/*
 * Take the lock on auth.json: this run's threads first (the session's
 * mutex), then other getbots (flock on auth.json.lock). Returns the lock
 * file's descriptor for auth_unlock, or -1 (with err) holding nothing.
 *
 * The lock file is opened and locked on this machine: the connection has
 * no lock of its own to offer, and for a local connection this machine
 * is the server.
 */
static int
auth_lock(struct auth_session *s, struct conn *conn, struct strbuf *err)
{
	int fd;

	pthread_mutex_lock(&s->mutex);
	if (auth_make_dir(s, conn, err) != 0)
		goto fail;
	fd = open(s->lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && (errno == EROFS || errno == EACCES))
		fd = open(s->lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		strbuf_addf(
		    err, "cannot open '%s': %s", s->lock, strerror(errno));
		goto fail;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		strbuf_addf(
		    err, "cannot lock '%s': %s", s->lock, strerror(errno));
		close(fd);
		goto fail;
	}
	return fd;
fail:
	pthread_mutex_unlock(&s->mutex);
	return -1;
}

static void
auth_unlock(struct auth_session *s, int fd)
{
	close(fd); /* drops the flock */
	pthread_mutex_unlock(&s->mutex);
}

struct auth_change {
	bool service;           /* auth_url and listen from the target */
	const char *org;        /* the org whose section changes, or NULL */
	const cJSON *allowlist; /* its spec, or NULL: the section goes */
};

/*
 * Read, change and write auth.json (called with the lock held). The keys
 * are kept, or made when there are none; auth_url and listen are the
 * target's when change->service or when the file has none.
 */
static int
auth_file_change(const struct auth_session *s, struct conn *conn,
    const struct auth_change *change, struct strbuf *err)
{
	cJSON *old = NULL, *doc = NULL, *orgs;
	const cJSON *item;
	struct strbuf why = STRBUF_INIT;
	char *text = NULL;
	int rc = -1;

	if (auth_doc_read(s, conn, &old, NULL, err) != 0)
		goto out;
	doc = cJSON_CreateObject();
	cJSON_AddNumberToObject(doc, "version", 1);
	if (auth_key_keep_or_make(
		doc, old, "signing_key", AUTH_KEY_BYTES, s->config, err) != 0 ||
	    auth_key_keep_or_make(doc, old, "code_exchange_secret",
		AUTH_SECRET_MAX, s->config, err) != 0)
		goto out;
	item = cJSON_GetObjectItemCaseSensitive(old, "auth_url");
	cJSON_AddStringToObject(doc, "auth_url",
	    !change->service && cJSON_IsString(item)
		? item->valuestring
		: auth_target_url(s->target));
	item = cJSON_GetObjectItemCaseSensitive(old, "listen");
	cJSON_AddStringToObject(doc, "listen",
	    !change->service && cJSON_IsString(item)
		? item->valuestring
		: auth_target_listen(s->target));
	item = cJSON_GetObjectItemCaseSensitive(old, "orgs");
	orgs = cJSON_IsObject(item) ? cJSON_Duplicate(item, true)
				    : cJSON_CreateObject();
	cJSON_AddItemToObject(doc, "orgs", orgs);
	if (change->org != NULL) {
		cJSON_DeleteItemFromObjectCaseSensitive(orgs, change->org);
		if (change->allowlist != NULL)
			cJSON_AddItemToObject(orgs, change->org,
			    auth_section_from_spec(change->allowlist));
	}
	text = cJSON_Print(doc);
	if (auth_check_loads(text, &why) != 0) {
		strbuf_addf(err,
		    "not writing '%s': getbot-auth would refuse it: %s",
		    s->config, why.buf);
		goto out;
	}
	rc = conn->ops->write_file(
	    conn, s->config, text, strlen(text), 0600, err);
out:
	if (text != NULL) {
		sodium_memzero(text, strlen(text));
		free(text);
	}
	auth_doc_free(old);
	auth_doc_free(doc);
	strbuf_release(&why);
	return rc;
}

/* --- observation ---------------------------------------------------------- */

/* The service as it is: nothing when neither its unit (systemd) nor its
 * pid file (else) is there. doc is auth.json (or NULL), mode its mode. */
static void
auth_observe_service(const struct auth_session *s, struct conn *conn,
    const cJSON *doc, unsigned mode, struct observed_set *out)
{
	const cJSON *url = cJSON_GetObjectItemCaseSensitive(doc, "auth_url");
	const cJSON *listen = cJSON_GetObjectItemCaseSensitive(doc, "listen");
	struct service_status status;
	char mode_text[8] = "";
	struct observed *o;

	service_observe(&s->service, conn, &status);
	if (!status.present)
		goto out;
	if (doc != NULL)
		snprintf(mode_text, sizeof(mode_text), "%04o", mode & 07777);
	o = observed_new(&provider_auth, &auth_service, AUTH_BINARY);
	o->owned = status.owned;
	cJSON_AddStringToObject(
	    o->spec, "auth_url", cJSON_IsString(url) ? url->valuestring : "");
	/* a reload does not move the daemon: it listens where it started */
	if (status.running && status.listen != NULL && *status.listen != '\0')
		cJSON_AddStringToObject(o->spec, "listen", status.listen);
	else
		cJSON_AddStringToObject(o->spec, "listen",
		    cJSON_IsString(listen) ? listen->valuestring : "");
	cJSON_AddStringToObject(o->spec, "keys", auth_keys_word(doc));
	cJSON_AddStringToObject(o->spec, "mode", mode_text);
	cJSON_AddStringToObject(
	    o->spec, "status", status.running ? "running" : "stopped");
	cJSON_AddStringToObject(
	    o->spec, "unit", status.stale ? "stale" : "current");
	observed_set_add(out, o);
out:
	service_status_release(&status);
}

/* Both kinds from one read of auth.json, and one look at the service. */
static int
auth_observe(struct provider_call *call, const struct bots_target *target,
    struct observed_set *out)
{
	struct auth_session *s = call->session;
	const cJSON *section;
	cJSON *doc = NULL;
	unsigned mode = 0;

	(void)target;
	if (auth_doc_read(s, call->conn, &doc, &mode, &call->err) != 0)
		return PROVIDER_ERROR;
	cJSON_ArrayForEach (
	    section, cJSON_GetObjectItemCaseSensitive(doc, "orgs")) {
		struct observed *o;

		if (section->string == NULL ||
		    !identity_is_dns_label(section->string))
			continue;
		o = observed_new(
		    &provider_auth, &auth_allowlist, section->string);
		o->owned = true; /* auth.json is getbot's */
		o->org = xstrdup(section->string);
		auth_spec_from_section(section, o->spec);
		observed_set_add(out, o);
	}
	auth_observe_service(s, call->conn, doc, mode, out);
	auth_doc_free(doc);
	return PROVIDER_OK;
}

/* --- auth.service ----------------------------------------------------------
 */

static const char *
auth_spec_str(const cJSON *spec, const char *key)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(spec, key));

	return v != NULL ? v : "";
}

/* Write auth.json for the service, then start, restart or reload it. */
static int
auth_service_apply(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	struct auth_session *s = call->session;
	struct auth_change change = { true, NULL, NULL };
	bool restart;
	int fd, rc = PROVIDER_ERROR;

	fd = auth_lock(s, call->conn, &call->err);
	if (fd < 0)
		return PROVIDER_ERROR;
	if (auth_file_change(s, call->conn, &change, &call->err) != 0)
		goto out;
	/* the address is read at start only, and a unit is installed by a
	 * restart only */
	restart =
	    current == NULL ||
	    strcmp(auth_spec_str(current->spec, "status"), "running") != 0 ||
	    strcmp(auth_spec_str(current->spec, "listen"),
		auth_spec_str(desired->spec, "listen")) != 0 ||
	    strcmp(auth_spec_str(current->spec, "unit"),
		auth_spec_str(desired->spec, "unit")) != 0;
	if ((restart
		    ? service_restart(&s->service, call->conn,
			  auth_target_listen(s->target), &call->err)
		    : service_reload(&s->service, call->conn, &call->err)) == 0)
		rc = PROVIDER_OK;
out:
	auth_unlock(s, fd);
	return rc;
}

static int
auth_service_create(struct provider_call *call, const struct resource *desired)
{
	return auth_service_apply(call, desired, NULL);
}

static int
auth_service_update(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	return auth_service_apply(call, desired, current);
}

/*
 * Deleting the service stops it; auth.json stays, keys and all, for the
 * next org. With purge it goes too, but only when no org is left in it
 * (a --replace deletes with purge while the allowlists stay).
 */
static int
auth_service_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	struct auth_session *s = call->session;
	struct conn *conn = call->conn;
	cJSON *doc = NULL;
	const cJSON *orgs;
	int fd, rc = PROVIDER_ERROR;

	(void)current;
	fd = auth_lock(s, conn, &call->err);
	if (fd < 0)
		return PROVIDER_ERROR;
	if (service_stop(&s->service, conn, &call->err) != 0)
		goto out;
	if (purge) {
		if (auth_doc_read(s, conn, &doc, NULL, &call->err) != 0)
			goto out;
		orgs = cJSON_GetObjectItemCaseSensitive(doc, "orgs");
		if (doc != NULL && cJSON_GetArraySize(orgs) == 0) {
			if (conn->ops->remove_file(
				conn, s->config, &call->err) != 0)
				goto out;
			service_forget(&s->service, conn);
		}
	}
	rc = PROVIDER_OK;
out:
	auth_doc_free(doc);
	auth_unlock(s, fd);
	return rc;
}

/* --- auth.allowlist ----------------------------------------------------------
 */

/* Write an org's section (or drop it: allowlist NULL) and reload. */
static int
auth_allowlist_apply(
    struct provider_call *call, const char *org, const cJSON *allowlist)
{
	struct auth_session *s = call->session;
	struct auth_change change = { false, org, allowlist };
	int fd, rc = PROVIDER_ERROR;

	fd = auth_lock(s, call->conn, &call->err);
	if (fd < 0)
		return PROVIDER_ERROR;
	if (auth_file_change(s, call->conn, &change, &call->err) == 0 &&
	    service_reload(&s->service, call->conn, &call->err) == 0)
		rc = PROVIDER_OK;
	auth_unlock(s, fd);
	return rc;
}

static int
auth_allowlist_create(
    struct provider_call *call, const struct resource *desired)
{
	return auth_allowlist_apply(call, desired->name, desired->spec);
}

static int
auth_allowlist_update(struct provider_call *call,
    const struct resource *desired, const struct observed *current)
{
	(void)current;
	return auth_allowlist_apply(call, desired->name, desired->spec);
}

static int
auth_allowlist_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	(void)purge;
	return auth_allowlist_apply(call, current->name, NULL);
}

const struct provider provider_auth = {
	.name = "auth",
	.target_kind = "incus",
	.server = true,
	.kinds = auth_kinds,
	.max_concurrency = 0, /* one file: auth_lock orders the writes */
	.max_rate = 0,
	.burst = 0,
	.open = auth_open,
	.check = auth_check,
	.close = auth_close,
	.expand = auth_expand,
	.observe = auth_observe,
};
