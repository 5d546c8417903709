/* Pure checks of the ERP feed's values (no database): signed money amounts,
 * external references and external customer codes. The tier arithmetic
 * itself lives in SQL (crm_tier_for, crm_tier_total in
 * sql/migrations/0006_transactions.sql) because the triggers that keep every
 * customer's tier current run there. */
#ifndef CRM_TIERING_H
#define CRM_TIERING_H

#include <stdbool.h>

/* An exact amount of money that may be negative (returns, credit notes):
 * an optional '-', 1 to 12 integer digits without leading zeros, optionally
 * '.' and 1 or 2 decimals ("125000.00", "-300.5", "0"). Negative zero
 * ("-0", "-0.00") is refused. */
bool valid_amount(const char *s);

/* An ERP external reference, usable as one URL path segment: 1 to 64 of
 * A-Z a-z 0-9 and `._:-` starting with a letter or digit. */
bool valid_external_ref(const char *s);

/* A customer's external (ERP) code as the path of PUT
 * /v1/customers/by-external-code/{code} carries it: 1 to 64 characters of
 * valid UTF-8, no control characters, no leading or trailing space. */
bool valid_external_code(const char *s);

#endif
