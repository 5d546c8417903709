/* ERP master data: PUT /v1/customers/by-external-code/{code} creates or
 * updates the profile fields the ERP owns (name, legal representative, tax
 * id, business licence number, address) of the customer with that external
 * code, and never touches the fields the CRM owns (owner, status, tier
 * override, credit, notes, contacts …). Same layout as customers.c: field
 * specs, SQL, handler. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "resources/audit.h"
#include "resources/customers.h"
#include "resources/tiering.h"
#include "resources/transactions.h"
#include "validate/validate.h"

/* ---- field specs ---- */

#define W_ERP (ROLE_ERP | ROLE_ADMIN)

/* owner_id stays last: it is used only when the code is new (the CRM owns
 * ownership afterwards; sales managers reassign), so the UPDATE stops
 * before it (ERP_OWNED). */
static const struct field_spec erp_customer_fields[] = {
    {"name", "name", FT_TEXT, 200, NULL, W_ERP, FF_NOT_NULL},
    {"legal_representative", "legal_representative", FT_TEXT, 100, NULL, W_ERP, 0},
    {"tax_id", "tax_id", FT_TAX_ID, 20, NULL, W_ERP, 0},
    {"business_license_no", "business_license_no", FT_TEXT, 50, NULL, W_ERP, 0},
    {"address", "address", FT_TEXT, 500, NULL, W_ERP, 0},
    {"owner_id", "owner_id", FT_UUID, 0, NULL, W_ERP, FF_NOT_NULL},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
#define ERP_OWNED_COUNT 5

/* Everything else a customer document shows belongs to the CRM (or the
 * server): named read-only rather than unknown. */
static const char *const erp_customer_read_only[] = {
    "id", "external_code", "region", "industry", "website", "phone", "email", "notes", "business_needs", "status",
    "record_status", "record_return_reason", "record_submitted_at", "record_reviewed_at", "record_reviewed_by",
    "first_contact_at", "last_reviewed_at", "tier", "tier_override", "tier_override_reason", "tier_effective",
    "credit_rating", "credit_limit", "payment_standing", "credit_reviewed_at", "last_contact_at",
    "next_contact_due", "contact_status", "last_visit_at", "next_visit_due", "visit_status", "next_review_due",
    "review_status", "archived", "archived_at", "created_at", "updated_at", "version", NULL};

/* ---- SQL ---- */

/* $1 external code: serialises the writers of one code (also while it
 * names no customer yet, so two concurrent first pushes make one customer
 * and one update rather than a 409). The class id 6 (this migration's
 * number) keeps these keys apart from the single-key advisory locks. */
#define SQL_ERP_CODE_LOCK "SELECT pg_advisory_xact_lock(6, hashtext($1))"
/* $1 external code: id, version, row snapshot, locked. */
#define SQL_ERP_CUSTOMER_LOCK                                                                                 \
    "SELECT c.id, c.version, to_jsonb(c) FROM customers c WHERE c.external_code = $1 FOR UPDATE"
enum { LOCK_ID, LOCK_VERSION, LOCK_ROW };

/* ---- helpers ---- */

/* Creates the customer of a new code: name and owner_id are required. Returns
 * the status sent. */
static int erp_customer_create(struct request *r, const char *code, const struct field_values *fv)
{
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *res = NULL;
    char name[48];
    bool present;
    if (!field_value(fv, "name", &present))
        verr_add(&v, "name", "is required when the code is new");
    const char *owner = field_value(fv, "owner_id", &present);
    if (!owner)
        verr_add(&v, "owner_id", "is required when the code is new (the owning sales rep)");
    else if (customer_owner_check(r, owner, &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (if_match_creating(r) != 0)
        goto out;
    /* Columns in spec order (owner_id last), so the text depends only on which fields came. */
    unsigned mask = 0;
    sbuf_puts(&b.sql, "INSERT INTO customers AS c (");
    for (int i = 0; i < fv->n; i++) {
        sbuf_printf(&b.sql, "%s, ", fv->f[i].spec->column);
        mask |= 1u << (fv->f[i].spec - erp_customer_fields);
    }
    sbuf_puts(&b.sql, "external_code, created_by) VALUES (");
    for (int i = 0; i < fv->n; i++)
        sbuf_printf(&b.sql, "$%d, ", sqlb_bind(&b, fv->f[i].value));
    int p_code = sqlb_bind(&b, code);
    sbuf_printf(&b.sql, "$%d, $%d::uuid) RETURNING c.id, to_jsonb(c)", p_code, sqlb_bind(&b, r->principal.user_id));
    snprintf(name, sizeof name, "erp_cust_ins_%x", mask);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    const char *id = PQgetvalue(res, 0, 0);
    if (audit_record(r, "upsert", "customer", id, id, NULL, PQgetvalue(res, 0, 1)) != 0)
        goto out;
    char location[96];
    snprintf(location, sizeof location, "/v1/customers/%s", id);
    reply_header(r, "Location", location);
    customer_reply_id(r, 201, id);
out:
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

/* Updates the ERP-owned fields of the locked customer cur where they
 * differ; identical values change nothing (no version bump, no audit
 * entry). Returns the status sent. */
static int erp_customer_update(struct request *r, const PGresult *cur, const struct field_values *fv)
{
    struct sqlb b = {0};
    PGresult *res = NULL;
    char name[48];
    const char *id = PQgetvalue(cur, 0, LOCK_ID);
    if (request_check_if_match(r, PQgetvalue(cur, 0, LOCK_VERSION)) != 0)
        goto out;
    int n = 0;
    unsigned mask = 0;
    for (int i = 0; i < fv->n; i++)
        if (fv->f[i].spec - erp_customer_fields < ERP_OWNED_COUNT) {
            n++;
            mask |= 1u << (fv->f[i].spec - erp_customer_fields);
        }
    if (n) {
        int first = b.n + 1;
        sbuf_puts(&b.sql, "UPDATE customers c SET ");
        for (int i = 0; i < n; i++)
            sbuf_printf(&b.sql, "%s = $%d, ", fv->f[i].spec->column, sqlb_bind(&b, fv->f[i].value));
        sbuf_printf(&b.sql, "updated_at = now(), version = c.version + 1 WHERE c.id = $%d::uuid AND (",
                    sqlb_bind(&b, id));
        for (int i = 0; i < n; i++)
            sbuf_printf(&b.sql, "%sc.%s", i ? ", " : "", fv->f[i].spec->column);
        sbuf_puts(&b.sql, ", NULL) IS DISTINCT FROM (");
        for (int i = 0; i < n; i++)
            sbuf_printf(&b.sql, "%s$%d::text", i ? ", " : "", first + i);
        sbuf_puts(&b.sql, ", NULL) RETURNING to_jsonb(c)");
        snprintf(name, sizeof name, "erp_cust_upd_%x", mask);
        if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
            goto out;
        if (PQntuples(res) == 1 &&
            audit_record(r, "upsert", "customer", id, id, PQgetvalue(cur, 0, LOCK_ROW), PQgetvalue(res, 0, 0)) != 0)
            goto out;
    }
    customer_reply_id(r, 200, id);
out:
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

/* ---- handlers ---- */

int customers_upsert_by_code(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    PGresult *cur = NULL;
    const char *code = request_param(r, 0);
    if (!valid_external_code(code))
        verr_add(&v, "external_code", "must be 1 to 64 characters without control characters or surrounding spaces");
    struct verrs body = {0};
    fields_collect(r->json, erp_customer_fields, erp_customer_read_only, r->principal.role, false, &fv, &body);
    for (int i = 0; i < body.n; i++)
        verr_add(&v, body.e[i].field, "%s", body.e[i].message);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    const char *params[] = {code};
    if (!(cur = db_exec(r, "erp_code_lock", SQL_ERP_CODE_LOCK, 1, params)))
        goto out;
    PQclear(cur);
    if (!(cur = db_exec(r, "erp_cust_lock", SQL_ERP_CUSTOMER_LOCK, 1, params)))
        goto out;
    if (PQntuples(cur) == 0)
        erp_customer_create(r, code, &fv);
    else
        erp_customer_update(r, cur, &fv);
out:
    PQclear(cur);
    field_values_free(&fv);
    return r->status;
}
