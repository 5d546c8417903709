/* Complaints (客户投诉). Same layout as customers.c: field specs, SQL,
 * helpers, handlers (list, get, create, update, archive, restore), then the
 * actions (acknowledge, assign, start, notes, resolve, confirm-refund,
 * close, reopen) and the complaint's event log.
 *
 * Every write locks the complaint's customer first, then the complaint (the
 * project's lock order), and records the step twice in its transaction: as
 * a complaint_events row (the complaint's own history: actor, time, from/to
 * status, note, details) and in the audit trail (before/after snapshots).
 * The service levels are computed in SQL on every read (migration 0005:
 * crm_sla_status), so a document never shows a stale leg status. */
#include "resources/complaints.h"

#include <jansson.h>
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

static const char *const CHANNELS[] = {"phone", "email", "wechat", "sms", "meeting", "letter", "web", "other", NULL};
static const char *const CATEGORIES[] = {"quality", "delivery", "service", "billing", "other", NULL};
static const char *const SEVERITIES[] = {"urgent", "normal", NULL};
static const char *const COMPLAINT_STATUS[] = {"received", "acknowledged", "assigned", "in_progress",
                                               "resolved", "closed", NULL};
static const char *const ROOT_CAUSES[] = {"material", "process", "equipment", "logistics", "communication",
                                          "documentation", "other", NULL};
/* Every state but closed: a complaint can be corrected and noted until it is closed. */
static const char *const COMPLAINT_NOT_CLOSED[] = {"received", "acknowledged", "assigned", "in_progress",
                                                   "resolved", NULL};

/* Anyone who may see the customer files a complaint (first-responder rule). */
#define W_FILER (ROLE_SALES | ROLE_SALES_MANAGER | ROLE_FINANCE | ROLE_OFFICE | ROLE_ADMIN)
/* Who runs the workflow. */
#define W_OFFICE (ROLE_SALES_MANAGER | ROLE_OFFICE | ROLE_ADMIN)

/* customer_id stays first: PATCH uses the table from its second row on
 * (complaint_patch_fields), so a complaint's customer is fixed at filing. */
static const struct field_spec complaint_fields[] = {
    {"customer_id", "customer_id", FT_UUID, 0, NULL, W_FILER, FF_REQUIRED},
    {"contact_id", "contact_id", FT_UUID, 0, NULL, W_FILER, 0},
    {"channel", "channel", FT_ENUM, 0, CHANNELS, W_FILER, FF_REQUIRED},
    {"category", "category", FT_ENUM, 0, CATEGORIES, W_FILER, FF_REQUIRED},
    {"severity", "severity", FT_ENUM, 0, SEVERITIES, W_FILER, FF_REQUIRED},
    {"description", "description", FT_TEXT, 5000, NULL, W_FILER, FF_REQUIRED},
    {"order_reference", "order_reference", FT_TEXT, 64, NULL, W_FILER, 0},
    {"received_at", "received_at", FT_PAST_TIMESTAMP, 0, NULL, W_FILER, FF_NOT_NULL},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
#define complaint_patch_fields (complaint_fields + 1)

/* customer_id stays first: it is read-only for PATCH only (complaint_create_read_only). */
static const char *const complaint_read_only[] = {
    "customer_id", "id", "status", "first_response_due", "first_response_at", "first_response_by",
    "first_response_status", "start_due", "started_at", "start_status", "resolution_due", "resolved_at",
    "resolution_status", "next_due", "department", "assignee_id", "assigned_at", "resolution", "root_cause",
    "preventive_action", "resolved_by", "refund_amount", "refund_status", "refund_confirmed_at",
    "refund_confirmed_by", "satisfaction", "closed_at", "reopen_count", "created_by", "archived", "archived_at",
    "created_at", "updated_at", "version", NULL};
#define complaint_create_read_only (complaint_read_only + 1)

/* The bodies of the actions. A note is optional on every step that takes no
 * text of its own. */
static const struct field_spec note_fields[] = {
    {"note", "note", FT_TEXT, 5000, NULL, W_FILER, 0},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
/* The first response may be recorded after the fact (a phone answer logged later). */
static const struct field_spec acknowledge_fields[] = {
    {"responded_at", "responded_at", FT_PAST_TIMESTAMP, 0, NULL, W_OFFICE, 0},
    {"note", "note", FT_TEXT, 5000, NULL, W_OFFICE, 0},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
static const struct field_spec progress_note_fields[] = {
    {"note", "note", FT_TEXT, 5000, NULL, W_FILER, FF_REQUIRED},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
static const struct field_spec assign_fields[] = {
    {"assignee_id", "assignee_id", FT_UUID, 0, NULL, W_OFFICE, FF_REQUIRED},
    {"department", "department", FT_TEXT, 100, NULL, W_OFFICE, FF_REQUIRED},
    {"resolution_due", "resolution_due", FT_TIMESTAMP, 0, NULL, W_OFFICE, FF_REQUIRED},
    {"note", "note", FT_TEXT, 5000, NULL, W_OFFICE, 0},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
static const struct field_spec resolve_fields[] = {
    {"resolution", "resolution", FT_TEXT, 5000, NULL, W_FILER, FF_REQUIRED},
    {"root_cause", "root_cause", FT_ENUM, 0, ROOT_CAUSES, W_FILER, FF_REQUIRED},
    {"preventive_action", "preventive_action", FT_TEXT, 5000, NULL, W_FILER, 0},
    {"refund_amount", "refund_amount", FT_MONEY, 0, NULL, W_FILER, 0},
    {"note", "note", FT_TEXT, 5000, NULL, W_FILER, 0},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
static const struct field_spec close_fields[] = {
    {"satisfaction", "satisfaction", FT_POS_INT, 5, NULL, W_OFFICE, FF_REQUIRED},
    {"note", "note", FT_TEXT, 5000, NULL, W_OFFICE, 0},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
static const struct field_spec reopen_fields[] = {
    {"reason", "reason", FT_TEXT, 5000, NULL, W_OFFICE, FF_REQUIRED},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};

/* ---- SQL ---- */

/* The complaint document: key, SQL expression (alias cm, its customer c,
 * its severity's policy p), rendering. The select list and the renderer
 * both come from this one list; id, customer_id, status, assignee_id and
 * refund_status stay first (the handlers read them by position), version
 * last (its column feeds the ETag). The customer's name and owner are not
 * part of it: they change without the complaint's version changing. */
#define COMPLAINT_FIELDS(X)                                                                                   \
    X("id", "cm.id", RK_STRING)                                                                               \
    X("customer_id", "cm.customer_id", RK_STRING)                                                             \
    X("status", "cm.status", RK_STRING)                                                                       \
    X("assignee_id", "cm.assignee_id", RK_STRING)                                                             \
    X("refund_status", "cm.refund_status", RK_STRING)                                                         \
    X("contact_id", "cm.contact_id", RK_STRING)                                                               \
    X("channel", "cm.channel", RK_STRING)                                                                     \
    X("category", "cm.category", RK_STRING)                                                                   \
    X("severity", "cm.severity", RK_STRING)                                                                   \
    X("description", "cm.description", RK_STRING)                                                             \
    X("order_reference", "cm.order_reference", RK_STRING)                                                     \
    X("received_at", "cm.received_at", RK_TIMESTAMP)                                                          \
    X("first_response_due", "cm.first_response_due", RK_TIMESTAMP)                                           \
    X("first_response_at", "cm.first_response_at", RK_TIMESTAMP)                                             \
    X("first_response_by", "cm.first_response_by", RK_STRING)                                                \
    X("first_response_status", COMPLAINT_FIRST_RESPONSE_STATUS, RK_STRING)                                    \
    X("start_due", "cm.start_due", RK_TIMESTAMP)                                                              \
    X("started_at", "cm.started_at", RK_TIMESTAMP)                                                            \
    X("start_status", COMPLAINT_START_STATUS, RK_STRING)                                                      \
    X("resolution_due", "cm.resolution_due", RK_TIMESTAMP)                                                    \
    X("resolved_at", "cm.resolved_at", RK_TIMESTAMP)                                                          \
    X("resolution_status", COMPLAINT_RESOLUTION_STATUS, RK_STRING)                                            \
    X("next_due", COMPLAINT_NEXT_DUE, RK_TIMESTAMP)                                                           \
    X("department", "cm.department", RK_STRING)                                                               \
    X("assigned_at", "cm.assigned_at", RK_TIMESTAMP)                                                          \
    X("resolution", "cm.resolution", RK_STRING)                                                               \
    X("root_cause", "cm.root_cause", RK_STRING)                                                               \
    X("preventive_action", "cm.preventive_action", RK_STRING)                                                 \
    X("resolved_by", "cm.resolved_by", RK_STRING)                                                             \
    X("refund_amount", "cm.refund_amount", RK_STRING)                                                         \
    X("refund_confirmed_at", "cm.refund_confirmed_at", RK_TIMESTAMP)                                          \
    X("refund_confirmed_by", "cm.refund_confirmed_by", RK_STRING)                                             \
    X("satisfaction", "cm.satisfaction", RK_RAW)                                                              \
    X("closed_at", "cm.closed_at", RK_TIMESTAMP)                                                              \
    X("reopen_count", "cm.reopen_count", RK_RAW)                                                              \
    X("created_by", "cm.created_by", RK_STRING)                                                               \
    X("archived", "cm.archived_at IS NOT NULL", RK_BOOL)                                                      \
    X("archived_at", "cm.archived_at", RK_TIMESTAMP)                                                          \
    X("created_at", "cm.created_at", RK_TIMESTAMP)                                                            \
    X("updated_at", "cm.updated_at", RK_TIMESTAMP)                                                            \
    X("version", "cm.version", RK_RAW)

static const struct render_col complaint_render[] = {COMPLAINT_FIELDS(RENDER_COL)};
#define CM_NCOLS ((int)ARRAY_LEN(complaint_render))
enum { CM_ID_COL, CM_CUSTOMER_COL, CM_STATUS_COL, CM_ASSIGNEE_COL, CM_REFUND_STATUS_COL };
#define CM_VERSION_COL (CM_NCOLS - 1)
/* The select list: every field, then whatever the query adds after it. */
#define COMPLAINT_SELECT COMPLAINT_FIELDS(RENDER_SQL)
/* The document of the row an INSERT or UPDATE in a CTE named cm returned. */
#define COMPLAINT_FROM_CTE                                                                                    \
    " FROM cm JOIN customers c ON c.id = cm.customer_id JOIN complaint_sla_policies p ON p.severity = cm.severity"
/* Updates run in a CTE named cm (complaint_apply closes it), so the document
 * is read from the new row joined to its (possibly new) severity's policy. */
#define COMPLAINT_UPDATE "WITH cm AS (UPDATE complaints cm SET "

/* Settled: no leg can change status by the passing of time alone (each leg
 * with a deadline is done or already past it). Only then may a GET answer
 * 304: otherwise a cached copy may show pending where the leg is now
 * at_risk or breached, without any new version. */
#define COMPLAINT_SETTLED                                                                                     \
    "NOT ((cm.first_response_at IS NULL AND cm.first_response_due >= now()) OR "                              \
    "(cm.started_at IS NULL AND cm.start_due >= now()) OR "                                                   \
    "(cm.resolved_at IS NULL AND cm.resolution_due >= now()))"

/* $1 id, $2 viewer (COMPLAINT_VISIBLE); after the fields: settled. */
#define SQL_COMPLAINT_GET                                                                                     \
    "SELECT " COMPLAINT_SELECT COMPLAINT_SETTLED " FROM " COMPLAINT_FROM " WHERE cm.id = $1::uuid AND "       \
    COMPLAINT_VISIBLE("2")
enum { GET_SETTLED = CM_NCOLS };
/* The complaint's customer, in scope, locked first ($1 id, $2 viewer). */
#define SQL_COMPLAINT_LOCK_CUSTOMER                                                                           \
    "SELECT c.id FROM complaints cm JOIN customers c ON c.id = cm.customer_id WHERE cm.id = $1::uuid AND "   \
    COMPLAINT_VISIBLE("2") " FOR UPDATE OF c"
/* Whether the complaint is visible, locking nothing ($1 id, $2 viewer). */
#define SQL_COMPLAINT_VISIBLE                                                                                 \
    "SELECT 1 FROM complaints cm JOIN customers c ON c.id = cm.customer_id WHERE cm.id = $1::uuid AND "      \
    COMPLAINT_VISIBLE("2")
/* After the fields: archived, row snapshot. The customer is already locked. */
enum { LOCK_ARCHIVED = CM_NCOLS, LOCK_ROW };
#define SQL_COMPLAINT_LOCK                                                                                    \
    "SELECT " COMPLAINT_SELECT "cm.archived_at IS NOT NULL, to_jsonb(cm) FROM " COMPLAINT_FROM                \
    " WHERE cm.id = $1::uuid FOR UPDATE OF cm"
/* Is $1 a live contact of customer $2? */
#define SQL_CONTACT_OK                                                                                        \
    "SELECT EXISTS (SELECT 1 FROM contacts k WHERE k.id = $1::uuid AND k.customer_id = $2::uuid "             \
    "AND k.archived_at IS NULL)"
/* A corrected received_at ($1) of complaint $2: after it was recorded (the
 * FT_PAST_TIMESTAMP slack), after its first response? */
#define SQL_RECEIVED_CHECK                                                                                    \
    "SELECT $1::timestamptz > cm.created_at + interval '5 minutes', $1::timestamptz > cm.first_response_at "  \
    "FROM complaints cm WHERE cm.id = $2::uuid"
/* A first response at $1 of complaint $2: before it was received? */
#define SQL_RESPONDED_CHECK "SELECT $1::timestamptz < cm.received_at FROM complaints cm WHERE cm.id = $2::uuid"
/* An assignee must be an active user of any role but erp. */
#define SQL_ASSIGNEE_INVALID                                                                                  \
    "SELECT NOT EXISTS (SELECT 1 FROM users WHERE id = $1::uuid AND active AND role <> 'erp')"
/* A resolution deadline ($1) of complaint $2: not in the past, after receipt? */
#define SQL_RESOLUTION_DUE_CHECK                                                                              \
    "SELECT $1::timestamptz <= now(), $1::timestamptz <= cm.received_at FROM complaints cm WHERE cm.id = $2::uuid"
/* The deadline of one leg (policy column) for received_at $R and severity $S. */
#define SLA_DUE(col) "crm_sla_due(coalesce($%d::timestamptz, now()), (SELECT sp." col " FROM complaint_sla_policies sp WHERE sp.severity = $%d::text))"

/* The event document (alias e). Events are never changed: id and at say it all. */
#define EVENT_FIELDS(X)                                                                                       \
    X("id", "e.id", RK_STRING)                                                                                \
    X("complaint_id", "e.complaint_id", RK_STRING)                                                            \
    X("action", "e.action", RK_STRING)                                                                        \
    X("from_status", "e.from_status", RK_STRING)                                                              \
    X("to_status", "e.to_status", RK_STRING)                                                                  \
    X("note", "e.note", RK_STRING)                                                                            \
    X("details", "e.details", RK_RAW)                                                                         \
    X("actor_id", "e.actor_id", RK_STRING)                                                                    \
    X("actor_role", "e.actor_role", RK_STRING)                                                                \
    X("at", "e.at", RK_TIMESTAMP)

static const struct render_col event_render[] = {EVENT_FIELDS(RENDER_COL)};
#define EVENT_NCOLS ((int)ARRAY_LEN(event_render))
#define EVENT_SELECT EVENT_FIELDS(RENDER_SQL)
/* $1 complaint, $2 action, $3 from, $4 to, $5 note, $6 details, $7 actor, $8 role; after the fields: snapshot */
#define SQL_EVENT_INSERT                                                                                      \
    "INSERT INTO complaint_events AS e (complaint_id, action, from_status, to_status, note, details, actor_id, " \
    "actor_role) VALUES ($1::uuid, $2, $3, $4, $5, coalesce($6::jsonb, '{}'), $7::uuid, $8) "                 \
    "RETURNING " EVENT_SELECT "to_jsonb(e)"
/* $1 complaint, $2 cursor (id), $3 limit; the notes variant keeps action 'note' only. */
#define SQL_EVENTS_PAGE(cond)                                                                                 \
    "SELECT " EVENT_SELECT "e.id::text FROM complaint_events e WHERE e.complaint_id = $1::uuid" cond           \
    " AND ($2::bigint IS NULL OR e.id > $2::bigint) ORDER BY e.id LIMIT $3::integer"
/* $1 complaint, $2 event id */
#define SQL_EVENT_GET                                                                                         \
    "SELECT " EVENT_SELECT "1 FROM complaint_events e WHERE e.complaint_id = $1::uuid AND e.id = $2::bigint"

/* ---- helpers ---- */

static bool state_in(const char *state, const char *const *states)
{
    for (const char *const *s = states; *s; s++)
        if (strcmp(*s, state) == 0)
            return true;
    return false;
}

/* The collected fields as a JSON object of their texts (the details of an
 * event), leaving out `skip` (NULL: none). Owned by the caller (free). */
static char *fields_json(const struct field_values *fv, const char *skip)
{
    json_t *o = json_object();
    for (int i = 0; i < fv->n; i++)
        if (!skip || strcmp(fv->f[i].spec->name, skip) != 0)
            json_object_set_new(o, fv->f[i].spec->name, fv->f[i].value ? json_string(fv->f[i].value) : json_null());
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* True for the roles that run the workflow. */
static bool office_side(const struct request *r)
{
    return (r->principal.role & W_OFFICE) != 0;
}

/* The office side, or the complaint's assigned user. 0 / -1 after answering 403. */
static int handler_or_403(struct request *r, const PGresult *cur, const char *action)
{
    const char *assignee = db_val(cur, 0, CM_ASSIGNEE_COL);
    if (office_side(r) || (assignee && strcmp(assignee, r->principal.user_id) == 0))
        return 0;
    problem_sendf(r, 403,
                  "only the office, a sales manager, an admin or the complaint's assigned user may %s this complaint",
                  action);
    return -1;
}

/* Loads the complaint the path names for a change (action): visible to the
 * caller (else 404), the office side or the assignee when assignee_may
 * (else 403), at the If-Match version (else 412), live and in one of from
 * (NULL: any state; else 409 naming the state, "archived" for an archived
 * complaint). Locks its customer first, then the complaint, for the
 * transaction. Returns the locked row, or NULL after answering. */
static PGresult *complaint_lock(struct request *r, const char *action, const char *const *from, bool assignee_may)
{
    const char *id = request_param(r, 0);
    const char *params[] = {id, customer_scope_owner(r)};
    PGresult *cur = record_fetch(r, id, "cmp_lock_customer", SQL_COMPLAINT_LOCK_CUSTOMER, 2, params);
    if (!cur)
        return NULL;
    PQclear(cur);
    /* Complaints are never deleted and never change customer: the row is there. */
    if (!(cur = record_fetch(r, id, "cmp_lock", SQL_COMPLAINT_LOCK, 1, params)))
        return NULL;
    if (assignee_may && handler_or_403(r, cur, action) != 0)
        goto fail;
    if (request_check_if_match(r, PQgetvalue(cur, 0, CM_VERSION_COL)) != 0)
        goto fail;
    if (from) {
        const char *state = PQgetvalue(cur, 0, CM_STATUS_COL);
        if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't')
            state = "archived";
        else if (state_in(state, from))
            return cur;
        problem_state(r, action, state);
        goto fail;
    }
    return cur;
fail:
    PQclear(cur);
    return NULL;
}

/* Runs a check whose boolean columns are true when the value breaks a rule
 * (column i ↔ messages[i], NULL: not checked), adding "field: message". 0
 * (check v), -1 after answering. */
static int value_check(struct request *r, const char *stmt, const char *sql, int nparams, const char *const *params,
                       const char *field, const char *const *messages, int n, struct verrs *v)
{
    PGresult *res = db_exec(r, stmt, sql, nparams, params);
    if (!res)
        return -1;
    for (int i = 0; i < n && PQntuples(res) == 1; i++)
        if (messages[i] && PQgetvalue(res, 0, i)[0] == 't')
            verr_add(v, field, "%s", messages[i]);
    PQclear(res);
    return 0;
}

/* The contact must be a live contact of the complaint's customer. */
static int contact_check(struct request *r, const char *contact_id, const char *customer_id, struct verrs *v)
{
    const char *params[] = {contact_id, customer_id};
    PGresult *res = db_exec(r, "cmp_contact_ok", SQL_CONTACT_OK, 2, params);
    if (!res)
        return -1;
    if (PQgetvalue(res, 0, 0)[0] != 't')
        verr_add(v, "contact_id", "must be a contact of this customer");
    PQclear(res);
    return 0;
}

/* Records one step of complaint id in its event log. *event (when not
 * NULL) receives the event row (fields, then its snapshot; the caller
 * PQclears it). 0, or -1 after answering. */
static int complaint_event(struct request *r, const char *id, const char *action, const char *from, const char *to,
                           const char *note, const char *details, PGresult **event)
{
    const char *params[] = {id, action, from, to, note, details, r->principal.user_id, role_name(r->principal.role)};
    PGresult *res = db_exec(r, "cmp_event_insert", SQL_EVENT_INSERT, 8, params);
    if (!res)
        return -1;
    if (event)
        *event = res;
    else
        PQclear(res);
    return 0;
}

/* Replies with the complaint document in row 0 of res (the fields first). */
static int reply_complaint(struct request *r, int status, const PGresult *res)
{
    return record_reply(r, status, res, complaint_render, CM_NCOLS);
}

/* Closes the COMPLAINT_UPDATE "<set>, " in b for the locked complaint cur,
 * returning the document fields and the new row snapshot; records the event
 * (from the locked status to the new one, with note and details) and the
 * audit row (before = the locked row's snapshot). NULL after answering. */
static PGresult *complaint_apply(struct request *r, struct sqlb *b, const char *action, const PGresult *cur,
                                 const char *note, const char *details)
{
    const char *id = PQgetvalue(cur, 0, CM_ID_COL);
    sbuf_printf(&b->sql,
                "updated_at = now(), version = cm.version + 1 WHERE cm.id = $%d::uuid RETURNING cm.*) "
                "SELECT " COMPLAINT_SELECT "to_jsonb(cm)" COMPLAINT_FROM_CTE,
                sqlb_bind(b, id));
    PGresult *res = db_exec(r, NULL, b->sql.data, b->n, b->params);
    if (!res)
        return NULL;
    if (complaint_event(r, id, action, PQgetvalue(cur, 0, CM_STATUS_COL), PQgetvalue(res, 0, CM_STATUS_COL), note,
                        details, NULL) != 0 ||
        audit_record(r, action, "complaint", id, PQgetvalue(cur, 0, CM_CUSTOMER_COL), PQgetvalue(cur, 0, LOCK_ROW),
                     PQgetvalue(res, 0, CM_NCOLS)) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Moves the locked complaint cur with the constant SET fragment set, which
 * may use $1..$nbinds for binds[0..nbinds) (each may be NULL), records the
 * step and replies with the complaint. */
static int complaint_transition(struct request *r, const PGresult *cur, const char *action, const char *set,
                                const char *const *binds, int nbinds, const char *note, const char *details)
{
    struct sqlb b = {0};
    PGresult *res = NULL;
    for (int i = 0; i < nbinds; i++)
        sqlb_bind(&b, binds[i]);
    sbuf_puts(&b.sql, COMPLAINT_UPDATE);
    sbuf_puts(&b.sql, set);
    sbuf_puts(&b.sql, ", ");
    if ((res = complaint_apply(r, &b, action, cur, note, details)))
        reply_complaint(r, 200, res);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

/* ---- handlers ---- */

/* sort=, the default first. Timestamp keys travel as LIST_CURSOR_TS. */
static const struct list_sort complaint_sorts[] = {
    {"-received_at", "cm.received_at DESC, cm.id DESC", "(cm.received_at, cm.id) < ($%d::timestamptz, $%d::uuid)",
     LIST_CURSOR_TS("cm.received_at"), valid_timestamp},
    {"received_at", "cm.received_at, cm.id", "(cm.received_at, cm.id) > ($%d::timestamptz, $%d::uuid)",
     LIST_CURSOR_TS("cm.received_at"), valid_timestamp},
};

/* Exact-match filters (mask bits 2..9). */
static const struct list_filter complaint_filters[] = {
    {"customer_id", "cm.customer_id = $%d::uuid", LIST_UUID, NULL},
    {"status", "cm.status = $%d", LIST_CHOICE, COMPLAINT_STATUS},
    {"severity", "cm.severity = $%d", LIST_CHOICE, SEVERITIES},
    {"category", "cm.category = $%d", LIST_CHOICE, CATEGORIES},
    {"owner_id", "c.owner_id = $%d::uuid", LIST_UUID, NULL},
    {"assignee_id", "cm.assignee_id = $%d::uuid", LIST_UUID, NULL},
    {"from", "cm.received_at >= $%d::timestamptz", LIST_TIMESTAMP, NULL},
    {"to", "cm.received_at < $%d::timestamptz", LIST_TIMESTAMP, NULL},
};

/* sla=: complaints with at least one leg in that status now (bits 10..11). */
static const struct {
    const char *name;
    const char *cond;
} complaint_sla_filters[] = {
    {"breached", "(" COMPLAINT_FIRST_RESPONSE_STATUS " = 'breached' OR " COMPLAINT_START_STATUS
                 " = 'breached' OR " COMPLAINT_RESOLUTION_STATUS " = 'breached')"},
    {"at_risk", "(" COMPLAINT_FIRST_RESPONSE_STATUS " = 'at_risk' OR " COMPLAINT_START_STATUS
                " = 'at_risk' OR " COMPLAINT_RESOLUTION_STATUS " = 'at_risk')"},
};

int complaints_list(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    char *pattern = NULL;
    PGresult *res = NULL;
    char name[48];
    unsigned mask = 0;

    int si = list_sort_find(r, complaint_sorts, ARRAY_LEN(complaint_sorts),
                            "sort must be one of -received_at, received_at");
    if (si < 0)
        goto out;
    const struct list_sort *sort = &complaint_sorts[si];
    bool include_archived;
    if (query_bool(r, "include_archived", false, &include_archived) != 0)
        goto out;
    const char *sla = request_query(r, "sla");
    size_t sli = 0;
    if (sla) {
        while (sli < ARRAY_LEN(complaint_sla_filters) && strcmp(complaint_sla_filters[sli].name, sla) != 0)
            sli++;
        if (sli == ARRAY_LEN(complaint_sla_filters)) {
            problem_send(r, 400, "sla must be one of breached, at_risk");
            goto out;
        }
    }
    if (list_page_init_sorted(r, &page, "complaints", sort->name, 2) != 0)
        goto out;

    sbuf_printf(&b.sql, "SELECT " COMPLAINT_SELECT "%s, cm.id FROM " COMPLAINT_FROM " WHERE true", sort->key_expr);
    if (!include_archived)
        sbuf_puts(&b.sql, " AND cm.archived_at IS NULL");
    else
        mask |= 1u << 0;
    if (principal_scoped(&r->principal)) {
        int p = sqlb_bind(&b, r->principal.user_id);
        sbuf_printf(&b.sql, " AND (c.owner_id = $%d::uuid OR cm.assignee_id = $%d::uuid)", p, p);
        mask |= 1u << 1;
    }
    if (list_filters_apply(r, complaint_filters, ARRAY_LEN(complaint_filters), &b, &mask, 2) != 0)
        goto out;
    if (sla) {
        sbuf_puts(&b.sql, " AND ");
        sbuf_puts(&b.sql, complaint_sla_filters[sli].cond);
        mask |= 1u << (10 + sli);
    }
    if (list_search_apply(r, "(lower(cm.description) LIKE lower($%d::text) OR lower(cm.order_reference) LIKE "
                             "lower($%d::text))",
                          &b, &pattern, &mask, 12) != 0 ||
        list_keyset_apply(r, &page, sort->keyset, sort->key_valid, &b, &mask, 13) != 0)
        goto out;
    sbuf_printf(&b.sql, " ORDER BY %s LIMIT $%d::integer", sort->order, sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "cmp_list_%x_%d", mask, si);
    /* A description search is planned for its pattern; the rest reuses the statement of its filters. */
    if (!(res = db_exec(r, pattern ? NULL : name, b.sql.data, b.n, b.params)))
        goto out;
    list_page_reply_rendered(r, &page, res, complaint_render, CM_NCOLS, 2);
out:
    PQclear(res);
    list_page_free(&page);
    free(pattern);
    sbuf_free(&b.sql);
    return r->status;
}

int complaints_get(struct request *r)
{
    PGresult *res = NULL;
    const char *id = request_param(r, 0);
    const char *params[] = {id, customer_scope_owner(r)};
    if (!(res = record_fetch(r, id, "cmp_get", SQL_COMPLAINT_GET, 2, params)))
        goto out;
    if (audit_read(r, "complaint", PQgetvalue(res, 0, CM_ID_COL), PQgetvalue(res, 0, CM_CUSTOMER_COL)) != 0)
        goto out;
    if (PQgetvalue(res, 0, GET_SETTLED)[0] == 't')
        record_reply_get(r, res, complaint_render, CM_NCOLS);
    else
        reply_complaint(r, 200, res);
out:
    PQclear(res);
    return r->status;
}

int complaints_create(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *res = NULL;
    char *details = NULL;
    char name[48];
    fields_collect(r->json, complaint_fields, complaint_create_read_only, r->principal.role, true, &fv, &v);

    bool present;
    const char *customer_id = field_value(&fv, "customer_id", &present);
    const char *contact_id = field_value(&fv, "contact_id", &present);
    const char *severity = field_value(&fv, "severity", &present);
    const char *received_at = field_value(&fv, "received_at", &present);
    if (customer_id) {
        int before = v.n;
        if (customer_ref_check(r, "customer_id", customer_id, true, &v) != 0)
            goto out;
        if (contact_id && v.n == before && contact_check(r, contact_id, customer_id, &v) != 0)
            goto out;
    }
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (customer_check_live(r, customer_id) != 0)
        goto out;

    /* Columns in spec order, so the text depends only on which fields came;
     * received_at (default now) and the deadlines come last. */
    unsigned mask = 0;
    sbuf_puts(&b.sql, "WITH cm AS (INSERT INTO complaints AS cm (");
    for (int i = 0; i < fv.n; i++) {
        if (strcmp(fv.f[i].spec->name, "received_at") == 0)
            continue;
        sbuf_printf(&b.sql, "%s, ", fv.f[i].spec->column);
        mask |= 1u << (fv.f[i].spec - complaint_fields);
    }
    sbuf_puts(&b.sql, "received_at, first_response_due, start_due, created_by) VALUES (");
    for (int i = 0; i < fv.n; i++)
        if (strcmp(fv.f[i].spec->name, "received_at") != 0)
            sbuf_printf(&b.sql, "$%d, ", sqlb_bind(&b, fv.f[i].value));
    /* received_at is bound as the instant (now() when absent), once. */
    int p_recv = sqlb_bind(&b, received_at);
    int p_sev = sqlb_bind(&b, severity);
    int p_actor = sqlb_bind(&b, r->principal.user_id);
    sbuf_printf(&b.sql,
                "coalesce($%d::timestamptz, now()), " SLA_DUE("first_response_minutes") ", " SLA_DUE("start_minutes")
                ", $%d::uuid) RETURNING cm.*) SELECT " COMPLAINT_SELECT "to_jsonb(cm)" COMPLAINT_FROM_CTE,
                p_recv, p_recv, p_sev, p_recv, p_sev, p_actor);
    snprintf(name, sizeof name, "cmp_ins_%x", mask);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    const char *id = PQgetvalue(res, 0, CM_ID_COL);
    details = fields_json(&fv, NULL);
    if (complaint_event(r, id, "create", NULL, "received", NULL, details, NULL) != 0 ||
        audit_record(r, "create", "complaint", id, customer_id, NULL, PQgetvalue(res, 0, CM_NCOLS)) != 0)
        goto out;
    char location[96];
    snprintf(location, sizeof location, "/v1/complaints/%s", id);
    reply_header(r, "Location", location);
    reply_complaint(r, 201, res);
out:
    PQclear(res);
    free(details);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

/* Corrections while the complaint is not closed (office side). A new
 * severity or received_at (only before the first response) recomputes the
 * first-response and start deadlines from the current policy; otherwise
 * deadlines stay as filed. */
int complaints_update(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    char *details = NULL;
    fields_collect(r->json, complaint_patch_fields, complaint_read_only, r->principal.role, false, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(cur = complaint_lock(r, "update", COMPLAINT_NOT_CLOSED, false)))
        goto out;
    bool has_sev, has_recv, present;
    const char *severity = field_value(&fv, "severity", &has_sev);
    const char *received_at = field_value(&fv, "received_at", &has_recv);
    const char *contact_id = field_value(&fv, "contact_id", &present);
    const char *id = PQgetvalue(cur, 0, CM_ID_COL);
    if (contact_id && contact_check(r, contact_id, PQgetvalue(cur, 0, CM_CUSTOMER_COL), &v) != 0)
        goto out;
    /* The service levels are measured from severity and received_at: once
     * the first response is given they stay as filed, so a correction can
     * never turn a breached leg into a met one. */
    if (strcmp(PQgetvalue(cur, 0, CM_STATUS_COL), "received") != 0) {
        if (has_sev)
            verr_add(&v, "severity", "can no longer change after the first response");
        if (has_recv)
            verr_add(&v, "received_at", "can no longer change after the first response");
        if (v.n) {
            problem_validation(r, &v);
            goto out;
        }
    }
    if (received_at) {
        static const char *const messages[] = {"must not be after the complaint was recorded",
                                               "must not be after the first response"};
        const char *params[] = {received_at, id};
        if (value_check(r, "cmp_received_check", SQL_RECEIVED_CHECK, 2, params, "received_at", messages, 2, &v) != 0)
            goto out;
    }
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (fv.n == 0) {
        reply_complaint(r, 200, cur);
        goto out;
    }
    sbuf_puts(&b.sql, COMPLAINT_UPDATE);
    record_set_fields(&b, &fv);
    if (has_sev || has_recv) {
        int p_recv = sqlb_bind(&b, received_at);
        int p_sev = sqlb_bind(&b, severity);
        /* Only a real change moves the deadlines (sending the same values back keeps them). */
        sbuf_printf(&b.sql,
                    "first_response_due = CASE WHEN (cm.severity, cm.received_at) IS DISTINCT FROM "
                    "(coalesce($%d::text, cm.severity), coalesce($%d::timestamptz, cm.received_at)) THEN "
                    "crm_sla_due(coalesce($%d::timestamptz, cm.received_at), (SELECT sp.first_response_minutes FROM "
                    "complaint_sla_policies sp WHERE sp.severity = coalesce($%d::text, cm.severity))) "
                    "ELSE cm.first_response_due END, "
                    "start_due = CASE WHEN (cm.severity, cm.received_at) IS DISTINCT FROM "
                    "(coalesce($%d::text, cm.severity), coalesce($%d::timestamptz, cm.received_at)) THEN "
                    "crm_sla_due(coalesce($%d::timestamptz, cm.received_at), (SELECT sp.start_minutes FROM "
                    "complaint_sla_policies sp WHERE sp.severity = coalesce($%d::text, cm.severity))) "
                    "ELSE cm.start_due END, ",
                    p_sev, p_recv, p_recv, p_sev, p_sev, p_recv, p_recv, p_sev);
    }
    details = fields_json(&fv, NULL);
    if (!(res = complaint_apply(r, &b, "update", cur, NULL, details)))
        goto out;
    reply_complaint(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    free(details);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

int complaints_archive(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (!(cur = complaint_lock(r, "archive", NULL, false)))
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't') {
        reply_empty(r, 204);
        goto out;
    }
    sbuf_puts(&b.sql, COMPLAINT_UPDATE "archived_at = now(), ");
    if (!(res = complaint_apply(r, &b, "archive", cur, NULL, NULL)))
        goto out;
    reply_empty(r, 204);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

int complaints_restore(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (body_reject_fields(r, NULL) != 0)
        goto out;
    if (!(cur = complaint_lock(r, "restore", NULL, false)))
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] != 't') {
        problem_state(r, "restore", "not archived");
        goto out;
    }
    sbuf_puts(&b.sql, COMPLAINT_UPDATE "archived_at = NULL, ");
    if (!(res = complaint_apply(r, &b, "restore", cur, NULL, NULL)))
        goto out;
    reply_complaint(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

/* ---- actions ---- */

/* Collects an action's body: a JSON object (or none) against specs; 422
 * naming every bad field. Returns 0, or -1 after answering; fv is always
 * to be freed. */
static int action_fields(struct request *r, const struct field_spec *specs, struct field_values *fv)
{
    struct verrs v = {0};
    json_t *none = r->json ? NULL : json_object(); /* no body: as {} (RT_BODY_OPT) */
    fields_collect(r->json ? r->json : none, specs, NULL, r->principal.role, true, fv, &v);
    json_decref(none);
    if (v.n) {
        problem_validation(r, &v);
        return -1;
    }
    return 0;
}

/* received → acknowledged: the first response, now or at responded_at
 * (recorded late: not in the future, not before receipt). */
int complaints_acknowledge(struct request *r)
{
    static const char *const from[] = {"received", NULL};
    static const char *const messages[] = {"must not be before the complaint was received"};
    struct field_values fv = {0};
    struct verrs v = {0};
    PGresult *cur = NULL;
    char *details = NULL;
    bool present;
    if (action_fields(r, acknowledge_fields, &fv) != 0 || !(cur = complaint_lock(r, "acknowledge", from, false)))
        goto out;
    const char *responded = field_value(&fv, "responded_at", &present);
    const char *params[] = {responded, PQgetvalue(cur, 0, CM_ID_COL)};
    if (responded &&
        value_check(r, "cmp_responded_check", SQL_RESPONDED_CHECK, 2, params, "responded_at", messages, 1, &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    const char *binds[] = {r->principal.user_id, responded};
    details = responded ? fields_json(&fv, "note") : NULL;
    complaint_transition(r, cur, "acknowledge",
                         "status = 'acknowledged', first_response_at = coalesce($2::timestamptz, now()), "
                         "first_response_by = $1::uuid",
                         binds, 2, field_value(&fv, "note", &present), details);
out:
    PQclear(cur);
    free(details);
    field_values_free(&fv);
    return r->status;
}

/* acknowledged → assigned (department, responsible user, resolution
 * deadline); also a reassignment of an assigned or in-progress complaint,
 * which keeps its state. */
int complaints_assign(struct request *r)
{
    static const char *const from[] = {"acknowledged", "assigned", "in_progress", NULL};
    static const char *const assignee_messages[] = {"must be an active user (any role but erp)"};
    static const char *const due_messages[] = {"must be in the future", "must be after the complaint was received"};
    struct field_values fv = {0};
    struct verrs v = {0};
    PGresult *cur = NULL;
    char *details = NULL;
    bool present;
    if (action_fields(r, assign_fields, &fv) != 0 || !(cur = complaint_lock(r, "assign", from, false)))
        goto out;
    const char *assignee = field_value(&fv, "assignee_id", &present);
    const char *department = field_value(&fv, "department", &present);
    const char *due = field_value(&fv, "resolution_due", &present);
    const char *p_assignee[] = {assignee};
    const char *p_due[] = {due, PQgetvalue(cur, 0, CM_ID_COL)};
    if (value_check(r, "cmp_assignee_check", SQL_ASSIGNEE_INVALID, 1, p_assignee, "assignee_id", assignee_messages,
                    1, &v) != 0 ||
        value_check(r, "cmp_resolution_due_check", SQL_RESOLUTION_DUE_CHECK, 2, p_due, "resolution_due",
                    due_messages, 2, &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    details = fields_json(&fv, "note");
    const char *binds[] = {assignee, department, due};
    complaint_transition(r, cur, "assign",
                         "status = CASE WHEN cm.status = 'in_progress' THEN 'in_progress' ELSE 'assigned' END, "
                         "assignee_id = $1::uuid, department = $2::text, resolution_due = $3::timestamptz, "
                         "assigned_at = now()",
                         binds, 3, field_value(&fv, "note", &present), details);
out:
    PQclear(cur);
    free(details);
    field_values_free(&fv);
    return r->status;
}

/* assigned → in_progress: handling starts (office side or the assignee). */
int complaints_start(struct request *r)
{
    static const char *const from[] = {"assigned", NULL};
    struct field_values fv = {0};
    PGresult *cur = NULL;
    bool present;
    if (action_fields(r, note_fields, &fv) != 0 || !(cur = complaint_lock(r, "start", from, true)))
        goto out;
    complaint_transition(r, cur, "start", "status = 'in_progress', started_at = now()", NULL, 0,
                         field_value(&fv, "note", &present), NULL);
out:
    PQclear(cur);
    field_values_free(&fv);
    return r->status;
}

/* A progress note (office side or the assignee), in any state but closed.
 * The note is an event of the complaint; the complaint itself is unchanged
 * (same version). 201 with the note; Location names it among the events. */
int complaints_notes_create(struct request *r)
{
    struct field_values fv = {0};
    PGresult *cur = NULL, *event = NULL;
    bool present;
    if (action_fields(r, progress_note_fields, &fv) != 0 ||
        !(cur = complaint_lock(r, "add a note to", COMPLAINT_NOT_CLOSED, true)))
        goto out;
    const char *id = PQgetvalue(cur, 0, CM_ID_COL), *state = PQgetvalue(cur, 0, CM_STATUS_COL);
    if (complaint_event(r, id, "note", state, state, field_value(&fv, "note", &present), NULL, &event) != 0)
        goto out;
    if (audit_record(r, "note", "complaint", id, PQgetvalue(cur, 0, CM_CUSTOMER_COL), NULL,
                     PQgetvalue(event, 0, EVENT_NCOLS)) != 0)
        goto out;
    char location[128];
    snprintf(location, sizeof location, "/v1/complaints/%s/events/%s", id, PQgetvalue(event, 0, 0));
    reply_header(r, "Location", location);
    struct sbuf doc = {0};
    render_row(&doc, event, 0, 0, event_render, EVENT_NCOLS);
    reply_json_buf(r, 201, &doc);
out:
    PQclear(cur);
    PQclear(event);
    field_values_free(&fv);
    return r->status;
}

/* in_progress → resolved (office side or the assignee): resolution, root
 * cause, preventive action and, when money goes back, the refund amount,
 * which then waits for finance. A resolution replaces a refund still
 * pending from before a reopen; a confirmed refund stays and cannot be
 * replaced. */
int complaints_resolve(struct request *r)
{
    static const char *const from[] = {"in_progress", NULL};
    struct field_values fv = {0};
    struct verrs v = {0};
    PGresult *cur = NULL;
    char *details = NULL;
    bool present;
    if (action_fields(r, resolve_fields, &fv) != 0 || !(cur = complaint_lock(r, "resolve", from, true)))
        goto out;
    const char *refund = field_value(&fv, "refund_amount", &present);
    const char *refund_status = db_val(cur, 0, CM_REFUND_STATUS_COL);
    bool confirmed = refund_status && strcmp(refund_status, "confirmed") == 0;
    if (refund && strspn(refund, "0.") == strlen(refund))
        verr_add(&v, "refund_amount", "must be greater than 0 (leave it out when nothing is refunded)");
    else if (refund && confirmed)
        verr_add(&v, "refund_amount", "a refund has already been confirmed for this complaint");
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    details = fields_json(&fv, "note");
    /* $1..$5; preventive action and refund may be NULL. */
    struct sqlb b = {0};
    PGresult *res = NULL;
    sqlb_bind(&b, r->principal.user_id);
    sqlb_bind(&b, field_value(&fv, "resolution", &present));
    sqlb_bind(&b, field_value(&fv, "root_cause", &present));
    sqlb_bind(&b, field_value(&fv, "preventive_action", &present));
    sqlb_bind(&b, refund);
    sbuf_puts(&b.sql, COMPLAINT_UPDATE "status = 'resolved', resolved_at = now(), resolved_by = $1::uuid, "
                                       "resolution = $2::text, root_cause = $3::text, preventive_action = $4::text, ");
    if (!confirmed)
        sbuf_puts(&b.sql, "refund_amount = $5::numeric, refund_status = CASE WHEN $5::numeric IS NULL THEN NULL "
                          "ELSE 'pending' END, refund_confirmed_at = NULL, refund_confirmed_by = NULL, ");
    else
        sbuf_puts(&b.sql, "refund_amount = coalesce($5::numeric, cm.refund_amount), ");
    if ((res = complaint_apply(r, &b, "resolve", cur, field_value(&fv, "note", &present), details)))
        reply_complaint(r, 200, res);
    PQclear(res);
    sbuf_free(&b.sql);
out:
    PQclear(cur);
    free(details);
    field_values_free(&fv);
    return r->status;
}

/* Finance confirms the refund decided at resolution (refund pending → confirmed). */
int complaints_confirm_refund(struct request *r)
{
    struct field_values fv = {0};
    PGresult *cur = NULL;
    bool present;
    if (action_fields(r, note_fields, &fv) != 0 || !(cur = complaint_lock(r, "confirm the refund of", NULL, false)))
        goto out;
    const char *refund_status = db_val(cur, 0, CM_REFUND_STATUS_COL);
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't')
        problem_state(r, "confirm the refund", "archived");
    else if (!refund_status || strcmp(refund_status, "pending") != 0)
        problem_state(r, "confirm the refund", refund_status ? "refund confirmed" : "no refund");
    else {
        const char *binds[] = {r->principal.user_id};
        complaint_transition(r, cur, "confirm_refund",
                             "refund_status = 'confirmed', refund_confirmed_at = now(), refund_confirmed_by = $1::uuid",
                             binds, 1, field_value(&fv, "note", &present), NULL);
    }
out:
    PQclear(cur);
    field_values_free(&fv);
    return r->status;
}

/* resolved → closed with the customer's satisfaction (1-5); not while a refund is pending. */
int complaints_close(struct request *r)
{
    static const char *const from[] = {"resolved", NULL};
    struct field_values fv = {0};
    PGresult *cur = NULL;
    char *details = NULL;
    bool present;
    if (action_fields(r, close_fields, &fv) != 0 || !(cur = complaint_lock(r, "close", from, false)))
        goto out;
    const char *refund_status = db_val(cur, 0, CM_REFUND_STATUS_COL);
    if (refund_status && strcmp(refund_status, "pending") == 0) {
        problem_state(r, "close", "resolved, refund pending finance confirmation");
        goto out;
    }
    details = fields_json(&fv, "note");
    const char *binds[] = {field_value(&fv, "satisfaction", &present)};
    complaint_transition(r, cur, "close", "status = 'closed', closed_at = now(), satisfaction = $1::smallint", binds, 1,
                         field_value(&fv, "note", &present), details);
out:
    PQclear(cur);
    free(details);
    field_values_free(&fv);
    return r->status;
}

/* resolved or closed → in_progress again, with the reason. The resolution
 * leg is open again (against the same deadline, unless the office
 * reassigns); the last resolution text and root cause stay until the next
 * resolve replaces them; satisfaction goes. */
int complaints_reopen(struct request *r)
{
    static const char *const from[] = {"resolved", "closed", NULL};
    struct field_values fv = {0};
    PGresult *cur = NULL;
    bool present;
    if (action_fields(r, reopen_fields, &fv) != 0 || !(cur = complaint_lock(r, "reopen", from, false)))
        goto out;
    complaint_transition(r, cur, "reopen",
                         "status = 'in_progress', resolved_at = NULL, resolved_by = NULL, closed_at = NULL, "
                         "satisfaction = NULL, reopen_count = cm.reopen_count + 1",
                         NULL, 0, field_value(&fv, "reason", &present), NULL);
out:
    PQclear(cur);
    field_values_free(&fv);
    return r->status;
}

/* ---- the event log ---- */

/* 1 when the complaint the path names is visible to the caller, 0 after
 * answering 404, -1 after answering an error. */
static int complaint_check_visible(struct request *r)
{
    const char *id = request_param(r, 0);
    const char *params[] = {id, customer_scope_owner(r)};
    PGresult *res = record_fetch(r, id, "cmp_visible", SQL_COMPLAINT_VISIBLE, 2, params);
    if (!res)
        return r->status == 404 ? 0 : -1;
    PQclear(res);
    return 1;
}

/* A page of the complaint's events (oldest first), all or the notes only. */
static int events_page(struct request *r, const char *stmt, const char *sql)
{
    struct list_page page = {0};
    PGresult *res = NULL;
    if (complaint_check_visible(r) != 1 || list_page_init_serial(r, &page, stmt) != 0)
        goto out;
    const char *params[] = {request_param(r, 0), page.cursor_id, page.limit_plus_one};
    if (!(res = db_exec(r, stmt, sql, 3, params)))
        goto out;
    list_page_reply_rendered(r, &page, res, event_render, EVENT_NCOLS, 1);
out:
    PQclear(res);
    list_page_free(&page);
    return r->status;
}

int complaints_events_list(struct request *r)
{
    return events_page(r, "cmp_events", SQL_EVENTS_PAGE(""));
}

int complaints_notes_list(struct request *r)
{
    return events_page(r, "cmp_notes", SQL_EVENTS_PAGE(" AND e.action = 'note'"));
}

int complaints_events_get(struct request *r)
{
    PGresult *res = NULL;
    const char *event_id = request_param(r, 1);
    if (complaint_check_visible(r) != 1)
        goto out;
    if (!*event_id || strlen(event_id) > 18 || strspn(event_id, "0123456789") != strlen(event_id)) {
        problem_send(r, 404, NULL);
        goto out;
    }
    const char *params[] = {request_param(r, 0), event_id};
    if (!(res = db_exec(r, "cmp_event_get", SQL_EVENT_GET, 2, params)))
        goto out;
    if (PQntuples(res) == 0) {
        problem_send(r, 404, NULL);
        goto out;
    }
    struct sbuf doc = {0};
    render_row(&doc, res, 0, 0, event_render, EVENT_NCOLS);
    reply_json_buf(r, 200, &doc);
out:
    PQclear(res);
    return r->status;
}
