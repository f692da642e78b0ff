/* The state file: the last applied snapshot per resource and the intent
 * journal, loaded with strict checks and saved atomically. */
#include "config.h"

#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "diag.h"
#include "file.h"
#include "state-internal.h"
#include "state.h"
#include "strbuf.h"
#include "xmalloc.h"

/* A state file larger than this is refused rather than read. */
#define STATE_MAX_SIZE (64 * 1024 * 1024)
/* A journal entry's error message is cut to this many bytes. */
#define STATE_MAX_ERROR 4096

struct state {
	char *path;
	char *lineage;
	long serial;
	char *commit;           /* NULL when unknown */
	cJSON *provenance; /* the run's commit, for what it sets; or NULL */
	cJSON *resources;       /* object, keys sorted */
	cJSON *journal;         /* array, oldest first */
	cJSON *unfinished;      /* the last answer of state_unfinished */
	const char **addresses; /* the last answer of state_addresses */
	/* the git backend: where it came from, and what it was then */
	struct state_git *git;  /* NULL: the local file */
	char git_commit[41];    /* the state ref's commit loaded ("": none) */
	cJSON *git_base;        /* the resources as loaded or last published */
	struct state_outbox *outbox; /* the git lock's, or NULL */
};

static const char *const state_fields[] = { "version", "lineage", "serial",
	"commit", "resources", "journal", NULL };
static const char *const state_resource_fields[] = { "provider", "spec",
	"fingerprints", "serial", NULL };
/* The same with the optional "commit" (files written before it had none). */
static const char *const state_resource_fields_commit[] = { "provider", "spec",
	"fingerprints", "serial", "commit", NULL };
static const char *const state_commit_fields[] = { "sha", "author", "date",
	"subject", NULL };
static const char *const state_entry_fields[] = { "id", "address", "action",
	"status", "started", "ended", "error", NULL };

void
state_uuid(char out[STATE_UUID_SIZE])
{
	unsigned char b[16];

	randombytes_buf(b, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, STATE_UUID_SIZE,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
	    b[11], b[12], b[13], b[14], b[15]);
}

/* An empty state for path, without a lineage yet. */
static struct state *
state_alloc(const char *path)
{
	struct state *state = xcalloc(1, sizeof(*state));

	state->path = xstrdup(path);
	state->resources = cJSON_CreateObject();
	state->journal = cJSON_CreateArray();
	return state;
}

void
state_free(struct state *state)
{
	if (state == NULL)
		return;
	free(state->path);
	free(state->lineage);
	free(state->commit);
	cJSON_Delete(state->provenance);
	cJSON_Delete(state->resources);
	cJSON_Delete(state->journal);
	cJSON_Delete(state->unfinished);
	free(state->addresses);
	state_git_free(state->git);
	cJSON_Delete(state->git_base);
	free(state);
}

/* Report a problem with field (a path such as resources["a"].spec). */
static int
state_field_error(const struct state *state, const char *field,
    const char *problem, struct strbuf *err)
{
	strbuf_addf(
	    err, "state file '%s': %s: %s", state->path, field, problem);
	return -1;
}

/* Check object's members against fields; on failure name the member. */
static int
state_check_members(const struct state *state, const cJSON *object,
    const char *const *fields, const char *where, struct strbuf *err)
{
	struct strbuf field = STRBUF_INIT;
	const char *key, *problem;

	if (!cJSON_IsObject(object))
		return state_field_error(state,
		    where[0] != '\0' ? where : "(top)", "expected an object",
		    err);
	if (state_json_check_members(object, fields, false, &key, &problem) ==
	    0)
		return 0;
	strbuf_addstr(&field, where);
	diag_path_key(&field, key);
	state_field_error(state, field.buf, problem, err);
	strbuf_release(&field);
	return -1;
}

/* Check one member: a non-empty string, or null when null_allowed. */
static int
state_check_string(const struct state *state, const cJSON *object,
    const char *where, const char *key, bool null_allowed, struct strbuf *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
	struct strbuf field = STRBUF_INIT;
	int rc = 0;

	if (cJSON_IsString(item) && item->valuestring[0] != '\0')
		return 0;
	if (null_allowed && cJSON_IsNull(item))
		return 0;
	strbuf_addstr(&field, where);
	diag_path_key(&field, key);
	rc = state_field_error(state, field.buf,
	    null_allowed ? "expected a non-empty string or null"
			 : "expected a non-empty string",
	    err);
	strbuf_release(&field);
	return rc;
}

/* Check one member: an integer >= 0, or null when null_allowed. */
static int
state_check_integer(const struct state *state, const cJSON *object,
    const char *where, const char *key, bool null_allowed, struct strbuf *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
	struct strbuf field = STRBUF_INIT;
	long long value;
	int rc = 0;

	if (state_json_integer(item, 0, LONG_MAX, &value))
		return 0;
	if (null_allowed && cJSON_IsNull(item))
		return 0;
	strbuf_addstr(&field, where);
	diag_path_key(&field, key);
	rc = state_field_error(state, field.buf,
	    null_allowed ? "expected an integer >= 0 or null"
			 : "expected an integer >= 0",
	    err);
	strbuf_release(&field);
	return rc;
}

/* Check resources["addr"] and put its members in the canonical order. */
static int
state_check_resource(
    const struct state *state, cJSON *entry, struct strbuf *err)
{
	struct strbuf where = STRBUF_INIT, field = STRBUF_INIT;
	const char *const *fields;
	const cJSON *fingerprint;
	cJSON *fingerprints, *commit;
	int rc = -1;

	diag_path_key(&where, "resources");
	diag_path_key(&where, entry->string);
	commit = cJSON_GetObjectItemCaseSensitive(entry, "commit");
	fields = commit != NULL ? state_resource_fields_commit
				: state_resource_fields;
	if (state_check_members(state, entry, fields, where.buf, err) < 0 ||
	    state_check_string(
		state, entry, where.buf, "provider", false, err) < 0 ||
	    state_check_integer(state, entry, where.buf, "serial", false, err) <
		0)
		goto out;
	fingerprints = cJSON_GetObjectItemCaseSensitive(entry, "fingerprints");
	strbuf_addstr(&field, where.buf);
	diag_path_key(&field, "fingerprints");
	if (!cJSON_IsObject(fingerprints)) {
		state_field_error(state, field.buf, "expected an object", err);
		goto out;
	}
	cJSON_ArrayForEach (fingerprint, fingerprints) {
		if (!cJSON_IsString(fingerprint)) {
			diag_path_key(&field, fingerprint->string);
			state_field_error(
			    state, field.buf, "expected a string", err);
			goto out;
		}
	}
	if (state_json_sort(fingerprints, true) > 0 ||
	    state_json_sort(
		cJSON_GetObjectItemCaseSensitive(entry, "spec"), true) > 0) {
		state_field_error(
		    state, where.buf, "an object has a repeated key", err);
		goto out;
	}
	if (commit != NULL) {
		strbuf_reset(&field);
		strbuf_addstr(&field, where.buf);
		diag_path_key(&field, "commit");
		if (state_check_members(state, commit, state_commit_fields,
			field.buf, err) < 0 ||
		    state_check_string(
			state, commit, field.buf, "sha", false, err) < 0 ||
		    state_check_string(
			state, commit, field.buf, "author", false, err) < 0 ||
		    state_check_string(
			state, commit, field.buf, "date", false, err) < 0 ||
		    !cJSON_IsString(
			cJSON_GetObjectItemCaseSensitive(commit, "subject"))) {
			if (err->len == 0)
				state_field_error(state, field.buf,
				    "subject: expected a string", err);
			goto out;
		}
		state_json_order_members(commit, state_commit_fields);
	}
	state_json_order_members(entry, fields);
	rc = 0;
out:
	strbuf_release(&where);
	strbuf_release(&field);
	return rc;
}

/* Check journal[index] and put its members in the canonical order. */
static int
state_check_entry(
    const struct state *state, cJSON *entry, size_t index, struct strbuf *err)
{
	struct strbuf where = STRBUF_INIT;
	const cJSON *status;
	int rc = -1;

	diag_path_key(&where, "journal");
	diag_path_index(&where, index);
	if (state_check_members(
		state, entry, state_entry_fields, where.buf, err) < 0 ||
	    state_check_string(state, entry, where.buf, "id", false, err) < 0 ||
	    state_check_string(state, entry, where.buf, "address", false, err) <
		0 ||
	    state_check_string(state, entry, where.buf, "action", false, err) <
		0 ||
	    state_check_integer(
		state, entry, where.buf, "started", false, err) < 0 ||
	    state_check_integer(state, entry, where.buf, "ended", true, err) <
		0 ||
	    state_check_string(state, entry, where.buf, "error", true, err) < 0)
		goto out;
	status = cJSON_GetObjectItemCaseSensitive(entry, "status");
	if (!cJSON_IsString(status) ||
	    (strcmp(status->valuestring, "intended") != 0 &&
		strcmp(status->valuestring, "done") != 0 &&
		strcmp(status->valuestring, "failed") != 0)) {
		diag_path_key(&where, "status");
		state_field_error(state, where.buf,
		    "expected \"intended\", \"done\" or \"failed\"", err);
		goto out;
	}
	state_json_order_members(entry, state_entry_fields);
	rc = 0;
out:
	strbuf_release(&where);
	return rc;
}

/* Check the parsed file and move what it holds into state. */
static int
state_from_json(struct state *state, cJSON *root, struct strbuf *err)
{
	const cJSON *version, *commit;
	cJSON *resources, *journal, *item;
	long long number;
	size_t index = 0;

	if (!cJSON_IsObject(root)) {
		strbuf_addf(
		    err, "state file '%s' is not a JSON object", state->path);
		return -1;
	}
	/* The version first: a newer file may well have other fields. */
	version = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (version == NULL)
		return state_field_error(state, "version", "missing", err);
	if (!state_json_integer(version, 1, LLONG_MAX, &number))
		return state_field_error(
		    state, "version", "expected an integer >= 1", err);
	if (number > STATE_VERSION) {
		strbuf_addf(err,
		    "state file '%s' was written by a newer getbot (state "
		    "version %lld; this getbot reads version %d): upgrade "
		    "getbot",
		    state->path, number, STATE_VERSION);
		return -1;
	}
	if (state_check_members(state, root, state_fields, "", err) < 0 ||
	    state_check_string(state, root, "", "lineage", false, err) < 0 ||
	    state_check_integer(state, root, "", "serial", false, err) < 0 ||
	    state_check_string(state, root, "", "commit", true, err) < 0)
		return -1;
	resources = cJSON_GetObjectItemCaseSensitive(root, "resources");
	if (!cJSON_IsObject(resources))
		return state_field_error(
		    state, "resources", "expected an object", err);
	cJSON_ArrayForEach (item, resources) {
		if (state_check_resource(state, item, err) < 0)
			return -1;
	}
	if (state_json_sort(resources, false) > 0)
		return state_field_error(
		    state, "resources", "an address is repeated", err);
	journal = cJSON_GetObjectItemCaseSensitive(root, "journal");
	if (!cJSON_IsArray(journal))
		return state_field_error(
		    state, "journal", "expected an array", err);
	cJSON_ArrayForEach (item, journal) {
		if (state_check_entry(state, item, index++, err) < 0)
			return -1;
	}

	state->lineage = xstrdup(
	    cJSON_GetObjectItemCaseSensitive(root, "lineage")->valuestring);
	(void)state_json_integer(
	    cJSON_GetObjectItemCaseSensitive(root, "serial"), 0, LONG_MAX,
	    &number);
	state->serial = (long)number;
	commit = cJSON_GetObjectItemCaseSensitive(root, "commit");
	if (cJSON_IsString(commit))
		state->commit = xstrdup(commit->valuestring);
	cJSON_Delete(state->resources);
	state->resources = cJSON_DetachItemViaPointer(root, resources);
	cJSON_Delete(state->journal);
	state->journal = cJSON_DetachItemViaPointer(root, journal);
	return 0;
}

int
state_load(const char *path, struct state **out, struct strbuf *err)
{
	struct strbuf content = STRBUF_INIT, what = STRBUF_INIT;
	struct state *state = state_alloc(path);
	char lineage[STATE_UUID_SIZE];
	cJSON *root = NULL;
	struct stat st;
	int rc = -1, got;

	*out = NULL;
	got = file_read(path, STATE_MAX_SIZE, &content, &st, err);
	if (got == FILE_MISSING) {
		state_uuid(lineage);
		state->lineage = xstrdup(lineage);
		rc = 0;
		goto out;
	}
	if (got < 0)
		goto out;
	if ((st.st_mode & 077) != 0) {
		strbuf_addf(err,
		    "state file '%s' has mode %04o, but it must be accessible "
		    "to its owner only; run 'chmod 600 %s'",
		    path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	strbuf_addf(&what, "state file '%s'", path);
	if (state_json_parse(what.buf, content.buf, content.len, &root, err) <
		0 ||
	    state_from_json(state, root, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc == 0) {
		*out = state;
		state = NULL;
	}
	state_free(state);
	cJSON_Delete(root);
	strbuf_release(&content);
	strbuf_release(&what);
	return rc;
}

static bool state_entry_is_intended(const cJSON *entry);

/* Hand the unfinished intents to the lock this state is attached to. */
static void
state_outbox_update(const struct state *state)
{
	cJSON *unfinished, *entry;
	char *text;

	if (state->outbox == NULL)
		return;
	unfinished = cJSON_CreateArray();
	cJSON_ArrayForEach (entry, state->journal) {
		if (state_entry_is_intended(entry))
			cJSON_AddItemToArray(
			    unfinished, cJSON_Duplicate(entry, 1));
	}
	text = cJSON_PrintUnformatted(unfinished);
	pthread_mutex_lock(&state->outbox->mutex);
	strbuf_reset(&state->outbox->journal);
	strbuf_addstr(&state->outbox->journal, text != NULL ? text : "[]");
	state->outbox->changed = true;
	pthread_mutex_unlock(&state->outbox->mutex);
	free(text);
	cJSON_Delete(unfinished);
}

/* The state file's text, as serial. */
static int
state_print(const struct state *state, long serial, struct strbuf *text,
    struct strbuf *err)
{
	cJSON *root = cJSON_CreateObject();
	int rc;

	cJSON_AddNumberToObject(root, "version", STATE_VERSION);
	cJSON_AddStringToObject(root, "lineage", state->lineage);
	cJSON_AddNumberToObject(root, "serial", (double)serial);
	if (state->commit != NULL)
		cJSON_AddStringToObject(root, "commit", state->commit);
	else
		cJSON_AddNullToObject(root, "commit");
	/* References: printed in place, not copied, and not freed with root. */
	cJSON_AddItemReferenceToObject(root, "resources", state->resources);
	cJSON_AddItemReferenceToObject(root, "journal", state->journal);
	rc = state_json_print(root, text, err);
	cJSON_Delete(root);
	return rc;
}

int
state_save(struct state *state, struct strbuf *err)
{
	struct strbuf text = STRBUF_INIT;
	int rc = -1;

	if (state_print(state, state->serial + 1, &text, err) < 0 ||
	    state_file_make_dir(state->path, err) < 0 ||
	    file_replace(state->path, text.buf, text.len, 0600, err) < 0)
		goto out;
	/* The new file is in place: from here on it is the serial on disk. */
	state->serial++;
	state_outbox_update(state);
	if (file_sync_dir(state->path, err) < 0)
		goto out;
	rc = 0;
out:
	strbuf_release(&text);
	return rc;
}

const char *
state_path(const struct state *state)
{
	return state->path;
}

const char *
state_lineage(const struct state *state)
{
	return state->lineage;
}

long
state_serial(const struct state *state)
{
	return state->serial;
}

const char *
state_commit(const struct state *state)
{
	return state->commit;
}

void
state_set_commit(struct state *state, const char *commit)
{
	free(state->commit);
	state->commit = commit != NULL ? xstrdup(commit) : NULL;
}

void
state_set_provenance(struct state *state, const cJSON *commit)
{
	cJSON_Delete(state->provenance);
	state->provenance = commit != NULL ? cJSON_Duplicate(commit, 1) : NULL;
	if (state->provenance != NULL)
		state_json_order_members(
		    state->provenance, state_commit_fields);
}

const cJSON *
state_resource(const struct state *state, const char *addr)
{
	return cJSON_GetObjectItemCaseSensitive(state->resources, addr);
}

/* Link item (detached, key set) into object just before its child next.
 * (cJSON_InsertItemInArray would do, but some builds refuse an item that
 * has a key.) */
static void
state_link_before(cJSON *object, cJSON *item, cJSON *next)
{
	item->next = next;
	item->prev = next->prev;
	next->prev = item;
	if (next == object->child)
		object->child = item;
	else
		item->prev->next = item;
}

void
state_set_resource(struct state *state, const char *addr, const char *provider,
    const cJSON *spec, const cJSON *fingerprints)
{
	cJSON *entry = cJSON_CreateObject(), *copy, *next;
	const cJSON *fingerprint;

	cJSON_AddStringToObject(entry, "provider", provider);
	copy = spec != NULL ? cJSON_Duplicate(spec, 1) : cJSON_CreateObject();
	state_json_sort(copy, true);
	cJSON_AddItemToObject(entry, "spec", copy);
	copy = cJSON_CreateObject();
	if (cJSON_IsObject(fingerprints)) {
		cJSON_ArrayForEach (fingerprint, fingerprints) {
			if (cJSON_IsString(fingerprint))
				cJSON_AddStringToObject(copy,
				    fingerprint->string,
				    fingerprint->valuestring);
		}
	}
	state_json_sort(copy, true);
	cJSON_AddItemToObject(entry, "fingerprints", copy);
	cJSON_AddNumberToObject(entry, "serial", (double)(state->serial + 1));
	if (state->provenance != NULL)
		cJSON_AddItemToObject(
		    entry, "commit", cJSON_Duplicate(state->provenance, 1));

	/* Add it under its key, then move it before the first address that
	 * sorts after it, so that the resources stay sorted. */
	state_remove_resource(state, addr);
	cJSON_AddItemToObject(state->resources, addr, entry);
	cJSON_ArrayForEach (next, state->resources) {
		if (strcmp(next->string, addr) > 0)
			break;
	}
	if (next != NULL) {
		cJSON_DetachItemViaPointer(state->resources, entry);
		state_link_before(state->resources, entry, next);
	}
}

void
state_remove_resource(struct state *state, const char *addr)
{
	cJSON_DeleteItemFromObjectCaseSensitive(state->resources, addr);
}

const char *const *
state_addresses(struct state *state, size_t *n)
{
	const cJSON *entry;
	size_t count = 0;

	free(state->addresses);
	cJSON_ArrayForEach (entry, state->resources)
		count++;
	state->addresses = xcalloc(count + 1, sizeof(*state->addresses));
	count = 0;
	cJSON_ArrayForEach (entry, state->resources)
		state->addresses[count++] = entry->string;
	*n = count;
	return state->addresses;
}

/* Whether a journal entry is still "intended". */
static bool
state_entry_is_intended(const cJSON *entry)
{
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(entry, "status");

	return cJSON_IsString(status) &&
	       strcmp(status->valuestring, "intended") == 0;
}

int
state_intend(struct state *state, const char *addr, const char *action,
    char **id, struct strbuf *err)
{
	char uuid[STATE_UUID_SIZE];
	cJSON *entry = cJSON_CreateObject();

	*id = NULL;
	state_uuid(uuid);
	cJSON_AddStringToObject(entry, "id", uuid);
	cJSON_AddStringToObject(entry, "address", addr);
	cJSON_AddStringToObject(entry, "action", action);
	cJSON_AddStringToObject(entry, "status", "intended");
	cJSON_AddNumberToObject(entry, "started", (double)time(NULL));
	cJSON_AddNullToObject(entry, "ended");
	cJSON_AddNullToObject(entry, "error");
	cJSON_AddItemToArray(state->journal, entry);
	if (state_save(state, err) < 0) {
		/* Not on disk, so it must not be in memory either. */
		cJSON_Delete(cJSON_DetachItemViaPointer(state->journal, entry));
		return -1;
	}
	*id = xstrdup(uuid);
	return 0;
}

/* error cut to at most STATE_MAX_ERROR bytes, not inside a UTF-8
 * sequence. */
static cJSON *
state_error_string(const char *error)
{
	size_t len = strlen(error);
	cJSON *item;
	char *cut;

	if (len <= STATE_MAX_ERROR)
		return cJSON_CreateString(error);
	len = STATE_MAX_ERROR;
	while (len > 0 && ((unsigned char)error[len] & 0xc0) == 0x80)
		len--;
	cut = xstrndup(error, len);
	item = cJSON_CreateString(cut);
	free(cut);
	return item;
}

int
state_complete(struct state *state, const char *id, bool ok, const char *error,
    struct strbuf *err)
{
	cJSON *entry;
	const cJSON *entry_id, *status = NULL;

	cJSON_ArrayForEach (entry, state->journal) {
		entry_id = cJSON_GetObjectItemCaseSensitive(entry, "id");
		if (cJSON_IsString(entry_id) &&
		    strcmp(entry_id->valuestring, id) == 0)
			break;
	}
	if (entry == NULL) {
		strbuf_addf(err, "no journal entry has id '%s'", id);
		return -1;
	}
	if (!state_entry_is_intended(entry)) {
		status = cJSON_GetObjectItemCaseSensitive(entry, "status");
		strbuf_addf(err, "journal entry '%s' is already %s", id,
		    status->valuestring);
		return -1;
	}
	cJSON_ReplaceItemInObjectCaseSensitive(
	    entry, "status", cJSON_CreateString(ok ? "done" : "failed"));
	cJSON_ReplaceItemInObjectCaseSensitive(
	    entry, "ended", cJSON_CreateNumber((double)time(NULL)));
	cJSON_ReplaceItemInObjectCaseSensitive(entry, "error",
	    error != NULL ? state_error_string(error) : cJSON_CreateNull());
	return state_save(state, err);
}

const cJSON *
state_unfinished(struct state *state)
{
	const cJSON *entry;

	cJSON_Delete(state->unfinished);
	state->unfinished = cJSON_CreateArray();
	cJSON_ArrayForEach (entry, state->journal) {
		if (state_entry_is_intended(entry))
			cJSON_AddItemToArray(
			    state->unfinished, cJSON_Duplicate(entry, 1));
	}
	return state->unfinished;
}

const cJSON *
state_journal(const struct state *state)
{
	return state->journal;
}

void
state_journal_trim(struct state *state, size_t keep)
{
	cJSON *entry, *next;
	size_t resolved = 0;

	cJSON_ArrayForEach (entry, state->journal) {
		if (!state_entry_is_intended(entry))
			resolved++;
	}
	for (entry = state->journal->child; entry != NULL && resolved > keep;
	     entry = next) {
		next = entry->next;
		if (state_entry_is_intended(entry))
			continue;
		cJSON_Delete(cJSON_DetachItemViaPointer(state->journal, entry));
		resolved--;
	}
}

int
state_open(
    const struct state_where *where, struct state **out, struct strbuf *err)
{
	struct state_git *git = NULL;
	char commit[41];
	int rc = -1;

	*out = NULL;
	if (!where->git)
		return state_load(where->path, out, err);
	if (state_git_open(where, &git, err) < 0 ||
	    state_git_fetch_state(git, commit, err) < 0 ||
	    state_load(state_git_cache_path(git), out, err) < 0)
		goto out;
	(*out)->git = git;
	git = NULL;
	memcpy((*out)->git_commit, commit, sizeof(commit));
	(*out)->git_base = cJSON_Duplicate((*out)->resources, 1);
	rc = 0;
out:
	state_git_free(git);
	return rc;
}

/* Does entry's id appear in journal? Returns that entry, or NULL. */
static cJSON *
state_journal_find(const cJSON *journal, const cJSON *entry)
{
	const char *id = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(entry, "id"));
	cJSON *other;

	cJSON_ArrayForEach (other, journal) {
		const char *other_id = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(other, "id"));

		if (id != NULL && other_id != NULL && strcmp(id, other_id) == 0)
			return other;
	}
	return NULL;
}

/*
 * Lay what this run changed over theirs (the remote's state, which moved
 * since we loaded it): a resource whose snapshot differs from the one we
 * loaded is ours, any other is theirs; journal entries of both are kept
 * (ours where both have one). theirs is consumed.
 */
static void
state_rebase(struct state *state, struct state *theirs)
{
	cJSON *resources = theirs->resources, *journal = theirs->journal;
	cJSON *item, *next, *base;
	cJSON *new_base = cJSON_Duplicate(resources, 1);

	theirs->resources = state->resources;
	state->resources = resources;
	/* theirs->resources now holds ours */
	cJSON_ArrayForEach (item, theirs->resources) {
		base = cJSON_GetObjectItemCaseSensitive(
		    state->git_base, item->string);
		if (base == NULL || !cJSON_Compare(base, item, true)) {
			cJSON_DeleteItemFromObjectCaseSensitive(
			    state->resources, item->string);
			cJSON_AddItemToObject(state->resources, item->string,
			    cJSON_Duplicate(item, 1));
		}
	}
	cJSON_ArrayForEach (base, state->git_base) {
		if (cJSON_GetObjectItemCaseSensitive(
			theirs->resources, base->string) == NULL)
			cJSON_DeleteItemFromObjectCaseSensitive(
			    state->resources, base->string);
	}
	state_json_sort(state->resources, false);
	/* the journal: theirs, with ours in place of the same entries, then
	 * ours that they do not have */
	for (item = journal->child; item != NULL; item = next) {
		cJSON *mine = state_journal_find(state->journal, item);

		next = item->next;
		if (mine != NULL)
			cJSON_ReplaceItemViaPointer(
			    journal, item, cJSON_Duplicate(mine, 1));
	}
	cJSON_ArrayForEach (item, state->journal) {
		if (state_journal_find(journal, item) == NULL)
			cJSON_AddItemToArray(journal, cJSON_Duplicate(item, 1));
	}
	cJSON_Delete(state->journal);
	state->journal = journal;
	theirs->journal = cJSON_CreateArray();
	free(state->lineage);
	state->lineage = xstrdup(theirs->lineage);
	if (theirs->serial > state->serial)
		state->serial = theirs->serial;
	cJSON_Delete(state->unfinished);
	state->unfinished = NULL;
	/* from here on, what we change is what differs from theirs */
	cJSON_Delete(state->git_base);
	state->git_base = new_base;
}

/* How many times a push that found the state ref moved is tried again. */
#define STATE_PUBLISH_TRIES 5

int
state_publish(struct state *state, const char *message, struct strbuf *err)
{
	struct strbuf text = STRBUF_INIT;
	struct state *theirs = NULL;
	char pushed[41], moved_to[41];
	int tries, rc = -1;

	if (state->git == NULL)
		return 0;
	for (tries = 0; tries < STATE_PUBLISH_TRIES; tries++) {
		strbuf_reset(&text);
		if (state_print(state, state->serial, &text, err) < 0)
			goto out;
		rc = state_git_push_state(state->git, state->git_commit,
		    text.buf, text.len, message, pushed, err);
		if (rc != STATE_GIT_MOVED)
			break;
		/* someone else wrote it: read theirs, lay ours over it */
		rc = -1;
		if (state_git_fetch_state(state->git, moved_to, err) < 0 ||
		    state_load(state_git_cache_path(state->git), &theirs,
			err) < 0)
			goto out;
		state_rebase(state, theirs);
		state_free(theirs);
		theirs = NULL;
		memcpy(state->git_commit, moved_to, sizeof(moved_to));
		/* the cache holds theirs now: write the joined state back */
		if (state_save(state, err) < 0)
			goto out;
	}
	if (rc == STATE_GIT_MOVED) {
		strbuf_addf(err,
		    "the state ref kept moving: %d pushes in a row found "
		    "another commit there",
		    STATE_PUBLISH_TRIES);
		rc = -1;
	}
	if (rc == 0) {
		memcpy(state->git_commit, pushed, sizeof(pushed));
		cJSON_Delete(state->git_base);
		state->git_base = cJSON_Duplicate(state->resources, 1);
	}
out:
	state_free(theirs);
	strbuf_release(&text);
	return rc;
}

void
state_describe(const struct state *state, struct strbuf *out)
{
	if (state->git != NULL)
		state_git_describe(state->git, out);
	else
		strbuf_addf(out, "'%s'", state->path);
}

void
state_lock_attach(struct state_lock *lock, struct state *state)
{
	struct strbuf ignored = STRBUF_INIT;
	cJSON *entry, *copy;
	size_t index = 0;

	if (lock->git == NULL)
		return;
	state->outbox = &lock->outbox;
	cJSON_ArrayForEach (entry, lock->inherited) {
		copy = cJSON_Duplicate(entry, 1);
		strbuf_reset(&ignored);
		if (state_check_entry(state, copy, index++, &ignored) < 0 ||
		    !state_entry_is_intended(copy) ||
		    state_journal_find(state->journal, copy) != NULL) {
			cJSON_Delete(copy);
			continue;
		}
		cJSON_AddItemToArray(state->journal, copy);
	}
	cJSON_Delete(state->unfinished);
	state->unfinished = NULL;
	strbuf_release(&ignored);
	state_outbox_update(state);
}
