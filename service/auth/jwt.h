/* JSON Web Tokens (compact JWS) for bearer authentication.
 *
 * Verification is implemented here on OpenSSL + Jansson, NOT with libjwt's
 * jwt_decode, which (in 1.10) parses before verifying, accepts alg "none",
 * accepts HS256 tokens keyed with an RSA public key's PEM text, ignores
 * exp/nbf, keeps the last of duplicate keys and recurses without a depth
 * limit. jwt_verify checks the signature with the one configured algorithm
 * and key before any JSON is parsed, bounds nesting before parsing, rejects
 * duplicate keys and enforces exp/nbf/iat/iss/aud. Signing also uses OpenSSL
 * directly (keys are parsed once in jwt_keys_new); libjwt is not needed.
 *
 * Include as "auth/jwt.h" with only service/ on the include path: putting
 * service/auth on it would make <jwt.h> (libjwt's header) resolve here.
 *
 * Thread safety: a struct jwt_keys is immutable after jwt_keys_new and may be
 * shared by any number of threads; all functions are reentrant and use no
 * mutable static state. */
#ifndef CRM_AUTH_JWT_H
#define CRM_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

enum jwt_alg_id { CRM_JWT_HS256, CRM_JWT_RS256, CRM_JWT_ES256 };

/* Opaque key set for exactly one algorithm; immutable after creation. */
struct jwt_keys;

/* Creates a key set for alg.
 * HS256: secret/secret_len is the HMAC key, at least 32 bytes (copied; the
 *   caller keeps ownership of secret). public_pem/private_pem are ignored.
 * RS256/ES256: public_pem is required, a NUL-terminated SubjectPublicKeyInfo
 *   PEM ("-----BEGIN PUBLIC KEY-----"). RS256 needs an RSA key of at least
 *   2048 bits, ES256 an EC key on P-256; any other key type is an error.
 *   private_pem is optional (NULL = verify-only); when given it must be an
 *   unencrypted PEM private key matching public_pem. Both are copied/parsed;
 *   the caller keeps ownership. secret is ignored.
 * Returns a new key set owned by the caller (free with jwt_keys_free), or
 * NULL on failure, in which case a one-line message is written to err (when
 * err != NULL and errlen > 0). Never prompts for a passphrase. */
struct jwt_keys *jwt_keys_new(enum jwt_alg_id alg, const unsigned char *secret, size_t secret_len,
                              const char *public_pem, const char *private_pem, char *err,
                              size_t errlen);

/* Releases k (NULL is a no-op); secret material is wiped first. */
void jwt_keys_free(struct jwt_keys *k);

/* True when k can issue tokens (HS256, or RS256/ES256 with a private key).
 * k == NULL returns false. */
bool jwt_keys_can_sign(const struct jwt_keys *k);

/* "HS256", "RS256", "ES256"; a static string, never freed. Unknown values
 * return "unknown". */
const char *jwt_alg_name(enum jwt_alg_id alg);

/* Parses an exact (case-sensitive) algorithm name into *out. Returns 0, or -1
 * for NULL/unknown names ("none" is never accepted); *out is untouched on
 * failure. */
int jwt_alg_parse(const char *name, enum jwt_alg_id *out);

#define JWT_MAX_TOKEN_BYTES 4096

/* Validated claims copied out of a token; sub and role are NUL-terminated.
 * iat and nbf are 0 when the token carried none. */
struct jwt_claims {
    char sub[65];
    char role[32];
    int64_t exp;
    int64_t iat;
    int64_t nbf;
};

enum jwt_result {
    JWT_OK = 0,
    JWT_MALFORMED,
    JWT_TOO_LARGE,
    JWT_BAD_SIGNATURE,
    JWT_BAD_ALG,
    JWT_EXPIRED,
    JWT_NOT_YET_VALID,
    JWT_BAD_ISSUER,
    JWT_BAD_AUDIENCE,
    JWT_BAD_CLAIMS
};

/* Short human-readable description; a static string, never NULL. */
const char *jwt_result_str(enum jwt_result r);

/* Clock skew tolerated for exp, nbf and iat, in seconds. */
#define JWT_CLOCK_SKEW_S 30

/* Verifies the compact JWS token[0..len) (need not be NUL-terminated; no
 * byte past len is read) against k at wall-clock time now (seconds since the
 * epoch). Checks run in this order; the first failure is returned:
 *   k, token or out NULL                                    -> JWT_MALFORMED
 *   len > JWT_MAX_TOKEN_BYTES                               -> JWT_TOO_LARGE
 *   not three non-empty parts of base64url characters (no
 *     '=' padding), signature part not decodable            -> JWT_MALFORMED
 *   signature over "header.payload" invalid under k's one
 *     algorithm and key (HS256: 32-byte HMAC, RS256: exactly
 *     the modulus size, ES256: exactly 64-byte raw R||S)    -> JWT_BAD_SIGNATURE
 *   header not a JSON object (bad base64url, nesting > 4,
 *     duplicate keys, trailing bytes)                       -> JWT_MALFORMED
 *   header alg not exactly jwt_alg_name(k's alg)            -> JWT_BAD_ALG
 *   header typ present and not "JWT", or crit present       -> JWT_MALFORMED
 *   payload not a JSON object (as for the header, nesting
 *     limit 8)                                              -> JWT_MALFORMED
 *   exp missing or not a JSON number                        -> JWT_BAD_CLAIMS
 *   now > exp + JWT_CLOCK_SKEW_S                            -> JWT_EXPIRED
 *   nbf present: not a number -> JWT_BAD_CLAIMS;
 *     now < nbf - JWT_CLOCK_SKEW_S                          -> JWT_NOT_YET_VALID
 *   iat present: not a number -> JWT_BAD_CLAIMS;
 *     iat > now + JWT_CLOCK_SKEW_S                          -> JWT_NOT_YET_VALID
 *   iss not a string equal to issuer (or issuer NULL)       -> JWT_BAD_ISSUER
 *   aud neither a string equal to audience nor an array
 *     containing it (or audience NULL)                      -> JWT_BAD_AUDIENCE
 *   sub not a 1..64 byte string, role not a 1..31 byte one  -> JWT_BAD_CLAIMS
 * Fractional times are rounded towards rejection. *out is filled only on
 * JWT_OK and zeroed otherwise. Allocates only temporarily (everything freed
 * before returning); bounded stack use, safe on 100 KiB worker stacks. */
enum jwt_result jwt_verify(const struct jwt_keys *k, const char *token, size_t len,
                           const char *issuer, const char *audience, int64_t now,
                           struct jwt_claims *out) WUR;

/* The time checks of jwt_verify (exp, nbf, iat, with JWT_CLOCK_SKEW_S) on
 * claims it returned, at wall-clock time now: true while a token that
 * verified still would. For callers that keep verified tokens (the router's
 * per-thread cache): the signature and the other claims cannot change, the
 * clock can. */
bool jwt_claims_current(const struct jwt_claims *c, int64_t now);

/* Issues a token with header {"alg":<k's alg>,"typ":"JWT"} and claims iss,
 * aud, sub, role, iat=now, nbf=now, exp=now+ttl_s and a random 128-bit jti.
 * sub must be 1..64 bytes, role 1..31 bytes, ttl_s > 0, issuer/audience
 * non-NULL, and the result must fit JWT_MAX_TOKEN_BYTES, so that every issued
 * token passes jwt_verify. Returns a malloc'ed NUL-terminated compact JWS the
 * caller frees with free(), or NULL when k cannot sign (verify-only), an
 * argument is invalid or signing fails. */
char *jwt_issue(const struct jwt_keys *k, const char *sub, const char *role, const char *issuer,
                const char *audience, int64_t now, int ttl_s);

#endif
