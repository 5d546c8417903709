/* Reports: the overdue worklist and visit-plan completion.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_REPORTS_H
#define CRM_REPORTS_H

#include "http/request.h"

/* GET /v1/reports/overdue?kind=contact|visit|review|follow_up&owner_id=&limit=&cursor=
 * A keyset page {items, next_cursor} of customers whose next contact, visit or
 * review date (exactly the customer document's next_*_due) is before today in
 * the business time zone, or of open and in-progress follow-ups past their due
 * date; most overdue first (due date, then id). Sales reps see their own
 * customers (and, for follow-ups, the items they are responsible for). A
 * missing or unknown kind, a malformed owner_id, limit or cursor → 400. */
int reports_overdue(struct request *r);

/* GET /v1/reports/visit-completion?period=2026|2026-H2|2026-Q4|2026-11&owner_id=
 * Planned, completed, cancelled, missed and pending visit plans dated within the
 * period, and the completion rate, overall and per current owner of the
 * customer, in one query. Sales reps get only their own figures. A missing or
 * malformed period or owner_id → 400. */
int reports_visit_completion(struct request *r);

#endif
