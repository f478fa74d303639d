-- 0004 sync state: what the ERP workers (`worker-<erp>`, module WorkerRuntime) keep in Postgres.
--   * sync_documents: one row per (tenant, connection, document kind, document id), the per-document
--     state machine (docs/worker-runtime.md): pending → claimed → sent_outcome_unknown →
--     synced | deferred | parked. The ERP idempotency key is recorded BEFORE the ERP call.
--   * erp_links: our id ↔ ERP id (and its version / SyncToken) per connection.
--   * erp_connection_settings: endpoint and mapping of a connection (what the connector needs).
--   * erp_connection_credentials: OAuth2 tokens / API secrets, AES-256-GCM sealed under
--     LEDGERLINE_SECRETS_KEY with "<tenant>|<connection>" as associated data.
--   * erp_rate_buckets / erp_concurrency_slots: rate limits shared by every replica of a worker.
-- Tenancy: the convention of 0002 (RLS enabled + forced, policy tenant_isolation on
-- current_setting('ledgerline.tenant_id', true)). The only cross-tenant reads are two SECURITY DEFINER
-- functions for the sweeper that re-enqueues due deferred jobs (they return job messages only).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledgerline_worker') THEN
        CREATE ROLE ledgerline_worker NOLOGIN;          -- the ERP workers (tenant-scoped)
    END IF;
END
$$;

-- MARK: Per-document sync state -------------------------------------------------------------------

CREATE TABLE sync_documents (
    tenant_id              text        NOT NULL,
    connection_id          uuid        NOT NULL REFERENCES erp_connections (connection_id),
    document_kind          text        NOT NULL CHECK (document_kind IN ('customer', 'invoice', 'payment')),
    document_id            text        NOT NULL,
    state                  text        NOT NULL DEFAULT 'pending'
                           CHECK (state IN ('pending', 'claimed', 'sent_outcome_unknown', 'synced', 'deferred', 'parked')),
    target_version         bigint      NOT NULL DEFAULT 0,   -- the highest version any job asked for
    job                    jsonb,                             -- the latest SyncJob (re-published by the sweeper)
    -- claimed
    attempt                integer     NOT NULL DEFAULT 0,    -- attempts for the current version
    first_attempt_at       timestamptz,                       -- start of the retry horizon of this version
    lease_until            timestamptz,
    worker_id              text,
    job_id                 text,
    attempt_version        bigint,                            -- the version being written
    -- sent_outcome_unknown (recorded before the ERP call)
    operation              text,
    idempotency_key        text,
    key_recorded_at        timestamptz,
    prior_outcome_unknown  boolean     NOT NULL DEFAULT false, -- an earlier attempt may have reached the ERP
    -- synced
    erp_id                 text,
    erp_version            text,                              -- e.g. QuickBooks SyncToken
    synced_version         bigint,
    payload_sha256         bytea,
    synced_at              timestamptz,
    -- deferred / parked
    reason                 text,
    erp_message            text,
    erp_request_id         text,
    not_before             timestamptz,
    requeued_at            timestamptz,                       -- when the sweeper last re-enqueued its job
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, connection_id, document_kind, document_id),
    CHECK (state <> 'claimed' OR lease_until IS NOT NULL),
    CHECK (state <> 'sent_outcome_unknown' OR idempotency_key IS NOT NULL),
    CHECK (state <> 'synced' OR synced_version IS NOT NULL),   -- erp_id NULL: nothing to write (e.g. a void never sent)
    CHECK (state <> 'deferred' OR not_before IS NOT NULL),
    CHECK (state <> 'parked' OR reason IS NOT NULL)
);
CREATE INDEX sync_documents_due ON sync_documents (not_before) WHERE state = 'deferred';
CREATE INDEX sync_documents_leased ON sync_documents (lease_until) WHERE state IN ('claimed', 'sent_outcome_unknown');

-- MARK: Links ---------------------------------------------------------------------------------------

CREATE TABLE erp_links (
    tenant_id       text        NOT NULL,
    connection_id   uuid        NOT NULL REFERENCES erp_connections (connection_id),
    object_kind     text        NOT NULL CHECK (object_kind IN ('customer', 'invoice', 'payment')),
    our_id          text        NOT NULL,
    erp_id          text        NOT NULL,
    erp_version     text,
    erp_number      text,
    erp_name        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, connection_id, object_kind, our_id),
    UNIQUE (connection_id, object_kind, erp_id)
);

-- MARK: Connection settings and credentials -----------------------------------------------------

CREATE TABLE erp_connection_settings (
    connection_id   uuid        PRIMARY KEY REFERENCES erp_connections (connection_id),
    tenant_id       text        NOT NULL,
    api_base_url    text        NOT NULL,
    company_id      text        NOT NULL,                     -- QuickBooks realm / Xero tenant id
    mapping         jsonb       NOT NULL DEFAULT '{}',        -- MappingConfiguration (snake_case JSON)
    reauth_reason   text,                                     -- why the connection needs re-authorization
    reauth_at       timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE erp_connection_credentials (
    connection_id       uuid        PRIMARY KEY REFERENCES erp_connections (connection_id),
    tenant_id           text        NOT NULL,
    key_id              text        NOT NULL,                 -- which key sealed it (rotation)
    nonce               bytea       NOT NULL CHECK (octet_length(nonce) = 12),
    ciphertext          bytea       NOT NULL,                 -- ciphertext || 16-byte tag
    access_expires_at   timestamptz,
    generation          bigint      NOT NULL DEFAULT 1,       -- bumped by every refresh
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- MARK: Rate limits shared by every replica ------------------------------------------------------

CREATE TABLE erp_rate_buckets (
    connection_id   uuid        NOT NULL,
    limit_name      text        NOT NULL,                     -- e.g. "connection all 60/60s"
    tenant_id       text        NOT NULL,
    capacity        numeric     NOT NULL CHECK (capacity > 0),
    refill_per_sec  numeric     NOT NULL CHECK (refill_per_sec > 0),
    tokens          numeric     NOT NULL,
    blocked_until   timestamptz,                              -- a 429's Retry-After drains the bucket until then
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (connection_id, limit_name)
);

CREATE TABLE erp_concurrency_slots (
    connection_id   uuid        NOT NULL,
    limit_name      text        NOT NULL,
    slot            integer     NOT NULL CHECK (slot >= 0),
    tenant_id       text        NOT NULL,
    holder          text,                                     -- NULL: free
    lease_until     timestamptz,
    PRIMARY KEY (connection_id, limit_name, slot)
);

-- MARK: Row-level security ------------------------------------------------------------------------

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'sync_documents', 'erp_links', 'erp_connection_settings', 'erp_connection_credentials',
        'erp_rate_buckets', 'erp_concurrency_slots'
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

-- MARK: The sweeper (cross-tenant, narrow) ---------------------------------------------------------

-- Jobs of one ERP that are due again: deferred rows whose not_before passed, and claims whose lease
-- expired (a worker died). Each returned row is stamped requeued_at, and not returned again for
-- `guard_seconds` (a job whose republish was lost is swept again after that); a claim clears the stamp.
CREATE FUNCTION worker_take_due_jobs(p_erp text, p_limit integer, p_guard_seconds integer)
RETURNS TABLE (tenant_id text, job jsonb)
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    WITH due AS (
        SELECT d.tenant_id, d.connection_id, d.document_kind, d.document_id
        FROM sync_documents d JOIN erp_connections c ON c.connection_id = d.connection_id
        WHERE c.erp = p_erp AND c.status = 'active' AND d.job IS NOT NULL
          AND ((d.state = 'deferred' AND d.not_before <= now())
               OR (d.state IN ('claimed', 'sent_outcome_unknown') AND d.lease_until < now()))
          AND (d.requeued_at IS NULL OR d.requeued_at < now() - make_interval(secs => p_guard_seconds))
        ORDER BY coalesce(d.not_before, d.lease_until)
        LIMIT p_limit
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE sync_documents s
    SET requeued_at = now()
    FROM due
    WHERE s.tenant_id = due.tenant_id AND s.connection_id = due.connection_id
      AND s.document_kind = due.document_kind AND s.document_id = due.document_id
    RETURNING s.tenant_id, s.job
$$;
REVOKE ALL ON FUNCTION worker_take_due_jobs(text, integer, integer) FROM PUBLIC;

-- MARK: Least privilege -----------------------------------------------------------------------------

GRANT USAGE ON SCHEMA public TO ledgerline_worker;
GRANT SELECT ON tenants, locations, erp_connections TO ledgerline_worker;
GRANT UPDATE (status, updated_at) ON erp_connections TO ledgerline_worker;     -- needs_reauth
GRANT SELECT ON customers, invoices, invoice_lines, invoice_tax_lines, vehicles, payments TO ledgerline_worker;
GRANT SELECT, INSERT, UPDATE ON sync_documents, erp_links TO ledgerline_worker;
GRANT SELECT, UPDATE ON erp_connection_settings TO ledgerline_worker;
GRANT SELECT, UPDATE ON erp_connection_credentials TO ledgerline_worker;
GRANT SELECT, INSERT, UPDATE ON erp_rate_buckets, erp_concurrency_slots TO ledgerline_worker;
GRANT INSERT ON outbox TO ledgerline_worker;                                    -- audit events
GRANT USAGE ON SEQUENCE outbox_outbox_id_seq TO ledgerline_worker;
GRANT EXECUTE ON FUNCTION worker_take_due_jobs(text, integer, integer) TO ledgerline_worker;
