/* The in-memory provider of the engine tests (see provider-mem.c). */
#ifndef GETBOT_PROVIDER_MEM_H
#define GETBOT_PROVIDER_MEM_H

#include "provider.h"

extern const struct provider provider_mem;
extern const struct provider provider_mem_edge;

#endif
