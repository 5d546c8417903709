-- Satisfaction surveys (满意度调查): campaigns, the customers each campaign
-- targets (resolved once, when it opens), the responses, and the NPS rule the
-- results and the KPI board share.

-- ---- campaigns --------------------------------------------------------------
-- status draft -> open -> closed. Targets are criteria while the campaign is a
-- draft: target_tiers and target_owner_ids narrow each other (an empty list
-- does not narrow), target_customer_ids are added explicitly; at least one list
-- is non-empty. On open the criteria are resolved into survey_targets, so a
-- later change of a customer's tier or owner never changes who was targeted.
-- The period is a closed range of dates [period_from, period_to].
CREATE TABLE surveys (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title               text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    description         text CHECK (length(description) <= 5000),
    period_from         date NOT NULL,
    period_to           date NOT NULL,
    method              text NOT NULL CHECK (method IN ('questionnaire', 'phone', 'online')),
    target_tiers        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(target_tiers) = 'array'),
    target_owner_ids    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(target_owner_ids) = 'array'),
    target_customer_ids jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(target_customer_ids) = 'array'),
    status              text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'open', 'closed')),
    opened_at           timestamptz,
    opened_by           uuid REFERENCES users (id),
    closed_at           timestamptz,
    closed_by           uuid REFERENCES users (id),
    created_by          uuid NOT NULL REFERENCES users (id),
    archived_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    version             integer NOT NULL DEFAULT 1,
    CONSTRAINT surveys_period CHECK (period_to >= period_from),
    CONSTRAINT surveys_targets CHECK (jsonb_array_length(target_tiers) + jsonb_array_length(target_owner_ids)
                                      + jsonb_array_length(target_customer_ids) > 0),
    CONSTRAINT surveys_opened CHECK (status = 'draft' OR opened_at IS NOT NULL),
    CONSTRAINT surveys_closed CHECK (status <> 'closed' OR closed_at IS NOT NULL),
    -- Only drafts are archived: a campaign that reached customers stays.
    CONSTRAINT surveys_archived_draft CHECK (archived_at IS NULL OR status = 'draft')
);
CREATE INDEX surveys_created_idx ON surveys (created_at DESC, id DESC);
CREATE INDEX surveys_period_idx ON surveys (period_from DESC, id DESC);
-- "the previous closed campaign" of the results.
CREATE INDEX surveys_closed_idx ON surveys (closed_at DESC, id DESC) WHERE status = 'closed';

-- ---- targets ----------------------------------------------------------------
-- The customers a campaign targets, resolved when it opens, with the
-- customer's effective tier and owner at that moment (the results break the
-- campaign down by these, as it was run).
CREATE TABLE survey_targets (
    survey_id   uuid NOT NULL REFERENCES surveys (id),
    customer_id uuid NOT NULL REFERENCES customers (id),
    tier        text NOT NULL CHECK (tier IN ('vip', 'key', 'general', 'reserve')),
    owner_id    uuid NOT NULL REFERENCES users (id),
    PRIMARY KEY (survey_id, customer_id)
);
CREATE INDEX survey_targets_customer_idx ON survey_targets (customer_id, survey_id);

-- ---- responses --------------------------------------------------------------
-- One per customer per campaign, only from a targeted customer (the foreign
-- key to survey_targets). Scores 1-5 per dimension, likelihood to recommend
-- 0-10. responded_at is when the customer answered (coverage counts it).
CREATE TABLE survey_responses (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    survey_id        uuid NOT NULL REFERENCES surveys (id),
    customer_id      uuid NOT NULL REFERENCES customers (id),
    product_quality  smallint NOT NULL CHECK (product_quality BETWEEN 1 AND 5),
    service          smallint NOT NULL CHECK (service BETWEEN 1 AND 5),
    delivery         smallint NOT NULL CHECK (delivery BETWEEN 1 AND 5),
    overall          smallint NOT NULL CHECK (overall BETWEEN 1 AND 5),
    nps              smallint NOT NULL CHECK (nps BETWEEN 0 AND 10),
    comment          text CHECK (length(comment) <= 5000),
    method           text NOT NULL CHECK (method IN ('questionnaire', 'phone', 'online')),
    responded_at     timestamptz NOT NULL DEFAULT now(),
    recorded_by      uuid NOT NULL REFERENCES users (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    version          integer NOT NULL DEFAULT 1,
    CONSTRAINT survey_responses_survey_customer_key UNIQUE (survey_id, customer_id),
    CONSTRAINT survey_responses_target_fkey FOREIGN KEY (survey_id, customer_id)
        REFERENCES survey_targets (survey_id, customer_id)
);
-- survey coverage: the last response of each customer.
CREATE INDEX survey_responses_customer_idx ON survey_responses (customer_id, responded_at DESC);
CREATE INDEX survey_responses_responded_idx ON survey_responses (responded_at);

-- ---- NPS --------------------------------------------------------------------
-- Net promoter score: % promoters (9-10) minus % detractors (0-6) of all
-- answers, rounded to one decimal (numeric, exact halves away from zero);
-- NULL without answers.
CREATE FUNCTION crm_nps(promoters bigint, detractors bigint, answers bigint) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN answers > 0 THEN round(100.0 * (promoters - detractors) / answers, 1) END
$$;
