/*
 * Files on the server, through SFTP: libssh2's SFTP session for reading,
 * writing, removing, making directories and stat; and a second SFTP
 * session spoken here for the one request libssh2 1.10 lacks,
 * posix-rename@openssh.com (rename(2): the target replaced in one step;
 * the plain SFTP rename refuses an existing target).
 *
 * libssh2 keeps an SFTP operation's state in the SFTP session, so one
 * operation runs at a time (c->sftp_lock), from its first request to its
 * last answer. One that gets no answer in time leaves that state behind:
 * the session is then given up (lost).
 */
#include "config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "conn-ssh.h"
#include "xmalloc.h"

#define SSH_SFTP_CHUNK      32768
#define SSH_SFTP_MAX_ANSWER 65536      /* a raw SFTP answer */
#define SSH_SFTP_WRITE_MAX  (1u << 20) /* given to one libssh2_sftp_write */

#define SSH_FXP_INIT     1
#define SSH_FXP_VERSION  2
#define SSH_FXP_STATUS   101
#define SSH_FXP_EXTENDED 200

static int ssh_sftp_fail(struct conn_ssh *c, int rc, struct strbuf *err,
    const char *what, const char *path);

/* Take the locks of an SFTP operation (ssh_sftp_end lets go of them).
 * After a loss, -1 at once: libssh2 keeps a half-done request's state in
 * the SFTP session and would resume it with the next call's arguments. */
static int
ssh_sftp_begin(
    struct conn_ssh *c, struct strbuf *err, const char *what, const char *path)
{
	pthread_mutex_lock(&c->sftp_lock);
	pthread_mutex_lock(&c->lock);
	if (c->lost)
		return ssh_sftp_fail(c, SSH_LOST, err, what, path);
	return 0;
}

static void
ssh_sftp_end(struct conn_ssh *c)
{
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&c->sftp_lock);
}

/* An SFTP answer that did not come in time: the session is lost (the
 * operation's state stays in libssh2's SFTP session). */
#define SSH_SFTP_SILENT "SFTP did not answer within a minute"

static int
ssh_sftp_wait(struct conn_ssh *c, double deadline, unsigned long seen)
{
	return ssh_wait_or_lose(c, deadline, seen, SSH_SFTP_SILENT);
}

#define SSH_SFTP_DO(c, rc, expr, deadline)                                     \
	SSH_DO(c, rc, expr, deadline, SSH_SFTP_SILENT)

/* SFTP's status codes, in words. */
static const char *
ssh_sftp_status(unsigned long code)
{
	static const char *const words[] = { "ok", "end of file",
		"No such file or directory", "Permission denied", "failure",
		"bad message", "no connection", "connection lost",
		"operation unsupported", "invalid handle",
		"No such file or directory", "File exists",
		"Read-only file system", "no media", "No space left on device",
		"Disk quota exceeded", "unknown principal", "lock conflict",
		"Directory not empty", "Not a directory", "invalid file name",
		"Too many levels of symbolic links" };

	return code < ARRAY_SIZE(words) ? words[code] : "failure";
}

/* Is rc an SFTP status of code (LIBSSH2_FX_*)? */
static bool
ssh_sftp_is(struct conn_ssh *c, int rc, unsigned long code)
{
	return rc == LIBSSH2_ERROR_SFTP_PROTOCOL &&
	       libssh2_sftp_last_error(c->sftp) == code;
}

/* "LABEL: cannot WHAT PATH: the server's status" or the session's error. */
static int
ssh_sftp_fail(struct conn_ssh *c, int rc, struct strbuf *err, const char *what,
    const char *path)
{
	struct strbuf step = STRBUF_INIT;

	if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && !c->lost) {
		strbuf_addf(err, "%s: cannot %s %s: %s", c->base.label, what,
		    path, ssh_sftp_status(libssh2_sftp_last_error(c->sftp)));
		return -1;
	}
	strbuf_addf(&step, "cannot %s %s", what, path);
	ssh_fail(c, rc, err, step.buf);
	strbuf_release(&step);
	return -1;
}

static LIBSSH2_SFTP_HANDLE *
ssh_sftp_open(struct conn_ssh *c, const char *path, unsigned long flags,
    long mode, double deadline, int *rc)
{
	LIBSSH2_SFTP_HANDLE *handle;
	unsigned long seen;

	for (;;) {
		if (c->lost) {
			*rc = SSH_LOST;
			return NULL;
		}
		seen = c->moves;
		handle = libssh2_sftp_open_ex(c->sftp, path,
		    (unsigned)strlen(path), flags, mode, LIBSSH2_SFTP_OPENFILE);
		if (handle != NULL) {
			*rc = 0;
			return handle;
		}
		*rc = libssh2_session_last_errno(c->session);
		if (*rc != LIBSSH2_ERROR_EAGAIN)
			return NULL;
		if ((*rc = ssh_sftp_wait(c, deadline, seen)) != 0)
			return NULL;
	}
}

/* Close handle; 0, or the answer of the close. */
static int
ssh_sftp_close(struct conn_ssh *c, LIBSSH2_SFTP_HANDLE *handle, double deadline)
{
	int rc;

	if (c->lost) { /* closed, and so freed, with the session */
		ALLOC_GROW(c->stale_handles, c->nstale_handles + 1,
		    c->stale_handles_alloc);
		c->stale_handles[c->nstale_handles++] = handle;
		return SSH_LOST;
	}
	SSH_SFTP_DO(c, rc, libssh2_sftp_close_handle(handle), deadline);
	return rc;
}

int
ssh_read_file(struct conn *conn, const char *path, size_t max,
    struct strbuf *content, struct strbuf *err)
{
	struct conn_ssh *c = (struct conn_ssh *)conn;
	LIBSSH2_SFTP_ATTRIBUTES attrs;
	LIBSSH2_SFTP_HANDLE *handle;
	double deadline = ssh_now_ms() + SSH_STEP_MS;
	char chunk[SSH_SFTP_CHUNK];
	size_t start = content->len;
	ssize_t got;
	int rc, out = -1;

	if (ssh_sftp_begin(c, err, "open", path) != 0)
		goto done;
	handle = ssh_sftp_open(c, path, LIBSSH2_FXF_READ, 0, deadline, &rc);
	if (handle == NULL) {
		if (ssh_sftp_is(c, rc, LIBSSH2_FX_NO_SUCH_FILE))
			out = CONN_MISSING;
		else
			ssh_sftp_fail(c, rc, err, "open", path);
		goto done;
	}
	SSH_SFTP_DO(c, rc, libssh2_sftp_fstat(handle, &attrs), deadline);
	if (rc != 0) {
		ssh_sftp_fail(c, rc, err, "stat", path);
		goto close;
	}
	if ((attrs.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) &&
	    !LIBSSH2_SFTP_S_ISREG(attrs.permissions)) {
		strbuf_addf(
		    err, "%s: '%s' is not a regular file", c->base.label, path);
		goto close;
	}
	if ((attrs.flags & LIBSSH2_SFTP_ATTR_SIZE) && attrs.filesize > max) {
		strbuf_addf(err, "%s: '%s' is larger than %zu bytes",
		    c->base.label, path, max);
		goto close;
	}
	for (;;) {
		unsigned long seen = c->moves;

		SSH_CALL(
		    c, got, libssh2_sftp_read(handle, chunk, sizeof(chunk)));
		if (got == LIBSSH2_ERROR_EAGAIN) {
			if ((rc = ssh_sftp_wait(c, deadline, seen)) != 0) {
				ssh_sftp_fail(c, rc, err, "read", path);
				goto close;
			}
			continue;
		}
		if (got < 0) {
			ssh_sftp_fail(c, (int)got, err, "read", path);
			goto close;
		}
		if (got == 0)
			break;
		strbuf_add(content, chunk, (size_t)got);
		deadline = ssh_now_ms() + SSH_STEP_MS; /* it moves */
		if (content->len - start > max) {
			strbuf_addf(err, "%s: '%s' is larger than %zu bytes",
			    c->base.label, path, max);
			goto close;
		}
	}
	out = 0;
close:
	rc = ssh_sftp_close(c, handle, deadline);
	if (out == 0 && rc != 0) {
		ssh_sftp_fail(c, rc, err, "close", path);
		out = -1;
	}
done:
	/* what passed through may be a key (auth.json) */
	sodium_memzero(chunk, sizeof(chunk));
	ssh_sftp_end(c);
	return out;
}

/* ---- the rename channel: raw SFTP ---- */

static uint32_t
ssh_get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Write all of data to channel. */
static int
ssh_raw_write(struct conn_ssh *c, LIBSSH2_CHANNEL *channel, const char *data,
    size_t len, double deadline)
{
	size_t off = 0;
	ssize_t put;
	int rc;

	while (off < len) {
		unsigned long seen = c->moves;

		SSH_CALL(c, put,
		    libssh2_channel_write(channel, data + off, len - off));
		if (put > 0)
			off += (size_t)put;
		else if (put == 0 || put == LIBSSH2_ERROR_EAGAIN) {
			if ((rc = ssh_sftp_wait(c, deadline, seen)) != 0)
				return rc;
		} else
			return (int)put;
	}
	return 0;
}

/* Read exactly len bytes of channel into buf. */
static int
ssh_raw_read(struct conn_ssh *c, LIBSSH2_CHANNEL *channel, char *buf,
    size_t len, double deadline)
{
	size_t off = 0;
	ssize_t got;
	int rc;

	while (off < len) {
		unsigned long seen = c->moves;

		SSH_CALL(c, got,
		    libssh2_channel_read(channel, buf + off, len - off));
		if (got > 0)
			off += (size_t)got;
		else if (got == LIBSSH2_ERROR_EAGAIN) {
			if ((rc = ssh_sftp_wait(c, deadline, seen)) != 0)
				return rc;
		} else if (got == 0 || libssh2_channel_eof(channel) == 1) {
			libssh2_session_set_last_error(c->session,
			    LIBSSH2_ERROR_CHANNEL_CLOSED,
			    "the SFTP server closed its channel");
			return LIBSSH2_ERROR_CHANNEL_CLOSED;
		} else
			return (int)got;
	}
	return 0;
}

/* One SFTP packet of the rename channel (its type and what follows)
 * into packet. */
static int
ssh_raw_packet(struct conn_ssh *c, struct strbuf *packet, double deadline)
{
	unsigned char header[4];
	uint32_t len;
	int rc;

	rc = ssh_raw_read(c, c->rename_channel, (char *)header, 4, deadline);
	if (rc != 0)
		return rc;
	len = ssh_get_u32(header);
	if (len == 0 || len > SSH_SFTP_MAX_ANSWER) {
		libssh2_session_set_last_error(c->session,
		    LIBSSH2_ERROR_SFTP_PROTOCOL, "a malformed SFTP answer");
		return LIBSSH2_ERROR_SFTP_PROTOCOL; /* this channel's alone */
	}
	strbuf_reset(packet);
	strbuf_grow(packet, len);
	rc = ssh_raw_read(c, c->rename_channel, packet->buf, len, deadline);
	if (rc == 0)
		strbuf_setlen(packet, len);
	return rc;
}

/* Does an SFTP VERSION packet name extension? */
static bool
ssh_raw_has_extension(const struct strbuf *packet, const char *extension)
{
	const unsigned char *p = (const unsigned char *)packet->buf;
	size_t off = 5, len = packet->len; /* type, version */

	while (off + 4 <= len) {
		uint32_t name_len = ssh_get_u32(p + off), data_len;

		if (name_len > len - off - 4)
			break;
		if (name_len == strlen(extension) &&
		    memcmp(p + off + 4, extension, name_len) == 0)
			return true;
		off += 4 + name_len;
		if (off + 4 > len)
			break;
		data_len = ssh_get_u32(p + off);
		if (data_len > len - off - 4)
			break;
		off += 4 + data_len;
	}
	return false;
}

/* Open the rename channel, once: an SFTP subsystem of its own. */
static int
ssh_rename_channel(struct conn_ssh *c, double deadline, struct strbuf *err)
{
	static const char init[] = { 0, 0, 0, 5, SSH_FXP_INIT, 0, 0, 0, 3 };
	struct strbuf packet = STRBUF_INIT;
	LIBSSH2_CHANNEL *channel;
	int rc;

	if (c->rename_channel != NULL)
		return 0;
	if (ssh_channel_open(c, NULL, NULL, 0, &channel, err,
		"cannot open an SFTP channel") != 0)
		return -1;
	SSH_SFTP_DO(c, rc,
	    libssh2_channel_process_startup(channel, "subsystem", 9, "sftp", 4),
	    deadline);
	c->rename_channel = channel;
	if (rc == 0)
		rc = ssh_raw_write(c, channel, init, sizeof(init), deadline);
	if (rc == 0)
		rc = ssh_raw_packet(c, &packet, deadline);
	if (rc == 0 && (packet.len < 5 ||
			   (unsigned char)packet.buf[0] != SSH_FXP_VERSION)) {
		libssh2_session_set_last_error(c->session,
		    LIBSSH2_ERROR_SFTP_PROTOCOL, "no SFTP version answer");
		rc = LIBSSH2_ERROR_SFTP_PROTOCOL;
	}
	if (rc != 0) {
		ssh_fail(c, rc, err, "cannot start SFTP for renames");
		c->rename_channel = NULL;
		if (!c->lost)
			ssh_channel_close(c, channel, true, deadline);
	} else
		c->rename_works =
		    ssh_raw_has_extension(&packet, "posix-rename@openssh.com");
	strbuf_release(&packet);
	return rc != 0 ? -1 : 0;
}

/* Rename from over to, replacing it: posix-rename@openssh.com. */
static int
ssh_rename(struct conn_ssh *c, const char *from, const char *to,
    double deadline, struct strbuf *err)
{
	static const char name[] = "posix-rename@openssh.com";
	struct strbuf request = STRBUF_INIT, answer = STRBUF_INIT;
	const unsigned char *p;
	uint32_t id, code, message_len;
	int rc = -1, call;

	if (c->lost)
		return ssh_sftp_fail(c, SSH_LOST, err, "rename to", to);
	if (ssh_rename_channel(c, deadline, err) != 0)
		return -1;
	if (!c->rename_works) {
		/* an SFTP server without it: the plain rename, which
		 * refuses an existing target */
		SSH_SFTP_DO(c, call,
		    libssh2_sftp_rename_ex(c->sftp, from,
			(unsigned)strlen(from), to, (unsigned)strlen(to),
			LIBSSH2_SFTP_RENAME_OVERWRITE |
			    LIBSSH2_SFTP_RENAME_ATOMIC |
			    LIBSSH2_SFTP_RENAME_NATIVE),
		    deadline);
		if (call != 0)
			return ssh_sftp_fail(c, call, err, "rename to", to);
		return 0;
	}
	id = ++c->rename_id;
	ssh_put_u32(&request, 0); /* the length, below */
	strbuf_addch(&request, SSH_FXP_EXTENDED);
	ssh_put_u32(&request, id);
	ssh_put_string(&request, name, sizeof(name) - 1);
	ssh_put_string(&request, from, strlen(from));
	ssh_put_string(&request, to, strlen(to));
	{
		struct strbuf length = STRBUF_INIT;

		ssh_put_u32(&length, (uint32_t)(request.len - 4));
		memcpy(request.buf, length.buf, 4);
		strbuf_release(&length);
	}
	call = ssh_raw_write(
	    c, c->rename_channel, request.buf, request.len, deadline);
	if (call == 0)
		call = ssh_raw_packet(c, &answer, deadline);
	p = (const unsigned char *)answer.buf;
	if (call == 0 && (answer.len < 9 || p[0] != SSH_FXP_STATUS ||
			     ssh_get_u32(p + 1) != id)) {
		libssh2_session_set_last_error(c->session,
		    LIBSSH2_ERROR_SFTP_PROTOCOL, "an SFTP answer out of turn");
		call = LIBSSH2_ERROR_SFTP_PROTOCOL;
	}
	if (call != 0) {
		struct strbuf step = STRBUF_INIT;

		strbuf_addf(&step, "cannot rename %s to %s", from, to);
		ssh_fail(c, call, err, step.buf);
		strbuf_release(&step);
		/* its requests and answers may be out of step now: the
		 * next rename opens a fresh one */
		ssh_files_release(c);
		goto out;
	}
	code = ssh_get_u32(p + 5);
	if (code != 0) {
		/* the server's own words, when it sent some */
		message_len = answer.len >= 13 ? ssh_get_u32(p + 9) : 0;
		if (message_len > answer.len - 13)
			message_len = 0;
		strbuf_addf(err, "%s: cannot rename %s to %s: ", c->base.label,
		    from, to);
		if (message_len > 0)
			ssh_add_printable(err, (const char *)p + 13,
			    message_len > 512 ? 512 : message_len);
		else
			strbuf_addstr(err, ssh_sftp_status(code));
		goto out;
	}
	rc = 0;
out:
	strbuf_release(&request);
	strbuf_release(&answer);
	return rc;
}

void
ssh_files_release(struct conn_ssh *c)
{
	LIBSSH2_CHANNEL *channel = c->rename_channel;

	c->rename_channel = NULL;
	if (channel != NULL)
		ssh_channel_close(c, channel, true, ssh_now_ms());
}

/*
 * Make a rename in path's directory durable, as the local connection does
 * with fsync(2) of the directory: SFTP has no way to, so `sync -- DIR`
 * (coreutils fsyncs each file or directory it is given).
 */
static int
ssh_sync_dir(struct conn_ssh *c, const char *path, struct strbuf *err)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL ? xstrdup(".")
		    : slash == path ? xstrdup("/")
				    : xstrndup(path, (size_t)(slash - path));
	const char *const argv[] = { "sync", "--", dir, NULL };
	struct conn_result result;
	int rc;

	conn_result_init(&result);
	rc = ssh_run(&c->base, argv, NULL, SSH_STEP_MS, 1024, &result, err);
	if (rc == 0 && result.status != 0) {
		while (result.errout.len > 0 &&
		       result.errout.buf[result.errout.len - 1] == '\n')
			strbuf_setlen(&result.errout, result.errout.len - 1);
		strbuf_addf(err, "%s: cannot sync %s after writing %s: %s",
		    c->base.label, dir, path,
		    result.errout.len > 0 ? result.errout.buf
					  : "sync failed");
		rc = -1;
	}
	conn_result_release(&result);
	free(dir);
	return rc;
}

int
ssh_write_file(struct conn *conn, const char *path, const char *data,
    size_t len, unsigned mode, struct strbuf *err)
{
	struct conn_ssh *c = (struct conn_ssh *)conn;
	LIBSSH2_SFTP_ATTRIBUTES attrs;
	LIBSSH2_SFTP_HANDLE *handle;
	double deadline = ssh_now_ms() + SSH_STEP_MS;
	char *tmp = xasprintf("%s.tmp.getbot-%08x", path, randombytes_random());
	bool created = false;
	size_t off = 0;
	ssize_t put;
	int rc, out = -1;

	if (ssh_sftp_begin(c, err, "write", path) != 0)
		goto done;
	/* a temporary name beside it, never an existing file or link */
	handle = ssh_sftp_open(c, tmp,
	    LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL |
		LIBSSH2_FXF_TRUNC,
	    (long)(mode & 07777), deadline, &rc);
	if (handle == NULL) {
		ssh_sftp_fail(c, rc, err, "create", tmp);
		goto done;
	}
	created = true;
	/* the mode exactly, whatever the SFTP server's umask */
	memset(&attrs, 0, sizeof(attrs));
	attrs.flags = LIBSSH2_SFTP_ATTR_PERMISSIONS;
	attrs.permissions = mode & 07777;
	SSH_SFTP_DO(c, rc, libssh2_sftp_fsetstat(handle, &attrs), deadline);
	if (rc != 0) {
		ssh_sftp_fail(c, rc, err, "set the mode of", tmp);
		goto close;
	}
	while (off < len) {
		unsigned long seen = c->moves;

		/* bounded: libssh2 queues a request for each 32 KB of what
		 * it is given, all at once */
		SSH_CALL(c, put,
		    libssh2_sftp_write(handle, data + off,
			len - off < SSH_SFTP_WRITE_MAX ? len - off
						       : SSH_SFTP_WRITE_MAX));
		/* nothing taken yet (its requests are still under way) is
		 * no progress: waited for, the deadline left as it is */
		if (put == LIBSSH2_ERROR_EAGAIN || put == 0) {
			if ((rc = ssh_sftp_wait(c, deadline, seen)) != 0) {
				ssh_sftp_fail(c, rc, err, "write", tmp);
				goto close;
			}
			continue;
		}
		if (put < 0) {
			ssh_sftp_fail(c, (int)put, err, "write", tmp);
			goto close;
		}
		off += (size_t)put;
		deadline = ssh_now_ms() + SSH_STEP_MS; /* it moves */
	}
	SSH_SFTP_DO(c, rc, libssh2_sftp_fsync(handle), deadline);
	if (rc != 0 && !ssh_sftp_is(c, rc, LIBSSH2_FX_OP_UNSUPPORTED)) {
		ssh_sftp_fail(c, rc, err, "sync", tmp);
		goto close;
	}
	out = 0;
close:
	rc = ssh_sftp_close(c, handle, deadline);
	if (out == 0 && rc != 0) {
		ssh_sftp_fail(c, rc, err, "close", tmp);
		out = -1;
	}
	if (out == 0)
		out = ssh_rename(c, tmp, path, deadline, err);
done:
	if (out != 0 && created && !c->lost)
		SSH_SFTP_DO(c, rc,
		    libssh2_sftp_unlink_ex(c->sftp, tmp, (unsigned)strlen(tmp)),
		    deadline);
	ssh_sftp_end(c);
	/* a command of its own: after SFTP is let go */
	if (out == 0)
		out = ssh_sync_dir(c, path, err);
	free(tmp);
	return out;
}

int
ssh_remove_file(struct conn *conn, const char *path, struct strbuf *err)
{
	struct conn_ssh *c = (struct conn_ssh *)conn;
	double deadline = ssh_now_ms() + SSH_STEP_MS;
	int rc;

	if (ssh_sftp_begin(c, err, "remove", path) != 0) {
		ssh_sftp_end(c);
		return -1;
	}
	SSH_SFTP_DO(c, rc,
	    libssh2_sftp_unlink_ex(c->sftp, path, (unsigned)strlen(path)),
	    deadline);
	if (rc != 0 && !ssh_sftp_is(c, rc, LIBSSH2_FX_NO_SUCH_FILE))
		rc = ssh_sftp_fail(c, rc, err, "remove", path);
	else
		rc = 0;
	ssh_sftp_end(c);
	return rc;
}

/* lstat path into attrs; the libssh2 answer. */
static int
ssh_lstat(struct conn_ssh *c, const char *path, LIBSSH2_SFTP_ATTRIBUTES *attrs,
    double deadline)
{
	int rc;

	memset(attrs, 0, sizeof(*attrs));
	SSH_SFTP_DO(c, rc,
	    libssh2_sftp_stat_ex(c->sftp, path, (unsigned)strlen(path),
		LIBSSH2_SFTP_LSTAT, attrs),
	    deadline);
	return rc;
}

int
ssh_make_dir(
    struct conn *conn, const char *path, unsigned mode, struct strbuf *err)
{
	struct conn_ssh *c = (struct conn_ssh *)conn;
	LIBSSH2_SFTP_ATTRIBUTES attrs;
	double deadline = ssh_now_ms() + SSH_STEP_MS;
	int rc;

	if (ssh_sftp_begin(c, err, "create", path) != 0) {
		ssh_sftp_end(c);
		return -1;
	}
	SSH_SFTP_DO(c, rc,
	    libssh2_sftp_mkdir_ex(
		c->sftp, path, (unsigned)strlen(path), (long)(mode & 07777)),
	    deadline);
	/* SFTP says only "failure" for one that exists: look */
	if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL) {
		unsigned long code = libssh2_sftp_last_error(c->sftp);

		if (ssh_lstat(c, path, &attrs, deadline) == 0 &&
		    LIBSSH2_SFTP_S_ISDIR(attrs.permissions))
			rc = 0;
		else if (!c->lost) {
			strbuf_addf(err, "%s: cannot create %s: %s",
			    c->base.label, path,
			    code == LIBSSH2_FX_FAILURE
				? "it exists and is not a directory, or its "
				  "parent is missing"
				: ssh_sftp_status(code));
			rc = -1;
		}
	}
	if (rc != 0 && err->len == 0)
		ssh_sftp_fail(c, rc, err, "create", path);
	ssh_sftp_end(c);
	return rc != 0 ? -1 : 0;
}

int
ssh_stat(struct conn *conn, const char *path, struct conn_file_info *info,
    struct strbuf *err)
{
	struct conn_ssh *c = (struct conn_ssh *)conn;
	LIBSSH2_SFTP_ATTRIBUTES attrs;
	double deadline = ssh_now_ms() + SSH_STEP_MS;
	int rc;

	memset(info, 0, sizeof(*info));
	if (ssh_sftp_begin(c, err, "stat", path) != 0) {
		ssh_sftp_end(c);
		return -1;
	}
	rc = ssh_lstat(c, path, &attrs, deadline);
	if (rc != 0) {
		if (ssh_sftp_is(c, rc, LIBSSH2_FX_NO_SUCH_FILE) ||
		    ssh_sftp_is(c, rc, LIBSSH2_FX_NO_SUCH_PATH))
			rc = CONN_MISSING;
		else
			rc = ssh_sftp_fail(c, rc, err, "stat", path);
		ssh_sftp_end(c);
		return rc;
	}
	ssh_sftp_end(c);
	info->regular = LIBSSH2_SFTP_S_ISREG(attrs.permissions);
	info->directory = LIBSSH2_SFTP_S_ISDIR(attrs.permissions);
	info->mode = (unsigned)(attrs.permissions & 07777);
	info->size = (off_t)attrs.filesize;
	info->uid = (uid_t)attrs.uid;
	return 0;
}
