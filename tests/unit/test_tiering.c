/* Unit tests for service/resources/tiering.c: the signed money amounts of
 * the ERP feed (exact decimal strings, 12 integer digits, 2 decimals, no
 * negative zero), external references (one URL path segment) and external
 * customer codes. The tier arithmetic itself is SQL (crm_tier_for), tested
 * against hand-computed figures in tests/api/test_tiering.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "resources/tiering.h"

static void test_amount_accepted(void **state)
{
    (void)state;
    static const char *const ok[] = {"0",    "1",        "12.5",  "12.50",  "-12.50", "-0.01",
                                     "0.01", "100000",   "500000.00", "999999999999.99", "-999999999999.99",
                                     "10.0", "123456789012"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!valid_amount(ok[i]))
            fail_msg("'%s' was refused", ok[i]);
}

static void test_amount_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {"",      "-",     "-0",     "-0.0",   "-0.00",  "1.234",  "1.",
                                      ".5",    "+5",    "01",     "-01",    "00.5",   "1e5",    "1E5",
                                      " 1",    "1 ",    "1,000",  "NaN",    "inf",    "--1",    "1-",
                                      "1..2",  "0x10",  "1000000000000", "-1000000000000", "1.2.3", "١٢"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (valid_amount(bad[i]))
            fail_msg("'%s' was accepted", bad[i]);
}

static void test_external_ref(void **state)
{
    (void)state;
    assert_true(valid_external_ref("SO-2026-000123"));
    assert_true(valid_external_ref("a"));
    assert_true(valid_external_ref("INV:2026.11_07-3"));
    char max[65];
    memset(max, 'x', 64);
    max[64] = '\0';
    assert_true(valid_external_ref(max));
    char over[66];
    memset(over, 'x', 65);
    over[65] = '\0';
    assert_false(valid_external_ref(over));
    static const char *const bad[] = {"", "-x", ".x", "_x", "a b", "a/b", "a?b", "a#b", "a%20", "订单1", "a\tb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (valid_external_ref(bad[i]))
            fail_msg("'%s' was accepted", bad[i]);
}

static void test_external_code(void **state)
{
    (void)state;
    assert_true(valid_external_code("C-001"));
    assert_true(valid_external_code("客户 甲-01"));
    char max[200] = "";
    for (int i = 0; i < 64; i++)
        strcat(max, "客"); /* 64 characters, 192 bytes */
    assert_true(valid_external_code(max));
    strcat(max, "客");
    assert_false(valid_external_code(max));
    static const char *const bad[] = {"", " a", "a ", "a\x01", "a\x7f", "a\nb", "\xff\xfe", "\xe5\xae"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (valid_external_code(bad[i]))
            fail_msg("'%s' was accepted", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_amount_accepted),
        cmocka_unit_test(test_amount_refused),
        cmocka_unit_test(test_external_ref),
        cmocka_unit_test(test_external_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
