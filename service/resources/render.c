#include "resources/render.h"

#include <string.h>

/* "2026-11-23 08:00:00.123456+00" → "2026-11-23T08:00:00Z" (the session
 * runs with TimeZone=UTC and DateStyle=ISO). */
static void render_timestamp(struct sbuf *out, const char *v, size_t len)
{
    if (len < 19 || v[10] != ' ') {
        sbuf_json_string(out, v, len); /* not expected; never emit broken JSON */
        return;
    }
    char ts[22];
    memcpy(ts + 1, v, 19);
    ts[0] = '"';
    ts[11] = 'T';
    ts[20] = 'Z';
    ts[21] = '"';
    sbuf_append(out, ts, sizeof ts);
}

void render_row(struct sbuf *out, const PGresult *res, int row, int first, const struct render_col *cols, int n)
{
    /* No exact reservation: sbuf grows by doubling, and a page of rows
     * reuses one buffer (each libpq accessor is a call with bounds checks,
     * a third of this function's time when every length was asked twice). */
    sbuf_append(out, "{", 1);
    for (int i = 0; i < n; i++) {
        if (i)
            sbuf_append(out, ",", 1);
        sbuf_append(out, "\"", 1);
        sbuf_append(out, cols[i].key, cols[i].key_len);
        sbuf_append(out, "\":", 2);
        int col = first + i;
        const char *v = PQgetvalue(res, row, col);
        /* SQL NULL reads as "": only an empty value needs the NULL check. */
        if (!*v && PQgetisnull(res, row, col)) {
            sbuf_append(out, "null", 4);
            continue;
        }
        size_t len = (size_t)PQgetlength(res, row, col);
        switch (cols[i].kind) {
        case RK_STRING:
            sbuf_json_string(out, v, len);
            break;
        case RK_RAW:
            sbuf_append(out, v, len);
            break;
        case RK_BOOL:
            if (v[0] == 't')
                sbuf_append(out, "true", 4);
            else
                sbuf_append(out, "false", 5);
            break;
        case RK_TIMESTAMP:
            render_timestamp(out, v, len);
            break;
        }
    }
    sbuf_append(out, "}", 1);
}
