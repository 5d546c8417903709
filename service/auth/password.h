/* Password hashing with PBKDF2-HMAC-SHA256.
 *
 * Stored format: "pbkdf2-sha256$<iterations>$<salt b64url>$<hash b64url>"
 * with a 16-byte random salt and a 32-byte derived key (base64url without
 * padding). New hashes use PASSWORD_PBKDF2_ITERATIONS; verification reads the
 * count from the stored string so it can be raised later.
 *
 * Concurrency: every derivation (in both functions) first takes a slot from
 * a process-wide counting semaphore (mutex + condition variable) that admits
 * at most PASSWORD_MAX_CONCURRENT derivations at once, so a login flood
 * queues instead of occupying every core. Callers block while waiting. All
 * functions are thread-safe. */
#ifndef CRM_AUTH_PASSWORD_H
#define CRM_AUTH_PASSWORD_H

#include <stdbool.h>

#define PASSWORD_PBKDF2_ITERATIONS 600000
#define PASSWORD_MIN_ITERATIONS 100000
#define PASSWORD_MAX_ITERATIONS 10000000
#define PASSWORD_MAX_CONCURRENT 2

/* Hashes password (NUL-terminated, any bytes) with a fresh random salt.
 * Returns a malloc'ed string in the format above that the caller frees with
 * free(), or NULL when password is NULL or the derivation fails. */
char *password_hash_new(const char *password);

/* True when password matches stored; the key comparison is constant-time.
 * stored == NULL (unknown user) or a malformed stored string (wrong prefix,
 * iterations outside PASSWORD_MIN_ITERATIONS..PASSWORD_MAX_ITERATIONS, salt
 * not 16..64 bytes, hash not 32 bytes, bad base64url) still runs one full
 * derivation at PASSWORD_PBKDF2_ITERATIONS against a fixed dummy, so the
 * response time does not reveal whether the user exists, and returns false.
 * password == NULL returns false (after the same dummy derivation). */
bool password_verify(const char *password, const char *stored);

/* Diagnostics: the largest number of derivations that were ever running at
 * the same time in this process (never above PASSWORD_MAX_CONCURRENT). */
int password_peak_concurrency(void);

#endif
