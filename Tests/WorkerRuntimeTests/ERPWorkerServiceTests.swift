import AMQP
import Connectors
import Domain
import Foundation
import Logging
import Postgres
import Runtime
import ServiceLifecycle
import TestSupport
import Testing
import WorkerRuntime

@Suite("ERP worker service over RabbitMQ", .requiresPostgres, .requiresRabbitMQ, .serialized, .timeLimit(.minutes(1)))
struct ERPWorkerServiceTests {
    let logger = WorkerStack.logger

    @Test("Consumes jobs, acks after commit, sweeps deferred jobs and dead claims back, shuts down gracefully")
    func endToEnd() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool, erpSlug: "xero")
        // The sweeper serves every active connection of its ERP: retire those of earlier runs.
        try await pool.execute(
            "UPDATE erp_connections SET status = 'disconnected' WHERE erp = 'xero' AND tenant_id <> \(fixture.tenant)")
        let amqp = try WorkerStack.amqp()
        let exchange = "worker-test.jobs"
        let queue = WorkerStack.unique("worker-test.queue")
        let admin = try await AMQPAdmin.connect(configuration: amqp, logger: logger)
        try await admin.declare(
            AMQPTopology(
                exchanges: [AMQPExchange(name: exchange, kind: .direct)], queues: [AMQPQueue(name: queue)],
                bindings: [AMQPBinding(queue: queue, exchange: exchange, routingKey: ERP.xero.jobRoutingKey)]))
        defer { Task { _ = try? await admin.deleteQueue(queue); await admin.close() } }

        let erp = FakeERP()
        erp.inject(.rateLimited(retryAfterSeconds: 1))
        let store = WorkerStack.store(pool, worker: "service-1")
        var configuration = ERPWorkerConfiguration(erp: .xero, capabilities: TestConnector.capabilities)
        configuration.queue = queue
        configuration.jobsExchange = exchange
        configuration.sweepInterval = .milliseconds(200)
        configuration.sweepGuard = .seconds(5)
        let service = ERPWorkerService<TestConnector>(
            amqp: amqp, processor: WorkerStack.processor(store, erp: erp), configuration: configuration, logger: logger)
        #expect(configuration.concurrency == 4)

        let invoices = ["s-1", "s-2", "s-3"]
        for (index, invoice) in invoices.enumerated() { try await fixture.invoice(invoice, customer: "sc-\(index)") }
        // A worker claimed s-dead, recorded its key and died: no message is left; the sweeper brings the job back
        // when the lease ends.
        try await fixture.invoice("s-dead", customer: "sc-dead")
        let dead = WorkerStack.store(pool, worker: "dead-worker", lease: .seconds(1))
        guard case .claimed(let deadClaim) = try await dead.claim(
            fixture.key("s-dead"), version: 1, job: fixture.job(invoice: "s-dead"), logger: logger)
        else {
            Issue.record("expected a claim")
            return
        }
        try await dead.recordSend(deadClaim, operation: "createInvoice", key: "ci-dead", logger: logger)
        let publisher = try await AMQPPublisher(configuration: amqp, logger: logger)
        let encoder = WireFormat.encoder()
        let requests = try invoices.map { invoice in
            AMQPPublishRequest(
                AMQPMessage(body: Array(try encoder.encode(fixture.job(invoice: invoice))), contentType: "application/json"),
                exchange: exchange, routingKey: ERP.xero.jobRoutingKey)
        } + [
            AMQPPublishRequest(AMQPMessage(text: "not a job"), exchange: exchange, routingKey: ERP.xero.jobRoutingKey)
        ]
        for result in try await publisher.publish(batch: requests) { #expect(try result.get() == .confirmed) }

        let group = ServiceGroup(services: [service], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await eventually("every invoice synced") {
                    var synced = 0
                    for invoice in invoices + ["s-dead"] {
                        if try await store.document(fixture.key(invoice), logger: logger)?.state == .synced { synced += 1 }
                    }
                    return synced == invoices.count + 1
                }
                // A redelivered job for a synced version is acked without an ERP call.
                let before = try await store.document(fixture.key("s-1"), logger: logger)
                for result in try await publisher.publish(batch: [requests[0]]) { #expect(try result.get() == .confirmed) }
                try await eventually("queue drained") { try await admin.queueStatus(queue)?.messageCount == 0 }
                try await Task.sleep(for: .milliseconds(200))
                let after = try await store.document(fixture.key("s-1"), logger: logger)
                #expect(after?.attempt == before?.attempt)
                #expect(after?.state == .synced)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        await publisher.close()
        #expect(erp.invoices.count == 4)
        let audits = try await fixture.audits()
        #expect(audits.filter { $0.action == "Invoice Created" }.count == 4)
        #expect(try await store.document(fixture.key("s-dead"), logger: logger)?.attempt == 2)
        #expect(audits.contains { $0.action == "Invoice Deferred" && $0.reason == "erp.rate_limited" }, "\(audits)")
        #expect(try await admin.queueStatus(queue)?.messageCount == 0)
    }

    @Test("On the real topology (erp.xero.jobs): a job is synced, an undecodable message is dead-lettered")
    func realTopology() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool, erpSlug: "xero")
        try await pool.execute(
            "UPDATE erp_connections SET status = 'disconnected' WHERE erp = 'xero' AND tenant_id <> \(fixture.tenant)")
        let amqp = try WorkerStack.amqp()
        let topology = try TopologyFile.load(
            from: TestEnvironment.repositoryRoot.appendingPathComponent("deploy/rabbitmq/topology.json"))
        try await topology.declare(configuration: amqp, logger: logger)
        let admin = try await AMQPAdmin.connect(configuration: amqp, logger: logger)
        _ = try await admin.purgeQueue(ERP.xero.jobQueue)
        _ = try await admin.purgeQueue(ERP.xero.jobQueue + ".dead")
        let erp = FakeERP()
        let store = WorkerStack.store(pool, worker: "service-topology")
        let service = ERPWorkerService<TestConnector>(
            amqp: amqp, processor: WorkerStack.processor(store, erp: erp), logger: logger)
        try await fixture.invoice("t-1")
        let publisher = try await AMQPPublisher(configuration: amqp, logger: logger)
        let job = AMQPMessage(
            body: Array(try WireFormat.encoder().encode(fixture.job(invoice: "t-1"))), contentType: "application/json")
        for result in try await publisher.publish(batch: [
            AMQPPublishRequest(job, exchange: "ledgerline.jobs", routingKey: ERP.xero.jobRoutingKey),
            AMQPPublishRequest(AMQPMessage(text: "{not json"), exchange: "ledgerline.jobs", routingKey: ERP.xero.jobRoutingKey),
        ]) {
            #expect(try result.get() == .confirmed)
        }
        let group = ServiceGroup(services: [service], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await eventually("the job synced") {
                    try await store.document(fixture.key("t-1"), logger: logger)?.state == .synced
                }
                try await eventually("the bad message dead-lettered") {
                    try await admin.queueStatus(ERP.xero.jobQueue + ".dead")?.messageCount == 1
                }
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let dead = try await AMQPConsumer(configuration: amqp, queue: ERP.xero.jobQueue + ".dead", prefetch: 1, logger: logger)
        let delivery = try await withTimeLimit(.seconds(5), what: "the dead letter") { () async throws -> AMQPDelivery? in
            for try await delivery in dead.deliveries() {
                try dead.ack(delivery)
                return delivery
            }
            return nil
        }
        await dead.close()
        #expect(delivery?.firstDeathReason == "rejected")
        #expect(delivery.map { String(decoding: $0.body, as: UTF8.self) } == "{not json")
        await publisher.close()
        await admin.close()
        #expect(erp.invoices.count == 1)
    }

    func eventually(
        _ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    struct TimedOut: Error, CustomStringConvertible {
        let what: String
        var description: String { "timed out waiting for \(what)" }
    }
}

@Suite("Credentials and least privilege", .requiresPostgres, .timeLimit(.minutes(1)))
struct CredentialAndRoleTests {
    let logger = WorkerStack.logger

    @Test("Sealed credentials open only for their tenant and connection, and never print a token")
    func vaultBindsAssociatedData() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let vault = try CredentialVault(base64Key: Data(repeating: 9, count: 32).base64EncodedString())
        let credentials = CredentialStore(store: WorkerStack.store(pool), vault: vault)
        let secrets = ConnectionSecrets(accessToken: "at-secret-123", refreshToken: "rt-secret-456")
        let tenant = TenantID(fixture.tenant)
        try await credentials.save(secrets, tenantID: tenant, connectionID: fixture.connection, logger: logger)
        #expect(try await credentials.load(tenantID: tenant, connectionID: fixture.connection, logger: logger) == secrets)
        let stored = try await pool.query(
            "SELECT ciphertext, nonce FROM erp_connection_credentials WHERE connection_id = \(fixture.connection)")[0]
        let ciphertext = Array(try stored.decode(Data.self, "ciphertext"))
        let nonce = Array(try stored.decode(Data.self, "nonce"))
        #expect(!String(decoding: ciphertext, as: UTF8.self).contains("at-secret"))
        #expect(throws: WorkerError.self) {
            try vault.open(nonce: nonce, ciphertext: ciphertext, tenantID: tenant, connectionID: UUID())
        }
        #expect(throws: WorkerError.self) {
            try vault.open(nonce: nonce, ciphertext: ciphertext, tenantID: "other", connectionID: fixture.connection)
        }
        #expect(!"\(secrets)".contains("secret"))
        #expect(!String(reflecting: secrets).contains("secret"))
        let provider = StoredAccessTokenProvider(
            credentials: credentials, tenantID: tenant, connectionID: fixture.connection, erp: .xero)
        #expect(try await provider.accessToken(logger: logger).value == "at-secret-123")
        // A store that cannot be read is a transient failure, never "authorization lost".
        let closed = try await WorkerStack.pool()
        closed.close()
        let unreadable = StoredAccessTokenProvider(
            credentials: CredentialStore(store: WorkerStack.store(closed), vault: vault), tenantID: tenant,
            connectionID: fixture.connection, erp: .xero)
        let failure = await #expect(throws: ConnectorFailure.self) { try await unreadable.accessToken(logger: logger) }
        #expect(failure?.reason == .erpTransient)
    }

    @Test("The ledgerline_worker role syncs through RLS and sees no other tenant's state")
    func workerRoleIsTenantScoped() async throws {
        let owner = try await WorkerStack.pool()
        defer { owner.close() }
        let fixture = try await WorkerFixture.make(owner)
        let other = try await WorkerFixture.make(owner)
        let login = "wt_worker_login"
        try await owner.execute(
            PostgresQuery(
                unsafeSQL: """
                    DO $$ BEGIN
                        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '\(login)') THEN
                            CREATE ROLE \(login) LOGIN IN ROLE ledgerline_worker;
                        END IF;
                    END $$
                    """))
        var configuration = try WorkerStack.postgres()
        configuration.user = login
        let pool = PostgresPool(configuration: configuration, maxConnections: 4, logger: logger)
        defer { pool.close() }
        let store = WorkerStack.store(pool, worker: "least-privilege")
        let erp = FakeERP()
        try await fixture.invoice("lp-1")
        try await other.invoice("lp-1")
        let processor = WorkerStack.processor(store, erp: erp)
        #expect(try await processor.process(fixture.job(invoice: "lp-1"), logger: logger) == .synced(action: "Invoice Created"))
        #expect(try await fixture.audits().count == 1)
        // Another tenant's rows are invisible inside this tenant's transaction.
        let visible = try await store.inTenant(TenantID(fixture.tenant), logger: logger) { connection in
            try await connection.query(
                "SELECT count(*)::int AS n FROM invoices WHERE invoice_id = 'lp-1'", logger: logger)[0].decode(Int.self, "n")
        }
        #expect(visible == 1)
        let outside = try await pool.query("SELECT count(*)::int AS n FROM sync_documents")[0].decode(Int.self, "n")
        #expect(outside == 0)
        await #expect(throws: PostgresError.self) {
            try await pool.execute("DELETE FROM sync_documents")
        }
        // The failure paths work with the role's rights too: park, needs_reauth, audit rows.
        try await fixture.invoice("lp-2", customer: "c-lp2")
        erp.inject(.unauthorized)
        #expect(try await processor.process(fixture.job(invoice: "lp-2"), logger: logger) == .parked(.erpAuthLost))
        #expect(try await fixture.connectionStatus() == "needs_reauth")
        #expect(try await other.connectionStatus() == "active")
        // The sweeper's function is callable by the role (and finds nothing for an unknown ERP).
        #expect(try await pool.query("SELECT * FROM worker_take_due_jobs('no-such-erp', 10, 60)").isEmpty)
    }

    @Test("The stored connector factory builds the connector from the connection's settings and sealed tokens")
    func storedFactory() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let store = WorkerStack.store(pool)
        let vault = try CredentialVault(base64Key: Data(repeating: 5, count: 32).base64EncodedString())
        let credentials = CredentialStore(store: store, vault: vault)
        let factory = StoredConnectorFactory<TestConnector>(store: store, credentials: credentials)
        let job = fixture.job(invoice: "f-1")
        let missing = await #expect(throws: ConnectorFailure.self) {
            _ = try await factory.make(job, transport: FakeERP(), logger: logger)
        }
        #expect(missing?.reason == .erpConfiguration)
        try await pool.execute(
            """
            INSERT INTO erp_connection_settings (connection_id, tenant_id, api_base_url, company_id, mapping)
            VALUES (\(fixture.connection), \(fixture.tenant), 'http://127.0.0.1:9/api/', 'realm-1',
                    '{"payments": {"deposit_account": {"id": "35"}}}'::jsonb)
            """)
        try await credentials.save(
            ConnectionSecrets(accessToken: "at-f", refreshToken: "rt-f"), tenantID: TenantID(fixture.tenant),
            connectionID: fixture.connection, logger: logger)
        let connector = try await factory.make(job, transport: FakeERP(), logger: logger)
        #expect(connector.context.configuration.baseURL == "http://127.0.0.1:9/api")
        #expect(connector.context.configuration.companyID == "realm-1")
        #expect(connector.context.mapping.payments.depositAccount?.id == "35")
        #expect(try await connector.context.credentials.accessToken(logger: logger).value == "at-f")
    }
}
