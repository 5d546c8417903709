/* Renders result rows as JSON objects in C. PostgreSQL's json_build_object
 * re-classifies every argument on every row (~40 µs for a customer); plain
 * text columns rendered here cost about 1 µs. A resource declares its
 * fields once as an X-macro list, FIELDS(X) with X(key, sql_expr, kind),
 * which yields both the SQL select list (RENDER_SQL) and the render table
 * (RENDER_COL), so the two cannot drift apart. */
#ifndef CRM_RENDER_H
#define CRM_RENDER_H

#include <libpq-fe.h>

#include "common.h"

enum render_kind {
    RK_STRING,    /* JSON string (escaped) */
    RK_RAW,       /* number or JSON text, copied as is */
    RK_BOOL,      /* 't'/'f' → true/false */
    RK_TIMESTAMP, /* timestamptz text (ISO, UTC session) → "YYYY-MM-DDTHH:MM:SSZ" */
};

struct render_col {
    const char *key;
    size_t key_len;
    enum render_kind kind;
};

#define RENDER_COL(key, expr, kind) {key, sizeof(key) - 1, kind},
#define RENDER_SQL(key, expr, kind) expr ", "

/* Appends {"key":value,...} for cols[0..n) read from res row `row`,
 * starting at column `first`. SQL NULL renders as null. */
void render_row(struct sbuf *out, const PGresult *res, int row, int first, const struct render_col *cols, int n);

#endif
