/*
 * yaml-paths: parse YAML files with libyaml, as a CI service would, and
 * print every scalar with where it is: "jobs.plan.steps[1].run<TAB>VALUE",
 * a value's line breaks as \n and backslashes as \\. Exits 1 at the first
 * file that does not parse, naming the place. For tests/ci-examples.sh.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "strbuf.h"

#define YAML_PATHS_DEPTH 64

struct yaml_paths {
	const char *file;
	yaml_parser_t parser;
	struct strbuf path;
};

static int
yaml_paths_next(struct yaml_paths *y, yaml_event_t *event)
{
	if (yaml_parser_parse(&y->parser, event))
		return 0;
	fprintf(stderr, "%s:%zu:%zu: %s\n", y->file,
	    y->parser.problem_mark.line + 1, y->parser.problem_mark.column + 1,
	    y->parser.problem != NULL ? y->parser.problem : "error");
	return -1;
}

static void
yaml_paths_print(const char *path, const unsigned char *value, size_t len)
{
	size_t i;

	printf("%s\t", path);
	for (i = 0; i < len; i++) {
		if (value[i] == '\n')
			fputs("\\n", stdout);
		else if (value[i] == '\\')
			fputs("\\\\", stdout);
		else
			putchar(value[i]);
	}
	putchar('\n');
}

/* The node that event starts, at y->path; takes event (deletes it). */
static int
yaml_paths_node(struct yaml_paths *y, yaml_event_t *event, unsigned depth)
{
	size_t base = y->path.len, index = 0;
	yaml_event_t next;
	int rc = 0;

	if (depth > YAML_PATHS_DEPTH) {
		fprintf(stderr, "%s: nested too deep\n", y->file);
		yaml_event_delete(event);
		return -1;
	}
	switch (event->type) {
	case YAML_SCALAR_EVENT:
		yaml_paths_print(y->path.buf, event->data.scalar.value,
		    event->data.scalar.length);
		break;
	case YAML_ALIAS_EVENT:
		printf("%s\t*%s\n", y->path.buf, event->data.alias.anchor);
		break;
	case YAML_SEQUENCE_START_EVENT:
		while ((rc = yaml_paths_next(y, &next)) == 0 &&
		       next.type != YAML_SEQUENCE_END_EVENT) {
			strbuf_setlen(&y->path, base);
			strbuf_addf(&y->path, "[%zu]", index++);
			if ((rc = yaml_paths_node(y, &next, depth + 1)) != 0)
				break;
		}
		if (rc == 0)
			yaml_event_delete(&next);
		break;
	case YAML_MAPPING_START_EVENT:
		while ((rc = yaml_paths_next(y, &next)) == 0 &&
		       next.type != YAML_MAPPING_END_EVENT) {
			strbuf_setlen(&y->path, base);
			if (base > 0)
				strbuf_addch(&y->path, '.');
			if (next.type == YAML_SCALAR_EVENT)
				strbuf_add(&y->path, next.data.scalar.value,
				    next.data.scalar.length);
			else {
				/* a complex key: walked, its path "?" */
				strbuf_addch(&y->path, '?');
				if ((rc = yaml_paths_node(
					 y, &next, depth + 1)) != 0)
					break;
				next.type = YAML_NO_EVENT;
			}
			yaml_event_delete(&next);
			if ((rc = yaml_paths_next(y, &next)) != 0 ||
			    (rc = yaml_paths_node(y, &next, depth + 1)) != 0)
				break;
		}
		if (rc == 0)
			yaml_event_delete(&next);
		break;
	default:
		break;
	}
	strbuf_setlen(&y->path, base);
	yaml_event_delete(event);
	return rc;
}

static int
yaml_paths_file(const char *file)
{
	struct yaml_paths y = { .file = file, .path = STRBUF_INIT };
	yaml_event_t event;
	FILE *in = fopen(file, "rb");
	int rc = -1;

	if (in == NULL) {
		perror(file);
		return -1;
	}
	yaml_parser_initialize(&y.parser);
	yaml_parser_set_input_file(&y.parser, in);
	for (;;) {
		if (yaml_paths_next(&y, &event) != 0)
			goto out;
		if (event.type == YAML_STREAM_END_EVENT)
			break;
		if (event.type == YAML_SCALAR_EVENT ||
		    event.type == YAML_SEQUENCE_START_EVENT ||
		    event.type == YAML_MAPPING_START_EVENT ||
		    event.type == YAML_ALIAS_EVENT) {
			if (yaml_paths_node(&y, &event, 0) != 0)
				goto out;
		} else
			yaml_event_delete(&event);
	}
	yaml_event_delete(&event);
	rc = 0;
out:
	yaml_parser_delete(&y.parser);
	fclose(in);
	strbuf_release(&y.path);
	return rc;
}

int
main(int argc, char **argv)
{
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: yaml-paths FILE...\n");
		return 2;
	}
	for (i = 1; i < argc; i++)
		if (yaml_paths_file(argv[i]) != 0)
			return 1;
	return 0;
}
