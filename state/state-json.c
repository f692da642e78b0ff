/* JSON helpers for the state file and the lock: integers, parsing with a
 * position, printing, and a canonical key order. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "state-internal.h"
#include "strbuf.h"
#include "xmalloc.h"

/* The largest integer a double holds exactly: 2^53. */
#define STATE_JSON_MAX_EXACT 9007199254740992.0

struct state_json_member {
	cJSON *item;
	size_t index; /* in the original order, to keep the sort stable */
};

bool
state_json_integer(
    const cJSON *item, long long min, long long max, long long *out)
{
	double value;
	long long integer;

	if (!cJSON_IsNumber(item))
		return false;
	value = item->valuedouble;
	/* Written so that NaN fails too. */
	if (!(value >= -STATE_JSON_MAX_EXACT && value <= STATE_JSON_MAX_EXACT))
		return false;
	integer = (long long)value;
	if ((double)integer != value || integer < min || integer > max)
		return false;
	*out = integer;
	return true;
}

int
state_json_parse(const char *what, const char *text, size_t len, cJSON **out,
    struct strbuf *err)
{
	const char *end = NULL, *p;
	unsigned line = 1, column = 1;

	*out = NULL;
	if (len == 0) {
		strbuf_addf(err, "%s is empty", what);
		return -1;
	}
	if (strlen(text) != len) {
		strbuf_addf(
		    err, "%s is not valid JSON (it holds a NUL byte)", what);
		return -1;
	}
	/* len + 1 takes in the NUL, so that trailing garbage is refused. */
	*out = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
	if (*out != NULL)
		return 0;
	for (p = text; end != NULL && p < end && *p != '\0'; p++) {
		if (*p == '\n') {
			line++;
			column = 1;
		} else {
			column++;
		}
	}
	strbuf_addf(err, "%s is not valid JSON (line %u, column %u)", what,
	    line, column);
	return -1;
}

int
state_json_print(const cJSON *item, struct strbuf *out, struct strbuf *err)
{
	char *text = cJSON_Print(item);

	if (text == NULL) {
		strbuf_addstr(err, "cannot format JSON: out of memory");
		return -1;
	}
	strbuf_addstr(out, text);
	strbuf_addch(out, '\n');
	cJSON_free(text);
	return 0;
}

static const char *
state_json_key(const cJSON *item)
{
	return item->string != NULL ? item->string : "";
}

static int
state_json_member_compare(const void *a, const void *b)
{
	const struct state_json_member *x = a, *y = b;
	int c = strcmp(state_json_key(x->item), state_json_key(y->item));

	if (c != 0)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Make items[0..n) the children of object, in that order. */
static void
state_json_relink(cJSON *object, cJSON **items, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		/* cJSON keeps the last child in the first one's prev. */
		items[i]->prev = i > 0 ? items[i - 1] : items[n - 1];
		items[i]->next = i + 1 < n ? items[i + 1] : NULL;
	}
	object->child = n > 0 ? items[0] : NULL;
}

size_t
state_json_sort(cJSON *item, bool deep)
{
	struct state_json_member *members = NULL;
	cJSON **items = NULL;
	cJSON *child;
	size_t n = 0, i, kept = 0, dropped = 0;

	if (!cJSON_IsObject(item) && !cJSON_IsArray(item))
		return 0;
	cJSON_ArrayForEach (child, item) {
		if (deep)
			dropped += state_json_sort(child, true);
		n++;
	}
	if (!cJSON_IsObject(item) || n < 2)
		return dropped;
	members = xreallocarray(NULL, n, sizeof(*members));
	items = xreallocarray(NULL, n, sizeof(*items));
	i = 0;
	cJSON_ArrayForEach (child, item) {
		members[i].item = child;
		members[i].index = i;
		i++;
	}
	qsort(members, n, sizeof(*members), state_json_member_compare);
	for (i = 0; i < n; i++) {
		cJSON *member = members[i].item;

		if (kept > 0 && strcmp(state_json_key(items[kept - 1]),
				    state_json_key(member)) == 0) {
			/* cJSON_Delete follows next: unlink it first. */
			member->next = member->prev = NULL;
			cJSON_Delete(member);
			dropped++;
			continue;
		}
		items[kept++] = member;
	}
	state_json_relink(item, items, kept);
	free(items);
	free(members);
	return dropped;
}

int
state_json_check_members(const cJSON *object, const char *const *fields,
    bool others_allowed, const char **key, const char **problem)
{
	const cJSON *member, *earlier;
	size_t i;

	cJSON_ArrayForEach (member, object) {
		bool known = false;

		for (i = 0; fields[i] != NULL && !known; i++)
			known = strcmp(state_json_key(member), fields[i]) == 0;
		if (!known && others_allowed)
			continue;
		*key = state_json_key(member);
		if (!known) {
			*problem = "unknown field";
			return -1;
		}
		for (earlier = object->child; earlier != member;
		     earlier = earlier->next) {
			if (strcmp(state_json_key(earlier), *key) == 0) {
				*problem = "repeated";
				return -1;
			}
		}
	}
	for (i = 0; fields[i] != NULL; i++) {
		if (cJSON_GetObjectItemCaseSensitive(object, fields[i]) ==
		    NULL) {
			*key = fields[i];
			*problem = "missing";
			return -1;
		}
	}
	return 0;
}

void
state_json_order_members(cJSON *object, const char *const *fields)
{
	cJSON **items;
	size_t n = 0, i;

	while (fields[n] != NULL)
		n++;
	items = xreallocarray(NULL, n, sizeof(*items));
	for (i = 0; i < n; i++)
		items[i] = cJSON_GetObjectItemCaseSensitive(object, fields[i]);
	state_json_relink(object, items, n);
	free(items);
}
