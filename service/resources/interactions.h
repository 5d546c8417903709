/* Interactions (沟通记录) of customers: scoped like their customer.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_INTERACTIONS_H
#define CRM_INTERACTIONS_H

#include "http/request.h"

int interactions_list(struct request *r);
int interactions_get(struct request *r);
int interactions_create(struct request *r);
int interactions_update(struct request *r);
int interactions_archive(struct request *r);
int interactions_restore(struct request *r);

#endif
