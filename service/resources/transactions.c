/* The ERP transaction feed (purchase history). Same layout as customers.c:
 * field specs, SQL, helpers, handlers (list, get, then the writes: the
 * idempotent upsert by external reference, the all-or-nothing batch,
 * archive — an order the ERP cancelled — and restore). A transaction is
 * scoped like its customer: a sales rep reads only transactions of
 * customers they own; only the ERP (and admin) writes. Writers lock the customers first (in id order), then write the
 * transactions; the statement triggers of migration 0006 recompute those
 * customers' tiers in the same transaction. */
#include "resources/transactions.h"

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
#include "resources/tiering.h"
#include "validate/validate.h"

/* ---- field specs ---- */

#define W_ERP (ROLE_ERP | ROLE_ADMIN)
#define TXN_BATCH_MAX 1000

/* external_ref stays first: PUT names it in the path, so its body is
 * checked against the specs after it (PUT_FIELDS) and names it read-only.
 * amount is FT_TEXT here and checked by valid_amount (negative amounts are
 * returns and credit notes); currency is checked against CNY. Columns are
 * those of the SQL_TXN_ITEMS recordset (customer_code: the customer's
 * external code, resolved to customer_id before anything is written). */
static const struct field_spec txn_fields[] = {
    {"external_ref", "external_ref", FT_TEXT, 64, NULL, W_ERP, FF_REQUIRED},
    {"customer_id", "customer_id", FT_UUID, 0, NULL, W_ERP, 0},
    {"customer_external_code", "customer_code", FT_TEXT, 64, NULL, W_ERP, 0},
    {"occurred_on", "occurred_on", FT_PAST_DATE, 0, NULL, W_ERP, FF_REQUIRED},
    {"amount", "amount", FT_TEXT, 20, NULL, W_ERP, FF_REQUIRED},
    {"currency", "currency", FT_TEXT, 3, NULL, W_ERP, FF_NOT_NULL},
    {"product_category", "product_category", FT_TEXT, 100, NULL, W_ERP, 0},
    {"product_model", "product_model", FT_TEXT, 100, NULL, W_ERP, 0},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
#define PUT_FIELDS (txn_fields + 1)

static const char *const batch_read_only[] = {"id",         "version",    "archived",   "archived_at", "created_at",
                                              "updated_at", "created_by", "updated_by", NULL};
static const char *const put_read_only[] = {"id",         "external_ref", "version",    "archived",   "archived_at",
                                            "created_at", "updated_at",   "created_by", "updated_by", NULL};

/* ---- SQL ---- */

/* The transaction document: key, SQL expression (alias t), rendering. The
 * select list and the renderer both come from this one list; id and
 * customer_id stay first, version last (its column feeds the ETag). */
#define TXN_FIELDS(X)                                                                                         \
    X("id", "t.id", RK_STRING)                                                                                \
    X("customer_id", "t.customer_id", RK_STRING)                                                              \
    X("external_ref", "t.external_ref", RK_STRING)                                                            \
    X("occurred_on", "t.occurred_on", RK_STRING)                                                              \
    X("amount", "t.amount", RK_STRING)                                                                        \
    X("currency", "t.currency", RK_STRING)                                                                    \
    X("product_category", "t.product_category", RK_STRING)                                                    \
    X("product_model", "t.product_model", RK_STRING)                                                          \
    X("created_by", "t.created_by", RK_STRING)                                                                \
    X("updated_by", "t.updated_by", RK_STRING)                                                                \
    X("archived", "t.archived_at IS NOT NULL", RK_BOOL)                                                       \
    X("archived_at", "t.archived_at", RK_TIMESTAMP)                                                           \
    X("created_at", "t.created_at", RK_TIMESTAMP)                                                             \
    X("updated_at", "t.updated_at", RK_TIMESTAMP)                                                             \
    X("version", "t.version", RK_RAW)

static const struct render_col txn_render[] = {TXN_FIELDS(RENDER_COL)};
#define TXN_NCOLS ((int)ARRAY_LEN(txn_render))
#define TXN_ID_COL 0
#define TXN_CUSTOMER_COL 1
#define TXN_VERSION_COL (TXN_NCOLS - 1)
/* The select list: every field, then whatever the query adds after it. */
#define TXN_SELECT TXN_FIELDS(RENDER_SQL)

/* Sales see transactions of the customers they own: $n is the owner. */
#define SQL_IN_SCOPE "EXISTS (SELECT 1 FROM customers c WHERE c.id = t.customer_id AND c.owner_id = $%d::uuid)"

/* $1 external reference or id, $2 the same when it is a UUID (else NULL),
 * $3 owner scope (NULL = all). A reference wins over an id that happens to
 * be spelled the same. */
#define SQL_TXN_GET                                                                                           \
    "SELECT " TXN_SELECT "1 FROM transactions t WHERE (t.external_ref = $1 OR t.id = $2::uuid) "             \
    "AND ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM customers c WHERE c.id = t.customer_id "                  \
    "AND c.owner_id = $3::uuid)) ORDER BY t.external_ref = $1 DESC LIMIT 1"

/* The items of a write travel as one JSON array parameter ($1), built by
 * txn_payload from validated values: idx, external_ref, customer_id,
 * customer_code, occurred_on, amount, currency, product_category,
 * product_model. */
#define SQL_TXN_ITEMS                                                                                         \
    "jsonb_to_recordset($1::jsonb) AS i(idx integer, external_ref text, customer_id uuid, customer_code text, " \
    "occurred_on date, amount numeric, currency text, product_category text, product_model text)"

/* Per item: the customer it names (by id or by external code; NULL when
 * none) and whether its date is after today's business date. */
#define SQL_TXN_RESOLVE                                                                                       \
    "SELECT i.idx, c.id, i.occurred_on > bt.today FROM " SQL_TXN_ITEMS                                        \
    " CROSS JOIN (SELECT crm_today() AS today OFFSET 0) bt LEFT JOIN customers c ON c.id = "                  \
    "coalesce(i.customer_id, (SELECT k.id FROM customers k WHERE k.external_code = i.customer_code)) "        \
    "ORDER BY i.idx"
enum { RESOLVE_IDX, RESOLVE_CUSTOMER, RESOLVE_FUTURE };

/* Who is writing, for the tier triggers (history and audit rows). */
#define SQL_TXN_ACTOR                                                                                         \
    "SELECT set_config('crm.actor_id', $1, true), set_config('crm.actor_role', $2, true), "                  \
    "set_config('crm.request_id', $3, true)"

/* Locks every customer the items touch, the new ones and the ones their
 * transactions belong to now, in id order (the order every writer keeps). */
#define SQL_TXN_LOCK_CUSTOMERS                                                                                \
    "SELECT 1 FROM customers WHERE id IN (SELECT i.customer_id FROM " SQL_TXN_ITEMS                          \
    " UNION SELECT t.customer_id FROM transactions t WHERE t.external_ref IN "                                \
    "(SELECT e ->> 'external_ref' FROM jsonb_array_elements($1::jsonb) e)) ORDER BY id FOR UPDATE"

/* $1 external reference: the current version, locked. */
#define SQL_TXN_LOCK "SELECT version FROM transactions WHERE external_ref = $1 FOR UPDATE"

/* The upsert: inserts new references, updates those whose values differ
 * (version + 1) and leaves identical ones alone (no version bump, no audit
 * entry); one audit row per row written (create / update, before and after
 * snapshots). $2 actor, $3 actor role, $4 request id. Per item: idx, id,
 * result (created, updated, unchanged). */
#define SQL_TXN_UPSERT                                                                                        \
    "WITH i AS (SELECT * FROM " SQL_TXN_ITEMS "), "                                                           \
    "old AS (SELECT t.id, to_jsonb(t) AS snap FROM transactions t JOIN i USING (external_ref)), "             \
    "up AS (INSERT INTO transactions AS t (external_ref, customer_id, occurred_on, amount, currency, "        \
    "product_category, product_model, created_by, updated_by) "                                               \
    "SELECT external_ref, customer_id, occurred_on, amount, currency, product_category, product_model, "      \
    "$2::uuid, $2::uuid FROM i ORDER BY idx "                                                                 \
    "ON CONFLICT (external_ref) DO UPDATE SET customer_id = EXCLUDED.customer_id, "                           \
    "occurred_on = EXCLUDED.occurred_on, amount = EXCLUDED.amount, currency = EXCLUDED.currency, "            \
    "product_category = EXCLUDED.product_category, product_model = EXCLUDED.product_model, "                  \
    "updated_by = EXCLUDED.updated_by, updated_at = now(), version = t.version + 1 "                          \
    "WHERE (t.customer_id, t.occurred_on, t.amount, t.currency, t.product_category, t.product_model) "        \
    "IS DISTINCT FROM (EXCLUDED.customer_id, EXCLUDED.occurred_on, EXCLUDED.amount, EXCLUDED.currency, "      \
    "EXCLUDED.product_category, EXCLUDED.product_model) "                                                     \
    "RETURNING t.*, t.xmax = 0 AS inserted), "                                                                \
    "aud AS (INSERT INTO audit_log (actor_id, actor_role, action, entity, entity_id, customer_id, before, "   \
    "after, request_id) SELECT $2::uuid, $3, CASE WHEN up.inserted THEN 'create' ELSE 'update' END, "         \
    "'transaction', up.id::text, up.customer_id, old.snap, to_jsonb(up) - 'inserted', $4 "                    \
    "FROM up LEFT JOIN old ON old.id = up.id) "                                                               \
    "SELECT i.idx, coalesce(up.id, (SELECT t.id FROM transactions t WHERE t.external_ref = i.external_ref)), " \
    "CASE WHEN up.id IS NULL THEN 'unchanged' WHEN up.inserted THEN 'created' ELSE 'updated' END "            \
    "FROM i LEFT JOIN up USING (external_ref) ORDER BY i.idx"
enum { UPSERT_IDX, UPSERT_ID, UPSERT_RESULT };

/* $1 transaction id: the document. */
#define SQL_TXN_DOC "SELECT " TXN_SELECT "1 FROM transactions t WHERE t.id = $1::uuid"

/* $1 external reference or id, $2 the same when it is a UUID (else NULL):
 * locks the transaction's customer (the first lock every writer takes). */
#define SQL_TXN_LOCK_CUSTOMER                                                                                 \
    "SELECT 1 FROM customers c WHERE c.id = (SELECT t.customer_id FROM transactions t "                      \
    "WHERE t.external_ref = $1 OR t.id = $2::uuid ORDER BY t.external_ref = $1 DESC LIMIT 1) FOR UPDATE"
/* The same transaction, locked. After the fields: archived, row snapshot. */
enum { LOCK_ARCHIVED = TXN_NCOLS, LOCK_ROW };
#define SQL_TXN_LOCK_ROW                                                                                      \
    "SELECT " TXN_SELECT "t.archived_at IS NOT NULL, to_jsonb(t) FROM transactions t "                       \
    "WHERE t.external_ref = $1 OR t.id = $2::uuid ORDER BY t.external_ref = $1 DESC LIMIT 1 FOR UPDATE"

/* ---- helpers ---- */

/* Sets the transaction-local settings the tier triggers read (who caused a
 * recomputation). Returns 0, or -1 after answering. */
int tier_actor_set(struct request *r)
{
    const char *params[] = {r->principal.user_id, role_name(r->principal.role), r->request_id};
    PGresult *res = db_exec(r, "tier_actor", SQL_TXN_ACTOR, 3, params);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int if_match_creating(struct request *r)
{
    long want = request_if_match_version(r);
    if (want < 0)
        return -1;
    if (request_header(r, "If-Match")) {
        problem_send(r, 412, "there is no such record yet");
        return -1;
    }
    return 0;
}

/* Checks one item object against the specs (PUT: without external_ref,
 * which the path gives) and the rules fields_collect cannot express. Every
 * error goes to v with its field prefixed (batch: "items[3]."). fv must be
 * released with field_values_free in every case. */
static void txn_item_collect(const struct request *r, const json_t *obj, bool put, const char *prefix,
                             struct field_values *fv, struct verrs *v)
{
    struct verrs mine = {0};
    fields_collect(obj, put ? PUT_FIELDS : txn_fields, put ? put_read_only : batch_read_only, r->principal.role,
                   true, fv, &mine);
    bool present, has_id, has_code;
    const char *ref = field_value(fv, "external_ref", &present);
    if (ref && !valid_external_ref(ref))
        verr_add(&mine, "external_ref", "must be 1 to 64 of A-Z a-z 0-9 and `._:-` starting with a letter or digit");
    const char *amount = field_value(fv, "amount", &present);
    if (amount && !valid_amount(amount))
        verr_add(&mine, "amount",
                 "must be a decimal string with at most 12 integer digits and 2 decimals, e.g. \"125000.00\" "
                 "or \"-300.00\"");
    const char *currency = field_value(fv, "currency", &present);
    if (currency && strcmp(currency, "CNY") != 0)
        verr_add(&mine, "currency", "must be CNY (the ERP converts other currencies before pushing)");
    field_value(fv, "customer_id", &has_id);
    field_value(fv, "customer_external_code", &has_code);
    bool bad_customer = false;
    for (int k = 0; k < mine.n; k++)
        bad_customer |= strcmp(mine.e[k].field, "customer_id") == 0 ||
                        strcmp(mine.e[k].field, "customer_external_code") == 0;
    if (!bad_customer && has_id == has_code)
        verr_add(&mine, "customer_id", has_id ? "give customer_id or customer_external_code, not both"
                                              : "is required (or customer_external_code)");
    else if (!bad_customer && !field_value(fv, has_id ? "customer_id" : "customer_external_code", &present))
        verr_add(&mine, has_id ? "customer_id" : "customer_external_code", "must not be null");
    for (int k = 0; k < mine.n; k++) {
        char field[64];
        snprintf(field, sizeof field, "%s%s", prefix, mine.e[k].field);
        verr_add(v, field, "%s", mine.e[k].message);
    }
}

/* The item as the JSON object SQL_TXN_ITEMS reads: the reference, then
 * every spec's value under its column name (the recordset's columns). */
static json_t *txn_item_json(int idx, const char *ref, const struct field_values *fv)
{
    json_t *o = json_object();
    json_object_set_new(o, "idx", json_integer(idx));
    json_object_set_new(o, "external_ref", json_string(ref));
    for (const struct field_spec *s = PUT_FIELDS; s->name; s++) {
        bool present;
        const char *val = field_value(fv, s->name, &present);
        json_object_set_new(o, s->column, val ? json_string(val) : json_null());
    }
    if (json_is_null(json_object_get(o, "currency")))
        json_object_set_new(o, "currency", json_string("CNY"));
    return o;
}

/* Field of item idx for an error: "items[idx].<name>" in a batch, "<name>" for PUT. */
static void item_field(char *out, size_t len, bool put, int idx, const char *name)
{
    if (put)
        snprintf(out, len, "%s", name);
    else
        snprintf(out, len, "items[%d].%s", idx, name);
}

/* Resolves the customer of every item of payload (by id or external code)
 * and checks dates against the business date: errors go to v; the
 * customer_id of each item is set to the customer's id. Returns 0 (check
 * v), or -1 after answering. */
static int txn_resolve(struct request *r, json_t *payload, bool put, struct verrs *v)
{
    char *text = json_dumps(payload, JSON_COMPACT);
    if (!text) {
        problem_send(r, 500, NULL);
        return -1;
    }
    const char *params[] = {text};
    PGresult *res = db_exec(r, "txn_resolve", SQL_TXN_RESOLVE, 1, params);
    free(text);
    if (!res)
        return -1;
    for (int row = 0; row < PQntuples(res); row++) {
        int idx = atoi(PQgetvalue(res, row, RESOLVE_IDX));
        json_t *item = json_array_get(payload, (size_t)idx);
        char field[64];
        if (PQgetisnull(res, row, RESOLVE_CUSTOMER)) {
            bool by_id = !json_is_null(json_object_get(item, "customer_id"));
            item_field(field, sizeof field, put, idx, by_id ? "customer_id" : "customer_external_code");
            verr_add(v, field, "no such customer");
        } else {
            json_object_set_new(item, "customer_id", json_string(PQgetvalue(res, row, RESOLVE_CUSTOMER)));
        }
        if (PQgetvalue(res, row, RESOLVE_FUTURE)[0] == 't') {
            item_field(field, sizeof field, put, idx, "occurred_on");
            verr_add(v, field, "must not be after today's business date");
        }
    }
    PQclear(res);
    return 0;
}

/* Writes the items of payload (resolved): sets the actor for the tier
 * triggers, locks the customers, upserts. Returns the SQL_TXN_UPSERT
 * result (the caller's), or NULL after answering. With put, checks If-Match
 * against the reference's current version under its lock. */
static PGresult *txn_write(struct request *r, const json_t *payload, const char *put_ref)
{
    PGresult *res = NULL;
    char *text = json_dumps(payload, JSON_COMPACT);
    if (!text) {
        problem_send(r, 500, NULL);
        return NULL;
    }
    if (tier_actor_set(r) != 0)
        goto out;
    const char *lock_params[] = {text};
    if (!(res = db_exec(r, "txn_lock_customers", SQL_TXN_LOCK_CUSTOMERS, 1, lock_params)))
        goto out;
    PQclear(res);
    res = NULL;
    if (put_ref) {
        const char *p[] = {put_ref};
        if (!(res = db_exec(r, "txn_lock", SQL_TXN_LOCK, 1, p)))
            goto out;
        int rc = PQntuples(res) == 1 ? request_check_if_match(r, PQgetvalue(res, 0, 0)) : if_match_creating(r);
        PQclear(res);
        res = NULL;
        if (rc != 0)
            goto out;
    }
    const char *params[] = {text, r->principal.user_id, role_name(r->principal.role), r->request_id};
    res = db_exec(r, "txn_upsert", SQL_TXN_UPSERT, 4, params);
out:
    free(text);
    return res;
}

/* Whether a path segment can name a transaction at all (a reference or an
 * id); anything else is answered 404 without a query. */
static bool txn_key_valid(const char *key)
{
    return valid_external_ref(key) || uuid_valid(key);
}

/* Loads the transaction the path names (by reference or id) for a write:
 * locks its customer, then the row, and checks If-Match. NULL after
 * answering (404 / 412 / 503). */
static PGresult *txn_lock(struct request *r)
{
    const char *key = request_param(r, 0);
    if (!txn_key_valid(key)) {
        problem_send(r, 404, NULL);
        return NULL;
    }
    const char *params[] = {key, uuid_valid(key) ? key : NULL};
    PGresult *res = db_exec(r, "txn_lock_customer", SQL_TXN_LOCK_CUSTOMER, 2, params);
    if (!res)
        return NULL;
    PQclear(res);
    if (tier_actor_set(r) != 0 || !(res = db_exec(r, "txn_lock_row", SQL_TXN_LOCK_ROW, 2, params)))
        return NULL;
    if (PQntuples(res) == 0) {
        PQclear(res);
        problem_send(r, 404, NULL);
        return NULL;
    }
    if (request_check_if_match(r, PQgetvalue(res, 0, TXN_VERSION_COL)) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Sets archived_at of the locked transaction cur to `value` (constant SQL),
 * version + 1, with its audit row; the tier trigger recomputes the
 * customer. Returns the new document row, or NULL after answering. */
static PGresult *txn_set_archived(struct request *r, const PGresult *cur, const char *action, const char *value)
{
    struct sqlb b = {0};
    const char *id = PQgetvalue(cur, 0, TXN_ID_COL);
    sbuf_printf(&b.sql,
                "UPDATE transactions t SET archived_at = %s, updated_by = $1::uuid, updated_at = now(), "
                "version = t.version + 1 WHERE t.id = $2::uuid RETURNING " TXN_SELECT "to_jsonb(t)",
                value);
    sqlb_bind(&b, r->principal.user_id);
    sqlb_bind(&b, id);
    PGresult *res = db_exec(r, NULL, b.sql.data, b.n, b.params);
    sbuf_free(&b.sql);
    if (res && audit_record(r, action, "transaction", id, PQgetvalue(cur, 0, TXN_CUSTOMER_COL),
                            PQgetvalue(cur, 0, LOCK_ROW), PQgetvalue(res, 0, TXN_NCOLS)) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* ---- handlers ---- */

/* Filters (mask bits 2..6). from/to bound the date, both inclusive. */
static const struct list_filter txn_filters[] = {
    {"customer_id", "t.customer_id = $%d::uuid", LIST_UUID, NULL},
    {"from", "t.occurred_on >= $%d::date", LIST_DATE, NULL},
    {"to", "t.occurred_on <= $%d::date", LIST_DATE, NULL},
    {"product_category", "t.product_category = $%d", LIST_TEXT, NULL},
    {"product_model", "t.product_model = $%d", LIST_TEXT, NULL},
};

int transactions_list(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    PGresult *res = NULL;
    char name[48];
    unsigned mask = 0;

    bool include_archived;
    if (query_bool(r, "include_archived", false, &include_archived) != 0)
        goto out;
    if (list_page_init_sorted(r, &page, "transactions", "-occurred_on", 2) != 0)
        goto out;
    sbuf_puts(&b.sql, "SELECT " TXN_SELECT "t.occurred_on::text, t.id FROM transactions t WHERE true");
    if (!include_archived)
        sbuf_puts(&b.sql, " AND t.archived_at IS NULL");
    else
        mask |= 1u << 0;
    if (principal_scoped(&r->principal)) {
        sbuf_puts(&b.sql, " AND ");
        sbuf_printf(&b.sql, SQL_IN_SCOPE, sqlb_bind(&b, r->principal.user_id));
        mask |= 1u << 1;
    }
    if (list_filters_apply(r, txn_filters, ARRAY_LEN(txn_filters), &b, &mask, 2) != 0 ||
        list_keyset_apply(r, &page, "(t.occurred_on, t.id) < ($%d::date, $%d::uuid)", valid_date, &b, &mask, 10) !=
            0)
        goto out;
    sbuf_printf(&b.sql, " ORDER BY t.occurred_on DESC, t.id DESC LIMIT $%d::integer",
                sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "txn_list_%x", mask);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    list_page_reply_rendered(r, &page, res, txn_render, TXN_NCOLS, 2);
out:
    PQclear(res);
    list_page_free(&page);
    sbuf_free(&b.sql);
    return r->status;
}

int transactions_get(struct request *r)
{
    PGresult *res = NULL;
    const char *ref = request_param(r, 0);
    if (!txn_key_valid(ref))
        return problem_send(r, 404, NULL);
    const char *params[] = {ref, uuid_valid(ref) ? ref : NULL, customer_scope_owner(r)};
    if (!(res = db_exec(r, "txn_get", SQL_TXN_GET, 3, params)))
        goto out;
    if (PQntuples(res) == 0) {
        problem_send(r, 404, NULL);
        goto out;
    }
    if (audit_read(r, "transaction", PQgetvalue(res, 0, TXN_ID_COL), PQgetvalue(res, 0, TXN_CUSTOMER_COL)) != 0)
        goto out;
    record_reply_get(r, res, txn_render, TXN_NCOLS);
out:
    PQclear(res);
    return r->status;
}

int transactions_put(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    json_t *payload = NULL;
    PGresult *res = NULL, *doc = NULL;
    const char *ref = request_param(r, 0);
    if (!valid_external_ref(ref)) {
        verr_add(&v, "external_ref", "must be 1 to 64 of A-Z a-z 0-9 and `._:-` starting with a letter or digit");
        problem_validation(r, &v);
        goto out;
    }
    txn_item_collect(r, r->json, true, "", &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    payload = json_array();
    json_array_append_new(payload, txn_item_json(0, ref, &fv));
    if (txn_resolve(r, payload, true, &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(res = txn_write(r, payload, ref)))
        goto out;
    const char *params[] = {PQgetvalue(res, 0, UPSERT_ID)};
    if (!(doc = db_exec(r, "txn_doc", SQL_TXN_DOC, 1, params)))
        goto out;
    bool created = strcmp(PQgetvalue(res, 0, UPSERT_RESULT), "created") == 0;
    if (created) {
        char location[96];
        snprintf(location, sizeof location, "/v1/transactions/%s", PQgetvalue(doc, 0, TXN_ID_COL));
        reply_header(r, "Location", location);
    }
    record_reply(r, created ? 201 : 200, doc, txn_render, TXN_NCOLS);
out:
    PQclear(res);
    PQclear(doc);
    json_decref(payload);
    field_values_free(&fv);
    return r->status;
}

/* The body of a batch: {"items": [1..1000 objects]}. Adds errors to v;
 * returns the items array (borrowed from r->json) or NULL. */
static const json_t *batch_items(const struct request *r, struct verrs *v)
{
    if (!json_is_object(r->json)) {
        verr_add(v, "(body)", "must be a JSON object");
        return NULL;
    }
    const char *key;
    json_t *val;
    json_object_foreach(r->json, key, val)
    {
        if (strcmp(key, "items") != 0) {
            char field[64];
            snprintf(field, sizeof field, "%.60s", key);
            verr_add(v, field, "unknown field");
        }
    }
    const json_t *items = json_object_get(r->json, "items");
    if (!json_is_array(items) || json_array_size(items) < 1 || json_array_size(items) > TXN_BATCH_MAX) {
        verr_add(v, "items", "must be an array of 1 to %d transactions", TXN_BATCH_MAX);
        return NULL;
    }
    return items;
}

int transactions_batch(struct request *r)
{
    struct verrs v = {0};
    json_t *payload = json_array();
    PGresult *res = NULL;
    struct sbuf out = {0};
    const json_t *items = batch_items(r, &v);
    if (!items) {
        problem_validation(r, &v);
        goto out;
    }
    size_t n = json_array_size(items);
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(items, i);
        char prefix[24];
        snprintf(prefix, sizeof prefix, "items[%zu].", i);
        if (!json_is_object(item)) {
            snprintf(prefix, sizeof prefix, "items[%zu]", i);
            verr_add(&v, prefix, "must be an object");
            continue;
        }
        struct field_values fv;
        int before = v.n;
        txn_item_collect(r, item, false, prefix, &fv, &v);
        bool present;
        const char *ref = field_value(&fv, "external_ref", &present);
        if (v.n == before) {
            /* A reference twice in one batch would be written twice in one statement. */
            for (size_t k = 0; k < json_array_size(payload); k++) {
                const json_t *prev = json_array_get(payload, k);
                if (strcmp(json_string_value(json_object_get(prev, "external_ref")), ref) == 0) {
                    char field[64];
                    snprintf(field, sizeof field, "items[%zu].external_ref", i);
                    verr_add(&v, field, "repeats items[%d].external_ref",
                             (int)json_integer_value(json_object_get(prev, "idx")));
                    break;
                }
            }
        }
        if (v.n == before)
            json_array_append_new(payload, txn_item_json((int)i, ref, &fv));
        field_values_free(&fv);
    }
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (txn_resolve(r, payload, false, &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(res = txn_write(r, payload, NULL)))
        goto out;
    int counts[3] = {0, 0, 0};
    static const char *const results[] = {"created", "updated", "unchanged"};
    sbuf_puts(&out, "{\"items\":[");
    for (int row = 0; row < PQntuples(res); row++) {
        int idx = atoi(PQgetvalue(res, row, UPSERT_IDX));
        const char *result = PQgetvalue(res, row, UPSERT_RESULT);
        for (int k = 0; k < 3; k++)
            counts[k] += strcmp(result, results[k]) == 0;
        const char *ref = json_string_value(json_object_get(json_array_get(payload, (size_t)idx), "external_ref"));
        sbuf_printf(&out, "%s{\"index\":%d,\"external_ref\":", row ? "," : "", idx);
        sbuf_json_string(&out, ref, strlen(ref));
        sbuf_printf(&out, ",\"id\":\"%s\",\"result\":\"%s\"}", PQgetvalue(res, row, UPSERT_ID), result);
    }
    sbuf_printf(&out, "],\"created\":%d,\"updated\":%d,\"unchanged\":%d}", counts[0], counts[1], counts[2]);
    reply_json_buf(r, 200, &out);
out:
    PQclear(res);
    sbuf_free(&out);
    json_decref(payload);
    return r->status;
}

int transactions_archive(struct request *r)
{
    PGresult *cur = NULL, *res = NULL;
    if (!(cur = txn_lock(r)))
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't') {
        reply_empty(r, 204);
        goto out;
    }
    if ((res = txn_set_archived(r, cur, "archive", "now()")))
        reply_empty(r, 204);
out:
    PQclear(cur);
    PQclear(res);
    return r->status;
}

int transactions_restore(struct request *r)
{
    PGresult *cur = NULL, *res = NULL;
    if (body_reject_fields(r, NULL) != 0 || !(cur = txn_lock(r)))
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] != 't') {
        problem_state(r, "restore", "not archived");
        goto out;
    }
    if ((res = txn_set_archived(r, cur, "restore", "NULL")))
        record_reply(r, 200, res, txn_render, TXN_NCOLS);
out:
    PQclear(cur);
    PQclear(res);
    return r->status;
}
