/* Complaints with service levels and the complaint reports.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_COMPLAINTS_H
#define CRM_COMPLAINTS_H

#include "http/request.h"

#endif
