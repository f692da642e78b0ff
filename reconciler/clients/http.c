/* HTTP for providers: libcurl, bounded answers, errors in remote words. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "conn.h"
#include "http.h"
#include "provider.h"
#include "xmalloc.h"

struct http_sink {
	struct http_response *resp;
	size_t max_body;
	bool too_big;
};

static pthread_once_t http_once = PTHREAD_ONCE_INIT;

static void
http_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void
http_response_init(struct http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	strbuf_init(&resp->body, 0);
}

void
http_response_release(struct http_response *resp)
{
	strbuf_release(&resp->body);
	cJSON_Delete(resp->json);
	resp->json = NULL;
	free(resp->etag);
	resp->etag = NULL;
}

static size_t
http_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_sink *sink = userdata;
	size_t len = size * nmemb;

	if (sink->resp->body.len + len > sink->max_body) {
		sink->too_big = true;
		return 0; /* ends the transfer: CURLE_WRITE_ERROR */
	}
	strbuf_add(&sink->resp->body, data, len);
	return len;
}

static size_t
http_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_sink *sink = userdata;
	size_t len = size * nmemb;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) - 1 && len < 256 &&
	    strncasecmp(data, name, sizeof(name) - 1) == 0) {
		char value[256];

		memcpy(
		    value, data + sizeof(name) - 1, len - (sizeof(name) - 1));
		value[len - (sizeof(name) - 1)] = '\0';
		sink->resp->retry_after =
		    http_parse_retry_after(value, (long)time(NULL));
	}
	return len;
}

/* The answer's ETag, wherever it came: a header, or a trailer after a
 * chunked body (Caddy <= 2.7 computes it while it writes the body). */
static void
http_take_etag(CURL *curl, struct http_response *resp)
{
	struct curl_header *h;

	if (curl_easy_header(curl, "ETag", 0, CURLH_HEADER | CURLH_TRAILER, -1,
		&h) == CURLHE_OK &&
	    strlen(h->value) <= HTTP_MAX_ETAG)
		resp->etag = xstrdup(h->value);
}

double
http_parse_retry_after(const char *value, long now)
{
	char *end;
	double seconds;
	time_t when;

	while (*value == ' ' || *value == '\t')
		value++;
	if (isdigit((unsigned char)*value)) {
		seconds = strtod(value, &end);
		while (
		    *end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			end++;
		if (*end != '\0' || seconds < 0)
			return 0;
		return seconds > 3600 ? 3600 : seconds;
	}
	when = curl_getdate(value, NULL);
	if (when == (time_t)-1 || (long)when <= now)
		return 0;
	return (long)when - now > 3600 ? 3600 : (double)((long)when - now);
}

const char *
http_error_message(const cJSON *body)
{
	const cJSON *errors, *error, *message;

	if (!cJSON_IsObject(body))
		return NULL;
	/* Cloudflare: {"errors": [{"code", "message"}]} */
	errors = cJSON_GetObjectItemCaseSensitive(body, "errors");
	if (cJSON_IsArray(errors) && cJSON_GetArraySize(errors) > 0) {
		message = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetArrayItem(errors, 0), "message");
		if (cJSON_IsString(message))
			return message->valuestring;
	}
	error = cJSON_GetObjectItemCaseSensitive(body, "error");
	/* the router: {"error": {"code", "message"}} */
	message = cJSON_GetObjectItemCaseSensitive(error, "message");
	if (cJSON_IsString(message))
		return message->valuestring;
	/* Incus, Caddy: {"error": "..."} */
	if (cJSON_IsString(error) && error->valuestring[0] != '\0')
		return error->valuestring;
	/* Docker: {"message": "..."} */
	message = cJSON_GetObjectItemCaseSensitive(body, "message");
	if (cJSON_IsString(message))
		return message->valuestring;
	return NULL;
}

/* The path of url (without scheme, host and query), for messages. */
static void
http_add_path(struct strbuf *sb, const char *url)
{
	const char *p = strstr(url, "://");

	p = p != NULL ? strchr(p + 3, '/') : NULL;
	if (p == NULL)
		p = url;
	strbuf_add(sb, p, strcspn(p, "?"));
}

/* Is host a loopback name or address? */
static bool
http_is_loopback(const char *host)
{
	struct in_addr v4;

	if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
		return true;
	return inet_pton(AF_INET, host, &v4) == 1 &&
	       (ntohl(v4.s_addr) >> 24) == 127;
}

int
http_check_url(const char *url, struct strbuf *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int rc = -1;

	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		strbuf_addf(err, "'%s' is not a URL", url);
		goto out;
	}
	if (strcmp(scheme, "https") == 0)
		rc = 0;
	else if (strcmp(scheme, "http") == 0 && http_is_loopback(host))
		rc = 0; /* loopback: local fakes and tunnels */
	else
		strbuf_addf(err,
		    "'%s': credentials go only over https (http only to a "
		    "loopback address)",
		    url);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

void
http_add_escaped(struct strbuf *sb, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
			strbuf_addch(sb, c);
		else {
			strbuf_addch(sb, '%');
			strbuf_addch(sb, hex[c >> 4]);
			strbuf_addch(sb, hex[c & 15]);
		}
	}
}

/* A request through a server connection: curl is handed the stream the
 * connection dialled instead of making its own. */
struct http_dialled {
	const struct http_request *req;
	struct strbuf *why;
	bool failed;
};

static curl_socket_t
http_open_socket(
    void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct http_dialled *d = clientp;
	int fd = -1;

	(void)purpose;
	(void)addr;
	if (d->req->conn->ops->dial(
		d->req->conn, d->req->endpoint, &fd, d->why) != 0) {
		d->failed = true;
		return CURL_SOCKET_BAD;
	}
	return fd;
}

/*
 * curl 7.88 (Debian 12's) connect()s the stream it is handed again although
 * the socket callback says it is connected (curl issue 10626, fixed in
 * 8.0.0): a TCP stream lets that pass, a unix socket refuses it (EISCONN).
 * There, for a socket on this machine, curl connects to the path itself;
 * the path, or NULL.
 */
static const char *
http_local_socket(const struct http_request *req)
{
	unsigned version = curl_version_info(CURLVERSION_NOW)->version_num;

	if (version < 0x075800 || version >= 0x080000 ||
	    strcmp(req->conn->ops->name, "local") != 0 ||
	    strncmp(req->endpoint, "unix:", 5) != 0)
		return NULL;
	return req->endpoint + 5;
}

static int
http_socket_ready(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
	(void)clientp;
	(void)fd;
	(void)purpose;
	return CURL_SOCKOPT_ALREADY_CONNECTED;
}

int
http_request(const struct http_request *req, struct http_response *resp,
    struct strbuf *err)
{
	struct http_sink sink = { resp,
		req->max_body ? req->max_body : HTTP_MAX_BODY_DEFAULT, false };
	struct curl_slist *headers = NULL;
	struct strbuf line = STRBUF_INIT, why = STRBUF_INIT;
	struct http_dialled dialled = { req, &why, false };
	curl_mime *mime = NULL;
	CURL *curl;
	CURLcode cc;
	const char *message;
	size_t i;
	int rc = PROVIDER_ERROR;

	pthread_once(&http_once, http_global_init);
	strbuf_reset(&resp->body);
	cJSON_Delete(resp->json);
	resp->json = NULL;
	resp->status = 0;
	resp->retry_after = 0;
	free(resp->etag);
	resp->etag = NULL;

	curl = curl_easy_init();
	curl_easy_setopt(curl, CURLOPT_URL, req->url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
	    req->timeout_ms > 0 ? req->timeout_ms : 60000L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, http_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &sink);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "getbot/" PACKAGE_VERSION);
	if (req->conn != NULL && http_local_socket(req) != NULL)
		curl_easy_setopt(
		    curl, CURLOPT_UNIX_SOCKET_PATH, http_local_socket(req));
	else if (req->conn != NULL) {
		/* a socket path makes curl skip name resolution: the host
		 * in the URL may only mean something on the server */
		curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, req->endpoint);
		curl_easy_setopt(
		    curl, CURLOPT_OPENSOCKETFUNCTION, http_open_socket);
		curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &dialled);
		curl_easy_setopt(
		    curl, CURLOPT_SOCKOPTFUNCTION, http_socket_ready);
	} else if (req->unix_socket != NULL)
		curl_easy_setopt(
		    curl, CURLOPT_UNIX_SOCKET_PATH, req->unix_socket);
	if (strcmp(req->method, "GET") == 0)
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	if (req->bearer != NULL) {
		strbuf_addf(&line, "Authorization: Bearer %s", req->bearer);
		headers = curl_slist_append(headers, line.buf);
		/* the token must not linger in a freed buffer */
		memset(line.buf, 0, line.len);
		strbuf_reset(&line);
	}
	headers = curl_slist_append(headers, "Accept: application/json");
	for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
		headers = curl_slist_append(headers, req->headers[i]);
	if (req->if_match != NULL) {
		strbuf_addf(&line, "If-Match: %s", req->if_match);
		headers = curl_slist_append(headers, line.buf);
		strbuf_reset(&line);
	}
	if (req->json != NULL) {
		headers = curl_slist_append(
		    headers, "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->json);
		curl_easy_setopt(
		    curl, CURLOPT_POSTFIELDSIZE, (long)strlen(req->json));
	} else if (req->parts != NULL) {
		mime = curl_mime_init(curl);
		for (i = 0; i < req->nparts; i++) {
			curl_mimepart *part = curl_mime_addpart(mime);

			curl_mime_name(part, req->parts[i].name);
			curl_mime_data(
			    part, req->parts[i].data, req->parts[i].len);
			if (req->parts[i].filename != NULL)
				curl_mime_filename(
				    part, req->parts[i].filename);
			if (req->parts[i].type != NULL)
				curl_mime_type(part, req->parts[i].type);
		}
		curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
		/* MIMEPOST makes it a POST; keep the method asked for */
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (req->body != NULL) {
		strbuf_addf(&line, "Content-Type: %s",
		    req->content_type != NULL ? req->content_type
					      : "application/octet-stream");
		headers = curl_slist_append(headers, line.buf);
		strbuf_reset(&line);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)req->body_len);
	} else if (strcmp(req->method, "PUT") == 0 ||
		   strcmp(req->method, "POST") == 0 ||
		   strcmp(req->method, "PATCH") == 0) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

	cc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
	http_take_etag(curl, resp);
	strbuf_addf(err, "%s ", req->method);
	http_add_path(err, req->url);
	strbuf_addstr(err, ": ");
	if (sink.too_big) {
		strbuf_addf(err, "answer larger than %zu bytes", sink.max_body);
		rc = PROVIDER_ERROR;
		goto out;
	}
	if (cc != CURLE_OK) {
		/* no (whole) answer: the network's fault, worth a retry */
		strbuf_addstr(
		    err, dialled.failed ? why.buf : curl_easy_strerror(cc));
		rc = PROVIDER_TRANSIENT;
		goto out;
	}
	if (resp->body.len > 0)
		resp->json =
		    cJSON_ParseWithLength(resp->body.buf, resp->body.len);
	if (resp->status >= 200 && resp->status < 300) {
		strbuf_reset(err);
		rc = PROVIDER_OK;
		goto out;
	}
	message = http_error_message(resp->json);
	strbuf_addf(err, "HTTP %ld", resp->status);
	if (message != NULL)
		strbuf_addf(err, ": %.512s", message);
	if (resp->status == 429 || resp->status >= 500)
		rc = PROVIDER_TRANSIENT;
	else
		rc = PROVIDER_ERROR;
out:
	curl_easy_cleanup(curl);
	curl_mime_free(mime);
	if (req->bearer != NULL) /* the first header: wipe the token */
		memset(headers->data, 0, strlen(headers->data));
	curl_slist_free_all(headers);
	strbuf_release(&line);
	strbuf_release(&why);
	return rc;
}
