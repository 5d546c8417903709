/* Keyset pagination shared by every list endpoint: limit parsing, opaque
 * cursors (base64url of a JSON array naming the list, the sort and the last
 * row's keys) and the {items, next_cursor} envelope. */
#ifndef CRM_LISTING_H
#define CRM_LISTING_H

#include <libpq-fe.h>

#include "common.h"
#include "http/request.h"

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT 200
#define LIST_MAX_KEYS 2

struct list_page {
    const char *kind;             /* list name baked into cursors */
    const char *sort;             /* sort baked into cursors ("" when fixed) */
    int limit;
    char limit_plus_one[12];      /* bind as LIMIT to detect a next page */
    char *keys[LIST_MAX_KEYS];    /* decoded cursor keys, owned; NULL without a cursor */
    const char *cursor_id;        /* == keys[n-1]: the id key, NULL without a cursor */
};

/* Parses limit and cursor for a list sorted by `sort` (NULL for a fixed
 * order). Returns 0, or -1 after answering 400. On success the caller must
 * call list_page_free (list_page_reply_rendered does it). */
int list_page_init_sorted(struct request *r, struct list_page *p, const char *kind, const char *sort, int n_keys) WUR;
static inline int list_page_init(struct request *r, struct list_page *p, const char *kind)
{
    return list_page_init_sorted(r, p, kind, NULL, 1);
}
/* list_page_init for lists ordered by a bigserial id (newest first): the
 * cursor's id must be 1 to 18 digits, else 400. */
int list_page_init_serial(struct request *r, struct list_page *p, const char *kind) WUR;
/* The {items, next_cursor} envelope, items rendered in C: columns 0..ncols-1 are the item's
 * fields (see render.h), the n_keys cursor keys follow them. Returns 200. */
struct render_col;
int list_page_reply_rendered(struct request *r, struct list_page *p, const PGresult *res,
                             const struct render_col *cols, int ncols, int n_keys);
void list_page_free(struct list_page *p);

/* LIKE pattern matching values that contain q, with %, _ and \ escaped.
 * Bind it as a parameter. Returns a malloc'ed string the caller frees. */
char *list_like_pattern(const char *q);

/* "true"/"false" query flags: returns 0/1, or -1 after answering 400. */
int query_bool(struct request *r, const char *name, bool def, bool *out) WUR;

#endif
