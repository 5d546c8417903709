/* The KPI board.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_KPIS_H
#define CRM_KPIS_H

#include "http/request.h"

/* GET /v1/reports/kpis?period=2026|2026-H2|2026-Q4|2026-11&owner_id=
 * The KPI board for the period (default: the current quarter in business
 * time) and the period of the same length immediately before it: retention,
 * visit-plan completion, contact-cadence compliance, revenue growth of
 * maintained customers, each as {current, previous}, in one query. Sales
 * reps get the figures of the customers they own. A malformed period or
 * owner_id → 400. */
int kpis_get(struct request *r);

#endif
