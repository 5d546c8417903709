/* Visit records, filed after a visit; filing one with plan_id completes the plan.
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
