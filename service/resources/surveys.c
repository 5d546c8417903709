/* Satisfaction survey campaigns. Same layout as customers.c: field specs,
 * SQL, helpers, handlers (list, get, create, update, archive, restore),
 * then the actions (open, close).
 *
 * A campaign is a draft while the office prepares it: its targets are
 * criteria (tiers and owners narrow each other, explicit customers are
 * added). Opening it resolves the criteria into survey_targets, once, with
 * each customer's tier and owner at that moment, so later customer changes
 * never change who was targeted. Only a draft is edited, archived and
 * restored; an open campaign takes responses (survey_responses.c) until it
 * is closed. Writers: sales managers, the office and admins; sales read open
 * and closed campaigns only. */
#include "resources/surveys.h"

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
#include "validate/period.h"
#include "validate/validate.h"

/* ---- field specs ---- */

#define W_CAMPAIGN (ROLE_SALES_MANAGER | ROLE_OFFICE | ROLE_ADMIN)

static const char *const SURVEY_METHODS[] = {"questionnaire", "phone", "online", NULL};
static const char *const SURVEY_STATUS[] = {"draft", "open", "closed", NULL};
static const char *const TIERS[] = {"vip", "key", "general", "reserve", NULL};

/* period is an alternative to period_from/period_to (a YYYY, YYYY-Hn,
 * YYYY-Qn or YYYY-MM name, validate/period.c); it has no column. */
static const struct field_spec survey_fields[] = {
    {"title", "title", FT_TEXT, 200, NULL, W_CAMPAIGN, FF_REQUIRED},
    {"description", "description", FT_TEXT, 5000, NULL, W_CAMPAIGN, 0},
    {"period", NULL, FT_TEXT, 10, NULL, W_CAMPAIGN, 0},
    {"period_from", "period_from", FT_DATE, 0, NULL, W_CAMPAIGN, FF_NOT_NULL},
    {"period_to", "period_to", FT_DATE, 0, NULL, W_CAMPAIGN, FF_NOT_NULL},
    {"method", "method", FT_ENUM, 0, SURVEY_METHODS, W_CAMPAIGN, FF_REQUIRED},
    {"target_tiers", "target_tiers", FT_TEXT_LIST, 4, NULL, W_CAMPAIGN, FF_NOT_NULL},
    {"target_owner_ids", "target_owner_ids", FT_UUID_LIST, 200, NULL, W_CAMPAIGN, FF_NOT_NULL},
    {"target_customer_ids", "target_customer_ids", FT_UUID_LIST, 2000, NULL, W_CAMPAIGN, FF_NOT_NULL},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};
#define SURVEY_PERIOD_FIRST 2 /* period */
#define SURVEY_PERIOD_LAST 4  /* period_to */

static const char *const survey_read_only[] = {
    "id",         "status",     "targeted_count", "opened_at",   "opened_by",  "closed_at",  "closed_by",
    "created_by", "archived",   "archived_at",    "created_at",  "updated_at", "version",    NULL};

/* ---- SQL ---- */

/* The campaign document: key, SQL expression (alias s), rendering. id
 * stays first, version last (its column feeds the ETag). targets: the
 * expression of target_customer_ids (SURVEY_TARGETS_SEEN on reads). */
#define SURVEY_FIELDS_T(X, targets)                                                                           \
    X("id", "s.id", RK_STRING)                                                                                \
    X("title", "s.title", RK_STRING)                                                                          \
    X("description", "s.description", RK_STRING)                                                              \
    X("period_from", "s.period_from", RK_STRING)                                                              \
    X("period_to", "s.period_to", RK_STRING)                                                                  \
    X("method", "s.method", RK_STRING)                                                                        \
    X("target_tiers", "s.target_tiers", RK_RAW)                                                               \
    X("target_owner_ids", "s.target_owner_ids", RK_RAW)                                                       \
    X("target_customer_ids", targets, RK_RAW)                                                                 \
    X("status", "s.status", RK_STRING)                                                                        \
    X("targeted_count", "(SELECT count(*) FROM survey_targets t WHERE t.survey_id = s.id)", RK_RAW)           \
    X("opened_at", "s.opened_at", RK_TIMESTAMP)                                                               \
    X("opened_by", "s.opened_by", RK_STRING)                                                                  \
    X("closed_at", "s.closed_at", RK_TIMESTAMP)                                                               \
    X("closed_by", "s.closed_by", RK_STRING)                                                                  \
    X("created_by", "s.created_by", RK_STRING)                                                                \
    X("archived", "s.archived_at IS NOT NULL", RK_BOOL)                                                       \
    X("archived_at", "s.archived_at", RK_TIMESTAMP)                                                           \
    X("created_at", "s.created_at", RK_TIMESTAMP)                                                             \
    X("updated_at", "s.updated_at", RK_TIMESTAMP)                                                             \
    X("version", "s.version", RK_RAW)

#define SURVEY_FIELDS(X) SURVEY_FIELDS_T(X, "s.target_customer_ids")

/* The explicit target customers a reader may see: all of them, or with the
 * uuid parameter p set (a sales rep's id), only the rep's own customers, in
 * the campaign's order: a campaign names customers of several owners, and
 * a rep sees no other owner's customer ids (as in every customer list). */
#define SURVEY_TARGETS_SEEN(p)                                                                                \
    "CASE WHEN " p "::uuid IS NULL THEN s.target_customer_ids ELSE (SELECT coalesce(jsonb_agg(e.id "            \
    "ORDER BY e.n), '[]') FROM jsonb_array_elements(s.target_customer_ids) WITH ORDINALITY AS e (id, n) "       \
    "JOIN customers c ON c.id = (e.id #>> '{}')::uuid AND c.owner_id = " p "::uuid) END"
#define SURVEY_SELECT_SEEN(p) SURVEY_FIELDS_T(RENDER_SQL, SURVEY_TARGETS_SEEN(p))

static const struct render_col survey_render[] = {SURVEY_FIELDS(RENDER_COL)};
#define SURVEY_NCOLS ((int)ARRAY_LEN(survey_render))
#define SURVEY_ID_COL 0
#define SURVEY_FROM_COL 3
#define SURVEY_TO_COL 4
#define SURVEY_TIERS_COL 6
#define SURVEY_OWNERS_COL 7
#define SURVEY_CUSTOMERS_COL 8
#define SURVEY_STATUS_COL 9
#define SURVEY_VERSION_COL (SURVEY_NCOLS - 1)
#define SURVEY_SELECT SURVEY_FIELDS(RENDER_SQL)

/* $1 id, $2 drafts visible, $3 the sales rep reading (else NULL) */
#define SQL_SURVEY_GET                                                                                        \
    "SELECT " SURVEY_SELECT_SEEN("$3") "1 FROM surveys s WHERE s.id = $1::uuid "                               \
    "AND ($2::boolean OR s.status <> 'draft')"
/* After the fields: archived, row snapshot. Writers see every campaign. */
enum { LOCK_ARCHIVED = SURVEY_NCOLS, LOCK_ROW };
#define SQL_SURVEY_LOCK                                                                                       \
    "SELECT " SURVEY_SELECT "s.archived_at IS NOT NULL, to_jsonb(s) FROM surveys s WHERE s.id = $1::uuid "   \
    "FOR UPDATE OF s"
/* $1 title, $2 description, $3 period_from, $4 period_to, $5 the period's exclusive end (when named by
 * period; period_to is NULL then), $6 method, $7..$9 the target lists, $10 the creator. */
#define SQL_SURVEY_INSERT                                                                                     \
    "WITH s AS (INSERT INTO surveys (title, description, period_from, period_to, method, target_tiers, "       \
    "target_owner_ids, target_customer_ids, created_by) VALUES ($1, $2, $3::date, "                           \
    "coalesce($4::date, $5::date - 1), $6, coalesce($7::jsonb, '[]'), coalesce($8::jsonb, '[]'), "            \
    "coalesce($9::jsonb, '[]'), $10::uuid) RETURNING *) SELECT " SURVEY_SELECT "to_jsonb(s) FROM s"
/* How many ids of the JSON array $1 are not live customers. */
#define SQL_CUSTOMERS_UNKNOWN                                                                                 \
    "SELECT count(*) FROM jsonb_array_elements_text($1::jsonb) e(id) "                                        \
    "WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = e.id::uuid AND c.archived_at IS NULL)"
/* Resolves the targets of campaign $1: live customers matching the tier and
 * owner criteria (an empty list does not narrow; lost customers are left
 * out), plus the explicit customers that are not archived. */
#define SQL_SURVEY_RESOLVE                                                                                    \
    "INSERT INTO survey_targets (survey_id, customer_id, tier, owner_id) "                                   \
    "SELECT s.id, c.id, coalesce(c.tier_override, c.tier), c.owner_id FROM surveys s JOIN customers c "      \
    "ON c.archived_at IS NULL AND ("                                                                          \
    "(jsonb_array_length(s.target_tiers) + jsonb_array_length(s.target_owner_ids) > 0 AND c.status <> 'lost' " \
    "AND (jsonb_array_length(s.target_tiers) = 0 OR s.target_tiers ? coalesce(c.tier_override, c.tier)) "     \
    "AND (jsonb_array_length(s.target_owner_ids) = 0 OR s.target_owner_ids ? c.owner_id::text)) "             \
    "OR s.target_customer_ids ? c.id::text) WHERE s.id = $1::uuid"

/* ---- helpers ---- */

/* Loads the campaign the path names for a change: 404 when missing, 412
 * on a stale If-Match, 409 naming the state unless it is `from` (an
 * archived campaign is in state "archived" unless archived_ok). Locks it
 * for the transaction. NULL after answering. */
static PGresult *survey_lock(struct request *r, const char *action, const char *from, bool archived_ok)
{
    const char *id = request_param(r, 0);
    const char *params[] = {id};
    PGresult *cur = record_fetch(r, id, "survey_lock", SQL_SURVEY_LOCK, 1, params);
    if (!cur || request_check_if_match(r, PQgetvalue(cur, 0, SURVEY_VERSION_COL)) != 0)
        goto fail;
    const char *state = PQgetvalue(cur, 0, SURVEY_STATUS_COL);
    if (!archived_ok && PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't')
        state = "archived";
    if (strcmp(state, from) != 0) {
        problem_state(r, action, state);
        goto fail;
    }
    return cur;
fail:
    PQclear(cur);
    return NULL;
}

static int reply_survey(struct request *r, int status, const PGresult *res)
{
    return record_reply(r, status, res, survey_render, SURVEY_NCOLS);
}

/* Runs "UPDATE surveys s SET <set> ..." (b holds the start) for the locked
 * campaign cur and records the audit row. The result has the document
 * fields, then the new row snapshot; NULL after answering. */
static PGresult *survey_apply(struct request *r, struct sqlb *b, const char *action, const PGresult *cur)
{
    const char *id = PQgetvalue(cur, 0, SURVEY_ID_COL);
    sbuf_printf(&b->sql, "updated_at = now(), version = s.version + 1 WHERE s.id = $%d::uuid RETURNING " SURVEY_SELECT
                         "to_jsonb(s)",
                sqlb_bind(b, id));
    PGresult *res = db_exec(r, NULL, b->sql.data, b->n, b->params);
    if (!res)
        return NULL;
    if (audit_record(r, action, "survey", id, NULL, PQgetvalue(cur, 0, LOCK_ROW), PQgetvalue(res, 0, SURVEY_NCOLS)) !=
        0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Moves the locked campaign with the constant SET fragment set ($1 = the
 * caller) and replies with it. */
static int survey_transition(struct request *r, const PGresult *cur, const char *action, const char *set)
{
    struct sqlb b = {0};
    sqlb_bind(&b, r->principal.user_id);
    sbuf_puts(&b.sql, "UPDATE surveys s SET ");
    sbuf_puts(&b.sql, set);
    sbuf_puts(&b.sql, ", ");
    PGresult *res = survey_apply(r, &b, action, cur);
    if (res)
        reply_survey(r, 200, res);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

/* period, period_from and period_to: set together by survey_period's values. */
static bool survey_period_field(const struct field_spec *spec)
{
    return spec >= &survey_fields[SURVEY_PERIOD_FIRST] && spec <= &survey_fields[SURVEY_PERIOD_LAST];
}

/* The campaign period of a body. period (a name) and period_from /
 * period_to exclude each other; with period, *from is its first day and
 * *to_excl the day after its last (period_to is stored as to_excl - 1).
 * cur_from / cur_to: the stored dates (PATCH), NULL on create, where both
 * ends are then required. Adds errors to v; the out values borrow from fv
 * or p. */
static void survey_period(const struct field_values *fv, const char *cur_from, const char *cur_to, struct period *p,
                          const char **from, const char **to, const char **to_excl, struct verrs *v)
{
    bool present, from_p, to_p;
    const char *name = field_value(fv, "period", &present);
    *from = field_value(fv, "period_from", &from_p);
    *to = field_value(fv, "period_to", &to_p);
    *to_excl = NULL;
    if (name) {
        if (from_p || to_p)
            verr_add(v, "period", "give either period or period_from and period_to");
        else if (period_parse(name, p) != 0)
            verr_add(v, "period", "must be a year (2026), half (2026-H2), quarter (2026-Q4) or month (2026-11)");
        else {
            *from = p->from;
            *to_excl = p->to;
        }
        return;
    }
    if (!cur_from) {
        if (!from_p)
            verr_add(v, "period_from", "is required (or give period)");
        if (!to_p)
            verr_add(v, "period_to", "is required (or give period)");
    }
    const char *f = from_p ? *from : cur_from, *t = to_p ? *to : cur_to;
    if (f && t && (from_p || to_p) && strcmp(t, f) < 0)
        verr_add(v, to_p ? "period_to" : "period_from", "period_to must not be before period_from");
}

/* The targets of a body: tiers must be tiers, owners active users,
 * customers live customers; with the stored lists (cur: PATCH; NULL on
 * create) at least one list stays non-empty. 0 (check v), -1 answered. */
static int survey_targets_check(struct request *r, const struct field_values *fv, const PGresult *cur,
                                struct verrs *v)
{
    bool tp, op, cp;
    const char *tiers = field_value(fv, "target_tiers", &tp);
    const char *owners = field_value(fv, "target_owner_ids", &op);
    const char *customers = field_value(fv, "target_customer_ids", &cp);
    if (tiers) {
        json_t *a = json_loads(tiers, 0, NULL);
        size_t i;
        json_t *e;
        bool ok = json_is_array(a);
        json_array_foreach(a, i, e)
        {
            bool known = false;
            for (const char *const *t = TIERS; *t && !known; t++)
                known = json_is_string(e) && strcmp(json_string_value(e), *t) == 0;
            ok &= known;
        }
        json_decref(a);
        if (!ok)
            verr_add(v, "target_tiers", "must list tiers among vip, key, general, reserve");
    }
    if (users_check_active(r, "target_owner_ids", owners, v) != 0)
        return -1;
    if (customers) {
        const char *params[] = {customers};
        PGresult *res = db_exec(r, "survey_customers_unknown", SQL_CUSTOMERS_UNKNOWN, 1, params);
        if (!res)
            return -1;
        if (strcmp(PQgetvalue(res, 0, 0), "0") != 0)
            verr_add(v, "target_customer_ids", "must name existing customers that are not archived");
        PQclear(res);
    }
    if (!tp && cur)
        tiers = PQgetvalue(cur, 0, SURVEY_TIERS_COL);
    if (!op && cur)
        owners = PQgetvalue(cur, 0, SURVEY_OWNERS_COL);
    if (!cp && cur)
        customers = PQgetvalue(cur, 0, SURVEY_CUSTOMERS_COL);
    bool none = (!tiers || strcmp(tiers, "[]") == 0) && (!owners || strcmp(owners, "[]") == 0) &&
                (!customers || strcmp(customers, "[]") == 0);
    if (none)
        verr_add(v, "target_tiers", "at least one of target_tiers, target_owner_ids, target_customer_ids must be non-empty");
    return 0;
}

/* ---- handlers ---- */

/* sort=, the default first. The key is the creation time (LIST_CURSOR_TS). */
#define SURVEY_KEY LIST_CURSOR_TS("s.created_at")
static const struct list_sort survey_sorts[] = {
    {"-created_at", "s.created_at DESC, s.id DESC", "(s.created_at, s.id) < ($%d::timestamptz, $%d::uuid)",
     SURVEY_KEY, valid_timestamp},
    {"created_at", "s.created_at, s.id", "(s.created_at, s.id) > ($%d::timestamptz, $%d::uuid)", SURVEY_KEY,
     valid_timestamp},
};

/* Exact-match filters (mask bits 2..5). from/to: campaigns whose period
 * overlaps [from, to]. */
static const struct list_filter survey_filters[] = {
    {"status", "s.status = $%d", LIST_CHOICE, SURVEY_STATUS},
    {"method", "s.method = $%d", LIST_CHOICE, SURVEY_METHODS},
    {"from", "s.period_to >= $%d::date", LIST_DATE, NULL},
    {"to", "s.period_from <= $%d::date", LIST_DATE, NULL},
};

int surveys_list(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    PGresult *res = NULL;
    char name[48];
    unsigned mask = 0;

    int si = list_sort_find(r, survey_sorts, ARRAY_LEN(survey_sorts), "sort must be one of -created_at, created_at");
    if (si < 0)
        goto out;
    const struct list_sort *sort = &survey_sorts[si];
    bool include_archived;
    if (query_bool(r, "include_archived", false, &include_archived) != 0)
        goto out;
    if (list_page_init_sorted(r, &page, "surveys", sort->name, 2) != 0)
        goto out;

    sqlb_bind(&b, customer_scope_owner(r)); /* $1: SURVEY_TARGETS_SEEN */
    sbuf_printf(&b.sql, "SELECT " SURVEY_SELECT_SEEN("$1") "%s, s.id FROM surveys s WHERE true", sort->key_expr);
    if (!include_archived)
        sbuf_puts(&b.sql, " AND s.archived_at IS NULL");
    else
        mask |= 1u << 0;
    if (principal_scoped(&r->principal)) {
        sbuf_puts(&b.sql, " AND s.status <> 'draft'");
        mask |= 1u << 1;
    }
    if (list_filters_apply(r, survey_filters, ARRAY_LEN(survey_filters), &b, &mask, 2) != 0 ||
        list_keyset_apply(r, &page, sort->keyset, sort->key_valid, &b, &mask, 10) != 0)
        goto out;
    sbuf_printf(&b.sql, " ORDER BY %s LIMIT $%d::integer", sort->order, sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "survey_list_%x_%d", mask, si);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    list_page_reply_rendered(r, &page, res, survey_render, SURVEY_NCOLS, 2);
out:
    PQclear(res);
    list_page_free(&page);
    sbuf_free(&b.sql);
    return r->status;
}

int surveys_get(struct request *r)
{
    const char *id = request_param(r, 0);
    const char *params[] = {id, survey_drafts_visible(r), customer_scope_owner(r)};
    PGresult *res = record_fetch(r, id, "survey_get", SQL_SURVEY_GET, 3, params);
    if (res)
        record_reply_get(r, res, survey_render, SURVEY_NCOLS);
    PQclear(res);
    return r->status;
}

int surveys_create(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct period period;
    PGresult *res = NULL;
    const char *from, *to, *to_excl;
    fields_collect(r->json, survey_fields, survey_read_only, r->principal.role, true, &fv, &v);
    survey_period(&fv, NULL, NULL, &period, &from, &to, &to_excl, &v);
    if (survey_targets_check(r, &fv, NULL, &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    bool present;
    const char *params[] = {field_value(&fv, "title", &present),
                            field_value(&fv, "description", &present),
                            from,
                            to,
                            to_excl,
                            field_value(&fv, "method", &present),
                            field_value(&fv, "target_tiers", &present),
                            field_value(&fv, "target_owner_ids", &present),
                            field_value(&fv, "target_customer_ids", &present),
                            r->principal.user_id};
    if (!(res = db_exec(r, "survey_ins", SQL_SURVEY_INSERT, 10, params)))
        goto out;
    const char *id = PQgetvalue(res, 0, SURVEY_ID_COL);
    if (audit_record(r, "create", "survey", id, NULL, NULL, PQgetvalue(res, 0, SURVEY_NCOLS)) != 0)
        goto out;
    char location[96];
    snprintf(location, sizeof location, "/v1/surveys/%s", id);
    reply_header(r, "Location", location);
    reply_survey(r, 201, res);
out:
    PQclear(res);
    field_values_free(&fv);
    return r->status;
}

/* Only a draft is edited: what was sent to customers stays as it was. */
int surveys_update(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    struct period period;
    PGresult *cur = NULL, *res = NULL;
    fields_collect(r->json, survey_fields, survey_read_only, r->principal.role, false, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(cur = survey_lock(r, "update", "draft", false)))
        goto out;
    const char *from, *to, *to_excl;
    survey_period(&fv, PQgetvalue(cur, 0, SURVEY_FROM_COL), PQgetvalue(cur, 0, SURVEY_TO_COL), &period, &from, &to,
                  &to_excl, &v);
    if (survey_targets_check(r, &fv, cur, &v) != 0)
        goto out;
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (fv.n == 0) {
        reply_survey(r, 200, cur);
        goto out;
    }
    sbuf_puts(&b.sql, "UPDATE surveys s SET ");
    for (int i = 0; i < fv.n; i++)
        if (!survey_period_field(fv.f[i].spec))
            sbuf_printf(&b.sql, "%s = $%d, ", fv.f[i].spec->column, sqlb_bind(&b, fv.f[i].value));
    if (from || to || to_excl) {
        int pf = sqlb_bind(&b, from), pt = sqlb_bind(&b, to), px = sqlb_bind(&b, to_excl);
        sbuf_printf(&b.sql,
                    "period_from = coalesce($%d::date, s.period_from), "
                    "period_to = coalesce($%d::date, $%d::date - 1, s.period_to), ",
                    pf, pt, px);
    }
    if (!(res = survey_apply(r, &b, "update", cur)))
        goto out;
    reply_survey(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

/* Only a draft is archived (an opened campaign has reached customers). */
int surveys_archive(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (!(cur = survey_lock(r, "archive", "draft", true)))
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] == 't') {
        reply_empty(r, 204);
        goto out;
    }
    sbuf_puts(&b.sql, "UPDATE surveys s SET archived_at = now(), ");
    if (!(res = survey_apply(r, &b, "archive", cur)))
        goto out;
    reply_empty(r, 204);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

int surveys_restore(struct request *r)
{
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    if (body_reject_fields(r, NULL) != 0)
        goto out;
    if (!(cur = survey_lock(r, "restore", "draft", true)))
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ARCHIVED)[0] != 't') {
        problem_state(r, "restore", "not archived");
        goto out;
    }
    sbuf_puts(&b.sql, "UPDATE surveys s SET archived_at = NULL, ");
    if (!(res = survey_apply(r, &b, "restore", cur)))
        goto out;
    reply_survey(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    sbuf_free(&b.sql);
    return r->status;
}

/* ---- actions ---- */

/* draft → open: resolves the targets now (409 when no customer matches). */
int surveys_open(struct request *r)
{
    PGresult *cur = NULL, *res = NULL;
    if (body_reject_fields(r, NULL) != 0)
        goto out;
    if (!(cur = survey_lock(r, "open", "draft", false)))
        goto out;
    const char *params[] = {PQgetvalue(cur, 0, SURVEY_ID_COL)};
    if (!(res = db_exec(r, "survey_resolve", SQL_SURVEY_RESOLVE, 1, params)))
        goto out;
    if (strcmp(PQcmdTuples(res), "0") == 0) {
        problem_send(r, 409, "cannot open: no live customer matches the campaign's targets");
        goto out;
    }
    survey_transition(r, cur, "open", "status = 'open', opened_at = now(), opened_by = $1::uuid");
out:
    PQclear(cur);
    PQclear(res);
    return r->status;
}

/* open → closed: no more responses. */
int surveys_close(struct request *r)
{
    PGresult *cur = NULL;
    if (body_reject_fields(r, NULL) != 0)
        goto out;
    if (!(cur = survey_lock(r, "close", "open", false)))
        goto out;
    survey_transition(r, cur, "close", "status = 'closed', closed_at = now(), closed_by = $1::uuid");
out:
    PQclear(cur);
    return r->status;
}
