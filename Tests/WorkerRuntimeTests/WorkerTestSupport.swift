import AMQP
import Connectors
import Domain
import Foundation
import HTTP
import Logging
import Postgres
import Runtime
import Synchronization
import TestSupport
import Testing
import WorkerRuntime

/// The migrated database, topology and fixtures the worker tests share.
enum WorkerStack {
    static let logger = Logger(label: "worker-tests") { _ in SwiftLogNoOpLogHandler() }
    private static let migrated = Mutex(false)

    static func postgres() throws -> PostgresConfiguration {
        var configuration = try PostgresConfiguration(
            url: requiredSetting(TestEnvironment.postgresURL, "LEDGERLINE_POSTGRES_URL"),
            password: TestEnvironment.postgresPassword)
        configuration.connectTimeout = .seconds(5)
        return configuration
    }

    static func amqp() throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(
            url: requiredSetting(TestEnvironment.amqpURL, "LEDGERLINE_AMQP_URL"), password: TestEnvironment.amqpPassword)
        configuration.heartbeat = .seconds(10)
        configuration.connectTimeout = .seconds(3)
        return configuration
    }

    /// A pool with every migration applied (as the database owner).
    static func pool(maxConnections: Int = 8) async throws -> PostgresPool {
        let pool = PostgresPool(configuration: try postgres(), maxConnections: maxConnections, logger: logger)
        if !migrated.withLock({ $0 }) {
            let migrator = PostgresMigrator(
                directory: TestEnvironment.repositoryRoot.appendingPathComponent("deploy/migrations"))
            try await migrator.migrate(pool: pool, logger: logger)
            migrated.withLock { $0 = true }
        }
        return pool
    }

    static func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }

    static func store(_ pool: PostgresPool, worker: String = "w1", lease: Duration = .seconds(60)) -> SyncStateStore {
        SyncStateStore(pool: pool, workerID: worker, lease: lease, auditExchange: "worker-test.audit")
    }

    /// A processor on the fake ERP with fast retries (backoff 10 ms … 50 ms, horizon `horizon`).
    static func processor(
        _ store: SyncStateStore, erp: FakeERP, horizon: Duration = .seconds(3600), rateLimits: [RateLimit]? = nil,
        breakers: CircuitBreakers = CircuitBreakers()
    ) -> JobProcessor<TestConnector> {
        JobProcessor<TestConnector>(
            store: store, transport: erp,
            retry: RetryPolicy(
                initialBackoff: .milliseconds(10), maximumBackoff: .milliseconds(50), horizon: horizon,
                dependencyWait: .milliseconds(200)),
            rateLimitWait: .seconds(20), rateLimits: rateLimits, breakers: breakers
        ) { job, transport in
            TestConnector(
                context: ConnectionContext(
                    tenantID: job.tenantID, connectionID: job.connectionID,
                    configuration: ConnectorConfiguration(baseURL: "http://127.0.0.1/fake", companyID: "fake"),
                    mapping: MappingConfiguration(), credentials: StaticAccessTokenProvider(AccessToken("test-token"))),
                transport: transport)
        }
    }
}

/// A tenant with one location and one ERP connection, and helpers to write canonical invoices and payments.
struct WorkerFixture: Sendable {
    let pool: PostgresPool
    let tenant: String
    let location = "loc-01"
    let connection: UUID

    /// - Parameter erpSlug: the connection's `erp`. Only the service test uses `xero`: the sweeper re-publishes
    ///   due jobs of every connection of its ERP, so other suites keep their deferred rows out of its reach.
    static func make(_ pool: PostgresPool, erpSlug: String = "xero-unswept") async throws -> WorkerFixture {
        let tenant = WorkerStack.unique("wt")
        try await pool.execute("INSERT INTO tenants (tenant_id, display_name) VALUES (\(tenant), 'Worker test')")
        try await pool.execute(
            "INSERT INTO locations (tenant_id, location_id, display_name) VALUES (\(tenant), 'loc-01', 'Shop')")
        let rows = try await pool.query(
            """
            INSERT INTO erp_connections (tenant_id, location_id, erp) VALUES (\(tenant), 'loc-01', \(erpSlug))
            RETURNING connection_id
            """)
        return WorkerFixture(pool: pool, tenant: tenant, connection: try rows[0].decode(UUID.self, "connection_id"))
    }

    /// Writes (or replaces) an invoice at `version` with one labor line and the given total.
    @discardableResult
    func invoice(
        _ invoiceID: String, version: Int64 = 1, total: String = "120.00", status: String = "open",
        customer: String = "c-1"
    ) async throws -> Int64 {
        try await pool.execute(
            """
            INSERT INTO customers (tenant_id, location_id, source_system, customer_id, name, tax_exempt, last_seen_occurred_at)
            VALUES (\(tenant), 'loc-01', 'shop', \(customer), \("Customer " + customer), false, now())
            ON CONFLICT DO NOTHING
            """)
        let rows = try await pool.query(
            """
            INSERT INTO invoices (tenant_id, location_id, source_system, invoice_id, invoice_number, status, issue_date,
                                  currency, customer_id, customer_name, subtotal, tax_total, total, amount_paid,
                                  balance_due, invoice_version, last_occurred_at, last_event_id)
            VALUES (\(tenant), 'loc-01', 'shop', \(invoiceID), \("INV-" + invoiceID), \(status), '2026-11-20', 'USD',
                    \(customer), \("Customer " + customer), \(total)::numeric, 0, \(total)::numeric, 0,
                    \(total)::numeric, \(version), now(), 'e-1')
            ON CONFLICT (tenant_id, location_id, source_system, invoice_id) DO UPDATE
            SET invoice_version = EXCLUDED.invoice_version, total = EXCLUDED.total, subtotal = EXCLUDED.subtotal,
                balance_due = EXCLUDED.balance_due, status = EXCLUDED.status, updated_at = now()
            RETURNING invoice_key
            """)
        let key = try rows[0].decode(Int64.self, "invoice_key")
        try await pool.execute(
            """
            INSERT INTO invoice_lines (invoice_key, invoice_version, line_number, tenant_id, kind, description, quantity,
                                       unit_price, amount, taxable)
            VALUES (\(key), \(version), 1, \(tenant), 'labor', 'Brake job', 1, \(total)::numeric, \(total)::numeric, false)
            ON CONFLICT DO NOTHING
            """)
        return key
    }

    func payment(_ paymentID: String, invoiceKey: Int64, amount: String = "50.00") async throws {
        try await pool.execute(
            """
            INSERT INTO payments (invoice_key, tenant_id, payment_id, amount, currency, method, payment_date, status,
                                  recorded_from, invoice_version)
            VALUES (\(invoiceKey), \(tenant), \(paymentID), \(amount)::numeric, 'USD', 'card', '2026-11-21', 'applied',
                    'payment_event', 1)
            """)
    }

    func job(_ kind: SyncJob.Kind = .pushInvoice, invoice: String, version: Int64 = 1, payment: String? = nil,
             trigger: SyncJob.Trigger = .event) -> SyncJob {
        SyncJob(
            jobID: WorkerStack.unique("job"), kind: kind, trigger: trigger, tenantID: TenantID(tenant),
            locationID: LocationID(location), connectionID: connection, erp: .xero, invoiceID: invoice,
            invoiceVersion: version, paymentID: payment, enqueuedAt: Date())
    }

    func key(_ id: String, kind: SyncDocumentKey.Kind = .invoice) -> SyncDocumentKey {
        SyncDocumentKey(tenantID: TenantID(tenant), connectionID: connection, kind: kind, documentID: id)
    }

    /// Audit rows this tenant's worker wrote to the outbox: (action, outcome).
    func audits() async throws -> [(action: String, outcome: String, reason: String?)] {
        try await pool.query(
            """
            SELECT body->>'action' AS action, body->>'outcome' AS outcome, body->>'reason' AS reason FROM outbox
            WHERE tenant_id = \(tenant) AND message_type = 'audit_event' ORDER BY outbox_id
            """
        ).map { (try $0.decode(String.self, "action"), try $0.decode(String.self, "outcome"), try $0.decode(String?.self, "reason")) }
    }

    func connectionStatus() async throws -> String {
        try await pool.query("SELECT status FROM erp_connections WHERE connection_id = \(connection)")[0]
            .decode(String.self, "status")
    }

    /// Makes a deferred document due now (instead of sleeping through its delay).
    func makeDue(_ key: SyncDocumentKey) async throws {
        try await pool.execute(
            """
            UPDATE sync_documents SET not_before = now() - interval '1 second'
            WHERE tenant_id = \(tenant) AND document_kind = \(key.kind.rawValue) AND document_id = \(key.documentID)
              AND state = 'deferred'
            """)
    }
}
