#include "auth/rbac.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
    unsigned role;
    const char *name;
} role_names[] = {
    {ROLE_SALES, "sales"},   {ROLE_SALES_MANAGER, "sales_manager"},
    {ROLE_FINANCE, "finance"}, {ROLE_OFFICE, "office"},
    {ROLE_ADMIN, "admin"},   {ROLE_ERP, "erp"},
};

unsigned role_parse(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(role_names); i++)
        if (strcmp(role_names[i].name, name) == 0)
            return role_names[i].role;
    return 0;
}

const char *role_name(unsigned role)
{
    for (size_t i = 0; i < ARRAY_LEN(role_names); i++)
        if (role_names[i].role == role)
            return role_names[i].name;
    return "unknown";
}

bool uuid_valid(const char *s)
{
    static const int dash[] = {8, 13, 18, 23};
    if (strlen(s) != 36)
        return false;
    for (int i = 0, d = 0; i < 36; i++) {
        if (d < 4 && i == dash[d]) {
            if (s[i] != '-')
                return false;
            d++;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

#define CACHE_SLOTS 1024

struct cache_entry {
    char user_id[37];
    unsigned role;
    bool active;
    int64_t fetched_us;
};

static struct cache_entry cache[CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t cache_slot(const char *user_id)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = user_id; *p; p++)
        h = (h ^ (unsigned char)tolower((unsigned char)*p)) * 1099511628211ULL;
    return (size_t)(h % CACHE_SLOTS);
}

int rbac_cache_get(const char *user_id, unsigned *role, bool *active)
{
    int found = 0;
    size_t i = cache_slot(user_id);
    pthread_mutex_lock(&cache_lock);
    struct cache_entry *e = &cache[i];
    if (e->fetched_us && strcasecmp(e->user_id, user_id) == 0 &&
        clock_mono_us() - e->fetched_us < RBAC_CACHE_TTL_US) {
        *role = e->role;
        *active = e->active;
        found = 1;
    }
    pthread_mutex_unlock(&cache_lock);
    return found;
}

void rbac_cache_put(const char *user_id, unsigned role, bool active)
{
    size_t i = cache_slot(user_id);
    pthread_mutex_lock(&cache_lock);
    struct cache_entry *e = &cache[i];
    snprintf(e->user_id, sizeof e->user_id, "%s", user_id);
    e->role = role;
    e->active = active;
    e->fetched_us = clock_mono_us();
    pthread_mutex_unlock(&cache_lock);
}

void rbac_cache_invalidate(const char *user_id)
{
    size_t i = cache_slot(user_id);
    pthread_mutex_lock(&cache_lock);
    if (strcasecmp(cache[i].user_id, user_id) == 0)
        cache[i].fetched_us = 0;
    pthread_mutex_unlock(&cache_lock);
}
