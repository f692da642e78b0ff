/* The code exchange with the central sign-in server, through libcurl. */
#include "config.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <sodium.h>
#include <string.h>

#include "auth-exchange.h"
#include "auth-json.h"
#include "identity.h"
#include "xmalloc.h"

static size_t
auth_exchange_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct strbuf *body = userdata;
	size_t len = size * nmemb;

	if (body->len + len > AUTH_EXCHANGE_MAX)
		return 0; /* too large: curl fails with a write error */
	strbuf_add(body, data, len);
	return len;
}

/* The "error" of a JSON answer, when it is a short plain word. */
static void
auth_exchange_add_error(struct strbuf *err, const struct strbuf *body)
{
	cJSON *json = auth_json_parse(body->buf, body->len, NULL);
	const cJSON *error = cJSON_GetObjectItemCaseSensitive(json, "error");

	if (cJSON_IsString(error) && strlen(error->valuestring) <= 40 &&
	    strspn(error->valuestring, "abcdefghijklmnopqrstuvwxyz_") ==
		strlen(error->valuestring))
		strbuf_addf(err, ": %s", error->valuestring);
	cJSON_Delete(json);
}

static void
auth_exchange_free_headers(struct curl_slist *headers)
{
	struct curl_slist *h;

	for (h = headers; h != NULL; h = h->next)
		sodium_memzero(h->data, strlen(h->data));
	curl_slist_free_all(headers);
}

int
auth_exchange_code(const struct auth_config *cfg, const char *code,
    const char *redirect_uri, char **email, struct strbuf *err)
{
	struct strbuf url = STRBUF_INIT, request = STRBUF_INIT,
		      body = STRBUF_INIT, auth = STRBUF_INIT;
	struct curl_slist *headers = NULL;
	const cJSON *item;
	cJSON *json = NULL;
	CURLcode res;
	CURL *curl;
	long status = 0;
	int rc = -1;

	*email = NULL;
	curl = curl_easy_init();
	if (curl == NULL) {
		strbuf_addstr(err, "cannot start libcurl");
		return -1;
	}
	strbuf_addf(&url, "%s/exchange", cfg->auth_url);
	strbuf_addstr(&request, "{\"code\":");
	strbuf_add_json_string(&request, code, strlen(code));
	strbuf_addstr(&request, ",\"redirect_uri\":");
	strbuf_add_json_string(&request, redirect_uri, strlen(redirect_uri));
	strbuf_addch(&request, '}');
	strbuf_addf(
	    &auth, "Authorization: Bearer %s", cfg->code_exchange_secret);
	headers = curl_slist_append(headers, auth.buf);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	headers = curl_slist_append(headers, "Expect:");

	curl_easy_setopt(curl, CURLOPT_URL, url.buf);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(
	    curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)AUTH_EXCHANGE_TIMEOUT);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "getbot-auth/" VERSION);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.buf);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)request.len);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, auth_exchange_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
	res = curl_easy_perform(curl);
	if (res != CURLE_OK) {
		strbuf_addf(err, "cannot reach the sign-in server: %s",
		    res == CURLE_WRITE_ERROR ? "answer too large"
					     : curl_easy_strerror(res));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 400) {
		strbuf_addstr(err, "the sign-in server refused the code");
		auth_exchange_add_error(err, &body);
		rc = AUTH_EXCHANGE_REFUSED;
		goto out;
	}
	if (status == 401 || status == 403) {
		strbuf_addf(err,
		    "the sign-in server refused the code-exchange secret "
		    "(HTTP %ld)",
		    status);
		goto out;
	}
	if (status != 200) {
		strbuf_addf(
		    err, "the sign-in server answered HTTP %ld", status);
		auth_exchange_add_error(err, &body);
		goto out;
	}
	json = auth_json_parse(body.buf, body.len, NULL);
	item = cJSON_GetObjectItemCaseSensitive(json, "email");
	if (!cJSON_IsString(item) || !identity_is_email(item->valuestring)) {
		strbuf_addstr(err, "the sign-in server's answer has no valid "
				   "email");
		goto out;
	}
	*email = xstrdup(item->valuestring);
	rc = 0;
out:
	cJSON_Delete(json);
	curl_easy_cleanup(curl);
	auth_exchange_free_headers(headers);
	sodium_memzero(auth.buf, auth.len);
	strbuf_release(&auth);
	strbuf_release(&url);
	strbuf_release(&request);
	strbuf_release(&body);
	return rc;
}
