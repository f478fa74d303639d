import Domain
public import Foundation
public import Logging
public import Postgres
import Scheduling

/// Fires due trigger windows: for each window, in ONE transaction, the `schedule_fires` row (unique per
/// connection, trigger and window, so nothing fires twice), the sync jobs and the session's `session.opened`
/// / `session.closed` audit events (both into the `outbox`, published by the outbox relay), and the trigger's
/// next fire time.
///
/// Work is set-based: one pass handles up to ``SchedulerConfiguration/batchSize`` triggers with a handful of
/// statements, whatever the number of connections. Due triggers are locked with `FOR UPDATE SKIP LOCKED`, so
/// replicas never work on the same trigger at once; the unique fire key makes a window fire once even if
/// they did.
public final class FireEngine: Sendable {
    private let pool: PostgresPool
    private let configuration: SchedulerConfiguration
    private let logger: Logger
    private static let knownERPs = ERP.allCases.map(\.rawValue)

    /// An engine writing through `pool` (one pooled connection per batch transaction).
    public init(pool: PostgresPool, configuration: SchedulerConfiguration, logger: Logger) {
        self.pool = pool
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "component"] = "fire-engine"
        self.logger = logger
    }

    /// Fires every window due at `now` (in batches until none is left), catching up missed ones by the
    /// configuration's policy, and plans each trigger's next window.
    public func runDue(now: Date) async throws -> PassReport {
        var total = PassReport()
        while true {
            let (report, more) = try await runDueBatch(now: now)
            total.triggers += report.triggers
            total.fired += report.fired
            total.alreadyFired += report.alreadyFired
            total.skipped += report.skipped
            if !more { return total }
        }
    }

    /// One batch of ``runDue(now:)``; `more` is true when the batch was full.
    public func runDueBatch(now: Date) async throws -> (PassReport, more: Bool) {
        try await pool.withTransaction(logger: logger) { connection in
            // Unplanned triggers (new or changed: few), then the planned ones that are due, in fire-time order
            // along the partial index (so a pass with nothing due costs one index probe, not a join of every
            // trigger, connection and location).
            var rows = try await connection.query(Self.dueTriggers(unplanned: true, now: now, configuration: configuration), logger: logger)
            if rows.count < configuration.batchSize {
                var rest = configuration
                rest.batchSize -= rows.count
                rows += try await connection.query(Self.dueTriggers(unplanned: false, now: now, configuration: rest), logger: logger)
            }
            var report = PassReport()
            report.triggers = rows.count
            var fires: [PlannedFire] = []
            var plans: [TriggerPlan] = []
            for row in rows {
                var settings = try ScheduleStore.decodeSettings(row)
                settings.spreadIntervals = configuration.spreadIntervals
                let plannedZone = try row.decode(String?.self, "planned_time_zone")
                guard let rule = settings.rule else { continue }
                if settings.kind == .endOfDay, TimeZone(identifier: settings.timeZone) == nil {
                    logger.warning("Unknown time zone; the end-of-day batch uses UTC", metadata: [
                        "location_id": "\(settings.locationID)", "time_zone": "\(settings.timeZone)",
                    ])
                }
                // Where the first window not fired yet is: planned, or (new trigger / moved location) from the anchor
                // or the last fire.
                var nextFire = settings.nextFireAt
                if nextFire == nil || (settings.kind == .endOfDay && plannedZone != settings.timeZone) {
                    let from = max(settings.anchorAt, settings.lastFiredAt ?? settings.anchorAt)
                    if case .once(let at) = rule {
                        nextFire = settings.lastWindowKey == nil ? at : nil
                    } else {
                        nextFire = Schedule.nextWindow(after: from, rule: rule)?.end
                    }
                }
                guard let nextFire else {
                    plans.append(TriggerPlan(settings: settings, next: nil, zone: nil, firedWindow: nil))
                    continue
                }
                let due = Schedule.dueWindows(rule: rule, nextFire: nextFire, now: now, policy: configuration.catchUp)
                report.skipped += due.skipped
                if due.skipped > 0 {
                    logger.info("Missed windows skipped by the catch-up policy", metadata: [
                        "connection_id": "\(settings.connectionID)", "trigger": "\(settings.kind)", "skipped": "\(due.skipped)",
                    ])
                }
                for window in due.due {
                    fires.append(PlannedFire(
                        settings: settings, kind: settings.kind, window: window,
                        catchUp: now.timeIntervalSince(window.end) > configuration.catchUpThreshold))
                }
                let nextAfter: Date? = due.due.isEmpty ? nextFire : due.next?.end
                plans.append(TriggerPlan(
                    settings: settings, next: nextAfter, zone: settings.kind == .endOfDay ? settings.timeZone : nil,
                    firedWindow: due.due.last?.key))
            }
            let (records, duplicates) = try await fire(fires, now: now, firedBy: configuration.instanceID, on: connection)
            report.fired = records
            report.alreadyFired = duplicates
            if !plans.isEmpty {
                try await connection.execute(
                    """
                    UPDATE schedule_triggers t
                    SET next_fire_at = u.next::timestamptz, planned_time_zone = nullif(u.zone, ''),
                        last_window_key = coalesce(nullif(u.window_key, ''), t.last_window_key),
                        last_fired_at = CASE WHEN u.window_key <> '' THEN \(now) ELSE t.last_fired_at END
                    FROM unnest(\(plans.map(\.settings.connectionID)), \(plans.map(\.settings.kind.rawValue)),
                                \(plans.map { $0.next.map { Schedule.utcKey($0, milliseconds: true) } ?? "infinity" }),
                                \(plans.map { $0.zone ?? "" }), \(plans.map { $0.firedWindow ?? "" }))
                         AS u(connection_id, kind, next, zone, window_key)
                    WHERE t.connection_id = u.connection_id AND t.trigger_kind = u.kind
                    """, logger: logger)
            }
            return (report, rows.count >= configuration.batchSize)
        }
    }

    /// Makes end-of-day triggers whose location moved to another time zone be planned again (in that zone) at
    /// the next pass; returns how many. The loop runs it every ``SchedulerConfiguration/defaultsInterval``.
    @discardableResult
    public func replanMovedLocations() async throws -> Int {
        try await pool.execute(
            """
            UPDATE schedule_triggers t SET next_fire_at = NULL
            FROM erp_connections c, locations l
            WHERE c.connection_id = t.connection_id AND l.tenant_id = c.tenant_id AND l.location_id = c.location_id
              AND t.trigger_kind = 'end_of_day' AND t.enabled AND t.next_fire_at IS NOT NULL
              AND t.planned_time_zone IS DISTINCT FROM l.time_zone
              AND (\(configuration.tenantPrefix)::text IS NULL OR starts_with(t.tenant_id, \(configuration.tenantPrefix)::text))
            """, logger: logger)
    }

    /// Locks the due triggers of active connections of ERPs with a worker (`FOR UPDATE SKIP LOCKED`).
    static func dueTriggers(unplanned: Bool, now: Date, configuration: SchedulerConfiguration) -> PostgresQuery {
        let condition = unplanned ? "t.next_fire_at IS NULL" : "t.next_fire_at <= $2"
        let order = unplanned ? "" : "ORDER BY t.next_fire_at"
        return PostgresQuery(
            unsafeSQL: """
                SELECT t.connection_id, t.tenant_id, c.location_id, c.erp, t.trigger_kind, t.enabled, t.interval_seconds,
                       to_char(t.end_of_day_time, 'HH24:MI') AS end_of_day_time, l.time_zone, t.next_fire_at,
                       t.planned_time_zone, t.last_window_key, t.last_fired_at, t.anchor_at
                FROM schedule_triggers t
                JOIN erp_connections c ON c.connection_id = t.connection_id
                JOIN locations l ON l.tenant_id = c.tenant_id AND l.location_id = c.location_id
                WHERE t.enabled AND \(condition) AND c.status = 'active' AND c.erp = ANY($1)
                  AND ($3::text IS NULL OR starts_with(t.tenant_id, $3::text))
                  AND $2::timestamptz IS NOT NULL
                \(order)
                LIMIT $4
                FOR UPDATE OF t SKIP LOCKED
                """,
            binds: [knownERPs, now, configuration.tenantPrefix, configuration.batchSize])
    }

    /// "Sync now": fires a manual window for `connectionID` at `now` (interval-sweep jobs, plus a pull when the
    /// connection pulls anything) and returns the fire with its session id and counts.
    ///
    /// - Throws: ``SchedulerError`` (`unknownConnection`, `connectionInactive`), ``PostgresError``.
    public func fireManual(connectionID: UUID, now: Date, firedBy: String) async throws -> FireRecord {
        try await pool.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT c.connection_id, c.tenant_id, c.location_id, c.erp, c.status, l.time_zone
                FROM erp_connections c JOIN locations l ON l.tenant_id = c.tenant_id AND l.location_id = c.location_id
                WHERE c.connection_id = \(connectionID)
                """, logger: logger)
            guard let row = rows.first else {
                throw SchedulerError(code: .unknownConnection, connectionID: connectionID, reason: "no such connection")
            }
            let status = try row.decode(String.self, "status")
            let erp = try row.decode(String.self, "erp")
            guard status == "active", Self.knownERPs.contains(erp) else {
                throw SchedulerError(
                    code: .connectionInactive, connectionID: connectionID,
                    reason: status == "active" ? "no worker handles ERP \(erp)" : "the connection is \(status)")
            }
            let settings = TriggerSettings(
                connectionID: connectionID, tenantID: try row.decode(String.self, "tenant_id"),
                locationID: try row.decode(String.self, "location_id"), erp: erp, kind: .manual, enabled: true,
                intervalSeconds: nil, endOfDayTime: nil, timeZone: try row.decode(String.self, "time_zone"),
                nextFireAt: nil, lastWindowKey: nil, lastFiredAt: nil, anchorAt: now)
            let fire = PlannedFire(settings: settings, kind: .manual, window: Schedule.manualWindow(at: now), catchUp: false)
            let (records, _) = try await self.fire([fire], now: now, firedBy: firedBy, on: connection)
            guard let record = records.first else {
                throw SchedulerError(code: .invalidSetting, connectionID: connectionID, reason: "a manual sync was fired this very millisecond")
            }
            return record
        }
    }

    /// The earliest planned fire time (nil: nothing planned). Triggers not planned yet count as due now.
    public func nextDue(now: Date) async throws -> Date? {
        // Both halves walk the partial index on next_fire_at in order and stop at the first active trigger.
        let rows = try await pool.query(
            """
            SELECT (SELECT \(now)::timestamptz FROM schedule_triggers t JOIN erp_connections c ON c.connection_id = t.connection_id
                    WHERE t.enabled AND t.next_fire_at IS NULL AND c.status = 'active' AND c.erp = ANY(\(Self.knownERPs))
                      AND (\(configuration.tenantPrefix)::text IS NULL OR starts_with(t.tenant_id, \(configuration.tenantPrefix)::text))
                    LIMIT 1) AS unplanned,
                   (SELECT t.next_fire_at FROM schedule_triggers t JOIN erp_connections c ON c.connection_id = t.connection_id
                    WHERE t.enabled AND t.next_fire_at < 'infinity' AND c.status = 'active' AND c.erp = ANY(\(Self.knownERPs))
                      AND (\(configuration.tenantPrefix)::text IS NULL OR starts_with(t.tenant_id, \(configuration.tenantPrefix)::text))
                    ORDER BY t.next_fire_at LIMIT 1) AS planned
            """, logger: logger)
        guard let row = rows.first else { return nil }
        return try row.decode(Date?.self, "unplanned") ?? row.decode(Date?.self, "planned")
    }

    // MARK: Firing

    /// Inserts the fire rows (those already present are skipped), enqueues their jobs and writes their session
    /// events. Returns the new fires and how many were already there.
    func fire(_ fires: [PlannedFire], now: Date, firedBy: String, on connection: PostgresConnection) async throws
        -> ([FireRecord], Int)
    {
        guard !fires.isEmpty else { return ([], 0) }
        let sessions = fires.map { SessionID.of(connectionID: $0.settings.connectionID, trigger: $0.kind, windowKey: $0.window.key) }
        let inserted = try await connection.query(
            """
            INSERT INTO schedule_fires (tenant_id, location_id, connection_id, erp, trigger_kind, window_key, window_start,
                                        scheduled_for, business_day, time_zone, fired_at, fired_by, catch_up, session_id)
            SELECT f.tenant_id, f.location_id, f.connection_id, f.erp, f.kind, f.window_key,
                   nullif(f.window_start, '')::timestamptz, f.scheduled_for::timestamptz, nullif(f.business_day, '')::date,
                   nullif(f.time_zone, ''), \(now), \(firedBy), f.catch_up::boolean, f.session_id
            FROM unnest(\(fires.map(\.settings.tenantID)), \(fires.map(\.settings.locationID)),
                        \(fires.map(\.settings.connectionID)), \(fires.map(\.settings.erp)), \(fires.map(\.kind.rawValue)),
                        \(fires.map(\.window.key)), \(fires.map { $0.window.start.map { Schedule.utcKey($0, milliseconds: true) } ?? "" }),
                        \(fires.map { Schedule.utcKey($0.window.end, milliseconds: true) }),
                        \(fires.map { $0.window.businessDay?.description ?? "" }),
                        \(fires.map { $0.kind == .endOfDay ? $0.settings.timeZone : "" }),
                        \(fires.map { $0.catchUp ? "true" : "false" }), \(sessions))
                 AS f(tenant_id, location_id, connection_id, erp, kind, window_key, window_start, scheduled_for,
                      business_day, time_zone, catch_up, session_id)
            ON CONFLICT DO NOTHING
            RETURNING session_id
            """, logger: logger)
        let newSessions = try inserted.map { try $0.decode(UUID.self, "session_id") }
        let duplicates = fires.count - newSessions.count
        if duplicates > 0 {
            logger.debug("Windows already fired", metadata: ["count": "\(duplicates)"])
        }
        guard !newSessions.isEmpty else { return ([], duplicates) }
        let stamp = Schedule.utcKey(now)
        try await connection.execute(sessionEvents(kind: "session.opened", sessions: newSessions, stamp: stamp), logger: logger)
        let counts = try await connection.query(
            """
            WITH f AS (
                SELECT f.session_id, f.connection_id, f.trigger_kind, f.business_day, c.tenant_id, c.location_id, c.erp,
                       c.push_invoices, (c.pull_invoices OR c.pull_payments OR c.pull_customers) AS pulls
                FROM schedule_fires f JOIN erp_connections c ON c.connection_id = f.connection_id
                WHERE f.session_id = ANY(\(newSessions))
            ), due AS (
                SELECT f.session_id, f.connection_id, f.tenant_id, f.location_id, f.erp, f.trigger_kind,
                       i.invoice_id, i.invoice_version, i.status
                FROM f
                JOIN invoices i ON i.tenant_id = f.tenant_id AND i.location_id = f.location_id
                               AND (f.business_day IS NULL OR i.issue_date = f.business_day)
                LEFT JOIN sync_documents d ON d.tenant_id = i.tenant_id AND d.connection_id = f.connection_id
                                          AND d.document_kind = 'invoice' AND d.document_id = i.invoice_id
                WHERE f.push_invoices AND f.trigger_kind IN ('interval', 'manual', 'end_of_day')
                  AND (d.state IS NULL OR d.state = 'pending'
                       OR (d.state = 'deferred' AND d.not_before <= \(now))
                       OR (d.state = 'synced' AND d.synced_version < i.invoice_version))
            ), jobs AS (
                SELECT session_id, connection_id, tenant_id, location_id, erp, trigger_kind,
                       CASE WHEN status = 'voided' THEN 'void_invoice' ELSE 'push_invoice' END AS kind,
                       invoice_id, invoice_version, NULL::text[] AS invoice_ids, 1 AS invoices
                FROM due WHERE trigger_kind <> 'end_of_day'
                UNION ALL
                SELECT session_id, connection_id, tenant_id, location_id, erp, trigger_kind, 'push_batch', NULL, NULL,
                       array_agg(invoice_id ORDER BY invoice_id), count(*)::int
                FROM (SELECT due.*, (row_number() OVER (PARTITION BY session_id ORDER BY invoice_id) - 1)
                                    / \(configuration.batchChunkSize) AS chunk
                      FROM due WHERE trigger_kind = 'end_of_day') AS b
                GROUP BY session_id, connection_id, tenant_id, location_id, erp, trigger_kind, chunk
                UNION ALL
                SELECT session_id, connection_id, tenant_id, location_id, erp, trigger_kind,
                       CASE WHEN trigger_kind = 'initial' THEN 'initial_sync' ELSE 'pull' END, NULL, NULL, NULL, 0
                FROM f WHERE trigger_kind IN ('pull', 'initial') OR (trigger_kind = 'manual' AND pulls)
            ), ins AS (
                INSERT INTO outbox (outbox_id, tenant_id, exchange, routing_key, message_id, message_type, headers, body)
                SELECT x.id, x.tenant_id, \(configuration.jobsExchange), x.erp, x.id::text, 'sync_job',
                       jsonb_build_object('x-ledgerline-tenant', x.tenant_id, 'x-ledgerline-kind', x.kind,
                                          'x-ledgerline-correlation-id', x.session_id::text),
                       jsonb_strip_nulls(jsonb_build_object(
                           'job_id', x.id::text, 'kind', x.kind, 'trigger', x.trigger_kind, 'tenant_id', x.tenant_id,
                           'location_id', x.location_id, 'connection_id', x.connection_id::text, 'erp', x.erp,
                           'invoice_id', x.invoice_id, 'invoice_version', x.invoice_version,
                           'invoice_ids', to_jsonb(x.invoice_ids), 'session_id', x.session_id::text,
                           'enqueued_at', \(stamp)::text))
                FROM (SELECT nextval('outbox_outbox_id_seq'::regclass) AS id, jobs.*
                      FROM jobs ORDER BY session_id, invoice_id, invoice_ids) AS x
            ), counted AS (
                UPDATE schedule_fires s SET jobs_enqueued = c.jobs, invoices_enqueued = c.invoices
                FROM (SELECT session_id, count(*)::int AS jobs, coalesce(sum(invoices), 0)::int AS invoices
                      FROM jobs GROUP BY session_id) AS c
                WHERE s.session_id = c.session_id
                RETURNING s.session_id, c.jobs, c.invoices
            )
            SELECT session_id, jobs, invoices FROM counted
            """, logger: logger)
        var tally: [UUID: (Int, Int)] = [:]
        for row in counts {
            tally[try row.decode(UUID.self, "session_id")] = (try row.decode(Int.self, "jobs"), try row.decode(Int.self, "invoices"))
        }
        try await connection.execute(sessionEvents(kind: "session.closed", sessions: newSessions, stamp: stamp), logger: logger)
        let bySession = Dictionary(zip(sessions, fires), uniquingKeysWith: { first, _ in first })
        let records = newSessions.compactMap { session -> FireRecord? in
            guard let fire = bySession[session] else { return nil }
            let (jobs, invoices) = tally[session] ?? (0, 0)
            return FireRecord(
                connectionID: fire.settings.connectionID, tenantID: fire.settings.tenantID, locationID: fire.settings.locationID,
                trigger: fire.kind, windowKey: fire.window.key, scheduledFor: fire.window.end, firedAt: now, sessionID: session,
                jobs: jobs, invoices: invoices, catchUp: fire.catchUp)
        }
        logger.debug("Windows fired", metadata: [
            "fires": "\(records.count)", "jobs": "\(records.reduce(0) { $0 + $1.jobs })",
        ])
        return (records, duplicates)
    }

    /// The `session.opened` or `session.closed` audit events of fires (shape: `AuditEvent`, `WireFormat`), into
    /// the outbox. Audit ids are derived from the session id and the kind, so they are stable.
    private func sessionEvents(kind: String, sessions: [UUID], stamp: String) -> PostgresQuery {
        """
        INSERT INTO outbox (outbox_id, tenant_id, exchange, routing_key, message_id, message_type, headers, body)
        SELECT x.id, x.tenant_id, \(configuration.auditExchange), 'scheduler.' || \(kind)::text, x.id::text, 'audit_event',
               jsonb_build_object('x-ledgerline-tenant', x.tenant_id, 'x-ledgerline-kind', \(kind)::text,
                                  'x-ledgerline-correlation-id', x.session_id::text),
               jsonb_strip_nulls(jsonb_build_object(
                   'audit_id', md5(x.session_id::text || '|' || \(kind)::text)::uuid::text, 'kind', \(kind)::text,
                   'occurred_at', \(stamp)::text, 'tenant_id', x.tenant_id, 'location_id', x.location_id,
                   'source', 'scheduler', 'erp', x.erp, 'connection_id', x.connection_id::text,
                   'session_id', x.session_id::text,
                   'action', CASE WHEN \(kind)::text = 'session.opened' THEN 'Sync Started' ELSE 'Sync Enqueued' END,
                   'outcome', CASE WHEN \(kind)::text = 'session.closed' THEN 'succeeded' END,
                   'details', jsonb_build_object(
                       'trigger', x.trigger_kind, 'window', x.window_key,
                       'scheduled_for', to_char(x.scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                       'catch_up', x.catch_up::text, 'business_day', x.business_day::text, 'time_zone', x.time_zone,
                       'jobs_enqueued', CASE WHEN \(kind)::text = 'session.closed' THEN x.jobs_enqueued::text END,
                       'invoices_enqueued', CASE WHEN \(kind)::text = 'session.closed' THEN x.invoices_enqueued::text END)))
        FROM (SELECT nextval('outbox_outbox_id_seq'::regclass) AS id, f.*
              FROM schedule_fires f WHERE f.session_id = ANY(\(sessions)) ORDER BY f.fire_id) AS x
        """
    }
}

/// A window about to fire.
struct PlannedFire: Sendable {
    var settings: TriggerSettings
    var kind: TriggerKind
    var window: ScheduleWindow
    var catchUp: Bool
}

/// A trigger's plan after a pass: the next fire time (nil: never again), the zone it was planned in, and the
/// window it fired last in this pass.
struct TriggerPlan: Sendable {
    var settings: TriggerSettings
    var next: Date?
    var zone: String?
    var firedWindow: String?
}
