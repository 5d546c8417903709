/* Satisfaction survey campaigns, responses and results.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_SURVEYS_H
#define CRM_SURVEYS_H

#include "http/request.h"

#endif
