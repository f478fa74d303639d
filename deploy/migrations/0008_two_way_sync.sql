-- 0008 two-way sync (issue 8): pulls from the ERP, what they found, preferences per connection and the
-- connection lifecycle. docs/two-way-sync.md describes the rules.
--   * erp_pull_runs: the checkpoint of the initial sync and of the regular pull per connection: the page
--     cursor of the run in progress (committed with each page's changes), the `since` of the last
--     successful pull, a lease like sync_documents' (a dead worker's run is swept and resumed);
--   * erp_records: every object read from the ERP, with the shop record it matched (NULL: ERP-only),
--     voids and deletions seen in the ERP;
--   * preferences on erp_connections (direction per object, active customers only, deposit account,
--     sync interval) and the lifecycle columns (disconnected, migration);
--   * payments may be recorded from the ERP (recorded_from = 'erp_pull');
--   * worker_take_due_jobs also returns due pull runs, so the workers' sweeper resumes them.

-- MARK: Preferences and lifecycle -------------------------------------------------------------------

ALTER TABLE erp_connections
    ADD COLUMN push_items             boolean NOT NULL DEFAULT false,
    ADD COLUMN pull_items             boolean NOT NULL DEFAULT false,
    ADD COLUMN push_tax_rates         boolean NOT NULL DEFAULT false,
    ADD COLUMN pull_tax_rates         boolean NOT NULL DEFAULT false,
    ADD COLUMN customers_active_only  boolean NOT NULL DEFAULT false,
    ADD COLUMN payment_deposit_account text,
    ADD COLUMN sync_interval_minutes  integer NOT NULL DEFAULT 120 CHECK (sync_interval_minutes BETWEEN 5 AND 10080),
    ADD COLUMN disconnected_at        timestamptz,
    ADD COLUMN frozen_for_migration_to uuid,          -- set on the old connection when a migration starts
    ADD COLUMN migrated_from          uuid;           -- set on the new connection of a migration

COMMENT ON COLUMN erp_connections.customers_active_only IS
    'Preferences > Accounting > Customer Status: only active ERP customers are imported (others: Customer Skipped: inactive)';
COMMENT ON COLUMN erp_connections.sync_interval_minutes IS 'How often regular pulls run (seed 001: every two hours)';
COMMENT ON COLUMN erp_connections.pull_items IS 'Items are not read by the connectors yet: stored for the preference only';

-- MARK: Pull checkpoints ----------------------------------------------------------------------------

CREATE TABLE erp_pull_runs (
    tenant_id          text        NOT NULL,
    connection_id      uuid        NOT NULL REFERENCES erp_connections (connection_id),
    run_kind           text        NOT NULL CHECK (run_kind IN ('initial', 'pull')),
    state              text        NOT NULL DEFAULT 'idle'
                       CHECK (state IN ('idle', 'running', 'due', 'completed', 'parked')),
    run_number         bigint      NOT NULL DEFAULT 0,            -- bumped when a run starts
    job                jsonb,                                      -- the job that runs it (re-enqueued by the sweeper)
    job_id             text,
    worker_id          text,
    lease_until        timestamptz,                                -- state running: the holder's lease
    not_before         timestamptz,                                -- state due: when it may continue
    requeued_at        timestamptz,
    session_id         uuid,                                       -- the sync-log session of the run
    entities           text[]      NOT NULL DEFAULT '{}',          -- what the run reads, in order
    since              timestamptz,                                -- changes at or after this instant
    started_at         timestamptz,                                -- database time the run started
    cursor             text,                                       -- the next page (NULL: the first)
    pages              bigint      NOT NULL DEFAULT 0,
    records            bigint      NOT NULL DEFAULT 0,
    failures           integer     NOT NULL DEFAULT 0,             -- consecutive failed pages (backoff)
    counts             jsonb       NOT NULL DEFAULT '{}',          -- "<object>.<result>" → n
    estimated_total    bigint,
    reason             text,
    message            text,
    completed_at       timestamptz,
    last_success_since timestamptz,                                -- started_at of the last completed run
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, connection_id, run_kind),
    CHECK (state <> 'running' OR lease_until IS NOT NULL),
    CHECK (state <> 'due' OR not_before IS NOT NULL)
);

-- MARK: What the ERP holds --------------------------------------------------------------------------

CREATE TABLE erp_records (
    tenant_id          text        NOT NULL,
    connection_id      uuid        NOT NULL REFERENCES erp_connections (connection_id),
    object_kind        text        NOT NULL CHECK (object_kind IN ('customer', 'invoice', 'payment', 'item', 'tax_rate')),
    erp_id             text        NOT NULL,
    erp_version        text,
    number             text,                                       -- invoice number
    display_name       text,                                       -- customer name
    erp_status         text,
    active             boolean,
    customer_erp_id    text,
    total              numeric,
    tax_total          numeric,
    balance            numeric,
    amount             numeric,                                    -- payments
    invoice_erp_ids    text[],                                     -- payments: the invoices it applies to
    our_id             text,                                       -- the shop record it matched; NULL: ERP-only
    match_method       text CHECK (match_method IN ('link', 'reference', 'number')),
    voided_in_erp_at   timestamptz,
    deleted_in_erp_at  timestamptz,
    erp_last_updated   text,
    first_pulled_at    timestamptz NOT NULL DEFAULT now(),
    last_pulled_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, connection_id, object_kind, erp_id)
);
CREATE INDEX erp_records_erp_only ON erp_records (tenant_id, connection_id, object_kind) WHERE our_id IS NULL;

-- MARK: Payments recorded in the ERP --------------------------------------------------------------

ALTER TABLE payments DROP CONSTRAINT payments_recorded_from_check;
ALTER TABLE payments ADD CONSTRAINT payments_recorded_from_check
    CHECK (recorded_from IN ('invoice_snapshot', 'payment_event', 'erp_pull'));

-- MARK: Row-level security ------------------------------------------------------------------------

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['erp_pull_runs', 'erp_records'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = current_setting(''ledgerline.tenant_id'', true)) '
            'WITH CHECK (tenant_id = current_setting(''ledgerline.tenant_id'', true))', t);
    END LOOP;
END
$$;

-- MARK: The sweeper also resumes pull runs ---------------------------------------------------------

CREATE OR REPLACE FUNCTION worker_take_due_jobs(p_erp text, p_limit integer, p_guard_seconds integer)
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
    ),
    documents AS (
        UPDATE sync_documents s
        SET requeued_at = now()
        FROM due
        WHERE s.tenant_id = due.tenant_id AND s.connection_id = due.connection_id
          AND s.document_kind = due.document_kind AND s.document_id = due.document_id
        RETURNING s.tenant_id, s.job
    ),
    due_runs AS (
        SELECT r.tenant_id, r.connection_id, r.run_kind
        FROM erp_pull_runs r JOIN erp_connections c ON c.connection_id = r.connection_id
        WHERE c.erp = p_erp AND c.status = 'active' AND r.job IS NOT NULL
          AND ((r.state = 'due' AND r.not_before <= now()) OR (r.state = 'running' AND r.lease_until < now()))
          AND (r.requeued_at IS NULL OR r.requeued_at < now() - make_interval(secs => p_guard_seconds))
        LIMIT p_limit
        FOR UPDATE OF r SKIP LOCKED
    ),
    runs AS (
        UPDATE erp_pull_runs r
        SET requeued_at = now()
        FROM due_runs
        WHERE r.tenant_id = due_runs.tenant_id AND r.connection_id = due_runs.connection_id
          AND r.run_kind = due_runs.run_kind
        RETURNING r.tenant_id, r.job
    )
    SELECT * FROM documents
    UNION ALL
    SELECT * FROM runs
$$;
REVOKE ALL ON FUNCTION worker_take_due_jobs(text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION worker_take_due_jobs(text, integer, integer) TO ledgerline_worker;

-- MARK: Finance view: ERP-only records -------------------------------------------------------------

CREATE VIEW finance.erp_only_records WITH (security_barrier) AS
SELECT r.tenant_id, c.location_id, c.erp, r.connection_id, r.object_kind, r.erp_id, r.number, r.display_name,
       r.erp_status, r.customer_erp_id, r.total, r.balance, r.amount, r.voided_in_erp_at, r.deleted_in_erp_at,
       r.first_pulled_at, r.last_pulled_at
FROM erp_records r
JOIN finance.current_tenant t ON t.tenant_id = r.tenant_id
JOIN erp_connections c ON c.connection_id = r.connection_id
WHERE r.our_id IS NULL;
GRANT SELECT ON finance.erp_only_records TO ledgerline_finance;

-- MARK: Reason codes of pulls ----------------------------------------------------------------------

INSERT INTO reason_codes (code, summary) VALUES
    ('pull.customer_inactive', 'The customer is inactive in the accounting system and only active customers are synced.'),
    ('pull.direction_blocked', 'The preferences say not to sync this object from the accounting system.'),
    ('pull.invoice_not_open_or_paid', 'The initial sync brings open and paid invoices only.'),
    ('pull.voided_in_erp', 'The invoice was voided or deleted in the accounting system; it is never pushed again.'),
    ('pull.conflict_shop_wins', 'Both sides changed the record; the shop''s version is kept and pushed.'),
    ('pull.payment_unmatched', 'The payment applies to no invoice Ledgerline knows; it is kept as an ERP-only record.'),
    ('pull.payment_ours', 'The payment was pushed by Ledgerline; nothing to import.'),
    ('sync.pull_continues', 'A long pull commits its progress and continues in the next job.')
ON CONFLICT (code) DO NOTHING;

-- MARK: Least privilege -----------------------------------------------------------------------------

GRANT SELECT, INSERT, UPDATE ON erp_pull_runs, erp_records TO ledgerline_worker;
GRANT INSERT ON payments TO ledgerline_worker;
GRANT USAGE ON SEQUENCE payments_payment_key_seq TO ledgerline_worker;
GRANT UPDATE (status, amount_paid, balance_due, updated_at) ON invoices TO ledgerline_worker;
GRANT SELECT ON erp_pull_runs, erp_records TO ledgerline_service;
