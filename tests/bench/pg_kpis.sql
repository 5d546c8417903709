-- Ceiling for GET /v1/reports/kpis as the sales_manager (every customer, the current quarter): the
-- statements service/resources/kpis.c runs for it, in one transaction as the service does (the
-- route's RT_TX): the period statement (which also sets work_mem for the
-- transaction), then the figures statement with the period's boundaries as its parameters.
BEGIN;
SELECT * FROM (WITH z AS (SELECT crm_tz() AS tz, crm_today() AS today, (SELECT
coalesce(max(pol.contact_interval_months), 0) FROM cadence_policies pol) AS w), y AS (SELECT z.*,
coalesce(NULL::date, date_trunc('quarter', z.today)::date) AS f0, coalesce(NULL::date,
(date_trunc('quarter', z.today) + interval '3 months')::date) AS t0 FROM z), x AS (SELECT y.*,
((extract(year FROM y.t0) - extract(year FROM y.f0)) * 12 + extract(month FROM y.t0) - extract(month FROM
y.f0))::int AS m FROM y), q AS (SELECT x.*, (x.f0 - make_interval(months => x.m))::date AS f1, (x.f0 -
make_interval(months => 2 * x.m))::date AS f2, least(x.t0 - 1, x.today) AS d0, least(x.f0 - 1, x.today) AS
d1 FROM x) SELECT CASE q.m WHEN 12 THEN to_char(q.f0, 'YYYY') WHEN 6 THEN to_char(q.f0, 'YYYY') || '-H' ||
(extract(month FROM q.f0)::int + 5) / 6 WHEN 3 THEN to_char(q.f0, 'YYYY-"Q"Q') ELSE to_char(q.f0, 'YYYY-MM')
END, q.f0::text, (q.t0 - 1)::text, CASE q.m WHEN 12 THEN to_char(q.f1, 'YYYY') WHEN 6 THEN to_char(q.f1,
'YYYY') || '-H' || (extract(month FROM q.f1)::int + 5) / 6 WHEN 3 THEN to_char(q.f1, 'YYYY-"Q"Q') ELSE
to_char(q.f1, 'YYYY-MM') END, q.f1::text, (q.f0 - 1)::text, q.f0::text, q.t0::text, q.f1::text, q.f2::text,
q.d0::text, q.d1::text, q.today::text, (q.f0::timestamp AT TIME ZONE q.tz)::text, (q.t0::timestamp AT TIME
ZONE q.tz)::text, (q.f1::timestamp AT TIME ZONE q.tz)::text, (((q.d0 - make_interval(months => q.w))::date -
4)::timestamp AT TIME ZONE q.tz)::text, ((q.d0 + 1)::timestamp AT TIME ZONE q.tz)::text, (((q.d1 -
make_interval(months => q.w))::date - 4)::timestamp AT TIME ZONE q.tz)::text, ((q.d1 + 1)::timestamp AT TIME
ZONE q.tz)::text, q.tz, q.m::text, set_config('work_mem', '32MB', true) FROM
q) AS s (name0, from0, to0, name1, from1, to1, f0, t0, f1, f2, d0, d1, today, fi0, ti0, fi1, wi0, di0, wi1,
di1, tz, months, work_mem) \gset
WITH tx AS (SELECT coalesce(a.customer_id, b.customer_id, c.customer_id) AS customer_id, CASE WHEN
a.purchases > 0 THEN 1 ELSE 0 END | CASE WHEN b.purchases > 0 THEN 2 ELSE 0 END | CASE WHEN c.purchases > 0
THEN 4 ELSE 0 END AS bits, a.cents AS c0, b.cents AS c1, c.cents AS c2 FROM (SELECT r.customer_id, r.cents,
r.purchases FROM transaction_rollups r WHERE r.months = :months::integer AND r.period_from = :f0::date) a
FULL JOIN (SELECT r.customer_id, r.cents, r.purchases FROM transaction_rollups r WHERE r.months =
:months::integer AND r.period_from = :f1::date) b ON b.customer_id = a.customer_id FULL JOIN (SELECT
r.customer_id, r.cents, r.purchases FROM transaction_rollups r WHERE r.months = :months::integer AND
r.period_from = :f2::date) c ON c.customer_id = coalesce(a.customer_id, b.customer_id)), ct AS (SELECT
u.customer_id, bit_or(CASE WHEN u.at >= :fi0::timestamptz AND u.at < :ti0::timestamptz THEN 8 WHEN u.at >=
:fi1::timestamptz AND u.at < :fi0::timestamptz THEN 16 END) AS bits, max(u.at) FILTER (WHERE u.at >=
:wi0::timestamptz AND u.at < :di0::timestamptz) AS l0, max(u.at) FILTER (WHERE u.at >= :wi1::timestamptz AND
u.at < :di1::timestamptz) AS l1 FROM (SELECT i.customer_id, i.occurred_at AS at FROM interactions i WHERE
i.archived_at IS NULL AND i.occurred_at >= least(:fi1::timestamptz, :wi1::timestamptz) AND i.occurred_at <
greatest(:ti0::timestamptz, :di0::timestamptz) UNION ALL SELECT v.customer_id, v.visited_at FROM visits v
WHERE v.archived_at IS NULL AND v.visited_at >= least(:fi1::timestamptz, :wi1::timestamptz) AND v.visited_at
< greatest(:ti0::timestamptz, :di0::timestamptz)) u GROUP BY u.customer_id), lg AS (SELECT
coalesce(tx.customer_id, ct.customer_id) AS customer_id, coalesce(tx.bits, 0) | coalesce(ct.bits, 0) AS
bits, tx.c0, tx.c1, tx.c2, ct.l0, ct.l1 FROM tx FULL JOIN ct ON ct.customer_id = tx.customer_id), ta AS
(SELECT count(*) FILTER (WHERE lg.bits & 1 <> 0) AS n0, count(*) FILTER (WHERE lg.bits & 2 <> 0) AS n1,
count(*) FILTER (WHERE lg.bits & 4 <> 0) AS n2, count(*) FILTER (WHERE lg.bits & 3 = 3) AS r0, count(*)
FILTER (WHERE lg.bits & 6 = 6) AS r1 FROM lg), ra AS (SELECT count(*) FILTER (WHERE lg.bits & 8 <> 0) AS n0,
count(*) FILTER (WHERE lg.bits & 16 <> 0) AS n1, coalesce(sum(lg.c0) FILTER (WHERE lg.bits & 8 <> 0), 0) /
100.0 AS c0, coalesce(sum(lg.c1) FILTER (WHERE lg.bits & 8 <> 0), 0) / 100.0 AS p0, coalesce(sum(lg.c1)
FILTER (WHERE lg.bits & 16 <> 0), 0) / 100.0 AS c1, coalesce(sum(lg.c2) FILTER (WHERE lg.bits & 16 <> 0), 0)
/ 100.0 AS p1 FROM lg), pt AS (SELECT pol.tier, x.x0, x.x1, x.x0::timestamp AT TIME ZONE :tz::text AS h0,
x.x1::timestamp AT TIME ZONE :tz::text AS h1 FROM cadence_policies pol, LATERAL (SELECT (:d0::date -
make_interval(months => pol.contact_interval_months))::date AS y0, (:d1::date - make_interval(months =>
pol.contact_interval_months))::date AS y1) y, LATERAL (SELECT CASE WHEN (y.y0 + make_interval(months =>
pol.contact_interval_months))::date >= :d0::date THEN y.y0 ELSE y.y0 + 1 END AS x0, CASE WHEN (y.y1 +
make_interval(months => pol.contact_interval_months))::date >= :d1::date THEN y.y1 ELSE y.y1 + 1 END AS x1)
x WHERE pol.contact_interval_months IS NOT NULL), ca AS (SELECT count(*) FILTER (WHERE (pt.tier IS NOT NULL
AND c.created_at < :di0::timestamptz AND (c.archived_at IS NULL OR c.archived_at >= :di0::timestamptz))) AS
n0, count(*) FILTER (WHERE (pt.tier IS NOT NULL AND c.created_at < :di0::timestamptz AND (c.archived_at IS
NULL OR c.archived_at >= :di0::timestamptz)) AND CASE WHEN lg.l0 IS NOT NULL THEN lg.l0 >= pt.h0 ELSE
coalesce(c.first_contact_at >= pt.x0, c.created_at >= pt.h0) AND NOT EXISTS (SELECT 1 FROM interactions i
WHERE i.customer_id = c.id AND i.archived_at IS NULL AND i.occurred_at < :di0::timestamptz) AND NOT EXISTS
(SELECT 1 FROM visits v WHERE v.customer_id = c.id AND v.archived_at IS NULL AND v.visited_at <
:di0::timestamptz) END) AS k0, count(*) FILTER (WHERE (pt.tier IS NOT NULL AND c.created_at <
:di1::timestamptz AND (c.archived_at IS NULL OR c.archived_at >= :di1::timestamptz))) AS n1, count(*) FILTER
(WHERE (pt.tier IS NOT NULL AND c.created_at < :di1::timestamptz AND (c.archived_at IS NULL OR c.archived_at
>= :di1::timestamptz)) AND CASE WHEN lg.l1 IS NOT NULL THEN lg.l1 >= pt.h1 ELSE coalesce(c.first_contact_at
>= pt.x1, c.created_at >= pt.h1) AND NOT EXISTS (SELECT 1 FROM interactions i WHERE i.customer_id = c.id AND
i.archived_at IS NULL AND i.occurred_at < :di1::timestamptz) AND NOT EXISTS (SELECT 1 FROM visits v WHERE
v.customer_id = c.id AND v.archived_at IS NULL AND v.visited_at < :di1::timestamptz) END) AS k1, count(*)
FILTER (WHERE c.status = 'active' AND c.archived_at IS NULL) AS active FROM customers c LEFT JOIN pt ON
pt.tier = coalesce(c.tier_override, c.tier) AND c.status <> 'lost' LEFT JOIN lg ON lg.customer_id = c.id
WHERE true), vp AS (SELECT count(*) FILTER (WHERE v.planned_date >= :f0::date AND v.planned_date <
:t0::date) AS planned0, count(*) FILTER (WHERE v.planned_date >= :f0::date AND v.planned_date < :t0::date
AND v.status = 'completed') AS completed0, count(*) FILTER (WHERE v.planned_date >= :f0::date AND
v.planned_date < :t0::date AND v.status = 'cancelled') AS cancelled0, count(*) FILTER (WHERE v.planned_date
>= :f0::date AND v.planned_date < :t0::date AND v.status IN ('planned', 'approved') AND v.planned_date <
:today::date) AS missed0, count(*) FILTER (WHERE v.planned_date >= :f0::date AND v.planned_date < :t0::date
AND v.status IN ('planned', 'approved') AND v.planned_date >= :today::date) AS pending0, count(*) FILTER
(WHERE v.planned_date >= :f1::date AND v.planned_date < :f0::date) AS planned1, count(*) FILTER (WHERE
v.planned_date >= :f1::date AND v.planned_date < :f0::date AND v.status = 'completed') AS completed1,
count(*) FILTER (WHERE v.planned_date >= :f1::date AND v.planned_date < :f0::date AND v.status =
'cancelled') AS cancelled1, count(*) FILTER (WHERE v.planned_date >= :f1::date AND v.planned_date <
:f0::date AND v.status IN ('planned', 'approved') AND v.planned_date < :today::date) AS missed1, count(*)
FILTER (WHERE v.planned_date >= :f1::date AND v.planned_date < :f0::date AND v.status IN ('planned',
'approved') AND v.planned_date >= :today::date) AS pending1 FROM visit_plans v WHERE v.planned_date >=
:f1::date AND v.planned_date < :t0::date), sa AS (SELECT count(*) FILTER (WHERE s.responded_at >=
:fi0::timestamptz AND s.responded_at < :ti0::timestamptz) AS n0, avg(s.overall) FILTER (WHERE s.responded_at
>= :fi0::timestamptz AND s.responded_at < :ti0::timestamptz) AS o0, count(*) FILTER (WHERE s.responded_at >=
:fi0::timestamptz AND s.responded_at < :ti0::timestamptz AND s.nps >= 9) AS pr0, count(*) FILTER (WHERE
s.responded_at >= :fi0::timestamptz AND s.responded_at < :ti0::timestamptz AND s.nps <= 6) AS de0, count(*)
FILTER (WHERE s.responded_at >= :fi1::timestamptz AND s.responded_at < :fi0::timestamptz) AS n1,
avg(s.overall) FILTER (WHERE s.responded_at >= :fi1::timestamptz AND s.responded_at < :fi0::timestamptz) AS
o1, count(*) FILTER (WHERE s.responded_at >= :fi1::timestamptz AND s.responded_at < :fi0::timestamptz AND
s.nps >= 9) AS pr1, count(*) FILTER (WHERE s.responded_at >= :fi1::timestamptz AND s.responded_at <
:fi0::timestamptz AND s.nps <= 6) AS de1 FROM survey_responses s WHERE s.responded_at >= :fi1::timestamptz
AND s.responded_at < :ti0::timestamptz), co AS (SELECT count(*) FILTER (WHERE k.received_at >=
:fi0::timestamptz AND k.received_at < :ti0::timestamptz) AS n0, count(k.first_response_at) FILTER (WHERE
k.received_at >= :fi0::timestamptz AND k.received_at < :ti0::timestamptz) AS responded0, extract(epoch FROM
avg(k.first_response_at - k.received_at) FILTER (WHERE k.received_at >= :fi0::timestamptz AND k.received_at
< :ti0::timestamptz)) AS response_s0, count(k.resolved_at) FILTER (WHERE k.received_at >= :fi0::timestamptz
AND k.received_at < :ti0::timestamptz) AS resolved0, extract(epoch FROM avg(k.resolved_at - k.received_at)
FILTER (WHERE k.received_at >= :fi0::timestamptz AND k.received_at < :ti0::timestamptz)) AS resolution_s0,
count(*) FILTER (WHERE k.received_at >= :fi0::timestamptz AND k.received_at < :ti0::timestamptz AND
crm_sla_status(k.first_response_due, k.first_response_at, 0, now()) = 'met') AS rmet0, count(*) FILTER
(WHERE k.received_at >= :fi0::timestamptz AND k.received_at < :ti0::timestamptz AND
crm_sla_status(k.first_response_due, k.first_response_at, 0, now()) = 'breached') AS rbreached0, count(*)
FILTER (WHERE k.received_at >= :fi0::timestamptz AND k.received_at < :ti0::timestamptz AND
crm_sla_status(k.resolution_due, k.resolved_at, 0, now()) = 'met') AS smet0, count(*) FILTER (WHERE
k.received_at >= :fi0::timestamptz AND k.received_at < :ti0::timestamptz AND
crm_sla_status(k.resolution_due, k.resolved_at, 0, now()) = 'breached') AS sbreached0, count(*) FILTER
(WHERE k.received_at >= :fi1::timestamptz AND k.received_at < :fi0::timestamptz) AS n1,
count(k.first_response_at) FILTER (WHERE k.received_at >= :fi1::timestamptz AND k.received_at <
:fi0::timestamptz) AS responded1, extract(epoch FROM avg(k.first_response_at - k.received_at) FILTER (WHERE
k.received_at >= :fi1::timestamptz AND k.received_at < :fi0::timestamptz)) AS response_s1,
count(k.resolved_at) FILTER (WHERE k.received_at >= :fi1::timestamptz AND k.received_at < :fi0::timestamptz)
AS resolved1, extract(epoch FROM avg(k.resolved_at - k.received_at) FILTER (WHERE k.received_at >=
:fi1::timestamptz AND k.received_at < :fi0::timestamptz)) AS resolution_s1, count(*) FILTER (WHERE
k.received_at >= :fi1::timestamptz AND k.received_at < :fi0::timestamptz AND
crm_sla_status(k.first_response_due, k.first_response_at, 0, now()) = 'met') AS rmet1, count(*) FILTER
(WHERE k.received_at >= :fi1::timestamptz AND k.received_at < :fi0::timestamptz AND
crm_sla_status(k.first_response_due, k.first_response_at, 0, now()) = 'breached') AS rbreached1, count(*)
FILTER (WHERE k.received_at >= :fi1::timestamptz AND k.received_at < :fi0::timestamptz AND
crm_sla_status(k.resolution_due, k.resolved_at, 0, now()) = 'met') AS smet1, count(*) FILTER (WHERE
k.received_at >= :fi1::timestamptz AND k.received_at < :fi0::timestamptz AND
crm_sla_status(k.resolution_due, k.resolved_at, 0, now()) = 'breached') AS sbreached1 FROM complaints k
WHERE k.archived_at IS NULL AND k.received_at >= :fi1::timestamptz AND k.received_at < :ti0::timestamptz),
bu AS (SELECT coalesce(sum(b.amount) FILTER (WHERE b.year = extract(year FROM :f0::date)), 0) AS y0,
coalesce(sum(b.amount) FILTER (WHERE b.year = extract(year FROM :f1::date)), 0) AS y1 FROM budgets b WHERE
b.archived_at IS NULL AND b.year IN (extract(year FROM :f0::date), extract(year FROM :f1::date))), ex AS
(SELECT coalesce(sum(x.amount) FILTER (WHERE x.expense_date >= :f0::date AND x.expense_date < :t0::date AND
x.status IN ('approved')), 0) AS approved0, coalesce(sum(x.amount) FILTER (WHERE x.expense_date >= :f0::date
AND x.expense_date < :t0::date AND x.status IN ('paid')), 0) AS paid0, coalesce(sum(x.amount) FILTER (WHERE
x.expense_date >= :f0::date AND x.expense_date < :t0::date AND x.status IN ('submitted',
'pending_finance')), 0) AS pending0, coalesce(sum(x.amount) FILTER (WHERE x.expense_date >= :f1::date AND
x.expense_date < :f0::date AND x.status IN ('approved')), 0) AS approved1, coalesce(sum(x.amount) FILTER
(WHERE x.expense_date >= :f1::date AND x.expense_date < :f0::date AND x.status IN ('paid')), 0) AS paid1,
coalesce(sum(x.amount) FILTER (WHERE x.expense_date >= :f1::date AND x.expense_date < :f0::date AND x.status
IN ('submitted', 'pending_finance')), 0) AS pending1 FROM expenses x WHERE x.expense_date >= :f1::date AND
x.expense_date < :t0::date AND x.status IN ('submitted', 'pending_finance', 'approved', 'paid')) SELECT CASE
p.k WHEN 0 THEN sa.n0 ELSE sa.n1 END, round(CASE p.k WHEN 0 THEN sa.o0 ELSE sa.o1 END, 2), CASE p.k WHEN 0
THEN sa.pr0 ELSE sa.pr1 END, CASE p.k WHEN 0 THEN sa.de0 ELSE sa.de1 END, crm_nps(CASE p.k WHEN 0 THEN
sa.pr0 ELSE sa.pr1 END, CASE p.k WHEN 0 THEN sa.de0 ELSE sa.de1 END, CASE p.k WHEN 0 THEN sa.n0 ELSE sa.n1
END), CASE p.k WHEN 0 THEN ta.n0 ELSE ta.n1 END, CASE p.k WHEN 0 THEN ta.n1 ELSE ta.n2 END, CASE p.k WHEN 0
THEN ta.r0 ELSE ta.r1 END, round((CASE p.k WHEN 0 THEN ta.r0 ELSE ta.r1 END)::numeric / nullif(CASE p.k WHEN
0 THEN ta.n1 ELSE ta.n2 END, 0), 4), CASE p.k WHEN 0 THEN co.n0 ELSE co.n1 END, ca.active, round(100.0 *
CASE p.k WHEN 0 THEN co.n0 ELSE co.n1 END / nullif(ca.active, 0), 2), CASE p.k WHEN 0 THEN co.responded0
ELSE co.responded1 END, round((CASE p.k WHEN 0 THEN co.response_s0 ELSE co.response_s1 END)::numeric / 3600,
2), CASE p.k WHEN 0 THEN co.resolved0 ELSE co.resolved1 END, round((CASE p.k WHEN 0 THEN co.resolution_s0
ELSE co.resolution_s1 END)::numeric / 3600, 2), CASE p.k WHEN 0 THEN co.rmet0 ELSE co.rmet1 END, CASE p.k
WHEN 0 THEN co.rbreached0 ELSE co.rbreached1 END, round((CASE p.k WHEN 0 THEN co.rmet0 ELSE co.rmet1
END)::numeric / nullif(CASE p.k WHEN 0 THEN co.rmet0 + co.rbreached0 ELSE co.rmet1 + co.rbreached1 END, 0),
4), CASE p.k WHEN 0 THEN co.smet0 ELSE co.smet1 END, CASE p.k WHEN 0 THEN co.sbreached0 ELSE co.sbreached1
END, round((CASE p.k WHEN 0 THEN co.smet0 ELSE co.smet1 END)::numeric / nullif(CASE p.k WHEN 0 THEN co.smet0
+ co.sbreached0 ELSE co.smet1 + co.sbreached1 END, 0), 4), CASE p.k WHEN 0 THEN vp.planned0 ELSE vp.planned1
END, CASE p.k WHEN 0 THEN vp.completed0 ELSE vp.completed1 END, CASE p.k WHEN 0 THEN vp.cancelled0 ELSE
vp.cancelled1 END, CASE p.k WHEN 0 THEN vp.missed0 ELSE vp.missed1 END, CASE p.k WHEN 0 THEN vp.pending0
ELSE vp.pending1 END, CASE p.k WHEN 0 THEN vp.completed0 + vp.missed0 ELSE vp.completed1 + vp.missed1 END,
round((CASE p.k WHEN 0 THEN vp.completed0 ELSE vp.completed1 END)::numeric / nullif(CASE p.k WHEN 0 THEN
vp.completed0 + vp.missed0 ELSE vp.completed1 + vp.missed1 END, 0), 4), CASE p.k WHEN 0 THEN :d0::date ELSE
:d1::date END::text, CASE p.k WHEN 0 THEN ca.n0 ELSE ca.n1 END, CASE p.k WHEN 0 THEN ca.k0 ELSE ca.k1 END,
CASE p.k WHEN 0 THEN ca.n0 - ca.k0 ELSE ca.n1 - ca.k1 END, round((CASE p.k WHEN 0 THEN ca.k0 ELSE ca.k1
END)::numeric / nullif(CASE p.k WHEN 0 THEN ca.n0 ELSE ca.n1 END, 0), 4), (CASE p.k WHEN 0 THEN round(bu.y0
* :months::integer / 12.0, 2) ELSE round(bu.y1 * :months::integer / 12.0, 2) END)::numeric(20, 2)::text,
(CASE p.k WHEN 0 THEN ex.approved0 ELSE ex.approved1 END)::numeric(20, 2)::text, (CASE p.k WHEN 0 THEN
ex.paid0 ELSE ex.paid1 END)::numeric(20, 2)::text, (CASE p.k WHEN 0 THEN ex.approved0 + ex.paid0 ELSE
ex.approved1 + ex.paid1 END)::numeric(20, 2)::text, (CASE p.k WHEN 0 THEN ex.pending0 ELSE ex.pending1
END)::numeric(20, 2)::text, CASE WHEN CASE p.k WHEN 0 THEN round(bu.y0 * :months::integer / 12.0, 2) ELSE
round(bu.y1 * :months::integer / 12.0, 2) END > 0 THEN round(CASE p.k WHEN 0 THEN ex.approved0 + ex.paid0
ELSE ex.approved1 + ex.paid1 END / CASE p.k WHEN 0 THEN round(bu.y0 * :months::integer / 12.0, 2) ELSE
round(bu.y1 * :months::integer / 12.0, 2) END, 4) END, CASE p.k WHEN 0 THEN ra.n0 ELSE ra.n1 END, CASE p.k
WHEN 0 THEN ra.c0 ELSE ra.c1 END::numeric(18, 2)::text, CASE p.k WHEN 0 THEN ra.p0 ELSE ra.p1
END::numeric(18, 2)::text, CASE WHEN CASE p.k WHEN 0 THEN ra.p0 ELSE ra.p1 END > 0 THEN round((CASE p.k WHEN
0 THEN ra.c0 - ra.p0 ELSE ra.c1 - ra.p1 END) / CASE p.k WHEN 0 THEN ra.p0 ELSE ra.p1 END, 4) END, p.k FROM
(VALUES (0), (1)) AS p (k), ta, ra, ca, vp, sa, co, bu, ex ORDER BY p.k;
COMMIT;
