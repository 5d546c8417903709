/* Unit tests for service/resources/listing.c: limit parsing, cursor
 * decoding (list_page_init_sorted) and query_bool. The request is a zeroed
 * struct with only its query filled by request_parse_query; r->ri is NULL,
 * which problem_send tolerates, so rejections are checked through the
 * recorded 400 response. list_page_reply needs a PGresult and is covered by
 * the API tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "resources/listing.h"

#define UUID "3f2b8c1e-9a4d-4c5e-8f6a-1b2c3d4e5f60"
#define TS "2026-01-01 00:00:00+00"

/* Fills r from a raw query string. */
static void request_with(struct request *r, const char *qs)
{
    memset(r, 0, sizeof *r);
    char err[160];
    if (request_parse_query(r, qs, err, sizeof err) != 0)
        fail_msg("test query '%s' does not parse: %s", qs, err);
}

/* A cursor as list_page_reply would build it: b64url of the JSON text. */
static char *cursor_of(const char *json)
{
    return b64url_encode((const unsigned char *)json, strlen(json));
}

/* r holds a 400 problem whose detail contains part. */
static void expect_400(struct request *r, const char *part)
{
    assert_int_equal(r->status, 400);
    assert_string_equal(r->content_type, "application/problem+json");
    assert_non_null(r->resp_body.data);
    json_t *p = json_loads(r->resp_body.data, 0, NULL);
    assert_non_null(p);
    assert_int_equal(json_integer_value(json_object_get(p, "status")), 400);
    const char *detail = json_string_value(json_object_get(p, "detail"));
    assert_non_null(detail);
    if (!strstr(detail, part))
        fail_msg("detail '%s' does not contain '%s'", detail, part);
    /* No instance without request info. */
    assert_null(json_object_get(p, "instance"));
    json_decref(p);
}

static void test_default_limit(void **state)
{
    (void)state;
    struct request r;
    struct list_page p;
    request_with(&r, NULL);
    assert_int_equal(list_page_init_sorted(&r, &p, "customers", "-created_at", 2), 0);
    assert_int_equal(p.limit, LIST_DEFAULT_LIMIT);
    assert_int_equal(p.limit, 50);
    assert_string_equal(p.limit_plus_one, "51");
    assert_string_equal(p.kind, "customers");
    assert_string_equal(p.sort, "-created_at");
    assert_null(p.keys[0]);
    assert_null(p.keys[1]);
    assert_null(p.cursor_id);
    assert_int_equal(r.status, 0);
    list_page_free(&p);
    request_cleanup(&r);

    /* Fixed-order lists bake "" as their sort. */
    request_with(&r, "q=x");
    assert_int_equal(list_page_init(&r, &p, "users"), 0);
    assert_string_equal(p.sort, "");
    assert_int_equal(p.limit, 50);
    list_page_free(&p);
    request_cleanup(&r);
}

static void test_limit_bounds(void **state)
{
    (void)state;
    static const struct {
        const char *qs;
        int limit;
        const char *plus_one;
    } ok[] = {
        {"limit=1", 1, "2"}, {"limit=200", 200, "201"}, {"limit=50", 50, "51"}, {"limit=007", 7, "8"},
    };
    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        struct request r;
        struct list_page p;
        request_with(&r, ok[i].qs);
        assert_int_equal(list_page_init(&r, &p, "users"), 0);
        assert_int_equal(p.limit, ok[i].limit);
        assert_string_equal(p.limit_plus_one, ok[i].plus_one);
        assert_int_equal(r.status, 0);
        list_page_free(&p);
        request_cleanup(&r);
    }

    static const char *const bad[] = {
        "limit=0",   "limit=201", "limit=5x",  "limit=",          "limit=-1",
        "limit=1.5", "limit=abc", "limit=0x10", "limit=99999999999999999999", "limit=1e2",
        "limit=5%20x",
        /* strtol would skip leading blanks and take a sign; the API does not. */
        "limit=+5", "limit=%205", "limit=%0A5", "limit=%2B5", "limit=5%20",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct request r;
        struct list_page p;
        request_with(&r, bad[i]);
        int rc = list_page_init(&r, &p, "users");
        if (rc != -1)
            fail_msg("'%s' was accepted (limit %d)", bad[i], p.limit);
        expect_400(&r, "limit must be an integer from 1 to 200");
        request_cleanup(&r);
    }
}

static void test_cursor_round_trip(void **state)
{
    (void)state;
    char *c = cursor_of("[\"customers\",\"-created_at\",\"" TS "\",\"" UUID "\"]");
    char qs[512];
    snprintf(qs, sizeof qs, "limit=10&cursor=%s", c);
    struct request r;
    struct list_page p;
    request_with(&r, qs);
    assert_int_equal(list_page_init_sorted(&r, &p, "customers", "-created_at", 2), 0);
    assert_int_equal(p.limit, 10);
    assert_non_null(p.keys[0]);
    assert_non_null(p.keys[1]);
    assert_string_equal(p.keys[0], TS);
    assert_string_equal(p.keys[1], UUID);
    /* The id is the last key. */
    assert_ptr_equal(p.cursor_id, p.keys[1]);
    assert_int_equal(r.status, 0);
    list_page_free(&p);
    assert_null(p.keys[0]);
    assert_null(p.keys[1]);
    assert_null(p.cursor_id);
    request_cleanup(&r);
    free(c);

    /* One key (fixed order): the id alone. */
    c = cursor_of("[\"users\",\"\",\"" UUID "\"]");
    snprintf(qs, sizeof qs, "cursor=%s", c);
    request_with(&r, qs);
    assert_int_equal(list_page_init(&r, &p, "users"), 0);
    assert_string_equal(p.keys[0], UUID);
    assert_null(p.keys[1]);
    assert_ptr_equal(p.cursor_id, p.keys[0]);
    list_page_free(&p);
    request_cleanup(&r);
    free(c);

    /* Key text is taken verbatim (Chinese names sort keys, escapes). */
    c = cursor_of("[\"customers\",\"name\",\"杭州\\\"纺织\\u0041\",\"" UUID "\"]");
    snprintf(qs, sizeof qs, "cursor=%s", c);
    request_with(&r, qs);
    assert_int_equal(list_page_init_sorted(&r, &p, "customers", "name", 2), 0);
    assert_string_equal(p.keys[0], "杭州\"纺织A");
    list_page_free(&p);
    request_cleanup(&r);
    free(c);
}

/* Every cursor here must be refused with the cursor message. */
static void expect_cursor_rejected(const char *cursor, const char *kind, const char *sort, int n_keys)
{
    char *qs = xmalloc(strlen(cursor) + 16);
    sprintf(qs, "cursor=%s", cursor);
    struct request r;
    struct list_page p;
    request_with(&r, qs);
    int rc = list_page_init_sorted(&r, &p, kind, sort, n_keys);
    if (rc != -1)
        fail_msg("cursor '%s' was accepted for %s/%s", cursor, kind, sort ? sort : "(fixed)");
    expect_400(&r, "cursor is invalid");
    /* Nothing left allocated in the page (ASan checks the rest). */
    assert_null(p.keys[0]);
    assert_null(p.keys[1]);
    assert_null(p.cursor_id);
    request_cleanup(&r);
    free(qs);
}

static void expect_json_cursor_rejected(const char *json, const char *kind, const char *sort, int n_keys)
{
    char *c = cursor_of(json);
    expect_cursor_rejected(c, kind, sort, n_keys);
    free(c);
}

static void test_cursor_other_list_or_sort(void **state)
{
    (void)state;
    const char *good = "[\"customers\",\"-created_at\",\"" TS "\",\"" UUID "\"]";
    /* Same cursor, other list or other sort. */
    expect_json_cursor_rejected(good, "contacts", "-created_at", 2);
    expect_json_cursor_rejected(good, "customers", "created_at", 2);
    expect_json_cursor_rejected(good, "customers", "-updated_at", 2);
    expect_json_cursor_rejected(good, "customers", NULL, 2);
    /* Another key count than the list uses. */
    expect_json_cursor_rejected(good, "customers", "-created_at", 1);
    expect_json_cursor_rejected("[\"customers\",\"-created_at\",\"" UUID "\"]", "customers", "-created_at", 2);
    expect_json_cursor_rejected("[\"customers\",\"-created_at\"]", "customers", "-created_at", 2);
    /* A fixed-order cursor against a sorted list and vice versa. */
    expect_json_cursor_rejected("[\"users\",\"\",\"" UUID "\"]", "users", "name", 1);
    expect_json_cursor_rejected("[\"users\",\"name\",\"" UUID "\"]", "users", NULL, 1);
}

static void test_cursor_garbage(void **state)
{
    (void)state;
    expect_cursor_rejected("!!!!", "users", NULL, 1);
    expect_cursor_rejected("abc", "users", NULL, 1);         /* valid base64url, not JSON */
    expect_cursor_rejected("Zg", "users", NULL, 1);          /* "f" */
    expect_cursor_rejected("Zh", "users", NULL, 1);          /* non-canonical */
    expect_cursor_rejected("WyJ1c2VycyJd==", "users", NULL, 1); /* padded */
    expect_cursor_rejected("A", "users", NULL, 1);           /* length % 4 == 1 */
    expect_cursor_rejected("x", "users", NULL, 1);
    /* Standard base64 alphabet instead of URL-safe. */
    expect_cursor_rejected("+/+/", "users", NULL, 1);
    /* Well-formed JSON that is not the expected array. */
    expect_json_cursor_rejected("{\"kind\":\"users\"}", "users", NULL, 1);
    expect_json_cursor_rejected("\"users\"", "users", NULL, 1);
    expect_json_cursor_rejected("null", "users", NULL, 1);
    expect_json_cursor_rejected("[]", "users", NULL, 1);
    expect_json_cursor_rejected("[1,\"\",\"" UUID "\"]", "users", NULL, 1);
    expect_json_cursor_rejected("[\"users\",null,\"" UUID "\"]", "users", NULL, 1);
    expect_json_cursor_rejected("[\"users\",\"\",5]", "users", NULL, 1);
    expect_json_cursor_rejected("[\"users\",\"\",null]", "users", NULL, 1);
    expect_json_cursor_rejected("[\"users\",\"\",\"" UUID "\"", "users", NULL, 1);   /* truncated */
    expect_json_cursor_rejected("[\"users\",\"\",\"" UUID "\"]x", "users", NULL, 1); /* trailing */
    expect_json_cursor_rejected("[\"users\",\"\",\"" UUID "\",\"extra\"]", "users", NULL, 1);
    /* Nesting beyond the two levels a cursor can have. */
    expect_json_cursor_rejected("[\"users\",\"\",[\"" UUID "\"]]", "users", NULL, 1);
    expect_json_cursor_rejected("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "users",
                                NULL, 1);
    expect_json_cursor_rejected("[\"users\",\"\",{\"a\":{\"b\":1}}]", "users", NULL, 1);
    /* Keys as long as the longest sortable value: a customer name of 200
     * characters, 4 bytes each in UTF-8 (800 bytes), with its UUID. */
    struct sbuf name = {0};
    for (int i = 0; i < 200; i++)
        sbuf_puts(&name, i % 2 ? "\xf0\xa0\x80\x80" /* U+20000 */ : "\xe7\xba\xba" /* 纺 */);
    char *json = xmalloc(name.len + 100);
    sprintf(json, "[\"customers\",\"name\",\"%s\",\"" UUID "\"]", name.data);
    char *c = cursor_of(json);
    char *qs = xmalloc(strlen(c) + 16);
    sprintf(qs, "cursor=%s", c);
    struct request r;
    struct list_page p;
    request_with(&r, qs);
    assert_int_equal(list_page_init_sorted(&r, &p, "customers", "name", 2), 0);
    assert_string_equal(p.keys[0], name.data);
    assert_string_equal(p.cursor_id, UUID);
    list_page_free(&p);
    request_cleanup(&r);
    free(qs);
    free(c);
    free(json);
    sbuf_free(&name);
    /* Absurdly large cursors are refused before decoding. */
    size_t huge_len = 64 * 1024;
    char *huge = xmalloc(huge_len + 1);
    memset(huge, 'A', huge_len);
    huge[huge_len] = '\0';
    expect_cursor_rejected(huge, "users", NULL, 1);
    free(huge);
    /* ... also when they are well-formed JSON with one enormous key. */
    size_t key_len = 32 * 1024;
    json = xmalloc(key_len + 64);
    size_t o = (size_t)sprintf(json, "[\"users\",\"\",\"");
    memset(json + o, 'k', key_len);
    strcpy(json + o + key_len, "\"]");
    expect_json_cursor_rejected(json, "users", NULL, 1);
    free(json);
    /* An empty cursor parameter. */
    expect_cursor_rejected("", "users", NULL, 1);
    /* A NUL smuggled into a key ("\u0000") cannot truncate it silently. */
    expect_json_cursor_rejected("[\"users\",\"\",\"ab\\u0000cd\"]", "users", NULL, 1);
}

/* A cursor whose second key is bad leaves nothing allocated (the first key
 * was already copied). */
static void test_cursor_partial_keys_freed(void **state)
{
    (void)state;
    expect_json_cursor_rejected("[\"customers\",\"name\",\"first\",7]", "customers", "name", 2);
}

static void test_query_bool(void **state)
{
    (void)state;
    struct request r;
    bool v;
    request_with(&r, "a=true&b=false");
    v = false;
    assert_int_equal(query_bool(&r, "a", false, &v), 0);
    assert_true(v);
    v = true;
    assert_int_equal(query_bool(&r, "b", true, &v), 0);
    assert_false(v);
    /* Absent: the default. */
    assert_int_equal(query_bool(&r, "include_archived", true, &v), 0);
    assert_true(v);
    assert_int_equal(query_bool(&r, "include_archived", false, &v), 0);
    assert_false(v);
    assert_int_equal(r.status, 0);
    request_cleanup(&r);

    static const char *const bad[] = {"x=TRUE", "x=1", "x=0", "x=", "x=yes", "x=true%20", "x", "x=+true"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        request_with(&r, bad[i]);
        v = true;
        if (query_bool(&r, "x", false, &v) != -1)
            fail_msg("'%s' was accepted", bad[i]);
        expect_400(&r, "x must be true or false");
        request_cleanup(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_limit),
        cmocka_unit_test(test_limit_bounds),
        cmocka_unit_test(test_cursor_round_trip),
        cmocka_unit_test(test_cursor_other_list_or_sort),
        cmocka_unit_test(test_cursor_garbage),
        cmocka_unit_test(test_cursor_partial_keys_freed),
        cmocka_unit_test(test_query_bool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
