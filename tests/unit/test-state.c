/* The state file, the intent journal and the lock with a lease. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "state.h"
#include "strbuf.h"
#include "tap.h"
#include "xmalloc.h"

static char scratch[] = "/tmp/getbot-test-state.XXXXXX";

/* The local backend's state at path. */
static const struct state_where *
at(const char *path)
{
	static struct state_where where;

	memset(&where, 0, sizeof(where));
	where.path = path;
	return &where;
}

/* A fresh directory for one test; its state path is DIR/.getbot/state.json,
 * and .getbot does not exist yet. The caller frees it. */
static char *
state_path_for(const char *test)
{
	char *dir = xasprintf("%s/%s", scratch, test);

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		perror(dir);
	free(dir);
	return xasprintf("%s/%s/.getbot/state.json", scratch, test);
}

/* path + suffix; the caller frees it. */
static char *
suffixed(const char *path, const char *suffix)
{
	return xasprintf("%s%s", path, suffix);
}

/* The whole of a file, or NULL if it cannot be read. */
static char *
slurp(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	char chunk[4096];
	ssize_t got;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	while ((got = read(fd, chunk, sizeof(chunk))) > 0)
		strbuf_add(&sb, chunk, (size_t)got);
	close(fd);
	return strbuf_detach(&sb, NULL);
}

/* Write text to path with mode, creating its directory (0700). */
static void
spew(const char *path, const char *text, mode_t mode)
{
	char *dir = xstrdup(path);
	int fd;

	*strrchr(dir, '/') = '\0';
	(void)mkdir(dir, 0700);
	free(dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		perror(path);
	if (fd >= 0)
		close(fd);
	(void)chmod(path, mode);
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static unsigned
mode_of(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return 0;
	return (unsigned)(st.st_mode & 07777);
}

/* s for a message: never NULL. */
static const char *
show(const char *s)
{
	return s != NULL ? s : "(null)";
}

static bool
contains(const char *haystack, const char *needle)
{
	return haystack != NULL && strstr(haystack, needle) != NULL;
}

/* Whether s looks like a version 4 UUID. */
static bool
is_uuid_v4(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (strchr("0123456789abcdef", s[i]) == NULL) {
			return false;
		}
	}
	return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

/* Remove dir and everything under it (no symlinks are followed). */
static void
remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		char *path;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			remove_tree(path);
		else
			(void)unlink(path);
		free(path);
	}
	closedir(d);
	(void)rmdir(dir);
}

/* Load path, which must succeed. */
static struct state *
load_ok(const char *path)
{
	struct strbuf err = STRBUF_INIT;
	struct state *state = NULL;

	if (state_load(path, &state, &err) < 0)
		printf("# unexpected: %s\n", err.buf);
	strbuf_release(&err);
	return state;
}

/* Load path, which must fail; returns the message (the caller frees). */
static char *
load_error(const char *path)
{
	struct strbuf err = STRBUF_INIT;
	struct state *state = NULL;
	int rc = state_load(path, &state, &err);

	is_int(rc, -1, "loading it fails");
	ok(state == NULL, "and gives no state");
	state_free(state);
	return strbuf_detach(&err, NULL);
}

static int
save(struct state *state)
{
	struct strbuf err = STRBUF_INIT;
	int rc = state_save(state, &err);

	if (rc < 0)
		printf("# save failed: %s\n", err.buf);
	strbuf_release(&err);
	return rc;
}

/* A lock file as another process would have written it. */
static void
write_lease(const char *state_path, const char *id, long long started,
    long long expires)
{
	char *lock_path = suffixed(state_path, ".lock");
	char *text = xasprintf("{\"id\": \"%s\", \"owner\": \"mallory\", "
			       "\"host\": \"elsewhere\", \"pid\": 31337, "
			       "\"started\": %lld, \"expires\": %lld, "
			       "\"operation\": \"apply\"}\n",
	    id, started, expires);

	spew(lock_path, text, 0600);
	free(text);
	free(lock_path);
}

/* Make the lease in the lock file expire, as if its holder hung. */
static void
expire_lease(const char *state_path)
{
	char *lock_path = suffixed(state_path, ".lock");
	char *text = slurp(lock_path);
	cJSON *lease = text != NULL ? cJSON_Parse(text) : NULL;
	char *printed;

	cJSON_ReplaceItemInObjectCaseSensitive(
	    lease, "expires", cJSON_CreateNumber((double)(time(NULL) - 5)));
	printed = cJSON_Print(lease);
	spew(lock_path, printed, 0600);
	cJSON_free(printed);
	cJSON_Delete(lease);
	free(text);
	free(lock_path);
}

static double
seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void
test_state__missing_file_is_empty_with_lineage(void)
{
	char *path = state_path_for("missing");
	struct state *state = load_ok(path), *again = load_ok(path);
	size_t n = 99;

	ok(state != NULL, "a missing state file loads");
	ok(is_uuid_v4(state_lineage(state)),
	    "with a new lineage, a UUID v4 ('%s')", state_lineage(state));
	ok(strcmp(state_lineage(state), state_lineage(again)) != 0,
	    "each new state has its own lineage");
	is_int(state_serial(state), 0, "serial 0");
	ok(state_commit(state) == NULL, "no commit");
	ok(state_addresses(state, &n)[0] == NULL && n == 0, "no resources");
	is_int(cJSON_GetArraySize(state_unfinished(state)), 0,
	    "nothing unfinished");
	is_str(state_path(state), path, "it keeps its path");
	ok(!exists(path), "loading writes nothing");
	state_free(state);
	state_free(again);
	free(path);
}

static void
test_state__save_round_trip_keeps_lineage_and_bumps_serial(void)
{
	char *path = state_path_for("round-trip");
	struct state *state = load_ok(path), *loaded;
	char *lineage = xstrdup(state_lineage(state));

	state_set_commit(state, "0123456789abcdef0123456789abcdef01234567");
	is_int(save(state), 0, "the first save succeeds");
	is_int(state_serial(state), 1, "and makes serial 1");
	loaded = load_ok(path);
	ok(loaded != NULL, "the saved file loads");
	is_str(state_lineage(loaded), lineage, "with the same lineage");
	is_int(state_serial(loaded), 1, "and serial");
	is_str(state_commit(loaded), "0123456789abcdef0123456789abcdef01234567",
	    "and commit");
	state_set_commit(loaded, NULL);
	is_int(save(loaded), 0, "saving it again succeeds");
	state_free(loaded);
	loaded = load_ok(path);
	is_int(state_serial(loaded), 2, "each save bumps the serial");
	ok(state_commit(loaded) == NULL,
	    "a cleared commit is saved as unknown");
	is_str(state_lineage(loaded), lineage, "the lineage never changes");
	state_free(loaded);
	state_free(state);
	free(lineage);
	free(path);
}

static void
test_state__save_is_atomic_and_0600(void)
{
	char *path = state_path_for("atomic");
	char *dir = xstrndup(path, (size_t)(strrchr(path, '/') - path));
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	struct state *state = load_ok(path);
	struct strbuf err = STRBUF_INIT;
	char *before, *after;
	DIR *d;
	struct dirent *e;
	int entries = 0;

	is_int(save(state), 0, "save creates the missing directory");
	is_int(mode_of(dir), 0700, "the directory is mode 0700");
	is_int(mode_of(path), 0600, "the file is mode 0600");
	d = opendir(dir);
	while (d != NULL && (e = readdir(d)) != NULL)
		entries += e->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	is_int(entries, 1, "no temporary file is left behind");

	/* A temporary file in the way makes the save fail before the
	 * rename: the old file is untouched. */
	before = slurp(path);
	spew(tmp, "in the way", 0600);
	state_set_commit(state, "feedface");
	is_int(state_save(state, &err), -1, "a save that cannot finish fails");
	ok(contains(err.buf, tmp), "naming the temporary file (%s)", err.buf);
	after = slurp(path);
	is_str(after, before, "and the old file is left as it was");
	is_int(state_serial(state), 1, "the serial in memory is unchanged");
	ok(exists(tmp), "someone else's temporary file is not removed");
	(void)unlink(tmp);
	is_int(save(state), 0, "once it is gone, saving works");
	is_int(state_serial(state), 2, "and bumps the serial");
	state_free(state);
	strbuf_release(&err);
	free(before);
	free(after);
	free(tmp);
	free(dir);
	free(path);
}

static void
test_state__save_creates_one_directory_level_only(void)
{
	char *base = state_path_for("one-level");
	char *path = xasprintf("%s/deeper/.getbot/state.json", scratch);
	struct state *state = load_ok(path);
	struct strbuf err = STRBUF_INIT;

	is_int(state_save(state, &err), -1,
	    "a state path two missing directories deep is refused");
	ok(contains(err.buf, "cannot create directory"), "and says why (%s)",
	    err.buf);
	state_free(state);
	strbuf_release(&err);
	free(path);
	free(base);
}

static void
test_state__resources_set_get_remove_sorted(void)
{
	char *path = state_path_for("resources");
	struct state *state = load_ok(path), *loaded;
	cJSON *spec = cJSON_Parse("{\"image\": \"openclaw:1\", \"limits\": "
				  "{\"memory\": \"2GiB\", \"cpu\": 2}}");
	cJSON *fingerprints = cJSON_Parse(
	    "{\"ANTHROPIC_API_KEY\": \"3f2a91c0\", \"A_TOKEN\": \"9c1d02be\"}");
	const char *const *addrs;
	const cJSON *entry;
	size_t n;

	state_set_resource(
	    state, "docker.bot.acme/marketing", "docker", spec, fingerprints);
	state_set_resource(state, "incus.container.acme", "incus", spec, NULL);
	state_set_resource(
	    state, "caddy.route.acme/marketing", "caddy", NULL, NULL);
	state_set_resource(state, "auth.allowlist.acme", "auth", NULL, NULL);
	state_set_resource(state, "zz.last", "z", NULL, NULL);
	addrs = state_addresses(state, &n);
	is_int(n, 5, "five resources");
	is_str(addrs[0], "auth.allowlist.acme", "sorted: first");
	is_str(addrs[1], "caddy.route.acme/marketing", "sorted: second");
	is_str(addrs[2], "docker.bot.acme/marketing", "sorted: third");
	is_str(addrs[3], "incus.container.acme", "sorted: fourth");
	is_str(addrs[4], "zz.last", "sorted: last");
	ok(addrs[5] == NULL, "NULL-terminated");

	entry = state_resource(state, "docker.bot.acme/marketing");
	is_str(cJSON_GetStringValue(
		   cJSON_GetObjectItemCaseSensitive(entry, "provider")),
	    "docker", "get returns the provider");
	ok(cJSON_Compare(
	       cJSON_GetObjectItemCaseSensitive(entry, "spec"), spec, 1),
	    "and the spec");
	ok(cJSON_Compare(
	       cJSON_GetObjectItemCaseSensitive(entry, "fingerprints"),
	       fingerprints, 1),
	    "and the fingerprints");
	is_int(cJSON_GetNumberValue(
		   cJSON_GetObjectItemCaseSensitive(entry, "serial")),
	    1, "and the serial of the save that records it");
	cJSON_ReplaceItemInObjectCaseSensitive(
	    spec, "image", cJSON_CreateString("changed"));
	is_str(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		   cJSON_GetObjectItemCaseSensitive(entry, "spec"), "image")),
	    "openclaw:1", "the spec was copied");
	ok(state_resource(state, "docker.bot.acme") == NULL,
	    "an unknown address gives NULL");

	state_set_resource(
	    state, "caddy.route.acme/marketing", "caddy", spec, NULL);
	addrs = state_addresses(state, &n);
	is_int(n, 5, "replacing a resource does not add one");
	is_str(addrs[1], "caddy.route.acme/marketing", "nor moves it");
	state_remove_resource(state, "auth.allowlist.acme");
	state_remove_resource(state, "zz.last");
	state_remove_resource(state, "not.there");
	addrs = state_addresses(state, &n);
	is_int(n, 3, "removing two leaves three");
	is_str(addrs[0], "caddy.route.acme/marketing", "still sorted");

	is_int(save(state), 0, "resources are saved");
	loaded = load_ok(path);
	addrs = state_addresses(loaded, &n);
	is_int(n, 3, "and load back");
	is_str(addrs[2], "incus.container.acme", "in order");
	ok(cJSON_Compare(state_resource(loaded, "incus.container.acme"),
	       state_resource(state, "incus.container.acme"), 1),
	    "with what was set");
	state_free(loaded);
	state_free(state);
	cJSON_Delete(spec);
	cJSON_Delete(fingerprints);
	free(path);
}

static void
test_state__file_is_pretty_and_in_a_stable_order(void)
{
	char *path = state_path_for("stable");
	struct state *state = load_ok(path), *loaded;
	cJSON *spec = cJSON_Parse("{\"b\": 1, \"a\": {\"d\": 1, \"c\": 2}}");
	char *first, *second, *p;

	state_set_resource(state, "b.addr", "p", spec, NULL);
	state_set_resource(state, "a.addr", "p", spec, NULL);
	save(state);
	first = slurp(path);
	ok(contains(first, "\n\t\"version\":\t1,\n\t\"lineage\":"),
	    "pretty-printed, version first");
	ok(first != NULL &&
		strstr(first, "\"a.addr\"") < strstr(first, "\"b.addr\""),
	    "resources sorted by address");
	ok(first != NULL && strstr(first, "\"a\":") < strstr(first, "\"b\":") &&
		strstr(first, "\"c\":") < strstr(first, "\"d\":"),
	    "spec keys sorted at every level");
	ok(first != NULL &&
		strstr(first, "\"provider\"") < strstr(first, "\"spec\"") &&
		strstr(first, "\"spec\"") < strstr(first, "\"fingerprints\""),
	    "a resource's members in a fixed order");
	ok(first != NULL && first[strlen(first) - 1] == '\n',
	    "the file ends with a newline");

	/* Load and save: only the serial changes. */
	loaded = load_ok(path);
	save(loaded);
	second = slurp(path);
	p = first != NULL ? strstr(first, "\"serial\":\t1,") : NULL;
	if (p != NULL)
		p[10] = '2';
	is_str(second, first, "a load and save changes only the serial");
	state_free(loaded);
	state_free(state);
	cJSON_Delete(spec);
	free(first);
	free(second);
	free(path);
}

static void
test_state__refuses_a_file_others_can_read(void)
{
	char *path = state_path_for("mode");
	struct state *state = load_ok(path);
	char *err;

	save(state);
	chmod(path, 0644);
	err = load_error(path);
	ok(contains(err, path), "the message names the file (%s)", show(err));
	ok(contains(err, "0644"), "and its mode");
	ok(contains(err, "chmod 600"), "and how to fix it");
	is_int(mode_of(path), 0644, "the file is not changed");
	free(err);
	chmod(path, 0640);
	err = load_error(path);
	ok(contains(err, "0640"), "group-readable is refused too");
	free(err);
	state_free(state);
	free(path);
}

static void
test_state__refuses_a_newer_version(void)
{
	char *path = state_path_for("newer");
	char *err;

	spew(path, "{\"version\": 2, \"lineage\": \"x\", \"future\": true}\n",
	    0600);
	err = load_error(path);
	ok(contains(err, "written by a newer getbot"), "says why (%s)",
	    show(err));
	ok(contains(err, path), "and names the file");
	free(err);
	free(path);
}

static void
test_state__refuses_garbage(void)
{
	char *path = state_path_for("garbage");
	char *err;

	spew(path, "{\"version\": 1,\n  \"lineage\": nope}\n", 0600);
	err = load_error(path);
	ok(contains(err, "not valid JSON"), "garbage is refused (%s)",
	    show(err));
	ok(contains(err, "line 2"), "with where it went wrong");
	ok(contains(err, path), "naming the file");
	free(err);
	spew(path, "{\"version\": 1} trailing", 0600);
	err = load_error(path);
	ok(contains(err, "not valid JSON"), "trailing garbage too (%s)",
	    show(err));
	free(err);
	spew(path, "", 0600);
	err = load_error(path);
	ok(contains(err, "is empty"), "an empty file too (%s)", show(err));
	free(err);
	spew(path, "[1, 2]", 0600);
	err = load_error(path);
	ok(contains(err, "not a JSON object"), "a non-object too (%s)",
	    show(err));
	free(err);
	free(path);
}

/* A version 1 file whose body is BODY after lineage and serial. */
static void
expect_invalid(const char *path, const char *body, const char *want)
{
	char *text = xasprintf("{\"version\": 1, \"lineage\": \"l\", "
			       "\"serial\": 3, %s}",
	    body);
	char *err;

	spew(path, text, 0600);
	err = load_error(path);
	ok(contains(err, want), "'%s' is named (%s)", want, err);
	free(err);
	free(text);
}

static void
test_state__invalid_structure_names_the_field(void)
{
	char *path = state_path_for("invalid");
	const char *good_entry =
	    "{\"id\": \"i\", \"address\": \"a\", \"action\": \"create\", "
	    "\"status\": \"intended\", \"started\": 1, \"ended\": null, "
	    "\"error\": null}";
	char *body;

	expect_invalid(path,
	    "\"commit\": null, \"resources\": {}, \"journal\": [], \"x\": 1",
	    "x: unknown field");
	expect_invalid(
	    path, "\"commit\": null, \"resources\": {}", "journal: missing");
	expect_invalid(path,
	    "\"commit\": 7, \"resources\": {}, \"journal\": []",
	    "commit: expected a non-empty string or null");
	expect_invalid(path,
	    "\"commit\": null, \"resources\": [], \"journal\": []",
	    "resources: expected an object");
	expect_invalid(path,
	    "\"commit\": null, \"resources\": {\"docker.bot.acme/m\": "
	    "{\"provider\": 1, \"spec\": {}, \"fingerprints\": {}, "
	    "\"serial\": 1}}, \"journal\": []",
	    "resources[\"docker.bot.acme/m\"].provider: expected a non-empty "
	    "string");
	expect_invalid(path,
	    "\"commit\": null, \"resources\": {\"a\": {\"provider\": \"p\", "
	    "\"spec\": {}, \"fingerprints\": {\"K\": 1}, \"serial\": 1}}, "
	    "\"journal\": []",
	    "resources.a.fingerprints.K: expected a string");
	expect_invalid(path,
	    "\"commit\": null, \"resources\": {\"a\": {\"provider\": \"p\", "
	    "\"spec\": {}, \"fingerprints\": {}, \"serial\": -1}}, "
	    "\"journal\": []",
	    "resources.a.serial: expected an integer >= 0");
	expect_invalid(path,
	    "\"commit\": null, \"resources\": {\"a\": {\"provider\": \"p\", "
	    "\"spec\": {}, \"serial\": 1}}, \"journal\": []",
	    "resources.a.fingerprints: missing");
	body = xasprintf("\"commit\": null, \"resources\": {}, \"journal\": "
			 "[%s, {\"id\": \"j\", \"address\": \"a\", "
			 "\"action\": \"create\", \"status\": \"maybe\", "
			 "\"started\": 1, \"ended\": null, \"error\": null}]",
	    good_entry);
	expect_invalid(path, body, "journal[1].status");
	free(body);
	body = xasprintf("\"commit\": null, \"resources\": {}, \"journal\": "
			 "[%s, {\"id\": \"j\"}]",
	    good_entry);
	expect_invalid(path, body, "journal[1].address: missing");
	free(body);
	expect_invalid(path,
	    "\"serial\": 4, \"commit\": null, \"resources\": {}, "
	    "\"journal\": []",
	    "serial: repeated");
	spew(path, "{\"lineage\": \"l\"}", 0600);
	body = load_error(path);
	ok(contains(body, "version: missing"), "a missing version is named");
	free(body);
	free(path);
}

/* A resource set while a provenance is given carries it, and it survives
 * a save and a load; one set without keeps none. */
static void
test_state__resource_records_its_commit(void)
{
	char *path = state_path_for("provenance");
	struct strbuf err = STRBUF_INIT;
	struct state *state = NULL;
	cJSON *commit = cJSON_CreateObject();
	const cJSON *got;

	cJSON_AddStringToObject(commit, "subject", "Add scout");
	cJSON_AddStringToObject(commit, "sha", "0123abcd");
	cJSON_AddStringToObject(commit, "date", "2026-01-02T03:04:05Z");
	cJSON_AddStringToObject(commit, "author", "Ann <ann@example.com>");
	ok(state_load(path, &state, &err) == 0, "load an empty state");
	state_set_provenance(state, commit);
	state_set_resource(state, "a", "p", NULL, NULL);
	state_set_provenance(state, NULL);
	state_set_resource(state, "b", "p", NULL, NULL);
	ok(state_save(state, &err) == 0, "save (%s)", err.buf);
	state_free(state);
	state = NULL;
	ok(state_load(path, &state, &err) == 0, "load it again (%s)", err.buf);
	got = cJSON_GetObjectItemCaseSensitive(
	    state != NULL ? state_resource(state, "a") : NULL, "commit");
	ok(got != NULL && cJSON_Compare(got, commit, true) &&
		strcmp(got->child->string, "sha") == 0,
	    "a carries the commit, sha first");
	ok(state != NULL && cJSON_GetObjectItemCaseSensitive(
				state_resource(state, "b"), "commit") == NULL,
	    "b, set without a commit, has none");
	state_free(state);
	cJSON_Delete(commit);
	strbuf_release(&err);
	free(path);
}

/* Files written before resources had a commit load as they are; a commit
 * with an unknown or missing field is refused, naming it. */
static void
test_state__resource_commit_is_optional_and_checked(void)
{
	char *path = state_path_for("provenance-old");
	struct strbuf err = STRBUF_INIT;
	struct state *state = NULL;

	spew(path,
	    "{\"version\": 1, \"lineage\": \"l\", \"serial\": 3, "
	    "\"commit\": \"abc\", \"resources\": {\"a\": {\"provider\": "
	    "\"p\", \"spec\": {}, \"fingerprints\": {}, \"serial\": 1}}, "
	    "\"journal\": []}",
	    0600);
	ok(state_load(path, &state, &err) == 0 && state_resource(state, "a"),
	    "a state file without per-resource commits loads (%s)", err.buf);
	state_free(state);
	expect_invalid(path,
	    "\"commit\": null, \"resources\": {\"a\": {\"provider\": \"p\", "
	    "\"spec\": {}, \"fingerprints\": {}, \"serial\": 1, \"commit\": "
	    "{\"sha\": \"s\", \"author\": \"a\", \"date\": \"d\", "
	    "\"subject\": \"x\", \"branch\": \"main\"}}}, \"journal\": []",
	    "resources.a.commit.branch: unknown field");
	expect_invalid(path,
	    "\"commit\": null, \"resources\": {\"a\": {\"provider\": \"p\", "
	    "\"spec\": {}, \"fingerprints\": {}, \"serial\": 1, \"commit\": "
	    "{\"sha\": \"s\", \"author\": \"a\", \"subject\": \"x\"}}}, "
	    "\"journal\": []",
	    "resources.a.commit.date: missing");
	expect_invalid(path,
	    "\"commit\": null, \"resources\": {\"a\": {\"provider\": \"p\", "
	    "\"spec\": {}, \"fingerprints\": {}, \"serial\": 1, \"commit\": "
	    "{\"sha\": 1, \"author\": \"a\", \"date\": \"d\", "
	    "\"subject\": \"x\"}}}, \"journal\": []",
	    "resources.a.commit.sha: expected a non-empty string");
	expect_invalid(path,
	    "\"commit\": null, \"resources\": {\"a\": {\"provider\": \"p\", "
	    "\"spec\": {}, \"fingerprints\": {}, \"serial\": 1, \"origin\": "
	    "1}}, \"journal\": []",
	    "resources.a.origin: unknown field");
	strbuf_release(&err);
	free(path);
}

static void
test_state__journal_intend_complete_unfinished(void)
{
	char *path = state_path_for("journal");
	struct state *state = load_ok(path), *loaded;
	struct strbuf err = STRBUF_INIT;
	char *create = NULL, *update = NULL;
	const cJSON *unfinished, *entry;
	long before;

	is_int(
	    state_intend(state, "docker.bot.acme/m", "create", &create, &err),
	    0, "intend succeeds");
	ok(is_uuid_v4(create), "and gives a UUID id");
	is_int(state_serial(state), 1, "and saves at once");
	before = state_serial(state);
	is_int(
	    state_intend(state, "caddy.route.acme/m", "update", &update, &err),
	    0, "a second intent");
	is_int(state_serial(state), before + 1, "saves again");
	unfinished = state_unfinished(state);
	is_int(cJSON_GetArraySize(unfinished), 2, "both are unfinished");
	entry = cJSON_GetArrayItem(unfinished, 0);
	is_str(
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "id")),
	    create, "oldest first");
	is_str(cJSON_GetStringValue(
		   cJSON_GetObjectItemCaseSensitive(entry, "address")),
	    "docker.bot.acme/m", "with the address");
	is_str(cJSON_GetStringValue(
		   cJSON_GetObjectItemCaseSensitive(entry, "action")),
	    "create", "and the action");
	ok(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(
	       entry, "started")) >= (double)time(NULL) - 5,
	    "and when it started");

	is_int(state_complete(state, create, true, NULL, &err), 0,
	    "complete (done) succeeds");
	is_int(state_complete(state, update, false,
		   "docker: conflict: container name in use", &err),
	    0, "complete (failed) succeeds");
	is_int(cJSON_GetArraySize(state_unfinished(state)), 0,
	    "nothing is unfinished");
	is_int(state_complete(state, create, false, NULL, &err), -1,
	    "an entry cannot be completed twice");
	ok(contains(err.buf, "already done"), "and says so (%s)", err.buf);
	strbuf_reset(&err);
	is_int(state_complete(state, "no-such-id", true, NULL, &err), -1,
	    "an unknown id is refused");
	ok(contains(err.buf, "no-such-id"), "naming it (%s)", err.buf);

	loaded = load_ok(path);
	is_int(state_serial(loaded), state_serial(state),
	    "every change was saved");
	is_int(cJSON_GetArraySize(state_unfinished(loaded)), 0,
	    "the completions were saved");
	state_free(loaded);
	{
		char *text = slurp(path);

		ok(contains(text, "\"status\":\t\"failed\"") &&
			contains(text, "container name in use"),
		    "the failure and its message are in the file");
		ok(contains(text, "\"status\":\t\"done\""), "and the success");
		free(text);
	}
	state_free(state);
	strbuf_release(&err);
	free(create);
	free(update);
	free(path);
}

static void
test_state__long_error_is_cut(void)
{
	char *path = state_path_for("long-error");
	struct state *state = load_ok(path);
	struct strbuf err = STRBUF_INIT, message = STRBUF_INIT;
	const cJSON *entry;
	char *id = NULL;
	size_t i;

	for (i = 0; i < 3000; i++)
		strbuf_addstr(&message, "\xc3\xa9"); /* é */
	state_intend(state, "a", "create", &id, &err);
	is_int(state_complete(state, id, false, message.buf, &err), 0,
	    "a 6000-byte error is accepted");
	state_journal_trim(state, 1);
	entry = cJSON_GetArrayItem(state_unfinished(state), 0);
	ok(entry == NULL, "(it is resolved)");
	{
		struct state *loaded = load_ok(path);
		char *text = slurp(path);
		const char *start =
		    text != NULL ? strstr(text, "\xc3\xa9") : NULL;
		const char *end = start != NULL ? strchr(start, '"') : NULL;

		ok(end != NULL && end - start == 4096,
		    "and cut to 4096 bytes, whole characters");
		free(text);
		state_free(loaded);
	}
	state_free(state);
	strbuf_release(&err);
	strbuf_release(&message);
	free(id);
	free(path);
}

static void
test_state__intent_survives_kill_9(void)
{
	char *path = state_path_for("kill-9");
	struct state *state;
	const cJSON *unfinished;
	int status = 0;
	pid_t child;

	fflush(stdout);
	child = fork();
	if (child == 0) {
		struct strbuf err = STRBUF_INIT;
		char *id = NULL;

		state = load_ok(path);
		if (state_intend(state, "incus.container.acme", "create", &id,
			&err) == 0)
			raise(SIGKILL); /* before any state_complete */
		_exit(1);
	}
	waitpid(child, &status, 0);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "the child recorded an intent and was killed");
	state = load_ok(path);
	unfinished = state != NULL ? state_unfinished(state) : NULL;
	is_int(cJSON_GetArraySize(unfinished), 1,
	    "a fresh load sees the unfinished intent");
	is_str(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		   cJSON_GetArrayItem(unfinished, 0), "address")),
	    "incus.container.acme", "with its address");
	is_str(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		   cJSON_GetArrayItem(unfinished, 0), "status")),
	    "intended", "still intended");
	state_free(state);
	free(path);
}

static void
test_state__journal_trim_keeps_intended(void)
{
	char *path = state_path_for("trim");
	struct state *state = load_ok(path);
	struct strbuf err = STRBUF_INIT;
	const char *addrs[] = { "r0", "r1", "i0", "r2", "r3", "i1", "r4" };
	const char *want[] = { "i0", "r3", "i1", "r4" };
	const cJSON *entry;
	char *id;
	size_t i, count = 0;
	bool in_order = true;

	for (i = 0; i < ARRAY_SIZE(addrs); i++) {
		state_intend(state, addrs[i], "update", &id, &err);
		if (addrs[i][0] == 'r')
			state_complete(
			    state, id, addrs[i][1] != '2', "x", &err);
		free(id);
	}
	state_journal_trim(state, 2);
	save(state);
	state_free(state);
	state = load_ok(path);
	/* state_unfinished lists only intended ones: read the file. */
	{
		char *text = slurp(path);
		cJSON *root = cJSON_Parse(text);

		cJSON_ArrayForEach (
		    entry, cJSON_GetObjectItemCaseSensitive(root, "journal")) {
			const char *addr = cJSON_GetStringValue(
			    cJSON_GetObjectItemCaseSensitive(entry, "address"));

			if (count >= ARRAY_SIZE(want) ||
			    strcmp(addr, want[count]) != 0)
				in_order = false;
			count++;
		}
		cJSON_Delete(root);
		free(text);
	}
	is_int(count, 4, "trim keeps 2 resolved entries and both intended");
	ok(in_order, "the newest resolved ones, in order");
	is_int(cJSON_GetArraySize(state_unfinished(state)), 2,
	    "the intended ones are still unfinished");
	state_journal_trim(state, 0);
	is_int(cJSON_GetArraySize(state_unfinished(state)), 2,
	    "trim 0 never drops an intended entry");
	state_free(state);
	strbuf_release(&err);
	free(path);
}

static void
test_state__lock_acquire_release(void)
{
	char *path = state_path_for("lock");
	char *lock_path = suffixed(path, ".lock");
	struct strbuf err = STRBUF_INIT;
	struct state_lock *lock = NULL;
	cJSON *lease;
	char *text;
	char host[256] = "";

	is_int(state_lock(at(path), "apply", 0, &lock, &err), 0,
	    "a free lock is taken (%s)", err.buf);
	ok(lock != NULL && is_uuid_v4(state_lock_id(lock)),
	    "with a UUID lock id");
	ok(state_lock_taken_over(lock) == NULL, "nothing was taken over");
	is_int(mode_of(lock_path), 0600, "the lock file is mode 0600");
	text = slurp(lock_path);
	lease = cJSON_Parse(text);
	is_str(
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(lease, "id")),
	    state_lock_id(lock), "it carries our id");
	is_int(cJSON_GetNumberValue(
		   cJSON_GetObjectItemCaseSensitive(lease, "pid")),
	    getpid(), "our pid");
	gethostname(host, sizeof(host) - 1);
	is_str(cJSON_GetStringValue(
		   cJSON_GetObjectItemCaseSensitive(lease, "host")),
	    host, "our host");
	is_str(cJSON_GetStringValue(
		   cJSON_GetObjectItemCaseSensitive(lease, "operation")),
	    "apply", "the operation");
	is_int(cJSON_GetNumberValue(
		   cJSON_GetObjectItemCaseSensitive(lease, "expires")) -
		   cJSON_GetNumberValue(
		       cJSON_GetObjectItemCaseSensitive(lease, "started")),
	    STATE_LEASE_SECONDS, "and a lease of STATE_LEASE_SECONDS");
	ok(cJSON_GetStringValue(
	       cJSON_GetObjectItemCaseSensitive(lease, "owner")) != NULL,
	    "and an owner");
	cJSON_Delete(lease);
	free(text);
	is_int(state_lock_renew(lock, &err), 0, "our lease can be renewed");
	state_unlock(lock);
	ok(!exists(lock_path), "unlock removes the lock file");
	is_int(state_lock(at(path), "plan", 0, &lock, &err), 0,
	    "and the lock can be taken again");
	state_unlock(lock);
	state_unlock(NULL);
	strbuf_release(&err);
	free(lock_path);
	free(path);
}

static void
test_state__held_lock_is_refused_naming_the_holder(void)
{
	char *path = state_path_for("held");
	struct strbuf err = STRBUF_INIT;
	struct state_lock *first = NULL, *second = NULL;
	char *want;

	state_lock(at(path), "apply", 0, &first, &err);
	is_int(state_lock(at(path), "plan", 0, &second, &err), STATE_LOCKED,
	    "a held lock gives STATE_LOCKED");
	ok(second == NULL, "and no lock");
	ok(contains(err.buf, "state is locked by "), "the message says so (%s)",
	    err.buf);
	want = xasprintf("pid %ld (apply) since ", (long)getpid());
	ok(contains(err.buf, want), "names the pid and operation");
	free(want);
	ok(contains(err.buf, "lease expires in "), "when the lease expires");
	want = xasprintf("lock id %s", state_lock_id(first));
	ok(contains(err.buf, want), "the lock id");
	free(want);
	want = xasprintf("run 'getbot state unlock %s'", state_lock_id(first));
	ok(contains(err.buf, want), "and how to break it");
	free(want);
	{
		char host[256] = "";

		gethostname(host, sizeof(host) - 1);
		want = xasprintf("@%s pid", host);
		ok(contains(err.buf, want), "and the host");
		free(want);
	}
	state_unlock(first);
	strbuf_release(&err);
	free(path);
}

static void
test_state__expired_lease_is_taken_over(void)
{
	char *path = state_path_for("expired");
	char *lock_path = suffixed(path, ".lock");
	struct strbuf err = STRBUF_INIT;
	struct state_lock *lock = NULL;
	long long now = (long long)time(NULL);
	char *text;

	write_lease(
	    path, "11111111-2222-4333-8444-555555555555", now - 100, now - 40);
	is_int(state_lock(at(path), "apply", 0, &lock, &err), 0,
	    "an expired lease is taken over (%s)", err.buf);
	ok(contains(state_lock_taken_over(lock),
	       "11111111-2222-4333-8444-555555555555"),
	    "and the old one is described (%s)", state_lock_taken_over(lock));
	ok(contains(state_lock_taken_over(lock), "mallory@elsewhere pid 31337"),
	    "with its holder");
	ok(contains(state_lock_taken_over(lock), "expired 40 s ago") ||
		contains(state_lock_taken_over(lock), "expired 41 s ago"),
	    "and how long ago it expired");
	text = slurp(lock_path);
	ok(contains(text, state_lock_id(lock)), "the file now carries our id");
	free(text);
	state_unlock(lock);
	ok(!exists(lock_path), "and is ours to release");
	strbuf_release(&err);
	free(lock_path);
	free(path);
}

static void
test_state__renew_after_takeover_fails(void)
{
	char *path = state_path_for("renew");
	char *lock_path = suffixed(path, ".lock");
	struct strbuf err = STRBUF_INIT;
	struct state_lock *slow = NULL, *taker = NULL;
	char *text;

	state_lock(at(path), "apply", 0, &slow, &err);
	expire_lease(path); /* slow hung past its lease */
	is_int(state_lock(at(path), "apply", 0, &taker, &err), 0,
	    "another process takes the expired lease over");
	is_int(state_lock_renew(slow, &err), -1,
	    "the old holder can no longer renew");
	ok(contains(err.buf, "lock was taken over by"), "and is told (%s)",
	    err.buf);
	ok(contains(err.buf, state_lock_id(taker)), "by whom");
	state_unlock(slow);
	text = slurp(lock_path);
	ok(contains(text, state_lock_id(taker)),
	    "its unlock leaves the new holder's lock alone");
	free(text);
	strbuf_reset(&err);
	is_int(state_lock_renew(taker, &err), 0, "the new holder renews (%s)",
	    err.buf);
	state_unlock(taker);
	ok(!exists(lock_path), "and releases");
	strbuf_release(&err);
	free(lock_path);
	free(path);
}

static void
test_state__force_unlock_needs_the_right_id(void)
{
	char *path = state_path_for("force");
	char *lock_path = suffixed(path, ".lock");
	struct strbuf err = STRBUF_INIT;
	struct state_lock *lock = NULL;

	is_int(state_force_unlock(at(path), "anything", &err), -1,
	    "force-unlocking an unlocked state fails");
	ok(contains(err.buf, "is not locked"), "and says so (%s)", err.buf);
	strbuf_reset(&err);
	state_lock(at(path), "apply", 0, &lock, &err);
	is_int(state_force_unlock(at(path), "3f2a-wrong", &err), -1,
	    "the wrong id is refused");
	ok(contains(err.buf, state_lock_id(lock)), "naming the real id (%s)",
	    err.buf);
	ok(exists(lock_path), "and the lock stays");
	strbuf_reset(&err);
	is_int(state_force_unlock(at(path), state_lock_id(lock), &err), 0,
	    "the right id removes it");
	ok(!exists(lock_path), "the lock file is gone");
	is_int(
	    state_lock_renew(lock, &err), -1, "its holder then cannot renew");
	ok(contains(err.buf, "released by someone else"), "and is told (%s)",
	    err.buf);
	state_unlock(lock);
	strbuf_release(&err);
	free(lock_path);
	free(path);
}

static void
test_state__garbage_lock_is_reported(void)
{
	char *path = state_path_for("garbage-lock");
	char *lock_path = suffixed(path, ".lock");
	struct strbuf err = STRBUF_INIT;
	struct state_lock *lock = NULL;
	char *text;

	spew(lock_path, "held by bob, back soon", 0600);
	is_int(state_lock(at(path), "apply", 0, &lock, &err), -1,
	    "a lock file that does not parse is an error");
	ok(contains(err.buf, lock_path) && contains(err.buf, "not valid JSON"),
	    "reported as such (%s)", err.buf);
	ok(contains(err.buf, "remove it by hand"), "with what to do");
	text = slurp(lock_path);
	is_str(text, "held by bob, back soon", "it is never removed");
	free(text);
	strbuf_reset(&err);
	is_int(state_force_unlock(at(path), "x", &err), -1, "nor by force-unlock");
	strbuf_reset(&err);
	spew(lock_path, "{\"id\": \"x\", \"owner\": \"o\"}", 0600);
	is_int(state_lock(at(path), "apply", 0, &lock, &err), -1,
	    "a lock missing fields is an error too");
	ok(contains(err.buf, "not a valid lock: host: missing"),
	    "naming the field (%s)", err.buf);
	strbuf_release(&err);
	free(lock_path);
	free(path);
}

static void
test_state__lock_contention_between_processes(void)
{
	char *path = state_path_for("contention");
	struct strbuf err = STRBUF_INIT;
	struct state_lock *lock = NULL;
	int ready[2], go[2], status = 0, rc;
	struct timespec start;
	char byte = '0';
	double waited;
	pid_t child;
	char *want;

	if (pipe(ready) < 0 || pipe(go) < 0)
		perror("pipe");
	fflush(stdout);
	child = fork();
	if (child == 0) {
		struct timespec hold = { 0, 400 * 1000 * 1000 };

		close(ready[0]);
		close(go[1]);
		rc = state_lock(at(path), "apply", 0, &lock, &err);
		byte = rc == 0 ? '1' : '0';
		if (write(ready[1], &byte, 1) != 1 ||
		    read(go[0], &byte, 1) != 1)
			rc = -1;
		nanosleep(&hold, NULL);
		state_unlock(lock);
		strbuf_release(&err);
		free(path);
		_exit(rc == 0 ? 0 : 1);
	}
	close(ready[1]);
	close(go[0]);
	is_int(read(ready[0], &byte, 1), 1, "the child reports");
	is_int(byte, '1', "that it holds the lock");

	clock_gettime(CLOCK_MONOTONIC, &start);
	rc = state_lock(at(path), "apply", 0.5, &lock, &err);
	waited = seconds_since(&start);
	is_int(rc, STATE_LOCKED, "another process cannot take it");
	ok(waited >= 0.5 && waited < 5, "after waiting 0.5 s (%.2f s)", waited);
	want = xasprintf("pid %ld (apply)", (long)child);
	ok(contains(err.buf, want), "the message names the child (%s)",
	    err.buf);
	free(want);

	strbuf_reset(&err);
	is_int(
	    write(go[1], "x", 1), 1, "the child is told to release in 0.4 s");
	clock_gettime(CLOCK_MONOTONIC, &start);
	rc = state_lock(at(path), "apply", 10, &lock, &err);
	waited = seconds_since(&start);
	is_int(rc, 0,
	    "a waiting process gets the lock once it is released (%s)",
	    err.buf);
	ok(waited >= 0.3 && waited < 5,
	    "having polled while it was held (%.2f s)", waited);
	waitpid(child, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the child exited cleanly");
	state_unlock(lock);
	close(ready[0]);
	close(go[1]);
	strbuf_release(&err);
	free(path);
}

int
main(void)
{
	if (sodium_init() < 0 || mkdtemp(scratch) == NULL) {
		printf("Bail out! cannot set up\n");
		return 1;
	}
	umask(022);
	test_state__missing_file_is_empty_with_lineage();
	test_state__save_round_trip_keeps_lineage_and_bumps_serial();
	test_state__save_is_atomic_and_0600();
	test_state__save_creates_one_directory_level_only();
	test_state__resources_set_get_remove_sorted();
	test_state__file_is_pretty_and_in_a_stable_order();
	test_state__refuses_a_file_others_can_read();
	test_state__refuses_a_newer_version();
	test_state__refuses_garbage();
	test_state__invalid_structure_names_the_field();
	test_state__resource_records_its_commit();
	test_state__resource_commit_is_optional_and_checked();
	test_state__journal_intend_complete_unfinished();
	test_state__long_error_is_cut();
	test_state__intent_survives_kill_9();
	test_state__journal_trim_keeps_intended();
	test_state__lock_acquire_release();
	test_state__held_lock_is_refused_naming_the_holder();
	test_state__expired_lease_is_taken_over();
	test_state__renew_after_takeover_fails();
	test_state__force_unlock_needs_the_right_id();
	test_state__garbage_lock_is_reported();
	test_state__lock_contention_between_processes();
	remove_tree(scratch);
	return tap_done();
}
