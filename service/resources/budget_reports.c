/* Budget reports: utilisation and cost-benefit. Layout shared by every
 * resource file: query parameters (the reports' "field specs"), SQL,
 * helpers, handlers. Both answer {year, group_by, total, items} with money
 * as exact decimal strings and ratios as decimal strings rounded to 4
 * places, each figure computed by PostgreSQL in numeric (never floats).
 *
 * Scoping: a sales rep's utilisation covers the expenses they claimed and
 * the budgets they own (team-wide budgets are not theirs: their use depends
 * on other reps' claims, which a rep does not see); their cost-benefit
 * covers the customers they own. Everyone else sees the whole company. */
#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "resources/budgets.h"
#include "resources/render.h"

/* ---- query parameters ---- */

/* The group_by values of each report, in the tables below (the first is the default). */

/* ---- SQL ---- */

/* Utilisation figures of one group g (numeric(20,2) sums; budget NULL on
 * month rows: budgets are annual). remaining = budget − approved − paid;
 * share_used = (approved + paid) / budget, NULL without a budget. */
#define UTIL_FIGURES(X)                                                                                       \
    X("budget", "g.budget", RK_STRING)                                                                        \
    X("approved", "g.approved", RK_STRING)                                                                    \
    X("pending", "g.pending", RK_STRING)                                                                      \
    X("paid", "g.paid", RK_STRING)                                                                            \
    X("remaining", "g.budget - g.approved - g.paid", RK_STRING)                                               \
    X("share_used", "CASE WHEN g.budget > 0 THEN round((g.approved + g.paid) / g.budget, 4) END", RK_STRING)
#define UTIL_BY_CATEGORY(X) X("category", "g.k", RK_STRING) UTIL_FIGURES(X)
#define UTIL_BY_OWNER(X)                                                                                      \
    X("owner_id", "g.k", RK_STRING)                                                                           \
    X("owner_name", "u.display_name", RK_STRING)                                                              \
    UTIL_FIGURES(X)
#define UTIL_BY_MONTH(X) X("month", "g.k", RK_STRING) UTIL_FIGURES(X)

static const struct render_col util_figures[] = {UTIL_FIGURES(RENDER_COL)};
static const struct render_col util_by_category[] = {UTIL_BY_CATEGORY(RENDER_COL)};
static const struct render_col util_by_owner[] = {UTIL_BY_OWNER(RENDER_COL)};
static const struct render_col util_by_month[] = {UTIL_BY_MONTH(RENDER_COL)};

/* The owner an expense's spending counts for: the owner of the budget it
 * draws on (budget_id once a manager approved it; else the budget the
 * approval would lock, see expenses.c), NULL for a team-wide budget; the
 * claimant when no budget applies. */
#define UTIL_EXPENSE_OWNER                                                                                    \
    "CASE WHEN bs.id IS NOT NULL THEN bs.owner_id WHEN bl.id IS NOT NULL THEN bl.owner_id "                   \
    "ELSE x.claimant_id END::text"

/* printf arguments: budget key, expense key, whether non-total rows show a
 * budget, the select list, the joins after g, the outer condition, the
 * order. $1 year, $2 scope (a sales rep's id, else NULL). */
#define SQL_UTILISATION                                                                                       \
    "SELECT %s g.total FROM (SELECT s.k, grouping(s.k) = 1 AS total, "                                        \
    "CASE WHEN grouping(s.k) = 1 OR %s THEN coalesce(sum(s.budget), 0)::numeric(20, 2) END AS budget, "       \
    "coalesce(sum(s.approved), 0)::numeric(20, 2) AS approved, "                                              \
    "coalesce(sum(s.pending), 0)::numeric(20, 2) AS pending, "                                                \
    "coalesce(sum(s.paid), 0)::numeric(20, 2) AS paid FROM ("                                                 \
    "SELECT %s AS k, b.amount AS budget, 0 AS approved, 0 AS pending, 0 AS paid FROM budgets b "              \
    "WHERE b.year = $1::integer AND b.archived_at IS NULL AND ($2::uuid IS NULL OR b.owner_id = $2::uuid) "   \
    "UNION ALL SELECT %s, 0, CASE WHEN x.status = 'approved' THEN x.amount ELSE 0 END, "                      \
    "CASE WHEN x.status IN ('submitted', 'pending_finance') THEN x.amount ELSE 0 END, "                       \
    "CASE WHEN x.status = 'paid' THEN x.amount ELSE 0 END FROM expenses x "                                   \
    "LEFT JOIN budgets bs ON bs.id = x.budget_id "                                                            \
    "LEFT JOIN LATERAL (SELECT b2.id, b2.owner_id FROM budgets b2 WHERE x.budget_id IS NULL "                 \
    "AND b2.year = $1::integer AND b2.category = x.category AND b2.archived_at IS NULL "                      \
    "AND (b2.owner_id = x.claimant_id OR b2.owner_id IS NULL) ORDER BY b2.owner_id NULLS LAST LIMIT 1) bl "   \
    "ON true WHERE x.expense_date >= make_date($1::integer, 1, 1) "                                            \
    "AND x.expense_date < make_date($1::integer + 1, 1, 1) "                                                  \
    "AND x.status IN ('submitted', 'pending_finance', 'approved', 'paid') "                                   \
    "AND ($2::uuid IS NULL OR x.claimant_id = $2::uuid)) s GROUP BY GROUPING SETS ((), (s.k))) g%s%s "        \
    "ORDER BY g.total DESC, %s"

static const struct util_group {
    const char *name;
    const struct render_col *cols;
    int ncols;
    const char *select;
    const char *budget_key, *expense_key, *has_budget, *join, *where, *order;
} util_groups[] = {
    {"category", util_by_category, (int)ARRAY_LEN(util_by_category), UTIL_BY_CATEGORY(RENDER_SQL), "b.category",
     "x.category", "true", "", "",
     "array_position(ARRAY['visits', 'events', 'after_sales', 'gifts', 'other'], g.k)"},
    {"owner", util_by_owner, (int)ARRAY_LEN(util_by_owner), UTIL_BY_OWNER(RENDER_SQL), "b.owner_id::text",
     UTIL_EXPENSE_OWNER, "true", " LEFT JOIN users u ON u.id = g.k::uuid", "",
     "g.k IS NOT NULL, u.display_name, g.k"},
    /* Budgets are annual: they only reach the total row (key NULL, dropped). */
    {"month", util_by_month, (int)ARRAY_LEN(util_by_month), UTIL_BY_MONTH(RENDER_SQL), "NULL::text",
     "to_char(x.expense_date, 'YYYY-MM')", "false", "", " WHERE g.total OR g.k IS NOT NULL", "g.k"},
};

/* Cost-benefit figures of one group g: customers counted, maintenance cost
 * (approved + paid expenses of the year naming the customer), revenue (the
 * year's transactions), the previous year's, revenue_growth = (revenue −
 * previous) / previous (NULL unless previous > 0) and cost_ratio = cost /
 * revenue (NULL unless revenue > 0). */
#define CB_FIGURES(X)                                                                                         \
    X("customers", "g.customers", RK_RAW)                                                                     \
    X("cost", "g.cost", RK_STRING)                                                                            \
    X("revenue", "g.revenue", RK_STRING)                                                                      \
    X("previous_revenue", "g.previous", RK_STRING)                                                            \
    X("revenue_growth", "CASE WHEN g.previous > 0 THEN round((g.revenue - g.previous) / g.previous, 4) END",  \
      RK_STRING)                                                                                              \
    X("cost_ratio", "CASE WHEN g.revenue > 0 THEN round(g.cost / g.revenue, 4) END", RK_STRING)
#define CB_BY_CUSTOMER(X)                                                                                     \
    X("customer_id", "g.k", RK_STRING)                                                                        \
    X("customer_name", "kc.name", RK_STRING)                                                                  \
    X("tier", "coalesce(kc.tier_override, kc.tier)", RK_STRING)                                               \
    X("owner_id", "kc.owner_id", RK_STRING)                                                                   \
    CB_FIGURES(X)
#define CB_BY_TIER(X) X("tier", "g.k", RK_STRING) CB_FIGURES(X)
#define CB_BY_OWNER(X)                                                                                        \
    X("owner_id", "g.k", RK_STRING)                                                                           \
    X("owner_name", "u.display_name", RK_STRING)                                                              \
    CB_FIGURES(X)

static const struct render_col cb_figures[] = {CB_FIGURES(RENDER_COL)};
static const struct render_col cb_by_customer[] = {CB_BY_CUSTOMER(RENDER_COL)};
static const struct render_col cb_by_tier[] = {CB_BY_TIER(RENDER_COL)};
static const struct render_col cb_by_owner[] = {CB_BY_OWNER(RENDER_COL)};

/* printf arguments: the select list, the group key over per p (three
 * times), the joins after g, the order. $1 year, $2 scope. Revenue counts
 * live CNY transactions (amounts are CNY unless a currency says otherwise;
 * other currencies are not converted, so they are left out), read from the
 * yearly rows of transaction_rollups (0010: each customer's sums per year,
 * in cents; two rows per customer instead of every transaction of two
 * years). A customer appears when it has cost or revenue in the year or
 * revenue the year before (a rollup row: live CNY transactions in it). */
#define SQL_COST_BENEFIT                                                                                      \
    "WITH cx AS (SELECT x.customer_id, sum(x.amount) AS cost FROM expenses x WHERE x.customer_id IS NOT NULL " \
    "AND x.status IN ('approved', 'paid') AND x.expense_date >= make_date($1::integer, 1, 1) "                 \
    "AND x.expense_date < make_date($1::integer + 1, 1, 1) GROUP BY x.customer_id), "                          \
    "tx AS (SELECT r.customer_id, sum(r.cents) FILTER (WHERE r.period_from = make_date($1::integer, 1, 1)) "   \
    "* 0.01 AS revenue, sum(r.cents) FILTER (WHERE r.period_from < make_date($1::integer, 1, 1)) * 0.01 "      \
    "AS previous FROM transaction_rollups r WHERE r.months = 12 "                                             \
    "AND r.period_from >= make_date($1::integer - 1, 1, 1) AND r.period_from < make_date($1::integer + 1, 1, 1) " \
    "GROUP BY r.customer_id), "                                                                               \
    "p AS (SELECT c.id, coalesce(c.tier_override, c.tier) AS tier, c.owner_id, coalesce(cx.cost, 0) AS cost, " \
    "coalesce(tx.revenue, 0) AS revenue, coalesce(tx.previous, 0) AS previous FROM customers c "             \
    "LEFT JOIN cx ON cx.customer_id = c.id LEFT JOIN tx ON tx.customer_id = c.id "                            \
    "WHERE (cx.customer_id IS NOT NULL OR tx.customer_id IS NOT NULL) "                                       \
    "AND ($2::uuid IS NULL OR c.owner_id = $2::uuid)) "                                                       \
    "SELECT %s g.total FROM (SELECT %s AS k, grouping(%s) = 1 AS total, count(*) AS customers, "              \
    "coalesce(sum(p.cost), 0)::numeric(20, 2) AS cost, coalesce(sum(p.revenue), 0)::numeric(20, 2) AS revenue, " \
    "coalesce(sum(p.previous), 0)::numeric(20, 2) AS previous FROM p GROUP BY GROUPING SETS ((), (%s))) g%s "  \
    "ORDER BY g.total DESC, %s"

static const struct cb_group {
    const char *name;
    const struct render_col *cols;
    int ncols;
    const char *select, *key, *join, *order;
} cb_groups[] = {
    {"customer", cb_by_customer, (int)ARRAY_LEN(cb_by_customer), CB_BY_CUSTOMER(RENDER_SQL), "p.id",
     " LEFT JOIN customers kc ON kc.id = g.k", "kc.name, g.k"},
    {"tier", cb_by_tier, (int)ARRAY_LEN(cb_by_tier), CB_BY_TIER(RENDER_SQL), "p.tier", "",
     "array_position(ARRAY['vip', 'key', 'general', 'reserve'], g.k)"},
    {"owner", cb_by_owner, (int)ARRAY_LEN(cb_by_owner), CB_BY_OWNER(RENDER_SQL), "p.owner_id",
     " LEFT JOIN users u ON u.id = g.k", "u.display_name, g.k"},
};

/* ---- helpers ---- */

/* year (required) and group_by (first of names when absent): *year_text is
 * borrowed from the query, *group the index into the table. 0, or -1 after
 * answering 400. */
static int report_query(struct request *r, const char *const *names, size_t n, const char **year_text,
                        size_t *group)
{
    *year_text = request_query(r, "year");
    if (!budget_year_parse(*year_text)) {
        problem_send(r, 400, "year is required: a year from 2000 to 2999");
        return -1;
    }
    const char *g = request_query(r, "group_by");
    for (*group = 0; g && *group < n && strcmp(names[*group], g) != 0; (*group)++)
        ;
    if (*group == n) {
        struct sbuf msg = {0};
        sbuf_puts(&msg, "group_by must be one of ");
        for (size_t i = 0; i < n; i++)
            sbuf_printf(&msg, "%s%s", i ? ", " : "", names[i]);
        problem_send(r, 400, msg.data);
        sbuf_free(&msg);
        return -1;
    }
    return 0;
}

/* Replies {year, group_by, total, items} from res: row 0 is the total (its
 * figures start at column first_figure), the others the groups; the total
 * flag column ends each row. */
static int report_reply(struct request *r, const char *year, const char *group_by, const PGresult *res,
                        const struct render_col *cols, int ncols, const struct render_col *figures, int nfigures)
{
    struct sbuf out = {0};
    int rows = PQntuples(res);
    if (rows < 1 || PQgetvalue(res, 0, ncols)[0] != 't') /* the grouping set () always yields the total */
        return problem_send(r, 500, NULL);
    sbuf_printf(&out, "{\"year\":%s,\"group_by\":\"%s\",\"total\":", year, group_by);
    render_row(&out, res, 0, ncols - nfigures, figures, nfigures);
    sbuf_puts(&out, ",\"items\":[");
    for (int i = 1; i < rows; i++) {
        if (i > 1)
            sbuf_puts(&out, ",");
        render_row(&out, res, i, 0, cols, ncols);
    }
    sbuf_puts(&out, "]}");
    return reply_json_buf(r, 200, &out);
}

static const char *report_scope(const struct request *r)
{
    return principal_scoped(&r->principal) ? r->principal.user_id : NULL;
}

/* ---- handlers ---- */

int reports_budget_utilisation(struct request *r)
{
    static const char *const names[] = {"category", "owner", "month"};
    struct sbuf sql = {0};
    PGresult *res = NULL;
    const char *year;
    size_t gi;
    char name[48];
    if (report_query(r, names, ARRAY_LEN(names), &year, &gi) != 0)
        goto out;
    const struct util_group *g = &util_groups[gi];
    sbuf_printf(&sql, SQL_UTILISATION, g->select, g->has_budget, g->budget_key, g->expense_key, g->join, g->where,
                g->order);
    const char *params[] = {year, report_scope(r)};
    snprintf(name, sizeof name, "budget_util_%s", g->name);
    if (!(res = db_exec(r, name, sql.data, 2, params)))
        goto out;
    report_reply(r, year, g->name, res, g->cols, g->ncols, util_figures, (int)ARRAY_LEN(util_figures));
out:
    PQclear(res);
    sbuf_free(&sql);
    return r->status;
}

int reports_cost_benefit(struct request *r)
{
    static const char *const names[] = {"customer", "tier", "owner"};
    struct sbuf sql = {0};
    PGresult *res = NULL;
    const char *year;
    size_t gi;
    char name[48];
    if (report_query(r, names, ARRAY_LEN(names), &year, &gi) != 0)
        goto out;
    const struct cb_group *g = &cb_groups[gi];
    sbuf_printf(&sql, SQL_COST_BENEFIT, g->select, g->key, g->key, g->key, g->join, g->order);
    const char *params[] = {year, report_scope(r)};
    snprintf(name, sizeof name, "cost_benefit_%s", g->name);
    if (!(res = db_exec(r, name, sql.data, 2, params)))
        goto out;
    report_reply(r, year, g->name, res, g->cols, g->ncols, cb_figures, (int)ARRAY_LEN(cb_figures));
out:
    PQclear(res);
    sbuf_free(&sql);
    return r->status;
}
