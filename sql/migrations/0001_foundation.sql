-- Foundation: users, customers, contacts, ownership history, audit trail,
-- idempotency keys, and the JSON renderers the API returns.
-- Applied once, in one transaction, by the service's migrator.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- RFC 3339 UTC text for API timestamps.
CREATE FUNCTION api_ts(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username      text NOT NULL CONSTRAINT users_username_key UNIQUE
                  CHECK (username ~ '^[a-z0-9][a-z0-9._-]{2,63}$'),
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    role          text NOT NULL CHECK (role IN ('sales', 'sales_manager', 'finance', 'office', 'admin', 'erp')),
    active        boolean NOT NULL DEFAULT true,
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    version       integer NOT NULL DEFAULT 1
);

CREATE FUNCTION api_user(u users) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT json_build_object(
        'id', u.id, 'username', u.username, 'display_name', u.display_name, 'role', u.role,
        'active', u.active, 'created_at', api_ts(u.created_at), 'updated_at', api_ts(u.updated_at),
        'version', u.version)
$$;

CREATE TABLE customers (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                  text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    legal_representative  text CHECK (length(legal_representative) <= 100),
    tax_id                text CONSTRAINT customers_tax_id_key UNIQUE CHECK (tax_id ~ '^[0-9A-Z]{15,20}$'),
    business_license_no   text CHECK (length(business_license_no) <= 50),
    address               text CHECK (length(address) <= 500),
    region                text CHECK (length(region) <= 100),
    industry              text CHECK (length(industry) <= 100),
    website               text CHECK (length(website) <= 200),
    phone                 text CHECK (length(phone) <= 30),
    email                 text CHECK (length(email) <= 200),
    notes                 text CHECK (length(notes) <= 5000),
    business_needs        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(business_needs) = 'object'),
    status                text NOT NULL DEFAULT 'prospect' CHECK (status IN ('prospect', 'active', 'dormant', 'lost')),
    record_status         text NOT NULL DEFAULT 'draft' CHECK (record_status IN ('draft', 'submitted', 'approved', 'returned')),
    record_return_reason  text,
    record_submitted_at   timestamptz,
    record_reviewed_at    timestamptz,
    record_reviewed_by    uuid REFERENCES users (id),
    first_contact_at      date,
    last_reviewed_at      timestamptz,
    owner_id              uuid NOT NULL CONSTRAINT customers_owner_id_fkey REFERENCES users (id),
    tier                  text NOT NULL DEFAULT 'reserve' CHECK (tier IN ('vip', 'key', 'general', 'reserve')),
    tier_override         text CHECK (tier_override IN ('vip', 'key', 'general', 'reserve')),
    tier_override_reason  text CHECK (length(tier_override_reason) <= 1000),
    credit_rating         text CHECK (credit_rating IN ('AAA', 'AA', 'A', 'B', 'C')),
    credit_limit          numeric(14, 2) CHECK (credit_limit >= 0),
    payment_standing      text CHECK (payment_standing IN ('good', 'watch', 'overdue', 'blocked')),
    credit_reviewed_at    date,
    external_code         text CONSTRAINT customers_external_code_key UNIQUE CHECK (length(external_code) BETWEEN 1 AND 64),
    archived_at           timestamptz,
    created_by            uuid REFERENCES users (id),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    version               integer NOT NULL DEFAULT 1,
    CONSTRAINT customers_override_reason CHECK (tier_override IS NULL OR tier_override_reason IS NOT NULL)
);

-- Keyset pagination for every documented sort, overall and per owner.
CREATE INDEX customers_created_idx ON customers (created_at, id);
CREATE INDEX customers_updated_idx ON customers (updated_at, id);
CREATE INDEX customers_name_idx ON customers (name, id);
CREATE INDEX customers_owner_created_idx ON customers (owner_id, created_at, id);
CREATE INDEX customers_owner_name_idx ON customers (owner_id, name, id);
-- Substring search on names (works for Chinese with a UTF-8 ctype).
CREATE INDEX customers_name_trgm_idx ON customers USING gin (lower(name) gin_trgm_ops);

CREATE FUNCTION api_customer(c customers) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT json_build_object(
        'id', c.id, 'name', c.name, 'legal_representative', c.legal_representative,
        'tax_id', c.tax_id, 'business_license_no', c.business_license_no, 'address', c.address,
        'region', c.region, 'industry', c.industry, 'website', c.website, 'phone', c.phone,
        'email', c.email, 'notes', c.notes, 'business_needs', c.business_needs,
        'status', c.status, 'record_status', c.record_status,
        'record_return_reason', c.record_return_reason,
        'record_submitted_at', api_ts(c.record_submitted_at),
        'record_reviewed_at', api_ts(c.record_reviewed_at),
        'record_reviewed_by', c.record_reviewed_by,
        'first_contact_at', c.first_contact_at, 'last_reviewed_at', api_ts(c.last_reviewed_at),
        'owner_id', c.owner_id, 'tier', c.tier, 'tier_override', c.tier_override,
        'tier_override_reason', c.tier_override_reason,
        'tier_effective', coalesce(c.tier_override, c.tier),
        'credit_rating', c.credit_rating, 'credit_limit', c.credit_limit::text,
        'payment_standing', c.payment_standing, 'credit_reviewed_at', c.credit_reviewed_at,
        'external_code', c.external_code, 'archived', c.archived_at IS NOT NULL,
        'archived_at', api_ts(c.archived_at), 'created_at', api_ts(c.created_at),
        'updated_at', api_ts(c.updated_at), 'version', c.version)
$$;

-- Every reassignment of a customer's owner, kept forever.
CREATE TABLE customer_owner_history (
    id           bigserial PRIMARY KEY,
    customer_id  uuid NOT NULL REFERENCES customers (id),
    old_owner_id uuid REFERENCES users (id),
    new_owner_id uuid NOT NULL REFERENCES users (id),
    changed_by   uuid REFERENCES users (id),
    changed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_owner_history_customer_idx ON customer_owner_history (customer_id, changed_at);

CREATE TABLE contacts (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id         uuid NOT NULL REFERENCES customers (id),
    name                text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    title               text CHECK (length(title) <= 100),
    phone               text CHECK (length(phone) <= 30),
    mobile              text CHECK (length(mobile) <= 30),
    email               text CHECK (length(email) <= 200),
    wechat_id           text CHECK (length(wechat_id) <= 64),
    decision_role       text CHECK (decision_role IN ('decision_maker', 'influencer', 'user', 'other')),
    birthday            date,
    company_anniversary date,
    preferences         text CHECK (length(preferences) <= 2000),
    notes               text CHECK (length(notes) <= 5000),
    is_primary          boolean NOT NULL DEFAULT false,
    archived_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    version             integer NOT NULL DEFAULT 1
);
CREATE INDEX contacts_customer_idx ON contacts (customer_id, name, id);
-- At most one primary (live) contact per customer.
CREATE UNIQUE INDEX contacts_one_primary ON contacts (customer_id) WHERE is_primary AND archived_at IS NULL;

CREATE FUNCTION api_contact(c contacts) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT json_build_object(
        'id', c.id, 'customer_id', c.customer_id, 'name', c.name, 'title', c.title,
        'phone', c.phone, 'mobile', c.mobile, 'email', c.email, 'wechat_id', c.wechat_id,
        'decision_role', c.decision_role, 'birthday', c.birthday,
        'company_anniversary', c.company_anniversary, 'preferences', c.preferences,
        'notes', c.notes, 'is_primary', c.is_primary, 'archived', c.archived_at IS NOT NULL,
        'archived_at', api_ts(c.archived_at), 'created_at', api_ts(c.created_at),
        'updated_at', api_ts(c.updated_at), 'version', c.version)
$$;

-- The audit trail: every change (with before/after) and every read of a
-- customer file. Append-only; no foreign keys so it outlives anything.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    uuid,
    actor_role  text,
    action      text NOT NULL,
    entity      text NOT NULL,
    entity_id   text NOT NULL,
    customer_id uuid,
    before      jsonb,
    after       jsonb,
    request_id  text
);
CREATE INDEX audit_log_customer_idx ON audit_log (customer_id, id) WHERE customer_id IS NOT NULL;
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_at_idx ON audit_log (at);

CREATE FUNCTION audit_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_forbid_change();

CREATE FUNCTION api_audit(a audit_log) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT json_build_object(
        'id', a.id::text, 'at', api_ts(a.at), 'actor_id', a.actor_id, 'actor_role', a.actor_role,
        'action', a.action, 'entity', a.entity, 'entity_id', a.entity_id,
        'customer_id', a.customer_id, 'before', a.before, 'after', a.after,
        'request_id', a.request_id)
$$;

-- Responses remembered for Idempotency-Key replays (24 hours).
CREATE TABLE idempotency_keys (
    user_id      uuid NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       integer NOT NULL,
    content_type text,
    location     text,
    etag         text,
    body         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
