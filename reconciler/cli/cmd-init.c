/* getbot init: a commented starter bots.yaml, and .gitignore lines. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bots.h"
#include "cmd.h"
#include "file.h"
#include "identity.h"
#include "strbuf.h"
#include "xmalloc.h"

#ifndef GETBOT_SCHEMA_DIR
#define GETBOT_SCHEMA_DIR "/usr/local/share/getbot"
#endif

#define CMD_INIT_GITIGNORE_MAX (1024 * 1024)

static const struct cmd_option cmd_init_options[] = {
	{ "owner", 0, "EMAIL",
	    "the owner of the first org, whose name is derived from it "
	    "(required)" },
	{ "target", 0, "KIND",
	    "server (Incus, Docker and Caddy on a machine of yours; the "
	    "default) or edge (Cloudflare Workers and an Agent Router)" },
	{ "file", 'f', "FILE",
	    "where to write (default: bots.yaml); an existing file is never "
	    "overwritten" },
	{ NULL, 0, NULL, NULL },
};

/* What .gitignore gets: getbot's local state and lock. */
static const char *const cmd_init_ignored[] = { ".getbot/", NULL };

/* acme-corp -> ACME_CORP, for the names of environment variables. */
static void
cmd_init_add_env_prefix(struct strbuf *sb, const char *org)
{
	for (; *org != '\0'; org++)
		strbuf_addch(sb,
		    *org == '-' ? '_'
				: (*org >= 'a' && *org <= 'z' ? *org - 'a' + 'A'
							      : *org));
}

/* The header every starter file has: the schema modeline and how to go
 * on. */
static void
cmd_init_header(struct strbuf *yaml)
{
	strbuf_addstr(yaml,
	    "# yaml-language-server: $schema=" GETBOT_SCHEMA_DIR
	    "/bots.schema.json\n"
	    "#\n"
	    "# The bots getbot keeps running, written by 'getbot init'. Commit "
	    "it.\n"
	    "#   getbot validate    checks this file (man 5 bots.yaml: the "
	    "format;\n"
	    "#                      'getbot schema' prints the schema the "
	    "line above names)\n"
	    "#   getbot plan        shows what apply would change, and why\n"
	    "#   getbot apply       changes it\n"
	    "# Secrets are never written here, only where to find them: {env: "
	    "NAME},\n"
	    "# {file: PATH} or {sealed: BASE64}; set the variables named below "
	    "before\n"
	    "# plan and apply (in CI, from its secret store).\n"
	    "version: 1\n\n"
	    "# Where plan and apply keep what they applied, and the lock "
	    "that lets one\n"
	    "# apply run at a time: .getbot/ beside this file, for one "
	    "machine. When CI\n"
	    "# and cron apply too, share both through this repository's "
	    "remote instead:\n"
	    "# state: {backend: git}\n\n");
}

/* The team's key (its variable's name) and identity, after "{env: ". */
static void
cmd_init_team_rest(struct strbuf *yaml, const char *org)
{
	cmd_init_add_env_prefix(yaml, org);
	strbuf_addstr(yaml,
	    "_ANTHROPIC_KEY}\n"
	    "        # persona and instructions cannot change once deployed "
	    "(plan\n"
	    "        # refuses it) unless 'getbot apply --replace' rebuilds "
	    "the bot\n"
	    "        persona: |\n");
	strbuf_addf(yaml, "          You are %s's assistant.\n", org);
	strbuf_addstr(yaml,
	    "        instructions: |\n"
	    "          Be brief, and say when you are not sure.\n");
}

static void
cmd_init_server(struct strbuf *yaml, const char *org, const char *owner)
{
	strbuf_addstr(yaml,
	    "targets:\n"
	    "  server:\n"
	    "    kind: incus                  # Incus, Docker inside Incus, "
	    "Caddy, getbot-auth\n"
	    "    connect: local               # getbot runs on the server; or "
	    "ssh://root@HOST\n"
	    "    domain: getbot.run           # bots answer at "
	    "https://ORG.DOMAIN/TEAM\n\n");
	strbuf_addstr(yaml,
	    "defaults:\n"
	    "  model: anthropic/claude-sonnet-4-5\n"
	    "  runtime: openclaw-2026.3.8     # the build context "
	    "runtimes/RUNTIME/ beside this file\n\n");
	strbuf_addf(yaml,
	    "orgs:\n"
	    "  %s:\n"
	    "    owner: \"%s\"   # the org's name is what this email derives\n"
	    "    target: server\n"
	    "    limits: {cpu: 2, memory: 4GiB}\n"
	    "    allowed_emails: [\"%s\"]   # who may use every bot of the "
	    "org\n"
	    "    teams:\n"
	    "      assistant:               # https://%s.getbot.run/assistant\n"
	    "        api_keys:\n"
	    "          anthropic: {env: ",
	    org, owner, owner, org);
	cmd_init_team_rest(yaml, org);
}

static void
cmd_init_edge(struct strbuf *yaml, const char *org, const char *owner)
{
	strbuf_addstr(yaml,
	    "targets:\n"
	    "  edge:\n"
	    "    kind: cloudflare             # a Worker, secrets, R2 and a "
	    "token per bot\n"
	    "    account_id: 0123456789abcdef0123456789abcdef   # your "
	    "Cloudflare account's id\n"
	    "    api_token: {env: CLOUDFLARE_API_TOKEN}\n"
	    "    router:                      # where each bot's card is "
	    "registered\n"
	    "      url: https://router.example.com\n"
	    "      token: {env: ROUTER_API_TOKEN}\n\n");
	strbuf_addstr(yaml,
	    "defaults:\n"
	    "  model: anthropic/claude-sonnet-4-5\n"
	    "  runtime: openclaw-2026.3.8     # the Worker bundle "
	    "runtimes/RUNTIME/worker.js\n\n");
	strbuf_addf(yaml,
	    "orgs:\n"
	    "  %s:\n"
	    "    owner: \"%s\"   # the org's name is what this email derives\n"
	    "    target: edge\n"
	    "    teams:\n"
	    "      assistant:               # the Worker %s-assistant\n"
	    "        api_keys:\n"
	    "          anthropic: {env: ",
	    org, owner, org);
	cmd_init_team_rest(yaml, org);
	strbuf_addf(yaml,
	    "        card:                    # what the Agent Router shows\n"
	    "          display_name: %s assistant\n"
	    "          description: Answers questions for %s.\n",
	    org, org);
}

/* Write text to path as a new file: it appears whole or not at all, and
 * never replaces one that exists. */
static int
cmd_init_create(const char *path, const struct strbuf *text, struct strbuf *err)
{
	char *tmp = file_tmp_name(path);
	int fd, rc = -1;

	fd =
	    open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0) {
		strbuf_addf(err, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (file_write_all(fd, text->buf, text->len) < 0 || fsync(fd) < 0) {
		strbuf_addf(err, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (link(tmp, path) < 0) {
		if (errno == EEXIST)
			strbuf_addf(
			    err, "'%s' exists; not overwriting it", path);
		else
			strbuf_addf(err, "cannot create '%s': %s", path,
			    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

/* Is line (len bytes, without its newline) one that ignores what
 * ignored names ("/.getbot/" and ".getbot" as well as ".getbot/")? */
static bool
cmd_init_ignores(const char *line, size_t len, const char *ignored)
{
	size_t want = strlen(ignored);

	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' ||
			      line[len - 1] == '\r'))
		len--;
	if (len > 0 && line[0] == '/') {
		line++;
		len--;
	}
	if (len > 0 && line[len - 1] == '/')
		len--;
	if (ignored[want - 1] == '/')
		want--;
	return len == want && strncmp(line, ignored, len) == 0;
}

/* Append what .gitignore beside config lacks of cmd_init_ignored; *added
 * counts the lines written. */
static int
cmd_init_gitignore(const char *config, size_t *added, struct strbuf *err)
{
	struct strbuf content = STRBUF_INIT, lines = STRBUF_INIT;
	char *dir = file_dir(config), *path = NULL;
	struct stat st;
	mode_t mode = 0644;
	size_t i;
	int rc;

	*added = 0;
	path = xasprintf("%s/.gitignore", dir);
	rc = file_read(path, CMD_INIT_GITIGNORE_MAX, &content, &st, err);
	if (rc == FILE_MISSING)
		rc = 0;
	else if (rc != 0)
		goto out;
	else
		mode = st.st_mode & 07777;
	for (i = 0; cmd_init_ignored[i] != NULL; i++) {
		const char *line = content.buf;
		bool found = false;

		while (!found && line < content.buf + content.len) {
			const char *end = memchr(line, '\n',
			    content.len - (size_t)(line - content.buf));
			size_t len =
			    end != NULL ? (size_t)(end - line) : strlen(line);

			found =
			    cmd_init_ignores(line, len, cmd_init_ignored[i]);
			line += len + 1;
		}
		if (!found) {
			strbuf_addf(&lines, "%s\n", cmd_init_ignored[i]);
			(*added)++;
		}
	}
	if (*added == 0)
		goto out;
	if (content.len > 0 && content.buf[content.len - 1] != '\n')
		strbuf_addch(&content, '\n');
	strbuf_addstr(
	    &content, "# getbot's local state and lock (getbot init)\n");
	strbuf_addstr(&content, lines.buf);
	rc = file_replace(path, content.buf, content.len, mode, err);
out:
	strbuf_release(&content);
	strbuf_release(&lines);
	free(dir);
	free(path);
	return rc;
}

static int
cmd_init_exec(const struct cmd_args *args)
{
	const char *owner = cmd_args_get(args, "owner");
	const char *target = cmd_args_get(args, "target");
	const char *path = cmd_args_get(args, "file");
	struct strbuf yaml = STRBUF_INIT, err = STRBUF_INIT;
	struct diag_list diags = DIAG_LIST_INIT;
	struct bots *bots = NULL;
	struct stat st;
	char *org = NULL;
	size_t added = 0, i;
	int rc = EXIT_ERROR;

	if (path == NULL)
		path = "bots.yaml";
	if (target == NULL)
		target = "server";
	if (owner == NULL || owner[0] == '\0') {
		fprintf(stderr, "getbot init: --owner EMAIL is required: the "
				"first org's owner\n");
		goto out;
	}
	if (strcmp(target, "server") != 0 && strcmp(target, "edge") != 0) {
		fprintf(stderr,
		    "getbot init: --target: '%s' is not a kind of target "
		    "(server or edge)\n",
		    target);
		goto out;
	}
	if (!identity_is_email(owner)) {
		fprintf(stderr,
		    "getbot init: --owner: '%s' is not an email address\n",
		    owner);
		goto out;
	}
	if (identity_org_from_email(owner, &org, &err) != 0) {
		fprintf(stderr, "getbot init: --owner: %s\n", err.buf);
		goto out;
	}
	if (lstat(path, &st) == 0) {
		fprintf(stderr,
		    "getbot init: '%s' exists; not overwriting it\n", path);
		goto out;
	}

	cmd_init_header(&yaml);
	if (strcmp(target, "server") == 0)
		cmd_init_server(&yaml, org, owner);
	else
		cmd_init_edge(&yaml, org, owner);
	/* what init writes, validate accepts: checked before it is written */
	if (bots_load_buffer(path, yaml.buf, yaml.len, &bots, &diags) != 0) {
		for (i = 0; i < diags.count; i++)
			diag_print(stderr, &diags.items[i]);
		fprintf(stderr,
		    "getbot init: the starter config for '%s' does not "
		    "validate; nothing was written\n",
		    owner);
		goto out;
	}
	if (cmd_init_create(path, &yaml, &err) != 0) {
		fprintf(stderr, "getbot init: %s\n", err.buf);
		goto out;
	}
	printf("Wrote %s: org '%s' (owner %s) on a%s target.\n", path, org,
	    owner, strcmp(target, "server") == 0 ? " server" : "n edge");
	strbuf_reset(&err);
	if (cmd_init_gitignore(path, &added, &err) != 0) {
		fprintf(stderr, "getbot init: %s\n", err.buf);
		goto out;
	}
	if (added > 0)
		printf("Added .getbot/ (the local state and lock) to "
		       ".gitignore.\n");
	printf("Next: set the environment variables it names, edit the "
	       "persona, then 'getbot validate' and 'getbot plan'.\n");
	rc = EXIT_OK;
out:
	bots_free(bots);
	diag_list_clear(&diags);
	strbuf_release(&yaml);
	strbuf_release(&err);
	free(org);
	return rc;
}

const struct cmd_entry cmd_init_entry = {
	.name = "init",
	.args_usage = "",
	.summary = "write a commented starter bots.yaml",
	.description =
	    "Writes a commented bots.yaml with one org, named for what --owner "
	    "derives, and one bot on a target of the kind --target names: "
	    "server (Incus, Docker inside Incus and Caddy, reached with "
	    "connect: local) or edge (Cloudflare Workers and an Agent "
	    "Router). It starts with the yaml-language-server modeline that "
	    "names the installed schema (the one 'getbot schema' prints), so "
	    "editors complete and check it; its secrets are references "
	    "({env: NAME}), never values; and it passes 'getbot validate' as "
	    "written. An existing file is never overwritten (exit 1).\n"
	    "Then adds .getbot/, where plan and apply keep the state and its "
	    "lock, to the .gitignore beside the file, unless a line there "
	    "already ignores it.",
	.options = cmd_init_options,
	.min_args = 0,
	.max_args = 0,
	.needs_providers = false,
	.exec = cmd_init_exec,
};
