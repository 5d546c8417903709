-- Complaints with service levels, run by the general office: the complaint
-- record, its event log (every transition and progress note), the
-- configurable service-level policy and the SLA arithmetic every read,
-- list filter, worklist and report uses.

-- ---- SLA arithmetic ---------------------------------------------------------
-- The one definition of the service levels. Deadlines are elapsed time from
-- the moment the complaint was received (not from when it was recorded: a
-- complaint recorded late is measured from received_at and may be breached
-- the moment it is filed). A 24 h deadline is 24 h of wall time, whatever
-- midnight, month end or business time zone lies in between.
CREATE FUNCTION crm_sla_due(received timestamptz, minutes integer) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT received + make_interval(mins => minutes)
$$;

-- The status of one leg (first response, start of handling, resolution)
-- at the instant now:
--   met       done, no later than the deadline (or done without a deadline);
--   breached  done after the deadline, or not done and the deadline passed;
--   at_risk   not done, at most at_risk_minutes before the deadline;
--   pending   not done, further from the deadline (or no deadline yet: the
--             resolution deadline is set at assignment).
-- now is passed in so that a statement evaluates it once (now() is the
-- transaction's start, the same for every row anyway).
CREATE FUNCTION crm_sla_status(due timestamptz, done timestamptz, at_risk_minutes integer, now timestamptz)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN done IS NOT NULL THEN CASE WHEN due IS NULL OR done <= due THEN 'met' ELSE 'breached' END
        WHEN due IS NULL THEN 'pending'
        WHEN now > due THEN 'breached'
        WHEN now >= due - make_interval(mins => at_risk_minutes) THEN 'at_risk'
        ELSE 'pending'
    END
$$;

-- The next deadline of a complaint: the earliest deadline of a leg not done
-- yet (NULL when every leg with a deadline is done). The office's at-risk
-- worklist is ordered by it.
CREATE FUNCTION crm_complaint_next_due(first_response_due timestamptz, first_response_at timestamptz,
                                       start_due timestamptz, started_at timestamptz,
                                       resolution_due timestamptz, resolved_at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(CASE WHEN first_response_at IS NULL THEN first_response_due END,
                 CASE WHEN started_at IS NULL THEN start_due END,
                 CASE WHEN resolved_at IS NULL THEN resolution_due END)
$$;

-- ---- service-level policy ---------------------------------------------------
-- One row per severity. Defaults from DOMAIN.md: urgent → first response
-- within 1 hour, normal → within 24 hours; handling started within 24 hours
-- of receipt. A leg shows as at_risk within at_risk_minutes of its deadline
-- (2 hours by default). A complaint takes its deadlines from the policy when
-- it is filed (and when its severity or received_at is corrected): changing
-- the policy later does not move the deadlines of complaints already filed.
CREATE TABLE complaint_sla_policies (
    severity               text PRIMARY KEY CHECK (severity IN ('urgent', 'normal')),
    first_response_minutes integer NOT NULL CHECK (first_response_minutes BETWEEN 1 AND 43200),
    start_minutes          integer NOT NULL CHECK (start_minutes BETWEEN 1 AND 43200),
    at_risk_minutes        integer NOT NULL DEFAULT 120 CHECK (at_risk_minutes BETWEEN 0 AND 10080),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    updated_by             uuid REFERENCES users (id),
    version                integer NOT NULL DEFAULT 1
);
INSERT INTO complaint_sla_policies (severity, first_response_minutes, start_minutes, at_risk_minutes)
VALUES ('urgent', 60, 1440, 120), ('normal', 1440, 1440, 120);

-- ---- complaints -------------------------------------------------------------
-- status: received → acknowledged (first response) → assigned (department,
-- responsible user, resolution deadline) → in_progress → resolved →
-- closed; resolved or closed → in_progress again by reopen. A refund or
-- return decided at resolution waits for finance (refund_status pending →
-- confirmed) before the complaint can close.
CREATE TABLE complaints (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id          uuid NOT NULL REFERENCES customers (id),
    contact_id           uuid,
    channel              text NOT NULL CHECK (channel IN ('phone', 'email', 'wechat', 'sms', 'meeting', 'letter',
                                                          'web', 'other')),
    category             text NOT NULL CHECK (category IN ('quality', 'delivery', 'service', 'billing', 'other')),
    severity             text NOT NULL CHECK (severity IN ('urgent', 'normal')),
    description          text NOT NULL CHECK (length(btrim(description)) BETWEEN 1 AND 5000),
    order_reference      text CHECK (length(order_reference) BETWEEN 1 AND 64),
    received_at          timestamptz NOT NULL,
    status               text NOT NULL DEFAULT 'received'
                         CHECK (status IN ('received', 'acknowledged', 'assigned', 'in_progress', 'resolved', 'closed')),
    -- service levels: deadlines fixed when filed (crm_sla_due), the instant each leg was done
    first_response_due   timestamptz NOT NULL,
    first_response_at    timestamptz,
    first_response_by    uuid REFERENCES users (id),
    start_due            timestamptz NOT NULL,
    started_at           timestamptz,
    resolution_due       timestamptz,
    resolved_at          timestamptz,
    -- assignment
    department           text CHECK (length(department) BETWEEN 1 AND 100),
    assignee_id          uuid REFERENCES users (id),
    assigned_at          timestamptz,
    -- resolution
    resolution           text CHECK (length(resolution) BETWEEN 1 AND 5000),
    root_cause           text CHECK (root_cause IN ('material', 'process', 'equipment', 'logistics', 'communication',
                                                    'documentation', 'other')),
    preventive_action    text CHECK (length(preventive_action) BETWEEN 1 AND 5000),
    resolved_by          uuid REFERENCES users (id),
    refund_amount        numeric(14, 2) CHECK (refund_amount > 0),
    refund_status        text CHECK (refund_status IN ('pending', 'confirmed')),
    refund_confirmed_at  timestamptz,
    refund_confirmed_by  uuid REFERENCES users (id),
    -- closing
    satisfaction         smallint CHECK (satisfaction BETWEEN 1 AND 5),
    closed_at            timestamptz,
    reopen_count         integer NOT NULL DEFAULT 0 CHECK (reopen_count >= 0),
    created_by           uuid NOT NULL REFERENCES users (id),
    archived_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    version              integer NOT NULL DEFAULT 1,
    -- The contact must be one of the complaint's customer.
    CONSTRAINT complaints_contact_fkey FOREIGN KEY (contact_id, customer_id) REFERENCES contacts (id, customer_id),
    -- Every state past a step carries what that step recorded.
    CONSTRAINT complaints_acknowledged CHECK (status = 'received' OR first_response_at IS NOT NULL),
    CONSTRAINT complaints_assigned CHECK (status IN ('received', 'acknowledged')
                                          OR (assignee_id IS NOT NULL AND resolution_due IS NOT NULL)),
    CONSTRAINT complaints_started CHECK (status IN ('received', 'acknowledged', 'assigned') OR started_at IS NOT NULL),
    CONSTRAINT complaints_resolved CHECK (status NOT IN ('resolved', 'closed')
                                          OR (resolved_at IS NOT NULL AND resolution IS NOT NULL
                                              AND root_cause IS NOT NULL)),
    CONSTRAINT complaints_closed CHECK (status <> 'closed' OR (closed_at IS NOT NULL AND satisfaction IS NOT NULL)),
    -- A refund is pending or confirmed; a confirmed one says when and by whom; a closed complaint has none pending.
    CONSTRAINT complaints_refund CHECK ((refund_amount IS NULL) = (refund_status IS NULL)),
    CONSTRAINT complaints_refund_confirmed CHECK (refund_status IS DISTINCT FROM 'confirmed'
                                                  OR (refund_confirmed_at IS NOT NULL
                                                      AND refund_confirmed_by IS NOT NULL)),
    CONSTRAINT complaints_closed_refund CHECK (status <> 'closed' OR refund_status IS DISTINCT FROM 'pending'),
    CONSTRAINT complaints_received_before_created CHECK (received_at <= created_at + interval '5 minutes')
);
-- Lists (newest received first, optionally per customer / assignee) and the
-- reports (a period of received_at).
CREATE INDEX complaints_received_idx ON complaints (received_at DESC, id DESC);
CREATE INDEX complaints_customer_idx ON complaints (customer_id, received_at DESC, id DESC);
CREATE INDEX complaints_assignee_idx ON complaints (assignee_id, received_at DESC, id DESC)
    WHERE assignee_id IS NOT NULL;
-- Repeat complaints: the same customer and root cause within 90 days.
CREATE INDEX complaints_root_cause_idx ON complaints (customer_id, root_cause, received_at)
    WHERE root_cause IS NOT NULL;
-- The at-risk worklist: open complaints by their next deadline.
CREATE INDEX complaints_next_due_idx ON complaints
    (crm_complaint_next_due(first_response_due, first_response_at, start_due, started_at, resolution_due, resolved_at),
     id)
    WHERE archived_at IS NULL AND status NOT IN ('resolved', 'closed');
CREATE INDEX complaints_description_trgm_idx ON complaints USING gin (lower(description) gin_trgm_ops);

-- ---- complaint events -------------------------------------------------------
-- Every transition (from_status → to_status) and every progress note
-- (from_status = to_status), with who and when: the complaint's own history,
-- shown to the office and to the customer's owner. Never updated or deleted.
-- details holds what the step recorded (assignment, resolution, refund…).
CREATE TABLE complaint_events (
    id           bigserial PRIMARY KEY,
    complaint_id uuid NOT NULL REFERENCES complaints (id),
    action       text NOT NULL CHECK (action IN ('create', 'acknowledge', 'assign', 'start', 'note', 'resolve',
                                                 'confirm_refund', 'close', 'reopen', 'update', 'archive',
                                                 'restore')),
    from_status  text CHECK (from_status IN ('received', 'acknowledged', 'assigned', 'in_progress', 'resolved',
                                             'closed')),
    to_status    text NOT NULL CHECK (to_status IN ('received', 'acknowledged', 'assigned', 'in_progress', 'resolved',
                                                    'closed')),
    note         text CHECK (length(note) BETWEEN 1 AND 5000),
    details      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    actor_id     uuid NOT NULL REFERENCES users (id),
    actor_role   text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    -- A progress note has its text.
    CONSTRAINT complaint_events_note CHECK (action <> 'note' OR note IS NOT NULL)
);
CREATE INDEX complaint_events_complaint_idx ON complaint_events (complaint_id, id);
CREATE INDEX complaint_events_notes_idx ON complaint_events (complaint_id, id) WHERE action = 'note';
