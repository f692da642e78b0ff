/*
 * Caddy's admin API on a server, over the server's connection (Debian
 * ships 2.6.2; api-contracts.md, "Caddy admin API"): requests with the
 * Host the admin API accepts, bounded answers, and Caddy's refusals
 * mapped to provider return codes. What the config means is the caddy
 * provider's business.
 */
#ifndef GETBOT_CADDY_H
#define GETBOT_CADDY_H

#include <cjson/cJSON.h>

#include "http.h"
#include "provider.h"

/* 412: the config changed since its ETag was read; read it again. */
#define CADDY_STALE (-4)

struct caddy_client {
	struct conn *conn; /* borrowed */
	const char *admin; /* borrowed: "localhost:2019" or "unix//PATH" */
	char *endpoint;    /* what conn dials: "localhost:2019", "unix:/PATH" */
	char *base;        /* "http://localhost:2019", or "http://localhost" */
	char *host_header; /* "Host: localhost:2019", or "Host;" (empty) */
};

/*
 * Set c up for the admin API at admin (a target's caddy.admin: HOST:PORT
 * on loopback, or unix//PATH), reached through conn. Nothing is sent.
 * Returns 0, or -1 with err when admin is no such address. Release with
 * caddy_client_release; c borrows admin and conn.
 */
int caddy_client_open(struct caddy_client *c, struct conn *conn,
    const char *admin, struct strbuf *err);
void caddy_client_release(struct caddy_client *c);

/*
 * One request to path ("/config/..." or "/id/..."), throttled by call's
 * budget; body and if_match may be NULL. The answer goes into resp
 * (initialised by the caller). Returns PROVIDER_OK, PROVIDER_TRANSIENT
 * (no answer, 5xx other than 500), CADDY_STALE (412), or PROVIDER_ERROR
 * (500 is Caddy refusing a config it would not load: no retry helps),
 * with the admin address named in call->err.
 */
int caddy_request(struct caddy_client *c, struct provider_call *call,
    const char *method, const char *path, const cJSON *body,
    const char *if_match, struct http_response *resp);

#endif
