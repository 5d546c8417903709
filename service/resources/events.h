/* /v1/events: customer events (product shows, technical exchanges, trend
 * launches) with their invited and attending customers, "visible customers
 * only": a sales rep sees an event they organise or that has one of their
 * customers on it, and in its customers array only their own customers;
 * changes to the event itself are for its organizer, sales_manager, office
 * and admin (another sales rep → 403); attendance (PUT/DELETE
 * …/customers/{customer_id}) for whoever sees both the event and the customer.
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
