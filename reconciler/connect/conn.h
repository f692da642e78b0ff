/*
 * Server connections: how getbot reaches a server target. The engine opens
 * one per server for the whole run and hands it to every provider working
 * on that server; no provider opens one itself. A connection is a const
 * struct conn_ops table (curl's Curl_ssl backends are the model) with one
 * implementation per way of reaching a server: local (this machine) and
 * ssh (one libssh2 session: channels for streams, SFTP for files, exec for
 * commands). Providers never know which one they hold.
 *
 * Every path names a path on the server. Every operation is bounded: a
 * read has a maximum size, a command a timeout and a maximum output.
 * Operations may run on several threads at once.
 *
 * Returns: 0, CONN_MISSING where said, or -1 with err in the server's own
 * words ("cannot connect to /run/incus/unix.socket: No such file or
 * directory"); the caller adds the step it was taking. Over ssh the
 * message starts with the connection's label, since the server is not
 * this machine.
 */
#ifndef GETBOT_CONN_H
#define GETBOT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "strbuf.h"

#define CONN_MISSING (-2) /* no such file (err left alone) */

struct conn;
struct bots_target;

/* What conn_open adds to a target's own settings. */
struct conn_options {
	/* Trust a server whose host key is unknown, and add the key to
	 * known_hosts (--accept-new-host-key). A changed key is never
	 * trusted. */
	bool accept_new_host_key;
	/* Relative paths in the target (known_hosts, identity) start here:
	 * bots.yaml's directory. NULL: the current directory. */
	const char *base_dir;
	/* Where a word for the user goes ("added the host key ... to
	 * known_hosts"), or NULL. */
	void (*note)(void *ctx, const char *line);
	void *note_ctx;
};

/* What a command run on the server gave back. */
struct conn_result {
	int status;           /* exit status; -1: killed, or did not start */
	struct strbuf out;    /* standard output, at most max_output bytes */
	struct strbuf errout; /* standard error, likewise */
};

struct conn_file_info {
	bool regular; /* a regular file (not a link, FIFO or directory) */
	bool directory;
	unsigned mode; /* permission bits */
	off_t size;
	uid_t uid;
};

/* The directories of the PATH a login on a Debian server has (root's and
 * a user's together): where programs are looked for on a server that is
 * not this machine, since an ssh command gets sshd's own PATH. */
#define CONN_LOGIN_PATH                                                        \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct conn_ops {
	const char *name; /* "local" */
	/* Words for a message after the step they follow ("cannot reach
	 * Caddy's admin API at localhost:2019 through ssh: ..."): "" on this
	 * machine, " through ssh" otherwise. */
	const char *through;
	/*
	 * A connected stream to endpoint on the server, "unix:/PATH" or
	 * "HOST:PORT", as a file descriptor that the caller owns and
	 * closes: the HTTP client speaks HTTP over it.
	 */
	int (*dial)(struct conn *conn, const char *endpoint, int *fd,
	    struct strbuf *err);
	/* Append the regular file at path (at most max bytes) to content;
	 * CONN_MISSING when it does not exist. */
	int (*read_file)(struct conn *conn, const char *path, size_t max,
	    struct strbuf *content, struct strbuf *err);
	/* Replace path atomically: written to a temporary name with mode,
	 * synced, renamed over path. */
	int (*write_file)(struct conn *conn, const char *path, const char *data,
	    size_t len, unsigned mode, struct strbuf *err);
	/* Remove path; a missing one is not an error. */
	int (*remove_file)(
	    struct conn *conn, const char *path, struct strbuf *err);
	/* Make directory path (not its parents) with mode; an existing
	 * one is fine. */
	int (*make_dir)(struct conn *conn, const char *path, unsigned mode,
	    struct strbuf *err);
	/* What path is (links not followed); CONN_MISSING when absent. */
	int (*stat)(struct conn *conn, const char *path,
	    struct conn_file_info *info, struct strbuf *err);
	/*
	 * Run argv[0] (looked up on the server's PATH) with argv, never
	 * through a shell, input (or NULL) on its standard input; wait at
	 * most timeout_ms. Returns 0 whenever it ran, whatever its exit
	 * status (in result); -1 when it could not be started or timed
	 * out (then it is killed: over ssh, with its process group, by a
	 * kill run on the server).
	 */
	int (*run)(struct conn *conn, const char *const *argv,
	    const char *input, long timeout_ms, size_t max_output,
	    struct conn_result *result, struct strbuf *err);
	/*
	 * Start argv as a daemon of its own (a new session, its standard
	 * output and error appended to log_path, its input /dev/null) and
	 * return its process id without waiting for it.
	 */
	int (*spawn)(struct conn *conn, const char *const *argv,
	    const char *log_path, pid_t *pid, struct strbuf *err);
	/*
	 * Where a program installed with getbot (getbot-auth) is looked
	 * for on the server, best first: ':'-separated absolute directories
	 * appended to dirs. On this machine, beside getbot, ../sbin from it,
	 * getbot's $PATH and CONN_LOGIN_PATH; elsewhere CONN_LOGIN_PATH, as
	 * getbot's own place and PATH say nothing of another machine.
	 */
	void (*program_dirs)(struct conn *conn, struct strbuf *dirs);
	void (*close)(struct conn *conn);
};

/* Every implementation embeds this first. */
struct conn {
	const struct conn_ops *ops;
	char *label; /* "fsn1 (local)": for messages */
};

/*
 * Open the connection target's connect: names ("local",
 * "ssh://USER@HOST[:PORT]"); options may be NULL. Returns 0 with *out, or
 * -1 with err naming the target and saying why ("fsn1 (ssh
 * root@203.0.113.10:22): host key changed ...").
 */
int conn_open(const struct bots_target *target,
    const struct conn_options *options, struct conn **out, struct strbuf *err);
void conn_close(struct conn *conn);

void conn_result_init(struct conn_result *result);
void conn_result_release(struct conn_result *result);

/* The local implementation: this machine. */
struct conn *conn_local_open(const char *target_name);

/* The ssh implementation (conn-ssh.c): one session for the whole run. */
int conn_ssh_open(const struct bots_target *target,
    const struct conn_options *options, struct conn **out, struct strbuf *err);
/* Move GETBOT_SSH_PASSPHRASE out of the environment into guarded memory
 * (after sodium_init, before any thread starts: unsetenv is not
 * thread-safe); conn_ssh_open does it too, when it has not been done.
 * conn_ssh_forget_passphrase wipes and frees it, once no connection will
 * sign in any more. */
void conn_ssh_take_passphrase(void);
void conn_ssh_forget_passphrase(void);
/* How many channels conn has opened on its session (streams, commands and
 * its SFTP sessions); 0 for a connection that is not ssh. */
unsigned long conn_ssh_channels(struct conn *conn);

#endif
