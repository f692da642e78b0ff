/* auth.json: loading, validation, lookups. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth-config.h"
#include "auth-json.h"
#include "file.h"
#include "identity.h"
#include "xmalloc.h"

#define AUTH_CONFIG_URL_MAX 512

static void
auth_config_free_emails(char **emails, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(emails[i]);
	free(emails);
}

static void
auth_config_free(struct auth_config *cfg)
{
	size_t i, j;

	sodium_memzero(cfg->signing_key, sizeof(cfg->signing_key));
	if (cfg->code_exchange_secret != NULL)
		sodium_memzero(cfg->code_exchange_secret,
		    strlen(cfg->code_exchange_secret));
	free(cfg->code_exchange_secret);
	free(cfg->auth_url);
	free(cfg->listen);
	for (i = 0; i < cfg->norgs; i++) {
		struct auth_org *org = &cfg->orgs[i];

		free(org->name);
		free(org->domain);
		auth_config_free_emails(org->emails, org->nemails);
		for (j = 0; j < org->nbots; j++) {
			free(org->bots[j].name);
			auth_config_free_emails(
			    org->bots[j].emails, org->bots[j].nemails);
		}
		free(org->bots);
	}
	free(cfg->orgs);
	free(cfg);
}

struct auth_config *
auth_config_ref(struct auth_config *cfg)
{
	atomic_fetch_add(&cfg->refs, 1);
	return cfg;
}

void
auth_config_unref(struct auth_config *cfg)
{
	if (cfg != NULL && atomic_fetch_sub(&cfg->refs, 1) == 1)
		auth_config_free(cfg);
}

static char *
auth_config_lower(const char *s)
{
	char *copy = xstrdup(s);
	size_t i;

	for (i = 0; copy[i] != '\0'; i++)
		copy[i] = (char)tolower((unsigned char)copy[i]);
	return copy;
}

/* Decode standard base64 (padded or not) of min to max bytes into out. */
static int
auth_config_base64(const char *text, unsigned char *out, size_t min, size_t max,
    size_t *out_len)
{
	static const int variants[] = { sodium_base64_VARIANT_ORIGINAL,
		sodium_base64_VARIANT_ORIGINAL_NO_PADDING };
	const char *end;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(variants); i++) {
		if (sodium_base642bin(out, max, text, strlen(text), NULL,
			out_len, &end, variants[i]) == 0 &&
		    *end == '\0' && *out_len >= min)
			return 0;
	}
	return -1;
}

static int
auth_config_secrets(
    struct auth_config *cfg, const cJSON *root, struct strbuf *err)
{
	const cJSON *key =
	    cJSON_GetObjectItemCaseSensitive(root, "signing_key");
	const cJSON *secret =
	    cJSON_GetObjectItemCaseSensitive(root, "code_exchange_secret");
	unsigned char scratch[128];
	size_t len;
	int rc = -1;

	if (!cJSON_IsString(key) ||
	    auth_config_base64(key->valuestring, cfg->signing_key,
		AUTH_JWT_KEY_BYTES, AUTH_JWT_KEY_BYTES, &len) != 0) {
		strbuf_addstr(
		    err, "signing_key: must be the base64 of 32 bytes");
		goto out;
	}
	if (!cJSON_IsString(secret) ||
	    auth_config_base64(
		secret->valuestring, scratch, 32, sizeof(scratch), &len) != 0) {
		strbuf_addstr(err,
		    "code_exchange_secret: must be the base64 of "
		    "32 to 128 bytes");
		goto out;
	}
	cfg->code_exchange_secret = xstrdup(secret->valuestring);
	rc = 0;
out:
	sodium_memzero(scratch, sizeof(scratch));
	return rc;
}

static bool
auth_config_is_loopback_host(const char *host, size_t len)
{
	return (len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
	       (len == 9 && strncmp(host, "127.0.0.1", 9) == 0) ||
	       (len == 5 && strncmp(host, "[::1]", 5) == 0);
}

/* auth_url: https://HOST[:PORT][/PATH] (http only on a loopback host), no
 * user, query or fragment; stored without a trailing slash. */
static int
auth_config_url(struct auth_config *cfg, const cJSON *item, struct strbuf *err)
{
	static const char path_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "abcdefghijklmnopqrstuvwxyz"
					 "0123456789-._~%!$&'()*+,;=:@/";
	const char *url, *host, *port, *path;
	size_t host_len, len;
	bool https;

	if (!cJSON_IsString(item)) {
		strbuf_addstr(err, "auth_url: required, a URL");
		return -1;
	}
	url = item->valuestring;
	https = strncmp(url, "https://", 8) == 0;
	if (strlen(url) > AUTH_CONFIG_URL_MAX ||
	    (!https && strncmp(url, "http://", 7) != 0)) {
		strbuf_addstr(err, "auth_url: must be an https:// URL");
		return -1;
	}
	host = url + (https ? 8 : 7);
	path = host + strcspn(host, "/");
	if (strncmp(host, "[::1]", 5) == 0) {
		/* the one IPv6 host accepted: loopback, for tests */
		port = host[5] == ':' ? host + 5 : NULL;
		host_len = 5;
		if (port == NULL && host + 5 != path) {
			strbuf_addstr(err, "auth_url: the host is not valid");
			return -1;
		}
	} else {
		char *name;
		struct in_addr v4;
		bool good;

		port = memchr(host, ':', (size_t)(path - host));
		host_len = (size_t)((port != NULL ? port : path) - host);
		name = xstrndup(host, host_len);
		good = identity_is_hostname(name) ||
		       strcmp(name, "localhost") == 0 ||
		       inet_pton(AF_INET, name, &v4) == 1;
		free(name);
		if (!good) {
			strbuf_addstr(err, "auth_url: the host is not valid");
			return -1;
		}
	}
	if (port != NULL) {
		len = (size_t)(path - port - 1);
		if (len == 0 || len > 5 ||
		    strspn(port + 1, "0123456789") < len) {
			strbuf_addstr(err, "auth_url: the port is not valid");
			return -1;
		}
	}
	if (strspn(path, path_chars) != strlen(path)) {
		strbuf_addstr(err, "auth_url: must have no query, fragment "
				   "or unusual character");
		return -1;
	}
	if (!https && !auth_config_is_loopback_host(host, host_len)) {
		strbuf_addstr(err, "auth_url: must be https (http is accepted "
				   "only on a loopback host)");
		return -1;
	}
	len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		len--;
	cfg->auth_url = xstrndup(url, len);
	return 0;
}

/* listen: IPV4:PORT or [IPV6]:PORT, numeric. */
static int
auth_config_listen(
    struct auth_config *cfg, const cJSON *item, struct strbuf *err)
{
	const char *listen = AUTH_CONFIG_DEFAULT_LISTEN, *colon;
	char *host = NULL;
	unsigned long port;
	char *end;
	int rc = -1;

	if (item != NULL) {
		if (!cJSON_IsString(item)) {
			strbuf_addstr(err, "listen: must be a string");
			goto out;
		}
		listen = item->valuestring;
	}
	colon = strrchr(listen, ':');
	if (colon == NULL || colon == listen || colon[1] == '\0' ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strlen(colon + 1) > 5)
		goto bad;
	port = strtoul(colon + 1, &end, 10);
	if (port == 0 || port > 65535)
		goto bad;
	memset(&cfg->listen_addr, 0, sizeof(cfg->listen_addr));
	if (listen[0] == '[') {
		struct sockaddr_in6 *sin6 =
		    (struct sockaddr_in6 *)&cfg->listen_addr;

		if (colon[-1] != ']')
			goto bad;
		host = xstrndup(listen + 1, (size_t)(colon - listen - 2));
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			goto bad;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		cfg->listen_addr_len = sizeof(*sin6);
		cfg->listen_is_loopback =
		    IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	} else {
		struct sockaddr_in *sin =
		    (struct sockaddr_in *)&cfg->listen_addr;

		host = xstrndup(listen, (size_t)(colon - listen));
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			goto bad;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		cfg->listen_addr_len = sizeof(*sin);
		cfg->listen_is_loopback =
		    (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	cfg->listen = xstrdup(listen);
	rc = 0;
	goto out;
bad:
	strbuf_addstr(err, "listen: must be IPV4:PORT or [IPV6]:PORT");
out:
	free(host);
	return rc;
}

/* An optional list of emails: valid, unique, stored lowercased. */
static int
auth_config_emails(const cJSON *item, const char *where, char ***emailsp,
    size_t *np, struct strbuf *err)
{
	const cJSON *email;
	size_t i;

	*emailsp = NULL;
	*np = 0;
	if (item == NULL)
		return 0;
	if (!cJSON_IsArray(item)) {
		strbuf_addf(err, "%s.emails: must be a list of emails", where);
		return -1;
	}
	*emailsp =
	    xcalloc((size_t)cJSON_GetArraySize(item) + 1, sizeof(char *));
	cJSON_ArrayForEach (email, item) {
		if (!cJSON_IsString(email) ||
		    !identity_is_email(email->valuestring)) {
			strbuf_addf(err,
			    "%s.emails[%zu]: not a valid email "
			    "address",
			    where, *np);
			return -1;
		}
		for (i = 0; i < *np; i++) {
			if (strcasecmp((*emailsp)[i], email->valuestring) ==
			    0) {
				strbuf_addf(err,
				    "%s.emails[%zu]: '%s' is listed twice",
				    where, *np, email->valuestring);
				return -1;
			}
		}
		(*emailsp)[(*np)++] = auth_config_lower(email->valuestring);
	}
	return 0;
}

static int
auth_config_bots(struct auth_org *org, const cJSON *item, const char *where,
    struct strbuf *err)
{
	static const char *const keys[] = { "emails", NULL };
	struct strbuf path = STRBUF_INIT;
	const cJSON *bot;
	int rc = -1;

	if (item == NULL)
		return 0;
	strbuf_addf(&path, "%s.bots", where);
	if (!cJSON_IsObject(item)) {
		strbuf_addf(err, "%s: must be an object of bots", path.buf);
		goto out;
	}
	org->bots =
	    xcalloc((size_t)cJSON_GetArraySize(item) + 1, sizeof(*org->bots));
	cJSON_ArrayForEach (bot, item) {
		struct auth_bot *b = &org->bots[org->nbots];
		size_t i;

		strbuf_reset(&path);
		strbuf_addf(&path, "%s.bots.%.63s", where, bot->string);
		if (!identity_is_dns_label(bot->string)) {
			strbuf_addf(err, "%s: a bot's name must be a DNS label",
			    path.buf);
			goto out;
		}
		for (i = 0; i < org->nbots; i++) {
			if (strcmp(org->bots[i].name, bot->string) == 0) {
				strbuf_addf(err, "%s: duplicate bot", path.buf);
				goto out;
			}
		}
		if (!cJSON_IsObject(bot)) {
			strbuf_addf(err, "%s: must be an object", path.buf);
			goto out;
		}
		if (auth_json_check_keys(bot, keys, path.buf, err) != 0)
			goto out;
		b->name = xstrdup(bot->string);
		org->nbots++;
		if (auth_config_emails(
			cJSON_GetObjectItemCaseSensitive(bot, "emails"),
			path.buf, &b->emails, &b->nemails, err) != 0)
			goto out;
	}
	rc = 0;
out:
	strbuf_release(&path);
	return rc;
}

static int
auth_config_orgs(struct auth_config *cfg, const cJSON *item, struct strbuf *err)
{
	static const char *const keys[] = { "domain", "emails", "bots", NULL };
	struct strbuf path = STRBUF_INIT;
	const cJSON *org, *domain;
	int rc = -1;
	size_t i;

	if (!cJSON_IsObject(item)) {
		strbuf_addstr(err, "orgs: required, an object of orgs");
		goto out;
	}
	cfg->orgs =
	    xcalloc((size_t)cJSON_GetArraySize(item) + 1, sizeof(*cfg->orgs));
	cJSON_ArrayForEach (org, item) {
		struct auth_org *o = &cfg->orgs[cfg->norgs];

		strbuf_reset(&path);
		strbuf_addf(&path, "orgs.%.63s", org->string);
		if (!identity_is_dns_label(org->string)) {
			strbuf_addf(err,
			    "%s: an org's name must be a DNS label", path.buf);
			goto out;
		}
		if (!cJSON_IsObject(org)) {
			strbuf_addf(err, "%s: must be an object", path.buf);
			goto out;
		}
		if (auth_json_check_keys(org, keys, path.buf, err) != 0)
			goto out;
		domain = cJSON_GetObjectItemCaseSensitive(org, "domain");
		if (!cJSON_IsString(domain) ||
		    !identity_is_hostname(domain->valuestring)) {
			strbuf_addf(
			    err, "%s.domain: required, a host name", path.buf);
			goto out;
		}
		for (i = 0; i < cfg->norgs; i++) {
			if (strcmp(cfg->orgs[i].name, org->string) == 0) {
				strbuf_addf(err, "%s: duplicate org", path.buf);
				goto out;
			}
			if (strcasecmp(cfg->orgs[i].domain,
				domain->valuestring) == 0) {
				strbuf_addf(err,
				    "%s.domain: '%s' is also the domain of "
				    "org '%s'",
				    path.buf, domain->valuestring,
				    cfg->orgs[i].name);
				goto out;
			}
		}
		o->name = xstrdup(org->string);
		o->domain = auth_config_lower(domain->valuestring);
		cfg->norgs++;
		if (auth_config_emails(
			cJSON_GetObjectItemCaseSensitive(org, "emails"),
			path.buf, &o->emails, &o->nemails, err) != 0)
			goto out;
		if (auth_config_bots(o,
			cJSON_GetObjectItemCaseSensitive(org, "bots"), path.buf,
			err) != 0)
			goto out;
	}
	rc = 0;
out:
	strbuf_release(&path);
	return rc;
}

/* Overwrite the secrets' copies inside a parsed tree. */
static void
auth_config_wipe_tree(cJSON *root)
{
	static const char *const names[] = { "signing_key",
		"code_exchange_secret" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		cJSON *item = cJSON_GetObjectItemCaseSensitive(root, names[i]);

		if (cJSON_IsString(item))
			sodium_memzero(
			    item->valuestring, strlen(item->valuestring));
	}
}

int
auth_config_parse(
    const char *json, size_t len, struct auth_config **cfgp, struct strbuf *err)
{
	static const char *const keys[] = { "version", "signing_key",
		"code_exchange_secret", "auth_url", "listen", "orgs", NULL };
	struct auth_config *cfg = xcalloc(1, sizeof(*cfg));
	const cJSON *version;
	cJSON *root = NULL;
	int rc = -1;

	*cfgp = NULL;
	atomic_init(&cfg->refs, 1);
	if (len > AUTH_CONFIG_MAX_SIZE) {
		strbuf_addf(err, "larger than %d bytes", AUTH_CONFIG_MAX_SIZE);
		goto out;
	}
	root = auth_json_parse(json, len, err);
	if (root == NULL)
		goto out;
	if (!cJSON_IsObject(root)) {
		strbuf_addstr(err, "must be a JSON object");
		goto out;
	}
	if (auth_json_check_keys(root, keys, "", err) != 0)
		goto out;
	version = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (!cJSON_IsNumber(version) || version->valuedouble != 1) {
		strbuf_addstr(err, "version: must be 1");
		goto out;
	}
	if (auth_config_secrets(cfg, root, err) != 0 ||
	    auth_config_url(cfg,
		cJSON_GetObjectItemCaseSensitive(root, "auth_url"), err) != 0 ||
	    auth_config_listen(cfg,
		cJSON_GetObjectItemCaseSensitive(root, "listen"), err) != 0 ||
	    auth_config_orgs(
		cfg, cJSON_GetObjectItemCaseSensitive(root, "orgs"), err) != 0)
		goto out;
	*cfgp = cfg;
	cfg = NULL;
	rc = 0;
out:
	if (root != NULL)
		auth_config_wipe_tree(root);
	cJSON_Delete(root);
	auth_config_unref(cfg);
	return rc;
}

int
auth_config_load(
    const char *path, struct auth_config **cfgp, struct strbuf *err)
{
	struct strbuf content = STRBUF_INIT, why = STRBUF_INIT;
	int rc;

	*cfgp = NULL;
	/* one allocation: no stray copies of the keys left by a realloc */
	strbuf_init(&content, AUTH_CONFIG_MAX_SIZE + 1);
	rc = file_read(path, AUTH_CONFIG_MAX_SIZE, &content, NULL, &why);
	if (rc == FILE_MISSING)
		strbuf_addf(err, "%s: cannot open: %s", path, strerror(ENOENT));
	else if (rc != 0)
		strbuf_addstr(err, why.buf); /* it names the path */
	else {
		rc = auth_config_parse(content.buf, content.len, cfgp, &why);
		if (rc != 0)
			strbuf_addf(err, "%s: %s", path, why.buf);
	}
	if (rc != 0)
		rc = -1;
	sodium_memzero(content.buf, content.alloc);
	strbuf_release(&content);
	strbuf_release(&why);
	return rc;
}

const struct auth_org *
auth_config_find_org(const struct auth_config *cfg, const char *host)
{
	size_t len, i;
	const char *colon;

	if (host == NULL || host[0] == '[')
		return NULL;
	len = strlen(host);
	colon = strchr(host, ':');
	if (colon != NULL) {
		/* only a port may follow the name */
		if (colon[1] == '\0' ||
		    strspn(colon + 1, "0123456789") != strlen(colon + 1))
			return NULL;
		len = (size_t)(colon - host);
	}
	for (i = 0; i < cfg->norgs; i++) {
		const char *domain = cfg->orgs[i].domain;

		if (strlen(domain) == len &&
		    strncasecmp(domain, host, len) == 0)
			return &cfg->orgs[i];
	}
	return NULL;
}

static bool
auth_config_listed(char *const *emails, size_t n, const char *email)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(emails[i], email) == 0)
			return true;
	return false;
}

bool
auth_config_allowed(
    const struct auth_org *org, const char *bot, const char *email)
{
	size_t i;

	if (email == NULL)
		return false;
	if (auth_config_listed(org->emails, org->nemails, email))
		return true;
	if (bot == NULL)
		return false;
	for (i = 0; i < org->nbots; i++)
		if (strcmp(org->bots[i].name, bot) == 0)
			return auth_config_listed(
			    org->bots[i].emails, org->bots[i].nemails, email);
	return false;
}
