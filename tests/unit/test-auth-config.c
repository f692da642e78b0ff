/* auth.json: what getbot-auth accepts, what it refuses and why, and the
 * lookups of org by host and of email by org and bot. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth-config.h"
#include "strbuf.h"
#include "tap.h"
#include "xmalloc.h"

/* 32 bytes, in base64 */
#define KEY    "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s="
#define SECRET "c3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3M="

/* A whole config with one part replaced: the top level's keys after
 * version, and the orgs object. */
static char *
config_json(const char *top, const char *orgs)
{
	return xasprintf("{\"version\": 1, %s, \"orgs\": %s}",
	    top != NULL ? top
			: "\"signing_key\": \"" KEY "\", "
			  "\"code_exchange_secret\": \"" SECRET "\", "
			  "\"auth_url\": \"https://auth.getbot.run/\"",
	    orgs != NULL ? orgs
			 : "{\"acme\": {\"domain\": \"Acme.getbot.run\", "
			   "\"emails\": [\"Alice@acme.com\"], "
			   "\"bots\": {\"marketing\": {\"emails\": "
			   "[\"bob@acme.com\"]}, \"research\": {}}}, "
			   "\"globex\": {\"domain\": \"globex.example\"}}");
}

static struct auth_config *
parse_ok(const char *json, const char *what)
{
	struct auth_config *cfg = NULL;
	struct strbuf err = STRBUF_INIT;
	int rc = auth_config_parse(json, strlen(json), &cfg, &err);

	is_int(rc, 0, "%s is accepted (%s)", what, err.buf);
	strbuf_release(&err);
	return cfg;
}

static void
expect_refused(const char *json, const char *message, const char *what)
{
	struct auth_config *cfg = NULL;
	struct strbuf err = STRBUF_INIT;
	int rc = auth_config_parse(json, strlen(json), &cfg, &err);

	is_int(rc, -1, "%s is refused", what);
	ok(cfg == NULL, "%s: no config", what);
	is_str(err.buf, message, "%s: the reason", what);
	strbuf_release(&err);
}

static void
expect_top_refused(const char *top, const char *message, const char *what)
{
	char *json = config_json(top, NULL);

	expect_refused(json, message, what);
	free(json);
}

static void
expect_orgs_refused(const char *orgs, const char *message, const char *what)
{
	char *json = config_json(NULL, orgs);

	expect_refused(json, message, what);
	free(json);
}

static void
test_auth_config__the_documented_example_loads(void)
{
	char *json = config_json(NULL, NULL);
	struct auth_config *cfg = parse_ok(json, "the CONFIG.md example");
	const struct sockaddr_in *sin;
	unsigned char want[AUTH_JWT_KEY_BYTES];

	if (cfg == NULL) {
		free(json);
		return;
	}
	memset(want, 'k', sizeof(want));
	ok(memcmp(cfg->signing_key, want, sizeof(want)) == 0,
	    "the signing key is decoded");
	is_str(cfg->code_exchange_secret, SECRET,
	    "the code-exchange secret is kept as written");
	is_str(cfg->auth_url, "https://auth.getbot.run",
	    "auth_url loses its trailing slash");
	is_str(cfg->listen, "127.0.0.1:9091", "listen defaults to loopback");
	sin = (const struct sockaddr_in *)&cfg->listen_addr;
	ok(sin->sin_family == AF_INET && ntohs(sin->sin_port) == 9091 &&
		ntohl(sin->sin_addr.s_addr) == 0x7f000001,
	    "as an address");
	ok(cfg->listen_is_loopback, "which is loopback");
	is_int(cfg->norgs, 2, "two orgs");
	is_str(
	    cfg->orgs[0].domain, "acme.getbot.run", "domains are lowercased");
	is_str(
	    cfg->orgs[0].emails[0], "alice@acme.com", "emails are lowercased");
	is_int(cfg->orgs[0].nbots, 2, "two bots");
	is_int(cfg->orgs[0].bots[1].nemails, 0, "a bot may list no one");
	is_int(cfg->orgs[1].nemails, 0, "an org may list no one");
	auth_config_unref(cfg);
	free(json);
}

static void
test_auth_config__listen(void)
{
	char *json;
	struct auth_config *cfg;

	json = config_json("\"signing_key\": \"" KEY "\", "
			   "\"code_exchange_secret\": \"" SECRET "\", "
			   "\"auth_url\": \"http://127.0.0.1:8080/x\", "
			   "\"listen\": \"[::1]:9092\"",
	    NULL);
	cfg = parse_ok(json, "IPv6 loopback and an http auth_url on loopback");
	if (cfg != NULL) {
		ok(cfg->listen_addr.ss_family == AF_INET6 &&
			cfg->listen_is_loopback,
		    "[::1] is loopback IPv6");
		is_str(cfg->auth_url, "http://127.0.0.1:8080/x",
		    "auth_url keeps its path");
	}
	auth_config_unref(cfg);
	free(json);
	json = config_json("\"signing_key\": \"" KEY "\", "
			   "\"code_exchange_secret\": \"" SECRET "\", "
			   "\"auth_url\": \"https://auth.getbot.run\", "
			   "\"listen\": \"10.199.0.1:9091\"",
	    NULL);
	cfg = parse_ok(json, "a private address");
	if (cfg != NULL)
		ok(!cfg->listen_is_loopback, "is not taken for loopback");
	auth_config_unref(cfg);
	free(json);

	expect_top_refused("\"signing_key\": \"" KEY "\", "
			   "\"code_exchange_secret\": \"" SECRET "\", "
			   "\"auth_url\": \"https://a.example\", "
			   "\"listen\": \"localhost:9091\"",
	    "listen: must be IPV4:PORT or [IPV6]:PORT",
	    "a host name to listen on");
	expect_top_refused("\"signing_key\": \"" KEY "\", "
			   "\"code_exchange_secret\": \"" SECRET "\", "
			   "\"auth_url\": \"https://a.example\", "
			   "\"listen\": \"127.0.0.1:70000\"",
	    "listen: must be IPV4:PORT or [IPV6]:PORT", "a port over 65535");
	expect_top_refused("\"signing_key\": \"" KEY "\", "
			   "\"code_exchange_secret\": \"" SECRET "\", "
			   "\"auth_url\": \"https://a.example\", "
			   "\"listen\": \"127.0.0.1\"",
	    "listen: must be IPV4:PORT or [IPV6]:PORT", "no port");
	expect_top_refused("\"signing_key\": \"" KEY "\", "
			   "\"code_exchange_secret\": \"" SECRET "\", "
			   "\"auth_url\": \"https://a.example\", "
			   "\"listen\": \"::1:9091\"",
	    "listen: must be IPV4:PORT or [IPV6]:PORT",
	    "IPv6 without brackets");
}

static void
test_auth_config__secrets(void)
{
	static const char *const bad_keys[] = {
		"a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s",  /* unpadded: ok
								 */
		"a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tr", /* 33 bytes */
		"a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2==", /* 31 bytes */
		"not base64 at all!",
		"a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=\n",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad_keys); i++) {
		char *top = xasprintf("\"signing_key\": \"%s\", "
				      "\"code_exchange_secret\": \"" SECRET
				      "\", \"auth_url\": \"https://a.example\"",
		    bad_keys[i]);
		char *json = config_json(top, NULL);
		struct auth_config *cfg = NULL;
		struct strbuf err = STRBUF_INIT;
		int rc = auth_config_parse(json, strlen(json), &cfg, &err);

		if (i == 0)
			is_int(rc, 0, "an unpadded signing key is accepted");
		else {
			is_str(err.buf,
			    "signing_key: must be the base64 of 32 bytes",
			    "signing key %zu is refused, without its value", i);
		}
		auth_config_unref(cfg);
		strbuf_release(&err);
		free(json);
		free(top);
	}
	expect_top_refused("\"signing_key\": \"" KEY "\", "
			   "\"code_exchange_secret\": \"c2hvcnQ=\", "
			   "\"auth_url\": \"https://a.example\"",
	    "code_exchange_secret: must be the base64 of 32 to 128 bytes",
	    "a short code-exchange secret");
	expect_top_refused("\"signing_key\": \"" KEY "\", "
			   "\"auth_url\": \"https://a.example\"",
	    "code_exchange_secret: must be the base64 of 32 to 128 bytes",
	    "a missing code-exchange secret");
	expect_top_refused("\"signing_key\": 42, "
			   "\"code_exchange_secret\": \"" SECRET "\", "
			   "\"auth_url\": \"https://a.example\"",
	    "signing_key: must be the base64 of 32 bytes",
	    "a signing key that is not a string");
}

static void
test_auth_config__auth_url(void)
{
	static const struct {
		const char *url;
		const char *message;
	} cases[] = {
		{ "http://auth.getbot.run",
		    "auth_url: must be https (http is accepted only on a "
		    "loopback host)" },
		{ "ftp://auth.getbot.run",
		    "auth_url: must be an https:// URL" },
		{ "auth.getbot.run", "auth_url: must be an https:// URL" },
		{ "https://auth.getbot.run/?next=x",
		    "auth_url: must have no query, fragment or unusual "
		    "character" },
		{ "https://auth.getbot.run/#x",
		    "auth_url: must have no query, fragment or unusual "
		    "character" },
		{ "https://auth.getbot.run/a b",
		    "auth_url: must have no query, fragment or unusual "
		    "character" },
		{ "https://auth.getbot.run/\\r\\nX: y",
		    "auth_url: must have no query, fragment or unusual "
		    "character" },
		{ "https://user@auth.getbot.run",
		    "auth_url: the host is not valid" },
		{ "https://", "auth_url: the host is not valid" },
		{ "https://auth.getbot.run:",
		    "auth_url: the port is not valid" },
		{ "https://auth.getbot.run:12a",
		    "auth_url: the port is not valid" },
		{ "https://[::2]/", "auth_url: the host is not valid" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char *top = xasprintf("\"signing_key\": \"" KEY "\", "
				      "\"code_exchange_secret\": \"" SECRET
				      "\", \"auth_url\": \"%s\"",
		    cases[i].url);

		expect_top_refused(top, cases[i].message, cases[i].url);
		free(top);
	}
	expect_top_refused("\"signing_key\": \"" KEY "\", "
			   "\"code_exchange_secret\": \"" SECRET "\"",
	    "auth_url: required, a URL", "a missing auth_url");
}

static void
test_auth_config__structure(void)
{
	expect_refused(
	    "", "not valid JSON at line 1, column 1", "an empty file");
	expect_refused("{\"version\": 1,\n  \"orgs\": }",
	    "not valid JSON at line 2, column 11",
	    "broken JSON, with its place");
	expect_refused("{\"version\": 1} {}",
	    "not valid JSON at line 1, column 16", "a second value");
	expect_refused("[]", "must be a JSON object", "an array");
	expect_refused("{\"version\": 2}", "version: must be 1", "version 2");
	expect_refused("{\"version\": 1, \"versoin\": 1}",
	    "unknown key 'versoin'", "an unknown key");
	expect_refused("{\"version\": 1, \"version\": 1}",
	    "duplicate key 'version'", "a key given twice");
	expect_top_refused("\"signing_key\": \"" KEY "\", "
			   "\"code_exchange_secret\": \"" SECRET "\", "
			   "\"auth_url\": \"https://a.example\", \"orgs\": {}",
	    "duplicate key 'orgs'", "orgs given twice");
	{
		struct strbuf big = STRBUF_INIT;
		struct auth_config *cfg = NULL;
		struct strbuf err = STRBUF_INIT;

		strbuf_addch(&big, '{');
		while (big.len <= AUTH_CONFIG_MAX_SIZE)
			strbuf_addch(&big, ' ');
		strbuf_addch(&big, '}');
		is_int(auth_config_parse(big.buf, big.len, &cfg, &err), -1,
		    "a config over 1 MiB is refused");
		is_str(err.buf, "larger than 1048576 bytes", "and says so");
		strbuf_release(&big);
		strbuf_release(&err);
	}
}

static void
test_auth_config__orgs(void)
{
	expect_orgs_refused(
	    "[]", "orgs: required, an object of orgs", "orgs as a list");
	expect_orgs_refused("{\"Acme\": {\"domain\": \"a.example\"}}",
	    "orgs.Acme: an org's name must be a DNS label", "an org name");
	expect_orgs_refused("{\"acme\": {}}",
	    "orgs.acme.domain: required, a host name", "a missing domain");
	expect_orgs_refused("{\"acme\": {\"domain\": \"localhost\"}}",
	    "orgs.acme.domain: required, a host name", "a one-label domain");
	expect_orgs_refused("{\"acme\": {\"domain\": \"a.example:443\"}}",
	    "orgs.acme.domain: required, a host name", "a domain with a port");
	expect_orgs_refused("{\"acme\": {\"domain\": \"a.example\"}, "
			    "\"acme2\": {\"domain\": \"A.example\"}}",
	    "orgs.acme2.domain: 'A.example' is also the domain of org 'acme'",
	    "a domain served twice");
	expect_orgs_refused("{\"acme\": {\"domain\": \"a.example\"}, "
			    "\"acme\": {\"domain\": \"b.example\"}}",
	    "orgs.acme: duplicate org", "an org given twice");
	expect_orgs_refused("{\"acme\": {\"domain\": \"a.example\", "
			    "\"emails\": \"alice@acme.com\"}}",
	    "orgs.acme.emails: must be a list of emails", "emails as a string");
	expect_orgs_refused("{\"acme\": {\"domain\": \"a.example\", "
			    "\"emails\": [\"alice@acme.com\", \"alice\"]}}",
	    "orgs.acme.emails[1]: not a valid email address", "a bad email");
	expect_orgs_refused("{\"acme\": {\"domain\": \"a.example\", "
			    "\"emails\": [\"alice@acme.com\", "
			    "\"ALICE@acme.com\"]}}",
	    "orgs.acme.emails[1]: 'ALICE@acme.com' is listed twice",
	    "an email listed twice, in another case");
	expect_orgs_refused("{\"acme\": {\"domain\": \"a.example\", "
			    "\"owner\": \"alice@acme.com\"}}",
	    "orgs.acme: unknown key 'owner'", "an unknown org key");
	expect_orgs_refused("{\"acme\": {\"domain\": \"a.example\", "
			    "\"bots\": {\"Team\": {}}}}",
	    "orgs.acme.bots.Team: a bot's name must be a DNS label",
	    "a bot name");
	expect_orgs_refused("{\"acme\": {\"domain\": \"a.example\", "
			    "\"bots\": {\"t\": {\"emails\": [1]}}}}",
	    "orgs.acme.bots.t.emails[0]: not a valid email address",
	    "a bot's bad email");
	expect_orgs_refused("{\"acme\": {\"domain\": \"a.example\", "
			    "\"bots\": {\"t\": {\"persona\": \"x\"}}}}",
	    "orgs.acme.bots.t: unknown key 'persona'", "an unknown bot key");
	expect_orgs_refused("{\"acme\": {\"domain\": \"a.example\", "
			    "\"bots\": {\"t\": {}, \"t\": {}}}}",
	    "orgs.acme.bots.t: duplicate bot", "a bot given twice");
}

static void
test_auth_config__lookups(void)
{
	char *json = config_json(NULL, NULL);
	struct auth_config *cfg = parse_ok(json, "the example");
	const struct auth_org *acme;

	if (cfg == NULL) {
		free(json);
		return;
	}
	acme = auth_config_find_org(cfg, "acme.getbot.run");
	ok(acme != NULL && strcmp(acme->name, "acme") == 0,
	    "an org is found by its domain");
	ok(auth_config_find_org(cfg, "ACME.GetBot.run") == acme, "in any case");
	ok(auth_config_find_org(cfg, "acme.getbot.run:8443") == acme,
	    "with a port");
	ok(auth_config_find_org(cfg, "acme.getbot.run:") == NULL,
	    "not with an empty port");
	ok(auth_config_find_org(cfg, "acme.getbot.run:x@evil") == NULL,
	    "not with junk after the name");
	ok(auth_config_find_org(cfg, "acme.getbot.run.evil.com") == NULL,
	    "not as a prefix");
	ok(auth_config_find_org(cfg, "x.acme.getbot.run") == NULL,
	    "not as a suffix");
	ok(auth_config_find_org(cfg, "[::1]:80") == NULL, "not for [::1]");
	ok(auth_config_find_org(cfg, "") == NULL, "not for nothing");
	ok(auth_config_find_org(cfg, NULL) == NULL, "not without a host");

	ok(auth_config_allowed(acme, NULL, "alice@acme.com"),
	    "an org-level email may use the org");
	ok(auth_config_allowed(acme, "research", "ALICE@ACME.COM"),
	    "and every bot, in any case");
	ok(auth_config_allowed(acme, "marketing", "bob@acme.com"),
	    "a bot-level email may use its bot");
	ok(!auth_config_allowed(acme, "research", "bob@acme.com"),
	    "but not another bot");
	ok(!auth_config_allowed(acme, NULL, "bob@acme.com"),
	    "nor the org without a bot");
	ok(!auth_config_allowed(acme, "unknown", "bob@acme.com"),
	    "nor a bot that is not listed");
	ok(!auth_config_allowed(acme, "marketing", "eve@acme.com"),
	    "an email on no list may use nothing");
	ok(!auth_config_allowed(acme, "marketing", NULL), "nor may no email");
	auth_config_unref(cfg);
	free(json);
}

static void
test_auth_config__references(void)
{
	char *json = config_json(NULL, NULL);
	struct auth_config *cfg = parse_ok(json, "the example");

	if (cfg != NULL) {
		auth_config_ref(cfg);
		auth_config_unref(cfg);
		is_str(cfg->orgs[0].name, "acme",
		    "a config lives while a reference is held");
		auth_config_unref(cfg); /* the last: freed, as ASan checks */
	}
	free(json);
}

static void
test_auth_config__files(void)
{
	char path[] = "/tmp/getbot-test-auth.XXXXXX";
	struct auth_config *cfg = NULL;
	struct strbuf err = STRBUF_INIT;
	char *json = config_json(NULL, NULL);
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	fputs(json, f);
	fclose(f);
	is_int(auth_config_load(path, &cfg, &err), 0, "a file loads (%s)",
	    err.buf);
	auth_config_unref(cfg);
	f = fopen(path, "w");
	fputs("{\"version\": 1, \"orgs\": [", f);
	fclose(f);
	strbuf_reset(&err);
	is_int(
	    auth_config_load(path, &cfg, &err), -1, "a broken file does not");
	ok(strncmp(err.buf, path, strlen(path)) == 0 &&
		strstr(err.buf, ": not valid JSON at line 1") != NULL,
	    "and the reason starts with its name (got '%s')", err.buf);
	unlink(path);
	strbuf_reset(&err);
	is_int(auth_config_load(path, &cfg, &err), -1, "a missing file fails");
	ok(strstr(err.buf, ": cannot open: No such file or directory") != NULL,
	    "and says so (got '%s')", err.buf);
	strbuf_release(&err);
	free(json);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 99;
	test_auth_config__the_documented_example_loads();
	test_auth_config__listen();
	test_auth_config__secrets();
	test_auth_config__auth_url();
	test_auth_config__structure();
	test_auth_config__orgs();
	test_auth_config__lookups();
	test_auth_config__references();
	test_auth_config__files();
	return tap_done();
}
