/* Saved plans. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "planfile.h"
#include "provider.h"
#include "xmalloc.h"

#define PLANFILE_FORMAT   "getbot-plan"
#define PLANFILE_VERSION  1
#define PLANFILE_MAX_SIZE (16 * 1024 * 1024)

/* A whole file, where a missing one is an error too. */
static int
planfile_read(const char *path, struct strbuf *content, struct strbuf *err)
{
	int rc = file_read(path, PLANFILE_MAX_SIZE, content, NULL, err);

	if (rc == FILE_MISSING)
		strbuf_addf(
		    err, "cannot open '%s': %s", path, strerror(ENOENT));
	return rc == 0 ? 0 : -1;
}

static int
planfile_config_digest(
    const char *config_path, char hex[65], struct strbuf *err)
{
	struct strbuf content = STRBUF_INIT;
	unsigned char digest[crypto_hash_sha256_BYTES];

	if (planfile_read(config_path, &content, err) != 0) {
		strbuf_release(&content);
		return -1;
	}
	crypto_hash_sha256(
	    digest, (const unsigned char *)content.buf, content.len);
	sodium_bin2hex(hex, 65, digest, sizeof(digest));
	strbuf_release(&content);
	return 0;
}

static cJSON *
planfile_strings(const char *const *values, size_t n)
{
	cJSON *array = cJSON_CreateArray();
	size_t i;

	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(array, cJSON_CreateString(values[i]));
	return array;
}

static bool
planfile_has(const cJSON *array, const char *value)
{
	const cJSON *item;

	cJSON_ArrayForEach (item, array) {
		if (cJSON_IsString(item) &&
		    strcmp(item->valuestring, value) == 0)
			return true;
	}
	return false;
}

int
planfile_save(const char *path, const struct plan *plan,
    const struct plan_options *options, const char *config_path,
    const char *config_name, const struct state *state, struct strbuf *err)
{
	cJSON *root = cJSON_CreateObject(), *sub, *actions, *only, *pairs;
	char digest[65], *text = NULL, *tmp = NULL, *pair;
	size_t i, len;
	int fd = -1, rc = -1, k;

	if (planfile_config_digest(config_path, digest, err) != 0)
		goto out;
	cJSON_AddStringToObject(root, "format", PLANFILE_FORMAT);
	cJSON_AddNumberToObject(root, "version", PLANFILE_VERSION);
	sub = cJSON_AddObjectToObject(root, "config");
	cJSON_AddStringToObject(sub, "path", config_name);
	cJSON_AddStringToObject(sub, "sha256", digest);
	sub = cJSON_AddObjectToObject(root, "state");
	cJSON_AddStringToObject(sub, "lineage", state_lineage(state));
	cJSON_AddNumberToObject(sub, "serial", (double)state_serial(state));
	sub = cJSON_AddObjectToObject(root, "options");
	cJSON_AddItemToObject(sub, "replace",
	    planfile_strings(options->replace, options->nreplace));
	cJSON_AddItemToObject(
	    sub, "orgs", planfile_strings(options->orgs, options->norgs));
	cJSON_AddItemToObject(sub, "excludes",
	    planfile_strings(options->excludes, options->nexcludes));
	only = cJSON_AddArrayToObject(sub, "only");
	for (k = 0; k < ACTION_KIND_COUNT; k++)
		if (options->only & (1u << k))
			cJSON_AddItemToArray(
			    only, cJSON_CreateString(action_kind_name(k)));
	if (options->only_drift)
		cJSON_AddItemToArray(only, cJSON_CreateString("drift"));
	cJSON_AddBoolToObject(sub, "allow_deletes", options->allow_deletes);
	actions = cJSON_AddArrayToObject(root, "actions");
	pairs = cJSON_AddArrayToObject(root, "pairs");
	for (i = 0; i < plan->count; i++) {
		const struct plan_action *a = &plan->actions[i];
		const struct provider *provider =
		    a->desired ? a->desired->provider : a->observed->provider;
		const struct bots_target *target =
		    a->desired ? a->desired->target : a->observed->target;
		cJSON *item = cJSON_CreateObject();

		cJSON_AddStringToObject(
		    item, "action", action_kind_name(a->kind));
		cJSON_AddStringToObject(item, "address", a->address);
		cJSON_AddStringToObject(item, "provider", provider->name);
		cJSON_AddStringToObject(item, "target", target->name);
		cJSON_AddStringToObject(item, "reason", a->reason);
		if (a->observed != NULL)
			cJSON_AddStringToObject(
			    item, "observed", a->observed->version);
		else
			cJSON_AddNullToObject(item, "observed");
		cJSON_AddItemToArray(actions, item);
		pair = xasprintf("%s %s", provider->name, target->name);
		if (!planfile_has(pairs, pair))
			cJSON_AddItemToArray(pairs, cJSON_CreateString(pair));
		free(pair);
	}
	text = cJSON_Print(root);
	len = strlen(text);
	tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len ||
	    write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
		strbuf_addf(err, "cannot write '%s': %s", tmp, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) != 0) {
		strbuf_addf(err, "cannot rename '%s' to '%s': %s", tmp, path,
		    strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(text);
	cJSON_Delete(root);
	return rc;
}

int
planfile_load(const char *path, const char *config_path,
    const char *config_name, cJSON **out, struct strbuf *err)
{
	struct strbuf content = STRBUF_INIT;
	cJSON *root = NULL;
	const cJSON *format, *version, *sha;
	char digest[65];
	int rc = -1;

	*out = NULL;
	if (planfile_read(path, &content, err) != 0)
		goto out;
	root = cJSON_ParseWithLength(content.buf, content.len);
	format = cJSON_GetObjectItemCaseSensitive(root, "format");
	version = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (!cJSON_IsString(format) ||
	    strcmp(format->valuestring, PLANFILE_FORMAT) != 0) {
		strbuf_addf(
		    err, "'%s' is not a plan saved by getbot plan -out", path);
		goto out;
	}
	if (!cJSON_IsNumber(version) || version->valueint != PLANFILE_VERSION) {
		strbuf_addf(
		    err, "'%s' is a plan of another getbot version", path);
		goto out;
	}
	sha = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "config"), "sha256");
	if (planfile_config_digest(config_path, digest, err) != 0)
		goto out;
	if (!cJSON_IsString(sha) || strcmp(sha->valuestring, digest) != 0) {
		strbuf_addf(err,
		    "'%s' has changed since the plan was saved; plan again",
		    config_name);
		goto out;
	}
	*out = root;
	root = NULL;
	rc = 0;
out:
	cJSON_Delete(root);
	strbuf_release(&content);
	return rc;
}

/* The strings of a JSON array (borrowed) into an allocated array. */
static size_t
planfile_list(const cJSON *array, const char ***list)
{
	const cJSON *item;
	size_t n = 0;

	*list = xcalloc((size_t)cJSON_GetArraySize(array) + 1, sizeof(**list));
	cJSON_ArrayForEach (item, array) {
		if (cJSON_IsString(item))
			(*list)[n++] = item->valuestring;
	}
	return n;
}

void
planfile_options(
    const cJSON *saved, struct plan_options *options, const char **lists[3])
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(saved, "options");
	const cJSON *item;

	memset(options, 0, sizeof(*options));
	options->nreplace = planfile_list(
	    cJSON_GetObjectItemCaseSensitive(o, "replace"), &lists[0]);
	options->replace = lists[0];
	options->norgs = planfile_list(
	    cJSON_GetObjectItemCaseSensitive(o, "orgs"), &lists[1]);
	options->orgs = lists[1];
	options->nexcludes = planfile_list(
	    cJSON_GetObjectItemCaseSensitive(o, "excludes"), &lists[2]);
	options->excludes = lists[2];
	options->allow_deletes =
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "allow_deletes"));
	cJSON_ArrayForEach (item, cJSON_GetObjectItemCaseSensitive(o, "only")) {
		int kind;

		if (!cJSON_IsString(item))
			continue;
		kind = action_kind_parse(item->valuestring);
		if (kind >= 0)
			options->only |= 1u << kind;
		else if (strcmp(item->valuestring, "drift") == 0)
			options->only_drift = true;
	}
}

size_t
planfile_pairs(const cJSON *saved, const char ***pairs)
{
	return planfile_list(
	    cJSON_GetObjectItemCaseSensitive(saved, "pairs"), pairs);
}

/* The saved action for address, or NULL. */
static const cJSON *
planfile_find(const cJSON *actions, const char *address)
{
	const cJSON *a;

	cJSON_ArrayForEach (a, actions) {
		const cJSON *addr =
		    cJSON_GetObjectItemCaseSensitive(a, "address");

		if (cJSON_IsString(addr) &&
		    strcmp(addr->valuestring, address) == 0)
			return a;
	}
	return NULL;
}

int
planfile_check(const cJSON *saved, const struct plan *plan,
    const struct state *state, struct strbuf *err)
{
	const cJSON *actions =
	    cJSON_GetObjectItemCaseSensitive(saved, "actions");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(saved, "state");
	const cJSON *lineage = cJSON_GetObjectItemCaseSensitive(st, "lineage");
	const cJSON *serial = cJSON_GetObjectItemCaseSensitive(st, "serial");
	const cJSON *a;
	size_t i;

	if (!cJSON_IsString(lineage) ||
	    strcmp(lineage->valuestring, state_lineage(state)) != 0 ||
	    !cJSON_IsNumber(serial) ||
	    (long)serial->valuedouble != state_serial(state)) {
		strbuf_addf(err,
		    "the plan is stale: the state has changed since it was "
		    "saved (serial %ld now); plan again",
		    state_serial(state));
		return -1;
	}
	for (i = 0; i < plan->count; i++) {
		const struct plan_action *now = &plan->actions[i];
		const cJSON *was = planfile_find(actions, now->address);
		const cJSON *kind =
		    cJSON_GetObjectItemCaseSensitive(was, "action");
		const cJSON *version =
		    cJSON_GetObjectItemCaseSensitive(was, "observed");

		if (was == NULL || !cJSON_IsString(kind) ||
		    strcmp(kind->valuestring, action_kind_name(now->kind)) !=
			0) {
			strbuf_addf(err,
			    "the plan is stale: %s now needs %s, which the "
			    "saved plan does not have; plan again",
			    now->address, action_kind_name(now->kind));
			return -1;
		}
		if ((now->observed == NULL) != !cJSON_IsString(version) ||
		    (now->observed != NULL && strcmp(now->observed->version,
						  version->valuestring) != 0)) {
			strbuf_addf(err,
			    "the plan is stale: %s has changed since the plan "
			    "was saved; plan again",
			    now->address);
			return -1;
		}
	}
	cJSON_ArrayForEach (a, actions) {
		const cJSON *addr =
		    cJSON_GetObjectItemCaseSensitive(a, "address");
		bool found = false;

		for (i = 0; i < plan->count && !found; i++)
			found = cJSON_IsString(addr) &&
				strcmp(plan->actions[i].address,
				    addr->valuestring) == 0;
		if (!found) {
			strbuf_addf(err,
			    "the plan is stale: %s no longer needs the change "
			    "saved for it; plan again",
			    cJSON_IsString(addr) ? addr->valuestring : "?");
			return -1;
		}
	}
	return 0;
}
