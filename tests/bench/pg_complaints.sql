-- Ceiling for GET /v1/reports/complaints?from=<Jan 1>&to=<Dec 31> of this year as the sales_manager:
-- the statement service/resources/complaint_reports.c runs for it (pgbench -D year_from=… -D year_to=…).
WITH k AS (SELECT NULL::text AS key, cm.status, cm.satisfaction, cm.refund_amount, extract(epoch FROM
cm.first_response_at - cm.received_at) / 3600 AS h_first, extract(epoch FROM cm.resolved_at -
cm.received_at) / 3600 AS h_res, crm_sla_status(cm.first_response_due, cm.first_response_at,
p.at_risk_minutes, now()) AS s_fr, crm_sla_status(cm.start_due, cm.started_at, p.at_risk_minutes, now()) AS
s_st, crm_sla_status(cm.resolution_due, cm.resolved_at, p.at_risk_minutes, now()) AS s_res, cm.root_cause IS
NOT NULL AND EXISTS (SELECT 1 FROM complaints o WHERE o.customer_id = cm.customer_id AND o.root_cause =
cm.root_cause AND o.archived_at IS NULL AND (o.received_at, o.id) < (cm.received_at, cm.id) AND
o.received_at >= cm.received_at - interval '90 days') AS repeat FROM complaints cm JOIN customers c ON c.id
= cm.customer_id JOIN complaint_sla_policies p ON p.severity = cm.severity WHERE cm.archived_at IS NULL AND
cm.received_at >= (:year_from::date::timestamp AT TIME ZONE crm_tz()) AND cm.received_at < ((:year_to::date
+ 1)::timestamp AT TIME ZONE crm_tz())), g0 AS (SELECT k.key, grouping(k.key) = 1 AS overall, count(*) AS
complaints, count(*) FILTER (WHERE k.status NOT IN ('resolved', 'closed')) AS open, avg(k.h_first) AS
mean_first, percentile_cont(0.9) WITHIN GROUP (ORDER BY k.h_first)::numeric AS p90_first, avg(k.h_res) AS
mean_res, percentile_cont(0.9) WITHIN GROUP (ORDER BY k.h_res)::numeric AS p90_res, count(*) FILTER (WHERE
k.s_fr = 'met') AS fr_met, count(*) FILTER (WHERE k.s_fr = 'breached') AS fr_breached, count(*) FILTER
(WHERE k.s_st = 'met') AS st_met, count(*) FILTER (WHERE k.s_st = 'breached') AS st_breached, count(*)
FILTER (WHERE k.s_res = 'met') AS res_met, count(*) FILTER (WHERE k.s_res = 'breached') AS res_breached,
count(*) FILTER (WHERE k.repeat) AS repeats, avg(k.satisfaction) AS satisfaction,
coalesce(sum(k.refund_amount), 0)::numeric(16, 2) AS refund_total FROM k GROUP BY GROUPING SETS ((),
(k.key))), a AS (SELECT count(*) AS n FROM customers c WHERE c.status = 'active' AND c.archived_at IS NULL)
SELECT g.key, g.label, g.complaints, g.open, g.active, round(g.complaints * 100.0 / nullif(g.active, 0), 2),
round(g.mean_first, 2), round(g.p90_first, 2), round(g.mean_res, 2), round(g.p90_res, 2), g.fr_met,
g.fr_breached, g.complaints - g.fr_met - g.fr_breached, round(g.fr_met::numeric / nullif(g.fr_met +
g.fr_breached, 0), 4), g.st_met, g.st_breached, g.complaints - g.st_met - g.st_breached,
round(g.st_met::numeric / nullif(g.st_met + g.st_breached, 0), 4), g.res_met, g.res_breached, g.complaints -
g.res_met - g.res_breached, round(g.res_met::numeric / nullif(g.res_met + g.res_breached, 0), 4), g.repeats,
round(g.satisfaction, 2), g.refund_total::text, g.overall, crm_tz() FROM (SELECT g.*, NULL::text AS label,
a.n AS active FROM g0 AS g, a) g WHERE g.overall ORDER BY g.overall DESC, g.key;
