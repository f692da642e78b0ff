/* Per-client token buckets. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth-rate.h"
#include "xmalloc.h"

struct auth_rate_bucket {
	double tokens;
	double last; /* 0: never used */
	bool denied;
};

struct auth_rate {
	pthread_mutex_t lock;
	unsigned char key[crypto_shorthash_KEYBYTES];
	double rate;
	double burst;
	size_t nslots;
	struct auth_rate_bucket *slots;
};

struct auth_rate *
auth_rate_new(double rate, double burst, size_t slots)
{
	struct auth_rate *limiter = xcalloc(1, sizeof(*limiter));

	pthread_mutex_init(&limiter->lock, NULL);
	randombytes_buf(limiter->key, sizeof(limiter->key));
	limiter->rate = rate;
	limiter->burst = burst < 1 ? 1 : burst;
	limiter->nslots = slots ? slots : 1;
	limiter->slots = xcalloc(limiter->nslots, sizeof(*limiter->slots));
	return limiter;
}

void
auth_rate_free(struct auth_rate *limiter)
{
	if (limiter == NULL)
		return;
	pthread_mutex_destroy(&limiter->lock);
	free(limiter->slots);
	free(limiter);
}

/* The slot of a client: IPv4 by address, IPv6 by /64, else by its text. */
static size_t
auth_rate_slot(const struct auth_rate *limiter, const char *client)
{
	unsigned char addr[16], hash[crypto_shorthash_BYTES];
	uint64_t h;
	size_t len;

	if (inet_pton(AF_INET6, client, addr) == 1) {
		memset(addr + 8, 0, 8);
		len = 16;
	} else if (inet_pton(AF_INET, client, addr) == 1)
		len = 4;
	else {
		len = strnlen(client, sizeof(addr));
		memset(addr, 0, sizeof(addr));
		memcpy(addr, client, len);
	}
	crypto_shorthash(hash, addr, len, limiter->key);
	memcpy(&h, hash, sizeof(h));
	return (size_t)(h % limiter->nslots);
}

enum auth_rate_verdict
auth_rate_take(struct auth_rate *limiter, const char *client, double now)
{
	struct auth_rate_bucket *b;
	enum auth_rate_verdict verdict;

	pthread_mutex_lock(&limiter->lock);
	b = &limiter->slots[auth_rate_slot(limiter, client)];
	if (b->last == 0 || now < b->last)
		b->tokens = limiter->burst;
	else
		b->tokens += (now - b->last) * limiter->rate;
	if (b->tokens > limiter->burst)
		b->tokens = limiter->burst;
	b->last = now;
	if (b->tokens >= 1) {
		b->tokens -= 1;
		b->denied = false;
		verdict = AUTH_RATE_ALLOW;
	} else {
		verdict = b->denied ? AUTH_RATE_DENY : AUTH_RATE_DENY_FIRST;
		b->denied = true;
	}
	pthread_mutex_unlock(&limiter->lock);
	return verdict;
}
