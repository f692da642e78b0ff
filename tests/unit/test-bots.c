/* bots.yaml as a whole: what a valid file becomes, and the semantic rules. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bots.h"
#include "strbuf.h"
#include "tap.h"

static const char *const base =
    "version: 1\n"
    "targets:\n"
    "  fsn1: {kind: incus, connect: local}\n"
    "  edge:\n"
    "    kind: cloudflare\n"
    "    account_id: 0123456789abcdef0123456789abcdef\n"
    "    api_token: {env: CF}\n"
    "    router: {url: 'https://r.example.com', token: {env: RT}}\n"
    "defaults: {model: anthropic/claude-sonnet-4-5, runtime: v1}\n"
    "orgs:\n"
    "  acme:\n"
    "    owner: alice@acme.com\n"
    "    target: fsn1\n"
    "    teams:\n"
    "      marketing:\n"
    "        api_keys: {anthropic: {env: K}}\n"
    "        persona: p\n"
    "        instructions: i\n"
    "      sales:\n"
    "        model: openai/gpt-5\n"
    "        runtime: v2\n"
    "        api_keys: {openai: {file: k.txt}}\n"
    "        persona: p\n"
    "        instructions: i\n"
    "  research:\n"
    "    owner: carol@research.example\n"
    "    target: edge\n"
    "    teams:\n"
    "      pro:\n"
    "        api_keys: {anthropic: {env: K}}\n"
    "        persona: p\n"
    "        instructions: i\n";

/* Load text; every diagnostic as "L:C: PATH: message" lines. */
static struct bots *
load(const char *text, char **diagnostics)
{
	struct diag_list diags = DIAG_LIST_INIT;
	struct strbuf out = STRBUF_INIT;
	struct bots *bots = NULL;
	size_t i;

	(void)bots_load_buffer("b.yaml", text, strlen(text), &bots, &diags);
	for (i = 0; i < diags.count; i++)
		strbuf_addf(&out, "%s%u:%u: %s: %s%s", i ? "\n" : "",
		    diags.items[i].line, diags.items[i].column,
		    diags.items[i].path,
		    diags.items[i].severity == DIAG_WARNING ? "warning: " : "",
		    diags.items[i].message);
	*diagnostics = strbuf_detach(&out, NULL);
	diag_list_clear(&diags);
	return bots;
}

/* base with the first occurrence of from replaced by to. */
static char *
edit(const char *from, const char *to)
{
	struct strbuf sb = STRBUF_INIT;
	const char *at = strstr(base, from);

	if (at == NULL)
		return strdup(base);
	strbuf_add(&sb, base, (size_t)(at - base));
	strbuf_addstr(&sb, to);
	strbuf_addstr(&sb, at + strlen(from));
	return strbuf_detach(&sb, NULL);
}

static void
expect_diagnostics(
    const char *from, const char *to, const char *want, const char *why)
{
	char *text = edit(from, to), *got;
	struct bots *bots = load(text, &got);

	ok(bots == NULL, "%s: refused", why);
	is_str(got, want, "%s: diagnostics", why);
	bots_free(bots);
	free(got);
	free(text);
}

static void
test_bots__valid_file_becomes_orgs_teams_targets(void)
{
	char *diags;
	struct bots *bots = load(base, &diags);
	const struct bots_team *marketing, *sales;

	ok(bots != NULL, "the base config loads (%s)", diags);
	if (bots == NULL) {
		free(diags);
		return;
	}
	is_int(bots->ntargets, 2, "two targets");
	is_int(bots->norgs, 2, "two orgs");
	is_int(bots_count_teams(bots), 3, "three teams");
	ok(bots->orgs[0].target == &bots->targets[0], "acme runs on fsn1");
	is_str(bots->targets[0].server.domain, "getbot.run", "default domain");
	is_int(bots->targets[1].kind, BOTS_TARGET_CLOUDFLARE, "edge kind");
	is_int(
	    bots->targets[1].edge.api_token.kind, BOTS_SECRET_ENV, "token from env");
	is_str(bots->targets[1].edge.api_token.ref, "CF", "token variable");
	marketing = &bots->orgs[0].teams[0];
	sales = &bots->orgs[0].teams[1];
	is_str(marketing->model, "anthropic/claude-sonnet-4-5",
	    "a team takes the default model");
	is_str(marketing->runtime, "v1", "and the default runtime");
	is_str(sales->model, "openai/gpt-5", "a team's own model wins");
	is_str(sales->runtime, "v2", "and its own runtime");
	is_int(sales->api_keys[0].secret.kind, BOTS_SECRET_FILE, "file secret");
	ok(sales->org == &bots->orgs[0], "a team knows its org");
	bots_free(bots);
	free(diags);
}

static void
test_bots__org_name_must_be_derived_from_owner(void)
{
	expect_diagnostics("owner: alice@acme.com", "owner: alice@globex.co.uk",
	    "12:12: orgs.acme.owner: org 'acme' does not match its owner: "
	    "'alice@globex.co.uk' derives 'globex'; rename the org to 'globex' "
	    "or set org_name_override: true",
	    "owner from another domain");
}

static void
test_bots__org_name_override_allows_any_name(void)
{
	char *text = edit("owner: alice@acme.com",
	    "owner: alice@globex.co.uk\n    org_name_override: true");
	char *diags;
	struct bots *bots = load(text, &diags);

	ok(bots != NULL, "override accepted (%s)", diags);
	bots_free(bots);
	free(diags);
	free(text);
}

static void
test_bots__targets_must_exist(void)
{
	expect_diagnostics("target: fsn1", "target: fsn2",
	    "3:3: targets.fsn1: warning: no org uses this target\n"
	    "13:13: orgs.acme.target: no target named 'fsn2'; did you mean "
	    "'fsn1'?",
	    "a misspelt target");
}

static void
test_bots__kind_specific_keys(void)
{
	expect_diagnostics("target: fsn1", "target: edge\n    limits: {cpu: 1}",
	    "3:3: targets.fsn1: warning: no org uses this target\n"
	    "14:5: orgs.acme.limits: 'limits' is for server (incus) targets "
	    "only; target 'edge' is of kind cloudflare",
	    "limits on an edge org");
	expect_diagnostics("      marketing:\n",
	    "      marketing:\n        keep_alive: true\n",
	    "16:9: orgs.acme.teams.marketing.keep_alive: 'keep_alive' is for "
	    "cloudflare targets only; target 'fsn1' is of kind incus",
	    "keep_alive on a server bot");
}

static void
test_bots__model_needs_its_providers_key(void)
{
	expect_diagnostics("api_keys: {openai: {file: k.txt}}",
	    "api_keys: {opneai: {file: k.txt}}",
	    "22:9: orgs.acme.teams.sales.api_keys: model 'openai/gpt-5' needs "
	    "a key for 'openai' (is 'opneai' a typo?)",
	    "a misspelt provider");
}

static void
test_bots__model_and_runtime_are_needed(void)
{
	expect_diagnostics("defaults: {model: anthropic/claude-sonnet-4-5, "
			   "runtime: v1}\n",
	    "",
	    "14:7: orgs.acme.teams.marketing: no model: set model here or in "
	    "defaults\n"
	    "14:7: orgs.acme.teams.marketing: no runtime: set runtime here or "
	    "in defaults\n"
	    "28:7: orgs.research.teams.pro: no model: set model here or in "
	    "defaults\n"
	    "28:7: orgs.research.teams.pro: no runtime: set runtime here or in "
	    "defaults",
	    "no defaults");
}

static void
test_bots__derived_names_must_be_unique(void)
{
	char *first = edit("      pro:\n", "      pro-x:\n");
	char *text, *diags;
	struct bots *bots;
	struct strbuf sb = STRBUF_INIT;
	const char *at = strstr(first, "  research:\n");

	/* org research-pro, team x meets org research, team pro-x */
	strbuf_add(&sb, first, (size_t)(at - first));
	strbuf_addstr(&sb,
	    "  research-pro:\n"
	    "    owner: x@research.example\n"
	    "    org_name_override: true\n"
	    "    target: edge\n"
	    "    teams:\n"
	    "      x: {api_keys: {anthropic: {env: K}}, persona: p, "
	    "instructions: i}\n");
	strbuf_addstr(&sb, at);
	text = strbuf_detach(&sb, NULL);
	bots = load(text, &diags);
	ok(bots == NULL, "a name collision is refused");
	is_str(diags,
	    "35:7: orgs.research.teams.pro-x: derives the name "
	    "'research-pro-x', as research-pro/x does; rename one of them",
	    "the second bot is named, with the first");
	bots_free(bots);
	free(diags);
	free(text);
	free(first);
}

static void
test_bots__sealed_secrets_are_checked(void)
{
	expect_diagnostics("{anthropic: {env: K}}\n        persona: p\n"
			   "        instructions: i\n      sales",
	    "{anthropic: {sealed: aGVsbG8=}}\n        persona: p\n"
	    "        instructions: i\n      sales",
	    "16:40: orgs.acme.teams.marketing.api_keys.anthropic.sealed: "
	    "sealed is "
	    "too short to be a sealed box (5 bytes)",
	    "a sealed value that cannot be a sealed box");
}

/* A config with one org of n teams named t0..t(n-1), listed from first to
 * last or from last to first. */
static char *
teams_config(unsigned n, bool reversed)
{
	struct strbuf sb = STRBUF_INIT;
	unsigned i;

	strbuf_addstr(&sb, "version: 1\n"
			   "targets: {fsn1: {kind: incus, connect: local}}\n"
			   "defaults: {model: anthropic/claude-sonnet-4-5, "
			   "runtime: v1}\n"
			   "orgs:\n  acme:\n    owner: alice@acme.com\n"
			   "    target: fsn1\n    teams:\n");
	for (i = 0; i < n; i++)
		strbuf_addf(&sb,
		    "      t%u: {api_keys: {anthropic: {env: K}}, persona: p, "
		    "instructions: i}\n",
		    reversed ? n - 1 - i : i);
	return strbuf_detach(&sb, NULL);
}

static unsigned
port_of(const struct bots *bots, const char *team)
{
	size_t i;

	for (i = 0; i < bots->orgs[0].nteams; i++)
		if (strcmp(bots->orgs[0].teams[i].name, team) == 0)
			return bots->orgs[0].teams[i].port;
	return 0;
}

/* The image a server target's org containers start from, in each form. */
static void
expect_image(const char *image, const char *server, const char *protocol,
    const char *alias, bool pinned, const char *why)
{
	char *text = edit("{kind: incus, connect: local}", image), *diags;
	struct bots *bots = load(text, &diags);
	const struct bots_server *s;

	ok(bots != NULL, "%s: loads (%s)", why, diags);
	if (bots != NULL) {
		s = &bots->targets[0].server;
		if (server == NULL)
			ok(s->image_server == NULL, "%s: an image on the server",
			    why);
		else
			is_str(s->image_server, server, "%s: server", why);
		if (protocol == NULL)
			ok(s->image_protocol == NULL, "%s: no protocol", why);
		else
			is_str(s->image_protocol, protocol, "%s: protocol", why);
		is_str(s->image_alias, alias, "%s: alias", why);
		ok((s->image_certificate != NULL) == pinned,
		    "%s: certificate %s", why, pinned ? "pinned" : "none");
	}
	bots_free(bots);
	free(diags);
	free(text);
}

static void
test_bots__image_forms(void)
{
	expect_image("{kind: incus, connect: local}",
	    "https://images.linuxcontainers.org", "simplestreams", "debian/12",
	    false, "unset: debian/12 from the images server");
	expect_image("{kind: incus, connect: local, image: my-debian}", NULL,
	    NULL, "my-debian", false, "a bare alias: on the server");
	expect_image("{kind: incus, connect: local, image: 'images:debian/13'}",
	    "https://images.linuxcontainers.org", "simplestreams", "debian/13",
	    false, "images:ALIAS: the images server");
	expect_image("{kind: incus, connect: local, image: {alias: alpine/3.20}}",
	    "https://images.linuxcontainers.org", "simplestreams",
	    "alpine/3.20", false, "a mapping's defaults");
	expect_image("{kind: incus, connect: local, image: {server: "
		     "'https://127.0.0.1:8443', protocol: incus, alias: x, "
		     "certificate: \"-----BEGIN CERTIFICATE-----\\nAA==\\n"
		     "-----END CERTIFICATE-----\\n\"}}",
	    "https://127.0.0.1:8443", "incus", "x", true,
	    "a server of one's own, pinned");
}

static void
test_bots__ports_are_stable_and_distinct(void)
{
	/* 300 teams in 10,000 slots: some hash to the same slot */
	char *text = teams_config(300, false), *rtext = teams_config(300, true);
	char *diags, *rdiags;
	struct bots *bots = load(text, &diags), *rbots = load(rtext, &rdiags);
	bool distinct = true, in_range = true, same = true;
	size_t i, j;

	ok(bots != NULL && rbots != NULL, "300 teams load (%s)", diags);
	for (i = 0; bots != NULL && i < bots->orgs[0].nteams; i++) {
		const struct bots_team *a = &bots->orgs[0].teams[i];

		in_range &= a->port >= BOTS_PORT_FIRST &&
			    a->port < BOTS_PORT_FIRST + BOTS_PORT_COUNT;
		for (j = 0; j < i; j++)
			distinct &= bots->orgs[0].teams[j].port != a->port;
		same &= rbots != NULL && port_of(rbots, a->name) == a->port;
	}
	ok(in_range, "every port is in the range");
	ok(distinct, "no two teams of an org share a port");
	ok(same, "the order teams are listed in does not move a port");
	bots_free(bots);
	bots_free(rbots);
	free(text);
	free(rtext);
	free(diags);
	free(rdiags);
}

int
main(void)
{
	test_bots__valid_file_becomes_orgs_teams_targets();
	test_bots__org_name_must_be_derived_from_owner();
	test_bots__org_name_override_allows_any_name();
	test_bots__targets_must_exist();
	test_bots__kind_specific_keys();
	test_bots__model_needs_its_providers_key();
	test_bots__model_and_runtime_are_needed();
	test_bots__derived_names_must_be_unique();
	test_bots__sealed_secrets_are_checked();
	test_bots__ports_are_stable_and_distinct();
	test_bots__image_forms();
	return tap_done();
}
