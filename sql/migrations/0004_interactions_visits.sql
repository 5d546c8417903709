-- Interactions, visit plans, visit records, follow-ups, events, and the
-- contact-cadence policy with the business-time helpers its figures use.

-- ---- business time -------------------------------------------------------
-- The business time zone (CRM_TIMEZONE) reaches SQL as the session setting
-- crm.timezone, which the service sets on every connection it opens.
CREATE FUNCTION crm_tz() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(nullif(current_setting('crm.timezone', true), ''), 'Asia/Shanghai')
$$;

-- The calendar date of an instant in the business time zone.
CREATE FUNCTION crm_local_date(t timestamptz) RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT (t AT TIME ZONE crm_tz())::date
$$;

CREATE FUNCTION crm_today() RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT crm_local_date(now())
$$;

-- ---- cadence arithmetic ---------------------------------------------------
-- The next due date of a customer for one cadence (contact, visit, review):
-- the business-time date of the last occurrence (else the first-contact date,
-- else the day the record was created) plus the tier's interval in calendar
-- months. PostgreSQL clamps month ends: 2026-01-31 + 1 month = 2026-02-28.
-- NULL when the cadence does not apply (no interval for the tier, or an
-- archived or lost customer).
CREATE FUNCTION crm_customer_due(applies boolean, last timestamptz, first_contact date, created timestamptz,
                                 months integer) RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN applies AND months IS NOT NULL THEN
        (coalesce(crm_local_date(last), first_contact, crm_local_date(created)) + make_interval(months => months))::date
    END
$$;

-- ok / due_soon (within soon_days of the due date) / overdue (due date passed)
-- on the business date today (crm_today(), passed in so a statement computes
-- it once: the time zone conversion costs more than the rest); NULL without a
-- due date.
CREATE FUNCTION crm_cadence_status(due date, soon_days integer, today date) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN due IS NULL THEN NULL
        WHEN due < today THEN 'overdue'
        WHEN due - soon_days <= today THEN 'due_soon'
        ELSE 'ok'
    END
$$;

-- ---- cadence policy -------------------------------------------------------
-- One row per tier; NULL interval = no requirement. Defaults from DOMAIN.md:
-- vip and key: contact monthly, visit quarterly, record review quarterly;
-- general: contact quarterly, visit every six months; reserve: as
-- opportunities arise.
CREATE TABLE cadence_policies (
    tier                     text PRIMARY KEY CHECK (tier IN ('vip', 'key', 'general', 'reserve')),
    contact_interval_months  integer CHECK (contact_interval_months BETWEEN 1 AND 60),
    visit_interval_months    integer CHECK (visit_interval_months BETWEEN 1 AND 60),
    review_interval_months   integer CHECK (review_interval_months BETWEEN 1 AND 60),
    due_soon_days            integer NOT NULL DEFAULT 7 CHECK (due_soon_days BETWEEN 0 AND 90),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    updated_by               uuid REFERENCES users (id),
    version                  integer NOT NULL DEFAULT 1
);
INSERT INTO cadence_policies (tier, contact_interval_months, visit_interval_months, review_interval_months, due_soon_days)
VALUES ('vip', 1, 3, 3, 7), ('key', 1, 3, 3, 7), ('general', 3, 6, NULL, 14), ('reserve', NULL, NULL, NULL, 7);

-- The last contact (interaction or visit) and the last visit of each
-- customer, kept by the triggers below so every customer read and the
-- overdue worklist compute cadence without touching the logs.
ALTER TABLE customers ADD COLUMN last_contact_at timestamptz, ADD COLUMN last_visit_at timestamptz;

-- A contact of a customer, referenced together with that customer.
ALTER TABLE contacts ADD CONSTRAINT contacts_id_customer_key UNIQUE (id, customer_id);

-- ---- interactions ---------------------------------------------------------
CREATE TABLE interactions (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id       uuid NOT NULL REFERENCES customers (id),
    contact_id        uuid,
    channel           text NOT NULL CHECK (channel IN ('phone', 'email', 'wechat', 'sms', 'meeting', 'event', 'other')),
    occurred_at       timestamptz NOT NULL,
    participant_ids   jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(participant_ids) = 'array'),
    summary           text NOT NULL CHECK (length(btrim(summary)) BETWEEN 1 AND 5000),
    customer_feedback text CHECK (length(customer_feedback) <= 5000),
    next_action       text CHECK (length(next_action) <= 1000),
    next_action_due   date,
    author_id         uuid NOT NULL REFERENCES users (id),
    archived_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    version           integer NOT NULL DEFAULT 1,
    -- The contact must belong to the interaction's customer.
    CONSTRAINT interactions_contact_fkey FOREIGN KEY (contact_id, customer_id) REFERENCES contacts (id, customer_id),
    -- A due date belongs to a next action.
    CONSTRAINT interactions_next_action_due CHECK (next_action_due IS NULL OR next_action IS NOT NULL)
);
CREATE INDEX interactions_customer_idx ON interactions (customer_id, occurred_at DESC, id DESC);
CREATE INDEX interactions_occurred_idx ON interactions (occurred_at DESC, id DESC);
CREATE INDEX interactions_author_idx ON interactions (author_id, occurred_at DESC, id DESC);
CREATE INDEX interactions_next_action_idx ON interactions (next_action_due) WHERE next_action_due IS NOT NULL;
CREATE INDEX interactions_summary_trgm_idx ON interactions USING gin (lower(summary) gin_trgm_ops);

-- ---- visit plans and records ----------------------------------------------
-- status is stored as planned / approved / completed / cancelled; a plan
-- still planned or approved after its date is reported as missed
-- (computed on read against the business-time date, so it is never stale).
CREATE TABLE visit_plans (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id     uuid NOT NULL REFERENCES customers (id),
    planned_date    date NOT NULL,
    participant_ids jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(participant_ids) = 'array'),
    purpose         text NOT NULL CHECK (length(btrim(purpose)) BETWEEN 1 AND 500),
    agenda          text CHECK (length(agenda) <= 5000),
    status          text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'approved', 'completed', 'cancelled')),
    approved_by     uuid REFERENCES users (id),
    approved_at     timestamptz,
    cancel_reason   text CHECK (length(cancel_reason) <= 1000),
    cancelled_by    uuid REFERENCES users (id),
    cancelled_at    timestamptz,
    completed_at    timestamptz,
    visit_id        uuid,
    created_by      uuid NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    CONSTRAINT visit_plans_id_customer_key UNIQUE (id, customer_id),
    CONSTRAINT visit_plans_cancel_reason CHECK (status <> 'cancelled' OR cancel_reason IS NOT NULL)
);
CREATE INDEX visit_plans_customer_idx ON visit_plans (customer_id, planned_date, id);
CREATE INDEX visit_plans_date_idx ON visit_plans (planned_date, id);

CREATE TABLE visits (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id           uuid NOT NULL REFERENCES customers (id),
    plan_id               uuid CONSTRAINT visits_plan_id_key UNIQUE,
    visited_at            timestamptz NOT NULL,
    place                 text CHECK (length(place) <= 500),
    our_participant_ids   jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(our_participant_ids) = 'array'),
    customer_participants jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(customer_participants) = 'array'),
    customer_situation    text CHECK (length(customer_situation) <= 5000),
    discussion            text CHECK (length(discussion) <= 5000),
    customer_feedback     text CHECK (length(customer_feedback) <= 5000),
    suggestions           text CHECK (length(suggestions) <= 5000),
    competitor_info       text CHECK (length(competitor_info) <= 5000),
    author_id             uuid NOT NULL REFERENCES users (id),
    archived_at           timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    version               integer NOT NULL DEFAULT 1,
    -- A record completes a plan of the same customer.
    CONSTRAINT visits_plan_fkey FOREIGN KEY (plan_id, customer_id) REFERENCES visit_plans (id, customer_id)
);
CREATE INDEX visits_customer_idx ON visits (customer_id, visited_at DESC, id DESC);
CREATE INDEX visits_visited_idx ON visits (visited_at DESC, id DESC);
ALTER TABLE visit_plans ADD CONSTRAINT visit_plans_visit_fkey FOREIGN KEY (visit_id) REFERENCES visits (id);

-- ---- follow-up items ------------------------------------------------------
-- Raised from a visit (later also complaints and surveys): the source is
-- generic. Overdue = open or in progress after its due date (computed).
CREATE TABLE follow_ups (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id            uuid NOT NULL REFERENCES customers (id),
    source_type            text NOT NULL CHECK (source_type IN ('visit', 'interaction', 'complaint', 'survey')),
    source_id              uuid NOT NULL,
    description            text NOT NULL CHECK (length(btrim(description)) BETWEEN 1 AND 2000),
    responsible_department text CHECK (length(responsible_department) <= 100),
    responsible_user_id    uuid REFERENCES users (id),
    due_date               date NOT NULL,
    status                 text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'done', 'verified')),
    outcome                text CHECK (length(outcome) <= 5000),
    started_at             timestamptz,
    done_at                timestamptz,
    verified_at            timestamptz,
    verified_by            uuid REFERENCES users (id),
    created_by             uuid NOT NULL REFERENCES users (id),
    archived_at            timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    version                integer NOT NULL DEFAULT 1,
    CONSTRAINT follow_ups_outcome CHECK (status IN ('open', 'in_progress') OR outcome IS NOT NULL)
);
CREATE INDEX follow_ups_source_idx ON follow_ups (source_type, source_id);
CREATE INDEX follow_ups_customer_idx ON follow_ups (customer_id, due_date, id);
CREATE INDEX follow_ups_responsible_idx ON follow_ups (responsible_user_id, due_date, id);
CREATE INDEX follow_ups_due_idx ON follow_ups (due_date, id);
CREATE INDEX follow_ups_open_due_idx ON follow_ups (due_date, id)
    WHERE status IN ('open', 'in_progress') AND archived_at IS NULL;

-- ---- events ---------------------------------------------------------------
CREATE TABLE events (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    type         text NOT NULL CHECK (type IN ('product_show', 'technical_exchange', 'trend_launch', 'other')),
    title        text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    event_date   date NOT NULL,
    place        text CHECK (length(place) <= 500),
    description  text CHECK (length(description) <= 5000),
    feedback     text CHECK (length(feedback) <= 5000),
    organizer_id uuid NOT NULL REFERENCES users (id),
    archived_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    version      integer NOT NULL DEFAULT 1
);
CREATE INDEX events_date_idx ON events (event_date DESC, id DESC);
-- A sales rep's events are those they organise (or with one of their customers on them).
CREATE INDEX events_organizer_idx ON events (organizer_id);

-- Invited and attending customers of an event, with each one's feedback.
CREATE TABLE event_customers (
    event_id    uuid NOT NULL REFERENCES events (id),
    customer_id uuid NOT NULL REFERENCES customers (id),
    invited     boolean NOT NULL DEFAULT true,
    attended    boolean NOT NULL DEFAULT false,
    feedback    text CHECK (length(feedback) <= 5000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, customer_id),
    -- A customer who attended was invited.
    CONSTRAINT event_customers_attended_invited CHECK (invited OR NOT attended)
);
CREATE INDEX event_customers_customer_idx ON event_customers (customer_id, event_id);

-- ---- last contact / last visit of each customer ---------------------------
-- Recomputed from the live (not archived) interactions and visits whenever
-- one is written. A change bumps the customer's version, because the
-- customer document (and its ETag) shows these figures.
CREATE FUNCTION customers_refresh_contacts(cid uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    li timestamptz;
    lv timestamptz;
BEGIN
    SELECT max(occurred_at) INTO li FROM interactions WHERE customer_id = cid AND archived_at IS NULL;
    SELECT max(visited_at) INTO lv FROM visits WHERE customer_id = cid AND archived_at IS NULL;
    UPDATE customers c SET last_contact_at = greatest(li, lv), last_visit_at = lv, version = c.version + 1
    WHERE c.id = cid
      AND (c.last_contact_at IS DISTINCT FROM greatest(li, lv) OR c.last_visit_at IS DISTINCT FROM lv);
END
$$;

CREATE FUNCTION customers_contacts_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.customer_id <> NEW.customer_id THEN
        PERFORM customers_refresh_contacts(OLD.customer_id);
    END IF;
    PERFORM customers_refresh_contacts(NEW.customer_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER interactions_last_contact AFTER INSERT OR UPDATE OF occurred_at, archived_at, customer_id
    ON interactions FOR EACH ROW EXECUTE FUNCTION customers_contacts_trigger();
CREATE TRIGGER visits_last_contact AFTER INSERT OR UPDATE OF visited_at, archived_at, customer_id
    ON visits FOR EACH ROW EXECUTE FUNCTION customers_contacts_trigger();

-- ==== reports: indexes for the overdue worklist ==============================
-- GET /v1/reports/overdue sorts customers by their next due date (contact,
-- visit or review). The due date itself cannot be indexed (it depends on the
-- business time zone, a session setting, and on the editable cadence policy),
-- so each cadence gets an index on an instant that orders customers like
-- their due date does, within one effective tier: the last occurrence, else
-- the first-contact date (as midnight UTC), else the creation time. Within a
-- tier, due = local date of that key + the tier's months, so the report walks
-- the index per tier from the most overdue end and only checks a handful of
-- rows with crm_customer_due itself (which stays the only definition of the
-- due date). Measured on 100,000 customers: the first page of 50 for all
-- owners in about 1 ms of execution instead of 100-200 ms for computing every
-- customer's due date (the time zone conversion dominates). owner_id last: a
-- sales rep's worklist filters on the index entry. The price: writes to
-- last_contact_at / last_visit_at (the interaction and visit triggers) are no
-- longer HOT updates of customers.
CREATE INDEX customers_contact_due_idx ON customers
    (coalesce(tier_override, tier), coalesce(last_contact_at, first_contact_at::timestamp AT TIME ZONE 'UTC', created_at),
     owner_id)
    WHERE archived_at IS NULL AND status <> 'lost';
CREATE INDEX customers_visit_due_idx ON customers
    (coalesce(tier_override, tier), coalesce(last_visit_at, first_contact_at::timestamp AT TIME ZONE 'UTC', created_at),
     owner_id)
    WHERE archived_at IS NULL AND status <> 'lost';
CREATE INDEX customers_review_due_idx ON customers
    (coalesce(tier_override, tier), coalesce(last_reviewed_at, created_at), owner_id)
    WHERE archived_at IS NULL AND status <> 'lost';
-- The planner ignores expression statistics of partial indexes: without these
-- it guesses 0.5 % of customers per tier and sorts whole tiers instead of
-- walking the indexes above.
CREATE STATISTICS customers_tier_effective_stats ON (coalesce(tier_override, tier)) FROM customers;

-- Bounds on those index keys for a due date d and an interval of `months`,
-- in any time zone (offsets within -12 h .. +14 h):
-- a customer whose due date is >= d has a key >= crm_due_key_lo(d, months):
-- its base date is at least d - months (month ends clamp, so never less);
CREATE FUNCTION crm_due_key_lo(d date, months integer) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((d - make_interval(months => months))::date - 1)::timestamp AT TIME ZONE 'UTC'
$$;
-- a customer whose due date is <= d has a key < crm_due_key_hi(d, months):
-- its base date is at most d - months + 3 days (2026-01-31 + 1 month is
-- 2026-02-28), and the local day ends at most 12 h after the UTC day.
CREATE FUNCTION crm_due_key_hi(d date, months integer) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((d - make_interval(months => months))::date + 5)::timestamp AT TIME ZONE 'UTC'
$$;
-- ---- end of reports section ----
