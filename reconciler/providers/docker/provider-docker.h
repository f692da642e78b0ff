/* The docker provider: images and bots inside the org containers. */
#ifndef GETBOT_PROVIDER_DOCKER_H
#define GETBOT_PROVIDER_DOCKER_H

#include "provider.h"

extern const struct provider provider_docker;

#endif
