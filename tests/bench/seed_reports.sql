-- Seeds the report scenarios on top of seed.sql's 100,000 customers (psql variables: author, the
-- sales manager's id, who writes every row; small, a fourth sales rep who gets ~2,000 customers).
--
-- Customer g (id md5('crm-bench:' || g)::uuid) gets a tier mix (vip 5 %, key 20 %, general 40 %,
-- reserve 35 %, 1 % with a tier override), a first-contact date (a third), a last review (half);
-- seed.sql already made a quarter of them lost. Every tenth customer (g % 10 = 0) has no
-- interaction, so its cadence starts from the first-contact date or the creation day.
--
-- 1,000,000 interactions over 540 days and 100,000 visit records over 365 days are inserted with
-- triggers off (session_replication_role = replica: no per-row recomputation of the customer's
-- last contact, no FK checks — the ids are consistent by construction); one UPDATE then sets
-- customers.last_contact_at / last_visit_at exactly as the triggers would. 80,000 visit plans
-- (2025-07 .. 2027-06) and 50,000 follow-ups complete the picture.
\set ON_ERROR_STOP on

-- h, o: pseudo-random numbers per customer, so tiers and owners line up neither with g's residues
-- nor with each other.
UPDATE customers c
SET tier = CASE WHEN h % 20 = 0 THEN 'vip' WHEN h % 20 <= 4 THEN 'key' WHEN h % 20 <= 12 THEN 'general'
                ELSE 'reserve' END,
    tier_override = CASE WHEN h % 100 = 13 THEN 'key' END,
    tier_override_reason = CASE WHEN h % 100 = 13 THEN '战略客户' END,
    first_contact_at = CASE WHEN g % 3 = 0 THEN current_date - (g % 700) END,
    last_reviewed_at = CASE WHEN g % 2 = 0 THEN now() - (g % 200) * interval '1 day' END,
    owner_id = CASE WHEN o % 50 = 7 THEN :'small'::uuid ELSE c.owner_id END
FROM generate_series(1, 100000) AS g, LATERAL (SELECT ('x' || substr(md5('tier:' || g), 1, 7))::bit(28)::int AS h,
                 ('x' || substr(md5('owner:' || g), 1, 7))::bit(28)::int AS o) AS x
WHERE c.id = md5('crm-bench:' || g)::uuid;

SET session_replication_role = replica;
SET maintenance_work_mem = '256MB';

-- The interactions' secondary indexes are dropped for the load and rebuilt from their own
-- definitions afterwards (ten times faster than maintaining them row by row).
CREATE TEMP TABLE seed_indexes AS
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
FROM pg_index i WHERE i.indrelid = 'interactions'::regclass AND NOT i.indisprimary;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT name FROM seed_indexes LOOP
        EXECUTE format('DROP INDEX %s', r.name);
    END LOOP;
END
$$;

-- k in 0..89999 maps to the customer numbers 1..99999 that are not multiples of 10.
INSERT INTO interactions (customer_id, channel, occurred_at, summary, author_id)
SELECT md5('crm-bench:' || (k + k / 9 + 1))::uuid,
       (ARRAY['phone', 'email', 'wechat', 'sms', 'meeting', 'event', 'other'])[1 + i % 7],
       now() - random() * interval '540 days',
       '压测沟通 ' || i,
       :'author'::uuid
FROM generate_series(1, 1000000) AS i, LATERAL (SELECT i % 90000 AS k) AS m;

DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT def FROM seed_indexes LOOP
        EXECUTE r.def;
    END LOOP;
END
$$;

INSERT INTO visits (customer_id, visited_at, place, author_id)
SELECT md5('crm-bench:' || (1 + 2 * (i % 50000)))::uuid, now() - random() * interval '365 days', '客户工厂', :'author'::uuid
FROM generate_series(1, 100000) AS i;

WITH li AS (SELECT customer_id, max(occurred_at) AS t FROM interactions WHERE archived_at IS NULL GROUP BY customer_id),
     lv AS (SELECT customer_id, max(visited_at) AS t FROM visits WHERE archived_at IS NULL GROUP BY customer_id),
     last AS (SELECT customer_id, greatest(li.t, lv.t) AS contact, lv.t AS visit FROM li FULL JOIN lv USING (customer_id))
UPDATE customers c SET last_contact_at = last.contact, last_visit_at = last.visit
FROM last WHERE c.id = last.customer_id;

-- Plans: 60 % completed, 10 % cancelled, the rest planned or approved (missed when past).
INSERT INTO visit_plans (customer_id, planned_date, purpose, status, cancel_reason, completed_at, created_by)
SELECT md5('crm-bench:' || (1 + (i * 7) % 100000))::uuid,
       date '2025-07-01' + (i % 730),
       '例行拜访',
       s.status,
       CASE WHEN s.status = 'cancelled' THEN '客户改期' END,
       CASE WHEN s.status = 'completed' THEN now() END,
       :'author'::uuid
FROM generate_series(1, 80000) AS i,
     LATERAL (SELECT CASE WHEN i % 10 < 6 THEN 'completed' WHEN i % 10 = 6 THEN 'cancelled'
                          WHEN i % 10 = 7 THEN 'approved' ELSE 'planned' END AS status) AS s;

-- Follow-ups due from 200 days ago to 100 days ahead; half open or in progress.
INSERT INTO follow_ups (customer_id, source_type, source_id, description, responsible_user_id, due_date, status,
                        outcome, created_by)
SELECT md5('crm-bench:' || (1 + (i * 13) % 100000))::uuid,
       'visit',
       md5('crm-bench-visit:' || i)::uuid,
       '跟进事项 ' || i,
       CASE WHEN i % 3 = 0 THEN :'author'::uuid END,
       current_date - 200 + (i % 300),
       (ARRAY['open', 'in_progress', 'done', 'verified'])[1 + i % 4],
       CASE WHEN i % 4 >= 2 THEN '已处理' END,
       :'author'::uuid
FROM generate_series(1, 50000) AS i;

RESET session_replication_role;

VACUUM ANALYZE customers;
VACUUM ANALYZE interactions;
VACUUM ANALYZE visits;
VACUUM ANALYZE visit_plans;
VACUUM ANALYZE follow_ups;
