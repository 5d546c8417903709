/* Unit tests for service/validate/period.c: period_parse turns 2026,
 * 2026-H1..H2, 2026-Q1..Q4 and 2026-01..12 into [from, to) calendar dates
 * (to exclusive, so month ends and leap years never need computing), and
 * refuses everything else without touching its output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "validate/period.h"

/* s parses to [from, to). */
static void expect_period(const char *s, const char *from, const char *to)
{
    struct period p;
    memset(&p, 'x', sizeof p);
    if (period_parse(s, &p) != 0)
        fail_msg("'%s' was refused", s);
    assert_string_equal(p.from, from);
    assert_string_equal(p.to, to);
}

/* s is refused and the output keeps its previous content. */
static void expect_refused(const char *s)
{
    struct period p;
    memset(&p, 'x', sizeof p);
    struct period before = p;
    if (period_parse(s, &p) == 0)
        fail_msg("'%s' was accepted as %s .. %s", s ? s : "(null)", p.from, p.to);
    assert_memory_equal(&p, &before, sizeof p);
}

static void test_year(void **state)
{
    (void)state;
    expect_period("2026", "2026-01-01", "2027-01-01");
    expect_period("2024", "2024-01-01", "2025-01-01"); /* leap year: nothing special */
    expect_period("1900", "1900-01-01", "1901-01-01");
    expect_period("2998", "2998-01-01", "2999-01-01");
}

static void test_halves(void **state)
{
    (void)state;
    expect_period("2026-H1", "2026-01-01", "2026-07-01");
    expect_period("2026-H2", "2026-07-01", "2027-01-01");
}

static void test_quarters(void **state)
{
    (void)state;
    expect_period("2026-Q1", "2026-01-01", "2026-04-01");
    expect_period("2026-Q2", "2026-04-01", "2026-07-01");
    expect_period("2026-Q3", "2026-07-01", "2026-10-01");
    expect_period("2026-Q4", "2026-10-01", "2027-01-01");
}

static void test_months(void **state)
{
    (void)state;
    static const char *const next[] = {"2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01",
                                       "2026-06-01", "2026-07-01", "2026-08-01", "2026-09-01",
                                       "2026-10-01", "2026-11-01", "2026-12-01", "2027-01-01"};
    for (int m = 1; m <= 12; m++) {
        char s[8], from[11];
        snprintf(s, sizeof s, "2026-%02d", m);
        snprintf(from, sizeof from, "2026-%02d-01", m);
        expect_period(s, from, next[m - 1]);
    }
    /* February ends where March begins, leap year or not. */
    expect_period("2024-02", "2024-02-01", "2024-03-01");
    expect_period("2026-02", "2026-02-01", "2026-03-01");
    expect_period("2026-11", "2026-11-01", "2026-12-01");
    expect_period("2026-12", "2026-12-01", "2027-01-01");
    expect_period("2998-12", "2998-12-01", "2999-01-01");
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "2026-", "2026-Q0", "2026-Q5", "2026-Q", "2026-Q10", "2026-H0", "2026-H3", "2026-H", "2026-H12",
        "2026-00", "2026-13", "2026-99", "2026-1", "2026-001", "26-11", "26", "202", "20261", "2026 ",
        " 2026", "2026-11 ", "2026-11x", "2026-Q4x", "2026-H2-", "2026-q4", "2026-h2", "2026/11", "2026_11",
        "2026-11-01", "1899", "2999", "0000", "+2026", "-2026", "２０２６", "2026-\xef\xbc\x91\xef\xbc\x91",
        "abcd", "2026-Q4\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(bad[i]);
    expect_refused(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_year),     cmocka_unit_test(test_halves),  cmocka_unit_test(test_quarters),
        cmocka_unit_test(test_months),   cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
