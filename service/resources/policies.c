/* The contact-cadence policy: one row per tier (contact, visit and record
 * review intervals in months, and how many days before a due date a
 * customer shows as due_soon). Same layout as customers.c: field specs,
 * SQL, helpers, handlers. The policy is one document with one version: a
 * PUT replaces all four tiers at once. */
#include "resources/policies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "resources/audit.h"
#include "resources/cadence.h"
#include "resources/render.h"
#include "validate/validate.h"

/* ---- field specs ---- */

static const char *const TIERS[] = {"vip", "key", "general", "reserve", NULL};
#define TIER_COUNT 4

#define W_MANAGER (ROLE_SALES_MANAGER | ROLE_ADMIN)

/* One entry of "tiers"; every field must be present (null = no requirement). */
static const struct field_spec tier_fields[] = {
    {"tier", "tier", FT_ENUM, 0, TIERS, W_MANAGER, FF_REQUIRED},
    {"contact_interval_months", "contact_interval_months", FT_POS_INT, 60, NULL, W_MANAGER, 0},
    {"visit_interval_months", "visit_interval_months", FT_POS_INT, 60, NULL, W_MANAGER, 0},
    {"review_interval_months", "review_interval_months", FT_POS_INT, 60, NULL, W_MANAGER, 0},
    {"due_soon_days", "due_soon_days", FT_INT, 90, NULL, W_MANAGER, FF_REQUIRED},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};

/* ---- SQL ---- */

/* One tier of the policy document (alias p); version and updated_* are
 * read after the fields for the envelope. */
#define POLICY_FIELDS(X)                                                                                      \
    X("tier", "p.tier", RK_STRING)                                                                            \
    X("contact_interval_months", "p.contact_interval_months", RK_RAW)                                         \
    X("visit_interval_months", "p.visit_interval_months", RK_RAW)                                             \
    X("review_interval_months", "p.review_interval_months", RK_RAW)                                           \
    X("due_soon_days", "p.due_soon_days", RK_RAW)

static const struct render_col policy_render[] = {POLICY_FIELDS(RENDER_COL)};
#define POLICY_NCOLS ((int)ARRAY_LEN(policy_render))
enum { COL_VERSION = POLICY_NCOLS, COL_UPDATED_AT, COL_UPDATED_BY };

/* Tiers in their fixed order; the envelope takes the highest version and the latest change. */
#define SQL_POLICY_GET                                                                                        \
    "SELECT " POLICY_FIELDS(RENDER_SQL) "max(p.version) OVER (), max(p.updated_at) OVER (), "                \
    "first_value(p.updated_by) OVER (ORDER BY p.updated_at DESC) FROM cadence_policies p "                    \
    "ORDER BY array_position(ARRAY['vip', 'key', 'general', 'reserve'], p.tier)"
/* The whole policy as a JSON object {"tiers": [...]}, for the audit trail. */
#define SQL_POLICY_SNAPSHOT                                                                                   \
    "(SELECT json_build_object('tiers', json_agg(to_jsonb(p) ORDER BY array_position(ARRAY['vip', 'key', "    \
    "'general', 'reserve'], p.tier))) FROM cadence_policies p)"
/* Writers serialise on the vip row (every PUT rewrites all rows with one version). */
#define SQL_POLICY_LOCK                                                                                       \
    "SELECT v.version, " SQL_POLICY_SNAPSHOT " FROM cadence_policies v WHERE v.tier = 'vip' FOR UPDATE OF v"
/* $1 tier, $2..$4 intervals, $5 due_soon_days, $6 actor, $7 new version */
#define SQL_POLICY_SET                                                                                        \
    "UPDATE cadence_policies SET contact_interval_months = $2, visit_interval_months = $3, "                 \
    "review_interval_months = $4, due_soon_days = $5, updated_at = now(), updated_by = $6, version = $7 "     \
    "WHERE tier = $1"

/* ---- helpers ---- */

/* Replies with the policy document read now. */
static int reply_policy(struct request *r, int status)
{
    PGresult *res = db_exec(r, "policy_get", SQL_POLICY_GET, 0, NULL);
    if (!res)
        return r->status;
    struct sbuf doc = {0};
    sbuf_puts(&doc, "{\"tiers\":[");
    for (int i = 0; i < PQntuples(res); i++) {
        if (i)
            sbuf_append(&doc, ",", 1);
        render_row(&doc, res, i, 0, policy_render, POLICY_NCOLS);
    }
    static const struct render_col envelope[] = {
        {"version", 7, RK_RAW}, {"updated_at", 10, RK_TIMESTAMP}, {"updated_by", 10, RK_STRING}};
    sbuf_puts(&doc, "],");
    /* render_row writes a whole object: splice its members into ours. */
    struct sbuf tail = {0};
    render_row(&tail, res, 0, COL_VERSION, envelope, (int)ARRAY_LEN(envelope));
    sbuf_append(&doc, tail.data + 1, tail.len - 1);
    sbuf_free(&tail);
    reply_etag(r, PQgetvalue(res, 0, COL_VERSION));
    bool not_modified = status == 200 && request_etag_matches(r, PQgetvalue(res, 0, COL_VERSION));
    PQclear(res);
    if (not_modified) {
        sbuf_free(&doc);
        return reply_empty(r, 304);
    }
    return reply_json_buf(r, status, &doc);
}

/* Validates the "tiers" array: each of the four tiers exactly once, every
 * field present. Values go to fv[tier index]. Errors name "tiers[i].field". */
static void collect_tiers(struct request *r, struct field_values fv[TIER_COUNT], struct verrs *v)
{
    json_t *tiers = json_object_get(r->json, "tiers");
    const char *key;
    json_t *val;
    json_object_foreach(r->json, key, val)
    {
        if (strcmp(key, "tiers") == 0)
            continue;
        bool ro = strcmp(key, "version") == 0 || strcmp(key, "updated_at") == 0 || strcmp(key, "updated_by") == 0;
        verr_add(v, key, "%s", ro ? "is read-only" : "unknown field");
    }
    if (!json_is_array(tiers) || json_array_size(tiers) != TIER_COUNT) {
        verr_add(v, "tiers", "must be an array with one entry for each of vip, key, general and reserve");
        return;
    }
    size_t i;
    json_array_foreach(tiers, i, val)
    {
        struct field_values one;
        struct verrs ev = {0};
        fields_collect(val, tier_fields, NULL, r->principal.role, true, &one, &ev);
        for (const struct field_spec *s = tier_fields; s->name && json_is_object(val); s++)
            if (!json_object_get(val, s->name) && !(s->flags & FF_REQUIRED))
                verr_add(&ev, s->name, "is required (null for no requirement)");
        bool present;
        const char *tier = field_value(&one, "tier", &present);
        int t = 0;
        while (tier && TIERS[t] && strcmp(TIERS[t], tier) != 0)
            t++;
        if (ev.n == 0 && fv[t].n)
            verr_add(&ev, "tier", "appears more than once");
        for (int e = 0; e < ev.n; e++) {
            char field[64];
            snprintf(field, sizeof field, "tiers[%zu].%.40s", i, ev.e[e].field);
            verr_add(v, field, "%s", ev.e[e].message);
        }
        if (ev.n == 0)
            fv[t] = one;
        else
            field_values_free(&one);
    }
}

/* ---- handlers ---- */

int policies_cadence_get(struct request *r)
{
    return reply_policy(r, 200);
}

int policies_cadence_put(struct request *r)
{
    struct field_values fv[TIER_COUNT] = {0};
    struct verrs v = {0};
    PGresult *cur = NULL, *after = NULL;
    if (!json_is_object(r->json)) {
        verr_add(&v, "(body)", "must be a JSON object");
        problem_validation(r, &v);
        goto out;
    }
    collect_tiers(r, fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    if (!(cur = db_exec(r, "policy_lock", SQL_POLICY_LOCK, 0, NULL)))
        goto out;
    if (request_check_if_match(r, PQgetvalue(cur, 0, 0)) != 0)
        goto out;
    char version[16];
    snprintf(version, sizeof version, "%ld", strtol(PQgetvalue(cur, 0, 0), NULL, 10) + 1);
    for (int t = 0; t < TIER_COUNT; t++) {
        bool present;
        const char *params[] = {TIERS[t],
                                field_value(&fv[t], "contact_interval_months", &present),
                                field_value(&fv[t], "visit_interval_months", &present),
                                field_value(&fv[t], "review_interval_months", &present),
                                field_value(&fv[t], "due_soon_days", &present),
                                r->principal.user_id,
                                version};
        PGresult *res = db_exec(r, "policy_set", SQL_POLICY_SET, 7, params);
        if (!res)
            goto out;
        PQclear(res);
    }
    if (!(after = db_exec(r, "policy_snapshot", "SELECT " SQL_POLICY_SNAPSHOT, 0, NULL)))
        goto out;
    if (audit_record(r, "update", "cadence_policy", "cadence", NULL, PQgetvalue(cur, 0, 1),
                     PQgetvalue(after, 0, 0)) != 0)
        goto out;
    r->on_commit = cadence_policy_invalidate; /* this process's customer documents see it at once */
    reply_policy(r, 200);
out:
    for (int t = 0; t < TIER_COUNT; t++)
        field_values_free(&fv[t]);
    PQclear(cur);
    PQclear(after);
    return r->status;
}
