/* The single-record side every resource file shares: loading the one row
 * a path names (404 when there is none, exactly as for a record outside
 * the caller's scope) and replying with a record's document and its ETag.
 * A document is columns 0..ncols-1 of a row, rendered by cols (render.h:
 * the FIELDS(RENDER_COL) table of the resource), with the version as its
 * last field. */
#ifndef CRM_RECORD_H
#define CRM_RECORD_H

#include <libpq-fe.h>

#include "common.h"
#include "http/request.h"

struct render_col;
struct sqlb;
struct field_values;

/* Runs the statement (prepared as name; NULL for ad-hoc text) that yields
 * the row of the record id names. An id that is not a UUID answers 404
 * without a query; no row answers 404 too. Returns the result (the
 * caller's to PQclear), or NULL after answering (404, or db_exec's 503…). */
PGresult *record_fetch(struct request *r, const char *id, const char *name, const char *sql, int nparams,
                       const char *const *params) WUR;

/* Replies status with the document of row 0 of res and its ETag
 * W/"<version>". Returns status. */
int record_reply(struct request *r, int status, const PGresult *res, const struct render_col *cols, int ncols);

/* The reply to a GET of the record in row 0 of res: 304 with the ETag when
 * If-None-Match names its version, else record_reply 200. Returns the status. */
int record_reply_get(struct request *r, const PGresult *res, const struct render_col *cols, int ncols);

/* For an UPDATE being built in b: appends "<column> = $n, " for every field
 * fields_collect accepted (columns from the spec table, values bound as
 * parameters, in spec order so the text depends only on which fields came). */
void record_set_fields(struct sqlb *b, const struct field_values *fv);

#endif
