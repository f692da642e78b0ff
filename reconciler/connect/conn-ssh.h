/*
 * The ssh connection's insides, shared by its modules: conn-ssh.c (the
 * session, its locks, the relay thread and dial), conn-ssh-auth.c (host key
 * and user key), conn-ssh-files.c (SFTP) and conn-ssh-exec.c (commands).
 *
 * Threads. A libssh2 session is not thread-safe, so every libssh2 call is
 * made with c->lock held, in non-blocking mode. A call that answers
 * LIBSSH2_ERROR_EAGAIN is called again once the session has moved:
 *
 *  - waiting for the server (inbound), the caller sleeps on c->moved and
 *    lets go of c->lock; the relay thread polls the session's socket and
 *    reads what arrives into libssh2's per-channel queues. Whichever thread
 *    takes bytes off the socket wakes every sleeper (ssh_recv counts them),
 *    so no one waits for data another call has already read for it.
 *  - waiting for the socket to take more (outbound), the caller keeps
 *    c->lock: libssh2 holds one packet part way sent per session, and only
 *    the call that began it may finish it (another send would answer
 *    LIBSSH2_ERROR_BAD_USE).
 *
 * Some libssh2 state belongs to the session, not the channel, so a whole
 * channel open holds c->open_lock and a whole SFTP operation c->sftp_lock,
 * across their waits. Lock order: sftp_lock, open_lock, lock. Opens thus
 * wait in line: while sshd connect()s a dialled stream to an address that
 * never answers (up to SSH_FORWARD_OPEN_MS), no command, dial or rename
 * channel opens: they wait behind it, and their own wait for the server's
 * answer starts once their open is sent.
 *
 * Dialled streams: dial() hands the caller one end of a loopback TCP pair
 * (curl 7.88 connect()s the socket it is given again, which a connected TCP
 * socket survives and a unix socketpair does not) and the relay thread
 * moves bytes between the other end and the channel until either side is
 * done. What libssh2 has read into a channel's queue shows on no socket,
 * so while a pass moved bytes the thread polls again without waiting.
 */
#ifndef GETBOT_CONN_SSH_H
#define GETBOT_CONN_SSH_H

#include <libssh2.h>
#include <libssh2_sftp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "conn.h"

#define SSH_LOST     (-3) /* the session is gone */
#define SSH_TIMEDOUT (-4)

/* TCP connect to the server; the loopback pair of a dialled stream */
#define SSH_CONNECT_MS 10000
/* Key exchange and sign-in: each blocking libssh2 call */
#define SSH_HANDSHAKE_MS 30000
/* The server's answer to one SFTP request (renewed while a file moves), or
 * to a session channel's open (a command, the rename channel) */
#define SSH_STEP_MS 60000
/* A dialled stream's open: longer than the kernel's connect() timeout on
 * the server (about 127 s on Linux), so that sshd answers "connect
 * failed" before the session is given up on */
#define SSH_FORWARD_OPEN_MS 180000
#define SSH_STALL_MS        60000 /* the socket takes no data: the server is gone */
#define SSH_KEEPALIVE_S     15
#define SSH_RELAY_CHUNK     32768
#define SSH_RELAY_CHUNKS    8 /* a stream's chunks each pass, at most */
/* Session channels at once: OpenSSH's MaxSessions is 10 by default; the
 * SFTP session and the rename channel take two. */
#define SSH_MAX_SESSIONS 10

/* One dialled stream. */
struct ssh_relay {
	struct ssh_relay *next;
	LIBSSH2_CHANNEL *channel;
	int fd;   /* the relay's end of the loopback pair */
	char *up; /* from the caller, for the channel */
	size_t up_len, up_off;
	char *down; /* from the channel, for the caller */
	size_t down_len, down_off;
	bool up_eof;    /* the caller has finished writing */
	bool eof_sent;  /* and the channel has been told */
	bool down_eof;  /* the server's side has finished */
	bool down_shut; /* and the caller has been told */
	bool failed;    /* either side broke: close both */
};

/* A channel given up on (a command past its timeout), freed once the
 * server confirms the close. */
struct ssh_orphan {
	struct ssh_orphan *next;
	LIBSSH2_CHANNEL *channel;
	bool session_channel; /* it holds one of sshd's MaxSessions slots */
};

struct conn_ssh {
	struct conn base;
	char *user, *host;
	unsigned port;
	int sock;
	LIBSSH2_SESSION *session;
	LIBSSH2_SFTP *sftp;
	LIBSSH2_CHANNEL *rename_channel; /* raw SFTP for posix-rename */
	uint32_t rename_id;
	bool rename_works; /* the server offers posix-rename@openssh.com */

	pthread_mutex_t lock; /* every libssh2 call, and the fields below */
	pthread_cond_t moved; /* the session moved: call again */
	unsigned long moves;
	bool lost;
	struct strbuf lost_why;
	bool stopping;
	struct ssh_relay *relays;
	struct ssh_orphan *orphans;
	/* SFTP handles open when the session was lost, closed (and so freed)
	 * by ssh_free: libssh2 frees a handle only in its close */
	LIBSSH2_SFTP_HANDLE **stale_handles;
	size_t nstale_handles, stale_handles_alloc;
	/* session channels open (SFTP, exec) or not yet freed (orphans) */
	unsigned sessions;
	unsigned long channels; /* opened, ever */
	pthread_mutex_t open_lock;
	pthread_mutex_t sftp_lock;
	pthread_t relay_thread;
	bool relay_started;
	int wake[2]; /* a byte in wake[1] wakes the relay thread */
};

/* Milliseconds on the monotonic clock. */
double ssh_now_ms(void);

/*
 * After a call answered LIBSSH2_ERROR_EAGAIN (lock held). ssh_wait_out: if
 * libssh2 holds a packet part way sent, wait (keeping the lock) until the
 * socket takes more and return 0 to call again; 1 when the call waits for
 * the server instead; SSH_LOST. ssh_wait: wait for either; 0 to call again,
 * SSH_TIMEDOUT once deadline (ssh_now_ms) passes, SSH_LOST. seen is
 * c->moves from before the calls that would block: a move since (one of
 * them may have queued what another waits for) is not waited for.
 */
int ssh_wait_out(struct conn_ssh *c);
int ssh_wait(struct conn_ssh *c, double deadline, unsigned long seen);

/* Call expr (a libssh2 call giving an int) into rc, again while libssh2 is
 * part way through sending its packet. Once the session is lost, rc is
 * SSH_LOST and libssh2 is not called: a call would resume some other
 * call's half-done state, or write to a dead socket. */
#define SSH_CALL(c, rc, expr)                                                  \
	do {                                                                   \
		if ((c)->lost) {                                               \
			(rc) = SSH_LOST;                                       \
			break;                                                 \
		}                                                              \
		(rc) = (expr);                                                 \
	} while ((rc) == LIBSSH2_ERROR_EAGAIN && ssh_wait_out(c) == 0)

/* ssh_wait; past the deadline, when lose_why is not NULL, the session is
 * lost for it: a request whose answer never came leaves libssh2 state
 * behind that no later call may resume (an SFTP operation's). */
int ssh_wait_or_lose(struct conn_ssh *c, double deadline, unsigned long seen,
    const char *lose_why);

/* Call expr (a libssh2 call giving an int) until it has an answer, waiting
 * for the session to move between calls: rc is its answer, or SSH_TIMEDOUT
 * or SSH_LOST (ssh_wait_or_lose, with lose_why). */
#define SSH_DO(c, rc, expr, deadline, lose_why)                                \
	for (;;) {                                                             \
		unsigned long seen_ = (c)->moves;                              \
		SSH_CALL(c, rc, expr);                                         \
		if ((rc) != LIBSSH2_ERROR_EAGAIN ||                            \
		    ((rc) = ssh_wait_or_lose(                                  \
			 (c), (deadline), seen_, (lose_why))) != 0)            \
			break;                                                 \
	}

/*
 * Say why a step failed: "LABEL: STEP: libssh2's (or the server's) words"
 * into err. rc is the call's answer (SSH_TIMEDOUT and SSH_LOST included);
 * when it, or the session's last error, is a failure of the session itself
 * (ssh_fatal: a socket, crypto or protocol error), the session is marked
 * lost. A failure of one channel's own protocol (the rename channel's) is
 * LIBSSH2_ERROR_SFTP_PROTOCOL, which leaves the session be. Returns -1.
 */
int ssh_fail(struct conn_ssh *c, int rc, struct strbuf *err, const char *step);
/* Mark the session lost, for why (the first reason stays). Lock held. */
void ssh_lose(struct conn_ssh *c, const char *why);
/* The relay thread has something new to poll. */
void ssh_kick(struct conn_ssh *c);
/* Append len bytes of text the server chose (a reason, a message), each
 * control byte as '?': it is printed on the user's terminal. */
void ssh_add_printable(struct strbuf *sb, const char *text, size_t len);
/* SSH wire encoding: a big-endian uint32; a string, its length first. */
void ssh_put_u32(struct strbuf *sb, uint32_t value);
void ssh_put_string(struct strbuf *sb, const char *s, size_t len);

/*
 * Open a channel (lock held, open_lock taken here): a "session" channel
 * when type is NULL, else the channel type with its request-specific
 * message. Counts it; a session channel waits for a free slot.
 */
int ssh_channel_open(struct conn_ssh *c, const char *type, const char *message,
    size_t message_len, LIBSSH2_CHANNEL **out, struct strbuf *err,
    const char *step);
/* Close and free a channel of ours (lock held); one the server does not let
 * go of in time is left to the relay thread, and a session channel's slot
 * stays counted until then (sshd holds it until the command ends). */
void ssh_channel_close(struct conn_ssh *c, LIBSSH2_CHANNEL *channel,
    bool session_channel, double deadline);

/* conn-ssh-auth.c: is this the server we mean (known_hosts, host_key,
 * --accept-new-host-key), and sign in as c->user. Blocking mode. */
int ssh_hostkey_prefer(struct conn_ssh *c, const struct bots_target *target,
    const struct conn_options *options, struct strbuf *err);
int ssh_hostkey_verify(struct conn_ssh *c, const struct bots_target *target,
    const struct conn_options *options, struct strbuf *err);
int ssh_authenticate(struct conn_ssh *c, const struct bots_target *target,
    const struct conn_options *options, struct strbuf *err);
/* A path from the config: ~/ is $HOME, relative is under base_dir. */
char *ssh_config_path(const char *path, const struct conn_options *options);

/* conn-ssh-files.c and conn-ssh-exec.c: the operations. */
int ssh_read_file(struct conn *conn, const char *path, size_t max,
    struct strbuf *content, struct strbuf *err);
int ssh_write_file(struct conn *conn, const char *path, const char *data,
    size_t len, unsigned mode, struct strbuf *err);
int ssh_remove_file(struct conn *conn, const char *path, struct strbuf *err);
int ssh_make_dir(
    struct conn *conn, const char *path, unsigned mode, struct strbuf *err);
int ssh_stat(struct conn *conn, const char *path, struct conn_file_info *info,
    struct strbuf *err);
int ssh_run(struct conn *conn, const char *const *argv, const char *input,
    long timeout_ms, size_t max_output, struct conn_result *result,
    struct strbuf *err);
int ssh_spawn(struct conn *conn, const char *const *argv, const char *log_path,
    pid_t *pid, struct strbuf *err);
/* Close the rename channel (lock held): after an error on it, so that the
 * next rename opens a fresh one; or before the session goes. */
void ssh_files_release(struct conn_ssh *c);

#endif
