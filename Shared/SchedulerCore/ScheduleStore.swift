public import Foundation
public import Logging
public import Postgres
import Scheduling

/// Reads and changes the triggers of connections (`schedule_triggers`). Used by `syncctl schedule` and by the
/// scheduler (default triggers of new connections). Every function runs on the connection it is given.
public enum ScheduleStore {
    /// Applies `change` to a connection's trigger. The trigger is planned again from `now`: windows before
    /// the change are never caught up.
    ///
    /// - Throws: ``SchedulerError`` (`unknownConnection`), ``PostgresError``.
    public static func apply(
        _ change: TriggerChange, connectionID: UUID, now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let found = try await connection.query(
            "SELECT tenant_id FROM erp_connections WHERE connection_id = \(connectionID)", logger: logger)
        guard let tenant = try found.first?.decode(String.self, "tenant_id") else {
            throw SchedulerError(code: .unknownConnection, connectionID: connectionID, reason: "no such connection")
        }
        let kind = change.kind.rawValue
        let enabled: Bool
        var seconds: Int?
        var time: String?
        switch change {
        case .interval(let value), .pull(let value):
            enabled = value != nil
            seconds = value ?? 7200
        case .endOfDay(let on, let value):
            enabled = on
            time = value?.description
        case .initial(let on):
            enabled = on
        }
        try await connection.execute(
            """
            INSERT INTO schedule_triggers AS t (connection_id, trigger_kind, tenant_id, enabled, interval_seconds,
                                                end_of_day_time, anchor_at, next_fire_at, updated_at)
            VALUES (\(connectionID), \(kind), \(tenant), \(enabled), \(seconds),
                    CASE WHEN \(kind) = 'end_of_day' THEN coalesce(\(time)::time, '23:59'::time) END, \(now), NULL, \(now))
            ON CONFLICT (connection_id, trigger_kind) DO UPDATE SET
                enabled = EXCLUDED.enabled,
                interval_seconds = CASE WHEN \(enabled) THEN coalesce(EXCLUDED.interval_seconds, t.interval_seconds)
                                        ELSE t.interval_seconds END,
                end_of_day_time = coalesce(\(time)::time, t.end_of_day_time, EXCLUDED.end_of_day_time),
                next_fire_at = CASE WHEN t.trigger_kind = 'initial' AND t.last_window_key IS NOT NULL
                                    THEN t.next_fire_at ELSE NULL END,
                anchor_at = CASE WHEN t.trigger_kind = 'initial' THEN t.anchor_at ELSE EXCLUDED.anchor_at END,
                updated_at = EXCLUDED.updated_at
            """, logger: logger)
        logger.debug("Trigger changed", metadata: ["connection_id": "\(connectionID)", "trigger": "\(kind)", "enabled": "\(enabled)"])
    }

    /// The triggers of one connection, or of every connection (of tenants starting with `tenantPrefix`).
    public static func list(
        connectionID: UUID? = nil, tenantPrefix: String? = nil, on connection: PostgresConnection, logger: Logger
    ) async throws -> [TriggerSettings] {
        let rows = try await connection.query(
            """
            SELECT t.connection_id, t.tenant_id, c.location_id, c.erp, t.trigger_kind, t.enabled, t.interval_seconds,
                   to_char(t.end_of_day_time, 'HH24:MI') AS end_of_day_time, l.time_zone,
                   CASE WHEN isfinite(t.next_fire_at) THEN t.next_fire_at END AS next_fire_at,
                   t.last_window_key, t.last_fired_at, t.anchor_at
            FROM schedule_triggers t
            JOIN erp_connections c ON c.connection_id = t.connection_id
            JOIN locations l ON l.tenant_id = c.tenant_id AND l.location_id = c.location_id
            WHERE (\(connectionID)::uuid IS NULL OR t.connection_id = \(connectionID)::uuid)
              AND (\(tenantPrefix)::text IS NULL OR starts_with(t.tenant_id, \(tenantPrefix)::text))
            ORDER BY t.tenant_id, c.location_id, c.erp, t.connection_id, t.trigger_kind
            """, logger: logger)
        return try rows.map(decodeSettings)
    }

    static func decodeSettings(_ row: PostgresRow) throws -> TriggerSettings {
        let kindText = try row.decode(String.self, "trigger_kind")
        guard let kind = TriggerKind(rawValue: kindText) else {
            throw SchedulerError(code: .invalidSetting, reason: "unknown trigger kind \(kindText)")
        }
        return TriggerSettings(
            connectionID: try row.decode(UUID.self, "connection_id"), tenantID: try row.decode(String.self, "tenant_id"),
            locationID: try row.decode(String.self, "location_id"), erp: try row.decode(String.self, "erp"), kind: kind,
            enabled: try row.decode(Bool.self, "enabled"), intervalSeconds: try row.decode(Int?.self, "interval_seconds"),
            endOfDayTime: try row.decode(String?.self, "end_of_day_time").flatMap { LocalTimeOfDay($0) },
            timeZone: try row.decode(String.self, "time_zone"), nextFireAt: try row.decode(Date?.self, "next_fire_at"),
            lastWindowKey: try row.decode(String?.self, "last_window_key"),
            lastFiredAt: try row.decode(Date?.self, "last_fired_at"), anchorAt: try row.decode(Date.self, "anchor_at"))
    }

    /// Gives every active connection that has no trigger at all the defaults of `configuration`: an interval
    /// sweep, a pull (when the connection pulls anything) and the initial full sync. A connection with any
    /// trigger row (even a disabled one) is left alone. Returns the rows added.
    @discardableResult
    public static func addDefaults(
        configuration: SchedulerConfiguration, now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws -> Int {
        var kinds: [String] = []
        var seconds: [Int] = []
        if let interval = configuration.defaultIntervalSeconds {
            kinds.append("interval")
            seconds.append(interval)
        }
        if let pull = configuration.defaultPullSeconds {
            kinds.append("pull")
            seconds.append(pull)
        }
        if configuration.defaultInitialSync {
            kinds.append("initial")
            seconds.append(0)
        }
        guard !kinds.isEmpty else { return 0 }
        return try await connection.execute(
            """
            INSERT INTO schedule_triggers (connection_id, trigger_kind, tenant_id, interval_seconds, anchor_at, updated_at)
            SELECT c.connection_id, k.kind, c.tenant_id, nullif(k.seconds, 0), \(now), \(now)
            FROM erp_connections c CROSS JOIN unnest(\(kinds)::text[], \(seconds)::int[]) AS k(kind, seconds)
            WHERE c.status = 'active'
              AND (\(configuration.tenantPrefix)::text IS NULL OR starts_with(c.tenant_id, \(configuration.tenantPrefix)::text))
              AND NOT EXISTS (SELECT 1 FROM schedule_triggers t WHERE t.connection_id = c.connection_id)
              AND (k.kind <> 'pull' OR c.pull_invoices OR c.pull_payments OR c.pull_customers)
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }
}
