/*
 * The ssh connection beyond what every connection does (test-conn.c):
 * many streams and commands at once through its one session, a large file
 * replaced while it is read, arguments a shell would read, and a server
 * that dies mid-operation. tests/conn-ssh.sh runs it against a throwaway
 * sshd on loopback ("the server" is this machine), with
 * GETBOT_TEST_CONNECT, GETBOT_TEST_KNOWN_HOSTS, GETBOT_TEST_IDENTITY, and
 * GETBOT_TEST_SSHD_KILL, a command that kills sshd and its sessions.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bots.h"
#include "conn.h"
#include "http.h"
#include "provider.h"
#include "tap.h"
#include "xmalloc.h"

#define PARALLEL 50

static char scratch[] = "/tmp/getbot-test-conn-ssh.XXXXXX";

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- a small HTTP server that answers only when all have asked ---- */

struct barrier_server {
	int tcp, unix_listener;
	int port;
	char path[108];
	pthread_mutex_t lock;
	pthread_cond_t all_here;
	int arrived, expected;
	int max_in_flight;
};

struct barrier_conn {
	struct barrier_server *server;
	int fd;
};

/* Read a request, wait for everyone's, answer with its own path. */
static void *
barrier_answer(void *arg)
{
	struct barrier_conn *bc = arg;
	struct barrier_server *s = bc->server;
	char request[4096], answer[512], path[64] = "?";
	size_t got = 0;
	struct timespec until;
	ssize_t n;

	while (got < sizeof(request) - 1 &&
	       (n = recv(bc->fd, request + got, sizeof(request) - 1 - got, 0)) >
		   0) {
		got += (size_t)n;
		request[got] = '\0';
		if (strstr(request, "\r\n\r\n") != NULL)
			break;
	}
	request[got] = '\0';
	sscanf(request, "GET %63s", path);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&s->lock);
	s->arrived++;
	if (s->arrived > s->max_in_flight)
		s->max_in_flight = s->arrived;
	pthread_cond_broadcast(&s->all_here);
	while (s->arrived < s->expected &&
	       pthread_cond_timedwait(&s->all_here, &s->lock, &until) == 0)
		;
	pthread_mutex_unlock(&s->lock);
	n = snprintf(answer, sizeof(answer),
	    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n{\"path\": "
	    "\"%s\"}",
	    strlen(path) + 12, path);
	(void)send(bc->fd, answer, (size_t)n, MSG_NOSIGNAL);
	close(bc->fd);
	free(bc);
	return NULL;
}

/* Accept connections on listener until told to stop (by its shutdown). */
static void *
barrier_accept(void *arg)
{
	struct barrier_conn *first = arg;
	struct barrier_server *s = first->server;
	int listener = first->fd;

	free(first);
	for (;;) {
		struct barrier_conn *bc;
		pthread_t thread;
		int fd = accept(listener, NULL, NULL);

		if (fd < 0)
			break;
		bc = xcalloc(1, sizeof(*bc));
		bc->server = s;
		bc->fd = fd;
		if (pthread_create(&thread, NULL, barrier_answer, bc) == 0)
			pthread_detach(thread);
	}
	return NULL;
}

static int
barrier_start(struct barrier_server *s, pthread_t threads[2])
{
	struct sockaddr_in in;
	struct sockaddr_un un;
	socklen_t len = sizeof(in);
	struct barrier_conn *a, *b;

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->all_here, NULL);
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->tcp = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(s->tcp, (struct sockaddr *)&in, sizeof(in)) != 0 ||
	    listen(s->tcp, 128) != 0 ||
	    getsockname(s->tcp, (struct sockaddr *)&in, &len) != 0)
		return -1;
	s->port = ntohs(in.sin_port);
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	snprintf(s->path, sizeof(s->path), "%s/api.sock", scratch);
	memcpy(un.sun_path, s->path, strlen(s->path) + 1);
	s->unix_listener = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(s->unix_listener, (struct sockaddr *)&un, sizeof(un)) != 0 ||
	    listen(s->unix_listener, 128) != 0)
		return -1;
	a = xcalloc(1, sizeof(*a));
	a->server = s;
	a->fd = s->tcp;
	b = xcalloc(1, sizeof(*b));
	b->server = s;
	b->fd = s->unix_listener;
	pthread_create(&threads[0], NULL, barrier_accept, a);
	pthread_create(&threads[1], NULL, barrier_accept, b);
	return 0;
}

static void
barrier_stop(struct barrier_server *s, pthread_t threads[2])
{
	shutdown(s->tcp, SHUT_RDWR);
	shutdown(s->unix_listener, SHUT_RDWR);
	pthread_join(threads[0], NULL);
	pthread_join(threads[1], NULL);
	close(s->tcp);
	close(s->unix_listener);
	unlink(s->path);
}

/* ---- the tests ---- */

/* First of all: it is taken once per process. */
static void
test_conn_ssh__the_passphrase_leaves_the_environment(void)
{
	static const char secret[] = "correct horse battery staple";
	const char *value;
	size_t i, wiped = 0;

	setenv("GETBOT_SSH_PASSPHRASE", secret, 1);
	value = getenv("GETBOT_SSH_PASSPHRASE");
	conn_ssh_take_passphrase();
	ok(getenv("GETBOT_SSH_PASSPHRASE") == NULL,
	    "GETBOT_SSH_PASSPHRASE is taken out of the environment");
	for (i = 0; i < sizeof(secret) - 1; i++)
		wiped += value[i] == '\0';
	is_int((int)wiped, (int)sizeof(secret) - 1,
	    "and the environment's copy is wiped");
}

static struct conn *
open_ssh(void)
{
	struct bots_target target;
	struct conn *conn = NULL;
	struct strbuf err = STRBUF_INIT;

	memset(&target, 0, sizeof(target));
	target.name = "fsn1";
	target.server.connect = getenv("GETBOT_TEST_CONNECT");
	target.server.known_hosts = getenv("GETBOT_TEST_KNOWN_HOSTS");
	target.server.identity = getenv("GETBOT_TEST_IDENTITY");
	if (conn_open(&target, NULL, &conn, &err) != 0)
		printf("# %s\n", err.buf);
	strbuf_release(&err);
	return conn;
}

struct request_job {
	struct conn *conn;
	char endpoint[160];
	char url[96];
	int rc;
	long status;
	char body[128];
	char err[256];
};

static void *
request_one(void *arg)
{
	struct request_job *job = arg;
	struct http_request req;
	struct http_response resp;
	struct strbuf err = STRBUF_INIT;

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = job->url;
	req.conn = job->conn;
	req.endpoint = job->endpoint;
	req.timeout_ms = 30000;
	http_response_init(&resp);
	job->rc = http_request(&req, &resp, &err);
	job->status = resp.status;
	snprintf(job->body, sizeof(job->body), "%s",
	    resp.body.buf != NULL ? resp.body.buf : "");
	snprintf(job->err, sizeof(job->err), "%s", err.buf);
	http_response_release(&resp);
	strbuf_release(&err);
	return NULL;
}

static void
test_conn_ssh__fifty_requests_share_one_session_at_once(struct conn *conn)
{
	struct barrier_server server;
	pthread_t accepters[2], threads[PARALLEL];
	struct request_job *jobs = xcalloc(PARALLEL, sizeof(*jobs));
	unsigned long before = conn_ssh_channels(conn);
	int i, answered = 0;
	double started;

	if (barrier_start(&server, accepters) != 0) {
		ok(0, "a loopback HTTP server: %s", strerror(errno));
		free(jobs);
		return;
	}
	server.expected = PARALLEL;
	started = now_ms();
	for (i = 0; i < PARALLEL; i++) {
		jobs[i].conn = conn;
		if (i % 2 == 0)
			snprintf(jobs[i].endpoint, sizeof(jobs[i].endpoint),
			    "127.0.0.1:%d", server.port);
		else
			snprintf(jobs[i].endpoint, sizeof(jobs[i].endpoint),
			    "unix:%s", server.path);
		snprintf(jobs[i].url, sizeof(jobs[i].url),
		    "http://bot.invalid/n/%d", i);
		pthread_create(&threads[i], NULL, request_one, &jobs[i]);
	}
	for (i = 0; i < PARALLEL; i++) {
		char want[64];

		pthread_join(threads[i], NULL);
		snprintf(want, sizeof(want), "\"/n/%d\"", i);
		if (jobs[i].rc == PROVIDER_OK && jobs[i].status == 200 &&
		    strstr(jobs[i].body, want) != NULL)
			answered++;
		else if (answered + 5 > i)
			printf("# request %d: %d %ld %s %s\n", i, jobs[i].rc,
			    jobs[i].status, jobs[i].body, jobs[i].err);
	}
	barrier_stop(&server, accepters);
	is_int(answered, PARALLEL,
	    "%d HTTP requests from %d threads through dial (TCP and unix "
	    "sockets) all get their own answer",
	    PARALLEL, PARALLEL);
	is_int(server.max_in_flight, PARALLEL,
	    "all %d were open at once on the one session (the server answered "
	    "only when all had asked; %.0f ms)",
	    PARALLEL, now_ms() - started);
	is_int(conn_ssh_channels(conn) - before, PARALLEL,
	    "each took one channel, counted");
	free(jobs);
}

/* ---- a server that sends a large answer at once ---- */

struct bulk_server {
	int listener;
	int port;
	size_t size;
};

static unsigned char
bulk_byte(size_t i)
{
	return (unsigned char)(i * 7 + i / 65536);
}

/* Send size bytes to the one connection, then close it. */
static void *
bulk_send(void *arg)
{
	struct bulk_server *s = arg;
	unsigned char chunk[65536];
	size_t off = 0;
	int fd = accept(s->listener, NULL, NULL);

	while (fd >= 0 && off < s->size) {
		size_t n = s->size - off < sizeof(chunk) ? s->size - off
							 : sizeof(chunk);
		ssize_t put;

		for (size_t i = 0; i < n; i++)
			chunk[i] = bulk_byte(off + i);
		put = send(fd, chunk, n, MSG_NOSIGNAL);
		if (put <= 0)
			break;
		off += (size_t)put;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void
test_conn_ssh__a_large_answer_arrives_whole_and_promptly(struct conn *conn)
{
	struct bulk_server server = { -1, 0, 1 << 20 };
	struct sockaddr_in in;
	socklen_t len = sizeof(in);
	struct strbuf err = STRBUF_INIT;
	unsigned char buf[16384];
	size_t got = 0, wrong = 0;
	char endpoint[64];
	pthread_t thread;
	double started, took = 0;
	bool eof = false;
	int fd = -1;

	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	server.listener = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(server.listener, (struct sockaddr *)&in, sizeof(in)) != 0 ||
	    listen(server.listener, 1) != 0 ||
	    getsockname(server.listener, (struct sockaddr *)&in, &len) != 0) {
		ok(0, "a loopback server: %s", strerror(errno));
		return;
	}
	server.port = ntohs(in.sin_port);
	pthread_create(&thread, NULL, bulk_send, &server);
	snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%d", server.port);
	started = now_ms();
	ok(conn->ops->dial(conn, endpoint, &fd, &err) == 0,
	    "a stream to a server that answers 1 MB at once %s", err.buf);
	/* a bound only to end a stalled relay: libssh2's queue used to
	 * wait for the next poll timeout, 32 KB each 5 s */
	while (fd >= 0 && !eof && now_ms() - started < 60000) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			eof = n == 0;
			break;
		}
		for (ssize_t i = 0; i < n; i++)
			wrong += buf[i] != bulk_byte(got + (size_t)i);
		got += (size_t)n;
	}
	took = now_ms() - started;
	ok(eof && got == server.size && wrong == 0,
	    "all of it arrives, unchanged, then its end (%zu bytes, %zu "
	    "wrong, %.0f ms)",
	    got, wrong, took);
	ok(took < 20000,
	    "without waiting on the relay's poll timeout (%.0f ms)", took);
	if (fd >= 0)
		close(fd);
	shutdown(server.listener, SHUT_RDWR);
	pthread_join(thread, NULL);
	close(server.listener);
	strbuf_release(&err);
}

/* An "ssh-agent" that hangs up on whoever connects. */
static void *
rude_agent_main(void *arg)
{
	int listener = *(int *)arg, fd;

	while ((fd = accept(listener, NULL, NULL)) >= 0)
		close(fd);
	return NULL;
}

static void
test_conn_ssh__an_agent_that_hangs_up_does_not_lose_the_session(void)
{
	struct sockaddr_un un;
	struct conn *conn = NULL;
	struct conn_result res;
	struct strbuf err = STRBUF_INIT;
	const char *const quick[] = { "true", NULL };
	char *path = xasprintf("%s/agent.sock", scratch);
	pthread_t thread;
	int listener = socket(AF_UNIX, SOCK_STREAM, 0), rc;

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	if (listener < 0 ||
	    bind(listener, (struct sockaddr *)&un, sizeof(un)) != 0 ||
	    listen(listener, 8) != 0) {
		ok(0, "a unix socket for the agent: %s", strerror(errno));
		free(path);
		return;
	}
	pthread_create(&thread, NULL, rude_agent_main, &listener);
	setenv("SSH_AUTH_SOCK", path, 1);
	conn = open_ssh();
	unsetenv("SSH_AUTH_SOCK");
	ok(conn != NULL, "with an agent that hangs up, the key file signs in");
	conn_result_init(&res);
	rc = conn != NULL
		 ? conn->ops->run(conn, quick, NULL, 10000, 64, &res, &err)
		 : -1;
	ok(rc == 0 && res.status == 0,
	    "and the session works: the agent's end is not the server's %s",
	    err.buf);
	conn_result_release(&res);
	conn_close(conn);
	shutdown(listener, SHUT_RDWR);
	pthread_join(thread, NULL);
	close(listener);
	unlink(path);
	free(path);
	strbuf_release(&err);
}

struct command_job {
	struct conn *conn;
	int n;
	int rc;
	struct conn_result result;
};

static void *
command_one(void *arg)
{
	struct command_job *job = arg;
	char n[16];
	const char *const argv[] = { "sh", "-c", "sleep 0.3; echo \"$1\"", "sh",
		n, NULL };
	struct strbuf err = STRBUF_INIT;

	snprintf(n, sizeof(n), "%d", job->n);
	conn_result_init(&job->result);
	job->rc = job->conn->ops->run(
	    job->conn, argv, NULL, 30000, 1024, &job->result, &err);
	if (job->rc != 0)
		printf("# command %d: %s\n", job->n, err.buf);
	strbuf_release(&err);
	return NULL;
}

/* Run n commands at once, each echoing its number; how many gave it back
 * with nothing on standard error. */
static int
run_commands_at_once(struct conn *conn, int n)
{
	struct command_job *jobs = xcalloc((size_t)n, sizeof(*jobs));
	pthread_t *threads = xcalloc((size_t)n, sizeof(*threads));
	int i, right = 0;

	for (i = 0; i < n; i++) {
		jobs[i].conn = conn;
		jobs[i].n = i;
		pthread_create(&threads[i], NULL, command_one, &jobs[i]);
	}
	for (i = 0; i < n; i++) {
		char want[16];

		pthread_join(threads[i], NULL);
		snprintf(want, sizeof(want), "%d\n", i);
		if (jobs[i].rc == 0 && jobs[i].result.status == 0 &&
		    strcmp(jobs[i].result.out.buf, want) == 0 &&
		    jobs[i].result.errout.len == 0)
			right++;
		conn_result_release(&jobs[i].result);
	}
	free(jobs);
	free(threads);
	return right;
}

static void
test_conn_ssh__more_commands_than_sshd_sessions_take_turns(struct conn *conn)
{
	enum { N = 24 };
	int right = run_commands_at_once(conn, N);

	is_int(right, N,
	    "%d commands at once (sshd allows 10 sessions) all run, in turn",
	    N);
}

static void
test_conn_ssh__a_command_past_its_timeout_is_killed(struct conn *conn)
{
	enum { N = 10 };
	char *canary = xasprintf("%s/late", scratch);
	char *script = xasprintf("sleep 2; touch %s", canary);
	const char *const slow[] = { "sh", "-c", script, NULL };
	struct conn_result res;
	struct conn_file_info info;
	struct strbuf err = STRBUF_INIT;
	int rc, right;

	conn_result_init(&res);
	rc = conn->ops->run(conn, slow, NULL, 500, 1024, &res, &err);
	ok(rc == -1 && strstr(err.buf, "did not finish within 0.5 s") != NULL &&
		strstr(err.buf, "was killed") != NULL,
	    "a command past its timeout fails, and is killed: %s", err.buf);
	conn_result_release(&res);
	sleep(3);
	strbuf_reset(&err);
	ok(conn->ops->stat(conn, canary, &info, &err) == CONN_MISSING,
	    "what it would have done later never happens");
	/* sshd let go of its slot: as many commands as before run at once */
	right = run_commands_at_once(conn, N);
	is_int(right, N,
	    "then %d commands at once all run, with nothing of getbot's on "
	    "their standard error",
	    N);
	(void)unlink(canary);
	free(script);
	free(canary);
	strbuf_release(&err);
}

static void
test_conn_ssh__shell_metacharacters_arrive_as_one_argument(struct conn *conn)
{
	char *canary = xasprintf("%s/x", scratch);
	char *arg = xasprintf(
	    "$(touch %s); `touch %s` 'quote' \"dq\" \\ * ; | & > %s\n\ttab",
	    canary, canary, canary);
	const char *const print[] = { "printf", "%s|", arg, "", "a b", NULL };
	struct conn_result res;
	struct strbuf err = STRBUF_INIT, want = STRBUF_INIT;
	struct conn_file_info info;

	conn_result_init(&res);
	strbuf_addf(&want, "%s||a b|", arg);
	ok(conn->ops->run(conn, print, NULL, 10000, 4096, &res, &err) == 0 &&
		res.status == 0,
	    "printf runs with arguments a shell would read");
	is_str(res.out.buf, want.buf,
	    "each arrives as it is, one argument each (the empty one too)");
	ok(conn->ops->stat(conn, canary, &info, &err) == CONN_MISSING,
	    "and nothing in them ran");
	conn_result_release(&res);
	strbuf_release(&err);
	strbuf_release(&want);
	free(arg);
	free(canary);
}

struct hash_reader {
	struct conn *conn;
	const char *path;
	char hashes[2][65];
	bool stop;
	int reads, whole, torn;
};

static void
hex_sha256(const char *data, size_t len, char out[65])
{
	unsigned char hash[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(hash, (const unsigned char *)data, len);
	sodium_bin2hex(out, 65, hash, sizeof(hash));
}

/* sha256sum the file on the server, again and again, while it is
 * replaced: a command, so not behind the SFTP operations. */
static void *
hash_reader_main(void *arg)
{
	struct hash_reader *r = arg;
	const char *const argv[] = { "sha256sum", r->path, NULL };

	while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
		struct conn_result res;
		struct strbuf err = STRBUF_INIT;

		conn_result_init(&res);
		if (r->conn->ops->run(
			r->conn, argv, NULL, 30000, 4096, &res, &err) == 0 &&
		    res.status == 0) {
			r->reads++;
			if (strncmp(res.out.buf, r->hashes[0], 64) == 0 ||
			    strncmp(res.out.buf, r->hashes[1], 64) == 0)
				r->whole++;
			else
				r->torn++;
		}
		conn_result_release(&res);
		strbuf_release(&err);
	}
	return NULL;
}

static void
test_conn_ssh__a_large_file_is_replaced_whole(struct conn *conn)
{
	enum { SIZE = 5 << 20 };
	char *path = xasprintf("%s/large.bin", scratch);
	char *a = xmalloc(SIZE), *b = xmalloc(SIZE);
	struct strbuf back = STRBUF_INIT, err = STRBUF_INIT;
	struct hash_reader reader;
	struct conn_file_info info;
	pthread_t thread;
	double started, took;
	int i, rc, writes = 0;

	randombytes_buf(a, SIZE);
	randombytes_buf(b, SIZE);
	started = now_ms();
	rc = conn->ops->write_file(conn, path, a, SIZE, 0640, &err);
	took = now_ms() - started;
	ok(rc == 0, "a 5 MB file is written (%.0f ms) %s", took, err.buf);
	started = now_ms();
	rc = conn->ops->read_file(conn, path, SIZE, &back, &err);
	took = now_ms() - started;
	ok(rc == 0 && back.len == SIZE && memcmp(back.buf, a, SIZE) == 0,
	    "and read back the same (%.0f ms) %s", took, err.buf);
	ok(conn->ops->stat(conn, path, &info, &err) == 0 && info.size == SIZE &&
		info.mode == 0640,
	    "its size and mode are right");

	memset(&reader, 0, sizeof(reader));
	reader.conn = conn;
	reader.path = path;
	hex_sha256(a, SIZE, reader.hashes[0]);
	hex_sha256(b, SIZE, reader.hashes[1]);
	pthread_create(&thread, NULL, hash_reader_main, &reader);
	for (i = 0; i < 6; i++) {
		strbuf_reset(&err);
		if (conn->ops->write_file(
			conn, path, i % 2 ? a : b, SIZE, 0640, &err) == 0)
			writes++;
		else
			printf("# %s\n", err.buf);
	}
	__atomic_store_n(&reader.stop, true, __ATOMIC_SEQ_CST);
	pthread_join(thread, NULL);
	ok(writes == 6 && reader.reads > 0 && reader.torn == 0,
	    "replaced 6 times while read %d times: every read saw one whole "
	    "version (%d torn)",
	    reader.reads, reader.torn);
	(void)conn->ops->remove_file(conn, path, &err);
	strbuf_release(&back);
	strbuf_release(&err);
	free(a);
	free(b);
	free(path);
}

static void
test_conn_ssh__channels_are_counted(struct conn *conn)
{
	struct bots_target local = { .name = "fsn1",
		.server = { .connect = "local" } };
	struct conn *here = NULL;
	struct strbuf err = STRBUF_INIT;
	unsigned long before = conn_ssh_channels(conn);
	const char *const quick[] = { "true", NULL };
	struct conn_result res;

	conn_result_init(&res);
	(void)conn->ops->run(conn, quick, NULL, 10000, 64, &res, &err);
	conn_result_release(&res);
	is_int(
	    conn_ssh_channels(conn) - before, 1, "a command takes a channel");
	ok(conn_open(&local, NULL, &here, &err) == 0 &&
		conn_ssh_channels(here) == 0,
	    "a local connection has none");
	conn_close(here);
	strbuf_release(&err);
}

struct sleeper {
	struct conn *conn;
	int rc;
	struct strbuf err;
};

static void *
sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	const char *const argv[] = { "sleep", "30", NULL };
	struct conn_result res;

	conn_result_init(&res);
	s->rc =
	    s->conn->ops->run(s->conn, argv, NULL, 60000, 64, &res, &s->err);
	conn_result_release(&res);
	return NULL;
}

/* Replace a large file until that fails: an SFTP operation under way
 * when the server dies. */
struct writer {
	struct conn *conn;
	char *path;
	int writes;
	struct strbuf err;
};

static void *
writer_main(void *arg)
{
	enum { SIZE = 4 << 20 };
	struct writer *w = arg;
	char *data = xcalloc(1, SIZE);

	while (w->writes < 1000 && w->conn->ops->write_file(w->conn, w->path,
				       data, SIZE, 0600, &w->err) == 0)
		w->writes++;
	free(data);
	return NULL;
}

static void
test_conn_ssh__a_server_that_dies_is_a_clean_error(struct conn *conn)
{
	const char *kill_sshd = getenv("GETBOT_TEST_SSHD_KILL");
	struct sleeper s = { conn, 0, STRBUF_INIT };
	struct writer w = { conn, NULL, 0, STRBUF_INIT };
	struct strbuf err = STRBUF_INIT, content = STRBUF_INIT;
	struct barrier_server server;
	struct conn_file_info info;
	pthread_t thread, writer, accepters[2];
	struct pollfd pfd;
	double started, took;
	char endpoint[160], byte;
	int fd = -1, rc;

	if (kill_sshd == NULL) {
		ok(0, "GETBOT_TEST_SSHD_KILL says how to kill sshd");
		return;
	}
	(void)barrier_start(&server, accepters);
	snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%d", server.port);
	ok(conn->ops->dial(conn, endpoint, &fd, &err) == 0, "a stream is open");
	pthread_create(&thread, NULL, sleeper_main, &s);
	w.path = xasprintf("%s/written.bin", scratch);
	pthread_create(&writer, NULL, writer_main, &w);
	usleep(500000);
	started = now_ms();
	rc = system(kill_sshd);
	ok(rc == 0, "sshd and its sessions are killed mid-operation");
	pthread_join(thread, NULL);
	took = now_ms() - started;
	ok(s.rc == -1 &&
		strstr(s.err.buf, "fsn1 (ssh root@127.0.0.1:") == s.err.buf &&
		strstr(s.err.buf, "the connection is lost") != NULL &&
		took < 10000,
	    "the command under way fails cleanly (%.0f ms): %s", took,
	    s.err.buf);
	pfd.fd = fd;
	pfd.events = POLLIN;
	ok(fd >= 0 && poll(&pfd, 1, 10000) == 1 && recv(fd, &byte, 1, 0) <= 0,
	    "the open stream ends");
	started = now_ms();
	rc = conn->ops->read_file(conn, "/etc/hostname", 4096, &content, &err);
	took = now_ms() - started;
	ok(rc == -1 && strstr(err.buf, "the connection is lost") != NULL &&
		took < 1000,
	    "what comes after fails at once: %s", err.buf);
	pthread_join(writer, NULL);
	ok(strstr(w.err.buf, "the connection is lost") != NULL,
	    "a file write under way fails cleanly (after %d writes): %s",
	    w.writes, w.err.buf);
	/* each of these would resume the write's half-done SFTP request */
	started = now_ms();
	strbuf_reset(&err);
	rc = conn->ops->write_file(conn, w.path, "x", 1, 0600, &err);
	ok(rc == -1 && strstr(err.buf, "the connection is lost") != NULL,
	    "a write after it fails cleanly: %s", err.buf);
	strbuf_reset(&err);
	rc = conn->ops->stat(conn, w.path, &info, &err);
	ok(rc == -1 && strstr(err.buf, "the connection is lost") != NULL,
	    "so does a stat: %s", err.buf);
	strbuf_reset(&err);
	rc = conn->ops->make_dir(conn, w.path, 0700, &err);
	ok(rc == -1 && strstr(err.buf, "the connection is lost") != NULL,
	    "and making a directory: %s", err.buf);
	strbuf_reset(&err);
	rc = conn->ops->remove_file(conn, w.path, &err);
	took = now_ms() - started;
	ok(rc == -1 && strstr(err.buf, "the connection is lost") != NULL &&
		took < 1000,
	    "and a removal, all at once (%.0f ms): %s", took, err.buf);
	(void)unlink(w.path);
	free(w.path);
	strbuf_release(&w.err);
	if (fd >= 0)
		close(fd);
	barrier_stop(&server, accepters);
	strbuf_release(&s.err);
	strbuf_release(&err);
	strbuf_release(&content);
}

int
main(void)
{
	struct conn *conn;

	if (getenv("GETBOT_TEST_CONNECT") == NULL) {
		printf("1..0 # SKIP no GETBOT_TEST_CONNECT (tests/conn-ssh.sh "
		       "runs this against a throwaway sshd)\n");
		return 0;
	}
	if (sodium_init() < 0 || mkdtemp(scratch) == NULL) {
		printf("Bail out! cannot start: %s\n", strerror(errno));
		return 1;
	}
	test_conn_ssh__the_passphrase_leaves_the_environment();
	conn = open_ssh();
	ok(conn != NULL,
	    "the ssh connection opens (a passphrase given for a key without "
	    "one does no harm)");
	if (conn != NULL) {
		test_conn_ssh__channels_are_counted(conn);
		test_conn_ssh__an_agent_that_hangs_up_does_not_lose_the_session();
		test_conn_ssh__fifty_requests_share_one_session_at_once(conn);
		test_conn_ssh__a_large_answer_arrives_whole_and_promptly(conn);
		test_conn_ssh__more_commands_than_sshd_sessions_take_turns(
		    conn);
		test_conn_ssh__shell_metacharacters_arrive_as_one_argument(
		    conn);
		test_conn_ssh__a_command_past_its_timeout_is_killed(conn);
		test_conn_ssh__a_large_file_is_replaced_whole(conn);
		/* last: it kills sshd */
		test_conn_ssh__a_server_that_dies_is_a_clean_error(conn);
	}
	conn_close(conn);
	rmdir(scratch);
	return tap_done();
}
