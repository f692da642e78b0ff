/*
 * The ssh connection: the server is reached over one libssh2 session for
 * the whole run. This module owns the session: opening it (TCP, handshake,
 * then conn-ssh-auth.c's host key check and sign-in), the locks and waits
 * every call goes through, the relay thread, dial and close. The threading
 * is described in conn-ssh.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bots.h"
#include "conn-ssh.h"
#include "xmalloc.h"

#define SSH_TCP_USER_TIMEOUT_MS 45000

static pthread_once_t ssh_once = PTHREAD_ONCE_INIT;
static int ssh_init_rc;

static void
ssh_global_init(void)
{
	ssh_init_rc = libssh2_init(0);
}

double
ssh_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ms on the monotonic clock as a pthread_cond_timedwait deadline. */
static struct timespec
ssh_timespec(double ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000) * 1e6);
	if (ts.tv_nsec < 0)
		ts.tv_nsec = 0;
	if (ts.tv_nsec >= 1000000000L)
		ts.tv_nsec = 999999999L;
	return ts;
}

void
ssh_kick(struct conn_ssh *c)
{
	char byte = 1;

	if (c->wake[1] >= 0 && write(c->wake[1], &byte, 1) < 0) {
		/* a full pipe wakes the thread as well */
	}
}

static bool
ssh_on_relay_thread(const struct conn_ssh *c)
{
	return c->relay_started &&
	       pthread_equal(pthread_self(), c->relay_thread);
}

/* The session moved: every sleeper calls again, and the relay thread
 * looks at its streams, whose data this call may have read. Lock held. */
static void
ssh_moved(struct conn_ssh *c)
{
	c->moves++;
	pthread_cond_broadcast(&c->moved);
	if (c->relays != NULL && !ssh_on_relay_thread(c))
		ssh_kick(c);
}

void
ssh_lose(struct conn_ssh *c, const char *why)
{
	if (!c->lost) {
		c->lost = true;
		strbuf_addstr(&c->lost_why, why);
	}
	ssh_moved(c);
	ssh_kick(c);
}

/* libssh2 reads the socket through here: bytes taken wake the sleepers.
 * libssh2 1.10 talks to ssh-agent through these callbacks too (with the
 * agent's socket): what happens there is not the session's. */
static ssize_t
ssh_recv(
    libssh2_socket_t sock, void *buf, size_t len, int flags, void **abstract)
{
	struct conn_ssh *c = *abstract;
	ssize_t got;

	do
		got = recv(sock, buf, len, flags);
	while (got < 0 && errno == EINTR);
	if (sock != c->sock) {
		if (got < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN
								       : -errno;
		return got;
	}
	if (got > 0)
		ssh_moved(c);
	else if (got == 0)
		ssh_lose(c, "the server closed the connection");
	else if (errno == EAGAIN || errno == EWOULDBLOCK)
		return -EAGAIN;
	else {
		int saved = errno;

		ssh_lose(c, strerror(saved));
		return -saved;
	}
	return got;
}

static ssize_t
ssh_send(libssh2_socket_t sock, const void *buf, size_t len, int flags,
    void **abstract)
{
	struct conn_ssh *c = *abstract;
	ssize_t put;

	/* after a loss, only ssh_free's frees call libssh2, and some of
	 * them (an SFTP handle's close) free nothing unless their request
	 * is sent: it is dropped, as if sent to the server that is gone */
	if (sock == c->sock && c->lost)
		return (ssize_t)len;
	do
		put = send(sock, buf, len, flags | MSG_NOSIGNAL);
	while (put < 0 && errno == EINTR);
	if (put >= 0)
		return put;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return -EAGAIN;
	put = -errno;
	if (sock != c->sock) /* the agent's */
		return put;
	ssh_lose(c, strerror(errno));
	return put;
}

/* The server said goodbye: keep its words. */
static void
ssh_disconnected(LIBSSH2_SESSION *session, int reason, const char *message,
    int message_len, const char *language, int language_len, void **abstract)
{
	struct conn_ssh *c = *abstract;
	struct strbuf why = STRBUF_INIT;

	(void)session;
	(void)reason;
	(void)language;
	(void)language_len;
	strbuf_addstr(&why, "the server disconnected");
	if (message != NULL && message_len > 0) {
		strbuf_addstr(&why, ": ");
		ssh_add_printable(&why, message,
		    message_len > 512 ? 512 : (size_t)message_len);
	}
	ssh_lose(c, why.buf);
	strbuf_release(&why);
}

int
ssh_wait_out(struct conn_ssh *c)
{
	struct pollfd pfd = { c->sock, POLLOUT, 0 };
	int n;

	if (c->lost)
		return SSH_LOST;
	if (!(libssh2_session_block_directions(c->session) &
		LIBSSH2_SESSION_BLOCK_OUTBOUND))
		return 1;
	do
		n = poll(&pfd, 1, SSH_STALL_MS);
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		ssh_lose(c, "the server has taken no data for a minute");
		return SSH_LOST;
	}
	if (n < 0) {
		/* the caller would call again at once, for ever, with the
		 * lock held */
		struct strbuf why = STRBUF_INIT;

		strbuf_addf(&why, "poll: %s", strerror(errno));
		ssh_lose(c, why.buf);
		strbuf_release(&why);
		return SSH_LOST;
	}
	return 0;
}

int
ssh_wait(struct conn_ssh *c, double deadline, unsigned long seen)
{
	struct timespec until;
	double now = ssh_now_ms(), wake;
	int rc = ssh_wait_out(c);

	if (rc <= 0)
		return rc;
	if (now >= deadline)
		return SSH_TIMEDOUT;
	/* woken by the session moving; at least every second, too, should
	 * some state of libssh2's never show on the socket */
	wake = deadline < now + 1000 ? deadline : now + 1000;
	until = ssh_timespec(wake);
	while (c->moves == seen && !c->lost)
		if (pthread_cond_timedwait(&c->moved, &c->lock, &until) ==
		    ETIMEDOUT)
			break;
	return c->lost ? SSH_LOST : 0;
}

int
ssh_wait_or_lose(struct conn_ssh *c, double deadline, unsigned long seen,
    const char *lose_why)
{
	int rc = ssh_wait(c, deadline, seen);

	if (rc == SSH_TIMEDOUT && lose_why != NULL) {
		ssh_lose(c, lose_why);
		rc = SSH_LOST;
	}
	return rc;
}

/* Is a libssh2 error one of the session itself, after which nothing works? */
static bool
ssh_fatal(int code)
{
	switch (code) {
	case LIBSSH2_ERROR_SOCKET_SEND:
	case LIBSSH2_ERROR_SOCKET_RECV:
	case LIBSSH2_ERROR_SOCKET_DISCONNECT:
	case LIBSSH2_ERROR_SOCKET_TIMEOUT:
	case LIBSSH2_ERROR_BAD_SOCKET:
	case LIBSSH2_ERROR_TIMEOUT:
	case LIBSSH2_ERROR_KEX_FAILURE:
	case LIBSSH2_ERROR_KEY_EXCHANGE_FAILURE:
	case LIBSSH2_ERROR_DECRYPT:
	case LIBSSH2_ERROR_ENCRYPT:
	case LIBSSH2_ERROR_INVALID_MAC:
	case LIBSSH2_ERROR_PROTO:
	case LIBSSH2_ERROR_BAD_USE:
		return true;
	default:
		return false;
	}
}

int
ssh_fail(struct conn_ssh *c, int rc, struct strbuf *err, const char *step)
{
	char *message = NULL;
	int code;

	strbuf_addf(err, "%s: %s: ", c->base.label, step);
	if (rc == SSH_TIMEDOUT) {
		strbuf_addstr(err, "the server did not answer in time");
		return -1;
	}
	if (!c->lost) {
		const char *words;

		code =
		    libssh2_session_last_error(c->session, &message, NULL, 0);
		words =
		    message != NULL && *message != '\0' ? message : "failed";
		/* the call's own answer counts too: the last error may be
		 * an earlier one, or set by us */
		if (!ssh_fatal(code) && !ssh_fatal(rc) && rc != SSH_LOST) {
			strbuf_addstr(err, words);
			return -1;
		}
		ssh_lose(c, words);
	}
	if (!c->relay_started) /* still opening */
		strbuf_addstr(err, c->lost_why.buf);
	else
		strbuf_addf(err,
		    "the connection is lost (%s); getbot connects again on "
		    "its next run",
		    c->lost_why.buf);
	return -1;
}

void
ssh_add_printable(struct strbuf *sb, const char *text, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];

		strbuf_addch(sb, ch < 0x20 || ch == 0x7f ? '?' : (char)ch);
	}
}

void
ssh_put_u32(struct strbuf *sb, uint32_t value)
{
	unsigned char bytes[4] = { (unsigned char)(value >> 24),
		(unsigned char)(value >> 16), (unsigned char)(value >> 8),
		(unsigned char)value };

	strbuf_add(sb, bytes, 4);
}

void
ssh_put_string(struct strbuf *sb, const char *s, size_t len)
{
	ssh_put_u32(sb, (uint32_t)len);
	strbuf_add(sb, s, len);
}

/* Sleep ms (lock held, and let go of meanwhile). */
static void
ssh_pause(struct conn_ssh *c, double ms)
{
	double until = ssh_now_ms() + ms;
	struct timespec ts = ssh_timespec(until);

	while (ssh_now_ms() < until && !c->lost)
		(void)pthread_cond_timedwait(&c->moved, &c->lock, &ts);
}

/* Did the server refuse a channel open by its rules (sshd's Allow*Forwarding),
 * rather than fail it? libssh2 1.10 keeps the reason only in its words. */
static bool
ssh_prohibited(struct conn_ssh *c, int rc)
{
	char *message = NULL;

	if (rc != LIBSSH2_ERROR_CHANNEL_FAILURE || c->lost)
		return false;
	(void)libssh2_session_last_error(c->session, &message, NULL, 0);
	return message != NULL && strstr(message, "prohibited") != NULL;
}

int
ssh_channel_open(struct conn_ssh *c, const char *type, const char *message,
    size_t message_len, LIBSSH2_CHANNEL **out, struct strbuf *err,
    const char *step)
{
	/* sshd answers a stream's open once its own connect() is done,
	 * which the kernel gives up on only after about 127 s */
	int wait_ms = type != NULL ? SSH_FORWARD_OPEN_MS : SSH_STEP_MS;
	double deadline = ssh_now_ms() + wait_ms, answer_by;
	const char *kind = type != NULL ? type : "session";
	bool others;
	int rc = 0;

	*out = NULL;
	for (;;) {
		if (type == NULL) {
			/* sshd refuses more session channels than
			 * MaxSessions */
			while (c->sessions >= SSH_MAX_SESSIONS && rc == 0)
				rc = ssh_wait(c, deadline, c->moves);
			if (rc == SSH_LOST)
				return ssh_fail(c, rc, err, step);
			if (rc != 0) {
				strbuf_addf(err,
				    "%s: %s: %d commands and SFTP sessions "
				    "are already open on the server, and none "
				    "ended within %d s",
				    c->base.label, step, SSH_MAX_SESSIONS,
				    SSH_STEP_MS / 1000);
				return -1;
			}
			c->sessions++;
		}
		/* libssh2 keeps one channel open under way per session */
		pthread_mutex_unlock(&c->lock);
		pthread_mutex_lock(&c->open_lock);
		pthread_mutex_lock(&c->lock);
		/* the server's answer is waited for from now: an open before
		 * this one may have kept us a while */
		answer_by = ssh_now_ms() + wait_ms;
		while (!c->lost) {
			unsigned long seen = c->moves;

			*out = libssh2_channel_open_ex(c->session, kind,
			    (unsigned)strlen(kind),
			    LIBSSH2_CHANNEL_WINDOW_DEFAULT,
			    LIBSSH2_CHANNEL_PACKET_DEFAULT, message,
			    (unsigned)message_len);
			if (*out != NULL)
				break;
			rc = libssh2_session_last_errno(c->session);
			if (rc != LIBSSH2_ERROR_EAGAIN)
				break;
			rc = ssh_wait(c, answer_by, seen);
			if (rc == SSH_TIMEDOUT) {
				/* the open stays under way in libssh2: no
				 * other channel can open on this session */
				struct strbuf why = STRBUF_INIT;

				strbuf_addf(&why,
				    "the server did not answer within %d s "
				    "when getbot opened a channel (%s)",
				    wait_ms / 1000, step);
				ssh_lose(c, why.buf);
				strbuf_release(&why);
			}
			if (rc != 0)
				break;
		}
		pthread_mutex_unlock(&c->open_lock);
		if (*out != NULL)
			break;
		if (type == NULL) {
			c->sessions--;
			ssh_moved(c);
		}
		/* sshd frees a session's slot a little after its channel
		 * closes: while commands of ours are open (besides the
		 * SFTP session and the rename channel, which stay), a
		 * refusal is that, or its MaxSessions is lower than ours,
		 * and a slot comes free soon */
		others = c->sessions > 1u + (c->rename_channel != NULL);
		if (type == NULL && !c->lost &&
		    rc == LIBSSH2_ERROR_CHANNEL_FAILURE &&
		    (!others || ssh_now_ms() >= deadline)) {
			ssh_fail(c, rc, err, step);
			strbuf_addf(err,
			    " (%u session channels of getbot's were open: "
			    "sshd's MaxSessions may be lower than the %d "
			    "getbot uses)",
			    c->sessions, SSH_MAX_SESSIONS);
			return -1;
		}
		if (type != NULL || c->lost ||
		    rc != LIBSSH2_ERROR_CHANNEL_FAILURE) {
			ssh_fail(c, c->lost ? SSH_LOST : rc, err, step);
			if (type != NULL && ssh_prohibited(c, rc))
				strbuf_addf(err,
				    " (sshd_config's %s must allow it)",
				    strcmp(type, "direct-tcpip") == 0
					? "AllowTcpForwarding"
					: "AllowStreamLocalForwarding");
			return -1;
		}
		ssh_pause(c, 50);
		rc = 0;
	}
	c->channels++;
	return 0;
}

/* Leave channel for the relay thread to free once the server lets go. */
static void
ssh_orphan(struct conn_ssh *c, LIBSSH2_CHANNEL *channel, bool session_channel)
{
	struct ssh_orphan *o = xcalloc(1, sizeof(*o));

	o->channel = channel;
	o->session_channel = session_channel;
	o->next = c->orphans;
	c->orphans = o;
	ssh_kick(c);
}

void
ssh_channel_close(struct conn_ssh *c, LIBSSH2_CHANNEL *channel,
    bool session_channel, double deadline)
{
	unsigned long seen;
	int rc;

	for (;;) {
		seen = c->moves;
		SSH_CALL(c, rc, libssh2_channel_free(channel));
		if (rc != LIBSSH2_ERROR_EAGAIN)
			break;
		if (ssh_wait(c, deadline, seen) != 0) {
			/* sshd counts the session until its command ends:
			 * the slot is free once the orphan is */
			if (!c->lost) {
				ssh_orphan(c, channel, session_channel);
				return;
			}
			break; /* freed with the session */
		}
	}
	if (session_channel) {
		c->sessions--;
		ssh_moved(c);
	}
}

/* ---- the relay thread ---- */

/* What to poll a relay's socket for. */
static short
ssh_relay_events(const struct ssh_relay *r)
{
	short events = 0;

	if (!r->up_eof && r->up_off == r->up_len)
		events |= POLLIN;
	if (r->down_off < r->down_len)
		events |= POLLOUT;
	return events;
}

/* Move what can move on relay r, without waiting for the server; true when
 * some bytes moved. What libssh2 has queued for the channel is not on the
 * socket any more, so no poll would say it is there: it is all passed on
 * now, a few chunks a pass (bounded, so that one busy stream does not keep
 * the others waiting), for as long as the caller's socket takes it. */
static bool
ssh_relay_pump(struct conn_ssh *c, struct ssh_relay *r)
{
	bool moved = false;
	ssize_t n;
	int rc, chunks;

	/* from the server to the caller */
	for (chunks = 0; chunks < SSH_RELAY_CHUNKS && !r->failed; chunks++) {
		if (!r->down_eof && r->down_off == r->down_len) {
			SSH_CALL(c, n,
			    libssh2_channel_read(
				r->channel, r->down, SSH_RELAY_CHUNK));
			if (n > 0) {
				r->down_len = (size_t)n;
				r->down_off = 0;
				moved = true;
			} else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN &&
				   libssh2_channel_eof(r->channel) != 1)
				r->failed = true;
			/* its end is seen once nothing is queued before it */
			if (libssh2_channel_eof(r->channel) == 1)
				r->down_eof = true;
		}
		if (r->down_off == r->down_len)
			break; /* nothing more to pass on */
		n = send(r->fd, r->down + r->down_off,
		    r->down_len - r->down_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			r->down_off += (size_t)n;
			moved = true;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR)
			r->failed = true;
		if (r->down_off < r->down_len)
			break; /* the caller's socket is full: POLLOUT */
	}
	if (r->down_eof && r->down_off == r->down_len && !r->down_shut) {
		(void)shutdown(r->fd, SHUT_WR);
		r->down_shut = true;
	}
	/* from the caller to the server */
	if (!r->up_eof && r->up_off == r->up_len) {
		n = recv(r->fd, r->up, SSH_RELAY_CHUNK, MSG_DONTWAIT);
		if (n > 0) {
			r->up_len = (size_t)n;
			r->up_off = 0;
			moved = true;
		} else if (n == 0)
			r->up_eof = true;
		else if (errno != EAGAIN && errno != EINTR)
			r->failed = true;
	}
	while (!r->failed && r->up_off < r->up_len) {
		SSH_CALL(c, n,
		    libssh2_channel_write(
			r->channel, r->up + r->up_off, r->up_len - r->up_off));
		if (n > 0) {
			r->up_off += (size_t)n;
			moved = true;
		} else if (n == 0 || n == LIBSSH2_ERROR_EAGAIN)
			break; /* the channel's window is full */
		else
			r->failed = true;
	}
	if (!r->failed && r->up_eof && r->up_off == r->up_len && !r->eof_sent) {
		SSH_CALL(c, rc, libssh2_channel_send_eof(r->channel));
		if (rc == 0)
			r->eof_sent = true;
		else if (rc != LIBSSH2_ERROR_EAGAIN)
			r->failed = true;
	}
	return moved;
}

/* Pump every relay; close those that are done. True when bytes moved. */
static bool
ssh_relay_pump_all(struct conn_ssh *c)
{
	struct ssh_relay **link = &c->relays;
	bool moved = false;

	while (*link != NULL) {
		struct ssh_relay *r = *link;

		if (!c->lost && ssh_relay_pump(c, r))
			moved = true;
		if (!c->lost && !r->failed && !(r->down_shut && r->eof_sent)) {
			link = &r->next;
			continue;
		}
		*link = r->next;
		close(r->fd);
		if (c->lost)
			ssh_orphan(c, r->channel, false); /* freed with the
							     session */
		else
			ssh_channel_close(c, r->channel, false, ssh_now_ms());
		free(r->up);
		free(r->down);
		free(r);
	}
	return moved;
}

/* Free the channels given up on, as the server lets go of them. */
static void
ssh_reap_orphans(struct conn_ssh *c)
{
	struct ssh_orphan **link = &c->orphans;
	int rc;

	while (*link != NULL && !c->lost) {
		struct ssh_orphan *o = *link;

		SSH_CALL(c, rc, libssh2_channel_free(o->channel));
		if (rc == LIBSSH2_ERROR_EAGAIN) {
			link = &o->next;
			continue;
		}
		*link = o->next;
		if (o->session_channel) {
			c->sessions--;
			ssh_moved(c);
		}
		free(o);
	}
}

/* Read what the server sent into libssh2's queues (any channel's read
 * drains the whole socket; a zero-length one takes nothing from it). */
static void
ssh_drain(struct conn_ssh *c)
{
	LIBSSH2_CHANNEL *channel = libssh2_sftp_get_channel(c->sftp);
	char none[1];
	ssize_t n;

	SSH_CALL(c, n, libssh2_channel_read(channel, none, 0));
	(void)n;
}

/* Keep the session alive while nothing else is said, but never start a
 * packet the socket might not take whole: libssh2 would hold it part
 * way sent, for a call that has already returned. */
static int
ssh_keepalive(struct conn_ssh *c)
{
	struct pollfd pfd = { c->sock, POLLOUT, 0 };
	int next = SSH_KEEPALIVE_S;

	if (libssh2_session_block_directions(c->session) &
	    LIBSSH2_SESSION_BLOCK_OUTBOUND)
		return 1;
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT))
		(void)libssh2_keepalive_send(c->session, &next);
	return next > 0 ? next : 1;
}

static void *
ssh_relay_main(void *arg)
{
	struct conn_ssh *c = arg;
	struct pollfd *fds = NULL;
	size_t alloc = 0;
	bool busy = false;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		struct ssh_relay *r;
		size_t n = 0, nrelays = 0;
		int sock_at = -1, timeout = c->orphans != NULL ? 1000 : 5000;
		unsigned long seen;
		char drain[64];

		/* the last pass moved bytes, or read some off the socket
		 * into libssh2's queues: a stream may have more to pass on
		 * that no poll would show */
		if (busy)
			timeout = 0;
		for (r = c->relays; r != NULL; r = r->next)
			nrelays++;
		ALLOC_GROW(fds, nrelays + 2, alloc);
		fds[n++] = (struct pollfd){ c->wake[0], POLLIN, 0 };
		if (!c->lost) {
			int next = ssh_keepalive(c);

			sock_at = (int)n;
			fds[n++] = (struct pollfd){ c->sock, POLLIN, 0 };
			if (next * 1000 < timeout)
				timeout = next * 1000;
		}
		/* a relay with nothing to poll for is left out: its
		 * socket's POLLHUP would wake us again and again */
		for (r = c->relays; r != NULL; r = r->next)
			fds[n++] =
			    (struct pollfd){ ssh_relay_events(r) != 0 ? r->fd
								      : -1,
				    ssh_relay_events(r), 0 };
		pthread_mutex_unlock(&c->lock);
		(void)poll(fds, (nfds_t)n, timeout);
		pthread_mutex_lock(&c->lock);
		while (read(c->wake[0], drain, sizeof(drain)) > 0)
			;
		seen = c->moves;
		if (sock_at >= 0 && !c->lost && fds[sock_at].revents != 0)
			ssh_drain(c);
		busy = ssh_relay_pump_all(c);
		busy = (busy || c->moves != seen) && c->relays != NULL;
		ssh_reap_orphans(c);
	}
	pthread_mutex_unlock(&c->lock);
	free(fds);
	return NULL;
}

/* ---- dial ---- */

/*
 * A connected loopback TCP pair: *caller for the caller, *relay for the
 * relay thread (non-blocking). The caller's end is connected without
 * blocking and never connect()ed again, so the socket layer still has it
 * "connecting": curl 7.88, which connect()s the socket it is handed once
 * more (curl issue 10626), then gets 0 rather than EISCONN. The listener
 * lives only until its one connection is accepted, and takes only ours.
 */
static int
ssh_loopback_pair(
    struct conn_ssh *c, int *caller, int *relay, struct strbuf *err)
{
	struct sockaddr_in addr, mine, peer;
	struct pollfd pfd;
	socklen_t len = sizeof(addr);
	int listener, a = -1, b = -1, one = 1, tries, flags;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener < 0 ||
	    bind(listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(listener, 8) != 0 ||
	    getsockname(listener, (struct sockaddr *)&addr, &len) != 0)
		goto fail;
	a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (a < 0 || (flags = fcntl(a, F_GETFL)) < 0 ||
	    fcntl(a, F_SETFL, flags | O_NONBLOCK) != 0)
		goto fail;
	if (connect(a, (struct sockaddr *)&addr, sizeof(addr)) != 0 &&
	    errno != EINPROGRESS)
		goto fail;
	len = sizeof(mine);
	if (getsockname(a, (struct sockaddr *)&mine, &len) != 0)
		goto fail;
	for (tries = 0; tries < 8 && b < 0; tries++) {
		len = sizeof(peer);
		b = accept(listener, (struct sockaddr *)&peer, &len);
		if (b < 0)
			goto fail;
		if (peer.sin_port != mine.sin_port ||
		    peer.sin_addr.s_addr != mine.sin_addr.s_addr) {
			close(b); /* somebody else's */
			b = -1;
		}
	}
	pfd.fd = a;
	pfd.events = POLLOUT;
	if (b < 0 || poll(&pfd, 1, SSH_CONNECT_MS) != 1 ||
	    fcntl(a, F_SETFL, flags) != 0)
		goto fail;
	close(listener);
	(void)fcntl(b, F_SETFD, FD_CLOEXEC);
	(void)fcntl(b, F_SETFL, fcntl(b, F_GETFL) | O_NONBLOCK);
	(void)setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*caller = a;
	*relay = b;
	return 0;
fail:
	strbuf_addf(err, "%s: cannot make a loopback stream: %s", c->base.label,
	    strerror(errno));
	if (listener >= 0)
		close(listener);
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	return -1;
}

static int
ssh_dial(struct conn *conn, const char *endpoint, int *fd, struct strbuf *err)
{
	struct conn_ssh *c = (struct conn_ssh *)conn;
	struct strbuf message = STRBUF_INIT, step = STRBUF_INIT;
	LIBSSH2_CHANNEL *channel = NULL;
	const char *type;
	struct ssh_relay *r;
	int caller = -1, relay = -1, rc = -1;

	*fd = -1;
	if (strncmp(endpoint, "unix:", 5) == 0) {
		/* path, then the reserved originator fields */
		type = "direct-streamlocal@openssh.com";
		ssh_put_string(&message, endpoint + 5, strlen(endpoint + 5));
		ssh_put_string(&message, "", 0);
		ssh_put_u32(&message, 0);
		strbuf_addf(
		    &step, "cannot connect to %s on the server", endpoint + 5);
	} else {
		const char *colon = strrchr(endpoint, ':');
		char *end = NULL;
		long port = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
		size_t host_len =
		    colon != NULL ? (size_t)(colon - endpoint) : 0;
		const char *host = endpoint;

		if (colon == NULL || end == colon + 1 || *end != '\0' ||
		    port < 1 || port > 65535) {
			strbuf_addf(err, "%s: '%s' is not HOST:PORT",
			    c->base.label, endpoint);
			goto out;
		}
		if (host_len == 0) {
			host = "localhost";
			host_len = strlen(host);
		} else if (host[0] == '[' && host[host_len - 1] == ']') {
			host++;
			host_len -= 2;
		}
		type = "direct-tcpip";
		ssh_put_string(&message, host, host_len);
		ssh_put_u32(&message, (uint32_t)port);
		ssh_put_string(&message, "127.0.0.1", 9);
		ssh_put_u32(&message, 0);
		strbuf_addf(
		    &step, "cannot connect to %s on the server", endpoint);
	}
	if (ssh_loopback_pair(c, &caller, &relay, err) != 0)
		goto out;
	pthread_mutex_lock(&c->lock);
	rc = ssh_channel_open(
	    c, type, message.buf, message.len, &channel, err, step.buf);
	if (rc == 0) {
		r = xcalloc(1, sizeof(*r));
		r->channel = channel;
		r->fd = relay;
		r->up = xmalloc(SSH_RELAY_CHUNK);
		r->down = xmalloc(SSH_RELAY_CHUNK);
		r->next = c->relays;
		c->relays = r;
		relay = -1;
		*fd = caller;
		caller = -1;
		ssh_kick(c);
	}
	pthread_mutex_unlock(&c->lock);
out:
	if (caller >= 0)
		close(caller);
	if (relay >= 0)
		close(relay);
	strbuf_release(&message);
	strbuf_release(&step);
	return rc;
}

/* ---- opening and closing ---- */

/* Split "ssh://USER@HOST[:PORT]" (the schema has checked its shape). */
static int
ssh_parse(struct conn_ssh *c, const char *how, struct strbuf *err)
{
	const char *at, *host, *colon;
	char *end = NULL;
	long port = 22;

	at = strchr(how + 6, '@');
	if (at == NULL || at == how + 6 || at[1] == '\0') {
		strbuf_addf(err,
		    "%s: connect: '%s' is not ssh://USER@HOST[:PORT]",
		    c->base.label, how);
		return -1;
	}
	host = at + 1;
	colon = strchr(host, ':');
	if (colon != NULL) {
		port = strtol(colon + 1, &end, 10);
		if (end == colon + 1 || *end != '\0' || port < 1 ||
		    port > 65535) {
			strbuf_addf(err, "%s: connect: '%s': bad port",
			    c->base.label, how);
			return -1;
		}
	}
	c->user = xstrndup(how + 6, (size_t)(at - (how + 6)));
	c->host = colon != NULL ? xstrndup(host, (size_t)(colon - host))
				: xstrdup(host);
	c->port = (unsigned)port;
	if (c->host[0] == '\0' || c->host[0] == '-' || c->user[0] == '-') {
		strbuf_addf(err,
		    "%s: connect: '%s' is not ssh://USER@HOST[:PORT]",
		    c->base.label, how);
		return -1;
	}
	return 0;
}

/* Connect s to addr, waiting at most SSH_CONNECT_MS. */
static int
ssh_connect_timed(int s, const struct addrinfo *addr)
{
	struct pollfd pfd = { s, POLLOUT, 0 };
	int soerr = 0, n;
	socklen_t len = sizeof(soerr);

	if (fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK) != 0)
		return -1;
	if (connect(s, addr->ai_addr, addr->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -1;
	do
		n = poll(&pfd, 1, SSH_CONNECT_MS);
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (n < 0 || getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		return -1;
	if (soerr != 0) {
		errno = soerr;
		return -1;
	}
	return 0;
}

static int
ssh_tcp_connect(struct conn_ssh *c, struct strbuf *err)
{
	struct addrinfo hints, *list = NULL, *a;
	char port[16];
	int s = -1, gai, saved = 0, one = 1;
	unsigned user_timeout = SSH_TCP_USER_TIMEOUT_MS;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", c->port);
	gai = getaddrinfo(c->host, port, &hints, &list);
	if (gai != 0) {
		strbuf_addf(err, "%s: cannot resolve %s: %s", c->base.label,
		    c->host, gai_strerror(gai));
		return -1;
	}
	for (a = list; a != NULL; a = a->ai_next) {
		s = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
		    a->ai_protocol);
		if (s >= 0 && ssh_connect_timed(s, a) == 0)
			break;
		saved = errno;
		if (s >= 0)
			close(s);
		s = -1;
	}
	freeaddrinfo(list);
	if (s < 0) {
		strbuf_addf(err, "%s: cannot connect: %s", c->base.label,
		    strerror(saved));
		return -1;
	}
	/* a server that vanishes is noticed: keepalives that go unanswered
	 * for this long end the connection */
	(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)setsockopt(s, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout,
	    sizeof(user_timeout));
	c->sock = s;
	return 0;
}

/* Free whatever c holds; nothing else uses it any more. */
static void
ssh_free(struct conn_ssh *c)
{
	struct ssh_relay *r;
	struct ssh_orphan *o;

	if (c->relay_started) {
		pthread_mutex_lock(&c->lock);
		c->stopping = true;
		ssh_kick(c);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->relay_thread, NULL);
		c->relay_started = false; /* no other thread is left */
	}
	while ((r = c->relays) != NULL) {
		c->relays = r->next;
		close(r->fd);
		free(r->up);
		free(r->down);
		free(r);
	}
	while ((o = c->orphans) != NULL) {
		c->orphans = o->next;
		free(o);
	}
	if (c->session != NULL) {
		/* what is left is said in blocking mode, briefly; then the
		 * socket is shut, so that no channel waits for its close */
		libssh2_session_set_blocking(c->session, 1);
		libssh2_session_set_timeout(c->session, 2000);
		if (!c->lost) {
			ssh_files_release(c);
			if (c->sftp != NULL)
				libssh2_sftp_shutdown(c->sftp);
			c->sftp = NULL;
			libssh2_session_disconnect(
			    c->session, "getbot is done");
		}
		if (c->sock >= 0)
			(void)shutdown(c->sock, SHUT_RDWR);
		/* their close reads no answer from the shut socket, and
		 * frees them */
		for (size_t i = 0; i < c->nstale_handles; i++)
			(void)libssh2_sftp_close_handle(c->stale_handles[i]);
		if (c->sftp != NULL)
			libssh2_sftp_shutdown(c->sftp);
		libssh2_session_free(c->session);
	}
	if (c->sock >= 0)
		close(c->sock);
	if (c->wake[0] >= 0)
		close(c->wake[0]);
	if (c->wake[1] >= 0)
		close(c->wake[1]);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->open_lock);
	pthread_mutex_destroy(&c->sftp_lock);
	pthread_cond_destroy(&c->moved);
	strbuf_release(&c->lost_why);
	free(c->stale_handles);
	free(c->user);
	free(c->host);
	free(c->base.label);
	free(c);
}

static void
ssh_close(struct conn *conn)
{
	ssh_free((struct conn_ssh *)conn);
}

/* Another machine: getbot's place and $PATH say nothing of it, and the
 * PATH sshd gives commands lacks the sbin directories. */
static void
ssh_program_dirs(struct conn *conn, struct strbuf *dirs)
{
	(void)conn;
	strbuf_addstr(dirs, CONN_LOGIN_PATH);
}

static const struct conn_ops conn_ssh_ops = {
	.name = "ssh",
	.through = " through ssh",
	.dial = ssh_dial,
	.read_file = ssh_read_file,
	.write_file = ssh_write_file,
	.remove_file = ssh_remove_file,
	.make_dir = ssh_make_dir,
	.stat = ssh_stat,
	.run = ssh_run,
	.spawn = ssh_spawn,
	.program_dirs = ssh_program_dirs,
	.close = ssh_close,
};

int
conn_ssh_open(const struct bots_target *target,
    const struct conn_options *options, struct conn **out, struct strbuf *err)
{
	static const struct conn_options defaults = { false, NULL, NULL, NULL };
	struct conn_ssh *c = xcalloc(1, sizeof(*c));
	pthread_condattr_t attr;
	int rc = -1, flags;

	*out = NULL;
	if (options == NULL)
		options = &defaults;
	c->base.ops = &conn_ssh_ops;
	c->sock = c->wake[0] = c->wake[1] = -1;
	strbuf_init(&c->lost_why, 0);
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->open_lock, NULL);
	pthread_mutex_init(&c->sftp_lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->moved, &attr);
	pthread_condattr_destroy(&attr);
	c->base.label = xasprintf("%s (ssh)", target->name); /* for now */
	if (ssh_parse(c, target->server.connect, err) != 0)
		goto out;
	free(c->base.label);
	c->base.label = xasprintf(
	    "%s (ssh %s@%s:%u)", target->name, c->user, c->host, c->port);
	pthread_once(&ssh_once, ssh_global_init);
	if (ssh_init_rc != 0) {
		strbuf_addf(
		    err, "%s: libssh2 failed to initialise", c->base.label);
		goto out;
	}
	if (pipe(c->wake) != 0) {
		strbuf_addf(
		    err, "%s: pipe: %s", c->base.label, strerror(errno));
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		(void)fcntl(c->wake[i], F_SETFD, FD_CLOEXEC);
		flags = fcntl(c->wake[i], F_GETFL);
		(void)fcntl(c->wake[i], F_SETFL, flags | O_NONBLOCK);
	}
	if (ssh_tcp_connect(c, err) != 0)
		goto out;

	c->session = libssh2_session_init_ex(NULL, NULL, NULL, c);
	if (c->session == NULL) {
		strbuf_addf(
		    err, "%s: libssh2 cannot make a session", c->base.label);
		goto out;
	}
	libssh2_session_callback_set(
	    c->session, LIBSSH2_CALLBACK_RECV, (void *)ssh_recv);
	libssh2_session_callback_set(
	    c->session, LIBSSH2_CALLBACK_SEND, (void *)ssh_send);
	libssh2_session_callback_set(
	    c->session, LIBSSH2_CALLBACK_DISCONNECT, (void *)ssh_disconnected);
	/* the opening steps run on this thread alone, blocking, each one
	 * bounded */
	libssh2_session_set_blocking(c->session, 1);
	libssh2_session_set_timeout(c->session, SSH_HANDSHAKE_MS);
	if (ssh_hostkey_prefer(c, target, options, err) != 0)
		goto out;
	if (libssh2_session_handshake(c->session, c->sock) != 0) {
		ssh_fail(c, -1, err, "SSH handshake");
		goto out;
	}
	if (ssh_hostkey_verify(c, target, options, err) != 0 ||
	    ssh_authenticate(c, target, options, err) != 0)
		goto out;
	if (c->lost) { /* signed in, but the session broke meanwhile */
		ssh_fail(c, SSH_LOST, err, "sign-in");
		goto out;
	}
	c->sftp = libssh2_sftp_init(c->session);
	if (c->sftp == NULL) {
		ssh_fail(c, -1, err, "cannot start SFTP");
		goto out;
	}
	c->sessions = 1;
	c->channels = 1;
	/* no reply asked for: libssh2 1.10 queues each reply on the session
	 * and never takes it off (the TCP keepalives and TCP_USER_TIMEOUT
	 * notice a server that is gone) */
	libssh2_keepalive_config(c->session, 0, SSH_KEEPALIVE_S);
	libssh2_session_set_blocking(c->session, 0);
	/* the thread reads relay_thread and relay_started (under the lock,
	 * which it takes first) */
	pthread_mutex_lock(&c->lock);
	c->relay_started =
	    pthread_create(&c->relay_thread, NULL, ssh_relay_main, c) == 0;
	pthread_mutex_unlock(&c->lock);
	if (!c->relay_started) {
		strbuf_addf(
		    err, "%s: cannot start the relay thread", c->base.label);
		goto out;
	}
	*out = &c->base;
	rc = 0;
out:
	if (rc != 0)
		ssh_free(c);
	return rc;
}

unsigned long
conn_ssh_channels(struct conn *conn)
{
	struct conn_ssh *c = (struct conn_ssh *)conn;
	unsigned long n;

	if (conn == NULL || conn->ops != &conn_ssh_ops)
		return 0;
	pthread_mutex_lock(&c->lock);
	n = c->channels;
	pthread_mutex_unlock(&c->lock);
	return n;
}
