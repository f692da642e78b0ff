/*
 * The state lock: a lease in STATE_PATH.lock that says who holds it, for
 * what, and until when.
 *
 * Why taking, taking over, renewing and releasing it cannot race. Every
 * operation that changes STATE_PATH.lock first takes an exclusive flock(2)
 * on a second file, STATE_PATH.lock.guard, which is created once and never
 * removed, renamed or replaced (so every process locks the same inode).
 * Under that guard it reads the lock file, decides (free? expired? still
 * ours? the id asked for?) and writes or removes it, then drops the guard.
 * Check and act are therefore one step as far as any other getbot can
 * tell: when two processes find the same expired lease, the first takes it
 * over and the second, once it has the guard, reads the first one's fresh
 * lease and waits; a holder renewing or releasing cannot have its check
 * made stale by a takeover in between; and a takeover never replaces a
 * lease other than the expired one it read. (The usual lock-free scheme,
 * renaming the stale file aside and checking what was moved, has a window
 * in which a fresh lock moved aside by mistake must be put back while a
 * third process may already have created another.) The guard cannot go
 * stale itself: the kernel drops an flock when its holder exits however it
 * exits, and it is held for a read and a write, never while the caller
 * works; the lease covers that, and expires if its holder dies or hangs.
 *
 * The lock file is always written whole to STATE_PATH.lock.tmp.PID, fsynced
 * and renamed into place, so a reader sees the old lease or the new one,
 * never half of one. Its directory is not fsynced: a lease lost in a crash
 * of the machine belonged to a process that the crash ended.
 *
 * Limits: this holds between processes that use this code on a file
 * system with working flock (local ones; NFS through its lock manager).
 * Expiry compares wall clocks, so hosts sharing a state directory need
 * them roughly in step.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "file.h"
#include "state-internal.h"
#include "state.h"
#include "strbuf.h"
#include "xmalloc.h"

/* A lock file larger than this is not a lock. */
#define STATE_LOCK_MAX_SIZE (64 * 1024)
/* How often a waiting state_lock looks again. */
#define STATE_LOCK_POLL_SECONDS 0.2

static const char *const state_lease_fields[] = { "id", "owner", "host", "pid",
	"started", "expires", "operation", NULL };

void
state_lease_release(struct state_lease *lease)
{
	free(lease->id);
	free(lease->owner);
	free(lease->host);
	free(lease->operation);
	free(lease->job);
	memset(lease, 0, sizeof(*lease));
}

/* A copy of root[key] if it is a string (non-empty unless empty_ok). */
static bool
state_lease_string(
    const cJSON *root, const char *key, bool empty_ok, char **out)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);

	if (!cJSON_IsString(item) ||
	    (!empty_ok && item->valuestring[0] == '\0'))
		return false;
	*out = xstrdup(item->valuestring);
	return true;
}

/* root[key] if it is an integer >= 0. */
static bool
state_lease_integer(const cJSON *root, const char *key, long long *out)
{
	return state_json_integer(
	    cJSON_GetObjectItemCaseSensitive(root, key), 0, LLONG_MAX, out);
}

/* Fill lease from root: NULL, or the problem with member *key (NULL: with
 * root itself). */
static const char *
state_lease_from_json(
    const cJSON *root, struct state_lease *lease, const char **key)
{
	const char *problem;

	*key = NULL;
	if (!cJSON_IsObject(root))
		return "expected an object";
	if (state_json_check_members(
		root, state_lease_fields, true, key, &problem) < 0)
		return problem;
	if (!state_lease_string(root, *key = "id", false, &lease->id) ||
	    !state_lease_string(root, *key = "owner", true, &lease->owner) ||
	    !state_lease_string(root, *key = "host", true, &lease->host) ||
	    !state_lease_string(
		root, *key = "operation", true, &lease->operation))
		return "expected a string";
	if (cJSON_GetObjectItemCaseSensitive(root, "job") != NULL &&
	    !state_lease_string(root, *key = "job", false, &lease->job))
		return "expected a string";
	if (!state_lease_integer(root, *key = "pid", &lease->pid) ||
	    !state_lease_integer(root, *key = "started", &lease->started) ||
	    !state_lease_integer(root, *key = "expires", &lease->expires))
		return "expected an integer >= 0";
	*key = NULL;
	return NULL;
}

/*
 * Parse a lock file's text into lease. Members added by a later getbot
 * are ignored, so that it is still described as a lock rather than as
 * garbage.
 */
int
state_lease_parse(const char *what, const char *text, size_t len,
    struct state_lease *lease, struct strbuf *err)
{
	const char *key, *problem;
	cJSON *root = NULL;
	int rc = -1;

	if (state_json_parse(what, text, len, &root, err) < 0)
		goto out;
	problem = state_lease_from_json(root, lease, &key);
	if (problem != NULL) {
		strbuf_addf(err, "%s is not a valid lock: %s%s%s", what,
		    key != NULL ? key : "", key != NULL ? ": " : "", problem);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		state_lease_release(lease);
	cJSON_Delete(root);
	return rc;
}

/* Read the lease in lock_path; FILE_MISSING if there is none. */
static int
state_lease_read(
    const char *lock_path, struct state_lease *lease, struct strbuf *err)
{
	struct strbuf content = STRBUF_INIT, what = STRBUF_INIT;
	struct stat st;
	int rc;

	strbuf_addf(&what, "lock file '%s'", lock_path);
	rc = file_read(lock_path, STATE_LOCK_MAX_SIZE, &content, &st, err);
	if (rc == 0 && state_lease_parse(what.buf, content.buf, content.len,
			   lease, err) < 0) {
		strbuf_addstr(err, "; it is left in place: if no getbot is "
				   "running, remove it by hand");
		rc = -1;
	}
	strbuf_release(&content);
	strbuf_release(&what);
	return rc;
}

int
state_lease_text(
    const struct state_lease *lease, struct strbuf *out, struct strbuf *err)
{
	cJSON *root = cJSON_CreateObject();
	int rc;

	cJSON_AddStringToObject(root, "id", lease->id);
	cJSON_AddStringToObject(root, "owner", lease->owner);
	cJSON_AddStringToObject(root, "host", lease->host);
	cJSON_AddNumberToObject(root, "pid", (double)lease->pid);
	cJSON_AddNumberToObject(root, "started", (double)lease->started);
	cJSON_AddNumberToObject(root, "expires", (double)lease->expires);
	cJSON_AddStringToObject(root, "operation", lease->operation);
	if (lease->job != NULL)
		cJSON_AddStringToObject(root, "job", lease->job);
	rc = state_json_print(root, out, err);
	cJSON_Delete(root);
	return rc;
}

/* Write lease to lock_path, replacing what is there. Under the guard. */
static int
state_lease_write(
    const char *lock_path, const struct state_lease *lease, struct strbuf *err)
{
	struct strbuf text = STRBUF_INIT;
	char *tmp = file_tmp_name(lock_path);
	int rc = -1;

	/* Under the guard no live process is writing a temporary file with
	 * our pid, so one that exists was left by a dead one. */
	(void)unlink(tmp);
	if (state_lease_text(lease, &text, err) < 0 ||
	    file_replace(lock_path, text.buf, text.len, 0600, err) < 0)
		goto out;
	rc = 0;
out:
	strbuf_release(&text);
	free(tmp);
	return rc;
}

/* UNIX seconds as 2026-11-22T01:02:03Z. */
static void
state_lease_format_time(long long seconds, char out[32])
{
	time_t t = (time_t)seconds;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "@%lld", seconds);
}

void
state_lease_describe(struct strbuf *out, const struct state_lease *lease)
{
	char since[32];

	state_lease_format_time(lease->started, since);
	strbuf_addf(out, "%s@%s pid %lld (%s%s%s) since %s", lease->owner,
	    lease->host, lease->pid, lease->operation,
	    lease->job != NULL ? ", " : "", lease->job != NULL ? lease->job : "",
	    since);
}

void
state_lease_refusal(
    struct strbuf *out, const struct state_lease *lease, long long now)
{
	strbuf_addstr(out, "state is locked by ");
	state_lease_describe(out, lease);
	strbuf_addf(out,
	    "; lease expires in %lld s; lock id %s; run 'getbot state "
	    "unlock %s' if that process is gone",
	    lease->expires - now, lease->id, lease->id);
}

void
state_lease_stale(
    struct strbuf *out, const struct state_lease *lease, long long now)
{
	state_lease_describe(out, lease);
	if (lease->expires >= now)
		strbuf_addf(out, ", whose process is gone, lock id %s", lease->id);
	else
		strbuf_addf(out, ", expired %lld s ago, lock id %s",
		    now - lease->expires, lease->id);
}

/* Open the guard file and flock it; *fd is -1 on failure. */
static int
state_lock_guard(const char *guard_path, int *fd, struct strbuf *err)
{
	*fd = open(guard_path,
	    O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (*fd < 0) {
		strbuf_addf(
		    err, "cannot open '%s': %s", guard_path, strerror(errno));
		return -1;
	}
	while (flock(*fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		strbuf_addf(
		    err, "cannot lock '%s': %s", guard_path, strerror(errno));
		close(*fd);
		*fd = -1;
		return -1;
	}
	return 0;
}

static void
state_lock_unguard(int fd)
{
	if (fd >= 0)
		close(fd); /* and with it the flock */
}

/* Who we are: $USER, else the password entry, else the uid. */
static char *
state_lock_owner(void)
{
	const char *user = getenv("USER");
	const struct passwd *pw;

	if (user != NULL && user[0] != '\0')
		return xstrdup(user);
	pw = getpwuid(geteuid());
	if (pw != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0')
		return xstrdup(pw->pw_name);
	return xasprintf("uid %ld", (long)geteuid());
}

static char *
state_lock_host(void)
{
	char name[256];

	if (gethostname(name, sizeof(name)) < 0)
		return xstrdup("unknown-host");
	name[sizeof(name) - 1] = '\0';
	return xstrdup(name);
}

/* The CI job this run belongs to, where the CI says: NULL elsewhere. */
static char *
state_lock_job(void)
{
	const char *run = getenv("GITHUB_RUN_ID");
	const char *job = getenv("CI_JOB_ID");

	if (getenv("GITHUB_ACTIONS") != NULL && run != NULL && run[0] != '\0')
		return xasprintf("GitHub Actions run %.64s", run);
	if (getenv("GITLAB_CI") != NULL && job != NULL && job[0] != '\0')
		return xasprintf("GitLab CI job %.64s", job);
	if (job != NULL && job[0] != '\0')
		return xasprintf("CI job %.64s", job);
	return NULL;
}

void
state_lock_free(struct state_lock *lock)
{
	if (lock == NULL)
		return;
	state_git_free(lock->git);
	pthread_mutex_destroy(&lock->outbox.mutex);
	strbuf_release(&lock->outbox.journal);
	cJSON_Delete(lock->inherited);
	free(lock->lock_path);
	free(lock->guard_path);
	state_lease_release(&lock->lease);
	free(lock->taken_over);
	free(lock);
}

struct state_lock *
state_lock_new(const char *operation, long lease_seconds)
{
	struct state_lock *lock = xcalloc(1, sizeof(*lock));
	char id[STATE_UUID_SIZE];

	state_uuid(id);
	lock->lease.id = xstrdup(id);
	lock->lease.owner = state_lock_owner();
	lock->lease.host = state_lock_host();
	lock->lease.pid = (long long)getpid();
	lock->lease.operation = xstrdup(operation);
	lock->lease.job = state_lock_job();
	lock->lease_seconds =
	    lease_seconds > 0 ? lease_seconds : STATE_LEASE_SECONDS;
	pthread_mutex_init(&lock->outbox.mutex, NULL);
	strbuf_init(&lock->outbox.journal, 0);
	return lock;
}

/*
 * Is the holder of a lease known to be gone: a process of this host (the
 * same host name) that no longer exists? A kill -9 leaves its lease behind;
 * waiting out the lease would only delay the apply that resumes its work.
 */
bool
state_lease_holder_gone(
    const struct state_lease *lease, const struct state_lock *lock)
{
	if (lease->host == NULL || lock->lease.host == NULL ||
	    strcmp(lease->host, lock->lease.host) != 0 || lease->pid <= 0 ||
	    lease->pid > INT_MAX)
		return false;
	return kill((pid_t)lease->pid, 0) != 0 && errno == ESRCH;
}

/*
 * One attempt: take the lock if it is free, its lease has expired or its
 * holder on this host is gone.
 * Returns STATE_LOCKED with the holder described in held.
 */
static int
state_lock_try(struct state_lock *lock, struct strbuf *held, struct strbuf *err)
{
	struct state_lease current = { 0 };
	struct strbuf stale = STRBUF_INIT;
	int guard = -1, rc = -1, got;
	long long now;

	if (state_lock_guard(lock->guard_path, &guard, err) < 0)
		goto out;
	got = state_lease_read(lock->lock_path, &current, err);
	if (got < 0 && got != FILE_MISSING)
		goto out;
	now = (long long)time(NULL);
	if (got == 0 && current.expires >= now &&
	    !state_lease_holder_gone(&current, lock)) {
		state_lease_refusal(held, &current, now);
		rc = STATE_LOCKED;
		goto out;
	}
	if (got == 0)
		state_lease_stale(&stale, &current, now);
	lock->lease.started = now;
	lock->lease.expires = now + lock->lease_seconds;
	if (state_lease_write(lock->lock_path, &lock->lease, err) < 0)
		goto out;
	lock->renewed = now;
	if (got == 0) {
		free(lock->taken_over);
		lock->taken_over = strbuf_detach(&stale, NULL);
	}
	rc = 0;
out:
	state_lock_unguard(guard);
	state_lease_release(&current);
	strbuf_release(&stale);
	return rc;
}

/* Seconds from start to now, on the monotonic clock. */
static double
state_lock_elapsed(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

bool
state_lock_wait_more(
    const struct timespec *start, double wait_seconds, double poll_seconds)
{
	double left = wait_seconds - state_lock_elapsed(start);
	struct timespec pause;

	if (left <= 0)
		return false;
	if (left > poll_seconds)
		left = poll_seconds;
	pause.tv_sec = (time_t)left;
	pause.tv_nsec = (long)((left - (double)pause.tv_sec) * 1e9);
	while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
		;
	return true;
}

/* The local file's lock, polled until wait_seconds have passed. */
static int
state_lock_file(struct state_lock *lock, const char *state_path,
    double wait_seconds, struct strbuf *err)
{
	struct strbuf held = STRBUF_INIT;
	struct timespec start;
	int rc;

	if (state_file_make_dir(state_path, err) < 0)
		return -1;
	lock->lock_path = xasprintf("%s.lock", state_path);
	lock->guard_path = xasprintf("%s.lock.guard", state_path);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		strbuf_reset(&held);
		rc = state_lock_try(lock, &held, err);
		if (rc != STATE_LOCKED ||
		    !state_lock_wait_more(
			&start, wait_seconds, STATE_LOCK_POLL_SECONDS))
			break;
	}
	if (rc == STATE_LOCKED)
		strbuf_add(err, held.buf, held.len);
	strbuf_release(&held);
	return rc;
}

int
state_lock(const struct state_where *where, const char *operation,
    double wait_seconds, struct state_lock **out, struct strbuf *err)
{
	struct state_lock *lock = state_lock_new(operation, where->lease);
	int rc;

	*out = NULL;
	if (!(wait_seconds > 0)) /* negative or NaN: one try */
		wait_seconds = 0;
	if (where->git)
		rc = state_git_open(where, &lock->git, err) < 0
			 ? -1
			 : state_git_lock(lock->git, lock, wait_seconds, err);
	else
		rc = state_lock_file(lock, where->path, wait_seconds, err);
	if (rc == 0) {
		*out = lock;
		lock = NULL;
	}
	state_lock_free(lock);
	return rc;
}

int
state_lock_renew(struct state_lock *lock, struct strbuf *err)
{
	struct state_lease current = { 0 }, renewed;
	int guard = -1, rc = -1, got;

	if (lock->git != NULL)
		return state_git_renew(lock, err);
	if (state_lock_guard(lock->guard_path, &guard, err) < 0)
		goto out;
	got = state_lease_read(lock->lock_path, &current, err);
	if (got == FILE_MISSING) {
		strbuf_addf(err,
		    "lock %s was released by someone else: '%s' is gone",
		    lock->lease.id, lock->lock_path);
		goto out;
	}
	if (got < 0)
		goto out;
	if (strcmp(current.id, lock->lease.id) != 0) {
		strbuf_addstr(err, "lock was taken over by ");
		state_lease_describe(err, &current);
		strbuf_addf(err, "; lock id %s", current.id);
		goto out;
	}
	/* A shallow copy: only the expiry differs until it is written. */
	renewed = lock->lease;
	renewed.expires = (long long)time(NULL) + lock->lease_seconds;
	if (state_lease_write(lock->lock_path, &renewed, err) < 0)
		goto out;
	lock->lease.expires = renewed.expires;
	lock->renewed = (long long)time(NULL);
	rc = 0;
out:
	state_lock_unguard(guard);
	state_lease_release(&current);
	return rc;
}

int
state_lock_tick(struct state_lock *lock, struct strbuf *err)
{
	bool changed;

	pthread_mutex_lock(&lock->outbox.mutex);
	changed = lock->outbox.changed;
	pthread_mutex_unlock(&lock->outbox.mutex);
	if (!changed &&
	    (long long)time(NULL) - lock->renewed < lock->lease_seconds / 3)
		return 0;
	return state_lock_renew(lock, err);
}

void
state_unlock(struct state_lock *lock)
{
	struct strbuf ignored = STRBUF_INIT;
	struct state_lease current = { 0 };
	int guard = -1;

	if (lock == NULL)
		return;
	/* If any of this fails the lease simply expires. */
	if (lock->git != NULL)
		state_git_unlock(lock);
	else if (state_lock_guard(lock->guard_path, &guard, &ignored) == 0 &&
		 state_lease_read(lock->lock_path, &current, &ignored) == 0 &&
		 strcmp(current.id, lock->lease.id) == 0)
		(void)unlink(lock->lock_path);
	state_lock_unguard(guard);
	state_lease_release(&current);
	strbuf_release(&ignored);
	state_lock_free(lock);
}

const char *
state_lock_id(const struct state_lock *lock)
{
	return lock->lease.id;
}

long
state_lock_lease(const struct state_lock *lock)
{
	return lock->lease_seconds;
}

const char *
state_lock_taken_over(const struct state_lock *lock)
{
	return lock->taken_over;
}

/* state_force_unlock of the local file. */
static int
state_force_unlock_file(
    const char *state_path, const char *lock_id, struct strbuf *err)
{
	char *lock_path = xasprintf("%s.lock", state_path);
	char *guard_path = xasprintf("%s.lock.guard", state_path);
	struct state_lease current = { 0 };
	struct stat st;
	int guard = -1, rc = -1, got;

	/* No lock file (or no directory): nothing to guard, nor to create
	 * a guard file for. */
	if (lstat(lock_path, &st) < 0 && errno == ENOENT) {
		strbuf_addf(err, "state '%s' is not locked", state_path);
		goto out;
	}
	if (state_lock_guard(guard_path, &guard, err) < 0)
		goto out;
	got = state_lease_read(lock_path, &current, err);
	if (got == FILE_MISSING) {
		strbuf_addf(err, "state '%s' is not locked", state_path);
		goto out;
	}
	if (got < 0)
		goto out;
	if (strcmp(current.id, lock_id) != 0) {
		strbuf_addf(err,
		    "lock id '%s' does not match: state is locked by ",
		    lock_id);
		state_lease_describe(err, &current);
		strbuf_addf(err, " with lock id %s", current.id);
		goto out;
	}
	if (unlink(lock_path) < 0) {
		strbuf_addf(
		    err, "cannot remove '%s': %s", lock_path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	state_lock_unguard(guard);
	state_lease_release(&current);
	free(lock_path);
	free(guard_path);
	return rc;
}

int
state_force_unlock(const struct state_where *where, const char *lock_id,
    struct strbuf *err)
{
	struct state_git *git = NULL;
	int rc;

	if (!where->git)
		return state_force_unlock_file(where->path, lock_id, err);
	rc = state_git_open(where, &git, err);
	if (rc == 0)
		rc = state_git_force_unlock(git, lock_id, err);
	state_git_free(git);
	return rc;
}
