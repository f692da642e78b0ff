/* The providers of this build. */
#ifndef GETBOT_PROVIDERS_H
#define GETBOT_PROVIDERS_H

#include "provider.h"

/* NULL-terminated. The engine is handed a table, so tests can hand it
 * theirs; the order does not matter. */
extern const struct provider *const provider_table[];

#endif
