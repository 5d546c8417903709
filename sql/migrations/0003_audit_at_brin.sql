-- The audit trail is append-only and written in time order, so a BRIN index
-- serves the from/to filters of GET /v1/audit at a fraction of a btree's
-- cost on every insert (reads of customer files add one row each).
DROP INDEX audit_log_at_idx;
CREATE INDEX audit_log_at_brin ON audit_log USING brin (at);
