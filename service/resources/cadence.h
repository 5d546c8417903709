/* The contact cadence of a customer document (next_contact_due,
 * contact_status, and the same for visits and record reviews), computed in
 * C from the customer's own columns and the tier's policy.
 *
 * Why not in SQL: the same figures as SQL expressions (the tier's policy
 * joined to every row, the due dates of crm_customer_due, the status of
 * crm_cadence_status) made PostgreSQL build a larger plan state on every
 * execution: measured on the bench data, 0.24 → 0.17 ms of database CPU for
 * a page of 50 customers and 0.13 → 0.10 ms for one customer, with the
 * service's CPU unchanged. The SQL functions of migration 0004 stay the
 * definition: the overdue worklist and the KPI board filter and count with
 * them, and tests/api/test_cadence.py checks that both agree.
 *
 * The rules, as in 0004: due = the business-time date of the last
 * occurrence (else the first-contact date, else the business date of
 * creation) + the tier's interval in calendar months (a month end clamps:
 * 01-31 + 1 month = 02-28); none for an archived or lost customer or a tier
 * without that interval. Status on the business date today: overdue (due
 * passed), due_soon (within the tier's due_soon_days), else ok.
 *
 * The business time zone is the process's local time zone (cadence_init
 * sets TZ from CRM_TIMEZONE before any thread starts). The policy is cached
 * for at most CADENCE_POLICY_TTL_US; a policy change through this process
 * drops the cache when it commits, another instance sees it within that
 * time. */
#ifndef CRM_CADENCE_H
#define CRM_CADENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "http/request.h"

#define CADENCE_POLICY_TTL_US 1000000

enum cadence_kind { CADENCE_CONTACT, CADENCE_VISIT, CADENCE_REVIEW, CADENCE_KINDS };
enum { CADENCE_TIERS = 4 }; /* vip, key, general, reserve: the CHECK of cadence_policies */

struct cadence_policy {
    bool present;                /* the tier has a policy row */
    int months[CADENCE_KINDS];   /* interval in months; 0 = no requirement */
    int due_soon_days;
};

/* What one request computes its documents with. */
struct cadence_rules {
    struct cadence_policy tier[CADENCE_TIERS];
    long today; /* the business date, days since 1970-01-01 */
};

/* Makes tz (a validated CRM_TIMEZONE) the process's local time zone. Call
 * once, before any thread starts. */
void cadence_init(const char *tz);

/* Fills rules with the (cached) policy and today's business date. 0, or -1
 * after answering (503 when the policy cannot be read). */
int cadence_rules_load(struct request *r, struct cadence_rules *rules) WUR;

/* Drops the cached policy (after a policy change commits). */
void cadence_policy_invalidate(void);

/* ---- the arithmetic (pure; unit-tested) ---- */

/* The tier's index in cadence_rules.tier, or -1. */
int cadence_tier_index(const char *tier);

/* "YYYY-MM-DD" → days since 1970-01-01. false when s is not such a date. */
bool cadence_parse_date(const char *s, long *days);

/* A timestamptz as PostgreSQL prints it with DateStyle ISO ("2026-11-23
 * 08:00:00.123456+00", any offset) → the business-time date, as days.
 * false when s is not such a timestamp. */
bool cadence_local_date(const char *s, long *days);

/* days + months calendar months, the day clamped to the month's last. */
long cadence_add_months(long days, int months);

/* "overdue", "due_soon" or "ok". */
const char *cadence_status(long due, int due_soon_days, long today);

/* Writes days as "YYYY-MM-DD" (buf of at least 16 bytes). */
void cadence_format_date(long days, char *buf, size_t size);

/* The due date of one cadence, or false when it does not apply. last and
 * first_contact may be NULL; created is the creation timestamp. */
bool cadence_due(const struct cadence_policy *p, enum cadence_kind kind, bool applies, const char *last,
                 const char *first_contact, const char *created, long *due);

#endif
