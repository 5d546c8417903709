/* Reports: the overdue worklist and visit-plan completion.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_REPORTS_H
#define CRM_REPORTS_H

#include "http/request.h"

int reports_overdue(struct request *r);
int reports_visit_completion(struct request *r);

#endif
