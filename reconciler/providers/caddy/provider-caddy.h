/* The caddy provider: the getbot server block, the sign-in callback of
 * each org and the route of each bot, through Caddy's admin API. */
#ifndef GETBOT_PROVIDER_CADDY_H
#define GETBOT_PROVIDER_CADDY_H

#include "provider.h"

extern const struct provider provider_caddy;

#endif
