/*
 * Rate budgets: one token bucket per thing the remote side counts requests
 * against (Cloudflare counts per API token, not per account), shared by
 * observation and apply and by every provider that names the same budget.
 * A 429's Retry-After blocks the whole budget.
 */
#ifndef GETBOT_BUDGET_H
#define GETBOT_BUDGET_H

#include <pthread.h>

struct budget {
	char *key;
	double rate;  /* requests per second; 0: unlimited */
	double burst; /* at least 1 */
	double tokens;
	double refilled;      /* when tokens were last topped up */
	double blocked_until; /* after a 429: nobody sends before this */
	struct budget *next;
};

struct budget_table {
	pthread_mutex_t lock;
	struct budget *list;
};

void budget_table_init(struct budget_table *table);
void budget_table_release(struct budget_table *table);
/* The budget called key, made with rate and burst on first use (the first
 * caller's limits win). Lives as long as the table. */
struct budget *budget_get(
    struct budget_table *table, const char *key, double rate, unsigned burst);
/* Wait until one request may be sent under budget. */
void budget_take(struct budget_table *table, struct budget *budget);
/* Nobody sends under budget for seconds from now (a 429's Retry-After). */
void budget_block(
    struct budget_table *table, struct budget *budget, double seconds);
/* Seconds on a monotonic clock. */
double budget_now(void);

#endif
