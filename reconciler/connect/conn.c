/* Opening a server connection by the way a target names. */
#include "config.h"

#include <string.h>

#include "bots.h"
#include "conn.h"

int
conn_open(const struct bots_target *target, const struct conn_options *options,
    struct conn **out, struct strbuf *err)
{
	const char *how = target->server.connect;

	*out = NULL;
	if (how != NULL && strcmp(how, "local") == 0) {
		*out = conn_local_open(target->name);
		return 0;
	}
	if (how != NULL && strncmp(how, "ssh://", 6) == 0)
		return conn_ssh_open(target, options, out, err);
	strbuf_addf(err,
	    "target '%s': connect: %s is not a way getbot knows (local, or "
	    "ssh://USER@HOST[:PORT])",
	    target->name, how != NULL ? how : "(none)");
	return -1;
}

void
conn_close(struct conn *conn)
{
	if (conn != NULL)
		conn->ops->close(conn);
}

void
conn_result_init(struct conn_result *result)
{
	result->status = -1;
	strbuf_init(&result->out, 0);
	strbuf_init(&result->errout, 0);
}

void
conn_result_release(struct conn_result *result)
{
	strbuf_release(&result->out);
	strbuf_release(&result->errout);
}
