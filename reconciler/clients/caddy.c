/* Caddy's admin API over a server connection. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "caddy.h"
#include "conn.h"
#include "xmalloc.h"

#define CADDY_MAX_BODY   (16u << 20) /* a big config, certificates aside */
#define CADDY_TIMEOUT_MS 30000L

int
caddy_client_open(struct caddy_client *c, struct conn *conn, const char *admin,
    struct strbuf *err)
{
	memset(c, 0, sizeof(*c));
	if (admin == NULL || *admin == '\0' || strpbrk(admin, "\r\n") != NULL) {
		strbuf_addstr(err, "no Caddy admin address");
		return -1;
	}
	c->conn = conn;
	c->admin = admin;
	if (strncmp(admin, "unix/", 5) == 0) {
		/* unix//run/caddy/admin.sock: on a socket, Caddy accepts
		 * only an empty Host (RFC 7230 for a URI without a host) */
		c->endpoint = xasprintf("unix:%s", admin + 5);
		c->base = xstrdup("http://localhost");
		c->host_header = xstrdup("Host;");
	} else {
		/* localhost, 127.0.0.1 or [::1] with the port: Caddy checks
		 * Host against these, port included (curl would drop :80) */
		c->endpoint = xstrdup(admin);
		c->base = xasprintf("http://%s", admin);
		c->host_header = xasprintf("Host: %s", admin);
	}
	return 0;
}

void
caddy_client_release(struct caddy_client *c)
{
	free(c->endpoint);
	free(c->base);
	free(c->host_header);
	memset(c, 0, sizeof(*c));
}

int
caddy_request(struct caddy_client *c, struct provider_call *call,
    const char *method, const char *path, const cJSON *body,
    const char *if_match, struct http_response *resp)
{
	const char *headers[] = { c->host_header, NULL };
	char *url = xasprintf("%s%s", c->base, path);
	char *text = body != NULL ? cJSON_PrintUnformatted(body) : NULL;
	struct http_request req;
	struct strbuf why = STRBUF_INIT;
	int rc;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.headers = headers;
	req.json = text;
	req.conn = c->conn;
	req.endpoint = c->endpoint;
	req.timeout_ms = CADDY_TIMEOUT_MS;
	req.max_body = CADDY_MAX_BODY;
	req.if_match = if_match;
	provider_throttle(call);
	rc = http_request(&req, resp, &why);
	if (rc == PROVIDER_TRANSIENT && resp->status == 0)
		strbuf_addf(&call->err,
		    "cannot reach Caddy's admin API at %s%s: %s", c->admin,
		    c->conn->ops->through, why.buf);
	else if (rc != PROVIDER_OK) {
		strbuf_addf(&call->err, "Caddy's admin API at %s%s: %s",
		    c->admin, c->conn->ops->through, why.buf);
		if (resp->status == 412)
			rc = CADDY_STALE;
		else if (resp->status == 500)
			rc = PROVIDER_ERROR;
	}
	strbuf_release(&why);
	free(text);
	free(url);
	return rc;
}
