/*
 * mkman: writes getbot(1) from the command table and bots.yaml(5) from the
 * schema, so that the man pages say what the code does. Build-time only.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "embedded.h"
#include "jsonschema.h"
#include "providers.h"
#include "strbuf.h"

/* Print text as roff: escape backslashes, protect leading dots. */
static void
mkman_text(const char *text)
{
	bool line_start = true;

	for (; *text != '\0'; text++) {
		if (line_start && (*text == '.' || *text == '\''))
			fputs("\\&", stdout);
		if (*text == '\\')
			fputs("\\e", stdout);
		else if (*text == '-')
			fputs("\\-", stdout);
		else if (*text == '\n')
			fputs("\n.PP\n", stdout);
		else
			putchar(*text);
		line_start = *text == '\n';
	}
	putchar('\n');
}

/* What getbot reads from its environment, besides the secrets bots.yaml
 * names ({env: NAME}). */
static const struct {
	const char *name, *text;
} mkman_environment[] = {
	{ "GETBOT_RUNTIME_DIR",
	    "Where runtimes live (build contexts and Worker bundles); "
	    "default runtimes/ beside bots.yaml. When set, --ref and getbot "
	    "diff read runtimes from it, not from the commit." },
	{ "GETBOT_SEAL_KEY",
	    "The private seal key, its text (one line of base64, as "
	    "'getbot secrets keygen' writes it), that opens {sealed: ...} "
	    "secrets: in CI, a secret of that name. getbot takes it out of "
	    "its environment at start, so no command it runs inherits it. "
	    "Set this or GETBOT_SEAL_KEY_FILE, not both." },
	{ "GETBOT_SEAL_KEY_FILE",
	    "The file that holds the private seal key, for {sealed: ...} "
	    "secrets; its mode must let its owner alone read it (0600)." },
	{ "INCUS_SOCKET",
	    "Incus's unix socket on a server whose target has no incus.socket "
	    "(a path on that server); default the first of "
	    "/run/incus/unix.socket, /var/lib/incus/unix.socket and "
	    "/var/lib/lxd/unix.socket that exists there." },
	{ "GETBOT_INCUS_WAIT_MAX",
	    "Seconds getbot waits for one Incus operation (an image pulled, "
	    "Docker installed) before the action fails; default 1800. The "
	    "operation goes on on the server." },
	{ "GETBOT_INCUS_WAIT_SECONDS",
	    "Seconds between progress lines while an Incus operation runs; "
	    "default and at most 120." },
	{ "GETBOT_CLOUDFLARE_API",
	    "Cloudflare's API endpoint; default "
	    "https://api.cloudflare.com/client/v4." },
	{ "GETBOT_CLOUDFLARE_RATE",
	    "Requests per second getbot sends per Cloudflare API token; "
	    "default 3.9, under the documented 1200 per 5 minutes." },
	{ "GETBOT_SSH_PASSPHRASE",
	    "The passphrase of the key a server target signs in with over "
	    "ssh (identity:, or ~/.ssh/id_*), when it has one and is not in "
	    "ssh-agent. Never printed." },
	{ "GETBOT_GIT_TOKEN",
	    "With state: {backend: git} and an https remote, the token getbot "
	    "pushes and fetches the state's refs with (a GitHub token is sent "
	    "as user x-access-token). Never printed. ssh remotes use ssh-agent "
	    "or ~/.ssh/id_ed25519, id_ecdsa and id_rsa, and ~/.ssh/known_hosts." },
	{ "GITHUB_ACTIONS",
	    "With GITHUB_RUN_ID: the lock names the GitHub Actions run that "
	    "holds it." },
	{ "GITHUB_RUN_ID", "See GITHUB_ACTIONS." },
	{ "GITLAB_CI",
	    "With CI_JOB_ID: the lock names the GitLab CI job that holds it." },
	{ "CI_JOB_ID",
	    "The CI job the lock names (GitLab's, or any CI that sets it)." },
	{ "SSH_AUTH_SOCK",
	    "The ssh-agent whose keys getbot signs in to servers with, "
	    "before ~/.ssh/id_ed25519, id_ecdsa and id_rsa (or the one "
	    "identity: names)." },
	{ "GETBOT_STATS",
	    "A file that gets one JSON line appended per run with what the "
	    "run cost its servers: per connection, how it was reached and "
	    "the ssh channels it opened. For benchmarks." },
	{ "NO_COLOR", "When set, output has no colours." },
	{ "TERM",
	    "When dumb or unset, getbot apply on a terminal keeps its "
	    "lines but draws no live counter of the slow steps (it rewrites "
	    "a line with a carriage return and an erase-line code)." },
	{ "TMPDIR",
	    "Where --ref and getbot diff copy a commit's config and the "
	    "files it names, in a private directory removed at the end of "
	    "the run; default /tmp." },
	{ NULL, NULL },
};

static void
mkman_getbot(void)
{
	struct strbuf sb = STRBUF_INIT;
	const struct cmd_option *o;
	size_t i;

	printf(".TH GETBOT 1 \"\" \"getbot %s\" \"User Commands\"\n",
	    PACKAGE_VERSION);
	printf(".SH NAME\ngetbot \\- plan and apply AI\\-agent bots from "
	       "bots.yaml\n");
	printf(".SH SYNOPSIS\n.B getbot\n.I command\n.RI [ options ] "
	       "[ args ]\n");
	printf(".SH DESCRIPTION\n");
	mkman_text("getbot reads a bots.yaml that describes organisations, "
		   "their teams (bots), who may use them, which model and keys "
		   "they run with and where they run. See bots.yaml(5) for the "
		   "format.");
	printf(".SH COMMANDS\n");
	for (i = 0; cmd_table[i] != NULL; i++) {
		/* as the binary: no providers, no plan or apply */
		if (cmd_table[i]->needs_providers && provider_table[0] == NULL)
			continue;
		strbuf_reset(&sb);
		cmd_synopsis(cmd_table[i], &sb);
		printf(".SS ");
		mkman_text(sb.buf);
		mkman_text(cmd_table[i]->description);
		for (o = cmd_table[i]->options; o != NULL && o->name != NULL;
		     o++) {
			printf(".TP\n.B ");
			strbuf_reset(&sb);
			if (o->short_name)
				strbuf_addf(&sb, "-%c, ", o->short_name);
			strbuf_addf(&sb, "--%s", o->name);
			if (o->arg != NULL)
				strbuf_addf(&sb, " %s", o->arg);
			mkman_text(sb.buf);
			mkman_text(o->help);
		}
	}
	printf(".SH EXIT STATUS\n");
	mkman_text("0 success with nothing to do; 1 error (an invalid config, "
		   "a failed call); 2 changes present (with "
		   "--detailed-exitcode); 3 blocked by policy; 4 lock held; "
		   "5 an apply finished with some actions failed.");
	printf(".SH ENVIRONMENT\n");
	for (i = 0; mkman_environment[i].name != NULL; i++) {
		printf(".TP\n.B %s\n", mkman_environment[i].name);
		mkman_text(mkman_environment[i].text);
	}
	printf(".SH FILES\n.TP\n.B bots.yaml\n");
	mkman_text("The desired state, by default in the current directory.");
	printf(".TP\n.B getbot-seal.pub\n");
	mkman_text("The public seal key beside bots.yaml, committed with it: "
		   "getbot secrets seal seals values to it.");
	printf(".TP\n.B .getbot/seal.key\n");
	mkman_text("The private seal key that getbot secrets keygen writes "
		   "by default (mode 0600), never to be committed; getbot "
		   "reads it only through GETBOT_SEAL_KEY_FILE.");
	printf(".TP\n.B %s/bots.schema.json\n", GETBOT_SCHEMA_DIR);
	mkman_text("The JSON Schema of bots.yaml (also printed by getbot "
		   "schema).");
	printf(".SH SEE ALSO\n.BR bots.yaml (5)\n");
	strbuf_release(&sb);
}

static void mkman_schema_keys(const struct jsonschema *schema, const cJSON *s,
    struct strbuf *path, int depth);

static const cJSON *
mkman_deref(const struct jsonschema *schema, const cJSON *s)
{
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");

	return cJSON_IsString(ref)
		   ? jsonschema_resolve(schema, ref->valuestring)
		   : s;
}

static const char *
mkman_description(const struct jsonschema *schema, const cJSON *s)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(s, "description");

	if (!cJSON_IsString(d))
		d = cJSON_GetObjectItemCaseSensitive(
		    mkman_deref(schema, s), "description");
	return cJSON_IsString(d) ? d->valuestring : "";
}

static void
mkman_schema_key(const struct jsonschema *schema, const char *name,
    const cJSON *s, bool required, struct strbuf *path, int depth)
{
	size_t mark = path->len;
	const cJSON *target = mkman_deref(schema, s);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(target, "type");

	if (path->len > 0)
		strbuf_addch(path, '.');
	strbuf_addstr(path, name);
	printf(".TP\n.B ");
	mkman_text(path->buf);
	if (cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(target, "x-getbot-secret")))
		printf("(secret reference%s) ", required ? ", required" : "");
	else if (cJSON_IsString(type))
		printf("(%s%s) ",
		    strcmp(type->valuestring, "object") == 0 ? "mapping"
		    : strcmp(type->valuestring, "array") == 0
			? "list"
			: type->valuestring,
		    required ? ", required" : "");
	else if (required)
		printf("(required) ");
	mkman_text(mkman_description(schema, s));
	if (!cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(target, "x-getbot-secret")))
		mkman_schema_keys(schema, target, path, depth + 1);
	strbuf_setlen(path, mark);
}

static bool
mkman_is_required(const cJSON *s, const char *name)
{
	const cJSON *r;

	cJSON_ArrayForEach (
	    r, cJSON_GetObjectItemCaseSensitive(s, "required")) {
		if (cJSON_IsString(r) && strcmp(r->valuestring, name) == 0)
			return true;
	}
	return false;
}

/* Every key under s, depth first, with its path. */
static void
mkman_schema_keys(const struct jsonschema *schema, const cJSON *s,
    struct strbuf *path, int depth)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
	const cJSON *extra =
	    cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
	const cJSON *branch, *p;

	if (depth > 12)
		return;
	cJSON_ArrayForEach (p, props) {
		/* a kind's branch repeats its discriminator */
		if (strcmp(p->string, "kind") == 0 &&
		    cJSON_GetObjectItemCaseSensitive(p, "const") != NULL)
			continue;
		mkman_schema_key(schema, p->string, p,
		    mkman_is_required(s, p->string), path, depth);
	}
	if (cJSON_IsObject(extra))
		mkman_schema_key(schema, "NAME", extra, false, path, depth);
	cJSON_ArrayForEach (
	    branch, cJSON_GetObjectItemCaseSensitive(s, "allOf")) {
		const cJSON *then =
		    cJSON_GetObjectItemCaseSensitive(branch, "then");
		const cJSON *when = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(branch, "if"),
			"properties"),
		    "kind");
		const cJSON *kind =
		    cJSON_GetObjectItemCaseSensitive(when, "const");

		if (then == NULL)
			continue;
		if (cJSON_IsString(kind))
			printf(".PP\nWith kind %s:\n", kind->valuestring);
		mkman_schema_keys(
		    schema, mkman_deref(schema, then), path, depth + 1);
	}
}

static int
mkman_bots_yaml(void)
{
	struct strbuf err = STRBUF_INIT, path = STRBUF_INIT;
	struct jsonschema *schema;

	if (jsonschema_load(
		bots_schema_json, bots_schema_json_len, &schema, &err) != 0) {
		fprintf(
		    stderr, "mkman: the schema does not load: %s\n", err.buf);
		strbuf_release(&err);
		return 1;
	}
	printf(".TH BOTS.YAML 5 \"\" \"getbot %s\" \"File Formats\"\n",
	    PACKAGE_VERSION);
	printf(".SH NAME\nbots.yaml \\- getbot's desired state\n");
	printf(".SH DESCRIPTION\n");
	mkman_text(mkman_description(schema, jsonschema_root(schema)));
	mkman_text(
	    "The file is YAML 1.2, UTF-8, at most 1 MiB, one document; "
	    "duplicate keys, merge keys, tabs in indentation and alias "
	    "bombs are refused. A secret is never written in the file: "
	    "it is referenced as {env: NAME}, {file: PATH} or {sealed: "
	    "BASE64}. NAME stands for a name you choose. getbot validate "
	    "checks a file and reports every problem with its line and "
	    "column.");
	printf(".SH KEYS\n");
	mkman_schema_keys(schema, jsonschema_root(schema), &path, 0);
	printf(".SH SEE ALSO\n.BR getbot (1)\n");
	jsonschema_free(schema);
	strbuf_release(&path);
	strbuf_release(&err);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "getbot.1") == 0) {
		mkman_getbot();
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "bots.yaml.5") == 0)
		return mkman_bots_yaml();
	fprintf(stderr, "usage: mkman getbot.1|bots.yaml.5\n");
	return 2;
}
