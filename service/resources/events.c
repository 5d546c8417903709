/* Customer events (product shows, technical exchanges, trend launches) and
 * the customers invited to and attending them. Same layout as customers.c:
 * field specs, SQL, helpers, handlers (list, get, create, update, archive,
 * restore), then the attendance actions.
 *
 * Scope ("visible customers only"): a sales rep sees an event they organise
 * or that has at least one customer they own on it (invited, attended or
 * withdrawn: the row is history), and in its customers array only the
 * customers they own; every other role sees every event and every customer.
 * Only the organizer, sales_manager, office and admin change the event
 * itself; attendance may be recorded by whoever sees both the event and the
 * customer. Every statement that renders the document binds the caller's
 * scope (their user id, or NULL for all) as $1: EVENT_SCOPE. */
#include "resources/events.h"

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

static const char *const EVENT_TYPES[] = {"product_show", "technical_exchange", "trend_launch", "other", NULL};

#define W_EVENTS (ROLE_SALES | ROLE_SALES_MANAGER | ROLE_OFFICE | ROLE_ADMIN)

/* invited_customer_ids is not a column: on create it fills event_customers. */
static const struct field_spec event_fields[] = {
    {"type", "type", FT_ENUM, 0, EVENT_TYPES, W_EVENTS, FF_REQUIRED},
    {"title", "title", FT_TEXT, 200, NULL, W_EVENTS, FF_REQUIRED},
    {"event_date", "event_date", FT_DATE, 0, NULL, W_EVENTS, FF_REQUIRED},
    {"place", "place", FT_TEXT, 500, NULL, W_EVENTS, 0},
    {"description", "description", FT_TEXT, 5000, NULL, W_EVENTS, 0},
    {"feedback", "feedback", FT_TEXT, 5000, NULL, W_EVENTS, 0},
    {"invited_customer_ids", NULL, FT_UUID_LIST, 500, NULL, W_EVENTS, FF_NOT_NULL},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};

static const char *const event_read_only[] = {
    "id",          "organizer_id", "customers",  "invited_count", "attended_count", "archived",
    "archived_at", "created_at",   "updated_at", "version",       NULL};

/* PUT /v1/events/{id}/customers/{customer_id} */
static const struct field_spec attendance_fields[] = {
    {"invited", "invited", FT_BOOL, 0, NULL, W_EVENTS, FF_NOT_NULL},
    {"attended", "attended", FT_BOOL, 0, NULL, W_EVENTS, FF_NOT_NULL},
    {"feedback", "feedback", FT_TEXT, 5000, NULL, W_EVENTS, 0},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};

static const char *const attendance_read_only[] = {"customer_id", "customer_name", NULL};

/* ---- SQL ---- */

/* The caller's scope: the sales rep's user id, NULL for every other role. */
#define EVENT_SCOPE "$1::uuid"

/* The customers on the event that the caller may see, by name: one JSON
 * array built in the same query as the event (no query per customer). */
#define EVENT_CUSTOMERS_SQL                                                                                   \
    "coalesce((SELECT json_agg(json_build_object('customer_id', ec.customer_id, 'customer_name', c.name, "    \
    "'invited', ec.invited, 'attended', ec.attended, 'feedback', ec.feedback) ORDER BY c.name, c.id) "        \
    "FROM event_customers ec JOIN customers c ON c.id = ec.customer_id "                                      \
    "WHERE ec.event_id = e.id AND (" EVENT_SCOPE " IS NULL OR c.owner_id = " EVENT_SCOPE ")), '[]')"

/* The event document: key, SQL expression (alias e), rendering. The select
 * list and the renderer both come from this one list; id stays first,
 * version last (its column feeds the ETag). The counts are over every
 * customer on the event, whoever asks. */
#define EVENT_FIELDS(X)                                                                                       \
    X("id", "e.id", RK_STRING)                                                                                \
    X("type", "e.type", RK_STRING)                                                                            \
    X("title", "e.title", RK_STRING)                                                                          \
    X("event_date", "e.event_date", RK_STRING)                                                                \
    X("place", "e.place", RK_STRING)                                                                          \
    X("description", "e.description", RK_STRING)                                                              \
    X("feedback", "e.feedback", RK_STRING)                                                                    \
    X("organizer_id", "e.organizer_id", RK_STRING)                                                            \
    X("customers", EVENT_CUSTOMERS_SQL, RK_RAW)                                                               \
    X("invited_count", "(SELECT count(*) FROM event_customers ec WHERE ec.event_id = e.id AND ec.invited)",   \
      RK_RAW)                                                                                                 \
    X("attended_count", "(SELECT count(*) FROM event_customers ec WHERE ec.event_id = e.id AND ec.attended)", \
      RK_RAW)                                                                                                 \
    X("archived", "e.archived_at IS NOT NULL", RK_BOOL)                                                       \
    X("archived_at", "e.archived_at", RK_TIMESTAMP)                                                           \
    X("created_at", "e.created_at", RK_TIMESTAMP)                                                             \
    X("updated_at", "e.updated_at", RK_TIMESTAMP)                                                             \
    X("version", "e.version", RK_RAW)

static const struct render_col event_render[] = {EVENT_FIELDS(RENDER_COL)};
#define EVENT_NCOLS ((int)ARRAY_LEN(event_render))
#define EVENT_VERSION_COL (EVENT_NCOLS - 1)
/* The select list: every field, then whatever the query adds after it. */
#define EVENT_SELECT EVENT_FIELDS(RENDER_SQL)

/* A sales rep's events: organised by them or with one of their customers on it. */
#define EVENT_SCOPED                                                                                          \
    "(e.organizer_id = " EVENT_SCOPE " OR EXISTS (SELECT 1 FROM event_customers ec "                         \
    "JOIN customers c ON c.id = ec.customer_id WHERE ec.event_id = e.id AND c.owner_id = " EVENT_SCOPE "))"
#define EVENT_VISIBLE "(" EVENT_SCOPE " IS NULL OR " EVENT_SCOPED ")"

/* $1 scope, $2 event id */
#define SQL_EVENT_GET "SELECT " EVENT_SELECT "1 FROM events e WHERE e.id = $2::uuid AND " EVENT_VISIBLE
/* The lock takes the row only: the document is read after it, by a
 * statement that sees whatever the writer we waited for committed. */
enum { LOCK_ID, LOCK_ORGANIZER, LOCK_ARCHIVED, LOCK_VERSION, LOCK_ROW };
#define SQL_EVENT_LOCK                                                                                        \
    "SELECT e.id, e.organizer_id, e.archived_at IS NOT NULL, e.version, to_jsonb(e) FROM events e "          \
    "WHERE e.id = $2::uuid AND " EVENT_VISIBLE " FOR UPDATE OF e"

/* $1 JSON array of ids, $2 scope. Locks the visible ones in id order (the
 * customer before anything hanging off it) and answers the first id, in
 * the body's order, that is not a customer the caller may see. */
#define SQL_INVITED_LOCK                                                                                      \
    "WITH ids AS (SELECT x::uuid AS id, n FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS t(x, n)), "\
    "locked AS MATERIALIZED (SELECT c.id FROM customers c WHERE c.id IN (SELECT id FROM ids) "                \
    "AND ($2::uuid IS NULL OR c.owner_id = $2::uuid) ORDER BY c.id FOR UPDATE OF c) "                         \
    "SELECT ids.id FROM ids WHERE ids.id NOT IN (SELECT id FROM locked) ORDER BY ids.n LIMIT 1"
/* $1 event id, $2 JSON array of customer ids */
#define SQL_INVITE                                                                                            \
    "INSERT INTO event_customers (event_id, customer_id) "                                                    \
    "SELECT $1::uuid, x::uuid FROM jsonb_array_elements_text($2::jsonb) AS t(x)"

/* $1 event id, $2 customer id */
enum { ROW_INVITED, ROW_ATTENDED, ROW_FEEDBACK, ROW_SNAPSHOT };
#define SQL_ATTENDANCE_LOCK                                                                                   \
    "SELECT ec.invited, ec.attended, ec.feedback, to_jsonb(ec) FROM event_customers ec "                     \
    "WHERE ec.event_id = $1::uuid AND ec.customer_id = $2::uuid FOR UPDATE"
/* $1 event id, $2 customer id, $3 invited, $4 attended, $5 feedback */
#define SQL_ATTENDANCE_PUT                                                                                    \
    "INSERT INTO event_customers AS ec (event_id, customer_id, invited, attended, feedback) "                 \
    "VALUES ($1::uuid, $2::uuid, $3::boolean, $4::boolean, $5::text) ON CONFLICT (event_id, customer_id) "    \
    "DO UPDATE SET invited = excluded.invited, attended = excluded.attended, feedback = excluded.feedback, "   \
    "updated_at = now() RETURNING to_jsonb(ec)"
#define SQL_ATTENDANCE_WITHDRAW                                                                               \
    "UPDATE event_customers ec SET invited = false, attended = false, updated_at = now() "                    \
    "WHERE ec.event_id = $1::uuid AND ec.customer_id = $2::uuid RETURNING to_jsonb(ec)"

/* ---- helpers ---- */

/* Runs a statement of ($1 scope, $2 event id) that yields one event row:
 * SQL_EVENT_GET (the document) or SQL_EVENT_LOCK (the row, locked for the
 * transaction). NULL after answering (404 for an event the caller may not
 * see, exactly as for a missing one; 503). */
static PGresult *event_query(struct request *r, const char *name, const char *sql, const char *id)
{
    const char *params[] = {customer_scope_owner(r), id};
    return record_fetch(r, id, name, sql, 2, params);
}

/* The event the path names, locked. */
static PGresult *event_lock(struct request *r)
{
    return event_query(r, "event_lock", SQL_EVENT_LOCK, request_param(r, 0));
}

/* The document of an event. */
static PGresult *event_fetch(struct request *r, const char *id)
{
    return event_query(r, "event_get", SQL_EVENT_GET, id);
}

/* The event the path names, locked for a change to the event itself: in
 * scope (else 404), changed only by its organizer, sales_manager, office or
 * admin (a sales rep who sees it but did not organise it → 403), at the
 * If-Match version (else 412). NULL after answering. */
static PGresult *event_lock_for_change(struct request *r)
{
    PGresult *cur = event_lock(r);
    if (!cur)
        return NULL;
    if (r->principal.role == ROLE_SALES && strcmp(PQgetvalue(cur, 0, LOCK_ORGANIZER), r->principal.user_id) != 0) {
        problem_send(r, 403, "only the organizer, a sales manager, office or admin may change this event");
        PQclear(cur);
        return NULL;
    }
    if (request_check_if_match(r, PQgetvalue(cur, 0, LOCK_VERSION)) != 0) {
        PQclear(cur);
        return NULL;
    }
    return cur;
}

/* Replies with the event document in row 0 of res (the fields first). */
static int reply_event(struct request *r, int status, const PGresult *res)
{
    return record_reply(r, status, res, event_render, EVENT_NCOLS);
}

/* Replies with the current document of the locked event cur. */
static int reply_event_fetched(struct request *r, const PGresult *cur)
{
    PGresult *res = event_fetch(r, PQgetvalue(cur, 0, LOCK_ID));
    if (res)
        reply_event(r, 200, res);
    PQclear(res);
    return r->status;
}

/* Starts "UPDATE events e SET " with the caller's scope bound as $1 (the
 * document the statement returns lists the customers in scope). */
static void event_update_begin(struct sqlb *b, const struct request *r)
{
    sqlb_bind(b, customer_scope_owner(r));
    sbuf_puts(&b->sql, "UPDATE events e SET ");
}

/* Finishes the UPDATE of event_update_begin plus SET fragments for the
 * locked event cur: bumps version and updated_at and returns the document
 * fields, then the new row snapshot. name: a statement name when the text
 * is constant, else NULL. NULL after answering. */
static PGresult *event_write(struct request *r, struct sqlb *b, const PGresult *cur, const char *name)
{
    sbuf_printf(&b->sql,
                "updated_at = now(), version = e.version + 1 WHERE e.id = $%d::uuid RETURNING " EVENT_SELECT
                "to_jsonb(e)",
                sqlb_bind(b, PQgetvalue(cur, 0, LOCK_ID)));
    return db_exec(r, name, b->sql.data, b->n, b->params);
}

/* event_write, and the audit row of a change to the event itself (before =
 * the locked row's snapshot; no customer). */
static PGresult *event_apply(struct request *r, struct sqlb *b, const char *action, const PGresult *cur,
                             const char *name)
{
    PGresult *res = event_write(r, b, cur, name);
    if (!res)
        return NULL;
    if (audit_record(r, action, "event", PQgetvalue(cur, 0, LOCK_ID), NULL, PQgetvalue(cur, 0, LOCK_ROW),
                     PQgetvalue(res, 0, EVENT_NCOLS)) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Every id of ids_json (a JSON array of distinct ids, as FT_UUID_LIST
 * yields) must be a customer the caller may see; those are locked. Adds
 * "no such customer: <id>" for the first one that is not — the same message
 * for a missing customer and another rep's. 0 (check v), or -1 after
 * answering an error. */
static int invited_check(struct request *r, const char *ids_json, struct verrs *v)
{
    const char *params[] = {ids_json, customer_scope_owner(r)};
    PGresult *res = db_exec(r, "event_invited_lock", SQL_INVITED_LOCK, 2, params);
    if (!res)
        return -1;
    if (PQntuples(res) > 0)
        verr_add(v, "invited_customer_ids", "no such customer: %s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

/* The start of both attendance actions: the customer the path names must be
 * visible (locked first: the lock order of every writer), then the event
 * (locked) at the If-Match version and not archived; then that customer's
 * row on the event, locked (no row when the customer is not on it). 0, or
 * -1 after answering; *cur and *row are the caller's to clear either way. */
static int attendance_lock(struct request *r, PGresult **cur, PGresult **row)
{
    const char *customer_id = request_param(r, 1);
    if (customer_check_visible(r, customer_id, true) != 1)
        return -1;
    if (!(*cur = event_lock(r)))
        return -1;
    if (request_check_if_match(r, PQgetvalue(*cur, 0, LOCK_VERSION)) != 0)
        return -1;
    if (PQgetvalue(*cur, 0, LOCK_ARCHIVED)[0] == 't') {
        problem_state(r, "change attendance", "archived");
        return -1;
    }
    const char *params[] = {PQgetvalue(*cur, 0, LOCK_ID), customer_id};
    *row = db_exec(r, "event_attendance_lock", SQL_ATTENDANCE_LOCK, 2, params);
    return *row ? 0 : -1;
}

/* Bumps the locked event's version for a change of one customer's row
 * (before/after: that row's snapshots) and records it as "attendance" with
 * the customer. Returns the event document, or NULL after answering. */
static PGresult *attendance_apply(struct request *r, const PGresult *cur, const char *before, const char *after)
{
    struct sqlb b = {0};
    event_update_begin(&b, r);
    PGresult *res = event_write(r, &b, cur, "event_touch");
    sbuf_free(&b.sql);
    if (!res)
        return NULL;
    if (audit_record(r, "attendance", "event", PQgetvalue(cur, 0, LOCK_ID), request_param(r, 1), before, after) !=
        0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* ---- handlers ---- */

/* Exact-match filters (mask bits 2..5). */
static const struct list_filter event_filters[] = {
    {"type", "e.type = $%d::text", LIST_CHOICE, EVENT_TYPES},
    {"from", "e.event_date >= $%d::date", LIST_DATE, NULL},
    {"to", "e.event_date <= $%d::date", LIST_DATE, NULL},
    /* Only a customer the caller may see: another rep's customer matches
     * nothing, like a missing one. */
    {"customer_id",
     "EXISTS (SELECT 1 FROM event_customers ec JOIN customers c ON c.id = ec.customer_id "
     "WHERE ec.event_id = e.id AND ec.customer_id = $%d::uuid AND (" EVENT_SCOPE " IS NULL OR c.owner_id = "
     EVENT_SCOPE "))",
     LIST_UUID, NULL},
};

int events_list(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    char *pattern = NULL;
    PGresult *res = NULL;
    char name[48];
    unsigned mask = 0;

    bool include_archived;
    if (query_bool(r, "include_archived", false, &include_archived) != 0)
        goto out;
    if (list_page_init_sorted(r, &page, "events", "-event_date", 2) != 0)
        goto out;

    const char *scope = customer_scope_owner(r);
    sqlb_bind(&b, scope); /* $1: EVENT_SCOPE */
    sbuf_puts(&b.sql, "SELECT " EVENT_SELECT "e.event_date::text, e.id FROM events e WHERE true");
    if (scope) {
        sbuf_puts(&b.sql, " AND " EVENT_SCOPED);
        mask |= 1u << 0;
    }
    if (!include_archived)
        sbuf_puts(&b.sql, " AND e.archived_at IS NULL");
    else
        mask |= 1u << 1;
    if (list_filters_apply(r, event_filters, ARRAY_LEN(event_filters), &b, &mask, 2) != 0)
        goto out;
    const char *from = request_query(r, "from"), *to = request_query(r, "to");
    if (from && to && strcmp(from, to) > 0) {
        problem_send(r, 400, "from must not be after to");
        goto out;
    }
    if (list_search_apply(r, "lower(e.title) LIKE lower($%d::text)", &b, &pattern, &mask, 8) != 0 ||
        list_keyset_apply(r, &page, "(e.event_date, e.id) < ($%d::date, $%d::uuid)", valid_date, &b, &mask, 9) != 0)
        goto out;
    sbuf_printf(&b.sql, " ORDER BY e.event_date DESC, e.id DESC LIMIT $%d::integer",
                sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "event_list_%x", mask);
    res = db_exec(r, name, b.sql.data, b.n, b.params);
    if (!res)
        goto out;
    list_page_reply_rendered(r, &page, res, event_render, EVENT_NCOLS, 2);
out:
    PQclear(res);
    list_page_free(&page);
    free(pattern);
    sbuf_free(&b.sql);
    return r->status;
}

/* Events are not customer files: reads are not audited. */
int events_get(struct request *r)
{
    PGresult *res = event_fetch(r, request_param(r, 0));
    if (res)
        record_reply_get(r, res, event_render, EVENT_NCOLS);
    PQclear(res);
    return r->status;
}

int events_create(struct request *r)
{
    struct field_values fv;
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *ins = NULL, *inv = NULL, *res = NULL;
    char name[48];
    fields_collect(r->json, event_fields, event_read_only, r->principal.role, true, &fv, &v);

    bool has_invited;
    const char *invited = field_value(&fv, "invited_customer_ids", &has_invited);
    if (invited && strcmp(invited, "[]") != 0 && invited_check(r, invited, &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }

    unsigned long mask = 0;
    sbuf_puts(&b.sql, "INSERT INTO events AS e (");
    for (int i = 0; i < fv.n; i++) {
        if (!fv.f[i].spec->column)
            continue;
        sbuf_printf(&b.sql, "%s, ", fv.f[i].spec->column);
        mask |= 1ul << (fv.f[i].spec - event_fields);
    }
    sbuf_puts(&b.sql, "organizer_id) VALUES (");
    for (int i = 0; i < fv.n; i++)
        if (fv.f[i].spec->column)
            sbuf_printf(&b.sql, "$%d, ", sqlb_bind(&b, fv.f[i].value));
    int p_organizer = sqlb_bind(&b, r->principal.user_id);
    int p_invited = sqlb_bind(&b, invited ? invited : "[]");
    /* The audit snapshot names the customers invited with the event. */
    sbuf_printf(&b.sql,
                "$%d::uuid) RETURNING e.id, to_jsonb(e) || jsonb_build_object('invited_customer_ids', $%d::jsonb)",
                p_organizer, p_invited);
    snprintf(name, sizeof name, "event_ins_%lx", mask);
    if (!(ins = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    const char *id = PQgetvalue(ins, 0, 0);
    if (invited && strcmp(invited, "[]") != 0) {
        const char *params[] = {id, invited};
        if (!(inv = db_exec(r, "event_invite", SQL_INVITE, 2, params)))
            goto out;
    }
    if (audit_record(r, "create", "event", id, NULL, NULL, PQgetvalue(ins, 0, 1)) != 0)
        goto out;
    if (!(res = event_fetch(r, id)))
        goto out;
    char location[64];
    snprintf(location, sizeof location, "/v1/events/%s", id);
    reply_header(r, "Location", location);
    reply_event(r, 201, res);
out:
    PQclear(ins);
    PQclear(inv);
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

int events_update(struct request *r)
{
    struct field_values fv;
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    fields_collect(r->json, event_fields, event_read_only, r->principal.role, false, &fv, &v);
    bool has_invited;
    field_value(&fv, "invited_customer_ids", &has_invited);
    if (has_invited)
        verr_add(&v, "invited_customer_ids",
                 "is only accepted on create; use PUT /v1/events/{id}/customers/{customer_id}");
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(cur = event_lock_for_change(r)))
        goto out;
    if (fv.n == 0) {
        reply_event_fetched(r, cur);
        goto out;
    }
    event_update_begin(&b, r);
    record_set_fields(&b, &fv);
    if (!(res = event_apply(r, &b, "update", cur, NULL)))
        goto out;
    reply_event(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

int events_archive(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (!(cur = event_lock_for_change(r)))
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't') {
        reply_empty(r, 204);
        goto out;
    }
    event_update_begin(&b, r);
    sbuf_puts(&b.sql, "archived_at = now(), ");
    if (!(res = event_apply(r, &b, "archive", cur, "event_archive")))
        goto out;
    reply_empty(r, 204);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

int events_restore(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (body_reject_fields(r, NULL) != 0)
        goto out;
    if (!(cur = event_lock_for_change(r)))
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] != 't') {
        problem_state(r, "restore", "not archived");
        goto out;
    }
    event_update_begin(&b, r);
    sbuf_puts(&b.sql, "archived_at = NULL, ");
    if (!(res = event_apply(r, &b, "restore", cur, "event_restore")))
        goto out;
    reply_event(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

/* ---- attendance ---- */

/* Upserts the customer's row: invite (a new row is invited unless the body
 * says otherwise), mark attended (attended implies invited), per-customer
 * feedback. A body that changes nothing answers the document unchanged. */
int events_customer_put(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    PGresult *cur = NULL, *row = NULL, *up = NULL, *res = NULL;
    if (attendance_lock(r, &cur, &row) != 0)
        goto out;
    fields_collect(r->json, attendance_fields, attendance_read_only, r->principal.role, false, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    bool has_invited, has_attended, has_feedback;
    const char *invited = field_value(&fv, "invited", &has_invited);
    const char *attended = field_value(&fv, "attended", &has_attended);
    const char *feedback = field_value(&fv, "feedback", &has_feedback);
    bool exists = PQntuples(row) == 1;
    bool old_invited = exists && PQgetvalue(row, 0, ROW_INVITED)[0] == 't';
    bool old_attended = exists && PQgetvalue(row, 0, ROW_ATTENDED)[0] == 't';
    const char *old_feedback = exists ? db_val(row, 0, ROW_FEEDBACK) : NULL;

    bool new_attended = has_attended ? strcmp(attended, "true") == 0 : old_attended;
    bool new_invited = has_invited ? strcmp(invited, "true") == 0 : (exists ? old_invited : true);
    if (!has_invited && has_attended && new_attended)
        new_invited = true;
    if (new_attended && !new_invited) {
        verr_add(&v, "invited", "must be true for a customer who attended (attended implies invited)");
        problem_validation(r, &v);
        goto out;
    }
    const char *new_feedback = has_feedback ? feedback : old_feedback;
    bool feedback_changed = has_feedback && (!feedback != !old_feedback ||
                                             (feedback && old_feedback && strcmp(feedback, old_feedback) != 0));
    if (exists && new_invited == old_invited && new_attended == old_attended && !feedback_changed) {
        reply_event_fetched(r, cur);
        goto out;
    }
    const char *params[] = {PQgetvalue(cur, 0, LOCK_ID), request_param(r, 1), new_invited ? "true" : "false",
                            new_attended ? "true" : "false", new_feedback};
    if (!(up = db_exec(r, "event_attendance_put", SQL_ATTENDANCE_PUT, 5, params)))
        goto out;
    if (!(res = attendance_apply(r, cur, exists ? PQgetvalue(row, 0, ROW_SNAPSHOT) : NULL, PQgetvalue(up, 0, 0))))
        goto out;
    reply_event(r, 200, res);
out:
    PQclear(cur);
    PQclear(row);
    PQclear(up);
    PQclear(res);
    field_values_free(&fv);
    return r->status;
}

/* Withdraws the invitation (invited and attended false); the row, and its
 * feedback, stay as history. */
int events_customer_delete(struct request *r)
{
    PGresult *cur = NULL, *row = NULL, *up = NULL, *res = NULL;
    if (attendance_lock(r, &cur, &row) != 0)
        goto out;
    if (PQntuples(row) == 0) {
        problem_send(r, 404, NULL);
        goto out;
    }
    if (PQgetvalue(row, 0, ROW_INVITED)[0] != 't' && PQgetvalue(row, 0, ROW_ATTENDED)[0] != 't') {
        reply_empty(r, 204);
        goto out;
    }
    const char *params[] = {PQgetvalue(cur, 0, LOCK_ID), request_param(r, 1)};
    if (!(up = db_exec(r, "event_attendance_withdraw", SQL_ATTENDANCE_WITHDRAW, 2, params)))
        goto out;
    if (!(res = attendance_apply(r, cur, PQgetvalue(row, 0, ROW_SNAPSHOT), PQgetvalue(up, 0, 0))))
        goto out;
    reply_empty(r, 204);
out:
    PQclear(cur);
    PQclear(row);
    PQclear(up);
    PQclear(res);
    return r->status;
}
