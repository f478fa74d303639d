-- 0005 worker runtime: the per-connection circuit breaker shared by every replica of an ERP worker
-- (module WorkerRuntime, `CircuitBreakers`, docs/worker-runtime.md §2).
--   * erp_circuit_breakers: one row per connection once it failed; consecutive transient failures
--     (erp.transient / erp.outcome_unknown / erp.invalid_response) open it for a cooldown
--     (open_until); after that exactly one job at a time is let through as a probe (probe_until is its
--     lease); a success anywhere closes it (row reset), a failure of the probe opens it again.
-- Tenancy: as 0004 (RLS enabled + forced, policy tenant_isolation on ledgerline.tenant_id).

CREATE TABLE erp_circuit_breakers (
    connection_id         uuid        PRIMARY KEY,
    tenant_id             text        NOT NULL,
    consecutive_failures  integer     NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    open_until            timestamptz,                    -- NULL: closed; in the future: open
    probe_until           timestamptz,                    -- a probe job was let through; others wait until then
    last_opened_at        timestamptz,
    opened_count          bigint      NOT NULL DEFAULT 0,
    last_reason           text,                           -- reason code of the last failure counted
    updated_at            timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE erp_circuit_breakers ENABLE ROW LEVEL SECURITY;
ALTER TABLE erp_circuit_breakers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON erp_circuit_breakers
    USING (tenant_id = current_setting('ledgerline.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('ledgerline.tenant_id', true));

GRANT SELECT, INSERT, UPDATE ON erp_circuit_breakers TO ledgerline_worker;
