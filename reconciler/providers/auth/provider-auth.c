/*
 * The auth provider: getbot-auth, the server's sign-in gatekeeper, and its
 * config auth.json (CONFIG.md), on the server getbot runs on.
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
 * Every write is a read-modify-write of the whole file under a lock (a
 * mutex for this process's threads, flock on auth.json.lock for cron
 * beside CI), to a temporary file renamed into place, and is checked
 * first with getbot-auth's own parser (auth-config.c): a file getbot-auth
 * would refuse is never written.
 *
 * The service runs one of two ways. On a machine run by systemd
 * (/run/systemd/system exists) it is the unit getbot-auth.service,
 * installed in /etc/systemd/system from getbot-auth.service.in, enabled
 * and started; a reload is `systemctl reload`. Elsewhere (containers, CI)
 * getbot starts it as a detached daemon with its pid file and log beside
 * auth.json (getbot-auth.pid, getbot-auth.log); it is known by its pid and
 * its command line (/proc/PID/cmdline), and reloaded with SIGHUP. Either
 * way a stopped service is drift that apply restarts, and deleting the
 * service (its last org gone) stops it and keeps auth.json, keys and all,
 * unless --purge-data.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "provider-auth.h"
#include "auth-config.h"
#include "auth-json.h"
#include "file.h"
#include "identity.h"
#include "xmalloc.h"

#define AUTH_BINARY         "getbot-auth"
#define AUTH_UNIT           "getbot-auth.service"
#define AUTH_UNIT_PATH      "/etc/systemd/system/" AUTH_UNIT
#define AUTH_UNIT_MARK      "# getbot: managed"
#define AUTH_SYSTEMD_RUN    "/run/systemd/system"
#define AUTH_PID_NAME       "getbot-auth.pid"
#define AUTH_LOG_NAME       "getbot-auth.log"
#define AUTH_KEY_BYTES      32
#define AUTH_SECRET_MAX     128 /* bytes of code_exchange_secret accepted */
#define AUTH_START_SECONDS  10
#define AUTH_STOP_SECONDS   10
#define AUTH_RELOAD_SECONDS 5
#define AUTH_SMALL_FILE     (64 * 1024) /* pid file, cmdline, unit */
#define AUTH_OUTPUT_MAX     4096        /* what is kept of a command's words */
#define AUTH_LOG_READ_MAX   (256 * 1024)
#define AUTH_LISTENING      "getbot-auth: listening on "

static const struct field_def auth_service_fields[] = {
	{ "auth_url", FIELD_INPLACE },
	{ "listen", FIELD_INPLACE },
	{ "keys", FIELD_INPLACE },
	{ "mode", FIELD_INPLACE },
	{ "status", FIELD_INPLACE },
	{ NULL, 0 },
};

static const struct field_def auth_allowlist_fields[] = {
	{ "domain", FIELD_INPLACE },
	{ "emails", FIELD_INPLACE },
	{ "bots", FIELD_INPLACE },
	{ NULL, 0 },
};

static const struct resource_kind auth_service = {
	.name = "service",
	.fields = auth_service_fields,
	.lost_on_replace = NULL,
	.order = 4,
};
static const struct resource_kind auth_allowlist = {
	.name = "allowlist",
	.fields = auth_allowlist_fields,
	.lost_on_replace = NULL,
	.order = 5,
};

static const struct resource_kind *const auth_kinds[] = { &auth_service,
	&auth_allowlist, NULL };

/* One server's auth.json and the files beside it. */
struct auth_session {
	const struct bots_target *target;
	char *config;   /* auth.json */
	char *dir;      /* the directory it is in */
	char *lock;     /* auth.json.lock */
	char *pid_file; /* without systemd: "PID LISTEN\n" */
	char *log_file; /* without systemd: the daemon's stdout and stderr */
	bool systemd;
};

/* Every edit of an auth.json by this process, whichever thread. */
static pthread_mutex_t auth_mutex = PTHREAD_MUTEX_INITIALIZER;

extern char **environ;

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

/*
 * A path getbot writes, and may write into a unit's ExecStart: absolute,
 * plain characters only (systemd would read '%', '$', quotes and spaces),
 * no "." or ".." component, no trailing slash.
 */
static int
auth_check_path(const char *what, const char *path, struct strbuf *err)
{
	static const char plain[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz"
				    "0123456789/._+@-";
	const char *p;

	if (path[0] != '/' || path[1] == '\0' ||
	    path[strlen(path) - 1] == '/') {
		strbuf_addf(err, "%s '%s' must be an absolute path to a file",
		    what, path);
		return -1;
	}
	if (strspn(path, plain) != strlen(path)) {
		strbuf_addf(err,
		    "%s '%s' may hold only letters, digits and '/._+@-'", what,
		    path);
		return -1;
	}
	for (p = path; *p != '\0'; p++) {
		size_t len;

		if (*p != '/')
			continue;
		len = strcspn(p + 1, "/");
		if ((len == 1 && p[1] == '.') ||
		    (len == 2 && p[1] == '.' && p[2] == '.') || len == 0) {
			strbuf_addf(err,
			    "%s '%s' must not have empty, '.' or '..' parts",
			    what, path);
			return -1;
		}
	}
	return 0;
}

static int
auth_open(const struct bots_target *target, struct conn *conn,
    const char *base_dir,
    void **session, struct strbuf *err)
{
	struct auth_session *s;
	const char *config = auth_config_path(target);

	(void)base_dir;
	*session = NULL;
	if (auth_check_path("auth.config", config, err) != 0)
		return -1;
	s = xcalloc(1, sizeof(*s));
	s->target = target;
	s->config = xstrdup(config);
	s->dir = file_dir(config);
	s->lock = xasprintf("%s.lock", config);
	s->pid_file = xasprintf(
	    "%s/%s", strcmp(s->dir, "/") ? s->dir : "", AUTH_PID_NAME);
	s->log_file = xasprintf(
	    "%s/%s", strcmp(s->dir, "/") ? s->dir : "", AUTH_LOG_NAME);
	s->systemd = access(AUTH_SYSTEMD_RUN, F_OK) == 0;
	*session = s;
	return 0;
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
	free(s->pid_file);
	free(s->log_file);
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
	if (auth_check_path("auth.config", auth_config_path(target), &why) != 0)
		goto out;
	spec = cJSON_CreateObject();
	cJSON_AddStringToObject(spec, "auth_url", auth_target_url(target));
	cJSON_AddStringToObject(spec, "listen", auth_target_listen(target));
	cJSON_AddStringToObject(spec, "keys", "present");
	cJSON_AddStringToObject(spec, "mode", "0600");
	cJSON_AddStringToObject(spec, "status", "running");
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
 * auth.json as a tree in *doc, or NULL when there is none; st, if not
 * NULL, gets its status. A file that is there but cannot be read as JSON
 * is an error: it may hold the keys, and getbot never writes over them.
 * Free *doc with auth_doc_free.
 */
static int
auth_doc_read(const struct auth_session *s, cJSON **doc, struct stat *st,
    struct strbuf *err)
{
	struct strbuf content = STRBUF_INIT, why = STRBUF_INIT;
	int rc;

	*doc = NULL;
	/* one allocation: no stray copies of the keys left by a realloc */
	strbuf_init(&content, AUTH_CONFIG_MAX_SIZE + 1);
	rc = file_read(s->config, AUTH_CONFIG_MAX_SIZE, &content, st, err);
	if (rc == FILE_MISSING) {
		rc = 0;
		goto out;
	}
	if (rc != 0)
		goto out;
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
static int
auth_write_file(
    const char *path, const char *text, mode_t mode, struct strbuf *err)
{
	if (file_replace(path, text, strlen(text), mode, err) != 0)
		return -1;
	return file_sync_dir(path, err);
}

/* auth.json's directory, made (mode 0700) if missing, with any missing
 * parents (0755, as /etc is). */
static int
auth_make_dir(const struct auth_session *s, struct strbuf *err)
{
	struct stat st;
	char *parent = xstrdup(s->dir), *slash;

	for (slash = strchr(parent + 1, '/'); slash != NULL;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(parent, 0755) != 0 && errno != EEXIST) {
			strbuf_addf(err, "cannot create directory '%s': %s",
			    parent, strerror(errno));
			free(parent);
			return -1;
		}
		*slash = '/';
	}
	free(parent);
	if (mkdir(s->dir, 0700) == 0)
		return 0;
	if (errno == EEXIST && stat(s->dir, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	strbuf_addf(err, "cannot create directory '%s': %s", s->dir,
	    errno == EEXIST ? "it is not a directory" : strerror(errno));
	return -1;
}

/*
 * Take the lock on auth.json: this process's threads first, then other
 * getbots (flock on auth.json.lock). Returns the lock file's descriptor
 * for auth_unlock, or -1 (with err) holding nothing.
 */
static int
auth_lock(const struct auth_session *s, struct strbuf *err)
{
	int fd;

	pthread_mutex_lock(&auth_mutex);
	if (auth_make_dir(s, err) != 0)
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
	pthread_mutex_unlock(&auth_mutex);
	return -1;
}

static void
auth_unlock(int fd)
{
	close(fd); /* drops the flock */
	pthread_mutex_unlock(&auth_mutex);
}

/* What one write changes in auth.json. */
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
auth_file_change(const struct auth_session *s, const struct auth_change *change,
    struct strbuf *err)
{
	cJSON *old = NULL, *doc = NULL, *orgs;
	const cJSON *item;
	struct strbuf why = STRBUF_INIT;
	char *text = NULL;
	int rc = -1;

	if (auth_doc_read(s, &old, NULL, err) != 0)
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
	rc = auth_write_file(s->config, text, 0600, err);
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

/* --- processes ---------------------------------------------------------- */

/* Close every descriptor above 2 (in a child about to exec). */
static void
auth_close_from_3(long max_fd)
{
	long fd;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
		return;
#endif
	for (fd = 3; fd < max_fd; fd++)
		(void)close((int)fd);
}

/* Signals as a new program expects them: none blocked, none ignored. */
static void
auth_reset_signals(void)
{
	struct sigaction dfl;
	sigset_t none;
	int sig;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (sig = 1; sig < 32; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

static long
auth_max_fd(void)
{
	long max = sysconf(_SC_OPEN_MAX);

	return max > 0 ? max : 1024;
}

/* An executable file named name in the directories of list (':'
 * separated, absolute ones only), or NULL. The caller frees it. */
static char *
auth_search(const char *list, const char *name)
{
	while (list != NULL && *list != '\0') {
		size_t len = strcspn(list, ":");

		if (len > 0 && list[0] == '/') {
			char *path = xasprintf("%.*s/%s", (int)len, list, name);

			if (access(path, X_OK) == 0)
				return path;
			free(path);
		}
		list += len + (list[len] == ':');
	}
	return NULL;
}

/* Where getbot-auth is: beside this getbot, in ../sbin from it, or on
 * $PATH (then the usual sbin directories). */
static char *
auth_find_binary(struct strbuf *err)
{
	char self[PATH_MAX];
	char *found = NULL, *dir;
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (len > 0) {
		self[len] = '\0';
		dir = file_dir(self);
		found = auth_search(dir, AUTH_BINARY);
		if (found == NULL) {
			char *sbin = xasprintf("%s/../sbin", dir);

			found = auth_search(sbin, AUTH_BINARY);
			free(sbin);
		}
		free(dir);
	}
	if (found == NULL)
		found = auth_search(getenv("PATH"), AUTH_BINARY);
	if (found == NULL)
		found = auth_search("/usr/local/sbin:/usr/sbin", AUTH_BINARY);
	if (found != NULL) {
		char *real = realpath(found, NULL);

		if (real != NULL) {
			free(found);
			found = real;
		}
		return found;
	}
	strbuf_addf(err,
	    "%s is not beside getbot (%s), nor on $PATH: install it with "
	    "getbot",
	    AUTH_BINARY, len > 0 ? self : "/proc/self/exe unreadable");
	return NULL;
}

/*
 * Run a command (argv[0] an absolute path; no shell) and wait for it; its
 * exit status in *status (-1 if it did not exit), the first
 * AUTH_OUTPUT_MAX bytes of its stdout and stderr in out.
 */
static int
auth_run(
    char *const argv[], int *status, struct strbuf *out, struct strbuf *err)
{
	long max_fd = auth_max_fd();
	char chunk[512];
	int pipefd[2], null, wstatus;
	ssize_t got;
	pid_t pid;

	*status = -1;
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || pipe(pipefd) < 0) {
		strbuf_addf(err, "cannot run %s: %s", argv[0], strerror(errno));
		if (null >= 0)
			close(null);
		return -1;
	}
	(void)fcntl(pipefd[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(pipefd[1], F_SETFD, FD_CLOEXEC);
	pid = fork();
	if (pid == 0) {
		/* only async-signal-safe calls from here: other threads may
		 * hold locks we would wait on forever */
		if (dup2(null, 0) < 0 || dup2(pipefd[1], 1) < 0 ||
		    dup2(pipefd[1], 2) < 0)
			_exit(126);
		auth_close_from_3(max_fd);
		auth_reset_signals();
		execve(argv[0], argv, environ);
		_exit(127);
	}
	close(null);
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		strbuf_addf(err, "cannot run %s: %s", argv[0], strerror(errno));
		return -1;
	}
	for (;;) {
		got = read(pipefd[0], chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (out->len < AUTH_OUTPUT_MAX)
			strbuf_add(out, chunk,
			    (size_t)got < AUTH_OUTPUT_MAX - out->len
				? (size_t)got
				: AUTH_OUTPUT_MAX - out->len);
	}
	close(pipefd[0]);
	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR) {
			strbuf_addf(err, "cannot wait for %s: %s", argv[0],
			    strerror(errno));
			return -1;
		}
	if (WIFEXITED(wstatus))
		*status = WEXITSTATUS(wstatus);
	return 0;
}

/* Drop trailing white space. */
static void
auth_rtrim(struct strbuf *sb)
{
	while (sb->len > 0 &&
	       (sb->buf[sb->len - 1] == '\n' || sb->buf[sb->len - 1] == '\r' ||
		   sb->buf[sb->len - 1] == ' '))
		strbuf_setlen(sb, sb->len - 1);
}

/* systemctl ARGS... (up to three), which must succeed; err quotes it. */
static int
auth_systemctl(const char *a, const char *b, const char *c, struct strbuf *err)
{
	struct strbuf out = STRBUF_INIT;
	char *systemctl =
	    auth_search("/usr/bin:/bin:/usr/sbin:/sbin", "systemctl");
	char *argv[5] = { NULL };
	int status, rc = -1;
	size_t i;

	if (systemctl == NULL) {
		strbuf_addstr(err, "this machine runs systemd, but systemctl "
				   "is not to be found");
		return -1;
	}
	argv[0] = systemctl;
	argv[1] = xstrdup(a);
	argv[2] = b != NULL ? xstrdup(b) : NULL;
	argv[3] = b != NULL && c != NULL ? xstrdup(c) : NULL;
	argv[4] = NULL;
	if (auth_run(argv, &status, &out, err) != 0)
		goto out;
	if (status != 0) {
		auth_rtrim(&out);
		strbuf_addf(err, "systemctl %s%s%s%s%s failed (exit %d)%s%s", a,
		    b ? " " : "", b ? b : "", c ? " " : "", c ? c : "", status,
		    out.len ? ": " : "", out.buf);
		goto out;
	}
	rc = 0;
out:
	strbuf_release(&out);
	for (i = 0; i < ARRAY_SIZE(argv); i++)
		free(argv[i]);
	return rc;
}

/* Is the unit active? */
static bool
auth_unit_active(void)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	char *systemctl =
	    auth_search("/usr/bin:/bin:/usr/sbin:/sbin", "systemctl");
	char *argv[] = { systemctl, xstrdup("is-active"), xstrdup(AUTH_UNIT),
		NULL };
	int status;
	bool active = false;
	size_t i;

	if (systemctl != NULL && auth_run(argv, &status, &out, &err) == 0) {
		auth_rtrim(&out);
		active = strcmp(out.buf, "active") == 0 ||
			 strcmp(out.buf, "reloading") == 0;
	}
	strbuf_release(&out);
	strbuf_release(&err);
	for (i = 0; i < ARRAY_SIZE(argv); i++)
		free(argv[i]);
	return active;
}

/* The unit for binary serving config: getbot-auth.service.in with its
 * ExecStart filled in, under getbot's mark. The caller frees it. */
static char *
auth_unit_render(const char *binary, const char *config)
{
	struct strbuf sb = STRBUF_INIT;
	const char *line = auth_unit_template;

	strbuf_addstr(&sb, AUTH_UNIT_MARK
	    " (written by getbot apply; it replaces any change)\n");
	while (*line != '\0') {
		size_t len = strcspn(line, "\n");

		if (strncmp(line, "ExecStart=", 10) == 0)
			strbuf_addf(
			    &sb, "ExecStart=%s --config %s", binary, config);
		else
			strbuf_add(&sb, line, len);
		strbuf_addch(&sb, '\n');
		line += len + (line[len] == '\n');
	}
	return strbuf_detach(&sb, NULL);
}

/* --- the daemon, without systemd ----------------------------------------- */

/* Does pid run getbot-auth with our auth.json (/proc/PID/cmdline)? */
static bool
auth_pid_is_ours(const struct auth_session *s, pid_t pid)
{
	struct strbuf cmdline = STRBUF_INIT, err = STRBUF_INIT;
	char *path = xasprintf("/proc/%ld/cmdline", (long)pid);
	const char *arg, *end, *base;
	bool ours = false, first = true, want_config = false;

	if (pid <= 1 ||
	    file_read(path, AUTH_SMALL_FILE, &cmdline, NULL, &err) != 0)
		goto out;
	end = cmdline.buf + cmdline.len;
	for (arg = cmdline.buf; arg < end; arg += strlen(arg) + 1) {
		if (first) {
			base = strrchr(arg, '/');
			base = base != NULL ? base + 1 : arg;
			if (strcmp(base, AUTH_BINARY) != 0)
				goto out;
			first = false;
		} else if (want_config) {
			ours = strcmp(arg, s->config) == 0;
			want_config = false;
		} else if (strcmp(arg, "--config") == 0 ||
			   strcmp(arg, "-c") == 0)
			want_config = true;
		else if (strncmp(arg, "--config=", 9) == 0)
			ours = strcmp(arg + 9, s->config) == 0;
	}
out:
	free(path);
	strbuf_release(&cmdline);
	strbuf_release(&err);
	return ours;
}

/* Does pid run at all (a zombie does not)? Just after the fork it may
 * not be getbot-auth yet. */
static bool
auth_pid_alive(pid_t pid)
{
	struct strbuf stat = STRBUF_INIT, err = STRBUF_INIT;
	char *path = xasprintf("/proc/%ld/stat", (long)pid);
	const char *state;
	bool alive = false;

	if (file_read(path, AUTH_SMALL_FILE, &stat, NULL, &err) == 0) {
		/* PID (COMM) STATE ...: COMM may hold anything but ends at
		 * the last ')' */
		state = strrchr(stat.buf, ')');
		alive = state != NULL && state[1] == ' ' && state[2] != 'Z' &&
			state[2] != 'X' && state[2] != '\0';
	}
	free(path);
	strbuf_release(&stat);
	strbuf_release(&err);
	return alive;
}

/*
 * The pid file: "PID LISTEN\n", the daemon's pid and the address it was
 * started on (which a reload does not change). Returns 0, FILE_MISSING,
 * or -1 with err.
 */
static int
auth_pid_read(
    const struct auth_session *s, pid_t *pid, char **listen, struct strbuf *err)
{
	struct strbuf content = STRBUF_INIT;
	char *end;
	long value;
	int rc;

	*pid = 0;
	*listen = NULL;
	rc = file_read(s->pid_file, AUTH_SMALL_FILE, &content, NULL, err);
	if (rc != 0)
		goto out;
	errno = 0;
	value = strtol(content.buf, &end, 10);
	if (errno != 0 || value <= 1 || value > INT_MAX || *end != ' ') {
		/* not a pid: nothing of ours runs from it */
		*pid = 0;
		*listen = xstrdup("");
		goto out;
	}
	*pid = (pid_t)value;
	end++;
	*listen = xstrndup(end, strcspn(end, "\n"));
out:
	strbuf_release(&content);
	return rc;
}

/* The pid of our running daemon, or 0. */
static pid_t
auth_daemon_pid(const struct auth_session *s)
{
	struct strbuf err = STRBUF_INIT;
	char *listen = NULL;
	pid_t pid = 0;

	if (auth_pid_read(s, &pid, &listen, &err) != 0 ||
	    !auth_pid_is_ours(s, pid))
		pid = 0;
	free(listen);
	strbuf_release(&err);
	return pid;
}

static void
auth_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static off_t
auth_log_size(const struct auth_session *s)
{
	struct stat st;

	return stat(s->log_file, &st) == 0 ? st.st_size : 0;
}

/* What the daemon logged since offset from (at most AUTH_LOG_READ_MAX
 * bytes), appended to out. */
static void
auth_log_since(const struct auth_session *s, off_t from, struct strbuf *out)
{
	char chunk[4096];
	ssize_t got;
	int fd = open(s->log_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return;
	if (lseek(fd, from, SEEK_SET) == from)
		while (out->len < AUTH_LOG_READ_MAX &&
		       (got = read(fd, chunk, sizeof(chunk))) > 0)
			strbuf_add(out, chunk, (size_t)got);
	close(fd);
}

/* The last line of text that says something, cut to 300 bytes. */
static void
auth_last_line(const char *text, struct strbuf *out)
{
	size_t len = strlen(text), start;

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	start = len;
	while (start > 0 && text[start - 1] != '\n')
		start--;
	if (len - start > 300)
		len = start + 300;
	strbuf_add(out, text + start, len - start);
}

/*
 * Start getbot-auth as a daemon: its own session, stdin /dev/null, stdout
 * and stderr to the log, no other descriptor, a clean environment (no
 * secret of getbot's), and a grandchild of ours so that it is nobody's
 * zombie. Waits until it says it listens, or reports its last words.
 */
static int
auth_daemon_start(
    const struct auth_session *s, const char *listen, struct strbuf *err)
{
	static const char *const passed[] = { "ASAN_OPTIONS", "LSAN_OPTIONS",
		"UBSAN_OPTIONS" };
	static const char exec_failed[] =
	    "getbot: cannot execute " AUTH_BINARY "\n";
	char *binary = NULL, *argv[4], *envp[ARRAY_SIZE(passed) + 2];
	char *pid_text = NULL;
	long max_fd = auth_max_fd();
	struct strbuf logged = STRBUF_INIT;
	int null = -1, log = -1, pipefd[2] = { -1, -1 }, wstatus, rc = -1;
	size_t i, nenv = 0;
	pid_t child, daemon_pid = 0;
	off_t from;
	ssize_t got;

	binary = auth_find_binary(err);
	if (binary == NULL)
		return -1;
	argv[0] = binary;
	argv[1] = xstrdup("--config");
	argv[2] = s->config;
	argv[3] = NULL;
	envp[nenv++] =
	    xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
		    "/sbin:/bin");
	for (i = 0; i < ARRAY_SIZE(passed); i++)
		if (getenv(passed[i]) != NULL)
			envp[nenv++] =
			    xasprintf("%s=%s", passed[i], getenv(passed[i]));
	envp[nenv] = NULL;

	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	log = open(s->log_file,
	    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (null < 0 || log < 0 || pipe(pipefd) < 0) {
		strbuf_addf(err, "cannot start %s: %s: %s", AUTH_BINARY,
		    log < 0 ? s->log_file : "a pipe", strerror(errno));
		goto out;
	}
	(void)fcntl(pipefd[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(pipefd[1], F_SETFD, FD_CLOEXEC);
	from = auth_log_size(s);
	child = fork();
	if (child == 0) {
		/* async-signal-safe calls only, until execve */
		pid_t grandchild;

		if (setsid() < 0)
			_exit(1);
		grandchild = fork();
		if (grandchild != 0) {
			if (grandchild > 0)
				(void)file_write_all(pipefd[1],
				    (const char *)&grandchild,
				    sizeof(grandchild));
			_exit(grandchild > 0 ? 0 : 1);
		}
		if (dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
			_exit(126);
		auth_close_from_3(max_fd);
		auth_reset_signals();
		umask(077);
		if (chdir("/") < 0)
			_exit(126);
		execve(binary, argv, envp);
		(void)file_write_all(2, exec_failed, sizeof(exec_failed) - 1);
		_exit(127);
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	if (child < 0) {
		strbuf_addf(err, "cannot start %s: fork: %s", AUTH_BINARY,
		    strerror(errno));
		goto out;
	}
	do
		got = read(pipefd[0], &daemon_pid, sizeof(daemon_pid));
	while (got < 0 && errno == EINTR);
	while (waitpid(child, &wstatus, 0) < 0 && errno == EINTR)
		;
	if (got != (ssize_t)sizeof(daemon_pid) || daemon_pid <= 0) {
		strbuf_addf(err, "cannot start %s: fork failed", AUTH_BINARY);
		goto out;
	}
	pid_text = xasprintf("%ld %s\n", (long)daemon_pid, listen);
	if (auth_write_file(s->pid_file, pid_text, 0600, err) != 0) {
		(void)kill(daemon_pid, SIGTERM);
		goto out;
	}

	/* it listens (it says so), or it died: its last line says why */
	for (i = 0; i < AUTH_START_SECONDS * 10; i++) {
		strbuf_reset(&logged);
		auth_log_since(s, from, &logged);
		if (strstr(logged.buf, AUTH_LISTENING) != NULL &&
		    auth_pid_is_ours(s, daemon_pid)) {
			rc = 0;
			goto out;
		}
		if (!auth_pid_alive(daemon_pid))
			break;
		auth_sleep_ms(100);
	}
	strbuf_reset(&logged);
	auth_log_since(s, from, &logged);
	if (auth_pid_alive(daemon_pid)) {
		(void)kill(daemon_pid, SIGTERM);
		strbuf_addf(err, "%s did not listen within %d s", AUTH_BINARY,
		    AUTH_START_SECONDS);
	} else
		strbuf_addf(err, "%s exited at start", AUTH_BINARY);
	if (logged.len > 0) {
		strbuf_addf(err, " (%s says: ", s->log_file);
		auth_last_line(logged.buf, err);
		strbuf_addch(err, ')');
	}
out:
	if (null >= 0)
		close(null);
	if (log >= 0)
		close(log);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	for (i = 0; i < nenv; i++)
		free(envp[i]);
	free(argv[1]);
	free(binary);
	free(pid_text);
	strbuf_release(&logged);
	return rc;
}

/* Stop our daemon, if it runs (SIGTERM, then SIGKILL), and drop its pid
 * file. */
static int
auth_daemon_stop(const struct auth_session *s, struct strbuf *err)
{
	pid_t pid = auth_daemon_pid(s);
	int i;

	if (pid > 0) {
		(void)kill(pid, SIGTERM);
		for (i = 0;
		     i < AUTH_STOP_SECONDS * 10 && auth_pid_is_ours(s, pid);
		     i++)
			auth_sleep_ms(100);
		if (auth_pid_is_ours(s, pid)) {
			(void)kill(pid, SIGKILL);
			for (i = 0; i < 20 && auth_pid_is_ours(s, pid); i++)
				auth_sleep_ms(100);
		}
		if (auth_pid_is_ours(s, pid)) {
			strbuf_addf(err, "%s (pid %ld) does not stop",
			    AUTH_BINARY, (long)pid);
			return -1;
		}
	}
	if (unlink(s->pid_file) < 0 && errno != ENOENT) {
		strbuf_addf(err, "cannot remove '%s': %s", s->pid_file,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* SIGHUP to our daemon, and its answer from the log: reloaded, or
 * refused and why. A daemon that does not run has nothing to reload. */
static int
auth_daemon_reload(const struct auth_session *s, struct strbuf *err)
{
	struct strbuf logged = STRBUF_INIT;
	pid_t pid = auth_daemon_pid(s);
	off_t from = auth_log_size(s);
	const char *refused;
	int i, rc = 0;

	if (pid == 0 || kill(pid, SIGHUP) < 0)
		return 0;
	for (i = 0; i < AUTH_RELOAD_SECONDS * 20; i++) {
		strbuf_reset(&logged);
		auth_log_since(s, from, &logged);
		refused = strstr(logged.buf, "getbot-auth: reload refused: ");
		if (refused != NULL) {
			strbuf_addstr(
			    err, "getbot-auth refused the new config: ");
			auth_last_line(refused, err);
			rc = -1;
			break;
		}
		if (strstr(logged.buf, "getbot-auth: reloaded ") != NULL)
			break;
		auth_sleep_ms(50);
	}
	strbuf_release(&logged);
	return rc;
}

/* --- the service, either way ------------------------------------------- */

/* Install the unit if it is not what it should be. */
static int
auth_unit_install(const struct auth_session *s, struct strbuf *err)
{
	struct strbuf have = STRBUF_INIT, why = STRBUF_INIT;
	char *binary = auth_find_binary(err), *unit = NULL;
	int rc = -1;

	if (binary == NULL)
		return -1;
	if (auth_check_path("the getbot-auth binary", binary, err) != 0)
		goto out;
	unit = auth_unit_render(binary, s->config);
	if (file_read(AUTH_UNIT_PATH, AUTH_SMALL_FILE, &have, NULL, &why) ==
		0 &&
	    strcmp(have.buf, unit) == 0) {
		rc = 0;
		goto out;
	}
	if (auth_write_file(AUTH_UNIT_PATH, unit, 0644, err) == 0 &&
	    auth_systemctl("daemon-reload", NULL, NULL, err) == 0)
		rc = 0;
out:
	strbuf_release(&have);
	strbuf_release(&why);
	free(binary);
	free(unit);
	return rc;
}

/* Does something accept connections on listen (IPV4:PORT, [IPV6]:PORT)? */
static bool
auth_listening(const char *listen)
{
	struct sockaddr_storage addr;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;
	const char *colon = strrchr(listen, ':');
	char *host;
	socklen_t len;
	bool ok = false;
	int fd;

	if (colon == NULL)
		return false;
	memset(&addr, 0, sizeof(addr));
	if (listen[0] == '[') {
		host = xstrndup(listen + 1, (size_t)(colon - listen - 2));
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)atoi(colon + 1));
		ok = inet_pton(AF_INET6, host, &in6->sin6_addr) == 1;
		len = sizeof(*in6);
	} else {
		host = xstrndup(listen, (size_t)(colon - listen));
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)atoi(colon + 1));
		ok = inet_pton(AF_INET, host, &in4->sin_addr) == 1;
		len = sizeof(*in4);
	}
	free(host);
	if (!ok)
		return false;
	fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ok = connect(fd, (struct sockaddr *)&addr, len) == 0;
	close(fd);
	return ok;
}

/*
 * The unit, installed, enabled and (re)started; then, since systemd calls
 * a simple service started as soon as it forks, a wait for it to listen.
 */
static int
auth_unit_restart(const struct auth_session *s, struct strbuf *err)
{
	const char *listen = auth_target_listen(s->target);
	int i;

	if (auth_unit_install(s, err) != 0 ||
	    auth_systemctl("enable", AUTH_UNIT, NULL, err) != 0 ||
	    auth_systemctl("restart", AUTH_UNIT, NULL, err) != 0)
		return -1;
	for (i = 0; i < AUTH_START_SECONDS * 10; i++) {
		if (auth_listening(listen))
			return 0;
		auth_sleep_ms(100);
	}
	strbuf_addf(err,
	    "%s started, but nothing listens on %s after %d s (journalctl "
	    "-u %s says why)",
	    AUTH_UNIT, listen, AUTH_START_SECONDS, AUTH_UNIT);
	return -1;
}

/* Start the service, or restart it if it runs. */
static int
auth_service_restart(const struct auth_session *s, struct strbuf *err)
{
	if (s->systemd)
		return auth_unit_restart(s, err);
	if (auth_daemon_stop(s, err) != 0)
		return -1;
	return auth_daemon_start(s, auth_target_listen(s->target), err);
}

/* Have the service read auth.json again, if it runs. */
static int
auth_service_reload(const struct auth_session *s, struct strbuf *err)
{
	if (s->systemd)
		return auth_systemctl(
		    "try-reload-or-restart", AUTH_UNIT, NULL, err);
	return auth_daemon_reload(s, err);
}

static int
auth_service_stop(const struct auth_session *s, struct strbuf *err)
{
	if (!s->systemd)
		return auth_daemon_stop(s, err);
	if (auth_systemctl("disable", "--now", AUTH_UNIT, err) != 0)
		return -1;
	if (unlink(AUTH_UNIT_PATH) < 0 && errno != ENOENT) {
		strbuf_addf(err, "cannot remove '%s': %s", AUTH_UNIT_PATH,
		    strerror(errno));
		return -1;
	}
	return auth_systemctl("daemon-reload", NULL, NULL, err);
}

/* --- observation ---------------------------------------------------------- */

/* The service as it is: nothing when neither its unit (systemd) nor its
 * pid file (else) is there. */
static void
auth_observe_service(const struct auth_session *s, const cJSON *doc,
    const struct stat *st, struct observed_set *out)
{
	const cJSON *url = cJSON_GetObjectItemCaseSensitive(doc, "auth_url");
	const cJSON *listen = cJSON_GetObjectItemCaseSensitive(doc, "listen");
	struct strbuf unit = STRBUF_INIT, err = STRBUF_INIT;
	char *running_listen = NULL, mode[8] = "";
	bool running, owned = true;
	struct observed *o;
	pid_t pid = 0;

	if (s->systemd) {
		if (file_read(AUTH_UNIT_PATH, AUTH_SMALL_FILE, &unit, NULL,
			&err) == FILE_MISSING)
			goto out;
		owned = strncmp(unit.buf, AUTH_UNIT_MARK,
			    strlen(AUTH_UNIT_MARK)) == 0;
		running = auth_unit_active();
	} else {
		if (auth_pid_read(s, &pid, &running_listen, &err) ==
		    FILE_MISSING)
			goto out;
		running = auth_pid_is_ours(s, pid);
	}
	if (doc != NULL)
		snprintf(mode, sizeof(mode), "%04o",
		    (unsigned)(st->st_mode & 07777));
	o = observed_new(&provider_auth, &auth_service, AUTH_BINARY);
	o->owned = owned;
	cJSON_AddStringToObject(
	    o->spec, "auth_url", cJSON_IsString(url) ? url->valuestring : "");
	/* a reload does not move the daemon: it listens where it started */
	if (running && running_listen != NULL && *running_listen != '\0')
		cJSON_AddStringToObject(o->spec, "listen", running_listen);
	else
		cJSON_AddStringToObject(o->spec, "listen",
		    cJSON_IsString(listen) ? listen->valuestring : "");
	cJSON_AddStringToObject(o->spec, "keys", auth_keys_word(doc));
	cJSON_AddStringToObject(o->spec, "mode", mode);
	cJSON_AddStringToObject(
	    o->spec, "status", running ? "running" : "stopped");
	observed_set_add(out, o);
out:
	free(running_listen);
	strbuf_release(&unit);
	strbuf_release(&err);
}

static int
auth_observe(struct provider_call *call, const struct bots_target *target,
    struct observed_set *out)
{
	struct auth_session *s = call->session;
	const cJSON *section;
	cJSON *doc = NULL;
	struct stat st;

	(void)target;
	/* one read of auth.json for every allowlist, one look at the
	 * service */
	if (auth_doc_read(s, &doc, &st, &call->err) != 0)
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
	auth_observe_service(s, doc, &st, out);
	auth_doc_free(doc);
	return PROVIDER_OK;
}

/* --- changes -------------------------------------------------------------- */

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

	fd = auth_lock(s, &call->err);
	if (fd < 0)
		return PROVIDER_ERROR;
	if (auth_file_change(s, &change, &call->err) != 0)
		goto out;
	/* the address is read at start only */
	restart =
	    current == NULL ||
	    strcmp(auth_spec_str(current->spec, "status"), "running") != 0 ||
	    strcmp(auth_spec_str(current->spec, "listen"),
		auth_spec_str(desired->spec, "listen")) != 0;
	if ((restart ? auth_service_restart(s, &call->err)
		     : auth_service_reload(s, &call->err)) == 0)
		rc = PROVIDER_OK;
out:
	auth_unlock(fd);
	return rc;
}

/* Write an org's section (or drop it: allowlist NULL) and reload. */
static int
auth_allowlist_apply(
    struct provider_call *call, const char *org, const cJSON *allowlist)
{
	struct auth_session *s = call->session;
	struct auth_change change = { false, org, allowlist };
	int fd, rc = PROVIDER_ERROR;

	fd = auth_lock(s, &call->err);
	if (fd < 0)
		return PROVIDER_ERROR;
	if (auth_file_change(s, &change, &call->err) == 0 &&
	    auth_service_reload(s, &call->err) == 0)
		rc = PROVIDER_OK;
	auth_unlock(fd);
	return rc;
}

static int
auth_create(struct provider_call *call, const struct resource *desired)
{
	if (desired->kind == &auth_service)
		return auth_service_apply(call, desired, NULL);
	return auth_allowlist_apply(call, desired->name, desired->spec);
}

static int
auth_update(struct provider_call *call, const struct resource *desired,
    const struct observed *current)
{
	if (desired->kind == &auth_service)
		return auth_service_apply(call, desired, current);
	return auth_allowlist_apply(call, desired->name, desired->spec);
}

/*
 * Deleting the service stops it; auth.json stays, keys and all, for the
 * next org. With purge it goes too, but only when no org is left in it
 * (a --replace deletes with purge while the allowlists stay).
 */
static int
auth_delete_service(struct auth_session *s, bool purge, struct strbuf *err)
{
	cJSON *doc = NULL;
	const cJSON *orgs;
	int fd, rc = PROVIDER_ERROR;

	fd = auth_lock(s, err);
	if (fd < 0)
		return PROVIDER_ERROR;
	if (auth_service_stop(s, err) != 0)
		goto out;
	if (purge) {
		if (auth_doc_read(s, &doc, NULL, err) != 0)
			goto out;
		orgs = cJSON_GetObjectItemCaseSensitive(doc, "orgs");
		if (doc != NULL && cJSON_GetArraySize(orgs) == 0) {
			if (unlink(s->config) < 0 && errno != ENOENT) {
				strbuf_addf(err, "cannot remove '%s': %s",
				    s->config, strerror(errno));
				goto out;
			}
			(void)unlink(s->log_file);
		}
	}
	rc = PROVIDER_OK;
out:
	auth_doc_free(doc);
	auth_unlock(fd);
	return rc;
}

static int
auth_delete(
    struct provider_call *call, const struct observed *current, bool purge)
{
	if (current->kind == &auth_service)
		return auth_delete_service(call->session, purge, &call->err);
	return auth_allowlist_apply(call, current->name, NULL);
}

const struct provider provider_auth = {
	.name = "auth",
	.target_kind = "incus",
	.server = true,
	.kinds = auth_kinds,
	.max_concurrency = 0, /* local files: auth_lock orders the writes */
	.max_rate = 0,
	.burst = 0,
	.open = auth_open,
	.close = auth_close,
	.expand = auth_expand,
	.observe = auth_observe,
	.create = auth_create,
	.update = auth_update,
	.update_secret = NULL,
	.reregister = NULL,
	.delete = auth_delete,
};
