/* The complaint service-level policy: one row per severity (first response
 * and start of handling, in minutes after receipt; how many minutes before a
 * deadline a leg shows as at_risk). Same layout as policies.c: field specs,
 * SQL, helpers, handlers. The policy is one document with one version: a
 * PUT replaces both severities at once. Deadlines are fixed when a
 * complaint is filed, so a new policy applies to complaints filed (or whose
 * severity or received_at is corrected) after it; the at-risk window
 * applies at once to every read. */
#include "resources/complaints.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "resources/audit.h"
#include "resources/render.h"
#include "validate/validate.h"

/* ---- field specs ---- */

static const char *const SEVERITIES[] = {"urgent", "normal", NULL};
#define SEVERITY_COUNT 2

#define W_MANAGER (ROLE_SALES_MANAGER | ROLE_ADMIN)

/* One entry of "severities"; every field is required. 30 days at most. */
static const struct field_spec severity_fields[] = {
    {"severity", "severity", FT_ENUM, 0, SEVERITIES, W_MANAGER, FF_REQUIRED},
    {"first_response_minutes", "first_response_minutes", FT_POS_INT, 43200, NULL, W_MANAGER, FF_REQUIRED},
    {"start_minutes", "start_minutes", FT_POS_INT, 43200, NULL, W_MANAGER, FF_REQUIRED},
    {"at_risk_minutes", "at_risk_minutes", FT_INT, 10080, NULL, W_MANAGER, FF_REQUIRED},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};

/* ---- SQL ---- */

/* One severity of the policy document (alias p); version and updated_* are
 * read after the fields for the envelope. */
#define SLA_POLICY_FIELDS(X)                                                                                  \
    X("severity", "p.severity", RK_STRING)                                                                    \
    X("first_response_minutes", "p.first_response_minutes", RK_RAW)                                           \
    X("start_minutes", "p.start_minutes", RK_RAW)                                                             \
    X("at_risk_minutes", "p.at_risk_minutes", RK_RAW)

static const struct render_col sla_policy_render[] = {SLA_POLICY_FIELDS(RENDER_COL)};
#define SLA_POLICY_NCOLS ((int)ARRAY_LEN(sla_policy_render))
enum { COL_VERSION = SLA_POLICY_NCOLS, COL_UPDATED_AT, COL_UPDATED_BY };

#define SQL_SLA_POLICY_ORDER "array_position(ARRAY['urgent', 'normal'], p.severity)"
/* Severities in their fixed order; the envelope takes the highest version and the latest change. */
#define SQL_SLA_POLICY_GET                                                                                    \
    "SELECT " SLA_POLICY_FIELDS(RENDER_SQL) "max(p.version) OVER (), max(p.updated_at) OVER (), "             \
    "first_value(p.updated_by) OVER (ORDER BY p.updated_at DESC) FROM complaint_sla_policies p "              \
    "ORDER BY " SQL_SLA_POLICY_ORDER
/* The whole policy as a JSON object {"severities": [...]}, for the audit trail. */
#define SQL_SLA_POLICY_SNAPSHOT                                                                               \
    "(SELECT json_build_object('severities', json_agg(to_jsonb(p) ORDER BY " SQL_SLA_POLICY_ORDER "))"       \
    " FROM complaint_sla_policies p)"
/* Writers serialise on the urgent row (every PUT rewrites all rows with one version). */
#define SQL_SLA_POLICY_LOCK                                                                                   \
    "SELECT v.version, " SQL_SLA_POLICY_SNAPSHOT " FROM complaint_sla_policies v WHERE v.severity = 'urgent' "  \
    "FOR UPDATE OF v"
/* $1 severity, $2 first response, $3 start, $4 at risk, $5 actor, $6 new version */
#define SQL_SLA_POLICY_SET                                                                                    \
    "UPDATE complaint_sla_policies SET first_response_minutes = $2, start_minutes = $3, at_risk_minutes = $4, " \
    "updated_at = now(), updated_by = $5, version = $6 WHERE severity = $1"

/* ---- helpers ---- */

/* Replies with the policy document read now; a GET (get) answers 304 when
 * If-None-Match names its version. */
static int reply_sla_policy(struct request *r, bool get)
{
    static const struct render_col envelope[] = {
        {"version", 7, RK_RAW}, {"updated_at", 10, RK_TIMESTAMP}, {"updated_by", 10, RK_STRING}};
    PGresult *res = db_exec(r, "cmp_sla_policy_get", SQL_SLA_POLICY_GET, 0, NULL);
    if (!res)
        return r->status;
    const char *version = PQgetvalue(res, 0, COL_VERSION);
    reply_etag(r, version);
    if (get && request_etag_matches(r, version)) {
        PQclear(res);
        return reply_empty(r, 304);
    }
    struct sbuf doc = {0}, tail = {0};
    sbuf_puts(&doc, "{\"severities\":[");
    for (int i = 0; i < PQntuples(res); i++) {
        if (i)
            sbuf_puts(&doc, ",");
        render_row(&doc, res, i, 0, sla_policy_render, SLA_POLICY_NCOLS);
    }
    sbuf_puts(&doc, "],");
    /* render_row writes a whole object: splice its members into ours. */
    render_row(&tail, res, 0, COL_VERSION, envelope, (int)ARRAY_LEN(envelope));
    sbuf_append(&doc, tail.data + 1, tail.len - 1);
    sbuf_free(&tail);
    PQclear(res);
    return reply_json_buf(r, 200, &doc);
}

/* Validates the "severities" array: each severity exactly once, every
 * field present. Values go to fv[severity index]. Errors name
 * "severities[i].field". */
static void collect_severities(struct request *r, struct field_values fv[SEVERITY_COUNT], struct verrs *v)
{
    json_t *list = json_object_get(r->json, "severities");
    const char *key;
    json_t *val;
    json_object_foreach(r->json, key, val)
    {
        if (strcmp(key, "severities") == 0)
            continue;
        bool ro = strcmp(key, "version") == 0 || strcmp(key, "updated_at") == 0 || strcmp(key, "updated_by") == 0;
        verr_add(v, key, "%s", ro ? "is read-only" : "unknown field");
    }
    if (!json_is_array(list) || json_array_size(list) != SEVERITY_COUNT) {
        verr_add(v, "severities", "must be an array with one entry for each of urgent and normal");
        return;
    }
    size_t i;
    json_array_foreach(list, i, val)
    {
        struct field_values one;
        struct verrs ev = {0};
        fields_collect(val, severity_fields, NULL, r->principal.role, true, &one, &ev);
        bool present;
        const char *severity = field_value(&one, "severity", &present);
        int s = severity && strcmp(severity, "urgent") == 0 ? 0 : 1;
        if (ev.n == 0 && fv[s].n)
            verr_add(&ev, "severity", "appears more than once");
        for (int e = 0; e < ev.n; e++) {
            char field[64];
            snprintf(field, sizeof field, "severities[%zu].%.40s", i, ev.e[e].field);
            verr_add(v, field, "%s", ev.e[e].message);
        }
        if (ev.n == 0)
            fv[s] = one;
        else
            field_values_free(&one);
    }
}

/* ---- handlers ---- */

int policies_complaint_sla_get(struct request *r)
{
    return reply_sla_policy(r, true);
}

int policies_complaint_sla_put(struct request *r)
{
    struct field_values fv[SEVERITY_COUNT] = {0};
    struct verrs v = {0};
    PGresult *cur = NULL, *after = NULL;
    if (!json_is_object(r->json)) {
        verr_add(&v, "(body)", "must be a JSON object");
        problem_validation(r, &v);
        goto out;
    }
    collect_severities(r, fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(cur = db_exec(r, "cmp_sla_policy_lock", SQL_SLA_POLICY_LOCK, 0, NULL)))
        goto out;
    if (request_check_if_match(r, PQgetvalue(cur, 0, 0)) != 0)
        goto out;
    char version[16];
    snprintf(version, sizeof version, "%ld", strtol(PQgetvalue(cur, 0, 0), NULL, 10) + 1);
    for (int s = 0; s < SEVERITY_COUNT; s++) {
        bool present;
        const char *params[] = {SEVERITIES[s],
                                field_value(&fv[s], "first_response_minutes", &present),
                                field_value(&fv[s], "start_minutes", &present),
                                field_value(&fv[s], "at_risk_minutes", &present),
                                r->principal.user_id,
                                version};
        PGresult *res = db_exec(r, "cmp_sla_policy_set", SQL_SLA_POLICY_SET, 6, params);
        if (!res)
            goto out;
        PQclear(res);
    }
    if (!(after = db_exec(r, "cmp_sla_policy_snapshot", "SELECT " SQL_SLA_POLICY_SNAPSHOT, 0, NULL)))
        goto out;
    if (audit_record(r, "update", "sla_policy", "complaint", NULL, PQgetvalue(cur, 0, 1), PQgetvalue(after, 0, 0)) !=
        0)
        goto out;
    reply_sla_policy(r, false);
out:
    for (int s = 0; s < SEVERITY_COUNT; s++)
        field_values_free(&fv[s]);
    PQclear(cur);
    PQclear(after);
    return r->status;
}
