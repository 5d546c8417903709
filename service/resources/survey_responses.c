/* Survey responses: /v1/surveys/{id}/responses. Same layout as
 * contacts.c (a resource hanging off a parent): field specs, SQL, helpers,
 * handlers (list, get, create, update). There is no DELETE: a response is a
 * customer's answer, corrected with PATCH while the campaign is open.
 *
 * One response per customer per campaign (UNIQUE in the schema, 409 here),
 * only while the campaign is open and only from a customer it targets (a
 * foreign key to survey_targets; 422 here). A response is scoped like its
 * customer: sales record and read responses of the customers they own;
 * anyone else's customer answers exactly like a missing one. A customer
 * archived since the campaign opened takes no new response (409).
 *
 * A score of 2 or less on any of the four 1-5 dimensions raises a
 * follow-up item (an improvement action, source_type 'survey') for the
 * customer's owner, due 14 days after the business-time today, in the same
 * transaction; a correction that makes a response low raises one when the
 * response has none yet.
 *
 * Lock order: the campaign (FOR SHARE, so closing waits for responses being
 * recorded and the reverse), then the customer, then the response. Opening
 * a campaign locks the campaign before it references customers, so the two
 * agree. */
#include "resources/surveys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "resources/audit.h"
#include "resources/customers.h"
#include "resources/listing.h"
#include "resources/record.h"
#include "resources/render.h"
#include "validate/validate.h"

/* ---- field specs ---- */

#define W_RECORDER (ROLE_SALES | ROLE_SALES_MANAGER | ROLE_OFFICE | ROLE_ADMIN)

static const char *const RESPONSE_METHODS[] = {"questionnaire", "phone", "online", NULL};

/* customer_id stays first: PATCH uses the table from its second row on. */
static const struct field_spec response_fields[] = {
    {"customer_id", "customer_id", FT_UUID, 0, NULL, W_RECORDER, FF_REQUIRED},
    {"product_quality", "product_quality", FT_POS_INT, 5, NULL, W_RECORDER, FF_REQUIRED},
    {"service", "service", FT_POS_INT, 5, NULL, W_RECORDER, FF_REQUIRED},
    {"delivery", "delivery", FT_POS_INT, 5, NULL, W_RECORDER, FF_REQUIRED},
    {"overall", "overall", FT_POS_INT, 5, NULL, W_RECORDER, FF_REQUIRED},
    {"nps", "nps", FT_INT, 10, NULL, W_RECORDER, FF_REQUIRED},
    {"comment", "comment", FT_TEXT, 5000, NULL, W_RECORDER, 0},
    {"method", "method", FT_ENUM, 0, RESPONSE_METHODS, W_RECORDER, FF_NOT_NULL},
    {"responded_at", "responded_at", FT_PAST_TIMESTAMP, 0, NULL, W_RECORDER, FF_NOT_NULL},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
#define response_patch_fields (response_fields + 1)

/* customer_id stays first: it is read-only for PATCH only. */
static const char *const response_read_only[] = {"customer_id", "id",         "survey_id",  "recorded_by", "follow_up_id",
                                                 "created_at",  "updated_at", "version",    NULL};
#define response_create_read_only (response_read_only + 1)

/* ---- SQL ---- */

/* The response document: key, SQL expression (alias sr, its customer c),
 * rendering. id, survey_id and customer_id stay first, version last. */
#define RESPONSE_FIELDS(X)                                                                                    \
    X("id", "sr.id", RK_STRING)                                                                               \
    X("survey_id", "sr.survey_id", RK_STRING)                                                                 \
    X("customer_id", "sr.customer_id", RK_STRING)                                                             \
    X("product_quality", "sr.product_quality", RK_RAW)                                                        \
    X("service", "sr.service", RK_RAW)                                                                        \
    X("delivery", "sr.delivery", RK_RAW)                                                                      \
    X("overall", "sr.overall", RK_RAW)                                                                        \
    X("nps", "sr.nps", RK_RAW)                                                                                \
    X("comment", "sr.comment", RK_STRING)                                                                     \
    X("method", "sr.method", RK_STRING)                                                                       \
    X("responded_at", "sr.responded_at", RK_TIMESTAMP)                                                        \
    X("recorded_by", "sr.recorded_by", RK_STRING)                                                             \
    X("follow_up_id",                                                                                         \
      "(SELECT f.id FROM follow_ups f WHERE f.source_type = 'survey' AND f.source_id = sr.id "                \
      "ORDER BY f.created_at DESC, f.id DESC LIMIT 1)",                                                       \
      RK_STRING)                                                                                              \
    X("created_at", "sr.created_at", RK_TIMESTAMP)                                                            \
    X("updated_at", "sr.updated_at", RK_TIMESTAMP)                                                            \
    X("version", "sr.version", RK_RAW)

static const struct render_col response_render[] = {RESPONSE_FIELDS(RENDER_COL)};
#define RESPONSE_NCOLS ((int)ARRAY_LEN(response_render))
#define RESPONSE_ID_COL 0
#define RESPONSE_CUSTOMER_COL 2
#define RESPONSE_VERSION_COL (RESPONSE_NCOLS - 1)
#define RESPONSE_SELECT RESPONSE_FIELDS(RENDER_SQL)
#define RESPONSE_FROM "survey_responses sr JOIN customers c ON c.id = sr.customer_id"

/* The campaign of the path ($1), if the caller sees it ($2 drafts visible):
 * status, method. */
enum { SURVEY_STATUS, SURVEY_METHOD };
#define SQL_RESPONSE_SURVEY                                                                                   \
    "SELECT s.status, s.method FROM surveys s WHERE s.id = $1::uuid AND ($2::boolean OR s.status <> 'draft')"
#define SQL_RESPONSE_SURVEY_SHARE SQL_RESPONSE_SURVEY " FOR SHARE OF s"
/* $1 survey, $2 response id, $3 owner scope (NULL = all) */
#define SQL_RESPONSE_GET                                                                                      \
    "SELECT " RESPONSE_SELECT "1 FROM " RESPONSE_FROM " WHERE sr.survey_id = $1::uuid AND sr.id = $2::uuid "  \
    "AND ($3::uuid IS NULL OR c.owner_id = $3)"
#define SQL_RESPONSE_CUSTOMER_LOCK                                                                            \
    "SELECT c.id FROM " RESPONSE_FROM " WHERE sr.survey_id = $1::uuid AND sr.id = $2::uuid "                  \
    "AND ($3::uuid IS NULL OR c.owner_id = $3) FOR UPDATE OF c"
/* After the fields: row snapshot. The customer is already locked. */
enum { LOCK_ROW = RESPONSE_NCOLS };
#define SQL_RESPONSE_LOCK                                                                                     \
    "SELECT " RESPONSE_SELECT "to_jsonb(sr) FROM " RESPONSE_FROM " WHERE sr.id = $1::uuid FOR UPDATE OF sr"
/* Is customer $2 targeted by campaign $1; has it responded already? */
#define SQL_RESPONSE_TARGET                                                                                   \
    "SELECT EXISTS (SELECT 1 FROM survey_targets WHERE survey_id = $1::uuid AND customer_id = $2::uuid), "    \
    "EXISTS (SELECT 1 FROM survey_responses WHERE survey_id = $1::uuid AND customer_id = $2::uuid)"
/* $1 survey, $2 customer, $3..$10 the fields in spec order, $11 the campaign's method, $12 the recorder. */
#define SQL_RESPONSE_INSERT                                                                                   \
    "INSERT INTO survey_responses (survey_id, customer_id, product_quality, service, delivery, overall, nps, " \
    "comment, method, responded_at, recorded_by) VALUES ($1::uuid, $2::uuid, $3::smallint, $4::smallint, "   \
    "$5::smallint, $6::smallint, $7::smallint, $8, coalesce($9, $11), coalesce($10::timestamptz, now()), "   \
    "$12::uuid) RETURNING id, to_jsonb(survey_responses)"
/* The improvement action of response $1 (by $2) when a dimension scored 2
 * or less and the response has no follow-up yet (an archived one does not
 * count): for the customer's owner, due in 14 days. Returns the item's id,
 * customer and row snapshot; no row when none is due. */
#define SQL_RESPONSE_FOLLOW_UP                                                                                \
    "WITH f AS (INSERT INTO follow_ups (customer_id, source_type, source_id, description, "                   \
    "responsible_user_id, due_date, created_by) SELECT sr.customer_id, 'survey', sr.id, "                     \
    "'Improvement action: low satisfaction scores in survey \"' || s.title || '\" (' || concat_ws(', ', "     \
    "CASE WHEN sr.product_quality <= 2 THEN 'product quality ' || sr.product_quality END, "                  \
    "CASE WHEN sr.service <= 2 THEN 'service ' || sr.service END, "                                         \
    "CASE WHEN sr.delivery <= 2 THEN 'delivery ' || sr.delivery END, "                                      \
    "CASE WHEN sr.overall <= 2 THEN 'overall ' || sr.overall END) || ')', c.owner_id, crm_today() + 14, "    \
    "$2::uuid FROM survey_responses sr JOIN surveys s ON s.id = sr.survey_id "                               \
    "JOIN customers c ON c.id = sr.customer_id WHERE sr.id = $1::uuid "                                      \
    "AND least(sr.product_quality, sr.service, sr.delivery, sr.overall) <= 2 AND NOT EXISTS (SELECT 1 "       \
    "FROM follow_ups x WHERE x.source_type = 'survey' AND x.source_id = sr.id AND x.archived_at IS NULL) "    \
    "RETURNING *) SELECT f.id, f.customer_id, to_jsonb(f) FROM f"

/* ---- helpers ---- */

/* The campaign the path names, if the caller sees it (404 otherwise);
 * with share, locked FOR SHARE for the transaction. NULL after answering. */
static PGresult *response_survey(struct request *r, bool share)
{
    const char *id = request_param(r, 0);
    const char *params[] = {id, survey_drafts_visible(r)};
    return record_fetch(r, id, share ? "sresp_survey_share" : "sresp_survey",
                        share ? SQL_RESPONSE_SURVEY_SHARE : SQL_RESPONSE_SURVEY, 2, params);
}

/* 409 naming the campaign's state unless it is open. 0 / -1 answered. */
static int response_survey_open(struct request *r, const PGresult *survey, const char *action)
{
    const char *state = PQgetvalue(survey, 0, SURVEY_STATUS);
    if (strcmp(state, "open") == 0)
        return 0;
    problem_state(r, action, state);
    return -1;
}

/* Raises the improvement action of a low-scored response (see
 * SQL_RESPONSE_FOLLOW_UP) and audits it. 0, or -1 after answering. */
static int response_follow_up(struct request *r, const char *response_id)
{
    const char *params[] = {response_id, r->principal.user_id};
    PGresult *res = db_exec(r, "sresp_follow_up", SQL_RESPONSE_FOLLOW_UP, 2, params);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples(res) == 1)
        rc = audit_record(r, "create", "follow_up", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), NULL,
                          PQgetvalue(res, 0, 2));
    PQclear(res);
    return rc;
}

/* Replies status with the response the path's campaign and id names (read
 * again after a write, so follow_up_id is current). */
static int reply_response_by_id(struct request *r, int status, const char *response_id)
{
    const char *params[] = {request_param(r, 0), response_id, NULL};
    PGresult *res = record_fetch(r, response_id, "sresp_get", SQL_RESPONSE_GET, 3, params);
    if (res)
        record_reply(r, status, res, response_render, RESPONSE_NCOLS);
    PQclear(res);
    return r->status;
}

/* ---- handlers ---- */

/* Newest first; the key is the creation time (LIST_CURSOR_TS). */
#define RESPONSE_KEYSET "(sr.created_at, sr.id) < ($%d::timestamptz, $%d::uuid)"

/* Exact-match filters (mask bits 1..2). */
static const struct list_filter response_filters[] = {
    {"customer_id", "sr.customer_id = $%d::uuid", LIST_UUID, NULL},
    {"owner_id", "c.owner_id = $%d::uuid", LIST_UUID, NULL},
};

int survey_responses_list(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    PGresult *survey = NULL, *res = NULL;
    char name[48];
    unsigned mask = 0;

    if (list_page_init_sorted(r, &page, "survey-responses", "-created_at", 2) != 0)
        goto out;
    if (!(survey = response_survey(r, false)))
        goto out;
    sbuf_printf(&b.sql,
                "SELECT " RESPONSE_SELECT LIST_CURSOR_TS("sr.created_at") ", sr.id FROM " RESPONSE_FROM
                " WHERE sr.survey_id = $%d::uuid",
                sqlb_bind(&b, request_param(r, 0)));
    if (principal_scoped(&r->principal)) {
        sbuf_printf(&b.sql, " AND c.owner_id = $%d::uuid", sqlb_bind(&b, r->principal.user_id));
        mask |= 1u << 0;
    }
    if (list_filters_apply(r, response_filters, ARRAY_LEN(response_filters), &b, &mask, 1) != 0 ||
        list_keyset_apply(r, &page, RESPONSE_KEYSET, valid_timestamp, &b, &mask, 10) != 0)
        goto out;
    sbuf_printf(&b.sql, " ORDER BY sr.created_at DESC, sr.id DESC LIMIT $%d::integer",
                sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "sresp_list_%x", mask);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    list_page_reply_rendered(r, &page, res, response_render, RESPONSE_NCOLS, 2);
out:
    PQclear(survey);
    PQclear(res);
    list_page_free(&page);
    sbuf_free(&b.sql);
    return r->status;
}

int survey_responses_get(struct request *r)
{
    PGresult *survey = NULL, *res = NULL;
    const char *id = request_param(r, 1);
    const char *params[] = {request_param(r, 0), id, customer_scope_owner(r)};
    if (!(survey = response_survey(r, false)))
        goto out;
    if (!(res = record_fetch(r, id, "sresp_get", SQL_RESPONSE_GET, 3, params)))
        goto out;
    if (audit_read(r, "survey_response", id, PQgetvalue(res, 0, RESPONSE_CUSTOMER_COL)) != 0)
        goto out;
    record_reply_get(r, res, response_render, RESPONSE_NCOLS);
out:
    PQclear(survey);
    PQclear(res);
    return r->status;
}

int survey_responses_create(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    PGresult *survey = NULL, *res = NULL;
    if (!(survey = response_survey(r, true)))
        goto out;
    if (response_survey_open(r, survey, "record a response") != 0)
        goto out;
    fields_collect(r->json, response_fields, response_create_read_only, r->principal.role, true, &fv, &v);
    bool present;
    const char *customer_id = field_value(&fv, "customer_id", &present);
    int before = v.n;
    if (customer_id && customer_ref_check(r, "customer_id", customer_id, true, &v) != 0)
        goto out;
    bool answered = false;
    if (customer_id && v.n == before) {
        const char *params[] = {request_param(r, 0), customer_id};
        if (!(res = db_exec(r, "sresp_target", SQL_RESPONSE_TARGET, 2, params)))
            goto out;
        if (PQgetvalue(res, 0, 0)[0] != 't')
            verr_add(&v, "customer_id", "is not a customer this survey targets");
        answered = PQgetvalue(res, 0, 1)[0] == 't';
        PQclear(res);
        res = NULL;
    }
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (answered) {
        problem_conflict_field(r, "customer_id", "this customer has already responded to this survey");
        goto out;
    }
    if (customer_check_live(r, customer_id) != 0)
        goto out;
    const char *params[12] = {request_param(r, 0), customer_id};
    for (int i = 1; response_fields[i].name; i++)
        params[i + 1] = field_value(&fv, response_fields[i].name, &present);
    params[10] = PQgetvalue(survey, 0, SURVEY_METHOD);
    params[11] = r->principal.user_id;
    if (!(res = db_exec(r, "sresp_ins", SQL_RESPONSE_INSERT, 12, params)))
        goto out;
    char id[40];
    snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
    if (audit_record(r, "create", "survey_response", id, customer_id, NULL, PQgetvalue(res, 0, 1)) != 0 ||
        response_follow_up(r, id) != 0)
        goto out;
    char location[128];
    snprintf(location, sizeof location, "/v1/surveys/%s/responses/%s", request_param(r, 0), id);
    reply_header(r, "Location", location);
    reply_response_by_id(r, 201, id);
out:
    PQclear(survey);
    PQclear(res);
    field_values_free(&fv);
    return r->status;
}

/* A correction while the campaign is open (closed results stay as they
 * were reported). */
int survey_responses_update(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *survey = NULL, *cur = NULL, *res = NULL;
    fields_collect(r->json, response_patch_fields, response_read_only, r->principal.role, false, &fv, &v);
    if (!(survey = response_survey(r, true)))
        goto out;
    const char *id = request_param(r, 1);
    const char *params[] = {request_param(r, 0), id, customer_scope_owner(r)};
    if (!(cur = record_fetch(r, id, "sresp_cust_lock", SQL_RESPONSE_CUSTOMER_LOCK, 3, params)))
        goto out;
    PQclear(cur);
    if (!(cur = record_fetch(r, id, "sresp_lock", SQL_RESPONSE_LOCK, 1, params + 1)))
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (request_check_if_match(r, PQgetvalue(cur, 0, RESPONSE_VERSION_COL)) != 0 ||
        response_survey_open(r, survey, "update a response") != 0)
        goto out;
    if (fv.n == 0) {
        record_reply(r, 200, cur, response_render, RESPONSE_NCOLS);
        goto out;
    }
    sbuf_puts(&b.sql, "UPDATE survey_responses sr SET ");
    record_set_fields(&b, &fv);
    sbuf_printf(&b.sql, "updated_at = now(), version = sr.version + 1 WHERE sr.id = $%d::uuid RETURNING to_jsonb(sr)",
                sqlb_bind(&b, id));
    if (!(res = db_exec(r, NULL, b.sql.data, b.n, b.params)))
        goto out;
    if (audit_record(r, "update", "survey_response", id, PQgetvalue(cur, 0, RESPONSE_CUSTOMER_COL),
                     PQgetvalue(cur, 0, LOCK_ROW), PQgetvalue(res, 0, 0)) != 0 ||
        response_follow_up(r, id) != 0)
        goto out;
    reply_response_by_id(r, 200, id);
out:
    PQclear(survey);
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}
