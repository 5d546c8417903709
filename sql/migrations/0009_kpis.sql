-- The KPI board (GET /v1/reports/kpis): indexes for its one pass over each
-- log's date range when it covers every customer. The board groups the rows
-- of three consecutive periods (the requested one, the one before, and the
-- one before that, for the previous period's retention and growth) by
-- customer; read from these indexes alone (index-only scans, no heap
-- visits), that costs the hashing and nothing else. One owner's board reads
-- the same rows per customer through the customer indexes of 0004 and 0006
-- (transactions_tier_idx) instead.

-- The transactions' side of the board (purchases and revenue per customer
-- and period) is read from the rollup of 0010 (transaction_rollups), not
-- from an index on the transactions.

-- Live interactions and visits by time: which customers were maintained
-- (contacted) in a period, and each customer's last contact before the
-- cadence figure's as-of day.
CREATE INDEX interactions_kpi_idx ON interactions (occurred_at, customer_id) WHERE archived_at IS NULL;
CREATE INDEX visits_kpi_idx ON visits (visited_at, customer_id) WHERE archived_at IS NULL;
