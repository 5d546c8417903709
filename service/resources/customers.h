/* /v1/customers: the customer file, its ownership, record review and history. */
#ifndef CRM_CUSTOMERS_H
#define CRM_CUSTOMERS_H

#include "http/request.h"

struct verrs;

int customers_list(struct request *r);
int customers_get(struct request *r);
int customers_create(struct request *r);
int customers_update(struct request *r);
int customers_archive(struct request *r);
int customers_restore(struct request *r);
int customers_submit(struct request *r);
int customers_approve(struct request *r);
int customers_return(struct request *r);
int customers_review(struct request *r);
int customers_history(struct request *r);

/* The caller's owner scope over customers: a sales rep's own user id
 * (principal_scoped: they see only the customers they own), NULL (every
 * customer) for every other role. Borrowed from r. Statements bind it as
 * "($n::uuid IS NULL OR c.owner_id = $n)". */
static inline const char *customer_scope_owner(const struct request *r)
{
    return principal_scoped(&r->principal) ? r->principal.user_id : NULL;
}

/* Whether the customer named by id exists and the principal may see it
 * (sales: owns it). With lock, the row is locked FOR UPDATE. Returns 1
 * visible, 0 after answering 404, -1 after answering an error. */
int customer_check_visible(struct request *r, const char *id, bool lock) WUR;

/* For a customer named in a request body (field, e.g. "customer_id"): adds
 * "<field>: no such customer" to v when id is not a customer the principal
 * may see — the same message whether it is missing or out of scope. With
 * lock, the row is locked FOR UPDATE (lock the customer before writing
 * anything that hangs off it: the order that keeps writers deadlock-free).
 * Returns 0 (check v), or -1 after answering an error (503). */
int customer_ref_check(struct request *r, const char *field, const char *id, bool lock, struct verrs *v) WUR;

/* Before creating a record for a customer already checked visible: an
 * archived customer takes no new records. Returns 0, or -1 after answering
 * 409 (state "customer archived") or an error. */
int customer_check_live(struct request *r, const char *id) WUR;

/* The owner a customer may get: an active user with role sales or
 * sales_manager; else adds "owner_id: …" to v. Returns 0 (check v), or -1
 * after answering (503). */
int customer_owner_check(struct request *r, const char *owner_id, struct verrs *v) WUR;

/* Replies status with the document of customer id (no scope check: for
 * writers that already hold it) and its ETag. Returns the status sent. */
int customer_reply_id(struct request *r, int status, const char *id);

/* A customer row c: the FROM of every customer document (the cadence
 * fields are computed in C: resources/cadence.h). */
#define CUSTOMER_FROM "customers c"

#endif
