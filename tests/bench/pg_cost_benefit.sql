-- Ceiling for GET /v1/reports/cost-benefit?year=<this year>&group_by=tier as the sales_manager: the
-- statement service/resources/budget_reports.c runs for it (pgbench -D year=<this year>).
WITH cx AS (SELECT x.customer_id, sum(x.amount) AS cost FROM expenses x WHERE x.customer_id IS NOT NULL AND
x.status IN ('approved', 'paid') AND x.expense_date >= make_date(:year::integer, 1, 1) AND x.expense_date <
make_date(:year::integer + 1, 1, 1) GROUP BY x.customer_id), tx AS (SELECT r.customer_id, sum(r.cents) FILTER
(WHERE r.period_from = make_date(:year::integer, 1, 1)) * 0.01 AS revenue, sum(r.cents) FILTER (WHERE
r.period_from < make_date(:year::integer, 1, 1)) * 0.01 AS previous FROM transaction_rollups r WHERE r.months
= 12 AND r.period_from >= make_date(:year::integer - 1, 1, 1) AND r.period_from < make_date(:year::integer +
1, 1, 1) GROUP BY r.customer_id), p AS (SELECT c.id, coalesce(c.tier_override, c.tier) AS tier, c.owner_id,
coalesce(cx.cost, 0) AS cost, coalesce(tx.revenue, 0) AS revenue, coalesce(tx.previous, 0) AS previous FROM
customers c LEFT JOIN cx ON cx.customer_id = c.id LEFT JOIN tx ON tx.customer_id = c.id WHERE (cx.customer_id
IS NOT NULL OR tx.customer_id IS NOT NULL) AND (NULL::uuid IS NULL OR c.owner_id = NULL::uuid)) SELECT g.k,
g.customers, g.cost, g.revenue, g.previous, CASE WHEN g.previous > 0 THEN round((g.revenue - g.previous) /
g.previous, 4) END, CASE WHEN g.revenue > 0 THEN round(g.cost / g.revenue, 4) END, g.total FROM (SELECT p.tier
AS k, grouping(p.tier) = 1 AS total, count(*) AS customers, coalesce(sum(p.cost), 0)::numeric(20, 2) AS cost,
coalesce(sum(p.revenue), 0)::numeric(20, 2) AS revenue, coalesce(sum(p.previous), 0)::numeric(20, 2) AS
previous FROM p GROUP BY GROUPING SETS ((), (p.tier))) g ORDER BY g.total DESC, array_position(ARRAY['vip',
'key', 'general', 'reserve'], g.k);
