/*
 * Commands: one const struct cmd_entry per command, listed in cmd_table.
 * Parsing, `getbot help` and the man page all read the same rows.
 */
#ifndef GETBOT_CMD_H
#define GETBOT_CMD_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf;

struct cmd_option {
	const char *name; /* long name: --name (or -name) */
	char short_name;  /* -x, or 0 */
	const char *arg;  /* the argument's name, or NULL for a flag */
	const char *help;
};

struct cmd_given {
	const struct cmd_option *option;
	const char *value; /* NULL for a flag */
};

struct provider;

struct cmd_args {
	const struct cmd_entry *entry;
	const struct provider *const *providers; /* of this build */
	struct cmd_given *given;
	size_t ngiven;
	char **positional; /* borrowed from argv */
	size_t npositional;
};

struct cmd_entry {
	const char *name;
	const char *args_usage;  /* positional arguments, for the synopsis */
	const char *summary;     /* one line, lower case, no full stop */
	const char *description; /* paragraphs for help and the man page */
	const struct cmd_option *options; /* ends with { NULL } */
	size_t min_args;
	size_t max_args; /* SIZE_MAX: any number */
	/* Shown only in a build with providers (plan, apply, ...): a command
	 * with nothing to manage does not exist. */
	bool needs_providers;
	int (*exec)(const struct cmd_args *args);
};

/* NULL-terminated, in the order help lists them. */
extern const struct cmd_entry *const cmd_table[];

extern const struct cmd_entry cmd_init_entry;
extern const struct cmd_entry cmd_validate_entry;
extern const struct cmd_entry cmd_plan_entry;
extern const struct cmd_entry cmd_apply_entry;
extern const struct cmd_entry cmd_diff_entry;
extern const struct cmd_entry cmd_graph_entry;
extern const struct cmd_entry cmd_state_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_secrets_entry;
extern const struct cmd_entry cmd_schema_entry;
extern const struct cmd_entry cmd_version_entry;
extern const struct cmd_entry cmd_help_entry;

/* Exit codes (DESIGN.md). */
#define EXIT_OK      0
#define EXIT_ERROR   1
#define EXIT_CHANGES 2
#define EXIT_POLICY  3
#define EXIT_LOCKED  4
#define EXIT_PARTIAL 5

/* Run getbot with argv and the providers of this build (NULL-terminated);
 * returns the exit code. */
int cmd_main(int argc, char **argv, const struct provider *const *providers);
/* The command named name, if this build offers it. */
const struct cmd_entry *cmd_find(const char *name);
/* Does this build offer entry? */
bool cmd_available(const struct cmd_entry *entry);
bool cmd_args_has(const struct cmd_args *args, const char *name);
/* Every value given for a repeatable option, in order; returns how many.
 * *values is allocated (free it), its strings borrowed. */
size_t cmd_args_all(
    const struct cmd_args *args, const char *name, const char ***values);
/* The last value given for option name, or NULL. */
const char *cmd_args_get(const struct cmd_args *args, const char *name);
/* "getbot validate [-f FILE] [--json] [FILE...]" into buf. */
void cmd_synopsis(const struct cmd_entry *entry, struct strbuf *sb);

#endif
