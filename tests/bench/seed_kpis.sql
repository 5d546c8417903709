-- Seeds the KPI board scenarios on top of seed.sql and seed_reports.sql (psql variable author, the
-- sales manager's id).
--
-- Customers get creation times spread over the last ~900 days (triggers off, as below) (seed.sql made them all in the last
-- day, which would leave every earlier period without a customer base), then 1,000,000 ERP
-- transactions over the last 730 days: customer numbers 1..100000 except every fifth
-- (g % 5 = 0 never buys), ~12.5 transactions per buying customer, amounts 100..20,100 CNY, one in
-- fifty a return (negative), all in CNY. Loaded like the interactions of
-- seed_reports.sql: triggers off (session_replication_role = replica: no tier recomputation per
-- row, no FK checks — the ids are consistent by construction), secondary indexes dropped for the
-- load and rebuilt from their own definitions (the unique external_ref index, which backs a
-- constraint, stays); then the reports' per-customer rollup of them (0010) rebuilt in one pass.
--
-- Then what the other KPIs read, at the volumes of a few years of use: 4 half-yearly survey campaigns
-- (one open, three closed) of 25,000 target customers each with 15,000 responses each (60 %);
-- 20,000 complaints over 730 days (a fifth urgent; 60 % closed, 20 % resolved, 10 % acknowledged,
-- 10 % only received), each leg's timing drawn so that about one in five breaches its deadline;
-- budgets for every sales rep (2,000,000 per category) and team-wide (4,000,000 per category) for
-- the last three years, about what the expenses use; 50,000
-- expenses over 730 days claimed by the sales reps (40 % approved, 40 % paid, 10 % submitted,
-- 10 % rejected), four in five naming a customer.
\set ON_ERROR_STOP on

SET session_replication_role = replica;
SET maintenance_work_mem = '256MB';

UPDATE customers c SET created_at = now() - (g % 900) * interval '1 day' - g * interval '1 second'
FROM generate_series(1, 100000) AS g
WHERE c.id = md5('crm-bench:' || g)::uuid;

CREATE TEMP TABLE seed_tx_indexes AS
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
FROM pg_index i
WHERE i.indrelid = 'transactions'::regclass AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid);
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT name FROM seed_tx_indexes LOOP
        EXECUTE format('DROP INDEX %s', r.name);
    END LOOP;
END
$$;

-- k in 0..79999 maps to the customer numbers 1..99999 that are not multiples of 5.
INSERT INTO transactions (external_ref, customer_id, occurred_on, amount, currency, product_category, product_model)
SELECT 'bench-tx-' || i,
       md5('crm-bench:' || (k + k / 4 + 1))::uuid,
       current_date - (random() * 730)::int,
       CASE WHEN i % 50 = 0 THEN -1 ELSE 1 END * round((100 + random() * 20000)::numeric, 2),
       'CNY',
       (ARRAY['坯布', '色织布', '印染布', '家纺面料'])[1 + i % 4],
       'M-' || (i % 300)
FROM generate_series(1, 1000000) AS i, LATERAL (SELECT (i::bigint * 7919 % 80000)::int AS k) AS m;

DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT def FROM seed_tx_indexes LOOP
        EXECUTE r.def;
    END LOOP;
END
$$;

-- ---- survey campaigns and responses ----
INSERT INTO surveys (id, title, period_from, period_to, method, target_tiers, status, opened_at, opened_by,
                     closed_at, closed_by, created_by)
SELECT md5('crm-bench-survey:' || k)::uuid, '满意度调查 ' || k, current_date - (k + 1) * 180, current_date - k * 180 - 1,
       'phone', '["vip", "key", "general"]', CASE WHEN k = 0 THEN 'open' ELSE 'closed' END,
       now() - (k + 1) * interval '180 days', :'author'::uuid,
       CASE WHEN k > 0 THEN now() - k * interval '180 days' END, CASE WHEN k > 0 THEN :'author'::uuid END,
       :'author'::uuid
FROM generate_series(0, 3) AS k;

INSERT INTO survey_targets (survey_id, customer_id, tier, owner_id)
SELECT md5('crm-bench-survey:' || g % 4)::uuid, c.id, coalesce(c.tier_override, c.tier), c.owner_id
FROM generate_series(1, 100000) AS g JOIN customers c ON c.id = md5('crm-bench:' || g)::uuid;

INSERT INTO survey_responses (survey_id, customer_id, product_quality, service, delivery, overall, nps, method,
                              responded_at, recorded_by)
SELECT md5('crm-bench-survey:' || g % 4)::uuid, md5('crm-bench:' || g)::uuid,
       1 + h % 5, 1 + h / 5 % 5, 1 + h / 25 % 5, 1 + h / 125 % 5, h / 625 % 11, 'phone',
       now() - (g % 4 + 1) * interval '180 days' + (h % 179) * interval '1 day', :'author'::uuid
FROM generate_series(1, 100000) AS g,
     LATERAL (SELECT ('x' || substr(md5('survey:' || g), 1, 7))::bit(28)::int AS h) AS x
WHERE g % 10 < 6;

-- ---- complaints ----
-- i % 10: 0-5 closed, 6-7 resolved, 8 acknowledged, 9 received. Response after 10 min .. 30 h, handling
-- after response + 0..20 h, resolution 1..8 days after receipt with a 5-day deadline; received over
-- the last ~730 days (1,048,576 minutes). Drawn from i (a random() in a LATERAL would be evaluated once).
INSERT INTO complaints (customer_id, channel, category, severity, description, received_at, status,
                        first_response_due, first_response_at, first_response_by, start_due, started_at,
                        resolution_due, resolved_at, department, assignee_id, assigned_at, resolution, root_cause,
                        resolved_by, satisfaction, closed_at, created_by, created_at)
SELECT md5('crm-bench:' || (1 + (i * 7) % 100000))::uuid,
       (ARRAY['phone', 'email', 'wechat', 'meeting'])[1 + i % 4],
       (ARRAY['quality', 'delivery', 'service', 'billing', 'other'])[1 + i % 5],
       CASE WHEN i % 5 = 0 THEN 'urgent' ELSE 'normal' END,
       '压测投诉 ' || i, r.at,
       s.status,
       r.at + CASE WHEN i % 5 = 0 THEN interval '1 hour' ELSE interval '24 hours' END,
       CASE WHEN s.status <> 'received' THEN r.at + r.resp END,
       CASE WHEN s.status <> 'received' THEN :'author'::uuid END,
       r.at + interval '24 hours',
       CASE WHEN s.status IN ('resolved', 'closed') THEN r.at + r.resp + r.start END,
       CASE WHEN s.status IN ('resolved', 'closed') THEN r.at + interval '5 days' END,
       CASE WHEN s.status IN ('resolved', 'closed') THEN r.at + r.solve END,
       CASE WHEN s.status IN ('resolved', 'closed') THEN '质量部' END,
       CASE WHEN s.status IN ('resolved', 'closed') THEN :'author'::uuid END,
       CASE WHEN s.status IN ('resolved', 'closed') THEN r.at + r.resp END,
       CASE WHEN s.status IN ('resolved', 'closed') THEN '换货处理' END,
       CASE WHEN s.status IN ('resolved', 'closed') THEN (ARRAY['material', 'process', 'logistics'])[1 + i % 3] END,
       CASE WHEN s.status IN ('resolved', 'closed') THEN :'author'::uuid END,
       CASE WHEN s.status = 'closed' THEN 1 + i % 5 END,
       CASE WHEN s.status = 'closed' THEN r.at + r.solve + interval '1 day' END,
       :'author'::uuid, r.at
FROM generate_series(1, 20000) AS i,
     LATERAL (SELECT CASE WHEN i % 10 < 6 THEN 'closed' WHEN i % 10 < 8 THEN 'resolved'
                          WHEN i % 10 = 8 THEN 'acknowledged' ELSE 'received' END AS status) AS s,
     LATERAL (SELECT now() - interval '2 days' - (i::bigint * 7919 % 1048576) * interval '1 minute' AS at,
                     interval '10 minutes' + (i * 31 % 1800) * interval '1 minute' AS resp,
                     (i * 17 % 1200) * interval '1 minute' AS start,
                     interval '1 day' + (i * 13 % 10080) * interval '1 minute' AS solve) AS r;

-- ---- budgets and expenses ----
INSERT INTO budgets (year, category, owner_id, amount, created_by)
SELECT y, cat, u.id, CASE WHEN u.id IS NULL THEN 4000000 ELSE 2000000 END, :'author'::uuid
FROM generate_series(extract(year FROM current_date)::int - 2, extract(year FROM current_date)::int) AS y,
     unnest(ARRAY['visits', 'events', 'after_sales', 'gifts', 'other']) AS cat,
     (SELECT id FROM users WHERE role = 'sales' UNION ALL SELECT NULL) AS u;

INSERT INTO expenses (claimant_id, category, amount, expense_date, description, customer_id, status, approved_by,
                      approved_at, paid_by, paid_at, reject_reason)
SELECT reps.ids[1 + i % array_length(reps.ids, 1)],
       (ARRAY['visits', 'events', 'after_sales', 'gifts', 'other'])[1 + i % 5],
       round((50 + random() * 5000)::numeric, 2),
       current_date - (i % 730),
       '压测费用 ' || i,
       CASE WHEN i % 5 <> 0 THEN md5('crm-bench:' || (1 + (i * 11) % 100000))::uuid END,
       s.status,
       CASE WHEN s.status IN ('approved', 'paid') THEN :'author'::uuid END,
       CASE WHEN s.status IN ('approved', 'paid') THEN now() END,
       CASE WHEN s.status = 'paid' THEN :'author'::uuid END,
       CASE WHEN s.status = 'paid' THEN now() END,
       CASE WHEN s.status = 'rejected' THEN '超出标准' END
FROM generate_series(1, 50000) AS i,
     (SELECT array_agg(id ORDER BY id) AS ids FROM users WHERE role = 'sales') AS reps,
     LATERAL (SELECT CASE WHEN i % 10 < 4 THEN 'approved' WHEN i % 10 < 8 THEN 'paid'
                          WHEN i % 10 = 8 THEN 'submitted' ELSE 'rejected' END AS status) AS s;

RESET session_replication_role;
-- The transactions went in with the triggers off: rebuild the reports' rollup (0010) from them.
SELECT crm_rebuild_transaction_rollups();

VACUUM ANALYZE customers;
VACUUM ANALYZE transactions;
VACUUM ANALYZE transaction_rollups;
VACUUM ANALYZE survey_targets;
VACUUM ANALYZE survey_responses;
VACUUM ANALYZE complaints;
VACUUM ANALYZE budgets;
VACUUM ANALYZE expenses;
