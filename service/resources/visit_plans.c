/* Visit plans. Same layout as customers.c: field specs, SQL, helpers,
 * handlers (list, get, create, update), then the actions (approve, cancel)
 * and the plan side of visit records (complete, reopen) for visits.c.
 *
 * Status is stored as planned / approved / completed / cancelled; a plan
 * still planned or approved after its date renders as `missed`, computed in
 * SQL on every read against the business-time date (crm_today()), so it is
 * never stale. A plan has no DELETE: cancel is how it ends. Every write
 * locks the plan's customer first, then the plan (the project's lock order). */
#include "resources/visit_plans.h"

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
#include "validate/validate.h"

/* ---- field specs ---- */

#define W_STAFF (ROLE_SALES | ROLE_SALES_MANAGER | ROLE_ADMIN)

/* customer_id stays first: PATCH uses the table from its second row on
 * (plan_patch_fields), so the customer of a plan is fixed at creation. */
static const struct field_spec plan_fields[] = {
    {"customer_id", "customer_id", FT_UUID, 0, NULL, W_STAFF, FF_REQUIRED},
    {"planned_date", "planned_date", FT_DATE, 0, NULL, W_STAFF, FF_REQUIRED},
    {"participant_ids", "participant_ids", FT_UUID_LIST, 20, NULL, W_STAFF, FF_NOT_NULL},
    {"purpose", "purpose", FT_TEXT, 500, NULL, W_STAFF, FF_REQUIRED},
    {"agenda", "agenda", FT_TEXT, 5000, NULL, W_STAFF, 0},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
#define plan_patch_fields (plan_fields + 1)

/* customer_id stays first: it is read-only for PATCH only (plan_create_read_only). */
static const char *const plan_read_only[] = {
    "customer_id", "id", "status", "approval_required", "approved_by", "approved_at", "cancel_reason",
    "cancelled_by", "cancelled_at", "completed_at", "visit_id", "created_by", "created_at", "updated_at",
    "version", NULL};
#define plan_create_read_only (plan_read_only + 1)

static const char *const PLAN_STATUS[] = {"planned", "approved", "completed", "cancelled", "missed", NULL};

/* ---- SQL ---- */

/* The rendered status: stored planned / approved past the business-time date is missed. */
#define PLAN_STATUS_SQL                                                                                       \
    "CASE WHEN p.status IN ('planned', 'approved') AND p.planned_date < crm_today() THEN 'missed' "          \
    "ELSE p.status END"

/* The plan document: key, SQL expression (alias p, its customer c),
 * rendering. The select list and the renderer both come from this one
 * list; id and customer_id stay first, version last (its column feeds the
 * ETag). */
#define PLAN_FIELDS(X)                                                                                        \
    X("id", "p.id", RK_STRING)                                                                                \
    X("customer_id", "p.customer_id", RK_STRING)                                                              \
    X("planned_date", "p.planned_date", RK_STRING)                                                            \
    X("participant_ids", "p.participant_ids", RK_RAW)                                                         \
    X("purpose", "p.purpose", RK_STRING)                                                                      \
    X("agenda", "p.agenda", RK_STRING)                                                                        \
    X("status", PLAN_STATUS_SQL, RK_STRING)                                                                   \
    X("approval_required", "coalesce(c.tier_override, c.tier) = 'vip'", RK_BOOL)                             \
    X("approved_by", "p.approved_by", RK_STRING)                                                              \
    X("approved_at", "p.approved_at", RK_TIMESTAMP)                                                           \
    X("cancel_reason", "p.cancel_reason", RK_STRING)                                                          \
    X("cancelled_by", "p.cancelled_by", RK_STRING)                                                            \
    X("cancelled_at", "p.cancelled_at", RK_TIMESTAMP)                                                         \
    X("completed_at", "p.completed_at", RK_TIMESTAMP)                                                         \
    X("visit_id", "p.visit_id", RK_STRING)                                                                    \
    X("created_by", "p.created_by", RK_STRING)                                                                \
    X("created_at", "p.created_at", RK_TIMESTAMP)                                                             \
    X("updated_at", "p.updated_at", RK_TIMESTAMP)                                                             \
    X("version", "p.version", RK_RAW)

static const struct render_col plan_render[] = {PLAN_FIELDS(RENDER_COL)};
#define PLAN_NCOLS ((int)ARRAY_LEN(plan_render))
#define PLAN_ID_COL 0
#define PLAN_CUSTOMER_COL 1
#define PLAN_STATUS_COL 6
#define PLAN_APPROVAL_COL 7
#define PLAN_VERSION_COL (PLAN_NCOLS - 1)
/* The select list: every field, then whatever the query adds after it. */
#define PLAN_SELECT PLAN_FIELDS(RENDER_SQL)
#define PLAN_FROM "visit_plans p JOIN customers c ON c.id = p.customer_id"

/* $1 id, $2 owner scope (NULL = all) */
#define SQL_PLAN_GET                                                                                          \
    "SELECT " PLAN_SELECT "1 FROM " PLAN_FROM " WHERE p.id = $1::uuid AND ($2::uuid IS NULL OR c.owner_id = $2)"
/* The customer of a plan in scope, locked first ($1 plan id, $2 owner scope). */
#define SQL_PLAN_CUSTOMER_LOCK                                                                                \
    "SELECT c.id FROM " PLAN_FROM " WHERE p.id = $1::uuid AND ($2::uuid IS NULL OR c.owner_id = $2) "         \
    "FOR UPDATE OF c"
/* The customer of a plan in scope, not locked ($1 plan id, $2 owner scope). */
#define SQL_PLAN_CUSTOMER                                                                                     \
    "SELECT c.id FROM " PLAN_FROM " WHERE p.id = $1::uuid AND ($2::uuid IS NULL OR c.owner_id = $2)"
/* After the fields: stored status, visit_id, row snapshot. The customer is already locked. */
enum { LOCK_STORED_STATUS = PLAN_NCOLS, LOCK_VISIT, LOCK_ROW };
#define SQL_PLAN_LOCK                                                                                         \
    "SELECT " PLAN_SELECT "p.status, p.visit_id, to_jsonb(p) FROM " PLAN_FROM " WHERE p.id = $1::uuid "      \
    "FOR UPDATE OF p"
#define SQL_PLAN_DATE_PAST "SELECT $1::date < crm_today()"

/* ---- helpers ---- */

static bool state_in(const char *state, const char *const *states)
{
    for (const char *const *s = states; *s; s++)
        if (strcmp(*s, state) == 0)
            return true;
    return false;
}

/* For an action on the plan the path names: locks the plan's customer,
 * then the plan (in scope), for the transaction; honours If-Match; the
 * rendered state must be one of from (else 409 naming it). Returns the
 * locked row, or NULL after answering (404 / 409 / 412 / 503). */
static PGresult *plan_lock(struct request *r, const char *action, const char *const *from)
{
    const char *id = request_param(r, 0);
    const char *params[] = {id, customer_scope_owner(r)};
    PGresult *cur = record_fetch(r, id, "vplan_cust_lock", SQL_PLAN_CUSTOMER_LOCK, 2, params);
    if (!cur)
        return NULL;
    PQclear(cur);
    /* Plans are never deleted and never change customer: the row is there. */
    cur = record_fetch(r, id, "vplan_lock", SQL_PLAN_LOCK, 1, params);
    if (!cur || request_check_if_match(r, PQgetvalue(cur, 0, PLAN_VERSION_COL)) != 0)
        goto fail;
    const char *state = PQgetvalue(cur, 0, PLAN_STATUS_COL);
    if (!state_in(state, from)) {
        problem_state(r, action, state);
        goto fail;
    }
    return cur;
fail:
    PQclear(cur);
    return NULL;
}

/* A planned date must not be before the business-time today. Returns 0
 * (check v), or -1 after answering (503). */
static int plan_date_check(struct request *r, const char *date, struct verrs *v)
{
    if (!date)
        return 0;
    const char *params[] = {date};
    PGresult *res = db_exec(r, "vplan_date_past", SQL_PLAN_DATE_PAST, 1, params);
    if (!res)
        return -1;
    if (PQgetvalue(res, 0, 0)[0] == 't')
        verr_add(v, "planned_date", "must not be in the past");
    PQclear(res);
    return 0;
}

/* Replies with the plan document in row 0 of res (the fields first). */
static int reply_plan(struct request *r, int status, const PGresult *res)
{
    return record_reply(r, status, res, plan_render, PLAN_NCOLS);
}

/* Runs "UPDATE visit_plans p SET <set> ..." for the locked plan cur,
 * returning the document fields and the new row snapshot, and records the
 * audit row (before = the locked row's snapshot). */
static PGresult *plan_apply(struct request *r, struct sqlb *b, const char *action, const PGresult *cur)
{
    const char *id = PQgetvalue(cur, 0, PLAN_ID_COL);
    sbuf_printf(&b->sql,
                "updated_at = now(), version = p.version + 1 FROM customers c "
                "WHERE p.id = $%d::uuid AND c.id = p.customer_id RETURNING " PLAN_SELECT "to_jsonb(p)",
                sqlb_bind(b, id));
    PGresult *res = db_exec(r, NULL, b->sql.data, b->n, b->params);
    if (!res)
        return NULL;
    if (audit_record(r, action, "visit_plan", id, PQgetvalue(cur, 0, PLAN_CUSTOMER_COL), PQgetvalue(cur, 0, LOCK_ROW),
                     PQgetvalue(res, 0, PLAN_NCOLS)) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Moves the locked plan cur with the constant SET fragment set, which may
 * use $1 and $2 for the values in binds (NULL-terminated), then replies
 * with the plan. */
static int plan_transition(struct request *r, const PGresult *cur, const char *action, const char *set,
                           const char *const *binds)
{
    struct sqlb b = {0};
    PGresult *res = NULL;
    for (const char *const *v = binds; v && *v; v++)
        sqlb_bind(&b, *v);
    sbuf_puts(&b.sql, "UPDATE visit_plans p SET ");
    sbuf_puts(&b.sql, set);
    sbuf_puts(&b.sql, ", ");
    if ((res = plan_apply(r, &b, action, cur)))
        reply_plan(r, 200, res);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

/* ---- handlers ---- */

/* sort=, the default first. The key is the planned date (YYYY-MM-DD). */
#define PLAN_KEY "p.planned_date::text"
static const struct list_sort plan_sorts[] = {
    {"planned_date", "p.planned_date, p.id", "(p.planned_date, p.id) > ($%d::date, $%d::uuid)", PLAN_KEY, valid_date},
    {"-planned_date", "p.planned_date DESC, p.id DESC", "(p.planned_date, p.id) < ($%d::date, $%d::uuid)", PLAN_KEY,
     valid_date},
};

/* Exact-match filters (mask bits 1..4). */
static const struct list_filter plan_filters[] = {
    {"customer_id", "p.customer_id = $%d::uuid", LIST_UUID, NULL},
    {"owner_id", "c.owner_id = $%d::uuid", LIST_UUID, NULL},
    {"from", "p.planned_date >= $%d::date", LIST_DATE, NULL},
    {"to", "p.planned_date <= $%d::date", LIST_DATE, NULL},
};

/* The status filter, per value of PLAN_STATUS (same order): planned and
 * approved mean stored so and not yet missed. */
static const char *const plan_status_conds[] = {
    "p.status = 'planned' AND p.planned_date >= crm_today()",
    "p.status = 'approved' AND p.planned_date >= crm_today()",
    "p.status = 'completed'",
    "p.status = 'cancelled'",
    "p.status IN ('planned', 'approved') AND p.planned_date < crm_today()",
};

int visit_plans_list(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    PGresult *res = NULL;
    char name[48];
    unsigned mask = 0;

    int si = list_sort_find(r, plan_sorts, ARRAY_LEN(plan_sorts), "sort must be one of planned_date, -planned_date");
    if (si < 0)
        goto out;
    const struct list_sort *sort = &plan_sorts[si];
    const char *status = request_query(r, "status");
    size_t sti = 0;
    if (status) {
        for (sti = 0; PLAN_STATUS[sti] && strcmp(PLAN_STATUS[sti], status) != 0; sti++)
            ;
        if (!PLAN_STATUS[sti]) {
            problem_send(r, 400, "status must be one of planned, approved, completed, cancelled, missed");
            goto out;
        }
    }
    if (list_page_init_sorted(r, &page, "visit-plans", sort->name, 2) != 0)
        goto out;

    sbuf_printf(&b.sql, "SELECT " PLAN_SELECT "%s, p.id FROM " PLAN_FROM " WHERE true", sort->key_expr);
    if (principal_scoped(&r->principal)) {
        sbuf_printf(&b.sql, " AND c.owner_id = $%d::uuid", sqlb_bind(&b, r->principal.user_id));
        mask |= 1u << 0;
    }
    if (list_filters_apply(r, plan_filters, ARRAY_LEN(plan_filters), &b, &mask, 1) != 0)
        goto out;
    if (status) {
        sbuf_puts(&b.sql, " AND ");
        sbuf_puts(&b.sql, plan_status_conds[sti]);
        mask |= 1u << (8 + sti);
    }
    if (list_keyset_apply(r, &page, sort->keyset, sort->key_valid, &b, &mask, 16) != 0)
        goto out;
    sbuf_printf(&b.sql, " ORDER BY %s LIMIT $%d::integer", sort->order, sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "vplan_list_%x_%d", mask, si);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    list_page_reply_rendered(r, &page, res, plan_render, PLAN_NCOLS, 2);
out:
    PQclear(res);
    list_page_free(&page);
    sbuf_free(&b.sql);
    return r->status;
}

int visit_plans_get(struct request *r)
{
    PGresult *res = NULL;
    const char *id = request_param(r, 0);
    const char *params[] = {id, customer_scope_owner(r)};
    if (!(res = record_fetch(r, id, "vplan_get", SQL_PLAN_GET, 2, params)))
        goto out;
    if (audit_read(r, "visit_plan", PQgetvalue(res, 0, PLAN_ID_COL), PQgetvalue(res, 0, PLAN_CUSTOMER_COL)) != 0)
        goto out;
    /* A plan turns missed without a new version: never 304 then (a client
     * may hold the copy from before its date passed). */
    if (strcmp(PQgetvalue(res, 0, PLAN_STATUS_COL), "missed") == 0)
        reply_plan(r, 200, res);
    else
        record_reply_get(r, res, plan_render, PLAN_NCOLS);
out:
    PQclear(res);
    return r->status;
}

int visit_plans_create(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *res = NULL;
    char name[48];
    fields_collect(r->json, plan_fields, plan_create_read_only, r->principal.role, true, &fv, &v);

    bool present;
    const char *customer_id = field_value(&fv, "customer_id", &present);
    if (customer_id && customer_ref_check(r, "customer_id", customer_id, true, &v) != 0)
        goto out;
    if (users_check_active(r, "participant_ids", field_value(&fv, "participant_ids", &present), &v) != 0)
        goto out;
    if (plan_date_check(r, field_value(&fv, "planned_date", &present), &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (customer_check_live(r, customer_id) != 0)
        goto out;

    /* Columns in spec order, so the text depends only on which fields came. */
    unsigned mask = 0;
    sbuf_puts(&b.sql, "WITH p AS (INSERT INTO visit_plans (");
    for (int i = 0; i < fv.n; i++) {
        sbuf_printf(&b.sql, "%s, ", fv.f[i].spec->column);
        mask |= 1u << (fv.f[i].spec - plan_fields);
    }
    sbuf_puts(&b.sql, "created_by) VALUES (");
    for (int i = 0; i < fv.n; i++)
        sbuf_printf(&b.sql, "$%d, ", sqlb_bind(&b, fv.f[i].value));
    sbuf_printf(&b.sql,
                "$%d::uuid) RETURNING *) "
                "SELECT " PLAN_SELECT "to_jsonb(p) FROM p JOIN customers c ON c.id = p.customer_id",
                sqlb_bind(&b, r->principal.user_id));
    snprintf(name, sizeof name, "vplan_ins_%x", mask);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    const char *id = PQgetvalue(res, 0, PLAN_ID_COL), *cust_id = PQgetvalue(res, 0, PLAN_CUSTOMER_COL);
    if (audit_record(r, "create", "visit_plan", id, cust_id, NULL, PQgetvalue(res, 0, PLAN_NCOLS)) != 0)
        goto out;
    char location[96];
    snprintf(location, sizeof location, "/v1/visit-plans/%s", id);
    reply_header(r, "Location", location);
    reply_plan(r, 201, res);
out:
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

/* A change to an approved plan returns it to planned and clears the
 * approval (it must be approved again); a patch that changes nothing keeps
 * it. Allowed only while the plan is planned or approved (not missed). */
int visit_plans_update(struct request *r)
{
    static const char *const editable[] = {"planned", "approved", NULL};
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    struct sbuf changed = {0};
    PGresult *cur = NULL, *res = NULL;
    fields_collect(r->json, plan_patch_fields, plan_read_only, r->principal.role, false, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(cur = plan_lock(r, "update", editable)))
        goto out;
    bool present;
    if (users_check_active(r, "participant_ids", field_value(&fv, "participant_ids", &present), &v) != 0)
        goto out;
    if (plan_date_check(r, field_value(&fv, "planned_date", &present), &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (fv.n == 0) {
        reply_plan(r, 200, cur);
        goto out;
    }
    /* changed: "p.<column> IS DISTINCT FROM $n OR ..." from the spec's
     * constant column names and the values' parameter numbers only. */
    sbuf_puts(&b.sql, "UPDATE visit_plans p SET ");
    for (int i = 0; i < fv.n; i++) {
        int p = sqlb_bind(&b, fv.f[i].value);
        sbuf_printf(&b.sql, "%s = $%d, ", fv.f[i].spec->column, p);
        sbuf_printf(&changed, "%sp.%s IS DISTINCT FROM $%d", i ? " OR " : "", fv.f[i].spec->column, p);
    }
    sbuf_printf(&b.sql,
                "status = CASE WHEN %s THEN 'planned' ELSE p.status END, "
                "approved_by = CASE WHEN %s THEN NULL ELSE p.approved_by END, "
                "approved_at = CASE WHEN %s THEN NULL ELSE p.approved_at END, ",
                changed.data, changed.data, changed.data);
    if (!(res = plan_apply(r, &b, "update", cur)))
        goto out;
    reply_plan(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&changed);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

/* ---- actions ---- */

int visit_plans_approve(struct request *r)
{
    static const char *const from[] = {"planned", NULL};
    PGresult *cur = NULL;
    if (body_reject_fields(r, NULL) != 0)
        goto out;
    if (!(cur = plan_lock(r, "approve", from)))
        goto out;
    const char *binds[] = {r->principal.user_id, NULL};
    plan_transition(r, cur, "approve", "status = 'approved', approved_by = $1::uuid, approved_at = now()", binds);
out:
    PQclear(cur);
    return r->status;
}

int visit_plans_cancel(struct request *r)
{
    static const char *const cancellable[] = {"planned", "approved", NULL};
    static const struct field_spec fields[] = {
        {"reason", "reason", FT_TEXT, 1000, NULL, W_STAFF, FF_REQUIRED},
        {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
    };
    struct field_values fv = {0};
    struct verrs v = {0};
    PGresult *cur = NULL;
    fields_collect(r->json, fields, NULL, r->principal.role, true, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(cur = plan_lock(r, "cancel", cancellable)))
        goto out;
    bool present;
    const char *binds[] = {field_value(&fv, "reason", &present), r->principal.user_id, NULL};
    plan_transition(r, cur, "cancel",
                    "status = 'cancelled', cancel_reason = $1::text, cancelled_by = $2::uuid, cancelled_at = now()",
                    binds);
out:
    PQclear(cur);
    field_values_free(&fv);
    return r->status;
}

/* ---- the plan side of visit records (visits.c) ---- */

int visit_plan_customer(struct request *r, const char *plan_id, char customer_id[37])
{
    const char *params[] = {plan_id, customer_scope_owner(r)};
    PGresult *res = db_exec(r, "vplan_customer", SQL_PLAN_CUSTOMER, 2, params);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found)
        snprintf(customer_id, 37, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return found;
}

PGresult *visit_plan_lock_completable(struct request *r, const char *plan_id)
{
    static const char *const open[] = {"planned", "approved", "missed", NULL};
    const char *params[] = {plan_id};
    PGresult *cur = db_exec(r, "vplan_lock", SQL_PLAN_LOCK, 1, params);
    if (!cur)
        return NULL;
    const char *state = PQntuples(cur) ? PQgetvalue(cur, 0, PLAN_STATUS_COL) : "missing";
    if (!state_in(state, open))
        problem_state(r, "complete the plan", state);
    else if (PQgetvalue(cur, 0, PLAN_APPROVAL_COL)[0] == 't' &&
             strcmp(PQgetvalue(cur, 0, LOCK_STORED_STATUS), "approved") != 0)
        problem_sendf(r, 409,
                      "cannot complete the plan: the current state is '%s'; a plan for a VIP customer needs "
                      "sales-manager approval first",
                      state);
    else
        return cur;
    PQclear(cur);
    return NULL;
}

int visit_plan_complete(struct request *r, const PGresult *plan, const char *visit_id)
{
    struct sqlb b = {0};
    sqlb_bind(&b, visit_id);
    sbuf_puts(&b.sql, "UPDATE visit_plans p SET status = 'completed', completed_at = now(), visit_id = $1::uuid, ");
    PGresult *res = plan_apply(r, &b, "complete", plan);
    int rc = res ? 0 : -1;
    PQclear(res);
    sbuf_free(&b.sql);
    return rc;
}

int visit_plan_reopen(struct request *r, const char *plan_id, const char *visit_id)
{
    struct sqlb b = {0};
    const char *params[] = {plan_id};
    PGresult *cur = NULL, *res = NULL;
    int rc = -1;
    if (!(cur = db_exec(r, "vplan_lock", SQL_PLAN_LOCK, 1, params)))
        goto out;
    rc = 0;
    if (PQntuples(cur) == 0 || strcmp(PQgetvalue(cur, 0, LOCK_STORED_STATUS), "completed") != 0 ||
        PQgetisnull(cur, 0, LOCK_VISIT) || strcmp(PQgetvalue(cur, 0, LOCK_VISIT), visit_id) != 0)
        goto out;
    sbuf_puts(&b.sql, "UPDATE visit_plans p SET status = CASE WHEN p.approved_at IS NULL THEN 'planned' "
                      "ELSE 'approved' END, completed_at = NULL, visit_id = NULL, ");
    if (!(res = plan_apply(r, &b, "reopen", cur)))
        rc = -1;
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return rc;
}
