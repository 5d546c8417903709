-- Ceiling for POST /v1/customers: one insert (owner given with pgbench -D owner=<uuid>).
\set n random(1, 1000000000)
INSERT INTO customers (name, owner_id) VALUES ('pgbench ' || :n, :owner);
