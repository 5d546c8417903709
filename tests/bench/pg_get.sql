-- Ceiling for GET /v1/customers/{id}: one primary-key lookup of a random seeded customer.
-- run.sh seeds customer n with id md5('crm-bench:' || n)::uuid, so a random n is a random id.
\set n random(1, 100000)
SELECT * FROM customers WHERE id = md5('crm-bench:' || :n)::uuid;
