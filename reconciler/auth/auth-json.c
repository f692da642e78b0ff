/* Strict JSON object reading for getbot-auth. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "auth-json.h"

cJSON *
auth_json_parse(const char *buf, size_t len, struct strbuf *err)
{
	const char *end = NULL, *p;
	unsigned line = 1, column = 1;
	cJSON *json;

	json = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (json != NULL) {
		while (end < buf + len && (*end == ' ' || *end == '\t' ||
					      *end == '\n' || *end == '\r'))
			end++;
		if (end == buf + len)
			return json;
		cJSON_Delete(json);
	}
	if (err != NULL) {
		if (end == NULL || end < buf || end > buf + len)
			end = buf + len;
		for (p = buf; p < end; p++) {
			if (*p == '\n') {
				line++;
				column = 1;
			} else
				column++;
		}
		strbuf_addf(
		    err, "not valid JSON at line %u, column %u", line, column);
	}
	return NULL;
}

int
auth_json_check_keys(const cJSON *obj, const char *const *allowed,
    const char *where, struct strbuf *err)
{
	const cJSON *item, *prev;
	size_t i;

	cJSON_ArrayForEach (item, obj) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(item->string, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			strbuf_addf(err, "%s%sunknown key '%.64s'", where,
			    *where ? ": " : "", item->string);
			return -1;
		}
		for (prev = obj->child; prev != item; prev = prev->next) {
			if (strcmp(prev->string, item->string) == 0) {
				strbuf_addf(err, "%s%sduplicate key '%s'",
				    where, *where ? ": " : "", item->string);
				return -1;
			}
		}
	}
	return 0;
}

bool
auth_json_get_int(const cJSON *item, long long *value)
{
	double d;

	if (!cJSON_IsNumber(item))
		return false;
	d = item->valuedouble;
	if (!isfinite(d) || d < 0 || d > 9007199254740992.0 || floor(d) != d)
		return false;
	*value = (long long)d;
	return true;
}
