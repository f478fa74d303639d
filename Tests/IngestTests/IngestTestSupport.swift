import AMQP
import Crypto
import Domain
import Foundation
import Logging
import Postgres
import Runtime
import Synchronization
import TestSupport
import Testing

@testable import Ingest

/// Settings and helpers shared by the ingest tests: migrated database, declared topology, fresh tenants.
enum IngestStack {
    static let logger = Logger(label: "ingest-tests") { _ in SwiftLogNoOpLogHandler() }
    static let keyring = SecretKeyring(current: SecretBox(keyBytes: Array(repeating: 7, count: 32)), previous: [])

    /// Exchanges the tests' outbox rows go to (never the real job and audit exchanges, whose queues other
    /// components' tests consume).
    static let jobsExchange = "ingest-test.jobs"
    static let auditExchange = "ingest-test.audit"

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
    private static let declared = Mutex(false)

    /// A pool on the test database (as its owner), with every migration applied.
    static func pool(maxConnections: Int = 6, acquireTimeout: Duration = .seconds(10)) async throws -> PostgresPool {
        let pool = PostgresPool(
            configuration: try postgres(), maxConnections: maxConnections, acquireTimeout: acquireTimeout, logger: logger)
        if !migrated.withLock({ $0 }) {
            let migrator = PostgresMigrator(
                directory: TestEnvironment.repositoryRoot.appendingPathComponent("deploy/migrations"))
            try await migrator.migrate(pool: pool, logger: logger)
            migrated.withLock { $0 = true }
        }
        return pool
    }

    /// Declares `deploy/rabbitmq/topology.json` plus the tests' own job and audit exchanges and queues.
    static func declareTopology() async throws {
        if declared.withLock({ $0 }) { return }
        var topology = try TopologyFile.load(
            from: TestEnvironment.repositoryRoot.appendingPathComponent("deploy/rabbitmq/topology.json"))
        topology.exchanges += [
            AMQPExchange(name: jobsExchange, kind: .direct), AMQPExchange(name: auditExchange, kind: .topic),
        ]
        topology.queues += [
            AMQPQueue(name: jobsExchange, quorum: false, maxLength: 200_000),
            AMQPQueue(name: auditExchange, quorum: false, maxLength: 200_000),
        ]
        topology.bindings += ERP.allCases.map {
            AMQPBinding(queue: jobsExchange, exchange: jobsExchange, routingKey: $0.jobRoutingKey)
        } + [AMQPBinding(queue: auditExchange, exchange: auditExchange, routingKey: "#")]
        try await topology.declare(configuration: try amqp(), logger: logger)
        declared.withLock { $0 = true }
    }

    /// The configuration the in-process services use in tests.
    static func configuration(queue: String = "ingest.shop-events") -> IngestConfiguration {
        var configuration = IngestConfiguration()
        configuration.queue = queue
        configuration.jobsExchange = jobsExchange
        configuration.auditExchange = auditExchange
        configuration.keyring = keyring
        configuration.httpPort = 0
        configuration.outboxPollInterval = .milliseconds(200)
        configuration.outboxTenantPrefix = tenantPrefix
        return configuration
    }

    static func store(_ pool: PostgresPool) -> IntakeStore {
        IntakeStore(pool: pool, configuration: configuration(), logger: logger)
    }

    /// The prefix of every tenant these tests create; the tests' relays publish only those tenants' rows.
    static let tenantPrefix = "ingt-"

    /// A name no other test (or run) uses, e.g. `t-3f9a1c2e`.
    static func unique(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Polls `condition` every 50 ms until it holds or `timeout` passes.
    static func eventually(
        timeout: Duration = .seconds(20), _ what: String, _ condition: () async throws -> Bool
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

    /// One integer from a query with one row and a column `n`.
    static func count(_ pool: PostgresPool, _ query: PostgresQuery) async throws -> Int {
        try await pool.query(query).first!.decode(Int.self, "n")
    }
}

/// A fresh tenant with one location, a signing secret and (optionally) ERP connections.
struct TenantFixture: Sendable {
    let tenant: String
    let location: String
    let secret: String
    let secretID: UUID
    let connections: [UUID]

    static func make(
        _ pool: PostgresPool, erps: [(String, Bool, Bool)] = [("xero", true, true)], secret: String? = nil
    ) async throws -> TenantFixture {
        let tenant = IngestStack.unique("ingt")
        let location = "loc-01"
        let admin = TenantAdmin(pool: pool, logger: IngestStack.logger)
        try await admin.addTenant(tenant, displayName: "Test \(tenant)")
        try await admin.addLocation(location, tenant: tenant)
        let issued = try await admin.issueSigningSecret(tenant: tenant, secret: secret, keyring: IngestStack.keyring)
        var connections: [UUID] = []
        for (erp, pushInvoices, pushPayments) in erps {
            connections.append(try await admin.addConnection(
                tenant: tenant, location: location, erp: erp, pushInvoices: pushInvoices, pushPayments: pushPayments))
        }
        return TenantFixture(
            tenant: tenant, location: location, secret: issued.secret, secretID: issued.secretID, connections: connections)
    }

    /// An example file of `docs/event-contract/examples` rewritten for this tenant and location (and, when
    /// given, with every invoice id, idempotency key and event id suffixed, so one tenant can use it twice).
    func example(_ file: String, suffix: String? = nil) throws -> [UInt8] {
        var text = try String(contentsOf: Examples.directory.appendingPathComponent(file), encoding: .utf8)
        text = Examples.replacing(text, key: "tenant_id", with: tenant)
        text = Examples.replacing(text, key: "location_id", with: location)
        if let suffix {
            for key in ["invoice_id", "idempotency_key", "event_id"] {
                text = Examples.appending(text, key: key, suffix: suffix)
            }
        }
        return Array(text.utf8)
    }

    /// The decoded event of an example (for tests that call the store directly).
    func event(_ file: String, suffix: String? = nil) throws -> InvoiceEvent {
        try InvoiceEventDecoder().decode(try example(file, suffix: suffix)).get()
    }

    /// Counts rows of a table for this tenant.
    func count(_ table: String, _ pool: PostgresPool, where condition: String = "true") async throws -> Int {
        try await IngestStack.count(pool, PostgresQuery(
            unsafeSQL: "SELECT count(*) AS n FROM \(table) WHERE tenant_id = $1 AND \(condition)", binds: [tenant]))
    }
}

/// The event contract's examples.
enum Examples {
    static let directory = TestEnvironment.repositoryRoot.appendingPathComponent("docs/event-contract/examples")

    struct Entry: Decodable, Sendable {
        struct Expectation: Decodable, Sendable, Hashable {
            var code: String
            var path: String
        }
        var file: String
        var valid: Bool
        var expect: [Expectation]?
    }

    static func index() throws -> [Entry] {
        try JSONDecoder().decode([Entry].self, from: Data(contentsOf: directory.appendingPathComponent("index.json")))
    }

    /// Replaces the string value of every `"key": "…"`.
    static func replacing(_ text: String, key: String, with value: String) -> String {
        let pattern = "\"\(key)\"\\s*:\\s*\"[^\"]*\""
        return text.replacingOccurrences(of: pattern, with: "\"\(key)\": \"\(value)\"", options: .regularExpression)
    }

    /// Appends `suffix` to the string value of every `"key": "…"`.
    static func appending(_ text: String, key: String, suffix: String) -> String {
        let pattern = "(\"\(key)\"\\s*:\\s*\"[^\"]*)\""
        return text.replacingOccurrences(of: pattern, with: "$1\(suffix)\"", options: .regularExpression)
    }
}

/// Builds small valid events for bulk tests.
enum EventFactory {
    /// An `invoice.created` (or `.updated`) with one part line, USD, no tax.
    static func invoice(
        tenant: String, location: String, invoiceID: String, version: Int64 = 1, key: String? = nil,
        amount: String = "100.00", type: String = "invoice.created", paid: String? = nil, occurredAt: String = "2025-03-14T16:42:05Z"
    ) -> [UInt8] {
        let paymentsJSON = paid.map {
            #"[{"payment_id": "p-\#(invoiceID)", "amount": "\#($0)", "method": "card", "payment_date": "2025-03-14"}]"#
        } ?? "[]"
        let paidAmount = paid ?? "0.00"
        let balance = (Decimal(string: amount)! - Decimal(string: paidAmount)!)
        let balanceText = Money(value: balance, writtenScale: 2).description
        let status = paid == nil ? "open" : (balance == 0 ? "paid" : "partially_paid")
        let json = """
            {"schema_version": "1", "event_id": "e-\(invoiceID)-\(version)-\(type)", "event_type": "\(type)",
             "tenant_id": "\(tenant)", "location_id": "\(location)", "source_system": "test-shop",
             "occurred_at": "\(occurredAt)", "idempotency_key": "\(key ?? "test-shop:\(invoiceID):v\(version)")",
             "invoice_version": \(version),
             "invoice": {"invoice_id": "\(invoiceID)", "invoice_number": "N-\(invoiceID)", "status": "\(status)",
               "issue_date": "2025-03-14", "currency": "USD",
               "customer": {"customer_id": "c-1", "name": "Test Customer"},
               "lines": [{"line_id": "L1", "kind": "part", "description": "Alternator", "quantity": "1",
                          "unit_price": "\(amount)", "amount": "\(amount)", "taxable": false, "part_number": "ALT-1"}],
               "totals": {"subtotal": "\(amount)", "tax_total": "0.00", "total": "\(amount)",
                          "amount_paid": "\(paidAmount)", "balance_due": "\(balanceText)"},
               "payments": \(paymentsJSON)}}
            """
        return Array(json.utf8)
    }

    static func payment(
        tenant: String, location: String, invoiceID: String, version: Int64, paymentID: String, amount: String,
        currency: String = "USD"
    ) -> [UInt8] {
        Array("""
            {"schema_version": "1", "event_id": "e-\(paymentID)", "event_type": "payment.received",
             "tenant_id": "\(tenant)", "location_id": "\(location)", "source_system": "test-shop",
             "occurred_at": "2025-03-15T10:00:00Z", "idempotency_key": "test-shop:\(paymentID)",
             "invoice_version": \(version),
             "invoice_ref": {"invoice_id": "\(invoiceID)", "invoice_number": "N-\(invoiceID)", "currency": "\(currency)"},
             "payment": {"payment_id": "\(paymentID)", "amount": "\(amount)", "method": "check", "payment_date": "2025-03-15"}}
            """.utf8)
    }

    static func void(tenant: String, location: String, invoiceID: String, version: Int64) -> [UInt8] {
        Array("""
            {"schema_version": "1", "event_id": "e-void-\(invoiceID)-\(version)", "event_type": "invoice.voided",
             "tenant_id": "\(tenant)", "location_id": "\(location)", "source_system": "test-shop",
             "occurred_at": "2025-03-16T10:00:00Z", "idempotency_key": "test-shop:\(invoiceID):void:\(version)",
             "invoice_version": \(version),
             "invoice_ref": {"invoice_id": "\(invoiceID)", "invoice_number": "N-\(invoiceID)", "currency": "USD"},
             "void": {"reason": "Created in error."}}
            """.utf8)
    }

    static func decoded(_ bytes: [UInt8]) throws -> InvoiceEvent {
        try InvoiceEventDecoder().decode(bytes).get()
    }
}

extension IntakeItem {
    /// An item as the AMQP intake would make it from `body`.
    static func amqp(_ body: [UInt8], messageID: String = UUID().uuidString) -> IntakeItem {
        let decoded = InvoiceEventDecoder().decode(body)
        var claimed = ClaimedFields()
        if case .failure = decoded { claimed = ClaimedFields(body: body) }
        return IntakeItem(
            decoded: decoded, channel: .amqp, rejectionRef: "test:\(messageID)", body: BodyFacts(body), claimed: claimed)
    }
}
