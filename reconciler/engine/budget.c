/* Rate budgets: token buckets keyed by what the remote side counts. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "budget.h"
#include "engine.h"
#include "xmalloc.h"

double
budget_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
budget_table_init(struct budget_table *table)
{
	pthread_mutex_init(&table->lock, NULL);
	table->list = NULL;
}

void
budget_table_release(struct budget_table *table)
{
	while (table->list != NULL) {
		struct budget *b = table->list;

		table->list = b->next;
		free(b->key);
		free(b);
	}
	pthread_mutex_destroy(&table->lock);
}

struct budget *
budget_get(
    struct budget_table *table, const char *key, double rate, unsigned burst)
{
	struct budget *b;

	pthread_mutex_lock(&table->lock);
	for (b = table->list; b != NULL; b = b->next)
		if (strcmp(b->key, key) == 0)
			break;
	if (b == NULL) {
		b = xcalloc(1, sizeof(*b));
		b->key = xstrdup(key);
		b->rate = rate;
		b->burst = burst > 0 ? burst : 1;
		b->tokens = b->burst;
		b->refilled = budget_now();
		b->next = table->list;
		table->list = b;
	}
	pthread_mutex_unlock(&table->lock);
	return b;
}

void
budget_take(struct budget_table *table, struct budget *b)
{
	for (;;) {
		double now, wait;

		pthread_mutex_lock(&table->lock);
		now = budget_now();
		if (b->rate > 0) {
			b->tokens += (now - b->refilled) * b->rate;
			if (b->tokens > b->burst)
				b->tokens = b->burst;
		}
		b->refilled = now;
		if (b->blocked_until > now)
			wait = b->blocked_until - now;
		else if (b->rate <= 0) {
			pthread_mutex_unlock(&table->lock);
			return;
		} else if (b->tokens >= 1) {
			b->tokens -= 1;
			pthread_mutex_unlock(&table->lock);
			return;
		} else
			wait = (1 - b->tokens) / b->rate;
		pthread_mutex_unlock(&table->lock);
		engine_sleep(wait);
	}
}

void
budget_block(struct budget_table *table, struct budget *b, double seconds)
{
	double until = budget_now() + seconds;

	pthread_mutex_lock(&table->lock);
	if (seconds > 0 && until > b->blocked_until)
		b->blocked_until = until;
	pthread_mutex_unlock(&table->lock);
}
