/* THE route table. tests/unit/test_routes.c checks it against
 * api/openapi.yaml so the contract and the code cannot drift. */
#include "http/routes.h"

#include "ops/ops.h"
#include "resources/audit.h"
#include "resources/budgets.h"
#include "resources/complaints.h"
#include "resources/contacts.h"
#include "resources/customers.h"
#include "resources/events.h"
#include "resources/follow_ups.h"
#include "resources/interactions.h"
#include "resources/kpis.h"
#include "resources/policies.h"
#include "resources/reports.h"
#include "resources/surveys.h"
#include "resources/transactions.h"
#include "resources/users.h"
#include "resources/visit_plans.h"
#include "resources/visits.h"

#define ROLES(x) (x)
#define SALES ROLE_SALES
#define MANAGER ROLE_SALES_MANAGER
#define FINANCE ROLE_FINANCE
#define OFFICE ROLE_OFFICE
#define ADMIN ROLE_ADMIN
#define ERP ROLE_ERP
#define ALL ROLES_ALL

static const char *const Q_PAGE[] = {"limit", "cursor", NULL};
static const char *const Q_USERS[] = {"role", "active", "q", "limit", "cursor", NULL};
static const char *const Q_CUSTOMERS[] = {"status", "tier", "owner_id", "region", "industry", "record_status", "q",
                                          "include_archived", "sort", "limit", "cursor", NULL};
static const char *const Q_CONTACTS[] = {"q", "include_archived", "limit", "cursor", NULL};
static const char *const Q_AUDIT[] = {"actor_id", "entity", "entity_id", "customer_id", "action", "from", "to",
                                      "limit", "cursor", NULL};
static const char *const Q_INTERACTIONS[] = {"customer_id", "channel", "author_id", "from", "to",
                                             "next_action_due_before", "q", "include_archived", "sort",
                                             "limit", "cursor", NULL};
static const char *const Q_VISIT_PLANS[] = {"customer_id", "owner_id", "status", "from", "to", "sort", "limit",
                                            "cursor", NULL};
static const char *const Q_VISITS[] = {"customer_id", "plan_id", "author_id", "from", "to", "include_archived",
                                       "limit", "cursor", NULL};
static const char *const Q_FOLLOW_UPS[] = {"customer_id", "source_type", "source_id", "status",
                                           "responsible_user_id", "overdue", "due_before", "include_archived",
                                           "limit", "cursor", NULL};
static const char *const Q_EVENTS[] = {"type", "from", "to", "customer_id", "q", "include_archived", "limit",
                                       "cursor", NULL};
static const char *const Q_OVERDUE[] = {"kind", "owner_id", "limit", "cursor", NULL};
static const char *const Q_COMPLETION[] = {"period", "owner_id", NULL};

/* ==== complaints query parameters (insert below this line) ==== */
static const char *const Q_COMPLAINTS[] = {"customer_id", "status", "severity", "category", "owner_id",
                                           "assignee_id", "sla", "from", "to", "q", "include_archived", "sort",
                                           "limit", "cursor", NULL};
static const char *const Q_COMPLAINT_REPORT[] = {"from", "to", "group_by", NULL};
static const char *const Q_COMPLAINTS_AT_RISK[] = {"severity", "assignee_id", "limit", "cursor", NULL};
/* ---- end of complaints query parameters ---- */

/* ==== transactions query parameters (insert below this line) ==== */
static const char *const Q_TRANSACTIONS[] = {"customer_id", "from", "to", "product_category", "product_model",
                                             "include_archived", "limit", "cursor", NULL};
/* ---- end of transactions query parameters ---- */

/* ==== surveys query parameters (insert below this line) ==== */
static const char *const Q_SURVEYS[] = {"status", "method", "from", "to", "include_archived", "sort", "limit",
                                        "cursor", NULL};
static const char *const Q_SURVEY_RESPONSES[] = {"customer_id", "owner_id", "limit", "cursor", NULL};
static const char *const Q_SURVEY_COVERAGE[] = {"year", "owner_id", "tier", "limit", "cursor", NULL};
/* ---- end of surveys query parameters ---- */

/* ==== budgets query parameters (insert below this line) ==== */
static const char *const Q_BUDGETS[] = {"year", "category", "owner_id", "include_archived", "limit", "cursor", NULL};
static const char *const Q_EXPENSES[] = {"status", "category", "claimant_id", "customer_id", "budget_id",
                                        "over_budget", "from", "to", "sort", "limit", "cursor", NULL};
static const char *const Q_BUDGET_REPORT[] = {"year", "group_by", NULL};
/* ---- end of budgets query parameters ---- */

/* ==== kpis query parameters (insert below this line) ==== */
static const char *const Q_KPIS[] = {"period", "owner_id", NULL};
/* ---- end of kpis query parameters ---- */

const struct route routes[] = {
    /* operations (no auth) */
    {"GET", "/healthz", ops_healthz, 0, RT_PUBLIC, NULL},
    {"GET", "/readyz", ops_readyz, 0, RT_PUBLIC, NULL},
    {"GET", "/metrics", ops_metrics, 0, RT_PUBLIC, NULL},
    {"GET", "/openapi.yaml", ops_openapi, 0, RT_PUBLIC, NULL},
    {"GET", "/docs", ops_docs, 0, RT_PUBLIC, NULL},

    /* identity */
    {"POST", "/v1/auth/token", auth_token, 0, RT_PUBLIC | RT_DB | RT_BODY, NULL},
    {"GET", "/v1/me", users_me, ROLES(ALL), 0, NULL},
    {"GET", "/v1/users", users_list, ROLES(ADMIN), RT_REPLICA, Q_USERS},
    {"POST", "/v1/users", users_create, ROLES(ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/users/{id}", users_get, ROLES(ADMIN), 0, NULL},
    {"PATCH", "/v1/users/{id}", users_update, ROLES(ADMIN), RT_BODY | RT_TX, NULL},
    {"DELETE", "/v1/users/{id}", users_deactivate, ROLES(ADMIN), RT_TX, NULL},

    /* customers */
    {"GET", "/v1/customers", customers_list, ROLES(ALL), RT_REPLICA, Q_CUSTOMERS},
    {"POST", "/v1/customers", customers_create, ROLES(SALES | MANAGER | ADMIN), RT_BODY, NULL},
    {"GET", "/v1/customers/{id}", customers_get, ROLES(ALL), 0, NULL},
    {"PATCH", "/v1/customers/{id}", customers_update, ROLES(SALES | MANAGER | FINANCE | ADMIN), RT_BODY | RT_TX, NULL},
    {"DELETE", "/v1/customers/{id}", customers_archive, ROLES(SALES | MANAGER | ADMIN), RT_TX, NULL},
    {"POST", "/v1/customers/{id}/restore", customers_restore, ROLES(SALES | MANAGER | ADMIN), RT_BODY_OPT | RT_TX, NULL},
    {"POST", "/v1/customers/{id}/submit", customers_submit, ROLES(SALES | MANAGER | ADMIN), RT_BODY_OPT | RT_TX, NULL},
    {"POST", "/v1/customers/{id}/approve", customers_approve, ROLES(MANAGER | ADMIN), RT_BODY_OPT | RT_TX, NULL},
    {"POST", "/v1/customers/{id}/return", customers_return, ROLES(MANAGER | ADMIN), RT_BODY | RT_TX, NULL},
    {"POST", "/v1/customers/{id}/review", customers_review, ROLES(SALES | MANAGER | ADMIN), RT_BODY_OPT | RT_TX, NULL},
    {"GET", "/v1/customers/{id}/history", customers_history, ROLES(ALL), 0, Q_PAGE},

    /* contacts */
    {"GET", "/v1/customers/{id}/contacts", contacts_list, ROLES(ALL), 0, Q_CONTACTS},
    {"POST", "/v1/customers/{id}/contacts", contacts_create, ROLES(SALES | MANAGER | ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/customers/{id}/contacts/{contact_id}", contacts_get, ROLES(ALL), 0, NULL},
    {"PATCH", "/v1/customers/{id}/contacts/{contact_id}", contacts_update, ROLES(SALES | MANAGER | ADMIN),
     RT_BODY | RT_TX, NULL},
    {"DELETE", "/v1/customers/{id}/contacts/{contact_id}", contacts_archive, ROLES(SALES | MANAGER | ADMIN), RT_TX,
     NULL},
    {"POST", "/v1/customers/{id}/contacts/{contact_id}/restore", contacts_restore, ROLES(SALES | MANAGER | ADMIN),
     RT_BODY_OPT | RT_TX, NULL},

    /* interactions */
    {"GET", "/v1/interactions", interactions_list, ROLES(SALES | MANAGER | OFFICE | ADMIN),
     RT_REPLICA, Q_INTERACTIONS},
    {"POST", "/v1/interactions", interactions_create, ROLES(SALES | MANAGER | ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/interactions/{id}", interactions_get, ROLES(SALES | MANAGER | OFFICE | ADMIN), 0, NULL},
    {"PATCH", "/v1/interactions/{id}", interactions_update, ROLES(SALES | MANAGER | ADMIN), RT_BODY | RT_TX, NULL},
    {"DELETE", "/v1/interactions/{id}", interactions_archive, ROLES(SALES | MANAGER | ADMIN), RT_TX, NULL},
    {"POST", "/v1/interactions/{id}/restore", interactions_restore, ROLES(SALES | MANAGER | ADMIN),
     RT_BODY_OPT | RT_TX, NULL},

    /* visit plans */
    {"GET", "/v1/visit-plans", visit_plans_list, ROLES(SALES | MANAGER | OFFICE | ADMIN), RT_REPLICA, Q_VISIT_PLANS},
    {"POST", "/v1/visit-plans", visit_plans_create, ROLES(SALES | MANAGER | ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/visit-plans/{id}", visit_plans_get, ROLES(SALES | MANAGER | OFFICE | ADMIN), 0, NULL},
    {"PATCH", "/v1/visit-plans/{id}", visit_plans_update, ROLES(SALES | MANAGER | ADMIN), RT_BODY | RT_TX, NULL},
    {"POST", "/v1/visit-plans/{id}/approve", visit_plans_approve, ROLES(MANAGER | ADMIN), RT_BODY_OPT | RT_TX, NULL},
    {"POST", "/v1/visit-plans/{id}/cancel", visit_plans_cancel, ROLES(SALES | MANAGER | ADMIN), RT_BODY | RT_TX, NULL},

    /* visit records */
    {"GET", "/v1/visits", visits_list, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), RT_REPLICA, Q_VISITS},
    {"POST", "/v1/visits", visits_create, ROLES(SALES | MANAGER | ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/visits/{id}", visits_get, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), 0, NULL},
    {"PATCH", "/v1/visits/{id}", visits_update, ROLES(SALES | MANAGER | ADMIN), RT_BODY | RT_TX, NULL},
    {"DELETE", "/v1/visits/{id}", visits_archive, ROLES(SALES | MANAGER | ADMIN), RT_TX, NULL},
    {"POST", "/v1/visits/{id}/restore", visits_restore, ROLES(SALES | MANAGER | ADMIN), RT_BODY_OPT | RT_TX, NULL},

    /* follow-up items */
    {"GET", "/v1/follow-ups", follow_ups_list, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN),
     RT_REPLICA, Q_FOLLOW_UPS},
    {"POST", "/v1/follow-ups", follow_ups_create, ROLES(SALES | MANAGER | OFFICE | ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/follow-ups/{id}", follow_ups_get, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), 0, NULL},
    {"PATCH", "/v1/follow-ups/{id}", follow_ups_update, ROLES(SALES | MANAGER | OFFICE | ADMIN), RT_BODY | RT_TX, NULL},
    {"DELETE", "/v1/follow-ups/{id}", follow_ups_archive, ROLES(SALES | MANAGER | OFFICE | ADMIN), RT_TX, NULL},
    {"POST", "/v1/follow-ups/{id}/restore", follow_ups_restore, ROLES(SALES | MANAGER | OFFICE | ADMIN),
     RT_BODY_OPT | RT_TX, NULL},
    {"POST", "/v1/follow-ups/{id}/start", follow_ups_start, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN),
     RT_BODY_OPT | RT_TX, NULL},
    {"POST", "/v1/follow-ups/{id}/complete", follow_ups_complete, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN),
     RT_BODY | RT_TX, NULL},
    {"POST", "/v1/follow-ups/{id}/verify", follow_ups_verify, ROLES(SALES | MANAGER | OFFICE | ADMIN),
     RT_BODY_OPT | RT_TX, NULL},
    {"POST", "/v1/follow-ups/{id}/reopen", follow_ups_reopen, ROLES(SALES | MANAGER | OFFICE | ADMIN),
     RT_BODY_OPT | RT_TX, NULL},

    /* events */
    {"GET", "/v1/events", events_list, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), RT_REPLICA, Q_EVENTS},
    {"POST", "/v1/events", events_create, ROLES(SALES | MANAGER | OFFICE | ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/events/{id}", events_get, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), 0, NULL},
    {"PATCH", "/v1/events/{id}", events_update, ROLES(SALES | MANAGER | OFFICE | ADMIN), RT_BODY | RT_TX, NULL},
    {"DELETE", "/v1/events/{id}", events_archive, ROLES(SALES | MANAGER | OFFICE | ADMIN), RT_TX, NULL},
    {"POST", "/v1/events/{id}/restore", events_restore, ROLES(SALES | MANAGER | OFFICE | ADMIN), RT_BODY_OPT | RT_TX,
     NULL},
    {"PUT", "/v1/events/{id}/customers/{customer_id}", events_customer_put, ROLES(SALES | MANAGER | OFFICE | ADMIN),
     RT_BODY | RT_TX, NULL},
    {"DELETE", "/v1/events/{id}/customers/{customer_id}", events_customer_delete,
     ROLES(SALES | MANAGER | OFFICE | ADMIN), RT_TX, NULL},

    /* cadence policy and reports */
    {"GET", "/v1/policies/cadence", policies_cadence_get, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), 0, NULL},
    {"PUT", "/v1/policies/cadence", policies_cadence_put, ROLES(MANAGER | ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/reports/overdue", reports_overdue, ROLES(SALES | MANAGER | OFFICE | ADMIN), RT_REPLICA, Q_OVERDUE},
    {"GET", "/v1/reports/visit-completion", reports_visit_completion, ROLES(SALES | MANAGER | OFFICE | ADMIN),
     RT_REPLICA, Q_COMPLETION},

    /* ==== complaints routes (insert below this line) ==== */
    {"GET", "/v1/complaints", complaints_list, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), RT_REPLICA, Q_COMPLAINTS},
    {"POST", "/v1/complaints", complaints_create, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), RT_BODY | RT_TX,
     NULL},
    {"GET", "/v1/complaints/{id}", complaints_get, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), 0, NULL},
    {"PATCH", "/v1/complaints/{id}", complaints_update, ROLES(MANAGER | OFFICE | ADMIN), RT_BODY | RT_TX, NULL},
    {"DELETE", "/v1/complaints/{id}", complaints_archive, ROLES(MANAGER | OFFICE | ADMIN), RT_TX, NULL},
    {"POST", "/v1/complaints/{id}/restore", complaints_restore, ROLES(MANAGER | OFFICE | ADMIN), RT_BODY_OPT | RT_TX,
     NULL},
    {"POST", "/v1/complaints/{id}/acknowledge", complaints_acknowledge, ROLES(MANAGER | OFFICE | ADMIN),
     RT_BODY_OPT | RT_TX, NULL},
    {"POST", "/v1/complaints/{id}/assign", complaints_assign, ROLES(MANAGER | OFFICE | ADMIN), RT_BODY | RT_TX, NULL},
    {"POST", "/v1/complaints/{id}/start", complaints_start, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN),
     RT_BODY_OPT | RT_TX, NULL},
    {"GET", "/v1/complaints/{id}/notes", complaints_notes_list, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), 0,
     Q_PAGE},
    {"POST", "/v1/complaints/{id}/notes", complaints_notes_create, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN),
     RT_BODY | RT_TX, NULL},
    {"GET", "/v1/complaints/{id}/events", complaints_events_list, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), 0,
     Q_PAGE},
    {"GET", "/v1/complaints/{id}/events/{event_id}", complaints_events_get,
     ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), 0, NULL},
    {"POST", "/v1/complaints/{id}/resolve", complaints_resolve, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN),
     RT_BODY | RT_TX, NULL},
    {"POST", "/v1/complaints/{id}/confirm-refund", complaints_confirm_refund, ROLES(FINANCE), RT_BODY_OPT | RT_TX,
     NULL},
    {"POST", "/v1/complaints/{id}/close", complaints_close, ROLES(MANAGER | OFFICE | ADMIN), RT_BODY | RT_TX, NULL},
    {"POST", "/v1/complaints/{id}/reopen", complaints_reopen, ROLES(MANAGER | OFFICE | ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/policies/complaint-sla", policies_complaint_sla_get, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN),
     0, NULL},
    {"PUT", "/v1/policies/complaint-sla", policies_complaint_sla_put, ROLES(MANAGER | ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/reports/complaints", reports_complaints, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), RT_REPLICA,
     Q_COMPLAINT_REPORT},
    {"GET", "/v1/reports/complaints/at-risk", reports_complaints_at_risk,
     ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), RT_REPLICA, Q_COMPLAINTS_AT_RISK},
    /* ---- end of complaints routes ---- */

    /* ==== transactions routes (insert below this line) ==== */
    {"GET", "/v1/transactions", transactions_list, ROLES(SALES | MANAGER | FINANCE | ADMIN | ERP), RT_REPLICA, Q_TRANSACTIONS},
    {"POST", "/v1/transactions/batch", transactions_batch, ROLES(ERP | ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/transactions/{ref}", transactions_get, ROLES(SALES | MANAGER | FINANCE | ADMIN | ERP), 0, NULL},
    {"PUT", "/v1/transactions/{ref}", transactions_put, ROLES(ERP | ADMIN), RT_BODY | RT_TX, NULL},
    {"DELETE", "/v1/transactions/{ref}", transactions_archive, ROLES(ERP | ADMIN), RT_TX, NULL},
    {"POST", "/v1/transactions/{ref}/restore", transactions_restore, ROLES(ERP | ADMIN), RT_BODY_OPT | RT_TX, NULL},
    {"GET", "/v1/customers/{id}/tier-history", customers_tier_history, ROLES(ALL), 0, Q_PAGE},
    {"POST", "/v1/tiers/recompute", tiers_recompute, ROLES(ERP | ADMIN), RT_BODY_OPT | RT_TX, NULL},
    {"PUT", "/v1/customers/by-external-code/{code}", customers_upsert_by_code, ROLES(ERP | ADMIN), RT_BODY | RT_TX,
     NULL},
    /* ---- end of transactions routes ---- */

    /* ==== surveys routes (insert below this line) ==== */
    {"GET", "/v1/surveys", surveys_list, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), RT_REPLICA, Q_SURVEYS},
    {"POST", "/v1/surveys", surveys_create, ROLES(MANAGER | OFFICE | ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/surveys/{id}", surveys_get, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), 0, NULL},
    {"PATCH", "/v1/surveys/{id}", surveys_update, ROLES(MANAGER | OFFICE | ADMIN), RT_BODY | RT_TX, NULL},
    {"DELETE", "/v1/surveys/{id}", surveys_archive, ROLES(MANAGER | OFFICE | ADMIN), RT_TX, NULL},
    {"POST", "/v1/surveys/{id}/restore", surveys_restore, ROLES(MANAGER | OFFICE | ADMIN), RT_BODY_OPT | RT_TX, NULL},
    {"POST", "/v1/surveys/{id}/open", surveys_open, ROLES(MANAGER | OFFICE | ADMIN), RT_BODY_OPT | RT_TX, NULL},
    {"POST", "/v1/surveys/{id}/close", surveys_close, ROLES(MANAGER | OFFICE | ADMIN), RT_BODY_OPT | RT_TX, NULL},
    {"GET", "/v1/surveys/{id}/results", surveys_results, ROLES(SALES | MANAGER | OFFICE | ADMIN), 0, NULL},
    {"GET", "/v1/surveys/{id}/responses", survey_responses_list, ROLES(SALES | MANAGER | OFFICE | ADMIN), 0,
     Q_SURVEY_RESPONSES},
    {"POST", "/v1/surveys/{id}/responses", survey_responses_create, ROLES(SALES | MANAGER | OFFICE | ADMIN),
     RT_BODY | RT_TX, NULL},
    {"GET", "/v1/surveys/{id}/responses/{response_id}", survey_responses_get, ROLES(SALES | MANAGER | OFFICE | ADMIN),
     0, NULL},
    {"PATCH", "/v1/surveys/{id}/responses/{response_id}", survey_responses_update,
     ROLES(SALES | MANAGER | OFFICE | ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/reports/survey-coverage", reports_survey_coverage, ROLES(SALES | MANAGER | OFFICE | ADMIN), RT_REPLICA,
     Q_SURVEY_COVERAGE},
    /* ---- end of surveys routes ---- */

    /* ==== budgets routes (insert below this line) ==== */
    {"GET", "/v1/budgets", budgets_list, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), RT_REPLICA, Q_BUDGETS},
    {"POST", "/v1/budgets", budgets_create, ROLES(FINANCE | ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/budgets/{id}", budgets_get, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), 0, NULL},
    {"PATCH", "/v1/budgets/{id}", budgets_update, ROLES(FINANCE | ADMIN), RT_BODY | RT_TX, NULL},
    {"DELETE", "/v1/budgets/{id}", budgets_archive, ROLES(FINANCE | ADMIN), RT_TX, NULL},
    {"POST", "/v1/budgets/{id}/restore", budgets_restore, ROLES(FINANCE | ADMIN), RT_BODY_OPT | RT_TX, NULL},
    {"GET", "/v1/expenses", expenses_list, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), RT_REPLICA, Q_EXPENSES},
    {"POST", "/v1/expenses", expenses_create, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), RT_BODY | RT_TX,
     NULL},
    {"GET", "/v1/expenses/{id}", expenses_get, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), 0, NULL},
    {"PATCH", "/v1/expenses/{id}", expenses_update, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN),
     RT_BODY | RT_TX, NULL},
    {"POST", "/v1/expenses/{id}/approve", expenses_approve, ROLES(MANAGER | FINANCE | ADMIN), RT_BODY_OPT | RT_TX,
     NULL},
    {"POST", "/v1/expenses/{id}/reject", expenses_reject, ROLES(MANAGER | FINANCE | ADMIN), RT_BODY | RT_TX, NULL},
    {"POST", "/v1/expenses/{id}/pay", expenses_pay, ROLES(FINANCE | ADMIN), RT_BODY_OPT | RT_TX, NULL},
    {"POST", "/v1/expenses/{id}/withdraw", expenses_withdraw, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN),
     RT_BODY_OPT | RT_TX, NULL},
    {"GET", "/v1/reports/budget-utilisation", reports_budget_utilisation,
     ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), RT_REPLICA, Q_BUDGET_REPORT},
    {"GET", "/v1/reports/cost-benefit", reports_cost_benefit, ROLES(SALES | MANAGER | FINANCE | ADMIN), RT_REPLICA,
     Q_BUDGET_REPORT},
    /* ---- end of budgets routes ---- */

    /* ==== kpis routes (insert below this line) ==== */
    {"GET", "/v1/reports/kpis", kpis_get, ROLES(SALES | MANAGER | FINANCE | OFFICE | ADMIN), RT_TX, Q_KPIS},
    /* ---- end of kpis routes ---- */

    /* audit */
    {"GET", "/v1/audit", audit_list, ROLES(OFFICE | ADMIN), RT_REPLICA, Q_AUDIT},
};

const size_t routes_count = sizeof routes / sizeof routes[0];
