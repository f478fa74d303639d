import AMQP
import AuditTrail
import Domain
import Foundation
import Logging
import Postgres
import Runtime
import Synchronization
import TestSupport
import Testing

/// Settings and helpers shared by the log-writer tests: migrated database, login roles, topology.
enum TestStack {
    static let logger = Logger(label: "log-writer-tests") { _ in SwiftLogNoOpLogHandler() }

    static func postgres(user: String? = nil) throws -> PostgresConfiguration {
        var configuration = try PostgresConfiguration(
            url: requiredSetting(TestEnvironment.postgresURL, "LEDGERLINE_POSTGRES_URL"),
            password: TestEnvironment.postgresPassword)
        if let user { configuration.user = user }
        configuration.connectTimeout = .seconds(5)
        return configuration
    }

    static func amqp() throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(
            url: requiredSetting(TestEnvironment.amqpURL, "LEDGERLINE_AMQP_URL"), password: TestEnvironment.amqpPassword)
        configuration.heartbeat = .seconds(10)
        configuration.connectTimeout = .seconds(3)
        configuration.reconnectBackoffMin = .milliseconds(100)
        configuration.reconnectBackoffMax = .seconds(1)
        return configuration
    }

    private static let migrated = Mutex(false)

    /// A pool on the test database (as its owner), with every migration applied.
    static func ownerPool(maxConnections: Int = 4) async throws -> PostgresPool {
        let pool = PostgresPool(configuration: try postgres(), maxConnections: maxConnections, logger: logger)
        if !migrated.withLock({ $0 }) {
            let migrator = PostgresMigrator(
                directory: TestEnvironment.repositoryRoot.appendingPathComponent("deploy/migrations"))
            try await migrator.migrate(pool: pool, logger: logger)
            migrated.withLock { $0 = true }
        }
        return pool
    }

    /// A name no other test (or run) uses, e.g. `t-3f9a1c2e`.
    static func unique(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Creates a login role that is a member of `groupRole` (trust authentication on the local stack).
    static func createLogin(member groupRole: String, on pool: PostgresPool) async throws -> String {
        let name = "lw_\(groupRole.replacingOccurrences(of: "ledgerline_", with: ""))_\(UUID().uuidString.prefix(8).lowercased())"
        try await pool.execute(PostgresQuery(unsafeSQL: "CREATE ROLE \(name) LOGIN"))
        try await pool.execute(PostgresQuery(unsafeSQL: "GRANT \(groupRole) TO \(name)"))
        return name
    }

    /// Creates a finance login that may read `tenant` through the finance views.
    static func createFinanceLogin(tenant: String, on pool: PostgresPool) async throws -> String {
        let name = "lw_finance_\(UUID().uuidString.prefix(8).lowercased())"
        try await pool.execute(PostgresQuery(unsafeSQL: "CREATE ROLE \(name) LOGIN"))
        try await pool.execute("CALL ledgerline_grant_finance_access(\(name), \(tenant))")
        return name
    }

    /// Opens one connection as `user`.
    static func connect(as user: String) async throws -> PostgresConnection {
        try await PostgresConnection.connect(configuration: try postgres(user: user), logger: logger)
    }

    /// Polls `condition` every 50 ms until it holds or `timeout` passes.
    static func eventually(
        timeout: Duration = .seconds(15), _ what: String, _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if try await condition() { return }
            guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    struct TimedOut: Error, CustomStringConvertible {
        let what: String
        var description: String { "timed out waiting for \(what)" }
    }

    /// Counts audit rows of `tenant` as the owner.
    static func auditRowCount(_ tenant: String, _ pool: PostgresPool) async throws -> Int {
        try await pool.query("SELECT count(*) AS n FROM audit_trail WHERE tenant_id = \(tenant)").first!.decode(Int.self, "n")
    }

    /// Runs `body` on one owner connection with ordinary triggers off (`session_replication_role =
    /// replica`, superuser only): how an attacker with the owner's keys would tamper with the trail.
    static func tamper(_ pool: PostgresPool, _ body: (PostgresConnection) async throws -> Void) async throws {
        try await pool.withConnection { connection in
            try await connection.execute("SET session_replication_role = replica")
            do {
                try await body(connection)
            } catch {
                _ = try? await connection.execute("RESET session_replication_role")
                throw error
            }
            try await connection.execute("RESET session_replication_role")
        }
    }
}

/// Builds realistic audit events, as ingest, the scheduler and a worker publish them.
struct AuditScenario {
    let tenant: TenantID
    let location: LocationID = "downtown-01"
    let connection = UUID()
    let erp = ERP.xero
    var clock = Date(timeIntervalSince1970: 1_760_000_000)

    init(tenant: String) {
        self.tenant = TenantID(tenant)
    }

    mutating func tick(_ seconds: Double = 1) -> Date {
        clock = clock.addingTimeInterval(seconds)
        return clock
    }

    mutating func received(_ invoice: String, total: String, customer: String = "Ada Motors") -> AuditEvent {
        AuditEvent(
            kind: .eventReceived, occurredAt: tick(), tenantID: tenant, locationID: location, source: "ingest",
            record: .init(objectType: .invoice, shopID: "inv-\(invoice)", number: invoice, customerName: customer),
            action: "Invoice Received", outcome: .succeeded, inputEventID: "evt-\(invoice)",
            idempotencyKey: "key-\(invoice)", details: ["total": total, "currency": "USD"])
    }

    mutating func rejected(_ invoice: String, reason: ReasonCode, message: String) -> AuditEvent {
        AuditEvent(
            kind: .eventRejected, occurredAt: tick(), tenantID: tenant, locationID: location, source: "ingest",
            record: .init(objectType: .invoice, shopID: "inv-\(invoice)", number: invoice), action: "Invoice Rejected",
            outcome: .rejected, reason: reason, message: message, inputEventID: "evt-\(invoice)-bad")
    }

    mutating func opened(_ session: UUID, trigger: String, job: String) -> AuditEvent {
        AuditEvent(
            kind: .sessionOpened, occurredAt: tick(), tenantID: tenant, locationID: location, source: "worker-xero",
            erp: erp, connectionID: connection, sessionID: session, action: "Sync Started", jobID: job,
            details: ["trigger": trigger])
    }

    mutating func closed(_ session: UUID, job: String, details: [String: String] = [:]) -> AuditEvent {
        AuditEvent(
            kind: .sessionClosed, occurredAt: tick(), tenantID: tenant, locationID: location, source: "worker-xero",
            erp: erp, connectionID: connection, sessionID: session, action: "Sync Finished", outcome: .succeeded,
            jobID: job, details: details)
    }

    mutating func synced(
        _ session: UUID?, _ type: AuditEvent.ObjectType, _ action: String, _ outcome: AuditEvent.Outcome,
        number: String, customer: String? = "Ada Motors", erpID: String? = nil, reason: ReasonCode? = nil,
        message: String? = nil, job: String = "job-1", attempt: Int = 1, details: [String: String]? = nil
    ) -> AuditEvent {
        AuditEvent(
            kind: .recordSynced, occurredAt: tick(), tenantID: tenant, locationID: location, source: "worker-xero",
            erp: erp, connectionID: connection, sessionID: session,
            record: .init(
                objectType: type, shopID: type == .invoice ? "inv-\(number)" : "\(type.rawValue)-\(number)", number: number, customerName: customer,
                erpID: erpID),
            action: action, outcome: outcome, reason: reason, message: message, inputEventID: "evt-\(number)",
            idempotencyKey: "key-\(number)", jobID: job, attempt: attempt, erpRequestID: "req-\(UUID().uuidString.prefix(8))",
            details: details)
    }
}
