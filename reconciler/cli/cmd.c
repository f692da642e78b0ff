/* The command table and the argument parser every command shares. */
#include "config.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cmd.h"
#include "conn.h"
#include "jsonschema.h"
#include "secret.h"
#include "strbuf.h"
#include "xmalloc.h"

static const struct provider *const *cmd_providers;

const struct cmd_entry *const cmd_table[] = {
	&cmd_init_entry,
	&cmd_validate_entry,
	&cmd_plan_entry,
	&cmd_apply_entry,
	&cmd_diff_entry,
	&cmd_graph_entry,
	&cmd_state_entry,
	&cmd_status_entry, /* edge */
	&cmd_secrets_entry,
	&cmd_schema_entry,
	&cmd_version_entry,
	&cmd_help_entry,
	NULL,
};

bool
cmd_available(const struct cmd_entry *entry)
{
	return !entry->needs_providers ||
	       (cmd_providers != NULL && cmd_providers[0] != NULL);
}

const struct cmd_entry *
cmd_find(const char *name)
{
	size_t i;

	for (i = 0; cmd_table[i] != NULL; i++)
		if (strcmp(cmd_table[i]->name, name) == 0 &&
		    cmd_available(cmd_table[i]))
			return cmd_table[i];
	return NULL;
}

bool
cmd_args_has(const struct cmd_args *args, const char *name)
{
	return cmd_args_get(args, name) != NULL;
}

size_t
cmd_args_all(
    const struct cmd_args *args, const char *name, const char ***values)
{
	size_t i, n = 0;

	*values = xcalloc(args->ngiven + 1, sizeof(**values));
	for (i = 0; i < args->ngiven; i++)
		if (strcmp(args->given[i].option->name, name) == 0)
			(*values)[n++] = args->given[i].value;
	return n;
}

const char *
cmd_args_get(const struct cmd_args *args, const char *name)
{
	size_t i;

	for (i = args->ngiven; i > 0; i--) {
		const struct cmd_given *g = &args->given[i - 1];

		if (strcmp(g->option->name, name) == 0)
			return g->value != NULL ? g->value : "";
	}
	return NULL;
}

void
cmd_synopsis(const struct cmd_entry *entry, struct strbuf *sb)
{
	const struct cmd_option *o;

	strbuf_addf(sb, "getbot %s", entry->name);
	for (o = entry->options; o != NULL && o->name != NULL; o++) {
		strbuf_addstr(sb, " [");
		if (o->short_name)
			strbuf_addf(sb, "-%c", o->short_name);
		else
			strbuf_addf(sb, "--%s", o->name);
		if (o->arg != NULL)
			strbuf_addf(sb, " %s", o->arg);
		strbuf_addch(sb, ']');
	}
	if (entry->args_usage != NULL && entry->args_usage[0] != '\0')
		strbuf_addf(sb, " %s", entry->args_usage);
}

static void __attribute__((format(printf, 2, 3)))
cmd_usage_error(const struct cmd_entry *entry, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	fprintf(stderr, "getbot %s: ", entry->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	cmd_synopsis(entry, &sb);
	fprintf(stderr, "\nusage: %s\n", sb.buf);
	strbuf_release(&sb);
}

static const struct cmd_option *
cmd_find_option(const struct cmd_entry *entry, const char *name, size_t len,
    char short_name)
{
	const struct cmd_option *o;

	for (o = entry->options; o != NULL && o->name != NULL; o++) {
		if (short_name != 0 && o->short_name == short_name)
			return o;
		if (short_name == 0 && strlen(o->name) == len &&
		    strncmp(o->name, name, len) == 0)
			return o;
	}
	return NULL;
}

/* Parse argv (after the command name): -x, -x VALUE, --name, --name VALUE,
 * --name=VALUE, -name as --name (as Terraform users type), and --. */
static int
cmd_parse(
    const struct cmd_entry *entry, int argc, char **argv, struct cmd_args *args)
{
	size_t given_alloc = 0;
	bool options_done = false;
	int i;

	memset(args, 0, sizeof(*args));
	args->entry = entry;
	args->providers = cmd_providers;
	args->positional = xcalloc((size_t)argc + 1, sizeof(char *));
	for (i = 0; i < argc; i++) {
		const char *arg = argv[i];
		const struct cmd_option *option;
		const char *name, *eq, *value = NULL;
		size_t name_len;

		if (options_done || arg[0] != '-' || arg[1] == '\0') {
			args->positional[args->npositional++] = argv[i];
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			options_done = true;
			continue;
		}
		name = arg + (arg[1] == '-' ? 2 : 1);
		eq = strchr(name, '=');
		name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
		if (arg[1] != '-' && name_len == 1)
			option = cmd_find_option(entry, NULL, 0, name[0]);
		else
			option = cmd_find_option(entry, name, name_len, 0);
		if (option == NULL) {
			cmd_usage_error(entry, "unknown option '%s'", arg);
			return -1;
		}
		if (option->arg == NULL && eq != NULL) {
			cmd_usage_error(
			    entry, "option '%s' takes no value", arg);
			return -1;
		}
		if (option->arg != NULL) {
			if (eq != NULL)
				value = eq + 1;
			else if (i + 1 < argc)
				value = argv[++i];
			else {
				cmd_usage_error(
				    entry, "option '%s' needs a value", arg);
				return -1;
			}
		}
		ALLOC_GROW(args->given, args->ngiven + 1, given_alloc);
		args->given[args->ngiven].option = option;
		args->given[args->ngiven].value = value;
		args->ngiven++;
	}
	if (args->npositional < entry->min_args) {
		cmd_usage_error(entry, "missing argument");
		return -1;
	}
	if (args->npositional > entry->max_args) {
		cmd_usage_error(entry, "unexpected argument '%s'",
		    args->positional[entry->max_args]);
		return -1;
	}
	return 0;
}

static void
cmd_args_release(struct cmd_args *args)
{
	free(args->given);
	free(args->positional);
}

/* Run `getbot help` with the given arguments. */
static int
cmd_main_help(int argc, char **argv)
{
	struct cmd_args args;
	int rc = EXIT_ERROR;

	if (cmd_parse(&cmd_help_entry, argc, argv, &args) == 0)
		rc = cmd_help_entry.exec(&args);
	cmd_args_release(&args);
	return rc;
}

/* What every run needs before a command: no core dumps (secrets pass
 * through this process), allocation failure ends the program in cJSON too,
 * libcurl and libsodium are ready, and GETBOT_SSH_PASSPHRASE and
 * GETBOT_SEAL_KEY are out of the environment, before any thread starts. */
static int
cmd_start(void)
{
	static cJSON_Hooks json_hooks = { xmalloc, free };
	struct rlimit no_core = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &no_core);
	cJSON_InitHooks(&json_hooks);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "getbot: libcurl failed to initialise\n");
		return -1;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "getbot: libsodium failed to initialise\n");
		return -1;
	}
	conn_ssh_take_passphrase();
	secret_take_seal_key();
	return 0;
}

int
cmd_main(int argc, char **argv, const struct provider *const *providers)
{
	const struct cmd_entry *entry;
	struct cmd_args args;
	const char *name;
	int rc, i;

	if (cmd_start() != 0)
		return EXIT_ERROR;
	cmd_providers = providers;
	if (argc < 2) {
		char *help_argv[] = { NULL };

		return cmd_main_help(0, help_argv);
	}
	name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		name = "help";
	else if (strcmp(name, "--version") == 0)
		name = "version";
	entry = cmd_find(name);
	if (entry == NULL) {
		const char *names[32];
		const char *close;
		size_t n;

		for (n = 0, i = 0;
		     cmd_table[i] != NULL && n < ARRAY_SIZE(names); i++)
			if (cmd_available(cmd_table[i]))
				names[n++] = cmd_table[i]->name;
		close = jsonschema_did_you_mean(name, names, n);
		if (close != NULL)
			fprintf(stderr,
			    "getbot: unknown command '%s'; did you mean "
			    "'%s'?\n",
			    name, close);
		else
			fprintf(stderr,
			    "getbot: unknown command '%s'; 'getbot help' lists "
			    "the commands\n",
			    name);
		return EXIT_ERROR;
	}
	/* getbot CMD --help is getbot help CMD */
	for (i = 2; i < argc && entry != &cmd_help_entry; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			char *help_argv[] = { argv[1], NULL };

			return cmd_main_help(1, help_argv);
		}
	}
	if (cmd_parse(entry, argc - 2, argv + 2, &args) != 0) {
		cmd_args_release(&args);
		return EXIT_ERROR;
	}
	rc = entry->exec(&args);
	cmd_args_release(&args);
	conn_ssh_forget_passphrase();
	secret_forget_seal_key();
	return rc;
}
