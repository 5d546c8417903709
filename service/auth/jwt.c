/* JWT issue/verify on OpenSSL 3 + Jansson. See jwt.h for the threat model:
 * the signature is checked with the configured algorithm and key before any
 * JSON is parsed, and JSON is only parsed after a byte-level nesting bound.
 * libjwt is deliberately not used here (neither for verifying, where its
 * jwt_decode is unsafe, nor for signing, where it would re-parse the private
 * key PEM for every token); tests check interoperability with libjwt. */
#include "auth/jwt.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HS256_MIN_SECRET 32
#define HS256_MAX_SECRET 4096
#define RS256_MIN_BITS 2048
#define ES256_COORD_BYTES 32
#define ES256_SIG_BYTES (2 * ES256_COORD_BYTES)
#define HEADER_MAX_DEPTH 4
#define PAYLOAD_MAX_DEPTH 8
#define SUB_MAX 64
#define ROLE_MAX 31

struct jwt_keys {
    enum jwt_alg_id alg;
    unsigned char *secret; /* HS256 only; owned, wiped on free */
    size_t secret_len;
    EVP_PKEY *pub;  /* RS256/ES256 */
    EVP_PKEY *priv; /* RS256/ES256 when signing is possible, else NULL */
};

/* ---------------------------------------------------------------- names */

const char *jwt_alg_name(enum jwt_alg_id alg)
{
    switch (alg) {
    case CRM_JWT_HS256:
        return "HS256";
    case CRM_JWT_RS256:
        return "RS256";
    case CRM_JWT_ES256:
        return "ES256";
    }
    return "unknown";
}

int jwt_alg_parse(const char *name, enum jwt_alg_id *out)
{
    static const enum jwt_alg_id all[] = {CRM_JWT_HS256, CRM_JWT_RS256, CRM_JWT_ES256};
    if (!name || !out)
        return -1;
    for (size_t i = 0; i < ARRAY_LEN(all); i++) {
        if (strcmp(name, jwt_alg_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

const char *jwt_result_str(enum jwt_result r)
{
    switch (r) {
    case JWT_OK:
        return "ok";
    case JWT_MALFORMED:
        return "malformed token";
    case JWT_TOO_LARGE:
        return "token too large";
    case JWT_BAD_SIGNATURE:
        return "bad signature";
    case JWT_BAD_ALG:
        return "unexpected algorithm";
    case JWT_EXPIRED:
        return "token expired";
    case JWT_NOT_YET_VALID:
        return "token not yet valid";
    case JWT_BAD_ISSUER:
        return "bad issuer";
    case JWT_BAD_AUDIENCE:
        return "bad audience";
    case JWT_BAD_CLAIMS:
        return "bad claims";
    }
    return "unknown result";
}

/* ----------------------------------------------------------------- keys */

static void set_err(char *err, size_t errlen, const char *what)
{
    if (!err || errlen == 0)
        return;
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (reason)
        snprintf(err, errlen, "%s (%s)", what, reason);
    else
        snprintf(err, errlen, "%s", what);
}

/* Refuses to decrypt: an encrypted private key is a configuration error, and
 * OpenSSL's default callback would prompt on the terminal. */
static int no_passphrase_cb(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static EVP_PKEY *read_pem(const char *pem, bool private_key)
{
    EVP_PKEY *pkey = NULL;
    BIO *bio = NULL;
    size_t n = strlen(pem);
    if (n == 0 || n > INT_MAX)
        goto out;
    bio = BIO_new_mem_buf(pem, (int)n);
    if (!bio)
        goto out;
    if (private_key)
        pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase_cb, NULL);
    else
        pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase_cb, NULL);
out:
    BIO_free(bio);
    return pkey;
}

/* Returns NULL when pkey suits alg, else a message. */
static const char *check_key_type(enum jwt_alg_id alg, EVP_PKEY *pkey)
{
    if (alg == CRM_JWT_RS256) {
        if (!EVP_PKEY_is_a(pkey, "RSA"))
            return "RS256 needs an RSA key";
        if (EVP_PKEY_get_bits(pkey) < RS256_MIN_BITS)
            return "RS256 needs an RSA key of at least 2048 bits";
        return NULL;
    }
    char group[64];
    size_t glen = 0;
    if (!EVP_PKEY_is_a(pkey, "EC"))
        return "ES256 needs an EC P-256 key";
    if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen) != 1)
        return "ES256 key has no named curve";
    int nid = OBJ_sn2nid(group);
    if (nid == NID_undef)
        nid = EC_curve_nist2nid(group);
    if (nid != NID_X9_62_prime256v1)
        return "ES256 needs an EC key on curve P-256";
    return NULL;
}

struct jwt_keys *jwt_keys_new(enum jwt_alg_id alg, const unsigned char *secret, size_t secret_len,
                              const char *public_pem, const char *private_pem, char *err,
                              size_t errlen)
{
    struct jwt_keys *k = xcalloc(1, sizeof *k);
    const char *msg = NULL;
    bool ok = false;

    k->alg = alg;
    if (err && errlen)
        err[0] = '\0';

    switch (alg) {
    case CRM_JWT_HS256:
        if (!secret || secret_len < HS256_MIN_SECRET) {
            set_err(err, errlen, "HS256 secret must be at least 32 bytes");
            goto out;
        }
        if (secret_len > HS256_MAX_SECRET) {
            set_err(err, errlen, "HS256 secret is longer than 4096 bytes");
            goto out;
        }
        k->secret = xmalloc(secret_len);
        memcpy(k->secret, secret, secret_len);
        k->secret_len = secret_len;
        ok = true;
        goto out;
    case CRM_JWT_RS256:
    case CRM_JWT_ES256:
        break;
    default:
        set_err(err, errlen, "unknown JWT algorithm");
        goto out;
    }

    if (!public_pem) {
        set_err(err, errlen, "public key PEM is required for RS256/ES256");
        goto out;
    }
    k->pub = read_pem(public_pem, false);
    if (!k->pub) {
        set_err(err, errlen, "cannot parse public key PEM (want -----BEGIN PUBLIC KEY-----)");
        goto out;
    }
    if ((msg = check_key_type(alg, k->pub)) != NULL) {
        set_err(err, errlen, msg);
        goto out;
    }
    if (private_pem) {
        k->priv = read_pem(private_pem, true);
        if (!k->priv) {
            set_err(err, errlen, "cannot parse private key PEM (encrypted keys are not supported)");
            goto out;
        }
        if ((msg = check_key_type(alg, k->priv)) != NULL) {
            set_err(err, errlen, msg);
            goto out;
        }
        if (EVP_PKEY_eq(k->pub, k->priv) != 1) {
            set_err(err, errlen, "private key does not match public key");
            goto out;
        }
    }
    ok = true;

out:
    if (!ok) {
        jwt_keys_free(k);
        k = NULL;
    }
    ERR_clear_error();
    return k;
}

void jwt_keys_free(struct jwt_keys *k)
{
    if (!k)
        return;
    if (k->secret) {
        OPENSSL_cleanse(k->secret, k->secret_len);
        free(k->secret);
    }
    EVP_PKEY_free(k->pub);
    EVP_PKEY_free(k->priv);
    free(k);
}

bool jwt_keys_can_sign(const struct jwt_keys *k)
{
    if (!k)
        return false;
    return k->alg == CRM_JWT_HS256 ? k->secret != NULL : k->priv != NULL;
}

/* ------------------------------------------------------------ signatures */

/* Verifies sig over data with k's one algorithm. Never looks at the token's
 * header. Returns JWT_OK or JWT_BAD_SIGNATURE. */
static enum jwt_result verify_signature(const struct jwt_keys *k, const char *data, size_t n,
                                        const unsigned char *sig, size_t sig_len)
{
    enum jwt_result r = JWT_BAD_SIGNATURE;
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *pctx = NULL; /* owned by mctx */
    ECDSA_SIG *es = NULL;
    BIGNUM *br = NULL, *bs = NULL;
    unsigned char *der = NULL;
    const unsigned char *vsig = sig;
    size_t vsig_len = sig_len;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;

    switch (k->alg) {
    case CRM_JWT_HS256:
        if (sig_len != 32)
            goto out;
        if (!HMAC(EVP_sha256(), k->secret, (int)k->secret_len, (const unsigned char *)data, n,
                  mac, &mac_len) ||
            mac_len != 32)
            goto out;
        if (CRYPTO_memcmp(mac, sig, 32) == 0)
            r = JWT_OK;
        goto out;
    case CRM_JWT_RS256:
        /* RFC 7518 3.3: the signature is exactly the modulus length. */
        if (sig_len != (size_t)EVP_PKEY_get_size(k->pub))
            goto out;
        break;
    case CRM_JWT_ES256: {
        /* JWS ES256 signatures are raw R || S (RFC 7518 3.4); OpenSSL wants
         * a DER ECDSA-Sig-Value. Anything but 64 bytes (e.g. DER) is bad. */
        if (sig_len != ES256_SIG_BYTES)
            goto out;
        es = ECDSA_SIG_new();
        br = BN_bin2bn(sig, ES256_COORD_BYTES, NULL);
        bs = BN_bin2bn(sig + ES256_COORD_BYTES, ES256_COORD_BYTES, NULL);
        if (!es || !br || !bs || ECDSA_SIG_set0(es, br, bs) != 1)
            goto out;
        br = bs = NULL; /* now owned by es */
        int der_len = i2d_ECDSA_SIG(es, &der);
        if (der_len <= 0)
            goto out;
        vsig = der;
        vsig_len = (size_t)der_len;
        break;
    }
    default:
        goto out;
    }

    mctx = EVP_MD_CTX_new();
    if (!mctx || EVP_DigestVerifyInit_ex(mctx, &pctx, "SHA256", NULL, NULL, k->pub, NULL) != 1)
        goto out;
    if (k->alg == CRM_JWT_RS256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
        goto out;
    if (EVP_DigestVerify(mctx, vsig, vsig_len, (const unsigned char *)data, n) == 1)
        r = JWT_OK;

out:
    OPENSSL_cleanse(mac, sizeof mac);
    EVP_MD_CTX_free(mctx);
    ECDSA_SIG_free(es);
    BN_free(br);
    BN_free(bs);
    OPENSSL_free(der);
    ERR_clear_error();
    return r;
}

/* Signs data with k (which must be able to sign); returns a malloc'ed JWS
 * signature (raw R||S for ES256) and sets *sig_len, or NULL on failure. */
static unsigned char *sign_data(const struct jwt_keys *k, const char *data, size_t n,
                                size_t *sig_len)
{
    unsigned char *sig = NULL, *der = NULL;
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *pctx = NULL; /* owned by mctx */
    ECDSA_SIG *es = NULL;
    const unsigned char *p = NULL;
    const BIGNUM *br = NULL, *bs = NULL;
    unsigned int mac_len = 0;
    size_t der_len = 0;
    bool ok = false;

    if (k->alg == CRM_JWT_HS256) {
        sig = xmalloc(EVP_MAX_MD_SIZE);
        if (!HMAC(EVP_sha256(), k->secret, (int)k->secret_len, (const unsigned char *)data, n,
                  sig, &mac_len) ||
            mac_len != 32)
            goto out;
        *sig_len = mac_len;
        ok = true;
        goto out;
    }

    der_len = (size_t)EVP_PKEY_get_size(k->priv);
    if (der_len == 0)
        goto out;
    der = xmalloc(der_len);
    mctx = EVP_MD_CTX_new();
    if (!mctx || EVP_DigestSignInit_ex(mctx, &pctx, "SHA256", NULL, NULL, k->priv, NULL) != 1)
        goto out;
    if (k->alg == CRM_JWT_RS256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
        goto out;
    if (EVP_DigestSign(mctx, der, &der_len, (const unsigned char *)data, n) != 1)
        goto out;

    if (k->alg == CRM_JWT_RS256) {
        sig = der;
        der = NULL;
        *sig_len = der_len;
        ok = true;
        goto out;
    }

    /* ES256: OpenSSL emits DER; JWS wants R and S left-padded to 32 bytes. */
    p = der;
    es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (!es)
        goto out;
    ECDSA_SIG_get0(es, &br, &bs);
    sig = xmalloc(ES256_SIG_BYTES);
    if (BN_bn2binpad(br, sig, ES256_COORD_BYTES) != ES256_COORD_BYTES ||
        BN_bn2binpad(bs, sig + ES256_COORD_BYTES, ES256_COORD_BYTES) != ES256_COORD_BYTES)
        goto out;
    *sig_len = ES256_SIG_BYTES;
    ok = true;

out:
    if (!ok) {
        free(sig);
        sig = NULL;
    }
    free(der);
    EVP_MD_CTX_free(mctx);
    ECDSA_SIG_free(es);
    ERR_clear_error();
    return sig;
}

/* ---------------------------------------------------------------- verify */

static bool is_b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/* Decodes base64url text and parses it as a JSON object with at most
 * max_depth nesting and no duplicate keys. Returns a new reference or NULL. */
static json_t *decode_json_object(const char *b64, size_t b64_len, int max_depth)
{
    json_t *obj = NULL;
    size_t raw_len = 0;
    json_error_t jerr;
    unsigned char *raw = b64url_decode(b64, b64_len, &raw_len);
    if (!raw)
        goto out;
    if (!json_nesting_ok((const char *)raw, raw_len, max_depth))
        goto out;
    obj = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, &jerr);
    if (obj && !json_is_object(obj)) {
        json_decref(obj);
        obj = NULL;
    }
out:
    free(raw);
    return obj;
}

static bool json_str_eq(const json_t *v, const char *s)
{
    if (!json_is_string(v) || !s)
        return false;
    size_t n = strlen(s);
    return json_string_length(v) == n && memcmp(json_string_value(v), s, n) == 0;
}

/* Reads a NumericDate (JSON integer or real) into *out. Reals are rounded
 * towards the stricter side (down for exp, up for nbf/iat) and clamped. */
static bool numeric_date(const json_t *v, bool round_up, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (!json_is_real(v))
        return false;
    double d = json_real_value(v);
    if (!isfinite(d))
        return false;
    if (d >= 9.0e18)
        *out = INT64_MAX;
    else if (d <= -9.0e18)
        *out = INT64_MIN;
    else {
        int64_t t = (int64_t)d; /* truncates towards zero */
        if (round_up && (double)t < d)
            t++;
        else if (!round_up && (double)t > d)
            t--;
        *out = t;
    }
    return true;
}

static enum jwt_result check_header(const struct jwt_keys *k, const json_t *hdr)
{
    if (!json_str_eq(json_object_get(hdr, "alg"), jwt_alg_name(k->alg)))
        return JWT_BAD_ALG;
    const json_t *typ = json_object_get(hdr, "typ");
    if (typ && !json_str_eq(typ, "JWT"))
        return JWT_MALFORMED;
    if (json_object_get(hdr, "crit"))
        return JWT_MALFORMED;
    return JWT_OK;
}

static bool audience_ok(const json_t *aud, const char *audience)
{
    if (!audience)
        return false;
    if (json_is_string(aud))
        return json_str_eq(aud, audience);
    if (json_is_array(aud)) {
        for (size_t i = 0; i < json_array_size(aud); i++) {
            if (json_str_eq(json_array_get(aud, i), audience))
                return true;
        }
    }
    return false;
}

/* Copies a JSON string of 1..max bytes into dst (max+1 bytes). */
static bool copy_claim_str(const json_t *v, char *dst, size_t max)
{
    if (!json_is_string(v))
        return false;
    size_t n = json_string_length(v);
    if (n == 0 || n > max)
        return false;
    memcpy(dst, json_string_value(v), n);
    dst[n] = '\0';
    return true;
}

static enum jwt_result check_claims(const json_t *pl, const char *issuer, const char *audience,
                                    int64_t now, struct jwt_claims *c)
{
    const json_t *v;
    int64_t t;

    if (!numeric_date(json_object_get(pl, "exp"), false, &c->exp))
        return JWT_BAD_CLAIMS;
    if (now - JWT_CLOCK_SKEW_S > c->exp)
        return JWT_EXPIRED;
    if ((v = json_object_get(pl, "nbf")) != NULL) {
        if (!numeric_date(v, true, &t))
            return JWT_BAD_CLAIMS;
        if (t > now + JWT_CLOCK_SKEW_S)
            return JWT_NOT_YET_VALID;
        c->nbf = t;
    }
    if ((v = json_object_get(pl, "iat")) != NULL) {
        if (!numeric_date(v, true, &t))
            return JWT_BAD_CLAIMS;
        if (t > now + JWT_CLOCK_SKEW_S)
            return JWT_NOT_YET_VALID;
        c->iat = t;
    }
    if (!issuer || !json_str_eq(json_object_get(pl, "iss"), issuer))
        return JWT_BAD_ISSUER;
    if (!audience_ok(json_object_get(pl, "aud"), audience))
        return JWT_BAD_AUDIENCE;
    if (!copy_claim_str(json_object_get(pl, "sub"), c->sub, SUB_MAX))
        return JWT_BAD_CLAIMS;
    if (!copy_claim_str(json_object_get(pl, "role"), c->role, ROLE_MAX))
        return JWT_BAD_CLAIMS;
    return JWT_OK;
}

bool jwt_claims_current(const struct jwt_claims *c, int64_t now)
{
    return now - JWT_CLOCK_SKEW_S <= c->exp && c->nbf <= now + JWT_CLOCK_SKEW_S && c->iat <= now + JWT_CLOCK_SKEW_S;
}

enum jwt_result jwt_verify(const struct jwt_keys *k, const char *token, size_t len,
                           const char *issuer, const char *audience, int64_t now,
                           struct jwt_claims *out)
{
    enum jwt_result r = JWT_MALFORMED;
    unsigned char *sig = NULL;
    json_t *hdr = NULL, *pl = NULL;
    struct jwt_claims c;
    size_t dot1 = 0, dot2 = 0, dots = 0, sig_len = 0;

    memset(&c, 0, sizeof c);
    if (out)
        memset(out, 0, sizeof *out);
    if (!k || !token || !out)
        goto out;
    if (len > JWT_MAX_TOKEN_BYTES) {
        r = JWT_TOO_LARGE;
        goto out;
    }

    /* Structure: b64url "." b64url "." b64url, all parts non-empty. */
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)token[i];
        if (ch == '.') {
            if (++dots == 1)
                dot1 = i;
            else if (dots == 2)
                dot2 = i;
            else
                goto out;
        } else if (!is_b64url_char(ch)) {
            goto out;
        }
    }
    if (dots != 2 || dot1 == 0 || dot2 == dot1 + 1 || dot2 + 1 == len)
        goto out;
    sig = b64url_decode(token + dot2 + 1, len - dot2 - 1, &sig_len);
    if (!sig)
        goto out;

    /* Signature first, with the configured algorithm and key only. */
    r = verify_signature(k, token, dot2, sig, sig_len);
    if (r != JWT_OK)
        goto out;

    r = JWT_MALFORMED;
    hdr = decode_json_object(token, dot1, HEADER_MAX_DEPTH);
    if (!hdr)
        goto out;
    r = check_header(k, hdr);
    if (r != JWT_OK)
        goto out;

    r = JWT_MALFORMED;
    pl = decode_json_object(token + dot1 + 1, dot2 - dot1 - 1, PAYLOAD_MAX_DEPTH);
    if (!pl)
        goto out;
    r = check_claims(pl, issuer, audience, now, &c);
    if (r == JWT_OK)
        *out = c;

out:
    json_decref(hdr);
    json_decref(pl);
    free(sig);
    return r;
}

/* ----------------------------------------------------------------- issue */

char *jwt_issue(const struct jwt_keys *k, const char *sub, const char *role, const char *issuer,
                const char *audience, int64_t now, int ttl_s)
{
    char *token = NULL, *payload = NULL, *hdr_b64 = NULL, *pl_b64 = NULL, *sig_b64 = NULL;
    unsigned char *sig = NULL;
    json_t *claims = NULL;
    struct sbuf b = {0};
    unsigned char jti_raw[16];
    char jti[2 * sizeof jti_raw + 1];
    char header[48];
    size_t sig_len = 0, sub_len, role_len;

    if (!jwt_keys_can_sign(k) || !sub || !role || !issuer || !audience || ttl_s <= 0)
        goto out;
    sub_len = strlen(sub);
    role_len = strlen(role);
    if (sub_len == 0 || sub_len > SUB_MAX || role_len == 0 || role_len > ROLE_MAX)
        goto out;
    if (now < 0 || now > INT64_MAX / 2)
        goto out;

    random_bytes(jti_raw, sizeof jti_raw);
    hex_encode(jti_raw, sizeof jti_raw, jti);
    /* json_pack fails on invalid UTF-8, which verification would reject too. */
    claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "iss", issuer, "aud", audience,
                       "sub", sub, "role", role, "iat", (json_int_t)now, "nbf", (json_int_t)now,
                       "exp", (json_int_t)(now + ttl_s), "jti", jti);
    if (!claims)
        goto out;
    payload = json_dumps(claims, JSON_COMPACT);
    if (!payload)
        goto out;

    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", jwt_alg_name(k->alg));
    hdr_b64 = b64url_encode((const unsigned char *)header, strlen(header));
    pl_b64 = b64url_encode((const unsigned char *)payload, strlen(payload));
    sbuf_puts(&b, hdr_b64);
    sbuf_puts(&b, ".");
    sbuf_puts(&b, pl_b64);
    sig = sign_data(k, b.data, b.len, &sig_len);
    if (!sig)
        goto out;
    sig_b64 = b64url_encode(sig, sig_len);
    sbuf_puts(&b, ".");
    sbuf_puts(&b, sig_b64);
    if (b.len > JWT_MAX_TOKEN_BYTES)
        goto out;
    token = sbuf_take(&b);

out:
    sbuf_free(&b);
    json_decref(claims);
    free(payload);
    free(hdr_b64);
    free(pl_b64);
    free(sig_b64);
    free(sig);
    return token;
}
