/* Complaints with service levels and the complaint reports.
 *
 * /v1/complaints: received → acknowledged → assigned → in_progress →
 * resolved → closed (reopen: resolved or closed → in_progress). Every
 * transition and every progress note is a row of complaint_events (actor,
 * time, from/to status, note) and an audit entry. The office, sales managers
 * and admins run the workflow; the assigned user may also start, add notes
 * and resolve; finance alone confirms a refund decided at resolution, and a
 * complaint whose refund is pending cannot close. Anyone who may see the
 * customer files a complaint (first-responder rule). Sales reps see the
 * complaints of the customers they own and those assigned to them; every
 * other role that reaches the routes sees all. Anything else is a 404,
 * identical to a missing complaint.
 *
 * Service levels (sql/migrations/0005_complaints.sql is the one definition):
 * first response and start of handling are due a policy-set time after
 * received_at (GET/PUT /v1/policies/complaint-sla), resolution by the
 * deadline set at assignment; each leg renders met / breached / pending /
 * at_risk against now.
 *
 * Handlers: see http/routes.c for roles and flags; each returns the status it
 * sent, with the response recorded in r. */
#ifndef CRM_COMPLAINTS_H
#define CRM_COMPLAINTS_H

#include "http/request.h"

int complaints_list(struct request *r);
int complaints_get(struct request *r);
int complaints_create(struct request *r);
int complaints_update(struct request *r);
int complaints_archive(struct request *r);
int complaints_restore(struct request *r);
int complaints_acknowledge(struct request *r);
int complaints_assign(struct request *r);
int complaints_start(struct request *r);
int complaints_notes_list(struct request *r);
int complaints_notes_create(struct request *r);
int complaints_events_list(struct request *r);
int complaints_events_get(struct request *r);
int complaints_resolve(struct request *r);
int complaints_confirm_refund(struct request *r);
int complaints_close(struct request *r);
int complaints_reopen(struct request *r);

/* GET/PUT /v1/policies/complaint-sla (complaint_sla.c): the service-level
 * policy, one entry per severity, one document with one version. */
int policies_complaint_sla_get(struct request *r);
int policies_complaint_sla_put(struct request *r);

/* GET /v1/reports/complaints?from=&to=&group_by= and
 * GET /v1/reports/complaints/at-risk (complaint_reports.c). */
int reports_complaints(struct request *r);
int reports_complaints_at_risk(struct request *r);

/* ---- SQL shared by the resource and the reports ----
 * A complaint row cm joined to its customer c and its severity's policy p
 * (the at-risk window). now() is the statement's (transaction's) instant. */
#define COMPLAINT_FROM                                                                                        \
    "complaints cm JOIN customers c ON c.id = cm.customer_id "                                                \
    "JOIN complaint_sla_policies p ON p.severity = cm.severity"
/* The status of one leg: its deadline and the instant it was done. */
#define COMPLAINT_LEG_STATUS(due, done) "crm_sla_status(" due ", " done ", p.at_risk_minutes, now())"
#define COMPLAINT_FIRST_RESPONSE_STATUS COMPLAINT_LEG_STATUS("cm.first_response_due", "cm.first_response_at")
#define COMPLAINT_START_STATUS COMPLAINT_LEG_STATUS("cm.start_due", "cm.started_at")
#define COMPLAINT_RESOLUTION_STATUS COMPLAINT_LEG_STATUS("cm.resolution_due", "cm.resolved_at")
/* The earliest deadline of a leg not done yet (the at-risk index's key). */
#define COMPLAINT_NEXT_DUE                                                                                    \
    "crm_complaint_next_due(cm.first_response_due, cm.first_response_at, cm.start_due, cm.started_at, "       \
    "cm.resolution_due, cm.resolved_at)"
/* Open: still to be handled (the at-risk index's predicate). */
#define COMPLAINT_OPEN "cm.archived_at IS NULL AND cm.status NOT IN ('resolved', 'closed')"
/* Who sees a complaint: $n the caller when scoped (a sales rep), else NULL. */
#define COMPLAINT_VISIBLE(n) "($" n "::uuid IS NULL OR c.owner_id = $" n "::uuid OR cm.assignee_id = $" n "::uuid)"

#endif
