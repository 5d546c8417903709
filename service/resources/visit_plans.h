/* /v1/visit-plans: planned → approved → completed | cancelled; a plan still
 * planned or approved after its date renders as missed (computed on read).
 * Plans for VIP customers need sales-manager approval before a visit
 * record may complete them.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_VISIT_PLANS_H
#define CRM_VISIT_PLANS_H

#include <libpq-fe.h>

#include "http/request.h"

int visit_plans_list(struct request *r);
int visit_plans_get(struct request *r);
int visit_plans_create(struct request *r);
int visit_plans_update(struct request *r);
int visit_plans_approve(struct request *r);
int visit_plans_cancel(struct request *r);

/* The plan side of visit records (visits.c), all in the request's transaction. */

/* The customer of plan plan_id (a valid uuid) when the principal may see
 * the plan: copies it into customer_id and returns 1; 0 when there is no
 * such plan in scope; -1 after answering an error (503). Locks nothing. */
int visit_plan_customer(struct request *r, const char *plan_id, char customer_id[37]) WUR;

/* Locks plan plan_id (the caller has locked its customer) for a visit
 * record that is to complete it: the plan must be planned, approved or
 * missed, and approved when its customer is VIP. Returns the locked row,
 * owned by the caller (PQclear) and handed to visit_plan_complete, or NULL
 * after answering (409 naming the plan's state, 503). */
PGresult *visit_plan_lock_completable(struct request *r, const char *plan_id) WUR;

/* Completes the plan locked by visit_plan_lock_completable with the visit
 * record visit_id (status completed, completed_at, visit_id; version + 1)
 * and records the audit action "complete". Returns 0, or -1 after answering. */
int visit_plan_complete(struct request *r, const PGresult *plan, const char *visit_id) WUR;

/* When the record visit_id is archived: if it completed plan plan_id, the
 * plan goes back to approved (when it had been approved) or planned, with
 * visit_id and completed_at cleared, audit action "reopen"; otherwise
 * nothing changes. Returns 0, or -1 after answering. */
int visit_plan_reopen(struct request *r, const char *plan_id, const char *visit_id) WUR;

#endif
