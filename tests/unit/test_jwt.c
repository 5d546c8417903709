/* Unit tests for service/auth/jwt.c.
 *
 * Handcrafted tokens are signed here with OpenSSL directly (sign_* helpers),
 * so every rejection below is for a token whose signature is valid unless
 * the test says otherwise. Tokens from libjwt 1.10 are used only to check
 * interoperability (its ES256 output must be raw R||S). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jwt.h> /* libjwt, interop only; service/auth must not be on the include path */
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "common.h"

#define NOW ((int64_t)1700000000)
#define ISS "crm-service"
#define AUD "crm-api"
#define WORKER_STACK (100 * 1024)

static const unsigned char hs_secret[] = "0123456789abcdef0123456789abcdef"; /* 32 bytes */
#define HS_SECRET_LEN 32

/* ------------------------------------------------------------- fixtures */

struct keypair {
    EVP_PKEY *pkey;
    char *pub_pem;
    char *priv_pem;
};

struct fixture {
    struct keypair rsa, rsa_other, rsa1024, ec, ec_other, ec384;
    struct jwt_keys *hs, *rs, *es; /* all able to sign */
};

static struct fixture F;

static char *bio_to_string(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    assert_true(n > 0);
    return xstrndup(p, (size_t)n);
}

static void keypair_make(struct keypair *kp, const char *type, const char *curve, size_t bits)
{
    if (curve)
        kp->pkey = EVP_PKEY_Q_keygen(NULL, NULL, type, curve);
    else
        kp->pkey = EVP_PKEY_Q_keygen(NULL, NULL, type, bits);
    assert_non_null(kp->pkey);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, kp->pkey), 1);
    kp->pub_pem = bio_to_string(b);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, kp->pkey, NULL, NULL, 0, NULL, NULL), 1);
    kp->priv_pem = bio_to_string(b);
    BIO_free(b);
}

static void keypair_free(struct keypair *kp)
{
    EVP_PKEY_free(kp->pkey);
    free(kp->pub_pem);
    free(kp->priv_pem);
}

static int group_setup(void **state)
{
    (void)state;
    char err[256];
    keypair_make(&F.rsa, "RSA", NULL, 2048);
    keypair_make(&F.rsa_other, "RSA", NULL, 2048);
    keypair_make(&F.rsa1024, "RSA", NULL, 1024);
    keypair_make(&F.ec, "EC", "P-256", 0);
    keypair_make(&F.ec_other, "EC", "P-256", 0);
    keypair_make(&F.ec384, "EC", "P-384", 0);
    F.hs = jwt_keys_new(CRM_JWT_HS256, hs_secret, HS_SECRET_LEN, NULL, NULL, err, sizeof err);
    F.rs = jwt_keys_new(CRM_JWT_RS256, NULL, 0, F.rsa.pub_pem, F.rsa.priv_pem, err, sizeof err);
    F.es = jwt_keys_new(CRM_JWT_ES256, NULL, 0, F.ec.pub_pem, F.ec.priv_pem, err, sizeof err);
    if (!F.hs || !F.rs || !F.es) {
        fprintf(stderr, "key setup failed: %s\n", err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    jwt_keys_free(F.hs);
    jwt_keys_free(F.rs);
    jwt_keys_free(F.es);
    keypair_free(&F.rsa);
    keypair_free(&F.rsa_other);
    keypair_free(&F.rsa1024);
    keypair_free(&F.ec);
    keypair_free(&F.ec_other);
    keypair_free(&F.ec384);
    return 0;
}

/* ---------------------------------------------------- token construction */

enum sig_kind {
    SIG_HS256,      /* HMAC-SHA256 with an arbitrary byte-string key */
    SIG_RS256,      /* RSA PKCS#1 v1.5 SHA-256 */
    SIG_ES256,      /* ECDSA P-256 SHA-256, JWS raw R||S */
    SIG_ES256_DER,  /* ECDSA P-256 SHA-256, DER as OpenSSL emits it (wrong for JWS) */
};

/* Signs data; returns malloc'ed signature bytes. */
static unsigned char *sign_bytes(enum sig_kind kind, const void *hmac_key, size_t hmac_key_len,
                                 EVP_PKEY *pkey, const char *data, size_t n, size_t *sig_len)
{
    if (kind == SIG_HS256) {
        unsigned char *mac = xmalloc(EVP_MAX_MD_SIZE);
        unsigned int mac_len = 0;
        assert_non_null(HMAC(EVP_sha256(), hmac_key, (int)hmac_key_len,
                             (const unsigned char *)data, n, mac, &mac_len));
        *sig_len = mac_len;
        return mac;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t der_len = (size_t)EVP_PKEY_get_size(pkey);
    unsigned char *der = xmalloc(der_len);
    assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, pkey, NULL), 1);
    assert_int_equal(
        EVP_DigestSign(ctx, der, &der_len, (const unsigned char *)data, n), 1);
    EVP_MD_CTX_free(ctx);
    if (kind != SIG_ES256) {
        *sig_len = der_len;
        return der;
    }
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    assert_non_null(es);
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(es, &r, &s);
    unsigned char *raw = xmalloc(64);
    assert_int_equal(BN_bn2binpad(r, raw, 32), 32);
    assert_int_equal(BN_bn2binpad(s, raw + 32, 32), 32);
    ECDSA_SIG_free(es);
    free(der);
    *sig_len = 64;
    return raw;
}

/* "b64(header).b64(payload)" */
static char *signing_input(const char *header, const char *payload)
{
    struct sbuf b = {0};
    char *h = b64url_encode((const unsigned char *)header, strlen(header));
    char *p = b64url_encode((const unsigned char *)payload, strlen(payload));
    sbuf_printf(&b, "%s.%s", h, p);
    free(h);
    free(p);
    return sbuf_take(&b);
}

static char *append_sig(char *input, const unsigned char *sig, size_t sig_len)
{
    struct sbuf b = {0};
    char *s = b64url_encode(sig, sig_len);
    sbuf_printf(&b, "%s.%s", input, s);
    free(s);
    free(input);
    return sbuf_take(&b);
}

static char *make_token_ex(enum sig_kind kind, const void *hmac_key, size_t hmac_key_len,
                           EVP_PKEY *pkey, const char *header, const char *payload)
{
    char *input = signing_input(header, payload);
    size_t sig_len = 0;
    unsigned char *sig =
        sign_bytes(kind, hmac_key, hmac_key_len, pkey, input, strlen(input), &sig_len);
    char *tok = append_sig(input, sig, sig_len);
    free(sig);
    return tok;
}

/* Token signed with the fixture key for kind. */
static char *make_token(enum sig_kind kind, const char *header, const char *payload)
{
    EVP_PKEY *pkey = kind == SIG_RS256 ? F.rsa.pkey : F.ec.pkey;
    return make_token_ex(kind, hs_secret, HS_SECRET_LEN, pkey, header, payload);
}

static const char *HDR_HS = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
static const char *HDR_RS = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
static const char *HDR_ES = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";

/* Standard claims with an optional replacement/extra tail. fmt is appended
 * after the fixed members, so callers add members like ",\"exp\":1". */
static char *claims(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *claims(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    char *tail = xmalloc((size_t)n + 1);
    vsnprintf(tail, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    struct sbuf b = {0};
    sbuf_printf(&b, "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"user-1\",\"role\":\"admin\"%s}", ISS,
                AUD, tail);
    free(tail);
    return sbuf_take(&b);
}

/* Payload with all standard claims valid at NOW. */
static char *good_claims(void)
{
    return claims(",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld", (long long)NOW, (long long)NOW,
                  (long long)(NOW + 600));
}

/* Verifies a copy of token[0..len) in an exact-size heap buffer (no NUL), so
 * ASan catches any read past len. */
static enum jwt_result verify_len(const struct jwt_keys *k, const char *token, size_t len,
                                  int64_t now, struct jwt_claims *out)
{
    char *copy = xmalloc(len);
    memcpy(copy, token, len);
    enum jwt_result r = jwt_verify(k, copy, len, ISS, AUD, now, out);
    free(copy);
    if (r != JWT_OK) {
        /* out must be cleared on failure */
        struct jwt_claims zero;
        memset(&zero, 0, sizeof zero);
        assert_memory_equal(out, &zero, sizeof zero);
    }
    return r;
}

static enum jwt_result verify_at(const struct jwt_keys *k, const char *token, int64_t now)
{
    struct jwt_claims c;
    memset(&c, 0x5a, sizeof c);
    return verify_len(k, token, strlen(token), now, &c);
}

static enum jwt_result verify(const struct jwt_keys *k, const char *token)
{
    return verify_at(k, token, NOW);
}

/* Signs header/payload with kind's fixture key and verifies with keys. */
static enum jwt_result check(const struct jwt_keys *keys, enum sig_kind kind, const char *header,
                             const char *payload)
{
    char *tok = make_token(kind, header, payload);
    enum jwt_result r = verify(keys, tok);
    free(tok);
    return r;
}

/* Same with a standard HS256 header, payload from claims(); frees payload. */
static enum jwt_result check_hs(char *payload)
{
    enum jwt_result r = check(F.hs, SIG_HS256, HDR_HS, payload);
    free(payload);
    return r;
}

/* ------------------------------------------------------------ key setup */

static void test_alg_names(void **state)
{
    (void)state;
    enum jwt_alg_id a;
    assert_string_equal(jwt_alg_name(CRM_JWT_HS256), "HS256");
    assert_string_equal(jwt_alg_name(CRM_JWT_RS256), "RS256");
    assert_string_equal(jwt_alg_name(CRM_JWT_ES256), "ES256");
    assert_int_equal(jwt_alg_parse("RS256", &a), 0);
    assert_int_equal(a, CRM_JWT_RS256);
    assert_int_equal(jwt_alg_parse("ES256", &a), 0);
    assert_int_equal(a, CRM_JWT_ES256);
    assert_int_equal(jwt_alg_parse("HS256", &a), 0);
    assert_int_equal(a, CRM_JWT_HS256);
    assert_int_equal(jwt_alg_parse("none", &a), -1);
    assert_int_equal(jwt_alg_parse("hs256", &a), -1);
    assert_int_equal(jwt_alg_parse("HS512", &a), -1);
    assert_int_equal(jwt_alg_parse("", &a), -1);
    assert_int_equal(jwt_alg_parse(NULL, &a), -1);
    for (int r = JWT_OK; r <= JWT_BAD_CLAIMS; r++) {
        assert_non_null(jwt_result_str((enum jwt_result)r));
        assert_true(strlen(jwt_result_str((enum jwt_result)r)) > 0);
    }
}

static void expect_keys_fail(enum jwt_alg_id alg, const unsigned char *secret, size_t len,
                             const char *pub, const char *priv)
{
    char err[256] = "untouched";
    struct jwt_keys *k = jwt_keys_new(alg, secret, len, pub, priv, err, sizeof err);
    if (k) {
        jwt_keys_free(k);
        fail_msg("jwt_keys_new unexpectedly succeeded");
    }
    assert_true(strlen(err) > 0);
    assert_string_not_equal(err, "untouched");
    assert_null(strchr(err, '\n'));
}

static void test_keys_new_errors(void **state)
{
    (void)state;
    /* HS256 secrets shorter than 32 bytes. */
    expect_keys_fail(CRM_JWT_HS256, hs_secret, 31, NULL, NULL);
    expect_keys_fail(CRM_JWT_HS256, NULL, 32, NULL, NULL);
    expect_keys_fail(CRM_JWT_HS256, hs_secret, 0, NULL, NULL);
    /* Key type must match the algorithm. */
    expect_keys_fail(CRM_JWT_ES256, NULL, 0, F.rsa.pub_pem, NULL);
    expect_keys_fail(CRM_JWT_ES256, NULL, 0, F.rsa.pub_pem, F.rsa.priv_pem);
    expect_keys_fail(CRM_JWT_RS256, NULL, 0, F.ec.pub_pem, NULL);
    expect_keys_fail(CRM_JWT_ES256, NULL, 0, F.ec384.pub_pem, NULL);
    expect_keys_fail(CRM_JWT_RS256, NULL, 0, F.rsa1024.pub_pem, NULL);
    /* Public key required and parseable; a private key PEM is not a public one. */
    expect_keys_fail(CRM_JWT_RS256, NULL, 0, NULL, F.rsa.priv_pem);
    expect_keys_fail(CRM_JWT_RS256, NULL, 0, "not a pem", NULL);
    expect_keys_fail(CRM_JWT_RS256, NULL, 0, "", NULL);
    expect_keys_fail(CRM_JWT_RS256, NULL, 0, F.rsa.priv_pem, NULL);
    /* Private key must match the public key and be of the right type. */
    expect_keys_fail(CRM_JWT_RS256, NULL, 0, F.rsa.pub_pem, F.rsa_other.priv_pem);
    expect_keys_fail(CRM_JWT_ES256, NULL, 0, F.ec.pub_pem, F.ec_other.priv_pem);
    expect_keys_fail(CRM_JWT_ES256, NULL, 0, F.ec.pub_pem, F.rsa.priv_pem);
    expect_keys_fail(CRM_JWT_RS256, NULL, 0, F.rsa.pub_pem, "garbage");
    /* Unknown algorithm value. */
    expect_keys_fail((enum jwt_alg_id)42, hs_secret, 32, NULL, NULL);

    /* An encrypted private key is refused without prompting. */
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, F.ec.pkey, EVP_aes_256_cbc(),
                                              (const unsigned char *)"pw", 2, NULL, NULL),
                     1);
    char *enc = bio_to_string(b);
    BIO_free(b);
    expect_keys_fail(CRM_JWT_ES256, NULL, 0, F.ec.pub_pem, enc);
    free(enc);

    /* NULL err buffer is allowed. */
    assert_null(jwt_keys_new(CRM_JWT_HS256, hs_secret, 31, NULL, NULL, NULL, 0));
    jwt_keys_free(NULL);
    assert_false(jwt_keys_can_sign(NULL));
}

static void test_keys_secret_is_copied(void **state)
{
    (void)state;
    unsigned char secret[40];
    char err[128];
    memset(secret, 'k', sizeof secret);
    struct jwt_keys *k = jwt_keys_new(CRM_JWT_HS256, secret, sizeof secret, NULL, NULL, err,
                                      sizeof err);
    assert_non_null(k);
    char *tok = jwt_issue(k, "u", "r", ISS, AUD, NOW, 60);
    assert_non_null(tok);
    memset(secret, 0, sizeof secret);
    assert_int_equal(verify(k, tok), JWT_OK);
    free(tok);
    jwt_keys_free(k);
}

static void test_verify_only_keys_cannot_sign(void **state)
{
    (void)state;
    char err[256];
    struct jwt_keys *rs =
        jwt_keys_new(CRM_JWT_RS256, NULL, 0, F.rsa.pub_pem, NULL, err, sizeof err);
    struct jwt_keys *es =
        jwt_keys_new(CRM_JWT_ES256, NULL, 0, F.ec.pub_pem, NULL, err, sizeof err);
    assert_non_null(rs);
    assert_non_null(es);
    assert_false(jwt_keys_can_sign(rs));
    assert_false(jwt_keys_can_sign(es));
    assert_true(jwt_keys_can_sign(F.rs));
    assert_true(jwt_keys_can_sign(F.es));
    assert_true(jwt_keys_can_sign(F.hs));
    assert_null(jwt_issue(rs, "u", "r", ISS, AUD, NOW, 60));
    assert_null(jwt_issue(es, "u", "r", ISS, AUD, NOW, 60));

    /* ...but they verify tokens from the signing key set. */
    char *tok = jwt_issue(F.rs, "u", "r", ISS, AUD, NOW, 60);
    assert_int_equal(verify(rs, tok), JWT_OK);
    free(tok);
    tok = jwt_issue(F.es, "u", "r", ISS, AUD, NOW, 60);
    assert_int_equal(verify(es, tok), JWT_OK);
    free(tok);
    jwt_keys_free(rs);
    jwt_keys_free(es);
}

/* ------------------------------------------------------ valid tokens */

static void issue_and_verify(const struct jwt_keys *k, size_t sig_bytes)
{
    char *tok = jwt_issue(k, "user-42", "admin", ISS, AUD, NOW, 900);
    assert_non_null(tok);
    assert_true(strlen(tok) <= JWT_MAX_TOKEN_BYTES);

    /* Signature part has the JWS length for the algorithm. */
    const char *sig = strrchr(tok, '.') + 1;
    size_t n = 0;
    unsigned char *raw = b64url_decode(sig, strlen(sig), &n);
    assert_non_null(raw);
    assert_int_equal(n, sig_bytes);
    free(raw);

    struct jwt_claims c;
    assert_int_equal(verify_len(k, tok, strlen(tok), NOW, &c), JWT_OK);
    assert_string_equal(c.sub, "user-42");
    assert_string_equal(c.role, "admin");
    assert_int_equal(c.exp, NOW + 900);
    assert_int_equal(c.iat, NOW);

    /* Still valid inside the skew after expiry, not beyond. */
    assert_int_equal(verify_at(k, tok, NOW + 900 + 30), JWT_OK);
    assert_int_equal(verify_at(k, tok, NOW + 900 + 31), JWT_EXPIRED);
    assert_int_equal(verify_at(k, tok, NOW - 30), JWT_OK);
    assert_int_equal(verify_at(k, tok, NOW - 31), JWT_NOT_YET_VALID);

    /* Wrong issuer/audience expectations. */
    assert_int_equal(jwt_verify(k, tok, strlen(tok), "other", AUD, NOW, &c), JWT_BAD_ISSUER);
    assert_int_equal(jwt_verify(k, tok, strlen(tok), ISS, "other", NOW, &c), JWT_BAD_AUDIENCE);

    /* The payload carries a jti and the header typ JWT. */
    const char *dot = strchr(tok, '.');
    raw = b64url_decode(tok, (size_t)(dot - tok), &n);
    assert_non_null(strstr((char *)raw, "\"typ\":\"JWT\""));
    free(raw);
    const char *dot2 = strchr(dot + 1, '.');
    raw = b64url_decode(dot + 1, (size_t)(dot2 - dot - 1), &n);
    assert_non_null(strstr((char *)raw, "\"jti\":\""));
    assert_non_null(strstr((char *)raw, "\"nbf\":1700000000"));
    free(raw);
    free(tok);
}

static void test_issue_verify_hs256(void **state)
{
    (void)state;
    issue_and_verify(F.hs, 32);
}

static void test_issue_verify_rs256(void **state)
{
    (void)state;
    issue_and_verify(F.rs, 256);
}

static void test_issue_verify_es256(void **state)
{
    (void)state;
    issue_and_verify(F.es, 64);
    /* Many signatures, so some have R or S below 2^248 and need padding. */
    for (int i = 0; i < 300; i++) {
        char *tok = jwt_issue(F.es, "u", "r", ISS, AUD, NOW, 60);
        assert_non_null(tok);
        assert_int_equal(strlen(strrchr(tok, '.') + 1), 86);
        assert_int_equal(verify(F.es, tok), JWT_OK);
        free(tok);
    }
}

static void test_issue_jti_unique_and_args(void **state)
{
    (void)state;
    char *a = jwt_issue(F.hs, "u", "r", ISS, AUD, NOW, 60);
    char *b = jwt_issue(F.hs, "u", "r", ISS, AUD, NOW, 60);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_not_equal(a, b);
    free(a);
    free(b);

    char sub65[66];
    memset(sub65, 's', 65);
    sub65[65] = '\0';
    assert_null(jwt_issue(F.hs, sub65, "r", ISS, AUD, NOW, 60));
    assert_null(jwt_issue(F.hs, "", "r", ISS, AUD, NOW, 60));
    assert_null(jwt_issue(F.hs, "u", "", ISS, AUD, NOW, 60));
    assert_null(jwt_issue(F.hs, "u", "0123456789012345678901234567890123", ISS, AUD, NOW, 60));
    assert_null(jwt_issue(F.hs, "u", "r", ISS, AUD, NOW, 0));
    assert_null(jwt_issue(F.hs, "u", "r", NULL, AUD, NOW, 60));
    assert_null(jwt_issue(F.hs, "u", "r", ISS, NULL, NOW, 60));
    assert_null(jwt_issue(NULL, "u", "r", ISS, AUD, NOW, 60));
    assert_null(jwt_issue(F.hs, "bad\xff utf8", "r", ISS, AUD, NOW, 60));
    /* Too large to verify, so not issued. */
    char *big_aud = xmalloc(4000);
    memset(big_aud, 'a', 3999);
    big_aud[3999] = '\0';
    assert_null(jwt_issue(F.hs, "u", "r", ISS, big_aud, NOW, 60));
    free(big_aud);

    /* 64-byte sub and 31-byte role are the maxima. */
    char sub64[65];
    memset(sub64, 's', 64);
    sub64[64] = '\0';
    a = jwt_issue(F.hs, sub64, "0123456789012345678901234567890", ISS, AUD, NOW, 60);
    assert_non_null(a);
    struct jwt_claims c;
    assert_int_equal(verify_len(F.hs, a, strlen(a), NOW, &c), JWT_OK);
    assert_string_equal(c.sub, sub64);
    assert_string_equal(c.role, "0123456789012345678901234567890");
    free(a);
}

static void test_handcrafted_valid_all_algs(void **state)
{
    (void)state;
    char *pl = good_claims();
    assert_int_equal(check(F.hs, SIG_HS256, HDR_HS, pl), JWT_OK);
    assert_int_equal(check(F.rs, SIG_RS256, HDR_RS, pl), JWT_OK);
    assert_int_equal(check(F.es, SIG_ES256, HDR_ES, pl), JWT_OK);
    /* typ is optional; unknown header members are ignored. */
    assert_int_equal(check(F.hs, SIG_HS256, "{\"alg\":\"HS256\"}", pl), JWT_OK);
    assert_int_equal(check(F.hs, SIG_HS256, "{\"kid\":\"k1\",\"alg\":\"HS256\"}", pl), JWT_OK);
    free(pl);
}

/* Tokens produced by libjwt 1.10 verify; its ES256 output is raw R||S. */
static char *libjwt_token(jwt_alg_t alg, const unsigned char *key, size_t key_len)
{
    jwt_t *j = NULL;
    assert_int_equal(jwt_new(&j), 0);
    assert_int_equal(jwt_add_grant(j, "iss", ISS), 0);
    assert_int_equal(jwt_add_grant(j, "aud", AUD), 0);
    assert_int_equal(jwt_add_grant(j, "sub", "lib-user"), 0);
    assert_int_equal(jwt_add_grant(j, "role", "viewer"), 0);
    assert_int_equal(jwt_add_grant_int(j, "iat", (long)NOW), 0);
    assert_int_equal(jwt_add_grant_int(j, "exp", (long)(NOW + 60)), 0);
    assert_int_equal(jwt_set_alg(j, alg, key, (int)key_len), 0);
    char *tok = jwt_encode_str(j);
    assert_non_null(tok);
    jwt_free(j);
    char *copy = xstrdup(tok);
    free(tok);
    return copy;
}

static void test_libjwt_interop(void **state)
{
    (void)state;
    struct jwt_claims c;
    char *tok = libjwt_token(JWT_ALG_HS256, hs_secret, HS_SECRET_LEN);
    assert_int_equal(verify_len(F.hs, tok, strlen(tok), NOW, &c), JWT_OK);
    assert_string_equal(c.sub, "lib-user");
    free(tok);

    tok = libjwt_token(JWT_ALG_RS256, (const unsigned char *)F.rsa.priv_pem,
                       strlen(F.rsa.priv_pem));
    assert_int_equal(verify(F.rs, tok), JWT_OK);
    free(tok);

    for (int i = 0; i < 200; i++) {
        tok = libjwt_token(JWT_ALG_ES256, (const unsigned char *)F.ec.priv_pem,
                           strlen(F.ec.priv_pem));
        const char *sig = strrchr(tok, '.') + 1;
        size_t n = 0;
        unsigned char *raw = b64url_decode(sig, strlen(sig), &n);
        assert_non_null(raw);
        assert_int_equal(n, 64); /* raw R||S, not DER */
        free(raw);
        assert_int_equal(verify(F.es, tok), JWT_OK);
        free(tok);
    }
}

/* --------------------------------------------- algorithm confusion */

static void test_alg_none_rejected(void **state)
{
    (void)state;
    char *pl = good_claims();
    const char *none = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    /* Unsecured JWS: empty signature. */
    char *tok = append_sig(signing_input(none, pl), NULL, 0);
    assert_true(tok[strlen(tok) - 1] == '.');
    assert_int_equal(verify(F.hs, tok), JWT_MALFORMED);
    assert_int_equal(verify(F.rs, tok), JWT_MALFORMED);
    assert_int_equal(verify(F.es, tok), JWT_MALFORMED);
    free(tok);
    /* alg none with a garbage signature. */
    unsigned char junk[32] = {1, 2, 3};
    tok = append_sig(signing_input(none, pl), junk, sizeof junk);
    assert_int_equal(verify(F.hs, tok), JWT_BAD_SIGNATURE);
    free(tok);
    /* alg none even with a valid HMAC under the configured key. */
    assert_int_equal(check(F.hs, SIG_HS256, none, pl), JWT_BAD_ALG);
    assert_int_equal(check(F.hs, SIG_HS256, "{\"alg\":\"None\"}", pl), JWT_BAD_ALG);
    free(pl);
}

static void test_hs256_with_public_key_as_secret(void **state)
{
    (void)state;
    char *pl = good_claims();
    /* Classic confusion: HMAC keyed with the verifier's public PEM text. */
    char *tok = make_token_ex(SIG_HS256, F.rsa.pub_pem, strlen(F.rsa.pub_pem), NULL, HDR_HS, pl);
    assert_int_equal(verify(F.rs, tok), JWT_BAD_SIGNATURE);
    free(tok);
    tok = make_token_ex(SIG_HS256, F.rsa.pub_pem, strlen(F.rsa.pub_pem), NULL, HDR_RS, pl);
    assert_int_equal(verify(F.rs, tok), JWT_BAD_SIGNATURE);
    free(tok);
    tok = make_token_ex(SIG_HS256, F.ec.pub_pem, strlen(F.ec.pub_pem), NULL, HDR_HS, pl);
    assert_int_equal(verify(F.es, tok), JWT_BAD_SIGNATURE);
    free(tok);
    /* And tokens for the other algorithms do not pass the HS256 verifier. */
    assert_int_equal(check(F.hs, SIG_RS256, HDR_RS, pl), JWT_BAD_SIGNATURE);
    assert_int_equal(check(F.hs, SIG_ES256, HDR_ES, pl), JWT_BAD_SIGNATURE);
    assert_int_equal(check(F.rs, SIG_ES256, HDR_ES, pl), JWT_BAD_SIGNATURE);
    assert_int_equal(check(F.es, SIG_RS256, HDR_RS, pl), JWT_BAD_SIGNATURE);
    free(pl);
}

static void test_wrong_alg_header_valid_signature(void **state)
{
    (void)state;
    char *pl = good_claims();
    assert_int_equal(check(F.hs, SIG_HS256, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", pl),
                     JWT_BAD_ALG);
    assert_int_equal(check(F.hs, SIG_HS256, "{\"alg\":\"hs256\"}", pl), JWT_BAD_ALG);
    assert_int_equal(check(F.hs, SIG_HS256, "{\"alg\":\"RS256\"}", pl), JWT_BAD_ALG);
    assert_int_equal(check(F.hs, SIG_HS256, "{\"alg\":\"HS256 \"}", pl), JWT_BAD_ALG);
    assert_int_equal(check(F.hs, SIG_HS256, "{\"typ\":\"JWT\"}", pl), JWT_BAD_ALG);
    assert_int_equal(check(F.hs, SIG_HS256, "{\"alg\":256}", pl), JWT_BAD_ALG);
    assert_int_equal(check(F.hs, SIG_HS256, "{\"alg\":[\"HS256\"]}", pl), JWT_BAD_ALG);
    assert_int_equal(check(F.rs, SIG_RS256, "{\"alg\":\"PS256\"}", pl), JWT_BAD_ALG);
    assert_int_equal(check(F.rs, SIG_RS256, "{\"alg\":\"HS256\"}", pl), JWT_BAD_ALG);
    assert_int_equal(check(F.es, SIG_ES256, "{\"alg\":\"ES384\"}", pl), JWT_BAD_ALG);
    /* Other header rules. */
    assert_int_equal(check(F.hs, SIG_HS256, "{\"alg\":\"HS256\",\"typ\":\"JWS\"}", pl),
                     JWT_MALFORMED);
    assert_int_equal(check(F.hs, SIG_HS256, "{\"alg\":\"HS256\",\"typ\":1}", pl), JWT_MALFORMED);
    assert_int_equal(check(F.hs, SIG_HS256, "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", pl),
                     JWT_MALFORMED);
    assert_int_equal(check(F.hs, SIG_HS256, "{\"alg\":\"HS256\",\"alg\":\"HS256\"}", pl),
                     JWT_MALFORMED);
    assert_int_equal(check(F.hs, SIG_HS256, "[\"HS256\"]", pl), JWT_MALFORMED);
    assert_int_equal(check(F.hs, SIG_HS256, "\"HS256\"", pl), JWT_MALFORMED);
    assert_int_equal(check(F.hs, SIG_HS256, "{\"alg\":\"HS256\"} x", pl), JWT_MALFORMED);
    assert_int_equal(check(F.hs, SIG_HS256, "not json", pl), JWT_MALFORMED);
    assert_int_equal(check(F.hs, SIG_HS256, "{\"alg\":\"HS256\",\"x\":[[[[1]]]]}", pl),
                     JWT_MALFORMED);
    free(pl);
}

/* ------------------------------------------------------ signatures */

static void test_tampered_token(void **state)
{
    (void)state;
    const struct jwt_keys *keys[] = {F.hs, F.rs, F.es};
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        char *tok = jwt_issue(keys[i], "user-1", "viewer", ISS, AUD, NOW, 60);
        assert_non_null(tok);
        assert_int_equal(verify(keys[i], tok), JWT_OK);

        /* Replace the payload with one granting admin; keep the signature. */
        char *evil = claims(",\"exp\":%lld", (long long)(NOW + 60));
        char *evil64 = b64url_encode((const unsigned char *)evil, strlen(evil));
        const char *dot1 = strchr(tok, '.');
        const char *dot2 = strchr(dot1 + 1, '.');
        struct sbuf b = {0};
        sbuf_append(&b, tok, (size_t)(dot1 - tok) + 1);
        sbuf_puts(&b, evil64);
        sbuf_puts(&b, dot2);
        char *forged = sbuf_take(&b);
        assert_int_equal(verify(keys[i], forged), JWT_BAD_SIGNATURE);
        free(forged);
        free(evil);
        free(evil64);

        /* Flip one bit in a payload character and in the signature. */
        char *t2 = xstrdup(tok);
        size_t pos = (size_t)(dot1 - tok) + 5;
        t2[pos] = t2[pos] == 'A' ? 'B' : 'A';
        assert_int_equal(verify(keys[i], t2), JWT_BAD_SIGNATURE);
        free(t2);
        t2 = xstrdup(tok);
        pos = (size_t)(dot2 - tok) + 3;
        t2[pos] = t2[pos] == 'A' ? 'B' : 'A';
        assert_int_equal(verify(keys[i], t2), JWT_BAD_SIGNATURE);
        free(t2);

        /* A token from a different key set of the same algorithm. */
        free(tok);
    }
    char err[256];
    struct jwt_keys *other =
        jwt_keys_new(CRM_JWT_RS256, NULL, 0, F.rsa_other.pub_pem, NULL, err, sizeof err);
    assert_non_null(other);
    char *tok = jwt_issue(F.rs, "u", "r", ISS, AUD, NOW, 60);
    assert_int_equal(verify(other, tok), JWT_BAD_SIGNATURE);
    free(tok);
    jwt_keys_free(other);
}

static void test_signature_lengths(void **state)
{
    (void)state;
    char *pl = good_claims();
    char *input = signing_input(HDR_ES, pl);
    size_t sig_len = 0;

    /* DER-encoded ECDSA signature (valid, but not JWS format). */
    unsigned char *der =
        sign_bytes(SIG_ES256_DER, NULL, 0, F.ec.pkey, input, strlen(input), &sig_len);
    assert_true(sig_len != 64);
    char *tok = append_sig(xstrdup(input), der, sig_len);
    assert_int_equal(verify(F.es, tok), JWT_BAD_SIGNATURE);
    free(tok);
    free(der);

    /* Raw signature with one byte removed / added. */
    unsigned char *raw = sign_bytes(SIG_ES256, NULL, 0, F.ec.pkey, input, strlen(input), &sig_len);
    assert_int_equal(sig_len, 64);
    tok = append_sig(xstrdup(input), raw, 64);
    assert_int_equal(verify(F.es, tok), JWT_OK);
    free(tok);
    tok = append_sig(xstrdup(input), raw, 63);
    assert_int_equal(verify(F.es, tok), JWT_BAD_SIGNATURE);
    free(tok);
    unsigned char longer[65];
    memcpy(longer, raw, 64);
    longer[64] = 0;
    tok = append_sig(xstrdup(input), longer, 65);
    assert_int_equal(verify(F.es, tok), JWT_BAD_SIGNATURE);
    free(tok);
    /* R = S = 0 and R = S = 0xff..ff (>= n) are invalid. */
    unsigned char zeros[64] = {0};
    tok = append_sig(xstrdup(input), zeros, 64);
    assert_int_equal(verify(F.es, tok), JWT_BAD_SIGNATURE);
    free(tok);
    unsigned char ones[64];
    memset(ones, 0xff, sizeof ones);
    tok = append_sig(xstrdup(input), ones, 64);
    assert_int_equal(verify(F.es, tok), JWT_BAD_SIGNATURE);
    free(tok);
    free(raw);
    free(input);

    /* RS256 signature must be exactly the modulus length. */
    input = signing_input(HDR_RS, pl);
    raw = sign_bytes(SIG_RS256, NULL, 0, F.rsa.pkey, input, strlen(input), &sig_len);
    assert_int_equal(sig_len, 256);
    tok = append_sig(xstrdup(input), raw, 255);
    assert_int_equal(verify(F.rs, tok), JWT_BAD_SIGNATURE);
    free(tok);
    unsigned char *padded = xcalloc(1, 257);
    memcpy(padded + 1, raw, 256);
    tok = append_sig(xstrdup(input), padded, 257);
    assert_int_equal(verify(F.rs, tok), JWT_BAD_SIGNATURE);
    free(tok);
    free(padded);
    free(raw);
    free(input);

    /* HS256 truncated MAC. */
    input = signing_input(HDR_HS, pl);
    raw = sign_bytes(SIG_HS256, hs_secret, HS_SECRET_LEN, NULL, input, strlen(input), &sig_len);
    tok = append_sig(xstrdup(input), raw, 16);
    assert_int_equal(verify(F.hs, tok), JWT_BAD_SIGNATURE);
    free(tok);
    free(raw);
    free(input);
    free(pl);
}

/* ------------------------------------------------------------ claims */

static void test_time_claims(void **state)
{
    (void)state;
    long long now = (long long)NOW;
    /* exp */
    assert_int_equal(check_hs(claims(",\"exp\":%lld", now - 31)), JWT_EXPIRED);
    assert_int_equal(check_hs(claims(",\"exp\":%lld", now - 3600)), JWT_EXPIRED);
    assert_int_equal(check_hs(claims(",\"exp\":%lld", now - 30)), JWT_OK);
    assert_int_equal(check_hs(claims(",\"exp\":%lld", now - 10)), JWT_OK);
    assert_int_equal(check_hs(claims("%s", "")), JWT_BAD_CLAIMS);
    assert_int_equal(check_hs(claims(",\"exp\":\"%lld\"", now + 60)), JWT_BAD_CLAIMS);
    assert_int_equal(check_hs(claims(",\"exp\":null")), JWT_BAD_CLAIMS);
    assert_int_equal(check_hs(claims(",\"exp\":true")), JWT_BAD_CLAIMS);
    assert_int_equal(check_hs(claims(",\"exp\":[%lld]", now + 60)), JWT_BAD_CLAIMS);
    assert_int_equal(check_hs(claims(",\"exp\":%lld.5", now + 60)), JWT_OK);
    assert_int_equal(check_hs(claims(",\"exp\":%lld.5", now - 31)), JWT_EXPIRED);
    assert_int_equal(check_hs(claims(",\"exp\":1e300")), JWT_OK);
    assert_int_equal(check_hs(claims(",\"exp\":-1e300")), JWT_EXPIRED);
    assert_int_equal(check_hs(claims(",\"exp\":-9223372036854775808")), JWT_EXPIRED);
    assert_int_equal(check_hs(claims(",\"exp\":9223372036854775807")), JWT_OK);
    assert_int_equal(check_hs(claims(",\"exp\":99999999999999999999")), JWT_MALFORMED);
    /* nbf */
    assert_int_equal(check_hs(claims(",\"exp\":%lld,\"nbf\":%lld", now + 600, now + 31)),
                     JWT_NOT_YET_VALID);
    assert_int_equal(check_hs(claims(",\"exp\":%lld,\"nbf\":%lld", now + 600, now + 30)), JWT_OK);
    assert_int_equal(check_hs(claims(",\"exp\":%lld,\"nbf\":%lld.5", now + 600, now + 30)),
                     JWT_NOT_YET_VALID);
    assert_int_equal(check_hs(claims(",\"exp\":%lld,\"nbf\":\"0\"", now + 600)), JWT_BAD_CLAIMS);
    /* iat */
    assert_int_equal(check_hs(claims(",\"exp\":%lld,\"iat\":%lld", now + 600, now + 31)),
                     JWT_NOT_YET_VALID);
    assert_int_equal(check_hs(claims(",\"exp\":%lld,\"iat\":%lld", now + 600, now + 30)), JWT_OK);
    assert_int_equal(check_hs(claims(",\"exp\":%lld,\"iat\":%lld", now + 600, now - 86400)),
                     JWT_OK);
    assert_int_equal(check_hs(claims(",\"exp\":%lld,\"iat\":null", now + 600)), JWT_BAD_CLAIMS);
}

/* jwt_claims_current (the router's cache of verified tokens re-checks time
 * with it) agrees with jwt_verify at every second around the edges. */
static void test_claims_current_matches_verify(void **state)
{
    (void)state;
    long long now = (long long)NOW;
    char *payloads[] = {
        claims(",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld", now - 10, now + 20, now + 600),
        claims(",\"iat\":%lld,\"exp\":%lld", now + 25, now + 100),
        claims(",\"exp\":%lld", now + 5),
        claims(",\"nbf\":%lld.5,\"exp\":%lld.5", now - 1, now + 50),
    };
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        char *tok = make_token(SIG_HS256, HDR_HS, payloads[i]);
        struct jwt_claims c;
        assert_int_equal(jwt_verify(F.hs, tok, strlen(tok), ISS, AUD, NOW, &c), JWT_OK);
        int changes = 0;
        bool last = true;
        for (int64_t t = NOW - 120; t <= NOW + 720; t++) {
            bool ok = verify_at(F.hs, tok, t) == JWT_OK;
            assert_int_equal(jwt_claims_current(&c, t), ok);
            changes += ok != last;
            last = ok;
        }
        assert_true(changes >= 1); /* the range crosses the window's end (and its start, where it has one) */
        free(tok);
        free(payloads[i]);
    }
}

static char *payload_with(const char *iss_aud, const char *sub_role)
{
    struct sbuf b = {0};
    sbuf_printf(&b, "{%s,%s,\"exp\":%lld}", iss_aud, sub_role, (long long)(NOW + 600));
    return sbuf_take(&b);
}

static void test_iss_aud_claims(void **state)
{
    (void)state;
    const char *sr = "\"sub\":\"u\",\"role\":\"r\"";
    assert_int_equal(check_hs(payload_with("\"iss\":\"crm-service\",\"aud\":\"crm-api\"", sr)),
                     JWT_OK);
    assert_int_equal(check_hs(payload_with("\"iss\":\"evil\",\"aud\":\"crm-api\"", sr)),
                     JWT_BAD_ISSUER);
    assert_int_equal(check_hs(payload_with("\"iss\":\"crm-service \",\"aud\":\"crm-api\"", sr)),
                     JWT_BAD_ISSUER);
    assert_int_equal(check_hs(payload_with("\"aud\":\"crm-api\",\"x\":1", sr)), JWT_BAD_ISSUER);
    assert_int_equal(check_hs(payload_with("\"iss\":[\"crm-service\"],\"aud\":\"crm-api\"", sr)),
                     JWT_BAD_ISSUER);
    assert_int_equal(check_hs(payload_with("\"iss\":\"crm-service\",\"aud\":\"other\"", sr)),
                     JWT_BAD_AUDIENCE);
    assert_int_equal(check_hs(payload_with("\"iss\":\"crm-service\",\"x\":1", sr)),
                     JWT_BAD_AUDIENCE);
    assert_int_equal(check_hs(payload_with("\"iss\":\"crm-service\",\"aud\":7", sr)),
                     JWT_BAD_AUDIENCE);
    assert_int_equal(
        check_hs(payload_with("\"iss\":\"crm-service\",\"aud\":[\"a\",1,\"crm-api\"]", sr)),
        JWT_OK);
    assert_int_equal(check_hs(payload_with("\"iss\":\"crm-service\",\"aud\":[\"a\",\"b\"]", sr)),
                     JWT_BAD_AUDIENCE);
    assert_int_equal(check_hs(payload_with("\"iss\":\"crm-service\",\"aud\":[]", sr)),
                     JWT_BAD_AUDIENCE);
    /* NULL expectations fail closed. */
    char *tok = jwt_issue(F.hs, "u", "r", ISS, AUD, NOW, 60);
    struct jwt_claims c;
    assert_int_equal(jwt_verify(F.hs, tok, strlen(tok), NULL, AUD, NOW, &c), JWT_BAD_ISSUER);
    assert_int_equal(jwt_verify(F.hs, tok, strlen(tok), ISS, NULL, NOW, &c), JWT_BAD_AUDIENCE);
    free(tok);
}

static void test_sub_role_claims(void **state)
{
    (void)state;
    const char *ia = "\"iss\":\"crm-service\",\"aud\":\"crm-api\"";
    char big[200];
    assert_int_equal(check_hs(payload_with(ia, "\"role\":\"r\",\"x\":1")), JWT_BAD_CLAIMS);
    assert_int_equal(check_hs(payload_with(ia, "\"sub\":\"\",\"role\":\"r\"")), JWT_BAD_CLAIMS);
    assert_int_equal(check_hs(payload_with(ia, "\"sub\":42,\"role\":\"r\"")), JWT_BAD_CLAIMS);
    assert_int_equal(check_hs(payload_with(ia, "\"sub\":\"u\",\"x\":1")), JWT_BAD_CLAIMS);
    assert_int_equal(check_hs(payload_with(ia, "\"sub\":\"u\",\"role\":\"\"")), JWT_BAD_CLAIMS);
    assert_int_equal(check_hs(payload_with(ia, "\"sub\":\"u\",\"role\":[\"admin\"]")),
                     JWT_BAD_CLAIMS);
    snprintf(big, sizeof big, "\"sub\":\"%065d\",\"role\":\"r\"", 0);
    assert_int_equal(check_hs(payload_with(ia, big)), JWT_BAD_CLAIMS);
    snprintf(big, sizeof big, "\"sub\":\"%064d\",\"role\":\"r\"", 0);
    assert_int_equal(check_hs(payload_with(ia, big)), JWT_OK);
    snprintf(big, sizeof big, "\"sub\":\"u\",\"role\":\"%032d\"", 0);
    assert_int_equal(check_hs(payload_with(ia, big)), JWT_BAD_CLAIMS);
    snprintf(big, sizeof big, "\"sub\":\"u\",\"role\":\"%031d\"", 0);
    assert_int_equal(check_hs(payload_with(ia, big)), JWT_OK);
    /* Escapes are decoded; an embedded NUL is refused by the parser. */
    assert_int_equal(check_hs(payload_with(ia, "\"sub\":\"u\\u0000x\",\"role\":\"r\"")),
                     JWT_MALFORMED);
    char *pl = payload_with(ia, "\"sub\":\"\\u00e9\\\"q\",\"role\":\"r\"");
    char *tok = make_token(SIG_HS256, HDR_HS, pl);
    struct jwt_claims c;
    assert_int_equal(verify_len(F.hs, tok, strlen(tok), NOW, &c), JWT_OK);
    assert_string_equal(c.sub, "\xc3\xa9\"q");
    assert_int_equal(c.iat, 0);
    free(tok);
    free(pl);
}

static void test_duplicate_keys_rejected(void **state)
{
    (void)state;
    /* The last "role" would win in libjwt; we refuse the token. */
    char *pl = claims(",\"exp\":%lld,\"role\":\"superadmin\"", (long long)(NOW + 600));
    assert_non_null(strstr(pl, "\"role\":\"admin\""));
    assert_int_equal(check_hs(pl), JWT_MALFORMED);
    assert_int_equal(check_hs(claims(",\"exp\":%lld,\"exp\":%lld", (long long)(NOW + 600),
                                     (long long)(NOW + 99999))),
                     JWT_MALFORMED);
    assert_int_equal(check_hs(claims(",\"exp\":%lld,\"x\":{\"a\":1,\"a\":2}",
                                     (long long)(NOW + 600))),
                     JWT_MALFORMED);
    assert_int_equal(check_hs(xstrdup("[1,2,3]")), JWT_MALFORMED);
    assert_int_equal(check_hs(xstrdup("42")), JWT_MALFORMED);
    assert_int_equal(check_hs(xstrdup("{\"exp\":1")), JWT_MALFORMED);
    assert_int_equal(check_hs(claims(",\"exp\":%lld} ", (long long)(NOW + 600))), JWT_MALFORMED);
}

/* ------------------------------------------------------ deep nesting */

struct verify_job {
    const struct jwt_keys *keys;
    const char *token;
    enum jwt_result result;
    struct jwt_claims claims;
};

static void *verify_job_run(void *arg)
{
    struct verify_job *j = arg;
    j->result = jwt_verify(j->keys, j->token, strlen(j->token), ISS, AUD, NOW, &j->claims);
    return NULL;
}

/* Runs jwt_verify on a thread with a worker-sized stack. */
static enum jwt_result verify_on_small_stack(const struct jwt_keys *k, const char *token)
{
    pthread_attr_t attr;
    pthread_t th;
    struct verify_job job = {.keys = k, .token = token, .result = JWT_OK};
    assert_int_equal(pthread_attr_init(&attr), 0);
    assert_int_equal(pthread_attr_setstacksize(&attr, WORKER_STACK), 0);
    assert_int_equal(pthread_create(&th, &attr, verify_job_run, &job), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    pthread_attr_destroy(&attr);
    return job.result;
}

static char *nested(int depth, const char *open, const char *close)
{
    struct sbuf b = {0};
    for (int i = 0; i < depth; i++)
        sbuf_puts(&b, open);
    sbuf_puts(&b, "1");
    for (int i = 0; i < depth; i++)
        sbuf_puts(&b, close);
    return sbuf_take(&b);
}

static void test_deep_nesting_small_stack(void **state)
{
    (void)state;
    /* Payloads nested 1000 and 1400 deep, validly signed, verified on a
     * 100 KiB stack. (Measured: Jansson 2.14 alone parses 1000 deep on such
     * a stack but segfaults from about 1300; 1400 still fits in 4096 bytes.) */
    char *deep, *pl, *tok;
    static const int depths[] = {1000, 1400};
    for (size_t i = 0; i < ARRAY_LEN(depths); i++) {
        deep = nested(depths[i], "[", "]");
        pl = claims(",\"exp\":%lld,\"x\":%s", (long long)(NOW + 600), deep);
        tok = make_token(SIG_HS256, HDR_HS, pl);
        assert_true(strlen(tok) <= JWT_MAX_TOKEN_BYTES);
        assert_int_equal(verify_on_small_stack(F.hs, tok), JWT_MALFORMED);
        free(tok);
        free(pl);
        free(deep);
    }

    /* Nested objects, ES256. */
    deep = nested(400, "{\"a\":", "}");
    pl = claims(",\"exp\":%lld,\"x\":%s", (long long)(NOW + 600), deep);
    free(deep);
    tok = make_token(SIG_ES256, HDR_ES, pl);
    assert_true(strlen(tok) <= JWT_MAX_TOKEN_BYTES);
    assert_int_equal(verify_on_small_stack(F.es, tok), JWT_MALFORMED);
    free(tok);
    free(pl);

    /* Deep header. */
    deep = nested(1000, "[", "]");
    struct sbuf h = {0};
    sbuf_printf(&h, "{\"alg\":\"HS256\",\"x\":%s}", deep);
    char *hdr = sbuf_take(&h);
    pl = good_claims();
    tok = make_token(SIG_HS256, hdr, pl);
    assert_int_equal(verify_on_small_stack(F.hs, tok), JWT_MALFORMED);
    free(tok);
    free(pl);
    free(hdr);
    free(deep);

    /* Nesting bounds: the payload object plus 7 levels is fine, 8 is not. */
    deep = nested(7, "[", "]");
    pl = claims(",\"exp\":%lld,\"x\":%s", (long long)(NOW + 600), deep);
    assert_int_equal(check_hs(pl), JWT_OK);
    free(deep);
    deep = nested(8, "[", "]");
    pl = claims(",\"exp\":%lld,\"x\":%s", (long long)(NOW + 600), deep);
    assert_int_equal(check_hs(pl), JWT_MALFORMED);
    free(deep);
    /* Brackets inside strings do not count. */
    pl = claims(",\"exp\":%lld,\"x\":\"[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{\"", (long long)(NOW + 600));
    assert_int_equal(check_hs(pl), JWT_OK);

    /* All three algorithms verify normally on a worker-sized stack. */
    const struct jwt_keys *keys[] = {F.hs, F.rs, F.es};
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        tok = jwt_issue(keys[i], "u", "r", ISS, AUD, NOW, 60);
        assert_int_equal(verify_on_small_stack(keys[i], tok), JWT_OK);
        free(tok);
    }
}

/* ---------------------------------------------------------- structure */

static void test_structure(void **state)
{
    (void)state;
    struct jwt_claims c;
    char *good = jwt_issue(F.hs, "u", "r", ISS, AUD, NOW, 60);
    size_t glen = strlen(good);
    assert_int_equal(verify(F.hs, good), JWT_OK);

    /* Too large: checked before anything else. */
    char *big = xmalloc(JWT_MAX_TOKEN_BYTES + 2);
    memset(big, 'A', JWT_MAX_TOKEN_BYTES + 1);
    big[JWT_MAX_TOKEN_BYTES + 1] = '\0';
    assert_int_equal(verify(F.hs, big), JWT_TOO_LARGE);
    free(big);
    /* A validly signed token just over the limit. */
    char filler[4200];
    memset(filler, 'f', 3000);
    filler[3000] = '\0';
    char *pl = claims(",\"exp\":%lld,\"pad\":\"%s\"", (long long)(NOW + 600), filler);
    char *tok = make_token(SIG_HS256, HDR_HS, pl);
    assert_true(strlen(tok) > JWT_MAX_TOKEN_BYTES);
    assert_int_equal(verify(F.hs, tok), JWT_TOO_LARGE);
    free(tok);
    free(pl);

    /* Padding. */
    struct sbuf b = {0};
    sbuf_printf(&b, "%s=", good);
    tok = sbuf_take(&b);
    assert_int_equal(verify(F.hs, tok), JWT_MALFORMED);
    free(tok);
    const char *dot1 = strchr(good, '.');
    sbuf_append(&b, good, (size_t)(dot1 - good));
    sbuf_puts(&b, "==");
    sbuf_puts(&b, dot1);
    tok = sbuf_take(&b);
    assert_int_equal(verify(F.hs, tok), JWT_MALFORMED);
    free(tok);

    /* Empty parts and wrong part counts. */
    const char *bad[] = {"",       ".",      "..",    "...",   "a.b",  "a.b.c.d", ".b.c",
                         "a..c",   "a.b.",   "abc",   "a.b.c.", "e30.e30.", "e30..AAAA"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (verify(F.hs, bad[i]) != JWT_MALFORMED)
            fail_msg("not MALFORMED: '%s'", bad[i]);
    }

    /* Non-base64url characters anywhere. */
    const char bad_chars[] = {'+', '/', ' ', '\n', '\t', '"', '\\', '\x80', '\xff', '\0', '%'};
    for (size_t i = 0; i < sizeof bad_chars; i++) {
        for (size_t at = 0; at < 3; at++) {
            char *t = xstrdup(good);
            size_t pos = at == 0 ? 2 : at == 1 ? (size_t)(dot1 - good) + 2 : glen - 2;
            t[pos] = bad_chars[i];
            assert_int_equal(verify_len(F.hs, t, glen, NOW, &c), JWT_MALFORMED);
            free(t);
        }
    }

    /* Non-canonical base64url (nonzero trailing bits) in the signature. */
    char *t = xstrdup(good);
    char last = t[glen - 1];
    t[glen - 1] = (char)(last == 'Q' ? 'R' : last + 1);
    assert_int_equal(verify(F.hs, t), JWT_MALFORMED);
    free(t);
    /* Signature part with a length of 1 mod 4 (43 + 2) cannot be base64. */
    sbuf_printf(&b, "%sAA", good);
    t = sbuf_take(&b);
    assert_int_equal(verify(F.hs, t), JWT_MALFORMED);
    free(t);
    /* One extra full byte (43 + 1 = 44 chars, 33 bytes): wrong MAC length. */
    sbuf_printf(&b, "%sA", good);
    t = sbuf_take(&b);
    assert_int_equal(verify(F.hs, t), JWT_BAD_SIGNATURE);
    free(t);

    /* Only len bytes are read: trailing bytes beyond len are ignored. */
    sbuf_printf(&b, "%s.trailing garbage", good);
    t = sbuf_take(&b);
    assert_int_equal(jwt_verify(F.hs, t, glen, ISS, AUD, NOW, &c), JWT_OK);
    assert_int_not_equal(verify_len(F.hs, t, glen - 1, NOW, &c), JWT_OK);
    free(t);

    /* NULL arguments. */
    assert_int_equal(jwt_verify(NULL, good, glen, ISS, AUD, NOW, &c), JWT_MALFORMED);
    assert_int_equal(jwt_verify(F.hs, NULL, 0, ISS, AUD, NOW, &c), JWT_MALFORMED);
    assert_int_equal(jwt_verify(F.hs, good, glen, ISS, AUD, NOW, NULL), JWT_MALFORMED);
    free(good);
}

/* ------------------------------------------------------- concurrency */

struct loop_job {
    const struct jwt_keys *keys;
    int failures;
};

static void *verify_loop(void *arg)
{
    struct loop_job *j = arg;
    for (int i = 0; i < 50; i++) {
        char *tok = jwt_issue(j->keys, "u", "r", ISS, AUD, NOW, 60);
        struct jwt_claims c;
        if (!tok || jwt_verify(j->keys, tok, strlen(tok), ISS, AUD, NOW, &c) != JWT_OK)
            j->failures++;
        free(tok);
    }
    return NULL;
}

static void test_shared_keys_across_threads(void **state)
{
    (void)state;
    enum { N = 6 };
    pthread_t th[N];
    struct loop_job jobs[N];
    const struct jwt_keys *keys[] = {F.hs, F.rs, F.es};
    for (int i = 0; i < N; i++) {
        jobs[i].keys = keys[i % 3];
        jobs[i].failures = 0;
        assert_int_equal(pthread_create(&th[i], NULL, verify_loop, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(jobs[i].failures, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alg_names),
        cmocka_unit_test(test_claims_current_matches_verify),
        cmocka_unit_test(test_keys_new_errors),
        cmocka_unit_test(test_keys_secret_is_copied),
        cmocka_unit_test(test_verify_only_keys_cannot_sign),
        cmocka_unit_test(test_issue_verify_hs256),
        cmocka_unit_test(test_issue_verify_rs256),
        cmocka_unit_test(test_issue_verify_es256),
        cmocka_unit_test(test_issue_jti_unique_and_args),
        cmocka_unit_test(test_handcrafted_valid_all_algs),
        cmocka_unit_test(test_libjwt_interop),
        cmocka_unit_test(test_alg_none_rejected),
        cmocka_unit_test(test_hs256_with_public_key_as_secret),
        cmocka_unit_test(test_wrong_alg_header_valid_signature),
        cmocka_unit_test(test_tampered_token),
        cmocka_unit_test(test_signature_lengths),
        cmocka_unit_test(test_time_claims),
        cmocka_unit_test(test_iss_aud_claims),
        cmocka_unit_test(test_sub_role_claims),
        cmocka_unit_test(test_duplicate_keys_rejected),
        cmocka_unit_test(test_deep_nesting_small_stack),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_shared_keys_across_threads),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
