/* Unit tests for the read-replica flag in the route table
 * (service/http/routes.c): RT_REPLICA sends a route to CRM_DATABASE_READ_URL,
 * which may lag, so it is allowed only where that is safe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http/routes.h"

/* A pattern with a parameter reads one record or a list under one
 * ("/v1/customers/{id}", "/v1/customers/{id}/contacts"). */
static bool names_a_record(const char *pattern)
{
    return strchr(pattern, '{') != NULL;
}

/* Only GETs that neither write nor name a record (read-your-writes: a
 * client that just created or changed a record reads it, and what hangs off
 * it, back from the primary), and never an unauthenticated route (it leases
 * no connection). */
static void test_replica_only_on_lists_and_reports(void **state)
{
    (void)state;
    int flagged = 0;
    for (size_t i = 0; i < routes_count; i++) {
        const struct route *rt = &routes[i];
        if (!(rt->flags & RT_REPLICA))
            continue;
        flagged++;
        if (strcmp(rt->method, "GET") != 0 || (rt->flags & (RT_TX | RT_BODY | RT_BODY_OPT | RT_PUBLIC)) ||
            names_a_record(rt->pattern))
            fail_msg("%s %s must not have RT_REPLICA", rt->method, rt->pattern);
    }
    /* The lists and reports that exist when this test was written. */
    assert_true(flagged >= 10);
}

static bool flagged(const char *method, const char *pattern)
{
    for (size_t i = 0; i < routes_count; i++)
        if (strcmp(routes[i].method, method) == 0 && strcmp(routes[i].pattern, pattern) == 0)
            return routes[i].flags & RT_REPLICA;
    fail_msg("no route %s %s", method, pattern);
    return false;
}

static void test_replica_examples(void **state)
{
    (void)state;
    assert_true(flagged("GET", "/v1/customers"));
    assert_true(flagged("GET", "/v1/reports/overdue"));
    assert_true(flagged("GET", "/v1/audit"));
    assert_false(flagged("GET", "/v1/customers/{id}"));
    assert_false(flagged("GET", "/v1/customers/{id}/contacts"));
    assert_false(flagged("GET", "/v1/me"));
    assert_false(flagged("POST", "/v1/customers"));
    assert_false(flagged("GET", "/readyz"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replica_only_on_lists_and_reports),
        cmocka_unit_test(test_replica_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
