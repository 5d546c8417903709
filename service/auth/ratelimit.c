#include "auth/ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

#define SLOTS 4096

struct slot {
    char key[80];
    int failures;
    int64_t window_start_s;
};

static struct slot slots[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct slot *slot_for(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return &slots[h % SLOTS];
}

/* Called with the lock held: the slot for key with a live window, or NULL. */
static struct slot *live(const char *key, int64_t now)
{
    struct slot *s = slot_for(key);
    if (strncmp(s->key, key, sizeof s->key - 1) != 0 || now - s->window_start_s >= RATELIMIT_WINDOW_S)
        return NULL;
    return s;
}

int ratelimit_wait_s(const char *key, int max_failures)
{
    int64_t now = clock_wall_s();
    int wait = 0;
    pthread_mutex_lock(&lock);
    struct slot *s = live(key, now);
    if (s && s->failures >= max_failures)
        wait = (int)(RATELIMIT_WINDOW_S - (now - s->window_start_s));
    pthread_mutex_unlock(&lock);
    return wait > 0 ? wait : 0;
}

void ratelimit_fail(const char *key)
{
    int64_t now = clock_wall_s();
    pthread_mutex_lock(&lock);
    struct slot *s = live(key, now);
    if (!s) {
        s = slot_for(key);
        snprintf(s->key, sizeof s->key, "%s", key);
        s->failures = 0;
        s->window_start_s = now;
    }
    s->failures++;
    pthread_mutex_unlock(&lock);
}

void ratelimit_reset(const char *key)
{
    pthread_mutex_lock(&lock);
    struct slot *s = slot_for(key);
    if (strncmp(s->key, key, sizeof s->key - 1) == 0)
        s->failures = 0;
    pthread_mutex_unlock(&lock);
}
