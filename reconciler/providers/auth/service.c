/*
 * The getbot-auth service on a server: a systemd unit, or a detached
 * daemon with a pid file and a log (service.h). Everything on the server
 * goes through its connection, where getbot-auth is looked for too (the
 * connection knows where programs installed with getbot are); all this
 * file does on this machine is sleep between looks.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "file.h"
#include "service.h"
#include "xmalloc.h"

#define SERVICE_BINARY         "getbot-auth"
#define SERVICE_UNIT           "getbot-auth.service"
#define SERVICE_UNIT_PATH      "/etc/systemd/system/" SERVICE_UNIT
#define SERVICE_UNIT_MARK      "# getbot: managed"
#define SERVICE_SYSTEMD_RUN    "/run/systemd/system"
#define SERVICE_PID_NAME       "getbot-auth.pid"
#define SERVICE_LOG_NAME       "getbot-auth.log"
#define SERVICE_START_SECONDS  10
#define SERVICE_STOP_SECONDS   10
#define SERVICE_RELOAD_SECONDS 5
#define SERVICE_SMALL_FILE     (64 * 1024) /* pid file, /proc files, unit */
#define SERVICE_OUTPUT_MAX     4096 /* what is kept of a command's words */
#define SERVICE_LOG_READ_MAX   (256 * 1024)
#define SERVICE_COMMAND_MS     (10 * 1000L)  /* kill, tail, realpath */
#define SERVICE_SYSTEMCTL_MS   (120 * 1000L) /* a restart waits for start */
#define SERVICE_LISTENING      "getbot-auth: listening on "

void
service_init(struct service *svc, struct conn *conn, const char *config,
    const char *binary)
{
	struct conn_file_info info;
	struct strbuf ignored = STRBUF_INIT;
	char *dir = file_dir(config);
	const char *in = strcmp(dir, "/") != 0 ? dir : "";

	memset(svc, 0, sizeof(*svc));
	svc->config = xstrdup(config);
	svc->binary = binary != NULL ? xstrdup(binary) : NULL;
	svc->pid_file = xasprintf("%s/%s", in, SERVICE_PID_NAME);
	svc->log_file = xasprintf("%s/%s", in, SERVICE_LOG_NAME);
	svc->systemd =
	    conn->ops->stat(conn, SERVICE_SYSTEMD_RUN, &info, &ignored) == 0;
	strbuf_release(&ignored);
	free(dir);
}

void
service_release(struct service *svc)
{
	free(svc->config);
	free(svc->binary);
	free(svc->pid_file);
	free(svc->log_file);
	memset(svc, 0, sizeof(*svc));
}

void
service_status_release(struct service_status *status)
{
	free(status->listen);
	memset(status, 0, sizeof(*status));
}

/* Has path an empty, "." or ".." component? */
static bool
service_path_has_dots(const char *path)
{
	const char *p;

	for (p = path; *p != '\0'; p++) {
		size_t len;

		if (*p != '/')
			continue;
		len = strcspn(p + 1, "/");
		if ((len == 1 && p[1] == '.') ||
		    (len == 2 && p[1] == '.' && p[2] == '.') || len == 0)
			return true;
	}
	return false;
}

int
service_check_path(const char *what, const char *path, struct strbuf *err)
{
	static const char plain[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz"
				    "0123456789/._+@-";

	if (path[0] != '/' || path[1] == '\0' ||
	    path[strlen(path) - 1] == '/') {
		strbuf_addf(err, "%s '%s' must be an absolute path to a file",
		    what, path);
		return -1;
	}
	if (strspn(path, plain) != strlen(path)) {
		strbuf_addf(err,
		    "%s '%s' may hold only letters, digits and '/._+@-'", what,
		    path);
		return -1;
	}
	if (service_path_has_dots(path)) {
		strbuf_addf(err,
		    "%s '%s' must not have empty, '.' or '..' parts", what,
		    path);
		return -1;
	}
	return 0;
}

static void
service_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Drop trailing white space. */
static void
service_rtrim(struct strbuf *sb)
{
	while (sb->len > 0 &&
	       (sb->buf[sb->len - 1] == '\n' || sb->buf[sb->len - 1] == '\r' ||
		   sb->buf[sb->len - 1] == ' '))
		strbuf_setlen(sb, sb->len - 1);
}

/* --- commands on the server ------------------------------------------- */

/* Run argv on the server; 0 when it ran and exited 0, its standard output
 * in out (if not NULL). What it said otherwise is dropped. */
static int
service_run_quiet(
    struct conn *conn, const char *const *argv, size_t max, struct strbuf *out)
{
	struct conn_result result;
	struct strbuf ignored = STRBUF_INIT;
	int rc = -1;

	conn_result_init(&result);
	if (conn->ops->run(conn, argv, NULL, SERVICE_COMMAND_MS, max, &result,
		&ignored) == 0 &&
	    result.status == 0) {
		if (out != NULL)
			strbuf_add(out, result.out.buf, result.out.len);
		rc = 0;
	}
	conn_result_release(&result);
	strbuf_release(&ignored);
	return rc;
}

/* Send signal (a name: "TERM") to pid on the server; 0 if it was sent. */
static int
service_signal(struct conn *conn, pid_t pid, const char *signal)
{
	char number[24];
	const char *argv[] = { "kill", "-s", signal, number, NULL };

	snprintf(number, sizeof(number), "%ld", (long)pid);
	return service_run_quiet(conn, argv, SERVICE_OUTPUT_MAX, NULL);
}

/* systemctl ARGS... (up to three), which must succeed; err quotes it. */
static int
service_systemctl(struct conn *conn, const char *a, const char *b,
    const char *c, struct strbuf *err)
{
	const char *argv[] = { "systemctl", a, b, b != NULL ? c : NULL, NULL };
	struct conn_result result;
	struct strbuf said = STRBUF_INIT;
	int rc = -1;

	conn_result_init(&result);
	if (conn->ops->run(conn, argv, NULL, SERVICE_SYSTEMCTL_MS,
		SERVICE_OUTPUT_MAX, &result, err) != 0)
		goto out;
	if (result.status != 0) {
		strbuf_add(&said, result.out.buf, result.out.len);
		strbuf_add(&said, result.errout.buf, result.errout.len);
		service_rtrim(&said);
		strbuf_addf(err, "systemctl %s%s%s%s%s failed (exit %d)%s%s", a,
		    b ? " " : "", b ? b : "", c ? " " : "", c ? c : "",
		    result.status, said.len ? ": " : "", said.buf);
		goto out;
	}
	rc = 0;
out:
	conn_result_release(&result);
	strbuf_release(&said);
	return rc;
}

/* Is the unit active? */
static bool
service_unit_active(struct conn *conn)
{
	const char *argv[] = { "systemctl", "is-active", SERVICE_UNIT, NULL };
	struct conn_result result;
	struct strbuf ignored = STRBUF_INIT;
	bool active = false;

	conn_result_init(&result);
	/* is-active exits 3 for a unit that is not: the word is the answer */
	if (conn->ops->run(conn, argv, NULL, SERVICE_SYSTEMCTL_MS,
		SERVICE_OUTPUT_MAX, &result, &ignored) == 0) {
		service_rtrim(&result.out);
		active = strcmp(result.out.buf, "active") == 0 ||
			 strcmp(result.out.buf, "reloading") == 0;
	}
	conn_result_release(&result);
	strbuf_release(&ignored);
	return active;
}

/* --- where getbot-auth is --------------------------------------------- */

/*
 * The executable regular file path on the server, or NULL: path itself
 * when it is one and plain; else (a link, or '.', '..' or '//' in it)
 * what the server's realpath makes of it. The caller frees it.
 */
static char *
service_executable(struct conn *conn, const char *path)
{
	const char *argv[] = { "realpath", "-e", "--", path, NULL };
	struct conn_file_info info;
	struct strbuf ignored = STRBUF_INIT, real = STRBUF_INIT;
	char *found = NULL;

	if (conn->ops->stat(conn, path, &info, &ignored) != 0 || info.directory)
		goto out;
	if (info.regular && !service_path_has_dots(path)) {
		if ((info.mode & 0111) != 0)
			found = xstrdup(path);
		goto out;
	}
	if (service_run_quiet(conn, argv, PATH_MAX, &real) != 0)
		goto out;
	service_rtrim(&real);
	if (real.len > 0 && real.buf[0] == '/' &&
	    conn->ops->stat(conn, real.buf, &info, &ignored) == 0 &&
	    info.regular && (info.mode & 0111) != 0)
		found = strbuf_detach(&real, NULL);
out:
	strbuf_release(&ignored);
	strbuf_release(&real);
	return found;
}

/* getbot-auth in the directories of list (':' separated, absolute ones
 * only), or NULL. The caller frees it. */
static char *
service_search(struct conn *conn, const char *list)
{
	while (list != NULL && *list != '\0') {
		size_t len = strcspn(list, ":");

		if (len > 0 && list[0] == '/') {
			char *path = xasprintf(
			    "%.*s/%s", (int)len, list, SERVICE_BINARY);
			char *found = service_executable(conn, path);

			free(path);
			if (found != NULL)
				return found;
		}
		list += len + (list[len] == ':');
	}
	return NULL;
}

/*
 * Where getbot-auth is on the server: the path the target names
 * (auth.binary), and only there, since the unit will run what it names;
 * else the first of the connection's program directories that holds it.
 * The caller frees it; NULL with err saying where it looked and how to
 * put it there.
 */
static char *
service_find_binary(
    const struct service *svc, struct conn *conn, struct strbuf *err)
{
	struct strbuf dirs = STRBUF_INIT;
	char *found;

	if (svc->binary != NULL) {
		found = service_executable(conn, svc->binary);
		if (found == NULL)
			strbuf_addf(err,
			    "%s: no executable file at %s%s (auth.binary names "
			    "it: install it there, or correct auth.binary)",
			    SERVICE_BINARY, svc->binary, conn->ops->through);
		return found;
	}
	conn->ops->program_dirs(conn, &dirs);
	found = service_search(conn, dirs.buf);
	if (found == NULL)
		strbuf_addf(err,
		    "%s: not found in %s%s (install it on the server from "
		    "getbot's build with make install, or name it with auth: "
		    "{binary: PATH})",
		    SERVICE_BINARY, dirs.buf, conn->ops->through);
	strbuf_release(&dirs);
	return found;
}

/* --- the unit, with systemd --------------------------------------------- */

/* What the unit's sandbox (getbot-auth.service.in) hides from getbot-auth:
 * a binary or an auth.json in there would be out of its reach. */
static const struct {
	const char *dir;
	const char *setting;
} service_unit_hidden[] = {
	{ "/home", "ProtectHome=yes" },
	{ "/root", "ProtectHome=yes" },
	{ "/run/user", "ProtectHome=yes" },
	{ "/tmp", "PrivateTmp=yes" },
	{ "/var/tmp", "PrivateTmp=yes" },
};

/* Can the unit's getbot-auth reach path (to verb it: "run", "read")?
 * If not, err says what hides it and hint what to do. */
static int
service_unit_reaches(
    const char *verb, const char *path, const char *hint, struct strbuf *err)
{
	size_t i, len;

	for (i = 0; i < ARRAY_SIZE(service_unit_hidden); i++) {
		len = strlen(service_unit_hidden[i].dir);
		if (strncmp(path, service_unit_hidden[i].dir, len) != 0 ||
		    path[len] != '/')
			continue;
		strbuf_addf(err,
		    "%s cannot %s '%s': the unit's %s hides %s; %s",
		    SERVICE_UNIT, verb, path, service_unit_hidden[i].setting,
		    service_unit_hidden[i].dir, hint);
		return -1;
	}
	return 0;
}

/* The unit for binary serving config: getbot-auth.service.in with its
 * ExecStart filled in, under getbot's mark. The caller frees it. */
static char *
service_unit_render(const char *binary, const char *config)
{
	struct strbuf sb = STRBUF_INIT;
	const char *line = service_unit_template;

	strbuf_addstr(&sb, SERVICE_UNIT_MARK
	    " (written by getbot apply; it replaces any change)\n");
	while (*line != '\0') {
		size_t len = strcspn(line, "\n");

		if (strncmp(line, "ExecStart=", 10) == 0)
			strbuf_addf(
			    &sb, "ExecStart=%s --config %s", binary, config);
		else
			strbuf_add(&sb, line, len);
		strbuf_addch(&sb, '\n');
		line += len + (line[len] == '\n');
	}
	return strbuf_detach(&sb, NULL);
}

/* Is unit (the installed unit's text) the one getbot would write now?
 * When getbot-auth cannot be found there is nothing to compare it with:
 * it is taken as current, and a restart will say what is missing. */
static bool
service_unit_is_current(
    const struct service *svc, struct conn *conn, const char *unit)
{
	struct strbuf ignored = STRBUF_INIT;
	char *binary = service_find_binary(svc, conn, &ignored), *want;
	bool current = true;

	if (binary != NULL) {
		want = service_unit_render(binary, svc->config);
		current = strcmp(unit, want) == 0;
		free(want);
	}
	free(binary);
	strbuf_release(&ignored);
	return current;
}

/* Install the unit if it is not what it should be. */
static int
service_unit_install(
    const struct service *svc, struct conn *conn, struct strbuf *err)
{
	struct strbuf have = STRBUF_INIT, why = STRBUF_INIT;
	char *binary = service_find_binary(svc, conn, err), *unit = NULL;
	int rc = -1;

	if (binary == NULL)
		return -1;
	if (service_check_path("the getbot-auth binary", binary, err) != 0 ||
	    service_unit_reaches("run", binary,
		"install getbot outside it (make install puts it under "
		"/usr/local)",
		err) != 0 ||
	    service_unit_reaches(
		"read", svc->config, "set auth.config outside it", err) != 0)
		goto out;
	unit = service_unit_render(binary, svc->config);
	if (conn->ops->read_file(conn, SERVICE_UNIT_PATH, SERVICE_SMALL_FILE,
		&have, &why) == 0 &&
	    strcmp(have.buf, unit) == 0) {
		rc = 0;
		goto out;
	}
	if (conn->ops->write_file(
		conn, SERVICE_UNIT_PATH, unit, strlen(unit), 0644, err) == 0 &&
	    service_systemctl(conn, "daemon-reload", NULL, NULL, err) == 0)
		rc = 0;
out:
	strbuf_release(&have);
	strbuf_release(&why);
	free(binary);
	free(unit);
	return rc;
}

/* Does something accept connections on listen (IPV4:PORT, [IPV6]:PORT)
 * on the server? */
static bool
service_listening(struct conn *conn, const char *listen)
{
	struct strbuf ignored = STRBUF_INIT;
	int fd = -1;
	bool ok = conn->ops->dial(conn, listen, &fd, &ignored) == 0;

	if (fd >= 0)
		close(fd);
	strbuf_release(&ignored);
	return ok;
}

/*
 * The unit, installed, enabled and (re)started; then, since systemd calls
 * a simple service started as soon as it forks, a wait for it to listen.
 */
static int
service_unit_restart(const struct service *svc, struct conn *conn,
    const char *listen, struct strbuf *err)
{
	int i;

	if (service_unit_install(svc, conn, err) != 0 ||
	    service_systemctl(conn, "enable", SERVICE_UNIT, NULL, err) != 0 ||
	    service_systemctl(conn, "restart", SERVICE_UNIT, NULL, err) != 0)
		return -1;
	for (i = 0; i < SERVICE_START_SECONDS * 10; i++) {
		if (service_listening(conn, listen))
			return 0;
		service_sleep_ms(100);
	}
	strbuf_addf(err,
	    "%s started, but nothing listens on %s after %d s (journalctl "
	    "-u %s says why)",
	    SERVICE_UNIT, listen, SERVICE_START_SECONDS, SERVICE_UNIT);
	return -1;
}

static int
service_unit_stop(struct conn *conn, struct strbuf *err)
{
	if (service_systemctl(conn, "disable", "--now", SERVICE_UNIT, err) !=
		0 ||
	    conn->ops->remove_file(conn, SERVICE_UNIT_PATH, err) != 0)
		return -1;
	return service_systemctl(conn, "daemon-reload", NULL, NULL, err);
}

/* --- the daemon, without systemd ----------------------------------------- */

/* Does pid run getbot-auth with our auth.json (/proc/PID/cmdline)? */
static bool
service_pid_is_ours(const struct service *svc, struct conn *conn, pid_t pid)
{
	struct strbuf cmdline = STRBUF_INIT, err = STRBUF_INIT;
	char *path = xasprintf("/proc/%ld/cmdline", (long)pid);
	const char *arg, *end, *base;
	bool ours = false, first = true, want_config = false;

	if (pid <= 1 || conn->ops->read_file(conn, path, SERVICE_SMALL_FILE,
			    &cmdline, &err) != 0)
		goto out;
	end = cmdline.buf + cmdline.len;
	for (arg = cmdline.buf; arg < end; arg += strlen(arg) + 1) {
		if (first) {
			base = strrchr(arg, '/');
			base = base != NULL ? base + 1 : arg;
			if (strcmp(base, SERVICE_BINARY) != 0)
				goto out;
			first = false;
		} else if (want_config) {
			ours = strcmp(arg, svc->config) == 0;
			want_config = false;
		} else if (strcmp(arg, "--config") == 0 ||
			   strcmp(arg, "-c") == 0)
			want_config = true;
		else if (strncmp(arg, "--config=", 9) == 0)
			ours = strcmp(arg + 9, svc->config) == 0;
	}
out:
	free(path);
	strbuf_release(&cmdline);
	strbuf_release(&err);
	return ours;
}

/* Does pid run at all (a zombie does not)? Just after the start it may
 * not be getbot-auth yet. */
static bool
service_pid_alive(struct conn *conn, pid_t pid)
{
	struct strbuf stat = STRBUF_INIT, err = STRBUF_INIT;
	char *path = xasprintf("/proc/%ld/stat", (long)pid);
	const char *state;
	bool alive = false;

	if (conn->ops->read_file(conn, path, SERVICE_SMALL_FILE, &stat, &err) ==
	    0) {
		/* PID (COMM) STATE ...: COMM may hold anything but ends at
		 * the last ')' */
		state = strrchr(stat.buf, ')');
		alive = state != NULL && state[1] == ' ' && state[2] != 'Z' &&
			state[2] != 'X' && state[2] != '\0';
	}
	free(path);
	strbuf_release(&stat);
	strbuf_release(&err);
	return alive;
}

/*
 * The pid file: "PID LISTEN\n", the daemon's pid and the address it was
 * started on (which a reload does not change). Returns 0, CONN_MISSING,
 * or -1 with err; a file that names no pid gives pid 0 and listen "".
 */
static int
service_pid_read(const struct service *svc, struct conn *conn, pid_t *pid,
    char **listen, struct strbuf *err)
{
	struct strbuf content = STRBUF_INIT;
	char *end;
	long value;
	int rc;

	*pid = 0;
	*listen = NULL;
	rc = conn->ops->read_file(
	    conn, svc->pid_file, SERVICE_SMALL_FILE, &content, err);
	if (rc != 0)
		goto out;
	errno = 0;
	value = strtol(content.buf, &end, 10);
	if (errno != 0 || value <= 1 || value > INT_MAX || *end != ' ') {
		/* not a pid: nothing of ours runs from it */
		*listen = xstrdup("");
		goto out;
	}
	*pid = (pid_t)value;
	end++;
	*listen = xstrndup(end, strcspn(end, "\n"));
out:
	strbuf_release(&content);
	return rc;
}

/* The pid of our running daemon, or 0. */
static pid_t
service_daemon_pid(const struct service *svc, struct conn *conn)
{
	struct strbuf err = STRBUF_INIT;
	char *listen = NULL;
	pid_t pid = 0;

	if (service_pid_read(svc, conn, &pid, &listen, &err) != 0 ||
	    !service_pid_is_ours(svc, conn, pid))
		pid = 0;
	free(listen);
	strbuf_release(&err);
	return pid;
}

static off_t
service_log_size(const struct service *svc, struct conn *conn)
{
	struct conn_file_info info;
	struct strbuf ignored = STRBUF_INIT;
	off_t size = 0;

	if (conn->ops->stat(conn, svc->log_file, &info, &ignored) == 0 &&
	    info.regular)
		size = info.size;
	strbuf_release(&ignored);
	return size;
}

/* What the daemon logged since offset from (at most SERVICE_LOG_READ_MAX
 * bytes), appended to out: the server's tail reads from there, where a
 * whole-file read of a log that grows with every sign-in would not. */
static void
service_log_since(const struct service *svc, struct conn *conn, off_t from,
    struct strbuf *out)
{
	char start[32];
	const char *argv[] = { "tail", "-c", start, "--", svc->log_file, NULL };

	snprintf(start, sizeof(start), "+%lld", (long long)from + 1);
	(void)service_run_quiet(conn, argv, SERVICE_LOG_READ_MAX, out);
}

/* The last line of text that says something, cut to 300 bytes. */
static void
service_last_line(const char *text, struct strbuf *out)
{
	size_t len = strlen(text), start;

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	start = len;
	while (start > 0 && text[start - 1] != '\n')
		start--;
	if (len - start > 300)
		len = start + 300;
	strbuf_add(out, text + start, len - start);
}

/*
 * Start getbot-auth as a daemon (the connection's spawn: its own session,
 * stdin /dev/null, stdout and stderr to the log, a clean environment) and
 * write its pid file. Waits until it says it listens, or reports its last
 * words.
 */
static int
service_daemon_start(const struct service *svc, struct conn *conn,
    const char *listen, struct strbuf *err)
{
	struct strbuf logged = STRBUF_INIT;
	char *binary, *pid_text = NULL;
	const char *argv[4];
	pid_t pid = 0;
	off_t from;
	int i, rc = -1;

	binary = service_find_binary(svc, conn, err);
	if (binary == NULL)
		return -1;
	argv[0] = binary;
	argv[1] = "--config";
	argv[2] = svc->config;
	argv[3] = NULL;
	from = service_log_size(svc, conn);
	if (conn->ops->spawn(conn, argv, svc->log_file, &pid, err) != 0)
		goto out;
	pid_text = xasprintf("%ld %s\n", (long)pid, listen);
	if (conn->ops->write_file(conn, svc->pid_file, pid_text,
		strlen(pid_text), 0600, err) != 0) {
		(void)service_signal(conn, pid, "TERM");
		goto out;
	}

	/* it listens (it says so), or it died: its last line says why */
	for (i = 0; i < SERVICE_START_SECONDS * 10; i++) {
		strbuf_reset(&logged);
		service_log_since(svc, conn, from, &logged);
		if (strstr(logged.buf, SERVICE_LISTENING) != NULL &&
		    service_pid_is_ours(svc, conn, pid)) {
			rc = 0;
			goto out;
		}
		if (!service_pid_alive(conn, pid))
			break;
		service_sleep_ms(100);
	}
	strbuf_reset(&logged);
	service_log_since(svc, conn, from, &logged);
	if (service_pid_alive(conn, pid)) {
		(void)service_signal(conn, pid, "TERM");
		strbuf_addf(err, "%s did not listen within %d s",
		    SERVICE_BINARY, SERVICE_START_SECONDS);
	} else
		strbuf_addf(err, "%s exited at start", SERVICE_BINARY);
	if (logged.len > 0) {
		strbuf_addf(err, " (%s says: ", svc->log_file);
		service_last_line(logged.buf, err);
		strbuf_addch(err, ')');
	}
out:
	free(binary);
	free(pid_text);
	strbuf_release(&logged);
	return rc;
}

/* Stop our daemon, if it runs (SIGTERM, then SIGKILL), and drop its pid
 * file. */
static int
service_daemon_stop(
    const struct service *svc, struct conn *conn, struct strbuf *err)
{
	pid_t pid = service_daemon_pid(svc, conn);
	int i;

	if (pid > 0) {
		(void)service_signal(conn, pid, "TERM");
		for (i = 0; i < SERVICE_STOP_SECONDS * 10 &&
			    service_pid_is_ours(svc, conn, pid);
		     i++)
			service_sleep_ms(100);
		if (service_pid_is_ours(svc, conn, pid)) {
			(void)service_signal(conn, pid, "KILL");
			for (i = 0;
			     i < 20 && service_pid_is_ours(svc, conn, pid); i++)
				service_sleep_ms(100);
		}
		if (service_pid_is_ours(svc, conn, pid)) {
			strbuf_addf(err, "%s (pid %ld) does not stop",
			    SERVICE_BINARY, (long)pid);
			return -1;
		}
	}
	return conn->ops->remove_file(conn, svc->pid_file, err);
}

/* SIGHUP to our daemon, and its answer from the log: reloaded, or
 * refused and why. A daemon that does not run has nothing to reload. */
static int
service_daemon_reload(
    const struct service *svc, struct conn *conn, struct strbuf *err)
{
	struct strbuf logged = STRBUF_INIT;
	pid_t pid = service_daemon_pid(svc, conn);
	off_t from = service_log_size(svc, conn);
	const char *refused;
	int i, rc = 0;

	if (pid == 0 || service_signal(conn, pid, "HUP") != 0)
		return 0;
	for (i = 0; i < SERVICE_RELOAD_SECONDS * 20; i++) {
		strbuf_reset(&logged);
		service_log_since(svc, conn, from, &logged);
		refused = strstr(logged.buf, "getbot-auth: reload refused: ");
		if (refused != NULL) {
			strbuf_addstr(
			    err, "getbot-auth refused the new config: ");
			service_last_line(refused, err);
			rc = -1;
			break;
		}
		if (strstr(logged.buf, "getbot-auth: reloaded ") != NULL)
			break;
		service_sleep_ms(50);
	}
	strbuf_release(&logged);
	return rc;
}

/* --- the service, either way ------------------------------------------- */

void
service_observe(
    const struct service *svc, struct conn *conn, struct service_status *status)
{
	struct strbuf unit = STRBUF_INIT, err = STRBUF_INIT;
	pid_t pid = 0;

	memset(status, 0, sizeof(*status));
	if (svc->systemd) {
		if (conn->ops->read_file(conn, SERVICE_UNIT_PATH,
			SERVICE_SMALL_FILE, &unit, &err) == CONN_MISSING)
			goto out;
		status->owned = strncmp(unit.buf, SERVICE_UNIT_MARK,
				    strlen(SERVICE_UNIT_MARK)) == 0;
		status->running = service_unit_active(conn);
		status->stale = !service_unit_is_current(svc, conn, unit.buf);
	} else {
		if (service_pid_read(svc, conn, &pid, &status->listen, &err) ==
		    CONN_MISSING)
			goto out;
		status->owned = true;
		status->running = service_pid_is_ours(svc, conn, pid);
	}
	status->present = true;
out:
	strbuf_release(&unit);
	strbuf_release(&err);
}

int
service_restart(const struct service *svc, struct conn *conn,
    const char *listen, struct strbuf *err)
{
	if (svc->systemd)
		return service_unit_restart(svc, conn, listen, err);
	if (service_daemon_stop(svc, conn, err) != 0)
		return -1;
	return service_daemon_start(svc, conn, listen, err);
}

int
service_reload(const struct service *svc, struct conn *conn, struct strbuf *err)
{
	if (svc->systemd)
		return service_systemctl(
		    conn, "try-reload-or-restart", SERVICE_UNIT, NULL, err);
	return service_daemon_reload(svc, conn, err);
}

int
service_stop(const struct service *svc, struct conn *conn, struct strbuf *err)
{
	if (svc->systemd)
		return service_unit_stop(conn, err);
	return service_daemon_stop(svc, conn, err);
}

void
service_forget(const struct service *svc, struct conn *conn)
{
	struct strbuf ignored = STRBUF_INIT;

	(void)conn->ops->remove_file(conn, svc->log_file, &ignored);
	strbuf_release(&ignored);
}

/* --- what the server must have ------------------------------------------ */

/* The Debian 12 packages of the libraries getbot-auth is linked with
 * (ldd getbot-auth), by the names the loader reports missing. */
static const struct {
	const char *library;
	const char *package;
} service_libraries[] = {
	{ "libsodium.so.23", "libsodium23" },
	{ "libmicrohttpd.so.12", "libmicrohttpd12" },
	{ "libcurl.so.4", "libcurl4" },
	{ "libcjson.so.1", "libcjson1" },
	{ "libpsl.so.5", "libpsl5" },
};

#define SERVICE_LOADER_WORDS "error while loading shared libraries: "

/* Why binary did not run, from what it said (the loader's words when a
 * library is missing), with how to mend it, as a line of missing. */
static void
service_add_cannot_run(const char *binary, const struct conn_result *result,
    struct strbuf *missing)
{
	struct strbuf said = STRBUF_INIT;
	const char *loader, *library;
	size_t i, len;

	service_last_line(
	    result->errout.len > 0 ? result->errout.buf : result->out.buf,
	    &said);
	loader = strstr(said.buf, SERVICE_LOADER_WORDS);
	if (loader == NULL) {
		strbuf_addf(missing,
		    "%s: %s --version exited %d%s%s (install it again from "
		    "getbot's build)\n",
		    SERVICE_BINARY, binary, result->status,
		    said.len > 0 ? ": " : "", said.buf);
		goto out;
	}
	library = loader + strlen(SERVICE_LOADER_WORDS);
	len = strcspn(library, ":");
	strbuf_addf(missing, "%s: cannot run %s: %s (install ", SERVICE_BINARY,
	    binary, loader);
	for (i = 0; i < ARRAY_SIZE(service_libraries); i++)
		if (strlen(service_libraries[i].library) == len &&
		    strncmp(library, service_libraries[i].library, len) == 0)
			break;
	if (i < ARRAY_SIZE(service_libraries))
		strbuf_addf(missing, "it: apt-get install %s)\n",
		    service_libraries[i].package);
	else
		strbuf_addf(missing,
		    "the package that holds %.*s: apt-file search %.*s)\n",
		    (int)len, library, (int)len, library);
out:
	strbuf_release(&said);
}

/* Does binary run on the server (its libraries found), and is it
 * getbot-auth? If not, a line of missing says why. */
static void
service_check_runs(
    const char *binary, struct conn *conn, struct strbuf *missing)
{
	const char *argv[] = { binary, "--version", NULL };
	struct conn_result result;
	struct strbuf why = STRBUF_INIT;

	conn_result_init(&result);
	if (conn->ops->run(conn, argv, NULL, SERVICE_COMMAND_MS,
		SERVICE_OUTPUT_MAX, &result, &why) != 0)
		strbuf_addf(missing, "%s: cannot run %s: %s\n", SERVICE_BINARY,
		    binary, why.buf);
	else if (result.status != 0 ||
		 strncmp(result.out.buf, SERVICE_BINARY " ",
		     strlen(SERVICE_BINARY) + 1) != 0)
		service_add_cannot_run(binary, &result, missing);
	conn_result_release(&result);
	strbuf_release(&why);
}

void
service_check(
    const struct service *svc, struct conn *conn, struct strbuf *missing)
{
	const char *argv[] = { "systemctl", "--version", NULL };
	struct strbuf why = STRBUF_INIT;
	char *binary = service_find_binary(svc, conn, &why);

	if (binary == NULL)
		strbuf_addf(missing, "%s\n", why.buf);
	else
		service_check_runs(binary, conn, missing);
	if (!svc->systemd)
		goto out;
	/* the unit getbot installs must be able to reach both */
	strbuf_reset(&why);
	if ((binary != NULL &&
		service_unit_reaches("run", binary,
		    "install it outside (make install puts it under "
		    "/usr/local), or name another with auth.binary",
		    &why) != 0) ||
	    service_unit_reaches(
		"read", svc->config, "set auth.config outside it", &why) != 0)
		strbuf_addf(missing, "%s: %s\n", SERVICE_BINARY, why.buf);
	if (service_run_quiet(conn, argv, SERVICE_OUTPUT_MAX, NULL) != 0)
		strbuf_addf(missing,
		    "systemd: the server runs it (%s is there), but systemctl "
		    "--version does not run (install it: apt-get install "
		    "systemd)\n",
		    SERVICE_SYSTEMD_RUN);
out:
	free(binary);
	strbuf_release(&why);
}
