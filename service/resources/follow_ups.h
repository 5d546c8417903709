/* /v1/follow-ups: follow-up items raised from a visit or an interaction (later
 * complaints and surveys), open → in_progress → done → verified (reopen →
 * in_progress). The customer side (the customer's owner, sales managers,
 * office, admins) creates, edits, archives, restores, verifies and reopens
 * items; the responsible user sees the item and may start and complete it
 * without owning the customer (finance only sees items it is responsible
 * for). An item the caller may not see answers 404 like a missing one.
 * Handlers: see http/routes.c for roles and flags; each returns the status
 * it sent, with the response recorded in r; writes are audited as entity
 * "follow_up" in the request's transaction. */
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
