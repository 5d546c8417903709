/* Unit tests for route matching (service/http/router.c: router_match) and
 * query-string parsing (service/http/request.c: request_parse_query). Both
 * run without Civetweb: router_match takes a decoded path, and the query
 * parser only touches the query fields of a zero-initialised request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/request.h"
#include "http/router.h"
#include "http/routes.h"

/* ------------------------------------------------------------- matching */

struct match {
    const struct route *rt;
    bool path_matched;
    char allow[128];
    char *params[REQUEST_MAX_PATH_PARAMS];
    int n_params;
};

static void match(struct match *m, const char *method, const char *path)
{
    memset(m, 0, sizeof *m);
    m->n_params = -1;
    memset(m->allow, 'X', sizeof m->allow);
    m->rt = router_match(method, path, &m->path_matched, m->allow, sizeof m->allow, m->params, &m->n_params);
}

static void match_free(struct match *m)
{
    for (int i = 0; i < REQUEST_MAX_PATH_PARAMS; i++) {
        free(m->params[i]);
        m->params[i] = NULL;
    }
}

/* A route that must match with these parameters. */
static void expect_route(const char *method, const char *path, const char *pattern, int n, const char *p0,
                         const char *p1)
{
    struct match m;
    match(&m, method, path);
    if (!m.rt)
        print_error("%s %s did not match\n", method, path);
    assert_non_null(m.rt);
    assert_string_equal(m.rt->method, method);
    assert_string_equal(m.rt->pattern, pattern);
    assert_true(m.path_matched);
    assert_int_equal(m.n_params, n);
    if (n > 0) {
        assert_non_null(m.params[0]);
        assert_string_equal(m.params[0], p0);
        /* A copy, not a pointer into the path. */
        uintptr_t a = (uintptr_t)m.params[0], lo = (uintptr_t)path, hi = lo + strlen(path);
        assert_true(a < lo || a > hi);
    }
    if (n > 1)
        assert_string_equal(m.params[1], p1);
    for (int i = n; i < REQUEST_MAX_PATH_PARAMS; i++)
        assert_null(m.params[i]);
    match_free(&m);
}

/* No route for this path at all (→ 404). */
static void expect_no_path(const char *method, const char *path)
{
    struct match m;
    match(&m, method, path);
    if (m.rt || m.path_matched)
        print_error("%s '%s' unexpectedly matched (allow '%s')\n", method, path, m.allow);
    assert_null(m.rt);
    assert_false(m.path_matched);
    assert_string_equal(m.allow, "");
    for (int i = 0; i < REQUEST_MAX_PATH_PARAMS; i++)
        assert_null(m.params[i]);
    match_free(&m);
}

/* The path exists but not for this method (→ 405 with Allow). */
static void expect_405(const char *method, const char *path, const char *allow)
{
    struct match m;
    match(&m, method, path);
    assert_null(m.rt);
    assert_true(m.path_matched);
    assert_string_equal(m.allow, allow);
    for (int i = 0; i < REQUEST_MAX_PATH_PARAMS; i++)
        assert_null(m.params[i]);
    match_free(&m);
}

static void test_match_exact(void **state)
{
    (void)state;
    expect_route("GET", "/healthz", "/healthz", 0, NULL, NULL);
    expect_route("GET", "/readyz", "/readyz", 0, NULL, NULL);
    expect_route("GET", "/metrics", "/metrics", 0, NULL, NULL);
    expect_route("GET", "/openapi.yaml", "/openapi.yaml", 0, NULL, NULL);
    expect_route("GET", "/docs", "/docs", 0, NULL, NULL);
    expect_route("POST", "/v1/auth/token", "/v1/auth/token", 0, NULL, NULL);
    expect_route("GET", "/v1/me", "/v1/me", 0, NULL, NULL);
    expect_route("GET", "/v1/customers", "/v1/customers", 0, NULL, NULL);
    expect_route("POST", "/v1/customers", "/v1/customers", 0, NULL, NULL);
    expect_route("GET", "/v1/users", "/v1/users", 0, NULL, NULL);
    expect_route("GET", "/v1/audit", "/v1/audit", 0, NULL, NULL);
}

static void test_match_params(void **state)
{
    (void)state;
    const char *uuid = "3f2b8c1e-9a4d-4c5e-8f6a-1b2c3d4e5f60";
    char path[160];
    snprintf(path, sizeof path, "/v1/customers/%s", uuid);
    expect_route("GET", path, "/v1/customers/{id}", 1, uuid, NULL);
    expect_route("PATCH", path, "/v1/customers/{id}", 1, uuid, NULL);
    expect_route("DELETE", path, "/v1/customers/{id}", 1, uuid, NULL);
    expect_route("GET", "/v1/users/abc", "/v1/users/{id}", 1, "abc", NULL);
    expect_route("POST", "/v1/customers/x/restore", "/v1/customers/{id}/restore", 1, "x", NULL);
    expect_route("POST", "/v1/customers/x/submit", "/v1/customers/{id}/submit", 1, "x", NULL);
    expect_route("POST", "/v1/customers/x/approve", "/v1/customers/{id}/approve", 1, "x", NULL);
    expect_route("POST", "/v1/customers/x/return", "/v1/customers/{id}/return", 1, "x", NULL);
    expect_route("GET", "/v1/customers/x/history", "/v1/customers/{id}/history", 1, "x", NULL);
    expect_route("GET", "/v1/customers/c1/contacts", "/v1/customers/{id}/contacts", 1, "c1", NULL);
    expect_route("GET", "/v1/customers/c1/contacts/k2", "/v1/customers/{id}/contacts/{contact_id}", 2, "c1", "k2");
    expect_route("PATCH", "/v1/customers/c1/contacts/k2", "/v1/customers/{id}/contacts/{contact_id}", 2, "c1", "k2");
    expect_route("POST", "/v1/customers/c1/contacts/k2/restore", "/v1/customers/{id}/contacts/{contact_id}/restore",
                 2, "c1", "k2");
    /* The router gets the decoded path: parameters are copied verbatim,
     * whatever they contain (the handler validates them). */
    expect_route("GET", "/v1/customers/杭州", "/v1/customers/{id}", 1, "杭州", NULL);
    expect_route("GET", "/v1/customers/a b%2F", "/v1/customers/{id}", 1, "a b%2F", NULL);
    expect_route("GET", "/v1/customers/{id}", "/v1/customers/{id}", 1, "{id}", NULL);
    /* A parameter segment that happens to equal a literal elsewhere. */
    expect_route("GET", "/v1/customers/contacts", "/v1/customers/{id}", 1, "contacts", NULL);
    expect_route("GET", "/v1/customers/restore/contacts", "/v1/customers/{id}/contacts", 1, "restore", NULL);
}

static void test_match_malformed_paths(void **state)
{
    (void)state;
    /* Trailing slash: no match (no redirect, no silent acceptance). */
    expect_no_path("GET", "/v1/customers/");
    expect_no_path("GET", "/healthz/");
    expect_no_path("GET", "/v1/customers/x/");
    expect_no_path("GET", "/v1/customers/x/contacts/");
    /* Double slashes and empty segments. */
    expect_no_path("GET", "//v1/customers");
    expect_no_path("GET", "/v1//customers");
    expect_no_path("GET", "/v1/customers//");
    expect_no_path("GET", "/v1/customers//contacts");
    expect_no_path("GET", "/v1/customers//contacts/k");
    expect_no_path("GET", "/v1/customers/c//k");
    expect_no_path("GET", "//healthz");
    /* Extra or missing segments. */
    expect_no_path("GET", "/v1/customers/a/b");
    expect_no_path("GET", "/v1/customers/a/contacts/b/c");
    expect_no_path("POST", "/v1/customers/a/contacts/b/restore/x");
    expect_no_path("GET", "/v1/customers/a/restore/x");
    expect_no_path("GET", "/v1");
    expect_no_path("GET", "/v1/");
    expect_no_path("GET", "/");
    expect_no_path("GET", "");
    expect_no_path("GET", "v1/customers");
    expect_no_path("GET", "healthz");
    /* Prefixes, suffixes and case. */
    expect_no_path("GET", "/health");
    expect_no_path("GET", "/healthzz");
    expect_no_path("GET", "/v1/customer");
    expect_no_path("GET", "/v1/customersX");
    expect_no_path("GET", "/V1/customers");
    expect_no_path("GET", "/v1/Customers");
    expect_no_path("GET", "/v2/customers");
    expect_no_path("GET", "/v1/customers/x/restored");
    expect_no_path("GET", "/v1/customers/x/contact");
    /* Unknown paths. */
    expect_no_path("GET", "/v1/orders");
    expect_no_path("GET", "/admin");
    expect_no_path("GET", "/v1/customers/../users");
    expect_no_path("GET", "/v1/customers/x/contacts/y/history");
    /* Query strings are never part of the path handed to the router. */
    expect_no_path("GET", "/v1/customers?limit=1");
    expect_no_path("POST", "/v1/auth/token/");
}

static void test_match_method_not_allowed(void **state)
{
    (void)state;
    expect_405("PUT", "/v1/customers/x", "GET, PATCH, DELETE");
    expect_405("POST", "/v1/customers/x", "GET, PATCH, DELETE");
    expect_405("DELETE", "/v1/customers", "GET, POST");
    expect_405("PATCH", "/v1/customers", "GET, POST");
    expect_405("PUT", "/v1/users", "GET, POST");
    expect_405("POST", "/v1/users/u", "GET, PATCH, DELETE");
    expect_405("GET", "/v1/customers/x/restore", "POST");
    expect_405("GET", "/v1/customers/x/approve", "POST");
    expect_405("DELETE", "/v1/customers/x/history", "GET");
    expect_405("PUT", "/v1/customers/x/contacts", "GET, POST");
    expect_405("PUT", "/v1/customers/x/contacts/y", "GET, PATCH, DELETE");
    expect_405("GET", "/v1/auth/token", "POST");
    expect_405("POST", "/healthz", "GET");
    expect_405("DELETE", "/v1/me", "GET");
    expect_405("POST", "/v1/audit", "GET");
    /* Methods are case-sensitive (RFC 9110). */
    expect_405("get", "/v1/customers", "GET, POST");
    /* HEAD and OPTIONS are handled by the pipeline, not the table. */
    expect_405("HEAD", "/v1/me", "GET");
    expect_405("OPTIONS", "/v1/customers/x", "GET, PATCH, DELETE");
    expect_405("", "/healthz", "GET");
}

/* A tiny Allow buffer is truncated, never overrun, and still terminated. */
static void test_match_allow_truncated(void **state)
{
    (void)state;
    char allow[16];
    for (size_t len = 1; len <= sizeof allow; len++) {
        memset(allow, 'X', sizeof allow);
        bool pm;
        char *params[REQUEST_MAX_PATH_PARAMS] = {0};
        int n = -1;
        const struct route *rt = router_match("PUT", "/v1/customers/x", &pm, allow, len, params, &n);
        assert_null(rt);
        assert_true(pm);
        assert_true(strlen(allow) < len);
        assert_memory_equal(allow, "GET, PATCH, DELETE", strlen(allow));
        for (size_t i = len; i < sizeof allow; i++)
            assert_int_equal(allow[i], 'X');
    }
}

/* Every row of the table is reachable by its own method and a concrete
 * path, with its parameters in pattern order; no two rows collide. */
static void test_match_every_route(void **state)
{
    (void)state;
    assert_true(routes_count > 0);
    for (size_t i = 0; i < routes_count; i++) {
        const struct route *rt = &routes[i];
        char path[256], expect[REQUEST_MAX_PATH_PARAMS][16];
        size_t o = 0;
        int n = 0;
        for (const char *p = rt->pattern; *p;) {
            if (*p == '{') {
                const char *close = strchr(p, '}');
                assert_non_null(close);
                assert_true(n < REQUEST_MAX_PATH_PARAMS);
                snprintf(expect[n], sizeof expect[n], "val%d-%zu", n, i);
                o += (size_t)snprintf(path + o, sizeof path - o, "%s", expect[n]);
                n++;
                p = close + 1;
            } else {
                path[o++] = *p++;
            }
            assert_true(o < sizeof path);
        }
        path[o] = '\0';

        struct match m;
        match(&m, rt->method, path);
        if (m.rt != rt)
            print_error("route %zu %s %s: concrete path %s matched %s\n", i, rt->method, rt->pattern, path,
                        m.rt ? m.rt->pattern : "nothing");
        assert_ptr_equal(m.rt, rt);
        assert_true(m.path_matched);
        assert_int_equal(m.n_params, n);
        for (int k = 0; k < n; k++)
            assert_string_equal(m.params[k], expect[k]);
        /* The Allow list names this method. */
        assert_non_null(strstr(m.allow, rt->method));
        match_free(&m);

        for (size_t j = i + 1; j < routes_count; j++)
            if (strcmp(routes[j].method, rt->method) == 0 && strcmp(routes[j].pattern, rt->pattern) == 0)
                fail_msg("duplicate route %s %s", rt->method, rt->pattern);
    }
}

/* Passing NULL for params/n_params is allowed (only the route is wanted). */
static void test_match_null_params(void **state)
{
    (void)state;
    bool pm;
    char allow[64];
    const struct route *rt = router_match("GET", "/v1/customers/x/contacts/y", &pm, allow, sizeof allow, NULL, NULL);
    assert_non_null(rt);
    assert_string_equal(rt->pattern, "/v1/customers/{id}/contacts/{contact_id}");
    assert_string_equal(allow, "GET, PATCH, DELETE");
}

/* ---------------------------------------------------------------- query */

static int parse(struct request *r, const char *qs, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    err[0] = '\0';
    return request_parse_query(r, qs, err, errlen);
}

static void test_query_simple(void **state)
{
    (void)state;
    struct request r;
    char err[160];
    assert_int_equal(parse(&r, "limit=10&cursor=abc&q=x", err, sizeof err), 0);
    assert_int_equal(r.n_query, 3);
    assert_string_equal(r.query[0].key, "limit");
    assert_string_equal(r.query[0].value, "10");
    assert_string_equal(r.query[1].key, "cursor");
    assert_string_equal(r.query[1].value, "abc");
    assert_string_equal(r.query[2].key, "q");
    assert_string_equal(r.query[2].value, "x");
    assert_string_equal(request_query(&r, "limit"), "10");
    assert_string_equal(request_query(&r, "q"), "x");
    assert_null(request_query(&r, "missing"));
    assert_null(request_query(&r, "Limit"));
    request_cleanup(&r);
    assert_int_equal(r.n_query, 0);

    /* NULL and empty query strings are no parameters. */
    assert_int_equal(parse(&r, NULL, err, sizeof err), 0);
    assert_int_equal(r.n_query, 0);
    assert_int_equal(parse(&r, "", err, sizeof err), 0);
    assert_int_equal(r.n_query, 0);
    request_cleanup(&r);
}

static void test_query_decoding(void **state)
{
    (void)state;
    struct request r;
    char err[160];
    assert_int_equal(parse(&r, "q=a+b+%2B&name=%E6%9D%AD%E5%B7%9E&low=%e6%9d%ad&%6B%65%79=v&sp=%20&pct=%25&amp=%26&eq=%3D",
                           err, sizeof err),
                     0);
    assert_int_equal(r.n_query, 8);
    assert_string_equal(request_query(&r, "q"), "a b +");
    assert_string_equal(request_query(&r, "name"), "杭州");
    assert_string_equal(request_query(&r, "low"), "杭");
    assert_string_equal(request_query(&r, "key"), "v");
    assert_string_equal(request_query(&r, "sp"), " ");
    assert_string_equal(request_query(&r, "pct"), "%");
    assert_string_equal(request_query(&r, "amp"), "&");
    assert_string_equal(request_query(&r, "eq"), "=");
    request_cleanup(&r);

    /* '+' in the key too; only the first '=' separates key and value. */
    assert_int_equal(parse(&r, "a+b=1=2&c==", err, sizeof err), 0);
    assert_string_equal(request_query(&r, "a b"), "1=2");
    assert_string_equal(request_query(&r, "c"), "=");
    request_cleanup(&r);
}

static void expect_query_error(const char *qs, const char *msg_part)
{
    struct request r;
    char err[160];
    int rc = parse(&r, qs, err, sizeof err);
    if (rc != -1)
        print_error("query '%s' was accepted\n", qs);
    assert_int_equal(rc, -1);
    if (msg_part && !strstr(err, msg_part))
        fail_msg("query '%s': error '%s' does not mention '%s'", qs, err, msg_part);
    assert_true(err[0] != '\0');
    /* Whatever was parsed before the error is still owned by r. */
    request_cleanup(&r);
    assert_int_equal(r.n_query, 0);
}

static void test_query_bad_escapes(void **state)
{
    (void)state;
    expect_query_error("a=%G1", "malformed");
    expect_query_error("a=%1G", "malformed");
    expect_query_error("a=%", "malformed");
    expect_query_error("a=%4", "malformed");
    expect_query_error("a=x%4", "malformed");
    expect_query_error("a=%%41", "malformed");
    expect_query_error("a=%-1", "malformed");
    expect_query_error("a=% 1", "malformed");
    expect_query_error("%ZZ=1", "malformed");
    expect_query_error("%=1", "malformed");
    expect_query_error("ok=1&a=%4&b=2", "malformed");
    expect_query_error("a=%4&b=1", "malformed");
    /* NUL smuggled in through an escape. */
    expect_query_error("a=%00", "malformed");
    expect_query_error("a=x%00y", "malformed");
    expect_query_error("a%00b=1", "malformed");
    /* Empty key. */
    expect_query_error("=1", "malformed");
    expect_query_error("=", "malformed");
    expect_query_error("a=1&=2", "malformed");
}

static void test_query_repeated(void **state)
{
    (void)state;
    expect_query_error("a=1&a=2", "repeated");
    expect_query_error("a=1&a=1", "repeated");
    expect_query_error("a&a", "repeated");
    expect_query_error("limit=1&x=2&limit=3", "'limit'");
    /* Repetition is judged after decoding. */
    expect_query_error("a=1&%61=2", "repeated");
    expect_query_error("a+b=1&a%20b=2", "repeated");
}

static void test_query_too_many(void **state)
{
    (void)state;
    struct sbuf qs = {0};
    for (int i = 0; i < REQUEST_MAX_QUERY; i++)
        sbuf_printf(&qs, "%sk%d=%d", i ? "&" : "", i, i);
    struct request r;
    char err[160];
    /* Exactly the maximum is fine. */
    assert_int_equal(parse(&r, qs.data, err, sizeof err), 0);
    assert_int_equal(r.n_query, REQUEST_MAX_QUERY);
    assert_string_equal(request_query(&r, "k0"), "0");
    assert_string_equal(request_query(&r, "k31"), "31");
    request_cleanup(&r);
    /* Empty pieces do not count towards the limit. */
    sbuf_puts(&qs, "&&&");
    assert_int_equal(parse(&r, qs.data, err, sizeof err), 0);
    assert_int_equal(r.n_query, REQUEST_MAX_QUERY);
    request_cleanup(&r);
    /* One more is refused. */
    sbuf_puts(&qs, "k32=32");
    expect_query_error(qs.data, "too many");
    sbuf_puts(&qs, "&k33=33");
    expect_query_error(qs.data, "too many");
    sbuf_free(&qs);
}

static void test_query_empty_parts(void **state)
{
    (void)state;
    struct request r;
    char err[160];
    /* Empty values, keys without '=', and empty pieces between '&'. */
    assert_int_equal(parse(&r, "a&&b=1&c=&&d", err, sizeof err), 0);
    assert_int_equal(r.n_query, 4);
    assert_string_equal(request_query(&r, "a"), "");
    assert_string_equal(request_query(&r, "b"), "1");
    assert_string_equal(request_query(&r, "c"), "");
    assert_string_equal(request_query(&r, "d"), "");
    request_cleanup(&r);

    assert_int_equal(parse(&r, "&", err, sizeof err), 0);
    assert_int_equal(r.n_query, 0);
    request_cleanup(&r);
    assert_int_equal(parse(&r, "&&x=1&", err, sizeof err), 0);
    assert_int_equal(r.n_query, 1);
    assert_string_equal(request_query(&r, "x"), "1");
    request_cleanup(&r);
}

/* ----------------------------------------------------------------- JSON */

static int parse_json(struct request *r, const char *body, size_t len, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->body = xstrndup(body, len);
    r->body_len = len;
    err[0] = '\0';
    return request_parse_json(r, err, errlen);
}

static void test_parse_json(void **state)
{
    (void)state;
    struct request r;
    char err[160];
    const char *ok = "{\"name\":\"杭州\",\"n\":[1,{\"a\":null}]}";
    assert_int_equal(parse_json(&r, ok, strlen(ok), err, sizeof err), 0);
    assert_true(json_is_object(r.json));
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "杭州");
    request_cleanup(&r);

    /* Duplicate keys are refused (first/last-wins would hide input). */
    const char *dup = "{\"a\":1,\"a\":2}";
    assert_int_equal(parse_json(&r, dup, strlen(dup), err, sizeof err), -1);
    assert_null(r.json);
    assert_true(err[0] != '\0');
    request_cleanup(&r);
    const char *dup_inner = "{\"x\":{\"b\":1,\"b\":1}}";
    assert_int_equal(parse_json(&r, dup_inner, strlen(dup_inner), err, sizeof err), -1);
    request_cleanup(&r);

    /* Malformed: the message says where. */
    const char *bad = "{\"a\":}";
    assert_int_equal(parse_json(&r, bad, strlen(bad), err, sizeof err), -1);
    assert_non_null(strstr(err, "malformed JSON"));
    request_cleanup(&r);
    assert_int_equal(parse_json(&r, "", 0, err, sizeof err), -1);
    request_cleanup(&r);
    assert_int_equal(parse_json(&r, "{} {}", 5, err, sizeof err), -1);
    request_cleanup(&r);
    /* A NUL byte inside the body is not silently truncated away. */
    assert_int_equal(parse_json(&r, "{}\0{\"a\":1}", 9, err, sizeof err), -1);
    request_cleanup(&r);
    /* "\u0000" inside a string is refused by default. */
    const char *nul = "{\"a\":\"x\\u0000y\"}";
    assert_int_equal(parse_json(&r, nul, strlen(nul), err, sizeof err), -1);
    request_cleanup(&r);

    /* Nesting: 32 levels parse, 33 are refused before the parser recurses. */
    for (int depth = 31; depth <= 34; depth++) {
        struct sbuf b = {0};
        for (int i = 0; i < depth; i++)
            sbuf_puts(&b, "[");
        for (int i = 0; i < depth; i++)
            sbuf_puts(&b, "]");
        int rc = parse_json(&r, b.data, b.len, err, sizeof err);
        assert_int_equal(rc, depth <= 32 ? 0 : -1);
        if (rc)
            assert_non_null(strstr(err, "nested deeper than 32"));
        request_cleanup(&r);
        sbuf_free(&b);
    }
    /* Very deep input fails fast without exhausting the stack. */
    size_t deep = 200000;
    char *big = xmalloc(deep);
    memset(big, '[', deep);
    assert_int_equal(parse_json(&r, big, deep, err, sizeof err), -1);
    assert_non_null(strstr(err, "nested"));
    request_cleanup(&r);
    free(big);
}

/* request_cleanup releases everything and leaves a reusable request. */
static void test_request_cleanup(void **state)
{
    (void)state;
    struct request r;
    char err[160];
    assert_int_equal(parse(&r, "a=1&b=2", err, sizeof err), 0);
    r.path_params[0] = xstrdup("p0");
    r.path_params[1] = xstrdup("p1");
    r.n_path_params = 2;
    assert_string_equal(request_param(&r, 0), "p0");
    assert_string_equal(request_param(&r, 1), "p1");
    assert_string_equal(request_param(&r, 2), "");
    r.body = xstrdup("{}");
    r.body_len = 2;
    r.json = json_object();
    sbuf_puts(&r.resp_headers, "X: y\r\n");
    sbuf_puts(&r.resp_body, "body");
    request_cleanup(&r);
    assert_int_equal(r.n_query, 0);
    assert_int_equal(r.n_path_params, 0);
    assert_null(r.body);
    assert_null(r.json);
    assert_null(r.resp_headers.data);
    assert_null(r.resp_body.data);
    /* Twice is harmless. */
    request_cleanup(&r);
}

/* The request path: escapes decoded, '+' kept; an escaped NUL, a bad
 * escape or invalid UTF-8 refused (Civetweb's own decoding cut the path at
 * %00, so /v1/transactions/X%00junk named X). */
static void test_path_decode(void **state)
{
    (void)state;
    char *p = request_path_decode("/v1/transactions/SO-1%2D2+3");
    assert_string_equal(p, "/v1/transactions/SO-1-2+3");
    free(p);
    p = request_path_decode("/v1/customers/by-external-code/%E6%9D%AD");
    assert_string_equal(p, "/v1/customers/by-external-code/\xe6\x9d\xad");
    free(p);
    assert_null(request_path_decode("/v1/transactions/X%00junk"));
    assert_null(request_path_decode("/v1/%ff%fe"));
    assert_null(request_path_decode("/v1/x%4"));
    assert_null(request_path_decode("/v1/x%G1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_exact),
        cmocka_unit_test(test_match_params),
        cmocka_unit_test(test_match_malformed_paths),
        cmocka_unit_test(test_match_method_not_allowed),
        cmocka_unit_test(test_match_allow_truncated),
        cmocka_unit_test(test_match_every_route),
        cmocka_unit_test(test_match_null_params),
        cmocka_unit_test(test_query_simple),
        cmocka_unit_test(test_query_decoding),
        cmocka_unit_test(test_query_bad_escapes),
        cmocka_unit_test(test_query_repeated),
        cmocka_unit_test(test_query_too_many),
        cmocka_unit_test(test_query_empty_parts),
        cmocka_unit_test(test_parse_json),
        cmocka_unit_test(test_request_cleanup),
        cmocka_unit_test(test_path_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
