/*
 * Saved plans (plan -out FILE): what was planned, from which config and
 * state, with a digest of every observed object an action touches, so that
 * apply can refuse a plan the world has moved away from. No secret value
 * is written, only fingerprints.
 */
#ifndef GETBOT_PLANFILE_H
#define GETBOT_PLANFILE_H

#include <cjson/cJSON.h>

#include "plan.h"
#include "state.h"
#include "strbuf.h"

/* Write plan to path (mode 0600, atomically). config_name is what the
 * user calls config_path (they differ for a commit's copy, --ref). */
int planfile_save(const char *path, const struct plan *plan,
    const struct plan_options *options, const char *config_path,
    const char *config_name, const struct state *state, struct strbuf *err);
/* Read path, check its format and that config_path (called config_name
 * in messages) has not changed since. *out is the saved plan (cJSON,
 * caller deletes). */
int planfile_load(const char *path, const char *config_path,
    const char *config_name, cJSON **out, struct strbuf *err);
/* The options the plan was made with, into options (strings borrowed from
 * saved; arrays allocated into lists[3], freed by the caller). */
void planfile_options(
    const cJSON *saved, struct plan_options *options, const char **lists[3]);
/* The "PROVIDER TARGET" pairs the saved plan touches (allocated array of
 * borrowed strings); returns how many. */
size_t planfile_pairs(const cJSON *saved, const char ***pairs);
/* Compare the saved plan with plan as made now: -1 with err naming the
 * first object or action that differs. */
int planfile_check(const cJSON *saved, const struct plan *plan,
    const struct state *state, struct strbuf *err);

#endif
