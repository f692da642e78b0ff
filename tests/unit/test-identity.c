/* Identity derivation: org from owner email, and every derived name. */
#include "config.h"

#include <stdlib.h>

#include "identity.h"
#include "strbuf.h"
#include "tap.h"

static void
expect_org(const char *email, const char *want)
{
	struct strbuf err = STRBUF_INIT;
	char *org = NULL;
	int rc = identity_org_from_email(email, &org, &err);

	is_int(rc, 0, "org_from_email('%s') succeeds", email);
	is_str(org, want, "'%s' derives org '%s'", email, want);
	free(org);
	strbuf_release(&err);
}

static void
expect_no_org(const char *email, const char *reason_part)
{
	struct strbuf err = STRBUF_INIT;
	char *org = NULL;
	int rc = identity_org_from_email(email, &org, &err);

	is_int(rc, -1, "org_from_email('%s') fails", email);
	ok(org == NULL, "no org for '%s'", email);
	ok(strstr(err.buf, reason_part) != NULL,
	    "the reason for '%s' says '%s' (got '%s')", email, reason_part,
	    err.buf);
	strbuf_release(&err);
}

static void
test_identity__org_is_first_label_of_registrable_domain(void)
{
	expect_org("alice@acme.com", "acme");
	expect_org("alice@mail.acme.com", "acme");
	expect_org("carol@research.example", "research");
	expect_org("a@b.c.d.acme.io", "acme");
}

static void
test_identity__multi_label_public_suffixes(void)
{
	expect_org("hank@globex.co.uk", "globex");
	expect_org("hank@mail.globex.co.uk", "globex");
	expect_org("x@foo.com.au", "foo");
	/* *.kobe.jp is a wildcard rule with the exception !city.kobe.jp */
	expect_org("x@city.kobe.jp", "city");
	expect_no_org("x@shop.kobe.jp", "public suffix");
	/* private-section suffixes count too: github.io is one */
	expect_org("me@alice.github.io", "alice");
}

static void
test_identity__domain_is_lowercased(void)
{
	expect_org("Alice@ACME.Com", "acme");
}

static void
test_identity__public_suffix_is_not_an_org(void)
{
	expect_no_org("bob@co.uk", "public suffix");
	expect_no_org("bob@com.au", "public suffix");
}

static void
test_identity__invalid_emails_are_refused(void)
{
	expect_no_org("not-an-email", "not a valid email");
	expect_no_org("a@localhost", "not a valid email");
	expect_no_org("a@@acme.com", "not a valid email");
}

static void
test_identity__email_syntax(void)
{
	ok(identity_is_email("alice@acme.com"), "plain address");
	ok(identity_is_email("a.b+tag@sub.acme.co.uk"), "dots and plus");
	ok(!identity_is_email("a..b@acme.com"), "consecutive dots refused");
	ok(!identity_is_email(".a@acme.com"), "leading dot refused");
	ok(!identity_is_email("a@acme"), "single-label domain refused");
	ok(!identity_is_email("a@-acme.com"), "label starting with - refused");
	ok(!identity_is_email("a@acme.123"), "numeric TLD refused");
	ok(!identity_is_email("a b@acme.com"), "space refused");
	ok(!identity_is_email("@acme.com"), "empty local part refused");
	ok(!identity_is_email("a@"), "empty domain refused");
}

static void
test_identity__dns_labels(void)
{
	ok(identity_is_dns_label("acme"), "acme");
	ok(identity_is_dns_label("a-1"), "a-1");
	ok(identity_is_dns_label("0"), "single digit");
	ok(!identity_is_dns_label("Acme"), "uppercase refused");
	ok(!identity_is_dns_label("-a"), "leading - refused");
	ok(!identity_is_dns_label("a-"), "trailing - refused");
	ok(!identity_is_dns_label(""), "empty refused");
	ok(!identity_is_dns_label("a_b"), "underscore refused");
	ok(identity_is_dns_label("a23456789012345678901234567890123456789012345"
				 "678901234567890123"),
	    "63 characters");
	ok(!identity_is_dns_label("a2345678901234567890123456789012345678901234"
				  "56789012345678901234"),
	    "64 characters refused");
}

static void
test_identity__derived_names(void)
{
	char *s;

	is_str(s = identity_org_domain("acme", NULL), "acme.getbot.run",
	    "default domain");
	free(s);
	is_str(s = identity_org_domain("acme", "bots.example.org"),
	    "acme.bots.example.org", "configured domain");
	free(s);
	is_str(s = identity_team_path("marketing"), "/marketing", "team path");
	free(s);
	is_str(s = identity_bot_url("acme", NULL, "marketing"),
	    "https://acme.getbot.run/marketing", "bot url");
	free(s);
	is_str(s = identity_container_name("acme"), "acme", "container name");
	free(s);
	is_str(s = identity_worker_name("research", "pro"), "research-pro",
	    "worker name");
	free(s);
	is_str(s = identity_route_id("acme", "marketing"),
	    "getbot-acme-marketing", "route @id");
	free(s);
	is_str(s = identity_callback_route_id("acme"), "getbot-acme_callback",
	    "callback route @id cannot collide with a bot's");
	free(s);
	is_str(s = identity_bot_container("marketing"), "marketing-openclaw-1",
	    "bot container named as compose names it");
	free(s);
	is_str(s = identity_bot_volume("marketing", "openclaw-config"),
	    "marketing_openclaw-config", "volume named as compose names it");
	free(s);
	is_str(s = identity_key_env("anthropic"), "ANTHROPIC_API_KEY",
	    "key variable");
	free(s);
	is_str(s = identity_key_env("open-router"), "OPEN_ROUTER_API_KEY",
	    "key variable with a dash");
	free(s);
}

static void
test_identity__worker_name_limits(void)
{
	struct strbuf err = STRBUF_INIT;

	is_int(identity_check_worker_name("research-pro", &err), 0,
	    "a short name starting with a letter is fine");
	is_int(identity_check_worker_name("1password-x", &err), -1,
	    "a name starting with a digit is refused");
	ok(strstr(err.buf, "must start with a letter") != NULL, "and says why");
	strbuf_reset(&err);
	is_int(
	    identity_check_worker_name(
		"a2345678901234567890123456789012345678901234567890123456789-"
		"abcd",
		&err),
	    -1, "64 characters are refused");
	ok(strstr(err.buf, "Cloudflare allows 63") != NULL, "and says why");
	strbuf_release(&err);
}

int
main(void)
{
	test_identity__org_is_first_label_of_registrable_domain();
	test_identity__multi_label_public_suffixes();
	test_identity__domain_is_lowercased();
	test_identity__public_suffix_is_not_an_org();
	test_identity__invalid_emails_are_refused();
	test_identity__email_syntax();
	test_identity__dns_labels();
	test_identity__derived_names();
	test_identity__worker_name_limits();
	return tap_done();
}
