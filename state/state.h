/*
 * getbot's state: what it last applied, per resource, and the intent
 * journal, in one JSON file (default .getbot/state.json beside bots.yaml),
 * mode 0600, written atomically (temp file, fsync, rename, fsync dir). It
 * holds no secret values, only fingerprints.
 *
 * File format (version 1), written pretty-printed with its keys in this
 * order, resources sorted by address and every object in a spec or in
 * fingerprints sorted by key, so that diffs of it are readable:
 *   {"version": 1, "lineage": "UUID", "serial": N, "commit": "GIT SHA"|null,
 *    "resources": {"ADDR": {"provider": "NAME", "spec": {...},
 *                           "fingerprints": {"NAME": "HEX", ...},
 *                           "serial": N,
 *                           "commit": {"sha": "HEX[-dirty]",
 *                                      "author": "Name <email>",
 *                                      "date": "ISO 8601",
 *                                      "subject": "..."}}},
 *    "journal": [{"id": "UUID", "address": "ADDR", "action": "create",
 *                 "status": "intended"|"done"|"failed", "started": UNIX,
 *                 "ended": UNIX|null, "error": "..."|null}]}
 * A resource's "serial" is that of the first file it was saved in with its
 * current contents; its "commit" (optional: absent in older files and for
 * a config in no git repository) is the config's commit it was last
 * applied from, "-dirty" when the work tree differed from it. Fields
 * other than these are refused at load.
 *
 * Lineages and ids are random UUIDs from libsodium: call sodium_init()
 * first. None of this is thread-safe except where said.
 *
 * Ownership: struct state owns every cJSON it holds; getters return
 * borrowed pointers valid until the next call that changes the state.
 */
#ifndef GETBOT_STATE_H
#define GETBOT_STATE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "strbuf.h"

#define STATE_VERSION 1

struct state;

/*
 * Load path. A missing file gives an empty state (new lineage, serial 0)
 * and returns 0; nothing is written until state_save. Returns -1 with err
 * for a file that cannot be read or parsed, was written by a newer getbot,
 * has a field missing, unknown or of the wrong type (err names it), or is
 * readable or writable by group or others (err says how to fix it; the
 * file is never "fixed" here).
 */
int state_load(const char *path, struct state **out, struct strbuf *err);
/*
 * Write atomically as serial + 1: PATH.tmp.PID in the same directory
 * (created exclusively, mode 0600), fsync, rename over PATH, fsync the
 * directory. Creates the directory (mode 0700, one level only) if it is
 * missing. On failure the file on disk is the old one, unless err says
 * only the directory could not be synced (the new file is in place).
 * The caller holds the lock (state_lock).
 */
int state_save(struct state *state, struct strbuf *err);
void state_free(struct state *state);

const char *state_path(const struct state *state);
const char *state_lineage(const struct state *state);
/* The serial of the file loaded or last saved (0: never saved). */
long state_serial(const struct state *state);
const char *state_commit(const struct state *state); /* NULL when unknown */
/* Copies commit; NULL makes it unknown. */
void state_set_commit(struct state *state, const char *commit);

/* The config's commit this run applies ({"sha", "author", "date",
 * "subject"}, copied; NULL: none): state_set_resource records it with each
 * resource it sets. */
void state_set_provenance(struct state *state, const cJSON *commit);

/* The last applied snapshot of addr ({"provider", "spec", "fingerprints",
 * "serial"[, "commit"]}), or NULL. */
const cJSON *state_resource(const struct state *state, const char *addr);
/*
 * Record what was applied to addr, replacing what was there. spec (any
 * JSON value; NULL for {}) and fingerprints (an object of strings; other
 * members are left out; NULL for {}) are copied, with object keys sorted.
 */
void state_set_resource(struct state *state, const char *addr,
    const char *provider, const cJSON *spec, const cJSON *fingerprints);
void state_remove_resource(struct state *state, const char *addr);
/* Addresses in the state, sorted, NULL-terminated; *n set. Borrowed array
 * and strings, valid until state_free, the next call or the next change to
 * the resources. */
const char *const *state_addresses(struct state *state, size_t *n);

/*
 * Intent journal. state_intend records (and saves) an intended action
 * before its first remote call and sets *id to its id (the caller frees
 * it); if the save fails the intent is dropped again, *id is NULL and the
 * action must not start. state_complete marks it done or failed (error:
 * the remote's message, cut to 4 KiB, or NULL) and saves; an entry that
 * is not "intended" any more is refused. If that save fails the entry
 * stays resolved in memory and the next save writes it. Both save the
 * file at once, so a kill -9 at any point leaves a journal that says what
 * may have happened.
 */
int state_intend(struct state *state, const char *addr, const char *action,
    char **id, struct strbuf *err);
int state_complete(struct state *state, const char *id, bool ok,
    const char *error, struct strbuf *err);
/* Intents still "intended" (an interrupted apply), oldest first: a cJSON
 * array of copies, borrowed until state_free or the next call. */
const cJSON *state_unfinished(struct state *state);
/* The whole journal, oldest first (borrowed; getbot status reads it). */
const cJSON *state_journal(const struct state *state);
/* Keep only the keep newest resolved ("done"/"failed") journal entries;
 * "intended" ones are never dropped. Does not save. */
void state_journal_trim(struct state *state, size_t keep);

/*
 * Where the state and its lock live (the config's state: block).
 *
 * local: the file path, its lock in PATH.lock beside it.
 *
 * git: the refs refs/getbot/state and refs/getbot/lock of a remote of the
 * repository holding config_path, each a commit holding one file
 * (state.json; lock.json, a lease as below). They are read with a fetch
 * and changed only by pushes that name the commit they replace (a
 * compare-and-swap the remote's receive-pack checks under its ref lock),
 * so of two runners that race exactly one wins and the other reads the
 * winner's. The state ref's history is the audit trail: one commit per
 * apply. While getbot works the state is kept in GITDIR/getbot/, and
 * pushed by state_publish.
 */
struct state_where {
	const char *path;        /* local: the state file */
	bool git;                /* the git backend */
	const char *config_path; /* git: a file in the repository */
	const char *remote;      /* git: the remote's name; NULL: origin */
	long lease;              /* seconds; 0: STATE_LEASE_SECONDS */
};

/* state_load for where; the git backend fetches the state ref first. */
int state_open(
    const struct state_where *where, struct state **out, struct strbuf *err);
/*
 * Make what was saved the shared record: for the git backend, commit the
 * state with message on top of the commit it was loaded from (or last
 * published) and push it. When the ref moved meanwhile (another runner
 * took over an expired lease, or unlocked ours) the remote's state is
 * fetched, ours is laid over it (resources this run changed win, journal
 * entries are joined) and the push tried again, so nothing either wrote
 * is lost. A no-op for the local backend, whose state_save is the record.
 */
int state_publish(struct state *state, const char *message, struct strbuf *err);
/* "git refs/getbot/state of origin (URL)" or the file's path. */
void state_describe(const struct state *state, struct strbuf *out);

/*
 * The lock with a lease (the local file's, or the git backend's ref):
 *   {"id": "UUID", "owner": "user", "host": "...", "pid": N,
 *    "started": UNIX, "expires": UNIX, "operation": "apply",
 *    "job": "GitHub Actions run 42"}      (job: only in CI)
 * state_lock takes it if free or expired (a stale lease is taken over,
 * atomically); otherwise it polls (every 200 ms for a file, 1 s for git)
 * for up to wait_seconds (0: one try) and then returns STATE_LOCKED with
 * the holder described in err ("state is locked by alice@ci-runner pid
 * 4242 (apply) since ...; lease expires in 42 s; lock id ...; run 'getbot
 * state unlock ...' if that process is gone"). A lock that does not parse
 * is reported (-1), never removed. The local backend creates the state's
 * directory like state_save.
 *
 * A local lock file is changed only under an flock(2) of PATH.lock.guard,
 * a file that is created once and then left in place (see state-lock.c).
 *
 * state_lock_renew extends the lease to now + its length; it fails if the
 * lock no longer carries our id. A thread may call it while the caller
 * works, but never at the same time as state_unlock.
 */
#define STATE_LOCKED        (-4)
#define STATE_LEASE_SECONDS 60

struct state_lock;

int state_lock(const struct state_where *where, const char *operation,
    double wait_seconds, struct state_lock **out, struct strbuf *err);
int state_lock_renew(struct state_lock *lock, struct strbuf *err);
/*
 * Bind state to the lock held for it. For the git backend, what state's
 * journal says is unfinished reaches the lock ref with the next
 * state_lock_tick, so a runner killed mid-apply leaves its intents there;
 * and the intents such a runner left in a lease this lock took over are
 * added to state's journal, for the apply to resolve as it resolves its
 * own. Entries that do not check out are left out. Nothing for a file.
 */
void state_lock_attach(struct state_lock *lock, struct state *state);
/*
 * Call about once a second while the lock is held (from one thread, not
 * at the same time as state_unlock): renews the lease when a third of it
 * has passed, and for the git backend sends the journal's intents when
 * they changed. err says why it failed (the lock lost, the remote gone).
 */
int state_lock_tick(struct state_lock *lock, struct strbuf *err);
/* Release (only if still ours) and free; NULL is allowed. */
void state_unlock(struct state_lock *lock);
const char *state_lock_id(const struct state_lock *lock);
/* The lease's length in seconds. */
long state_lock_lease(const struct state_lock *lock);
/* When state_lock took over an expired lease: its holder, described for a
 * warning ("alice@host pid 42 (apply) since ..., expired 30 s ago, lock id
 * ..."); otherwise NULL. Borrowed from lock. */
const char *state_lock_taken_over(const struct state_lock *lock);
/* Remove the lock if its id is lock_id (getbot state unlock); err names
 * the holder and the actual id when it is not. */
int state_force_unlock(const struct state_where *where, const char *lock_id,
    struct strbuf *err);

#endif
