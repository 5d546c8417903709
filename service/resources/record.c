#include "resources/record.h"

#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "resources/render.h"
#include "validate/validate.h"

PGresult *record_fetch(struct request *r, const char *id, const char *name, const char *sql, int nparams,
                       const char *const *params)
{
    if (!uuid_valid(id)) {
        problem_send(r, 404, NULL);
        return NULL;
    }
    PGresult *res = db_exec(r, name, sql, nparams, params);
    if (res && PQntuples(res) == 0) {
        PQclear(res);
        problem_send(r, 404, NULL);
        return NULL;
    }
    return res;
}

int record_reply(struct request *r, int status, const PGresult *res, const struct render_col *cols, int ncols)
{
    struct sbuf doc = {0};
    render_row(&doc, res, 0, 0, cols, ncols);
    reply_etag(r, PQgetvalue(res, 0, ncols - 1));
    return reply_json_buf(r, status, &doc);
}

int record_reply_get(struct request *r, const PGresult *res, const struct render_col *cols, int ncols)
{
    const char *version = PQgetvalue(res, 0, ncols - 1);
    if (request_etag_matches(r, version)) {
        reply_etag(r, version);
        return reply_empty(r, 304);
    }
    return record_reply(r, 200, res, cols, ncols);
}

void record_set_fields(struct sqlb *b, const struct field_values *fv)
{
    for (int i = 0; i < fv->n; i++)
        sbuf_printf(&b->sql, "%s = $%d, ", fv->f[i].spec->column, sqlb_bind(b, fv->f[i].value));
}
