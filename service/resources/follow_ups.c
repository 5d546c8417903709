/* Follow-up items. Same layout as customers.c: field specs, SQL, helpers,
 * handlers (list, get, create, update, archive, restore), then actions.
 *
 * A follow-up is raised from a source record (a visit or an interaction
 * today; complaints and surveys later) and belongs to that source's
 * customer. Two kinds of people act on it:
 * - the customer side: the customer's owner, sales managers, the office and
 *   admins. They create, edit, archive and restore items, verify them with
 *   the customer and reopen them;
 * - the responsible user, who may work the item (start, complete) even
 *   without owning the customer.
 * Visibility follows from that: sales managers, office and admins see every
 * item; a sales rep the items of the customers they own and those they are
 * responsible for; finance only those they are responsible for. Anything
 * else is a 404, identical to a missing item. */
#include "resources/follow_ups.h"

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

static const char *const SOURCE_TYPES[] = {"visit", "interaction", "complaint", "survey", NULL};
static const char *const FOLLOW_UP_STATUS[] = {"open", "in_progress", "done", "verified", NULL};
/* The states in which an item is being worked on (and may be edited, completed). */
static const char *const FOLLOW_UP_WORKING[] = {"open", "in_progress", NULL};

/* The roles of the customer side (the owner among sales is checked per item). */
#define W_CUSTOMER_SIDE (ROLE_SALES | ROLE_SALES_MANAGER | ROLE_OFFICE | ROLE_ADMIN)
/* Who may work an item: the customer side and any responsible user. */
#define W_WORKER (W_CUSTOMER_SIDE | ROLE_FINANCE)

/* The source comes first: PATCH uses the same table without it
 * (follow_up_patch_fields), so the source cannot change after creation. */
static const struct field_spec follow_up_fields[] = {
    {"source_type", "source_type", FT_ENUM, 0, SOURCE_TYPES, W_CUSTOMER_SIDE, FF_REQUIRED},
    {"source_id", "source_id", FT_UUID, 0, NULL, W_CUSTOMER_SIDE, FF_REQUIRED},
    {"description", "description", FT_TEXT, 2000, NULL, W_CUSTOMER_SIDE, FF_REQUIRED},
    {"responsible_department", "responsible_department", FT_TEXT, 100, NULL, W_CUSTOMER_SIDE, 0},
    {"responsible_user_id", "responsible_user_id", FT_UUID, 0, NULL, W_CUSTOMER_SIDE, 0},
    {"due_date", "due_date", FT_DATE, 0, NULL, W_CUSTOMER_SIDE, FF_REQUIRED},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
static const struct field_spec *const follow_up_patch_fields = follow_up_fields + 2;

static const char *const follow_up_read_only[] = {
    "id",          "customer_id", "status",      "outcome",  "overdue",     "started_at", "done_at",
    "verified_at", "verified_by", "created_by",  "archived", "archived_at", "created_at", "updated_at",
    "version",     NULL};
static const char *const follow_up_patch_read_only[] = {
    "id",          "customer_id", "source_type", "source_id", "status",     "outcome",    "overdue",
    "started_at",  "done_at",     "verified_at", "verified_by", "created_by", "archived", "archived_at",
    "created_at",  "updated_at",  "version",     NULL};

static const struct field_spec complete_fields[] = {
    {"outcome", "outcome", FT_TEXT, 5000, NULL, W_WORKER, FF_REQUIRED},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};

/* ---- SQL ---- */

/* Open or in progress after its due date (business-time today), not archived. */
#define FOLLOW_UP_OVERDUE                                                                                     \
    "(f.status IN ('open', 'in_progress') AND f.archived_at IS NULL AND f.due_date < crm_today())"

/* The follow-up document: key, SQL expression (alias f), rendering. The
 * select list and the renderer both come from this one list; id and
 * customer_id stay first, version last (its column feeds the ETag). */
#define FOLLOW_UP_FIELDS(X)                                                                                   \
    X("id", "f.id", RK_STRING)                                                                                \
    X("customer_id", "f.customer_id", RK_STRING)                                                              \
    X("source_type", "f.source_type", RK_STRING)                                                              \
    X("source_id", "f.source_id", RK_STRING)                                                                  \
    X("description", "f.description", RK_STRING)                                                              \
    X("responsible_department", "f.responsible_department", RK_STRING)                                        \
    X("responsible_user_id", "f.responsible_user_id", RK_STRING)                                              \
    X("due_date", "f.due_date", RK_STRING)                                                                    \
    X("status", "f.status", RK_STRING)                                                                        \
    X("outcome", "f.outcome", RK_STRING)                                                                      \
    X("overdue", FOLLOW_UP_OVERDUE, RK_BOOL)                                                                  \
    X("started_at", "f.started_at", RK_TIMESTAMP)                                                             \
    X("done_at", "f.done_at", RK_TIMESTAMP)                                                                   \
    X("verified_at", "f.verified_at", RK_TIMESTAMP)                                                           \
    X("verified_by", "f.verified_by", RK_STRING)                                                              \
    X("created_by", "f.created_by", RK_STRING)                                                                \
    X("archived", "f.archived_at IS NOT NULL", RK_BOOL)                                                       \
    X("archived_at", "f.archived_at", RK_TIMESTAMP)                                                           \
    X("created_at", "f.created_at", RK_TIMESTAMP)                                                             \
    X("updated_at", "f.updated_at", RK_TIMESTAMP)                                                             \
    X("version", "f.version", RK_RAW)

static const struct render_col follow_up_render[] = {FOLLOW_UP_FIELDS(RENDER_COL)};
#define FU_NCOLS ((int)ARRAY_LEN(follow_up_render))
#define FU_ID_COL 0
#define FU_CUSTOMER_COL 1
#define FU_VERSION_COL (FU_NCOLS - 1)
/* The select list: every field, then whatever the query adds after it. */
#define FOLLOW_UP_SELECT FOLLOW_UP_FIELDS(RENDER_SQL)

/* Who sees an item, for single-item statements: $2 the caller (NULL = sees
 * every item), $3 whether the items of customers the caller owns count. */
#define FU_VISIBLE                                                                                            \
    "($2::uuid IS NULL OR f.responsible_user_id = $2::uuid OR ($3::boolean AND c.owner_id = $2::uuid))"

/* $1 id, $2 $3 visibility */
#define SQL_FOLLOW_UP_GET                                                                                     \
    "SELECT " FOLLOW_UP_SELECT "1 FROM follow_ups f JOIN customers c ON c.id = f.customer_id "               \
    "WHERE f.id = $1::uuid AND " FU_VISIBLE
/* The item's customer, locked first (the one lock order of the service). */
#define SQL_FOLLOW_UP_LOCK_CUSTOMER                                                                           \
    "SELECT c.id FROM follow_ups f JOIN customers c ON c.id = f.customer_id "                                 \
    "WHERE f.id = $1::uuid AND " FU_VISIBLE " FOR UPDATE OF c"
/* After the fields: the customer's owner, archived, status, responsible user, due date, row snapshot */
enum { LOCK_OWNER = FU_NCOLS, LOCK_ARCHIVED, LOCK_STATUS, LOCK_RESPONSIBLE, LOCK_DUE_DATE, LOCK_ROW };
#define SQL_FOLLOW_UP_LOCK                                                                                    \
    "SELECT " FOLLOW_UP_SELECT "c.owner_id, f.archived_at IS NOT NULL, f.status, f.responsible_user_id, "    \
    "f.due_date, to_jsonb(f) FROM follow_ups f JOIN customers c ON c.id = f.customer_id "                    \
    "WHERE f.id = $1::uuid AND " FU_VISIBLE " FOR UPDATE OF f"
/* One-parameter checks: true when the value breaks the rule. */
#define SQL_RESPONSIBLE_INVALID                                                                               \
    "SELECT NOT EXISTS (SELECT 1 FROM users WHERE id = $1::uuid AND active AND role <> 'erp')"
#define SQL_DUE_DATE_PAST "SELECT $1::date < crm_today()"

/* Where a follow-up can come from. sql ($1 the source id, $2 the caller's
 * owner scope, NULL = all customers) returns the source's customer id and
 * locks that customer, for a live (not archived) source of a customer the
 * caller may see. A source type without sql is raised by its own resource
 * (complaints, surveys): plugging it in here is one row. */
static const struct {
    const char *type;
    const char *stmt;
    const char *sql;
    const char *elsewhere; /* the 422 message while sql is NULL */
} follow_up_sources[] = {
    {"visit", "fu_source_visit",
     "SELECT c.id FROM visits s JOIN customers c ON c.id = s.customer_id WHERE s.id = $1::uuid "
     "AND s.archived_at IS NULL AND ($2::uuid IS NULL OR c.owner_id = $2::uuid) FOR UPDATE OF c",
     NULL},
    {"interaction", "fu_source_interaction",
     "SELECT c.id FROM interactions s JOIN customers c ON c.id = s.customer_id WHERE s.id = $1::uuid "
     "AND s.archived_at IS NULL AND ($2::uuid IS NULL OR c.owner_id = $2::uuid) FOR UPDATE OF c",
     NULL},
    {"complaint", "fu_source_complaint",
     "SELECT c.id FROM complaints s JOIN customers c ON c.id = s.customer_id WHERE s.id = $1::uuid "
     "AND s.archived_at IS NULL AND ($2::uuid IS NULL OR c.owner_id = $2::uuid) FOR UPDATE OF c",
     NULL},
    {"survey", NULL, NULL, "follow-ups of surveys are created by the surveys resource"},
};

/* ---- helpers ---- */

/* The visibility parameters ($2, $3 of FU_VISIBLE) for the caller. */
static void follow_up_scope(const struct request *r, const char **viewer, const char **owner_counts)
{
    unsigned all = ROLE_SALES_MANAGER | ROLE_OFFICE | ROLE_ADMIN;
    *viewer = (r->principal.role & all) ? NULL : r->principal.user_id;
    *owner_counts = r->principal.role == ROLE_SALES ? "true" : "false";
}

/* True when the caller is on the customer side of a locked item: a sales
 * manager, the office, an admin, or the sales rep who owns the customer. */
static bool customer_side(const struct request *r, const PGresult *cur)
{
    if (r->principal.role & (ROLE_SALES_MANAGER | ROLE_OFFICE | ROLE_ADMIN))
        return true;
    return r->principal.role == ROLE_SALES && strcmp(PQgetvalue(cur, 0, LOCK_OWNER), r->principal.user_id) == 0;
}

/* 403 for a responsible user who may see the item but is not on the
 * customer side. Returns 0 when the caller may go on, -1 after answering. */
static int customer_side_or_403(struct request *r, const PGresult *cur, const char *action)
{
    if (customer_side(r, cur))
        return 0;
    problem_sendf(r, 403,
                  "only the customer's owner, a sales manager, the office or an admin may %s this follow-up; "
                  "its responsible user may start and complete it",
                  action);
    return -1;
}

/* Loads the follow-up the path names for a change (action) by the caller:
 * visible to them (else 404), on the customer side when side_only (else
 * 403), at the If-Match version (else 412). Locks its customer first, then
 * the item, for the transaction. NULL after answering. */
static PGresult *follow_up_lock(struct request *r, const char *action, bool side_only)
{
    const char *id = request_param(r, 0);
    const char *params[3] = {id};
    follow_up_scope(r, &params[1], &params[2]);
    PGresult *res = record_fetch(r, id, "fu_lock_customer", SQL_FOLLOW_UP_LOCK_CUSTOMER, 3, params);
    if (!res)
        return NULL;
    PQclear(res);
    if (!(res = record_fetch(r, id, "fu_lock", SQL_FOLLOW_UP_LOCK, 3, params)))
        return NULL;
    if ((side_only && customer_side_or_403(r, res, action) != 0) ||
        request_check_if_match(r, PQgetvalue(res, 0, FU_VERSION_COL)) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* 409 naming the state unless the locked item is live and in one of from. 0 / -1 answered. */
static int follow_up_state_check(struct request *r, const PGresult *cur, const char *action, const char *const *from)
{
    const char *state = PQgetvalue(cur, 0, LOCK_STATUS);
    bool allowed = false;
    for (const char *const *f = from; *f; f++)
        allowed |= strcmp(*f, state) == 0;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't')
        state = "archived";
    else if (allowed)
        return 0;
    problem_state(r, action, state);
    return -1;
}

/* The source named by source_type/source_id must be a live record of a
 * customer the caller may see; sets customer_id (owned, NULL when it is not)
 * and adds the field error otherwise. Locks that customer. With id NULL
 * (already reported) only the type is checked. 0 (check v), -1 answered. */
static int source_check(struct request *r, const char *type, const char *id, char **customer_id, struct verrs *v)
{
    *customer_id = NULL;
    size_t i;
    for (i = 0; i < ARRAY_LEN(follow_up_sources) && strcmp(follow_up_sources[i].type, type) != 0; i++)
        ;
    if (i == ARRAY_LEN(follow_up_sources))
        return 0; /* fields_collect has rejected it */
    if (!follow_up_sources[i].sql) {
        verr_add(v, "source_type", "%s", follow_up_sources[i].elsewhere);
        return 0;
    }
    if (!id)
        return 0; /* fields_collect has reported it */
    const char *params[] = {id, customer_scope_owner(r)};
    PGresult *res = db_exec(r, follow_up_sources[i].stmt, follow_up_sources[i].sql, 2, params);
    if (!res)
        return -1;
    if (PQntuples(res) == 1)
        *customer_id = xstrdup(PQgetvalue(res, 0, 0));
    else
        verr_add(v, "source_id", "no such source");
    PQclear(res);
    return 0;
}

/* Runs a one-parameter check whose single boolean column is true when
 * value breaks the rule, and adds "field: message" then. 0 (check v), -1
 * answered. */
static int value_check(struct request *r, const char *stmt, const char *sql, const char *value, const char *field,
                       const char *message, struct verrs *v)
{
    const char *params[] = {value};
    PGresult *res = db_exec(r, stmt, sql, 1, params);
    if (!res)
        return -1;
    if (PQgetvalue(res, 0, 0)[0] == 't')
        verr_add(v, field, "%s", message);
    PQclear(res);
    return 0;
}

/* The responsible user must be an active user of any role but erp. */
static int responsible_check(struct request *r, const char *user_id, struct verrs *v)
{
    return value_check(r, "fu_responsible_check", SQL_RESPONSIBLE_INVALID, user_id, "responsible_user_id",
                       "must be an active user (any role but erp)", v);
}

/* A due date must not lie before the business-time today. */
static int due_date_check(struct request *r, const char *due, struct verrs *v)
{
    return value_check(r, "fu_due_date_past", SQL_DUE_DATE_PAST, due, "due_date", "must not be before today", v);
}

/* Replies with the follow-up document in row 0 of res (the fields first). */
static int reply_follow_up(struct request *r, int status, const PGresult *res)
{
    return record_reply(r, status, res, follow_up_render, FU_NCOLS);
}

/* Runs "UPDATE follow_ups f SET <set> ..." for the locked item cur,
 * returning the document fields and the new row snapshot, and records the
 * audit row (before = the locked row's snapshot). */
static PGresult *follow_up_apply(struct request *r, struct sqlb *b, const char *action, const PGresult *cur)
{
    const char *id = PQgetvalue(cur, 0, FU_ID_COL);
    sbuf_printf(&b->sql,
                "updated_at = now(), version = f.version + 1 WHERE f.id = $%d::uuid "
                "RETURNING " FOLLOW_UP_SELECT "to_jsonb(f)",
                sqlb_bind(b, id));
    PGresult *res = db_exec(r, NULL, b->sql.data, b->n, b->params);
    if (!res)
        return NULL;
    if (audit_record(r, action, "follow_up", id, PQgetvalue(cur, 0, FU_CUSTOMER_COL), PQgetvalue(cur, 0, LOCK_ROW),
                     PQgetvalue(res, 0, FU_NCOLS)) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* ---- handlers ---- */

/* Exact-match filters (mask bits 3..7). */
static const struct list_filter follow_up_filters[] = {
    {"customer_id", "f.customer_id = $%d::uuid", LIST_UUID, NULL},
    {"source_type", "f.source_type = $%d", LIST_CHOICE, SOURCE_TYPES},
    {"source_id", "f.source_id = $%d::uuid", LIST_UUID, NULL},
    {"status", "f.status = $%d", LIST_CHOICE, FOLLOW_UP_STATUS},
    {"responsible_user_id", "f.responsible_user_id = $%d::uuid", LIST_UUID, NULL},
};

int follow_ups_list(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    PGresult *res = NULL;
    char name[48];
    unsigned mask = 0;

    bool include_archived;
    if (query_bool(r, "include_archived", false, &include_archived) != 0)
        goto out;
    const char *overdue = request_query(r, "overdue");
    bool want_overdue = false;
    if (overdue && query_bool(r, "overdue", false, &want_overdue) != 0)
        goto out;
    const char *due_before = request_query(r, "due_before");
    if (due_before && !valid_date(due_before)) {
        problem_send(r, 400, "due_before must be a date YYYY-MM-DD");
        goto out;
    }
    if (list_page_init_sorted(r, &page, "follow-ups", "due_date", 2) != 0)
        goto out;

    sbuf_puts(&b.sql, "SELECT " FOLLOW_UP_SELECT "f.due_date::text, f.id FROM follow_ups f WHERE true");
    if (!include_archived)
        sbuf_puts(&b.sql, " AND f.archived_at IS NULL");
    else
        mask |= 1u << 0;
    const char *viewer, *owner_counts;
    follow_up_scope(r, &viewer, &owner_counts);
    if (viewer && owner_counts[0] == 't') {
        int p = sqlb_bind(&b, viewer);
        sbuf_printf(&b.sql,
                    " AND (f.responsible_user_id = $%d::uuid OR EXISTS (SELECT 1 FROM customers c "
                    "WHERE c.id = f.customer_id AND c.owner_id = $%d::uuid))",
                    p, p);
        mask |= 1u << 1;
    } else if (viewer) {
        sbuf_printf(&b.sql, " AND f.responsible_user_id = $%d::uuid", sqlb_bind(&b, viewer));
        mask |= 1u << 2;
    }
    if (list_filters_apply(r, follow_up_filters, ARRAY_LEN(follow_up_filters), &b, &mask, 3) != 0)
        goto out;
    if (overdue) {
        sbuf_puts(&b.sql, want_overdue ? " AND " FOLLOW_UP_OVERDUE : " AND NOT " FOLLOW_UP_OVERDUE);
        mask |= 1u << (want_overdue ? 8 : 9);
    }
    if (due_before) {
        sbuf_printf(&b.sql, " AND f.due_date < $%d::date", sqlb_bind(&b, due_before));
        mask |= 1u << 10;
    }
    if (list_keyset_apply(r, &page, "(f.due_date, f.id) > ($%d::date, $%d::uuid)", valid_date, &b, &mask, 11) != 0)
        goto out;
    sbuf_printf(&b.sql, " ORDER BY f.due_date, f.id LIMIT $%d::integer", sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "fu_list_%x", mask);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    list_page_reply_rendered(r, &page, res, follow_up_render, FU_NCOLS, 2);
out:
    PQclear(res);
    list_page_free(&page);
    sbuf_free(&b.sql);
    return r->status;
}

int follow_ups_get(struct request *r)
{
    PGresult *res = NULL;
    const char *id = request_param(r, 0);
    const char *params[3] = {id};
    follow_up_scope(r, &params[1], &params[2]);
    if (!(res = record_fetch(r, id, "fu_get", SQL_FOLLOW_UP_GET, 3, params)))
        goto out;
    if (audit_read(r, "follow_up", PQgetvalue(res, 0, FU_ID_COL), PQgetvalue(res, 0, FU_CUSTOMER_COL)) != 0)
        goto out;
    record_reply_get(r, res, follow_up_render, FU_NCOLS);
out:
    PQclear(res);
    return r->status;
}

int follow_ups_create(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *res = NULL;
    char *customer_id = NULL;
    fields_collect(r->json, follow_up_fields, follow_up_read_only, r->principal.role, true, &fv, &v);

    bool has_type, has_source, has_user, has_due;
    const char *type = field_value(&fv, "source_type", &has_type);
    const char *source = field_value(&fv, "source_id", &has_source);
    const char *user = field_value(&fv, "responsible_user_id", &has_user);
    const char *due = field_value(&fv, "due_date", &has_due);
    if (type && source_check(r, type, source, &customer_id, &v) != 0)
        goto out;
    if (user && responsible_check(r, user, &v) != 0)
        goto out;
    if (due && due_date_check(r, due, &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }

    /* Columns in spec order, so the text depends only on which fields came. */
    sbuf_puts(&b.sql, "INSERT INTO follow_ups AS f (");
    for (int i = 0; i < fv.n; i++)
        sbuf_printf(&b.sql, "%s, ", fv.f[i].spec->column);
    sbuf_puts(&b.sql, "customer_id, created_by) VALUES (");
    for (int i = 0; i < fv.n; i++)
        sbuf_printf(&b.sql, "$%d, ", sqlb_bind(&b, fv.f[i].value));
    int p_customer = sqlb_bind(&b, customer_id);
    sbuf_printf(&b.sql, "$%d::uuid, $%d::uuid) RETURNING " FOLLOW_UP_SELECT "to_jsonb(f)", p_customer,
                sqlb_bind(&b, r->principal.user_id));
    if (!(res = db_exec(r, NULL, b.sql.data, b.n, b.params)))
        goto out;
    const char *id = PQgetvalue(res, 0, FU_ID_COL);
    if (audit_record(r, "create", "follow_up", id, customer_id, NULL, PQgetvalue(res, 0, FU_NCOLS)) != 0)
        goto out;
    char location[96];
    snprintf(location, sizeof location, "/v1/follow-ups/%s", id);
    reply_header(r, "Location", location);
    reply_follow_up(r, 201, res);
out:
    PQclear(res);
    free(customer_id);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

int follow_ups_update(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    fields_collect(r->json, follow_up_patch_fields, follow_up_patch_read_only, r->principal.role, false, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(cur = follow_up_lock(r, "update", true)) || follow_up_state_check(r, cur, "update", FOLLOW_UP_WORKING) != 0)
        goto out;
    /* Only what changes is checked: an item keeps its (now past) due date or
     * a since-deactivated responsible user when a client sends them back. */
    bool has_user, has_due;
    const char *user = field_value(&fv, "responsible_user_id", &has_user);
    const char *due = field_value(&fv, "due_date", &has_due);
    const char *cur_user = db_val(cur, 0, LOCK_RESPONSIBLE);
    if (user && (!cur_user || strcmp(user, cur_user) != 0) && responsible_check(r, user, &v) != 0)
        goto out;
    if (due && strcmp(due, PQgetvalue(cur, 0, LOCK_DUE_DATE)) != 0 && due_date_check(r, due, &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (fv.n == 0) {
        reply_follow_up(r, 200, cur);
        goto out;
    }
    sbuf_puts(&b.sql, "UPDATE follow_ups f SET ");
    record_set_fields(&b, &fv);
    if (!(res = follow_up_apply(r, &b, "update", cur)))
        goto out;
    reply_follow_up(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

int follow_ups_archive(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (!(cur = follow_up_lock(r, "archive", true)))
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't') {
        reply_empty(r, 204);
        goto out;
    }
    sbuf_puts(&b.sql, "UPDATE follow_ups f SET archived_at = now(), ");
    if (!(res = follow_up_apply(r, &b, "archive", cur)))
        goto out;
    reply_empty(r, 204);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

int follow_ups_restore(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (body_reject_fields(r, NULL) != 0)
        goto out;
    if (!(cur = follow_up_lock(r, "restore", true)))
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] != 't') {
        problem_state(r, "restore", "not archived");
        goto out;
    }
    sbuf_puts(&b.sql, "UPDATE follow_ups f SET archived_at = NULL, ");
    if (!(res = follow_up_apply(r, &b, "restore", cur)))
        goto out;
    reply_follow_up(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

/* ---- actions ---- */

/* Moves the item from one of `from` with the SET fragment `set`, a
 * constant that may use $1, bound to arg (NULL: no parameter). Anyone who
 * may see an item is on its customer side or responsible for it, so the
 * actions open to the responsible user need no check beyond visibility;
 * the others pass side_only. */
static int follow_up_transition(struct request *r, const char *action, const char *const *from, const char *set,
                                const char *arg, bool side_only)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (!(cur = follow_up_lock(r, action, side_only)) || follow_up_state_check(r, cur, action, from) != 0)
        goto out;
    if (arg)
        sqlb_bind(&b, arg);
    sbuf_puts(&b.sql, "UPDATE follow_ups f SET ");
    sbuf_puts(&b.sql, set);
    sbuf_puts(&b.sql, ", ");
    if (!(res = follow_up_apply(r, &b, action, cur)))
        goto out;
    reply_follow_up(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

/* Open → in progress; the responsible user or the customer side. */
int follow_ups_start(struct request *r)
{
    static const char *const from[] = {"open", NULL};
    if (body_reject_fields(r, NULL) != 0)
        return r->status;
    return follow_up_transition(r, "start", from, "status = 'in_progress', started_at = now()", NULL, false);
}

/* Open or in progress → done with its outcome; the responsible user or the customer side. */
int follow_ups_complete(struct request *r)
{
    struct field_values fv;
    struct verrs v = {0};
    fields_collect(r->json, complete_fields, NULL, r->principal.role, true, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
    } else {
        bool present;
        follow_up_transition(r, "complete", FOLLOW_UP_WORKING, "status = 'done', outcome = $1::text, done_at = now()",
                             field_value(&fv, "outcome", &present), false);
    }
    field_values_free(&fv);
    return r->status;
}

/* Done → verified: the customer side confirmed the outcome with the customer. */
int follow_ups_verify(struct request *r)
{
    static const char *const from[] = {"done", NULL};
    if (body_reject_fields(r, NULL) != 0)
        return r->status;
    return follow_up_transition(r, "verify", from, "status = 'verified', verified_at = now(), verified_by = $1::uuid",
                                r->principal.user_id, true);
}

/* Done or verified → in progress again (customer side); the last outcome
 * stays until the next completion replaces it. */
int follow_ups_reopen(struct request *r)
{
    static const char *const from[] = {"done", "verified", NULL};
    if (body_reject_fields(r, NULL) != 0)
        return r->status;
    return follow_up_transition(r, "reopen", from,
                                "status = 'in_progress', done_at = NULL, verified_at = NULL, verified_by = NULL",
                                NULL, true);
}
