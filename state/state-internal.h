/*
 * Private to state/: the file and JSON helpers that the state file and
 * the lock share. Nothing outside state/ includes this.
 */
#ifndef GETBOT_STATE_INTERNAL_H
#define GETBOT_STATE_INTERNAL_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include "file.h"
#include "state.h"
#include "strbuf.h"

/* A UUID as text, with its NUL. */
#define STATE_UUID_SIZE 37

/* A new random (version 4) UUID, lower-case. */
void state_uuid(char out[STATE_UUID_SIZE]);

/* Create the directory holding path (one level, mode 0700) if missing. */
int state_file_make_dir(const char *path, struct strbuf *err);

/* item as an integer in [min, max] into *out; false if it is not one. */
bool state_json_integer(
    const cJSON *item, long long min, long long max, long long *out);
/* Parse len bytes of text (text[len] is NUL) as one JSON value; what names
 * it in messages ("state file 'x'"). The caller cJSON_Delete()s *out. */
int state_json_parse(const char *what, const char *text, size_t len,
    cJSON **out, struct strbuf *err);
/* Append item pretty-printed, with a final newline, to out. */
int state_json_print(const cJSON *item, struct strbuf *out, struct strbuf *err);
/* Sort the keys of item if it is an object (stably), and with deep those of
 * every object within it, dropping all but the first of repeated keys;
 * returns how many were dropped. */
size_t state_json_sort(cJSON *item, bool deep);
/*
 * Check that object has each of fields (NULL-terminated) exactly once and
 * nothing else (unless others_allowed). On failure returns -1 with *key
 * the offending member and *problem "missing", "repeated" or "unknown
 * field".
 */
int state_json_check_members(const cJSON *object, const char *const *fields,
    bool others_allowed, const char **key, const char **problem);
/* Put object's members in the order of fields (all present, once each). */
void state_json_order_members(cJSON *object, const char *const *fields);

/* A lease: who holds the lock, for what, until when. */
struct state_lease {
	char *id;
	char *owner;
	char *host;
	long long pid;
	long long started; /* UNIX seconds */
	long long expires; /* UNIX seconds; expired once it is in the past */
	char *operation;
	char *job; /* the CI job ("GitHub Actions run 42"), or NULL */
};

struct state_git;

/*
 * What a state attached to a git lock hands to it: its unfinished intents
 * as JSON, replaced at each state_save (under the caller's serialisation
 * of the state) and taken by state_lock_tick (another thread).
 */
struct state_outbox {
	pthread_mutex_t mutex;
	struct strbuf journal; /* a JSON array; empty: none yet */
	bool changed;          /* since state_lock_tick last sent it */
};

/* A lock held: on a file (git NULL) or on the git backend's lock ref. */
struct state_lock {
	struct state_git *git; /* the git backend's, or NULL */
	char *lock_path;       /* local: STATE_PATH.lock */
	char *guard_path;      /* local: STATE_PATH.lock.guard */
	struct state_lease lease; /* ours */
	long lease_seconds;
	char *taken_over; /* the expired lease replaced, or NULL */
	char git_held[41]; /* git: our lock commit */
	long long renewed;  /* when the lease was last written (UNIX) */
	struct state_outbox outbox; /* git: the attached state's intents */
	cJSON *inherited; /* git: intents of the holder taken over, or NULL */
};

/* A lock with a new id and our identity, not yet taken. */
struct state_lock *state_lock_new(const char *operation, long lease_seconds);
void state_lock_free(struct state_lock *lock);
void state_lease_release(struct state_lease *lease);
/* Parse text (text[len] is NUL) as a lease; what names it in messages. */
int state_lease_parse(const char *what, const char *text, size_t len,
    struct state_lease *lease, struct strbuf *err);
/* The lease as the JSON text of a lock file. */
int state_lease_text(
    const struct state_lease *lease, struct strbuf *out, struct strbuf *err);
/* "alice@host pid 4242 (apply, GitHub Actions run 42) since ..." */
void state_lease_describe(struct strbuf *out, const struct state_lease *lease);
/* The refusal for a lease still held: "state is locked by ...". */
void state_lease_refusal(struct strbuf *out, const struct state_lease *lease,
    long long now);
/* How a stale lease is named when it is taken over. */
void state_lease_stale(struct strbuf *out, const struct state_lease *lease,
    long long now);
/* Is the holder a process of this host that no longer exists? */
bool state_lease_holder_gone(
    const struct state_lease *lease, const struct state_lock *lock);
/* While less than wait_seconds have passed since start (monotonic), sleep
 * up to poll_seconds (no further than that) and return true. */
bool state_lock_wait_more(
    const struct timespec *start, double wait_seconds, double poll_seconds);

/* The git backend (state-git.c). */
int state_git_open(const struct state_where *where, struct state_git **out,
    struct strbuf *err);
void state_git_free(struct state_git *git);
/* The state file the git backend keeps in the repository's git directory
 * while it works (borrowed). */
const char *state_git_cache_path(const struct state_git *git);
/* "refs/getbot/state of origin (URL)" */
void state_git_describe(const struct state_git *git, struct strbuf *out);
int state_git_lock(struct state_git *git, struct state_lock *lock,
    double wait_seconds, struct strbuf *err);
/* Write the lease again (with the outbox's intents), as now + its length. */
int state_git_renew(struct state_lock *lock, struct strbuf *err);
void state_git_unlock(struct state_lock *lock);
int state_git_force_unlock(
    struct state_git *git, const char *lock_id, struct strbuf *err);
/* Fetch the state ref and write its state.json to the cache path (remove
 * the cache when there is none); loaded_from is its commit ("": none). */
int state_git_fetch_state(
    struct state_git *git, char loaded_from[41], struct strbuf *err);
/* Commit text as state.json on top of parent (40 hex digits or "") and
 * push it in place of parent: STATE_GIT_MOVED when the ref is no longer
 * parent. *pushed gets the new commit. */
#define STATE_GIT_MOVED (-2)
int state_git_push_state(struct state_git *git, const char *parent,
    const char *text, size_t len, const char *message, char pushed[41],
    struct strbuf *err);

#endif
