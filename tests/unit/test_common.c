/* Unit tests for service/common.c: the growable string buffer, base64url,
 * the JSON nesting guard, hex encoding and the small allocation helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* ------------------------------------------------------------------ sbuf */

static void test_sbuf_empty_take(void **state)
{
    (void)state;
    struct sbuf b = {0};
    char *s = sbuf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);

    /* Appending nothing still leaves a NUL-terminated buffer. */
    sbuf_append(&b, "", 0);
    assert_non_null(b.data);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    sbuf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    /* Freeing twice is harmless. */
    sbuf_free(&b);
}

static void test_sbuf_growth(void **state)
{
    (void)state;
    struct sbuf b = {0};
    char expect[10001];
    size_t n = 0;
    for (int i = 0; i < 1000; i++) {
        char piece[11];
        int len = snprintf(piece, sizeof piece, "%09d,", i);
        assert_int_equal(len, 10);
        sbuf_append(&b, piece, (size_t)len);
        memcpy(expect + n, piece, (size_t)len);
        n += (size_t)len;
        expect[n] = '\0';
        /* Invariants after every append. */
        assert_int_equal(b.len, n);
        assert_true(b.cap >= b.len + 1);
        assert_int_equal(b.data[b.len], '\0');
    }
    assert_int_equal(b.len, 10000);
    assert_memory_equal(b.data, expect, 10000);
    assert_int_equal(strlen(b.data), 10000);

    /* Binary data with embedded NULs is kept byte for byte. */
    const char bin[] = {'x', '\0', 'y'};
    sbuf_append(&b, bin, sizeof bin);
    assert_int_equal(b.len, 10003);
    assert_memory_equal(b.data + 10000, bin, 3);
    assert_int_equal(b.data[10003], '\0');
    sbuf_free(&b);
}

static void test_sbuf_puts_printf(void **state)
{
    (void)state;
    struct sbuf b = {0};
    sbuf_puts(&b, "hello");
    sbuf_printf(&b, ", %s #%d%c", "world", 42, '!');
    assert_string_equal(b.data, "hello, world #42!");
    assert_int_equal(b.len, strlen("hello, world #42!"));

    /* Output of exactly 255, 256 and 257 characters: around the size of the
     * internal stack buffer (256 bytes incl. NUL), and far beyond. */
    size_t sizes[] = {255, 256, 257, 5000};
    for (size_t k = 0; k < ARRAY_LEN(sizes); k++) {
        size_t sz = sizes[k];
        char *arg = xmalloc(sz + 1);
        for (size_t i = 0; i < sz; i++)
            arg[i] = (char)('a' + i % 26);
        arg[sz] = '\0';
        struct sbuf c = {0};
        sbuf_puts(&c, "<");
        sbuf_printf(&c, "%s", arg);
        sbuf_puts(&c, ">");
        assert_int_equal(c.len, sz + 2);
        assert_int_equal(c.data[0], '<');
        assert_memory_equal(c.data + 1, arg, sz);
        assert_int_equal(c.data[sz + 1], '>');
        assert_int_equal(c.data[sz + 2], '\0');
        sbuf_free(&c);
        free(arg);
    }

    /* Empty format output appends nothing. */
    size_t before = b.len;
    sbuf_printf(&b, "%s", "");
    assert_int_equal(b.len, before);
    sbuf_free(&b);
}

static void test_sbuf_take_resets(void **state)
{
    (void)state;
    struct sbuf b = {0};
    sbuf_printf(&b, "%d-%s", 7, "seven");
    char *s = sbuf_take(&b);
    assert_string_equal(s, "7-seven");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    /* The buffer is reusable and independent of the taken string. */
    sbuf_puts(&b, "again");
    assert_string_equal(b.data, "again");
    assert_string_equal(s, "7-seven");
    free(s);
    char *t = sbuf_take(&b);
    assert_string_equal(t, "again");
    free(t);
}

/* ------------------------------------------------------------ base64url */

static void test_b64url_vectors(void **state)
{
    (void)state;
    /* RFC 4648 section 10 vectors, unpadded. */
    static const struct {
        const char *in;
        const char *out;
    } v[] = {
        {"", ""},         {"f", "Zg"},         {"fo", "Zm8"},           {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < ARRAY_LEN(v); i++) {
        char *enc = b64url_encode((const unsigned char *)v[i].in, strlen(v[i].in));
        assert_string_equal(enc, v[i].out);
        free(enc);
        size_t len = 99;
        unsigned char *dec = b64url_decode(v[i].out, strlen(v[i].out), &len);
        assert_non_null(dec);
        assert_int_equal(len, strlen(v[i].in));
        assert_memory_equal(dec, v[i].in, len);
        assert_int_equal(dec[len], '\0');
        free(dec);
    }

    /* The URL-safe alphabet: '-' and '_' instead of '+' and '/'. */
    const unsigned char hi[] = {0xfb, 0xff};
    char *enc = b64url_encode(hi, sizeof hi);
    assert_string_equal(enc, "-_8");
    free(enc);
    const unsigned char all_ones[] = {0xff, 0xff, 0xff};
    enc = b64url_encode(all_ones, 3);
    assert_string_equal(enc, "____");
    free(enc);
    const unsigned char zeros[] = {0, 0, 0, 0};
    enc = b64url_encode(zeros, 4);
    assert_string_equal(enc, "AAAAAA");
    free(enc);
}

static void test_b64url_round_trip_lengths(void **state)
{
    (void)state;
    unsigned char buf[64];
    for (size_t len = 0; len <= 64; len++) {
        for (int pattern = 0; pattern < 3; pattern++) {
            for (size_t i = 0; i < len; i++)
                buf[i] = pattern == 0 ? (unsigned char)i : pattern == 1 ? (unsigned char)(0xff - i * 7) : 0;
            if (pattern == 2 && len)
                random_bytes(buf, len);
            char *enc = b64url_encode(buf, len);
            /* Unpadded length: ceil(4 * len / 3). */
            size_t want = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
            assert_int_equal(strlen(enc), want);
            for (const char *p = enc; *p; p++)
                assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
            size_t out_len = 12345;
            unsigned char *dec = b64url_decode(enc, strlen(enc), &out_len);
            assert_non_null(dec);
            assert_int_equal(out_len, len);
            if (len)
                assert_memory_equal(dec, buf, len);
            assert_int_equal(dec[len], '\0');
            free(dec);
            free(enc);
        }
    }
}

static void expect_decode_fails(const char *s)
{
    size_t len = 777;
    unsigned char *dec = b64url_decode(s, strlen(s), &len);
    if (dec)
        print_error("b64url_decode accepted \"%s\"\n", s);
    assert_null(dec);
    free(dec);
}

static void test_b64url_rejects(void **state)
{
    (void)state;
    /* Padding is not base64url-without-padding. */
    expect_decode_fails("Zg==");
    expect_decode_fails("Zm8=");
    expect_decode_fails("Zm9vYg==");
    expect_decode_fails("====");
    expect_decode_fails("=");
    /* Characters of the standard alphabet and others. */
    expect_decode_fails("Zm+v");
    expect_decode_fails("Zm/v");
    expect_decode_fails("Zm9 v");
    expect_decode_fails("Zm9v\n");
    expect_decode_fails("Zm.v");
    expect_decode_fails("Zm9v\xc3\xa9");
    /* length % 4 == 1 can never be produced by the encoder. */
    expect_decode_fails("Z");
    expect_decode_fails("Zm9vY");
    expect_decode_fails("Zm9vYmFyZ");
    /* Non-canonical: leftover bits must be zero ("Zg" is canonical for "f"). */
    expect_decode_fails("Zh");
    expect_decode_fails("Zv");
    expect_decode_fails("Zm9");  /* "Zm8" is canonical for "fo" */
    expect_decode_fails("Zm_");
    expect_decode_fails("-_9");  /* "-_8" is canonical */

    /* An embedded NUL within the given length is an invalid character. */
    const char with_nul[] = {'Z', 'm', '\0', 'v'};
    size_t len = 0;
    unsigned char *dec = b64url_decode(with_nul, sizeof with_nul, &len);
    assert_null(dec);

    /* Only len bytes are read: a valid prefix decodes. */
    dec = b64url_decode("Zm9v!!!!", 4, &len);
    assert_non_null(dec);
    assert_int_equal(len, 3);
    assert_memory_equal(dec, "foo", 3);
    free(dec);

    /* Empty input decodes to an empty, NUL-terminated buffer. */
    dec = b64url_decode("", 0, &len);
    assert_non_null(dec);
    assert_int_equal(len, 0);
    assert_int_equal(dec[0], '\0');
    free(dec);
}

/* Every canonical 2- and 3-character tail decodes; every non-canonical one
 * is rejected. */
static void test_b64url_canonical_tails(void **state)
{
    (void)state;
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int accepted2 = 0, accepted3 = 0;
    for (int a = 0; a < 64; a++) {
        char two[3] = {'Q', alphabet[a], '\0'};
        size_t len;
        unsigned char *dec = b64url_decode(two, 2, &len);
        /* 12 bits, 8 used: the low 4 bits of the 2nd char must be zero. */
        assert_int_equal(dec != NULL, (a & 15) == 0);
        if (dec) {
            accepted2++;
            assert_int_equal(len, 1);
            char *re = b64url_encode(dec, len);
            assert_string_equal(re, two);
            free(re);
        }
        free(dec);
        char three[4] = {'Q', 'Q', alphabet[a], '\0'};
        dec = b64url_decode(three, 3, &len);
        /* 18 bits, 16 used: the low 2 bits of the 3rd char must be zero. */
        assert_int_equal(dec != NULL, (a & 3) == 0);
        if (dec) {
            accepted3++;
            assert_int_equal(len, 2);
            char *re = b64url_encode(dec, len);
            assert_string_equal(re, three);
            free(re);
        }
        free(dec);
    }
    assert_int_equal(accepted2, 4);
    assert_int_equal(accepted3, 16);
}

/* ---------------------------------------------------------- json nesting */

static void test_json_nesting_limit(void **state)
{
    (void)state;
    const char *s = "[[[1]]]";
    assert_true(json_nesting_ok(s, strlen(s), 3));
    assert_true(json_nesting_ok(s, strlen(s), 4));
    assert_false(json_nesting_ok(s, strlen(s), 2));
    s = "{\"a\":{\"b\":[{}]}}";
    assert_true(json_nesting_ok(s, strlen(s), 4));
    assert_false(json_nesting_ok(s, strlen(s), 3));
    /* Siblings do not add up: closing brackets reduce the depth. */
    s = "[[1],[2],[3],{\"a\":[]},[[]]]";
    assert_true(json_nesting_ok(s, strlen(s), 3));
    assert_false(json_nesting_ok(s, strlen(s), 2));
    /* Scalars and empty input nest 0 deep. */
    assert_true(json_nesting_ok("", 0, 0));
    assert_true(json_nesting_ok("42", 2, 0));
    assert_true(json_nesting_ok("\"x\"", 3, 0));
    assert_false(json_nesting_ok("[]", 2, 0));

    /* Exactly at the limit and one over, with a realistic limit (32). */
    char deep[200];
    for (int depth = 31; depth <= 33; depth++) {
        size_t n = 0;
        for (int i = 0; i < depth; i++)
            deep[n++] = i % 2 ? '{' : '[';
        /* Objects need keys to be JSON, but the guard scans bytes only. */
        for (int i = depth - 1; i >= 0; i--)
            deep[n++] = i % 2 ? '}' : ']';
        assert_int_equal(json_nesting_ok(deep, n, 32), depth <= 32);
    }

    /* Only len bytes are scanned. */
    assert_true(json_nesting_ok("[[[[", 2, 2));
    assert_false(json_nesting_ok("[[[[", 3, 2));
}

static void test_json_nesting_strings(void **state)
{
    (void)state;
    /* Brackets inside strings do not count. */
    const char *s = "[\"[[[[[[{{{{\"]";
    assert_true(json_nesting_ok(s, strlen(s), 1));
    s = "{\"k[{\":\"]]]}}}[[[[\"}";
    assert_true(json_nesting_ok(s, strlen(s), 1));
    /* An escaped quote does not end the string. */
    s = "[\"a\\\"[[[[\"]";
    assert_true(json_nesting_ok(s, strlen(s), 1));
    /* An escaped backslash followed by a quote does end it: the brackets
     * after it are real. */
    s = "[\"a\\\\\",[[1]]]";
    assert_true(json_nesting_ok(s, strlen(s), 3));
    assert_false(json_nesting_ok(s, strlen(s), 2));
    /* \\\" : backslash, then escaped quote; the string continues. */
    s = "[\"\\\\\\\"[[[\"]";
    assert_true(json_nesting_ok(s, strlen(s), 1));
    /* Other escapes (\u, \n) are skipped without ending the string. */
    s = "[\"\\u005b\\n[\",[]]";
    assert_true(json_nesting_ok(s, strlen(s), 2));
    assert_false(json_nesting_ok(s, strlen(s), 1));
    /* A string after which nesting resumes is tracked correctly. */
    s = "[\"]]]]\",[[[]]]]";
    assert_true(json_nesting_ok(s, strlen(s), 4));
    assert_false(json_nesting_ok(s, strlen(s), 3));
    /* An unterminated string (or a trailing backslash) is not an error for
     * the guard; the parser reports it. */
    s = "[\"abc\\";
    assert_true(json_nesting_ok(s, strlen(s), 1));
}

/* -------------------------------------------------------------- hex etc */

static void test_hex_encode(void **state)
{
    (void)state;
    const unsigned char in[] = {0x00, 0x01, 0x0f, 0x10, 0x7f, 0x80, 0xa5, 0xde, 0xad, 0xbe, 0xef, 0xff};
    char out[2 * sizeof in + 1];
    memset(out, 'X', sizeof out);
    hex_encode(in, sizeof in, out);
    assert_string_equal(out, "00010f107f80a5deadbeefff");

    char empty[1] = {'X'};
    hex_encode(in, 0, empty);
    assert_string_equal(empty, "");

    /* Every byte value maps to two lowercase digits that round-trip. */
    for (unsigned v = 0; v < 256; v++) {
        unsigned char b = (unsigned char)v;
        char two[3];
        hex_encode(&b, 1, two);
        assert_int_equal(strlen(two), 2);
        assert_int_equal(strtoul(two, NULL, 16), v);
        for (int i = 0; i < 2; i++)
            assert_true((two[i] >= '0' && two[i] <= '9') || (two[i] >= 'a' && two[i] <= 'f'));
    }
}

static void test_random_bytes(void **state)
{
    (void)state;
    unsigned char a[32], b[32];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    random_bytes(a, sizeof a);
    random_bytes(b, sizeof b);
    /* 2^-256 chance of a false failure. */
    assert_memory_not_equal(a, b, sizeof a);
    random_bytes(a, 0); /* n == 0 is allowed */
}

static void test_alloc_helpers(void **state)
{
    (void)state;
    char *s = xstrndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
    s = xstrndup("ab", 0);
    assert_string_equal(s, "");
    free(s);
    s = xstrdup("杭州");
    assert_string_equal(s, "杭州");
    free(s);
    /* Zero-size requests return usable, freeable pointers. */
    void *p = xmalloc(0);
    assert_non_null(p);
    free(p);
    int *z = xcalloc(8, sizeof *z);
    for (int i = 0; i < 8; i++)
        assert_int_equal(z[i], 0);
    z = xrealloc(z, 16 * sizeof *z);
    assert_int_equal(z[7], 0);
    free(z);
    p = xcalloc(0, 0);
    assert_non_null(p);
    free(p);
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t a = clock_mono_us();
    int64_t b = clock_mono_us();
    assert_true(b >= a);
    /* After 2020-01-01 and before 2200. */
    int64_t now = clock_wall_s();
    assert_true(now > 1577836800);
    assert_true(now < 7258118400);
}

/* utc_time against glibc's gmtime_r: every day from 1900 to 2500 at a
 * varying time of day, the edges of the epoch and far dates. */
static void check_utc_time(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm want, got;
    assert_non_null(gmtime_r(&tt, &want));
    utc_time(t, &got);
    assert_int_equal(got.tm_year, want.tm_year);
    assert_int_equal(got.tm_mon, want.tm_mon);
    assert_int_equal(got.tm_mday, want.tm_mday);
    assert_int_equal(got.tm_hour, want.tm_hour);
    assert_int_equal(got.tm_min, want.tm_min);
    assert_int_equal(got.tm_sec, want.tm_sec);
    assert_int_equal(got.tm_wday, want.tm_wday);
    assert_int_equal(got.tm_yday, want.tm_yday);
}

static void test_utc_time_matches_gmtime(void **state)
{
    (void)state;
    const int64_t fixed[] = {0, -1, 1, 86399, 86400, -86400, -86401, 951782400 /* 2000-02-29 */,
                             4107542399 /* 2100-02-28T23:59:59 */, 4107542400, -2208988800 /* 1900-01-01 */,
                             253402300799 /* 9999-12-31T23:59:59 */, -62135596800 /* 0001-01-01 */};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        check_utc_time(fixed[i]);
    for (int64_t t = -2208988800; t < 16725225600; t += 86400 + 3607)
        check_utc_time(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utc_time_matches_gmtime),
        cmocka_unit_test(test_sbuf_empty_take),
        cmocka_unit_test(test_sbuf_growth),
        cmocka_unit_test(test_sbuf_puts_printf),
        cmocka_unit_test(test_sbuf_take_resets),
        cmocka_unit_test(test_b64url_vectors),
        cmocka_unit_test(test_b64url_round_trip_lengths),
        cmocka_unit_test(test_b64url_rejects),
        cmocka_unit_test(test_b64url_canonical_tails),
        cmocka_unit_test(test_json_nesting_limit),
        cmocka_unit_test(test_json_nesting_strings),
        cmocka_unit_test(test_hex_encode),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_alloc_helpers),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
