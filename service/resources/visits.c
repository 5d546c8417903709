/* Visit records, filed after a visit. Same layout as customers.c: field
 * specs, SQL, helpers, handlers (list, get, create, update, archive,
 * restore).
 *
 * A record filed with plan_id completes that plan in the same transaction
 * (visit_plans.c holds the plan's rules). Archiving such a record reopens
 * the plan (back to approved when it had been approved, else planned);
 * restoring it completes the plan again, under the same rules as filing.
 * The plan keeps at most one record, archived or not (visits_plan_id_key):
 * a second record for it is 409 naming plan_id. Every write locks the
 * record's customer first, then the record, then its plan. The database
 * keeps customers.last_visit_at / last_contact_at (trigger on visits). */
#include "resources/visits.h"

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
#include "resources/users.h"
#include "resources/visit_plans.h"
#include "validate/validate.h"

/* ---- field specs ---- */

#define W_STAFF (ROLE_SALES | ROLE_SALES_MANAGER | ROLE_ADMIN)

/* plan_id and customer_id stay first: PATCH uses the table from its third
 * row on (visit_patch_fields), so a record's plan and customer are fixed
 * at filing. customer_id is required unless plan_id names the plan. */
static const struct field_spec visit_fields[] = {
    {"plan_id", "plan_id", FT_UUID, 0, NULL, W_STAFF, 0},
    {"customer_id", "customer_id", FT_UUID, 0, NULL, W_STAFF, 0},
    {"visited_at", "visited_at", FT_PAST_TIMESTAMP, 0, NULL, W_STAFF, FF_REQUIRED},
    {"place", "place", FT_TEXT, 500, NULL, W_STAFF, 0},
    {"our_participant_ids", "our_participant_ids", FT_UUID_LIST, 20, NULL, W_STAFF, FF_NOT_NULL},
    {"customer_participants", "customer_participants", FT_TEXT_LIST, 30, NULL, W_STAFF, FF_NOT_NULL},
    {"customer_situation", "customer_situation", FT_TEXT, 5000, NULL, W_STAFF, 0},
    {"discussion", "discussion", FT_TEXT, 5000, NULL, W_STAFF, 0},
    {"customer_feedback", "customer_feedback", FT_TEXT, 5000, NULL, W_STAFF, 0},
    {"suggestions", "suggestions", FT_TEXT, 5000, NULL, W_STAFF, 0},
    {"competitor_info", "competitor_info", FT_TEXT, 5000, NULL, W_STAFF, 0},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
#define visit_patch_fields (visit_fields + 2)

/* plan_id and customer_id stay first: read-only for PATCH only (visit_create_read_only). */
static const char *const visit_read_only[] = {"plan_id",  "customer_id", "id",         "author_id",
                                              "archived", "archived_at", "created_at", "updated_at",
                                              "version",  NULL};
#define visit_create_read_only (visit_read_only + 2)

/* ---- SQL ---- */

/* The visit document: key, SQL expression (alias v), rendering. The select
 * list and the renderer both come from this one list; id, customer_id and
 * plan_id stay first, version last (its column feeds the ETag). */
#define VISIT_FIELDS(X)                                                                                       \
    X("id", "v.id", RK_STRING)                                                                                \
    X("customer_id", "v.customer_id", RK_STRING)                                                              \
    X("plan_id", "v.plan_id", RK_STRING)                                                                      \
    X("visited_at", "v.visited_at", RK_TIMESTAMP)                                                             \
    X("place", "v.place", RK_STRING)                                                                          \
    X("our_participant_ids", "v.our_participant_ids", RK_RAW)                                                 \
    X("customer_participants", "v.customer_participants", RK_RAW)                                             \
    X("customer_situation", "v.customer_situation", RK_STRING)                                               \
    X("discussion", "v.discussion", RK_STRING)                                                                \
    X("customer_feedback", "v.customer_feedback", RK_STRING)                                                  \
    X("suggestions", "v.suggestions", RK_STRING)                                                              \
    X("competitor_info", "v.competitor_info", RK_STRING)                                                      \
    X("author_id", "v.author_id", RK_STRING)                                                                  \
    X("archived", "v.archived_at IS NOT NULL", RK_BOOL)                                                       \
    X("archived_at", "v.archived_at", RK_TIMESTAMP)                                                           \
    X("created_at", "v.created_at", RK_TIMESTAMP)                                                             \
    X("updated_at", "v.updated_at", RK_TIMESTAMP)                                                             \
    X("version", "v.version", RK_RAW)

static const struct render_col visit_render[] = {VISIT_FIELDS(RENDER_COL)};
#define VISIT_NCOLS ((int)ARRAY_LEN(visit_render))
#define VISIT_ID_COL 0
#define VISIT_CUSTOMER_COL 1
#define VISIT_PLAN_COL 2
#define VISIT_VERSION_COL (VISIT_NCOLS - 1)
/* The select list: every field, then whatever the query adds after it. */
#define VISIT_SELECT VISIT_FIELDS(RENDER_SQL)
#define VISIT_FROM "visits v JOIN customers c ON c.id = v.customer_id"

/* $1 id, $2 owner scope (NULL = all) */
#define SQL_VISIT_GET                                                                                         \
    "SELECT " VISIT_SELECT "1 FROM " VISIT_FROM " WHERE v.id = $1::uuid AND ($2::uuid IS NULL OR c.owner_id = $2)"
/* The customer of a record in scope, locked first ($1 record id, $2 owner scope). */
#define SQL_VISIT_CUSTOMER_LOCK                                                                               \
    "SELECT c.id FROM " VISIT_FROM " WHERE v.id = $1::uuid AND ($2::uuid IS NULL OR c.owner_id = $2) "        \
    "FOR UPDATE OF c"
/* After the fields: archived, row snapshot. The customer is already locked. */
enum { LOCK_ARCHIVED = VISIT_NCOLS, LOCK_ROW };
#define SQL_VISIT_LOCK                                                                                        \
    "SELECT " VISIT_SELECT "v.archived_at IS NOT NULL, to_jsonb(v) FROM visits v WHERE v.id = $1::uuid FOR UPDATE"

/* ---- helpers ---- */

/* Locks the record's customer, then the record the path names (in scope),
 * for the transaction, and honours If-Match. NULL after answering (404 /
 * 412 / 503). */
static PGresult *visit_lock(struct request *r)
{
    const char *id = request_param(r, 0);
    const char *params[] = {id, customer_scope_owner(r)};
    PGresult *res = record_fetch(r, id, "visit_cust_lock", SQL_VISIT_CUSTOMER_LOCK, 2, params);
    if (!res)
        return NULL;
    PQclear(res);
    /* Records are never deleted and never change customer: the row is there. */
    if ((res = record_fetch(r, id, "visit_lock", SQL_VISIT_LOCK, 1, params)) &&
        request_check_if_match(r, PQgetvalue(res, 0, VISIT_VERSION_COL)) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Replies with the visit document in row 0 of res (the fields first). */
static int reply_visit(struct request *r, int status, const PGresult *res)
{
    return record_reply(r, status, res, visit_render, VISIT_NCOLS);
}

/* Runs "UPDATE visits v SET <set> ..." for the locked record cur, returning
 * the document fields and the new row snapshot, and records the audit row
 * (before = the locked row's snapshot). */
static PGresult *visit_apply(struct request *r, struct sqlb *b, const char *action, const PGresult *cur)
{
    const char *id = PQgetvalue(cur, 0, VISIT_ID_COL);
    sbuf_printf(&b->sql,
                "updated_at = now(), version = v.version + 1 WHERE v.id = $%d::uuid "
                "RETURNING " VISIT_SELECT "to_jsonb(v)",
                sqlb_bind(b, id));
    PGresult *res = db_exec(r, NULL, b->sql.data, b->n, b->params);
    if (!res)
        return NULL;
    if (audit_record(r, action, "visit", id, PQgetvalue(cur, 0, VISIT_CUSTOMER_COL), PQgetvalue(cur, 0, LOCK_ROW),
                     PQgetvalue(res, 0, VISIT_NCOLS)) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Settles the customer of a new record: the plan's when plan_id names a
 * visible plan (a customer_id sent beside it must match), else the
 * customer_id sent, which must be visible; locks that customer. Adds field
 * errors to v. Returns 0 (check v), or -1 after answering (503). */
static int visit_customer(struct request *r, const char *plan_id, const char *sent, char customer[37],
                          struct verrs *v)
{
    customer[0] = '\0';
    if (plan_id) {
        int found = visit_plan_customer(r, plan_id, customer);
        if (found < 0)
            return -1;
        if (!found) {
            verr_add(v, "plan_id", "no such plan");
            return 0;
        }
        if (sent && strcmp(sent, customer) != 0) {
            verr_add(v, "customer_id", "must be the customer of the plan");
            return 0;
        }
    } else if (!sent) {
        verr_add(v, "customer_id", "is required unless plan_id is given");
        return 0;
    } else {
        snprintf(customer, 37, "%s", sent);
    }
    return customer_ref_check(r, "customer_id", customer, true, v);
}

/* ---- handlers ---- */

/* The one order, newest first; the key is the visit time (LIST_CURSOR_TS). */
#define VISIT_KEYSET "(v.visited_at, v.id) < ($%d::timestamptz, $%d::uuid)"

/* Exact-match filters (mask bits 2..6). */
static const struct list_filter visit_filters[] = {
    {"customer_id", "v.customer_id = $%d::uuid", LIST_UUID, NULL},
    {"plan_id", "v.plan_id = $%d::uuid", LIST_UUID, NULL},
    {"author_id", "v.author_id = $%d::uuid", LIST_UUID, NULL},
    {"from", "v.visited_at >= $%d::timestamptz", LIST_TIMESTAMP, NULL},
    {"to", "v.visited_at < $%d::timestamptz", LIST_TIMESTAMP, NULL},
};

/* Newest first: visited_at desc, id desc. */
int visits_list(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    PGresult *res = NULL;
    char name[48];
    unsigned mask = 0;

    bool include_archived;
    if (query_bool(r, "include_archived", false, &include_archived) != 0)
        goto out;
    if (list_page_init_sorted(r, &page, "visits", "-visited_at", 2) != 0)
        goto out;

    sbuf_puts(&b.sql, "SELECT " VISIT_SELECT LIST_CURSOR_TS("v.visited_at") ", v.id FROM " VISIT_FROM " WHERE true");
    if (!include_archived)
        sbuf_puts(&b.sql, " AND v.archived_at IS NULL");
    else
        mask |= 1u << 0;
    if (principal_scoped(&r->principal)) {
        sbuf_printf(&b.sql, " AND c.owner_id = $%d::uuid", sqlb_bind(&b, r->principal.user_id));
        mask |= 1u << 1;
    }
    if (list_filters_apply(r, visit_filters, ARRAY_LEN(visit_filters), &b, &mask, 2) != 0 ||
        list_keyset_apply(r, &page, VISIT_KEYSET, valid_timestamp, &b, &mask, 10) != 0)
        goto out;
    sbuf_printf(&b.sql, " ORDER BY v.visited_at DESC, v.id DESC LIMIT $%d::integer",
                sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "visit_list_%x", mask);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    list_page_reply_rendered(r, &page, res, visit_render, VISIT_NCOLS, 2);
out:
    PQclear(res);
    list_page_free(&page);
    sbuf_free(&b.sql);
    return r->status;
}

int visits_get(struct request *r)
{
    PGresult *res = NULL;
    const char *id = request_param(r, 0);
    const char *params[] = {id, customer_scope_owner(r)};
    if (!(res = record_fetch(r, id, "visit_get", SQL_VISIT_GET, 2, params)))
        goto out;
    if (audit_read(r, "visit", PQgetvalue(res, 0, VISIT_ID_COL), PQgetvalue(res, 0, VISIT_CUSTOMER_COL)) != 0)
        goto out;
    record_reply_get(r, res, visit_render, VISIT_NCOLS);
out:
    PQclear(res);
    return r->status;
}

int visits_create(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *plan = NULL, *res = NULL;
    char name[48], customer[37] = "";
    fields_collect(r->json, visit_fields, visit_create_read_only, r->principal.role, true, &fv, &v);

    bool present;
    const char *plan_id = field_value(&fv, "plan_id", &present);
    const char *sent_customer = field_value(&fv, "customer_id", &present);
    /* The customer is settled only from ids that passed validation (null = not sent). */
    bool ids_valid = true;
    for (int i = 0; i < v.n; i++)
        ids_valid &= strcmp(v.e[i].field, "plan_id") != 0 && strcmp(v.e[i].field, "customer_id") != 0;
    if (ids_valid && visit_customer(r, plan_id, sent_customer, customer, &v) != 0)
        goto out;
    if (users_check_active(r, "our_participant_ids", field_value(&fv, "our_participant_ids", &present), &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (customer_check_live(r, customer) != 0)
        goto out;
    if (plan_id && !(plan = visit_plan_lock_completable(r, plan_id)))
        goto out;

    /* Columns in spec order, so the text depends only on which fields came;
     * customer_id (visit_fields[1]) is the settled one, bound last. */
    unsigned mask = 0;
    sbuf_puts(&b.sql, "INSERT INTO visits AS v (");
    for (int i = 0; i < fv.n; i++) {
        if (fv.f[i].spec == &visit_fields[1])
            continue;
        sbuf_printf(&b.sql, "%s, ", fv.f[i].spec->column);
        mask |= 1u << (fv.f[i].spec - visit_fields);
    }
    sbuf_puts(&b.sql, "customer_id, author_id) VALUES (");
    for (int i = 0; i < fv.n; i++)
        if (fv.f[i].spec != &visit_fields[1])
            sbuf_printf(&b.sql, "$%d, ", sqlb_bind(&b, fv.f[i].value));
    int p_customer = sqlb_bind(&b, customer);
    int p_author = sqlb_bind(&b, r->principal.user_id);
    sbuf_printf(&b.sql, "$%d::uuid, $%d::uuid) RETURNING " VISIT_SELECT "to_jsonb(v)", p_customer, p_author);
    snprintf(name, sizeof name, "visit_ins_%x", mask);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    const char *id = PQgetvalue(res, 0, VISIT_ID_COL);
    if (audit_record(r, "create", "visit", id, customer, NULL, PQgetvalue(res, 0, VISIT_NCOLS)) != 0)
        goto out;
    if (plan && visit_plan_complete(r, plan, id) != 0)
        goto out;
    char location[96];
    snprintf(location, sizeof location, "/v1/visits/%s", id);
    reply_header(r, "Location", location);
    reply_visit(r, 201, res);
out:
    PQclear(plan);
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

int visits_update(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    fields_collect(r->json, visit_patch_fields, visit_read_only, r->principal.role, false, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(cur = visit_lock(r)))
        goto out;
    bool present;
    if (users_check_active(r, "our_participant_ids", field_value(&fv, "our_participant_ids", &present), &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (fv.n == 0) {
        reply_visit(r, 200, cur);
        goto out;
    }
    sbuf_puts(&b.sql, "UPDATE visits v SET ");
    record_set_fields(&b, &fv);
    if (!(res = visit_apply(r, &b, "update", cur)))
        goto out;
    reply_visit(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

int visits_archive(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (!(cur = visit_lock(r)))
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't') {
        reply_empty(r, 204);
        goto out;
    }
    sbuf_puts(&b.sql, "UPDATE visits v SET archived_at = now(), ");
    if (!(res = visit_apply(r, &b, "archive", cur)))
        goto out;
    const char *plan_id = db_val(cur, 0, VISIT_PLAN_COL);
    if (plan_id && visit_plan_reopen(r, plan_id, PQgetvalue(cur, 0, VISIT_ID_COL)) != 0)
        goto out;
    reply_empty(r, 204);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

int visits_restore(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *plan = NULL, *res = NULL;
    if (body_reject_fields(r, NULL) != 0)
        goto out;
    if (!(cur = visit_lock(r)))
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] != 't') {
        problem_state(r, "restore", "not archived");
        goto out;
    }
    const char *plan_id = db_val(cur, 0, VISIT_PLAN_COL);
    if (plan_id && !(plan = visit_plan_lock_completable(r, plan_id)))
        goto out;
    sbuf_puts(&b.sql, "UPDATE visits v SET archived_at = NULL, ");
    if (!(res = visit_apply(r, &b, "restore", cur)))
        goto out;
    if (plan && visit_plan_complete(r, plan, PQgetvalue(cur, 0, VISIT_ID_COL)) != 0)
        goto out;
    reply_visit(r, 200, res);
out:
    PQclear(cur);
    PQclear(plan);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}
