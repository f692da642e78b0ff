/* The auth provider: getbot-auth and its auth.json on a server. */
#ifndef GETBOT_PROVIDER_AUTH_H
#define GETBOT_PROVIDER_AUTH_H

#include "provider.h"

extern const struct provider provider_auth;

#endif
