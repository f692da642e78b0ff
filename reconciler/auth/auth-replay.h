/*
 * The codes getbot-auth has already accepted, so a sign-in code works once
 * even if the central server would take it again. A bounded ring: each code
 * is kept (as a keyed hash, never in clear) until its time to live passes
 * or the ring wraps. Safe to use from several threads.
 */
#ifndef GETBOT_AUTH_REPLAY_H
#define GETBOT_AUTH_REPLAY_H

#include <stddef.h>

struct auth_replay;

/* A set remembering up to capacity codes, each for ttl seconds. */
struct auth_replay *auth_replay_new(size_t capacity, long long ttl);
void auth_replay_free(struct auth_replay *replay);
/* Record code as used at now: 0 when it was new, -1 when already used. */
int auth_replay_use(
    struct auth_replay *replay, const char *code, size_t len, long long now);

#endif
