/* The contact-cadence policy per tier.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_POLICIES_H
#define CRM_POLICIES_H

#include "http/request.h"

int policies_cadence_get(struct request *r);
int policies_cadence_put(struct request *r);

#endif
