import AMQP
import Connectors
import Domain
import Foundation
import HTTP
import Logging
import Postgres
import Runtime
import TestSupport
import Testing
import WorkerRuntime

/// The real `worker-quickbooks-online` executable runs an initial sync from RabbitMQ, is killed with SIGKILL in the
/// middle, and a second worker process finishes it from the checkpoint.
@Suite("Initial sync survives kill -9 of the worker process", .requiresPostgres, .requiresRabbitMQ, .serialized)
struct WorkerKillTests {
    let logger = TwoWayStack.logger

    static var workerExecutable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("worker-quickbooks-online")
    }

    static func startWorker(id: String) throws -> Process {
        let process = Process()
        process.executableURL = workerExecutable
        var environment = ProcessInfo.processInfo.environment
        environment["LEDGERLINE_ADMIN_PORT"] = "0"
        environment["LEDGERLINE_LOG_LEVEL"] = "error"
        environment["LEDGERLINE_SECRETS_KEY"] = Data(repeating: 5, count: 32).base64EncodedString()
        environment["LEDGERLINE_WORKER_ID"] = id
        environment["LEDGERLINE_PULL_LEASE_SECONDS"] = "4"
        environment["LEDGERLINE_POSTGRES_POOL_SIZE"] = "6"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    @Test("kill -9 mid initial sync (5,000 customers, 20,000 invoices), restart: completes once, exact counts, no 429",
          .timeLimit(.minutes(3)))
    func killNineAndResume() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.workerExecutable.path), "build worker-quickbooks-online first")
        let pool = try await TwoWayStack.pool()
        defer { pool.close() }
        try await TwoWaySim.with(rateLimits: true) { sim in
            // The worker sweeps every `quickbooks-online` connection of this database: only this test uses that slug.
            let fixture = try await TwoWayFixture.make(pool, erp: .quickbooksOnline, slug: "quickbooks-online")
            try await sim.connect(fixture, store: fixture.store())
            let seeded = try await sim.control(
                .post, "/_sim/seed",
                #"{"company":"quickbooks-online:\#(TwoWaySim.realm)","customers":5000,"invoices":20000}"#)
            let total = ((seeded["customers"] as? NSNumber)?.intValue ?? 0) + ((seeded["invoices"] as? NSNumber)?.intValue ?? 0)

            var amqp = try AMQPConfiguration(
                url: TestEnvironment.amqpURL ?? "amqp://guest@127.0.0.1:5672/%2F", password: TestEnvironment.amqpPassword)
            amqp.connectTimeout = .seconds(3)
            let topology = try TopologyFile.load(
                from: TestEnvironment.repositoryRoot.appendingPathComponent("deploy/rabbitmq/topology.json"))
            try await topology.declare(configuration: amqp, logger: logger)
            let admin = try await AMQPAdmin.connect(configuration: amqp, logger: logger)
            _ = try await admin.purgeQueue(ERP.quickbooksOnline.jobQueue)
            await admin.close()
            let publisher = try await AMQPPublisher(configuration: amqp, logger: logger)
            let job = fixture.job(.initialSync, trigger: .initial)
            let message = AMQPMessage(body: Array(try WireFormat.encoder().encode(job)), contentType: "application/json")
            #expect(
                try await publisher.publish(batch: [
                    AMQPPublishRequest(message, exchange: "ledgerline.jobs", routingKey: ERP.quickbooksOnline.jobRoutingKey)
                ]).first?.get() == .confirmed)
            await publisher.close()

            let first = try Self.startWorker(id: "kill-me")
            var deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline, try await fixture.run("initial").records < 8000 {
                try await Task.sleep(for: .milliseconds(50))
            }
            kill(first.processIdentifier, SIGKILL)
            first.waitUntilExit()
            #expect(first.terminationReason == .uncaughtSignal && first.terminationStatus == SIGKILL)
            let atKill = try await fixture.run("initial")
            #expect(atKill.records >= 8000 && atKill.records < Int64(total), "killed mid-run: \(atKill)")

            let second = try Self.startWorker(id: "successor")
            defer {
                second.terminate()
                second.waitUntilExit()
            }
            deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline, try await fixture.run("initial").state != "completed" {
                try await Task.sleep(for: .milliseconds(200))
            }
            let done = try await fixture.run("initial")
            #expect(done.state == "completed", "\(done)")
            #expect(done.records == Int64(total), "\(done)")
            #expect(try await fixture.count(
                "SELECT count(*) FROM erp_records WHERE tenant_id = \(fixture.tenant)") == Int64(total))
            let imported = try await fixture.count(
                """
                SELECT count(*) FROM outbox WHERE tenant_id = \(fixture.tenant)
                  AND body->>'action' IN ('Customer Imported', 'Invoice Imported')
                """)
            #expect(imported == Int64(total), "one event per record, none twice")
            #expect(try await sim.stats()["rate_limited"] == 0, "stays within QuickBooks' limits")
        }
    }
}
