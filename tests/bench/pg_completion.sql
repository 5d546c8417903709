-- Ceiling for GET /v1/reports/visit-completion?period=2026 as a sales_manager: the statement
-- service/resources/reports.c runs for it (pgbench -D period_from=2026-01-01 -D period_to=2027-01-01).
SELECT g.owner_id, u.display_name, g.planned, g.completed, g.cancelled, g.missed, g.pending,
       round(g.completed::numeric / nullif(g.planned - g.cancelled, 0), 4), crm_tz(), (:period_to::date - 1)::text
FROM (SELECT c.owner_id, grouping(c.owner_id) = 1 AS overall, count(*) AS planned,
             count(*) FILTER (WHERE p.status = 'completed') AS completed,
             count(*) FILTER (WHERE p.status = 'cancelled') AS cancelled,
             count(*) FILTER (WHERE p.status IN ('planned', 'approved') AND p.planned_date < t.today) AS missed,
             count(*) FILTER (WHERE p.status IN ('planned', 'approved') AND p.planned_date >= t.today) AS pending
      FROM visit_plans p JOIN customers c ON c.id = p.customer_id, (SELECT crm_today() AS today) t
      WHERE p.planned_date >= :period_from::date AND p.planned_date < :period_to::date
      GROUP BY GROUPING SETS ((), (c.owner_id))) g
LEFT JOIN users u ON u.id = g.owner_id
ORDER BY g.overall DESC, u.display_name, g.owner_id;
