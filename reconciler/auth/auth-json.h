/* Strict reading of the small JSON documents getbot-auth trusts: auth.json
 * and the claims inside its own tokens. */
#ifndef GETBOT_AUTH_JSON_H
#define GETBOT_AUTH_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "strbuf.h"

/*
 * Parse buf (len bytes) as exactly one JSON value with nothing but white
 * space after it. Returns the tree (the caller deletes it), or NULL with
 * "not valid JSON at line L, column C" in err when err is not NULL.
 */
cJSON *auth_json_parse(const char *buf, size_t len, struct strbuf *err);
/*
 * Check that every key of the object obj is one of allowed (a NULL-ended
 * list) and that no key repeats. On failure returns -1 and err says which
 * key, under where ("" at the top).
 */
int auth_json_check_keys(const cJSON *obj, const char *const *allowed,
    const char *where, struct strbuf *err);
/* Is item a number holding an integer in [0, 2^53]? Sets *value. */
bool auth_json_get_int(const cJSON *item, long long *value);

#endif
