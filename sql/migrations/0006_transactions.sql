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
