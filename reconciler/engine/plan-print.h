/* Printing a plan: for people (+ ~ -/+ - with reasons) or as JSON lines. */
#ifndef GETBOT_PLAN_PRINT_H
#define GETBOT_PLAN_PRINT_H

#include <stdbool.h>
#include <stdio.h>

#include "plan.h"

/* Colour only on a terminal and never with NO_COLOR set. */
bool plan_print_use_colour(FILE *out);
void plan_print_human(FILE *out, const struct plan *plan, bool colour);
/* One JSON object per line: log, drift, planned_change, diagnostic,
 * change_summary. */
void plan_print_json(FILE *out, const struct plan *plan);
/* The refusals and errors, for people, on out. */
void plan_print_problems(FILE *out, const struct plan *plan, bool colour);
const char *plan_field_class_name(enum field_class class);

#endif
