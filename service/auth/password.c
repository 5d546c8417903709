/* PBKDF2-HMAC-SHA256 password hashes with a bounded number of concurrent
 * derivations. See password.h. */
#include "auth/password.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define PREFIX "pbkdf2-sha256$"
#define SALT_BYTES 16
#define SALT_MIN_BYTES 16
#define SALT_MAX_BYTES 64
#define KEY_BYTES 32
#define STORED_MAX_LEN 512

/* Counting semaphore guarding derivations. */
static pthread_mutex_t slot_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_cv = PTHREAD_COND_INITIALIZER;
static int slot_active;
static int slot_peak;

static void slot_acquire(void)
{
    pthread_mutex_lock(&slot_mu);
    while (slot_active >= PASSWORD_MAX_CONCURRENT)
        pthread_cond_wait(&slot_cv, &slot_mu);
    slot_active++;
    if (slot_active > slot_peak)
        slot_peak = slot_active;
    pthread_mutex_unlock(&slot_mu);
}

static void slot_release(void)
{
    pthread_mutex_lock(&slot_mu);
    slot_active--;
    pthread_cond_signal(&slot_cv);
    pthread_mutex_unlock(&slot_mu);
}

int password_peak_concurrency(void)
{
    pthread_mutex_lock(&slot_mu);
    int peak = slot_peak;
    pthread_mutex_unlock(&slot_mu);
    return peak;
}

/* One PBKDF2 derivation of KEY_BYTES into out, holding a semaphore slot. */
static bool derive(const char *password, const unsigned char *salt, size_t salt_len,
                   int iterations, unsigned char out[KEY_BYTES])
{
    size_t pw_len = strlen(password);
    if (pw_len > INT_MAX || salt_len > INT_MAX)
        return false;
    slot_acquire();
    int rc = PKCS5_PBKDF2_HMAC(password, (int)pw_len, salt, (int)salt_len, iterations,
                               EVP_sha256(), KEY_BYTES, out);
    slot_release();
    return rc == 1;
}

char *password_hash_new(const char *password)
{
    char *result = NULL, *salt_b64 = NULL, *key_b64 = NULL;
    unsigned char salt[SALT_BYTES];
    unsigned char key[KEY_BYTES];
    struct sbuf b = {0};

    if (!password)
        goto out;
    random_bytes(salt, sizeof salt);
    if (!derive(password, salt, sizeof salt, PASSWORD_PBKDF2_ITERATIONS, key))
        goto out;
    salt_b64 = b64url_encode(salt, sizeof salt);
    key_b64 = b64url_encode(key, sizeof key);
    sbuf_printf(&b, PREFIX "%d$%s$%s", PASSWORD_PBKDF2_ITERATIONS, salt_b64, key_b64);
    result = sbuf_take(&b);

out:
    OPENSSL_cleanse(key, sizeof key);
    sbuf_free(&b);
    free(salt_b64);
    free(key_b64);
    return result;
}

struct parsed_hash {
    int iterations;
    unsigned char *salt; /* owned */
    size_t salt_len;
    unsigned char *key; /* owned, KEY_BYTES */
};

/* Parses "pbkdf2-sha256$<iter>$<salt>$<key>". On success fills *ph (caller
 * frees salt and key) and returns true; on failure *ph owns nothing. */
static bool parse_stored(const char *stored, struct parsed_hash *ph)
{
    const char *p, *d1, *d2;
    long iter = 0;
    size_t key_len = 0;
    bool ok = false;

    memset(ph, 0, sizeof *ph);
    if (!stored || strlen(stored) > STORED_MAX_LEN)
        goto out;
    if (strncmp(stored, PREFIX, strlen(PREFIX)) != 0)
        goto out;
    p = stored + strlen(PREFIX);
    d1 = strchr(p, '$');
    if (!d1 || d1 == p || d1 - p > 8 || *p == '0')
        goto out;
    for (const char *q = p; q < d1; q++) {
        if (*q < '0' || *q > '9')
            goto out;
        iter = iter * 10 + (*q - '0');
    }
    if (iter < PASSWORD_MIN_ITERATIONS || iter > PASSWORD_MAX_ITERATIONS)
        goto out;
    d2 = strchr(d1 + 1, '$');
    if (!d2)
        goto out;
    ph->salt = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &ph->salt_len);
    if (!ph->salt || ph->salt_len < SALT_MIN_BYTES || ph->salt_len > SALT_MAX_BYTES)
        goto out;
    ph->key = b64url_decode(d2 + 1, strlen(d2 + 1), &key_len);
    if (!ph->key || key_len != KEY_BYTES)
        goto out;
    ph->iterations = (int)iter;
    ok = true;

out:
    if (!ok) {
        free(ph->salt);
        free(ph->key);
        memset(ph, 0, sizeof *ph);
    }
    return ok;
}

bool password_verify(const char *password, const char *stored)
{
    static const unsigned char dummy_salt[SALT_BYTES] = "crm-dummy-salt!";
    struct parsed_hash ph;
    unsigned char key[KEY_BYTES];
    bool match = false;
    const char *pw = password ? password : "";

    if (!parse_stored(stored, &ph)) {
        /* Unknown user or unusable hash: spend the same time, then fail. */
        (void)derive(pw, dummy_salt, sizeof dummy_salt, PASSWORD_PBKDF2_ITERATIONS, key);
        goto out;
    }
    if (!derive(pw, ph.salt, ph.salt_len, ph.iterations, key))
        goto out;
    match = CRYPTO_memcmp(key, ph.key, KEY_BYTES) == 0 && password != NULL;

out:
    OPENSSL_cleanse(key, sizeof key);
    free(ph.salt);
    free(ph.key);
    return match;
}
