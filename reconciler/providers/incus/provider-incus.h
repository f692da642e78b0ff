/* The incus provider: the bridge network and the org containers. */
#ifndef GETBOT_PROVIDER_INCUS_H
#define GETBOT_PROVIDER_INCUS_H

#include "provider.h"

extern const struct provider provider_incus;

/*
 * The IPv4 address of every getbot org container on its eth0, in one bulk
 * call to the server of target: a JSON object {"ORG": "10.199.0.57", ...}
 * in *out (the caller frees it). A container without an address yet (just
 * started, DHCP pending) is left out. call->session is not used: this opens
 * the socket itself, so other providers of the same server can ask.
 */
int incus_org_addresses(struct provider_call *call,
    const struct bots_target *target, cJSON **out);

#endif
