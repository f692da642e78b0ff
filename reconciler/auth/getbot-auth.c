/*
 * getbot-auth: the sign-in gatekeeper Caddy asks (forward_auth) before it
 * serves a bot. HTTP through libmicrohttpd, one thread per connection with
 * bounded connections, header memory and request rate per client; the
 * answers themselves come from auth-http.c. SIGHUP reloads auth.json: the
 * main thread waits for signals and swaps a reference-counted config, so a
 * request always sees one whole config, old or new.
 */
#include "config.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "auth-config.h"
#include "auth-exchange.h"
#include "auth-http.h"
#include "auth-rate.h"
#include "auth-replay.h"
#include "strbuf.h"
#include "xmalloc.h"

#define GETBOT_AUTH_CONNECTIONS        128
#define GETBOT_AUTH_CONNECTIONS_PER_IP 64 /* Caddy is usually the one peer */
#define GETBOT_AUTH_MEMORY_LIMIT       (32 * 1024) /* per connection */
#define GETBOT_AUTH_IDLE_TIMEOUT       15          /* seconds */
#define GETBOT_AUTH_RATE               20  /* requests a second per client */
#define GETBOT_AUTH_BURST              100 /* requests at once per client */
#define GETBOT_AUTH_RATE_SLOTS         4096
#define GETBOT_AUTH_USED_CODES         4096
#define GETBOT_AUTH_USED_CODE_TTL      600 /* seconds */

static const char getbot_auth_usage[] =
    "usage: getbot-auth [--config PATH] [--check] [--rate N] [--burst N]\n"
    "\n"
    "  -c, --config PATH  auth.json to serve "
    "(default: " AUTH_CONFIG_DEFAULT_PATH ")\n"
    "      --check        validate the config and exit\n"
    "      --rate N       requests a second allowed per client (default: 20)\n"
    "      --burst N      requests at once allowed per client (default: 100)\n"
    "  -h, --help         show this help\n"
    "  -V, --version      show the version\n";

struct getbot_auth {
	pthread_mutex_t lock;       /* guards config */
	struct auth_config *config; /* the one served; one reference held */
	char *listen;               /* where the server really listens */
	struct auth_replay *replay;
	struct auth_rate *rate;
};

/* One line on stderr, written at once so threads never mix lines. */
static void __attribute__((format(printf, 1, 2)))
getbot_auth_log(const char *fmt, ...)
{
	struct strbuf line = STRBUF_INIT;
	va_list ap;

	strbuf_addstr(&line, "getbot-auth: ");
	va_start(ap, fmt);
	strbuf_vaddf(&line, fmt, ap);
	va_end(ap);
	strbuf_addch(&line, '\n');
	if (write(STDERR_FILENO, line.buf, line.len) < 0) {
		/* nowhere left to say it */
	}
	strbuf_release(&line);
}

static void __attribute__((format(printf, 2, 0)))
getbot_auth_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct strbuf line = STRBUF_INIT;

	strbuf_vaddf(&line, fmt, ap);
	while (line.len > 0 && line.buf[line.len - 1] == '\n')
		strbuf_setlen(&line, line.len - 1);
	getbot_auth_log("http: %s", line.buf);
	strbuf_release(&line);
}

static double
getbot_auth_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The client a request counts against: the peer's address, or, when the
 * peer is on loopback (Caddy), the last address of X-Forwarded-For, which
 * Caddy sets to its own client's.
 */
static void
getbot_auth_client(struct MHD_Connection *conn, char *out, size_t size)
{
	const union MHD_ConnectionInfo *info;
	const struct sockaddr *sa = NULL;
	unsigned char addr[sizeof(struct in6_addr)];
	const char *xff, *last;
	bool loopback = false;
	size_t len;

	snprintf(out, size, "unknown");
	info =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info != NULL)
		sa = info->client_addr;
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)size);
		loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, out, (socklen_t)size);
		loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	}
	xff = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, "X-Forwarded-For");
	if (!loopback || xff == NULL)
		return;
	last = strrchr(xff, ',');
	last = last != NULL ? last + 1 : xff;
	last += strspn(last, " \t");
	len = strcspn(last, " \t");
	if (len == 0 || len >= size || len >= INET6_ADDRSTRLEN)
		return;
	{
		char candidate[INET6_ADDRSTRLEN];

		memcpy(candidate, last, len);
		candidate[len] = '\0';
		if (inet_pton(AF_INET, candidate, addr) == 1 ||
		    inet_pton(AF_INET6, candidate, addr) == 1)
			memcpy(out, candidate, len + 1);
	}
}

/* Join the Cookie headers, stopping once past the size getbot-auth reads. */
static enum MHD_Result
getbot_auth_add_cookie(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct strbuf *cookie = cls;

	if (strcasecmp(key, "Cookie") != 0 || value == NULL)
		return MHD_YES;
	if (cookie->len > 0)
		strbuf_addstr(cookie, "; ");
	strbuf_addstr(cookie, value); /* bounded by the memory limit */
	return cookie->len > AUTH_HTTP_COOKIE_MAX ? MHD_NO : MHD_YES;
}

/* Does the request announce a body? */
static bool
getbot_auth_has_body(struct MHD_Connection *conn)
{
	const char *length = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		   MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL ||
	       (length != NULL && strcmp(length, "0") != 0);
}

static struct auth_config *
getbot_auth_config(struct getbot_auth *srv)
{
	struct auth_config *cfg;

	pthread_mutex_lock(&srv->lock);
	cfg = auth_config_ref(srv->config);
	pthread_mutex_unlock(&srv->lock);
	return cfg;
}

static enum MHD_Result
getbot_auth_answer(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct getbot_auth *srv = cls;
	struct auth_http_request req = { 0 };
	struct auth_http_response resp;
	struct auth_http_context ctx = { 0 };
	struct strbuf cookie = STRBUF_INIT;
	struct auth_config *cfg = NULL;
	struct MHD_Response *response;
	char client[INET6_ADDRSTRLEN + 1];
	enum MHD_Result ret;

	static int headers_seen;

	auth_http_response_init(&resp);
	getbot_auth_client(conn, client, sizeof(client));
	/* The first call brings the headers. A request with a body is
	 * answered at once (and its connection closed): nothing here reads
	 * one. Others are answered at the second call, which keeps the
	 * connection open for Caddy's next request. */
	if (*con_cls == NULL) {
		*con_cls = &headers_seen;
		if (!getbot_auth_has_body(conn)) {
			auth_http_response_release(&resp);
			return MHD_YES;
		}
		getbot_auth_log(
		    "request refused reason=\"a request body\" client=%s",
		    client);
		resp.status = 413;
		strbuf_addstr(&resp.body, "no request body is accepted\n");
		goto respond;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0; /* not reached: no body was announced */
		auth_http_response_release(&resp);
		return MHD_YES;
	}
	switch (auth_rate_take(srv->rate, client, getbot_auth_monotonic())) {
	case AUTH_RATE_DENY_FIRST:
		getbot_auth_log("rate-limit client=%s reason=\"more than the "
				"allowed requests a second\"",
		    client);
		/* fall through */
	case AUTH_RATE_DENY:
		resp.status = 429;
		strbuf_addstr(&resp.body, "too many requests\n");
		goto respond;
	case AUTH_RATE_ALLOW:
		break;
	}

	cfg = getbot_auth_config(srv);
	req.method = method;
	req.path = url;
	req.host = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, "X-Forwarded-Host");
	if (req.host == NULL)
		req.host = MHD_lookup_connection_value(
		    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	req.forwarded_uri = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, "X-Forwarded-Uri");
	MHD_get_connection_values(
	    conn, MHD_HEADER_KIND, getbot_auth_add_cookie, &cookie);
	req.cookie = cookie.len > 0 ? cookie.buf : NULL;
	req.code =
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "code");
	req.state =
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "state");
	ctx.config = cfg;
	ctx.replay = srv->replay;
	ctx.exchange = auth_exchange_code;
	ctx.now = (long long)time(NULL);
	auth_http_handle(&ctx, &req, &resp);
	if (resp.log.len > 0)
		getbot_auth_log("%s client=%s", resp.log.buf, client);

respond:
	response = MHD_create_response_from_buffer(
	    resp.body.len, resp.body.buf, MHD_RESPMEM_MUST_COPY);
	ret = MHD_NO;
	if (response == NULL)
		goto out;
	if (resp.location.len > 0)
		MHD_add_response_header(
		    response, MHD_HTTP_HEADER_LOCATION, resp.location.buf);
	if (resp.set_cookie.len > 0)
		MHD_add_response_header(
		    response, MHD_HTTP_HEADER_SET_COOKIE, resp.set_cookie.buf);
	if (resp.remote_user.len > 0)
		MHD_add_response_header(
		    response, "Remote-User", resp.remote_user.buf);
	if (resp.status == 429)
		MHD_add_response_header(
		    response, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
	    resp.body.len > 0 && resp.body.buf[0] == '<'
		? "text/html; charset=utf-8"
		: "text/plain; charset=utf-8");
	MHD_add_response_header(
	    response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(response, "Referrer-Policy", "no-referrer");
	ret = MHD_queue_response(conn, resp.status, response);
	MHD_destroy_response(response);
out:
	auth_config_unref(cfg);
	strbuf_release(&cookie);
	auth_http_response_release(&resp);
	return ret;
}

/* Read path again and serve it, or keep the config served and say why. */
static void
getbot_auth_reload(struct getbot_auth *srv, const char *path)
{
	struct strbuf err = STRBUF_INIT;
	struct auth_config *cfg = NULL, *old;

	if (auth_config_load(path, &cfg, &err) != 0) {
		getbot_auth_log("reload refused: %s; still serving the "
				"previous config",
		    err.buf);
		goto out;
	}
	if (strcmp(cfg->listen, srv->listen) != 0)
		getbot_auth_log("reload: listen '%s' takes effect only on a "
				"restart; still on %s",
		    cfg->listen, srv->listen);
	pthread_mutex_lock(&srv->lock);
	old = srv->config;
	srv->config = cfg;
	pthread_mutex_unlock(&srv->lock);
	auth_config_unref(old);
	getbot_auth_log("reloaded %s (%zu %s)", path, cfg->norgs,
	    cfg->norgs == 1 ? "org" : "orgs");
out:
	strbuf_release(&err);
}

static struct MHD_Daemon *
getbot_auth_listen(struct getbot_auth *srv)
{
	const struct auth_config *cfg = srv->config;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
			 MHD_USE_ERROR_LOG;
	uint16_t port;

	if (cfg->listen_addr.ss_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
		port = ntohs(((const struct sockaddr_in6 *)&cfg->listen_addr)
				 ->sin6_port);
	} else
		port = ntohs(
		    ((const struct sockaddr_in *)&cfg->listen_addr)->sin_port);
	return MHD_start_daemon(flags, port, NULL, NULL, getbot_auth_answer,
	    srv, MHD_OPTION_EXTERNAL_LOGGER, getbot_auth_mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&cfg->listen_addr,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)GETBOT_AUTH_CONNECTIONS,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)GETBOT_AUTH_CONNECTIONS_PER_IP,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)GETBOT_AUTH_MEMORY_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)GETBOT_AUTH_IDLE_TIMEOUT, MHD_OPTION_STRICT_FOR_CLIENT,
	    (int)1, MHD_OPTION_END);
}

/* A positive number option value, or -1. */
static double
getbot_auth_number(const char *s)
{
	char *end;
	double d;

	if (s == NULL)
		return -1;
	d = strtod(s, &end);
	return *end == '\0' && end != s && d > 0 && d < 1e6 ? d : -1;
}

int
main(int argc, char **argv)
{
	struct rlimit no_core = { 0, 0 };
	struct getbot_auth srv = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct strbuf err = STRBUF_INIT;
	const char *path = AUTH_CONFIG_DEFAULT_PATH;
	double rate = GETBOT_AUTH_RATE, burst = GETBOT_AUTH_BURST;
	struct MHD_Daemon *daemon = NULL;
	bool check = false;
	sigset_t signals;
	int i, sig, rc = 1;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0) {
			if (++i == argc)
				goto usage;
			path = argv[i];
		} else if (strncmp(arg, "--config=", 9) == 0)
			path = arg + 9;
		else if (strcmp(arg, "--check") == 0)
			check = true;
		else if (strcmp(arg, "--rate") == 0) {
			if (++i == argc ||
			    (rate = getbot_auth_number(argv[i])) <= 0)
				goto usage;
		} else if (strcmp(arg, "--burst") == 0) {
			if (++i == argc ||
			    (burst = getbot_auth_number(argv[i])) < 1)
				goto usage;
		} else if (strcmp(arg, "-h") == 0 ||
			   strcmp(arg, "--help") == 0) {
			fputs(getbot_auth_usage, stdout);
			return 0;
		} else if (strcmp(arg, "-V") == 0 ||
			   strcmp(arg, "--version") == 0) {
			printf("getbot-auth %s\n", VERSION);
			return 0;
		} else
			goto usage;
	}

	/* Keys live in this process: never leave them in a core. */
	(void)setrlimit(RLIMIT_CORE, &no_core);
	if (sodium_init() < 0) {
		getbot_auth_log("libsodium failed to initialise");
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		getbot_auth_log("libcurl failed to initialise");
		return 1;
	}
	if (auth_config_load(path, &srv.config, &err) != 0) {
		getbot_auth_log("%s", err.buf);
		goto out;
	}
	if (check) {
		printf("%s: valid (%zu %s)\n", path, srv.config->norgs,
		    srv.config->norgs == 1 ? "org" : "orgs");
		rc = 0;
		goto out;
	}

	/* Signals go to the main thread's sigwait alone: block them before
	 * any thread starts, so every thread inherits the mask. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGHUP);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	srv.listen = xstrdup(srv.config->listen);
	srv.rate = auth_rate_new(rate, burst, GETBOT_AUTH_RATE_SLOTS);
	srv.replay =
	    auth_replay_new(GETBOT_AUTH_USED_CODES, GETBOT_AUTH_USED_CODE_TTL);
	daemon = getbot_auth_listen(&srv);
	if (daemon == NULL) {
		getbot_auth_log("cannot listen on %s", srv.listen);
		goto out;
	}
	getbot_auth_log("listening on %s (%zu %s)%s", srv.listen,
	    srv.config->norgs, srv.config->norgs == 1 ? "org" : "orgs",
	    srv.config->listen_is_loopback
		? ""
		: "; not a loopback address: let only Caddy reach it");
	for (;;) {
		if (sigwait(&signals, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		getbot_auth_reload(&srv, path);
	}
	getbot_auth_log("stopping on signal %d", sig);
	rc = 0;
out:
	if (daemon != NULL)
		MHD_stop_daemon(daemon);
	auth_config_unref(srv.config);
	auth_replay_free(srv.replay);
	auth_rate_free(srv.rate);
	free(srv.listen);
	strbuf_release(&err);
	curl_global_cleanup();
	return rc;

usage:
	fputs(getbot_auth_usage, stderr);
	return 1;
}
