/* Follow-up items raised from a visit (or another source): open → in_progress → done → verified.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_FOLLOW_UPS_H
#define CRM_FOLLOW_UPS_H

#include "http/request.h"

int follow_ups_list(struct request *r);
int follow_ups_get(struct request *r);
int follow_ups_create(struct request *r);
int follow_ups_update(struct request *r);
int follow_ups_archive(struct request *r);
int follow_ups_restore(struct request *r);
int follow_ups_start(struct request *r);
int follow_ups_complete(struct request *r);
int follow_ups_verify(struct request *r);
int follow_ups_reopen(struct request *r);

#endif
