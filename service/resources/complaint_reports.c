/* The complaint reports: the figures of a period (GET /v1/reports/complaints)
 * and the office's worklist of complaints at risk or in breach (GET
 * /v1/reports/complaints/at-risk). Same layout as reports.c: query
 * parameters, SQL, helpers, handlers. Both are read-only and scoped like
 * complaints: a sales rep sees the complaints of the customers they own and
 * those assigned to them. The leg statuses are exactly the complaint
 * document's (COMPLAINT_*_STATUS, crm_sla_status of migration 0005). */
#include "resources/complaints.h"

#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "resources/listing.h"
#include "resources/render.h"
#include "validate/validate.h"

/* ---- query parameters ---- */

/* group_by=: the group key (text) and the active-customer count each group
 * is rated against (a.n: the caller's active customers; per owner: the
 * owner's, as far as the caller may see them). Constant fragments, the
 * only text printed into the statement. */
static const struct complaint_grouping {
    const char *name;
    const char *key;
    const char *label;
    const char *active;
} groupings[] = {
    {"category", "cm.category", "g.key", "a.n"},
    {"root_cause", "cm.root_cause", "g.key", "a.n"},
    {"severity", "cm.severity", "g.key", "a.n"},
    {"owner", "c.owner_id::text", "(SELECT u.display_name FROM users u WHERE u.id = g.key::uuid)",
     "CASE WHEN g.overall THEN a.n ELSE coalesce((SELECT ao.n FROM ao WHERE ao.owner_id = g.key::uuid), 0) END"},
};
static const struct complaint_grouping no_grouping = {NULL, "NULL::text", "NULL::text", "a.n"};

/* ---- SQL ---- */

/* The figures of one group (alias g, the active count a_n). Hours are
 * decimal hours from received_at, rounded to 0.01; rates to 0.0001. */
#define FIGURES(X)                                                                                            \
    X("complaints", "g.complaints", RK_RAW)                                                                   \
    X("open", "g.open", RK_RAW)                                                                               \
    X("active_customers", "g.active", RK_RAW)                                                                 \
    X("rate_per_100_active_customers", "round(g.complaints * 100.0 / nullif(g.active, 0), 2)", RK_RAW)        \
    X("mean_hours_to_first_response", "round(g.mean_first, 2)", RK_RAW)                                       \
    X("p90_hours_to_first_response", "round(g.p90_first, 2)", RK_RAW)                                         \
    X("mean_hours_to_resolution", "round(g.mean_res, 2)", RK_RAW)                                             \
    X("p90_hours_to_resolution", "round(g.p90_res, 2)", RK_RAW)                                               \
    X("first_response_met", "g.fr_met", RK_RAW)                                                               \
    X("first_response_breached", "g.fr_breached", RK_RAW)                                                     \
    X("first_response_pending", "g.complaints - g.fr_met - g.fr_breached", RK_RAW)                            \
    X("first_response_compliance", "round(g.fr_met::numeric / nullif(g.fr_met + g.fr_breached, 0), 4)", RK_RAW) \
    X("start_met", "g.st_met", RK_RAW)                                                                        \
    X("start_breached", "g.st_breached", RK_RAW)                                                              \
    X("start_pending", "g.complaints - g.st_met - g.st_breached", RK_RAW)                                     \
    X("start_compliance", "round(g.st_met::numeric / nullif(g.st_met + g.st_breached, 0), 4)", RK_RAW)        \
    X("resolution_met", "g.res_met", RK_RAW)                                                                  \
    X("resolution_breached", "g.res_breached", RK_RAW)                                                        \
    X("resolution_pending", "g.complaints - g.res_met - g.res_breached", RK_RAW)                              \
    X("resolution_compliance", "round(g.res_met::numeric / nullif(g.res_met + g.res_breached, 0), 4)", RK_RAW) \
    X("repeat_complaints", "g.repeats", RK_RAW)                                                               \
    X("mean_satisfaction", "round(g.satisfaction, 2)", RK_RAW)                                                \
    X("refund_total", "g.refund_total::text", RK_STRING)
#define GROUP_FIELDS(X)                                                                                       \
    X("key", "g.key", RK_STRING)                                                                              \
    X("label", "g.label", RK_STRING)                                                                          \
    FIGURES(X)

static const struct render_col figures_render[] = {FIGURES(RENDER_COL)};
static const struct render_col group_render[] = {GROUP_FIELDS(RENDER_COL)};
#define FIGURES_NCOLS ((int)ARRAY_LEN(figures_render))
#define GROUP_NCOLS ((int)ARRAY_LEN(group_render))
/* key and label come first; after the fields: overall?, the time zone. */
enum { GROUP_FIRST_FIGURE = 2, GROUP_OVERALL = GROUP_NCOLS, GROUP_TZ };

/* The complaints received within [$1, $2] (business-time dates), not
 * archived, one row each with its leg statuses and whether it repeats an
 * earlier complaint of the same customer with the same root cause received
 * within the 90 days before it. printf: the group key expression. */
#define SQL_REPORT_ROWS                                                                                       \
    "WITH k AS (SELECT %s AS key, cm.status, cm.satisfaction, cm.refund_amount, "                             \
    "extract(epoch FROM cm.first_response_at - cm.received_at) / 3600 AS h_first, "                           \
    "extract(epoch FROM cm.resolved_at - cm.received_at) / 3600 AS h_res, "                                   \
    COMPLAINT_FIRST_RESPONSE_STATUS " AS s_fr, " COMPLAINT_START_STATUS " AS s_st, "                          \
    COMPLAINT_RESOLUTION_STATUS " AS s_res, "                                                                 \
    "cm.root_cause IS NOT NULL AND EXISTS (SELECT 1 FROM complaints o WHERE o.customer_id = cm.customer_id "  \
    "AND o.root_cause = cm.root_cause AND o.archived_at IS NULL AND (o.received_at, o.id) < (cm.received_at, cm.id) " \
    "AND o.received_at >= cm.received_at - interval '90 days') AS repeat "                                    \
    "FROM " COMPLAINT_FROM " WHERE cm.archived_at IS NULL "                                                   \
    "AND cm.received_at >= ($1::date::timestamp AT TIME ZONE crm_tz()) "                                      \
    "AND cm.received_at < (($2::date + 1)::timestamp AT TIME ZONE crm_tz())"
/* The aggregates per group and overall (grouping sets). */
#define SQL_REPORT_GROUPS                                                                                     \
    "), g0 AS (SELECT k.key, grouping(k.key) = 1 AS overall, count(*) AS complaints, "                        \
    "count(*) FILTER (WHERE k.status NOT IN ('resolved', 'closed')) AS open, "                                \
    "avg(k.h_first) AS mean_first, percentile_cont(0.9) WITHIN GROUP (ORDER BY k.h_first)::numeric AS p90_first, " \
    "avg(k.h_res) AS mean_res, percentile_cont(0.9) WITHIN GROUP (ORDER BY k.h_res)::numeric AS p90_res, "   \
    "count(*) FILTER (WHERE k.s_fr = 'met') AS fr_met, count(*) FILTER (WHERE k.s_fr = 'breached') AS fr_breached, " \
    "count(*) FILTER (WHERE k.s_st = 'met') AS st_met, count(*) FILTER (WHERE k.s_st = 'breached') AS st_breached, " \
    "count(*) FILTER (WHERE k.s_res = 'met') AS res_met, "                                                    \
    "count(*) FILTER (WHERE k.s_res = 'breached') AS res_breached, "                                          \
    "count(*) FILTER (WHERE k.repeat) AS repeats, avg(k.satisfaction) AS satisfaction, "                      \
    "coalesce(sum(k.refund_amount), 0)::numeric(16, 2) AS refund_total FROM k "
/* The caller's active customers (a.n) and per owner (ao: only those the
 * caller may see, so a rep assigned another rep's complaint learns nothing
 * of that rep's portfolio); printf: the scope condition, twice. */
#define SQL_REPORT_ACTIVE                                                                                     \
    "), a AS (SELECT count(*) AS n FROM customers c WHERE c.status = 'active' AND c.archived_at IS NULL%s), "  \
    "ao AS (SELECT c.owner_id, count(*) AS n FROM customers c WHERE c.status = 'active' "                     \
    "AND c.archived_at IS NULL%s GROUP BY c.owner_id) "

/* One worklist item (alias w: an open complaint with its next deadline). */
#define AT_RISK_FIELDS(X)                                                                                     \
    X("complaint_id", "w.id", RK_STRING)                                                                      \
    X("customer_id", "w.customer_id", RK_STRING)                                                              \
    X("customer_name", "w.customer_name", RK_STRING)                                                          \
    X("owner_id", "w.owner_id", RK_STRING)                                                                    \
    X("severity", "w.severity", RK_STRING)                                                                    \
    X("category", "w.category", RK_STRING)                                                                    \
    X("status", "w.status", RK_STRING)                                                                        \
    X("assignee_id", "w.assignee_id", RK_STRING)                                                              \
    X("received_at", "w.received_at", RK_TIMESTAMP)                                                           \
    X("next_leg", "w.next_leg", RK_STRING)                                                                    \
    X("next_due", "w.next_due", RK_TIMESTAMP)                                                                 \
    X("minutes_to_due", "floor(extract(epoch FROM w.next_due - now()) / 60)::bigint", RK_RAW)                 \
    X("sla_state", "CASE WHEN w.next_due < now() THEN 'breached' ELSE 'at_risk' END", RK_STRING)

static const struct render_col at_risk_render[] = {AT_RISK_FIELDS(RENDER_COL)};
#define AT_RISK_NCOLS ((int)ARRAY_LEN(at_risk_render))
/* Open complaints whose next deadline lies within the severity's at-risk
 * window or has passed; cursor keys (next due, id) follow the fields. */
#define SQL_AT_RISK                                                                                           \
    "SELECT " AT_RISK_FIELDS(RENDER_SQL) LIST_CURSOR_TS("w.next_due") ", w.id FROM (SELECT cm.id, "           \
    "cm.customer_id, c.name AS customer_name, c.owner_id, cm.severity, cm.category, cm.status, cm.assignee_id, " \
    "cm.received_at, " COMPLAINT_NEXT_DUE " AS next_due, CASE "                                               \
    "WHEN cm.first_response_at IS NULL AND cm.first_response_due = " COMPLAINT_NEXT_DUE " THEN 'first_response' " \
    "WHEN cm.started_at IS NULL AND cm.start_due = " COMPLAINT_NEXT_DUE " THEN 'start' "                      \
    "ELSE 'resolution' END AS next_leg FROM " COMPLAINT_FROM " WHERE " COMPLAINT_OPEN " AND "                 \
    COMPLAINT_NEXT_DUE " <= now() + make_interval(mins => p.at_risk_minutes)"

/* ---- helpers ---- */

/* The report's from / to: business-time dates, from <= to. 0, or -1 after answering 400. */
static int query_dates(struct request *r, const char **from, const char **to)
{
    *from = request_query(r, "from");
    *to = request_query(r, "to");
    if (!*from || !*to || !valid_date(*from) || !valid_date(*to) || strcmp(*from, *to) > 0) {
        problem_send(r, 400, "from and to are required: dates YYYY-MM-DD (business time zone, both included), "
                             "from not after to");
        return -1;
    }
    return 0;
}

/* ---- handlers ---- */

int reports_complaints(struct request *r)
{
    struct sqlb b = {0};
    struct sbuf out = {0};
    PGresult *res = NULL;
    const char *from, *to;
    char name[48];

    if (query_dates(r, &from, &to) != 0)
        goto out;
    const char *group_by = request_query(r, "group_by");
    const struct complaint_grouping *g = &no_grouping;
    if (group_by) {
        size_t i = 0;
        while (i < ARRAY_LEN(groupings) && strcmp(groupings[i].name, group_by) != 0)
            i++;
        if (i == ARRAY_LEN(groupings)) {
            problem_send(r, 400, "group_by must be one of category, root_cause, owner, severity");
            goto out;
        }
        g = &groupings[i];
    }
    sqlb_bind(&b, from); /* $1 */
    sqlb_bind(&b, to);   /* $2 */
    char scope[64] = "";
    sbuf_printf(&b.sql, SQL_REPORT_ROWS, g->key);
    if (principal_scoped(&r->principal)) {
        int p = sqlb_bind(&b, r->principal.user_id);
        sbuf_printf(&b.sql, " AND " COMPLAINT_VISIBLE("%d"), p, p, p);
        snprintf(scope, sizeof scope, " AND c.owner_id = $%d::uuid", p);
    }
    sbuf_puts(&b.sql, SQL_REPORT_GROUPS);
    sbuf_puts(&b.sql, "GROUP BY GROUPING SETS ((), (k.key))");
    sbuf_printf(&b.sql, SQL_REPORT_ACTIVE, scope, scope);
    sbuf_printf(&b.sql,
                "SELECT " GROUP_FIELDS(RENDER_SQL) "g.overall, crm_tz() FROM (SELECT g.*, %s AS label, %s AS active "
                "FROM g0 AS g, a) g%s ORDER BY g.overall DESC, g.key",
                g->label, g->active, g->name ? "" : " WHERE g.overall");
    snprintf(name, sizeof name, "cmp_report_%s_%d", g->name ? g->name : "all", scope[0] != 0);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    /* The grouping set () yields the overall row even over no complaints. */
    int rows = PQntuples(res);
    if (rows < 1) {
        problem_send(r, 500, NULL);
        goto out;
    }
    sbuf_printf(&out, "{\"from\":\"%s\",\"to\":\"%s\",\"timezone\":", from, to);
    sbuf_json_string(&out, PQgetvalue(res, 0, GROUP_TZ), (size_t)PQgetlength(res, 0, GROUP_TZ));
    sbuf_puts(&out, ",\"group_by\":");
    if (g->name)
        sbuf_printf(&out, "\"%s\"", g->name);
    else
        sbuf_puts(&out, "null");
    sbuf_puts(&out, ",\"overall\":");
    render_row(&out, res, 0, GROUP_FIRST_FIGURE, figures_render, FIGURES_NCOLS);
    sbuf_puts(&out, ",\"groups\":[");
    for (int i = 1; i < rows; i++) {
        if (i > 1)
            sbuf_puts(&out, ",");
        render_row(&out, res, i, 0, group_render, GROUP_NCOLS);
    }
    sbuf_puts(&out, "]}");
    reply_json_buf(r, 200, &out);
out:
    PQclear(res);
    sbuf_free(&out);
    sbuf_free(&b.sql);
    return r->status;
}

/* Exact-match filters of the worklist (mask bits 1..2). */
static const char *const SEVERITIES[] = {"urgent", "normal", NULL};
static const struct list_filter at_risk_filters[] = {
    {"severity", "cm.severity = $%d", LIST_CHOICE, SEVERITIES},
    {"assignee_id", "cm.assignee_id = $%d::uuid", LIST_UUID, NULL},
};

int reports_complaints_at_risk(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    PGresult *res = NULL;
    char name[48];
    unsigned mask = 0;

    if (list_page_init_sorted(r, &page, "complaints-at-risk", "next_due", 2) != 0)
        goto out;
    sbuf_puts(&b.sql, SQL_AT_RISK);
    if (principal_scoped(&r->principal)) {
        int p = sqlb_bind(&b, r->principal.user_id);
        sbuf_printf(&b.sql, " AND " COMPLAINT_VISIBLE("%d"), p, p, p);
        mask |= 1u << 0;
    }
    if (list_filters_apply(r, at_risk_filters, ARRAY_LEN(at_risk_filters), &b, &mask, 1) != 0)
        goto out;
    sbuf_puts(&b.sql, ") w WHERE true");
    if (list_keyset_apply(r, &page, "(w.next_due, w.id) > ($%d::timestamptz, $%d::uuid)", valid_timestamp, &b, &mask,
                          3) != 0)
        goto out;
    sbuf_printf(&b.sql, " ORDER BY w.next_due, w.id LIMIT $%d::integer", sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "cmp_at_risk_%x", mask);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    list_page_reply_rendered(r, &page, res, at_risk_render, AT_RISK_NCOLS, 2);
out:
    PQclear(res);
    list_page_free(&page);
    sbuf_free(&b.sql);
    return r->status;
}
