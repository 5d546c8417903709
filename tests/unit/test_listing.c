/* Unit tests for service/resources/listing.c: limit parsing, cursor
 * decoding (list_page_init_sorted), query_bool, and the statement-building
 * helpers (filters, q= search, sort=, keyset after a cursor). The request is a zeroed
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
#include "db/db.h"
#include "resources/customers.h"
#include "resources/listing.h"
#include "validate/validate.h"

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

/* Fills r with one raw query parameter, bytes the query parser would refuse
 * (invalid UTF-8) included: the helpers must not rely on the parser. */
static void request_with_raw(struct request *r, const char *key, const char *value)
{
    memset(r, 0, sizeof *r);
    r->query[0].key = xstrdup(key);
    r->query[0].value = xstrdup(value);
    r->n_query = 1;
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

/* ---- statement building: filters, search, sort, keyset ---- */

static const char *const COLOURS[] = {"red", "green", NULL};

static void test_list_value_ok(void **state)
{
    (void)state;
    static const struct {
        enum list_check check;
        const char *const *choices;
        const char *value;
        bool ok;
    } cases[] = {
        {LIST_UUID, NULL, UUID, true},
        {LIST_UUID, NULL, "3f2b8c1e", false},
        {LIST_UUID, NULL, "", false},
        {LIST_DATE, NULL, "2026-02-28", true},
        {LIST_DATE, NULL, "2026-02-30", false},
        {LIST_DATE, NULL, "2026-02-28T00:00:00Z", false},
        {LIST_TIMESTAMP, NULL, "2026-02-28T10:00:00Z", true},
        {LIST_TIMESTAMP, NULL, "2026-02-28T10:00:00.123456+08:00", true},
        {LIST_TIMESTAMP, NULL, "2026-02-28", false},
        {LIST_CHOICE, COLOURS, "green", true},
        {LIST_CHOICE, COLOURS, "Green", false},
        {LIST_CHOICE, COLOURS, "gree", false},
        {LIST_CHOICE, COLOURS, "", false},
        {LIST_CHOICE, NULL, "red", false}, /* no choices: nothing passes */
        {LIST_TEXT, NULL, "", true},       /* empty is a value too */
        {LIST_TEXT, NULL, "杭州", true},
        {LIST_TEXT, NULL, "\xff\xfe", false},
        {LIST_TEXT, NULL, "\xe6\x9d", false}, /* truncated character */
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        if (list_value_ok(cases[i].check, cases[i].choices, cases[i].value) != cases[i].ok)
            fail_msg("case %zu ('%s'): expected %s", i, cases[i].value, cases[i].ok ? "ok" : "refused");

    /* Text: valid UTF-8 of at most 200 bytes. */
    char text[202];
    memset(text, 'a', sizeof text - 1);
    text[201] = '\0';
    assert_false(list_value_ok(LIST_TEXT, NULL, text));
    text[200] = '\0';
    assert_true(list_value_ok(LIST_TEXT, NULL, text));
}

static const struct list_filter test_filters[] = {
    {"status", "t.status = $%d", LIST_CHOICE, COLOURS},
    {"owner_id", "t.owner_id = $%d::uuid", LIST_UUID, NULL},
    {"region", "t.region = $%d", LIST_TEXT, NULL},
    {"from", "t.day >= $%d::date", LIST_DATE, NULL},
};

static void test_filters_apply(void **state)
{
    (void)state;
    struct request r;
    struct sqlb b = {0};
    unsigned mask = 1u << 0;

    /* Table order, whatever the query order; values bound, not formatted. */
    request_with(&r, "from=2026-01-31&status=red&owner_id=" UUID);
    sbuf_puts(&b.sql, "WHERE true");
    assert_int_equal(list_filters_apply(&r, test_filters, ARRAY_LEN(test_filters), &b, &mask, 3), 0);
    assert_string_equal(b.sql.data, "WHERE true AND t.status = $1 AND t.owner_id = $2::uuid AND t.day >= $3::date");
    assert_int_equal(b.n, 3);
    assert_string_equal(b.params[0], "red");
    assert_string_equal(b.params[1], UUID);
    assert_string_equal(b.params[2], "2026-01-31");
    assert_int_equal(mask, (1u << 0) | (1u << 3) | (1u << 4) | (1u << 6));
    assert_int_equal(r.status, 0);
    sbuf_free(&b.sql);
    request_cleanup(&r);

    /* None present: nothing appended, mask unchanged. */
    memset(&b, 0, sizeof b);
    mask = 0;
    request_with(&r, "q=x&limit=5");
    assert_int_equal(list_filters_apply(&r, test_filters, ARRAY_LEN(test_filters), &b, &mask, 3), 0);
    assert_int_equal(b.sql.len, 0);
    assert_int_equal(b.n, 0);
    assert_int_equal(mask, 0);
    sbuf_free(&b.sql);
    request_cleanup(&r);

    /* An empty text value is a filter like any other. */
    memset(&b, 0, sizeof b);
    request_with(&r, "region=");
    assert_int_equal(list_filters_apply(&r, test_filters, ARRAY_LEN(test_filters), &b, &mask, 3), 0);
    assert_string_equal(b.sql.data, " AND t.region = $1");
    assert_string_equal(b.params[0], "");
    assert_int_equal(mask, 1u << 5);
    sbuf_free(&b.sql);
    request_cleanup(&r);

    /* A bad value: 400 naming the parameter. */
    static const struct {
        const char *qs, *name;
    } bad[] = {
        {"status=blue", "status"},
        {"status=red&owner_id=nope", "owner_id"},
        {"owner_id=" UUID "&from=2026-13-01", "from"},
        {"status=", "status"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        memset(&b, 0, sizeof b);
        mask = 0;
        request_with(&r, bad[i].qs);
        if (list_filters_apply(&r, test_filters, ARRAY_LEN(test_filters), &b, &mask, 3) != -1)
            fail_msg("'%s' was accepted", bad[i].qs);
        char message[96];
        snprintf(message, sizeof message, "invalid value for query parameter '%s'", bad[i].name);
        expect_400(&r, message);
        sbuf_free(&b.sql);
        request_cleanup(&r);
    }
    /* Invalid UTF-8 in a text filter. */
    memset(&b, 0, sizeof b);
    request_with_raw(&r, "region", "\xe6\x9d");
    assert_int_equal(list_filters_apply(&r, test_filters, ARRAY_LEN(test_filters), &b, &mask, 3), -1);
    expect_400(&r, "invalid value for query parameter 'region'");
    assert_int_equal(b.n, 0);
    sbuf_free(&b.sql);
    request_cleanup(&r);
}

static void test_search_pattern(void **state)
{
    (void)state;
    struct request r;
    static char stale[] = "stale";
    char *pattern = stale;

    request_with(&r, "limit=3");
    assert_int_equal(list_search_pattern(&r, &pattern), 0);
    assert_null(pattern);
    request_cleanup(&r);

    /* LIKE wildcards in q match themselves. */
    request_with(&r, "q=50%25_off%5C");
    assert_int_equal(list_search_pattern(&r, &pattern), 0);
    assert_string_equal(pattern, "%50\\%\\_off\\\\%");
    free(pattern);
    request_cleanup(&r);

    /* 100 characters (not bytes) is the most. */
    struct sbuf qs = {0};
    sbuf_puts(&qs, "q=");
    for (int i = 0; i < 100; i++)
        sbuf_puts(&qs, "%E5%90%8D"); /* 名 */
    request_with(&r, qs.data);
    assert_int_equal(list_search_pattern(&r, &pattern), 0);
    assert_int_equal(strlen(pattern), 2 + 300);
    free(pattern);
    request_cleanup(&r);

    sbuf_puts(&qs, "x");
    const char *bad[] = {qs.data, "q=", "\xff", "a\xc3"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (i < 2)
            request_with(&r, bad[i]);
        else /* invalid UTF-8, which the query parser would refuse already */
            request_with_raw(&r, "q", bad[i]);
        pattern = stale;
        if (list_search_pattern(&r, &pattern) != -1)
            fail_msg("'%.40s' was accepted", bad[i]);
        assert_null(pattern);
        expect_400(&r, "q must be 1 to 100 characters");
        request_cleanup(&r);
    }
    sbuf_free(&qs);
}

static void test_search_apply(void **state)
{
    (void)state;
    struct request r;
    struct sqlb b = {0};
    char *pattern = NULL;
    unsigned mask = 0;

    /* One condition may use the pattern twice: bound once. */
    request_with(&r, "q=Li");
    sbuf_puts(&b.sql, "WHERE true");
    assert_int_equal(list_search_apply(&r, "(lower(u.a) LIKE lower($%d) OR lower(u.b) LIKE lower($%d))", &b,
                                       &pattern, &mask, 2),
                     0);
    assert_string_equal(b.sql.data, "WHERE true AND (lower(u.a) LIKE lower($1) OR lower(u.b) LIKE lower($1))");
    assert_int_equal(b.n, 1);
    assert_ptr_equal(b.params[0], pattern);
    assert_string_equal(pattern, "%Li%");
    assert_int_equal(mask, 1u << 2);
    free(pattern);
    sbuf_free(&b.sql);
    request_cleanup(&r);

    /* Absent: nothing. */
    memset(&b, 0, sizeof b);
    mask = 0;
    request_with(&r, NULL);
    assert_int_equal(list_search_apply(&r, "lower(c.name) LIKE lower($%d)", &b, &pattern, &mask, 10), 0);
    assert_null(pattern);
    assert_int_equal(b.sql.len, 0);
    assert_int_equal(b.n, 0);
    assert_int_equal(mask, 0);
    request_cleanup(&r);

    request_with(&r, "q=");
    assert_int_equal(list_search_apply(&r, "lower(c.name) LIKE lower($%d)", &b, &pattern, &mask, 10), -1);
    expect_400(&r, "q must be 1 to 100 characters");
    assert_null(pattern);
    assert_int_equal(b.n, 0);
    assert_int_equal(mask, 0);
    sbuf_free(&b.sql);
    request_cleanup(&r);
}

static bool starts_with_digit(const char *s)
{
    return *s >= '0' && *s <= '9';
}

static const struct list_sort test_sorts[] = {
    {"-created_at", "t.created_at DESC, t.id DESC", "(t.created_at, t.id) < ($%d::timestamptz, $%d::uuid)",
     LIST_CURSOR_TS("t.created_at"), valid_timestamp},
    {"name", "t.name, t.id", "(t.name, t.id) > ($%d, $%d::uuid)", "t.name", NULL},
    {"code", "t.code, t.id", "(t.code, t.id) > ($%d, $%d::uuid)", "t.code", starts_with_digit},
};

static void test_sort_find(void **state)
{
    (void)state;
    struct request r;
    request_with(&r, "limit=2");
    assert_int_equal(list_sort_find(&r, test_sorts, ARRAY_LEN(test_sorts), "sort must be one of …"), 0);
    request_cleanup(&r);
    request_with(&r, "sort=name");
    assert_int_equal(list_sort_find(&r, test_sorts, ARRAY_LEN(test_sorts), "sort must be one of …"), 1);
    request_cleanup(&r);
    request_with(&r, "sort=code");
    assert_int_equal(list_sort_find(&r, test_sorts, ARRAY_LEN(test_sorts), "sort must be one of …"), 2);
    assert_int_equal(r.status, 0);
    request_cleanup(&r);

    static const char *const bad[] = {"sort=", "sort=Name", "sort=created_at", "sort=name%20", "sort=-name"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        request_with(&r, bad[i]);
        if (list_sort_find(&r, test_sorts, ARRAY_LEN(test_sorts), "sort must be one of -created_at, name, code") != -1)
            fail_msg("'%s' was accepted", bad[i]);
        expect_400(&r, "sort must be one of -created_at, name, code");
        request_cleanup(&r);
    }

    /* The cursor key of a timestamp sort is the column's text (UTC, ISO). */
    assert_string_equal(LIST_CURSOR_TS("t.created_at"), "t.created_at");
}

/* Runs list_keyset_apply for sort s (mask bit 11) on a 2-key page with a
 * cursor made of json (NULL: no cursor), appending to b; returns its result
 * and the response status in *status. */
static int keyset_with(const char *json, const struct list_sort *s, struct sqlb *b, unsigned *mask, int *status)
{
    char qs[512] = "limit=5";
    char *c = json ? cursor_of(json) : NULL;
    if (c)
        snprintf(qs, sizeof qs, "cursor=%s", c);
    struct request r;
    struct list_page p;
    request_with(&r, qs);
    assert_int_equal(list_page_init_sorted(&r, &p, "things", s->name, 2), 0);
    int rc = list_keyset_apply(&r, &p, s->keyset, s->key_valid, b, mask, 11);
    *status = r.status;
    if (rc == -1)
        expect_400(&r, "cursor is invalid");
    /* The query binds the page's keys: they live as long as the page. */
    if (rc == 0 && b->n == 2) {
        assert_ptr_equal(b->params[0], p.keys[0]);
        assert_ptr_equal(b->params[1], p.keys[1]);
        b->params[0] = b->params[1] = NULL;
    }
    list_page_free(&p);
    request_cleanup(&r);
    free(c);
    return rc;
}

static void test_keyset_apply(void **state)
{
    (void)state;
    struct sqlb b = {0};
    unsigned mask = 0;
    int status;

    /* No cursor: nothing. */
    assert_int_equal(keyset_with(NULL, &test_sorts[0], &b, &mask, &status), 0);
    assert_int_equal(b.sql.len, 0);
    assert_int_equal(b.n, 0);
    assert_int_equal(mask, 0);

    /* After the cursor's row: sort key, then id. */
    sbuf_puts(&b.sql, "WHERE true");
    sqlb_bind(&b, "scope"); /* $1 taken already */
    assert_int_equal(keyset_with("[\"things\",\"-created_at\",\"2026-01-01T00:00:00.5+00:00\",\"" UUID "\"]",
                                 &test_sorts[0], &b, &mask, &status),
                     0);
    assert_string_equal(b.sql.data, "WHERE true AND (t.created_at, t.id) < ($2::timestamptz, $3::uuid)");
    assert_int_equal(b.n, 3);
    assert_int_equal(mask, 1u << 11);
    assert_int_equal(status, 0);
    sbuf_free(&b.sql);

    /* Without key_valid any key text goes (it is bound, not formatted). */
    memset(&b, 0, sizeof b);
    assert_int_equal(
        keyset_with("[\"things\",\"name\",\"x') OR true --\",\"" UUID "\"]", &test_sorts[1], &b, &mask, &status), 0);
    assert_string_equal(b.sql.data, " AND (t.name, t.id) > ($1, $2::uuid)");
    sbuf_free(&b.sql);

    /* Refused: an id that is not a UUID, a key the sort's check refuses. */
    static const struct {
        const char *json;
        int sort;
    } bad[] = {
        {"[\"things\",\"-created_at\",\"2026-01-01T00:00:00Z\",\"42\"]", 0},
        {"[\"things\",\"-created_at\",\"yesterday\",\"" UUID "\"]", 0},
        {"[\"things\",\"-created_at\",\"\",\"" UUID "\"]", 0},
        {"[\"things\",\"name\",\"Li\",\"" UUID "x\"]", 1},
        {"[\"things\",\"code\",\"A7\",\"" UUID "\"]", 2},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        memset(&b, 0, sizeof b);
        mask = 0;
        if (keyset_with(bad[i].json, &test_sorts[bad[i].sort], &b, &mask, &status) != -1)
            fail_msg("cursor %s was accepted", bad[i].json);
        assert_int_equal(status, 400);
        assert_int_equal(b.n, 0);
        assert_int_equal(mask, 0);
        sbuf_free(&b.sql);
    }
    memset(&b, 0, sizeof b);
    assert_int_equal(keyset_with("[\"things\",\"code\",\"7A\",\"" UUID "\"]", &test_sorts[2], &b, &mask, &status), 0);
    sbuf_free(&b.sql);

    /* A one-key page has no (key, id) pair to compare against. */
    char *c = cursor_of("[\"users\",\"\",\"" UUID "\"]");
    char qs[256];
    snprintf(qs, sizeof qs, "cursor=%s", c);
    struct request r;
    struct list_page p;
    request_with(&r, qs);
    assert_int_equal(list_page_init(&r, &p, "users"), 0);
    memset(&b, 0, sizeof b);
    assert_int_equal(list_keyset_apply(&r, &p, "(u.id) > ($%d, $%d)", NULL, &b, &mask, 3), -1);
    expect_400(&r, "cursor is invalid");
    assert_int_equal(b.n, 0);
    sbuf_free(&b.sql);
    list_page_free(&p);
    request_cleanup(&r);
    free(c);
}

/* list_keyset_bind: the checks of list_keyset_apply, binding without text. */
static void test_keyset_bind(void **state)
{
    (void)state;
    struct request r;
    struct list_page p;
    struct sqlb b = {0};
    int key = -1, id = -1;

    /* No cursor: nothing bound, both numbers 0. */
    request_with(&r, "limit=5");
    assert_int_equal(list_page_init_sorted(&r, &p, "overdue", "visit", 2), 0);
    assert_int_equal(list_keyset_bind(&r, &p, valid_date, &b, &key, &id), 0);
    assert_int_equal(key, 0);
    assert_int_equal(id, 0);
    assert_int_equal(b.n, 0);
    list_page_free(&p);
    request_cleanup(&r);

    /* A good cursor: the key, then the id, after what is bound already; no text. */
    char *c = cursor_of("[\"overdue\",\"visit\",\"2026-01-31\",\"" UUID "\"]");
    char qs[256];
    snprintf(qs, sizeof qs, "cursor=%s", c);
    request_with(&r, qs);
    assert_int_equal(list_page_init_sorted(&r, &p, "overdue", "visit", 2), 0);
    sqlb_bind(&b, "limit"); /* $1 taken already */
    assert_int_equal(list_keyset_bind(&r, &p, valid_date, &b, &key, &id), 0);
    assert_int_equal(key, 2);
    assert_int_equal(id, 3);
    assert_int_equal(b.n, 3);
    assert_ptr_equal(b.params[1], p.keys[0]);
    assert_ptr_equal(b.params[2], p.keys[1]);
    assert_int_equal(b.sql.len, 0);
    assert_int_equal(r.status, 0);
    list_page_free(&p);
    request_cleanup(&r);
    free(c);

    /* Refused like list_keyset_apply: a key the check refuses, an id that is not a UUID. */
    static const char *const bad[] = {
        "[\"overdue\",\"visit\",\"2026-02-30\",\"" UUID "\"]",
        "[\"overdue\",\"visit\",\"2026-01-31\",\"42\"]",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        memset(&b, 0, sizeof b);
        key = id = -1;
        c = cursor_of(bad[i]);
        snprintf(qs, sizeof qs, "cursor=%s", c);
        request_with(&r, qs);
        assert_int_equal(list_page_init_sorted(&r, &p, "overdue", "visit", 2), 0);
        if (list_keyset_bind(&r, &p, valid_date, &b, &key, &id) != -1)
            fail_msg("cursor %s was accepted", bad[i]);
        expect_400(&r, "cursor is invalid");
        assert_int_equal(b.n, 0);
        list_page_free(&p);
        request_cleanup(&r);
        free(c);
    }
    sbuf_free(&b.sql);
}

/* Timestamp keys (valid_timestamp): PostgreSQL's UTC text as the cursors
 * carry it, and RFC 3339 as older cursors did; anything else is refused. */
static void test_keyset_bind_timestamp_keys(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        bool ok;
    } cases[] = {
        {"2026-11-23 08:00:00.123456+00", true},
        {"2026-11-23 08:00:00+00", true},
        {"2026-11-23T08:00:00.123456+00:00", true},
        {"2026-11-23T08:00:00Z", true},
        {"2024-13-45 99:00:00+00", false},
        {"2026-11-23 08:00:00+0", false},
        {"2026-11-23 08:00:00.+00", false},
        {"+00", false},
        {"2026-11-23 08:00:00+00'; DROP TABLE customers; --", false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct request r;
        struct list_page p;
        struct sqlb b = {0};
        int key = -1, id = -1;
        char json[160], qs[320];
        snprintf(json, sizeof json, "[\"customers\",\"-created_at\",\"%s\",\"" UUID "\"]", cases[i].key);
        char *c = cursor_of(json);
        snprintf(qs, sizeof qs, "cursor=%s", c);
        request_with(&r, qs);
        assert_int_equal(list_page_init_sorted(&r, &p, "customers", "-created_at", 2), 0);
        int rc = list_keyset_bind(&r, &p, valid_timestamp, &b, &key, &id);
        if (cases[i].ok && rc != 0)
            fail_msg("key %s was refused", cases[i].key);
        if (!cases[i].ok) {
            if (rc != -1)
                fail_msg("key %s was accepted", cases[i].key);
            expect_400(&r, "cursor is invalid");
        }
        list_page_free(&p);
        request_cleanup(&r);
        sbuf_free(&b.sql);
        free(c);
    }
}

static void test_customer_scope_owner(void **state)
{
    (void)state;
    struct request r;
    memset(&r, 0, sizeof r);
    snprintf(r.principal.user_id, sizeof r.principal.user_id, "%s", UUID);
    r.principal.role = ROLE_SALES;
    assert_ptr_equal(customer_scope_owner(&r), r.principal.user_id);
    assert_string_equal(customer_scope_owner(&r), UUID);
    static const unsigned all[] = {ROLE_SALES_MANAGER, ROLE_FINANCE, ROLE_OFFICE, ROLE_ADMIN, ROLE_ERP};
    for (size_t i = 0; i < ARRAY_LEN(all); i++) {
        r.principal.role = all[i];
        assert_null(customer_scope_owner(&r));
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
        cmocka_unit_test(test_list_value_ok),
        cmocka_unit_test(test_filters_apply),
        cmocka_unit_test(test_search_pattern),
        cmocka_unit_test(test_search_apply),
        cmocka_unit_test(test_sort_find),
        cmocka_unit_test(test_keyset_apply),
        cmocka_unit_test(test_keyset_bind), cmocka_unit_test(test_keyset_bind_timestamp_keys),
        cmocka_unit_test(test_customer_scope_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
