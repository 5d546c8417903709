/* Small shared helpers: allocation that aborts on failure, a growable string
 * buffer, clocks and a JSON nesting guard. */
#ifndef CRM_COMMON_H
#define CRM_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define WUR __attribute__((warn_unused_result))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation failure aborts the process (as in Redis and h2o). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Growable byte buffer, always NUL-terminated once anything was appended.
 * The struct owns data; sbuf_free releases it and resets the struct. */
struct sbuf {
    char *data;
    size_t len;
    size_t cap;
};
void sbuf_append_slow(struct sbuf *b, const void *s, size_t n);
/* Makes room for n more bytes (plus the NUL) without changing the content. */
void sbuf_reserve(struct sbuf *b, size_t n);
static inline void sbuf_append(struct sbuf *b, const void *s, size_t n)
{
    if (b->len + n < b->cap) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        return;
    }
    sbuf_append_slow(b, s, n);
}
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_free(struct sbuf *b);
/* Appends s (len bytes of UTF-8) as a JSON string literal, quotes included. */
void sbuf_json_string(struct sbuf *b, const char *s, size_t len);
/* Returns data and leaves the buffer empty; the caller owns the result (never NULL). */
char *sbuf_take(struct sbuf *b);

/* Monotonic clock in microseconds, and wall-clock seconds since the epoch. */
int64_t clock_mono_us(void);
int64_t clock_wall_s(void);
/* gmtime_r without its lock: glibc's takes the process-wide time zone lock
 * on every call, which request threads would contend for. Fills tm_year,
 * tm_mon, tm_mday, tm_hour, tm_min, tm_sec, tm_wday and tm_yday (proleptic
 * Gregorian calendar, UTC); the other fields are zeroed. */
void utc_time(int64_t secs, struct tm *tm);

/* True when the JSON text nests arrays/objects at most max_depth deep.
 * Scans bytes only (strings and escapes honoured); does not validate. Used
 * before handing untrusted text to a recursive parser. */
bool json_nesting_ok(const char *buf, size_t len, int max_depth);

/* Fills out with n random bytes from OpenSSL's CSPRNG; aborts on failure. */
void random_bytes(unsigned char *out, size_t n);
/* Writes 2*n lowercase hex characters and a NUL into out. */
void hex_encode(const unsigned char *in, size_t n, char *out);

/* base64url without padding. encode returns a malloc'ed string. decode
 * returns a malloc'ed buffer (NUL-terminated for convenience) and sets
 * *out_len, or NULL on invalid input (padding, bad characters). */
char *b64url_encode(const unsigned char *in, size_t len);
unsigned char *b64url_decode(const char *in, size_t len, size_t *out_len);

#endif
