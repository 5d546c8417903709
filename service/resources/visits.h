/* /v1/visits: visit records, filed after a visit. Filing one with plan_id
 * completes the plan (visit_plans.h); archiving it reopens the plan and
 * restoring it completes the plan again. A plan has at most one record.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_VISITS_H
#define CRM_VISITS_H

#include "http/request.h"

int visits_list(struct request *r);
int visits_get(struct request *r);
int visits_create(struct request *r);
int visits_update(struct request *r);
int visits_archive(struct request *r);
int visits_restore(struct request *r);

#endif
