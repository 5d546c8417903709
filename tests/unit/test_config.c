/* Unit tests for service/config.c: config_load from CRM_* environment
 * variables (defaults, every rejection naming its variable) and
 * config_cors_allowed. Every load is followed by config_free, also after a
 * failure, so ASan sees partially filled configurations released. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define SECRET32 "0123456789abcdef0123456789abcdef"

static const char *const ALL_VARS[] = {
    "CRM_LISTEN",          "CRM_DATABASE_URL",       "CRM_THREADS",           "CRM_DB_POOL_SIZE",
    "CRM_TOKEN_TTL_S",     "CRM_STATEMENT_TIMEOUT_MS", "CRM_BODY_TIMEOUT_MS", "CRM_MAX_BODY_BYTES",
    "CRM_JWT_ALG",         "CRM_JWT_SECRET",         "CRM_JWT_PUBLIC_KEY_FILE", "CRM_JWT_PRIVATE_KEY_FILE",
    "CRM_JWT_ISSUER",      "CRM_JWT_AUDIENCE",       "CRM_ADMIN_PASSWORD",    "CRM_CORS_ORIGINS",
    "CRM_TIMEZONE",        "CRM_MIGRATE",
};

/* A clean environment with only the HS256 secret set. */
static int reset_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(ALL_VARS); i++)
        unsetenv(ALL_VARS[i]);
    setenv("CRM_JWT_SECRET", SECRET32, 1);
    return 0;
}

static int clean_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(ALL_VARS); i++)
        unsetenv(ALL_VARS[i]);
    return 0;
}

static bool have_tzdata(void)
{
    struct stat st;
    return stat("/usr/share/zoneinfo", &st) == 0;
}

/* Loads and expects success; the caller frees. */
static void load_ok(struct config *cfg)
{
    char err[256] = "";
    int rc = config_load(cfg, err, sizeof err);
    if (rc != 0)
        fail_msg("config_load failed: %s", err);
}

/* Sets var=value (NULL unsets), loads, expects -1 with a message that
 * starts with "<var>: ", frees, and restores nothing (each test starts from
 * reset_env). */
static void expect_bad(const char *var, const char *value)
{
    if (value)
        setenv(var, value, 1);
    else
        unsetenv(var);
    struct config cfg;
    char err[256];
    memset(err, 0, sizeof err);
    int rc = config_load(&cfg, err, sizeof err);
    if (rc != -1)
        fail_msg("%s=%s was accepted", var, value ? value : "(unset)");
    size_t n = strlen(var);
    if (strncmp(err, var, n) != 0 || err[n] != ':' || err[n + 1] != ' ' || !err[n + 2])
        fail_msg("%s=%s: message '%s' does not start with the variable name", var, value ? value : "(unset)", err);
    assert_null(strchr(err, '\n'));
    config_free(&cfg);
}

static void expect_good(const char *var, const char *value)
{
    setenv(var, value, 1);
    struct config cfg;
    load_ok(&cfg);
    config_free(&cfg);
}

static void test_defaults(void **state)
{
    (void)state;
    struct config cfg;
    load_ok(&cfg);
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_string_equal(cfg.database_url, "postgresql:///crm");
    assert_int_equal(cfg.threads, 64);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(cfg.db_pool_size, cores >= 2 ? (int)(cores * 2) : 4); /* 2 per core, at least 4 */
    assert_int_equal(cfg.jwt_alg, CRM_JWT_HS256);
    assert_string_equal(cfg.jwt_secret, SECRET32);
    assert_int_equal(cfg.jwt_secret_len, 32);
    assert_null(cfg.jwt_public_pem);
    assert_null(cfg.jwt_private_pem);
    assert_string_equal(cfg.jwt_issuer, "crm-service");
    assert_string_equal(cfg.jwt_audience, "crm-api");
    assert_int_equal(cfg.token_ttl_s, 3600);
    assert_null(cfg.admin_password);
    assert_int_equal(cfg.max_body_bytes, 1024 * 1024);
    assert_non_null(cfg.cors_origins);
    assert_null(cfg.cors_origins[0]);
    assert_string_equal(cfg.timezone, "Asia/Shanghai");
    assert_true(cfg.migrate);
    assert_int_equal(cfg.statement_timeout_ms, 5000);
    assert_int_equal(cfg.body_timeout_ms, 10000);
    config_free(&cfg);
    /* config_free resets the struct; freeing twice is harmless. */
    assert_null(cfg.database_url);
    assert_null(cfg.cors_origins);
    config_free(&cfg);

    /* Empty values mean "use the default". */
    setenv("CRM_LISTEN", "", 1);
    setenv("CRM_THREADS", "", 1);
    setenv("CRM_JWT_ALG", "", 1);
    setenv("CRM_MIGRATE", "", 1);
    setenv("CRM_TIMEZONE", "", 1);
    setenv("CRM_JWT_ISSUER", "", 1);
    setenv("CRM_ADMIN_PASSWORD", "", 1);
    load_ok(&cfg);
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_int_equal(cfg.threads, 64);
    assert_int_equal(cfg.jwt_alg, CRM_JWT_HS256);
    assert_true(cfg.migrate);
    assert_string_equal(cfg.timezone, "Asia/Shanghai");
    assert_string_equal(cfg.jwt_issuer, "crm-service");
    assert_null(cfg.admin_password);
    config_free(&cfg);
}

static void test_overrides(void **state)
{
    (void)state;
    setenv("CRM_LISTEN", "0.0.0.0:9000", 1);
    setenv("CRM_DATABASE_URL", "postgresql://crm@db/crm", 1);
    setenv("CRM_THREADS", "2", 1);
    setenv("CRM_DB_POOL_SIZE", "256", 1);
    setenv("CRM_TOKEN_TTL_S", "60", 1);
    setenv("CRM_MAX_BODY_BYTES", "1024", 1);
    setenv("CRM_STATEMENT_TIMEOUT_MS", "600000", 1);
    setenv("CRM_BODY_TIMEOUT_MS", "100", 1);
    setenv("CRM_JWT_ISSUER", "idp", 1);
    setenv("CRM_JWT_AUDIENCE", "aud", 1);
    setenv("CRM_ADMIN_PASSWORD", "twelve-chars", 1);
    setenv("CRM_TIMEZONE", "UTC", 1);
    setenv("CRM_MIGRATE", "off", 1);
    struct config cfg;
    load_ok(&cfg);
    assert_string_equal(cfg.listen, "0.0.0.0:9000");
    assert_string_equal(cfg.database_url, "postgresql://crm@db/crm");
    assert_int_equal(cfg.threads, 2);
    assert_int_equal(cfg.db_pool_size, 256);
    assert_int_equal(cfg.token_ttl_s, 60);
    assert_int_equal(cfg.max_body_bytes, 1024);
    assert_int_equal(cfg.statement_timeout_ms, 600000);
    assert_int_equal(cfg.body_timeout_ms, 100);
    assert_string_equal(cfg.jwt_issuer, "idp");
    assert_string_equal(cfg.jwt_audience, "aud");
    assert_string_equal(cfg.admin_password, "twelve-chars");
    assert_string_equal(cfg.timezone, "UTC");
    assert_false(cfg.migrate);
    config_free(&cfg);

    setenv("CRM_MIGRATE", "on", 1);
    load_ok(&cfg);
    assert_true(cfg.migrate);
    config_free(&cfg);
}

static void test_listen(void **state)
{
    (void)state;
    expect_good("CRM_LISTEN", "localhost:8080");
    expect_good("CRM_LISTEN", "[::1]:8080");
    expect_good("CRM_LISTEN", "10.0.0.1:1");
    expect_good("CRM_LISTEN", "crm-service.internal:65535");
    expect_bad("CRM_LISTEN", "nope");
    expect_bad("CRM_LISTEN", "8080");
    expect_bad("CRM_LISTEN", ":8080");
    expect_bad("CRM_LISTEN", "host:");
    expect_bad("CRM_LISTEN", "host:0");
    expect_bad("CRM_LISTEN", "host:65536");
    expect_bad("CRM_LISTEN", "host:-1");
    expect_bad("CRM_LISTEN", "host:80x");
    expect_bad("CRM_LISTEN", "ho st:80");
    expect_bad("CRM_LISTEN", "host/x:80");
    expect_bad("CRM_LISTEN", "host;rm:80");
    char longhost[200];
    memset(longhost, 'a', sizeof longhost);
    memcpy(longhost + 150, ":8080", 6);
    expect_bad("CRM_LISTEN", longhost);
}

static void test_integers(void **state)
{
    (void)state;
    expect_bad("CRM_THREADS", "0");
    expect_bad("CRM_THREADS", "abc");
    expect_bad("CRM_THREADS", "1");
    expect_bad("CRM_THREADS", "1025");
    expect_bad("CRM_THREADS", "-4");
    expect_bad("CRM_THREADS", "8x");
    expect_bad("CRM_THREADS", "4.5");
    expect_bad("CRM_THREADS", "99999999999999999999999");
    expect_good("CRM_THREADS", "1024");
    unsetenv("CRM_THREADS");
    expect_bad("CRM_DB_POOL_SIZE", "0");
    expect_bad("CRM_DB_POOL_SIZE", "257");
    unsetenv("CRM_DB_POOL_SIZE");
    expect_bad("CRM_TOKEN_TTL_S", "59");
    expect_bad("CRM_TOKEN_TTL_S", "604801");
    expect_good("CRM_TOKEN_TTL_S", "604800");
    unsetenv("CRM_TOKEN_TTL_S");
    expect_bad("CRM_MAX_BODY_BYTES", "1023");
    expect_bad("CRM_MAX_BODY_BYTES", "67108865");
    expect_good("CRM_MAX_BODY_BYTES", "67108864");
    unsetenv("CRM_MAX_BODY_BYTES");
    expect_bad("CRM_STATEMENT_TIMEOUT_MS", "99");
    unsetenv("CRM_STATEMENT_TIMEOUT_MS");
    expect_bad("CRM_BODY_TIMEOUT_MS", "600001");
}

static void test_jwt_hs256(void **state)
{
    (void)state;
    expect_bad("CRM_JWT_SECRET", NULL);
    expect_bad("CRM_JWT_SECRET", "");
    expect_bad("CRM_JWT_SECRET", "short");
    expect_bad("CRM_JWT_SECRET", "0123456789abcdef0123456789abcde"); /* 31 */
    setenv("CRM_JWT_SECRET", SECRET32 "x", 1);
    struct config cfg;
    load_ok(&cfg);
    assert_int_equal(cfg.jwt_secret_len, 33);
    config_free(&cfg);
    /* Explicit HS256 behaves like the default. */
    setenv("CRM_JWT_ALG", "HS256", 1);
    unsetenv("CRM_JWT_SECRET");
    expect_bad("CRM_JWT_SECRET", NULL);
}

static void test_jwt_alg(void **state)
{
    (void)state;
    expect_bad("CRM_JWT_ALG", "none");
    expect_bad("CRM_JWT_ALG", "HS384");
    expect_bad("CRM_JWT_ALG", "hs256");
    expect_bad("CRM_JWT_ALG", "RS256 ");
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void test_jwt_public_key_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/crm-test-config-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char pub[128], priv[128], empty[128], missing[128], big[128];
    snprintf(pub, sizeof pub, "%s/pub.pem", dir);
    snprintf(priv, sizeof priv, "%s/priv.pem", dir);
    snprintf(empty, sizeof empty, "%s/empty.pem", dir);
    snprintf(missing, sizeof missing, "%s/missing.pem", dir);
    snprintf(big, sizeof big, "%s/big.pem", dir);
    const char *pub_text = "-----BEGIN PUBLIC KEY-----\nnot checked here\n-----END PUBLIC KEY-----\n";
    write_file(pub, pub_text);
    write_file(priv, "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n");
    write_file(empty, "");
    FILE *f = fopen(big, "wb");
    assert_non_null(f);
    for (int i = 0; i < 64 * 1024 + 1; i++)
        fputc('A', f);
    fclose(f);

    unsetenv("CRM_JWT_SECRET");
    setenv("CRM_JWT_ALG", "RS256", 1);
    expect_bad("CRM_JWT_PUBLIC_KEY_FILE", NULL);
    expect_bad("CRM_JWT_PUBLIC_KEY_FILE", "");
    expect_bad("CRM_JWT_PUBLIC_KEY_FILE", missing);
    expect_bad("CRM_JWT_PUBLIC_KEY_FILE", empty);
    expect_bad("CRM_JWT_PUBLIC_KEY_FILE", big);
    expect_bad("CRM_JWT_PUBLIC_KEY_FILE", dir); /* a directory */

    /* Verify-only: a public key and no secret is enough. */
    setenv("CRM_JWT_PUBLIC_KEY_FILE", pub, 1);
    struct config cfg;
    load_ok(&cfg);
    assert_int_equal(cfg.jwt_alg, CRM_JWT_RS256);
    assert_string_equal(cfg.jwt_public_pem, pub_text);
    assert_null(cfg.jwt_private_pem);
    assert_null(cfg.jwt_secret);
    config_free(&cfg);

    expect_bad("CRM_JWT_PRIVATE_KEY_FILE", missing);
    expect_bad("CRM_JWT_PRIVATE_KEY_FILE", empty);
    setenv("CRM_JWT_PRIVATE_KEY_FILE", priv, 1);
    setenv("CRM_JWT_ALG", "ES256", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.jwt_alg, CRM_JWT_ES256);
    assert_non_null(cfg.jwt_private_pem);
    assert_non_null(strstr(cfg.jwt_private_pem, "PRIVATE KEY"));
    config_free(&cfg);

    /* A secret set alongside RS/ES256 is ignored, not an error. */
    setenv("CRM_JWT_SECRET", "short", 1);
    load_ok(&cfg);
    assert_null(cfg.jwt_secret);
    config_free(&cfg);

    unlink(pub);
    unlink(priv);
    unlink(empty);
    unlink(big);
    assert_int_equal(rmdir(dir), 0);
}

static void test_migrate(void **state)
{
    (void)state;
    expect_bad("CRM_MIGRATE", "maybe");
    expect_bad("CRM_MIGRATE", "true");
    expect_bad("CRM_MIGRATE", "1");
    expect_bad("CRM_MIGRATE", "ON");
}

static void test_timezone(void **state)
{
    (void)state;
    /* Rejected by the character rules whatever the system has. */
    expect_bad("CRM_TIMEZONE", "../etc/passwd");
    expect_bad("CRM_TIMEZONE", "Asia/../../etc/passwd");
    expect_bad("CRM_TIMEZONE", "Asia/Shanghai;DROP");
    expect_bad("CRM_TIMEZONE", "Asia Shanghai");
    expect_bad("CRM_TIMEZONE", "Asia/Shanghai\n");
    expect_bad("CRM_TIMEZONE", "Asia/Shang'hai");
    char longtz[80];
    memset(longtz, 'A', sizeof longtz - 1);
    longtz[sizeof longtz - 1] = '\0';
    expect_bad("CRM_TIMEZONE", longtz);
    expect_good("CRM_TIMEZONE", "UTC");
    if (!have_tzdata()) {
        /* The service computes business dates itself: without tzdata only UTC. */
        print_message("no /usr/share/zoneinfo: only UTC is accepted\n");
        expect_bad("CRM_TIMEZONE", "Asia/Shanghai");
        return;
    }
    /* With tzdata present, the name must be a zone file. */
    expect_good("CRM_TIMEZONE", "Etc/GMT+8");
    expect_good("CRM_TIMEZONE", "America/Argentina/Buenos_Aires");
    expect_bad("CRM_TIMEZONE", "Mars/Base");
    expect_bad("CRM_TIMEZONE", "Asia");     /* a directory */
    expect_bad("CRM_TIMEZONE", "/etc/passwd");
    expect_good("CRM_TIMEZONE", "Asia/Shanghai");
    expect_good("CRM_TIMEZONE", "UTC");
}

static void test_admin_password(void **state)
{
    (void)state;
    expect_bad("CRM_ADMIN_PASSWORD", "short");
    expect_bad("CRM_ADMIN_PASSWORD", "elevenchars");
    expect_good("CRM_ADMIN_PASSWORD", "twelve chars");
}

static void test_cors(void **state)
{
    (void)state;
    expect_bad("CRM_CORS_ORIGINS", "ftp://x");
    expect_bad("CRM_CORS_ORIGINS", "https://ok.example,ftp://x");
    expect_bad("CRM_CORS_ORIGINS", "example.com");
    expect_bad("CRM_CORS_ORIGINS", "null");
    expect_bad("CRM_CORS_ORIGINS", "**");

    struct config cfg;
    setenv("CRM_CORS_ORIGINS", " https://a.example ,http://b.example:3000,, ", 1);
    load_ok(&cfg);
    assert_non_null(cfg.cors_origins);
    assert_string_equal(cfg.cors_origins[0], "https://a.example");
    assert_string_equal(cfg.cors_origins[1], "http://b.example:3000");
    assert_null(cfg.cors_origins[2]);
    assert_true(config_cors_allowed(&cfg, "https://a.example"));
    assert_true(config_cors_allowed(&cfg, "http://b.example:3000"));
    assert_false(config_cors_allowed(&cfg, "http://b.example"));
    assert_false(config_cors_allowed(&cfg, "http://a.example"));
    assert_false(config_cors_allowed(&cfg, "https://a.example.evil"));
    assert_false(config_cors_allowed(&cfg, "https://a.exampl"));
    assert_false(config_cors_allowed(&cfg, "HTTPS://A.EXAMPLE"));
    assert_false(config_cors_allowed(&cfg, ""));
    assert_false(config_cors_allowed(&cfg, "null"));
    assert_false(config_cors_allowed(&cfg, NULL));
    config_free(&cfg);

    setenv("CRM_CORS_ORIGINS", "*", 1);
    load_ok(&cfg);
    assert_true(config_cors_allowed(&cfg, "https://anything.example"));
    assert_true(config_cors_allowed(&cfg, "null"));
    assert_false(config_cors_allowed(&cfg, NULL));
    config_free(&cfg);

    /* Unset or empty: no origin is allowed. */
    setenv("CRM_CORS_ORIGINS", "", 1);
    load_ok(&cfg);
    assert_null(cfg.cors_origins[0]);
    assert_false(config_cors_allowed(&cfg, "https://a.example"));
    config_free(&cfg);
    setenv("CRM_CORS_ORIGINS", " , ,", 1);
    load_ok(&cfg);
    assert_null(cfg.cors_origins[0]);
    config_free(&cfg);

    /* A zeroed configuration (never loaded) allows nothing. */
    struct config zero;
    memset(&zero, 0, sizeof zero);
    assert_false(config_cors_allowed(&zero, "https://a.example"));
}

/* The first bad variable in load order is the one reported. */
static void test_first_error_reported(void **state)
{
    (void)state;
    setenv("CRM_THREADS", "0", 1);
    setenv("CRM_MIGRATE", "maybe", 1);
    struct config cfg;
    char err[256];
    assert_int_equal(config_load(&cfg, err, sizeof err), -1);
    assert_int_equal(strncmp(err, "CRM_THREADS: ", 13), 0);
    config_free(&cfg);
    /* A tiny error buffer is truncated, not overrun. */
    char small[8];
    memset(small, 'X', sizeof small);
    assert_int_equal(config_load(&cfg, small, 6), -1);
    assert_string_equal(small, "CRM_T");
    assert_int_equal(small[6], 'X');
    config_free(&cfg);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, reset_env, clean_env)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_overrides),
        T(test_listen),
        T(test_integers),
        T(test_jwt_hs256),
        T(test_jwt_alg),
        T(test_jwt_public_key_files),
        T(test_migrate),
        T(test_timezone),
        T(test_admin_password),
        T(test_cors),
        T(test_first_error_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
