/* getbot help: the command list, or one command in full. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "strbuf.h"

/* Print text wrapped at width, each line indented by indent spaces;
 * '\n' in text starts a new paragraph. */
static void
cmd_help_wrap(const char *text, int indent, int width)
{
	int column = 0;

	while (*text != '\0') {
		size_t word = strcspn(text, " \n");

		if (column > 0 && column + 1 + (int)word > width) {
			putchar('\n');
			column = 0;
		}
		if (column == 0)
			column = printf("%*s", indent, "");
		else
			column += printf(" ");
		column += printf("%.*s", (int)word, text);
		text += word;
		if (*text == '\n') {
			printf("\n\n");
			column = 0;
		}
		if (*text != '\0')
			text++;
	}
	if (column > 0)
		putchar('\n');
}

static void
cmd_help_list(void)
{
	size_t i;

	printf("getbot: plan and apply AI-agent bots from bots.yaml\n\n"
	       "usage: getbot COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
	for (i = 0; cmd_table[i] != NULL; i++)
		if (cmd_available(cmd_table[i]))
			printf("  %-10s %s\n", cmd_table[i]->name,
			    cmd_table[i]->summary);
	printf("\n'getbot help COMMAND' shows a command's options.\n"
	       "Exit codes: 0 success, 1 error, 2 changes present "
	       "(--detailed-exitcode),\n3 blocked by policy, 4 lock held, 5 "
	       "some actions failed.\n");
}

static void
cmd_help_entry_show(const struct cmd_entry *entry)
{
	const struct cmd_option *o;
	struct strbuf sb = STRBUF_INIT;

	cmd_synopsis(entry, &sb);
	printf("usage: %s\n\n", sb.buf);
	cmd_help_wrap(entry->description, 0, 76);
	if (entry->options != NULL && entry->options->name != NULL)
		printf("\noptions:\n");
	for (o = entry->options; o != NULL && o->name != NULL; o++) {
		strbuf_reset(&sb);
		if (o->short_name)
			strbuf_addf(&sb, "-%c, ", o->short_name);
		strbuf_addf(&sb, "--%s", o->name);
		if (o->arg != NULL)
			strbuf_addf(&sb, " %s", o->arg);
		printf("  %s\n", sb.buf);
		cmd_help_wrap(o->help, 6, 76);
	}
	strbuf_release(&sb);
}

static int
cmd_help_exec(const struct cmd_args *args)
{
	const struct cmd_entry *entry;

	if (args->npositional == 0) {
		cmd_help_list();
		return EXIT_OK;
	}
	entry = cmd_find(args->positional[0]);
	if (entry == NULL) {
		fprintf(stderr,
		    "getbot help: no command '%s'; 'getbot help' lists them\n",
		    args->positional[0]);
		return EXIT_ERROR;
	}
	cmd_help_entry_show(entry);
	return EXIT_OK;
}

const struct cmd_entry cmd_help_entry = {
	.name = "help",
	.args_usage = "[COMMAND]",
	.summary = "list the commands, or show one command's usage and options",
	.description = "Without COMMAND, lists getbot's commands. With "
		       "COMMAND, shows its usage, what it does and its "
		       "options. 'getbot COMMAND --help' does the same.",
	.options = NULL,
	.min_args = 0,
	.max_args = 1,
	.exec = cmd_help_exec,
};
