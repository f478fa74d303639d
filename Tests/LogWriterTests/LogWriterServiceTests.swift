import AMQP
import AuditTrail
import Domain
import Foundation
@testable import LogWriter
import Logging
import Postgres
import Runtime
import TestSupport
import Testing

/// The log writer against real RabbitMQ and Postgres. Serialized: the tests share `log-writer.audit`.
@Suite(.requiresPostgres, .requiresRabbitMQ, .serialized) struct LogWriterServiceTests {
    static let queue = "log-writer.audit"
    static let deadQueue = "log-writer.audit.dead"

    /// Declares the topology from `deploy/rabbitmq/topology.json` and empties the log writer's queues.
    static func prepareBroker() async throws -> AMQPAdmin {
        let admin = try await AMQPAdmin.connect(configuration: try TestStack.amqp(), logger: TestStack.logger)
        let topology = try TopologyFile.load(
            from: TestEnvironment.repositoryRoot.appendingPathComponent("deploy/rabbitmq/topology.json"))
        try await admin.declare(topology)
        try await admin.purgeQueue(queue)
        try await admin.purgeQueue(deadQueue)
        return admin
    }

    static func publish(_ events: [AuditEvent]) async throws {
        let publisher = try await AMQPPublisher(configuration: try TestStack.amqp(), logger: TestStack.logger)
        let encoder = WireFormat.encoder()
        let requests = try events.map { event in
            AMQPPublishRequest(
                AMQPMessage(
                    body: Array(try encoder.encode(event)), messageID: event.auditID.uuidString,
                    contentType: "application/json"),
                exchange: "ledgerline.audit", routingKey: event.routingKey)
        }
        let results = try await publisher.publish(batch: requests)
        await publisher.close()
        for result in results { #expect(try result.get() == .confirmed) }
    }

    static func publishRaw(_ body: String) async throws {
        let publisher = try await AMQPPublisher(configuration: try TestStack.amqp(), logger: TestStack.logger)
        _ = try await publisher.publish(AMQPMessage(text: body), exchange: "ledgerline.audit", routingKey: "test.garbage")
        await publisher.close()
    }

    /// A log writer that logs in as a member of `ledgerline_service`, running until `body` returns.
    static func withLogWriter<Result: Sendable>(
        login: String, batchSize: Int = 50, prefetch: UInt16 = 100, health: HealthRegistry? = nil,
        _ body: @Sendable (LogWriterService) async throws -> Result
    ) async throws -> Result {
        var configuration = LogWriterConfiguration()
        configuration.batchSize = batchSize
        configuration.prefetch = prefetch
        configuration.batchWait = .milliseconds(20)
        configuration.retryInitial = .milliseconds(50)
        configuration.retryMax = .milliseconds(300)
        var postgres = try TestStack.postgres(user: login)
        postgres.statementTimeout = .seconds(5)
        let pool = PostgresPool(configuration: postgres, maxConnections: 2, logger: TestStack.logger)
        defer { pool.close() }
        let service = LogWriterService(
            configuration: configuration, amqp: try TestStack.amqp(), writer: AuditTrailWriter(pool: pool),
            health: health, logger: TestStack.logger)
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try await service.run()
                return nil
            }
            let result: Result
            do {
                result = try await body(service)
            } catch {
                service.stop()
                try? await group.waitForAll()
                throw error
            }
            service.stop()
            try await group.waitForAll()
            return result
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRunOfIngestAndWorkerEventsBecomesSessionsCountsAndReasonsWithDuplicatesStoredOnce() async throws {
        let owner = try await TestStack.ownerPool()
        defer { owner.close() }
        let admin = try await Self.prepareBroker()
        defer { Task { await admin.close() } }
        let login = try await TestStack.createLogin(member: "ledgerline_service", on: owner)
        let fixture = SyncRunFixture(tenant: TestStack.unique("amqp"))
        var poison = fixture.scenario
        var withNul = poison.synced(nil, .invoice, "Invoice Created", .succeeded, number: "9999")
        withNul.message = "bad\u{0}byte"
        let invalid = withNul
        // Valid JSON and valid by the contract checks, but the database refuses it as data (attempt
        // overflows integer: SQLSTATE 22003): the batch is split until that one event is found.
        var overflow = poison.synced(nil, .invoice, "Invoice Created", .succeeded, number: "9998")
        overflow.attempt = 3_000_000_000
        let refused = overflow

        try await Self.withLogWriter(login: login) { _ in
            try await Self.publish(Array(fixture.events[..<6]) + [refused] + Array(fixture.events[6...]))
            try await Self.publishRaw("{not json")
            try await Self.publish([invalid])
            try await Self.publish(fixture.duplicates)
            try await TestStack.eventually("the run stored and the queue drained") {
                let stored = try await TestStack.auditRowCount(fixture.tenant, owner)
                let ready = try await admin.queueStatus(Self.queue)?.messageCount ?? -1
                let dead = try await admin.queueStatus(Self.deadQueue)?.messageCount ?? -1
                return stored == fixture.events.count && ready == 0 && dead == 3
            }
        }
        // Consumed and acknowledged: nothing is left, and nothing went twice.
        #expect(try await admin.queueStatus(Self.queue)?.messageCount == 0)
        #expect(try await TestStack.auditRowCount(fixture.tenant, owner) == fixture.events.count)

        try await owner.withConnection { connection in
            let sessions = try await SyncLog.sessions(SyncLogFilter(tenantID: fixture.tenant), on: connection, logger: TestStack.logger)
            #expect(sessions.count == 3)
            let run = try #require(sessions.first { $0.sessionID == fixture.session })
            #expect(run.customers == SyncCounter(created: 1, updated: 0, skipped: 1, failed: 0))
            #expect(run.invoices == SyncCounter(created: 1, updated: 1, skipped: 0, failed: 1))
            #expect(run.payments == SyncCounter(created: 1, updated: 0, skipped: 0, failed: 0))
            #expect(run.result == "completed_with_failures")
            let events = try await SyncLog.events(
                session: fixture.session.uuidString, SyncLogFilter(tenantID: fixture.tenant, result: "not_synced"),
                on: connection, logger: TestStack.logger)
            #expect(events.map(\.reasonCode) == ["customer.inactive", "erp.rejected_data"])
            #expect(events.map(\.erpMessage) == ["Only active customers are synced", "Account code '400' has been archived"])
            let verification = try await AuditVerifier().verify(tenant: fixture.tenant, on: connection, logger: TestStack.logger)
            #expect(verification.isIntact)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aFailingDatabaseHoldsTheBatchBackPressuresTheQueueAndLosesNothing() async throws {
        let owner = try await TestStack.ownerPool()
        defer { owner.close() }
        let admin = try await Self.prepareBroker()
        defer { Task { await admin.close() } }
        let login = try await TestStack.createLogin(member: "ledgerline_service", on: owner)
        var scenario = AuditScenario(tenant: TestStack.unique("down"))
        let events = (1...60).map { scenario.synced(nil, .invoice, "Invoice Created", .succeeded, number: "\($0)") }
        let tenant = scenario.tenant.rawValue
        let health = HealthRegistry()

        // The database refuses the writer (its role lost its grants) until we give them back.
        try await owner.execute(PostgresQuery(unsafeSQL: "REVOKE ledgerline_service FROM \(login)"))
        try await Self.withLogWriter(login: login, batchSize: 10, prefetch: 20, health: health) { _ in
            try await Self.publish(events)
            try await TestStack.eventually("the writer holds a failing batch") {
                health.snapshot.contains { $0.component == "log-writer" && $0.status != .healthy }
            }
            try await Task.sleep(for: .seconds(1))
            // Nothing stored, nothing acked: 20 unacknowledged in the writer (prefetch), 40 wait in the queue.
            #expect(try await TestStack.auditRowCount(tenant, owner) == 0)
            #expect(try await admin.queueStatus(Self.queue)?.messageCount == 40)
            #expect(try await admin.queueStatus(Self.deadQueue)?.messageCount == 0)

            try await owner.execute(PostgresQuery(unsafeSQL: "GRANT ledgerline_service TO \(login)"))
            try await TestStack.eventually("everything stored after the database recovered") {
                let stored = try await TestStack.auditRowCount(tenant, owner)
                let ready = try await admin.queueStatus(Self.queue)?.messageCount
                return stored == events.count && ready == 0
            }
            #expect(health.snapshot.first { $0.component == "log-writer" }?.status == .healthy)
        }
        #expect(try await TestStack.auditRowCount(tenant, owner) == events.count)
        #expect(try await admin.queueStatus(Self.deadQueue)?.messageCount == 0, "nothing dead-lettered by retries")
        let verification = try await owner.withConnection {
            try await AuditVerifier().verify(tenant: tenant, on: $0, logger: TestStack.logger)
        }
        #expect(verification.isIntact)
    }

    @Test(.timeLimit(.minutes(1)))
    func shutdownWhileTheDatabaseFailsRequeuesEverythingUncommitted() async throws {
        let owner = try await TestStack.ownerPool()
        defer { owner.close() }
        let admin = try await Self.prepareBroker()
        defer { Task { await admin.close() } }
        let login = try await TestStack.createLogin(member: "ledgerline_service", on: owner)
        var scenario = AuditScenario(tenant: TestStack.unique("stop"))
        let events = (1...15).map { scenario.synced(nil, .payment, "Payment Applied", .succeeded, number: "\($0)") }
        let tenant = scenario.tenant.rawValue
        let health = HealthRegistry()

        try await owner.execute(PostgresQuery(unsafeSQL: "REVOKE ledgerline_service FROM \(login)"))
        try await Self.withLogWriter(login: login, batchSize: 10, prefetch: 20, health: health) { _ in
            try await Self.publish(events)
            try await TestStack.eventually("the writer holds a failing batch") {
                health.snapshot.contains { $0.component == "log-writer" && $0.status != .healthy }
            }
        }
        // The writer stopped: the held batch and the buffered rest are back in the queue.
        try await TestStack.eventually("all 15 requeued") { try await admin.queueStatus(Self.queue)?.messageCount == 15 }
        #expect(try await TestStack.auditRowCount(tenant, owner) == 0)

        // A new writer with its grants back stores each event once.
        try await owner.execute(PostgresQuery(unsafeSQL: "GRANT ledgerline_service TO \(login)"))
        try await Self.withLogWriter(login: login) { _ in
            try await TestStack.eventually("stored after the restart") {
                let stored = try await TestStack.auditRowCount(tenant, owner)
                let ready = try await admin.queueStatus(Self.queue)?.messageCount
                return stored == events.count && ready == 0
            }
        }
        let sessions = try await owner.withConnection {
            try await SyncLog.sessions(SyncLogFilter(tenantID: tenant), on: $0, logger: TestStack.logger)
        }
        #expect(sessions.map(\.payments.created).reduce(0, +) == 15)
        #expect(try await admin.queueStatus(Self.deadQueue)?.messageCount == 0)
    }

    @Test(.timeLimit(.minutes(1)))
    func aSlowDatabaseBackPressuresTheQueueUntilItAnswers() async throws {
        let owner = try await TestStack.ownerPool()
        defer { owner.close() }
        let admin = try await Self.prepareBroker()
        defer { Task { await admin.close() } }
        let login = try await TestStack.createLogin(member: "ledgerline_service", on: owner)
        var scenario = AuditScenario(tenant: TestStack.unique("slow"))
        let events = (1...50).map { scenario.synced(nil, .customer, "Customer Created", .succeeded, number: "\($0)") }
        let tenant = scenario.tenant.rawValue

        // Another transaction holds the tenant's chain head: every write of this tenant waits.
        let blocker = try await PostgresConnection.connect(configuration: try TestStack.postgres(), logger: TestStack.logger)
        defer { blocker.close() }
        try await blocker.execute("BEGIN")
        try await blocker.execute(
            "INSERT INTO audit_chain_heads (tenant_id, last_seq, last_hash) VALUES (\(tenant), 0, \(AuditChain.genesisHash))")
        try await Self.withLogWriter(login: login, batchSize: 10, prefetch: 20) { _ in
            try await Self.publish(events)
            try await Task.sleep(for: .seconds(1))
            #expect(try await TestStack.auditRowCount(tenant, owner) == 0)
            #expect(try await admin.queueStatus(Self.queue)?.messageCount == 30, "the prefetch window holds 20")
            try await blocker.execute("COMMIT")
            try await TestStack.eventually("stored once the database answers") {
                let stored = try await TestStack.auditRowCount(tenant, owner)
                let ready = try await admin.queueStatus(Self.queue)?.messageCount
                return stored == events.count && ready == 0
            }
        }
        #expect(try await admin.queueStatus(Self.deadQueue)?.messageCount == 0)
    }
}
