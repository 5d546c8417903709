-- Seeds 100,000 customers in one statement (psql variables s1, s2, s3: the sales users' ids).
-- Customer g gets id md5('crm-bench:' || g)::uuid — as random as gen_random_uuid(), but
-- reproducible, so pgbench can turn a random integer into a random existing id (pg_get.sql).
INSERT INTO customers (id, name, owner_id, region, industry, status, created_at)
SELECT md5('crm-bench:' || g)::uuid,
       '客户 ' || g,
       (ARRAY[:'s1', :'s2', :'s3'])[1 + g % 3]::uuid,
       (ARRAY['华东', '华南', '华北', '西南'])[1 + g % 4],
       (ARRAY['纺织', '机械', '化工', '电子', '食品'])[1 + g % 5],
       (ARRAY['prospect', 'active', 'dormant', 'lost'])[1 + g % 4],
       now() - g * interval '1 second'
FROM generate_series(1, 100000) AS g;

VACUUM ANALYZE customers;
