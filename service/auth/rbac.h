/* Roles, the authenticated principal and the per-user cache that makes
 * deactivation and role changes take effect within seconds. */
#ifndef CRM_RBAC_H
#define CRM_RBAC_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

enum role {
    ROLE_SALES = 1u << 0,
    ROLE_SALES_MANAGER = 1u << 1,
    ROLE_FINANCE = 1u << 2,
    ROLE_OFFICE = 1u << 3,
    ROLE_ADMIN = 1u << 4,
    ROLE_ERP = 1u << 5,
};
#define ROLES_ALL (ROLE_SALES | ROLE_SALES_MANAGER | ROLE_FINANCE | ROLE_OFFICE | ROLE_ADMIN | ROLE_ERP)

struct principal {
    char user_id[37]; /* canonical UUID text */
    unsigned role;    /* exactly one enum role bit */
};

/* "sales" → ROLE_SALES; 0 for an unknown name. */
unsigned role_parse(const char *name);
/* ROLE_SALES → "sales"; "unknown" for anything else. Static string. */
const char *role_name(unsigned role);

/* Only sales reps are scoped to their own customers. */
static inline bool principal_scoped(const struct principal *p)
{
    return p->role == ROLE_SALES;
}

/* Cache of (user id → role, active) for at most RBAC_CACHE_TTL_US. */
#define RBAC_CACHE_TTL_US (30 * 1000000LL)
/* Returns 1 and fills role/active when a fresh entry exists, else 0. */
int rbac_cache_get(const char *user_id, unsigned *role, bool *active);
void rbac_cache_put(const char *user_id, unsigned role, bool active);
/* Drops one entry (after a role change or deactivation in this process). */
void rbac_cache_invalidate(const char *user_id);

/* True for the canonical 36-character UUID text (any case). */
bool uuid_valid(const char *s);

#endif
