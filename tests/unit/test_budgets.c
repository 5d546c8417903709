/* Unit tests for the pure helpers of the budget resources: money_positive
 * (an expense amount must be greater than zero; the text already passed
 * valid_money, so no parsing to binary floating point) and budget_year_parse
 * (the year query parameter of budgets and their reports). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "resources/budgets.h"
#include "validate/validate.h"

static void test_money_positive(void **state)
{
    (void)state;
    static const char *const positive[] = {"1", "0.01", "0.1", "0.10", "10", "100.00", "999999999999.99",
                                           "0.09", "1000000000000"};
    static const char *const zero[] = {"0", "0.0", "0.00", ""};
    for (size_t i = 0; i < sizeof positive / sizeof positive[0]; i++)
        if (!money_positive(positive[i]))
            fail_msg("'%s' should be positive", positive[i]);
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
        if (money_positive(zero[i]))
            fail_msg("'%s' should not be positive", zero[i]);
}

/* What reaches money_positive is what valid_money accepts: at most 12
 * integer digits and 2 decimals (numeric(14,2)), never a sign or exponent. */
static void test_money_format(void **state)
{
    (void)state;
    assert_true(valid_money("999999999999.99"));
    assert_false(valid_money("1000000000000.00"));
    assert_false(valid_money("1.001"));
    assert_false(valid_money("-1.00"));
    assert_false(valid_money("+1.00"));
    assert_false(valid_money("1e3"));
    assert_false(valid_money("01.00"));
    assert_false(valid_money("1."));
    assert_false(valid_money(".5"));
    assert_true(valid_money("0.5"));
}

static void test_year_parse(void **state)
{
    (void)state;
    assert_int_equal(budget_year_parse("2000"), 2000);
    assert_int_equal(budget_year_parse("2026"), 2026);
    assert_int_equal(budget_year_parse("2999"), 2999);
    static const char *const bad[] = {"1999", "3000", "0000", "202", "20261", "2026 ", " 2026", "+202", "-202",
                                      "abcd", "", "2026\n", "２０２６", "2e03"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (budget_year_parse(bad[i]) != 0)
            fail_msg("'%s' should be refused", bad[i]);
    assert_int_equal(budget_year_parse(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_money_positive),
        cmocka_unit_test(test_money_format),
        cmocka_unit_test(test_year_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
