/* Unit tests for service/resources/record.c: the document reply with its
 * ETag (record_reply, record_reply_get without If-None-Match) on a result
 * built in memory, and record_fetch's 404 for an id that is not a UUID
 * (answered before any query: the request has no connection). The 304 of
 * a matching If-None-Match needs request headers, so the API tests cover it
 * (test_customers.py, test_contacts.py … "etag"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "resources/record.h"
#include "resources/render.h"

/* A document of four fields, the version last (as in every resource). */
static const struct render_col thing_render[] = {
    {"id", 2, RK_STRING}, {"name", 4, RK_STRING}, {"archived", 8, RK_BOOL}, {"version", 7, RK_RAW}};
#define THING_NCOLS ((int)ARRAY_LEN(thing_render))

/* A one-row result as a statement would return it: the document's
 * columns, then one more (a lock query's extra column), as text. */
static PGresult *thing_result(const char *name, const char *version)
{
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(res);
    PGresAttDesc attrs[THING_NCOLS + 1];
    memset(attrs, 0, sizeof attrs);
    static char *const names[] = {"id", "name", "archived", "version", "snapshot"};
    for (int i = 0; i < THING_NCOLS + 1; i++) {
        attrs[i].name = names[i];
        attrs[i].format = 0;
        attrs[i].typid = 25; /* text */
        attrs[i].typlen = -1;
        attrs[i].atttypmod = -1;
    }
    assert_int_equal(PQsetResultAttrs(res, THING_NCOLS + 1, attrs), 1);
    const char *values[] = {"3f2b8c1e-9a4d-4c5e-8f6a-1b2c3d4e5f60", name, "f", version, "{\"x\":1}"};
    for (int i = 0; i < THING_NCOLS + 1; i++)
        assert_int_equal(PQsetvalue(res, 0, i, (char *)values[i], (int)strlen(values[i])), 1);
    return res;
}

static void test_reply(void **state)
{
    (void)state;
    struct request r;
    memset(&r, 0, sizeof r);
    PGresult *res = thing_result("杭州 \"A\"", "7");
    assert_int_equal(record_reply(&r, 201, res, thing_render, THING_NCOLS), 201);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.content_type, "application/json");
    /* Only the document's columns; the version column feeds the ETag. */
    assert_string_equal(r.resp_body.data,
                        "{\"id\":\"3f2b8c1e-9a4d-4c5e-8f6a-1b2c3d4e5f60\",\"name\":\"杭州 \\\"A\\\"\","
                        "\"archived\":false,\"version\":7}");
    assert_string_equal(r.resp_headers.data, "ETag: W/\"7\"\r\n");
    PQclear(res);
    request_cleanup(&r);
}

static void test_reply_get_without_if_none_match(void **state)
{
    (void)state;
    struct request r;
    memset(&r, 0, sizeof r);
    PGresult *res = thing_result("x", "12");
    assert_int_equal(record_reply_get(&r, res, thing_render, THING_NCOLS), 200);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.resp_body.data, "\"version\":12}"));
    assert_string_equal(r.resp_headers.data, "ETag: W/\"12\"\r\n");
    PQclear(res);
    request_cleanup(&r);
}

static void test_fetch_rejects_malformed_id(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "42", "3f2b8c1e-9a4d-4c5e-8f6a-1b2c3d4e5f6",
                                      "3f2b8c1e-9a4d-4c5e-8f6a-1b2c3d4e5f60x", "3f2b8c1e9a4d4c5e8f6a1b2c3d4e5f60ab"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct request r;
        memset(&r, 0, sizeof r);
        const char *params[] = {bad[i]};
        /* r has no connection: reaching the query would fail differently. */
        assert_null(record_fetch(&r, bad[i], "thing_get", "SELECT 1 WHERE $1::uuid IS NOT NULL", 1, params));
        assert_int_equal(r.status, 404);
        assert_string_equal(r.content_type, "application/problem+json");
        request_cleanup(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply),
        cmocka_unit_test(test_reply_get_without_if_none_match),
        cmocka_unit_test(test_fetch_rejects_malformed_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
