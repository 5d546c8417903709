/* Maintenance budgets. Same layout as customers.c: field specs, SQL,
 * helpers, handlers (list, get, create, update, archive, restore).
 *
 * One annual amount per (year, category, owner); owner NULL is the
 * team-wide budget of the category. Finance (and admin) write; sales reps
 * read their own budgets and the team-wide ones; everyone else (managers,
 * finance, office, admin) reads all. Budgets do not hang off a customer, so
 * their audit rows carry no customer. Expenses (expenses.c) draw on them. */
#include "resources/budgets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "resources/audit.h"
#include "resources/listing.h"
#include "resources/record.h"
#include "resources/render.h"
#include "validate/validate.h"

/* ---- field specs ---- */

const char *const BUDGET_CATEGORIES[] = {"visits", "events", "after_sales", "gifts", "other", NULL};

#define W_FINANCE (ROLE_FINANCE | ROLE_ADMIN)

/* year, category and owner_id stay first: they are the budget's key, fixed
 * once created (budget_patch_fields skips them). */
static const struct field_spec budget_fields[] = {
    {"year", "year", FT_POS_INT, 2999, NULL, W_FINANCE, FF_REQUIRED},
    {"category", "category", FT_ENUM, 0, BUDGET_CATEGORIES, W_FINANCE, FF_REQUIRED},
    {"owner_id", "owner_id", FT_UUID, 0, NULL, W_FINANCE, 0},
    {"amount", "amount", FT_MONEY, 0, NULL, W_FINANCE, FF_REQUIRED},
    {"note", "note", FT_TEXT, 1000, NULL, W_FINANCE, 0},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
#define budget_patch_fields (budget_fields + 3)

/* The key fields stay first: they are read-only for PATCH only (budget_create_read_only). */
static const char *const budget_read_only[] = {"year", "category", "owner_id", "id", "created_by", "archived",
                                               "archived_at", "created_at", "updated_at", "version", NULL};
#define budget_create_read_only (budget_read_only + 3)

/* ---- SQL ---- */

/* The budget document: key, SQL expression (alias b), rendering; version last. */
#define BUDGET_FIELDS(X)                                                                                      \
    X("id", "b.id", RK_STRING)                                                                                \
    X("year", "b.year", RK_RAW)                                                                               \
    X("category", "b.category", RK_STRING)                                                                    \
    X("owner_id", "b.owner_id", RK_STRING)                                                                    \
    X("amount", "b.amount", RK_STRING)                                                                        \
    X("note", "b.note", RK_STRING)                                                                            \
    X("created_by", "b.created_by", RK_STRING)                                                                \
    X("archived", "b.archived_at IS NOT NULL", RK_BOOL)                                                       \
    X("archived_at", "b.archived_at", RK_TIMESTAMP)                                                           \
    X("created_at", "b.created_at", RK_TIMESTAMP)                                                             \
    X("updated_at", "b.updated_at", RK_TIMESTAMP)                                                             \
    X("version", "b.version", RK_RAW)

static const struct render_col budget_render[] = {BUDGET_FIELDS(RENDER_COL)};
#define BUDGET_NCOLS ((int)ARRAY_LEN(budget_render))
#define BUDGET_ID_COL 0
#define BUDGET_VERSION_COL (BUDGET_NCOLS - 1)
#define BUDGET_SELECT BUDGET_FIELDS(RENDER_SQL)

/* A sales rep sees their own budgets and the team-wide ones ($2 scope). */
#define BUDGET_SCOPE "($2::uuid IS NULL OR b.owner_id = $2 OR b.owner_id IS NULL)"
/* $1 id, $2 scope */
#define SQL_BUDGET_GET "SELECT " BUDGET_SELECT "1 FROM budgets b WHERE b.id = $1::uuid AND " BUDGET_SCOPE
/* After the fields: archived, row snapshot. */
enum { LOCK_ARCHIVED = BUDGET_NCOLS, LOCK_ROW };
#define SQL_BUDGET_LOCK                                                                                       \
    "SELECT " BUDGET_SELECT "b.archived_at IS NOT NULL, to_jsonb(b) FROM budgets b WHERE b.id = $1::uuid AND " \
    BUDGET_SCOPE " FOR UPDATE"
/* What draws on a budget: approved and paid expenses (their total), and
 * those as well as the ones awaiting finance (their count). */
#define SQL_BUDGET_DRAWN                                                                                      \
    "SELECT coalesce(sum(amount) FILTER (WHERE status IN ('approved', 'paid')), 0)::text, count(*) "          \
    "FROM expenses WHERE budget_id = $1::uuid AND status IN ('pending_finance', 'approved', 'paid')"
#define SQL_BUDGET_AMOUNT_BELOW "SELECT $1::numeric < $2::numeric"
#define SQL_BUDGET_OWNER_CHECK "SELECT role, active FROM users WHERE id = $1::uuid"
#define BUDGET_UPDATE "UPDATE budgets b SET "

/* ---- helpers ---- */

bool money_positive(const char *s)
{
    for (; *s; s++)
        if (*s >= '1' && *s <= '9')
            return true;
    return false;
}

int budget_year_parse(const char *s)
{
    if (!s || strlen(s) != 4 || strspn(s, "0123456789") != 4)
        return 0;
    int y = atoi(s);
    return y >= 2000 && y <= 2999 ? y : 0;
}

static const char *budget_scope(const struct request *r)
{
    return principal_scoped(&r->principal) ? r->principal.user_id : NULL;
}

/* Runs an INSERT / UPDATE of a budget; the one live budget per key answers
 * 409 naming owner_id. Returns the result, or NULL after answering. */
static PGresult *budget_exec(struct request *r, const char *name, const struct sqlb *b)
{
    PGresult *res = db_exec_raw(r, name, b->sql.data, b->n, b->params);
    if (!res || PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    if (constraint && strcmp(constraint, "budgets_year_category_owner_key") == 0)
        problem_conflict_field(r, "owner_id",
                               "a live budget for this year, category and owner already exists");
    else
        db_problem(r, res);
    PQclear(res);
    return NULL;
}

/* Loads the budget the path names, in scope, locked for the transaction;
 * honours If-Match. NULL after answering (404 / 412 / 503). */
static PGresult *budget_lock(struct request *r)
{
    const char *id = request_param(r, 0);
    const char *params[] = {id, budget_scope(r)};
    PGresult *cur = record_fetch(r, id, "budget_lock", SQL_BUDGET_LOCK, 2, params);
    if (cur && request_check_if_match(r, PQgetvalue(cur, 0, BUDGET_VERSION_COL)) != 0) {
        PQclear(cur);
        return NULL;
    }
    return cur;
}

/* The owner must be an active sales rep or sales manager. 0 (check v), -1 answered. */
static int budget_owner_check(struct request *r, const char *owner_id, struct verrs *v)
{
    const char *params[] = {owner_id};
    PGresult *res = db_exec(r, "budget_owner_check", SQL_BUDGET_OWNER_CHECK, 1, params);
    if (!res)
        return -1;
    bool ok = PQntuples(res) == 1 && PQgetvalue(res, 0, 1)[0] == 't' &&
              (role_parse(PQgetvalue(res, 0, 0)) & (ROLE_SALES | ROLE_SALES_MANAGER));
    PQclear(res);
    if (!ok)
        verr_add(v, "owner_id", "must be an active user with role sales or sales_manager");
    return 0;
}

/* What draws on the budget id: *drawn (approved + paid total, owned text)
 * and *count (pending_finance, approved, paid). 0, or -1 after answering. */
static int budget_drawn(struct request *r, const char *id, char **drawn, long *count)
{
    const char *params[] = {id};
    PGresult *res = db_exec(r, "budget_drawn", SQL_BUDGET_DRAWN, 1, params);
    if (!res)
        return -1;
    *drawn = xstrdup(PQgetvalue(res, 0, 0));
    *count = atol(PQgetvalue(res, 0, 1));
    PQclear(res);
    return 0;
}

static int reply_budget(struct request *r, int status, const PGresult *res)
{
    return record_reply(r, status, res, budget_render, BUDGET_NCOLS);
}

/* Runs BUDGET_UPDATE "<set> ..." for the locked budget cur, returning the
 * document and the new row snapshot, and records the audit row. */
static PGresult *budget_apply(struct request *r, struct sqlb *b, const char *action, const PGresult *cur)
{
    const char *id = PQgetvalue(cur, 0, BUDGET_ID_COL);
    sbuf_printf(&b->sql,
                "updated_at = now(), version = b.version + 1 WHERE b.id = $%d::uuid "
                "RETURNING " BUDGET_SELECT "to_jsonb(b)",
                sqlb_bind(b, id));
    PGresult *res = budget_exec(r, NULL, b);
    if (!res)
        return NULL;
    if (audit_record(r, action, "budget", id, NULL, PQgetvalue(cur, 0, LOCK_ROW), PQgetvalue(res, 0, BUDGET_NCOLS)) !=
        0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* ---- handlers ---- */

static const struct list_sort budget_sorts[] = {
    {"-created_at", "b.created_at DESC, b.id DESC", "(b.created_at, b.id) < ($%d::timestamptz, $%d::uuid)",
     LIST_CURSOR_TS("b.created_at"), valid_timestamp},
};

/* Exact-match filters (mask bits 2..4); year is checked by budget_year_parse first. */
static const struct list_filter budget_filters[] = {
    {"year", "b.year = $%d::integer", LIST_TEXT, NULL},
    {"category", "b.category = $%d", LIST_CHOICE, BUDGET_CATEGORIES},
    {"owner_id", "b.owner_id = $%d::uuid", LIST_UUID, NULL},
};

int budgets_list(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    PGresult *res = NULL;
    char name[48];
    unsigned mask = 0;

    const char *year = request_query(r, "year");
    if (year && !budget_year_parse(year)) {
        problem_send(r, 400, "year must be a year from 2000 to 2999");
        goto out;
    }
    bool include_archived;
    if (query_bool(r, "include_archived", false, &include_archived) != 0)
        goto out;
    if (list_page_init_sorted(r, &page, "budgets", budget_sorts[0].name, 2) != 0)
        goto out;
    sbuf_printf(&b.sql, "SELECT " BUDGET_SELECT "%s, b.id FROM budgets b WHERE true", budget_sorts[0].key_expr);
    if (!include_archived)
        sbuf_puts(&b.sql, " AND b.archived_at IS NULL");
    else
        mask |= 1u << 0;
    if (principal_scoped(&r->principal)) {
        int p = sqlb_bind(&b, r->principal.user_id);
        sbuf_printf(&b.sql, " AND (b.owner_id = $%d::uuid OR b.owner_id IS NULL)", p);
        mask |= 1u << 1;
    }
    if (list_filters_apply(r, budget_filters, ARRAY_LEN(budget_filters), &b, &mask, 2) != 0 ||
        list_keyset_apply(r, &page, budget_sorts[0].keyset, budget_sorts[0].key_valid, &b, &mask, 8) != 0)
        goto out;
    sbuf_printf(&b.sql, " ORDER BY %s LIMIT $%d::integer", budget_sorts[0].order, sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "budget_list_%x", mask);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    list_page_reply_rendered(r, &page, res, budget_render, BUDGET_NCOLS, 2);
out:
    PQclear(res);
    list_page_free(&page);
    sbuf_free(&b.sql);
    return r->status;
}

int budgets_get(struct request *r)
{
    const char *id = request_param(r, 0);
    const char *params[] = {id, budget_scope(r)};
    PGresult *res = record_fetch(r, id, "budget_get", SQL_BUDGET_GET, 2, params);
    if (res)
        record_reply_get(r, res, budget_render, BUDGET_NCOLS);
    PQclear(res);
    return r->status;
}

int budgets_create(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *res = NULL;
    char name[48];
    fields_collect(r->json, budget_fields, budget_create_read_only, r->principal.role, true, &fv, &v);

    bool present;
    const char *year = field_value(&fv, "year", &present);
    if (year && atoi(year) < 2000)
        verr_add(&v, "year", "must be an integer from 2000 to 2999");
    const char *owner = field_value(&fv, "owner_id", &present);
    if (owner && budget_owner_check(r, owner, &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }

    unsigned mask = 0;
    sbuf_puts(&b.sql, "INSERT INTO budgets AS b (");
    for (int i = 0; i < fv.n; i++) {
        sbuf_printf(&b.sql, "%s, ", fv.f[i].spec->column);
        mask |= 1u << (fv.f[i].spec - budget_fields);
    }
    sbuf_puts(&b.sql, "created_by) VALUES (");
    for (int i = 0; i < fv.n; i++)
        sbuf_printf(&b.sql, "$%d, ", sqlb_bind(&b, fv.f[i].value));
    sbuf_printf(&b.sql, "$%d::uuid) RETURNING " BUDGET_SELECT "to_jsonb(b)", sqlb_bind(&b, r->principal.user_id));
    snprintf(name, sizeof name, "budget_ins_%x", mask);
    if (!(res = budget_exec(r, name, &b)))
        goto out;
    const char *id = PQgetvalue(res, 0, BUDGET_ID_COL);
    if (audit_record(r, "create", "budget", id, NULL, NULL, PQgetvalue(res, 0, BUDGET_NCOLS)) != 0)
        goto out;
    char location[64];
    snprintf(location, sizeof location, "/v1/budgets/%s", id);
    reply_header(r, "Location", location);
    reply_budget(r, 201, res);
out:
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

/* amount and note only. The amount may not go below what approved and paid
 * expenses already draw on the budget (422): lowering it under them would
 * turn manager-approved spending into unapproved overspending. The budget
 * row lock orders this against approvals (expenses.c locks it too). */
int budgets_update(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    char *drawn = NULL;
    fields_collect(r->json, budget_patch_fields, budget_read_only, r->principal.role, false, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(cur = budget_lock(r)))
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't') {
        problem_state(r, "update", "archived");
        goto out;
    }
    bool present;
    const char *amount = field_value(&fv, "amount", &present);
    if (amount) {
        long count;
        if (budget_drawn(r, PQgetvalue(cur, 0, BUDGET_ID_COL), &drawn, &count) != 0)
            goto out;
        const char *params[] = {amount, drawn};
        PGresult *below = db_exec(r, "budget_amount_below", SQL_BUDGET_AMOUNT_BELOW, 2, params);
        if (!below)
            goto out;
        if (PQgetvalue(below, 0, 0)[0] == 't')
            verr_add(&v, "amount", "must not be below the approved and paid expenses drawn on this budget (%s)",
                     drawn);
        PQclear(below);
    }
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (fv.n == 0) {
        reply_budget(r, 200, cur);
        goto out;
    }
    sbuf_puts(&b.sql, BUDGET_UPDATE);
    record_set_fields(&b, &fv);
    if (!(res = budget_apply(r, &b, "update", cur)))
        goto out;
    reply_budget(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    free(drawn);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

/* Refused (409) while expenses draw on the budget (awaiting finance,
 * approved or paid): the utilisation figures would lose them. */
int budgets_archive(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    char *drawn = NULL;
    long count = 0;
    if (!(cur = budget_lock(r)))
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't') {
        reply_empty(r, 204);
        goto out;
    }
    if (budget_drawn(r, PQgetvalue(cur, 0, BUDGET_ID_COL), &drawn, &count) != 0)
        goto out;
    if (count > 0) {
        problem_sendf(r, 409, "cannot archive: %ld expenses awaiting finance, approved or paid draw on this budget",
                      count);
        goto out;
    }
    sbuf_puts(&b.sql, BUDGET_UPDATE "archived_at = now(), ");
    if (!(res = budget_apply(r, &b, "archive", cur)))
        goto out;
    reply_empty(r, 204);
out:
    PQclear(cur);
    PQclear(res);
    free(drawn);
    sbuf_free(&b.sql);
    return r->status;
}

/* A live budget with the same key created meanwhile → 409 naming owner_id. */
int budgets_restore(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (body_reject_fields(r, NULL) != 0)
        goto out;
    if (!(cur = budget_lock(r)))
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] != 't') {
        problem_state(r, "restore", "not archived");
        goto out;
    }
    sbuf_puts(&b.sql, BUDGET_UPDATE "archived_at = NULL, ");
    if (!(res = budget_apply(r, &b, "restore", cur)))
        goto out;
    reply_budget(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}
