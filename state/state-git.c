/*
 * The git state backend: the lock and the state as refs of the config's
 * git remote (libgit2).
 *
 * refs/getbot/lock, when present, is a commit without parents holding
 * lock.json (a lease); refs/getbot/state is a chain of commits holding
 * state.json, one per apply. Both are read by fetching refs/getbot/ into
 * refs/getbot-remote/REMOTE/ of the local repository, and what the remote
 * has now is what it advertised during that fetch.
 *
 * Every change is a push that names the commit it replaces: the refspec is
 * forced (a lock commit has no parent; a state commit's parent is the one
 * it replaces), and the push_negotiation callback refuses to send unless
 * the remote still advertises the commit we expect (zeros: no ref). The
 * remote's receive-pack then updates the ref only if it still holds the
 * advertised commit, under its ref lock. Together that is a
 * compare-and-swap: of two runners that race, one push wins and the other
 * is told STATE_GIT_MOVED (or rejected by the remote, which is looked at
 * again to tell a lost race from a refusal).
 *
 * A push names a local ref as its source (libgit2 cannot push a bare
 * commit id), so commits are made under refs/getbot-out/REMOTE/ first.
 *
 * Authentication is git's: for ssh remotes ssh-agent, then ~/.ssh/id_ed25519,
 * id_ecdsa and id_rsa (a passphrase from GETBOT_SSH_PASSPHRASE); for https
 * a token from GETBOT_GIT_TOKEN. Host keys are checked by libgit2 against
 * ~/.ssh/known_hosts.
 */
#include "config.h"

#include <errno.h>
#include <git2.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "state-internal.h"
#include "state.h"
#include "strbuf.h"
#include "xmalloc.h"

#define STATE_GIT_LOCK_REF  "refs/getbot/lock"
#define STATE_GIT_STATE_REF "refs/getbot/state"
/* Files in those commits larger than these are not ours. */
#define STATE_GIT_LOCK_MAX  (64 * 1024)
#define STATE_GIT_STATE_MAX (64 * 1024 * 1024)
/* How often a waiting state_lock looks again at the lock ref. */
#define STATE_GIT_POLL_SECONDS 1.0

struct state_git {
	git_repository *repo;
	char *remote;     /* its name */
	char *url;        /* for messages, without a password */
	char *cache_path; /* GITDIR/getbot/REMOTE-state.json */
	int cred_step;    /* the next credential to offer */
	bool token_offered;
	struct strbuf cred_tried; /* what was offered, for the message */
	struct state_git_push *push; /* the push under way, or NULL */
};

/* What a push expects, and what it found. */
struct state_git_push {
	const char *refname;
	git_oid expected; /* zeros: no ref */
	bool moved;
	char *rejected; /* the remote's reason, or NULL */
};

/* libgit2's last error, or what. */
static void
state_git_error(struct strbuf *err, const char *what)
{
	const git_error *e = git_error_last();

	strbuf_addf(err, "%s: %s", what,
	    e != NULL && e->message != NULL ? e->message : "unknown error");
}

/* url without the password of any user:password@ in it. */
static char *
state_git_safe_url(const char *url)
{
	const char *scheme = strstr(url, "://"), *at, *colon;

	if (scheme == NULL)
		return xstrdup(url);
	scheme += 3;
	at = strchr(scheme, '@');
	colon = strchr(scheme, ':');
	if (at == NULL || colon == NULL || colon > at ||
	    strchr(scheme, '/') < at)
		return xstrdup(url);
	return xasprintf("%.*s:***%s", (int)(colon - url), url, at);
}

int
state_git_open(const struct state_where *where, struct state_git **out,
    struct strbuf *err)
{
	const char *name = where->remote != NULL ? where->remote : "origin";
	struct state_git *git = xcalloc(1, sizeof(*git));
	git_remote *remote = NULL;
	char *real = NULL;
	int rc = -1;

	git_libgit2_init();
	strbuf_init(&git->cred_tried, 0);
	*out = NULL;
	real = realpath(where->config_path, NULL);
	if (real == NULL ||
	    git_repository_open_ext(&git->repo, real, 0, NULL) != 0) {
		strbuf_addf(err,
		    "state: backend git keeps the state in the config's git "
		    "repository, but '%s' is not in one",
		    where->config_path);
		goto out;
	}
	if (git_remote_lookup(&remote, git->repo, name) != 0) {
		strbuf_addf(err,
		    "state: backend git keeps the state in a remote of the "
		    "config's repository, but it has no remote '%s' (add it "
		    "with 'git remote add', or name another with state: "
		    "{remote: NAME})",
		    name);
		goto out;
	}
	git->remote = xstrdup(name);
	git->url = state_git_safe_url(
	    git_remote_url(remote) != NULL ? git_remote_url(remote) : "");
	git->cache_path = xasprintf("%sgetbot/%s-state.json",
	    git_repository_path(git->repo), name);
	rc = 0;
out:
	git_remote_free(remote);
	free(real);
	if (rc == 0)
		*out = git;
	else
		state_git_free(git);
	return rc;
}

void
state_git_free(struct state_git *git)
{
	if (git == NULL)
		return;
	git_repository_free(git->repo);
	free(git->remote);
	free(git->url);
	free(git->cache_path);
	strbuf_release(&git->cred_tried);
	free(git);
	git_libgit2_shutdown();
}

const char *
state_git_cache_path(const struct state_git *git)
{
	return git->cache_path;
}

void
state_git_describe(const struct state_git *git, struct strbuf *out)
{
	strbuf_addf(out, "%s of remote '%s' (%s)", STATE_GIT_STATE_REF,
	    git->remote, git->url);
}

/* Offer git's credentials in turn: ssh-agent, key files, a token. */
static int
state_git_credentials(git_credential **out, const char *url,
    const char *user_from_url, unsigned int allowed, void *payload)
{
	static const char *const keys[] = { "id_ed25519", "id_ecdsa", "id_rsa",
		NULL };
	struct state_git *git = payload;
	const char *user = user_from_url != NULL ? user_from_url : "git";
	const char *home = getenv("HOME"), *token = getenv("GETBOT_GIT_TOKEN");
	char *key, *pub;
	int rc;

	(void)url;
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, user);
	while ((allowed & GIT_CREDENTIAL_SSH_KEY) && git->cred_step < 4) {
		int step = git->cred_step++;

		if (step == 0) {
			if (getenv("SSH_AUTH_SOCK") == NULL)
				continue;
			strbuf_addstr(&git->cred_tried, " ssh-agent");
			return git_credential_ssh_key_from_agent(out, user);
		}
		if (home == NULL)
			continue;
		key = xasprintf("%s/.ssh/%s", home, keys[step - 1]);
		if (access(key, R_OK) != 0) {
			free(key);
			continue;
		}
		pub = xasprintf("%s.pub", key);
		strbuf_addf(&git->cred_tried, " %s", key);
		rc = git_credential_ssh_key_new(out, user,
		    access(pub, R_OK) == 0 ? pub : NULL, key,
		    getenv("GETBOT_SSH_PASSPHRASE"));
		free(key);
		free(pub);
		return rc;
	}
	if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && token != NULL &&
	    token[0] != '\0' && !git->token_offered) {
		git->token_offered = true;
		strbuf_addstr(&git->cred_tried, " GETBOT_GIT_TOKEN");
		return git_credential_userpass_plaintext_new(out,
		    user_from_url != NULL ? user_from_url : "x-access-token",
		    token);
	}
	git_error_set_str(GIT_ERROR_NET,
	    git->cred_tried.len > 0
		? "the remote refused every credential offered"
		: "no credentials to offer (ssh: an ssh-agent or "
		  "~/.ssh/id_ed25519, id_ecdsa or id_rsa; https: "
		  "GETBOT_GIT_TOKEN)");
	return -1;
}

static void
state_git_callbacks(struct state_git *git, git_remote_callbacks *callbacks)
{
	git->cred_step = 0;
	git->token_offered = false;
	strbuf_reset(&git->cred_tried);
	callbacks->credentials = state_git_credentials;
	callbacks->payload = git;
}

/* The message for a failed fetch or push of the remote. */
static void
state_git_remote_error(
    struct state_git *git, const char *verb, struct strbuf *err)
{
	struct strbuf what = STRBUF_INIT;

	strbuf_addf(&what, "cannot %s remote '%s' (%s)", verb, git->remote,
	    git->url);
	state_git_error(err, what.buf);
	if (git->cred_tried.len > 0)
		strbuf_addf(err, " (tried:%s)", git->cred_tried.buf);
	if (strstr(err->buf, "hostkey") != NULL)
		strbuf_addstr(err, "; if the remote is the one you mean, add its "
				   "host key to ~/.ssh/known_hosts (ssh-keyscan "
				   "-p PORT HOST, checked against its "
				   "fingerprint)");
	strbuf_release(&what);
}

/*
 * Fetch the refs under refs/getbot/ and say what the remote has now: the commits of its
 * lock and state refs (zeros: none).
 */
static int
state_git_fetch(struct state_git *git, git_oid *lock, git_oid *state,
    struct strbuf *err)
{
	git_fetch_options options;
	const git_remote_head **heads;
	git_remote *remote = NULL;
	char *spec = xasprintf("+refs/getbot/*:refs/getbot-remote/%s/*",
	    git->remote);
	git_strarray specs = { &spec, 1 };
	size_t n, i;
	int rc = -1;

	memset(lock, 0, sizeof(*lock));
	memset(state, 0, sizeof(*state));
	git_fetch_options_init(&options, GIT_FETCH_OPTIONS_VERSION);
	if (git_remote_lookup(&remote, git->repo, git->remote) != 0) {
		state_git_error(err, "cannot read the remote");
		goto out;
	}
	state_git_callbacks(git, &options.callbacks);
	options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	options.update_fetchhead = 0;
	if (git_remote_fetch(remote, &specs, &options, NULL) != 0) {
		state_git_remote_error(git, "fetch from", err);
		goto out;
	}
	if (git_remote_ls(&heads, &n, remote) != 0) {
		state_git_remote_error(git, "list the refs of", err);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(heads[i]->name, STATE_GIT_LOCK_REF) == 0)
			git_oid_cpy(lock, &heads[i]->oid);
		else if (strcmp(heads[i]->name, STATE_GIT_STATE_REF) == 0)
			git_oid_cpy(state, &heads[i]->oid);
	}
	rc = 0;
out:
	git_remote_free(remote);
	free(spec);
	return rc;
}

/* The file name in commit (fetched), at most max bytes, into out; when
 * optional, STATE_GIT_NO_FILE if the commit has none. */
#define STATE_GIT_NO_FILE (-3)
static int
state_git_read(struct state_git *git, const git_oid *commit_id,
    const char *name, bool optional, size_t max, struct strbuf *out,
    struct strbuf *err)
{
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	git_blob *blob = NULL;
	const git_tree_entry *entry;
	char hex[GIT_OID_HEXSZ + 1];
	int rc = -1;

	git_oid_tostr(hex, sizeof(hex), commit_id);
	if (git_commit_lookup(&commit, git->repo, commit_id) != 0 ||
	    git_commit_tree(&tree, commit) != 0) {
		strbuf_addf(err, "cannot read commit %s of remote '%s'", hex,
		    git->remote);
		goto out;
	}
	entry = git_tree_entry_byname(tree, name);
	if (entry == NULL && optional) {
		rc = STATE_GIT_NO_FILE;
		goto out;
	}
	if (entry == NULL || git_tree_entry_type(entry) != GIT_OBJECT_BLOB ||
	    git_blob_lookup(&blob, git->repo, git_tree_entry_id(entry)) != 0) {
		strbuf_addf(err,
		    "commit %s of remote '%s' holds no file %s: it was not "
		    "written by getbot",
		    hex, git->remote, name);
		goto out;
	}
	if ((size_t)git_blob_rawsize(blob) > max) {
		strbuf_addf(err, "%s in commit %s of remote '%s' is larger "
				 "than %zu bytes",
		    name, hex, git->remote, max);
		goto out;
	}
	strbuf_add(out, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
	rc = 0;
out:
	git_blob_free(blob);
	git_tree_free(tree);
	git_commit_free(commit);
	return rc;
}

/*
 * A commit holding text as name, on top of parent (NULL: none), pointed to
 * by refs/getbot-out/REMOTE/KIND so that it can be pushed; *id set.
 */
static int
state_git_commit(struct state_git *git, const char *kind,
    const git_oid *parent_id, const char *name, const char *text, size_t len,
    const struct strbuf *journal, const char *message, git_oid *id,
    struct strbuf *err)
{
	git_oid journal_id;
	git_treebuilder *builder = NULL;
	git_signature *who = NULL;
	git_commit *parent = NULL;
	const git_commit *parents[1];
	git_reference *ref = NULL;
	git_tree *tree = NULL;
	git_oid blob_id, tree_id;
	char *refname = xasprintf("refs/getbot-out/%s/%s", git->remote, kind);
	char host[256];
	char *email = NULL;
	int rc = -1;

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "unknown-host");
	host[sizeof(host) - 1] = '\0';
	email = xasprintf("getbot@%s", host);
	if (git_blob_create_from_buffer(&blob_id, git->repo, text, len) != 0 ||
	    git_treebuilder_new(&builder, git->repo, NULL) != 0 ||
	    git_treebuilder_insert(
		NULL, builder, name, &blob_id, GIT_FILEMODE_BLOB) != 0 ||
	    (journal != NULL && journal->len > 0 &&
		(git_blob_create_from_buffer(&journal_id, git->repo,
		     journal->buf, journal->len) != 0 ||
		    git_treebuilder_insert(NULL, builder, "journal.json",
			&journal_id, GIT_FILEMODE_BLOB) != 0)) ||
	    git_treebuilder_write(&tree_id, builder) != 0 ||
	    git_tree_lookup(&tree, git->repo, &tree_id) != 0 ||
	    git_signature_now(&who, "getbot", email) != 0 ||
	    (parent_id != NULL &&
		git_commit_lookup(&parent, git->repo, parent_id) != 0))
		goto failed;
	parents[0] = parent;
	if (git_commit_create(id, git->repo, NULL, who, who, NULL, message,
		tree, parent != NULL ? 1 : 0, parents) != 0 ||
	    git_reference_create(&ref, git->repo, refname, id, 1, NULL) != 0)
		goto failed;
	rc = 0;
	goto out;
failed:
	state_git_error(err, "cannot make a commit for the remote");
out:
	git_reference_free(ref);
	git_commit_free(parent);
	git_signature_free(who);
	git_tree_free(tree);
	git_treebuilder_free(builder);
	free(refname);
	free(email);
	return rc;
}

/* Send nothing unless the remote still has what we expect. */
static int
state_git_negotiate(const git_push_update **updates, size_t len, void *payload)
{
	struct state_git_push *push = ((struct state_git *)payload)->push;
	size_t i;

	for (i = 0; i < len; i++)
		if (strcmp(updates[i]->dst_refname, push->refname) == 0 &&
		    !git_oid_equal(&updates[i]->src, &push->expected)) {
			push->moved = true;
			git_error_set_str(GIT_ERROR_REFERENCE,
			    "the ref moved since it was read");
			return -1;
		}
	return 0;
}

/* The remote's answer for each ref: status is its reason to refuse. */
static int
state_git_pushed(const char *refname, const char *status, void *payload)
{
	struct state_git_push *push = ((struct state_git *)payload)->push;

	if (status != NULL && strcmp(refname, push->refname) == 0 &&
	    push->rejected == NULL)
		push->rejected = xstrdup(status);
	return 0;
}

/*
 * Make refname on the remote the commit at refs/getbot-out/REMOTE/KIND
 * (kind NULL: delete it), if it still is expected (zeros: absent).
 * Returns 0, STATE_GIT_MOVED, or -1 with err.
 */
static int
state_git_push(struct state_git *git, const char *refname, const char *kind,
    const git_oid *expected, struct strbuf *err)
{
	git_push_options options;
	struct state_git_push push = { refname, { { 0 } }, false, NULL };
	git_remote *remote = NULL;
	git_oid lock, state;
	char *spec = kind != NULL ? xasprintf("+refs/getbot-out/%s/%s:%s",
					git->remote, kind, refname)
				  : xasprintf(":%s", refname);
	git_strarray specs = { &spec, 1 };
	int rc = -1, pushed;

	git_push_options_init(&options, GIT_PUSH_OPTIONS_VERSION);
	git_oid_cpy(&push.expected, expected);
	if (git_remote_lookup(&remote, git->repo, git->remote) != 0) {
		state_git_error(err, "cannot read the remote");
		goto out;
	}
	state_git_callbacks(git, &options.callbacks);
	options.callbacks.push_negotiation = state_git_negotiate;
	options.callbacks.push_update_reference = state_git_pushed;
	git->push = &push;
	pushed = git_remote_push(remote, &specs, &options);
	git->push = NULL;
	if (push.moved) {
		rc = STATE_GIT_MOVED;
		goto out;
	}
	if (pushed != 0) {
		state_git_remote_error(git, "push to", err);
		goto out;
	}
	if (push.rejected != NULL) {
		/* a race the remote saw (it updates under its own lock), or
		 * a refusal: look again */
		if (state_git_fetch(git, &lock, &state, err) < 0)
			goto out;
		if (!git_oid_equal(strcmp(refname, STATE_GIT_LOCK_REF) == 0
					? &lock
					: &state,
			expected)) {
			rc = STATE_GIT_MOVED;
			goto out;
		}
		strbuf_addf(err, "remote '%s' (%s) refused to update %s: %s",
		    git->remote, git->url, refname, push.rejected);
		goto out;
	}
	rc = 0;
out:
	git_remote_free(remote);
	free(push.rejected);
	free(spec);
	return rc;
}

/* The lease in lock commit id. */
static int
state_git_read_lease(struct state_git *git, const git_oid *id,
    struct state_lease *lease, struct strbuf *err)
{
	struct strbuf text = STRBUF_INIT, what = STRBUF_INIT;
	int rc = -1;

	strbuf_addf(&what, "the lock %s of remote '%s'", STATE_GIT_LOCK_REF,
	    git->remote);
	if (state_git_read(git, id, "lock.json", false, STATE_GIT_LOCK_MAX,
		&text, err) < 0 ||
	    state_lease_parse(what.buf, text.buf, text.len, lease, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		strbuf_addf(err, "; it is left in place: if no getbot is "
				 "running, delete it with 'git push %s :%s'",
		    git->remote, STATE_GIT_LOCK_REF);
	strbuf_release(&text);
	strbuf_release(&what);
	return rc;
}

/* Push lock's lease (and journal, the intents of the state attached, when
 * not NULL) as a new lock commit in place of expected. */
static int
state_git_push_lease(struct state_lock *lock, const git_oid *expected,
    const struct strbuf *journal, struct strbuf *err)
{
	struct strbuf text = STRBUF_INIT, message = STRBUF_INIT;
	git_oid id;
	int rc = -1;

	strbuf_addstr(&message, "getbot lock: ");
	state_lease_describe(&message, &lock->lease);
	strbuf_addch(&message, '\n');
	if (state_lease_text(&lock->lease, &text, err) < 0 ||
	    state_git_commit(lock->git, "lock", NULL, "lock.json", text.buf,
		text.len, journal, message.buf, &id, err) < 0)
		goto out;
	rc = state_git_push(lock->git, STATE_GIT_LOCK_REF, "lock", expected, err);
	if (rc == 0) {
		git_oid_tostr(lock->git_held, sizeof(lock->git_held), &id);
		lock->renewed = (long long)time(NULL);
	}
out:
	strbuf_release(&text);
	strbuf_release(&message);
	return rc;
}

/* The intents the holder of lock commit id left (journal.json), kept in
 * lock->inherited for state_lock_attach. */
static int
state_git_inherit(struct state_git *git, struct state_lock *lock,
    const git_oid *id, struct strbuf *err)
{
	struct strbuf text = STRBUF_INIT, what = STRBUF_INIT;
	cJSON *journal = NULL;
	int rc;

	rc = state_git_read(git, id, "journal.json", true, STATE_GIT_STATE_MAX,
	    &text, err);
	if (rc == STATE_GIT_NO_FILE) {
		rc = 0;
		goto out;
	}
	strbuf_addf(&what, "the journal in %s of remote '%s'",
	    STATE_GIT_LOCK_REF, git->remote);
	if (rc < 0 ||
	    (rc = state_json_parse(what.buf, text.buf, text.len, &journal,
		 err)) < 0)
		goto out;
	if (!cJSON_IsArray(journal)) {
		strbuf_addf(err, "%s is not a JSON array", what.buf);
		rc = -1;
		goto out;
	}
	cJSON_Delete(lock->inherited);
	lock->inherited = journal;
	journal = NULL;
out:
	cJSON_Delete(journal);
	strbuf_release(&text);
	strbuf_release(&what);
	return rc;
}

int
state_git_lock(struct state_git *git, struct state_lock *lock,
    double wait_seconds, struct strbuf *err)
{
	struct strbuf stale = STRBUF_INIT;
	struct state_lease current = { 0 };
	git_oid lock_id, state_id;
	struct timespec start;
	long long now;
	int rc = -1;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		strbuf_reset(&stale);
		state_lease_release(&current);
		if (state_git_fetch(git, &lock_id, &state_id, err) < 0)
			goto out;
		now = (long long)time(NULL);
		if (!git_oid_is_zero(&lock_id)) {
			if (state_git_read_lease(git, &lock_id, &current, err) <
			    0)
				goto out;
			if (current.expires >= now &&
			    !state_lease_holder_gone(&current, lock)) {
				if (state_lock_wait_more(&start, wait_seconds,
					STATE_GIT_POLL_SECONDS))
					continue;
				state_lease_refusal(err, &current, now);
				rc = STATE_LOCKED;
				goto out;
			}
			state_lease_stale(&stale, &current, now);
			if (state_git_inherit(git, lock, &lock_id, err) < 0)
				goto out;
		}
		lock->lease.started = now;
		lock->lease.expires = now + lock->lease_seconds;
		rc = state_git_push_lease(lock, &lock_id, NULL, err);
		if (rc != STATE_GIT_MOVED)
			break;
		/* another runner was quicker: look again at once */
	}
	if (rc == 0 && stale.len > 0) {
		free(lock->taken_over);
		lock->taken_over = strbuf_detach(&stale, NULL);
	}
out:
	state_lease_release(&current);
	strbuf_release(&stale);
	return rc;
}

/* Who holds the lock now, for a holder that lost it. */
static void
state_git_lost(struct state_lock *lock, struct strbuf *err)
{
	struct strbuf ignored = STRBUF_INIT;
	struct state_lease current = { 0 };
	git_oid lock_id, state_id;

	if (state_git_fetch(lock->git, &lock_id, &state_id, &ignored) == 0 &&
	    git_oid_is_zero(&lock_id))
		strbuf_addf(err, "lock %s was released by someone else",
		    lock->lease.id);
	else if (!git_oid_is_zero(&lock_id) &&
		 state_git_read_lease(lock->git, &lock_id, &current, &ignored) ==
		     0) {
		strbuf_addstr(err, "lock was taken over by ");
		state_lease_describe(err, &current);
		strbuf_addf(err, "; lock id %s", current.id);
	} else
		strbuf_addf(err, "lock %s was changed by someone else",
		    lock->lease.id);
	state_lease_release(&current);
	strbuf_release(&ignored);
}

int
state_git_renew(struct state_lock *lock, struct strbuf *err)
{
	struct strbuf journal = STRBUF_INIT;
	long long expires = lock->lease.expires;
	git_oid held;
	int rc;

	if (git_oid_fromstr(&held, lock->git_held) != 0) {
		strbuf_addstr(err, "the lock is not held");
		return -1;
	}
	pthread_mutex_lock(&lock->outbox.mutex);
	strbuf_add(&journal, lock->outbox.journal.buf, lock->outbox.journal.len);
	lock->outbox.changed = false;
	pthread_mutex_unlock(&lock->outbox.mutex);
	lock->lease.expires = (long long)time(NULL) + lock->lease_seconds;
	rc = state_git_push_lease(lock, &held, &journal, err);
	if (rc == STATE_GIT_MOVED) {
		state_git_lost(lock, err);
		rc = -1;
	}
	if (rc < 0) {
		lock->lease.expires = expires;
		/* send it again with the next try */
		pthread_mutex_lock(&lock->outbox.mutex);
		lock->outbox.changed = true;
		pthread_mutex_unlock(&lock->outbox.mutex);
	}
	strbuf_release(&journal);
	return rc;
}

void
state_git_unlock(struct state_lock *lock)
{
	struct strbuf ignored = STRBUF_INIT;
	git_oid held;

	/* if this fails the lease simply expires */
	if (git_oid_fromstr(&held, lock->git_held) == 0)
		(void)state_git_push(
		    lock->git, STATE_GIT_LOCK_REF, NULL, &held, &ignored);
	strbuf_release(&ignored);
}

int
state_git_force_unlock(
    struct state_git *git, const char *lock_id, struct strbuf *err)
{
	struct state_lease current = { 0 };
	git_oid id, state_id;
	int rc = -1;

	if (state_git_fetch(git, &id, &state_id, err) < 0)
		goto out;
	if (git_oid_is_zero(&id)) {
		strbuf_addf(err, "state in remote '%s' (%s) is not locked",
		    git->remote, git->url);
		goto out;
	}
	if (state_git_read_lease(git, &id, &current, err) < 0)
		goto out;
	if (strcmp(current.id, lock_id) != 0) {
		strbuf_addf(err,
		    "lock id '%s' does not match: state is locked by ",
		    lock_id);
		state_lease_describe(err, &current);
		strbuf_addf(err, " with lock id %s", current.id);
		goto out;
	}
	rc = state_git_push(git, STATE_GIT_LOCK_REF, NULL, &id, err);
	if (rc == STATE_GIT_MOVED) {
		strbuf_addstr(err, "the lock changed while it was being "
				   "released: look again");
		rc = -1;
	}
out:
	state_lease_release(&current);
	return rc;
}

int
state_git_fetch_state(
    struct state_git *git, char loaded_from[41], struct strbuf *err)
{
	struct strbuf text = STRBUF_INIT;
	git_oid lock_id, state_id;
	int rc = -1;

	loaded_from[0] = '\0';
	if (state_git_fetch(git, &lock_id, &state_id, err) < 0)
		goto out;
	if (state_file_make_dir(git->cache_path, err) < 0)
		goto out;
	if (git_oid_is_zero(&state_id)) {
		/* nothing applied yet: an empty state */
		if (unlink(git->cache_path) < 0 && errno != ENOENT) {
			strbuf_addf(err, "cannot remove '%s': %s",
			    git->cache_path, strerror(errno));
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (state_git_read(git, &state_id, "state.json", false,
		STATE_GIT_STATE_MAX, &text, err) < 0 ||
	    file_replace(git->cache_path, text.buf, text.len, 0600, err) < 0)
		goto out;
	git_oid_tostr(loaded_from, 41, &state_id);
	rc = 0;
out:
	strbuf_release(&text);
	return rc;
}

int
state_git_push_state(struct state_git *git, const char *parent,
    const char *text, size_t len, const char *message, char pushed[41],
    struct strbuf *err)
{
	git_oid parent_id, id;
	bool has_parent = parent[0] != '\0';
	int rc;

	memset(&parent_id, 0, sizeof(parent_id));
	if (has_parent && git_oid_fromstr(&parent_id, parent) != 0) {
		strbuf_addf(err, "'%s' is not a commit id", parent);
		return -1;
	}
	if (state_git_commit(git, "state", has_parent ? &parent_id : NULL,
		"state.json", text, len, NULL, message, &id, err) < 0)
		return -1;
	rc = state_git_push(git, STATE_GIT_STATE_REF, "state", &parent_id, err);
	if (rc == 0)
		git_oid_tostr(pushed, 41, &id);
	return rc;
}
