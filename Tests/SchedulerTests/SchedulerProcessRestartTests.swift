import AMQP
import Domain
import Foundation
import Postgres
import Runtime
import SchedulerCore
import Scheduling
import TestSupport
import Testing

/// The built `scheduler` executable as a child process.
struct SchedulerProcess {
    let process: Process
    let logFile: URL
    let instance: String

    static func executable() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [URL] = []
        if let explicit = environment["LEDGERLINE_SCHEDULER_BINARY"] { candidates.append(URL(fileURLWithPath: explicit)) }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("scheduler"))
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("scheduler"))
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        throw MissingExecutable(searched: candidates.map(\.path))
    }

    struct MissingExecutable: Error, CustomStringConvertible {
        var searched: [String]
        var description: String { "the scheduler executable was not found (swift build --build-tests); looked in \(searched)" }
    }

    init(instance: String, _ extra: [String: String]) throws {
        var environment = ProcessInfo.processInfo.environment
        environment["LEDGERLINE_ADMIN_PORT"] = "0"
        environment["LEDGERLINE_LOG_FORMAT"] = "text"
        environment["LEDGERLINE_LOG_LEVEL"] = "info"
        environment["LEDGERLINE_SHUTDOWN_GRACE_SECONDS"] = "10"
        environment["LEDGERLINE_SCHEDULER_INSTANCE_ID"] = instance
        environment["LEDGERLINE_SCHEDULER_JOBS_EXCHANGE"] = SchedulerStack.jobsExchange
        environment["LEDGERLINE_SCHEDULER_AUDIT_EXCHANGE"] = SchedulerStack.auditExchange
        environment["LEDGERLINE_SCHEDULER_DEFAULT_INTERVAL"] = "off"
        environment["LEDGERLINE_SCHEDULER_DEFAULT_PULL"] = "off"
        environment["LEDGERLINE_SCHEDULER_DEFAULT_INITIAL"] = "false"
        environment["LEDGERLINE_SCHEDULER_LEADER_RETRY_SECONDS"] = "0.2"
        environment["LEDGERLINE_SCHEDULER_MAX_IDLE_SECONDS"] = "0.5"
        environment["LEDGERLINE_OUTBOX_POLL_SECONDS"] = "0.2"
        for (key, value) in extra { environment[key] = value }
        logFile = FileManager.default.temporaryDirectory.appendingPathComponent("scheduler-\(instance)-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logFile)
        process = Process()
        process.executableURL = try Self.executable()
        process.environment = environment
        process.standardOutput = handle
        process.standardError = handle
        self.instance = instance
        try process.run()
    }

    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }
    func kill9() { kill(process.processIdentifier, SIGKILL) }
    func terminate() { kill(process.processIdentifier, SIGTERM) }

    /// Waits for exit; nil after `timeout` (then kills it).
    func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                kill9()
                return nil
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }
}

/// Two `scheduler` processes on the real clock against real Postgres and RabbitMQ; the leader is killed with
/// SIGKILL. (Named …RestartTests: it kills processes and runs apart from the other suites.)
@Suite("Scheduler processes", .requiresPostgres, .requiresRabbitMQ, .serialized, .timeLimit(.minutes(2)))
struct SchedulerProcessRestartTests {
    @Test func killingTheLeaderWithSIGKILLHandsOverWithinSecondsWithoutLosingOrDoublingAWindow() async throws {
        let pool = try await SchedulerStack.pool()
        defer { pool.close() }
        let amqp = try SchedulerStack.amqp()
        let fixture = try await Fixture.make(pool, zones: ["America/New_York", "Australia/Sydney", "Europe/London"])
        for location in fixture.connections.keys {
            try await fixture.addInvoices(pool, location: location, ids: ["\(location)-inv"], day: "2026-11-22")
        }
        try await fixture.setTriggerEverywhere(pool, kind: .interval, intervalSeconds: 2, anchor: Date())

        // Taps on the tests' exchanges: every job and session event the relays publish.
        let jobsQueue = SchedulerStack.unique("scheduler-test.jobs-tap")
        let auditQueue = SchedulerStack.unique("scheduler-test.audit-tap")
        let admin = try await AMQPAdmin.connect(configuration: amqp, logger: SchedulerStack.logger)
        try await admin.declare(AMQPTopology(
            exchanges: [AMQPExchange(name: SchedulerStack.jobsExchange, kind: .direct),
                        AMQPExchange(name: SchedulerStack.auditExchange, kind: .topic)],
            queues: [AMQPQueue(name: jobsQueue), AMQPQueue(name: auditQueue)],
            bindings: [AMQPBinding(queue: jobsQueue, exchange: SchedulerStack.jobsExchange, routingKey: "xero"),
                       AMQPBinding(queue: auditQueue, exchange: SchedulerStack.auditExchange, routingKey: "scheduler.#")]))
        defer {
            Task {
                _ = try? await admin.deleteQueue(jobsQueue)
                _ = try? await admin.deleteQueue(auditQueue)
                await admin.close()
            }
        }

        let settings = [
            "LEDGERLINE_SCHEDULER_TENANT_PREFIX": fixture.prefix,
            "LEDGERLINE_SCHEDULER_LOCK_KEY": String(Int64.random(in: 1_000_000...Int64.max / 2)),
        ]
        let processes = try ["a", "b"].map { try SchedulerProcess(instance: "\(fixture.prefix)\($0)", settings) }
        defer { processes.forEach { $0.kill9() } }

        try await eventually("the first fires", timeout: .seconds(30)) { try await fixture.fires(pool).count >= 6 }
        try await Task.sleep(for: .seconds(3))
        let leaderName = try await fixture.fires(pool).last!.firedBy
        let leader = processes.first { $0.instance == leaderName }!
        let standby = processes.first { $0.instance != leaderName }!
        leader.kill9()
        let killedAt = Date()
        #expect(await leader.waitForExit(timeout: .seconds(5)) != nil)
        try await eventually("the standby's first fire", timeout: .seconds(10)) {
            try await fixture.fires(pool).contains { $0.firedBy == standby.instance }
        }
        let takeover = try await fixture.fires(pool).filter { $0.firedBy == standby.instance }.map(\.firedAt).min()!
            .timeIntervalSince(killedAt)
        #expect(takeover < 4, "took over after \(takeover) s")
        try await Task.sleep(for: .seconds(4))
        standby.terminate()
        #expect(await standby.waitForExit(timeout: .seconds(20)) == 0, "graceful shutdown: \(standby.log.suffix(2000))")

        let fires = try await fixture.fires(pool)
        for connection in fixture.connections.values {
            let windows = fires.filter { $0.connectionID == connection }.map(\.scheduledFor)
            #expect(Set(windows).count == windows.count, "no window doubled")
            for (a, b) in zip(windows, windows.dropFirst()) {
                #expect(b.timeIntervalSince(a) == 2, "no window lost between \(a) and \(b)")
            }
        }
        #expect(fires.allSatisfy { $0.jobs == 1 })

        // Everything written was relayed: every job and both session events of every fire, once each at least.
        let unpublished = try await pool.query(
            "SELECT count(*) AS n FROM outbox WHERE tenant_id = \(fixture.tenant) AND published_at IS NULL")
        let leftover = try unpublished.first!.decode(Int.self, "n")
        #expect(leftover == 0)
        let jobs = try await Self.collect(amqp, queue: jobsQueue, count: fires.count)
        let decoded = try jobs.map { try WireFormat.decoder().decode(SyncJob.self, from: Data($0.body)) }
        #expect(Set(decoded.compactMap(\.sessionID)) == Set(fires.map(\.sessionID)))
        #expect(decoded.allSatisfy { $0.trigger == .interval && $0.kind == .pushInvoice })
        let events = try await Self.collect(amqp, queue: auditQueue, count: 2 * fires.count)
        let audits = try events.map { try WireFormat.decoder().decode(AuditEvent.self, from: Data($0.body)) }
        #expect(Set(audits.filter { $0.kind == .sessionOpened }.compactMap(\.sessionID)) == Set(fires.map(\.sessionID)))
        #expect(Set(audits.filter { $0.kind == .sessionClosed }.compactMap(\.sessionID)) == Set(fires.map(\.sessionID)))
    }

    @Test func aPostgresRestartCostsTheLeaderItsLockAndNothingFiresTwice() async throws {
        let pool = try await SchedulerStack.pool()
        let fixture = try await Fixture.make(pool, zones: ["Europe/London", "Asia/Tokyo"])
        try await fixture.setTriggerEverywhere(pool, kind: .interval, intervalSeconds: 2, anchor: Date())
        pool.close()
        let settings = [
            "LEDGERLINE_SCHEDULER_TENANT_PREFIX": fixture.prefix,
            "LEDGERLINE_SCHEDULER_LOCK_KEY": String(Int64.random(in: 1_000_000...Int64.max / 2)),
            "LEDGERLINE_SCHEDULER_RELAY_ENABLED": "false",
        ]
        let processes = try ["a", "b"].map { try SchedulerProcess(instance: "\(fixture.prefix)\($0)", settings) }
        defer { processes.forEach { $0.kill9() } }
        let before = try await SchedulerStack.pool()
        try await eventually("the first fires", timeout: .seconds(30)) { try await fixture.fires(before).count >= 4 }
        before.close()
        try await TestEnvironment.stackAsync("restart-postgres")
        let restartedAt = Date()
        let after = try await SchedulerStack.pool()
        defer { after.close() }
        try await eventually("fires after the restart", timeout: .seconds(30)) {
            try await fixture.fires(after).filter { $0.firedAt > restartedAt.addingTimeInterval(1) }.count >= 6
        }
        for process in processes { process.terminate() }
        for process in processes { #expect(await process.waitForExit(timeout: .seconds(20)) == 0, "\(process.log.suffix(1500))") }
        let fires = try await fixture.fires(after)
        for connection in fixture.connections.values {
            let windows = fires.filter { $0.connectionID == connection }.map(\.scheduledFor)
            #expect(Set(windows).count == windows.count, "no window doubled")
            // Windows missed while the database was down are skipped by the policy (latest only), never doubled.
            for (a, b) in zip(windows, windows.dropFirst()) { #expect(b > a) }
            #expect(windows.contains { $0 > restartedAt })
        }
        let log = processes.map(\.log).joined()
        #expect(log.contains("Elected leader"))
    }

    /// Reads `count` distinct messages (by message id) from `queue`, or what arrived within 15 s.
    static func collect(_ amqp: AMQPConfiguration, queue: String, count: Int) async throws -> [AMQPMessage] {
        let consumer = try await AMQPConsumer(configuration: amqp, queue: queue, prefetch: 500, logger: SchedulerStack.logger)
        let messages = try await withTimeLimit(.seconds(15), what: "\(count) messages on \(queue)") {
            var seen: [String: AMQPMessage] = [:]
            for try await delivery in consumer.deliveries() {
                try consumer.ack(delivery)
                seen[delivery.message.messageID ?? UUID().uuidString] = delivery.message
                if seen.count >= count { break }
            }
            return Array(seen.values)
        }
        await consumer.close()
        return messages
    }
}
