-- The ERP transaction feed (purchase history) and customer tiering.
-- The core columns of transactions (customer_id, occurred_on, amount,
-- currency, archived_at) are what tiering, cost-benefit and the KPI board
-- read; keep their names stable.

-- ---- transactions -----------------------------------------------------------
-- One row per ERP order/invoice line, keyed by the ERP's external reference
-- (the upsert key). amount is exact (numeric), negative for returns and
-- credit notes.
CREATE TABLE transactions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    external_ref     text NOT NULL CONSTRAINT transactions_external_ref_key UNIQUE
                     CHECK (length(external_ref) BETWEEN 1 AND 64),
    customer_id      uuid NOT NULL REFERENCES customers (id),
    occurred_on      date NOT NULL,
    amount           numeric(16, 2) NOT NULL,
    currency         text NOT NULL DEFAULT 'CNY' CHECK (currency ~ '^[A-Z]{3}$'),
    product_category text CHECK (length(product_category) BETWEEN 1 AND 100),
    product_model    text CHECK (length(product_model) BETWEEN 1 AND 100),
    archived_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    version          integer NOT NULL DEFAULT 1
);
CREATE INDEX transactions_customer_idx ON transactions (customer_id, occurred_on DESC, id DESC);
CREATE INDEX transactions_occurred_idx ON transactions (occurred_on DESC, id DESC);

-- ---- additions of the ERP feed ----------------------------------------------
-- Who pushed the row first and last (the ERP's machine account, or an admin
-- correcting it); the audit trail keeps every version.
ALTER TABLE transactions
    ADD COLUMN created_by uuid REFERENCES users (id),
    ADD COLUMN updated_by uuid REFERENCES users (id);

-- The service accepts CNY only (the business currency; the ERP converts
-- foreign-currency orders before pushing them), so every sum over amount is
-- a sum of one currency. The column keeps its ISO-code shape so a later
-- multi-currency feed is a relaxation, not a migration of data; every
-- consumer should still filter currency = 'CNY' (the tier does).
-- The tier sum: the live CNY rows of one customer in a date window, read
-- from the index alone (cost-benefit and the KPI board can use it too).
CREATE INDEX transactions_tier_idx ON transactions (customer_id, occurred_on) INCLUDE (amount)
    WHERE archived_at IS NULL AND currency = 'CNY';
-- GET /v1/transactions?product_category=…
CREATE INDEX transactions_category_idx ON transactions (product_category, occurred_on DESC, id DESC)
    WHERE product_category IS NOT NULL;

-- ---- tier arithmetic ----------------------------------------------------------
-- DOMAIN.md: vip = trailing-12-month total >= 500,000 and credit rating A or
-- better (AAA, AA, A); key = 100,000 <= total < 500,000, or >= 500,000
-- without good credit (rating B, C or none yet); general = 0 < total <
-- 100,000; reserve = nothing bought (total <= 0: no transactions, or returns
-- cancelling the purchases).
CREATE FUNCTION crm_tier_for(total numeric, rating text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN total >= 500000 AND rating IN ('AAA', 'AA', 'A') THEN 'vip'
        WHEN total >= 100000 THEN 'key'
        WHEN total > 0 THEN 'general'
        ELSE 'reserve'
    END
$$;

-- The trailing-12-month window ending on the business date `today`,
-- inclusive at both ends: (today - 12 months, today], e.g. 2025-11-24 ..
-- 2026-11-23 for today 2026-11-23 (month ends clamp: today 2026-02-28 →
-- from 2025-03-01). A transaction ages out on the day it turns 12 months old.
CREATE FUNCTION crm_tier_window_from(today date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (today - interval '12 months')::date + 1
$$;

-- The tier total of one customer on `today`: live (not archived) CNY
-- transactions dated in the window. 0 when there are none.
CREATE FUNCTION crm_tier_total(cid uuid, today date) RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(sum(t.amount), 0)::numeric(16, 2) FROM transactions t
    WHERE t.customer_id = cid AND t.archived_at IS NULL AND t.currency = 'CNY'
      AND t.occurred_on BETWEEN crm_tier_window_from(today) AND today
$$;

-- ---- tier history ---------------------------------------------------------------
-- Every change of a customer's computed tier, kept forever (append-only like
-- the audit trail): what it was, what it became, the figures it was computed
-- from and why it was recomputed. GET /v1/customers/{id}/tier-history.
CREATE TABLE customer_tier_history (
    id             bigserial PRIMARY KEY,
    customer_id    uuid NOT NULL REFERENCES customers (id),
    old_tier       text NOT NULL CHECK (old_tier IN ('vip', 'key', 'general', 'reserve')),
    new_tier       text NOT NULL CHECK (new_tier IN ('vip', 'key', 'general', 'reserve')),
    trailing_total numeric(16, 2) NOT NULL,
    credit_rating  text CHECK (credit_rating IN ('AAA', 'AA', 'A', 'B', 'C')),
    window_from    date NOT NULL,
    window_to      date NOT NULL,
    -- transaction: the ERP feed wrote a transaction; credit: finance changed
    -- the credit rating; recompute: POST /v1/tiers/recompute (transactions
    -- aging out of the window).
    cause          text NOT NULL CHECK (cause IN ('transaction', 'credit', 'recompute')),
    changed_by     uuid,
    request_id     text,
    changed_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customer_tier_history_changed CHECK (old_tier <> new_tier)
);
CREATE INDEX customer_tier_history_customer_idx ON customer_tier_history (customer_id, id);

CREATE FUNCTION tier_history_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'customer_tier_history is append-only' USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER customer_tier_history_append_only BEFORE UPDATE OR DELETE ON customer_tier_history
    FOR EACH ROW EXECUTE FUNCTION tier_history_forbid_change();

-- ---- keeping the tier current -------------------------------------------------
-- Who caused a recomputation reaches the triggers as transaction-local
-- settings (set_config(…, true)), which the service sets before it writes
-- transactions or recomputes tiers: crm.actor_id, crm.actor_role,
-- crm.request_id and crm.tier_cause (PATCH /v1/customers/{id} sets the
-- first three when it changes a credit rating; the cause is then credit). A
-- change made without them (SQL by hand) is recorded with no actor.
CREATE FUNCTION crm_setting(name text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT nullif(current_setting(name, true), '')
$$;

-- Recomputes the tier of the given customers on today's business date and
-- writes it where it changed (version + 1: the customer document and its
-- ETag show the tier; the history and audit rows come from the trigger
-- below). Locks the customers in id order first, then computes from a
-- snapshot taken after the locks, so a concurrent writer of the same
-- customer (which holds the lock until it commits) is never overwritten by
-- a stale total. Returns how many customers changed tier.
CREATE FUNCTION crm_refresh_tiers(ids uuid[], cause text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    today date := crm_today();
    changed integer;
BEGIN
    PERFORM 1 FROM customers WHERE id = ANY (ids) ORDER BY id FOR UPDATE;
    PERFORM set_config('crm.tier_cause', cause, true);
    UPDATE customers c SET tier = n.tier, version = c.version + 1, updated_at = now()
    FROM (SELECT c2.id, crm_tier_for(crm_tier_total(c2.id, today), c2.credit_rating) AS tier
          FROM customers c2 WHERE c2.id = ANY (ids)) n
    WHERE c.id = n.id AND c.tier <> n.tier;
    GET DIAGNOSTICS changed = ROW_COUNT;
    PERFORM set_config('crm.tier_cause', '', true);
    RETURN changed;
END
$$;

-- A new credit rating recomputes the tier in the same row update, so the
-- answer to the PATCH already shows it (and the version bump the update
-- makes anyway covers it).
CREATE FUNCTION customers_tier_credit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.credit_rating IS DISTINCT FROM OLD.credit_rating THEN
        NEW.tier := crm_tier_for(crm_tier_total(NEW.id, crm_today()), NEW.credit_rating);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER customers_tier_credit BEFORE UPDATE OF credit_rating ON customers
    FOR EACH ROW EXECUTE FUNCTION customers_tier_credit();

-- Every change of the computed tier, whatever caused it: a history row and
-- an audit entry (action tier_change, before/after {tier, trailing_total,
-- credit_rating}).
CREATE FUNCTION customers_tier_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    today date := crm_today();
    total numeric(16, 2) := crm_tier_total(NEW.id, today);
    actor uuid := crm_setting('crm.actor_id')::uuid;
    rid text := crm_setting('crm.request_id');
BEGIN
    INSERT INTO customer_tier_history (customer_id, old_tier, new_tier, trailing_total, credit_rating,
                                       window_from, window_to, cause, changed_by, request_id)
    VALUES (NEW.id, OLD.tier, NEW.tier, total, NEW.credit_rating, crm_tier_window_from(today), today,
            coalesce(crm_setting('crm.tier_cause'), 'credit'), actor, rid);
    INSERT INTO audit_log (actor_id, actor_role, action, entity, entity_id, customer_id, before, after, request_id)
    VALUES (actor, crm_setting('crm.actor_role'), 'tier_change', 'customer', NEW.id::text, NEW.id,
            jsonb_build_object('tier', OLD.tier, 'credit_rating', OLD.credit_rating),
            jsonb_build_object('tier', NEW.tier, 'credit_rating', NEW.credit_rating,
                               'trailing_total', total::text, 'window_from', crm_tier_window_from(today),
                               'window_to', today, 'cause', coalesce(crm_setting('crm.tier_cause'), 'credit')),
            rid);
    RETURN NULL;
END
$$;
-- No column list: a column trigger would miss the tier a BEFORE trigger set.
CREATE TRIGGER customers_tier_changed AFTER UPDATE ON customers
    FOR EACH ROW WHEN (OLD.tier IS DISTINCT FROM NEW.tier) EXECUTE FUNCTION customers_tier_changed();

-- Any write of transactions recomputes the tiers of the customers it
-- touched, once per statement (a batch of 1,000 rows, or a bulk load,
-- recomputes each customer once). PostgreSQL allows transition tables on
-- single-event triggers only, hence three. A bulk load (benchmarks: 1,000,000
-- rows) is faster with the triggers off for its session
-- (SET session_replication_role = replica) followed by POST
-- /v1/tiers/recompute until it answers complete.
CREATE FUNCTION transactions_tier_ins() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crm_refresh_tiers(ARRAY(SELECT DISTINCT customer_id FROM new_rows), 'transaction');
    RETURN NULL;
END
$$;
CREATE FUNCTION transactions_tier_upd() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crm_refresh_tiers(ARRAY(
        SELECT n.customer_id FROM new_rows n JOIN old_rows o USING (id)
        WHERE (n.customer_id, n.occurred_on, n.amount, n.currency, n.archived_at)
              IS DISTINCT FROM (o.customer_id, o.occurred_on, o.amount, o.currency, o.archived_at)
        UNION
        SELECT o.customer_id FROM new_rows n JOIN old_rows o USING (id)
        WHERE n.customer_id <> o.customer_id), 'transaction');
    RETURN NULL;
END
$$;
CREATE FUNCTION transactions_tier_del() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crm_refresh_tiers(ARRAY(SELECT DISTINCT customer_id FROM old_rows), 'transaction');
    RETURN NULL;
END
$$;
CREATE TRIGGER transactions_tier_ins AFTER INSERT ON transactions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION transactions_tier_ins();
CREATE TRIGGER transactions_tier_upd AFTER UPDATE ON transactions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION transactions_tier_upd();
CREATE TRIGGER transactions_tier_del AFTER DELETE ON transactions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION transactions_tier_del();
