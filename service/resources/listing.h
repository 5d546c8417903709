/* Keyset pagination shared by every list endpoint: limit parsing, opaque
 * cursors (base64url of a JSON array naming the list, the sort and the last
 * row's keys) and the {items, next_cursor} envelope; and the pieces list
 * handlers build their statement from: exact-match filters, the q= search,
 * sort= and the keyset condition after a cursor. */
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

/* ---- building a list statement ----
 * A list handler builds "SELECT … WHERE true" and then appends one constant
 * fragment (from its own static tables) per query parameter present, with
 * the request value bound as a parameter (struct sqlb), never formatted
 * into the text. Each fragment sets a bit of the handler's mask; the mask
 * names the prepared statement, so two requests share a statement name
 * exactly when they build the same text (each bit, below 32, stands for one
 * fragment only). The helpers below append in table order and answer 400
 * for a bad value (then return -1; the caller just cleans up). What they
 * bind is borrowed (query values from r, cursor keys from the page, the q=
 * pattern from the caller): run the statement before freeing any of it. */
struct sqlb;

/* Timestamp sort keys travel in cursors as PostgreSQL prints a timestamptz
 * in the service's sessions (DateStyle ISO, TimeZone UTC: "2026-11-23
 * 08:00:00.123456+00", exact to the microsecond); the key of a forged or
 * corrupted cursor is refused (400: valid_timestamp, which list_keyset_bind
 * also lets read that form) before it reaches SQL. The column's own text:
 * the earlier to_json(col) #>> '{}' cost a tenth of a customer page's
 * database time, evaluated on every row for the one key a page needs.
 * col is an SQL expression given as a string literal. */
#define LIST_CURSOR_TS(col) col

/* How the value of an exact-match filter is checked before it is bound. */
enum list_check {
    LIST_TEXT,      /* valid UTF-8 of at most 200 bytes (empty allowed) */
    LIST_UUID,      /* canonical UUID text (uuid_valid) */
    LIST_DATE,      /* YYYY-MM-DD (valid_date) */
    LIST_TIMESTAMP, /* RFC 3339 with offset (valid_timestamp) */
    LIST_CHOICE,    /* one of the filter's choices, exactly */
};

/* An exact-match filter: the query parameter, the SQL condition with
 * exactly one $%d (the value), the check, and for LIST_CHOICE the allowed
 * values (NULL-terminated; NULL otherwise). */
struct list_filter {
    const char *name;
    const char *cond;
    enum list_check check;
    const char *const *choices;
};

/* Whether v passes check (choices: for LIST_CHOICE). */
bool list_value_ok(enum list_check check, const char *const *choices, const char *v);

/* For each filter f[i] whose parameter is in the query: checks the value
 * (else answers 400 "invalid value for query parameter '<name>'"), appends
 * " AND <cond>" with the value bound, and sets bit first_bit + i of *mask.
 * Returns 0, or -1 after answering (nothing more is appended then). */
int list_filters_apply(struct request *r, const struct list_filter *f, size_t n, struct sqlb *b, unsigned *mask,
                       int first_bit) WUR;

/* The q= search: *pattern = NULL when q is absent; for 1 to 100 UTF-8
 * characters *pattern = list_like_pattern(q), which the caller owns (free)
 * and keeps until the statement has run when it binds it. Anything else:
 * 400 "q must be 1 to 100 characters". Returns 0, or -1 after answering. */
int list_search_pattern(struct request *r, char **pattern) WUR;

/* list_search_pattern, and when q is present appends " AND <cond>", where
 * cond uses the bound pattern as its one or two $%d (e.g. two columns
 * searched with the same pattern), and sets bit of *mask. *pattern as for
 * list_search_pattern. Returns 0, or -1 after answering. */
int list_search_apply(struct request *r, const char *cond, struct sqlb *b, char **pattern, unsigned *mask,
                      int bit) WUR;

/* A sort a list offers with sort=. The sort key and the row id make the
 * two-key cursor. */
struct list_sort {
    const char *name;                /* the sort= value, baked into cursors */
    const char *order;               /* ORDER BY text */
    const char *keyset;              /* row after the cursor: $%d the sort key, then $%d the id */
    const char *key_expr;            /* select expression: the row's sort key as cursor text */
    bool (*key_valid)(const char *); /* check of a cursor's sort key; NULL: any text */
};

/* The sort named by sort= among s[0..n): its index, 0 (the default) when
 * the parameter is absent, or -1 after answering 400 with message (which
 * should list the names). */
int list_sort_find(struct request *r, const struct list_sort *s, size_t n, const char *message) WUR;

/* For a page with a two-key cursor (sort key, id): refuses it with 400
 * "cursor is invalid" unless the id is a UUID and key_valid (NULL: any)
 * accepts the sort key; else appends " AND <keyset>" with the sort key and
 * the id bound (keyset: $%d key, then $%d id) and sets bit of *mask.
 * Without a cursor nothing happens. Returns 0, or -1 after answering. */
int list_keyset_apply(struct request *r, const struct list_page *p, const char *keyset,
                      bool (*key_valid)(const char *), struct sqlb *b, unsigned *mask, int bit) WUR;

/* The checks of list_keyset_apply without the text, for a statement that
 * uses the cursor in more than one place or builds its text after binding
 * (reports.c): for a page with a two-key cursor, refuses it with 400
 * "cursor is invalid" unless the id is a UUID and key_valid (NULL: any)
 * accepts the sort key; else binds the sort key and the id and sets *key and
 * *id to their parameter numbers. Without a cursor *key = *id = 0. Returns
 * 0, or -1 after answering. */
int list_keyset_bind(struct request *r, const struct list_page *p, bool (*key_valid)(const char *), struct sqlb *b,
                     int *key, int *id) WUR;

#endif
