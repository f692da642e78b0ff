/*
 * auth.json, getbot-auth's config: keys, the central sign-in server, where
 * to listen, and who may use which org and bot. A loaded config is shared
 * between request threads and replaced as a whole on reload: it is
 * reference counted, and freed (its secrets zeroed) by the last unref.
 */
#ifndef GETBOT_AUTH_CONFIG_H
#define GETBOT_AUTH_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "auth-jwt.h"
#include "strbuf.h"

#define AUTH_CONFIG_DEFAULT_PATH   "/etc/getbot/auth.json"
#define AUTH_CONFIG_DEFAULT_LISTEN "127.0.0.1:9091"
#define AUTH_CONFIG_MAX_SIZE       (1024 * 1024)

struct auth_bot {
	char *name;    /* owned; a DNS label */
	char **emails; /* owned; lowercased */
	size_t nemails;
};

struct auth_org {
	char *name;    /* owned; a DNS label */
	char *domain;  /* owned; lowercased host name: acme.getbot.run */
	char **emails; /* owned; lowercased; may use every bot */
	size_t nemails;
	struct auth_bot *bots;
	size_t nbots;
};

struct auth_config {
	atomic_uint refs;
	unsigned char signing_key[AUTH_JWT_KEY_BYTES];
	char *code_exchange_secret; /* owned; base64, as in the file */
	char *auth_url;             /* owned; no trailing slash */
	char *listen;               /* owned; HOST:PORT or [HOST]:PORT */
	struct sockaddr_storage listen_addr;
	socklen_t listen_addr_len;
	bool listen_is_loopback;
	struct auth_org *orgs;
	size_t norgs;
};

/*
 * Parse and validate auth.json from a buffer (len bytes). Returns 0 and a
 * config holding one reference, or -1 with every reason in err as
 * "PATH: message" (the first problem found).
 */
int auth_config_parse(const char *json, size_t len, struct auth_config **cfgp,
    struct strbuf *err);
/* The same from a regular file of at most AUTH_CONFIG_MAX_SIZE bytes
 * (file_read); err names the file. */
int auth_config_load(
    const char *path, struct auth_config **cfgp, struct strbuf *err);
struct auth_config *auth_config_ref(struct auth_config *cfg);
/* Drop a reference; the last one frees cfg and zeroes its secrets. */
void auth_config_unref(struct auth_config *cfg);

/* The org whose domain is host (a Host header: case-insensitive, any port
 * ignored), or NULL. */
const struct auth_org *auth_config_find_org(
    const struct auth_config *cfg, const char *host);
/* May email use bot (NULL: no bot) of org? Case-insensitive. */
bool auth_config_allowed(
    const struct auth_org *org, const char *bot, const char *email);

#endif
