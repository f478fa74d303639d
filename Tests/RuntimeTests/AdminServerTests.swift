import BlockingIO
import HTTP
import Logging
import Metrics
import Prometheus
import Runtime
import ServiceLifecycle
import Synchronization
import Testing

/// Runs the admin server on a free port, hands the port to `body`, then shuts the group down.
func withAdminServer(
    health: HealthRegistry, registry: PrometheusCollectorRegistry, _ body: @Sendable (Int) async throws -> Void
) async throws {
    let logger = Logger(label: "t") { StructuredLogHandler(label: $0, level: .warning, format: .json, sink: LogSink()) }
    let (ports, portContinuation) = AsyncStream<Int>.makeStream()
    let server = AdminServer.make(
        name: "test", host: "127.0.0.1", port: 0, health: health, registry: registry, logger: logger
    ) { port in portContinuation.yield(port) }
    let group = ServiceGroup(services: [server], logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        do {
            try await body(port)
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}

struct AdminServerTests {
    let logger = Logger(label: "t") { StructuredLogHandler(label: $0, level: .warning, format: .json, sink: LogSink()) }

    @Test func healthzReflectsComponentsAndMetricsAreExposed() async throws {
        let health = HealthRegistry()
        health.set("postgres", .unhealthy("cannot reach 127.0.0.1:5433"))
        let registry = PrometheusCollectorRegistry()
        let counter = Counter(label: "ledgerline_test_events", dimensions: [("outcome", "ok")],
                              factory: PrometheusMetricsFactory(registry: registry))
        counter.increment(by: 3)
        let client = try HTTPClient(logger: logger)
        defer { client.shutdown() }
        try await withAdminServer(health: health, registry: registry) { port in
            let failing = try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/healthz"), logger: logger)
            #expect(failing.status == 503)
            let failingBody = String(decoding: failing.body, as: UTF8.self)
            #expect(failingBody.contains("\"postgres\":{\"status\":\"failing\",\"reason\":\"cannot reach 127.0.0.1:5433\"}"))

            health.set("postgres", .healthy)
            let healthy = try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/healthz"), logger: logger)
            #expect(healthy.status == 200)
            #expect(String(decoding: healthy.body, as: UTF8.self).contains("\"status\":\"ok\""))

            let metrics = try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/metrics"), logger: logger)
            #expect(metrics.status == 200)
            #expect(String(decoding: metrics.body, as: UTF8.self).contains("ledgerline_test_events{outcome=\"ok\"} 3"))
        }
    }
}

struct DependencyGateTests {
    struct Refused: Error, CustomStringConvertible { var description: String { "connection refused" } }

    @Test func opensOnceEveryDependencyAnswersAndShowsProgressInHealth() async throws {
        let sink = LogSink()
        let logger = Logger(label: "t") { StructuredLogHandler(label: $0, level: .info, format: .json, sink: sink) }
        let health = HealthRegistry()
        let failuresLeft = Mutex(3)
        let gate = DependencyGate(
            checks: [
                DependencyCheck(name: "postgres", endpoint: "db.internal:5432") {
                    let remaining = failuresLeft.withLock { left -> Int in left -= 1; return left }
                    if remaining >= 0 { throw Refused() }
                },
                DependencyCheck(name: "rabbitmq", endpoint: "mq.internal:5672") {},
            ],
            health: health, backoff: Backoff(initial: .milliseconds(5), maximum: .milliseconds(20)), logger: logger)
        #expect(!health.isHealthy)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await gate.run() }
            try await withTimeLimit(.seconds(10), what: "gate") { try await gate.waitUntilOpen() }
            try await tasks.waitForAll()
        }
        #expect(health.isHealthy)
        let retries = sink.captured.filter { $0.contains("Cannot reach dependency; retrying") }
        #expect(retries.count == 3)
        #expect(retries.allSatisfy { $0.contains("\"endpoint\":\"db.internal:5432\"") })
    }

    @Test func shutdownBeforeDependenciesAnswerFailsWaiters() async throws {
        let logger = Logger(label: "t") { StructuredLogHandler(label: $0, level: .info, format: .json, sink: LogSink()) }
        let gate = DependencyGate(
            checks: [DependencyCheck(name: "postgres", endpoint: "127.0.0.1:1") { throw Refused() }],
            health: HealthRegistry(), backoff: Backoff(initial: .milliseconds(5), maximum: .milliseconds(10)),
            logger: logger)
        let group = ServiceGroup(services: [gate], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                await #expect(throws: DependencyGate.GateClosed.self) { try await gate.waitUntilOpen() }
            }
            try await Task.sleep(for: .milliseconds(100))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
