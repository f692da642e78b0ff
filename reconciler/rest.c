/* JSON over HTTP with libcurl, bounded. */
#include "config.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"
#include "rest.h"
#include "xmalloc.h"

struct rest_sink {
	struct rest_response *resp;
	size_t max;
	bool too_big;
};

static size_t
rest_write(char *data, size_t size, size_t n, void *arg)
{
	struct rest_sink *sink = arg;

	if (sink->resp->body.len + size * n > sink->max) {
		sink->too_big = true;
		return 0; /* aborts the transfer */
	}
	strbuf_add(&sink->resp->body, data, size * n);
	return size * n;
}

/* Keep a header's value (trimmed) if its name is name. */
static void
rest_header_value(const char *line, size_t len, const char *name, char **out)
{
	size_t name_len = strlen(name);
	const char *v;
	size_t vlen;

	if (len <= name_len || strncasecmp(line, name, name_len) != 0 ||
	    line[name_len] != ':')
		return;
	v = line + name_len + 1;
	vlen = len - name_len - 1;
	while (vlen > 0 && isspace((unsigned char)*v))
		v++, vlen--;
	while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
		vlen--;
	free(*out);
	*out = xstrndup(v, vlen);
}

/* Headers, and trailers too: Caddy <= 2.7 sends its ETag as a trailer,
 * which libcurl hands to this callback after the body. */
static size_t
rest_header(char *line, size_t size, size_t n, void *arg)
{
	struct rest_sink *sink = arg;
	size_t len = size * n;
	char *retry = NULL;

	rest_header_value(line, len, "ETag", &sink->resp->etag);
	rest_header_value(line, len, "Location", &sink->resp->location);
	rest_header_value(line, len, "API-Version", &sink->resp->api_version);
	rest_header_value(line, len, "Retry-After", &retry);
	if (retry != NULL) {
		sink->resp->retry_after = strtod(retry, NULL);
		free(retry);
	}
	return len;
}

void
rest_escape(struct strbuf *sb, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || strchr("-._~", c))
			strbuf_addch(sb, c);
		else
			strbuf_addf(sb, "%%%02X", c);
	}
}

int
rest_request(const struct rest_client *client, const char *method,
    const char *path, const char *content_type, const void *body,
    size_t body_len, const char *const *headers, struct rest_response *resp,
    struct strbuf *err)
{
	struct rest_sink sink = { resp,
		client->max_body ? client->max_body : REST_MAX_BODY, false };
	struct curl_slist *list = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	char *url = xasprintf("%s%s", client->base_url, path);
	char *ctype = NULL;
	CURL *curl = curl_easy_init();
	CURLcode code;
	int rc = PROVIDER_ERROR;
	size_t i;

	memset(resp, 0, sizeof(*resp));
	strbuf_init(&resp->body, 0);
	if (curl == NULL) {
		strbuf_addstr(err, "cannot start libcurl");
		goto out;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (client->unix_socket != NULL)
		curl_easy_setopt(
		    curl, CURLOPT_UNIX_SOCKET_PATH, client->unix_socket);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	if (client->timeout_seconds > 0)
		curl_easy_setopt(
		    curl, CURLOPT_TIMEOUT, client->timeout_seconds);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, rest_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, rest_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &sink);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(
		    curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	if (content_type != NULL) {
		ctype = xasprintf("Content-Type: %s", content_type);
		list = curl_slist_append(list, ctype);
	}
	list = curl_slist_append(list, "Expect:");
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		list = curl_slist_append(list, headers[i]);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);

	code = curl_easy_perform(curl);
	if (sink.too_big) {
		strbuf_addf(err,
		    "%s: the answer to %s %s is larger than %zu "
		    "bytes",
		    client->endpoint, method, path, sink.max);
		goto out;
	}
	if (code != CURLE_OK) {
		strbuf_addf(err, "cannot reach %s: %s", client->endpoint,
		    errbuf[0] ? errbuf : curl_easy_strerror(code));
		rc = PROVIDER_TRANSIENT;
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
	if (resp->body.len > 0)
		resp->json =
		    cJSON_ParseWithLength(resp->body.buf, resp->body.len);
	rc = PROVIDER_OK;
out:
	curl_slist_free_all(list);
	if (curl != NULL)
		curl_easy_cleanup(curl);
	free(ctype);
	free(url);
	return rc;
}

void
rest_response_release(struct rest_response *resp)
{
	strbuf_release(&resp->body);
	cJSON_Delete(resp->json);
	free(resp->etag);
	free(resp->location);
	free(resp->api_version);
	memset(resp, 0, sizeof(*resp));
}
