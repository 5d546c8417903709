#include "resources/listing.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "resources/render.h"
#include "validate/validate.h"

void list_page_free(struct list_page *p)
{
    for (int i = 0; i < LIST_MAX_KEYS; i++) {
        free(p->keys[i]);
        p->keys[i] = NULL;
    }
    p->cursor_id = NULL;
}

static int cursor_decode(struct list_page *p, const char *cursor, int n_keys)
{
    size_t len;
    if (strlen(cursor) > 4096)
        return -1;
    unsigned char *raw = b64url_decode(cursor, strlen(cursor), &len);
    if (!raw)
        return -1;
    int rc = -1;
    json_t *arr = NULL;
    if (!json_nesting_ok((const char *)raw, len, 2))
        goto out;
    arr = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_array(arr) || json_array_size(arr) != (size_t)(2 + n_keys))
        goto out;
    const char *kind = json_string_value(json_array_get(arr, 0));
    const char *sort = json_string_value(json_array_get(arr, 1));
    if (!kind || !sort || strcmp(kind, p->kind) != 0 || strcmp(sort, p->sort) != 0)
        goto out;
    for (int i = 0; i < n_keys; i++) {
        const char *k = json_string_value(json_array_get(arr, (size_t)(2 + i)));
        if (!k || strlen(k) > 1024)
            goto out;
        p->keys[i] = xstrdup(k);
    }
    p->cursor_id = p->keys[n_keys - 1];
    rc = 0;
out:
    json_decref(arr);
    free(raw);
    if (rc)
        list_page_free(p);
    return rc;
}

int list_page_init_sorted(struct request *r, struct list_page *p, const char *kind, const char *sort, int n_keys)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->sort = sort ? sort : "";
    p->limit = LIST_DEFAULT_LIMIT;
    const char *limit = request_query(r, "limit");
    if (limit) {
        char *end;
        long n = strtol(limit, &end, 10);
        /* Digits only: strtol alone would accept " 5" and "+5". */
        if (*limit < '0' || *limit > '9' || *end || n < 1 || n > LIST_MAX_LIMIT) {
            problem_sendf(r, 400, "limit must be an integer from 1 to %d", LIST_MAX_LIMIT);
            return -1;
        }
        p->limit = (int)n;
    }
    snprintf(p->limit_plus_one, sizeof p->limit_plus_one, "%d", p->limit + 1);
    const char *cursor = request_query(r, "cursor");
    if (cursor && cursor_decode(p, cursor, n_keys) != 0) {
        problem_send(r, 400, "cursor is invalid or belongs to a different list or sort");
        return -1;
    }
    return 0;
}

int list_page_init_serial(struct request *r, struct list_page *p, const char *kind)
{
    if (list_page_init(r, p, kind) != 0)
        return -1;
    const char *id = p->cursor_id;
    if (id && (!*id || strlen(id) > 18 || strspn(id, "0123456789") != strlen(id))) {
        list_page_free(p);
        problem_send(r, 400, "cursor is invalid");
        return -1;
    }
    return 0;
}

/* Appends ],"next_cursor":… } after the items: a cursor from the keys of
 * row `last` (columns first_key..) when more rows than the limit came back. */
static void page_finish(struct list_page *p, struct sbuf *out, const PGresult *res, int first_key, int n_keys)
{
    int rows = PQntuples(res);
    sbuf_puts(out, "],\"next_cursor\":");
    if (rows > p->limit) {
        json_t *arr = json_array();
        json_array_append_new(arr, json_string(p->kind));
        json_array_append_new(arr, json_string(p->sort));
        for (int k = 0; k < n_keys; k++)
            json_array_append_new(arr, json_string(PQgetvalue(res, p->limit - 1, first_key + k)));
        char *text = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        char *cursor = b64url_encode((const unsigned char *)text, strlen(text));
        sbuf_printf(out, "\"%s\"", cursor);
        free(cursor);
        free(text);
    } else {
        sbuf_puts(out, "null");
    }
    sbuf_puts(out, "}");
}

int list_page_reply_rendered(struct request *r, struct list_page *p, const PGresult *res,
                             const struct render_col *cols, int ncols, int n_keys)
{
    int rows = PQntuples(res);
    int shown = rows > p->limit ? p->limit : rows;
    struct sbuf out = {0};
    /* One allocation for a typical page instead of a chain of doublings
     * (a customer renders to about 1 KB). */
    sbuf_reserve(&out, 256 + (size_t)shown * 1024);
    sbuf_puts(&out, "{\"items\":[");
    for (int i = 0; i < shown; i++) {
        if (i)
            sbuf_puts(&out, ",");
        render_row(&out, res, i, 0, cols, ncols);
    }
    page_finish(p, &out, res, ncols, n_keys);
    reply_json_buf(r, 200, &out);
    list_page_free(p);
    return 200;
}

int query_bool(struct request *r, const char *name, bool def, bool *out)
{
    const char *v = request_query(r, name);
    if (!v) {
        *out = def;
        return 0;
    }
    if (strcmp(v, "true") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0)
        *out = false;
    else {
        problem_sendf(r, 400, "%s must be true or false", name);
        return -1;
    }
    return 0;
}

char *list_like_pattern(const char *q)
{
    struct sbuf b = {0};
    sbuf_puts(&b, "%");
    for (const char *p = q; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            sbuf_puts(&b, "\\");
        sbuf_append(&b, p, 1);
    }
    sbuf_puts(&b, "%");
    return sbuf_take(&b);
}

bool list_value_ok(enum list_check check, const char *const *choices, const char *v)
{
    switch (check) {
    case LIST_TEXT:
        return valid_utf8(v, strlen(v)) && utf8_chars(v) <= 200;
    case LIST_UUID:
        return uuid_valid(v);
    case LIST_DATE:
        return valid_date(v);
    case LIST_TIMESTAMP:
        return valid_timestamp(v);
    case LIST_CHOICE:
        for (const char *const *c = choices; c && *c; c++)
            if (strcmp(*c, v) == 0)
                return true;
        return false;
    }
    return false;
}

int list_filters_apply(struct request *r, const struct list_filter *f, size_t n, struct sqlb *b, unsigned *mask,
                       int first_bit)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = request_query(r, f[i].name);
        if (!v)
            continue;
        if (!list_value_ok(f[i].check, f[i].choices, v)) {
            problem_sendf(r, 400, "invalid value for query parameter '%s'", f[i].name);
            return -1;
        }
        sbuf_puts(&b->sql, " AND ");
        sbuf_printf(&b->sql, f[i].cond, sqlb_bind(b, v));
        *mask |= 1u << (first_bit + (int)i);
    }
    return 0;
}

int list_search_pattern(struct request *r, char **pattern)
{
    *pattern = NULL;
    const char *q = request_query(r, "q");
    if (!q)
        return 0;
    if (!*q || !valid_utf8(q, strlen(q)) || utf8_chars(q) > 100) {
        problem_send(r, 400, "q must be 1 to 100 characters");
        return -1;
    }
    *pattern = list_like_pattern(q);
    return 0;
}

int list_search_apply(struct request *r, const char *cond, struct sqlb *b, char **pattern, unsigned *mask, int bit)
{
    if (list_search_pattern(r, pattern) != 0)
        return -1;
    if (*pattern) {
        int p = sqlb_bind(b, *pattern);
        sbuf_puts(&b->sql, " AND ");
        sbuf_printf(&b->sql, cond, p, p); /* cond uses one or both */
        *mask |= 1u << bit;
    }
    return 0;
}

int list_sort_find(struct request *r, const struct list_sort *s, size_t n, const char *message)
{
    const char *sort = request_query(r, "sort");
    if (!sort)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, sort) == 0)
            return (int)i;
    problem_send(r, 400, message);
    return -1;
}

/* A timestamp cursor key (LIST_CURSOR_TS): PostgreSQL's UTC text
 * ("… HH:MM:SS.ffffff+00"), or RFC 3339 as cursors issued before carried it. */
static bool cursor_timestamp(const char *s)
{
    char buf[48];
    size_t n = strlen(s);
    if (n >= 22 && n < sizeof buf && strcmp(s + n - 3, "+00") == 0) {
        memcpy(buf, s, n - 3);
        memcpy(buf + n - 3, "Z", 2);
        return valid_timestamp(buf);
    }
    return valid_timestamp(s);
}

int list_keyset_bind(struct request *r, const struct list_page *p, bool (*key_valid)(const char *), struct sqlb *b,
                     int *key, int *id)
{
    *key = *id = 0;
    if (!p->cursor_id)
        return 0;
    bool key_ok = !key_valid || !p->keys[0] ||
                  (key_valid == valid_timestamp ? cursor_timestamp(p->keys[0]) : key_valid(p->keys[0]));
    if (!p->keys[0] || !p->keys[1] || !uuid_valid(p->cursor_id) || !key_ok) {
        problem_send(r, 400, "cursor is invalid");
        return -1;
    }
    *key = sqlb_bind(b, p->keys[0]);
    *id = sqlb_bind(b, p->keys[1]);
    return 0;
}

int list_keyset_apply(struct request *r, const struct list_page *p, const char *keyset,
                      bool (*key_valid)(const char *), struct sqlb *b, unsigned *mask, int bit)
{
    int key, id;
    if (list_keyset_bind(r, p, key_valid, b, &key, &id) != 0)
        return -1;
    if (key) {
        sbuf_puts(&b->sql, " AND ");
        sbuf_printf(&b->sql, keyset, key, id);
        *mask |= 1u << bit;
    }
    return 0;
}
