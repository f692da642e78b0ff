/*
 * Private to state/: the file and JSON helpers that the state file and
 * the lock share. Nothing outside state/ includes this.
 */
#ifndef GETBOT_STATE_INTERNAL_H
#define GETBOT_STATE_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "file.h"
#include "strbuf.h"

/* A UUID as text, with its NUL. */
#define STATE_UUID_SIZE 37

/* A new random (version 4) UUID, lower-case. */
void state_uuid(char out[STATE_UUID_SIZE]);

/* Create the directory holding path (one level, mode 0700) if missing. */
int state_file_make_dir(const char *path, struct strbuf *err);

/* item as an integer in [min, max] into *out; false if it is not one. */
bool state_json_integer(
    const cJSON *item, long long min, long long max, long long *out);
/* Parse len bytes of text (text[len] is NUL) as one JSON value; what names
 * it in messages ("state file 'x'"). The caller cJSON_Delete()s *out. */
int state_json_parse(const char *what, const char *text, size_t len,
    cJSON **out, struct strbuf *err);
/* Append item pretty-printed, with a final newline, to out. */
int state_json_print(const cJSON *item, struct strbuf *out, struct strbuf *err);
/* Sort the keys of item if it is an object (stably), and with deep those of
 * every object within it, dropping all but the first of repeated keys;
 * returns how many were dropped. */
size_t state_json_sort(cJSON *item, bool deep);
/*
 * Check that object has each of fields (NULL-terminated) exactly once and
 * nothing else (unless others_allowed). On failure returns -1 with *key
 * the offending member and *problem "missing", "repeated" or "unknown
 * field".
 */
int state_json_check_members(const cJSON *object, const char *const *fields,
    bool others_allowed, const char **key, const char **problem);
/* Put object's members in the order of fields (all present, once each). */
void state_json_order_members(cJSON *object, const char *const *fields);

#endif
