/*
 * A server connection: what every server provider relies on. The same
 * checks run over the local connection, and over ssh when
 * GETBOT_TEST_CONNECT names one (tests/conn-ssh.sh: a throwaway sshd on
 * loopback, so that paths and processes on "the server" are this
 * machine's), with GETBOT_TEST_KNOWN_HOSTS and GETBOT_TEST_IDENTITY.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bots.h"
#include "conn.h"
#include "tap.h"
#include "xmalloc.h"

static char scratch[] = "/tmp/getbot-test-conn.XXXXXX";

/* A server target as bots.yaml would give it. */
static struct bots_target
target_named(const char *name, const char *connect)
{
	struct bots_target target;

	memset(&target, 0, sizeof(target));
	target.name = name;
	target.kind = BOTS_TARGET_INCUS;
	target.server.connect = connect;
	target.server.known_hosts = getenv("GETBOT_TEST_KNOWN_HOSTS");
	target.server.identity = getenv("GETBOT_TEST_IDENTITY");
	return target;
}

static struct conn *
open_under_test(const char *connect)
{
	struct bots_target target = target_named("fsn1", connect);
	struct conn *conn = NULL;
	struct strbuf err = STRBUF_INIT;

	if (conn_open(&target, NULL, &conn, &err) != 0)
		printf("# %s\n", err.buf);
	strbuf_release(&err);
	return conn;
}

static void
test_conn__an_unknown_way_of_connecting_is_refused(void)
{
	struct bots_target target =
	    target_named("fsn1", "telnet://203.0.113.10");
	struct conn *conn = NULL;
	struct strbuf err = STRBUF_INIT;

	ok(conn_open(&target, NULL, &conn, &err) == -1 && conn == NULL,
	    "a way of connecting getbot does not know is refused");
	ok(strstr(err.buf, "target 'fsn1'") != NULL,
	    "and the message names the target: %s", err.buf);
	strbuf_release(&err);
}

static void
test_conn__an_ssh_server_nobody_runs_is_a_clean_error(void)
{
	struct bots_target target =
	    target_named("fsn1", "ssh://root@127.0.0.1:1");
	struct conn *conn = NULL;
	struct strbuf err = STRBUF_INIT;

	ok(conn_open(&target, NULL, &conn, &err) == -1 && conn == NULL,
	    "ssh to a port nobody listens on fails");
	ok(strstr(err.buf, "fsn1 (ssh root@127.0.0.1:1): cannot connect") ==
		err.buf,
	    "naming the server and the step: %s", err.buf);
	strbuf_reset(&err);
	target = target_named("fsn1", "ssh://root@127.0.0.1:99999");
	ok(conn_open(&target, NULL, &conn, &err) == -1 &&
		strstr(err.buf, "fsn1 (ssh): connect: ") == err.buf,
	    "a bad connect: is refused, naming the target: %s", err.buf);
	strbuf_release(&err);
}

static void
test_conn__files_are_written_atomically_with_their_mode(struct conn *conn)
{
	struct strbuf err = STRBUF_INIT, content = STRBUF_INIT;
	struct conn_file_info info;
	char *dir = xasprintf("%s/etc", scratch);
	char *path = xasprintf("%s/auth.json", dir);
	int rc;

	ok(conn->ops->make_dir(conn, dir, 0750, &err) == 0 &&
		conn->ops->make_dir(conn, dir, 0750, &err) == 0,
	    "make_dir makes a directory, and an existing one is fine");
	ok(conn->ops->write_file(conn, path, "{\"a\": 1}", 8, 0600, &err) == 0,
	    "write_file writes");
	ok(conn->ops->stat(conn, path, &info, &err) == 0 && info.regular &&
		info.size == 8,
	    "stat sees a regular file of 8 bytes");
	is_int(info.mode, 0600, "with the mode asked for");
	ok(conn->ops->read_file(conn, path, 1024, &content, &err) == 0 &&
		strcmp(content.buf, "{\"a\": 1}") == 0,
	    "read_file reads it back");
	strbuf_reset(&content);
	rc = conn->ops->read_file(conn, path, 4, &content, &err);
	ok(rc == -1 && strstr(err.buf, "larger than 4 bytes") != NULL,
	    "a read is bounded: %s", err.buf);
	strbuf_reset(&err);
	rc = conn->ops->read_file(conn, dir, 1024, &content, &err);
	ok(rc == -1 && strstr(err.buf, "not a regular file") != NULL,
	    "only regular files are read: %s", err.buf);
	strbuf_reset(&err);
	ok(conn->ops->remove_file(conn, path, &err) == 0 &&
		conn->ops->stat(conn, path, &info, &err) == CONN_MISSING &&
		conn->ops->read_file(conn, path, 1024, &content, &err) ==
		    CONN_MISSING,
	    "remove_file removes; stat and read_file say it is missing");
	ok(conn->ops->remove_file(conn, path, &err) == 0,
	    "removing what is not there is fine");
	rmdir(dir);
	free(path);
	free(dir);
	strbuf_release(&err);
	strbuf_release(&content);
}

static void
test_conn__commands_run_from_an_argv_without_a_shell(struct conn *conn)
{
	const char *const echo[] = { "echo", "$HOME", "a b", NULL };
	const char *const cat[] = { "cat", NULL };
	const char *const fail[] = { "sh", "-c", "echo oops >&2; exit 3",
		NULL };
	const char *const sleepy[] = { "sleep", "10", NULL };
	const char *const missing[] = { "getbot-no-such-program", NULL };
	const char *const env[] = { "env", NULL };
	const char *const quick[] = { "true", NULL };
	char *big;
	struct conn_result res;
	struct strbuf err = STRBUF_INIT;
	int rc;

	conn_result_init(&res);
	ok(conn->ops->run(conn, echo, NULL, 5000, 1024, &res, &err) == 0 &&
		res.status == 0 && strcmp(res.out.buf, "$HOME a b\n") == 0,
	    "arguments reach the program as they are, never through a shell");
	conn_result_release(&res);
	conn_result_init(&res);
	ok(conn->ops->run(conn, cat, "from stdin", 5000, 1024, &res, &err) ==
		    0 &&
		strcmp(res.out.buf, "from stdin") == 0,
	    "input goes to its standard input");
	conn_result_release(&res);
	conn_result_init(&res);
	ok(conn->ops->run(conn, fail, NULL, 5000, 1024, &res, &err) == 0,
	    "a command that fails has run");
	is_int(res.status, 3, "its exit status comes back");
	is_str(res.errout.buf, "oops\n", "and its standard error");
	conn_result_release(&res);
	conn_result_init(&res);
	big = xcalloc(1, 1 << 20);
	memset(big, 'x', (1 << 20) - 1);
	ok(conn->ops->run(conn, quick, big, 5000, 1024, &res, &err) == 0 &&
		res.status == 0,
	    "a command that exits without reading its input does not end "
	    "getbot with SIGPIPE");
	free(big);
	conn_result_release(&res);
	conn_result_init(&res);
	ok(conn->ops->run(conn, echo, NULL, 5000, 3, &res, &err) == 0 &&
		res.out.len == 3,
	    "its output is bounded");
	conn_result_release(&res);
	conn_result_init(&res);
	setenv("GETBOT_TEST_CANARY", "sk-CANARY-conn", 1);
	ok(conn->ops->run(conn, env, NULL, 5000, 65536, &res, &err) == 0 &&
		strstr(res.out.buf, "CANARY") == NULL &&
		strstr(res.out.buf, "PATH=") != NULL,
	    "it gets a clean environment, none of getbot's secrets");
	conn_result_release(&res);
	conn_result_init(&res);
	rc = conn->ops->run(conn, sleepy, NULL, 300, 1024, &res, &err);
	ok(rc == -1 && strstr(err.buf, "did not finish") != NULL,
	    "a command that outlives its timeout is not waited for: %s",
	    err.buf);
	strbuf_reset(&err);
	conn_result_release(&res);
	conn_result_init(&res);
	rc = conn->ops->run(conn, missing, NULL, 5000, 1024, &res, &err);
	ok(rc == -1 && strstr(err.buf, "not found") != NULL,
	    "a program that is not there: %s", err.buf);
	conn_result_release(&res);
	strbuf_release(&err);
}

static void
test_conn__a_daemon_is_spawned_detached_with_its_log(struct conn *conn)
{
	const char *const daemon[] = { "sh", "-c",
		"echo started; exec sleep 30", NULL };
	struct strbuf err = STRBUF_INIT, log = STRBUF_INIT;
	char *log_path = xasprintf("%s/daemon.log", scratch);
	pid_t pid = 0;
	int i;

	ok(conn->ops->spawn(conn, daemon, log_path, &pid, &err) == 0 && pid > 0,
	    "spawn starts it and says its pid");
	for (i = 0; i < 50 && log.len == 0; i++) {
		usleep(100000);
		(void)conn->ops->read_file(conn, log_path, 1024, &log, &err);
	}
	is_str(log.buf, "started\n", "its output goes to the log");
	ok(pid > 0 && getsid(pid) != getsid(0), "in a session of its own");
	if (pid > 0)
		kill(pid, SIGTERM);
	unlink(log_path);
	free(log_path);
	strbuf_release(&err);
	strbuf_release(&log);
}

static void
test_conn__a_daemon_log_that_is_a_symlink_is_refused(struct conn *conn)
{
	const char *const daemon[] = { "sleep", "30", NULL };
	struct strbuf err = STRBUF_INIT;
	char *target_path = xasprintf("%s/elsewhere", scratch);
	char *log_path = xasprintf("%s/linked.log", scratch);
	pid_t pid = 0;
	int rc;

	(void)symlink(target_path, log_path);
	rc = conn->ops->spawn(conn, daemon, log_path, &pid, &err);
	ok(rc == -1 && strstr(err.buf, "symbolic link") != NULL,
	    "a log path that is a symbolic link is refused: %s", err.buf);
	ok(access(target_path, F_OK) != 0, "and what it points at is not made");
	if (rc == 0 && pid > 0)
		kill(pid, SIGTERM);
	unlink(log_path);
	unlink(target_path);
	free(target_path);
	free(log_path);
	strbuf_release(&err);
}

static void
test_conn__streams_reach_unix_sockets_and_ports(struct conn *conn)
{
	struct sockaddr_un sa;
	struct strbuf err = STRBUF_INIT;
	char *path = xasprintf("%s/api.sock", scratch);
	char *endpoint = xasprintf("unix:%s", path);
	int listener = socket(AF_UNIX, SOCK_STREAM, 0), fd = -1, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ok(listener >= 0 &&
		bind(listener, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		listen(listener, 1) == 0,
	    "a unix socket listens");
	ok(conn->ops->dial(conn, endpoint, &fd, &err) == 0 && fd >= 0,
	    "dial reaches it");
	if (fd >= 0)
		close(fd);
	close(listener);
	unlink(path);
	rc = conn->ops->dial(conn, endpoint, &fd, &err);
	ok(rc == -1 && strstr(err.buf, path) != NULL,
	    "a socket nobody listens on names itself: %s", err.buf);
	strbuf_reset(&err);
	rc = conn->ops->dial(conn, "127.0.0.1:1", &fd, &err);
	ok(rc == -1 && strstr(err.buf, "127.0.0.1:1") != NULL,
	    "a closed port names itself: %s", err.buf);
	free(endpoint);
	free(path);
	strbuf_release(&err);
}

int
main(void)
{
	const char *connect = getenv("GETBOT_TEST_CONNECT");
	struct conn *conn;

	if (connect == NULL || connect[0] == '\0')
		connect = "local";
	if (mkdtemp(scratch) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	conn = open_under_test(connect);
	if (strcmp(connect, "local") == 0) {
		ok(conn != NULL && strcmp(conn->label, "fsn1 (local)") == 0,
		    "connect: local opens the local connection");
		test_conn__an_unknown_way_of_connecting_is_refused();
		test_conn__an_ssh_server_nobody_runs_is_a_clean_error();
	} else
		ok(conn != NULL && strncmp(conn->label, "fsn1 (ssh ", 10) == 0,
		    "connect: %s opens an ssh connection: %s", connect,
		    conn != NULL ? conn->label : "(none)");
	if (conn != NULL) {
		test_conn__files_are_written_atomically_with_their_mode(conn);
		test_conn__commands_run_from_an_argv_without_a_shell(conn);
		test_conn__a_daemon_is_spawned_detached_with_its_log(conn);
		test_conn__a_daemon_log_that_is_a_symlink_is_refused(conn);
		test_conn__streams_reach_unix_sockets_and_ports(conn);
	}
	conn_close(conn);
	rmdir(scratch);
	return tap_done();
}
