/* Customer events (product shows, technical exchanges, trend launches) with invited and attending customers.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_EVENTS_H
#define CRM_EVENTS_H

#include "http/request.h"

int events_list(struct request *r);
int events_get(struct request *r);
int events_create(struct request *r);
int events_update(struct request *r);
int events_archive(struct request *r);
int events_restore(struct request *r);
int events_customer_put(struct request *r);
int events_customer_delete(struct request *r);

#endif
