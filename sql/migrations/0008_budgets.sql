-- Customer-maintenance budgets and expenses with their approvals.
-- The KPI board (budget utilisation) reads budgets (year, category, owner_id,
-- amount, archived_at) and expenses (category, amount, expense_date, status,
-- claimant_id, customer_id, budget_id); keep those names stable.

-- ---- budgets ----------------------------------------------------------------
-- One annual amount per category, either for one owner (a sales rep or
-- manager) or team-wide (owner_id NULL). Finance writes them.
CREATE TABLE budgets (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    year        integer NOT NULL CHECK (year BETWEEN 2000 AND 2999),
    category    text NOT NULL CHECK (category IN ('visits', 'events', 'after_sales', 'gifts', 'other')),
    owner_id    uuid REFERENCES users (id),
    amount      numeric(14, 2) NOT NULL CHECK (amount >= 0),
    note        text CHECK (length(note) <= 1000),
    created_by  uuid NOT NULL REFERENCES users (id),
    archived_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    version     integer NOT NULL DEFAULT 1
);
-- One live budget per (year, category, owner); the team-wide budget (owner
-- NULL) is unique too (NULLS NOT DISTINCT). Archived budgets step aside, so
-- a replacement can be created; restoring one then conflicts (409).
CREATE UNIQUE INDEX budgets_year_category_owner_key ON budgets (year, category, owner_id) NULLS NOT DISTINCT
    WHERE archived_at IS NULL;
CREATE INDEX budgets_created_idx ON budgets (created_at DESC, id DESC);
CREATE INDEX budgets_owner_idx ON budgets (owner_id, year);

-- ---- expenses ---------------------------------------------------------------
-- A visit record referenced together with its customer (like contacts in 0004).
ALTER TABLE visits ADD CONSTRAINT visits_id_customer_key UNIQUE (id, customer_id);

-- status: submitted → (manager approves within budget) approved → paid;
--         submitted → (manager approves, over budget) pending_finance
--                   → (finance approves) approved → paid;
--         submitted | pending_finance → rejected (with reason);
--         submitted → withdrawn (by the claimant).
-- budget_id: the budget the expense draws on, fixed when the manager approves
-- it (NULL: no budget applied, so it was over budget). over_budget stays set
-- after finance approval: the flag is the visible record of it.
CREATE TABLE expenses (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    claimant_id         uuid NOT NULL REFERENCES users (id),
    category            text NOT NULL CHECK (category IN ('visits', 'events', 'after_sales', 'gifts', 'other')),
    amount              numeric(14, 2) NOT NULL CHECK (amount > 0),
    expense_date        date NOT NULL,
    description         text NOT NULL CHECK (length(btrim(description)) BETWEEN 1 AND 2000),
    customer_id         uuid REFERENCES customers (id),
    visit_id            uuid,
    event_id            uuid REFERENCES events (id),
    status              text NOT NULL DEFAULT 'submitted'
                        CHECK (status IN ('submitted', 'pending_finance', 'approved', 'rejected', 'paid', 'withdrawn')),
    over_budget         boolean NOT NULL DEFAULT false,
    budget_id           uuid REFERENCES budgets (id),
    approved_by         uuid REFERENCES users (id),
    approved_at         timestamptz,
    finance_approved_by uuid REFERENCES users (id),
    finance_approved_at timestamptz,
    rejected_by         uuid REFERENCES users (id),
    rejected_at         timestamptz,
    reject_reason       text CHECK (length(reject_reason) <= 1000),
    paid_by             uuid REFERENCES users (id),
    paid_at             timestamptz,
    payment_reference   text CHECK (length(payment_reference) <= 100),
    withdrawn_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    version             integer NOT NULL DEFAULT 1,
    -- A visit belongs to the expense's customer.
    CONSTRAINT expenses_visit_fkey FOREIGN KEY (visit_id, customer_id) REFERENCES visits (id, customer_id),
    CONSTRAINT expenses_visit_customer CHECK (visit_id IS NULL OR customer_id IS NOT NULL),
    CONSTRAINT expenses_visit_or_event CHECK (visit_id IS NULL OR event_id IS NULL),
    CONSTRAINT expenses_rejected_reason CHECK (status <> 'rejected' OR reject_reason IS NOT NULL),
    CONSTRAINT expenses_approved_by CHECK (status NOT IN ('pending_finance', 'approved', 'paid') OR approved_by IS NOT NULL),
    CONSTRAINT expenses_pending_finance CHECK (status <> 'pending_finance' OR over_budget),
    -- Over-budget spending is never approved without finance.
    CONSTRAINT expenses_finance_approval CHECK (NOT over_budget OR status NOT IN ('approved', 'paid')
                                                OR finance_approved_by IS NOT NULL),
    CONSTRAINT expenses_paid CHECK (status <> 'paid' OR paid_at IS NOT NULL)
);
CREATE INDEX expenses_created_idx ON expenses (created_at DESC, id DESC);
CREATE INDEX expenses_claimant_idx ON expenses (claimant_id, created_at DESC, id DESC);
-- The approval sums what already draws on a budget.
CREATE INDEX expenses_budget_idx ON expenses (budget_id) WHERE status IN ('approved', 'paid');
-- Reports by year (utilisation) and by customer and year (cost-benefit).
CREATE INDEX expenses_date_idx ON expenses (expense_date);
CREATE INDEX expenses_customer_idx ON expenses (customer_id, expense_date) WHERE customer_id IS NOT NULL;
