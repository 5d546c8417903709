-- Ceiling for GET /v1/customers?limit=50: the first keyset page, newest first.
SELECT * FROM customers WHERE archived_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 50;
