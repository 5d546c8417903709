#include "resources/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "log.h"
#include "resources/listing.h"
#include "resources/render.h"
#include "validate/validate.h"

const struct render_col audit_render[] = {AUDIT_FIELDS(RENDER_COL)};
const int audit_ncols = (int)ARRAY_LEN(audit_render);

#define SQL_AUDIT_INSERT                                                                                     \
    "INSERT INTO audit_log (actor_id, actor_role, action, entity, entity_id, customer_id, before, after, "   \
    "request_id) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9)"

int audit_record(struct request *r, const char *action, const char *entity, const char *entity_id,
                 const char *customer_id, const char *before, const char *after)
{
    const char *params[] = {r->authenticated ? r->principal.user_id : NULL,
                            r->authenticated ? role_name(r->principal.role) : NULL,
                            action,
                            entity,
                            entity_id,
                            customer_id,
                            before,
                            after,
                            r->request_id};
    PGresult *res = db_exec(r, "audit_insert", SQL_AUDIT_INSERT, 9, params);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

/* ---- GET /v1/audit ---- */

static bool choice_valid(const char *const *choices, const char *v)
{
    for (const char *const *c = choices; *c; c++)
        if (strcmp(*c, v) == 0)
            return true;
    return false;
}

int audit_list(struct request *r)
{
    struct verrs v = {0};
    const char *actor = request_query(r, "actor_id"), *customer = request_query(r, "customer_id");
    const char *from = request_query(r, "from"), *to = request_query(r, "to");
    if (actor && !uuid_valid(actor))
        verr_add(&v, "actor_id", "must be an id");
    if (customer && !uuid_valid(customer))
        verr_add(&v, "customer_id", "must be an id");
    if (from && !valid_timestamp(from))
        verr_add(&v, "from", "must be an RFC 3339 timestamp");
    if (to && !valid_timestamp(to))
        verr_add(&v, "to", "must be an RFC 3339 timestamp");
    static const char *const entities[] = {"customer", "contact", "user", "interaction", "visit_plan", "visit",
                                           "follow_up", "event", "cadence_policy", "complaint", "sla_policy",
                                           "transaction", "survey", "survey_response", "budget", "expense", NULL};
    static const char *const actions[] = {"create", "update", "archive", "restore", "submit", "approve", "return",
                                          "reassign", "read", "deactivate", "login", "review", "cancel",
                                          "start", "complete", "verify", "reopen", "attendance", "acknowledge",
                                          "assign", "note", "resolve", "confirm_refund", "close", "open", "reject",
                                          "pay", "upsert", "tier_change", NULL};
    const char *entity = request_query(r, "entity"), *action = request_query(r, "action");
    const char *entity_id = request_query(r, "entity_id");
    if (entity && !choice_valid(entities, entity))
        verr_add(&v, "entity", "must be a known audit entity");
    if (action && !choice_valid(actions, action))
        verr_add(&v, "action", "must be a known audit action");
    if (entity_id && (!*entity_id || strlen(entity_id) > 64))
        verr_add(&v, "entity_id", "must be 1 to 64 characters");
    if (v.n)
        return problem_sendf(r, 400, "invalid query parameter %s: %s", v.e[0].field, v.e[0].message);
    struct list_page page;
    if (list_page_init_serial(r, &page, "audit") != 0)
        return r->status;
    /* One statement per filter combination, so each gets an index-friendly
     * generic plan. Conditions are constants; values are parameters. */
    static const char *const conds[] = {
        "a.actor_id = $%d::uuid", "a.entity = $%d",           NULL /* entity_id: below */, "a.customer_id = $%d::uuid",
        "a.action = $%d",         "a.at >= $%d::timestamptz", "a.at < $%d::timestamptz",   "a.id < $%d::bigint",
    };
    const char *values[] = {actor, entity, entity_id, customer, action, from, to, page.cursor_id};
    struct sqlb b = {0};
    unsigned mask = 0;
    char name[32];
    sbuf_puts(&b.sql, "SELECT " AUDIT_SELECT "a.id::text FROM audit_log a WHERE true");
    for (size_t i = 0; i < ARRAY_LEN(conds); i++) {
        if (!values[i])
            continue;
        mask |= 1u << i;
        if (conds[i]) {
            sbuf_puts(&b.sql, " AND ");
            sbuf_printf(&b.sql, conds[i], sqlb_bind(&b, values[i]));
        }
    }
    /* Rows about a customer are in the entity index only by customer_id
     * (migration 0011): entity = 'customer' is spelled out wherever the
     * index is meant, so generic plans can prove its predicate. The mask
     * names each shape of statement (bits 8-10 below the filters'). */
    bool of_customer = entity && strcmp(entity, "customer") == 0;
    if (of_customer)
        mask |= 1u << 10;
    if (entity && !of_customer)
        sbuf_puts(&b.sql, " AND a.entity <> 'customer'");
    if (entity_id) {
        if (of_customer && uuid_valid(entity_id)) {
            sbuf_printf(&b.sql, " AND a.customer_id = $%d::uuid", sqlb_bind(&b, entity_id));
        } else if (of_customer) {
            sbuf_puts(&b.sql, " AND false"); /* customers' ids are UUIDs */
            mask |= 1u << 8;
        } else if (!entity && uuid_valid(entity_id)) {
            int p = sqlb_bind(&b, entity_id);
            sbuf_printf(&b.sql,
                        " AND ((a.entity <> 'customer' AND a.entity_id = $%d) OR "
                        "(a.entity = 'customer' AND a.customer_id = $%d::uuid))",
                        p, p);
            mask |= 1u << 9;
        } else {
            sbuf_printf(&b.sql, " AND a.entity_id = $%d", sqlb_bind(&b, entity_id));
            if (!entity)
                sbuf_puts(&b.sql, " AND a.entity <> 'customer'");
        }
    }
    sbuf_printf(&b.sql, " ORDER BY a.id DESC LIMIT $%d", sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "audit_list_%x", mask);
    PGresult *res = db_exec(r, name, b.sql.data, b.n, b.params);
    sbuf_free(&b.sql);
    if (!res) {
        list_page_free(&page);
        return r->status;
    }
    int status = list_page_reply_rendered(r, &page, res, audit_render, audit_ncols, 1);
    PQclear(res);
    return status;
}
