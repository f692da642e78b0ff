/* The providers' HTTP helper: canned answers from a loopback server, and
 * the pure parts (Retry-After, error shapes, URLs, escaping). */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bots.h"
#include "conn.h"
#include "http.h"
#include "provider.h"
#include "strbuf.h"
#include "tap.h"

/* A server that answers each connection with the next canned answer
 * (bodies without a length end with the connection). */
struct canned {
	int listener;
	const char *const *answers;
	size_t count;
	char seen[4][2048]; /* the first requests' heads, NUL-ended */
};

static void *
canned_serve(void *arg)
{
	struct canned *c = arg;
	size_t i;

	for (i = 0; i < c->count; i++) {
		char request[8192];
		int fd = accept(c->listener, NULL, NULL);
		size_t len = strlen(c->answers[i]);

		if (fd < 0)
			break;
		ssize_t got = read(fd, request, sizeof(request) - 1);

		request[got > 0 ? got : 0] = '\0';
		if (i < 4) {
			size_t n = strnlen(request, sizeof(c->seen[i]) - 1);

			memcpy(c->seen[i], request, n);
			c->seen[i][n] = '\0';
		}
		if (write(fd, c->answers[i], len) != (ssize_t)len)
			break;
		shutdown(fd, SHUT_RDWR);
		close(fd);
	}
	return NULL;
}

static int
canned_start(struct canned *c, pthread_t *thread)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->listener = socket(AF_INET, SOCK_STREAM, 0);
	if (c->listener < 0 ||
	    bind(c->listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(c->listener, 8) != 0 ||
	    getsockname(c->listener, (struct sockaddr *)&addr, &len) != 0)
		return -1;
	pthread_create(thread, NULL, canned_serve, c);
	return ntohs(addr.sin_port);
}

static void
test_http__answers_map_to_provider_codes(void)
{
	static const char big[] = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n"
				  "Connection: close\r\n\r\n";
	char *big_answer = malloc(sizeof(big) + 5000);
	const char *answers[5];
	struct canned c;
	struct http_response resp;
	struct http_request req;
	struct strbuf err = STRBUF_INIT, url = STRBUF_INIT;
	pthread_t thread;
	int port, rc;

	memcpy(big_answer, big, sizeof(big) - 1);
	memset(big_answer + sizeof(big) - 1, 'x', 5000);
	big_answer[sizeof(big) - 1 + 5000] = '\0';
	answers[0] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		     "Content-Length: 27\r\nConnection: close\r\n\r\n"
		     "{\"success\":true,\"result\":1}";
	answers[1] =
	    "HTTP/1.1 404 Not Found\r\n"
	    "Connection: close\r\n\r\n"
	    "{\"success\":false,\"errors\":[{\"code\":10007,\"message\":"
	    "\"workers.api.error.script_not_found\"}]}";
	answers[2] = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n"
		     "Connection: close\r\n\r\n"
		     "{\"error\":{\"code\":\"x\",\"message\":\"slow down\"}}";
	answers[3] = "HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n"
		     "Connection: close\r\n\r\n";
	answers[4] = big_answer;
	c.answers = answers;
	c.count = 5;
	port = canned_start(&c, &thread);
	ok(port > 0, "a loopback server for canned answers");
	if (port <= 0)
		return;
	strbuf_addf(&url, "http://127.0.0.1:%d/client/v4/x?page=2", port);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url.buf;
	req.bearer = "secret-token";
	req.max_body = 1024;
	http_response_init(&resp);

	rc = http_request(&req, &resp, &err);
	is_int(rc, PROVIDER_OK, "2xx: ok");
	ok(cJSON_IsNumber(cJSON_GetObjectItem(resp.json, "result")),
	    "and the body is parsed");

	strbuf_reset(&err);
	rc = http_request(&req, &resp, &err);
	is_int(rc, PROVIDER_ERROR, "404: a permanent error");
	is_str(err.buf,
	    "GET /client/v4/x: HTTP 404: workers.api.error.script_not_found",
	    "in Cloudflare's words, without the query");

	strbuf_reset(&err);
	rc = http_request(&req, &resp, &err);
	is_int(rc, PROVIDER_TRANSIENT, "429: transient");
	ok(resp.retry_after == 7, "Retry-After is read (%g)", resp.retry_after);
	is_str(err.buf, "GET /client/v4/x: HTTP 429: slow down",
	    "the router's error shape");

	strbuf_reset(&err);
	rc = http_request(&req, &resp, &err);
	is_int(rc, PROVIDER_TRANSIENT, "503 without a body: transient");

	strbuf_reset(&err);
	rc = http_request(&req, &resp, &err);
	is_int(rc, PROVIDER_ERROR, "an answer over max_body is refused");
	is_str(err.buf, "GET /client/v4/x: answer larger than 1024 bytes",
	    "and says so");
	ok(strstr(err.buf, "secret-token") == NULL, "no token in messages");
	pthread_join(thread, NULL);
	close(c.listener);

	strbuf_reset(&err);
	rc = http_request(&req, &resp, &err);
	is_int(rc, PROVIDER_TRANSIENT, "no answer at all: transient");
	http_response_release(&resp);
	strbuf_release(&err);
	strbuf_release(&url);
	free(big_answer);
}

/* Over a server connection: the stream the connection dials carries the
 * request; the URL's host is only the Host header (on a server reached
 * over SSH, it may mean nothing here). */
static void
test_http__through_a_connection(void)
{
	const char *answers[1] = { "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
				   "Connection: close\r\n\r\n{}" };
	struct bots_target target = { .name = "fsn1",
		.server = { .connect = "local" } };
	struct canned c;
	struct conn *conn = NULL;
	struct http_response resp;
	struct http_request req;
	struct strbuf err = STRBUF_INIT, endpoint = STRBUF_INIT;
	pthread_t thread;
	int port, rc;

	memset(&c, 0, sizeof(c));
	c.answers = answers;
	c.count = 1;
	port = canned_start(&c, &thread);
	ok(port > 0 && conn_open(&target, NULL, &conn, &err) == 0,
	    "a loopback server and a local connection");
	if (port <= 0 || conn == NULL)
		return;
	strbuf_addf(&endpoint, "127.0.0.1:%d", port);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = "http://caddy-admin.invalid/config/";
	req.conn = conn;
	req.endpoint = endpoint.buf;
	http_response_init(&resp);
	rc = http_request(&req, &resp, &err);
	is_int(rc, PROVIDER_OK, "the request went over the dialled stream");
	ok(strstr(c.seen[0], "GET /config/ HTTP/1.1") != NULL &&
		strstr(c.seen[0], "Host: caddy-admin.invalid") != NULL,
	    "with the URL's path and host, and no name was resolved");
	pthread_join(thread, NULL);
	close(c.listener);

	strbuf_reset(&err);
	rc = http_request(&req, &resp, &err);
	is_int(rc, PROVIDER_TRANSIENT, "nothing listens: transient");
	ok(strstr(err.buf, "cannot connect to 127.0.0.1:") != NULL,
	    "in the connection's words: %s", err.buf);
	http_response_release(&resp);
	conn_close(conn);
	strbuf_release(&err);
	strbuf_release(&endpoint);
}

static void
test_http__retry_after(void)
{
	ok(http_parse_retry_after("120", 0) == 120, "delta-seconds");
	ok(http_parse_retry_after(" 5\r\n", 0) == 5, "with spaces and CRLF");
	ok(http_parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", 40) == 60,
	    "an HTTP date, from now");
	ok(http_parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", 40) == 0,
	    "a date in the past: no wait");
	ok(http_parse_retry_after("soon", 0) == 0, "garbage: no wait");
	ok(http_parse_retry_after("99999", 0) == 3600, "at most an hour");
}

static void
test_http__error_shapes(void)
{
	static const char *const bodies[][2] = {
		{ "{\"errors\":[{\"code\":1,\"message\":\"cf\"}]}", "cf" },
		{ "{\"error\":{\"code\":\"x\",\"message\":\"router\"}}",
		    "router" },
		{ "{\"type\":\"error\",\"error\":\"incus\"}", "incus" },
		{ "{\"message\":\"docker\"}", "docker" },
		{ "{\"errors\":[]}", NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		cJSON *body = cJSON_Parse(bodies[i][0]);

		is_str(http_error_message(body), bodies[i][1],
		    "the message of %s", bodies[i][0]);
		cJSON_Delete(body);
	}
}

static void
test_http__urls(void)
{
	struct strbuf err = STRBUF_INIT, sb = STRBUF_INIT;

	is_int(http_check_url("https://api.cloudflare.com/client/v4", &err), 0,
	    "https is allowed");
	is_int(http_check_url("http://127.0.0.1:8080", &err), 0,
	    "http to 127.0.0.1 is allowed");
	is_int(http_check_url("http://localhost:1", &err), 0,
	    "http to localhost is allowed");
	is_int(http_check_url("http://[::1]:1/x", &err), 0,
	    "http to [::1] is allowed");
	strbuf_reset(&err);
	is_int(http_check_url("http://router.example.com", &err), -1,
	    "http elsewhere is refused");
	ok(strstr(err.buf, "only over https") != NULL, "saying why");
	is_int(http_check_url("http://127.0.0.1.evil.example", &err), -1,
	    "a host that only starts like loopback is refused");
	http_add_escaped(&sb, "a b/c?d=é");
	is_str(sb.buf, "a%20b%2Fc%3Fd%3D%C3%A9", "escaping for a path segment");
	strbuf_release(&err);
	strbuf_release(&sb);
}

/* Caddy <= 2.7 sends its ETag as a trailer of a chunked body; 2.8 and
 * other servers in a header. Either way it is the response's ETag, and an
 * If-Match given goes out as it came. */
static void
test_http__etag_from_header_or_trailer(void)
{
	const char *answers[3];
	struct canned c;
	struct http_response resp;
	struct http_request req;
	struct strbuf err = STRBUF_INIT, url = STRBUF_INIT;
	pthread_t thread;
	int port, rc;

	answers[0] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		     "ETag: \"/config/ 0e7c22ea\"\r\n"
		     "Content-Length: 5\r\nConnection: close\r\n\r\nnull\n";
	answers[1] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		     "Trailer: ETag\r\nTransfer-Encoding: chunked\r\n"
		     "Connection: close\r\n\r\n"
		     "5\r\nnull\n\r\n0\r\n"
		     "Etag: \"/config/apps 96aabbf1\"\r\n\r\n";
	answers[2] = "HTTP/1.1 412 Precondition Failed\r\n"
		     "Content-Type: application/json\r\nConnection: close\r\n"
		     "\r\n{\"error\":\"If-Match header did not match current "
		     "config hash\"}";
	c.answers = answers;
	c.count = 3;
	port = canned_start(&c, &thread);
	ok(port > 0, "a loopback server for canned answers");
	if (port <= 0)
		return;
	strbuf_addf(&url, "http://127.0.0.1:%d/config/", port);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url.buf;
	http_response_init(&resp);

	rc = http_request(&req, &resp, &err);
	is_int(rc, PROVIDER_OK, "an answer with an ETag header");
	is_str(resp.etag, "\"/config/ 0e7c22ea\"", "the ETag header is kept");

	rc = http_request(&req, &resp, &err);
	is_int(rc, PROVIDER_OK, "a chunked answer with an ETag trailer");
	is_str(
	    resp.etag, "\"/config/apps 96aabbf1\"", "the ETag trailer is kept");
	ok(resp.json != NULL && cJSON_IsNull(resp.json),
	    "and the body before it is whole");

	req.method = "PATCH";
	req.json = "{}";
	req.if_match = "\"/config/apps 96aabbf1\"";
	strbuf_reset(&err);
	rc = http_request(&req, &resp, &err);
	is_int(rc, PROVIDER_ERROR, "412 is an error of its own to handle");
	is_int(resp.status, 412, "with its status");
	is_str(resp.etag, NULL, "an answer without an ETag has none");
	is_str(err.buf,
	    "PATCH /config/: HTTP 412: If-Match header did not match current "
	    "config hash",
	    "in Caddy's words");
	pthread_join(thread, NULL);
	close(c.listener);
	ok(strstr(c.seen[0], "If-Match") == NULL,
	    "no If-Match unless asked for");
	ok(strstr(c.seen[2], "\r\nIf-Match: \"/config/apps 96aabbf1\"\r\n") !=
		NULL,
	    "If-Match is sent as given");
	http_response_release(&resp);
	strbuf_release(&err);
	strbuf_release(&url);
}

int
main(void)
{
	test_http__answers_map_to_provider_codes();
	test_http__through_a_connection();
	test_http__retry_after();
	test_http__error_shapes();
	test_http__urls();
	test_http__etag_from_header_or_trailer();
	return tap_done();
}
