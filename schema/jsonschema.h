/*
 * A JSON Schema (2020-12) interpreter for the keywords bots.schema.json
 * uses, applied to a YAML node tree. Loading refuses a schema that uses a
 * keyword this interpreter does not know, so the schema cannot say more
 * than getbot checks.
 *
 * Extensions (annotations to other tools): "x-getbot-secret": true marks a
 * secret reference, so that a literal string there gets a message that says
 * how to reference it (and never shows it); "x-getbot-message" replaces the
 * message for a failure of that schema object's own checks.
 */
#ifndef GETBOT_JSONSCHEMA_H
#define GETBOT_JSONSCHEMA_H

#include <cjson/cJSON.h>

#include "diag.h"
#include "node.h"
#include "strbuf.h"

struct jsonschema;

/* Parse and check a schema; on failure returns -1 with the reason in err. */
int jsonschema_load(
    const char *text, size_t len, struct jsonschema **out, struct strbuf *err);
void jsonschema_free(struct jsonschema *schema);
/* The parsed schema document (owned by schema). */
const cJSON *jsonschema_root(const struct jsonschema *schema);
/* Resolve a "#/..." reference; NULL when it names nothing. */
const cJSON *jsonschema_resolve(
    const struct jsonschema *schema, const char *ref);
/* Validate doc, adding one diagnostic per problem; returns their number. */
size_t jsonschema_validate(struct jsonschema *schema,
    const struct node_doc *doc, struct diag_list *diags);

/* The closest of candidates[n] to word (edit distance <= 2), or NULL. */
const char *jsonschema_did_you_mean(
    const char *word, const char *const *candidates, size_t n);

#endif
