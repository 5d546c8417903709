-- The service renders every document in C now (service/resources/*.c,
-- FIELDS(X) lists): the SQL renderers and their timestamp helper are unused.
-- Audit snapshots are to_jsonb(row) (users without password_hash).

DROP FUNCTION api_customer(customers);
DROP FUNCTION api_contact(contacts);
DROP FUNCTION api_user(users);
DROP FUNCTION api_audit(audit_log);
DROP FUNCTION api_ts(timestamptz);
