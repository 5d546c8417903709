/* Unit tests for service/validate/validate.c: the named validators and
 * fields_collect against a small field table of our own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/rbac.h"
#include "validate/validate.h"

#define OK(fn, s)                                                                                            \
    do {                                                                                                     \
        if (!fn(s))                                                                                          \
            fail_msg("%s(\"%s\") should be true", #fn, s);                                                  \
    } while (0)
#define NO(fn, s)                                                                                            \
    do {                                                                                                     \
        if (fn(s))                                                                                           \
            fail_msg("%s(\"%s\") should be false", #fn, s);                                                 \
    } while (0)

/* ----------------------------------------------------------- validators */

static void test_valid_email(void **state)
{
    (void)state;
    OK(valid_email, "a@b.co");
    OK(valid_email, "user.name+tag@example.com.cn");
    OK(valid_email, "x_y-z@sub.example.org");
    NO(valid_email, "");
    NO(valid_email, "plain");
    NO(valid_email, "@example.com");
    NO(valid_email, "a@");
    NO(valid_email, "a@b");
    NO(valid_email, "a@b.c");
    NO(valid_email, "a@.com");
    NO(valid_email, "a@b.");
    NO(valid_email, "a@@b.co");
    NO(valid_email, "a@b@c.co");
    NO(valid_email, "a b@c.co");
    NO(valid_email, "a@c.co ");
    NO(valid_email, "a\t@c.co");
    NO(valid_email, "a..b@c.co");
    NO(valid_email, "a@c..co");
    NO(valid_email, "<a@c.co>");
    NO(valid_email, "a,b@c.co");
    NO(valid_email, "\"a\"@c.co");
    /* At most 200 bytes. */
    char long_email[260];
    memset(long_email, 'a', sizeof long_email);
    memcpy(long_email + 192, "@ex.com", 8); /* 199 bytes */
    OK(valid_email, long_email);
    memset(long_email, 'a', sizeof long_email);
    memcpy(long_email + 194, "@ex.com", 8); /* 201 bytes */
    NO(valid_email, long_email);
}

static void test_valid_phone(void **state)
{
    (void)state;
    OK(valid_phone, "+86 138-0013-8000");
    OK(valid_phone, "(021) 1234 5678");
    OK(valid_phone, "123");
    OK(valid_phone, "010-12345678");
    NO(valid_phone, "");
    NO(valid_phone, "12");
    NO(valid_phone, "+-() ");
    NO(valid_phone, "abc");
    NO(valid_phone, "1234x");
    NO(valid_phone, "138.0013.8000");
    NO(valid_phone, "138/0013");
    NO(valid_phone, "１２３"); /* full-width digits */
    OK(valid_phone, "123456789012345678901234567890");  /* 30 */
    NO(valid_phone, "1234567890123456789012345678901"); /* 31 */
}

static void test_valid_url(void **state)
{
    (void)state;
    OK(valid_url, "https://example.com");
    OK(valid_url, "http://a");
    OK(valid_url, "https://example.com/path?q=1#frag");
    OK(valid_url, "http://localhost:8080/");
    NO(valid_url, "");
    NO(valid_url, "example.com");
    NO(valid_url, "ftp://example.com");
    NO(valid_url, "javascript:alert(1)");
    NO(valid_url, "https://");
    NO(valid_url, "http://");
    NO(valid_url, "https:///path");
    NO(valid_url, "https//example.com");
    NO(valid_url, "https://exa mple.com");
    NO(valid_url, "https://example.com/\"x");
    NO(valid_url, "https://example.com/<script>");
    NO(valid_url, "https://example.com/\n");
    char url[260] = "https://";
    memset(url + 8, 'a', 192); /* 200 */
    url[200] = '\0';
    OK(valid_url, url);
    url[200] = 'a';
    url[201] = '\0';
    NO(valid_url, url);
}

static void test_valid_date(void **state)
{
    (void)state;
    OK(valid_date, "2026-01-01");
    OK(valid_date, "2026-12-31");
    OK(valid_date, "2024-02-29"); /* leap year */
    OK(valid_date, "2000-02-29"); /* divisible by 400 */
    OK(valid_date, "2026-04-30");
    OK(valid_date, "1900-01-01");
    OK(valid_date, "2999-12-31");
    NO(valid_date, "2023-02-29");
    NO(valid_date, "1900-02-29"); /* divisible by 100 */
    NO(valid_date, "2100-02-29");
    NO(valid_date, "2024-02-30");
    NO(valid_date, "2026-04-31");
    NO(valid_date, "2026-13-01");
    NO(valid_date, "2026-00-10");
    NO(valid_date, "2026-01-00");
    NO(valid_date, "2026-01-32");
    NO(valid_date, "1899-12-31");
    NO(valid_date, "3000-01-01");
    NO(valid_date, "");
    NO(valid_date, "2026-1-01");
    NO(valid_date, "2026-01-1");
    NO(valid_date, "26-01-01");
    NO(valid_date, "2026/01/01");
    NO(valid_date, "20260101");
    NO(valid_date, "2026-01-01T00:00:00Z");
    NO(valid_date, "2026-01-01 ");
    NO(valid_date, " 2026-01-01");
    NO(valid_date, "+026-01-01");
    NO(valid_date, "2026-+1-01");
    NO(valid_date, "abcd-ef-gh");
}

static void test_valid_money(void **state)
{
    (void)state;
    OK(valid_money, "0");
    OK(valid_money, "0.5");
    OK(valid_money, "0.00");
    OK(valid_money, "12.3");
    OK(valid_money, "125000.00");
    OK(valid_money, "999999999999.99");
    OK(valid_money, "999999999999");
    NO(valid_money, "-1");
    NO(valid_money, "+1");
    NO(valid_money, "1.234");
    NO(valid_money, "01");
    NO(valid_money, "00.5");
    NO(valid_money, "1e5");
    NO(valid_money, "");
    NO(valid_money, ".5");
    NO(valid_money, "1.");
    NO(valid_money, "1.2.3");
    NO(valid_money, "1,000");
    NO(valid_money, " 1");
    NO(valid_money, "1 ");
    NO(valid_money, "1000000000000"); /* 13 integer digits */
    NO(valid_money, "NaN");
    NO(valid_money, "Infinity");
    NO(valid_money, "0x10");
}

static void test_valid_tax_id(void **state)
{
    (void)state;
    OK(valid_tax_id, "91310000MA1FL8K123"); /* 18 */
    OK(valid_tax_id, "123456789012345");      /* 15 */
    OK(valid_tax_id, "ABCDEFGHIJKLMNOPQRST"); /* 20 */
    NO(valid_tax_id, "12345678901234");        /* 14 */
    NO(valid_tax_id, "123456789012345678901"); /* 21 */
    NO(valid_tax_id, "91310000ma1fl8k123");
    NO(valid_tax_id, "91310000MA1FL8K12-");
    NO(valid_tax_id, "91310000 MA1FL8K12");
    NO(valid_tax_id, "");
}

static void test_valid_username(void **state)
{
    (void)state;
    OK(valid_username, "alice");
    OK(valid_username, "a.b_c-d");
    OK(valid_username, "0day");
    OK(valid_username, "abc");
    NO(valid_username, "ab");
    NO(valid_username, "");
    NO(valid_username, "Alice");
    NO(valid_username, "_abc");
    NO(valid_username, ".abc");
    NO(valid_username, "-abc");
    NO(valid_username, "a b");
    NO(valid_username, "a@b");
    NO(valid_username, "张三丰");
    char name[70];
    memset(name, 'a', sizeof name);
    name[64] = '\0';
    OK(valid_username, name);
    name[64] = 'a';
    name[65] = '\0';
    NO(valid_username, name);
}

static void test_valid_timestamp(void **state)
{
    (void)state;
    OK(valid_timestamp, "2026-11-23T08:00:00Z");
    OK(valid_timestamp, "2026-11-23T08:00:00z");
    OK(valid_timestamp, "2026-11-23t08:00:00Z");
    OK(valid_timestamp, "2026-11-23 08:00:00Z");
    OK(valid_timestamp, "2026-11-23T08:00:00+08:00");
    OK(valid_timestamp, "2026-11-23T08:00:00-05:30");
    OK(valid_timestamp, "2026-11-23T08:00:00+00:00");
    OK(valid_timestamp, "2026-11-23T08:00:00+14:00");
    OK(valid_timestamp, "2026-11-23T08:00:00.1Z");
    OK(valid_timestamp, "2026-11-23T08:00:00.123Z");
    OK(valid_timestamp, "2026-11-23T08:00:00.123456789+08:00");
    OK(valid_timestamp, "2026-11-23T23:59:59Z");
    OK(valid_timestamp, "2026-12-31T23:59:60Z"); /* leap second */
    OK(valid_timestamp, "2024-02-29T00:00:00Z");
    NO(valid_timestamp, "2026-11-23T08:00:00");     /* missing offset */
    NO(valid_timestamp, "2026-11-23T08:00:00.123"); /* missing offset */
    NO(valid_timestamp, "2026-11-23T24:00:00Z");
    NO(valid_timestamp, "2026-11-23T08:60:00Z");
    NO(valid_timestamp, "2026-11-23T08:00:61Z");
    NO(valid_timestamp, "2023-02-29T08:00:00Z");
    NO(valid_timestamp, "2026-13-01T08:00:00Z");
    NO(valid_timestamp, "2026-11-23T08:00:00.Z");
    NO(valid_timestamp, "2026-11-23T08:00:00.1234567890Z");
    NO(valid_timestamp, "2026-11-23T08:00:00+0800");
    NO(valid_timestamp, "2026-11-23T08:00:00+08");
    NO(valid_timestamp, "2026-11-23T08:00:00+8:00");
    NO(valid_timestamp, "2026-11-23T08:00:00+15:00");
    NO(valid_timestamp, "2026-11-23T08:00:00+08:60");
    NO(valid_timestamp, "2026-11-23T08:00:00Zjunk");
    NO(valid_timestamp, "2026-11-23T08:00:00+08:00x");
    NO(valid_timestamp, "2026-11-23T8:00:00Z");
    NO(valid_timestamp, "2026-11-23T08:0:00Z");
    NO(valid_timestamp, "2026-11-23T08-00-00Z");
    NO(valid_timestamp, "2026-11-23X08:00:00Z");
    NO(valid_timestamp, "2026-11-23");
    NO(valid_timestamp, "2026-11-23T");
    NO(valid_timestamp, "");
    NO(valid_timestamp, "1700000000");
}

static void test_valid_utf8(void **state)
{
    (void)state;
#define U8_OK(s) assert_true(valid_utf8(s, sizeof(s) - 1))
#define U8_NO(s) assert_false(valid_utf8(s, sizeof(s) - 1))
    U8_OK("");
    U8_OK("plain ascii");
    U8_OK("h\xc3\xa9llo");            /* é */
    U8_OK("杭州纺织有限公司");
    U8_OK("\xf0\x9f\x98\x80");         /* U+1F600 */
    U8_OK("\xc2\x80");                 /* U+0080, smallest 2-byte */
    U8_OK("\xe0\xa0\x80");             /* U+0800, smallest 3-byte */
    U8_OK("\xf0\x90\x80\x80");         /* U+10000, smallest 4-byte */
    U8_OK("\xf4\x8f\xbf\xbf");         /* U+10FFFF, the largest */
    U8_OK("\xed\x9f\xbf");             /* U+D7FF, just below the surrogates */
    U8_OK("\xee\x80\x80");             /* U+E000, just above */
    U8_OK("\xef\xbf\xbf");             /* U+FFFF */
    /* Overlong encodings. */
    U8_NO("\xc0\xaf");
    U8_NO("\xc1\xbf");
    U8_NO("\xc0\x80"); /* overlong NUL (modified UTF-8) */
    U8_NO("\xe0\x80\xaf");
    U8_NO("\xe0\x9f\xbf");
    U8_NO("\xf0\x80\x80\xaf");
    U8_NO("\xf0\x8f\xbf\xbf");
    /* Surrogates. */
    U8_NO("\xed\xa0\x80");
    U8_NO("\xed\xbf\xbf");
    U8_NO("\xed\xa0\xbd\xed\xb8\x80"); /* CESU-8 pair */
    /* Beyond U+10FFFF and invalid lead bytes. */
    U8_NO("\xf4\x90\x80\x80");
    U8_NO("\xf5\x80\x80\x80");
    U8_NO("\xf8\x88\x80\x80\x80");
    U8_NO("\xfc\x84\x80\x80\x80\x80");
    U8_NO("\xfe");
    U8_NO("\xff");
    /* Lone or misplaced continuation bytes. */
    U8_NO("\x80");
    U8_NO("a\xbf");
    U8_NO("\xe6\x41\xad");
    U8_NO("\xe6\x9d\x41");
    /* Truncated sequences, also at the very end. */
    U8_NO("\xe6");
    U8_NO("\xe6\x9d");
    U8_NO("abc\xe6\x9d");
    U8_NO("\xf0\x9f\x98");
    U8_NO("\xc3");
    /* NUL is refused (it would truncate C strings further on). */
    U8_NO("a\0b");
    U8_NO("\0");
#undef U8_OK
#undef U8_NO
    /* Only len bytes are examined. */
    assert_true(valid_utf8("杭\xff", 3));
    assert_false(valid_utf8("杭", 2));
    assert_true(valid_utf8("\xff", 0));
}

static void test_utf8_chars(void **state)
{
    (void)state;
    assert_int_equal(utf8_chars(""), 0);
    assert_int_equal(utf8_chars("abc"), 3);
    assert_int_equal(utf8_chars("杭州市"), 3);
    assert_int_equal(strlen("杭州市"), 9);
    assert_int_equal(utf8_chars("a杭b州c"), 5);
    assert_int_equal(utf8_chars("h\xc3\xa9llo"), 5);
    assert_int_equal(utf8_chars("\xf0\x9f\x98\x80!"), 2);
}

/* -------------------------------------------------------- fields_collect */

static const char *const STATUS_CHOICES[] = {"active", "dormant", "lost", NULL};
static const char *const READ_ONLY[] = {"id", "created_at", "version", NULL};

static const struct field_spec SPECS[] = {
    {"name", "name", FT_TEXT, 5, NULL, ROLES_ALL, FF_REQUIRED},
    {"email", "email", FT_EMAIL, 0, NULL, ROLES_ALL, 0},
    {"status", "status", FT_ENUM, 0, STATUS_CHOICES, ROLES_ALL, FF_NOT_NULL},
    {"vip", "vip", FT_BOOL, 0, NULL, ROLES_ALL, 0},
    {"credit_limit", "credit_limit", FT_MONEY, 0, NULL, ROLE_FINANCE | ROLE_ADMIN, 0},
    {"business_needs", "business_needs", FT_NEEDS, 0, NULL, ROLES_ALL, FF_NOT_NULL},
    {"note", "note", FT_TEXT, 0, NULL, ROLES_ALL, 0},
    {"owner_id", "owner_id", FT_UUID, 0, NULL, ROLE_SALES_MANAGER | ROLE_ADMIN, 0},
    {"password", "password_hash", FT_PASSWORD, 0, NULL, ROLE_ADMIN, 0},
    {"founded_on", "founded_on", FT_PAST_DATE, 0, NULL, ROLES_ALL, 0},
    {"website", "website", FT_URL, 0, NULL, ROLES_ALL, 0},
    {"tax_id", "tax_id", FT_TAX_ID, 0, NULL, ROLES_ALL, FF_REQUIRED},
    {"occurred_at", "occurred_at", FT_PAST_TIMESTAMP, 0, NULL, ROLES_ALL, 0},
    {"starts_at", "starts_at", FT_TIMESTAMP, 0, NULL, ROLES_ALL, 0},
    {"participants", "participants", FT_UUID_LIST, 3, NULL, ROLES_ALL, 0},
    {"names", "names", FT_TEXT_LIST, 2, NULL, ROLES_ALL, 0},
    {"soon", "soon", FT_INT, 90, NULL, ROLES_ALL, 0},
    {"months", "months", FT_POS_INT, 60, NULL, ROLES_ALL, 0},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};

struct collected {
    int rc;
    struct field_values fv;
    struct verrs v;
};

/* Parses json (must be valid) and runs fields_collect. */
static void collect(struct collected *c, const char *json, unsigned role, bool create)
{
    json_error_t jerr;
    json_t *body = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!body)
        fail_msg("test JSON does not parse: %s: %s", json, jerr.text);
    memset(c, 0, sizeof *c);
    c->rc = fields_collect(body, SPECS, READ_ONLY, role, create, &c->fv, &c->v);
    json_decref(body);
}

static void collect_value(struct collected *c, json_t *body, unsigned role, bool create)
{
    memset(c, 0, sizeof *c);
    c->rc = fields_collect(body, SPECS, READ_ONLY, role, create, &c->fv, &c->v);
    json_decref(body);
}

/* The message recorded for field, or NULL. */
static const char *err_for(const struct collected *c, const char *field)
{
    for (int i = 0; i < c->v.n; i++)
        if (strcmp(c->v.e[i].field, field) == 0)
            return c->v.e[i].message;
    return NULL;
}

static int errs_for(const struct collected *c, const char *field)
{
    int n = 0;
    for (int i = 0; i < c->v.n; i++)
        n += strcmp(c->v.e[i].field, field) == 0;
    return n;
}

static void dump_errors(const struct collected *c)
{
    for (int i = 0; i < c->v.n; i++)
        print_error("  %s: %s\n", c->v.e[i].field, c->v.e[i].message);
}

static void expect_ok(struct collected *c)
{
    if (c->rc != 0 || c->v.n != 0)
        dump_errors(c);
    assert_int_equal(c->rc, 0);
    assert_int_equal(c->v.n, 0);
}

static void expect_only_error(struct collected *c, const char *field, const char *message_part)
{
    if (c->v.n != 1 || !err_for(c, field))
        dump_errors(c);
    assert_int_equal(c->rc, -1);
    assert_int_equal(c->v.n, 1);
    const char *m = err_for(c, field);
    assert_non_null(m);
    if (!strstr(m, message_part))
        fail_msg("%s: message '%s' does not contain '%s'", field, m, message_part);
    /* A field with an error is never among the accepted values. */
    bool present;
    field_value(&c->fv, field, &present);
    assert_false(present);
    field_values_free(&c->fv);
}

static void test_fields_valid_create(void **state)
{
    (void)state;
    struct collected c;
    collect(&c,
            "{\"name\":\"  杭州纺织 \\t\\n\", \"email\":\"buyer@example.com\", \"vip\":true, \"status\":\"dormant\","
            " \"note\":null, \"tax_id\":\"91310000MA1FL8K123\", \"website\":\" https://example.com \","
            " \"founded_on\":\"2001-05-06\"}",
            ROLE_SALES, true);
    expect_ok(&c);
    assert_int_equal(c.fv.n, 8);
    bool present;
    /* Free text and validated strings are trimmed. */
    assert_string_equal(field_value(&c.fv, "name", &present), "杭州纺织");
    assert_true(present);
    assert_string_equal(field_value(&c.fv, "website", &present), "https://example.com");
    assert_string_equal(field_value(&c.fv, "email", &present), "buyer@example.com");
    assert_string_equal(field_value(&c.fv, "vip", &present), "true");
    assert_string_equal(field_value(&c.fv, "status", &present), "dormant");
    assert_string_equal(field_value(&c.fv, "founded_on", &present), "2001-05-06");
    /* JSON null: present with a NULL value. */
    assert_null(field_value(&c.fv, "note", &present));
    assert_true(present);
    /* Absent: not present. */
    assert_null(field_value(&c.fv, "credit_limit", &present));
    assert_false(present);
    assert_null(field_value(&c.fv, "no_such_field", &present));
    assert_false(present);
    /* Each accepted value points at its spec row. */
    for (int i = 0; i < c.fv.n; i++) {
        assert_true(c.fv.f[i].spec >= SPECS && c.fv.f[i].spec < SPECS + ARRAY_LEN(SPECS) - 1);
        if (strcmp(c.fv.f[i].spec->name, "note") == 0)
            assert_null(c.fv.f[i].value);
    }
    field_values_free(&c.fv);
    assert_int_equal(c.fv.n, 0);
    /* Freeing again is harmless. */
    field_values_free(&c.fv);

    /* false and an empty body on update. */
    collect(&c, "{\"vip\":false}", ROLE_SALES, false);
    expect_ok(&c);
    assert_string_equal(field_value(&c.fv, "vip", &present), "false");
    field_values_free(&c.fv);
    collect(&c, "{}", ROLE_SALES, false);
    expect_ok(&c);
    assert_int_equal(c.fv.n, 0);
    field_values_free(&c.fv);
}

static void test_fields_unknown_and_read_only(void **state)
{
    (void)state;
    struct collected c;
    collect(&c, "{\"colour\":\"red\"}", ROLE_ADMIN, false);
    expect_only_error(&c, "colour", "unknown field");
    collect(&c, "{\"id\":\"x\"}", ROLE_ADMIN, false);
    expect_only_error(&c, "id", "is read-only");
    collect(&c, "{\"version\":3}", ROLE_ADMIN, false);
    expect_only_error(&c, "version", "is read-only");
    /* Field names are case-sensitive. */
    collect(&c, "{\"Name\":\"x\"}", ROLE_ADMIN, false);
    expect_only_error(&c, "Name", "unknown field");
    /* A very long unknown name is reported truncated, not overflowing. */
    char json[300];
    char key[201];
    memset(key, 'k', 200);
    key[200] = '\0';
    snprintf(json, sizeof json, "{\"%s\":1}", key);
    collect(&c, json, ROLE_ADMIN, false);
    assert_int_equal(c.rc, -1);
    assert_int_equal(c.v.n, 1);
    assert_int_equal(strncmp(c.v.e[0].field, key, 60), 0);
    assert_true(strlen(c.v.e[0].field) < sizeof c.v.e[0].field);
    field_values_free(&c.fv);
    /* The body must be an object. */
    collect(&c, "[1,2]", ROLE_ADMIN, false);
    assert_int_equal(c.rc, -1);
    assert_non_null(err_for(&c, "(body)"));
    field_values_free(&c.fv);
    collect_value(&c, json_string("x"), ROLE_ADMIN, false);
    assert_int_equal(c.rc, -1);
    assert_non_null(err_for(&c, "(body)"));
    field_values_free(&c.fv);
}

static void test_fields_roles(void **state)
{
    (void)state;
    struct collected c;
    collect(&c, "{\"credit_limit\":\"1000.00\"}", ROLE_SALES, false);
    expect_only_error(&c, "credit_limit", "your role may not set this field");
    collect(&c, "{\"credit_limit\":\"1000.00\"}", ROLE_SALES_MANAGER, false);
    expect_only_error(&c, "credit_limit", "your role may not set this field");
    /* Even null is refused when the role may not set the field. */
    collect(&c, "{\"credit_limit\":null}", ROLE_OFFICE, false);
    expect_only_error(&c, "credit_limit", "your role may not set this field");
    /* The role check comes before value validation. */
    collect(&c, "{\"credit_limit\":\"bogus\"}", ROLE_ERP, false);
    expect_only_error(&c, "credit_limit", "your role may not set this field");
    bool present;
    collect(&c, "{\"credit_limit\":\"1000.00\"}", ROLE_FINANCE, false);
    expect_ok(&c);
    assert_string_equal(field_value(&c.fv, "credit_limit", &present), "1000.00");
    field_values_free(&c.fv);
    collect(&c, "{\"credit_limit\":null}", ROLE_ADMIN, false);
    expect_ok(&c);
    assert_null(field_value(&c.fv, "credit_limit", &present));
    assert_true(present);
    field_values_free(&c.fv);
    collect(&c, "{\"credit_limit\":\"1.234\"}", ROLE_FINANCE, false);
    expect_only_error(&c, "credit_limit", "at most 2 decimals");
    /* Money must be a string, not a JSON number. */
    collect(&c, "{\"credit_limit\":1000}", ROLE_FINANCE, false);
    expect_only_error(&c, "credit_limit", "must be a string");
}

static void test_fields_required(void **state)
{
    (void)state;
    struct collected c;
    /* Missing on create. */
    collect(&c, "{\"email\":\"a@b.co\"}", ROLE_SALES, true);
    assert_int_equal(c.rc, -1);
    assert_int_equal(c.v.n, 2);
    assert_string_equal(err_for(&c, "name"), "is required");
    assert_string_equal(err_for(&c, "tax_id"), "is required");
    /* The valid field was still collected. */
    bool present;
    assert_string_equal(field_value(&c.fv, "email", &present), "a@b.co");
    field_values_free(&c.fv);
    /* Not on update. */
    collect(&c, "{\"email\":\"a@b.co\"}", ROLE_SALES, false);
    expect_ok(&c);
    field_values_free(&c.fv);
    /* Present but invalid: one error, not an extra "is required". */
    collect(&c, "{\"name\":5, \"tax_id\":\"91310000MA1FL8K123\"}", ROLE_SALES, true);
    expect_only_error(&c, "name", "must be a string");
    collect(&c, "{\"name\":\"   \", \"tax_id\":\"91310000MA1FL8K123\"}", ROLE_SALES, true);
    expect_only_error(&c, "name", "must not be empty");
    /* Null for a required field: refused on create and on update. */
    collect(&c, "{\"name\":null, \"tax_id\":\"91310000MA1FL8K123\"}", ROLE_SALES, true);
    expect_only_error(&c, "name", "must not be null");
    collect(&c, "{\"name\":null}", ROLE_SALES, false);
    expect_only_error(&c, "name", "must not be null");
    /* An invalid required field gets its own error only. */
    collect(&c, "{\"name\":\"ok\", \"tax_id\":\"bad\"}", ROLE_SALES, true);
    expect_only_error(&c, "tax_id", "unified social credit code");
}

static void test_fields_null_and_nul(void **state)
{
    (void)state;
    struct collected c;
    collect(&c, "{\"status\":null}", ROLE_SALES, false);
    expect_only_error(&c, "status", "must not be null");
    collect(&c, "{\"business_needs\":null}", ROLE_SALES, false);
    expect_only_error(&c, "business_needs", "must not be null");
    /* Nullable fields accept null. */
    collect(&c, "{\"email\":null, \"vip\":null, \"owner_id\":null}", ROLE_ADMIN, false);
    expect_ok(&c);
    assert_int_equal(c.fv.n, 3);
    field_values_free(&c.fv);

    /* A NUL inside a JSON string ("\u0000") never reaches C strings. */
    json_t *body = json_object();
    json_object_set_new(body, "note", json_stringn("ab\0cd", 5));
    collect_value(&c, body, ROLE_SALES, false);
    expect_only_error(&c, "note", "NUL");
    body = json_object();
    json_object_set_new(body, "name", json_stringn("\0", 1));
    collect_value(&c, body, ROLE_SALES, false);
    expect_only_error(&c, "name", "NUL");
    body = json_object();
    json_object_set_new(body, "password", json_stringn("correct horse\0battery", 21));
    collect_value(&c, body, ROLE_ADMIN, false);
    expect_only_error(&c, "password", "NUL");
}

static void test_fields_text_length_and_trim(void **state)
{
    (void)state;
    struct collected c;
    bool present;
    /* max_len 5 counts characters: 5 Chinese characters (15 bytes) fit. */
    collect(&c, "{\"name\":\"杭州纺织厂\"}", ROLE_SALES, false);
    expect_ok(&c);
    assert_string_equal(field_value(&c.fv, "name", &present), "杭州纺织厂");
    field_values_free(&c.fv);
    collect(&c, "{\"name\":\"杭州纺织厂有\"}", ROLE_SALES, false);
    expect_only_error(&c, "name", "at most 5 characters");
    collect(&c, "{\"name\":\"abcde\"}", ROLE_SALES, false);
    expect_ok(&c);
    field_values_free(&c.fv);
    collect(&c, "{\"name\":\"abcdef\"}", ROLE_SALES, false);
    expect_only_error(&c, "name", "at most 5 characters");
    /* Surrounding whitespace does not count towards the limit. */
    collect(&c, "{\"name\":\"   abcde \\n\"}", ROLE_SALES, false);
    expect_ok(&c);
    assert_string_equal(field_value(&c.fv, "name", &present), "abcde");
    field_values_free(&c.fv);
    /* Inner whitespace is kept. */
    collect(&c, "{\"note\":\"  a  b  \"}", ROLE_SALES, false);
    expect_ok(&c);
    assert_string_equal(field_value(&c.fv, "note", &present), "a  b");
    field_values_free(&c.fv);
    /* Whitespace only, or empty, for a required field (on update too).
     * What an optional text field does with "" is not pinned here: see the
     * report (validate.h says "non-empty when required", the code refuses
     * "" for every FT_TEXT field, the OpenAPI schemas allow it). */
    collect(&c, "{\"name\":\" \\t\\r\\n \"}", ROLE_SALES, false);
    expect_only_error(&c, "name", "must not be empty");
    collect(&c, "{\"name\":\"\"}", ROLE_SALES, false);
    expect_only_error(&c, "name", "must not be empty");
    /* Wrong JSON types for text. */
    collect(&c, "{\"note\":true}", ROLE_SALES, false);
    expect_only_error(&c, "note", "must be a string");
    collect(&c, "{\"note\":[\"a\"]}", ROLE_SALES, false);
    expect_only_error(&c, "note", "must be a string");
    collect(&c, "{\"note\":{}}", ROLE_SALES, false);
    expect_only_error(&c, "note", "must be a string");
}

static void test_fields_enum_bool_uuid_password(void **state)
{
    (void)state;
    struct collected c;
    bool present;
    collect(&c, "{\"status\":\"lost\"}", ROLE_SALES, false);
    expect_ok(&c);
    assert_string_equal(field_value(&c.fv, "status", &present), "lost");
    field_values_free(&c.fv);
    /* Surrounding blanks are trimmed before the comparison. */
    collect(&c, "{\"status\":\" active \"}", ROLE_SALES, false);
    expect_ok(&c);
    assert_string_equal(field_value(&c.fv, "status", &present), "active");
    field_values_free(&c.fv);
    collect(&c, "{\"status\":\"Active\"}", ROLE_SALES, false);
    expect_only_error(&c, "status", "must be one of the allowed values");
    collect(&c, "{\"status\":\"\"}", ROLE_SALES, false);
    expect_only_error(&c, "status", "must be one of the allowed values");
    collect(&c, "{\"status\":\"activ\"}", ROLE_SALES, false);
    expect_only_error(&c, "status", "must be one of the allowed values");
    collect(&c, "{\"status\":1}", ROLE_SALES, false);
    expect_only_error(&c, "status", "must be a string");

    collect(&c, "{\"vip\":\"true\"}", ROLE_SALES, false);
    expect_only_error(&c, "vip", "must be true or false");
    collect(&c, "{\"vip\":1}", ROLE_SALES, false);
    expect_only_error(&c, "vip", "must be true or false");
    collect(&c, "{\"vip\":0}", ROLE_SALES, false);
    expect_only_error(&c, "vip", "must be true or false");

    /* UUIDs are lowercased. */
    collect(&c, "{\"owner_id\":\"3F2B8C1E-9A4D-4C5E-8F6A-1B2C3D4E5F60\"}", ROLE_SALES_MANAGER, false);
    expect_ok(&c);
    assert_string_equal(field_value(&c.fv, "owner_id", &present), "3f2b8c1e-9a4d-4c5e-8f6a-1b2c3d4e5f60");
    field_values_free(&c.fv);
    collect(&c, "{\"owner_id\":\"3f2b8c1e9a4d4c5e8f6a1b2c3d4e5f60\"}", ROLE_ADMIN, false);
    expect_only_error(&c, "owner_id", "must be an id");

    /* Passwords are not trimmed; 12..256 characters. */
    collect(&c, "{\"password\":\"  twelve-char  \"}", ROLE_ADMIN, false);
    expect_ok(&c);
    assert_string_equal(field_value(&c.fv, "password", &present), "  twelve-char  ");
    field_values_free(&c.fv);
    collect(&c, "{\"password\":\"short\"}", ROLE_ADMIN, false);
    expect_only_error(&c, "password", "12 to 256");
    collect(&c, "{\"password\":\"密码密码密码密码密码密码\"}", ROLE_ADMIN, false); /* 12 chars */
    expect_ok(&c);
    field_values_free(&c.fv);

    /* Dates that cannot be in the future. */
    collect(&c, "{\"founded_on\":\"2999-12-31\"}", ROLE_SALES, false);
    expect_only_error(&c, "founded_on", "must not be in the future");
    collect(&c, "{\"founded_on\":\"2023-02-29\"}", ROLE_SALES, false);
    expect_only_error(&c, "founded_on", "YYYY-MM-DD");
    collect(&c, "{\"website\":\"ftp://x\"}", ROLE_SALES, false);
    expect_only_error(&c, "website", "http(s) URL");
    collect(&c, "{\"email\":\"nope\"}", ROLE_SALES, false);
    expect_only_error(&c, "email", "email address");
}

static void test_timestamp_epoch(void **state)
{
    (void)state;
    long long t;
    assert_int_equal(timestamp_epoch("1970-01-01T00:00:00Z", &t), 0);
    assert_true(t == 0);
    assert_int_equal(timestamp_epoch("2026-11-23T08:00:00+08:00", &t), 0);
    assert_true(t == 1795392000LL); /* 2026-11-23T00:00:00Z */
    assert_int_equal(timestamp_epoch("2026-11-22T19:00:00.999-05:00", &t), 0);
    assert_true(t == 1795392000LL);
    assert_int_equal(timestamp_epoch("2028-02-29T00:00:00Z", &t), 0);
    assert_true(t == 1835395200LL);
    assert_int_equal(timestamp_epoch("2026-11-23", &t), -1);
    assert_int_equal(timestamp_epoch("2026-02-30T00:00:00Z", &t), -1);
}

static void test_fields_timestamps_lists_integers(void **state)
{
    (void)state;
    struct collected c;
    bool present;
    collect(&c, "{\"occurred_at\":\"2026-01-31T20:00:00+08:00\",\"starts_at\":\"2999-01-01T00:00:00Z\"}",
            ROLE_SALES, false);
    expect_ok(&c);
    assert_string_equal(field_value(&c.fv, "occurred_at", &present), "2026-01-31T20:00:00+08:00");
    field_values_free(&c.fv);
    collect(&c, "{\"occurred_at\":\"2999-01-01T00:00:00Z\"}", ROLE_SALES, false);
    expect_only_error(&c, "occurred_at", "must not be in the future");
    collect(&c, "{\"occurred_at\":\"2026-01-31 20:00\"}", ROLE_SALES, false);
    expect_only_error(&c, "occurred_at", "RFC 3339");
    collect(&c, "{\"starts_at\":\"2026-01-31T20:00:00\"}", ROLE_SALES, false);
    expect_only_error(&c, "starts_at", "RFC 3339");

    /* Id lists: canonical lower-case JSON, distinct, bounded. */
    collect(&c, "{\"participants\":[\"3F2B8C1E-9A4D-4C5E-8F6A-1B2C3D4E5F60\"]}", ROLE_SALES, false);
    expect_ok(&c);
    assert_string_equal(field_value(&c.fv, "participants", &present), "[\"3f2b8c1e-9a4d-4c5e-8f6a-1b2c3d4e5f60\"]");
    field_values_free(&c.fv);
    collect(&c, "{\"participants\":[]}", ROLE_SALES, false);
    expect_ok(&c);
    assert_string_equal(field_value(&c.fv, "participants", &present), "[]");
    field_values_free(&c.fv);
    collect(&c,
            "{\"participants\":[\"3f2b8c1e-9a4d-4c5e-8f6a-1b2c3d4e5f60\",\"3F2B8C1E-9A4D-4C5E-8F6A-1B2C3D4E5F60\"]}",
            ROLE_SALES, false);
    expect_only_error(&c, "participants", "distinct ids");
    collect(&c, "{\"participants\":[\"nope\"]}", ROLE_SALES, false);
    expect_only_error(&c, "participants", "distinct ids");
    collect(&c, "{\"participants\":[1]}", ROLE_SALES, false);
    expect_only_error(&c, "participants", "distinct ids");
    collect(&c, "{\"participants\":\"3f2b8c1e-9a4d-4c5e-8f6a-1b2c3d4e5f60\"}", ROLE_SALES, false);
    expect_only_error(&c, "participants", "at most 3 ids");
    collect(&c,
            "{\"participants\":[\"00000000-0000-0000-0000-000000000001\",\"00000000-0000-0000-0000-000000000002\","
            "\"00000000-0000-0000-0000-000000000003\",\"00000000-0000-0000-0000-000000000004\"]}",
            ROLE_SALES, false);
    expect_only_error(&c, "participants", "at most 3 ids");

    /* Text lists: trimmed, 1..100 characters each. */
    collect(&c, "{\"names\":[\" 王经理 \",\"李工\"]}", ROLE_SALES, false);
    expect_ok(&c);
    assert_string_equal(field_value(&c.fv, "names", &present), "[\"王经理\",\"李工\"]");
    field_values_free(&c.fv);
    collect(&c, "{\"names\":[\"  \"]}", ROLE_SALES, false);
    expect_only_error(&c, "names", "1 to 100 characters");
    collect(&c, "{\"names\":[\"a\",\"b\",\"c\"]}", ROLE_SALES, false);
    expect_only_error(&c, "names", "at most 2 strings");

    /* Integers: JSON integers in range, never strings or fractions. */
    collect(&c, "{\"soon\":0,\"months\":60}", ROLE_SALES, false);
    expect_ok(&c);
    assert_string_equal(field_value(&c.fv, "soon", &present), "0");
    assert_string_equal(field_value(&c.fv, "months", &present), "60");
    field_values_free(&c.fv);
    collect(&c, "{\"months\":0}", ROLE_SALES, false);
    expect_only_error(&c, "months", "from 1 to 60");
    collect(&c, "{\"soon\":91}", ROLE_SALES, false);
    expect_only_error(&c, "soon", "from 0 to 90");
    collect(&c, "{\"soon\":-1}", ROLE_SALES, false);
    expect_only_error(&c, "soon", "from 0 to 90");
    collect(&c, "{\"soon\":1.5}", ROLE_SALES, false);
    expect_only_error(&c, "soon", "integer");
    collect(&c, "{\"soon\":\"7\"}", ROLE_SALES, false);
    expect_only_error(&c, "soon", "integer");
    collect(&c, "{\"months\":null}", ROLE_SALES, false);
    expect_ok(&c);
    assert_null(field_value(&c.fv, "months", &present));
    assert_true(present);
    field_values_free(&c.fv);
}

static void test_fields_business_needs(void **state)
{
    (void)state;
    struct collected c;
    bool present;
    collect(&c,
            "{\"business_needs\":{\"product_categories\":[\"牛仔布\",\"棉麻\"],\"typical_quantities\":\"5000 m/月\","
            "\"weaving_process\":null,\"colour_fastness\":\"4级\"}}",
            ROLE_SALES, false);
    expect_ok(&c);
    const char *text = field_value(&c.fv, "business_needs", &present);
    assert_non_null(text);
    /* The value is the compact JSON text of the object. */
    json_t *back = json_loads(text, 0, NULL);
    assert_non_null(back);
    assert_true(json_is_object(back));
    assert_int_equal(json_array_size(json_object_get(back, "product_categories")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(back, "product_categories"), 0)), "牛仔布");
    assert_true(json_is_null(json_object_get(back, "weaving_process")));
    assert_string_equal(json_string_value(json_object_get(back, "colour_fastness")), "4级");
    json_decref(back);
    assert_null(strchr(text, '\n'));
    field_values_free(&c.fv);

    collect(&c, "{\"business_needs\":{}}", ROLE_SALES, false);
    expect_ok(&c);
    assert_string_equal(field_value(&c.fv, "business_needs", &present), "{}");
    field_values_free(&c.fv);

    collect(&c, "{\"business_needs\":{\"colour\":\"red\"}}", ROLE_SALES, false);
    expect_only_error(&c, "business_needs.colour", "unknown field");
    collect(&c, "{\"business_needs\":{\"product_categories\":\"denim\"}}", ROLE_SALES, false);
    expect_only_error(&c, "business_needs.product_categories", "must be an array");
    collect(&c, "{\"business_needs\":{\"product_categories\":{}}}", ROLE_SALES, false);
    expect_only_error(&c, "business_needs.product_categories", "must be an array");
    collect(&c, "{\"business_needs\":{\"product_categories\":null}}", ROLE_SALES, false);
    expect_only_error(&c, "business_needs.product_categories", "must be an array");
    collect(&c, "{\"business_needs\":{\"product_categories\":[\"\"]}}", ROLE_SALES, false);
    expect_only_error(&c, "business_needs.product_categories", "each category");
    collect(&c, "{\"business_needs\":{\"product_categories\":[\"ok\", 5]}}", ROLE_SALES, false);
    expect_only_error(&c, "business_needs.product_categories", "each category");
    collect(&c, "{\"business_needs\":{\"typical_quantities\":5}}", ROLE_SALES, false);
    expect_only_error(&c, "business_needs.typical_quantities", "at most 2000 characters");
    collect(&c, "{\"business_needs\":\"text\"}", ROLE_SALES, false);
    expect_only_error(&c, "business_needs", "must be an object");
    collect(&c, "{\"business_needs\":[]}", ROLE_SALES, false);
    expect_only_error(&c, "business_needs", "must be an object");

    /* At most 50 categories of at most 100 characters. */
    json_t *cats = json_array();
    for (int i = 0; i < 50; i++)
        json_array_append_new(cats, json_string("类"));
    json_t *needs = json_object();
    json_object_set(needs, "product_categories", cats);
    json_t *body = json_object();
    json_object_set(body, "business_needs", needs);
    collect_value(&c, json_incref(body), ROLE_SALES, false);
    expect_ok(&c);
    field_values_free(&c.fv);
    json_array_append_new(cats, json_string("类"));
    collect_value(&c, json_incref(body), ROLE_SALES, false);
    expect_only_error(&c, "business_needs.product_categories", "at most 50");
    json_array_clear(cats);
    char cat[401] = "";
    for (int i = 0; i < 100; i++)
        strcat(cat, "布");
    json_array_append_new(cats, json_string(cat));
    collect_value(&c, json_incref(body), ROLE_SALES, false);
    expect_ok(&c);
    field_values_free(&c.fv);
    strcat(cat, "布");
    json_array_set_new(cats, 0, json_string(cat));
    collect_value(&c, json_incref(body), ROLE_SALES, false);
    expect_only_error(&c, "business_needs.product_categories", "1 to 100 characters");
    /* A NUL inside a category or a text member. */
    json_array_set_new(cats, 0, json_stringn("a\0b", 3));
    collect_value(&c, json_incref(body), ROLE_SALES, false);
    expect_only_error(&c, "business_needs.product_categories", "each category");
    json_object_del(needs, "product_categories");
    json_object_set_new(needs, "quality_requirements", json_stringn("a\0b", 3));
    collect_value(&c, json_incref(body), ROLE_SALES, false);
    expect_only_error(&c, "business_needs.quality_requirements", "at most 2000");
    /* Text members: 2000 characters fit, 2001 do not. */
    char *big = xmalloc(2002 * 3 + 1);
    big[0] = '\0';
    for (int i = 0; i < 2000; i++)
        memcpy(big + i * 3, "织", 4);
    json_object_set_new(needs, "quality_requirements", json_string(big));
    collect_value(&c, json_incref(body), ROLE_SALES, false);
    expect_ok(&c);
    field_values_free(&c.fv);
    strcat(big, "织");
    json_object_set_new(needs, "quality_requirements", json_string(big));
    collect_value(&c, json_incref(body), ROLE_SALES, false);
    expect_only_error(&c, "business_needs.quality_requirements", "at most 2000");
    free(big);
    json_decref(cats);
    json_decref(needs);
    json_decref(body);

    /* Several problems inside business_needs are all reported. */
    collect(&c, "{\"business_needs\":{\"a\":1,\"product_categories\":1,\"fabric_composition\":[]}}", ROLE_SALES,
            false);
    assert_int_equal(c.rc, -1);
    assert_int_equal(c.v.n, 3);
    assert_non_null(err_for(&c, "business_needs.a"));
    assert_non_null(err_for(&c, "business_needs.product_categories"));
    assert_non_null(err_for(&c, "business_needs.fabric_composition"));
    field_values_free(&c.fv);
}

static void test_fields_all_errors_collected(void **state)
{
    (void)state;
    struct collected c;
    collect(&c,
            "{\"foo\":1, \"id\":\"x\", \"email\":\"bad\", \"status\":\"nope\", \"vip\":\"yes\","
            " \"credit_limit\":\"5\", \"note\":\"fine\", \"owner_id\":null}",
            ROLE_SALES, true);
    assert_int_equal(c.rc, -1);
    if (c.v.n != 9)
        dump_errors(&c);
    assert_int_equal(c.v.n, 9);
    assert_string_equal(err_for(&c, "foo"), "unknown field");
    assert_string_equal(err_for(&c, "id"), "is read-only");
    assert_non_null(err_for(&c, "email"));
    assert_non_null(err_for(&c, "status"));
    assert_non_null(err_for(&c, "vip"));
    assert_string_equal(err_for(&c, "credit_limit"), "your role may not set this field");
    assert_string_equal(err_for(&c, "owner_id"), "your role may not set this field");
    assert_string_equal(err_for(&c, "name"), "is required");
    assert_string_equal(err_for(&c, "tax_id"), "is required");
    /* Exactly one error per field. */
    for (int i = 0; i < c.v.n; i++)
        assert_int_equal(errs_for(&c, c.v.e[i].field), 1);
    /* The one good field is collected (the caller discards it on error). */
    bool present;
    assert_string_equal(field_value(&c.fv, "note", &present), "fine");
    assert_int_equal(c.fv.n, 1);
    field_values_free(&c.fv);
}

/* More problems than VERRS_MAX are capped, never overflowing. */
static void test_fields_error_cap(void **state)
{
    (void)state;
    json_t *body = json_object();
    for (int i = 0; i < VERRS_MAX + 10; i++) {
        char key[16];
        snprintf(key, sizeof key, "unknown%d", i);
        json_object_set_new(body, key, json_integer(i));
    }
    struct collected c;
    collect_value(&c, body, ROLE_ADMIN, true);
    assert_int_equal(c.rc, -1);
    assert_int_equal(c.v.n, VERRS_MAX);
    assert_int_equal(c.fv.n, 0);
    field_values_free(&c.fv);
}

/* An empty (or blank) optional text clears the field; a required one is an error. */
static void test_fields_empty_optional_clears(void **state)
{
    (void)state;
    static const struct field_spec specs[] = {
        {"name", "name", FT_TEXT, 10, NULL, ROLE_SALES, FF_REQUIRED},
        {"region", "region", FT_TEXT, 10, NULL, ROLE_SALES, 0},
        {"email", "email", FT_EMAIL, 0, NULL, ROLE_SALES, 0},
        {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
    };
    json_t *body = json_pack("{s:s, s:s}", "region", "  ", "email", "");
    struct field_values fv;
    struct verrs v = {0};
    assert_int_equal(fields_collect(body, specs, NULL, ROLE_SALES, false, &fv, &v), 0);
    bool present;
    assert_null(field_value(&fv, "region", &present));
    assert_true(present);
    assert_null(field_value(&fv, "email", &present));
    assert_true(present);
    field_values_free(&fv);
    json_decref(body);

    body = json_pack("{s:s}", "name", " ");
    memset(&v, 0, sizeof v);
    assert_int_equal(fields_collect(body, specs, NULL, ROLE_SALES, true, &fv, &v), -1);
    assert_int_equal(v.n, 1);
    assert_string_equal(v.e[0].field, "name");
    assert_string_equal(v.e[0].message, "must not be empty");
    field_values_free(&fv);
    json_decref(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_email),
        cmocka_unit_test(test_valid_phone),
        cmocka_unit_test(test_valid_url),
        cmocka_unit_test(test_valid_date),
        cmocka_unit_test(test_valid_money),
        cmocka_unit_test(test_valid_tax_id),
        cmocka_unit_test(test_valid_username),
        cmocka_unit_test(test_valid_timestamp),
        cmocka_unit_test(test_valid_utf8),
        cmocka_unit_test(test_utf8_chars),
        cmocka_unit_test(test_fields_valid_create),
        cmocka_unit_test(test_fields_unknown_and_read_only),
        cmocka_unit_test(test_fields_roles),
        cmocka_unit_test(test_fields_required),
        cmocka_unit_test(test_fields_null_and_nul),
        cmocka_unit_test(test_fields_text_length_and_trim),
        cmocka_unit_test(test_fields_empty_optional_clears),
        cmocka_unit_test(test_fields_enum_bool_uuid_password),
        cmocka_unit_test(test_fields_business_needs),
        cmocka_unit_test(test_timestamp_epoch),
        cmocka_unit_test(test_fields_timestamps_lists_integers),
        cmocka_unit_test(test_fields_all_errors_collected),
        cmocka_unit_test(test_fields_error_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
