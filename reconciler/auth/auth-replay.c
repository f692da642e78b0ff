/* A bounded set of used sign-in codes. */
#include "config.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth-replay.h"
#include "xmalloc.h"

#define AUTH_REPLAY_HASH_BYTES 16

struct auth_replay_entry {
	unsigned char hash[AUTH_REPLAY_HASH_BYTES];
	long long expires; /* 0: free */
};

struct auth_replay {
	pthread_mutex_t lock;
	unsigned char key[crypto_generichash_KEYBYTES];
	long long ttl;
	size_t capacity;
	size_t next; /* the slot the next code takes */
	struct auth_replay_entry *entries;
};

struct auth_replay *
auth_replay_new(size_t capacity, long long ttl)
{
	struct auth_replay *replay = xcalloc(1, sizeof(*replay));

	pthread_mutex_init(&replay->lock, NULL);
	randombytes_buf(replay->key, sizeof(replay->key));
	replay->ttl = ttl;
	replay->capacity = capacity ? capacity : 1;
	replay->entries = xcalloc(replay->capacity, sizeof(*replay->entries));
	return replay;
}

void
auth_replay_free(struct auth_replay *replay)
{
	if (replay == NULL)
		return;
	pthread_mutex_destroy(&replay->lock);
	sodium_memzero(replay->key, sizeof(replay->key));
	free(replay->entries);
	free(replay);
}

int
auth_replay_use(
    struct auth_replay *replay, const char *code, size_t len, long long now)
{
	unsigned char hash[AUTH_REPLAY_HASH_BYTES];
	size_t i;
	int rc = 0;

	crypto_generichash(hash, sizeof(hash), (const unsigned char *)code, len,
	    replay->key, sizeof(replay->key));
	pthread_mutex_lock(&replay->lock);
	for (i = 0; i < replay->capacity; i++) {
		struct auth_replay_entry *e = &replay->entries[i];

		if (e->expires > now &&
		    sodium_memcmp(e->hash, hash, sizeof(hash)) == 0) {
			rc = -1;
			goto out;
		}
	}
	memcpy(replay->entries[replay->next].hash, hash, sizeof(hash));
	replay->entries[replay->next].expires = now + replay->ttl;
	replay->next = (replay->next + 1) % replay->capacity;
out:
	pthread_mutex_unlock(&replay->lock);
	return rc;
}
