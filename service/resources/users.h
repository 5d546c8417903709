/* /v1/users, /v1/me and /v1/auth/token: accounts, roles and password login. */
#ifndef CRM_USERS_H
#define CRM_USERS_H

#include "http/request.h"

int users_me(struct request *r);
int users_list(struct request *r);
int users_get(struct request *r);
int users_create(struct request *r);
int users_update(struct request *r);
int users_deactivate(struct request *r);
int auth_token(struct request *r);

struct verrs;
/* For user ids named in a request body: ids_json is a JSON array of ids
 * (as FT_UUID_LIST yields; NULL = nothing to check). Adds "<field>: must
 * name active users" to v unless every id is an active user. Returns 0
 * (check v), or -1 after answering an error (503). */
int users_check_active(struct request *r, const char *field, const char *ids_json, struct verrs *v) WUR;

/* At start-up: when no active admin exists, creates (or reactivates) the
 * user "admin" with role admin and this password, on its own connection.
 * Returns 0, or -1 after logging the reason. */
int users_ensure_admin(const char *password) WUR;

#endif
