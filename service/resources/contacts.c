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

/* The list order: primary first, then name, then id. One text key so the
 * keyset fits a 2-key cursor ("0<name>" for the primary, "1<name>" else). */
#define CONTACT_SORT_KEY "((CASE WHEN c.is_primary THEN '0' ELSE '1' END) || c.name)"

/* $1 contact id, $2 customer id. Columns 0 doc, 1 version, 2 id, 3 customer_id */
#define SQL_CONTACT_GET                                                                                       \
    "SELECT api_contact(c), c.version, c.id::text, c.customer_id::text FROM contacts c "                     \
    "WHERE c.id = $1::uuid AND c.customer_id = $2::uuid"
/* Columns 0 doc, 1 version, 2 id, 3 customer_id, 4 archived */
#define SQL_CONTACT_LOCK                                                                                      \
    "SELECT api_contact(c), c.version, c.id::text, c.customer_id::text, c.archived_at IS NOT NULL "          \
    "FROM contacts c WHERE c.id = $1::uuid AND c.customer_id = $2::uuid FOR UPDATE OF c"

/* ---- helpers ---- */

/* Loads the contact the path names ({id}/{contact_id}), locked for the
 * transaction. The customer must already have been checked visible. NULL
 * after answering (404 / 503). */
static PGresult *contact_lock(struct request *r)
{
    const char *customer_id = request_param(r, 0);
    const char *id = request_param(r, 1);
    if (!uuid_valid(id)) {
        problem_send(r, 404, NULL);
        return NULL;
    }
    const char *params[] = {id, customer_id};
    PGresult *res = db_exec(r, "contact_lock", SQL_CONTACT_LOCK, 2, params);
    if (res && PQntuples(res) == 0) {
        PQclear(res);
        problem_send(r, 404, NULL);
        return NULL;
    }
    return res;
}

/* Replies with one contact document (col 0) and its version (col 1). */
static int reply_contact(struct request *r, int status, const PGresult *res)
{
    reply_etag(r, PQgetvalue(res, 0, 1));
    return reply_json(r, status, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
}

/* Runs "UPDATE contacts c SET <set> ... RETURNING api_contact(c), c.version"
 * for the locked contact cur and records the audit row. */
static PGresult *contact_apply(struct request *r, struct sqlb *b, const char *action, const PGresult *cur)
{
    const char *id = PQgetvalue(cur, 0, 2);
    const char *customer_id = PQgetvalue(cur, 0, 3);
    sbuf_printf(&b->sql,
                "updated_at = now(), version = c.version + 1 WHERE c.id = $%d::uuid "
                "RETURNING api_contact(c), c.version",
                sqlb_bind(b, id));
    PGresult *res = db_exec(r, NULL, b->sql.data, b->n, b->params);
    if (!res)
        return NULL;
    if (audit_record(r, action, "contact", id, customer_id, PQgetvalue(cur, 0, 0), PQgetvalue(res, 0, 0)) != 0) {
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
                "SELECT api_contact(c), " CONTACT_SORT_KEY ", c.id FROM contacts c WHERE c.customer_id = $%d::uuid",
                sqlb_bind(&b, customer_id));
    if (!include_archived)
        sbuf_puts(&b.sql, " AND c.archived_at IS NULL");
    else
        mask |= 1u << 0;
    const char *q = request_query(r, "q");
    if (q) {
        if (!*q || utf8_chars(q) > 100 || !valid_utf8(q, strlen(q))) {
            problem_send(r, 400, "q must be 1 to 100 characters");
            goto out;
        }
        pattern = list_like_pattern(q);
        sbuf_printf(&b.sql, " AND lower(c.name) LIKE lower($%d::text)", sqlb_bind(&b, pattern));
        mask |= 1u << 1;
    }
    if (page.cursor_id) {
        if (!uuid_valid(page.cursor_id) || (page.keys[0][0] != '0' && page.keys[0][0] != '1')) {
            problem_send(r, 400, "cursor is invalid");
            goto out;
        }
        int a = sqlb_bind(&b, page.keys[0]);
        int id = sqlb_bind(&b, page.keys[1]);
        sbuf_printf(&b.sql, " AND (" CONTACT_SORT_KEY ", c.id) > ($%d::text, $%d::uuid)", a, id);
        mask |= 1u << 2;
    }
    sbuf_printf(&b.sql, " ORDER BY " CONTACT_SORT_KEY ", c.id LIMIT $%d::integer", sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "contact_list_%x", mask);
    res = db_exec(r, name, b.sql.data, b.n, b.params);
    if (!res)
        goto out;
    list_page_reply(r, &page, res, 2, NULL);
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
    if (!uuid_valid(id)) {
        problem_send(r, 404, NULL);
        goto out;
    }
    const char *params[] = {id, customer_id};
    if (!(res = db_exec(r, "contact_get", SQL_CONTACT_GET, 2, params)))
        goto out;
    if (PQntuples(res) == 0) {
        problem_send(r, 404, NULL);
        goto out;
    }
    if (audit_read(r, "contact", PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3)) != 0)
        goto out;
    if (request_etag_matches(r, PQgetvalue(res, 0, 1))) {
        reply_etag(r, PQgetvalue(res, 0, 1));
        reply_empty(r, 304);
    } else {
        reply_contact(r, 200, res);
    }
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
    sbuf_printf(&b.sql, "$%d::uuid) RETURNING api_contact(c), c.version, c.id::text, c.customer_id::text",
                sqlb_bind(&b, customer_id));
    if (!(res = db_exec(r, NULL, b.sql.data, b.n, b.params)))
        goto out;
    if (audit_record(r, "create", "contact", PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3), NULL,
                     PQgetvalue(res, 0, 0)) != 0)
        goto out;
    char location[128];
    snprintf(location, sizeof location, "/v1/customers/%s/contacts/%s", PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 2));
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
    if (request_check_if_match(r, PQgetvalue(cur, 0, 1)) != 0)
        goto out;
    if (fv.n == 0) {
        reply_contact(r, 200, cur);
        goto out;
    }
    sbuf_puts(&b.sql, "UPDATE contacts c SET ");
    for (int i = 0; i < fv.n; i++)
        sbuf_printf(&b.sql, "%s = $%d, ", fv.f[i].spec->column, sqlb_bind(&b, fv.f[i].value));
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
    if (request_check_if_match(r, PQgetvalue(cur, 0, 1)) != 0)
        goto out;
    if (PQgetvalue(cur, 0, 4)[0] == 't') {
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
    if (request_check_if_match(r, PQgetvalue(cur, 0, 1)) != 0)
        goto out;
    if (PQgetvalue(cur, 0, 4)[0] != 't') {
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
