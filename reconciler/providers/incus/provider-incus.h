/* The incus provider: the bridge network and the org containers. */
#ifndef GETBOT_PROVIDER_INCUS_H
#define GETBOT_PROVIDER_INCUS_H

#include "provider.h"

extern const struct provider provider_incus;

#endif
