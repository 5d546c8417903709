-- Seeds the KPI board scenarios on top of seed.sql and seed_reports.sql (psql variable author, the
-- sales manager's id).
--
-- Customers get creation times spread over the last ~900 days (seed.sql made them all in the last
-- day, which would leave every earlier period without a customer base), then 1,000,000 ERP
-- transactions over the last 730 days: customer numbers 1..100000 except every fifth
-- (g % 5 = 0 never buys), ~12.5 transactions per buying customer, amounts 100..20,100 CNY, one in
-- fifty a return (negative), all in CNY. Loaded like the interactions of
-- seed_reports.sql: triggers off (session_replication_role = replica: no tier recomputation per
-- row, no FK checks — the ids are consistent by construction), secondary indexes dropped for the
-- load and rebuilt from their own definitions (the unique external_ref index, which backs a
-- constraint, stays).
\set ON_ERROR_STOP on

UPDATE customers c SET created_at = now() - (g % 900) * interval '1 day' - g * interval '1 second'
FROM generate_series(1, 100000) AS g
WHERE c.id = md5('crm-bench:' || g)::uuid;

SET session_replication_role = replica;
SET maintenance_work_mem = '256MB';

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

RESET session_replication_role;

VACUUM ANALYZE customers;
VACUUM ANALYZE transactions;
