/* Expenses and their approvals. Same layout as customers.c: field specs,
 * SQL, helpers, handlers (list, get, create, update), then the actions
 * (approve, reject, pay, withdraw).
 *
 * Workflow (status):
 *   submitted --approve (sales manager / admin), fits the budget--> approved
 *   submitted --approve (sales manager / admin), over budget-----> pending_finance (over_budget = true)
 *   pending_finance --approve (finance / admin)-----------------> approved (over_budget stays true)
 *   submitted | pending_finance --reject (same levels, reason)--> rejected
 *   approved --pay (finance / admin)-----------------------------> paid
 *   submitted --withdraw (the claimant)--------------------------> withdrawn
 * The budget an expense draws on: the live budget of the expense date's
 * year and its category owned by the claimant, else the team-wide one
 * (owner NULL). It is fixed (budget_id) at the manager's approval, which
 * locks that budget row (SELECT … FOR UPDATE) before summing what approved
 * and paid expenses already draw on it, so concurrent approvals are
 * serialised per budget and can never overspend it without finance. No
 * budget at all counts as over budget. Nobody approves, rejects or pays
 * their own expense (403). Expenses are never archived: withdraw or reject
 * ends them, and their history stays. */
#include "resources/budgets.h"

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

#define W_STAFF (ROLE_SALES | ROLE_SALES_MANAGER | ROLE_FINANCE | ROLE_OFFICE | ROLE_ADMIN)
#define W_FINANCE (ROLE_FINANCE | ROLE_ADMIN)
#define W_MANAGER (ROLE_SALES_MANAGER | ROLE_ADMIN)

static const struct field_spec expense_fields[] = {
    {"category", "category", FT_ENUM, 0, BUDGET_CATEGORIES, W_STAFF, FF_REQUIRED},
    {"amount", "amount", FT_MONEY, 0, NULL, W_STAFF, FF_REQUIRED},
    {"expense_date", "expense_date", FT_PAST_DATE, 0, NULL, W_STAFF, FF_REQUIRED},
    {"description", "description", FT_TEXT, 2000, NULL, W_STAFF, FF_REQUIRED},
    {"customer_id", "customer_id", FT_UUID, 0, NULL, W_STAFF, 0},
    {"visit_id", "visit_id", FT_UUID, 0, NULL, W_STAFF, 0},
    {"event_id", "event_id", FT_UUID, 0, NULL, W_STAFF, 0},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};

static const char *const expense_read_only[] = {
    "id", "claimant_id", "status", "over_budget", "budget_id", "approved_by", "approved_at", "finance_approved_by",
    "finance_approved_at", "rejected_by", "rejected_at", "reject_reason", "paid_by", "paid_at", "payment_reference",
    "withdrawn_at", "created_at", "updated_at", "version", NULL};

static const char *const EXPENSE_STATUS[] = {"submitted", "pending_finance", "approved", "rejected",
                                             "paid",      "withdrawn",       NULL};

/* ---- SQL ---- */

/* The expense document: key, SQL expression (alias x), rendering; the
 * columns named below stay where they are, version last. */
#define EXPENSE_FIELDS(X)                                                                                     \
    X("id", "x.id", RK_STRING)                                                                                \
    X("claimant_id", "x.claimant_id", RK_STRING)                                                              \
    X("category", "x.category", RK_STRING)                                                                    \
    X("amount", "x.amount", RK_STRING)                                                                        \
    X("expense_date", "x.expense_date", RK_STRING)                                                            \
    X("description", "x.description", RK_STRING)                                                             \
    X("customer_id", "x.customer_id", RK_STRING)                                                              \
    X("visit_id", "x.visit_id", RK_STRING)                                                                    \
    X("event_id", "x.event_id", RK_STRING)                                                                    \
    X("status", "x.status", RK_STRING)                                                                        \
    X("over_budget", "x.over_budget", RK_BOOL)                                                                \
    X("budget_id", "x.budget_id", RK_STRING)                                                                  \
    X("approved_by", "x.approved_by", RK_STRING)                                                              \
    X("approved_at", "x.approved_at", RK_TIMESTAMP)                                                           \
    X("finance_approved_by", "x.finance_approved_by", RK_STRING)                                              \
    X("finance_approved_at", "x.finance_approved_at", RK_TIMESTAMP)                                           \
    X("rejected_by", "x.rejected_by", RK_STRING)                                                              \
    X("rejected_at", "x.rejected_at", RK_TIMESTAMP)                                                           \
    X("reject_reason", "x.reject_reason", RK_STRING)                                                          \
    X("paid_by", "x.paid_by", RK_STRING)                                                                      \
    X("paid_at", "x.paid_at", RK_TIMESTAMP)                                                                   \
    X("payment_reference", "x.payment_reference", RK_STRING)                                                  \
    X("withdrawn_at", "x.withdrawn_at", RK_TIMESTAMP)                                                         \
    X("created_at", "x.created_at", RK_TIMESTAMP)                                                             \
    X("updated_at", "x.updated_at", RK_TIMESTAMP)                                                             \
    X("version", "x.version", RK_RAW)

static const struct render_col expense_render[] = {EXPENSE_FIELDS(RENDER_COL)};
#define EXP_NCOLS ((int)ARRAY_LEN(expense_render))
enum {
    EXP_ID_COL = 0,
    EXP_CLAIMANT_COL = 1,
    EXP_CATEGORY_COL = 2,
    EXP_AMOUNT_COL = 3,
    EXP_DATE_COL = 4,
    EXP_CUSTOMER_COL = 6,
    EXP_VISIT_COL = 7,
    EXP_EVENT_COL = 8,
    EXP_STATUS_COL = 9,
    EXP_BUDGET_COL = 11,
};
#define EXP_VERSION_COL (EXP_NCOLS - 1)
#define EXP_ROW_COL EXP_NCOLS /* the row snapshot after the fields */
#define EXPENSE_SELECT EXPENSE_FIELDS(RENDER_SQL)

/* A sales rep sees the expenses they claimed; everyone else all ($2 scope). */
#define EXPENSE_SCOPE "($2::uuid IS NULL OR x.claimant_id = $2)"
#define SQL_EXPENSE_GET "SELECT " EXPENSE_SELECT "1 FROM expenses x WHERE x.id = $1::uuid AND " EXPENSE_SCOPE
#define SQL_EXPENSE_LOCK                                                                                      \
    "SELECT " EXPENSE_SELECT "to_jsonb(x) FROM expenses x WHERE x.id = $1::uuid AND " EXPENSE_SCOPE " FOR UPDATE"
/* A live visit record of the customer. $1 visit, $2 customer */
#define SQL_EXPENSE_VISIT                                                                                     \
    "SELECT 1 FROM visits WHERE id = $1::uuid AND customer_id = $2::uuid AND archived_at IS NULL"
/* A live event the caller may see (events.c's scope: organiser, or one of
 * their customers on it), and whether the customer ($3, may be NULL) is on it. */
#define SQL_EXPENSE_EVENT                                                                                     \
    "SELECT $3::uuid IS NULL OR EXISTS (SELECT 1 FROM event_customers ec WHERE ec.event_id = e.id "           \
    "AND ec.customer_id = $3::uuid) FROM events e WHERE e.id = $1::uuid AND e.archived_at IS NULL "           \
    "AND ($2::uuid IS NULL OR e.organizer_id = $2::uuid OR EXISTS (SELECT 1 FROM event_customers ec "         \
    "JOIN customers c ON c.id = ec.customer_id WHERE ec.event_id = e.id AND c.owner_id = $2::uuid))"
/* The budget the expense draws on, locked: the claimant's own for the
 * year and category, else the team-wide one. $1 claimant, $2 category, $3 date */
#define SQL_EXPENSE_BUDGET_LOCK                                                                               \
    "SELECT b.id FROM budgets b WHERE b.year = extract(year FROM $3::date)::integer AND b.category = $2 "     \
    "AND b.archived_at IS NULL AND (b.owner_id = $1::uuid OR b.owner_id IS NULL) "                            \
    "ORDER BY b.owner_id NULLS LAST LIMIT 1 FOR UPDATE"
/* Whether $2 more still fits budget $1 (read after its lock: a fresh snapshot). */
#define SQL_EXPENSE_FITS                                                                                      \
    "SELECT coalesce((SELECT sum(x.amount) FROM expenses x WHERE x.budget_id = b.id "                          \
    "AND x.status IN ('approved', 'paid')), 0) + $2::numeric <= b.amount FROM budgets b WHERE b.id = $1::uuid"
#define SQL_EXPENSE_BUDGET_RELOCK "SELECT 1 FROM budgets WHERE id = $1::uuid FOR UPDATE"
#define EXPENSE_UPDATE "UPDATE expenses x SET "

/* ---- helpers ---- */

static const char *expense_scope(const struct request *r)
{
    return principal_scoped(&r->principal) ? r->principal.user_id : NULL;
}

static bool state_in(const char *state, const char *const *states)
{
    for (const char *const *s = states; *s; s++)
        if (strcmp(*s, state) == 0)
            return true;
    return false;
}

static bool is_claimant(const struct request *r, const PGresult *cur)
{
    return strcmp(PQgetvalue(cur, 0, EXP_CLAIMANT_COL), r->principal.user_id) == 0;
}

/* For a write on the expense the path names: locks it (in scope) for the
 * transaction, honours If-Match, and its status must be one of from (else
 * 409 naming it). Returns the locked row, or NULL after answering. */
static PGresult *expense_lock(struct request *r, const char *action, const char *const *from)
{
    const char *id = request_param(r, 0);
    const char *params[] = {id, expense_scope(r)};
    PGresult *cur = record_fetch(r, id, "expense_lock", SQL_EXPENSE_LOCK, 2, params);
    if (!cur || request_check_if_match(r, PQgetvalue(cur, 0, EXP_VERSION_COL)) != 0)
        goto fail;
    const char *state = PQgetvalue(cur, 0, EXP_STATUS_COL);
    if (!state_in(state, from)) {
        problem_state(r, action, state);
        goto fail;
    }
    return cur;
fail:
    PQclear(cur);
    return NULL;
}

/* The references of an expense (the values it will have): a visit needs
 * its customer and must be a live visit record of it; an event must be
 * live and visible to the caller, and a customer named with it must be on
 * it; not both. Adds to v; 0, or -1 after answering (503). */
static int expense_refs_check(struct request *r, const char *customer, const char *visit, const char *event,
                              struct verrs *v)
{
    if (visit && event)
        verr_add(v, "event_id", "an expense belongs to a visit or to an event, not both");
    if (visit && !customer) {
        verr_add(v, "visit_id", "needs the visit's customer in customer_id");
    } else if (visit) {
        const char *params[] = {visit, customer};
        PGresult *res = db_exec(r, "expense_visit", SQL_EXPENSE_VISIT, 2, params);
        if (!res)
            return -1;
        if (PQntuples(res) == 0)
            verr_add(v, "visit_id", "no such visit record of this customer");
        PQclear(res);
    }
    if (event) {
        const char *params[] = {event, expense_scope(r), customer};
        PGresult *res = db_exec(r, "expense_event", SQL_EXPENSE_EVENT, 3, params);
        if (!res)
            return -1;
        if (PQntuples(res) == 0)
            verr_add(v, "event_id", "no such event");
        else if (PQgetvalue(res, 0, 0)[0] != 't')
            verr_add(v, "event_id", "the customer is not on this event");
        PQclear(res);
    }
    return 0;
}

static int reply_expense(struct request *r, int status, const PGresult *res)
{
    return record_reply(r, status, res, expense_render, EXP_NCOLS);
}

/* Runs EXPENSE_UPDATE "<set> ..." for the locked expense cur, returning
 * the document and the new row snapshot, and records the audit row. */
static PGresult *expense_apply(struct request *r, struct sqlb *b, const char *action, const PGresult *cur)
{
    const char *id = PQgetvalue(cur, 0, EXP_ID_COL);
    sbuf_printf(&b->sql,
                "updated_at = now(), version = x.version + 1 WHERE x.id = $%d::uuid "
                "RETURNING " EXPENSE_SELECT "to_jsonb(x)",
                sqlb_bind(b, id));
    PGresult *res = db_exec(r, NULL, b->sql.data, b->n, b->params);
    if (!res)
        return NULL;
    if (audit_record(r, action, "expense", id, db_val(res, 0, EXP_CUSTOMER_COL), PQgetvalue(cur, 0, EXP_ROW_COL),
                     PQgetvalue(res, 0, EXP_ROW_COL)) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Moves the locked expense cur with the constant SET fragment set, which
 * uses $1..$nbinds for binds[0..nbinds) (a value may be NULL), then replies. */
static int expense_transition(struct request *r, const PGresult *cur, const char *action, const char *set,
                              const char *const *binds, int nbinds)
{
    struct sqlb b = {0};
    PGresult *res = NULL;
    for (int i = 0; i < nbinds; i++)
        sqlb_bind(&b, binds[i]);
    sbuf_puts(&b.sql, EXPENSE_UPDATE);
    sbuf_puts(&b.sql, set);
    sbuf_puts(&b.sql, ", ");
    if ((res = expense_apply(r, &b, action, cur)))
        reply_expense(r, 200, res);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

/* Approving, rejecting and paying are someone else's call. -1 after answering 403. */
static int expense_not_own(struct request *r, const PGresult *cur, const char *action)
{
    if (!is_claimant(r, cur))
        return 0;
    problem_sendf(r, 403, "the claimant cannot %s their own expense", action);
    return -1;
}

/* The approval level the expense's status needs: submitted → a sales
 * manager (or admin), pending_finance → finance (or admin). 0 when the
 * caller's role is that level, else -1 after answering 409 naming the state. */
static int expense_level_check(struct request *r, const PGresult *cur, const char *action)
{
    const char *state = PQgetvalue(cur, 0, EXP_STATUS_COL);
    bool finance_level = strcmp(state, "pending_finance") == 0;
    unsigned allowed = finance_level ? W_FINANCE : W_MANAGER;
    if (r->principal.role & allowed)
        return 0;
    problem_sendf(r, 409, "cannot %s: the current state is '%s'; %s", action, state,
                  finance_level ? "it is over budget and awaits finance approval"
                                : "it awaits first-level approval by a sales manager");
    return -1;
}

/* ---- handlers ---- */

static const struct list_sort expense_sorts[] = {
    {"-created_at", "x.created_at DESC, x.id DESC", "(x.created_at, x.id) < ($%d::timestamptz, $%d::uuid)",
     LIST_CURSOR_TS("x.created_at"), valid_timestamp},
    {"-expense_date", "x.expense_date DESC, x.id DESC", "(x.expense_date, x.id) < ($%d::date, $%d::uuid)",
     "x.expense_date::text", valid_date},
    {"expense_date", "x.expense_date, x.id", "(x.expense_date, x.id) > ($%d::date, $%d::uuid)",
     "x.expense_date::text", valid_date},
};

static const char *const BOOL_CHOICES[] = {"true", "false", NULL};

/* Exact-match filters (mask bits 1..9). */
static const struct list_filter expense_filters[] = {
    {"status", "x.status = $%d", LIST_CHOICE, EXPENSE_STATUS},
    {"category", "x.category = $%d", LIST_CHOICE, BUDGET_CATEGORIES},
    {"claimant_id", "x.claimant_id = $%d::uuid", LIST_UUID, NULL},
    {"customer_id", "x.customer_id = $%d::uuid", LIST_UUID, NULL},
    {"budget_id", "x.budget_id = $%d::uuid", LIST_UUID, NULL},
    {"over_budget", "x.over_budget = $%d::boolean", LIST_CHOICE, BOOL_CHOICES},
    {"from", "x.expense_date >= $%d::date", LIST_DATE, NULL},
    {"to", "x.expense_date <= $%d::date", LIST_DATE, NULL},
};

int expenses_list(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    PGresult *res = NULL;
    char name[48];
    unsigned mask = 0;

    int si = list_sort_find(r, expense_sorts, ARRAY_LEN(expense_sorts),
                            "sort must be one of -created_at, -expense_date, expense_date");
    if (si < 0)
        goto out;
    const struct list_sort *sort = &expense_sorts[si];
    if (list_page_init_sorted(r, &page, "expenses", sort->name, 2) != 0)
        goto out;
    sbuf_printf(&b.sql, "SELECT " EXPENSE_SELECT "%s, x.id FROM expenses x WHERE true", sort->key_expr);
    if (principal_scoped(&r->principal)) {
        sbuf_printf(&b.sql, " AND x.claimant_id = $%d::uuid", sqlb_bind(&b, r->principal.user_id));
        mask |= 1u << 0;
    }
    if (list_filters_apply(r, expense_filters, ARRAY_LEN(expense_filters), &b, &mask, 1) != 0 ||
        list_keyset_apply(r, &page, sort->keyset, sort->key_valid, &b, &mask, 12) != 0)
        goto out;
    sbuf_printf(&b.sql, " ORDER BY %s LIMIT $%d::integer", sort->order, sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "expense_list_%x_%d", mask, si);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    list_page_reply_rendered(r, &page, res, expense_render, EXP_NCOLS, 2);
out:
    PQclear(res);
    list_page_free(&page);
    sbuf_free(&b.sql);
    return r->status;
}

int expenses_get(struct request *r)
{
    const char *id = request_param(r, 0);
    const char *params[] = {id, expense_scope(r)};
    PGresult *res = record_fetch(r, id, "expense_get", SQL_EXPENSE_GET, 2, params);
    if (res && !PQgetisnull(res, 0, EXP_CUSTOMER_COL) &&
        audit_read(r, "expense", id, PQgetvalue(res, 0, EXP_CUSTOMER_COL)) != 0)
        goto out;
    if (res)
        record_reply_get(r, res, expense_render, EXP_NCOLS);
out:
    PQclear(res);
    return r->status;
}

int expenses_create(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *res = NULL;
    char name[48];
    fields_collect(r->json, expense_fields, expense_read_only, r->principal.role, true, &fv, &v);

    bool present;
    const char *amount = field_value(&fv, "amount", &present);
    if (amount && !money_positive(amount))
        verr_add(&v, "amount", "must be greater than 0");
    const char *customer = field_value(&fv, "customer_id", &present);
    if (customer && customer_ref_check(r, "customer_id", customer, true, &v) != 0)
        goto out;
    if (expense_refs_check(r, customer, field_value(&fv, "visit_id", &present),
                           field_value(&fv, "event_id", &present), &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (customer && customer_check_live(r, customer) != 0)
        goto out;

    unsigned mask = 0;
    sbuf_puts(&b.sql, "INSERT INTO expenses AS x (");
    for (int i = 0; i < fv.n; i++) {
        sbuf_printf(&b.sql, "%s, ", fv.f[i].spec->column);
        mask |= 1u << (fv.f[i].spec - expense_fields);
    }
    sbuf_puts(&b.sql, "claimant_id) VALUES (");
    for (int i = 0; i < fv.n; i++)
        sbuf_printf(&b.sql, "$%d, ", sqlb_bind(&b, fv.f[i].value));
    sbuf_printf(&b.sql, "$%d::uuid) RETURNING " EXPENSE_SELECT "to_jsonb(x)", sqlb_bind(&b, r->principal.user_id));
    snprintf(name, sizeof name, "expense_ins_%x", mask);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    const char *id = PQgetvalue(res, 0, EXP_ID_COL);
    if (audit_record(r, "create", "expense", id, customer, NULL, PQgetvalue(res, 0, EXP_ROW_COL)) != 0)
        goto out;
    char location[64];
    snprintf(location, sizeof location, "/v1/expenses/%s", id);
    reply_header(r, "Location", location);
    reply_expense(r, 201, res);
out:
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

/* The claimant changes their expense while it is submitted. */
int expenses_update(struct request *r)
{
    static const char *const editable[] = {"submitted", NULL};
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    fields_collect(r->json, expense_fields, expense_read_only, r->principal.role, false, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(cur = expense_lock(r, "update", editable)))
        goto out;
    if (!is_claimant(r, cur)) {
        problem_send(r, 403, "only the claimant may change an expense");
        goto out;
    }
    bool has_customer, has_visit, has_event, present;
    const char *amount = field_value(&fv, "amount", &present);
    if (amount && !money_positive(amount))
        verr_add(&v, "amount", "must be greater than 0");
    const char *customer = field_value(&fv, "customer_id", &has_customer);
    const char *visit = field_value(&fv, "visit_id", &has_visit);
    const char *event = field_value(&fv, "event_id", &has_event);
    if (customer && customer_ref_check(r, "customer_id", customer, false, &v) != 0)
        goto out;
    if ((has_customer || has_visit || has_event) &&
        expense_refs_check(r, has_customer ? customer : db_val(cur, 0, EXP_CUSTOMER_COL),
                           has_visit ? visit : db_val(cur, 0, EXP_VISIT_COL),
                           has_event ? event : db_val(cur, 0, EXP_EVENT_COL), &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (fv.n == 0) {
        reply_expense(r, 200, cur);
        goto out;
    }
    if (customer && customer_check_live(r, customer) != 0)
        goto out;
    sbuf_puts(&b.sql, EXPENSE_UPDATE);
    record_set_fields(&b, &fv);
    if (!(res = expense_apply(r, &b, "update", cur)))
        goto out;
    reply_expense(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

/* ---- actions ---- */

/* First level (submitted): locks the budget the expense draws on, then
 * checks that approved + paid + this amount stays within it. Second level
 * (pending_finance): finance approves the over-budget expense. */
int expenses_approve(struct request *r)
{
    static const char *const from[] = {"submitted", "pending_finance", NULL};
    PGresult *cur = NULL, *budget = NULL, *fits = NULL;
    if (body_reject_fields(r, NULL) != 0)
        goto out;
    if (!(cur = expense_lock(r, "approve", from)))
        goto out;
    if (expense_not_own(r, cur, "approve") != 0 || expense_level_check(r, cur, "approve") != 0)
        goto out;
    if (strcmp(PQgetvalue(cur, 0, EXP_STATUS_COL), "pending_finance") == 0) {
        /* Ordered with first-level approvals of the same budget. */
        if (!PQgetisnull(cur, 0, EXP_BUDGET_COL)) {
            const char *params[] = {PQgetvalue(cur, 0, EXP_BUDGET_COL)};
            if (!(budget = db_exec(r, "expense_budget_relock", SQL_EXPENSE_BUDGET_RELOCK, 1, params)))
                goto out;
        }
        const char *binds[] = {r->principal.user_id};
        expense_transition(r, cur, "approve", "status = 'approved', finance_approved_by = $1::uuid, "
                           "finance_approved_at = now()", binds, 1);
        goto out;
    }
    const char *params[] = {PQgetvalue(cur, 0, EXP_CLAIMANT_COL), PQgetvalue(cur, 0, EXP_CATEGORY_COL),
                            PQgetvalue(cur, 0, EXP_DATE_COL)};
    if (!(budget = db_exec(r, "expense_budget_lock", SQL_EXPENSE_BUDGET_LOCK, 3, params)))
        goto out;
    const char *budget_id = PQntuples(budget) ? PQgetvalue(budget, 0, 0) : NULL;
    bool over = true;
    if (budget_id) {
        const char *fparams[] = {budget_id, PQgetvalue(cur, 0, EXP_AMOUNT_COL)};
        if (!(fits = db_exec(r, "expense_fits", SQL_EXPENSE_FITS, 2, fparams)))
            goto out;
        over = PQgetvalue(fits, 0, 0)[0] != 't';
    }
    const char *binds[] = {r->principal.user_id, budget_id};
    expense_transition(r, cur, "approve",
                       over ? "status = 'pending_finance', over_budget = true, approved_by = $1::uuid, "
                              "approved_at = now(), budget_id = $2::uuid"
                            : "status = 'approved', over_budget = false, approved_by = $1::uuid, "
                              "approved_at = now(), budget_id = $2::uuid",
                       binds, 2);
out:
    PQclear(cur);
    PQclear(budget);
    PQclear(fits);
    return r->status;
}

int expenses_reject(struct request *r)
{
    static const char *const from[] = {"submitted", "pending_finance", NULL};
    static const struct field_spec fields[] = {
        {"reason", "reason", FT_TEXT, 1000, NULL, W_MANAGER | W_FINANCE, FF_REQUIRED},
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
    if (!(cur = expense_lock(r, "reject", from)))
        goto out;
    if (expense_not_own(r, cur, "reject") != 0 || expense_level_check(r, cur, "reject") != 0)
        goto out;
    bool present;
    const char *binds[] = {field_value(&fv, "reason", &present), r->principal.user_id};
    expense_transition(r, cur, "reject",
                       "status = 'rejected', reject_reason = $1::text, rejected_by = $2::uuid, rejected_at = now()",
                       binds, 2);
out:
    PQclear(cur);
    field_values_free(&fv);
    return r->status;
}

int expenses_pay(struct request *r)
{
    static const char *const from[] = {"approved", NULL};
    static const struct field_spec fields[] = {
        {"payment_reference", "payment_reference", FT_TEXT, 100, NULL, W_FINANCE, 0},
        {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
    };
    struct field_values fv = {0};
    struct verrs v = {0};
    PGresult *cur = NULL;
    if (r->json)
        fields_collect(r->json, fields, NULL, r->principal.role, true, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(cur = expense_lock(r, "pay", from)))
        goto out;
    if (expense_not_own(r, cur, "pay") != 0)
        goto out;
    bool present;
    const char *binds[] = {r->principal.user_id, field_value(&fv, "payment_reference", &present)};
    expense_transition(r, cur, "pay",
                       "status = 'paid', paid_by = $1::uuid, paid_at = now(), payment_reference = $2::text", binds, 2);
out:
    PQclear(cur);
    field_values_free(&fv);
    return r->status;
}

/* The claimant takes back a submitted expense (audit action cancel). */
int expenses_withdraw(struct request *r)
{
    static const char *const from[] = {"submitted", NULL};
    PGresult *cur = NULL;
    if (body_reject_fields(r, NULL) != 0)
        goto out;
    if (!(cur = expense_lock(r, "withdraw", from)))
        goto out;
    if (!is_claimant(r, cur)) {
        problem_send(r, 403, "only the claimant may withdraw an expense");
        goto out;
    }
    expense_transition(r, cur, "cancel", "status = 'withdrawn', withdrawn_at = now()", NULL, 0);
out:
    PQclear(cur);
    return r->status;
}
