/* The JSON Schema interpreter: bots.schema.json drives validation. */
#include "config.h"

#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "jsonschema.h"
#include "xmalloc.h"

#define X_SECRET  "x-getbot-secret"
#define X_MESSAGE "x-getbot-message"

/* Every keyword the interpreter acts on or knowingly ignores. */
static const char *const jsonschema_keywords[] = {
	/* annotations: no effect on validation */
	"$schema",
	"$id",
	"$comment",
	"title",
	"description",
	"default",
	"examples",
	"deprecated",
	"$defs",
	/* applied */
	"$ref",
	"type",
	"enum",
	"const",
	"minLength",
	"maxLength",
	"pattern",
	"format",
	"minimum",
	"maximum",
	"exclusiveMinimum",
	"exclusiveMaximum",
	"properties",
	"patternProperties",
	"additionalProperties",
	"propertyNames",
	"required",
	"minProperties",
	"maxProperties",
	"items",
	"minItems",
	"maxItems",
	"uniqueItems",
	"allOf",
	"anyOf",
	"oneOf",
	"if",
	"then",
	"else",
	X_SECRET,
	X_MESSAGE,
};

static const char *const jsonschema_formats[] = { "email", "uri" };

struct jsonschema_regex {
	const char *pattern; /* points into the cJSON tree */
	regex_t compiled;
};

struct jsonschema {
	cJSON *root;
	struct jsonschema_regex *regexes;
	size_t nregexes, regexes_alloc;
};

struct jsonschema_ctx {
	struct jsonschema *schema;
	const char *file;
	struct diag_list *out;
};

/* Optimal string alignment distance, capped at cap + 1. */
static size_t
jsonschema_distance(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b), i, j, result;
	size_t *rows;

	if (la > 64 || lb > 64)
		return cap + 1;
	if ((la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	rows = xcalloc(3 * (lb + 1), sizeof(*rows));
	/* rows: [prev2][prev][cur] */
	for (j = 0; j <= lb; j++)
		rows[(lb + 1) + j] = j;
	for (i = 1; i <= la; i++) {
		size_t *prev2 = rows, *prev = rows + (lb + 1),
		       *cur = rows + 2 * (lb + 1);

		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = prev[j] + 1;

			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (prev[j - 1] + cost < best)
				best = prev[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			cur[j] = best;
		}
		memmove(prev2, prev, (lb + 1) * sizeof(*rows));
		memmove(prev, cur, (lb + 1) * sizeof(*rows));
	}
	result = rows[(lb + 1) + lb];
	free(rows);
	return result;
}

const char *
jsonschema_did_you_mean(
    const char *word, const char *const *candidates, size_t n)
{
	const char *best = NULL;
	size_t best_distance = 3, i;

	for (i = 0; i < n; i++) {
		size_t cap = strlen(candidates[i]) < 4 ? 1 : 2;
		size_t d = jsonschema_distance(word, candidates[i], cap);

		if (d <= cap && d < best_distance) {
			best = candidates[i];
			best_distance = d;
		}
	}
	return best;
}

/* ---- loading ---- */

static const cJSON *
jsonschema_pointer(const cJSON *root, const char *pointer)
{
	const cJSON *at = root;
	char token[256];

	if (pointer[0] != '#')
		return NULL;
	pointer++;
	while (*pointer == '/' && at != NULL) {
		size_t len = 0;

		pointer++;
		while (*pointer != '\0' && *pointer != '/') {
			if (len + 1 >= sizeof(token))
				return NULL;
			if (pointer[0] == '~' && pointer[1] == '1') {
				token[len++] = '/';
				pointer += 2;
			} else if (pointer[0] == '~' && pointer[1] == '0') {
				token[len++] = '~';
				pointer += 2;
			} else
				token[len++] = *pointer++;
		}
		token[len] = '\0';
		at = cJSON_GetObjectItemCaseSensitive(at, token);
	}
	return *pointer == '\0' ? at : NULL;
}

const cJSON *
jsonschema_resolve(const struct jsonschema *schema, const char *ref)
{
	return jsonschema_pointer(schema->root, ref);
}

static const regex_t *
jsonschema_regex(const struct jsonschema *schema, const char *pattern)
{
	size_t i;

	for (i = 0; i < schema->nregexes; i++)
		if (schema->regexes[i].pattern == pattern)
			return &schema->regexes[i].compiled;
	return NULL;
}

/* POSIX EREs stand in for ECMA-262 patterns: refuse escapes they lack. */
static int
jsonschema_add_regex(
    struct jsonschema *schema, const char *pattern, struct strbuf *err)
{
	struct jsonschema_regex *re;
	const char *p;

	for (p = pattern; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0' && strchr("dDwWsSbB", p[1])) {
			strbuf_addf(err,
			    "pattern '%s' uses '\\%c'; write a bracket "
			    "expression",
			    pattern, p[1]);
			return -1;
		}
		if (*p == '\\' && p[1] != '\0')
			p++;
	}
	ALLOC_GROW(
	    schema->regexes, schema->nregexes + 1, schema->regexes_alloc);
	re = &schema->regexes[schema->nregexes];
	if (regcomp(&re->compiled, pattern, REG_EXTENDED | REG_NOSUB) != 0) {
		strbuf_addf(err, "pattern '%s' does not compile", pattern);
		return -1;
	}
	re->pattern = pattern;
	schema->nregexes++;
	return 0;
}

static int jsonschema_check(struct jsonschema *schema, const cJSON *node,
    const char *where, struct strbuf *err);

/* Check each member of an object whose values are schemas. */
static int
jsonschema_check_members(struct jsonschema *schema, const cJSON *object,
    const char *where, struct strbuf *err)
{
	const cJSON *member;

	if (!cJSON_IsObject(object)) {
		strbuf_addf(err, "%s: expected an object", where);
		return -1;
	}
	cJSON_ArrayForEach (member, object) {
		char *sub = xasprintf("%s/%s", where, member->string);
		int rc = jsonschema_check(schema, member, sub, err);

		free(sub);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* Walk a schema: known keywords only, compiled patterns, resolvable refs. */
static int
jsonschema_check(struct jsonschema *schema, const cJSON *node,
    const char *where, struct strbuf *err)
{
	const cJSON *kw;
	size_t i;

	if (cJSON_IsBool(node))
		return 0;
	if (!cJSON_IsObject(node)) {
		strbuf_addf(
		    err, "%s: a schema must be an object or a boolean", where);
		return -1;
	}
	cJSON_ArrayForEach (kw, node) {
		const char *name = kw->string;
		bool known = false;
		int rc = 0;
		char *sub;

		for (i = 0; i < ARRAY_SIZE(jsonschema_keywords) && !known; i++)
			known = strcmp(name, jsonschema_keywords[i]) == 0;
		if (!known) {
			strbuf_addf(err, "%s: keyword '%s' is not interpreted",
			    where, name);
			return -1;
		}
		sub = xasprintf("%s/%s", where, name);
		if (strcmp(name, "$defs") == 0 ||
		    strcmp(name, "properties") == 0)
			rc = jsonschema_check_members(schema, kw, sub, err);
		else if (strcmp(name, "patternProperties") == 0) {
			const cJSON *member;

			rc = jsonschema_check_members(schema, kw, sub, err);
			cJSON_ArrayForEach (member, kw) {
				if (rc == 0)
					rc = jsonschema_add_regex(
					    schema, member->string, err);
			}
		} else if (strcmp(name, "additionalProperties") == 0 ||
			   strcmp(name, "items") == 0 ||
			   strcmp(name, "propertyNames") == 0 ||
			   strcmp(name, "if") == 0 ||
			   strcmp(name, "then") == 0 ||
			   strcmp(name, "else") == 0)
			rc = jsonschema_check(schema, kw, sub, err);
		else if (strcmp(name, "allOf") == 0 ||
			 strcmp(name, "anyOf") == 0 ||
			 strcmp(name, "oneOf") == 0) {
			const cJSON *branch;

			if (!cJSON_IsArray(kw) || cJSON_GetArraySize(kw) == 0) {
				strbuf_addf(
				    err, "%s: expected a non-empty array", sub);
				rc = -1;
			}
			cJSON_ArrayForEach (branch, kw) {
				if (rc == 0)
					rc = jsonschema_check(
					    schema, branch, sub, err);
			}
		} else if (strcmp(name, "pattern") == 0) {
			if (!cJSON_IsString(kw)) {
				strbuf_addf(err, "%s: expected a string", sub);
				rc = -1;
			} else
				rc = jsonschema_add_regex(
				    schema, kw->valuestring, err);
		} else if (strcmp(name, "$ref") == 0) {
			if (!cJSON_IsString(kw) ||
			    jsonschema_resolve(schema, kw->valuestring) ==
				NULL) {
				strbuf_addf(err,
				    "%s: reference resolves to nothing", sub);
				rc = -1;
			}
		} else if (strcmp(name, "format") == 0) {
			bool format_known = false;

			for (i = 0; i < ARRAY_SIZE(jsonschema_formats) &&
				    cJSON_IsString(kw);
			     i++)
				format_known |= strcmp(kw->valuestring,
						    jsonschema_formats[i]) == 0;
			if (!format_known) {
				strbuf_addf(
				    err, "%s: format is not interpreted", sub);
				rc = -1;
			}
		}
		free(sub);
		if (rc != 0)
			return -1;
	}
	return 0;
}

int
jsonschema_load(
    const char *text, size_t len, struct jsonschema **out, struct strbuf *err)
{
	struct jsonschema *schema = xcalloc(1, sizeof(*schema));

	*out = NULL;
	schema->root = cJSON_ParseWithLength(text, len);
	if (schema->root == NULL) {
		strbuf_addstr(err, "the schema is not valid JSON");
		jsonschema_free(schema);
		return -1;
	}
	if (jsonschema_check(schema, schema->root, "#", err) != 0) {
		jsonschema_free(schema);
		return -1;
	}
	*out = schema;
	return 0;
}

void
jsonschema_free(struct jsonschema *schema)
{
	size_t i;

	if (schema == NULL)
		return;
	for (i = 0; i < schema->nregexes; i++)
		regfree(&schema->regexes[i].compiled);
	free(schema->regexes);
	cJSON_Delete(schema->root);
	free(schema);
}

const cJSON *
jsonschema_root(const struct jsonschema *schema)
{
	return schema->root;
}

/* ---- validation ---- */

static size_t jsonschema_apply(struct jsonschema_ctx *ctx, const cJSON *s,
    const struct node *inst, struct strbuf *path, struct diag_list *out);

static void __attribute__((format(printf, 6, 7))) jsonschema_report(
    struct jsonschema_ctx *ctx, struct diag_list *out, const cJSON *s,
    const struct node *at, const struct strbuf *path, const char *fmt, ...)
{
	const cJSON *custom = cJSON_GetObjectItemCaseSensitive(s, X_MESSAGE);
	const char *where = path->len > 0 ? path->buf : "(root)";
	va_list ap;

	if (cJSON_IsString(custom)) {
		diag_add(out, DIAG_ERROR, ctx->file, at->line, at->column,
		    where, "%s", custom->valuestring);
		return;
	}
	va_start(ap, fmt);
	diag_addv(
	    out, DIAG_ERROR, ctx->file, at->line, at->column, where, fmt, ap);
	va_end(ap);
}

static bool
jsonschema_type_matches(const char *type, const struct node *n)
{
	if (strcmp(type, "object") == 0)
		return n->kind == NODE_MAPPING;
	if (strcmp(type, "array") == 0)
		return n->kind == NODE_SEQUENCE;
	if (n->kind != NODE_SCALAR)
		return false;
	if (strcmp(type, "string") == 0)
		return n->scalar_type == SCALAR_STRING;
	if (strcmp(type, "integer") == 0)
		return n->scalar_type == SCALAR_INT ||
		       (n->scalar_type == SCALAR_FLOAT && isfinite(n->number) &&
			   floor(n->number) == n->number);
	if (strcmp(type, "number") == 0)
		return n->scalar_type == SCALAR_INT ||
		       n->scalar_type == SCALAR_FLOAT;
	if (strcmp(type, "boolean") == 0)
		return n->scalar_type == SCALAR_BOOL;
	if (strcmp(type, "null") == 0)
		return n->scalar_type == SCALAR_NULL;
	return false;
}

static const char *
jsonschema_type_phrase(const char *type)
{
	static const char *const phrases[][2] = {
		{ "object", "a mapping" },
		{ "array", "a sequence" },
		{ "string", "a string" },
		{ "integer", "an integer" },
		{ "number", "a number" },
		{ "boolean", "a boolean" },
		{ "null", "null" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(phrases); i++)
		if (strcmp(type, phrases[i][0]) == 0)
			return phrases[i][1];
	return type;
}

static const char *
jsonschema_node_phrase(const struct node *n)
{
	const char *name = node_type_name(n);

	if (strcmp(name, "null") == 0)
		return "null";
	if (strcmp(name, "integer") == 0)
		return "an integer";
	return strcmp(name, "mapping") == 0    ? "a mapping"
	       : strcmp(name, "sequence") == 0 ? "a sequence"
	       : strcmp(name, "string") == 0   ? "a string"
	       : strcmp(name, "number") == 0   ? "a number"
					       : "a boolean";
}

/* Does instance match the schema's "type" (absent: anything)? */
static bool
jsonschema_matches_type(const cJSON *s, const struct node *inst)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type");
	const cJSON *t;

	if (type == NULL)
		return true;
	if (cJSON_IsString(type))
		return jsonschema_type_matches(type->valuestring, inst);
	cJSON_ArrayForEach (t, type) {
		if (cJSON_IsString(t) &&
		    jsonschema_type_matches(t->valuestring, inst))
			return true;
	}
	return false;
}

static void
jsonschema_type_list(const cJSON *type, struct strbuf *sb)
{
	const cJSON *t;
	int i = 0, n;

	if (cJSON_IsString(type)) {
		strbuf_addstr(sb, jsonschema_type_phrase(type->valuestring));
		return;
	}
	n = cJSON_GetArraySize(type);
	cJSON_ArrayForEach (t, type) {
		if (i > 0)
			strbuf_addstr(sb, i == n - 1 ? " or " : ", ");
		strbuf_addstr(sb, jsonschema_type_phrase(t->valuestring));
		i++;
	}
}

/* Show a string value in a message: quoted, cut at 60 characters. */
static void
jsonschema_add_shown(struct strbuf *sb, const struct node *n)
{
	size_t shown = n->value_len > 60 ? 57 : n->value_len;

	while (shown < n->value_len &&
	       ((unsigned char)n->value[shown] & 0xc0) == 0x80)
		shown--; /* never cut a UTF-8 sequence */

	strbuf_addch(sb, '\'');
	strbuf_add(sb, n->value, strnlen(n->value, shown));
	if (shown < n->value_len)
		strbuf_addstr(sb, "...");
	strbuf_addch(sb, '\'');
}

static size_t
jsonschema_check_type(struct jsonschema_ctx *ctx, const cJSON *s,
    const struct node *inst, struct strbuf *path, struct diag_list *out)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type");
	struct strbuf msg = STRBUF_INIT;
	static const char *const yaml11_booleans[] = { "yes", "no", "on", "off",
		"y", "n", "Yes", "No", "On", "Off", "YES", "NO", "ON", "OFF" };
	size_t i;

	if (jsonschema_matches_type(s, inst))
		return 0;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, X_SECRET)) &&
	    inst->kind == NODE_SCALAR && inst->scalar_type != SCALAR_NULL) {
		/* never show the value: it may be a real key */
		diag_add(out, DIAG_ERROR, ctx->file, inst->line, inst->column,
		    path->buf,
		    "literal secret in bots.yaml; reference it instead as "
		    "{env: NAME}, {file: PATH} or {sealed: BASE64}");
		return 1;
	}
	strbuf_addstr(&msg, "expected ");
	jsonschema_type_list(type, &msg);
	strbuf_addf(&msg, ", got %s", jsonschema_node_phrase(inst));
	if (inst->kind == NODE_SCALAR && inst->scalar_type == SCALAR_STRING &&
	    cJSON_IsString(type) && strcmp(type->valuestring, "boolean") == 0)
		for (i = 0; i < ARRAY_SIZE(yaml11_booleans); i++)
			if (strcmp(inst->value, yaml11_booleans[i]) == 0) {
				strbuf_addstr(&msg,
				    " (YAML 1.2 booleans are true and false)");
				break;
			}
	if (inst->kind == NODE_SCALAR && inst->scalar_type != SCALAR_STRING &&
	    inst->scalar_type != SCALAR_NULL && cJSON_IsString(type) &&
	    strcmp(type->valuestring, "string") == 0)
		strbuf_addstr(&msg, " (quote it to make it a string)");
	if (inst->kind == NODE_SCALAR && inst->scalar_type == SCALAR_STRING &&
	    !inst->plain && cJSON_IsString(type) &&
	    (strcmp(type->valuestring, "integer") == 0 ||
		strcmp(type->valuestring, "number") == 0)) {
		char *end = NULL;

		(void)strtod(inst->value, &end);
		if (inst->value[0] != '\0' && end != NULL && *end == '\0')
			strbuf_addstr(&msg, " (remove the quotes)");
	}
	/* A quoted value keeps the plain words: the custom message would
	 * contradict what the user wrote (version: "1" is not version 2). */
	if (inst->kind == NODE_SCALAR && inst->scalar_type == SCALAR_STRING &&
	    !inst->plain)
		diag_add(out, DIAG_ERROR, ctx->file, inst->line, inst->column,
		    path->len > 0 ? path->buf : "(root)", "%s", msg.buf);
	else
		jsonschema_report(ctx, out, s, inst, path, "%s", msg.buf);
	strbuf_release(&msg);
	return 1;
}

/* Does the YAML node equal the JSON value (enum, const)? */
static bool
jsonschema_node_equals(const struct node *n, const cJSON *v)
{
	if (n->kind != NODE_SCALAR)
		return false;
	if (cJSON_IsString(v))
		return n->scalar_type == SCALAR_STRING &&
		       strlen(n->value) == n->value_len &&
		       strcmp(n->value, v->valuestring) == 0;
	if (cJSON_IsNumber(v))
		return (n->scalar_type == SCALAR_INT ||
			   n->scalar_type == SCALAR_FLOAT) &&
		       n->number == v->valuedouble;
	if (cJSON_IsBool(v))
		return n->scalar_type == SCALAR_BOOL &&
		       n->boolean == (bool)cJSON_IsTrue(v);
	if (cJSON_IsNull(v))
		return n->scalar_type == SCALAR_NULL;
	return false;
}

static void
jsonschema_add_json_value(struct strbuf *sb, const cJSON *v)
{
	char *printed;

	if (cJSON_IsString(v)) {
		strbuf_addstr(sb, v->valuestring);
		return;
	}
	printed = cJSON_PrintUnformatted(v);
	strbuf_addstr(sb, printed);
	free(printed);
}

static size_t
jsonschema_check_enum(struct jsonschema_ctx *ctx, const cJSON *s,
    const struct node *inst, struct strbuf *path, struct diag_list *out)
{
	const cJSON *values = cJSON_GetObjectItemCaseSensitive(s, "enum");
	const cJSON *constant = cJSON_GetObjectItemCaseSensitive(s, "const");
	struct strbuf msg = STRBUF_INIT;
	const cJSON *v;
	size_t errors = 0;
	int i = 0;

	if (constant != NULL && !jsonschema_node_equals(inst, constant)) {
		strbuf_addstr(&msg, "must be ");
		jsonschema_add_json_value(&msg, constant);
		errors++;
	} else if (values != NULL) {
		cJSON_ArrayForEach (v, values) {
			if (jsonschema_node_equals(inst, v))
				return 0;
		}
		strbuf_addstr(&msg, "must be one of: ");
		cJSON_ArrayForEach (v, values) {
			if (i++ > 0)
				strbuf_addstr(&msg, ", ");
			jsonschema_add_json_value(&msg, v);
		}
		errors++;
	}
	if (errors > 0) {
		if (inst->kind == NODE_SCALAR &&
		    inst->scalar_type != SCALAR_NULL) {
			strbuf_addstr(&msg, " (got ");
			jsonschema_add_shown(&msg, inst);
			strbuf_addch(&msg, ')');
		}
		jsonschema_report(ctx, out, s, inst, path, "%s", msg.buf);
	}
	strbuf_release(&msg);
	return errors;
}

static size_t
jsonschema_utf8_length(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

static bool
jsonschema_is_url(const char *s)
{
	const char *host;
	size_t host_len;

	if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return false;
	host_len = strcspn(host, "/?#");
	if (host_len == 0 || strcspn(host, " \t\r\n\"<>\\") != strlen(host))
		return false;
	return true;
}

/* user:password@ (or user@) before the host of a URL */
static bool
jsonschema_url_has_credentials(const char *s)
{
	const char *scheme_end = strstr(s, "://");
	size_t authority;

	if (scheme_end == NULL)
		return false;
	authority = strcspn(scheme_end + 3, "/?#");
	return memchr(scheme_end + 3, '@', authority) != NULL;
}

static size_t
jsonschema_check_string(struct jsonschema_ctx *ctx, const cJSON *s,
    const struct node *inst, struct strbuf *path, struct diag_list *out)
{
	const cJSON *min = cJSON_GetObjectItemCaseSensitive(s, "minLength");
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(s, "maxLength");
	const cJSON *pattern = cJSON_GetObjectItemCaseSensitive(s, "pattern");
	const cJSON *format = cJSON_GetObjectItemCaseSensitive(s, "format");
	size_t length = jsonschema_utf8_length(inst->value, inst->value_len);
	struct strbuf shown = STRBUF_INIT;
	size_t errors = 0;

	if (strlen(inst->value) != inst->value_len) {
		jsonschema_report(ctx, out, s, inst, path,
		    "must not contain a NUL character");
		return 1;
	}
	jsonschema_add_shown(&shown, inst);
	if (cJSON_IsNumber(min) && length < (size_t)min->valuedouble) {
		if (min->valuedouble == 1)
			jsonschema_report(
			    ctx, out, s, inst, path, "must not be empty");
		else
			jsonschema_report(ctx, out, s, inst, path,
			    "must be at least %d characters", min->valueint);
		errors++;
	} else if (cJSON_IsNumber(max) && length > (size_t)max->valuedouble) {
		jsonschema_report(ctx, out, s, inst, path,
		    "is %zu characters long; at most %d are allowed", length,
		    max->valueint);
		errors++;
	} else if (cJSON_IsString(pattern) &&
		   regexec(jsonschema_regex(ctx->schema, pattern->valuestring),
		       inst->value, 0, NULL, 0) != 0) {
		jsonschema_report(ctx, out, s, inst, path,
		    "%s does not match the pattern %s", shown.buf,
		    pattern->valuestring);
		errors++;
	} else if (cJSON_IsString(format) &&
		   strcmp(format->valuestring, "email") == 0 &&
		   !identity_is_email(inst->value)) {
		jsonschema_report(ctx, out, s, inst, path,
		    "%s is not a valid email address", shown.buf);
		errors++;
	} else if (cJSON_IsString(format) &&
		   strcmp(format->valuestring, "uri") == 0 &&
		   jsonschema_url_has_credentials(inst->value)) {
		/* never show it: the password is in it */
		jsonschema_report(ctx, out, s, inst, path,
		    "credentials are not allowed in URLs; use a secret "
		    "reference where a token is needed");
		errors++;
	} else if (cJSON_IsString(format) &&
		   strcmp(format->valuestring, "uri") == 0 &&
		   !jsonschema_is_url(inst->value)) {
		jsonschema_report(ctx, out, s, inst, path,
		    "%s is not an http(s) URL", shown.buf);
		errors++;
	}
	strbuf_release(&shown);
	return errors;
}

static size_t
jsonschema_check_number(struct jsonschema_ctx *ctx, const cJSON *s,
    const struct node *inst, struct strbuf *path, struct diag_list *out)
{
	static const struct {
		const char *keyword;
		int sign; /* the value must be on this side of the bound */
		bool exclusive;
		const char *phrase;
	} bounds[] = {
		{ "minimum", 1, false, "at least" },
		{ "exclusiveMinimum", 1, true, "more than" },
		{ "maximum", -1, false, "at most" },
		{ "exclusiveMaximum", -1, true, "less than" },
	};
	size_t i;

	if (isnan(inst->number)) {
		jsonschema_report(ctx, out, s, inst, path, "must be a number");
		return 1;
	}
	for (i = 0; i < ARRAY_SIZE(bounds); i++) {
		const cJSON *bound =
		    cJSON_GetObjectItemCaseSensitive(s, bounds[i].keyword);
		double diff;
		bool ok;

		if (!cJSON_IsNumber(bound))
			continue;
		diff = (inst->number - bound->valuedouble) * bounds[i].sign;
		ok = bounds[i].exclusive ? diff > 0 : diff >= 0;
		if (!ok) {
			jsonschema_report(ctx, out, s, inst, path,
			    "must be %s %g", bounds[i].phrase,
			    bound->valuedouble);
			return 1;
		}
	}
	return 0;
}

static bool
jsonschema_nodes_equal(const struct node *a, const struct node *b)
{
	size_t i;

	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case NODE_SCALAR:
		return a->scalar_type == b->scalar_type &&
		       a->value_len == b->value_len &&
		       memcmp(a->value, b->value, a->value_len) == 0;
	case NODE_SEQUENCE:
		if (a->nitems != b->nitems)
			return false;
		for (i = 0; i < a->nitems; i++)
			if (!jsonschema_nodes_equal(a->items[i], b->items[i]))
				return false;
		return true;
	case NODE_MAPPING:
		if (a->npairs != b->npairs)
			return false;
		for (i = 0; i < a->npairs; i++) {
			const struct node *other =
			    node_get(b, a->pairs[i].key->value);

			if (other == NULL ||
			    !jsonschema_nodes_equal(a->pairs[i].value, other))
				return false;
		}
		return true;
	}
	return false;
}

static size_t
jsonschema_check_array(struct jsonschema_ctx *ctx, const cJSON *s,
    const struct node *inst, struct strbuf *path, struct diag_list *out)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
	const cJSON *min = cJSON_GetObjectItemCaseSensitive(s, "minItems");
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(s, "maxItems");
	const cJSON *unique =
	    cJSON_GetObjectItemCaseSensitive(s, "uniqueItems");
	size_t errors = 0, i, j, mark = path->len;

	if (cJSON_IsNumber(min) && inst->nitems < (size_t)min->valuedouble) {
		if (min->valuedouble == 1)
			jsonschema_report(
			    ctx, out, s, inst, path, "must not be empty");
		else
			jsonschema_report(ctx, out, s, inst, path,
			    "must have at least %d items", min->valueint);
		errors++;
	}
	if (cJSON_IsNumber(max) && inst->nitems > (size_t)max->valuedouble) {
		jsonschema_report(ctx, out, s, inst, path,
		    "has %zu items; at most %d are allowed", inst->nitems,
		    max->valueint);
		errors++;
	}
	for (i = 0; i < inst->nitems; i++) {
		diag_path_index(path, i);
		if (items != NULL)
			errors += jsonschema_apply(
			    ctx, items, inst->items[i], path, out);
		for (j = 0; cJSON_IsTrue(unique) && j < i; j++) {
			if (jsonschema_nodes_equal(
				inst->items[j], inst->items[i])) {
				jsonschema_report(ctx, out, s, inst->items[i],
				    path, "duplicate of item [%zu]", j);
				errors++;
				break;
			}
		}
		strbuf_setlen(path, mark);
	}
	return errors;
}

/* Candidate names for "did you mean": the keys of "properties". */
static size_t
jsonschema_property_names(const cJSON *properties, const char ***names)
{
	const cJSON *p;
	size_t n = 0;

	*names = xcalloc(
	    (size_t)cJSON_GetArraySize(properties) + 1, sizeof(**names));
	cJSON_ArrayForEach (p, properties) {
		(*names)[n++] = p->string;
	}
	return n;
}

static size_t
jsonschema_check_object(struct jsonschema_ctx *ctx, const cJSON *s,
    const struct node *inst, struct strbuf *path, struct diag_list *out)
{
	const cJSON *properties =
	    cJSON_GetObjectItemCaseSensitive(s, "properties");
	const cJSON *patterns =
	    cJSON_GetObjectItemCaseSensitive(s, "patternProperties");
	const cJSON *additional =
	    cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
	const cJSON *names =
	    cJSON_GetObjectItemCaseSensitive(s, "propertyNames");
	const cJSON *required = cJSON_GetObjectItemCaseSensitive(s, "required");
	const cJSON *min = cJSON_GetObjectItemCaseSensitive(s, "minProperties");
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(s, "maxProperties");
	const cJSON *r, *pp;
	size_t errors = 0, i, mark = path->len;

	cJSON_ArrayForEach (r, required) {
		if (node_get_key(inst, r->valuestring) != NULL)
			continue;
		diag_path_key(path, r->valuestring);
		/* point at the key that holds the mapping, where there is one
		 */
		diag_add(out, DIAG_ERROR, ctx->file,
		    inst->parent_key ? inst->parent_key->line : inst->line,
		    inst->parent_key ? inst->parent_key->column : inst->column,
		    path->buf, "required key is missing");
		strbuf_setlen(path, mark);
		errors++;
	}
	if (cJSON_IsNumber(min) && inst->npairs < (size_t)min->valuedouble) {
		jsonschema_report(ctx, out, s, inst, path,
		    min->valuedouble == 1 ? "must not be empty"
					  : "has too few keys");
		errors++;
	}
	if (cJSON_IsNumber(max) && inst->npairs > (size_t)max->valuedouble) {
		jsonschema_report(ctx, out, s, inst, path,
		    "has %zu keys; at most %d are allowed", inst->npairs,
		    max->valueint);
		errors++;
	}
	for (i = 0; i < inst->npairs; i++) {
		const struct node *key = inst->pairs[i].key;
		const struct node *value = inst->pairs[i].value;
		const cJSON *property =
		    cJSON_GetObjectItemCaseSensitive(properties, key->value);
		bool matched = property != NULL;

		diag_path_key(path, key->value);
		if (names != NULL)
			errors += jsonschema_apply(ctx, names, key, path, out);
		if (property != NULL)
			errors +=
			    jsonschema_apply(ctx, property, value, path, out);
		cJSON_ArrayForEach (pp, patterns) {
			if (regexec(jsonschema_regex(ctx->schema, pp->string),
				key->value, 0, NULL, 0) != 0)
				continue;
			matched = true;
			errors += jsonschema_apply(ctx, pp, value, path, out);
		}
		if (!matched && cJSON_IsFalse(additional)) {
			const char **candidates;
			size_t n =
			    jsonschema_property_names(properties, &candidates);
			const char *close =
			    jsonschema_did_you_mean(key->value, candidates, n);

			if (close != NULL)
				diag_add(out, DIAG_ERROR, ctx->file, key->line,
				    key->column, path->buf,
				    "unknown key; did you mean '%s'?", close);
			else
				diag_add(out, DIAG_ERROR, ctx->file, key->line,
				    key->column, path->buf, "unknown key");
			free(candidates);
			errors++;
		} else if (!matched && cJSON_IsObject(additional))
			errors +=
			    jsonschema_apply(ctx, additional, value, path, out);
		strbuf_setlen(path, mark);
	}
	return errors;
}

/* The schema a branch stands for, through one $ref, for type checks. */
static const cJSON *
jsonschema_follow(const struct jsonschema_ctx *ctx, const cJSON *s)
{
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");

	if (cJSON_IsString(ref))
		return jsonschema_resolve(ctx->schema, ref->valuestring);
	return s;
}

/* anyOf (one_only false) and oneOf (one_only true). */
static size_t
jsonschema_check_alternatives(struct jsonschema_ctx *ctx, const cJSON *s,
    const cJSON *branches, bool one_only, const struct node *inst,
    struct strbuf *path, struct diag_list *out)
{
	struct diag_list best = DIAG_LIST_INIT;
	struct strbuf types = STRBUF_INIT;
	const cJSON *branch;
	size_t passing = 0, best_errors = SIZE_MAX, errors;

	cJSON_ArrayForEach (branch, branches) {
		struct diag_list trial = DIAG_LIST_INIT;
		const cJSON *target = jsonschema_follow(ctx, branch);
		const cJSON *type =
		    cJSON_GetObjectItemCaseSensitive(target, "type");

		errors = jsonschema_apply(ctx, branch, inst, path, &trial);
		if (errors == 0)
			passing++;
		else if (jsonschema_matches_type(target, inst) &&
			 errors < best_errors) {
			diag_list_clear(&best);
			diag_list_move(&best, &trial);
			best_errors = errors;
		}
		if (type != NULL) {
			if (types.len > 0)
				strbuf_addstr(&types, " or ");
			jsonschema_type_list(type, &types);
		}
		diag_list_clear(&trial);
	}
	errors = 0;
	if (passing == 0 && best.count > 0) {
		errors = best.count;
		diag_list_move(out, &best);
	} else if (passing == 0) {
		jsonschema_report(ctx, out, s, inst, path,
		    "expected %s, got %s",
		    types.len > 0 ? types.buf : "another form",
		    jsonschema_node_phrase(inst));
		errors = 1;
	} else if (one_only && passing > 1) {
		jsonschema_report(ctx, out, s, inst, path,
		    "matches more than one of the allowed forms");
		errors = 1;
	}
	diag_list_clear(&best);
	strbuf_release(&types);
	return errors;
}

static size_t
jsonschema_apply(struct jsonschema_ctx *ctx, const cJSON *s,
    const struct node *inst, struct strbuf *path, struct diag_list *out)
{
	const cJSON *ref, *all, *any, *one, *cond, *branch;
	size_t errors = 0;

	if (cJSON_IsFalse(s)) {
		jsonschema_report(ctx, out, s, inst, path, "not allowed here");
		return 1;
	}
	if (!cJSON_IsObject(s))
		return 0;
	ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
	if (cJSON_IsString(ref))
		errors += jsonschema_apply(ctx,
		    jsonschema_resolve(ctx->schema, ref->valuestring), inst,
		    path, out);
	if (jsonschema_check_type(ctx, s, inst, path, out) > 0)
		return errors + 1;
	errors += jsonschema_check_enum(ctx, s, inst, path, out);
	if (inst->kind == NODE_SCALAR && inst->scalar_type == SCALAR_STRING)
		errors += jsonschema_check_string(ctx, s, inst, path, out);
	else if (inst->kind == NODE_SCALAR &&
		 (inst->scalar_type == SCALAR_INT ||
		     inst->scalar_type == SCALAR_FLOAT))
		errors += jsonschema_check_number(ctx, s, inst, path, out);
	else if (inst->kind == NODE_MAPPING)
		errors += jsonschema_check_object(ctx, s, inst, path, out);
	else if (inst->kind == NODE_SEQUENCE)
		errors += jsonschema_check_array(ctx, s, inst, path, out);

	all = cJSON_GetObjectItemCaseSensitive(s, "allOf");
	cJSON_ArrayForEach (branch, all) {
		errors += jsonschema_apply(ctx, branch, inst, path, out);
	}
	any = cJSON_GetObjectItemCaseSensitive(s, "anyOf");
	if (any != NULL)
		errors += jsonschema_check_alternatives(
		    ctx, s, any, false, inst, path, out);
	one = cJSON_GetObjectItemCaseSensitive(s, "oneOf");
	if (one != NULL)
		errors += jsonschema_check_alternatives(
		    ctx, s, one, true, inst, path, out);
	cond = cJSON_GetObjectItemCaseSensitive(s, "if");
	if (cond != NULL) {
		struct diag_list trial = DIAG_LIST_INIT;
		size_t failed = jsonschema_apply(ctx, cond, inst, path, &trial);
		const cJSON *next = cJSON_GetObjectItemCaseSensitive(
		    s, failed == 0 ? "then" : "else");

		diag_list_clear(&trial);
		if (next != NULL)
			errors += jsonschema_apply(ctx, next, inst, path, out);
	}
	return errors;
}

size_t
jsonschema_validate(struct jsonschema *schema, const struct node_doc *doc,
    struct diag_list *diags)
{
	struct jsonschema_ctx ctx = { schema, doc->file, diags };
	struct strbuf path = STRBUF_INIT;
	size_t errors;

	errors = jsonschema_apply(&ctx, schema->root, doc->root, &path, diags);
	strbuf_release(&path);
	return errors;
}
