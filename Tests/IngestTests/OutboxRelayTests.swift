import AMQP
import Domain
import Foundation
import Postgres
import Runtime
import TestSupport
import Testing

@testable import Ingest

/// The relay publishes outbox rows with confirms and marks them. Serialized: the wake-up test needs to be the
/// only relay running.
@Suite("Outbox relay", .requiresPostgres, .requiresRabbitMQ, .serialized, .timeLimit(.minutes(1)))
struct OutboxRelayTests {
    /// A private queue bound to the tests' job exchange: sees every job published there from now on.
    static func tap(routingKey: String = "xero") async throws -> (String, AMQPConsumer) {
        try await IngestStack.declareTopology()
        let amqp = try IngestStack.amqp()
        let name = IngestStack.unique("ingest-test.tap")
        let admin = try await AMQPAdmin.connect(configuration: amqp, logger: IngestStack.logger)
        try await admin.declare(AMQPTopology(
            queues: [AMQPQueue(name: name, quorum: false)],
            bindings: [AMQPBinding(queue: name, exchange: IngestStack.jobsExchange, routingKey: routingKey)]))
        await admin.close()
        let consumer = try await AMQPConsumer(configuration: amqp, queue: name, prefetch: 1000, logger: IngestStack.logger)
        return (name, consumer)
    }

    static func dropTap(_ name: String, _ consumer: AMQPConsumer) async {
        await consumer.close()
        if let admin = try? await AMQPAdmin.connect(configuration: try IngestStack.amqp(), logger: IngestStack.logger) {
            _ = try? await admin.deleteQueue(name)
            await admin.close()
        }
    }

    /// Collects deliveries for `tenant` until `done` says enough (or the time runs out).
    static func collect(
        _ consumer: AMQPConsumer, tenant: String, timeout: Duration = .seconds(20), until done: @escaping @Sendable ([AMQPDelivery]) -> Bool
    ) async throws -> [AMQPDelivery] {
        try await withTimeLimit(timeout, what: "jobs for \(tenant)") {
            var mine: [AMQPDelivery] = []
            for try await delivery in consumer.deliveries() {
                try consumer.ack(delivery)
                if delivery.headers["x-ledgerline-tenant"]?.stringValue == tenant { mine.append(delivery) }
                if done(mine) { break }
            }
            return mine
        }
    }

    func relay(_ pool: PostgresPool, pollInterval: Duration = .milliseconds(200)) throws -> OutboxRelay {
        var configuration = IngestStack.configuration()
        configuration.outboxPollInterval = pollInterval
        return OutboxRelay(
            pool: pool, postgres: try IngestStack.postgres(), amqp: try IngestStack.amqp(), configuration: configuration,
            health: HealthRegistry(), logger: IngestStack.logger)
    }

    @Test func publishesRowsWithConfirmsAndMarksThem() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let (tapName, tap) = try await Self.tap()
        let store = IngestStack.store(pool)
        _ = try await store.process((0..<20).map {
            IntakeItem.amqp(EventFactory.invoice(tenant: fixture.tenant, location: fixture.location, invoiceID: "i\($0)"))
        })
        let publisher = try await AMQPPublisher(configuration: try IngestStack.amqp(), logger: IngestStack.logger)
        let relay = try relay(pool)
        try await IngestStack.eventually("rows published") {
            _ = try await relay.relayOnce(publisher: publisher)
            return try await fixture.count("outbox", pool, where: "published_at IS NULL") == 0
        }
        await publisher.close()
        let jobs = try await Self.collect(tap, tenant: fixture.tenant) { $0.count >= 20 }
        await Self.dropTap(tapName, tap)
        let rows = try await pool.query(
            """
            SELECT outbox_id, body->>'event_id' AS unused, attempts, published_at >= created_at AS ordered
            FROM outbox WHERE tenant_id = \(fixture.tenant) AND message_type = 'sync_job' ORDER BY outbox_id
            """)
        let ids = Set(try rows.map { String(try $0.decode(Int64.self, "outbox_id")) })
        #expect(Set(jobs.compactMap(\.messageID)) == ids)
        for job in jobs {
            #expect(job.message.contentType == "application/json")
            #expect(job.message.type == "sync_job")
            #expect(job.message.persistent)
            #expect(job.message.correlationID?.hasPrefix("e-i") == true)
            let decoded = try WireFormat.decoder().decode(SyncJob.self, from: Data(job.body))
            #expect(decoded.jobID == job.messageID)
            #expect(decoded.kind == .pushInvoice)
            #expect(decoded.tenantID.rawValue == fixture.tenant)
            #expect(decoded.connectionID == fixture.connections[0])
        }
        #expect(try rows.allSatisfy { try $0.decode(Int.self, "attempts") == 1 && $0.decode(Bool.self, "ordered") })
    }

    @Test func keepsRowsTheBrokerRefusesAndRetriesThemLater() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        try await IngestStack.declareTopology()
        let unroutable = try await pool.query(
            """
            INSERT INTO outbox (tenant_id, exchange, routing_key, message_id, message_type, body)
            VALUES (\(fixture.tenant), \(IngestStack.jobsExchange), 'no-such-erp', 'x', 'sync_job', '{}'),
                   (\(fixture.tenant), 'ingest-test.no-such-exchange', 'xero', 'y', 'sync_job', '{}')
            RETURNING outbox_id
            """)
        #expect(unroutable.count == 2)
        let publisher = try await AMQPPublisher(configuration: try IngestStack.amqp(), logger: IngestStack.logger)
        let relay = try relay(pool)
        try await IngestStack.eventually("both rows refused") {
            _ = try await relay.relayOnce(publisher: publisher)
            return try await fixture.count("outbox", pool, where: "attempts = 1 AND last_error IS NOT NULL") == 2
        }
        await publisher.close()
        let rows = try await pool.query(
            """
            SELECT last_error, published_at IS NULL AS pending, next_attempt_at > now() AS later
            FROM outbox WHERE tenant_id = \(fixture.tenant) ORDER BY outbox_id
            """)
        #expect(try rows[0].decode(String.self, "last_error").hasPrefix("unroutable: 312"))
        #expect(try rows[1].decode(String.self, "last_error").contains("notFound"))
        #expect(try rows.allSatisfy { try $0.decode(Bool.self, "pending") && $0.decode(Bool.self, "later") })
        try await pool.execute("DELETE FROM outbox WHERE tenant_id = \(fixture.tenant)")
    }

    @Test func aRowForAMissingExchangeDoesNotHoldBackTheRowsBehindIt() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        try await IngestStack.declareTopology()
        // The misaddressed row comes first: its publish closes the channel for the rest of the batch.
        try await pool.execute(
            """
            INSERT INTO outbox (tenant_id, exchange, routing_key, message_id, message_type, body)
            VALUES (\(fixture.tenant), 'ingest-test.gone-exchange', 'xero', 'bad', 'sync_job', '{}')
            """)
        try await pool.execute(
            """
            INSERT INTO outbox (tenant_id, exchange, routing_key, message_id, message_type, body)
            SELECT \(fixture.tenant), \(IngestStack.jobsExchange), 'xero', 'good-' || n, 'sync_job', '{}'
            FROM generate_series(1, 5) AS n
            """)
        let publisher = try await AMQPPublisher(configuration: try IngestStack.amqp(), logger: IngestStack.logger)
        let relay = try relay(pool)
        try await IngestStack.eventually("the good rows published") {
            _ = try await relay.relayOnce(publisher: publisher)
            return try await fixture.count("outbox", pool, where: "published_at IS NOT NULL") == 5
        }
        await publisher.close()
        // The good rows were never charged an attempt for the other row's failure; the bad one waits for a retry.
        #expect(try await fixture.count("outbox", pool, where: "message_id LIKE 'good-%' AND last_error IS NULL") == 5)
        let bad = try await pool.query(
            """
            SELECT attempts, last_error, published_at IS NULL AS pending FROM outbox
            WHERE tenant_id = \(fixture.tenant) AND message_id = 'bad'
            """)
        #expect(try bad[0].decode(Int.self, "attempts") == 1)
        #expect(try bad[0].decode(String.self, "last_error").contains("gone-exchange"))
        #expect(try bad[0].decode(Bool.self, "pending"))
        try await pool.execute("DELETE FROM outbox WHERE tenant_id = \(fixture.tenant)")
    }

    @Test func twoRelaysShareTheWorkWithoutPublishingARowTwice() async throws {
        let pool = try await IngestStack.pool(maxConnections: 8)
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let (tapName, tap) = try await Self.tap()
        let store = IngestStack.store(pool)
        for chunk in stride(from: 0, to: 300, by: 50) {
            _ = try await store.process((chunk..<chunk + 50).map {
                IntakeItem.amqp(EventFactory.invoice(tenant: fixture.tenant, location: fixture.location, invoiceID: "i\($0)"))
            })
        }
        var configuration = IngestStack.configuration()
        configuration.outboxBatchSize = 25
        let relays = try (0..<2).map { _ in
            OutboxRelay(pool: pool, postgres: try IngestStack.postgres(), amqp: try IngestStack.amqp(),
                        configuration: configuration, health: nil, logger: IngestStack.logger)
        }
        let amqp = try IngestStack.amqp()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for relay in relays {
                group.addTask {
                    let publisher = try await AMQPPublisher(configuration: amqp, logger: IngestStack.logger)
                    while try await fixture.count("outbox", pool, where: "published_at IS NULL AND message_type = 'sync_job'") > 0 {
                        _ = try await relay.relayOnce(publisher: publisher)
                    }
                    await publisher.close()
                }
            }
            try await group.waitForAll()
        }
        let jobs = try await Self.collect(tap, tenant: fixture.tenant) { $0.count >= 300 }
        try await Task.sleep(for: .milliseconds(300))
        await Self.dropTap(tapName, tap)
        #expect(jobs.count == 300)
        #expect(Set(jobs.compactMap(\.messageID)).count == 300)
    }

    @Test func wakesOnNotifyWithoutWaitingForThePoll() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let relay = try relay(pool, pollInterval: .seconds(30))
        let store = IngestStack.store(pool)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await relay.run() }
            // Let the relay drain what is pending and start waiting (its listener connects meanwhile).
            try await Task.sleep(for: .seconds(3))
            let start = ContinuousClock.now
            _ = try await store.process([IntakeItem.amqp(
                EventFactory.invoice(tenant: fixture.tenant, location: fixture.location, invoiceID: "n1"))])
            try await IngestStack.eventually(timeout: .seconds(10), "the row published") {
                try await fixture.count("outbox", pool, where: "published_at IS NULL") == 0
            }
            #expect(ContinuousClock.now - start < .seconds(8))  // the poll interval is 30 s
            group.cancelAll()
        }
    }
}

/// Tenant isolation in the database: row-level security as a runtime role that is not a superuser.
@Suite("Row-level security", .requiresPostgres, .timeLimit(.minutes(1)))
struct RowLevelSecurityTests {
    @Test func aTenantCannotReadAnotherTenantsInvoices() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let a = try await TenantFixture.make(pool)
        let b = try await TenantFixture.make(pool)
        let store = IngestStack.store(pool)
        _ = try await store.process([
            IntakeItem.amqp(EventFactory.invoice(tenant: a.tenant, location: a.location, invoiceID: "a1")),
            IntakeItem.amqp(EventFactory.invoice(tenant: b.tenant, location: b.location, invoiceID: "b1")),
        ])
        let role = "ingest_rls_\(UUID().uuidString.prefix(8).lowercased())"
        try await pool.execute(PostgresQuery(unsafeSQL: "CREATE ROLE \(role) LOGIN"))
        try await pool.execute(PostgresQuery(unsafeSQL: "GRANT ledgerline_ingest TO \(role)"))
        defer {
            Task.detached {
                _ = try? await pool.execute(PostgresQuery(unsafeSQL: "DROP OWNED BY \(role)"))
                _ = try? await pool.execute(PostgresQuery(unsafeSQL: "DROP ROLE \(role)"))
            }
        }
        let connection = try await PostgresConnection.connect(
            configuration: try IngestStack.postgres(user: role), logger: IngestStack.logger)
        defer { connection.close() }
        let flags = try await connection.query("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        #expect(try flags[0].decode(Bool.self, "rolsuper") == false)
        #expect(try flags[0].decode(Bool.self, "rolbypassrls") == false)

        let seen = try await connection.withTransaction { connection in
            try await connection.query("SELECT set_config('ledgerline.tenant_id', \(a.tenant), true)")
            return try await connection.query(
                "SELECT tenant_id, invoice_id FROM invoices WHERE tenant_id IN (\(a.tenant), \(b.tenant))")
        }
        #expect(try seen.map { try $0.decode(String.self, "invoice_id") } == ["a1"])
        let lines = try await connection.withTransaction { connection in
            try await connection.query("SELECT set_config('ledgerline.tenant_id', \(a.tenant), true)")
            return try await connection.query("SELECT count(*) AS n FROM invoice_lines WHERE tenant_id = \(b.tenant)")
        }
        #expect(try lines[0].decode(Int.self, "n") == 0)
        // No tenant set: nothing at all (the setting is transaction-local, so it did not leak either).
        let none = try await connection.query("SELECT count(*) AS n FROM invoices")
        #expect(try none[0].decode(Int.self, "n") == 0)
        // Writing another tenant's row is refused by the policy.
        await #expect(throws: PostgresError.self) {
            try await connection.withTransaction { connection in
                try await connection.query("SELECT set_config('ledgerline.tenant_id', \(a.tenant), true)")
                try await connection.execute(
                    "UPDATE invoices SET notes = 'x' WHERE tenant_id = \(b.tenant)")
                try await connection.execute(
                    """
                    INSERT INTO outbox (tenant_id, exchange, routing_key, message_id, message_type, body)
                    VALUES (\(b.tenant), 'x', 'x', 'x', 'sync_job', '{}')
                    """)
            }
        }
        let untouched = try await IngestStack.count(
            pool, "SELECT count(*) AS n FROM invoices WHERE tenant_id = \(b.tenant) AND notes IS NULL")
        #expect(untouched == 1)
        // As the runtime role, the intake works for its own tenant (the grants are enough).
        let rolePool = PostgresPool(configuration: try IngestStack.postgres(user: role), maxConnections: 2, logger: IngestStack.logger)
        defer { rolePool.close() }
        let results = try await IngestStack.store(rolePool).process([
            IntakeItem.amqp(EventFactory.invoice(tenant: a.tenant, location: a.location, invoiceID: "a2")),
            IntakeItem.amqp(EventFactory.invoice(tenant: a.tenant, location: a.location, invoiceID: "a2", version: 2, key: "a2v2", type: "invoice.updated")),
            IntakeItem.amqp(Array("not json".utf8)),
        ])
        #expect(results.map(\.outcome.label) == ["accepted", "accepted", "rejected"])
        // And so does the HTTP intake (signing secrets, replay records, idempotency answers).
        try await HTTPHarness.with(pool: rolePool) { http in
            let answer = try await http.post(
                EventFactory.invoice(tenant: a.tenant, location: a.location, invoiceID: "a3"), tenant: a.tenant,
                secret: a.secret, key: "rls-http")
            #expect(answer.status == 202, "\(answer.text)")
            let again = try await http.post(
                EventFactory.invoice(tenant: a.tenant, location: a.location, invoiceID: "a3"), tenant: a.tenant,
                secret: a.secret, key: "rls-http", timestamp: Int64(Date().timeIntervalSince1970) - 5)
            #expect(again.status == 200)
        }
        // The relay role reads and marks every tenant's outbox rows.
        let relayRole = "ingest_rls_relay_\(UUID().uuidString.prefix(8).lowercased())"
        try await pool.execute(PostgresQuery(unsafeSQL: "CREATE ROLE \(relayRole) LOGIN"))
        try await pool.execute(PostgresQuery(unsafeSQL: "GRANT ledgerline_outbox_relay TO \(relayRole)"))
        let relayConnection = try await PostgresConnection.connect(
            configuration: try IngestStack.postgres(user: relayRole), logger: IngestStack.logger)
        let visible = try await relayConnection.query(
            "SELECT count(DISTINCT tenant_id) AS n FROM outbox WHERE tenant_id IN (\(a.tenant), \(b.tenant))")
        #expect(try visible[0].decode(Int.self, "n") == 2)
        relayConnection.close()
        _ = try? await pool.execute(PostgresQuery(unsafeSQL: "DROP OWNED BY \(relayRole)"))
        _ = try? await pool.execute(PostgresQuery(unsafeSQL: "DROP ROLE \(relayRole)"))
    }

    @Test func everyIngestTableWithATenantIsForcedUnderRowLevelSecurity() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let rows = try await pool.query(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r'
              AND c.relname = ANY(\(["tenant_signing_secrets", "erp_connections", "inbound_events", "ingest_rejections",
                                     "customers", "invoices", "invoice_lines", "invoice_tax_lines", "vehicles", "payments",
                                     "parked_events", "http_idempotency_keys", "http_signature_replays", "outbox"]))
            """)
        #expect(rows.count == 14)
        for row in rows {
            let name = try row.decode(String.self, "relname")
            #expect(try row.decode(Bool.self, "relrowsecurity"), "\(name)")
            #expect(try row.decode(Bool.self, "relforcerowsecurity"), "\(name)")
        }
        // The runtime role has no more than it needs: no DELETE on invoices, nothing on the relay's updates.
        let privileges = try await pool.query(
            """
            SELECT has_table_privilege('ledgerline_ingest', 'invoices', 'DELETE') AS delete_invoices,
                   has_table_privilege('ledgerline_ingest', 'outbox', 'UPDATE') AS update_outbox,
                   has_table_privilege('ledgerline_ingest', 'tenant_signing_secrets', 'INSERT') AS write_secrets,
                   has_table_privilege('ledgerline_outbox_relay', 'invoices', 'SELECT') AS relay_reads_invoices
            """)
        #expect(try !privileges[0].decode(Bool.self, "delete_invoices"))
        #expect(try !privileges[0].decode(Bool.self, "update_outbox"))
        #expect(try !privileges[0].decode(Bool.self, "write_secrets"))
        #expect(try !privileges[0].decode(Bool.self, "relay_reads_invoices"))
    }
}
