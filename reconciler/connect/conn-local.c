/*
 * The local connection: the server is the machine getbot runs on. Streams
 * are sockets connected here, files are this machine's files, commands are
 * forked and executed here (never through a shell).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "file.h"
#include "xmalloc.h"

#define LOCAL_CONNECT_TIMEOUT_MS 10000
#define LOCAL_PATH               CONN_LOGIN_PATH

extern char **environ;

struct conn_local {
	struct conn base;
};

static int
local_dial_unix(const char *path, int *fd, struct strbuf *err)
{
	struct sockaddr_un sa;
	int s;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		strbuf_addf(err, "socket path too long: %s", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		strbuf_addf(
		    err, "cannot connect to %s: %s", path, strerror(errno));
		if (s >= 0)
			close(s);
		return -1;
	}
	*fd = s;
	return 0;
}

/* Connect s to addr, waiting at most LOCAL_CONNECT_TIMEOUT_MS. */
static int
local_connect_timed(int s, const struct addrinfo *addr)
{
	struct pollfd pfd = { s, POLLOUT, 0 };
	int flags = fcntl(s, F_GETFL), soerr = 0, n;
	socklen_t len = sizeof(soerr);

	if (flags < 0 || fcntl(s, F_SETFL, flags | O_NONBLOCK) != 0)
		return -1;
	if (connect(s, addr->ai_addr, addr->ai_addrlen) != 0) {
		if (errno != EINPROGRESS)
			return -1;
		do
			n = poll(&pfd, 1, LOCAL_CONNECT_TIMEOUT_MS);
		while (n < 0 && errno == EINTR);
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (n < 0 ||
		    getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
			return -1;
		if (soerr != 0) {
			errno = soerr;
			return -1;
		}
	}
	return fcntl(s, F_SETFL, flags);
}

static int
local_dial_tcp(const char *endpoint, int *fd, struct strbuf *err)
{
	const char *colon = strrchr(endpoint, ':');
	struct addrinfo hints, *list = NULL, *a;
	char *host;
	int s = -1, gai, saved = 0;

	if (colon == NULL || colon[1] == '\0') {
		strbuf_addf(err, "'%s' is not HOST:PORT", endpoint);
		return -1;
	}
	host = colon == endpoint
		   ? xstrdup("localhost")
		   : xstrndup(endpoint, (size_t)(colon - endpoint));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	gai = getaddrinfo(host, colon + 1, &hints, &list);
	if (gai != 0) {
		strbuf_addf(
		    err, "cannot resolve %s: %s", endpoint, gai_strerror(gai));
		free(host);
		return -1;
	}
	for (a = list; a != NULL; a = a->ai_next) {
		s = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
		    a->ai_protocol);
		if (s >= 0 && local_connect_timed(s, a) == 0)
			break;
		saved = errno;
		if (s >= 0)
			close(s);
		s = -1;
	}
	freeaddrinfo(list);
	free(host);
	if (s < 0) {
		strbuf_addf(
		    err, "cannot connect to %s: %s", endpoint, strerror(saved));
		return -1;
	}
	*fd = s;
	return 0;
}

static int
local_dial(struct conn *conn, const char *endpoint, int *fd, struct strbuf *err)
{
	(void)conn;
	if (strncmp(endpoint, "unix:", 5) == 0)
		return local_dial_unix(endpoint + 5, fd, err);
	return local_dial_tcp(endpoint, fd, err);
}

static int
local_read_file(struct conn *conn, const char *path, size_t max,
    struct strbuf *content, struct strbuf *err)
{
	int rc = file_read(path, max, content, NULL, err);

	(void)conn;
	return rc == FILE_MISSING ? CONN_MISSING : rc;
}

static int
local_write_file(struct conn *conn, const char *path, const char *data,
    size_t len, unsigned mode, struct strbuf *err)
{
	(void)conn;
	if (file_replace(path, data, len, (mode_t)mode, err) != 0)
		return -1;
	return file_sync_dir(path, err);
}

static int
local_remove_file(struct conn *conn, const char *path, struct strbuf *err)
{
	(void)conn;
	if (unlink(path) != 0 && errno != ENOENT) {
		strbuf_addf(err, "cannot remove %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
local_make_dir(
    struct conn *conn, const char *path, unsigned mode, struct strbuf *err)
{
	(void)conn;
	if (mkdir(path, (mode_t)mode) != 0 && errno != EEXIST) {
		strbuf_addf(err, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
local_stat(struct conn *conn, const char *path, struct conn_file_info *info,
    struct strbuf *err)
{
	struct stat st;

	(void)conn;
	memset(info, 0, sizeof(*info));
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return CONN_MISSING;
		strbuf_addf(err, "cannot stat %s: %s", path, strerror(errno));
		return -1;
	}
	info->regular = S_ISREG(st.st_mode);
	info->directory = S_ISDIR(st.st_mode);
	info->mode = (unsigned)(st.st_mode & 07777);
	info->size = st.st_size;
	info->uid = st.st_uid;
	return 0;
}

/* In a child: close every descriptor from 3 up (async-signal-safe). */
static void
local_close_from_3(long max_fd)
{
	long fd;

	for (fd = 3; fd < max_fd; fd++)
		(void)close((int)fd);
}

/* In a child: signals as a new program expects them. */
static void
local_reset_signals(void)
{
	struct sigaction dfl;
	sigset_t none;
	int sig;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (sig = 1; sig < 32; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* A pipe whose ends close on exec. */
static int
local_pipe(int fds[2])
{
	if (pipe(fds) != 0)
		return -1;
	(void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	return 0;
}

/* execve's argv type from ours: the strings are not written to. */
static char *const *
local_argv(const char *const *argv)
{
	char *const *args;

	memcpy(&args, &argv, sizeof(args));
	return args;
}

static long
local_max_fd(void)
{
	long max = sysconf(_SC_OPEN_MAX);

	return max > 0 ? max : 1024;
}

/* argv[0] as an absolute path: itself when it has a '/', else the first
 * executable of that name on the server's usual PATH. Free it. */
static char *
local_which(const char *name)
{
	const char *list = LOCAL_PATH;

	if (strchr(name, '/') != NULL)
		return xstrdup(name);
	while (*list != '\0') {
		size_t len = strcspn(list, ":");
		char *path = xasprintf("%.*s/%s", (int)len, list, name);

		if (access(path, X_OK) == 0)
			return path;
		free(path);
		list += len + (list[len] == ':');
	}
	return NULL;
}

/* The environment a command gets: PATH and the sanitizers' options, never
 * getbot's own (secrets are passed to getbot in its environment). */
static char **
local_clean_env(void)
{
	static const char *const passed[] = { "ASAN_OPTIONS", "LSAN_OPTIONS",
		"UBSAN_OPTIONS" };
	char **envp = xcalloc(ARRAY_SIZE(passed) + 2, sizeof(*envp));
	size_t i, n = 0;

	envp[n++] = xstrdup("PATH=" LOCAL_PATH);
	for (i = 0; i < ARRAY_SIZE(passed); i++)
		if (getenv(passed[i]) != NULL)
			envp[n++] =
			    xasprintf("%s=%s", passed[i], getenv(passed[i]));
	return envp;
}

static void
local_env_free(char **envp)
{
	size_t i;

	for (i = 0; envp[i] != NULL; i++)
		free(envp[i]);
	free(envp);
}

static double
local_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Append what fd gives to sb, up to max bytes kept; false at its end. */
static bool
local_drain(int fd, struct strbuf *sb, size_t max)
{
	char chunk[4096];
	ssize_t got;

	do
		got = read(fd, chunk, sizeof(chunk));
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		return false;
	if (sb->len < max)
		strbuf_add(sb, chunk,
		    (size_t)got < max - sb->len ? (size_t)got : max - sb->len);
	return true;
}

static int
local_run(struct conn *conn, const char *const *argv, const char *input,
    long timeout_ms, size_t max_output, struct conn_result *result,
    struct strbuf *err)
{
	long max_fd = local_max_fd();
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	char *path = local_which(argv[0]);
	char **envp = NULL;
	double deadline = local_now_ms() + (double)timeout_ms;
	bool out_open = true, err_open = true, timed_out = false;
	sigset_t pipe_only, saved_mask;
	size_t input_len = input != NULL ? strlen(input) : 0, written = 0;
	int wstatus, rc = -1;
	pid_t pid;

	(void)conn;
	result->status = -1;
	if (path == NULL) {
		strbuf_addf(err, "%s: not found on the server's PATH (%s)",
		    argv[0], LOCAL_PATH);
		return -1;
	}
	if (local_pipe(in) != 0 || local_pipe(out) != 0 ||
	    local_pipe(errp) != 0) {
		strbuf_addf(err, "cannot run %s: %s", argv[0], strerror(errno));
		goto out;
	}
	envp = local_clean_env();
	pid = fork();
	if (pid == 0) {
		/* async-signal-safe calls only: other threads may hold locks
		 * we would wait on forever */
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(errp[1], 2) < 0)
			_exit(126);
		local_close_from_3(max_fd);
		local_reset_signals();
		execve(path, local_argv(argv), envp);
		_exit(127);
	}
	if (pid < 0) {
		strbuf_addf(err, "cannot run %s: %s", argv[0], strerror(errno));
		goto out;
	}
	close(in[0]), in[0] = -1;
	close(out[1]), out[1] = -1;
	close(errp[1]), errp[1] = -1;
	if (input_len == 0)
		close(in[1]), in[1] = -1;
	else {
		(void)fcntl(in[1], F_SETFL, O_NONBLOCK);
		/* a command that exits without reading its input must not
		 * end getbot with SIGPIPE: blocked in this thread, the write
		 * fails with EPIPE instead, and the signal is taken below */
		sigemptyset(&pipe_only);
		sigaddset(&pipe_only, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &pipe_only, &saved_mask);
	}
	while (out_open || err_open || in[1] >= 0) {
		struct pollfd pfd[3];
		nfds_t n = 0;
		double left = deadline - local_now_ms();
		int ready;

		if (left <= 0) {
			timed_out = true;
			break;
		}
		if (out_open)
			pfd[n++] = (struct pollfd){ out[0], POLLIN, 0 };
		if (err_open)
			pfd[n++] = (struct pollfd){ errp[0], POLLIN, 0 };
		if (in[1] >= 0)
			pfd[n++] = (struct pollfd){ in[1], POLLOUT, 0 };
		ready = poll(pfd, n, (int)left + 1);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0)
			break;
		for (nfds_t i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (pfd[i].fd == out[0])
				out_open = local_drain(
				    out[0], &result->out, max_output);
			else if (pfd[i].fd == errp[0])
				err_open = local_drain(
				    errp[0], &result->errout, max_output);
			else {
				ssize_t put = write(in[1], input + written,
				    input_len - written);

				if (put > 0)
					written += (size_t)put;
				if ((put < 0 && errno != EAGAIN &&
					errno != EINTR) ||
				    written == input_len)
					close(in[1]), in[1] = -1;
			}
		}
	}
	if (input_len > 0) {
		const struct timespec now = { 0, 0 };
		sigset_t pending;

		if (in[1] >= 0)
			close(in[1]), in[1] = -1;
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE))
			(void)sigtimedwait(&pipe_only, NULL, &now);
		pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
	}
	if (timed_out)
		(void)kill(pid, SIGKILL);
	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR) {
			strbuf_addf(err, "cannot wait for %s: %s", argv[0],
			    strerror(errno));
			goto out;
		}
	if (timed_out) {
		strbuf_addf(err, "%s did not finish within %ld s", argv[0],
		    timeout_ms / 1000);
		goto out;
	}
	result->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
	rc = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	if (envp != NULL)
		local_env_free(envp);
	free(path);
	return rc;
}

static int
local_spawn(struct conn *conn, const char *const *argv, const char *log_path,
    pid_t *pid, struct strbuf *err)
{
	static const char exec_failed[] =
	    "getbot: cannot execute the program\n";
	long max_fd = local_max_fd();
	char *path = local_which(argv[0]);
	char **envp = NULL;
	int null = -1, log = -1, pipefd[2] = { -1, -1 }, wstatus, rc = -1;
	pid_t child, daemon_pid = 0;
	ssize_t got;

	(void)conn;
	if (path == NULL) {
		strbuf_addf(err, "%s: not found on the server's PATH (%s)",
		    argv[0], LOCAL_PATH);
		return -1;
	}
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	log = open(log_path,
	    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (null < 0 || log < 0 || local_pipe(pipefd) != 0) {
		strbuf_addf(err, "cannot start %s: %s: %s", argv[0],
		    log < 0 ? log_path : "a pipe", strerror(errno));
		goto out;
	}
	envp = local_clean_env();
	child = fork();
	if (child == 0) {
		/* async-signal-safe calls only, until execve; the daemon is
		 * a grandchild, so that it is nobody's zombie */
		pid_t grandchild;

		if (setsid() < 0)
			_exit(1);
		grandchild = fork();
		if (grandchild != 0) {
			if (grandchild > 0)
				(void)file_write_all(pipefd[1],
				    (const char *)&grandchild,
				    sizeof(grandchild));
			_exit(grandchild > 0 ? 0 : 1);
		}
		if (dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
			_exit(126);
		local_close_from_3(max_fd);
		local_reset_signals();
		umask(077);
		if (chdir("/") < 0)
			_exit(126);
		execve(path, local_argv(argv), envp);
		(void)file_write_all(2, exec_failed, sizeof(exec_failed) - 1);
		_exit(127);
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	if (child < 0) {
		strbuf_addf(
		    err, "cannot start %s: fork: %s", argv[0], strerror(errno));
		goto out;
	}
	do
		got = read(pipefd[0], &daemon_pid, sizeof(daemon_pid));
	while (got < 0 && errno == EINTR);
	while (waitpid(child, &wstatus, 0) < 0 && errno == EINTR)
		;
	if (got != (ssize_t)sizeof(daemon_pid) || daemon_pid <= 0) {
		strbuf_addf(err, "cannot start %s: fork failed", argv[0]);
		goto out;
	}
	*pid = daemon_pid;
	rc = 0;
out:
	if (null >= 0)
		close(null);
	if (log >= 0)
		close(log);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (envp != NULL)
		local_env_free(envp);
	free(path);
	return rc;
}

/* Beside getbot and in ../sbin from it first, since make install puts
 * getbot-auth with getbot; then getbot's $PATH, then a login's. */
static void
local_program_dirs(struct conn *conn, struct strbuf *dirs)
{
	char self[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *path = getenv("PATH");

	(void)conn;
	if (len > 0) {
		char *dir, *parent;

		self[len] = '\0';
		/* /proc/self/exe has no link, '.' or '..' in it */
		dir = file_dir(self);
		parent = file_dir(dir);
		strbuf_addf(dirs, "%s:%s/sbin:", dir,
		    strcmp(parent, "/") != 0 ? parent : "");
		free(parent);
		free(dir);
	}
	if (path != NULL && *path != '\0')
		strbuf_addf(dirs, "%s:", path);
	strbuf_addstr(dirs, CONN_LOGIN_PATH);
}

static void
local_close(struct conn *conn)
{
	free(conn->label);
	free(conn);
}

static const struct conn_ops conn_local_ops = {
	.name = "local",
	.through = "",
	.dial = local_dial,
	.read_file = local_read_file,
	.write_file = local_write_file,
	.remove_file = local_remove_file,
	.make_dir = local_make_dir,
	.stat = local_stat,
	.run = local_run,
	.spawn = local_spawn,
	.program_dirs = local_program_dirs,
	.close = local_close,
};

struct conn *
conn_local_open(const char *target_name)
{
	struct conn_local *c = xcalloc(1, sizeof(*c));

	c->base.ops = &conn_local_ops;
	c->base.label = xasprintf("%s (local)", target_name);
	return &c->base;
}
