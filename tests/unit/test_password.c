/* Unit tests for service/auth/password.c (PBKDF2-HMAC-SHA256 hashes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/password.h"
#include "common.h"

static void test_hash_then_verify(void **state)
{
    (void)state;
    char *h = password_hash_new("correct horse battery staple");
    assert_non_null(h);
    assert_true(password_verify("correct horse battery staple", h));
    assert_false(password_verify("correct horse battery stapl", h));
    assert_false(password_verify("Correct horse battery staple", h));
    assert_false(password_verify("", h));
    assert_false(password_verify(NULL, h));
    free(h);
}

static void test_empty_and_unicode_passwords(void **state)
{
    (void)state;
    char *h = password_hash_new("");
    assert_non_null(h);
    assert_true(password_verify("", h));
    assert_false(password_verify(" ", h));
    free(h);

    const char *pw = "p\xc3\xa4ssw\xc3\xb6rd \xe2\x9c\x93";
    h = password_hash_new(pw);
    assert_non_null(h);
    assert_true(password_verify(pw, h));
    free(h);
}

static void test_null_inputs(void **state)
{
    (void)state;
    assert_null(password_hash_new(NULL));
    assert_false(password_verify("anything", NULL));
    assert_false(password_verify(NULL, NULL));
}

static void test_format(void **state)
{
    (void)state;
    char *h = password_hash_new("pw");
    assert_non_null(h);
    const char *prefix = "pbkdf2-sha256$600000$";
    assert_int_equal(strncmp(h, prefix, strlen(prefix)), 0);

    const char *salt = h + strlen(prefix);
    const char *dollar = strchr(salt, '$');
    assert_non_null(dollar);
    assert_null(strchr(dollar + 1, '$'));
    size_t n = 0;
    unsigned char *raw = b64url_decode(salt, (size_t)(dollar - salt), &n);
    assert_non_null(raw);
    assert_int_equal(n, 16);
    free(raw);
    raw = b64url_decode(dollar + 1, strlen(dollar + 1), &n);
    assert_non_null(raw);
    assert_int_equal(n, 32);
    free(raw);
    assert_null(strchr(h, '='));
    free(h);
}

static void test_salt_makes_hashes_differ(void **state)
{
    (void)state;
    char *a = password_hash_new("same password");
    char *b = password_hash_new("same password");
    assert_non_null(a);
    assert_non_null(b);
    assert_string_not_equal(a, b);
    assert_true(password_verify("same password", a));
    assert_true(password_verify("same password", b));
    free(a);
    free(b);
}

/* Builds a stored string with an arbitrary iteration count, as an older
 * configuration would have. */
static char *make_stored(const char *pw, int iterations, size_t salt_len)
{
    unsigned char salt[64], key[32];
    struct sbuf b = {0};
    memset(salt, 0xA5, sizeof salt);
    assert_true(salt_len <= sizeof salt);
    assert_int_equal(PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, (int)salt_len, iterations,
                                       EVP_sha256(), 32, key),
                     1);
    char *s64 = b64url_encode(salt, salt_len);
    char *k64 = b64url_encode(key, sizeof key);
    sbuf_printf(&b, "pbkdf2-sha256$%d$%s$%s", iterations, s64, k64);
    free(s64);
    free(k64);
    return sbuf_take(&b);
}

static void test_iterations_read_from_stored(void **state)
{
    (void)state;
    char *h = make_stored("old password", 100000, 16);
    assert_true(password_verify("old password", h));
    assert_false(password_verify("old passwore", h));
    free(h);

    h = make_stored("longer salt", 120000, 32);
    assert_true(password_verify("longer salt", h));
    free(h);

    /* Below the accepted range: refused even though the hash is right. */
    h = make_stored("weak", 99999, 16);
    assert_false(password_verify("weak", h));
    free(h);
}

static void test_malformed_stored(void **state)
{
    (void)state;
    char *good = password_hash_new("pw");
    assert_non_null(good);
    assert_true(password_verify("pw", good));
    const char *salt = strchr(good + strlen("pbkdf2-sha256$"), '$') + 1;
    const char *key = strchr(salt, '$') + 1;
    char saltbuf[64], keybuf[64];
    snprintf(saltbuf, sizeof saltbuf, "%.*s", (int)(key - 1 - salt), salt);
    snprintf(keybuf, sizeof keybuf, "%s", key);

    char cases[16][256];
    int n = 0;
    snprintf(cases[n++], 256, "%s", "");
    snprintf(cases[n++], 256, "%s", "pbkdf2-sha256$");
    snprintf(cases[n++], 256, "pbkdf2-sha1$600000$%s$%s", saltbuf, keybuf);
    snprintf(cases[n++], 256, "PBKDF2-SHA256$600000$%s$%s", saltbuf, keybuf);
    snprintf(cases[n++], 256, "pbkdf2-sha256$0600000$%s$%s", saltbuf, keybuf);
    snprintf(cases[n++], 256, "pbkdf2-sha256$+600000$%s$%s", saltbuf, keybuf);
    snprintf(cases[n++], 256, "pbkdf2-sha256$600000x$%s$%s", saltbuf, keybuf);
    snprintf(cases[n++], 256, "pbkdf2-sha256$10000001$%s$%s", saltbuf, keybuf);
    snprintf(cases[n++], 256, "pbkdf2-sha256$$%s$%s", saltbuf, keybuf);
    snprintf(cases[n++], 256, "pbkdf2-sha256$600000$%s", saltbuf);
    snprintf(cases[n++], 256, "pbkdf2-sha256$600000$%s$%s$", saltbuf, keybuf);
    snprintf(cases[n++], 256, "pbkdf2-sha256$600000$%s==$%s", saltbuf, keybuf);
    snprintf(cases[n++], 256, "pbkdf2-sha256$600000$%s$%s=", saltbuf, keybuf);
    snprintf(cases[n++], 256, "pbkdf2-sha256$600000$AAAAAAAAAAA$%s", keybuf);        /* 8-byte salt */
    snprintf(cases[n++], 256, "pbkdf2-sha256$600000$%s$%.40s", saltbuf, keybuf);     /* short key */
    snprintf(cases[n++], 256, "pbkdf2-sha256$600000$%s$%s", saltbuf, "!!!!");
    for (int i = 0; i < n; i++) {
        if (password_verify("pw", cases[i]))
            fail_msg("accepted malformed stored hash %d: %s", i, cases[i]);
    }
    free(good);
}

static int64_t time_verify(const char *pw, const char *stored, bool expect)
{
    int64_t t0 = clock_mono_us();
    assert_true(password_verify(pw, stored) == expect);
    return clock_mono_us() - t0;
}

/* An unknown user (NULL stored) must cost a real derivation. Loose bound so
 * a busy machine does not make this flaky. */
static void test_unknown_user_costs_a_derivation(void **state)
{
    (void)state;
    char *h = password_hash_new("pw");
    assert_non_null(h);
    int64_t real = time_verify("pw", h, true);
    int64_t unknown = time_verify("pw", NULL, false);
    int64_t malformed = time_verify("pw", "garbage", false);
    assert_true(unknown * 5 > real);
    assert_true(malformed * 5 > real);
    free(h);
}

struct verify_job {
    const char *stored;
    bool result;
};

static void *verify_thread(void *arg)
{
    struct verify_job *j = arg;
    j->result = password_verify("concurrent", j->stored);
    return NULL;
}

static void test_concurrency_bounded(void **state)
{
    (void)state;
    enum { N = 6 };
    char *h = password_hash_new("concurrent");
    assert_non_null(h);
    pthread_t th[N];
    struct verify_job jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i].stored = h;
        jobs[i].result = false;
        assert_int_equal(pthread_create(&th[i], NULL, verify_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_true(jobs[i].result);
    }
    int peak = password_peak_concurrency();
    assert_true(peak >= 1);
    assert_true(peak <= PASSWORD_MAX_CONCURRENT);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_then_verify),
        cmocka_unit_test(test_empty_and_unicode_passwords),
        cmocka_unit_test(test_null_inputs),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_salt_makes_hashes_differ),
        cmocka_unit_test(test_iterations_read_from_stored),
        cmocka_unit_test(test_malformed_stored),
        cmocka_unit_test(test_unknown_user_costs_a_derivation),
        cmocka_unit_test(test_concurrency_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
