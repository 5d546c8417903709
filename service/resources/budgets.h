/* Maintenance budgets, expenses with approvals, and their reports.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_BUDGETS_H
#define CRM_BUDGETS_H

#include <stdbool.h>

#include "http/request.h"

/* The expense and budget categories (NULL-terminated), shared by the three files. */
extern const char *const BUDGET_CATEGORIES[];

/* /v1/budgets (budgets.c) */
int budgets_list(struct request *r);
int budgets_get(struct request *r);
int budgets_create(struct request *r);
int budgets_update(struct request *r);
int budgets_archive(struct request *r);
int budgets_restore(struct request *r);

/* /v1/expenses (expenses.c) */
int expenses_list(struct request *r);
int expenses_get(struct request *r);
int expenses_create(struct request *r);
int expenses_update(struct request *r);
int expenses_approve(struct request *r);
int expenses_reject(struct request *r);
int expenses_pay(struct request *r);
int expenses_withdraw(struct request *r);

/* /v1/reports/budget-utilisation and /v1/reports/cost-benefit (budget_reports.c) */
int reports_budget_utilisation(struct request *r);
int reports_cost_benefit(struct request *r);

/* Pure helpers (unit-tested). */
/* True when s, a valid money string (valid_money), is greater than zero. */
bool money_positive(const char *s);
/* The year query parameter: 4 digits from 2000 to 2999. Returns the year, or 0 when s is NULL or malformed. */
int budget_year_parse(const char *s);

#endif
