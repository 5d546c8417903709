/* The KPI board: one read-only report, GET /v1/reports/kpis. Layout shared by
 * every resource file: query parameters, SQL, helpers, handler.
 *
 * Two statements in the route's transaction. The first (SQL_KPI_PERIOD)
 * settles the period (the requested one, else the current quarter in
 * business time) and the period of the same length immediately before it,
 * and returns their names and every boundary the figures need, as dates and
 * as business-time instants; it also raises work_mem for the transaction
 * (JIT is off on every connection: db.c). The second binds those boundaries as parameters (KPI_F0 …
 * KPI_MONTHS): a parameter is a constant to the executor, where the same
 * values joined in from a CTE cost twice as much per row of the logs it
 * aggregates.
 * Each KPI section is a one-row aggregate with the figures of both periods
 * (suffix 0: the period, 1: the one before); the final SELECT turns them into
 * two rows with the same columns (k = 0, 1), and each section renders
 * {"current": row 0, "previous": row 1} from its own run of columns.
 *
 * Scoping is the customers' one: a sales rep's figures are those of the
 * customers they own now (c.owner_id; budgets: the budgets they own and the
 * expenses they claimed), the other roles see every customer, or one owner's
 * with owner_id. Every customer: the transactions' per-customer sums from
 * the rollup of 0010 and one pass over the contacts' date ranges (the 0009
 * indexes), grouped by customer. One owner: per customer of theirs, through
 * the logs' customer indexes. */
#include "resources/kpis.h"

#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "resources/render.h"
#include "validate/period.h"

/* ---- query parameters ---- */

#define PERIOD_HELP                                                                                           \
    "period must be a year (2026), half (2026-H2), quarter (2026-Q4) or month (2026-11); default: the current " \
    "quarter"

/* ---- SQL ---- */

/* The name of the period starting on date f, m months long, as period_parse
 * reads it (so the default quarter and previous periods are named too). */
#define KPI_LABEL(f)                                                                                          \
    "CASE q.m WHEN 12 THEN to_char(" f ", 'YYYY') WHEN 6 THEN to_char(" f ", 'YYYY') || '-H' || "             \
    "(extract(month FROM " f ")::int + 5) / 6 WHEN 3 THEN to_char(" f ", 'YYYY-\"Q\"Q') "                      \
    "ELSE to_char(" f ", 'YYYY-MM') END"

/* $1/$2: the requested [from, to) dates, both NULL for the current quarter.
 * q: f0 < t0 the period, m its months, f1 = f0 − m the period before, f2 the
 * one before that (retention and growth of the previous period compare with
 * it), d0 and d1 the as-of days of the contact-cadence figure (the period's
 * last day, today while it runs), w the longest contact interval of the
 * cadence policy. The instants: where each day starts in the business time
 * zone; di = the end of day d; wi = the start of the cadence look-back
 * (KPI_LG_AGGS), 4 days before d − w months. */
#define SQL_KPI_PERIOD                                                                                        \
    "WITH z AS (SELECT crm_tz() AS tz, crm_today() AS today, "                                                \
    "(SELECT coalesce(max(pol.contact_interval_months), 0) FROM cadence_policies pol) AS w), "                \
    "y AS (SELECT z.*, coalesce($1::date, date_trunc('quarter', z.today)::date) AS f0, "                      \
    "coalesce($2::date, (date_trunc('quarter', z.today) + interval '3 months')::date) AS t0 FROM z), "        \
    "x AS (SELECT y.*, ((extract(year FROM y.t0) - extract(year FROM y.f0)) * 12 "                            \
    "+ extract(month FROM y.t0) - extract(month FROM y.f0))::int AS m FROM y), "                               \
    "q AS (SELECT x.*, (x.f0 - make_interval(months => x.m))::date AS f1, "                                   \
    "(x.f0 - make_interval(months => 2 * x.m))::date AS f2, least(x.t0 - 1, x.today) AS d0, "                  \
    "least(x.f0 - 1, x.today) AS d1 FROM x) "                                                                 \
    "SELECT " KPI_LABEL("q.f0") ", q.f0::text, (q.t0 - 1)::text, "                                            \
    KPI_LABEL("q.f1") ", q.f1::text, (q.f0 - 1)::text, "                                                      \
    "q.f0::text, q.t0::text, q.f1::text, q.f2::text, q.d0::text, q.d1::text, q.today::text, "                 \
    "(q.f0::timestamp AT TIME ZONE q.tz)::text, (q.t0::timestamp AT TIME ZONE q.tz)::text, "                  \
    "(q.f1::timestamp AT TIME ZONE q.tz)::text, "                                                             \
    "(((q.d0 - make_interval(months => q.w))::date - 4)::timestamp AT TIME ZONE q.tz)::text, "                \
    "((q.d0 + 1)::timestamp AT TIME ZONE q.tz)::text, "                                                        \
    "(((q.d1 - make_interval(months => q.w))::date - 4)::timestamp AT TIME ZONE q.tz)::text, "                \
    "((q.d1 + 1)::timestamp AT TIME ZONE q.tz)::text, q.tz, q.m::text, "                                       \
    "set_config('work_mem', '32MB', true) FROM q"

/* Columns of SQL_KPI_PERIOD: the two periods' name, first and last day, then
 * the parameters of the figures statement, in their order. work_mem holds
 * a customer set per log. */
enum { KPI_PERIOD_COLS = 3, KPI_COL_PREVIOUS = KPI_PERIOD_COLS, KPI_COL_PARAMS = 2 * KPI_PERIOD_COLS,
       KPI_NPARAMS = 16 };
static const char *const kpi_period_keys[KPI_PERIOD_COLS] = {"period", "from", "to"};

/* The figures statement's parameters. */
#define KPI_F0 "$1::date"
#define KPI_T0 "$2::date"
#define KPI_F1 "$3::date"
#define KPI_F2 "$4::date"
#define KPI_D0 "$5::date"
#define KPI_D1 "$6::date"
#define KPI_TODAY "$7::date"
#define KPI_FI0 "$8::timestamptz"
#define KPI_TI0 "$9::timestamptz"
#define KPI_FI1 "$10::timestamptz"
#define KPI_WI0 "$11::timestamptz"
#define KPI_DI0 "$12::timestamptz"
#define KPI_WI1 "$13::timestamptz"
#define KPI_DI1 "$14::timestamptz"
#define KPI_TZ "$15::text"
#define KPI_MONTHS "$16::integer"

/* The logs per customer, in one pass (one hash table): live CNY
 * transactions of the three periods f2 < f1 < f0 < t0 (like tiering and
 * cost-benefit: the feed accepts no other currency) and live interactions
 * and visits. Per customer:
 *   bits  1, 2, 4: bought (a positive amount) in the period (k = 0), the one
 *         before (1), the one before that (2); 8, 16: contacted (maintained)
 *         in the period, in the one before;
 *   c0, c1, c2: revenue in cents of each of the three periods (returns
 *         negative), summed as int8 (exact, and a far smaller state per
 *         customer than a numeric sum: the hash table stays in memory);
 *   l0, l1: the last contact within each as-of day's cadence look-back
 *         [wi, di): every contact that can still be in time on day d.
 * printf arguments: the customer condition of each log (one owner's form). */
#define KPI_LG_K "CASE WHEN t.occurred_on >= " KPI_F0 " THEN 0 WHEN t.occurred_on >= " KPI_F1 " THEN 1 ELSE 2 END"
#define KPI_EV_LO "least(" KPI_FI1 ", " KPI_WI1 ")"
#define KPI_EV_HI "greatest(" KPI_TI0 ", " KPI_DI0 ")"
#define KPI_LG_ROWS                                                                                           \
    "(SELECT t.customer_id, " KPI_LG_K " AS k, t.amount, NULL::timestamptz AS at FROM transactions t "        \
    "WHERE t.archived_at IS NULL AND t.currency = 'CNY'%s AND t.occurred_on >= " KPI_F2                        \
    " AND t.occurred_on < " KPI_T0 " "                                                                        \
    "UNION ALL SELECT i.customer_id, 3, NULL, i.occurred_at FROM interactions i WHERE i.archived_at IS NULL%s " \
    "AND i.occurred_at >= " KPI_EV_LO " AND i.occurred_at < " KPI_EV_HI " "                                    \
    "UNION ALL SELECT v.customer_id, 3, NULL, v.visited_at FROM visits v WHERE v.archived_at IS NULL%s "       \
    "AND v.visited_at >= " KPI_EV_LO " AND v.visited_at < " KPI_EV_HI ") u"
#define KPI_LG_AGGS                                                                                           \
    "bit_or(CASE WHEN u.amount > 0 THEN 1 << u.k WHEN u.at >= " KPI_FI0 " AND u.at < " KPI_TI0 " THEN 8 "      \
    "WHEN u.at >= " KPI_FI1 " AND u.at < " KPI_FI0 " THEN 16 END) AS bits, "                                   \
    "sum((u.amount * 100)::int8) FILTER (WHERE u.k = 0) AS c0, "                                              \
    "sum((u.amount * 100)::int8) FILTER (WHERE u.k = 1) AS c1, "                                              \
    "sum((u.amount * 100)::int8) FILTER (WHERE u.k = 2) AS c2, "                                              \
    "max(u.at) FILTER (WHERE u.at >= " KPI_WI0 " AND u.at < " KPI_DI0 ") AS l0, "                             \
    "max(u.at) FILTER (WHERE u.at >= " KPI_WI1 " AND u.at < " KPI_DI1 ") AS l1 "

/* Every customer: the transactions' per-customer sums of each period from
 * the rollup of 0010 (transaction_rollups at the period's length: one row
 * per customer and period instead of one per transaction; purchases > 0 is
 * "a positive amount in the period", cents its revenue) and one pass over
 * the contacts' date range (the 0009 indexes), each grouped by customer
 * apart, then joined. Same figures as KPI_LG_AGGS: bits 1, 2, 4 and c0 … c2
 * from the transactions, bits 8, 16 and l0, l1 from the contacts. The
 * periods f0, f1, f2 are aligned to their length, so each is exactly one
 * rollup row per customer: three index ranges joined on the customer
 * (a third of the time of grouping the three ranges' rows by customer). */
#define KPI_RU_AT(alias, from)                                                                                \
    "(SELECT r.customer_id, r.cents, r.purchases FROM transaction_rollups r WHERE r.months = " KPI_MONTHS     \
    " AND r.period_from = " from ") " alias
#define KPI_RU_BIT(alias, bit) "CASE WHEN " alias ".purchases > 0 THEN " bit " ELSE 0 END"
#define KPI_CT_ROWS                                                                                           \
    "(SELECT i.customer_id, i.occurred_at AS at FROM interactions i WHERE i.archived_at IS NULL "              \
    "AND i.occurred_at >= " KPI_EV_LO " AND i.occurred_at < " KPI_EV_HI " "                                    \
    "UNION ALL SELECT v.customer_id, v.visited_at FROM visits v WHERE v.archived_at IS NULL "                  \
    "AND v.visited_at >= " KPI_EV_LO " AND v.visited_at < " KPI_EV_HI ") u"
#define SQL_KPI_LOGS_ALL                                                                                      \
    "WITH tx AS (SELECT coalesce(a.customer_id, b.customer_id, c.customer_id) AS customer_id, "               \
    KPI_RU_BIT("a", "1") " | " KPI_RU_BIT("b", "2") " | " KPI_RU_BIT("c", "4") " AS bits, "                    \
    "a.cents AS c0, b.cents AS c1, c.cents AS c2 FROM " KPI_RU_AT("a", KPI_F0) " FULL JOIN "                  \
    KPI_RU_AT("b", KPI_F1) " ON b.customer_id = a.customer_id FULL JOIN " KPI_RU_AT("c", KPI_F2)              \
    " ON c.customer_id = coalesce(a.customer_id, b.customer_id)), "                                           \
    "ct AS (SELECT u.customer_id, bit_or(CASE WHEN u.at >= " KPI_FI0 " AND u.at < " KPI_TI0 " THEN 8 "          \
    "WHEN u.at >= " KPI_FI1 " AND u.at < " KPI_FI0 " THEN 16 END) AS bits, "                                   \
    "max(u.at) FILTER (WHERE u.at >= " KPI_WI0 " AND u.at < " KPI_DI0 ") AS l0, "                             \
    "max(u.at) FILTER (WHERE u.at >= " KPI_WI1 " AND u.at < " KPI_DI1 ") AS l1 FROM " KPI_CT_ROWS             \
    " GROUP BY u.customer_id), "                                                                              \
    "lg AS (SELECT coalesce(tx.customer_id, ct.customer_id) AS customer_id, "                                 \
    "coalesce(tx.bits, 0) | coalesce(ct.bits, 0) AS bits, tx.c0, tx.c1, tx.c2, ct.l0, ct.l1 "                  \
    "FROM tx FULL JOIN ct ON ct.customer_id = tx.customer_id)"

/* One owner's customers: per customer, through the logs' customer indexes
 * (transactions_tier_idx of 0006, 0004's); the owner conditions follow. */
#define SQL_KPI_LOGS_OWNER                                                                                    \
    "WITH lg AS (SELECT c.id AS customer_id, x.* FROM customers c, LATERAL (SELECT " KPI_LG_AGGS               \
    "FROM " KPI_LG_ROWS ") x WHERE true"
#define SQL_KPI_LOGS_OWNER_ARGS " AND t.customer_id = c.id", " AND i.customer_id = c.id", " AND v.customer_id = c.id"

#define KPI_BIT(n) "lg.bits & " n " <> 0"

/* Retention: buyers of each period and the customers who bought in both it
 * and the period before. */
#define SQL_KPI_RETENTION                                                                                     \
    ", ta AS (SELECT count(*) FILTER (WHERE " KPI_BIT("1") ") AS n0, count(*) FILTER (WHERE " KPI_BIT("2")     \
    ") AS n1, count(*) FILTER (WHERE " KPI_BIT("4") ") AS n2, count(*) FILTER (WHERE lg.bits & 3 = 3) AS r0, " \
    "count(*) FILTER (WHERE lg.bits & 6 = 6) AS r1 FROM lg)"

/* Revenue growth of maintained customers: the customers with a contact in
 * the period, and their revenue (returns negative) in it and in the period
 * before. */
#define KPI_CENTS(c, bit) "coalesce(sum(lg." c ") FILTER (WHERE " KPI_BIT(bit) "), 0) / 100.0"
#define SQL_KPI_REVENUE                                                                                       \
    ", ra AS (SELECT count(*) FILTER (WHERE " KPI_BIT("8") ") AS n0, count(*) FILTER (WHERE " KPI_BIT("16")    \
    ") AS n1, " KPI_CENTS("c0", "8") " AS c0, " KPI_CENTS("c1", "8") " AS p0, " KPI_CENTS("c1", "16") " AS c1, " \
    KPI_CENTS("c2", "16") " AS p1 FROM lg)"

/* Contact cadence as of day d: the customers the contact cadence applied to
 * on d (created by then, not archived by then, not lost, a tier with a
 * contact interval — current tier, status and policy: no history of them is
 * kept), and those not overdue on d, exactly as crm_customer_due and
 * crm_cadence_status compute it for today: the last contact on or before d
 * (else the first-contact date, else the creation day) plus the interval is
 * d or later. A customer without a contact in the look-back is overdue
 * unless they had no contact at all by d and their first-contact or creation
 * day is recent. One pass over the customers for both periods, which also
 * counts the active customers (the complaint rate's denominator).
 *
 * No date arithmetic per customer: base + n months >= d holds exactly for
 * the base dates from x = the first date with x + n months >= d (adding
 * months never decreases a date, and PostgreSQL clamps month ends: y = d − n
 * months, and x = y, or y + 1 when y + n months was clamped below d), so pt
 * gives each tier's x for both as-of days and h, the instant x starts in the
 * business time zone; a contact or creation instant is in time when >= h. */
#define SQL_KPI_CADENCE_POLICY                                                                                \
    ", pt AS (SELECT pol.tier, x.x0, x.x1, x.x0::timestamp AT TIME ZONE " KPI_TZ " AS h0, "                   \
    "x.x1::timestamp AT TIME ZONE " KPI_TZ " AS h1 FROM cadence_policies pol, "                               \
    "LATERAL (SELECT (" KPI_D0 " - make_interval(months => pol.contact_interval_months))::date AS y0, "        \
    "(" KPI_D1 " - make_interval(months => pol.contact_interval_months))::date AS y1) y, "                     \
    "LATERAL (SELECT CASE WHEN (y.y0 + make_interval(months => pol.contact_interval_months))::date >= " KPI_D0 \
    " THEN y.y0 ELSE y.y0 + 1 END AS x0, "                                                                    \
    "CASE WHEN (y.y1 + make_interval(months => pol.contact_interval_months))::date >= " KPI_D1                \
    " THEN y.y1 ELSE y.y1 + 1 END AS x1) x WHERE pol.contact_interval_months IS NOT NULL)"
#define KPI_CAD_IN(di)                                                                                        \
    "(pt.tier IS NOT NULL AND c.created_at < " di " AND (c.archived_at IS NULL OR c.archived_at >= " di "))"
#define KPI_CAD_KEPT(l, x, h, di)                                                                             \
    "CASE WHEN " l " IS NOT NULL THEN " l " >= " h " ELSE coalesce(c.first_contact_at >= " x ", "              \
    "c.created_at >= " h ") AND NOT EXISTS (SELECT 1 FROM interactions i WHERE i.customer_id = c.id "          \
    "AND i.archived_at IS NULL AND i.occurred_at < " di ") AND NOT EXISTS (SELECT 1 FROM visits v "             \
    "WHERE v.customer_id = c.id AND v.archived_at IS NULL AND v.visited_at < " di ") END"
#define SQL_KPI_CADENCE                                                                                       \
    SQL_KPI_CADENCE_POLICY ", ca AS (SELECT count(*) FILTER (WHERE " KPI_CAD_IN(KPI_DI0) ") AS n0, "           \
    "count(*) FILTER (WHERE " KPI_CAD_IN(KPI_DI0) " AND " KPI_CAD_KEPT("lg.l0", "pt.x0", "pt.h0", KPI_DI0)     \
    ") AS k0, count(*) FILTER (WHERE " KPI_CAD_IN(KPI_DI1) ") AS n1, "                                          \
    "count(*) FILTER (WHERE " KPI_CAD_IN(KPI_DI1) " AND " KPI_CAD_KEPT("lg.l1", "pt.x1", "pt.h1", KPI_DI1)     \
    ") AS k1, count(*) FILTER (WHERE c.status = 'active' AND c.archived_at IS NULL) AS active "              \
    "FROM customers c LEFT JOIN pt ON pt.tier = coalesce(c.tier_override, c.tier) AND c.status <> 'lost' "    \
    "LEFT JOIN lg ON lg.customer_id = c.id WHERE true"

/* Visit plans dated in each period (customers' current owner): due = the
 * completed ones and those missed (still planned or approved, dated before
 * today); pending ones (dated today or later) are not due yet. printf
 * argument: the customers join of one owner's plans; the owner conditions
 * follow. */
#define KPI_VP_IN(lo, hi) "v.planned_date >= " lo " AND v.planned_date < " hi
#define KPI_VP_COUNTS(n, lo, hi)                                                                              \
    "count(*) FILTER (WHERE " KPI_VP_IN(lo, hi) ") AS planned" n ", "                                         \
    "count(*) FILTER (WHERE " KPI_VP_IN(lo, hi) " AND v.status = 'completed') AS completed" n ", "            \
    "count(*) FILTER (WHERE " KPI_VP_IN(lo, hi) " AND v.status = 'cancelled') AS cancelled" n ", "            \
    "count(*) FILTER (WHERE " KPI_VP_IN(lo, hi) " AND v.status IN ('planned', 'approved') "                    \
    "AND v.planned_date < " KPI_TODAY ") AS missed" n ", "                                                    \
    "count(*) FILTER (WHERE " KPI_VP_IN(lo, hi) " AND v.status IN ('planned', 'approved') "                    \
    "AND v.planned_date >= " KPI_TODAY ") AS pending" n
#define SQL_KPI_VISITS                                                                                        \
    "), vp AS (SELECT " KPI_VP_COUNTS("0", KPI_F0, KPI_T0) ", " KPI_VP_COUNTS("1", KPI_F1, KPI_F0) " "          \
    "FROM visit_plans v%s WHERE v.planned_date >= " KPI_F1 " AND v.planned_date < " KPI_T0
#define SQL_KPI_VISITS_OWNER " JOIN customers c ON c.id = v.customer_id"

/* Satisfaction: survey responses received (responded_at) in each period:
 * the mean overall score and the NPS (crm_nps of 0007: % promoters 9-10
 * minus % detractors 0-6). printf argument: the customers join of one
 * owner's responses; the owner conditions follow. */
#define KPI_SA_IN(lo, hi) "s.responded_at >= " lo " AND s.responded_at < " hi
#define KPI_SA_AGGS(n, lo, hi)                                                                                \
    "count(*) FILTER (WHERE " KPI_SA_IN(lo, hi) ") AS n" n ", "                                               \
    "avg(s.overall) FILTER (WHERE " KPI_SA_IN(lo, hi) ") AS o" n ", "                                          \
    "count(*) FILTER (WHERE " KPI_SA_IN(lo, hi) " AND s.nps >= 9) AS pr" n ", "                                \
    "count(*) FILTER (WHERE " KPI_SA_IN(lo, hi) " AND s.nps <= 6) AS de" n
#define SQL_KPI_SATISFACTION                                                                                  \
    "), sa AS (SELECT " KPI_SA_AGGS("0", KPI_FI0, KPI_TI0) ", " KPI_SA_AGGS("1", KPI_FI1, KPI_FI0) " "          \
    "FROM survey_responses s%s WHERE s.responded_at >= " KPI_FI1 " AND s.responded_at < " KPI_TI0
#define SQL_KPI_SATISFACTION_OWNER " JOIN customers c ON c.id = s.customer_id"

/* Complaints received in each period (live ones): how many, per 100 active
 * customers (ca.active: status active and not archived, now — the
 * complaints report's denominator; no status history is kept; counted in
 * the cadence's pass over the customers), the mean time to first response and
 * to resolution of those responded to / resolved, and each SLA leg's
 * compliance among the complaints whose leg is decided now (crm_sla_status
 * of 0005: met, or breached: done late or not done by its deadline).
 * printf argument: the customers join of one owner's complaints; the owner
 * conditions follow. */
#define KPI_CO_IN(lo, hi) "k.received_at >= " lo " AND k.received_at < " hi
#define KPI_CO_LEG(due, done) "crm_sla_status(k." due ", k." done ", 0, now())"
#define KPI_CO_AGGS(n, lo, hi)                                                                                \
    "count(*) FILTER (WHERE " KPI_CO_IN(lo, hi) ") AS n" n ", "                                               \
    "count(k.first_response_at) FILTER (WHERE " KPI_CO_IN(lo, hi) ") AS responded" n ", "                     \
    "extract(epoch FROM avg(k.first_response_at - k.received_at) FILTER (WHERE " KPI_CO_IN(lo, hi) ")) "       \
    "AS response_s" n ", "                                                                                    \
    "count(k.resolved_at) FILTER (WHERE " KPI_CO_IN(lo, hi) ") AS resolved" n ", "                            \
    "extract(epoch FROM avg(k.resolved_at - k.received_at) FILTER (WHERE " KPI_CO_IN(lo, hi) ")) "             \
    "AS resolution_s" n ", "                                                                                  \
    "count(*) FILTER (WHERE " KPI_CO_IN(lo, hi) " AND " KPI_CO_LEG("first_response_due", "first_response_at")  \
    " = 'met') AS rmet" n ", "                                                                                \
    "count(*) FILTER (WHERE " KPI_CO_IN(lo, hi) " AND " KPI_CO_LEG("first_response_due", "first_response_at")  \
    " = 'breached') AS rbreached" n ", "                                                                      \
    "count(*) FILTER (WHERE " KPI_CO_IN(lo, hi) " AND " KPI_CO_LEG("resolution_due", "resolved_at")            \
    " = 'met') AS smet" n ", "                                                                                \
    "count(*) FILTER (WHERE " KPI_CO_IN(lo, hi) " AND " KPI_CO_LEG("resolution_due", "resolved_at")            \
    " = 'breached') AS sbreached" n
#define SQL_KPI_COMPLAINTS                                                                                    \
    "), co AS (SELECT " KPI_CO_AGGS("0", KPI_FI0, KPI_TI0) ", " KPI_CO_AGGS("1", KPI_FI1, KPI_FI0) " "          \
    "FROM complaints k%s WHERE k.archived_at IS NULL AND k.received_at >= " KPI_FI1                            \
    " AND k.received_at < " KPI_TI0
#define SQL_KPI_COMPLAINTS_OWNER " JOIN customers c ON c.id = k.customer_id"

/* Budget utilisation: the live annual budgets of each period's year, pro
 * rata for the period's months (budgets are annual; a period never spans
 * two years), against the expenses dated in the period: approved, paid and
 * pending (submitted, or waiting for finance). A sales rep's: the budgets
 * they own and the expenses they claimed (as the utilisation report scopes
 * them); owner_id likewise. The owner conditions follow each part. */
#define SQL_KPI_BUDGETS                                                                                       \
    "), bu AS (SELECT coalesce(sum(b.amount) FILTER (WHERE b.year = extract(year FROM " KPI_F0 ")), 0) AS y0, " \
    "coalesce(sum(b.amount) FILTER (WHERE b.year = extract(year FROM " KPI_F1 ")), 0) AS y1 "                  \
    "FROM budgets b WHERE b.archived_at IS NULL "                                                             \
    "AND b.year IN (extract(year FROM " KPI_F0 "), extract(year FROM " KPI_F1 "))"
#define KPI_EX_IN(lo, hi) "x.expense_date >= " lo " AND x.expense_date < " hi
#define KPI_EX_SUM(n, lo, hi, status, key)                                                                    \
    "coalesce(sum(x.amount) FILTER (WHERE " KPI_EX_IN(lo, hi) " AND x.status IN (" status ")), 0) AS " key n
#define KPI_EX_AGGS(n, lo, hi)                                                                                \
    KPI_EX_SUM(n, lo, hi, "'approved'", "approved") ", " KPI_EX_SUM(n, lo, hi, "'paid'", "paid") ", "          \
    KPI_EX_SUM(n, lo, hi, "'submitted', 'pending_finance'", "pending")
#define SQL_KPI_EXPENSES                                                                                      \
    "), ex AS (SELECT " KPI_EX_AGGS("0", KPI_F0, KPI_T0) ", " KPI_EX_AGGS("1", KPI_F1, KPI_F0) " "              \
    "FROM expenses x WHERE x.expense_date >= " KPI_F1 " AND x.expense_date < " KPI_T0                         \
    " AND x.status IN ('submitted', 'pending_finance', 'approved', 'paid')"

/* The figure of row k: a for the period (k = 0), b for the one before. */
#define PICK(a, b) "CASE p.k WHEN 0 THEN " a " ELSE " b " END"
#define RATE(num, den) "round((" num ")::numeric / nullif(" den ", 0), 4)"

#define KPI_HOURS(s) "round((" s ")::numeric / 3600, 2)"
#define KPI_MONEY(e) "(" e ")::numeric(20, 2)::text"

#define KPI_SATISFACTION(X)                                                                                   \
    X("responses", PICK("sa.n0", "sa.n1"), RK_RAW)                                                            \
    X("mean_overall", "round(" PICK("sa.o0", "sa.o1") ", 2)", RK_RAW)                                         \
    X("promoters", PICK("sa.pr0", "sa.pr1"), RK_RAW)                                                          \
    X("detractors", PICK("sa.de0", "sa.de1"), RK_RAW)                                                         \
    X("nps", "crm_nps(" PICK("sa.pr0", "sa.pr1") ", " PICK("sa.de0", "sa.de1") ", " PICK("sa.n0", "sa.n1") ")", \
      RK_RAW)

#define KPI_COMPLAINTS(X)                                                                                     \
    X("complaints", PICK("co.n0", "co.n1"), RK_RAW)                                                           \
    X("active_customers", "ca.active", RK_RAW)                                                                \
    X("complaint_rate", "round(100.0 * " PICK("co.n0", "co.n1") " / nullif(ca.active, 0), 2)", RK_RAW)        \
    X("responded", PICK("co.responded0", "co.responded1"), RK_RAW)                                            \
    X("mean_first_response_hours", KPI_HOURS(PICK("co.response_s0", "co.response_s1")), RK_RAW)               \
    X("resolved", PICK("co.resolved0", "co.resolved1"), RK_RAW)                                               \
    X("mean_resolution_hours", KPI_HOURS(PICK("co.resolution_s0", "co.resolution_s1")), RK_RAW)               \
    X("response_sla_met", PICK("co.rmet0", "co.rmet1"), RK_RAW)                                               \
    X("response_sla_breached", PICK("co.rbreached0", "co.rbreached1"), RK_RAW)                                \
    X("response_sla_rate",                                                                                    \
      RATE(PICK("co.rmet0", "co.rmet1"), PICK("co.rmet0 + co.rbreached0", "co.rmet1 + co.rbreached1")), RK_RAW) \
    X("resolution_sla_met", PICK("co.smet0", "co.smet1"), RK_RAW)                                             \
    X("resolution_sla_breached", PICK("co.sbreached0", "co.sbreached1"), RK_RAW)                              \
    X("resolution_sla_rate",                                                                                  \
      RATE(PICK("co.smet0", "co.smet1"), PICK("co.smet0 + co.sbreached0", "co.smet1 + co.sbreached1")), RK_RAW)

#define KPI_BUDGET_OF(y) "round(" y " * " KPI_MONTHS " / 12.0, 2)"
#define KPI_BUDGET PICK(KPI_BUDGET_OF("bu.y0"), KPI_BUDGET_OF("bu.y1"))
#define KPI_USED PICK("ex.approved0 + ex.paid0", "ex.approved1 + ex.paid1")
#define KPI_BUDGET_X(X)                                                                                       \
    X("budget", KPI_MONEY(KPI_BUDGET), RK_STRING)                                                             \
    X("approved", KPI_MONEY(PICK("ex.approved0", "ex.approved1")), RK_STRING)                                 \
    X("paid", KPI_MONEY(PICK("ex.paid0", "ex.paid1")), RK_STRING)                                             \
    X("used", KPI_MONEY(KPI_USED), RK_STRING)                                                                 \
    X("pending", KPI_MONEY(PICK("ex.pending0", "ex.pending1")), RK_STRING)                                    \
    X("utilisation_rate", "CASE WHEN " KPI_BUDGET " > 0 THEN round(" KPI_USED " / " KPI_BUDGET ", 4) END", RK_RAW)

#define KPI_RETENTION(X)                                                                                      \
    X("customers", PICK("ta.n0", "ta.n1"), RK_RAW)                                                            \
    X("previous_customers", PICK("ta.n1", "ta.n2"), RK_RAW)                                                   \
    X("retained", PICK("ta.r0", "ta.r1"), RK_RAW)                                                             \
    X("retention_rate", RATE(PICK("ta.r0", "ta.r1"), PICK("ta.n1", "ta.n2")), RK_RAW)

#define KPI_VISITS(X)                                                                                         \
    X("planned", PICK("vp.planned0", "vp.planned1"), RK_RAW)                                                  \
    X("completed", PICK("vp.completed0", "vp.completed1"), RK_RAW)                                            \
    X("cancelled", PICK("vp.cancelled0", "vp.cancelled1"), RK_RAW)                                            \
    X("missed", PICK("vp.missed0", "vp.missed1"), RK_RAW)                                                     \
    X("pending", PICK("vp.pending0", "vp.pending1"), RK_RAW)                                                  \
    X("due", PICK("vp.completed0 + vp.missed0", "vp.completed1 + vp.missed1"), RK_RAW)                        \
    X("completion_rate",                                                                                      \
      RATE(PICK("vp.completed0", "vp.completed1"), PICK("vp.completed0 + vp.missed0", "vp.completed1 + vp.missed1")), \
      RK_RAW)

#define KPI_CADENCE(X)                                                                                        \
    X("as_of", PICK(KPI_D0, KPI_D1) "::text", RK_STRING)                                                      \
    X("customers", PICK("ca.n0", "ca.n1"), RK_RAW)                                                            \
    X("kept", PICK("ca.k0", "ca.k1"), RK_RAW)                                                                 \
    X("overdue", PICK("ca.n0 - ca.k0", "ca.n1 - ca.k1"), RK_RAW)                                              \
    X("compliance_rate", RATE(PICK("ca.k0", "ca.k1"), PICK("ca.n0", "ca.n1")), RK_RAW)

#define KPI_REVENUE(X)                                                                                        \
    X("customers", PICK("ra.n0", "ra.n1"), RK_RAW)                                                            \
    X("revenue", PICK("ra.c0", "ra.c1") "::numeric(18, 2)::text", RK_STRING)                                  \
    X("previous_revenue", PICK("ra.p0", "ra.p1") "::numeric(18, 2)::text", RK_STRING)                         \
    X("growth_rate",                                                                                          \
      "CASE WHEN " PICK("ra.p0", "ra.p1") " > 0 THEN round((" PICK("ra.c0 - ra.p0", "ra.c1 - ra.p1") ") / "    \
      PICK("ra.p0", "ra.p1") ", 4) END",                                                                      \
      RK_RAW)

static const struct render_col kpi_satisfaction[] = {KPI_SATISFACTION(RENDER_COL)};
static const struct render_col kpi_retention[] = {KPI_RETENTION(RENDER_COL)};
static const struct render_col kpi_complaints[] = {KPI_COMPLAINTS(RENDER_COL)};
static const struct render_col kpi_budget[] = {KPI_BUDGET_X(RENDER_COL)};
static const struct render_col kpi_visits[] = {KPI_VISITS(RENDER_COL)};
static const struct render_col kpi_cadence[] = {KPI_CADENCE(RENDER_COL)};
static const struct render_col kpi_revenue[] = {KPI_REVENUE(RENDER_COL)};

/* Each section's columns in kpi_sections' order; then k. */
#define SQL_KPI_SELECT                                                                                        \
    ") SELECT " KPI_SATISFACTION(RENDER_SQL) KPI_RETENTION(RENDER_SQL) KPI_COMPLAINTS(RENDER_SQL)             \
        KPI_VISITS(RENDER_SQL) KPI_CADENCE(RENDER_SQL) KPI_BUDGET_X(RENDER_SQL) KPI_REVENUE(RENDER_SQL)       \
    "p.k FROM (VALUES (0), (1)) AS p (k), ta, ra, ca, vp, sa, co, bu, ex ORDER BY p.k"

static const struct kpi_section {
    const char *key;
    const struct render_col *cols;
    int n;
} kpi_sections[] = {
    {"satisfaction", kpi_satisfaction, (int)ARRAY_LEN(kpi_satisfaction)},
    {"retention", kpi_retention, (int)ARRAY_LEN(kpi_retention)},
    {"complaints", kpi_complaints, (int)ARRAY_LEN(kpi_complaints)},
    {"visit_plans", kpi_visits, (int)ARRAY_LEN(kpi_visits)},
    {"contact_cadence", kpi_cadence, (int)ARRAY_LEN(kpi_cadence)},
    {"budget", kpi_budget, (int)ARRAY_LEN(kpi_budget)},
    {"revenue_growth", kpi_revenue, (int)ARRAY_LEN(kpi_revenue)},
};

/* ---- helpers ---- */

/* Parameter numbers of the owner conditions (0 = absent). */
struct kpi_binds {
    int scope; /* a sales rep's own id */
    int owner; /* owner_id query parameter */
};

/* " AND <col> = $n::uuid" for each owner condition. */
static void kpi_owner_col(struct sbuf *s, const struct kpi_binds *p, const char *col)
{
    if (p->scope)
        sbuf_printf(s, " AND %s = $%d::uuid", col, p->scope);
    if (p->owner)
        sbuf_printf(s, " AND %s = $%d::uuid", col, p->owner);
}

/* The owner conditions on the customers c. */
static void kpi_owner(struct sbuf *s, const struct kpi_binds *p)
{
    kpi_owner_col(s, p, "c.owner_id");
}

static void kpi_sql(struct sbuf *s, const struct kpi_binds *p)
{
    bool owner = p->scope || p->owner;
    if (owner) {
        sbuf_printf(s, SQL_KPI_LOGS_OWNER, SQL_KPI_LOGS_OWNER_ARGS);
        kpi_owner(s, p);
        sbuf_puts(s, ")");
    } else {
        sbuf_puts(s, SQL_KPI_LOGS_ALL);
    }
    sbuf_puts(s, SQL_KPI_RETENTION SQL_KPI_REVENUE SQL_KPI_CADENCE);
    kpi_owner(s, p);
    sbuf_printf(s, SQL_KPI_VISITS, owner ? SQL_KPI_VISITS_OWNER : "");
    kpi_owner(s, p);
    sbuf_printf(s, SQL_KPI_SATISFACTION, owner ? SQL_KPI_SATISFACTION_OWNER : "");
    kpi_owner(s, p);
    sbuf_printf(s, SQL_KPI_COMPLAINTS, owner ? SQL_KPI_COMPLAINTS_OWNER : "");
    kpi_owner(s, p);
    sbuf_puts(s, SQL_KPI_BUDGETS);
    kpi_owner_col(s, p, "b.owner_id");
    sbuf_puts(s, SQL_KPI_EXPENSES);
    kpi_owner_col(s, p, "x.claimant_id");
    sbuf_puts(s, SQL_KPI_SELECT);
}

/* Appends "key":value for the period columns of res row 0 from `first`. */
static void kpi_period_fields(struct sbuf *out, const PGresult *res, int first)
{
    for (int i = 0; i < KPI_PERIOD_COLS; i++) {
        sbuf_printf(out, "%s\"%s\":", i ? "," : "", kpi_period_keys[i]);
        sbuf_json_string(out, PQgetvalue(res, 0, first + i), (size_t)PQgetlength(res, 0, first + i));
    }
}

/* {"current": row 0, "previous": row 1} of the columns [first, first + n). */
static void kpi_pair(struct sbuf *out, const PGresult *res, int first, const struct render_col *cols, int n)
{
    sbuf_puts(out, "{\"current\":");
    render_row(out, res, 0, first, cols, n);
    sbuf_puts(out, ",\"previous\":");
    render_row(out, res, 1, first, cols, n);
    sbuf_puts(out, "}");
}

/* ---- handlers ---- */

int kpis_get(struct request *r)
{
    struct sqlb b = {0};
    struct kpi_binds p = {0};
    struct sbuf out = {0};
    struct period period;
    PGresult *per = NULL, *res = NULL;
    char name[32];

    const char *text = request_query(r, "period");
    if (text && period_parse(text, &period) != 0) {
        problem_send(r, 400, PERIOD_HELP);
        goto out;
    }
    const char *owner = request_query(r, "owner_id");
    if (owner && !uuid_valid(owner)) {
        problem_send(r, 400, "owner_id must be a user id (uuid)");
        goto out;
    }
    const char *range[2] = {text ? period.from : NULL, text ? period.to : NULL};
    if (!(per = db_exec(r, "kpis_period", SQL_KPI_PERIOD, 2, range)))
        goto out;
    if (PQntuples(per) != 1) {
        problem_send(r, 500, NULL);
        goto out;
    }
    for (int i = 0; i < KPI_NPARAMS; i++) /* $1..$16, borrowed from per */
        sqlb_bind(&b, PQgetvalue(per, 0, KPI_COL_PARAMS + i));
    if (principal_scoped(&r->principal))
        p.scope = sqlb_bind(&b, r->principal.user_id);
    if (owner)
        p.owner = sqlb_bind(&b, owner);
    kpi_sql(&b.sql, &p);
    snprintf(name, sizeof name, "kpis_%d%d", p.scope != 0, p.owner != 0);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    if (PQntuples(res) != 2) { /* always the two periods */
        problem_send(r, 500, NULL);
        goto out;
    }
    sbuf_puts(&out, "{");
    kpi_period_fields(&out, per, 0);
    sbuf_puts(&out, ",\"previous_period\":{");
    kpi_period_fields(&out, per, KPI_COL_PREVIOUS);
    sbuf_puts(&out, "},\"timezone\":");
    int tz = KPI_COL_PARAMS + KPI_NPARAMS - 2;
    sbuf_json_string(&out, PQgetvalue(per, 0, tz), (size_t)PQgetlength(per, 0, tz));
    sbuf_puts(&out, ",\"owner_id\":");
    const char *scope_owner = p.scope ? r->principal.user_id : owner;
    if (scope_owner)
        sbuf_json_string(&out, scope_owner, strlen(scope_owner));
    else
        sbuf_puts(&out, "null");
    int col = 0;
    for (size_t i = 0; i < ARRAY_LEN(kpi_sections); i++) {
        const struct kpi_section *k = &kpi_sections[i];
        sbuf_printf(&out, ",\"%s\":", k->key);
        kpi_pair(&out, res, col, k->cols, k->n);
        col += k->n;
    }
    sbuf_puts(&out, "}");
    reply_json_buf(r, 200, &out);
out:
    PQclear(res);
    PQclear(per);
    sbuf_free(&out);
    sbuf_free(&b.sql);
    return r->status;
}
