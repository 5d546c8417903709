/* Customers. Layout shared by every resource file: field specs, SQL,
 * helpers, handlers (list, get, create, update, archive, restore), actions. */
#include "resources/customers.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "resources/audit.h"
#include "resources/cadence.h"
#include "resources/listing.h"
#include "resources/record.h"
#include "resources/render.h"
#include "resources/transactions.h"
#include "validate/validate.h"

/* ---- field specs ---- */

static const char *const CUSTOMER_STATUS[] = {"prospect", "active", "dormant", "lost", NULL};
static const char *const RECORD_STATUS[] = {"draft", "submitted", "approved", "returned", NULL};
static const char *const TIERS[] = {"vip", "key", "general", "reserve", NULL};
static const char *const CREDIT_RATINGS[] = {"AAA", "AA", "A", "B", "C", NULL};
static const char *const PAYMENT_STANDINGS[] = {"good", "watch", "overdue", "blocked", NULL};

#define W_STAFF (ROLE_SALES | ROLE_SALES_MANAGER | ROLE_ADMIN)
#define W_MANAGER (ROLE_SALES_MANAGER | ROLE_ADMIN)
#define W_FINANCE (ROLE_FINANCE | ROLE_ADMIN)

static const struct field_spec customer_fields[] = {
    {"name", "name", FT_TEXT, 200, NULL, W_STAFF, FF_REQUIRED},
    {"legal_representative", "legal_representative", FT_TEXT, 100, NULL, W_STAFF, 0},
    {"tax_id", "tax_id", FT_TAX_ID, 20, NULL, W_STAFF, 0},
    {"business_license_no", "business_license_no", FT_TEXT, 50, NULL, W_STAFF, 0},
    {"address", "address", FT_TEXT, 500, NULL, W_STAFF, 0},
    {"region", "region", FT_TEXT, 100, NULL, W_STAFF, 0},
    {"industry", "industry", FT_TEXT, 100, NULL, W_STAFF, 0},
    {"website", "website", FT_URL, 200, NULL, W_STAFF, 0},
    {"phone", "phone", FT_PHONE, 30, NULL, W_STAFF, 0},
    {"email", "email", FT_EMAIL, 200, NULL, W_STAFF, 0},
    {"notes", "notes", FT_TEXT, 5000, NULL, W_STAFF, 0},
    {"business_needs", "business_needs", FT_NEEDS, 0, NULL, W_STAFF, FF_NOT_NULL},
    {"status", "status", FT_ENUM, 0, CUSTOMER_STATUS, W_STAFF, FF_NOT_NULL},
    {"first_contact_at", "first_contact_at", FT_PAST_DATE, 0, NULL, W_STAFF, 0},
    {"owner_id", "owner_id", FT_UUID, 0, NULL, W_MANAGER, FF_NOT_NULL},
    {"tier_override", "tier_override", FT_ENUM, 0, TIERS, W_MANAGER, 0},
    {"tier_override_reason", "tier_override_reason", FT_TEXT, 1000, NULL, W_MANAGER, 0},
    {"external_code", "external_code", FT_TEXT, 64, NULL, W_MANAGER, 0},
    {"credit_rating", "credit_rating", FT_ENUM, 0, CREDIT_RATINGS, W_FINANCE, 0},
    {"credit_limit", "credit_limit", FT_MONEY, 0, NULL, W_FINANCE, 0},
    {"payment_standing", "payment_standing", FT_ENUM, 0, PAYMENT_STANDINGS, W_FINANCE, 0},
    {"credit_reviewed_at", "credit_reviewed_at", FT_PAST_DATE, 0, NULL, W_FINANCE, 0},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};

static const char *const customer_read_only[] = {
    "id", "version", "tier", "tier_effective", "record_status", "record_return_reason", "record_submitted_at",
    "record_reviewed_at", "record_reviewed_by", "last_reviewed_at", "archived", "archived_at", "created_at",
    "updated_at", NULL};

/* ---- SQL ---- */

/* Contact cadence: the six cadence fields are NULL placeholders in the
 * SQL, filled in C by cadence_fill from the row's own columns and the
 * tier's policy (resources/cadence.h says why and how; reports.c computes
 * the overdue worklist with the SQL functions of migration 0004). */

/* The customer document: key, SQL expression (alias c), rendering. The
 * select list and the renderer both come from this one list; version stays
 * last (its column feeds the ETag). */
#define CUSTOMER_FIELDS(X)                                                                                    \
    X("id", "c.id", RK_STRING)                                                                                \
    X("name", "c.name", RK_STRING)                                                                            \
    X("legal_representative", "c.legal_representative", RK_STRING)                                            \
    X("tax_id", "c.tax_id", RK_STRING)                                                                        \
    X("business_license_no", "c.business_license_no", RK_STRING)                                              \
    X("address", "c.address", RK_STRING)                                                                      \
    X("region", "c.region", RK_STRING)                                                                        \
    X("industry", "c.industry", RK_STRING)                                                                    \
    X("website", "c.website", RK_STRING)                                                                      \
    X("phone", "c.phone", RK_STRING)                                                                          \
    X("email", "c.email", RK_STRING)                                                                          \
    X("notes", "c.notes", RK_STRING)                                                                          \
    X("business_needs", "c.business_needs", RK_RAW)                                                           \
    X("status", "c.status", RK_STRING)                                                                        \
    X("record_status", "c.record_status", RK_STRING)                                                          \
    X("record_return_reason", "c.record_return_reason", RK_STRING)                                            \
    X("record_submitted_at", "c.record_submitted_at", RK_TIMESTAMP)                                           \
    X("record_reviewed_at", "c.record_reviewed_at", RK_TIMESTAMP)                                             \
    X("record_reviewed_by", "c.record_reviewed_by", RK_STRING)                                                \
    X("first_contact_at", "c.first_contact_at", RK_STRING)                                                    \
    X("last_reviewed_at", "c.last_reviewed_at", RK_TIMESTAMP)                                                 \
    X("owner_id", "c.owner_id", RK_STRING)                                                                    \
    X("tier", "c.tier", RK_STRING)                                                                            \
    X("tier_override", "c.tier_override", RK_STRING)                                                          \
    X("tier_override_reason", "c.tier_override_reason", RK_STRING)                                            \
    X("tier_effective", "coalesce(c.tier_override, c.tier)", RK_STRING)                                       \
    X("credit_rating", "c.credit_rating", RK_STRING)                                                          \
    X("credit_limit", "c.credit_limit", RK_STRING)                                                            \
    X("payment_standing", "c.payment_standing", RK_STRING)                                                    \
    X("credit_reviewed_at", "c.credit_reviewed_at", RK_STRING)                                                \
    X("external_code", "c.external_code", RK_STRING)                                                          \
    X("last_contact_at", "c.last_contact_at", RK_TIMESTAMP)                                                   \
    X("next_contact_due", "NULL", RK_STRING)                                                                  \
    X("contact_status", "NULL", RK_STRING)                                                                    \
    X("last_visit_at", "c.last_visit_at", RK_TIMESTAMP)                                                       \
    X("next_visit_due", "NULL", RK_STRING)                                                                    \
    X("visit_status", "NULL", RK_STRING)                                                                      \
    X("next_review_due", "NULL", RK_STRING)                                                                   \
    X("review_status", "NULL", RK_STRING)                                                                     \
    X("archived", "c.archived_at IS NOT NULL", RK_BOOL)                                                       \
    X("archived_at", "c.archived_at", RK_TIMESTAMP)                                                           \
    X("created_at", "c.created_at", RK_TIMESTAMP)                                                             \
    X("updated_at", "c.updated_at", RK_TIMESTAMP)                                                             \
    X("version", "c.version", RK_RAW)

static const struct render_col customer_render[] = {CUSTOMER_FIELDS(RENDER_COL)};
#define CUST_NCOLS ((int)ARRAY_LEN(customer_render))
#define CUST_VERSION_COL (CUST_NCOLS - 1)
/* The select list: every field, then whatever the query adds after it. */
#define CUSTOMER_SELECT CUSTOMER_FIELDS(RENDER_SQL)

/* Updates go through a CTE named c, so the document can be selected from
 * the new row joined to its tier's policy (customer_apply closes it). */
#define CUSTOMER_UPDATE "WITH c AS (UPDATE customers c SET "

/* $1 id, $2 owner scope (NULL = all) */
#define SQL_CUSTOMER_GET                                                                                      \
    "SELECT " CUSTOMER_SELECT "1 FROM " CUSTOMER_FROM " WHERE c.id = $1 AND ($2::uuid IS NULL OR c.owner_id = $2)"
/* After the fields: owner_id, archived, record_status, tier_override_reason, tier_override, row snapshot */
enum { LOCK_OWNER = CUST_NCOLS, LOCK_ARCHIVED, LOCK_RECORD_STATUS, LOCK_OVERRIDE_REASON, LOCK_OVERRIDE, LOCK_ROW };
#define SQL_CUSTOMER_LOCK                                                                                     \
    "SELECT " CUSTOMER_SELECT "c.owner_id, c.archived_at IS NOT NULL, c.record_status, "                      \
    "c.tier_override_reason, c.tier_override, to_jsonb(c) FROM " CUSTOMER_FROM                             \
    " WHERE c.id = $1 AND ($2::uuid IS NULL OR c.owner_id = $2) FOR UPDATE OF c"
#define SQL_OWNER_CHECK "SELECT role, active FROM users WHERE id = $1"
#define SQL_OWNER_HISTORY                                                                                     \
    "INSERT INTO customer_owner_history (customer_id, old_owner_id, new_owner_id, changed_by) "              \
    "VALUES ($1, $2, $3, $4)"

/* ---- helpers ---- */

/* Whether id names a customer in the caller's scope (locked FOR UPDATE
 * with lock): 1 yes, 0 no (also for a malformed id), -1 after answering
 * (503). The one query behind customer_check_visible and customer_ref_check,
 * so a missing customer and another rep's look the same to both. */
static int customer_visible(struct request *r, const char *id, bool lock)
{
    if (!uuid_valid(id))
        return 0;
    const char *params[] = {id, customer_scope_owner(r)};
    PGresult *res = db_exec(r, lock ? "cust_visible_lock" : "cust_visible",
                            lock ? "SELECT 1 FROM customers WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2) FOR UPDATE"
                                 : "SELECT 1 FROM customers WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2)",
                            2, params);
    if (!res)
        return -1;
    int visible = PQntuples(res) == 1;
    PQclear(res);
    return visible;
}

int customer_check_visible(struct request *r, const char *id, bool lock)
{
    int visible = customer_visible(r, id, lock);
    if (visible == 0)
        problem_send(r, 404, NULL);
    return visible;
}

int customer_ref_check(struct request *r, const char *field, const char *id, bool lock, struct verrs *v)
{
    int visible = customer_visible(r, id, lock);
    if (visible == 0)
        verr_add(v, field, "no such customer");
    return visible < 0 ? -1 : 0;
}

/* Loads the customer the path names, in scope, locked for the transaction.
 * NULL after answering (404 / 503). */
static PGresult *customer_lock(struct request *r)
{
    const char *id = request_param(r, 0);
    const char *params[] = {id, customer_scope_owner(r)};
    return record_fetch(r, id, "cust_lock", SQL_CUSTOMER_LOCK, 2, params);
}

/* The owner must be an active sales rep or sales manager. 0 ok, -1 answered. */
static int owner_check(struct request *r, const char *owner_id, struct verrs *v)
{
    const char *params[] = {owner_id};
    PGresult *res = db_exec(r, "owner_check", SQL_OWNER_CHECK, 1, params);
    if (!res)
        return -1;
    bool ok = PQntuples(res) == 1 && PQgetvalue(res, 0, 1)[0] == 't' &&
              (role_parse(PQgetvalue(res, 0, 0)) & (ROLE_SALES | ROLE_SALES_MANAGER));
    PQclear(res);
    if (!ok)
        verr_add(v, "owner_id", "must be an active user with role sales or sales_manager");
    return 0;
}

/* The column of a document field, by key (once per process). */
static int customer_col(const char *key)
{
    for (int i = 0; i < CUST_NCOLS; i++)
        if (strcmp(customer_render[i].key, key) == 0)
            return i;
    abort(); /* a key of CUSTOMER_FIELDS: cannot happen */
}

struct cadence_cols {
    int tier, status, archived, first_contact, created;
    int last[CADENCE_KINDS], due[CADENCE_KINDS], state[CADENCE_KINDS];
};
static struct cadence_cols ccols;
static pthread_once_t ccols_once = PTHREAD_ONCE_INIT;

static void cadence_cols_init(void)
{
    static const char *const kinds[CADENCE_KINDS][3] = {
        {"last_contact_at", "next_contact_due", "contact_status"},
        {"last_visit_at", "next_visit_due", "visit_status"},
        {"last_reviewed_at", "next_review_due", "review_status"},
    };
    ccols.tier = customer_col("tier_effective");
    ccols.status = customer_col("status");
    ccols.archived = customer_col("archived");
    ccols.first_contact = customer_col("first_contact_at");
    ccols.created = customer_col("created_at");
    for (int k = 0; k < CADENCE_KINDS; k++) {
        ccols.last[k] = customer_col(kinds[k][0]);
        ccols.due[k] = customer_col(kinds[k][1]);
        ccols.state[k] = customer_col(kinds[k][2]);
    }
}

/* Fills the cadence fields of every row of res (documents in columns
 * 0..CUST_NCOLS-1). 0, or -1 after answering. */
static int cadence_fill(struct request *r, PGresult *res)
{
    struct cadence_rules rules;
    if (PQntuples(res) == 0)
        return 0;
    if (cadence_rules_load(r, &rules) != 0)
        return -1;
    pthread_once(&ccols_once, cadence_cols_init);
    for (int i = 0; i < PQntuples(res); i++) {
        int t = cadence_tier_index(db_val(res, i, ccols.tier));
        const struct cadence_policy *p = t < 0 ? NULL : &rules.tier[t];
        bool applies = PQgetvalue(res, i, ccols.archived)[0] != 't' &&
                       strcmp(PQgetvalue(res, i, ccols.status), "lost") != 0;
        for (int k = 0; k < CADENCE_KINDS; k++) {
            long due;
            /* Record reviews have no first-contact anchor (0004's crm_customer_due call). */
            const char *first = k == CADENCE_REVIEW ? NULL : db_val(res, i, ccols.first_contact);
            if (!cadence_due(p, k, applies, db_val(res, i, ccols.last[k]), first, db_val(res, i, ccols.created),
                             &due))
                continue; /* the placeholders are NULL already */
            char date[16];
            cadence_format_date(due, date, sizeof date);
            const char *state = cadence_status(due, p->due_soon_days, rules.today);
            if (!PQsetvalue(res, i, ccols.due[k], date, (int)strlen(date)) ||
                !PQsetvalue(res, i, ccols.state[k], (char *)state, (int)strlen(state))) {
                problem_send(r, 500, NULL);
                return -1;
            }
        }
    }
    return 0;
}

/* Replies with the customer document in row 0 of res (the fields first). */
static int reply_customer(struct request *r, int status, PGresult *res)
{
    if (cadence_fill(r, res) != 0)
        return r->status;
    return record_reply(r, status, res, customer_render, CUST_NCOLS);
}

/* ---- handlers ---- */

/* sort=, the default first. Timestamp keys travel as LIST_CURSOR_TS. */
static const struct list_sort customer_sorts[] = {
    {"-created_at", "c.created_at DESC, c.id DESC", "(c.created_at, c.id) < ($%d::timestamptz, $%d::uuid)",
     LIST_CURSOR_TS("c.created_at"), valid_timestamp},
    {"created_at", "c.created_at, c.id", "(c.created_at, c.id) > ($%d::timestamptz, $%d::uuid)",
     LIST_CURSOR_TS("c.created_at"), valid_timestamp},
    {"name", "c.name, c.id", "(c.name, c.id) > ($%d, $%d::uuid)", "c.name", NULL},
    {"-name", "c.name DESC, c.id DESC", "(c.name, c.id) < ($%d, $%d::uuid)", "c.name", NULL},
    {"updated_at", "c.updated_at, c.id", "(c.updated_at, c.id) > ($%d::timestamptz, $%d::uuid)",
     LIST_CURSOR_TS("c.updated_at"), valid_timestamp},
    {"-updated_at", "c.updated_at DESC, c.id DESC", "(c.updated_at, c.id) < ($%d::timestamptz, $%d::uuid)",
     LIST_CURSOR_TS("c.updated_at"), valid_timestamp},
};

/* Exact-match filters (mask bits 2..7). */
static const struct list_filter customer_filters[] = {
    {"status", "c.status = $%d", LIST_CHOICE, CUSTOMER_STATUS},
    {"tier", "coalesce(c.tier_override, c.tier) = $%d", LIST_CHOICE, TIERS},
    {"record_status", "c.record_status = $%d", LIST_CHOICE, RECORD_STATUS},
    {"owner_id", "c.owner_id = $%d::uuid", LIST_UUID, NULL},
    {"region", "c.region = $%d", LIST_TEXT, NULL},
    {"industry", "c.industry = $%d", LIST_TEXT, NULL},
};

int customers_list(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    char *pattern = NULL;
    PGresult *res = NULL;
    char name[64];
    unsigned mask = 0;

    int si = list_sort_find(r, customer_sorts, ARRAY_LEN(customer_sorts),
                            "sort must be one of name, -name, created_at, -created_at, updated_at, -updated_at");
    if (si < 0)
        goto out;
    const struct list_sort *sort = &customer_sorts[si];
    bool include_archived;
    if (query_bool(r, "include_archived", false, &include_archived) != 0)
        goto out;
    if (list_page_init_sorted(r, &page, "customers", sort->name, 2) != 0)
        goto out;

    sbuf_printf(&b.sql, "SELECT " CUSTOMER_SELECT "%s, c.id FROM " CUSTOMER_FROM " WHERE true", sort->key_expr);
    if (!include_archived)
        sbuf_puts(&b.sql, " AND c.archived_at IS NULL");
    else
        mask |= 1u << 0;
    if (principal_scoped(&r->principal)) {
        sbuf_printf(&b.sql, " AND c.owner_id = $%d", sqlb_bind(&b, r->principal.user_id));
        mask |= 1u << 1;
    }
    if (list_filters_apply(r, customer_filters, ARRAY_LEN(customer_filters), &b, &mask, 2) != 0 ||
        list_search_apply(r, "lower(c.name) LIKE lower($%d)", &b, &pattern, &mask, 10) != 0 ||
        list_keyset_apply(r, &page, sort->keyset, sort->key_valid, &b, &mask, 11) != 0)
        goto out;
    sbuf_printf(&b.sql, " ORDER BY %s LIMIT $%d", sort->order, sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "cust_list_%x_%d", mask, si);
    /* A name search is planned for its pattern (trigram index or not);
     * everything else reuses the statement of its filter combination. */
    res = db_exec(r, pattern ? NULL : name, b.sql.data, b.n, b.params);
    if (!res)
        goto out;
    if (cadence_fill(r, res) == 0)
        list_page_reply_rendered(r, &page, res, customer_render, CUST_NCOLS, 2);
out:
    PQclear(res);
    list_page_free(&page);
    free(pattern);
    sbuf_free(&b.sql);
    return r->status;
}

int customers_get(struct request *r)
{
    const char *id = request_param(r, 0);
    const char *params[] = {id, customer_scope_owner(r)};
    PGresult *res = record_fetch(r, id, "cust_get", SQL_CUSTOMER_GET, 2, params);
    if (res && audit_read(r, "customer", id, id) == 0 && cadence_fill(r, res) == 0)
        record_reply_get(r, res, customer_render, CUST_NCOLS);
    PQclear(res);
    return r->status;
}

int customers_create(struct request *r)
{
    struct field_values fv;
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *res = NULL;
    char name[48];
    fields_collect(r->json, customer_fields, customer_read_only, r->principal.role, true, &fv, &v);

    bool has_owner;
    const char *owner = field_value(&fv, "owner_id", &has_owner);
    if (!has_owner) {
        if (r->principal.role == ROLE_ADMIN)
            verr_add(&v, "owner_id", "is required when an admin creates a customer");
        owner = r->principal.user_id;
    } else if (owner && owner_check(r, owner, &v) != 0) {
        goto out;
    }
    bool has_override, has_reason;
    const char *override = field_value(&fv, "tier_override", &has_override);
    const char *reason = field_value(&fv, "tier_override_reason", &has_reason);
    if (override && !reason)
        verr_add(&v, "tier_override_reason", "is required when tier_override is set");
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }

    unsigned long mask = 0;
    sbuf_puts(&b.sql, "WITH c AS (INSERT INTO customers AS c (");
    for (int i = 0; i < fv.n; i++) {
        if (strcmp(fv.f[i].spec->name, "owner_id") == 0)
            continue;
        sbuf_printf(&b.sql, "%s, ", fv.f[i].spec->column);
        mask |= 1ul << (fv.f[i].spec - customer_fields);
    }
    sbuf_puts(&b.sql, "owner_id, created_by) VALUES (");
    for (int i = 0; i < fv.n; i++)
        if (strcmp(fv.f[i].spec->name, "owner_id") != 0)
            sbuf_printf(&b.sql, "$%d, ", sqlb_bind(&b, fv.f[i].value));
    int p_owner = sqlb_bind(&b, owner);
    int p_actor = sqlb_bind(&b, r->principal.user_id);
    int p_role = sqlb_bind(&b, role_name(r->principal.role));
    int p_req = sqlb_bind(&b, r->request_id);
    sbuf_printf(&b.sql,
                "$%d::uuid, $%d::uuid) RETURNING c.*), "
                "aud AS (INSERT INTO audit_log (actor_id, actor_role, action, entity, entity_id, customer_id, after, "
                "request_id) SELECT $%d::uuid, $%d, 'create', 'customer', c.id::text, c.id, to_jsonb(c), $%d "
                "FROM c) SELECT " CUSTOMER_SELECT "1 FROM c",
                p_owner, p_actor, p_actor, p_role, p_req);
    snprintf(name, sizeof name, "cust_ins_%lx", mask);
    res = db_exec(r, name, b.sql.data, b.n, b.params);
    if (!res)
        goto out;
    char location[96];
    snprintf(location, sizeof location, "/v1/customers/%s", PQgetvalue(res, 0, 0));
    reply_header(r, "Location", location);
    reply_customer(r, 201, res);
out:
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

/* Runs CUSTOMER_UPDATE "<set> ..." for the customer the path names,
 * returning the document fields and the new row snapshot, and records the
 * audit row (before = the locked row's snapshot). */
static PGresult *customer_apply(struct request *r, struct sqlb *b, const char *action, const PGresult *cur)
{
    const char *id = request_param(r, 0);
    sbuf_printf(&b->sql,
                "updated_at = now(), version = c.version + 1 WHERE c.id = $%d RETURNING c.*) "
                "SELECT " CUSTOMER_SELECT "to_jsonb(c) FROM c",
                sqlb_bind(b, id));
    PGresult *res = db_exec(r, NULL, b->sql.data, b->n, b->params);
    if (!res)
        return NULL;
    if (audit_record(r, action, "customer", id, id, PQgetvalue(cur, 0, LOCK_ROW), PQgetvalue(res, 0, CUST_NCOLS)) !=
        0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

int customers_update(struct request *r)
{
    struct field_values fv;
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    fields_collect(r->json, customer_fields, customer_read_only, r->principal.role, false, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(cur = customer_lock(r)))
        goto out;
    if (request_check_if_match(r, PQgetvalue(cur, 0, CUST_VERSION_COL)) != 0)
        goto out;

    bool has_owner, has_override, has_reason;
    const char *owner = field_value(&fv, "owner_id", &has_owner);
    const char *override = field_value(&fv, "tier_override", &has_override);
    const char *reason = field_value(&fv, "tier_override_reason", &has_reason);
    bool owner_changed = has_owner && strcmp(owner, PQgetvalue(cur, 0, LOCK_OWNER)) != 0;
    if (owner_changed && owner_check(r, owner, &v) != 0)
        goto out;
    /* The override the record will have must keep a reason (also when only the reason is cleared). */
    const char *new_override = has_override ? override : db_val(cur, 0, LOCK_OVERRIDE);
    const char *new_reason = has_reason ? reason : db_val(cur, 0, LOCK_OVERRIDE_REASON);
    if (new_override && !new_reason)
        verr_add(&v, "tier_override_reason", "is required when tier_override is set");
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (fv.n == 0) {
        reply_customer(r, 200, cur);
        goto out;
    }
    /* A new credit rating recomputes the tier (a trigger of migration 0006),
     * whose history and audit rows name who caused it. */
    bool has_rating;
    field_value(&fv, "credit_rating", &has_rating);
    if (has_rating && tier_actor_set(r) != 0)
        goto out;
    sbuf_puts(&b.sql, CUSTOMER_UPDATE);
    for (int i = 0; i < fv.n; i++) {
        int p = sqlb_bind(&b, fv.f[i].value);
        if (fv.f[i].spec->type == FT_NEEDS) /* RFC 7396: merge member by member; a null member removes it */
            sbuf_printf(&b.sql,
                        "%s = (c.%s || $%d::jsonb) - ARRAY(SELECT k FROM jsonb_each($%d::jsonb) AS e(k, v) "
                        "WHERE v = 'null'::jsonb), ",
                        fv.f[i].spec->column, fv.f[i].spec->column, p, p);
        else
            sbuf_printf(&b.sql, "%s = $%d, ", fv.f[i].spec->column, p);
    }
    /* Clearing an override clears its reason. */
    if (has_override && !override && !has_reason)
        sbuf_puts(&b.sql, "tier_override_reason = NULL, ");
    if (!(res = customer_apply(r, &b, "update", cur)))
        goto out;
    if (owner_changed) {
        const char *id = request_param(r, 0);
        const char *params[] = {id, PQgetvalue(cur, 0, LOCK_OWNER), owner, r->principal.user_id};
        PGresult *h = db_exec(r, "owner_history", SQL_OWNER_HISTORY, 4, params);
        if (!h)
            goto out;
        PQclear(h);
        char before[64], after[64];
        snprintf(before, sizeof before, "{\"owner_id\":\"%s\"}", PQgetvalue(cur, 0, LOCK_OWNER));
        snprintf(after, sizeof after, "{\"owner_id\":\"%s\"}", owner);
        if (audit_record(r, "reassign", "customer", id, id, before, after) != 0)
            goto out;
    }
    reply_customer(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

int customers_archive(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (!(cur = customer_lock(r)))
        goto out;
    if (request_check_if_match(r, PQgetvalue(cur, 0, CUST_VERSION_COL)) != 0)
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't') {
        reply_empty(r, 204);
        goto out;
    }
    sbuf_puts(&b.sql, CUSTOMER_UPDATE "archived_at = now(), ");
    if (!(res = customer_apply(r, &b, "archive", cur)))
        goto out;
    reply_empty(r, 204);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

int customers_restore(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (body_reject_fields(r, NULL) != 0)
        goto out;
    if (!(cur = customer_lock(r)))
        goto out;
    if (request_check_if_match(r, PQgetvalue(cur, 0, CUST_VERSION_COL)) != 0)
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] != 't') {
        problem_state(r, "restore", "not archived");
        goto out;
    }
    sbuf_puts(&b.sql, CUSTOMER_UPDATE "archived_at = NULL, ");
    if (!(res = customer_apply(r, &b, "restore", cur)))
        goto out;
    reply_customer(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

enum review_binds { REVIEW_ACTOR = 1, REVIEW_REASON = 2 };

/* Record review: moves record_status from one of `from` with the SET
 * fragment `set`, which uses the reviewer id as $1 (REVIEW_ACTOR) and the
 * reason as $2 (REVIEW_REASON). */
static int customer_review(struct request *r, const char *action, const char *const *from, const char *set,
                           unsigned binds, const char *reason)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (!(cur = customer_lock(r)))
        goto out;
    if (request_check_if_match(r, PQgetvalue(cur, 0, CUST_VERSION_COL)) != 0)
        goto out;
    const char *state = PQgetvalue(cur, 0, LOCK_RECORD_STATUS);
    bool allowed = false;
    for (const char *const *f = from; *f; f++)
        allowed |= strcmp(*f, state) == 0;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't') {
        problem_state(r, action, "archived");
        goto out;
    }
    if (!allowed) {
        problem_state(r, action, state);
        goto out;
    }
    if (binds & REVIEW_ACTOR)
        sqlb_bind(&b, r->principal.user_id);
    if (binds & REVIEW_REASON)
        sqlb_bind(&b, reason);
    /* set is one of the constant fragments of the actions below. */
    sbuf_puts(&b.sql, CUSTOMER_UPDATE);
    sbuf_puts(&b.sql, set);
    sbuf_puts(&b.sql, ", ");
    if (!(res = customer_apply(r, &b, action, cur)))
        goto out;
    reply_customer(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

int customers_submit(struct request *r)
{
    static const char *const from[] = {"draft", "returned", NULL};
    if (body_reject_fields(r, NULL) != 0)
        return r->status;
    return customer_review(r, "submit", from,
                           "record_status = 'submitted', record_submitted_at = now(), record_return_reason = NULL",
                           0, NULL);
}

int customers_approve(struct request *r)
{
    static const char *const from[] = {"submitted", NULL};
    if (body_reject_fields(r, NULL) != 0)
        return r->status;
    return customer_review(r, "approve", from,
                           "record_status = 'approved', record_reviewed_at = now(), record_reviewed_by = $1::uuid, "
                           "last_reviewed_at = now(), record_return_reason = NULL",
                           REVIEW_ACTOR, NULL);
}

int customers_return(struct request *r)
{
    static const char *const from[] = {"submitted", NULL};
    static const struct field_spec fields[] = {
        {"reason", "reason", FT_TEXT, 1000, NULL, W_MANAGER, FF_REQUIRED},
        {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
    };
    struct field_values fv;
    struct verrs v = {0};
    fields_collect(r->json, fields, NULL, r->principal.role, true, &fv, &v);
    if (v.n)
        problem_validation(r, &v);
    else {
        bool present;
        customer_review(r, "return", from,
                        "record_status = 'returned', record_reviewed_at = now(), record_reviewed_by = $1::uuid, "
                        "record_return_reason = $2::text",
                        REVIEW_ACTOR | REVIEW_REASON, field_value(&fv, "reason", &present));
    }
    field_values_free(&fv);
    return r->status;
}

/* The owner (or a manager) confirms the file is current: last_reviewed_at
 * restarts the review cadence. Allowed in any record status. */
int customers_review(struct request *r)
{
    if (body_reject_fields(r, NULL) != 0)
        return r->status;
    return customer_review(r, "review", RECORD_STATUS, "last_reviewed_at = now()", 0, NULL);
}

int customers_history(struct request *r)
{
    const char *id = request_param(r, 0);
    struct list_page page;
    if (customer_check_visible(r, id, false) != 1)
        return r->status;
    if (list_page_init_serial(r, &page, "history") != 0)
        return r->status;
    const char *params[] = {id, page.cursor_id, page.limit_plus_one};
    PGresult *res = db_exec(r, "cust_history",
                            "SELECT " AUDIT_SELECT "a.id::text FROM audit_log a WHERE a.customer_id = $1 "
                            "AND a.action <> 'read' AND ($2::bigint IS NULL OR a.id < $2) ORDER BY a.id DESC LIMIT $3",
                            3, params);
    if (!res) {
        list_page_free(&page);
        return r->status;
    }
    list_page_reply_rendered(r, &page, res, audit_render, audit_ncols, 1);
    PQclear(res);
    return r->status;
}

int customer_check_live(struct request *r, const char *id)
{
    const char *params[] = {id};
    PGresult *res = db_exec(r, "cust_live", "SELECT archived_at IS NULL FROM customers WHERE id = $1", 1, params);
    if (!res)
        return -1;
    bool live = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!live) {
        problem_state(r, "create", "customer archived");
        return -1;
    }
    return 0;
}

int customer_reply_id(struct request *r, int status, const char *id)
{
    const char *params[] = {id, NULL};
    PGresult *res = record_fetch(r, id, "cust_get", SQL_CUSTOMER_GET, 2, params);
    if (res)
        reply_customer(r, status, res);
    PQclear(res);
    return r->status;
}

int customer_owner_check(struct request *r, const char *owner_id, struct verrs *v)
{
    return owner_check(r, owner_id, v);
}
