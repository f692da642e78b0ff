/*
 * The Cloudflare API v4 (api-contracts.md) for one account with one API
 * token: requests in Cloudflare's envelope ({"success", "errors",
 * "result", "result_info"}), its error codes, and its two ways of paging
 * a list (numbered pages, cursors). Used by the cloudflare provider's
 * kinds: Workers, their secrets, R2 buckets, API tokens and DNS records.
 *
 * The client has no rate limiter of its own: every request waits for the
 * call's budget (provider_throttle), which the engine keeps per API token
 * (cloudflare_budget names it), and a 429 blocks that budget until its
 * Retry-After has passed.
 */
#ifndef GETBOT_CLOUDFLARE_H
#define GETBOT_CLOUDFLARE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "provider.h"
#include "secret.h"
#include "strbuf.h"

#define CLOUDFLARE_API_DEFAULT "https://api.cloudflare.com/client/v4"
#define CLOUDFLARE_HEX_SHA256  65   /* 64 hex digits and a NUL */
#define CLOUDFLARE_PAGE_LIMIT  1000 /* pages of one list: a loop guard */

/* Cloudflare's error codes (api-contracts.md). */
#define CLOUDFLARE_SCRIPT_NOT_FOUND  10007
#define CLOUDFLARE_BUCKET_EXISTS     10004
#define CLOUDFLARE_BUCKET_NOT_FOUND  10006
#define CLOUDFLARE_BUCKET_NOT_EMPTY  10008
#define CLOUDFLARE_RECORD_NOT_FOUND  81044
#define CLOUDFLARE_RECORD_HOST_TAKEN 81053 /* an A, AAAA or CNAME there */
#define CLOUDFLARE_RECORD_EXISTS     81057

struct cloudflare_client {
	char *api;            /* owned: base URL, no trailing slash */
	const char *account;  /* borrowed from the target: the account id */
	struct secret *token; /* owned: the API token */
};

/*
 * Open a client for target's account: the API at $GETBOT_CLOUDFLARE_API
 * (else CLOUDFLARE_API_DEFAULT), the token resolved from the target's
 * api_token (base_dir: where relative {file} paths start). Returns 0, or
 * -1 with err. Release with cloudflare_client_release in either case.
 */
int cloudflare_client_open(struct cloudflare_client *c,
    const struct bots_target *target, const char *base_dir, struct strbuf *err);
void cloudflare_client_release(struct cloudflare_client *c);

/*
 * The budget the client's requests count against: Cloudflare counts per
 * API token (1,200 requests per 5 minutes), so the key is
 * "cloudflare:FINGERPRINT" of the token (never the token), 3.9 requests/s
 * ($GETBOT_CLOUDFLARE_RATE overrides it) with a burst of 20: any 5
 * minutes hold at most 20 + 1170 < 1,200. out->key is the caller's.
 */
void cloudflare_budget(
    const struct cloudflare_client *c, struct provider_budget *out);

/*
 * One request: path is under the base URL; json, or parts (nparts of
 * them), is the body, or neither. The answer goes into resp (initialised
 * by the caller). Returns PROVIDER_OK, PROVIDER_TRANSIENT (5xx, 429, no
 * answer; a 429 sets call->retry_after and blocks the budget) or
 * PROVIDER_ERROR, with Cloudflare's words in call->err; an answer that is
 * not a successful envelope is an error even in a 2xx.
 */
int cloudflare_send(struct cloudflare_client *c, struct provider_call *call,
    const char *method, const char *path, const char *json,
    const struct http_part *parts, size_t nparts, struct http_response *resp);

/* DELETE path; a 404 (with Cloudflare's error gone_code, unless 0) means
 * it is gone already, which is what a delete wants. */
int cloudflare_delete(struct cloudflare_client *c, struct provider_call *call,
    const char *path, int gone_code);

/* Cloudflare's first error code in an answer, or 0. */
int cloudflare_error_code(const struct http_response *resp);
/* The result member of an answer, or NULL (borrowed from resp). */
const cJSON *cloudflare_result(const struct http_response *resp);

/*
 * How a list is paged: CLOUDFLARE_PAGES asks ?page=N&per_page=M up to
 * result_info.total_pages, CLOUDFLARE_CURSOR ?per_page=M&cursor=C until
 * result_info.cursor is empty.
 */
enum cloudflare_paging {
	CLOUDFLARE_PAGES,
	CLOUDFLARE_CURSOR,
};

/*
 * A list, one page at a time:
 *
 *	struct cloudflare_pager pager;
 *
 *	cloudflare_pager_init(&pager, path, CLOUDFLARE_PAGES, 50);
 *	while ((rc = cloudflare_pager_next(c, call, &pager)) == PROVIDER_OK)
 *		... cloudflare_result(&pager.resp) ...
 *	if (rc == CLOUDFLARE_PAGER_END)
 *		rc = PROVIDER_OK;
 *	cloudflare_pager_release(&pager);
 *
 * At most CLOUDFLARE_PAGE_LIMIT pages are asked for.
 */
#define CLOUDFLARE_PAGER_END 1

struct cloudflare_pager {
	char *path; /* owned: the list's path, no query */
	enum cloudflare_paging paging;
	unsigned per_page;
	int page;     /* the page in resp, from 1; 0 before the first */
	int pages;    /* CLOUDFLARE_PAGES: how many the answers said */
	char *cursor; /* owned: CLOUDFLARE_CURSOR: the next page's, or NULL */
	struct http_response resp; /* the current page's answer */
};

void cloudflare_pager_init(struct cloudflare_pager *p, const char *path,
    enum cloudflare_paging paging, unsigned per_page);
/* Ask for the next page into p->resp: PROVIDER_OK, CLOUDFLARE_PAGER_END
 * when the list is done, or the failure of the request (p->resp holds
 * its answer). */
int cloudflare_pager_next(struct cloudflare_client *c,
    struct provider_call *call, struct cloudflare_pager *p);
void cloudflare_pager_release(struct cloudflare_pager *p);

/* The string member key of obj, or "" (borrowed). */
const char *cloudflare_str(const cJSON *obj, const char *key);
/* The hex SHA-256 of data. */
void cloudflare_sha256_hex(
    const void *data, size_t len, char out[CLOUDFLARE_HEX_SHA256]);

#endif
