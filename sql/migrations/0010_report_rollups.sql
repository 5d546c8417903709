-- Per-customer transaction rollups for the reports (issue 5: "reports answer
-- in well under a second on 100,000 customers and 1,000,000 transactions").
-- The KPI board and cost-benefit sum each customer's live CNY transactions
-- per period; summing the transactions themselves reads every row of up to
-- three years. The rollup holds the same sums per customer and calendar
-- period, at each length a report period can have (period_parse: a month,
-- quarter, half or year; the KPI board's previous periods have the same
-- length and stay aligned), so a report reads one row per customer and
-- period instead of one per transaction.

-- ---- transaction_rollups ----------------------------------------------------
-- months: the period's length (1, 3, 6, 12); period_from: its first day.
-- cents: the sum of amount * 100 (exact: amount is numeric(16, 2)); returns
-- are negative. purchases: how many of the rows have amount > 0 (the board's
-- "bought in the period"). rows: how many rows the figures sum (a row
-- reaching 0 is deleted, so the table holds exactly the non-empty periods;
-- tests/api/test_report_rollups.py checks it against the transactions).
-- Only live (archived_at IS NULL) CNY transactions count, like tiering.
CREATE TABLE transaction_rollups (
    customer_id uuid NOT NULL REFERENCES customers (id),
    months      smallint NOT NULL CHECK (months IN (1, 3, 6, 12)),
    period_from date NOT NULL,
    cents       bigint NOT NULL,
    -- No CHECK (purchases >= 0 AND rows >= 0): INSERT … ON CONFLICT checks
    -- the proposed row (a negative delta) before it finds the conflict.
    purchases   integer NOT NULL,
    rows        integer NOT NULL,
    PRIMARY KEY (customer_id, months, period_from),
    CONSTRAINT transaction_rollups_aligned CHECK (
        extract(day FROM period_from) = 1 AND (extract(month FROM period_from)::int - 1) % months = 0)
);
-- Every customer's periods of one length in a date range (the reports over
-- every customer); one owner's go through the primary key per customer.
CREATE INDEX transaction_rollups_period_idx ON transaction_rollups (months, period_from, customer_id)
    INCLUDE (cents, purchases);

-- The first day of the `months`-long calendar period holding day d.
CREATE FUNCTION crm_period_from(d date, months integer) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT make_date(extract(year FROM d)::int, (extract(month FROM d)::int - 1) / months * months + 1, 1)
$$;

-- Keeping the rollup current: every statement writing transactions adds
-- its new rows and subtracts its old ones (live CNY rows only), netted per
-- customer and period, in the same transaction (statement-level, like the
-- tier triggers of 0006: a batch of 1,000 rows is one upsert). Covers
-- inserts, amount/date/currency/customer changes, archive (the row stops
-- counting), restore and deletes. The upsert runs in primary-key order
-- (concurrent writers of different customers take the rollup rows' locks in
-- one order; writers of one customer are serialised by the customer lock the
-- service takes first). Periods left with no rows are deleted. A bulk load
-- with the triggers off (session_replication_role = replica) is followed by
-- SELECT crm_rebuild_transaction_rollups().
CREATE FUNCTION transaction_rollups_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    -- The signed rows of this statement: transition tables, named by event.
    src text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT n.*, 1 AS sign FROM new_rows n'
        WHEN 'DELETE' THEN 'SELECT o.*, -1 AS sign FROM old_rows o'
        ELSE 'SELECT n.*, 1 AS sign FROM new_rows n UNION ALL SELECT o.*, -1 FROM old_rows o' END;
BEGIN
    EXECUTE format($q$
        INSERT INTO transaction_rollups AS r (customer_id, months, period_from, cents, purchases, rows)
        SELECT d.customer_id, m.months, crm_period_from(d.occurred_on, m.months),
               sum(d.sign * (d.amount * 100)::bigint), sum(d.sign * (d.amount > 0)::int), sum(d.sign)
        FROM (%s) d CROSS JOIN (VALUES (1), (3), (6), (12)) AS m (months)
        WHERE d.archived_at IS NULL AND d.currency = 'CNY'
        GROUP BY 1, 2, 3
        HAVING sum(d.sign * (d.amount * 100)::bigint) <> 0 OR sum(d.sign * (d.amount > 0)::int) <> 0
            OR sum(d.sign) <> 0
        ORDER BY 1, 2, 3
        ON CONFLICT (customer_id, months, period_from) DO UPDATE
            SET cents = r.cents + excluded.cents, purchases = r.purchases + excluded.purchases,
                rows = r.rows + excluded.rows$q$, src);
    -- A second statement: the upsert's own rows are not visible to a DELETE
    -- in the same statement.
    EXECUTE format($q$
        DELETE FROM transaction_rollups r WHERE r.rows = 0
        AND r.customer_id IN (SELECT d.customer_id FROM (%s) d)$q$, src);
    RETURN NULL;
END
$$;
CREATE TRIGGER transaction_rollups_ins AFTER INSERT ON transactions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION transaction_rollups_sync();
CREATE TRIGGER transaction_rollups_upd AFTER UPDATE ON transactions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION transaction_rollups_sync();
CREATE TRIGGER transaction_rollups_del AFTER DELETE ON transactions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION transaction_rollups_sync();

-- Rebuilds the whole rollup from the transactions (after a bulk load with
-- the triggers off; also the initial fill of this migration).
CREATE FUNCTION crm_rebuild_transaction_rollups() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE transactions IN SHARE MODE;
    DELETE FROM transaction_rollups;
    INSERT INTO transaction_rollups (customer_id, months, period_from, cents, purchases, rows)
    SELECT t.customer_id, m.months, crm_period_from(t.occurred_on, m.months),
           sum((t.amount * 100)::bigint), count(*) FILTER (WHERE t.amount > 0), count(*)
    FROM transactions t CROSS JOIN (VALUES (1), (3), (6), (12)) AS m (months)
    WHERE t.archived_at IS NULL AND t.currency = 'CNY'
    GROUP BY 1, 2, 3;
END
$$;
-- The initial fill reads every transaction once: on a large table (the
-- benchmark's 1,000,000 rows) longer than the service's statement timeout,
-- which the migration transaction otherwise runs under.
SET LOCAL statement_timeout = 0;
SELECT crm_rebuild_transaction_rollups();
