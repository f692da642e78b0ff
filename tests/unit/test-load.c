/* The YAML loader: types, locations and everything it refuses. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"
#include "strbuf.h"
#include "tap.h"
#include "xmalloc.h"

/* Load text; return the doc or NULL, and the first diagnostic in first. */
static struct node_doc *
load(const char *text, size_t len, char **first)
{
	struct diag_list diags = DIAG_LIST_INIT;
	struct node_doc *doc = NULL;
	struct strbuf sb = STRBUF_INIT;

	(void)load_buffer("t.yaml", text, len, &doc, &diags);
	if (diags.count > 0) {
		const struct diag *d = &diags.items[0];

		strbuf_addf(&sb, "%u:%u: %s", d->line, d->column, d->message);
	}
	*first = strbuf_detach(&sb, NULL);
	diag_list_clear(&diags);
	return doc;
}

static void
test_load__scalars_get_yaml_1_2_core_types(void)
{
	const char *text = "s: hello\ni: 42\nneg: -7\nhex: 0x1F\nf: 2.5\n"
			   "b: true\nn: ~\ne:\nq: '42'\ny: yes\n";
	char *first;
	struct node_doc *doc = load(text, strlen(text), &first);

	ok(doc != NULL, "loads");
	if (doc == NULL)
		return;
	is_int(node_get(doc->root, "s")->scalar_type, SCALAR_STRING, "string");
	is_int(node_get(doc->root, "i")->scalar_type, SCALAR_INT, "integer");
	ok(node_get(doc->root, "i")->number == 42, "integer value");
	ok(node_get(doc->root, "neg")->number == -7, "negative integer");
	ok(node_get(doc->root, "hex")->number == 31, "hex integer");
	is_int(node_get(doc->root, "f")->scalar_type, SCALAR_FLOAT, "float");
	is_int(node_get(doc->root, "b")->scalar_type, SCALAR_BOOL, "boolean");
	is_int(node_get(doc->root, "n")->scalar_type, SCALAR_NULL, "~ is null");
	is_int(node_get(doc->root, "e")->scalar_type, SCALAR_NULL,
	    "empty is null");
	is_int(node_get(doc->root, "q")->scalar_type, SCALAR_STRING,
	    "quoted number is a string");
	is_int(node_get(doc->root, "y")->scalar_type, SCALAR_STRING,
	    "yes is a string under YAML 1.2");
	node_doc_free(doc);
	free(first);
}

static void
test_load__nodes_know_their_line_and_column(void)
{
	const char *text = "a:\n  b: [x, y]\n";
	char *first;
	struct node_doc *doc = load(text, strlen(text), &first);
	const struct node *seq;

	ok(doc != NULL, "loads");
	if (doc == NULL)
		return;
	seq = node_get(node_get(doc->root, "a"), "b");
	is_int(seq->line, 2, "sequence line");
	is_int(seq->column, 6, "sequence column");
	is_int(seq->items[1]->column, 10, "second item column");
	is_int(node_get_key(node_get(doc->root, "a"), "b")->column, 3,
	    "key column");
	node_doc_free(doc);
	free(first);
}

static void
expect_refused(const char *text, size_t len, const char *want, const char *why)
{
	char *first;
	struct node_doc *doc =
	    load(text, len == SIZE_MAX ? strlen(text) : len, &first);

	ok(doc == NULL, "%s: refused", why);
	is_str(first, want, "%s: diagnostic", why);
	node_doc_free(doc);
	free(first);
}

static void
test_load__duplicate_keys_are_refused(void)
{
	expect_refused("a: 1\nb:\n  c: 1\n  c: 2\n", 22,
	    "4:3: duplicate key 'c' (first at 3:3)", "nested duplicate");
}

static void
test_load__alias_bomb_is_refused(void)
{
	struct strbuf sb = STRBUF_INIT;
	char name = 'a';
	int level, i;

	strbuf_addstr(&sb, "a: &a [x, x, x, x, x, x, x, x, x, x]\n");
	for (level = 0; level < 6; level++, name++) {
		strbuf_addf(&sb, "%c: &%c [", name + 1, name + 1);
		for (i = 0; i < 10; i++)
			strbuf_addf(&sb, "%s*%c", i ? ", " : "", name);
		strbuf_addstr(&sb, "]\n");
	}
	expect_refused(sb.buf, sb.len,
	    "5:44: aliases expand to more than 100000 nodes; refusing what "
	    "looks like an alias bomb",
	    "a billion laughs");
	strbuf_release(&sb);
}

static void
test_load__aliases_share_their_anchor(void)
{
	const char *text = "base: &emails [a@acme.com]\nother: *emails\n";
	char *first;
	struct node_doc *doc = load(text, strlen(text), &first);

	ok(doc != NULL, "a modest alias loads");
	if (doc != NULL)
		ok(node_get(doc->root, "base") == node_get(doc->root, "other"),
		    "the alias is the anchored node");
	node_doc_free(doc);
	free(first);
}

static void
test_load__undefined_and_recursive_aliases_are_refused(void)
{
	expect_refused("a: *nope\n", 9,
	    "1:4: alias '*nope' names no anchor defined before it",
	    "undefined alias");
	expect_refused("a: &x [*x]\n", 11,
	    "1:8: alias '*x' names no anchor defined before it",
	    "an alias inside its own anchor");
}

static void
test_load__tabs_in_indentation_are_refused(void)
{
	expect_refused("a:\n\tb: 1\n", 9,
	    "2:1: tab character in indentation; YAML indents with spaces",
	    "tab indentation");
}

static void
test_load__encoding_faults_are_refused(void)
{
	expect_refused("a: \xff\n", 5,
	    "1:4: invalid UTF-8 (byte 0xff); save the file as UTF-8",
	    "invalid byte");
	expect_refused("a: b\nc: \xc3\x28\n", 10,
	    "2:4: invalid UTF-8 (byte 0xc3); save the file as UTF-8",
	    "truncated sequence");
	expect_refused("a: \xe9t\xc3\xa9\n", 8,
	    "1:4: invalid UTF-8 (byte 0xe9); save the file as UTF-8",
	    "Latin-1 text");
	expect_refused("\xff\xfe"
		       "a\0:\0",
	    6, "1:1: file is UTF-16 or UTF-32; getbot reads UTF-8 only",
	    "UTF-16 byte order mark");
	expect_refused("a: b\0c\n", 7,
	    "1:5: NUL byte in file; is it a text file?", "NUL byte");
}

static void
test_load__oversized_files_are_refused(void)
{
	size_t len = LOAD_MAX_SIZE + 1;
	char *big = xmalloc(len);

	memset(big, '#', len);
	expect_refused(big, len,
	    "0:0: file is larger than 1048576 bytes; is it really a bots.yaml?",
	    "over the size limit");
	free(big);
}

static void
test_load__deep_nesting_is_refused(void)
{
	struct strbuf sb = STRBUF_INIT;
	int i;

	for (i = 0; i < 70; i++)
		strbuf_addch(&sb, '[');
	for (i = 0; i < 70; i++)
		strbuf_addch(&sb, ']');
	expect_refused(sb.buf, sb.len, "1:65: nesting deeper than 64 levels",
	    "70 nested sequences");
	strbuf_release(&sb);
}

static void
test_load__other_refusals(void)
{
	expect_refused("a: 1\n---\nb: 2\n", 14,
	    "2:1: only one YAML document is allowed per file", "two documents");
	expect_refused("", 0, "1:1: file is empty", "empty file");
	expect_refused(
	    "# only a comment\n", 17, "1:1: file is empty", "comment only");
	expect_refused("a: {b: 1}\nc:\n  <<: {d: 1}\n", SIZE_MAX,
	    "3:3: merge keys ('<<') are not supported; write the keys out",
	    "merge key");
	expect_refused("[a]: 1\n", 7,
	    "1:1: a mapping key must be a non-empty string",
	    "a sequence as a key");
	expect_refused("a: !!binary aGVsbG8=\n", 20,
	    "1:4: YAML tag 'tag:yaml.org,2002:binary' is not supported here",
	    "a tag");
	expect_refused("a: [1, 2\n", 9,
	    "2:1: YAML syntax: did not find expected ',' or ']' (while "
	    "parsing a flow sequence at 1:4)",
	    "a syntax error");
}

int
main(void)
{
	test_load__scalars_get_yaml_1_2_core_types();
	test_load__nodes_know_their_line_and_column();
	test_load__duplicate_keys_are_refused();
	test_load__alias_bomb_is_refused();
	test_load__aliases_share_their_anchor();
	test_load__undefined_and_recursive_aliases_are_refused();
	test_load__tabs_in_indentation_are_refused();
	test_load__encoding_faults_are_refused();
	test_load__oversized_files_are_refused();
	test_load__deep_nesting_is_refused();
	test_load__other_refusals();
	return tap_done();
}
