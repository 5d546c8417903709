/* The KPI board.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_KPIS_H
#define CRM_KPIS_H

#include "http/request.h"

#endif
