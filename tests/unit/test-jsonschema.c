/* The JSON Schema interpreter, on small schemas, and on bots.schema.json. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "embedded.h"
#include "jsonschema.h"
#include "load.h"
#include "strbuf.h"
#include "tap.h"

/* Validate yaml against schema_text; every diagnostic, one per line. */
static char *
check(const char *schema_text, const char *yaml)
{
	struct diag_list diags = DIAG_LIST_INIT;
	struct strbuf err = STRBUF_INIT, out = STRBUF_INIT;
	struct jsonschema *schema = NULL;
	struct node_doc *doc = NULL;
	size_t i;

	if (jsonschema_load(schema_text, strlen(schema_text), &schema, &err) !=
	    0) {
		strbuf_addf(&out, "schema: %s", err.buf);
		goto out;
	}
	if (load_buffer("t.yaml", yaml, strlen(yaml), &doc, &diags) == 0)
		jsonschema_validate(schema, doc, &diags);
	diag_list_sort(&diags);
	for (i = 0; i < diags.count; i++)
		strbuf_addf(&out, "%s%u:%u: %s: %s", i ? "\n" : "",
		    diags.items[i].line, diags.items[i].column,
		    diags.items[i].path, diags.items[i].message);
out:
	node_doc_free(doc);
	jsonschema_free(schema);
	diag_list_clear(&diags);
	strbuf_release(&err);
	return strbuf_detach(&out, NULL);
}

static void
expect(const char *schema, const char *yaml, const char *want, const char *why)
{
	char *got = check(schema, yaml);

	is_str(got, want, "%s", why);
	free(got);
}

static const char *const person =
    "{\"type\":\"object\",\"required\":[\"name\"],"
    "\"additionalProperties\":false,"
    "\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1},"
    "\"age\":{\"type\":\"integer\",\"minimum\":0},"
    "\"role\":{\"enum\":[\"admin\",\"user\"]},"
    "\"tags\":{\"type\":\"array\",\"uniqueItems\":true,"
    "\"items\":{\"type\":\"string\",\"pattern\":\"^[a-z]+$\"}}}}";

static void
test_jsonschema__valid_instance_has_no_diagnostics(void)
{
	expect(person, "name: ann\nage: 3\nrole: admin\ntags: [a, b]\n", "",
	    "a valid instance");
}

static void
test_jsonschema__required_key_points_at_the_mapping(void)
{
	expect(person, "age: 3\n", "1:1: name: required key is missing",
	    "missing required key");
}

static void
test_jsonschema__unknown_key_suggests_the_close_one(void)
{
	expect(person, "name: ann\nrloe: admin\n",
	    "2:1: rloe: unknown key; did you mean 'role'?",
	    "a transposition is suggested");
	expect(person, "name: ann\nfavourite: x\n",
	    "2:1: favourite: unknown key", "nothing close: no suggestion");
}

static void
test_jsonschema__types_enums_patterns_bounds(void)
{
	expect(person, "name: 5\n",
	    "1:7: name: expected a string, got an integer (quote it to make it "
	    "a string)",
	    "type mismatch");
	expect(person, "name: ann\nrole: root\n",
	    "2:7: role: must be one of: admin, user (got 'root')",
	    "enum mismatch");
	expect(person, "name: ann\nage: -1\n", "2:6: age: must be at least 0",
	    "minimum");
	expect(person, "name: ann\ntags: [a, B1]\n",
	    "2:11: tags[1]: 'B1' does not match the pattern ^[a-z]+$",
	    "pattern, with an index in the path");
	expect(person, "name: ann\ntags: [a, b, a]\n",
	    "2:14: tags[2]: duplicate of item [0]", "uniqueItems");
	expect(
	    person, "name: ''\n", "1:7: name: must not be empty", "minLength");
	expect(person, "- a\n",
	    "1:1: (root): expected a mapping, got a sequence", "root type");
}

static void
test_jsonschema__secret_literal_is_named_not_shown(void)
{
	const char *schema =
	    "{\"type\":\"object\",\"properties\":{\"key\":{\"type\":\"object\","
	    "\"x-getbot-secret\":true,\"properties\":{\"env\":{\"type\":"
	    "\"string\"}}}}}";
	char *got = check(schema, "key: sk-CANARY-1234\n");

	ok(strstr(got, "literal secret") != NULL, "a literal secret is named");
	ok(strstr(got, "CANARY") == NULL, "and never shown (got '%s')", got);
	free(got);
}

static void
test_jsonschema__custom_message_replaces_the_default(void)
{
	expect("{\"type\":\"string\",\"pattern\":\"^a$\","
	       "\"x-getbot-message\":\"say a\"}",
	    "b\n", "1:1: (root): say a", "x-getbot-message");
}

static void
test_jsonschema__if_then_selects_a_branch(void)
{
	const char *schema =
	    "{\"type\":\"object\",\"required\":[\"kind\"],"
	    "\"allOf\":[{\"if\":{\"required\":[\"kind\"],\"properties\":"
	    "{\"kind\":{\"const\":\"a\"}}},\"then\":{\"required\":[\"x\"]}},"
	    "{\"if\":{\"required\":[\"kind\"],\"properties\":{\"kind\":"
	    "{\"const\":\"b\"}}},\"then\":{\"required\":[\"y\"]}}]}";

	expect(schema, "kind: a\nx: 1\n", "", "branch a satisfied");
	expect(schema, "kind: b\nx: 1\n", "1:1: y: required key is missing",
	    "branch b applies its own rule only");
}

static void
test_jsonschema__one_of_reports_the_closest_branch(void)
{
	const char *schema =
	    "{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"object\","
	    "\"required\":[\"a\"]}]}";

	expect(schema, "b: 1\n", "1:1: a: required key is missing",
	    "the object branch's own error");
	expect(schema, "[1]\n",
	    "1:1: (root): expected a string or a mapping, got a sequence",
	    "no branch of that type");
}

static void
test_jsonschema__odd_keys_are_quoted_in_paths(void)
{
	expect("{\"additionalProperties\":false}", "\"a.b\": 1\n",
	    "1:1: [\"a.b\"]: unknown key", "a key with a dot");
}

static void
expect_schema_refused(const char *schema, const char *want_part)
{
	struct strbuf err = STRBUF_INIT;
	struct jsonschema *loaded = NULL;

	is_int(jsonschema_load(schema, strlen(schema), &loaded, &err), -1,
	    "schema %s is refused", schema);
	ok(strstr(err.buf, want_part) != NULL, "because '%s' (got '%s')",
	    want_part, err.buf);
	jsonschema_free(loaded);
	strbuf_release(&err);
}

static void
test_jsonschema__schema_may_only_say_what_is_interpreted(void)
{
	expect_schema_refused("{\"unevaluatedProperties\":false}",
	    "keyword 'unevaluatedProperties' is not interpreted");
	expect_schema_refused("{\"properties\":{\"a\":{\"contains\":{}}}}",
	    "#/properties/a: keyword 'contains' is not interpreted");
	expect_schema_refused("{\"pattern\":\"^\\\\d+$\"}", "write a bracket");
	expect_schema_refused(
	    "{\"$ref\":\"#/$defs/none\"}", "reference resolves to nothing");
	expect_schema_refused(
	    "{\"format\":\"ipv4\"}", "format is not interpreted");
	expect_schema_refused("{", "not valid JSON");
}

static void
test_jsonschema__bots_schema_loads(void)
{
	struct strbuf err = STRBUF_INIT;
	struct jsonschema *schema = NULL;

	is_int(jsonschema_load(
		   bots_schema_json, bots_schema_json_len, &schema, &err),
	    0, "the embedded bots.schema.json uses only interpreted keywords");
	if (err.len > 0)
		printf("# %s\n", err.buf);
	jsonschema_free(schema);
	strbuf_release(&err);
}

static void
test_jsonschema__did_you_mean(void)
{
	const char *const words[] = { "persona", "instructions", "model" };

	is_str(jsonschema_did_you_mean("persna", words, 3), "persona",
	    "one deletion");
	is_str(jsonschema_did_you_mean("modle", words, 3), "model",
	    "a transposition");
	ok(jsonschema_did_you_mean("xyz", words, 3) == NULL, "nothing close");
}

int
main(void)
{
	test_jsonschema__valid_instance_has_no_diagnostics();
	test_jsonschema__required_key_points_at_the_mapping();
	test_jsonschema__unknown_key_suggests_the_close_one();
	test_jsonschema__types_enums_patterns_bounds();
	test_jsonschema__secret_literal_is_named_not_shown();
	test_jsonschema__custom_message_replaces_the_default();
	test_jsonschema__if_then_selects_a_branch();
	test_jsonschema__one_of_reports_the_closest_branch();
	test_jsonschema__odd_keys_are_quoted_in_paths();
	test_jsonschema__schema_may_only_say_what_is_interpreted();
	test_jsonschema__bots_schema_loads();
	test_jsonschema__did_you_mean();
	return tap_done();
}
