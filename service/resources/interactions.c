/* Interactions (沟通记录): the log of every contact with a customer. Same
 * layout as customers.c: field specs, SQL, helpers, handlers (list, get,
 * create, update, archive, restore). An interaction is scoped like its
 * customer: a sales rep sees and writes only interactions of customers they
 * own. Writers lock the customer first, then the interaction (the one lock
 * order every writer keeps; the last-contact trigger writes the customer). */
#include "resources/interactions.h"

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

static const char *const CHANNELS[] = {"phone", "email", "wechat", "sms", "meeting", "event", "other", NULL};

#define W_STAFF (ROLE_SALES | ROLE_SALES_MANAGER | ROLE_ADMIN)

/* customer_id stays first: it is set on create only, so PATCH checks the
 * body against the specs after it (PATCH_FIELDS) and names it read-only. */
static const struct field_spec interaction_fields[] = {
    {"customer_id", "customer_id", FT_UUID, 0, NULL, W_STAFF, FF_REQUIRED},
    {"contact_id", "contact_id", FT_UUID, 0, NULL, W_STAFF, 0},
    {"channel", "channel", FT_ENUM, 0, CHANNELS, W_STAFF, FF_REQUIRED},
    {"occurred_at", "occurred_at", FT_PAST_TIMESTAMP, 0, NULL, W_STAFF, FF_REQUIRED},
    {"participant_ids", "participant_ids", FT_UUID_LIST, 20, NULL, W_STAFF, FF_NOT_NULL},
    {"summary", "summary", FT_TEXT, 5000, NULL, W_STAFF, FF_REQUIRED},
    {"customer_feedback", "customer_feedback", FT_TEXT, 5000, NULL, W_STAFF, 0},
    {"next_action", "next_action", FT_TEXT, 1000, NULL, W_STAFF, 0},
    {"next_action_due", "next_action_due", FT_DATE, 0, NULL, W_STAFF, 0},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
#define PATCH_FIELDS (interaction_fields + 1)

static const char *const create_read_only[] = {"id",          "author_id",  "version",    "archived",
                                               "archived_at", "created_at", "updated_at", NULL};
static const char *const patch_read_only[] = {"id",          "customer_id", "author_id",  "version",    "archived",
                                              "archived_at", "created_at",  "updated_at", NULL};

/* ---- SQL ---- */

/* The interaction document: key, SQL expression (alias i), rendering. The
 * select list and the renderer both come from this one list; id and
 * customer_id stay first, version last (its column feeds the ETag). */
#define INTERACTION_FIELDS(X)                                                                                 \
    X("id", "i.id", RK_STRING)                                                                                \
    X("customer_id", "i.customer_id", RK_STRING)                                                              \
    X("contact_id", "i.contact_id", RK_STRING)                                                                \
    X("channel", "i.channel", RK_STRING)                                                                      \
    X("occurred_at", "i.occurred_at", RK_TIMESTAMP)                                                           \
    X("participant_ids", "i.participant_ids", RK_RAW)                                                         \
    X("summary", "i.summary", RK_STRING)                                                                      \
    X("customer_feedback", "i.customer_feedback", RK_STRING)                                                  \
    X("next_action", "i.next_action", RK_STRING)                                                              \
    X("next_action_due", "i.next_action_due", RK_STRING)                                                      \
    X("author_id", "i.author_id", RK_STRING)                                                                  \
    X("archived", "i.archived_at IS NOT NULL", RK_BOOL)                                                       \
    X("archived_at", "i.archived_at", RK_TIMESTAMP)                                                           \
    X("created_at", "i.created_at", RK_TIMESTAMP)                                                             \
    X("updated_at", "i.updated_at", RK_TIMESTAMP)                                                             \
    X("version", "i.version", RK_RAW)

static const struct render_col interaction_render[] = {INTERACTION_FIELDS(RENDER_COL)};
#define INTER_NCOLS ((int)ARRAY_LEN(interaction_render))
#define INTER_ID_COL 0
#define INTER_CUSTOMER_COL 1
#define INTER_VERSION_COL (INTER_NCOLS - 1)
/* The select list: every field, then whatever the query adds after it. */
#define INTERACTION_SELECT INTERACTION_FIELDS(RENDER_SQL)

/* Sales see interactions of the customers they own: $n is the owner (NULL = all). */
#define SQL_IN_SCOPE "EXISTS (SELECT 1 FROM customers c WHERE c.id = i.customer_id AND c.owner_id = $%d::uuid)"

/* $1 id, $2 owner scope (NULL = all) */
#define SQL_INTERACTION_GET                                                                                   \
    "SELECT " INTERACTION_SELECT "1 FROM interactions i WHERE i.id = $1::uuid AND ($2::uuid IS NULL OR "     \
    "EXISTS (SELECT 1 FROM customers c WHERE c.id = i.customer_id AND c.owner_id = $2::uuid))"
/* Locks the customer of interaction $1 when it is in scope ($2 owner, NULL = all). */
#define SQL_INTERACTION_LOCK_CUSTOMER                                                                         \
    "SELECT 1 FROM interactions i JOIN customers c ON c.id = i.customer_id WHERE i.id = $1::uuid "            \
    "AND ($2::uuid IS NULL OR c.owner_id = $2::uuid) FOR UPDATE OF c"
/* After the fields: row snapshot, archived, customer archived, next_action, next_action_due */
enum { LOCK_ROW = INTER_NCOLS, LOCK_ARCHIVED, LOCK_CUSTOMER_ARCHIVED, LOCK_NEXT_ACTION, LOCK_NEXT_ACTION_DUE };
#define SQL_INTERACTION_LOCK                                                                                  \
    "SELECT " INTERACTION_SELECT "to_jsonb(i), i.archived_at IS NOT NULL, c.archived_at IS NOT NULL, "        \
    "i.next_action, i.next_action_due FROM interactions i JOIN customers c ON c.id = i.customer_id "         \
    "WHERE i.id = $1::uuid FOR UPDATE OF i"
/* Customer $1 archived?, and is $2 (NULL = none) a live contact of it? */
#define SQL_INTERACTION_REFS                                                                                  \
    "SELECT c.archived_at IS NOT NULL, $2::uuid IS NULL OR EXISTS (SELECT 1 FROM contacts k "                  \
    "WHERE k.id = $2::uuid AND k.customer_id = c.id AND k.archived_at IS NULL) FROM customers c "             \
    "WHERE c.id = $1::uuid"
enum { REFS_CUSTOMER_ARCHIVED, REFS_CONTACT_OK };

/* ---- helpers ---- */

/* Loads the interaction the path names, in scope: locks its customer first,
 * then the interaction. NULL after answering (404 / 503). */
static PGresult *interaction_lock(struct request *r)
{
    const char *id = request_param(r, 0);
    const char *params[] = {id, customer_scope_owner(r)};
    PGresult *res = record_fetch(r, id, "inter_lock_customer", SQL_INTERACTION_LOCK_CUSTOMER, 2, params);
    if (!res)
        return NULL;
    PQclear(res);
    return record_fetch(r, id, "inter_lock", SQL_INTERACTION_LOCK, 1, params);
}

/* Checks what a body refers to, once its fields are valid: the contact must
 * be a live contact of customer_id (NULL: the customer is already reported
 * invalid), the participants active users. With customer_archived (create),
 * also says whether the customer is archived.
 * Returns 0 (check v), or -1 after answering (503). */
static int interaction_refs_check(struct request *r, const struct field_values *fv, const char *customer_id,
                                  bool *customer_archived, struct verrs *v)
{
    bool present;
    const char *contact_id = field_value(fv, "contact_id", &present);
    if (customer_id && (contact_id || customer_archived)) {
        const char *params[] = {customer_id, contact_id};
        PGresult *res = db_exec(r, "inter_refs", SQL_INTERACTION_REFS, 2, params);
        if (!res)
            return -1;
        bool found = PQntuples(res) == 1;
        if (customer_archived)
            *customer_archived = found && PQgetvalue(res, 0, REFS_CUSTOMER_ARCHIVED)[0] == 't';
        if (!found || PQgetvalue(res, 0, REFS_CONTACT_OK)[0] != 't')
            verr_add(v, "contact_id", "must be a contact of this customer");
        PQclear(res);
    }
    return users_check_active(r, "participant_ids", field_value(fv, "participant_ids", &present), v);
}

/* A due date needs the action it is for. next_action / next_action_due are
 * the values the record will have. */
static void next_action_check(const char *next_action, const char *next_action_due, struct verrs *v)
{
    if (next_action_due && !next_action)
        verr_add(v, "next_action_due", "needs a next_action");
}

/* Replies with the interaction document in row 0 of res (the fields first). */
static int reply_interaction(struct request *r, int status, const PGresult *res)
{
    return record_reply(r, status, res, interaction_render, INTER_NCOLS);
}

/* Runs "UPDATE interactions i SET <set> ..." for the locked interaction cur,
 * returning the document fields and the new row snapshot, and records the
 * audit row (before = the locked row's snapshot). */
static PGresult *interaction_apply(struct request *r, struct sqlb *b, const char *action, const PGresult *cur)
{
    const char *id = PQgetvalue(cur, 0, INTER_ID_COL);
    sbuf_printf(&b->sql,
                "updated_at = now(), version = i.version + 1 WHERE i.id = $%d::uuid "
                "RETURNING " INTERACTION_SELECT "to_jsonb(i)",
                sqlb_bind(b, id));
    PGresult *res = db_exec(r, NULL, b->sql.data, b->n, b->params);
    if (!res)
        return NULL;
    if (audit_record(r, action, "interaction", id, PQgetvalue(cur, 0, INTER_CUSTOMER_COL), PQgetvalue(cur, 0, LOCK_ROW),
                     PQgetvalue(res, 0, INTER_NCOLS)) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* ---- handlers ---- */

/* sort=, the default first. The key is the occurrence time (LIST_CURSOR_TS). */
#define INTERACTION_KEY LIST_CURSOR_TS("i.occurred_at")
static const struct list_sort interaction_sorts[] = {
    {"-occurred_at", "i.occurred_at DESC, i.id DESC", "(i.occurred_at, i.id) < ($%d::timestamptz, $%d::uuid)",
     INTERACTION_KEY, valid_timestamp},
    {"occurred_at", "i.occurred_at, i.id", "(i.occurred_at, i.id) > ($%d::timestamptz, $%d::uuid)", INTERACTION_KEY,
     valid_timestamp},
};

/* Exact-match filters (mask bits 2..7). */
static const struct list_filter interaction_filters[] = {
    {"customer_id", "i.customer_id = $%d::uuid", LIST_UUID, NULL},
    {"channel", "i.channel = $%d", LIST_CHOICE, CHANNELS},
    {"author_id", "i.author_id = $%d::uuid", LIST_UUID, NULL},
    {"from", "i.occurred_at >= $%d::timestamptz", LIST_TIMESTAMP, NULL},
    {"to", "i.occurred_at < $%d::timestamptz", LIST_TIMESTAMP, NULL},
    {"next_action_due_before", "i.next_action_due < $%d::date", LIST_DATE, NULL},
};

int interactions_list(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    char *pattern = NULL;
    PGresult *res = NULL;
    char name[48];
    unsigned mask = 0;

    int si = list_sort_find(r, interaction_sorts, ARRAY_LEN(interaction_sorts),
                            "sort must be one of occurred_at, -occurred_at");
    if (si < 0)
        goto out;
    const struct list_sort *sort = &interaction_sorts[si];
    bool include_archived;
    if (query_bool(r, "include_archived", false, &include_archived) != 0)
        goto out;
    if (list_page_init_sorted(r, &page, "interactions", sort->name, 2) != 0)
        goto out;

    sbuf_printf(&b.sql, "SELECT " INTERACTION_SELECT "%s, i.id FROM interactions i WHERE true", sort->key_expr);
    if (!include_archived)
        sbuf_puts(&b.sql, " AND i.archived_at IS NULL");
    else
        mask |= 1u << 0;
    if (principal_scoped(&r->principal)) {
        sbuf_puts(&b.sql, " AND ");
        sbuf_printf(&b.sql, SQL_IN_SCOPE, sqlb_bind(&b, r->principal.user_id));
        mask |= 1u << 1;
    }
    if (list_filters_apply(r, interaction_filters, ARRAY_LEN(interaction_filters), &b, &mask, 2) != 0 ||
        list_search_apply(r, "lower(i.summary) LIKE lower($%d::text)", &b, &pattern, &mask, 10) != 0 ||
        list_keyset_apply(r, &page, sort->keyset, sort->key_valid, &b, &mask, 11) != 0)
        goto out;
    sbuf_printf(&b.sql, " ORDER BY %s LIMIT $%d::integer", sort->order, sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "inter_list_%x_%d", mask, si);
    /* A summary search is planned for its pattern (trigram index or not);
     * everything else reuses the statement of its filter combination. */
    res = db_exec(r, pattern ? NULL : name, b.sql.data, b.n, b.params);
    if (!res)
        goto out;
    list_page_reply_rendered(r, &page, res, interaction_render, INTER_NCOLS, 2);
out:
    PQclear(res);
    list_page_free(&page);
    free(pattern);
    sbuf_free(&b.sql);
    return r->status;
}

int interactions_get(struct request *r)
{
    PGresult *res = NULL;
    const char *id = request_param(r, 0);
    const char *params[] = {id, customer_scope_owner(r)};
    if (!(res = record_fetch(r, id, "inter_get", SQL_INTERACTION_GET, 2, params)))
        goto out;
    if (audit_read(r, "interaction", PQgetvalue(res, 0, INTER_ID_COL), PQgetvalue(res, 0, INTER_CUSTOMER_COL)) != 0)
        goto out;
    record_reply_get(r, res, interaction_render, INTER_NCOLS);
out:
    PQclear(res);
    return r->status;
}

int interactions_create(struct request *r)
{
    struct field_values fv;
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *res = NULL;
    char name[48];
    fields_collect(r->json, interaction_fields, create_read_only, r->principal.role, true, &fv, &v);

    bool present, customer_archived = false;
    const char *customer_id = field_value(&fv, "customer_id", &present);
    int before = v.n;
    if (customer_id && customer_ref_check(r, "customer_id", customer_id, true, &v) != 0)
        goto out;
    /* The contact is checked only against a customer the caller may see. */
    bool visible = customer_id && v.n == before;
    if (interaction_refs_check(r, &fv, visible ? customer_id : NULL, &customer_archived, &v) != 0)
        goto out;
    next_action_check(field_value(&fv, "next_action", &present), field_value(&fv, "next_action_due", &present), &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (customer_archived) {
        problem_state(r, "create", "customer archived");
        goto out;
    }

    /* Columns in spec order, so the text depends only on which fields came. */
    unsigned mask = 0;
    sbuf_puts(&b.sql, "INSERT INTO interactions AS i (");
    for (int k = 0; k < fv.n; k++) {
        sbuf_printf(&b.sql, "%s, ", fv.f[k].spec->column);
        mask |= 1u << (fv.f[k].spec - interaction_fields);
    }
    sbuf_puts(&b.sql, "author_id) VALUES (");
    for (int k = 0; k < fv.n; k++)
        sbuf_printf(&b.sql, "$%d, ", sqlb_bind(&b, fv.f[k].value));
    sbuf_printf(&b.sql, "$%d::uuid) RETURNING " INTERACTION_SELECT "to_jsonb(i)", sqlb_bind(&b, r->principal.user_id));
    snprintf(name, sizeof name, "inter_ins_%x", mask);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    const char *id = PQgetvalue(res, 0, INTER_ID_COL);
    if (audit_record(r, "create", "interaction", id, PQgetvalue(res, 0, INTER_CUSTOMER_COL), NULL,
                     PQgetvalue(res, 0, INTER_NCOLS)) != 0)
        goto out;
    char location[96];
    snprintf(location, sizeof location, "/v1/interactions/%s", id);
    reply_header(r, "Location", location);
    reply_interaction(r, 201, res);
out:
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

int interactions_update(struct request *r)
{
    struct field_values fv;
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    fields_collect(r->json, PATCH_FIELDS, patch_read_only, r->principal.role, false, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(cur = interaction_lock(r)))
        goto out;
    if (request_check_if_match(r, PQgetvalue(cur, 0, INTER_VERSION_COL)) != 0)
        goto out;

    bool has_action, has_due;
    if (interaction_refs_check(r, &fv, PQgetvalue(cur, 0, INTER_CUSTOMER_COL), NULL, &v) != 0)
        goto out;
    const char *action = field_value(&fv, "next_action", &has_action);
    const char *due = field_value(&fv, "next_action_due", &has_due);
    /* Clearing the next action clears its due date unless the body sets one. */
    bool clear_due = has_action && !action && !has_due;
    next_action_check(has_action ? action : db_val(cur, 0, LOCK_NEXT_ACTION),
                      clear_due ? NULL : has_due ? due : db_val(cur, 0, LOCK_NEXT_ACTION_DUE), &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (fv.n == 0) {
        reply_interaction(r, 200, cur);
        goto out;
    }
    sbuf_puts(&b.sql, "UPDATE interactions i SET ");
    record_set_fields(&b, &fv);
    if (clear_due)
        sbuf_puts(&b.sql, "next_action_due = NULL, ");
    if (!(res = interaction_apply(r, &b, "update", cur)))
        goto out;
    reply_interaction(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

int interactions_archive(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (!(cur = interaction_lock(r)))
        goto out;
    if (request_check_if_match(r, PQgetvalue(cur, 0, INTER_VERSION_COL)) != 0)
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't') {
        reply_empty(r, 204);
        goto out;
    }
    sbuf_puts(&b.sql, "UPDATE interactions i SET archived_at = now(), ");
    if (!(res = interaction_apply(r, &b, "archive", cur)))
        goto out;
    reply_empty(r, 204);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

int interactions_restore(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (body_reject_fields(r, NULL) != 0)
        goto out;
    if (!(cur = interaction_lock(r)))
        goto out;
    if (request_check_if_match(r, PQgetvalue(cur, 0, INTER_VERSION_COL)) != 0)
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] != 't') {
        problem_state(r, "restore", "not archived");
        goto out;
    }
    if (PQgetvalue(cur, 0, LOCK_CUSTOMER_ARCHIVED)[0] == 't') {
        problem_state(r, "restore", "customer archived");
        goto out;
    }
    sbuf_puts(&b.sql, "UPDATE interactions i SET archived_at = NULL, ");
    if (!(res = interaction_apply(r, &b, "restore", cur)))
        goto out;
    reply_interaction(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}
