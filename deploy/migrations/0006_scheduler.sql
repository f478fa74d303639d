-- 0006 scheduler: the triggers of each ERP connection and the record of every fire (docs/scheduler.md).
--   * schedule_triggers: one row per (connection, trigger kind): interval sweeps, the end-of-day batch,
--     pulls and the initial sync; when the next window is due (next_fire_at, planned by the scheduler).
--   * schedule_fires: one row per fired window, UNIQUE (connection_id, trigger_kind, window_key): a second
--     replica, a restarted leader or a retried transaction can never fire a window twice. The fire row, the
--     sync jobs, the session.opened / session.closed audit events (outbox) and the trigger's next_fire_at are
--     written in ONE transaction, so a fire is all or nothing.
-- The end-of-day batch runs at each location's local time: locations.time_zone (0001, IANA name, default UTC).
-- Tenancy: the convention of 0002 (RLS enabled + forced, policy tenant_isolation). The scheduler works across
-- tenants: the role ledgerline_scheduler has explicit policies (like ledgerline_outbox_relay in 0002): read
-- connections, invoices and sync state, insert outbox rows, and keep its own two tables.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledgerline_scheduler') THEN
        CREATE ROLE ledgerline_scheduler NOLOGIN;       -- the scheduler and `syncctl schedule` / `syncctl sync`
    END IF;
END
$$;

CREATE TABLE schedule_triggers (
    connection_id       uuid        NOT NULL REFERENCES erp_connections (connection_id),
    trigger_kind        text        NOT NULL CHECK (trigger_kind IN ('interval', 'end_of_day', 'pull', 'initial')),
    tenant_id           text        NOT NULL,
    enabled             boolean     NOT NULL DEFAULT true,
    interval_seconds    integer     CHECK (interval_seconds > 0),        -- interval, pull
    end_of_day_time     time        CHECK (date_trunc('minute', end_of_day_time) = end_of_day_time), -- end_of_day (local)
    -- Planning: the fire time of the first window not fired yet ('infinity' once a one-off fired; NULL: the
    -- scheduler plans it from anchor_at). planned_time_zone is the location's zone it was computed in; a
    -- location moved to another zone is planned again.
    next_fire_at        timestamptz,
    planned_time_zone   text,
    anchor_at           timestamptz NOT NULL DEFAULT now(),  -- windows due before this are never caught up
    last_window_key     text,
    last_fired_at       timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, trigger_kind),
    CHECK (trigger_kind NOT IN ('interval', 'pull') OR interval_seconds IS NOT NULL),
    CHECK (trigger_kind <> 'end_of_day' OR end_of_day_time IS NOT NULL)
);
CREATE INDEX schedule_triggers_due ON schedule_triggers (next_fire_at) WHERE enabled;

CREATE TABLE schedule_fires (
    fire_id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id           text        NOT NULL,
    location_id         text        NOT NULL,
    connection_id       uuid        NOT NULL REFERENCES erp_connections (connection_id),
    erp                 text        NOT NULL,
    trigger_kind        text        NOT NULL CHECK (trigger_kind IN ('interval', 'end_of_day', 'pull', 'initial', 'manual')),
    window_key          text        NOT NULL,           -- 2026-11-22T02:00:00Z | 2026-11-22 (local day) | initial | manual:…
    window_start        timestamptz,
    scheduled_for       timestamptz NOT NULL,           -- the window's fire time
    business_day        date,                           -- end_of_day: the location's local day
    time_zone           text,                           -- end_of_day: the zone it was computed in
    fired_at            timestamptz NOT NULL,           -- the scheduler's clock when it fired
    fired_by            text        NOT NULL,           -- scheduler instance id, or syncctl
    catch_up            boolean     NOT NULL DEFAULT false,  -- fired after its time because no scheduler ran
    session_id          uuid        NOT NULL UNIQUE,    -- derived from (connection, trigger, window)
    jobs_enqueued       integer     NOT NULL DEFAULT 0,
    invoices_enqueued   integer     NOT NULL DEFAULT 0,
    UNIQUE (connection_id, trigger_kind, window_key)
);
CREATE INDEX schedule_fires_recent ON schedule_fires (tenant_id, fired_at);

-- Invoices of one location and business day (the end-of-day batch).
CREATE INDEX IF NOT EXISTS invoices_business_day ON invoices (tenant_id, location_id, issue_date);

-- MARK: Row-level security ---------------------------------------------------------------------------

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['schedule_triggers', 'schedule_fires'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = current_setting(''ledgerline.tenant_id'', true)) '
            'WITH CHECK (tenant_id = current_setting(''ledgerline.tenant_id'', true))', t);
        EXECUTE format('CREATE POLICY scheduler_all ON %I TO ledgerline_scheduler USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;

-- Cross-tenant reads of what a fire enqueues, and the outbox rows it writes.
CREATE POLICY scheduler_read ON erp_connections FOR SELECT TO ledgerline_scheduler USING (true);
CREATE POLICY scheduler_read ON invoices FOR SELECT TO ledgerline_scheduler USING (true);
CREATE POLICY scheduler_read ON sync_documents FOR SELECT TO ledgerline_scheduler USING (true);
CREATE POLICY scheduler_insert ON outbox FOR INSERT TO ledgerline_scheduler WITH CHECK (true);

-- MARK: Least privilege ------------------------------------------------------------------------------

GRANT USAGE ON SCHEMA public TO ledgerline_scheduler;
GRANT SELECT ON tenants, locations, erp_connections TO ledgerline_scheduler;
GRANT SELECT (tenant_id, location_id, invoice_id, invoice_version, status, issue_date) ON invoices TO ledgerline_scheduler;
GRANT SELECT (tenant_id, connection_id, document_kind, document_id, state, not_before, synced_version)
    ON sync_documents TO ledgerline_scheduler;
GRANT SELECT, INSERT, UPDATE ON schedule_triggers TO ledgerline_scheduler;
GRANT SELECT, INSERT, UPDATE ON schedule_fires TO ledgerline_scheduler;
GRANT INSERT ON outbox TO ledgerline_scheduler;
GRANT USAGE ON SEQUENCE outbox_outbox_id_seq TO ledgerline_scheduler;
