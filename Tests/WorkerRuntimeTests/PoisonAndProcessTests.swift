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

extension ERPWorkerServiceTests {
    @Test("A poison job (processing throws every time) dead-letters at the delivery limit while other jobs flow")
    func poisonJobDeadLetters() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let amqp = try WorkerStack.amqp()
        let topology = try TopologyFile.load(
            from: TestEnvironment.repositoryRoot.appendingPathComponent("deploy/rabbitmq/topology.json"))
        try await topology.declare(configuration: amqp, logger: logger)
        let admin = try await AMQPAdmin.connect(configuration: amqp, logger: logger)
        _ = try await admin.purgeQueue(ERP.xero.jobQueue)
        _ = try await admin.purgeQueue(ERP.xero.jobQueue + ".dead")
        let erp = FakeERP()
        let store = WorkerStack.store(pool, worker: "service-poison")
        var configuration = ERPWorkerConfiguration(erp: .xero, capabilities: TestConnector.capabilities)
        configuration.failureRequeueDelay = .milliseconds(20)
        configuration.concurrency = 2
        configuration.prefetch = 4
        let service = ERPWorkerService<TestConnector>(
            amqp: amqp, processor: WorkerStack.processor(store, erp: erp), configuration: configuration, logger: logger)
        // The poison: its canonical invoice cannot be read (currency not ISO 4217), so `process` throws every time.
        try await fixture.invoice("p-poison")
        try await pool.execute(
            "UPDATE invoices SET currency = 'ZZZ' WHERE tenant_id = \(fixture.tenant) AND invoice_id = 'p-poison'")
        let good = (1...6).map { "p-\($0)" }
        for id in good { try await fixture.invoice(id) }
        let publisher = try await AMQPPublisher(configuration: amqp, logger: logger)
        func request(_ id: String) throws -> AMQPPublishRequest {
            AMQPPublishRequest(
                AMQPMessage(body: Array(try WireFormat.encoder().encode(fixture.job(invoice: id))), contentType: "application/json"),
                exchange: "ledgerline.jobs", routingKey: ERP.xero.jobRoutingKey)
        }
        for result in try await publisher.publish(batch: [try request("p-poison")] + good.map(request)) {
            #expect(try result.get() == .confirmed)
        }
        let group = ServiceGroup(services: [service], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await eventually("the good jobs synced") {
                    var synced = 0
                    for id in good where try await store.document(fixture.key(id), logger: logger)?.state == .synced {
                        synced += 1
                    }
                    return synced == good.count
                }
                try await eventually("the poison dead-lettered") {
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
        #expect(delivery?.firstDeathReason == "delivery_limit")
        let body = try #require(delivery?.body)
        #expect(try WireFormat.decoder().decode(SyncJob.self, from: Data(body)).invoiceID == "p-poison")
        #expect(try await admin.queueStatus(ERP.xero.jobQueue)?.messageCount == 0)
        await publisher.close()
        await admin.close()
        #expect(erp.invoices.count == good.count)
    }

    /// The `worker-xero` executable next to the test bundle (built by `swift build --build-tests`).
    static var workerExecutable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("worker-xero")
    }

    static func runWorker(_ extra: [String: String], timeout: Duration = .seconds(20)) async throws -> (
        reason: Process.TerminationReason, status: Int32, stderr: String
    ) {
        let process = Process()
        process.executableURL = workerExecutable
        var environment = ProcessInfo.processInfo.environment
        environment["LEDGERLINE_ADMIN_PORT"] = "0"
        environment["LEDGERLINE_LOG_LEVEL"] = "warning"
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            Issue.record("worker-xero did not exit within \(timeout)")
        }
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationReason, process.terminationStatus, stderr)
    }

    @Test("worker-xero: a malformed LEDGERLINE_SECRETS_KEY or fault setting exits 2 with one configuration line")
    func configurationErrorsExitTwo() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.workerExecutable.path), "build worker-xero first")
        let key = Data(repeating: 1, count: 32).base64EncodedString()
        let badKey = try await Self.runWorker(["LEDGERLINE_SECRETS_KEY": "not-a-key"])
        #expect(badKey.reason == .exit)
        #expect(badKey.status == 2)
        let lines = badKey.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.contains("configuration error: LEDGERLINE_SECRETS_KEY") == true, "\(badKey.stderr)")
        let badPoint = try await Self.runWorker(["LEDGERLINE_SECRETS_KEY": key, "LEDGERLINE_FAULT_CRASH_AT": "after_lunch"])
        #expect(badPoint.status == 2)
        #expect(badPoint.stderr.contains("LEDGERLINE_FAULT_CRASH_AT"), "\(badPoint.stderr)")
    }

    @Test("worker-xero with LEDGERLINE_FAULT_CRASH_AT=after_claim dies by SIGKILL with the claim committed, unacked")
    func crashInjectionKillsTheProcess() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.workerExecutable.path), "build worker-xero first")
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        try await fixture.invoice("k-1")
        let amqp = try WorkerStack.amqp()
        let topology = try TopologyFile.load(
            from: TestEnvironment.repositoryRoot.appendingPathComponent("deploy/rabbitmq/topology.json"))
        try await topology.declare(configuration: amqp, logger: logger)
        let admin = try await AMQPAdmin.connect(configuration: amqp, logger: logger)
        _ = try await admin.purgeQueue(ERP.xero.jobQueue)
        let publisher = try await AMQPPublisher(configuration: amqp, logger: logger)
        let message = AMQPMessage(
            body: Array(try WireFormat.encoder().encode(fixture.job(invoice: "k-1"))), contentType: "application/json")
        #expect(
            try await publisher.publish(batch: [
                AMQPPublishRequest(message, exchange: "ledgerline.jobs", routingKey: ERP.xero.jobRoutingKey)
            ]).first?.get() == .confirmed)
        await publisher.close()
        let run = try await Self.runWorker([
            "LEDGERLINE_SECRETS_KEY": Data(repeating: 1, count: 32).base64EncodedString(),
            "LEDGERLINE_FAULT_CRASH_AT": "after_claim", "LEDGERLINE_FAULT_CRASH_NTH": "1",
            "LEDGERLINE_WORKER_ID": "crash-test", "LEDGERLINE_POSTGRES_POOL_SIZE": "2",
        ])
        #expect(run.reason == .uncaughtSignal)
        #expect(run.status == SIGKILL)
        let document = try await WorkerStack.store(pool).document(fixture.key("k-1"), logger: logger)
        #expect(document?.state == .claimed)
        #expect(document?.workerID == "crash-test")
        // Not acked: the broker holds the delivery again.
        try await eventually("the delivery is back in the queue") {
            try await admin.queueStatus(ERP.xero.jobQueue)?.messageCount == 1
        }
        _ = try await admin.purgeQueue(ERP.xero.jobQueue)
        await admin.close()
    }
}
