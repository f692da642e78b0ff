/* Plan output, human and machine-readable. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan-print.h"
#include "provider.h"
#include "strbuf.h"

#define PLAN_VALUE_MAX 72 /* characters of a value shown in a human plan */

static const char *const class_names[] = {
	[FIELD_IDENTITY] = "identity",
	[FIELD_IMMUTABLE] = "immutable",
	[FIELD_SECRET] = "secret",
	[FIELD_REGISTRATION] = "registration",
	[FIELD_INPLACE] = "in_place",
};

struct plan_look {
	const char *symbol;
	const char *verb;
	const char *colour;
};

static const struct plan_look plan_looks[ACTION_KIND_COUNT] = {
	[ACTION_CREATE] = { "+", "will be created", "\033[32m" },
	[ACTION_UPDATE] = { "~", "will be updated in place", "\033[33m" },
	[ACTION_UPDATE_SECRET] = { "~", "will have its secrets updated",
	    "\033[33m" },
	[ACTION_REREGISTER] = { "~", "will be re-registered", "\033[33m" },
	[ACTION_REPLACE] = { "-/+", "will be replaced", "\033[35m" },
	[ACTION_DELETE] = { "-", "will be deleted", "\033[31m" },
};

const char *plan_field_class_name(enum field_class class)
{
	return class_names[class];
}

bool
plan_print_use_colour(FILE *out)
{
	const char *no_colour = getenv("NO_COLOR");

	return isatty(fileno(out)) && (no_colour == NULL || *no_colour == '\0');
}

/* A JSON value for people: compact, first line only, cut at the limit. */
static void
plan_add_value(struct strbuf *sb, const cJSON *v)
{
	char *text;
	size_t len, cut;
	bool more_lines = false;

	if (v == NULL) {
		strbuf_addstr(sb, "(none)");
		return;
	}
	text = cJSON_PrintUnformatted(v);
	len = strlen(text);
	cut = len;
	if (cJSON_IsString(v) && strchr(v->valuestring, '\n') != NULL &&
	    strchr(v->valuestring, '\n')[1] != '\0') {
		/* "line one\nline two" -> "line one..." */
		char *escaped_newline = strstr(text, "\\n");

		cut = (size_t)(escaped_newline - text);
		more_lines = true;
	}
	if (cut > PLAN_VALUE_MAX) {
		cut = PLAN_VALUE_MAX;
		while (cut > 0 && ((unsigned char)text[cut] & 0xc0) == 0x80)
			cut--;
		more_lines = true;
	}
	strbuf_add(sb, text, cut);
	if (more_lines)
		strbuf_addstr(sb, cJSON_IsString(v) ? "...\"" : "...");
	free(text);
}

/* One field's line: "+ name = value" on a create, "~ name: a -> b"
 * otherwise; secrets only ever by fingerprint. */
static void
plan_print_field(FILE *out, const char *field, bool is_fingerprint,
    const cJSON *before, const cJSON *after, bool drift, bool creating)
{
	struct strbuf line = STRBUF_INIT;

	if (is_fingerprint) {
		strbuf_addf(&line, "      %s secret %s (fingerprint ",
		    before == NULL ? "+" : "~", field);
		if (cJSON_IsString(before))
			strbuf_addf(
			    &line, "%.8s \xe2\x86\x92 ", before->valuestring);
		strbuf_addf(&line, "%.8s)",
		    cJSON_IsString(after) ? after->valuestring : "none");
	} else if (creating) {
		strbuf_addf(&line, "      + %s = ", field);
		plan_add_value(&line, after);
	} else {
		strbuf_addf(&line, "      ~ %s: ", field);
		plan_add_value(&line, before);
		strbuf_addstr(&line, " \xe2\x86\x92 ");
		plan_add_value(&line, after);
	}
	if (drift)
		strbuf_addstr(&line, "   # drift");
	fprintf(out, "%s\n", line.buf);
	strbuf_release(&line);
}

/* A create shows every field it sets and every secret's fingerprint. */
static void
plan_print_create_fields(FILE *out, const struct plan_action *a)
{
	const struct field_def *f;
	size_t i;

	for (f = a->desired->kind->fields; f != NULL && f->name != NULL; f++) {
		const cJSON *v =
		    cJSON_GetObjectItemCaseSensitive(a->desired->spec, f->name);

		/* a field of class secret (a model's name) is no secret:
		 * secret values live in r->secrets, never in the spec */
		if (v != NULL)
			plan_print_field(
			    out, f->name, false, NULL, v, false, true);
	}
	for (i = 0; i < a->desired->nsecrets; i++)
		fprintf(out, "      + secret %s (fingerprint %.8s)\n",
		    a->desired->secrets[i].name,
		    a->desired->secrets[i].fingerprint);
}

void
plan_print_problems(FILE *out, const struct plan *plan, bool colour)
{
	size_t i;
	const char *red = colour ? "\033[1;31m" : "",
		   *off = colour ? "\033[0m" : "";

	for (i = 0; i < plan->nerrors; i++)
		fprintf(out, "%serror:%s %s\n", red, off, plan->errors[i]);
	for (i = 0; i < plan->nrefusals; i++)
		fprintf(out, "%srefused:%s %s\n", red, off, plan->refusals[i]);
}

void
plan_print_human(FILE *out, const struct plan *plan, bool colour)
{
	size_t i, c, add, change, replace, destroy;
	const char *bold = colour ? "\033[1m" : "",
		   *off = colour ? "\033[0m" : "";

	for (i = 0; i < plan->nnotes; i++)
		fprintf(out, "note: %s\n", plan->notes[i]);
	if (plan->nnotes > 0)
		fputc('\n', out);
	if (plan->count == 0) {
		fprintf(out, "%sNo changes.%s What exists matches bots.yaml.\n",
		    bold, off);
		return;
	}
	fprintf(out, "getbot will perform these actions:\n");
	for (i = 0; i < plan->count; i++) {
		const struct plan_action *a = &plan->actions[i];
		const struct plan_look *look = &plan_looks[a->kind];

		fprintf(out, "\n  %s# %s%s %s: %s\n", bold, a->address, off,
		    look->verb, a->reason);
		fprintf(out, "%s%3s%s %s\n", colour ? look->colour : "",
		    look->symbol, off, a->address);
		if (a->kind == ACTION_CREATE)
			plan_print_create_fields(out, a);
		for (c = 0; c < a->nchanges; c++)
			plan_print_field(out, a->changes[c].field,
			    a->changes[c].fingerprint, a->changes[c].before,
			    a->changes[c].after, a->changes[c].drift, false);
	}
	plan_counts(plan, &add, &change, &replace, &destroy);
	fprintf(out,
	    "\n%sPlan:%s %zu to add, %zu to change, %zu to replace, %zu to "
	    "delete.\n",
	    bold, off, add, change, replace, destroy);
}

static cJSON *
plan_json_resource(const struct plan_action *a)
{
	cJSON *r = cJSON_CreateObject();
	const struct resource_kind *kind =
	    a->desired ? a->desired->kind : a->observed->kind;
	const struct provider *provider =
	    a->desired ? a->desired->provider : a->observed->provider;
	const char *name = a->desired ? a->desired->name : a->observed->name;
	const char *org = a->desired ? a->desired->org : a->observed->org;
	const char *team = a->desired ? a->desired->team : a->observed->team;

	cJSON_AddStringToObject(r, "addr", a->address);
	cJSON_AddStringToObject(r, "provider", provider->name);
	cJSON_AddStringToObject(r, "kind", kind->name);
	cJSON_AddStringToObject(r, "name", name);
	if (org != NULL)
		cJSON_AddStringToObject(r, "org", org);
	if (team != NULL)
		cJSON_AddStringToObject(r, "team", team);
	return r;
}

static void
plan_json_line(FILE *out, cJSON *object)
{
	char *text = cJSON_PrintUnformatted(object);

	fprintf(out, "%s\n", text);
	free(text);
	cJSON_Delete(object);
}

static cJSON *
plan_json_typed(const char *type)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "type", type);
	return o;
}

void
plan_print_json(FILE *out, const struct plan *plan)
{
	size_t i, c, add, change, replace, destroy;
	cJSON *o, *sub;

	for (i = 0; i < plan->nnotes; i++) {
		o = plan_json_typed("log");
		cJSON_AddStringToObject(o, "message", plan->notes[i]);
		plan_json_line(out, o);
	}
	for (i = 0; i < plan->nerrors + plan->nrefusals; i++) {
		bool refusal = i >= plan->nerrors;

		o = plan_json_typed("diagnostic");
		cJSON_AddStringToObject(o, "severity", "error");
		cJSON_AddStringToObject(
		    o, "kind", refusal ? "policy" : "error");
		cJSON_AddStringToObject(o, "message",
		    refusal ? plan->refusals[i - plan->nerrors]
			    : plan->errors[i]);
		plan_json_line(out, o);
	}
	for (i = 0; i < plan->count; i++) {
		const struct plan_action *a = &plan->actions[i];
		cJSON *changes;

		if (a->drift) {
			o = plan_json_typed("drift");
			cJSON_AddItemToObject(
			    o, "resource", plan_json_resource(a));
			cJSON_AddStringToObject(o, "reason", a->reason);
			plan_json_line(out, o);
		}
		o = plan_json_typed("planned_change");
		sub = cJSON_AddObjectToObject(o, "change");
		cJSON_AddItemToObject(sub, "resource", plan_json_resource(a));
		cJSON_AddStringToObject(
		    sub, "action", action_kind_name(a->kind));
		cJSON_AddStringToObject(sub, "reason", a->reason);
		cJSON_AddBoolToObject(sub, "drift", a->drift);
		changes = cJSON_AddArrayToObject(sub, "changes");
		for (c = 0; c < a->nchanges; c++) {
			const struct plan_change *pc = &a->changes[c];
			cJSON *item = cJSON_CreateObject();

			cJSON_AddStringToObject(item, "field", pc->field);
			cJSON_AddStringToObject(
			    item, "class", class_names[pc->class]);
			cJSON_AddItemToObject(item, "before",
			    pc->before ? cJSON_Duplicate(pc->before, true)
				       : cJSON_CreateNull());
			cJSON_AddItemToObject(item, "after",
			    pc->after ? cJSON_Duplicate(pc->after, true)
				      : cJSON_CreateNull());
			cJSON_AddBoolToObject(item, "drift", pc->drift);
			cJSON_AddBoolToObject(
			    item, "fingerprint", pc->fingerprint);
			cJSON_AddItemToArray(changes, item);
		}
		plan_json_line(out, o);
	}
	plan_counts(plan, &add, &change, &replace, &destroy);
	o = plan_json_typed("change_summary");
	sub = cJSON_AddObjectToObject(o, "changes");
	cJSON_AddNumberToObject(sub, "add", (double)add);
	cJSON_AddNumberToObject(sub, "change", (double)change);
	cJSON_AddNumberToObject(sub, "replace", (double)replace);
	cJSON_AddNumberToObject(sub, "remove", (double)destroy);
	cJSON_AddStringToObject(sub, "operation", "plan");
	plan_json_line(out, o);
}
