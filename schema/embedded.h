/* bots.schema.json, embedded at build time (schema-data.c is generated). */
#ifndef GETBOT_EMBEDDED_H
#define GETBOT_EMBEDDED_H

#include <stddef.h>

extern const char bots_schema_json[];
extern const size_t bots_schema_json_len;

#endif
