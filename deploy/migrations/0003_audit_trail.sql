-- 0003 audit trail: the append-only, hash-chained audit trail written by `log-writer`, the sync log
-- derived from it (sessions with their counts; the events are audit rows), retention checkpoints,
-- and the read-only finance views. docs/audit-trail.md explains the chain and retention,
-- docs/finance-views.md the views.
--
-- Tenancy convention (shared with every migration): each table with a tenant_id column has row-level
-- security ENABLED and FORCED with a policy on tenant_id = current_setting('ledgerline.tenant_id', true);
-- a tenant-scoped transaction first runs SELECT set_config('ledgerline.tenant_id', $1, true).
-- With the setting unset, a runtime role sees no rows at all.

-- MARK: The audit trail ---------------------------------------------------------------------------

-- One row per audit event (AuditEvent on the ledgerline.audit exchange), stored once per audit_id.
-- Rows of one tenant form a hash chain: chain_seq counts 1, 2, 3, … without gaps, prev_hash is the
-- row_hash of the row before (32 zero bytes for row 1) and row_hash is SHA-256 over the row's
-- canonical encoding (docs/audit-trail.md, "Canonical encoding"). Never updated, never deleted.
CREATE TABLE audit_trail (
    tenant_id        text        NOT NULL,
    chain_seq        bigint      NOT NULL CHECK (chain_seq > 0),
    audit_id         uuid        NOT NULL,
    kind             text        NOT NULL CHECK (kind IN ('event.received', 'event.rejected', 'session.opened',
                                                          'session.closed', 'record.synced', 'connection.changed')),
    occurred_at      timestamptz NOT NULL,
    -- When the log writer stored it (server clock, taken under the tenant's chain lock, so it never
    -- goes backwards along a tenant's chain).
    recorded_at      timestamptz NOT NULL,
    location_id      text,
    source           text        NOT NULL,
    erp              text,
    connection_id    uuid,
    -- The sync session: the producer's, or the real-time / ingest window the writer assigned.
    session_id       uuid,
    object_type      text,
    shop_id          text,
    record_number    text,
    customer_name    text,
    erp_id           text,
    action           text,
    outcome          text CHECK (outcome IN ('succeeded', 'skipped', 'failed', 'rejected', 'deferred', 'parked')),
    reason_code      text,
    message          text,
    -- Traceability: the shop event, its idempotency key, the job, the attempt and the ERP request.
    input_event_id   text,
    idempotency_key  text,
    job_id           text,
    attempt          integer,
    erp_request_id   text,
    details          jsonb,
    prev_hash        bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
    row_hash         bytea       NOT NULL CHECK (octet_length(row_hash) = 32),
    PRIMARY KEY (tenant_id, chain_seq),
    UNIQUE (tenant_id, audit_id)
);
CREATE INDEX audit_trail_by_session ON audit_trail (tenant_id, session_id, occurred_at) WHERE session_id IS NOT NULL;
CREATE INDEX audit_trail_by_record ON audit_trail (tenant_id, shop_id) WHERE shop_id IS NOT NULL;
CREATE INDEX audit_trail_by_number ON audit_trail (tenant_id, record_number) WHERE record_number IS NOT NULL;

-- The end of each tenant's chain. The writer locks this row (INSERT … ON CONFLICT DO UPDATE) for the
-- whole batch transaction, so one tenant's rows are appended strictly one batch after another.
CREATE TABLE audit_chain_heads (
    tenant_id   text        PRIMARY KEY,
    last_seq    bigint      NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    last_hash   bytea       NOT NULL CHECK (octet_length(last_hash) = 32),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Verified checkpoints: "rows 1..chain_seq of this tenant verified, and row chain_seq hashed to
-- row_hash". Verification starts from the checkpoint just below the first row still present, so rows
-- up to a checkpoint can be archived (docs/audit-trail.md, "Retention"). Append-only.
CREATE TABLE audit_checkpoints (
    tenant_id      text        NOT NULL,
    chain_seq      bigint      NOT NULL CHECK (chain_seq > 0),
    row_hash       bytea       NOT NULL CHECK (octet_length(row_hash) = 32),
    rows_verified  bigint      NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text        NOT NULL DEFAULT session_user,
    PRIMARY KEY (tenant_id, chain_seq)
);

-- Append-only for everyone, the owner and superusers included: UPDATE, DELETE and TRUNCATE raise.
-- (Runtime roles are refused earlier still: they hold no such privilege.)
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit tables are append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING HINT = 'archive old rows by partition after a verified checkpoint (docs/audit-trail.md)';
END
$$;
CREATE TRIGGER audit_trail_append_only BEFORE UPDATE OR DELETE ON audit_trail
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_trail_no_truncate BEFORE TRUNCATE ON audit_trail
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- MARK: The sync log -------------------------------------------------------------------------------

-- One row per sync session: a trigger run or batch (opened and closed by session.opened /
-- session.closed events), or a window the writer opens implicitly for record events that carry no
-- session: a real-time window per connection and hour, or an ingest window per location and hour
-- for shop events that ingest rejected. Counts are derived from the record events exactly once
-- (duplicates never reach them); docs/audit-trail.md, "Sync log", has the mapping.
CREATE TABLE sync_sessions (
    tenant_id          text        NOT NULL,
    session_id         uuid        NOT NULL,
    session_kind       text        NOT NULL CHECK (session_kind IN ('run', 'realtime_window', 'ingest_window')),
    trigger            text,
    location_id        text,
    erp                text,
    connection_id      uuid,
    job_id             text,
    source             text,
    opened_at          timestamptz,
    closed_at          timestamptz,
    window_start       timestamptz,
    window_end         timestamptz,
    first_event_at     timestamptz,
    last_event_at      timestamptz,
    started_at         timestamptz GENERATED ALWAYS AS (COALESCE(opened_at, first_event_at)) STORED,
    close_outcome      text,
    close_reason_code  text,
    close_message      text,
    -- The counts the producer reported in session.closed details, kept beside ours for comparison.
    reported_counts    jsonb,
    customers_created  integer NOT NULL DEFAULT 0,
    customers_updated  integer NOT NULL DEFAULT 0,
    customers_skipped  integer NOT NULL DEFAULT 0,
    customers_failed   integer NOT NULL DEFAULT 0,
    invoices_created   integer NOT NULL DEFAULT 0,
    invoices_updated   integer NOT NULL DEFAULT 0,
    invoices_skipped   integer NOT NULL DEFAULT 0,
    invoices_failed    integer NOT NULL DEFAULT 0,
    payments_created   integer NOT NULL DEFAULT 0,
    payments_updated   integer NOT NULL DEFAULT 0,
    payments_skipped   integer NOT NULL DEFAULT 0,
    payments_failed    integer NOT NULL DEFAULT 0,
    -- Items, tax rates and anything else.
    others_created     integer NOT NULL DEFAULT 0,
    others_updated     integer NOT NULL DEFAULT 0,
    others_skipped     integer NOT NULL DEFAULT 0,
    others_failed      integer NOT NULL DEFAULT 0,
    -- Records put off for a later attempt (not failed yet).
    records_deferred   integer NOT NULL DEFAULT 0,
    events_recorded    integer NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, session_id)
);
CREATE INDEX sync_sessions_recent ON sync_sessions (tenant_id, started_at DESC);

-- The reason-code catalogue shown in the sync log's Reason column: the event contract's codes
-- (ReasonCode.contractCatalogue, kept identical by a test) plus later components' codes.
CREATE TABLE reason_codes (
    code      text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]+(\.[a-z0-9_]+)+$'),
    category  text GENERATED ALWAYS AS (split_part(code, '.', 1)) STORED,
    summary   text NOT NULL
);
INSERT INTO reason_codes (code, summary) VALUES
    ('schema.invalid_json', 'The body is not well-formed JSON in UTF-8.'),
    ('schema.wrong_type', 'The field has the wrong JSON type.'),
    ('schema.missing_field', 'A required field is missing or null.'),
    ('schema.unknown_field', 'The field is not part of the contract.'),
    ('schema.field_not_allowed', 'The field is not allowed for this event type or line kind.'),
    ('schema.duplicate_key', 'The same key appears twice in one JSON object.'),
    ('schema.unsupported_version', 'The schema version is not supported.'),
    ('schema.unknown_event_type', 'The event type is not one of the contract''s event types.'),
    ('schema.invalid_enum_value', 'The value is not one of the field''s allowed values.'),
    ('schema.invalid_format', 'The text does not match the field''s format.'),
    ('schema.invalid_characters', 'The text contains control characters.'),
    ('schema.empty_string', 'The text is empty.'),
    ('schema.empty_array', 'The list must contain at least one item.'),
    ('schema.out_of_range', 'The number is outside the field''s range.'),
    ('schema.duplicate_id', 'Two items in the same list have the same id.'),
    ('limits.body_too_large', 'The body is larger than the size limit.'),
    ('limits.nesting_too_deep', 'Arrays and objects are nested too deeply.'),
    ('limits.too_many_lines', 'The invoice has more lines than the limit.'),
    ('limits.too_many_items', 'The list has more items than the limit.'),
    ('limits.too_many_events', 'The batch has more events than the limit.'),
    ('limits.string_too_long', 'The text is longer than the field allows.'),
    ('limits.too_many_failures', 'More failures were found than are listed.'),
    ('money.float_not_allowed', 'A decimal field holds a JSON number; send a decimal string such as "12.50".'),
    ('money.not_a_decimal_string', 'The string is not a plain decimal number.'),
    ('money.too_many_decimals', 'The number has more decimal places than the field or currency allows.'),
    ('money.out_of_range', 'The number has more integer digits than the field allows.'),
    ('currency.unknown', 'The currency is not a known ISO 4217 code.'),
    ('vehicle.invalid_vin', 'The VIN is not a valid vehicle identification number.'),
    ('dates.due_before_issue', 'The due date is before the issue date.'),
    ('line.discount_not_negative', 'A discount line needs a zero or negative unit price and a positive quantity.'),
    ('line.negative_unit_price', 'Only discount lines may have a negative unit price.'),
    ('tax.rate_out_of_range', 'The tax rate must be between 0 and 100 percent.'),
    ('tax.exempt_customer_taxed', 'The customer is tax exempt but the invoice charges tax.'),
    ('arithmetic.line_amount_mismatch', 'The line amount is not quantity times unit price, rounded.'),
    ('arithmetic.taxable_base_mismatch', 'The taxable amount is not the sum of the taxable lines it covers.'),
    ('arithmetic.tax_line_mismatch', 'The tax amount is not taxable amount times rate, rounded.'),
    ('arithmetic.subtotal_mismatch', 'The subtotal is not the sum of the line amounts.'),
    ('arithmetic.discount_total_mismatch', 'The discount total is not the sum of the discount lines.'),
    ('arithmetic.tax_total_mismatch', 'The tax total is not the sum of the tax lines.'),
    ('arithmetic.total_mismatch', 'The total is not subtotal plus tax total.'),
    ('arithmetic.amount_paid_mismatch', 'The amount paid is not the sum of the payments.'),
    ('arithmetic.balance_mismatch', 'The balance due is not total minus amount paid.'),
    ('payment.not_positive', 'A payment amount must be greater than zero.'),
    ('payment.exceeds_balance', 'The payments add up to more than the invoice total.'),
    ('status.inconsistent', 'The invoice status contradicts its amounts.'),
    ('status.invalid_for_event', 'The invoice status is not allowed for this event type.'),
    -- Ingest's codes (Services/Ingest/IngestReasonCodes.swift).
    ('idempotency.key_reused', 'The idempotency key was used before with different content.'),
    ('idempotency.key_missing', 'The request has no Idempotency-Key header.'),
    ('idempotency.key_invalid', 'The Idempotency-Key header is not 1 to 255 visible ASCII characters.'),
    ('invoice.stale_version', 'A newer version of the invoice was already applied; this one was recorded, not applied.'),
    ('invoice.not_yet_received', 'The invoice has not been received yet; the event waits for it.'),
    ('invoice.void_has_payments', 'The invoice has payments applied; refund or unapply them before voiding.'),
    ('invoice.already_voided', 'The invoice was voided; a void is final.'),
    ('invoice.currency_mismatch', 'The payment''s currency differs from the invoice''s.'),
    ('tenant.unknown', 'The tenant is not registered.'),
    ('tenant.mismatch', 'The event''s tenant differs from the authenticated tenant.'),
    ('location.unknown', 'The location is not registered for the tenant.'),
    ('ingest.internal_error', 'An unexpected internal error; the event was not stored.'),
    -- The sync log's own codes.
    ('sync.not_attempted', 'The invoice (or its latest change) has not been sent to the accounting system yet.'),
    ('audit.reason_missing', 'The producer reported this record as not synced without giving a reason.');

-- MARK: Finance access ------------------------------------------------------------------------------

-- Which finance logins may read which tenant through the finance views ('*' = every tenant: an
-- explicit cross-tenant reporting grant). Maintained by the operator, e.g. with
-- CALL ledgerline_grant_finance_access('finance_sparks', 'sparks-franchise').
CREATE TABLE finance_tenant_access (
    role_name   text        NOT NULL,
    tenant_id   text        NOT NULL,
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role_name, tenant_id)
);

-- MARK: Row-level security -------------------------------------------------------------------------

ALTER TABLE audit_trail ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_trail FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_trail
    USING (tenant_id = current_setting('ledgerline.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('ledgerline.tenant_id', true));

ALTER TABLE audit_chain_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_chain_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_chain_heads
    USING (tenant_id = current_setting('ledgerline.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('ledgerline.tenant_id', true));

ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_checkpoints
    USING (tenant_id = current_setting('ledgerline.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('ledgerline.tenant_id', true));

ALTER TABLE sync_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sync_sessions
    USING (tenant_id = current_setting('ledgerline.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('ledgerline.tenant_id', true));

ALTER TABLE finance_tenant_access ENABLE ROW LEVEL SECURITY;
ALTER TABLE finance_tenant_access FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON finance_tenant_access
    USING (tenant_id IN (current_setting('ledgerline.tenant_id', true), '*'))
    WITH CHECK (tenant_id = current_setting('ledgerline.tenant_id', true));

-- MARK: Privileges ----------------------------------------------------------------------------------

-- The services (log-writer, syncctl's audit commands) append and read; nobody but the owner holds
-- UPDATE, DELETE or TRUNCATE on audit_trail / audit_checkpoints, and the trigger refuses even it.
REVOKE ALL ON audit_trail, audit_chain_heads, audit_checkpoints, sync_sessions, reason_codes,
    finance_tenant_access FROM PUBLIC;
GRANT SELECT, INSERT ON audit_trail, audit_checkpoints TO ledgerline_service;
GRANT SELECT, INSERT, UPDATE ON audit_chain_heads, sync_sessions TO ledgerline_service;
GRANT SELECT ON reason_codes TO ledgerline_service;

-- MARK: Finance views --------------------------------------------------------------------------------

-- The finance role reads these views and nothing else. The views run with their owner's rights (so
-- the finance role needs no table privilege) and show one tenant: the one named by the session's
-- ledgerline.tenant_id setting, and only when finance_tenant_access lets the login read it.
-- security_barrier keeps a caller's functions from seeing rows the filter removes.
CREATE SCHEMA finance;
REVOKE ALL ON SCHEMA finance FROM PUBLIC;

-- The tenant the current finance session may read: one row, or none.
CREATE VIEW finance.current_tenant WITH (security_barrier) AS
SELECT current_setting('ledgerline.tenant_id', true) AS tenant_id
WHERE EXISTS (
    SELECT 1 FROM finance_tenant_access a
    WHERE a.role_name = session_user
      AND a.tenant_id IN (current_setting('ledgerline.tenant_id', true), '*'));

-- Sync sessions, newest first: the sync log's summary table.
CREATE VIEW finance.sync_sessions WITH (security_barrier) AS
SELECT s.tenant_id, s.location_id, s.erp, s.connection_id, s.session_id, s.session_kind, s.trigger,
       s.started_at,
       COALESCE(s.closed_at, CASE WHEN s.session_kind <> 'run' AND s.window_end <= now() THEN s.last_event_at END)
           AS ended_at,
       CASE
           WHEN s.close_outcome IN ('failed', 'rejected', 'parked') THEN 'failed'
           WHEN s.closed_at IS NULL AND (s.session_kind = 'run' OR s.window_end > now()) THEN 'open'
           WHEN s.customers_failed + s.invoices_failed + s.payments_failed + s.others_failed > 0
               THEN 'completed_with_failures'
           ELSE 'completed'
       END AS result,
       s.customers_created, s.customers_updated, s.customers_skipped, s.customers_failed,
       s.invoices_created, s.invoices_updated, s.invoices_skipped, s.invoices_failed,
       s.payments_created, s.payments_updated, s.payments_skipped, s.payments_failed,
       s.others_created, s.others_updated, s.others_skipped, s.others_failed,
       s.records_deferred, s.events_recorded,
       s.close_reason_code, s.close_message, s.reported_counts
FROM sync_sessions s
JOIN finance.current_tenant t ON t.tenant_id = s.tenant_id;

-- Every record event: time, description ("Invoice Updated"), the record, the result, and for every
-- record that did not go through the reason (catalogue code and summary) and the ERP's own message.
CREATE VIEW finance.sync_events WITH (security_barrier) AS
SELECT e.tenant_id, e.location_id, e.erp, e.session_id, e.occurred_at, e.kind,
       COALESCE(e.action, initcap(replace(e.kind, '.', ' '))) AS description,
       e.object_type, e.record_number, e.shop_id, e.customer_name, e.erp_id,
       e.outcome AS result,
       CASE WHEN e.outcome IS DISTINCT FROM 'succeeded'
            THEN COALESCE(e.reason_code, 'audit.reason_missing') ELSE e.reason_code END AS reason_code,
       rc.summary AS reason,
       e.message AS erp_message,
       e.input_event_id, e.idempotency_key, e.job_id, e.attempt, e.erp_request_id, e.audit_id, e.chain_seq
FROM audit_trail e
JOIN finance.current_tenant t ON t.tenant_id = e.tenant_id
LEFT JOIN reason_codes rc
       ON rc.code = CASE WHEN e.outcome IS DISTINCT FROM 'succeeded'
                         THEN COALESCE(e.reason_code, 'audit.reason_missing') ELSE e.reason_code END
WHERE e.kind IN ('record.synced', 'event.rejected');

-- Invoices the shop sent (0002's canonical store) that have not reached an ERP their location pushes
-- invoices to: never attempted, or the latest attempt did not succeed, or the invoice changed after
-- the last success. Drafts and voided invoices are left out. Audit rows are matched to invoices by
-- record.shop_id = invoices.invoice_id (docs/audit-trail.md, "Details conventions").
CREATE VIEW finance.unsynced_invoices WITH (security_barrier) AS
SELECT i.tenant_id, i.location_id, c.erp, i.invoice_id, i.invoice_number, i.customer_name, i.status,
       i.issue_date, i.currency, i.total, i.updated_at AS invoice_updated_at,
       e.occurred_at AS last_attempt_at, e.description AS last_action,
       CASE WHEN e.audit_id IS NULL THEN 'not_attempted'
            WHEN e.result = 'succeeded' THEN 'changed_since_sync'
            ELSE e.result END AS result,
       CASE WHEN e.audit_id IS NULL OR e.result = 'succeeded' THEN 'sync.not_attempted' ELSE e.reason_code END
           AS reason_code,
       CASE WHEN e.audit_id IS NULL OR e.result = 'succeeded' THEN pending.summary ELSE e.reason END AS reason,
       e.erp_message, e.session_id, e.job_id, e.erp_request_id
FROM invoices i
JOIN finance.current_tenant t ON t.tenant_id = i.tenant_id
JOIN erp_connections c ON c.tenant_id = i.tenant_id AND c.location_id = i.location_id
                      AND c.push_invoices AND c.status <> 'disconnected'
LEFT JOIN LATERAL (
    SELECT e.* FROM finance.sync_events e
    WHERE e.tenant_id = i.tenant_id AND e.erp = c.erp AND e.kind = 'record.synced' AND e.object_type = 'invoice'
      AND e.shop_id = i.invoice_id AND (e.location_id IS NULL OR e.location_id = i.location_id)
    ORDER BY e.occurred_at DESC, e.chain_seq DESC
    LIMIT 1
) e ON true
LEFT JOIN reason_codes pending ON pending.code = 'sync.not_attempted'
WHERE i.status NOT IN ('draft', 'voided')
  AND (e.audit_id IS NULL OR e.result IS DISTINCT FROM 'succeeded' OR e.occurred_at < i.updated_at);

-- Per location and ERP: the latest session, the last success, open failures and the connection state.
CREATE VIEW finance.location_sync_status WITH (security_barrier) AS
WITH sessions AS (
    SELECT s.tenant_id, s.location_id, s.erp,
           max(s.started_at) AS last_session_started_at,
           max(s.ended_at) AS last_session_ended_at,
           count(*) FILTER (WHERE s.started_at > now() - interval '24 hours') AS sessions_last_24h,
           sum(s.customers_failed + s.invoices_failed + s.payments_failed + s.others_failed)
               FILTER (WHERE s.started_at > now() - interval '24 hours') AS records_failed_last_24h
    FROM finance.sync_sessions s
    GROUP BY s.tenant_id, s.location_id, s.erp
), successes AS (
    SELECT e.tenant_id, e.location_id, e.erp, max(e.occurred_at) AS last_success_at
    FROM finance.sync_events e WHERE e.result = 'succeeded'
    GROUP BY e.tenant_id, e.location_id, e.erp
), unsynced AS (
    SELECT u.tenant_id, u.location_id, u.erp, count(*) AS unsynced_invoices
    FROM finance.unsynced_invoices u GROUP BY u.tenant_id, u.location_id, u.erp
), connection_state AS (
    SELECT DISTINCT ON (c.tenant_id, c.location_id, c.erp)
           c.tenant_id, c.location_id, c.erp,
           COALESCE(c.details ->> 'state', c.action) AS connection_state, c.occurred_at AS connection_changed_at,
           c.reason_code AS connection_reason_code
    FROM audit_trail c
    JOIN finance.current_tenant t ON t.tenant_id = c.tenant_id
    WHERE c.kind = 'connection.changed'
    ORDER BY c.tenant_id, c.location_id, c.erp, c.occurred_at DESC, c.chain_seq DESC
)
SELECT s.tenant_id, s.location_id, s.erp, s.last_session_started_at, s.last_session_ended_at,
       ok.last_success_at, COALESCE(u.unsynced_invoices, 0) AS unsynced_invoices,
       s.sessions_last_24h, COALESCE(s.records_failed_last_24h, 0) AS records_failed_last_24h,
       c.connection_state, c.connection_changed_at, c.connection_reason_code
FROM sessions s
LEFT JOIN successes ok ON ok.tenant_id = s.tenant_id AND ok.location_id IS NOT DISTINCT FROM s.location_id
                      AND ok.erp IS NOT DISTINCT FROM s.erp
LEFT JOIN unsynced u ON u.tenant_id = s.tenant_id AND u.location_id IS NOT DISTINCT FROM s.location_id
                    AND u.erp IS NOT DISTINCT FROM s.erp
LEFT JOIN connection_state c ON c.tenant_id = s.tenant_id AND c.location_id IS NOT DISTINCT FROM s.location_id
                            AND c.erp IS NOT DISTINCT FROM s.erp;

-- Daily reconciliation per location, ERP, issue date and currency: the shop's invoices (0002's
-- canonical store, drafts and voided ones left out) against those whose current version reached the
-- ERP (a successful push after the invoice's last change), and the total the ERP reported back when
-- the worker put it in the push event's details (`total`).
CREATE VIEW finance.daily_reconciliation WITH (security_barrier) AS
SELECT i.tenant_id, i.location_id, c.erp, i.issue_date AS business_day, i.currency,
       count(*) AS shop_invoices,
       sum(i.total) AS shop_total,
       count(*) FILTER (WHERE p.occurred_at >= i.updated_at) AS pushed_invoices,
       COALESCE(sum(i.total) FILTER (WHERE p.occurred_at >= i.updated_at), 0) AS pushed_total,
       sum(i.total) - COALESCE(sum(i.total) FILTER (WHERE p.occurred_at >= i.updated_at), 0) AS difference,
       sum(p.reported_total) FILTER (WHERE p.occurred_at >= i.updated_at) AS erp_reported_total
FROM invoices i
JOIN finance.current_tenant t ON t.tenant_id = i.tenant_id
JOIN erp_connections c ON c.tenant_id = i.tenant_id AND c.location_id = i.location_id AND c.push_invoices
LEFT JOIN LATERAL (
    SELECT e.occurred_at,
           CASE WHEN e.details ->> 'total' ~ '^-?[0-9]+(\.[0-9]+)?$' THEN (e.details ->> 'total')::numeric END
               AS reported_total
    FROM audit_trail e
    WHERE e.tenant_id = i.tenant_id AND e.erp = c.erp AND e.kind = 'record.synced' AND e.object_type = 'invoice'
      AND e.shop_id = i.invoice_id AND e.outcome = 'succeeded'
      AND (e.location_id IS NULL OR e.location_id = i.location_id)
    ORDER BY e.occurred_at DESC, e.chain_seq DESC
    LIMIT 1
) p ON true
WHERE i.status NOT IN ('draft', 'voided')
GROUP BY i.tenant_id, i.location_id, c.erp, i.issue_date, i.currency;

GRANT USAGE ON SCHEMA finance TO ledgerline_finance;
GRANT SELECT ON finance.current_tenant, finance.sync_sessions, finance.sync_events, finance.unsynced_invoices,
    finance.location_sync_status, finance.daily_reconciliation TO ledgerline_finance;

-- The finance role reads, never writes, and never runs long. (Postgres does not pass role settings
-- on to members: ledgerline_grant_finance_access sets the same on each finance login.)
ALTER ROLE ledgerline_finance SET default_transaction_read_only = on;
ALTER ROLE ledgerline_finance SET statement_timeout = '30s';
ALTER ROLE ledgerline_finance SET idle_in_transaction_session_timeout = '60s';

-- Makes `login` a finance reader of `tenant` ('*' for every tenant): membership in
-- ledgerline_finance, read-only and timeout settings on the login itself, and the access row.
CREATE PROCEDURE ledgerline_grant_finance_access(login text, tenant text) LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('GRANT ledgerline_finance TO %I', login);
    EXECUTE format('ALTER ROLE %I SET default_transaction_read_only = on', login);
    EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', login, '30s');
    EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', login, '60s');
    PERFORM set_config('ledgerline.tenant_id', tenant, true);
    INSERT INTO finance_tenant_access (role_name, tenant_id) VALUES (login, tenant) ON CONFLICT DO NOTHING;
END
$$;
REVOKE ALL ON PROCEDURE ledgerline_grant_finance_access(text, text) FROM PUBLIC;
