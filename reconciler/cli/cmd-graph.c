/* getbot graph: the plan's dependency graph as Graphviz DOT. */
#include "config.h"

#include <stdio.h>

#include "cmd.h"
#include "plan-print.h"
#include "prepare.h"

static const struct cmd_option cmd_graph_options[] = {
	PREPARE_OPTIONS,
	{ NULL, 0, NULL, NULL },
};

static void
cmd_graph_print(const struct plan *plan)
{
	static const char *const symbols[ACTION_KIND_COUNT] = { "+", "~", "~",
		"~", "-/+", "-" };
	size_t i, d;

	printf("digraph getbot {\n\trankdir = LR;\n\tnode [shape = box];\n");
	for (i = 0; i < plan->count; i++)
		printf("\t\"%s\" [label = \"%s %s\\n%s\"];\n",
		    plan->actions[i].address, symbols[plan->actions[i].kind],
		    plan->actions[i].address,
		    action_kind_name(plan->actions[i].kind));
	for (i = 0; i < plan->count; i++)
		for (d = 0; d < plan->actions[i].ndeps; d++)
			printf("\t\"%s\" -> \"%s\";\n",
			    plan->actions[plan->actions[i].deps[d]].address,
			    plan->actions[i].address);
	printf("}\n");
}

static int
cmd_graph_exec(const struct cmd_args *args)
{
	struct prepared p;
	int rc;

	rc = prepare_options(args, &p);
	if (rc == EXIT_OK)
		rc = prepare_plan(args, args->providers, &p, false);
	if (rc == EXIT_OK)
		cmd_graph_print(&p.plan);
	else
		plan_print_problems(stderr, &p.plan, false);
	prepare_release(&p);
	return rc;
}

const struct cmd_entry cmd_graph_entry = {
	.name = "graph",
	.args_usage = "",
	.summary = "print the plan's dependency graph as Graphviz DOT",
	.description =
	    "Plans as 'getbot plan' does and prints its actions as "
	    "a Graphviz digraph: an edge A -> B means B waits for A. "
	    "Render it with: getbot graph | dot -Tsvg > plan.svg",
	.options = cmd_graph_options,
	.min_args = 0,
	.max_args = 0,
	.needs_providers = true,
	.exec = cmd_graph_exec,
};
