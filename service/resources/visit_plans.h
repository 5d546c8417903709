/* Visit plans: planned → approved → completed | cancelled, missed computed after the date.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_VISIT_PLANS_H
#define CRM_VISIT_PLANS_H

#include "http/request.h"

int visit_plans_list(struct request *r);
int visit_plans_get(struct request *r);
int visit_plans_create(struct request *r);
int visit_plans_update(struct request *r);
int visit_plans_approve(struct request *r);
int visit_plans_cancel(struct request *r);

#endif
