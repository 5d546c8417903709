#include "http/request.h"

#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "validate/validate.h"

/* Jansson and libjwt recurse; Civetweb threads have small stacks. 32 levels
 * is far beyond any body this API accepts. */
#define JSON_MAX_DEPTH 32

const char *request_header(const struct request *r, const char *name)
{
    return mg_get_header(r->conn, name);
}

const char *request_param(const struct request *r, int i)
{
    return i < r->n_path_params ? r->path_params[i] : "";
}

const char *request_query(const struct request *r, const char *key)
{
    for (int i = 0; i < r->n_query; i++)
        if (strcmp(r->query[i].key, key) == 0)
            return r->query[i].value;
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes application/x-www-form-urlencoded text (form: '+' is a space) or
 * a path (not form: '+' stays); NULL on a bad escape, an embedded NUL or a
 * result that is not valid UTF-8 (which would otherwise reach PostgreSQL
 * and come back as a 422 or 500). */
static char *url_decode(const char *s, size_t len, bool form)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (form && s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    if (!valid_utf8(out, o)) {
        free(out);
        return NULL;
    }
    return out;
}

char *request_path_decode(const char *path)
{
    return url_decode(path, strlen(path), false);
}

int request_parse_query(struct request *r, const char *qs, char *err, size_t errlen)
{
    if (!qs || !*qs)
        return 0;
    const char *p = qs;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            if (r->n_query == REQUEST_MAX_QUERY) {
                snprintf(err, errlen, "too many query parameters");
                return -1;
            }
            char *key = url_decode(p, klen, true);
            char *value = eq ? url_decode(eq + 1, len - klen - 1, true) : xstrdup("");
            if (!key || !value || !*key) {
                free(key);
                free(value);
                snprintf(err, errlen, "malformed query string");
                return -1;
            }
            if (request_query(r, key)) {
                snprintf(err, errlen, "query parameter '%.64s' is repeated", key);
                free(key);
                free(value);
                return -1;
            }
            r->query[r->n_query].key = key;
            r->query[r->n_query].value = value;
            r->n_query++;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return 0;
}

enum body_result request_read_body(struct request *r, size_t max_bytes, int timeout_ms)
{
    long long declared = r->ri->content_length;
    if (declared > (long long)max_bytes)
        return BODY_TOO_LARGE;
    size_t cap = declared >= 0 ? (size_t)declared : 4096;
    if (cap > max_bytes + 1)
        cap = max_bytes + 1;
    char *buf = xmalloc(cap + 1);
    size_t len = 0;
    int64_t deadline = clock_mono_us() + (int64_t)timeout_ms * 1000;
    enum body_result res = BODY_OK;
    for (;;) {
        if (len == cap) {
            if (declared >= 0 || cap > max_bytes)
                break;
            cap = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
            buf = xrealloc(buf, cap + 1);
        }
        /* mg_read blocks until it has every byte asked for, however slowly
         * they trickle in; so ask for no more than has arrived so far (1, 1,
         * 2, 4, …). A buffered body still takes ~log2(n) calls, and a
         * trickling client overshoots the deadline by at most about the
         * time it already took. */
        size_t want = len ? len : 1;
        if (want > cap - len)
            want = cap - len;
        int n = mg_read(r->conn, buf + len, want);
        if (n < 0) {
            res = clock_mono_us() > deadline ? BODY_TIMEOUT : BODY_IO_ERROR;
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max_bytes) {
            res = BODY_TOO_LARGE;
            goto fail;
        }
        if (clock_mono_us() > deadline) {
            res = BODY_TIMEOUT;
            goto fail;
        }
    }
    if (declared >= 0 && len != (size_t)declared) {
        res = clock_mono_us() > deadline ? BODY_TIMEOUT : BODY_IO_ERROR;
        goto fail;
    }
    buf[len] = '\0';
    r->body = buf;
    r->body_len = len;
    return BODY_OK;
fail:
    free(buf);
    return res;
}

int request_parse_json(struct request *r, char *err, size_t errlen)
{
    if (!json_nesting_ok(r->body, r->body_len, JSON_MAX_DEPTH)) {
        snprintf(err, errlen, "JSON nested deeper than %d levels", JSON_MAX_DEPTH);
        return -1;
    }
    json_error_t jerr;
    r->json = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!r->json) {
        snprintf(err, errlen, "malformed JSON at line %d column %d: %.80s", jerr.line, jerr.column, jerr.text);
        return -1;
    }
    return 0;
}

void request_cleanup(struct request *r)
{
    for (int i = 0; i < r->n_path_params; i++)
        free(r->path_params[i]);
    r->n_path_params = 0;
    for (int i = 0; i < r->n_query; i++) {
        free(r->query[i].key);
        free(r->query[i].value);
    }
    r->n_query = 0;
    free(r->body);
    r->body = NULL;
    json_decref(r->json);
    r->json = NULL;
    sbuf_free(&r->resp_headers);
    sbuf_free(&r->resp_body);
}
