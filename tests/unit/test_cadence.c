/* Unit tests for the cadence arithmetic of customer documents
 * (service/resources/cadence.c): business dates of PostgreSQL timestamps,
 * calendar months with month-end clamping, due dates and statuses. The API
 * suite (tests/api/test_cadence.py) checks the same figures end to end and
 * against the SQL functions of migration 0004. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "resources/cadence.h"

static long day(const char *ymd)
{
    long d = 0;
    assert_true(cadence_parse_date(ymd, &d));
    return d;
}

static void assert_date(long days, const char *want)
{
    char buf[16];
    cadence_format_date(days, buf, sizeof buf);
    assert_string_equal(buf, want);
}

static void test_dates_round_trip(void **state)
{
    (void)state;
    assert_int_equal(day("1970-01-01"), 0);
    assert_int_equal(day("2000-03-01") - day("2000-02-28"), 2); /* 2000 is a leap year */
    assert_int_equal(day("2100-03-01") - day("2100-02-28"), 1); /* 2100 is not */
    assert_date(day("2026-11-23"), "2026-11-23");
    assert_date(day("1969-12-31"), "1969-12-31");
    long d;
    assert_false(cadence_parse_date("2026-02-29", &d));
    assert_false(cadence_parse_date("2026-13-01", &d));
    assert_false(cadence_parse_date("2026-1-01", &d));
    assert_false(cadence_parse_date("2026-01-01x", &d));
    assert_false(cadence_parse_date("", &d));
    assert_false(cadence_parse_date(NULL, &d));
}

static void test_add_months_clamps(void **state)
{
    (void)state;
    assert_date(cadence_add_months(day("2026-01-31"), 1), "2026-02-28");
    assert_date(cadence_add_months(day("2027-12-31"), 2), "2028-02-29");
    assert_date(cadence_add_months(day("2026-11-30"), 3), "2027-02-28");
    assert_date(cadence_add_months(day("2026-12-31"), 3), "2027-03-31");
    assert_date(cadence_add_months(day("2026-03-15"), 12), "2027-03-15");
    assert_date(cadence_add_months(day("2024-02-29"), 12), "2025-02-28");
    assert_date(cadence_add_months(day("2026-05-31"), 60), "2031-05-31");
}

/* In Asia/Shanghai (UTC+8, no DST since 1991) and America/New_York (DST). */
static void test_business_dates(void **state)
{
    (void)state;
    long d;
    cadence_init("Asia/Shanghai");
    assert_true(cadence_local_date("2026-08-31 15:59:59.999999+00", &d));
    assert_date(d, "2026-08-31");
    assert_true(cadence_local_date("2026-08-31 16:00:00+00", &d));
    assert_date(d, "2026-09-01");
    assert_true(cadence_local_date("2026-08-31 16:00:00.5+00", &d));
    assert_date(d, "2026-09-01");
    assert_true(cadence_local_date("2026-09-01 00:00:00+08", &d)); /* an offset other than the session's */
    assert_date(d, "2026-09-01");
    assert_true(cadence_local_date("2026-08-31 23:30:00-05:30", &d));
    assert_date(d, "2026-09-01");
    cadence_init("America/New_York");
    assert_true(cadence_local_date("2026-03-01 02:00:00+00", &d));
    assert_date(d, "2026-02-28");
    assert_true(cadence_local_date("2026-07-01 03:59:59+00", &d)); /* EDT: UTC-4 */
    assert_date(d, "2026-06-30");
    assert_true(cadence_local_date("2026-12-01 04:59:59+00", &d)); /* EST: UTC-5 */
    assert_date(d, "2026-11-30");
    cadence_init("UTC");
    assert_true(cadence_local_date("2026-06-30 16:00:00+00", &d));
    assert_date(d, "2026-06-30");
    assert_false(cadence_local_date("2026-06-30T16:00:00Z", &d));
    assert_false(cadence_local_date("2026-06-30 25:00:00+00", &d));
    assert_false(cadence_local_date("2026-06-30 16:00:00+0x", &d));
    assert_false(cadence_local_date("2026-06-30 16:00", &d));
    assert_false(cadence_local_date("2026-06-30 16:00:00+00 BC", &d));
}

static void test_status_thresholds(void **state)
{
    (void)state;
    long today = day("2026-11-23");
    assert_string_equal(cadence_status(today - 1, 7, today), "overdue");
    assert_string_equal(cadence_status(today, 7, today), "due_soon");
    assert_string_equal(cadence_status(today + 7, 7, today), "due_soon");
    assert_string_equal(cadence_status(today + 8, 7, today), "ok");
    assert_string_equal(cadence_status(today, 0, today), "due_soon");
    assert_string_equal(cadence_status(today + 1, 0, today), "ok");
}

static void test_due_anchors_and_exclusions(void **state)
{
    (void)state;
    cadence_init("Asia/Shanghai");
    struct cadence_policy key = {.present = true, .months = {1, 3, 3}, .due_soon_days = 7};
    struct cadence_policy general = {.present = true, .months = {3, 6, 0}, .due_soon_days = 14};
    long due;
    /* The last occurrence wins, then the first-contact date, then creation. */
    assert_true(cadence_due(&key, CADENCE_CONTACT, true, "2026-04-10 00:00:00+00", "2026-05-31",
                            "2020-01-01 00:00:00+00", &due));
    assert_date(due, "2026-05-10");
    assert_true(cadence_due(&key, CADENCE_CONTACT, true, NULL, "2026-05-31", "2020-01-01 00:00:00+00", &due));
    assert_date(due, "2026-06-30");
    assert_true(cadence_due(&key, CADENCE_VISIT, true, NULL, NULL, "2025-12-31 17:00:00+00", &due));
    assert_date(due, "2026-04-01");
    /* Not applicable (archived or lost), no interval, no policy row. */
    assert_false(cadence_due(&key, CADENCE_CONTACT, false, "2026-04-10 00:00:00+00", NULL,
                             "2020-01-01 00:00:00+00", &due));
    assert_false(cadence_due(&general, CADENCE_REVIEW, true, "2026-04-10 00:00:00+00", NULL,
                             "2020-01-01 00:00:00+00", &due));
    assert_false(cadence_due(NULL, CADENCE_CONTACT, true, NULL, NULL, "2020-01-01 00:00:00+00", &due));
    struct cadence_policy absent = {0};
    assert_false(cadence_due(&absent, CADENCE_CONTACT, true, NULL, NULL, "2020-01-01 00:00:00+00", &due));
}

static void test_tier_index(void **state)
{
    (void)state;
    assert_int_equal(cadence_tier_index("vip"), 0);
    assert_int_equal(cadence_tier_index("reserve"), 3);
    assert_int_equal(cadence_tier_index("gold"), -1);
    assert_int_equal(cadence_tier_index(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dates_round_trip),       cmocka_unit_test(test_add_months_clamps),
        cmocka_unit_test(test_business_dates),         cmocka_unit_test(test_status_thresholds),
        cmocka_unit_test(test_due_anchors_and_exclusions), cmocka_unit_test(test_tier_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
