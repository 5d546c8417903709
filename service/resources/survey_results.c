/* Survey figures: the results of one campaign and the coverage report.
 * Layout shared by every resource file: query parameters, SQL, helpers,
 * handlers. Both are read-only and scoped like customers: a sales rep's
 * figures count only the customers they own today.
 *
 * Results of a campaign, over its targets (resolved when it opened):
 *   targeted, responded, response_rate = responded / targeted (4 decimals);
 *   the mean of each 1-5 dimension (2 decimals) over the responses;
 *   nps = % promoters (9-10) - % detractors (0-6) of the responses, one
 *   decimal (crm_nps in 0007_surveys.sql), with the three counts;
 * overall, by tier and by owner (the customer's tier and owner when the
 * campaign opened: the campaign as it was run), and against the previous
 * closed campaign: the one closed last before this one closed (before now
 * while this one is not closed), not archived, with the same scope;
 * change = this figure - that one (null where either is null). */
#include "resources/surveys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "resources/customers.h"
#include "resources/listing.h"
#include "resources/record.h"
#include "resources/render.h"
#include "validate/period.h"
#include "validate/validate.h"

/* ---- query parameters ---- */

static const char *const COVERAGE_TIERS[] = {"vip", "key", "general", "reserve", NULL};
/* Coverage filters (mask bits 1..2). */
static const struct list_filter coverage_filters[] = {
    {"owner_id", "c.owner_id = $%d::uuid", LIST_UUID, NULL},
    {"tier", "coalesce(c.tier_override, c.tier) = $%d", LIST_CHOICE, COVERAGE_TIERS},
};

/* ---- SQL ---- */

/* The figures of a set of targets t with their responses sr (LEFT JOIN):
 * key, SQL aggregate, rendering. */
#define FIGURE_FIELDS(X)                                                                                      \
    X("targeted", "count(t.customer_id)", RK_RAW)                                                             \
    X("responded", "count(sr.id)", RK_RAW)                                                                    \
    X("response_rate", "round(count(sr.id)::numeric / nullif(count(t.customer_id), 0), 4)", RK_RAW)          \
    X("product_quality", "round(avg(sr.product_quality), 2)", RK_RAW)                                         \
    X("service", "round(avg(sr.service), 2)", RK_RAW)                                                         \
    X("delivery", "round(avg(sr.delivery), 2)", RK_RAW)                                                       \
    X("overall", "round(avg(sr.overall), 2)", RK_RAW)                                                         \
    X("nps",                                                                                                  \
      "crm_nps(count(*) FILTER (WHERE sr.nps >= 9), count(*) FILTER (WHERE sr.nps <= 6), count(sr.id))",     \
      RK_RAW)                                                                                                 \
    X("promoters", "count(*) FILTER (WHERE sr.nps >= 9)", RK_RAW)                                             \
    X("passives", "count(*) FILTER (WHERE sr.nps BETWEEN 7 AND 8)", RK_RAW)                                   \
    X("detractors", "count(*) FILTER (WHERE sr.nps <= 6)", RK_RAW)
/* Each aggregate named by its key, so SQL_RESULTS_PREVIOUS can refer to it. */
#define FIGURE_SQL(key, expr, kind) expr " AS " key ", "
#define FIGURE_SELECT FIGURE_FIELDS(FIGURE_SQL)
static const struct render_col figure_render[] = {FIGURE_FIELDS(RENDER_COL)};
#define FIGURE_NCOLS ((int)ARRAY_LEN(figure_render))
/* The figures that have a change against the previous campaign, and their
 * columns among the figures. */
static const struct render_col change_render[] = {
    {"response_rate", 13, RK_RAW}, {"product_quality", 15, RK_RAW}, {"service", 7, RK_RAW},
    {"delivery", 8, RK_RAW},       {"overall", 7, RK_RAW},          {"nps", 3, RK_RAW},
};
#define CHANGE_NCOLS ((int)ARRAY_LEN(change_render))
#define CHANGE_FIRST 2 /* response_rate; the others follow it in this order */

/* Group rows: a key column (tier / owner id), then the figures. */
static const struct render_col tier_render[] = {{"tier", 4, RK_STRING}, FIGURE_FIELDS(RENDER_COL)};
static const struct render_col owner_render[] = {{"owner_id", 8, RK_STRING}, FIGURE_FIELDS(RENDER_COL)};

/* The targets of a campaign in the caller's scope ($2, NULL = all) with
 * their responses. */
#define TARGETS_IN_SCOPE                                                                                      \
    "survey_targets t JOIN customers c ON c.id = t.customer_id AND ($2::uuid IS NULL OR c.owner_id = $2) "    \
    "LEFT JOIN survey_responses sr ON sr.survey_id = t.survey_id AND sr.customer_id = t.customer_id"

/* $1 campaign, $2 scope: rows (group 0 overall, 1 tier, 2 owner; key; the
 * figures), the overall row first (the empty grouping set always yields
 * it), tiers from vip down, owners by id. */
enum { GROUP_KIND, GROUP_KEY, GROUP_FIGURES };
#define SQL_RESULTS                                                                                           \
    "SELECT CASE grouping(t.tier, t.owner_id) WHEN 3 THEN 0 WHEN 1 THEN 1 ELSE 2 END, "                      \
    "coalesce(t.tier, t.owner_id::text), " FIGURE_SELECT "1 FROM " TARGETS_IN_SCOPE                           \
    " WHERE t.survey_id = $1::uuid GROUP BY GROUPING SETS ((), (t.tier), (t.owner_id)) "                     \
    "ORDER BY 1, array_position(ARRAY['vip', 'key', 'general', 'reserve'], t.tier), t.owner_id"
/* The campaign ($1) as the caller ($2 drafts visible) sees it. */
#define SQL_RESULTS_SURVEY                                                                                    \
    "SELECT s.id, s.title, s.status, s.period_from, s.period_to FROM surveys s "                              \
    "WHERE s.id = $1::uuid AND ($2::boolean OR s.status <> 'draft')"
static const struct render_col results_head[] = {{"survey_id", 9, RK_STRING}, {"title", 5, RK_STRING},
                                                 {"status", 6, RK_STRING},    {"period_from", 11, RK_STRING},
                                                 {"period_to", 9, RK_STRING}};
/* The previous closed campaign of $1 and its overall figures in scope $2,
 * then the change of each of this campaign's figures ($3..$8: response
 * rate, the four means, nps) against it. No row without one. */
enum { PREV_ID, PREV_TITLE, PREV_CLOSED, PREV_FIGURES, PREV_CHANGE = PREV_FIGURES + 11 + 1 /* figures, 1 */ };
static const struct render_col prev_head[] = {
    {"survey_id", 9, RK_STRING}, {"title", 5, RK_STRING}, {"closed_at", 9, RK_TIMESTAMP}};
#define SQL_RESULTS_PREVIOUS                                                                                  \
    "SELECT p.*, round($3::numeric - p.response_rate, 4), $4::numeric - p.product_quality, "                 \
    "$5::numeric - p.service, $6::numeric - p.delivery, $7::numeric - p.overall, $8::numeric - p.nps "       \
    "FROM (SELECT pv.id, pv.title, pv.closed_at, " FIGURE_SELECT "1 FROM (SELECT ps.id, ps.title, ps.closed_at " \
    "FROM surveys ps, surveys s WHERE s.id = $1::uuid AND ps.status = 'closed' AND ps.archived_at IS NULL "  \
    "AND ps.id <> s.id AND ps.closed_at < coalesce(s.closed_at, now()) "                                     \
    "ORDER BY ps.closed_at DESC, ps.id DESC "                                                                 \
    "LIMIT 1) pv LEFT JOIN (" TARGETS_IN_SCOPE ") ON t.survey_id = pv.id "                                    \
    "GROUP BY pv.id, pv.title, pv.closed_at) p"

/* Coverage: customers (live, not lost, created by the reference date) with
 * no response in the six months that end on the reference date ($1): the
 * dates after $1 - 6 months up to $1, in business time. */
#define COVERAGE_FIELDS(X)                                                                                    \
    X("customer_id", "c.id", RK_STRING)                                                                       \
    X("customer_name", "c.name", RK_STRING)                                                                   \
    X("owner_id", "c.owner_id", RK_STRING)                                                                    \
    X("tier", "coalesce(c.tier_override, c.tier)", RK_STRING)                                                 \
    X("last_surveyed_at",                                                                                     \
      "(SELECT max(sr.responded_at) FROM survey_responses sr WHERE sr.customer_id = c.id "                    \
      "AND sr.responded_at < w.hi)",                                                                          \
      RK_TIMESTAMP)                                                                                           \
    X("window_from", "w.lo_date", RK_STRING)                                                                  \
    X("window_to", "w.ref", RK_STRING)
static const struct render_col coverage_render[] = {COVERAGE_FIELDS(RENDER_COL)};
#define COVERAGE_NCOLS ((int)ARRAY_LEN(coverage_render))
/* $1 the last day of the year: the window ends on it or today, whichever is earlier. */
#define SQL_COVERAGE                                                                                          \
    "SELECT " COVERAGE_FIELDS(RENDER_SQL) "c.name, c.id FROM customers c CROSS JOIN (SELECT ref, "            \
    "(ref - interval '6 months')::date + 1 AS lo_date, "                                                      \
    "((ref - interval '6 months')::date + 1)::timestamp AT TIME ZONE crm_tz() AS lo, "                       \
    "(ref + 1)::timestamp AT TIME ZONE crm_tz() AS hi "                                                       \
    "FROM (SELECT least($1::date, crm_today()) AS ref OFFSET 0) d OFFSET 0) w "                               \
    "WHERE c.archived_at IS NULL AND c.status <> 'lost' AND crm_local_date(c.created_at) <= w.ref "          \
    "AND NOT EXISTS (SELECT 1 FROM survey_responses sr WHERE sr.customer_id = c.id "                          \
    "AND sr.responded_at >= w.lo AND sr.responded_at < w.hi)"
#define COVERAGE_KEYSET "(c.name, c.id) > ($%d, $%d::uuid)"

/* ---- handlers ---- */

/* Continues the object render_row just closed (drops its closing brace). */
static void object_continue(struct sbuf *b)
{
    b->data[--b->len] = '\0';
}

int surveys_results(struct request *r)
{
    struct sbuf out = {0};
    PGresult *survey = NULL, *res = NULL, *prev = NULL;
    const char *id = request_param(r, 0);
    const char *params[8] = {id, survey_drafts_visible(r)};
    if (!(survey = record_fetch(r, id, "sres_survey", SQL_RESULTS_SURVEY, 2, params)))
        goto out;
    params[1] = customer_scope_owner(r);
    if (!(res = db_exec(r, "sres_figures", SQL_RESULTS, 2, params)))
        goto out;
    if (PQntuples(res) < 1 || strcmp(PQgetvalue(res, 0, GROUP_KIND), "0") != 0) {
        problem_send(r, 500, NULL);
        goto out;
    }
    for (int i = 0; i < CHANGE_NCOLS; i++) {
        int col = GROUP_FIGURES + CHANGE_FIRST + i;
        params[2 + i] = PQgetisnull(res, 0, col) ? NULL : PQgetvalue(res, 0, col);
    }
    if (!(prev = db_exec(r, "sres_previous", SQL_RESULTS_PREVIOUS, 8, params)))
        goto out;

    render_row(&out, survey, 0, 0, results_head, (int)ARRAY_LEN(results_head));
    object_continue(&out);
    sbuf_puts(&out, ",\"overall\":");
    render_row(&out, res, 0, GROUP_FIGURES, figure_render, FIGURE_NCOLS);
    static const char *const groups[] = {NULL, "by_tier", "by_owner"};
    for (int g = 1; g <= 2; g++) {
        sbuf_printf(&out, ",\"%s\":[", groups[g]);
        int n = 0;
        for (int i = 1; i < PQntuples(res); i++) {
            if (atoi(PQgetvalue(res, i, GROUP_KIND)) != g)
                continue;
            if (n++)
                sbuf_puts(&out, ",");
            render_row(&out, res, i, GROUP_KEY, g == 1 ? tier_render : owner_render, FIGURE_NCOLS + 1);
        }
        sbuf_puts(&out, "]");
    }
    if (PQntuples(prev) == 1) {
        sbuf_puts(&out, ",\"previous\":");
        render_row(&out, prev, 0, PREV_ID, prev_head, (int)ARRAY_LEN(prev_head));
        object_continue(&out);
        sbuf_puts(&out, ",\"figures\":");
        render_row(&out, prev, 0, PREV_FIGURES, figure_render, FIGURE_NCOLS);
        sbuf_puts(&out, "},\"change\":");
        render_row(&out, prev, 0, PREV_CHANGE, change_render, CHANGE_NCOLS);
    } else {
        sbuf_puts(&out, ",\"previous\":null,\"change\":null");
    }
    sbuf_puts(&out, "}");
    reply_json_buf(r, 200, &out);
out:
    PQclear(survey);
    PQclear(res);
    PQclear(prev);
    sbuf_free(&out);
    return r->status;
}

/* Customers not surveyed in the six months up to the reference date: the
 * end of the year, or the business-time today when that is earlier.
 * Sorted by name (then id). */
int reports_survey_coverage(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    struct period year;
    PGresult *res = NULL;
    char name[48], last_day[16];
    unsigned mask = 0;

    const char *text = request_query(r, "year");
    if (!text || strlen(text) != 4 || period_parse(text, &year) != 0) {
        problem_send(r, 400, "year is required: a year such as 2026");
        goto out;
    }
    snprintf(last_day, sizeof last_day, "%.4s-12-31", year.from);
    if (list_page_init_sorted(r, &page, "survey-coverage", text, 2) != 0)
        goto out;
    sqlb_bind(&b, last_day);
    sbuf_puts(&b.sql, SQL_COVERAGE);
    if (principal_scoped(&r->principal)) {
        sbuf_printf(&b.sql, " AND c.owner_id = $%d::uuid", sqlb_bind(&b, r->principal.user_id));
        mask |= 1u << 0;
    }
    if (list_filters_apply(r, coverage_filters, ARRAY_LEN(coverage_filters), &b, &mask, 1) != 0 ||
        list_keyset_apply(r, &page, COVERAGE_KEYSET, NULL, &b, &mask, 10) != 0)
        goto out;
    sbuf_printf(&b.sql, " ORDER BY c.name, c.id LIMIT $%d::integer", sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "scov_list_%x", mask);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    list_page_reply_rendered(r, &page, res, coverage_render, COVERAGE_NCOLS, 2);
out:
    PQclear(res);
    list_page_free(&page);
    sbuf_free(&b.sql);
    return r->status;
}
