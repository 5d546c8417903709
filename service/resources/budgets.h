/* Maintenance budgets, expenses with approvals, and their reports.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_BUDGETS_H
#define CRM_BUDGETS_H

#include "http/request.h"

#endif
