/* Reporting periods named like 2026, 2026-H2, 2026-Q4 or 2026-11: whole
 * calendar ranges of business-time dates (CRM_TIMEZONE); SQL turns them
 * into instants with crm_tz() where it compares timestamps. */
#ifndef CRM_PERIOD_H
#define CRM_PERIOD_H

#include "common.h"

struct period {
    char from[11]; /* first day, YYYY-MM-DD */
    char to[11];   /* first day after the period (exclusive) */
};

/* Parses YYYY, YYYY-H1..H2, YYYY-Q1..Q4 or YYYY-MM (01..12), year 1900..2998.
 * Returns 0, or -1 for anything else (out untouched). */
int period_parse(const char *s, struct period *out) WUR;

#endif
