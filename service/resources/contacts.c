/* Contacts of a customer. Same layout as customers.c: field specs, SQL,
 * helpers, handlers (list, get, create, update, archive, restore). Every
 * handler first checks that the caller may see the customer the path names
 * (customer_check_visible), then works only on that customer's contacts. */
#include "resources/contacts.h"

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

static const char *const DECISION_ROLES[] = {"decision_maker", "influencer", "user", "other", NULL};

#define W_STAFF (ROLE_SALES | ROLE_SALES_MANAGER | ROLE_ADMIN)

static const struct field_spec contact_fields[] = {
    {"name", "name", FT_TEXT, 100, NULL, W_STAFF, FF_REQUIRED},
    {"title", "title", FT_TEXT, 100, NULL, W_STAFF, 0},
    {"phone", "phone", FT_PHONE, 30, NULL, W_STAFF, 0},
    {"mobile", "mobile", FT_PHONE, 30, NULL, W_STAFF, 0},
    {"email", "email", FT_EMAIL, 200, NULL, W_STAFF, 0},
    {"wechat_id", "wechat_id", FT_TEXT, 64, NULL, W_STAFF, 0},
    {"decision_role", "decision_role", FT_ENUM, 0, DECISION_ROLES, W_STAFF, 0},
    {"birthday", "birthday", FT_DATE, 0, NULL, W_STAFF, 0},
    {"company_anniversary", "company_anniversary", FT_DATE, 0, NULL, W_STAFF, 0},
    {"preferences", "preferences", FT_TEXT, 2000, NULL, W_STAFF, 0},
    {"notes", "notes", FT_TEXT, 5000, NULL, W_STAFF, 0},
    {"is_primary", "is_primary", FT_BOOL, 0, NULL, W_STAFF, FF_NOT_NULL},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};

static const char *const contact_read_only[] = {"id",          "customer_id", "version",    "archived",
                                                "archived_at", "created_at",  "updated_at", NULL};

/* ---- SQL ---- */

/* The contact document: key, SQL expression (alias c), rendering. The
 * select list and the renderer both come from this one list; id and
 * customer_id stay first, version last (its column feeds the ETag). */
#define CONTACT_FIELDS(X)                                                                                     \
    X("id", "c.id", RK_STRING)                                                                                \
    X("customer_id", "c.customer_id", RK_STRING)                                                              \
    X("name", "c.name", RK_STRING)                                                                            \
    X("title", "c.title", RK_STRING)                                                                          \
    X("phone", "c.phone", RK_STRING)                                                                          \
    X("mobile", "c.mobile", RK_STRING)                                                                        \
    X("email", "c.email", RK_STRING)                                                                          \
    X("wechat_id", "c.wechat_id", RK_STRING)                                                                  \
    X("decision_role", "c.decision_role", RK_STRING)                                                          \
    X("birthday", "c.birthday", RK_STRING)                                                                    \
    X("company_anniversary", "c.company_anniversary", RK_STRING)                                              \
    X("preferences", "c.preferences", RK_STRING)                                                              \
    X("notes", "c.notes", RK_STRING)                                                                          \
    X("is_primary", "c.is_primary", RK_BOOL)                                                                  \
    X("archived", "c.archived_at IS NOT NULL", RK_BOOL)                                                       \
    X("archived_at", "c.archived_at", RK_TIMESTAMP)                                                           \
    X("created_at", "c.created_at", RK_TIMESTAMP)                                                             \
    X("updated_at", "c.updated_at", RK_TIMESTAMP)                                                             \
    X("version", "c.version", RK_RAW)

static const struct render_col contact_render[] = {CONTACT_FIELDS(RENDER_COL)};
#define CONTACT_NCOLS ((int)ARRAY_LEN(contact_render))
#define CONTACT_ID_COL 0
#define CONTACT_CUSTOMER_COL 1
#define CONTACT_VERSION_COL (CONTACT_NCOLS - 1)
/* The select list: every field, then whatever the query adds after it. */
#define CONTACT_SELECT CONTACT_FIELDS(RENDER_SQL)

/* The list order: primary first, then name, then id. One text key so the
 * keyset fits a 2-key cursor ("0<name>" for the primary, "1<name>" else). */
#define CONTACT_SORT_KEY "((CASE WHEN c.is_primary THEN '0' ELSE '1' END) || c.name)"
#define CONTACT_KEYSET "(" CONTACT_SORT_KEY ", c.id) > ($%d::text, $%d::uuid)"

/* $1 contact id, $2 customer id */
#define SQL_CONTACT_GET                                                                                       \
    "SELECT " CONTACT_SELECT "1 FROM contacts c WHERE c.id = $1::uuid AND c.customer_id = $2::uuid"
/* After the fields: archived, row snapshot */
enum { LOCK_ARCHIVED = CONTACT_NCOLS, LOCK_ROW };
#define SQL_CONTACT_LOCK                                                                                      \
    "SELECT " CONTACT_SELECT "c.archived_at IS NOT NULL, to_jsonb(c) FROM contacts c "                       \
    "WHERE c.id = $1::uuid AND c.customer_id = $2::uuid FOR UPDATE OF c"

/* ---- helpers ---- */

/* A cursor's CONTACT_SORT_KEY: "0" or "1", then the name. */
static bool contact_key_valid(const char *key)
{
    return key[0] == '0' || key[0] == '1';
}

/* Loads the contact the path names ({id}/{contact_id}), locked for the
 * transaction. The customer must already have been checked visible. NULL
 * after answering (404 / 503). */
static PGresult *contact_lock(struct request *r)
{
    const char *id = request_param(r, 1);
    const char *params[] = {id, request_param(r, 0)};
    return record_fetch(r, id, "contact_lock", SQL_CONTACT_LOCK, 2, params);
}

/* Replies with the contact document in row 0 of res (the fields first). */
static int reply_contact(struct request *r, int status, const PGresult *res)
{
    return record_reply(r, status, res, contact_render, CONTACT_NCOLS);
}

/* Runs "UPDATE contacts c SET <set> ..." for the locked contact cur,
 * returning the document fields and the new row snapshot, and records the
 * audit row (before = the locked row's snapshot). */
static PGresult *contact_apply(struct request *r, struct sqlb *b, const char *action, const PGresult *cur)
{
    const char *id = PQgetvalue(cur, 0, CONTACT_ID_COL);
    const char *customer_id = PQgetvalue(cur, 0, CONTACT_CUSTOMER_COL);
    sbuf_printf(&b->sql,
                "updated_at = now(), version = c.version + 1 WHERE c.id = $%d::uuid "
                "RETURNING " CONTACT_SELECT "to_jsonb(c)",
                sqlb_bind(b, id));
    PGresult *res = db_exec(r, NULL, b->sql.data, b->n, b->params);
    if (!res)
        return NULL;
    if (audit_record(r, action, "contact", id, customer_id, PQgetvalue(cur, 0, LOCK_ROW),
                     PQgetvalue(res, 0, CONTACT_NCOLS)) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* ---- handlers ---- */

int contacts_list(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    char *pattern = NULL;
    PGresult *res = NULL;
    char name[48];
    unsigned mask = 0;

    const char *customer_id = request_param(r, 0);
    if (customer_check_visible(r, customer_id, false) != 1)
        goto out;
    bool include_archived;
    if (query_bool(r, "include_archived", false, &include_archived) != 0)
        goto out;
    if (list_page_init_sorted(r, &page, "contacts", "primary,name", 2) != 0)
        goto out;

    sbuf_printf(&b.sql,
                "SELECT " CONTACT_SELECT CONTACT_SORT_KEY ", c.id FROM contacts c WHERE c.customer_id = $%d::uuid",
                sqlb_bind(&b, customer_id));
    if (!include_archived)
        sbuf_puts(&b.sql, " AND c.archived_at IS NULL");
    else
        mask |= 1u << 0;
    if (list_search_apply(r, "lower(c.name) LIKE lower($%d::text)", &b, &pattern, &mask, 1) != 0 ||
        list_keyset_apply(r, &page, CONTACT_KEYSET, contact_key_valid, &b, &mask, 2) != 0)
        goto out;
    sbuf_printf(&b.sql, " ORDER BY " CONTACT_SORT_KEY ", c.id LIMIT $%d::integer", sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "contact_list_%x", mask);
    res = db_exec(r, name, b.sql.data, b.n, b.params);
    if (!res)
        goto out;
    list_page_reply_rendered(r, &page, res, contact_render, CONTACT_NCOLS, 2);
out:
    PQclear(res);
    list_page_free(&page);
    free(pattern);
    sbuf_free(&b.sql);
    return r->status;
}

int contacts_get(struct request *r)
{
    PGresult *res = NULL;
    const char *customer_id = request_param(r, 0);
    const char *id = request_param(r, 1);
    if (customer_check_visible(r, customer_id, false) != 1)
        goto out;
    const char *params[] = {id, customer_id};
    if (!(res = record_fetch(r, id, "contact_get", SQL_CONTACT_GET, 2, params)))
        goto out;
    if (audit_read(r, "contact", PQgetvalue(res, 0, CONTACT_ID_COL), PQgetvalue(res, 0, CONTACT_CUSTOMER_COL)) != 0)
        goto out;
    record_reply_get(r, res, contact_render, CONTACT_NCOLS);
out:
    PQclear(res);
    return r->status;
}

int contacts_create(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *res = NULL;
    const char *customer_id = request_param(r, 0);
    if (customer_check_visible(r, customer_id, true) != 1)
        goto out;
    fields_collect(r->json, contact_fields, contact_read_only, r->principal.role, true, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }

    /* Columns in spec order, so the text depends only on which fields came. */
    sbuf_puts(&b.sql, "INSERT INTO contacts AS c (");
    for (const struct field_spec *s = contact_fields; s->name; s++) {
        bool present;
        field_value(&fv, s->name, &present);
        if (present)
            sbuf_printf(&b.sql, "%s, ", s->column);
    }
    sbuf_puts(&b.sql, "customer_id) VALUES (");
    for (const struct field_spec *s = contact_fields; s->name; s++) {
        bool present;
        const char *value = field_value(&fv, s->name, &present);
        if (present)
            sbuf_printf(&b.sql, "$%d, ", sqlb_bind(&b, value));
    }
    sbuf_printf(&b.sql, "$%d::uuid) RETURNING " CONTACT_SELECT "to_jsonb(c)", sqlb_bind(&b, customer_id));
    if (!(res = db_exec(r, NULL, b.sql.data, b.n, b.params)))
        goto out;
    const char *id = PQgetvalue(res, 0, CONTACT_ID_COL), *cust_id = PQgetvalue(res, 0, CONTACT_CUSTOMER_COL);
    if (audit_record(r, "create", "contact", id, cust_id, NULL, PQgetvalue(res, 0, CONTACT_NCOLS)) != 0)
        goto out;
    char location[128];
    snprintf(location, sizeof location, "/v1/customers/%s/contacts/%s", cust_id, id);
    reply_header(r, "Location", location);
    reply_contact(r, 201, res);
out:
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

int contacts_update(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (customer_check_visible(r, request_param(r, 0), true) != 1)
        goto out;
    fields_collect(r->json, contact_fields, contact_read_only, r->principal.role, false, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(cur = contact_lock(r)))
        goto out;
    if (request_check_if_match(r, PQgetvalue(cur, 0, CONTACT_VERSION_COL)) != 0)
        goto out;
    if (fv.n == 0) {
        reply_contact(r, 200, cur);
        goto out;
    }
    sbuf_puts(&b.sql, "UPDATE contacts c SET ");
    record_set_fields(&b, &fv);
    if (!(res = contact_apply(r, &b, "update", cur)))
        goto out;
    reply_contact(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

int contacts_archive(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (customer_check_visible(r, request_param(r, 0), true) != 1)
        goto out;
    if (!(cur = contact_lock(r)))
        goto out;
    if (request_check_if_match(r, PQgetvalue(cur, 0, CONTACT_VERSION_COL)) != 0)
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't') {
        reply_empty(r, 204);
        goto out;
    }
    sbuf_puts(&b.sql, "UPDATE contacts c SET archived_at = now(), ");
    if (!(res = contact_apply(r, &b, "archive", cur)))
        goto out;
    reply_empty(r, 204);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

int contacts_restore(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (customer_check_visible(r, request_param(r, 0), true) != 1)
        goto out;
    if (body_reject_fields(r, NULL) != 0)
        goto out;
    if (!(cur = contact_lock(r)))
        goto out;
    if (request_check_if_match(r, PQgetvalue(cur, 0, CONTACT_VERSION_COL)) != 0)
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] != 't') {
        problem_state(r, "restore", "not archived");
        goto out;
    }
    /* A primary contact coming back while another primary exists violates
     * contacts_one_primary: db_exec answers 409 naming is_primary. */
    sbuf_puts(&b.sql, "UPDATE contacts c SET archived_at = NULL, ");
    if (!(res = contact_apply(r, &b, "restore", cur)))
        goto out;
    reply_contact(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}
