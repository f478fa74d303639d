-- Reference for SchedulerBench's worst minute: the same rows the fire engine writes when every one of
-- :connections connections' hourly sweeps fires at once, written by plain set-based SQL in one transaction
-- with nothing decided (no due-trigger selection, no catch-up logic, no invoice/sync-state join, no uniqueness
-- check against earlier fires): :connections fire rows, :connections × :invoices job rows and 2 × :connections
-- session events (jsonb bodies of the same shape) into copies of schedule_fires and outbox (same columns and
-- indexes), and :connections trigger updates. Run by Benchmarks/scheduler.sh (tables made by its setup part).
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO scheduler_bench_ref.fires (tenant_id, location_id, connection_id, erp, trigger_kind, window_key, window_start,
                                       scheduled_for, fired_at, fired_by, session_id)
SELECT 'ref', 'l' || g, md5('c' || g || :'run')::uuid, 'xero', 'interval', :'window', now(), now(), now(), 'ref',
       md5('s' || g || :'run')::uuid
FROM generate_series(1, :connections) AS g;
INSERT INTO scheduler_bench_ref.outbox (outbox_id, tenant_id, exchange, routing_key, message_id, message_type, headers, body)
SELECT x.id, 'ref', 'ref.jobs', 'xero', x.id::text, 'sync_job',
       jsonb_build_object('x-ledgerline-tenant', 'ref', 'x-ledgerline-kind', 'push_invoice', 'x-ledgerline-correlation-id', x.s),
       jsonb_build_object('job_id', x.id::text, 'kind', 'push_invoice', 'trigger', 'interval', 'tenant_id', 'ref',
                          'location_id', 'l' || x.g, 'connection_id', x.c, 'erp', 'xero', 'invoice_id', 'i' || x.g || '-' || x.k,
                          'invoice_version', 1, 'session_id', x.s, 'enqueued_at', :'window')
FROM (SELECT nextval('scheduler_bench_ref.outbox_seq') AS id, g, k, md5('c' || g || :'run') AS c, md5('s' || g || :'run') AS s
      FROM generate_series(1, :connections) AS g, generate_series(1, :invoices) AS k) AS x;
INSERT INTO scheduler_bench_ref.outbox (outbox_id, tenant_id, exchange, routing_key, message_id, message_type, headers, body)
SELECT x.id, 'ref', 'ref.audit', 'scheduler.' || x.kind, x.id::text, 'audit_event',
       jsonb_build_object('x-ledgerline-tenant', 'ref', 'x-ledgerline-kind', x.kind, 'x-ledgerline-correlation-id', x.s),
       jsonb_build_object('audit_id', md5(x.s || x.kind)::uuid::text, 'kind', x.kind, 'occurred_at', :'window',
                          'tenant_id', 'ref', 'location_id', 'l' || x.g, 'source', 'scheduler', 'erp', 'xero',
                          'connection_id', x.c, 'session_id', x.s, 'action', 'Sync Started',
                          'details', jsonb_build_object('trigger', 'interval', 'window', :'window', 'jobs_enqueued', '2'))
FROM (SELECT nextval('scheduler_bench_ref.outbox_seq') AS id, g, k.kind, md5('c' || g || :'run') AS c, md5('s' || g || :'run') AS s
      FROM generate_series(1, :connections) AS g, (VALUES ('session.opened'), ('session.closed')) AS k(kind)) AS x;
UPDATE scheduler_bench_ref.triggers SET next_fire_at = next_fire_at + interval '1 hour', last_window_key = :'window';
COMMIT;
