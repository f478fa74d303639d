import AMQP
import Domain
import Foundation
import Logging
import Postgres
import SchedulerCore
import Scheduling
import Synchronization
import TestSupport
import Testing

/// Settings and helpers of the scheduler tests: migrated database, fresh tenants with locations, connections
/// and invoices, and queries over what the scheduler wrote.
enum SchedulerStack {
    static let logger = Logger(label: "scheduler-tests") { _ in SwiftLogNoOpLogHandler() }
    /// The tests' exchanges (never the real ones, whose queues other components' tests consume).
    static let jobsExchange = "scheduler-test.jobs"
    static let auditExchange = "scheduler-test.audit"

    static func postgres(user: String? = nil) throws -> PostgresConfiguration {
        var configuration = try PostgresConfiguration(
            url: requiredSetting(TestEnvironment.postgresURL, "LEDGERLINE_POSTGRES_URL"),
            password: TestEnvironment.postgresPassword)
        if let user { configuration.user = user }
        configuration.connectTimeout = .seconds(5)
        configuration.statementTimeout = .seconds(30)
        return configuration
    }

    static func amqp() throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(
            url: requiredSetting(TestEnvironment.amqpURL, "LEDGERLINE_AMQP_URL"), password: TestEnvironment.amqpPassword)
        configuration.connectTimeout = .seconds(3)
        return configuration
    }

    private static let migrated = Mutex(false)

    /// A pool on the test database (as its owner), with every migration applied.
    static func pool(maxConnections: Int = 4, user: String? = nil) async throws -> PostgresPool {
        let pool = PostgresPool(
            configuration: try postgres(user: user), maxConnections: maxConnections, acquireTimeout: .seconds(10),
            logger: logger)
        if user == nil, !migrated.withLock({ $0 }) {
            let migrator = PostgresMigrator(directory: TestEnvironment.repositoryRoot.appendingPathComponent("deploy/migrations"))
            try await migrator.migrate(pool: pool, logger: logger)
            migrated.withLock { $0 = true }
        }
        return pool
    }

    /// A unique name part.
    static func unique(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// The engine and loop settings for one test: its own tenants, exchanges and leader lock, no defaults.
    static func configuration(prefix: String, instance: String = "test") -> SchedulerConfiguration {
        var configuration = SchedulerConfiguration()
        configuration.tenantPrefix = prefix
        configuration.jobsExchange = jobsExchange
        configuration.auditExchange = auditExchange
        configuration.instanceID = instance
        configuration.defaultIntervalSeconds = nil
        configuration.defaultPullSeconds = nil
        configuration.defaultInitialSync = false
        configuration.leaderLockKey = Int64.random(in: 1_000_000...Int64.max / 2)
        configuration.leaderRetry = .milliseconds(200)
        configuration.maxIdle = .seconds(600)
        configuration.spreadIntervals = false  // aligned windows keep the expectations readable; one test spreads
        return configuration
    }
}

/// One tenant of a test: locations (each with a zone), one active Xero connection per location.
struct Fixture: Sendable {
    let prefix: String
    let tenant: String
    /// location id → connection id.
    let connections: [String: UUID]
    let zones: [String: String]

    /// Creates a tenant whose id starts with a fresh prefix, and `zones.count` locations (`loc-0`, …).
    static func make(_ pool: PostgresPool, zones: [String], pulls: Bool = false) async throws -> Fixture {
        let prefix = SchedulerStack.unique("sched") + "-"
        let tenant = prefix + "t"
        let locations = zones.indices.map { "loc-\($0)" }
        try await pool.withTransaction { connection in
            try await connection.execute("INSERT INTO tenants (tenant_id, display_name) VALUES (\(tenant), 'Scheduler test')")
            try await connection.execute(
                """
                INSERT INTO locations (tenant_id, location_id, display_name, time_zone)
                SELECT \(tenant), l, l, z FROM unnest(\(locations)::text[], \(zones)::text[]) AS u(l, z)
                """)
            try await connection.execute(
                """
                INSERT INTO erp_connections (tenant_id, location_id, erp, pull_invoices)
                SELECT \(tenant), l, 'xero', \(pulls) FROM unnest(\(locations)::text[]) AS l
                """)
        }
        let rows = try await pool.query("SELECT location_id, connection_id FROM erp_connections WHERE tenant_id = \(tenant)")
        var connections: [String: UUID] = [:]
        for row in rows { connections[try row.decode(String.self, "location_id")] = try row.decode(UUID.self, "connection_id") }
        return Fixture(prefix: prefix, tenant: tenant, connections: connections,
                       zones: Dictionary(uniqueKeysWithValues: zip(locations, zones)))
    }

    var firstConnection: UUID { connections["loc-0"]! }

    /// Adds invoices `ids` to a location, issued on `day`.
    func addInvoices(_ pool: PostgresPool, location: String = "loc-0", ids: [String], day: String, status: String = "open",
                     version: Int64 = 1) async throws {
        try await pool.execute(
            """
            INSERT INTO invoices (tenant_id, location_id, source_system, invoice_id, invoice_number, status, issue_date,
                                  currency, customer_id, customer_name, subtotal, tax_total, total, amount_paid, balance_due,
                                  invoice_version, last_occurred_at, last_event_id)
            SELECT \(tenant), \(location), 'shop', i, 'N-' || i, \(status), \(day)::date, 'USD', 'c1', 'Customer One',
                   10, 1, 11, 0, 11, \(version), now(), 'e-' || i
            FROM unnest(\(ids)::text[]) AS i
            """)
    }

    /// Sets the sync state of an invoice for the location's connection.
    func setState(_ pool: PostgresPool, location: String = "loc-0", invoice: String, state: String,
                  notBefore: Date? = nil, syncedVersion: Int64? = nil) async throws {
        try await pool.execute(
            """
            INSERT INTO sync_documents (tenant_id, connection_id, document_kind, document_id, state, not_before,
                                        synced_version, reason, lease_until, idempotency_key)
            VALUES (\(tenant), \(connections[location]!), 'invoice', \(invoice), \(state), \(notBefore), \(syncedVersion),
                    CASE WHEN \(state) = 'parked' THEN 'erp.rejected' END,
                    CASE WHEN \(state) IN ('claimed', 'sent_outcome_unknown') THEN now() + interval '1 hour' END,
                    CASE WHEN \(state) = 'sent_outcome_unknown' THEN 'k' END)
            """)
    }

    /// Sets a trigger directly (as `syncctl schedule set` does), anchored at `anchor`.
    func setTrigger(_ pool: PostgresPool, _ change: TriggerChange, location: String = "loc-0", anchor: Date) async throws {
        try await pool.withConnection { connection in
            try await ScheduleStore.apply(change, connectionID: connections[location]!, now: anchor, on: connection,
                                          logger: SchedulerStack.logger)
        }
    }

    /// The same trigger for every location in one statement.
    func setTriggerEverywhere(_ pool: PostgresPool, kind: TriggerKind, intervalSeconds: Int? = nil, endOfDay: String? = nil,
                              anchor: Date) async throws {
        try await pool.execute(
            """
            INSERT INTO schedule_triggers (connection_id, trigger_kind, tenant_id, interval_seconds, end_of_day_time, anchor_at)
            SELECT connection_id, \(kind.rawValue), tenant_id, \(intervalSeconds), \(endOfDay)::time, \(anchor)
            FROM erp_connections WHERE tenant_id = \(tenant)
            """)
    }

    struct Fire: Sendable, Hashable {
        var connectionID: UUID
        var trigger: String
        var window: String
        var scheduledFor: Date
        var firedAt: Date
        var catchUp: Bool
        var jobs: Int
        var invoices: Int
        var firedBy: String
        var sessionID: UUID
    }

    func fires(_ pool: PostgresPool, trigger: String? = nil) async throws -> [Fire] {
        let rows = try await pool.query(
            """
            SELECT connection_id, trigger_kind, window_key, scheduled_for, fired_at, catch_up, jobs_enqueued,
                   invoices_enqueued, fired_by, session_id
            FROM schedule_fires WHERE tenant_id = \(tenant) AND (\(trigger)::text IS NULL OR trigger_kind = \(trigger)::text)
            ORDER BY scheduled_for, connection_id
            """)
        return try rows.map {
            Fire(connectionID: try $0.decode(UUID.self, "connection_id"), trigger: try $0.decode(String.self, "trigger_kind"),
                 window: try $0.decode(String.self, "window_key"), scheduledFor: try $0.decode(Date.self, "scheduled_for"),
                 firedAt: try $0.decode(Date.self, "fired_at"), catchUp: try $0.decode(Bool.self, "catch_up"),
                 jobs: try $0.decode(Int.self, "jobs_enqueued"), invoices: try $0.decode(Int.self, "invoices_enqueued"),
                 firedBy: try $0.decode(String.self, "fired_by"), sessionID: try $0.decode(UUID.self, "session_id"))
        }
    }

    /// The sync jobs the scheduler wrote to the outbox, decoded.
    func jobs(_ pool: PostgresPool) async throws -> [SyncJob] {
        let rows = try await pool.query(
            """
            SELECT body::text AS body FROM outbox
            WHERE tenant_id = \(tenant) AND message_type = 'sync_job' ORDER BY outbox_id
            """)
        return try rows.map { try WireFormat.decoder().decode(SyncJob.self, from: Data(try $0.decode(String.self, "body").utf8)) }
    }

    /// The audit events the scheduler wrote to the outbox, decoded.
    func auditEvents(_ pool: PostgresPool) async throws -> [AuditEvent] {
        let rows = try await pool.query(
            """
            SELECT body::text AS body FROM outbox
            WHERE tenant_id = \(tenant) AND message_type = 'audit_event' ORDER BY outbox_id
            """)
        return try rows.map { try WireFormat.decoder().decode(AuditEvent.self, from: Data(try $0.decode(String.self, "body").utf8)) }
    }
}

/// Waits until `condition` holds (polling), or fails after `timeout`.
func eventually(_ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("timed out waiting for \(what)")
    throw TimedOut(what: what)
}

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}
