/*
 * Commands on the server: one exec channel each. SSH carries a command as
 * one string for the login shell, so each argv element is single-quoted
 * (it then reaches the program exactly as it is); no other part of the
 * string comes from anywhere but here. The program is looked up on the
 * server's PATH first, so that "not found" is told apart from a program
 * that exits 127. The login shell must be a POSIX shell.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conn-ssh.h"
#include "xmalloc.h"

#define SSH_NOT_FOUND    "getbot-conn-ssh: not found"
#define SSH_PID_PREFIX   "getbot-pid "
#define SSH_PID_LINE_MAX 32    /* "getbot-pid 4194304\n", and room */
#define SSH_CLOSE_MS     10000 /* a finished command's channel to close */
#define SSH_KILL_MS      10000
#define SSH_SPAWN_MS     30000
#define SSH_SPAWN_OUTPUT 4096

/* Append s single-quoted for a POSIX shell: it's -> 'it'\''s'. */
static void
ssh_quote(struct strbuf *sb, const char *s)
{
	strbuf_addch(sb, '\'');
	for (; *s != '\0'; s++)
		if (*s == '\'')
			strbuf_addstr(sb, "'\\''");
		else
			strbuf_addch(sb, *s);
	strbuf_addch(sb, '\'');
}

/* Append every element of argv, quoted, space-separated. */
static void
ssh_quote_argv(struct strbuf *sb, const char *const *argv)
{
	size_t i;

	for (i = 0; argv[i] != NULL; i++) {
		if (i > 0)
			strbuf_addch(sb, ' ');
		ssh_quote(sb, argv[i]);
	}
}

/* "command -v 'PROGRAM' ... || not found": the shell's start. */
static void
ssh_add_lookup(struct strbuf *sb, const char *program)
{
	strbuf_addstr(sb, "command -v ");
	ssh_quote(sb, program);
	strbuf_addstr(sb, " >/dev/null 2>&1 || { echo '" SSH_NOT_FOUND
			  "' >&2; exit 127; }; ");
}

static bool
ssh_was_not_found(const struct conn_result *result)
{
	return result->status == 127 &&
	       strcmp(result->errout.buf, SSH_NOT_FOUND "\n") == 0;
}

/* Append what a stream of channel gives to sb, up to max bytes kept
 * (the rest is read and dropped, so the command is never held up). */
static ssize_t
ssh_read_stream(struct conn_ssh *c, LIBSSH2_CHANNEL *channel, int stream,
    struct strbuf *sb, size_t max)
{
	char chunk[16384];
	ssize_t got;

	SSH_CALL(c, got,
	    libssh2_channel_read_ex(channel, stream, chunk, sizeof(chunk)));
	if (got > 0 && sb->len < max)
		strbuf_add(sb, chunk,
		    (size_t)got < max - sb->len ? (size_t)got : max - sb->len);
	return got;
}

/* Take the "getbot-pid N" line the command's shell starts its standard
 * error with off errout; N, or 0 when it is not (yet) there. */
static long
ssh_take_pid(struct strbuf *errout)
{
	size_t prefix = strlen(SSH_PID_PREFIX);
	const char *nl;
	char *end = NULL;
	long pid;

	if (errout->len < prefix ||
	    strncmp(errout->buf, SSH_PID_PREFIX, prefix) != 0 ||
	    (nl = memchr(errout->buf, '\n', errout->len)) == NULL)
		return 0;
	pid = strtol(errout->buf + prefix, &end, 10);
	if (end != nl || pid <= 1)
		return 0;
	prefix = (size_t)(nl - errout->buf) + 1; /* the whole line */
	memmove(errout->buf, errout->buf + prefix, errout->len - prefix);
	strbuf_setlen(errout, errout->len - prefix);
	return pid;
}

/* "3 s", "0.5 s": a timeout in words. */
static void
ssh_add_seconds(struct strbuf *sb, long ms)
{
	if (ms % 1000 == 0)
		strbuf_addf(sb, "%ld s", ms / 1000);
	else
		strbuf_addf(sb, "%.1f s", (double)ms / 1000);
}

static int ssh_exec(struct conn_ssh *c, const char *program,
    const char *command, const char *input, long timeout_ms, size_t max_output,
    bool killable, struct conn_result *result, struct strbuf *err);

/* Kill the command whose shell was pid (and its process group: sshd
 * starts each command's shell in a session of its own), in an exec
 * channel of its own; why it could not be, into err. */
static int
ssh_kill(struct conn_ssh *c, long pid, struct strbuf *err)
{
	struct conn_result result;
	char *command = xasprintf(
	    "kill -s KILL -- -%ld 2>/dev/null || kill -s KILL %ld", pid, pid);
	int rc;

	conn_result_init(&result);
	rc = ssh_exec(
	    c, "kill", command, NULL, SSH_KILL_MS, 512, false, &result, err);
	if (rc == 0 && result.status != 0) {
		strbuf_addf(err, "kill %ld: %.200s", pid,
		    result.errout.len > 0 ? result.errout.buf : "failed");
		rc = -1;
	}
	conn_result_release(&result);
	free(command);
	return rc;
}

/*
 * Run command (a shell command line of ours) in a new exec channel. A
 * killable one's shell first says its pid on standard error (taken off
 * again), so that past its timeout the command is killed: sshd would let
 * it run, and hold its MaxSessions slot, until it ends by itself.
 */
static int
ssh_exec(struct conn_ssh *c, const char *program, const char *command,
    const char *input, long timeout_ms, size_t max_output, bool killable,
    struct conn_result *result, struct strbuf *err)
{
	LIBSSH2_CHANNEL *channel = NULL;
	struct strbuf step = STRBUF_INIT, line = STRBUF_INIT;
	double deadline = ssh_now_ms() + (double)timeout_ms;
	size_t input_len = input != NULL ? strlen(input) : 0, written = 0;
	bool eof_sent = false, timed_out = false;
	char *signal_name = NULL;
	long pid = 0;
	ssize_t got;
	int rc = -1, call;

	result->status = -1;
	strbuf_addf(&step, "cannot run %s", program);
	if (killable)
		strbuf_addstr(
		    &line, "printf '" SSH_PID_PREFIX "%s\\n' $$ >&2; ");
	strbuf_addstr(&line, command);
	pthread_mutex_lock(&c->lock);
	if (ssh_channel_open(c, NULL, NULL, 0, &channel, err, step.buf) != 0)
		goto out;
	SSH_DO(c, call,
	    libssh2_channel_process_startup(
		channel, "exec", 4, line.buf, (unsigned)line.len),
	    deadline, NULL);
	if (call != 0) {
		if (call == SSH_TIMEDOUT)
			timed_out = true;
		else {
			ssh_fail(c, call, err, step.buf);
			goto close;
		}
	}
	while (!timed_out) {
		unsigned long seen = c->moves;
		bool moved = false;

		if (written < input_len) {
			SSH_CALL(c, got,
			    libssh2_channel_write(
				channel, input + written, input_len - written));
			if (got > 0) {
				written += (size_t)got;
				moved = true;
			} else if (got < 0 && got != LIBSSH2_ERROR_EAGAIN)
				written = input_len; /* it reads no more */
		}
		if (written == input_len && !eof_sent) {
			SSH_CALL(c, call, libssh2_channel_send_eof(channel));
			eof_sent = call != LIBSSH2_ERROR_EAGAIN;
		}
		got = ssh_read_stream(c, channel, 0, &result->out, max_output);
		moved = moved || got > 0;
		if (got >= 0 || got == LIBSSH2_ERROR_EAGAIN) {
			got = ssh_read_stream(c, channel,
			    SSH_EXTENDED_DATA_STDERR, &result->errout,
			    max_output + (killable ? SSH_PID_LINE_MAX : 0));
			moved = moved || got > 0;
		}
		if (got < 0 && got != LIBSSH2_ERROR_EAGAIN) {
			ssh_fail(c, (int)got, err, step.buf);
			goto close;
		}
		if (libssh2_channel_eof(channel) == 1)
			break;
		if (moved)
			continue;
		call = ssh_wait(c, deadline, seen);
		if (call == SSH_TIMEDOUT)
			timed_out = true;
		else if (call != 0) {
			ssh_fail(c, call, err, step.buf);
			goto close;
		}
	}
	if (timed_out) {
		pid = killable ? ssh_take_pid(&result->errout) : 0;
		strbuf_addf(err, "%s: %s did not finish within ", c->base.label,
		    program);
		ssh_add_seconds(err, timeout_ms);
		SSH_CALL(c, call, libssh2_channel_close(channel));
		if (pid == 0) {
			ssh_channel_close(c, channel, true, ssh_now_ms());
			channel = NULL;
		}
		goto out;
	}
	/* its exit status comes before the server closes the channel; and
	 * libssh2 1.10's channel_close may return before that close has
	 * arrived, so wait for it first */
	deadline = ssh_now_ms() + SSH_CLOSE_MS;
	SSH_DO(c, call, libssh2_channel_wait_closed(channel), deadline, NULL);
	if (call != 0) {
		ssh_fail(c, call, err, step.buf);
		goto close;
	}
	result->status = libssh2_channel_get_exit_status(channel);
	if (libssh2_channel_get_exit_signal(
		channel, &signal_name, NULL, NULL, NULL, NULL, NULL) == 0 &&
	    signal_name != NULL)
		result->status = -1; /* killed */
	rc = 0;
close:
	if (signal_name != NULL)
		libssh2_free(c->session, signal_name);
	ssh_channel_close(c, channel, true, ssh_now_ms() + SSH_CLOSE_MS);
out:
	pthread_mutex_unlock(&c->lock);
	if (killable)
		(void)ssh_take_pid(&result->errout);
	if (result->errout.len > max_output)
		strbuf_setlen(&result->errout, max_output);
	if (timed_out) {
		struct strbuf why = STRBUF_INIT;

		if (pid == 0)
			strbuf_addstr(err, "; its channel is closed, but it "
					   "may still run on the server");
		else if (ssh_kill(c, pid, &why) != 0)
			strbuf_addf(err,
			    "; it may still run on the server, as killing it "
			    "failed: %s",
			    why.buf);
		else
			strbuf_addstr(err, ", and was killed");
		strbuf_release(&why);
	}
	if (timed_out && channel != NULL) {
		/* sshd holds the command's slot until it has ended, then
		 * closes its channel: it counts as taken until then */
		pthread_mutex_lock(&c->lock);
		SSH_DO(c, call, libssh2_channel_close(channel),
		    ssh_now_ms() + SSH_CLOSE_MS, NULL);
		ssh_channel_close(c, channel, true, ssh_now_ms());
		pthread_mutex_unlock(&c->lock);
	}
	strbuf_release(&step);
	strbuf_release(&line);
	return rc;
}

/* argv[0] as getbot may name a program: not an option. */
static int
ssh_check_program(struct conn_ssh *c, const char *program, struct strbuf *err)
{
	if (program == NULL || program[0] == '\0' || program[0] == '-') {
		strbuf_addf(err, "%s: '%s' is not a program name",
		    c->base.label, program != NULL ? program : "");
		return -1;
	}
	return 0;
}

int
ssh_run(struct conn *conn, const char *const *argv, const char *input,
    long timeout_ms, size_t max_output, struct conn_result *result,
    struct strbuf *err)
{
	struct conn_ssh *c = (struct conn_ssh *)conn;
	struct strbuf command = STRBUF_INIT;
	int rc;

	result->status = -1;
	if (ssh_check_program(c, argv[0], err) != 0)
		return -1;
	ssh_add_lookup(&command, argv[0]);
	strbuf_addstr(&command, "exec ");
	ssh_quote_argv(&command, argv);
	rc = ssh_exec(c, argv[0], command.buf, input, timeout_ms, max_output,
	    true, result, err);
	if (rc == 0 && ssh_was_not_found(result)) {
		strbuf_addf(err, "%s: %s: not found on the server's PATH",
		    c->base.label, argv[0]);
		result->status = -1;
		rc = -1;
	}
	strbuf_release(&command);
	return rc;
}

int
ssh_spawn(struct conn *conn, const char *const *argv, const char *log_path,
    pid_t *pid, struct strbuf *err)
{
	struct conn_ssh *c = (struct conn_ssh *)conn;
	struct strbuf command = STRBUF_INIT;
	struct conn_result result;
	char *end = NULL;
	long number;
	int rc = -1;

	if (ssh_check_program(c, argv[0], err) != 0)
		return -1;
	/*
	 * The log is opened first (a bad path fails here, not in the
	 * background), never through a symbolic link; setsid, not a process
	 * group leader in a shell without job control, makes the new session
	 * without a fork, so $! is the daemon's pid.
	 */
	strbuf_addstr(&command, "cd / || exit 1; umask 077; ");
	ssh_add_lookup(&command, argv[0]);
	/* the shell has no O_NOFOLLOW: a link is refused first, as
	 * conn-local's open refuses it */
	strbuf_addstr(&command, "[ ! -L ");
	ssh_quote(&command, log_path);
	strbuf_addstr(&command, " ] || { printf '%s: Too many levels of "
				"symbolic links\\n' ");
	ssh_quote(&command, log_path);
	strbuf_addstr(&command, " >&2; exit 1; }; exec 3>>");
	ssh_quote(&command, log_path);
	strbuf_addstr(&command, " || exit 1; setsid ");
	ssh_quote_argv(&command, argv);
	strbuf_addstr(&command, " </dev/null >&3 2>&3 3>&- & echo $!");
	conn_result_init(&result);
	if (ssh_exec(c, argv[0], command.buf, NULL, SSH_SPAWN_MS,
		SSH_SPAWN_OUTPUT, true, &result, err) != 0)
		goto out;
	if (ssh_was_not_found(&result)) {
		strbuf_addf(err, "%s: %s: not found on the server's PATH",
		    c->base.label, argv[0]);
		goto out;
	}
	number = strtol(result.out.buf, &end, 10);
	if (result.status != 0 || end == result.out.buf ||
	    (*end != '\n' && *end != '\0') || number <= 1) {
		strbuf_addf(err, "%s: cannot start %s: %.512s", c->base.label,
		    argv[0],
		    result.errout.len > 0 ? result.errout.buf
					  : "the shell gave no process id");
		goto out;
	}
	*pid = (pid_t)number;
	rc = 0;
out:
	conn_result_release(&result);
	strbuf_release(&command);
	return rc;
}
