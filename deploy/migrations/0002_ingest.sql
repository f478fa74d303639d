-- 0002 ingest: the canonical store that the ingest service writes, its idempotency records,
-- the audit of rejected events, HTTP signing secrets, ERP connections and the transactional outbox.
-- Applied by `syncctl migrate` inside one transaction; recorded in schema_migrations.
--
-- Conventions (later migrations follow them):
--   * Money, prices, quantities and rates are `numeric` (exact; never float). The event contract bounds
--     their digits; the stored scale is the one the shop wrote ("12.50" stays 12.50).
--   * Every table with a tenant_id has ROW LEVEL SECURITY enabled AND forced, with the policy
--     `tenant_isolation`: a row is visible (and writable) only when its tenant_id equals the
--     transaction's `ledgerline.tenant_id` setting. Tenant-scoped transactions begin with
--     `SELECT set_config('ledgerline.tenant_id', $1, true)` (transaction-local, so a pooled
--     connection never carries a tenant into the next transaction). No setting means no rows.
--     Superusers and table owners with BYPASSRLS skip RLS; runtime roles must be neither.
--   * Runtime roles are NOLOGIN group roles; deployments create login users and grant them these.

-- ---------------------------------------------------------------------------------------------
-- Roles
-- ---------------------------------------------------------------------------------------------
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledgerline_ingest') THEN
        CREATE ROLE ledgerline_ingest NOLOGIN;          -- HTTP and AMQP intake (tenant-scoped)
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledgerline_outbox_relay') THEN
        CREATE ROLE ledgerline_outbox_relay NOLOGIN;    -- the outbox relay and housekeeping (cross-tenant)
    END IF;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- HTTP signing secrets: one or more per tenant (several during a rotation). Stored encrypted with
-- AES-256-GCM under the key in LEDGERLINE_SECRETS_KEY; the associated data binds each ciphertext
-- to its tenant and secret id, so ciphertexts cannot be swapped between rows.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE tenant_signing_secrets (
    secret_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       text NOT NULL REFERENCES tenants (tenant_id),
    key_id          text NOT NULL,          -- which encryption key sealed it (for key rotation)
    ciphertext      bytea NOT NULL,         -- 12-byte nonce || ciphertext || 16-byte tag
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,            -- NULL: until revoked
    revoked_at      timestamptz
);
CREATE INDEX tenant_signing_secrets_active ON tenant_signing_secrets (tenant_id) WHERE revoked_at IS NULL;

-- ---------------------------------------------------------------------------------------------
-- ERP connections: which accounting system a location syncs to, and what is pushed / pulled.
-- Ingest writes one sync job per active connection of the event's location; later issues manage
-- the rest of the lifecycle (connect, lost authorization, disconnect).
-- ---------------------------------------------------------------------------------------------
CREATE TABLE erp_connections (
    connection_id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       text NOT NULL,
    location_id     text NOT NULL,
    erp             text NOT NULL CHECK (erp ~ '^[a-z0-9][a-z0-9-]{0,63}$'),   -- ERP slug, e.g. xero
    status          text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'paused', 'needs_reauth', 'disconnected')),
    push_invoices   boolean NOT NULL DEFAULT true,
    push_payments   boolean NOT NULL DEFAULT true,
    push_customers  boolean NOT NULL DEFAULT true,
    pull_invoices   boolean NOT NULL DEFAULT false,
    pull_payments   boolean NOT NULL DEFAULT false,
    pull_customers  boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, location_id),
    UNIQUE (tenant_id, location_id, erp)
);

-- ---------------------------------------------------------------------------------------------
-- Inbound events: every event ingest accepted, once per (tenant, idempotency key). The unique
-- constraint is the idempotency guard: concurrent duplicates race on it (INSERT … ON CONFLICT).
-- Rejected events are not here (they may be fixed and sent again with the same key); they are in
-- ingest_rejections.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE inbound_events (
    event_key        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        text NOT NULL REFERENCES tenants (tenant_id),
    location_id      text NOT NULL,
    source_system    text NOT NULL,
    idempotency_key  text NOT NULL,
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    invoice_id       text NOT NULL,
    invoice_version  bigint NOT NULL,
    occurred_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT clock_timestamp(),  -- when the row was written
    channel          text NOT NULL CHECK (channel IN ('amqp', 'http')),
    event_sha256     bytea NOT NULL,        -- fingerprint of the event's content (canonical JSON)
    body             jsonb NOT NULL,        -- the event as accepted (canonical JSON)
    -- applied: changed the canonical store; stale: an equal or higher invoice version was already
    -- applied (recorded, not applied); parked: waits for its invoice; rejected: a parked event that
    -- could not be applied when its invoice arrived.
    outcome          text NOT NULL CHECK (outcome IN ('applied', 'stale', 'parked', 'rejected')),
    outcome_reason   text,                  -- reason code for anything but applied
    decided_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX inbound_events_invoice ON inbound_events (tenant_id, location_id, source_system, invoice_id);

-- ---------------------------------------------------------------------------------------------
-- Rejections: every event (or body) ingest refused, with a stable reason code and a message for
-- people. tenant_id is what the event claimed (NULL when the body did not say); it need not exist.
-- rejection_ref deduplicates redeliveries of the same rejected message.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE ingest_rejections (
    rejection_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rejection_ref    text NOT NULL UNIQUE,
    tenant_id        text,
    location_id      text,
    channel          text NOT NULL CHECK (channel IN ('amqp', 'http')),
    event_id         text,
    event_type       text,
    idempotency_key  text,
    invoice_id       text,
    reason_code      text NOT NULL,         -- the first failure's code, e.g. arithmetic.total_mismatch
    reason           text NOT NULL,         -- the first failure's message
    failures         jsonb NOT NULL,        -- every failure: [{code, path, message}]
    body_sha256      bytea NOT NULL,
    body_bytes       integer NOT NULL,
    body             bytea,                 -- the rejected body when at most 64 KiB
    rejected_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_rejections_tenant ON ingest_rejections (tenant_id, rejected_at);

-- ---------------------------------------------------------------------------------------------
-- The canonical store. An invoice is identified by (tenant, location, source system, invoice id);
-- invoice_version is the producer's version of the last applied event. Lines, tax lines and the
-- vehicle are replaced with every applied snapshot and carry the version they came from.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE customers (
    customer_key            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id               text NOT NULL,
    location_id             text NOT NULL,
    source_system           text NOT NULL,
    customer_id             text NOT NULL,
    name                    text NOT NULL,
    company_name            text,
    email                   text,
    phone                   text,
    billing_line1           text,
    billing_line2           text,
    billing_city            text,
    billing_region          text,
    billing_postal_code     text,
    billing_country         text,
    tax_exempt              boolean NOT NULL,
    tax_exempt_reason       text,
    row_version             integer NOT NULL DEFAULT 1,      -- bumped on every stored change
    last_seen_occurred_at   timestamptz NOT NULL,            -- occurred_at of the event the data is from
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, location_id),
    UNIQUE (tenant_id, location_id, source_system, customer_id)
);

CREATE TABLE invoices (
    invoice_key             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id               text NOT NULL,
    location_id             text NOT NULL,
    source_system           text NOT NULL,
    invoice_id              text NOT NULL,
    invoice_number          text NOT NULL,
    job_number              text,
    work_order_number       text,
    repair_order_number     text,
    purchase_order_number   text,
    status                  text NOT NULL
                            CHECK (status IN ('draft', 'open', 'partially_paid', 'paid', 'voided')),
    issue_date              date NOT NULL,
    due_date                date,
    payment_terms           text,
    currency                text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    customer_id             text NOT NULL,                   -- customers.customer_id (same location and source)
    customer_name           text NOT NULL,
    subtotal                numeric NOT NULL,
    discount_total          numeric,
    tax_total               numeric NOT NULL,
    total                   numeric NOT NULL,
    amount_paid             numeric NOT NULL,
    balance_due             numeric NOT NULL,
    notes                   text,
    invoice_version         bigint NOT NULL CHECK (invoice_version >= 1),
    last_occurred_at        timestamptz NOT NULL,            -- occurred_at of the last applied event
    last_event_id           text NOT NULL,                   -- event_id of the last applied event
    voided_at               timestamptz,
    void_reason             text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, location_id),
    UNIQUE (tenant_id, location_id, source_system, invoice_id)
);

CREATE TABLE invoice_lines (
    invoice_key             bigint NOT NULL REFERENCES invoices (invoice_key) ON DELETE CASCADE,
    invoice_version         bigint NOT NULL,
    line_number             integer NOT NULL,                -- 1-based position on the invoice
    tenant_id               text NOT NULL,
    line_id                 text,
    kind                    text NOT NULL
                            CHECK (kind IN ('part', 'labor', 'fee', 'sublet', 'discount', 'core_charge')),
    description             text NOT NULL,
    quantity                numeric NOT NULL,                -- hours for labor
    unit_price              numeric NOT NULL,                -- hourly rate for labor
    amount                  numeric NOT NULL,
    taxable                 boolean NOT NULL,
    tax_code                text,
    part_number             text,
    manufacturer            text,
    technician_id           text,
    technician_name         text,
    labor_code              text,
    fee_code                text,
    vendor_name             text,
    vendor_invoice_number   text,
    PRIMARY KEY (invoice_key, invoice_version, line_number)
);

CREATE TABLE invoice_tax_lines (
    invoice_key             bigint NOT NULL REFERENCES invoices (invoice_key) ON DELETE CASCADE,
    invoice_version         bigint NOT NULL,
    line_number             integer NOT NULL,
    tenant_id               text NOT NULL,
    jurisdiction            text NOT NULL,
    tax_code                text,
    rate_percent            numeric NOT NULL,
    taxable_amount          numeric NOT NULL,
    amount                  numeric NOT NULL,
    PRIMARY KEY (invoice_key, invoice_version, line_number)
);

-- The vehicle worked on, as stated on the invoice (the contract gives vehicles no id of their own).
CREATE TABLE vehicles (
    invoice_key             bigint PRIMARY KEY REFERENCES invoices (invoice_key) ON DELETE CASCADE,
    tenant_id               text NOT NULL,
    vin                     text,
    model_year              integer,
    make                    text,
    model                   text,
    license_plate           text,
    odometer_reading        integer,
    odometer_unit           text CHECK (odometer_unit IN ('mi', 'km')),
    invoice_version         bigint NOT NULL,
    updated_at              timestamptz NOT NULL DEFAULT now()
);

-- Payments applied to invoices: from invoice snapshots (the `payments` list) or from
-- payment.received events. A payment a later snapshot no longer lists becomes 'removed'.
CREATE TABLE payments (
    payment_key             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_key             bigint NOT NULL REFERENCES invoices (invoice_key) ON DELETE CASCADE,
    tenant_id               text NOT NULL,
    payment_id              text NOT NULL,
    amount                  numeric NOT NULL CHECK (amount > 0),
    currency                text NOT NULL,
    method                  text NOT NULL,
    payment_date            date NOT NULL,
    reference               text,
    status                  text NOT NULL CHECK (status IN ('applied', 'removed')),
    recorded_from           text NOT NULL CHECK (recorded_from IN ('invoice_snapshot', 'payment_event')),
    invoice_version         bigint NOT NULL,                 -- the invoice version that recorded it
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (invoice_key, payment_id)
);

-- Events that arrived before their invoice (payment.received, invoice.voided): applied, in
-- version order, in the transaction that stores the invoice.
CREATE TABLE parked_events (
    event_key               bigint PRIMARY KEY REFERENCES inbound_events (event_key),
    tenant_id               text NOT NULL,
    location_id             text NOT NULL,
    source_system           text NOT NULL,
    invoice_id              text NOT NULL,
    invoice_version         bigint NOT NULL,
    event_type              text NOT NULL,
    parked_at               timestamptz NOT NULL DEFAULT now(),
    resolved_at             timestamptz,
    resolution              text CHECK (resolution IN ('applied', 'stale', 'rejected'))
);
CREATE INDEX parked_events_waiting ON parked_events (tenant_id, location_id, source_system, invoice_id)
    WHERE resolved_at IS NULL;

-- ---------------------------------------------------------------------------------------------
-- HTTP intake: the answer given for each (tenant, Idempotency-Key), replayed for retries; and the
-- signatures seen recently (replay protection within the ±300 s window).
-- ---------------------------------------------------------------------------------------------
CREATE TABLE http_idempotency_keys (
    tenant_id               text NOT NULL REFERENCES tenants (tenant_id),
    idempotency_key         text NOT NULL,
    request_sha256          bytea NOT NULL,                  -- of the raw request body
    status_code             integer,                         -- NULL only inside the first request's transaction
    response_body           bytea,
    created_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, idempotency_key)
);

CREATE TABLE http_signature_replays (
    tenant_id               text NOT NULL REFERENCES tenants (tenant_id),
    signature               bytea NOT NULL,                  -- the HMAC that verified
    signed_at               timestamptz NOT NULL,            -- the request's Ledgerline-Timestamp
    seen_at                 timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, signature)
);

-- ---------------------------------------------------------------------------------------------
-- Transactional outbox: messages written in the same transaction as the change that caused them,
-- published by the relay with publisher confirms, then marked. The AMQP message id is outbox_id,
-- so consumers can drop the repeat after a crash between confirm and mark.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE outbox (
    outbox_id               bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    tenant_id               text NOT NULL,
    exchange                text NOT NULL,
    routing_key             text NOT NULL,
    message_id              text NOT NULL,
    message_type            text NOT NULL,                   -- sync_job | audit_event
    headers                 jsonb NOT NULL DEFAULT '{}',
    body                    jsonb NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    published_at            timestamptz,
    attempts                integer NOT NULL DEFAULT 0,
    last_error              text,
    next_attempt_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_pending ON outbox (outbox_id) WHERE published_at IS NULL;

-- Wake the relay (LISTEN ledgerline_outbox) once per inserting statement; it also polls.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ledgerline_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- ---------------------------------------------------------------------------------------------
-- Row-level security: the tenant_isolation policy on every table with a tenant_id.
-- ---------------------------------------------------------------------------------------------
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'tenant_signing_secrets', 'erp_connections', 'inbound_events', 'customers', 'invoices',
        'invoice_lines', 'invoice_tax_lines', 'vehicles', 'payments', 'parked_events',
        'http_idempotency_keys', 'http_signature_replays', 'outbox'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = current_setting(''ledgerline.tenant_id'', true)) '
            'WITH CHECK (tenant_id = current_setting(''ledgerline.tenant_id'', true))', t);
    END LOOP;
END
$$;

-- Rejections may name no tenant (a body that is not JSON): such rows are written, and visible, only
-- with the setting empty; no tenant ever sees them (INSERT … ON CONFLICT needs the new row visible).
ALTER TABLE ingest_rejections ENABLE ROW LEVEL SECURITY;
ALTER TABLE ingest_rejections FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ingest_rejections
    USING (tenant_id IS NOT DISTINCT FROM nullif(current_setting('ledgerline.tenant_id', true), ''))
    WITH CHECK (tenant_id IS NOT DISTINCT FROM nullif(current_setting('ledgerline.tenant_id', true), ''));

-- The outbox relay works across tenants: it reads, marks and prunes every outbox row, and prunes
-- expired HTTP idempotency answers and replay records.
CREATE POLICY relay_all ON outbox TO ledgerline_outbox_relay USING (true) WITH CHECK (true);
CREATE POLICY relay_prune ON http_idempotency_keys FOR DELETE TO ledgerline_outbox_relay USING (true);
CREATE POLICY relay_prune_select ON http_idempotency_keys FOR SELECT TO ledgerline_outbox_relay USING (true);
CREATE POLICY relay_prune ON http_signature_replays FOR DELETE TO ledgerline_outbox_relay USING (true);
CREATE POLICY relay_prune_select ON http_signature_replays FOR SELECT TO ledgerline_outbox_relay USING (true);

-- ---------------------------------------------------------------------------------------------
-- Least privilege.
-- ---------------------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA public TO ledgerline_ingest, ledgerline_outbox_relay;
GRANT SELECT ON tenants, locations, erp_connections, tenant_signing_secrets TO ledgerline_ingest;
GRANT SELECT, INSERT, UPDATE, DELETE ON inbound_events TO ledgerline_ingest;  -- DELETE: a claim undone by a rejection
GRANT SELECT, INSERT ON ingest_rejections TO ledgerline_ingest;
GRANT SELECT, INSERT, UPDATE ON customers, invoices, payments, parked_events TO ledgerline_ingest;
GRANT SELECT, INSERT, UPDATE, DELETE ON invoice_lines, invoice_tax_lines, vehicles TO ledgerline_ingest;
GRANT SELECT, INSERT, UPDATE ON http_idempotency_keys TO ledgerline_ingest;
GRANT SELECT, INSERT ON http_signature_replays TO ledgerline_ingest;
GRANT INSERT ON outbox TO ledgerline_ingest;
GRANT USAGE ON SEQUENCE outbox_outbox_id_seq TO ledgerline_ingest;

GRANT SELECT, UPDATE, DELETE ON outbox TO ledgerline_outbox_relay;
GRANT SELECT, DELETE ON http_idempotency_keys, http_signature_replays TO ledgerline_outbox_relay;
