/* The Cloudflare API v4: one account, one API token, the engine's budget. */
#include "config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cloudflare.h"
#include "xmalloc.h"

#define CLOUDFLARE_RATE_DEFAULT 3.9
#define CLOUDFLARE_BURST        20
#define CLOUDFLARE_429_WAIT     60 /* seconds, when a 429 names none */

int
cloudflare_client_open(struct cloudflare_client *c,
    const struct bots_target *target, const char *base_dir, struct strbuf *err)
{
	const char *api = getenv("GETBOT_CLOUDFLARE_API");
	struct strbuf why = STRBUF_INIT;
	char *address = NULL;
	size_t len;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	c->account = target->edge.account_id;
	c->api =
	    xstrdup(api != NULL && *api != '\0' ? api : CLOUDFLARE_API_DEFAULT);
	len = strlen(c->api);
	while (len > 0 && c->api[len - 1] == '/')
		c->api[--len] = '\0';
	if (http_check_url(c->api, err) != 0)
		goto out;
	address = xasprintf("target.%s", target->name);
	if (secret_resolve(&target->edge.api_token, base_dir, address,
		"api_token", &c->token, &why) != 0) {
		strbuf_addf(
		    err, "target '%s': api_token: %s", target->name, why.buf);
		goto out;
	}
	rc = 0;
out:
	free(address);
	strbuf_release(&why);
	return rc;
}

void
cloudflare_client_release(struct cloudflare_client *c)
{
	secret_free(c->token);
	free(c->api);
	memset(c, 0, sizeof(*c));
}

void
cloudflare_budget(
    const struct cloudflare_client *c, struct provider_budget *out)
{
	const char *rate = getenv("GETBOT_CLOUDFLARE_RATE");
	char fpr[SECRET_FPR_HEX];

	/* keyed by neither target nor account: two targets with one token
	 * share its budget */
	secret_fingerprint(
	    c->token->value, c->token->len, "cloudflare", "api_token", fpr);
	out->key = xasprintf("cloudflare:%s", fpr);
	out->rate = rate != NULL && strtod(rate, NULL) > 0
			? strtod(rate, NULL)
			: CLOUDFLARE_RATE_DEFAULT;
	out->burst = CLOUDFLARE_BURST;
}

int
cloudflare_error_code(const struct http_response *resp)
{
	const cJSON *errors =
	    cJSON_GetObjectItemCaseSensitive(resp->json, "errors");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(errors, 0), "code");

	return cJSON_IsNumber(code) ? code->valueint : 0;
}

const cJSON *
cloudflare_result(const struct http_response *resp)
{
	return cJSON_GetObjectItemCaseSensitive(resp->json, "result");
}

const char *
cloudflare_str(const cJSON *obj, const char *key)
{
	const char *s =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));

	return s != NULL ? s : "";
}

void
cloudflare_sha256_hex(
    const void *data, size_t len, char out[CLOUDFLARE_HEX_SHA256])
{
	unsigned char hash[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(hash, data, len);
	sodium_bin2hex(out, CLOUDFLARE_HEX_SHA256, hash, sizeof(hash));
}

int
cloudflare_send(struct cloudflare_client *c, struct provider_call *call,
    const char *method, const char *path, const char *json,
    const struct http_part *parts, size_t nparts, struct http_response *resp)
{
	struct http_request req;
	struct strbuf url = STRBUF_INIT;
	const cJSON *success;
	int rc;

	memset(&req, 0, sizeof(req));
	strbuf_addf(&url, "%s%s", c->api, path);
	req.method = method;
	req.url = url.buf;
	req.bearer = (const char *)c->token->value;
	req.json = json;
	req.parts = parts;
	req.nparts = nparts;
	provider_throttle(call);
	strbuf_reset(&call->err);
	rc = http_request(&req, resp, &call->err);
	if (resp->status == 429) {
		double wait = resp->retry_after > 0 ? resp->retry_after
						    : CLOUDFLARE_429_WAIT;

		/* every call on the token waits, not only this one */
		provider_block(call, wait);
		call->retry_after = wait;
	}
	if (rc == PROVIDER_OK) {
		success =
		    cJSON_GetObjectItemCaseSensitive(resp->json, "success");
		if (!cJSON_IsTrue(success)) {
			const char *message = http_error_message(resp->json);

			strbuf_addf(&call->err, "%s %s: %s", method, path,
			    message != NULL ? message
					    : "not a Cloudflare API answer");
			rc = PROVIDER_ERROR;
		}
	}
	strbuf_release(&url);
	return rc;
}

int
cloudflare_delete(struct cloudflare_client *c, struct provider_call *call,
    const char *path, int gone_code)
{
	struct http_response resp;
	int rc;

	http_response_init(&resp);
	rc = cloudflare_send(c, call, "DELETE", path, NULL, NULL, 0, &resp);
	if (rc == PROVIDER_ERROR && resp.status == 404 &&
	    (gone_code == 0 || cloudflare_error_code(&resp) == gone_code))
		rc = PROVIDER_OK; /* already gone: what a delete wants */
	http_response_release(&resp);
	return rc;
}

void
cloudflare_pager_init(struct cloudflare_pager *p, const char *path,
    enum cloudflare_paging paging, unsigned per_page)
{
	memset(p, 0, sizeof(*p));
	p->path = xstrdup(path);
	p->paging = paging;
	p->per_page = per_page;
	p->pages = 1;
	http_response_init(&p->resp);
}

void
cloudflare_pager_release(struct cloudflare_pager *p)
{
	free(p->path);
	free(p->cursor);
	http_response_release(&p->resp);
}

/* Is there a page after the one in p->resp? Notes its number or cursor. */
static bool
cloudflare_pager_more(struct cloudflare_pager *p)
{
	const cJSON *info =
	    cJSON_GetObjectItemCaseSensitive(p->resp.json, "result_info");

	if (p->page == 0)
		return true;
	if (p->paging == CLOUDFLARE_PAGES) {
		const cJSON *total =
		    cJSON_GetObjectItemCaseSensitive(info, "total_pages");

		if (cJSON_IsNumber(total))
			p->pages = total->valueint;
		return p->page < p->pages;
	} else {
		const char *next = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(info, "cursor"));

		free(p->cursor);
		p->cursor =
		    next != NULL && *next != '\0' ? xstrdup(next) : NULL;
		return p->cursor != NULL;
	}
}

int
cloudflare_pager_next(struct cloudflare_client *c, struct provider_call *call,
    struct cloudflare_pager *p)
{
	struct strbuf path = STRBUF_INIT;
	int rc;

	if (!cloudflare_pager_more(p) || p->page >= CLOUDFLARE_PAGE_LIMIT)
		return CLOUDFLARE_PAGER_END;
	p->page++;
	if (p->paging == CLOUDFLARE_PAGES)
		strbuf_addf(&path, "%s?page=%d&per_page=%u", p->path, p->page,
		    p->per_page);
	else {
		strbuf_addf(&path, "%s?per_page=%u", p->path, p->per_page);
		if (p->cursor != NULL) {
			strbuf_addstr(&path, "&cursor=");
			http_add_escaped(&path, p->cursor);
		}
	}
	rc = cloudflare_send(c, call, "GET", path.buf, NULL, NULL, 0, &p->resp);
	strbuf_release(&path);
	return rc;
}
