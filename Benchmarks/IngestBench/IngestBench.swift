import AMQP
import Crypto
import Foundation
import HTTP
import Logging
import Postgres
import Synchronization

enum IngestBench {
    static let logger = Logger(label: "ingest-bench") { _ in SwiftLogNoOpLogHandler() }
    static let jobsExchange = "ingest-bench.jobs"
    static let auditExchange = "ingest-bench.audit"
    static let ceilingQueue = "ingest-bench.ceiling"

    static func main(arguments: [String]) async throws {
        let env = ProcessInfo.processInfo.environment
        var amqp = try AMQPConfiguration(
            url: env["LEDGERLINE_AMQP_URL"] ?? "amqp://guest@127.0.0.1:5673/%2F",
            password: env["LEDGERLINE_AMQP_PASSWORD"] ?? "guest")
        amqp.heartbeat = .seconds(30)
        switch arguments.first ?? "run" {
        case "setup":
            let admin = try await AMQPAdmin.connect(configuration: amqp, logger: logger)
            try await admin.declare(AMQPTopology(
                exchanges: [AMQPExchange(name: jobsExchange, kind: .direct), AMQPExchange(name: auditExchange, kind: .topic)],
                queues: [AMQPQueue(name: jobsExchange, quorum: true), AMQPQueue(name: auditExchange, quorum: true)],
                bindings: [
                    AMQPBinding(queue: jobsExchange, exchange: jobsExchange, routingKey: "xero"),
                    AMQPBinding(queue: auditExchange, exchange: auditExchange, routingKey: "#"),
                ]))
            await admin.close()
        case "cleanup":
            let admin = try await AMQPAdmin.connect(configuration: amqp, logger: logger)
            for queue in [jobsExchange, auditExchange, ceilingQueue] { _ = try? await admin.deleteQueue(queue) }
            for exchange in [jobsExchange, auditExchange] { try? await admin.deleteExchange(exchange) }
            await admin.close()
        default:
            try await Run(amqp: amqp, env: env).all()
        }
    }
}

struct Run {
    let amqp: AMQPConfiguration
    let postgres: PostgresConfiguration
    let url: String
    let tenant: String
    let location: String
    let secret: String
    let events: Int
    let rate: Int
    let pacedSeconds: Int
    let concurrency: Int
    let limit: Duration
    /// INGEST_BENCH_PHASES: a comma-separated subset of ceiling, amqp, http, batch, paced (default all).
    let phases: Set<String>
    let runID = String(UUID().uuidString.prefix(6)).lowercased()

    init(amqp: AMQPConfiguration, env: [String: String]) throws {
        func required(_ key: String) throws -> String {
            guard let value = env[key], !value.isEmpty else { throw BenchError("\(key) is required") }
            return value
        }
        self.amqp = amqp
        postgres = try PostgresConfiguration(
            url: env["LEDGERLINE_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:5433/ledgerline",
            password: env["LEDGERLINE_POSTGRES_PASSWORD"])
        url = try required("INGEST_BENCH_HTTP_URL")
        tenant = try required("INGEST_BENCH_TENANT")
        location = env["INGEST_BENCH_LOCATION"] ?? "loc-01"
        secret = try required("INGEST_BENCH_SECRET")
        events = Int(env["INGEST_BENCH_EVENTS"] ?? "") ?? 10_000
        rate = Int(env["INGEST_BENCH_RATE"] ?? "") ?? 500
        pacedSeconds = Int(env["INGEST_BENCH_PACED_SECONDS"] ?? "") ?? 6
        concurrency = Int(env["INGEST_BENCH_HTTP_CONCURRENCY"] ?? "") ?? 8
        limit = .seconds(Int(env["INGEST_BENCH_SECONDS"] ?? "") ?? 60)
        phases = Set((env["INGEST_BENCH_PHASES"] ?? "ceiling,amqp,http,batch,paced").split(separator: ",").map(String.init))
    }

    func all() async throws {
        let pool = PostgresPool(configuration: postgres, maxConnections: 2, logger: IngestBench.logger)
        defer { pool.close() }
        var configuration = HTTPClientConfiguration()
        configuration.preferHTTP2 = false
        configuration.maxConnectionsPerHost = 64
        let client = try HTTPClient(configuration: configuration, logger: IngestBench.logger)
        defer { client.shutdown() }
        let publisher = try await AMQPPublisher(configuration: amqp, confirmWindow: 2048, logger: IngestBench.logger)

        // Warm-up (connections, statement caches), not counted.
        _ = try await amqpThroughput(publisher, pool, count: 500, phase: "W")
        _ = try await httpThroughput(client, count: 200, batch: 1, phase: "V")

        if phases.contains("ceiling") {
            let ceiling = try await amqpCeiling(publisher)
            print("FIGURE ingest.ceiling.amqp_publish_confirmed \(Int(ceiling)) msg/s")
        }
        if phases.contains("amqp") {
            let amqpRate = try await amqpThroughput(publisher, pool, count: events, phase: "A")
            print("FIGURE ingest.amqp.accepted \(Int(amqpRate)) events/s")
        }
        if phases.contains("http") {
            let httpRate = try await httpThroughput(client, count: events / 2, batch: 1, phase: "H")
            print("FIGURE ingest.http.accepted \(Int(httpRate)) events/s")
        }
        if phases.contains("batch") {
            let batchRate = try await httpThroughput(client, count: events, batch: 100, phase: "B")
            print("FIGURE ingest.http_batch.accepted \(Int(batchRate)) events/s")
        }
        if !phases.isDisjoint(with: ["amqp", "http", "batch"]) {
            let saturatedLag = try await relayLagP99(pool, prefixes: ["A", "H", "B"])
            print("FIGURE ingest.relay_lag_p99_saturated \(format(saturatedLag)) ms")
        }
        if phases.contains("paced") {
            let httpLatency = try await httpPaced(client)
            print("FIGURE ingest.http.accept_p50_at_\(rate) \(format(httpLatency.p50)) ms")
            print("FIGURE ingest.http.accept_p99_at_\(rate) \(format(httpLatency.p99)) ms")
            print("# http paced: \(httpLatency.count) requests at \(rate)/s, \(httpLatency.failures) not 202, max \(format(httpLatency.max)) ms")

            let amqpLatency = try await amqpPaced(publisher, pool)
            print("FIGURE ingest.amqp.stored_p50_at_\(rate) \(format(amqpLatency.p50)) ms")
            print("FIGURE ingest.amqp.stored_p99_at_\(rate) \(format(amqpLatency.p99)) ms")

            let pacedLag = try await relayLagP99(pool, prefixes: ["P", "Q"])
            print("FIGURE ingest.relay_lag_p99_at_\(rate) \(format(pacedLag)) ms")
        }
        await publisher.close()
    }

    func format(_ milliseconds: Double) -> String { String(format: "%.1f", milliseconds) }

    // MARK: - Events

    static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    func event(_ invoiceID: String, source: String, at date: Date = Date()) -> String {
        """
        {"schema_version": "1", "event_id": "\(invoiceID)", "event_type": "invoice.created",
         "tenant_id": "\(tenant)", "location_id": "\(location)", "source_system": "\(source)",
         "occurred_at": "\(date.formatted(Self.timestampStyle))", "idempotency_key": "\(source):\(invoiceID):v1",
         "invoice_version": 1,
         "invoice": {"invoice_id": "\(invoiceID)", "invoice_number": "N-\(invoiceID)", "status": "open",
           "issue_date": "2025-03-14", "currency": "USD",
           "customer": {"customer_id": "c-\(invoiceID.suffix(2))", "name": "Bench Customer"},
           "lines": [{"line_id": "L1", "kind": "part", "description": "Alternator, remanufactured", "quantity": "1",
                      "unit_price": "289.95", "amount": "289.95", "taxable": true, "tax_code": "PARTS", "part_number": "ALT-1"},
                     {"line_id": "L2", "kind": "labor", "description": "Replace alternator", "quantity": "1.5",
                      "unit_price": "120.00", "amount": "180.00", "taxable": false}],
           "tax_lines": [{"jurisdiction": "State", "tax_code": "PARTS", "rate_percent": "7.25",
                          "taxable_amount": "289.95", "amount": "21.02"}],
           "totals": {"subtotal": "469.95", "tax_total": "21.02", "total": "490.97",
                      "amount_paid": "0.00", "balance_due": "490.97"}}}
        """
    }

    func signed(_ body: [UInt8], key: String) -> HTTPRequest {
        let timestamp = Int64(Date().timeIntervalSince1970)
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: Array(secret.utf8)))
        hmac.update(data: Array("\(timestamp).".utf8))
        hmac.update(data: body)
        let signature = hmac.finalize().map { String(format: "%02x", $0) }.joined()
        return HTTPRequest(
            method: .post, url: url,
            headers: [
                "Content-Type": "application/json", "Ledgerline-Tenant": tenant,
                "Ledgerline-Timestamp": String(timestamp), "Ledgerline-Signature": "v1=\(signature)",
                "Idempotency-Key": key, "Expect": "",
            ], body: body)
    }

    func stored(_ pool: PostgresPool, source: String) async throws -> Int {
        try await pool.query(
            "SELECT count(*) AS n FROM inbound_events WHERE tenant_id = \(tenant) AND source_system = \(source)"
        ).first!.decode(Int.self, "n")
    }

    // MARK: - Phases

    /// Bare confirmed publishing of `events` messages of an event's size to a quorum queue.
    func amqpCeiling(_ publisher: AMQPPublisher) async throws -> Double {
        let admin = try await AMQPAdmin.connect(configuration: amqp, logger: IngestBench.logger)
        try await admin.declare(AMQPTopology(queues: [AMQPQueue(name: IngestBench.ceilingQueue, quorum: true)]))
        let body = Array(event("ceiling-000000", source: "ceiling").utf8)
        let start = ContinuousClock.now
        var sent = 0
        while sent < events, ContinuousClock.now - start < limit {
            let batch = (0..<min(500, events - sent)).map { _ in
                AMQPPublishRequest(AMQPMessage(body: body, contentType: "application/json"), exchange: "",
                                   routingKey: IngestBench.ceilingQueue)
            }
            for result in try await publisher.publish(batch: batch) { _ = try result.get() }
            sent += batch.count
        }
        let rate = Double(sent) / seconds(ContinuousClock.now - start)
        _ = try? await admin.deleteQueue(IngestBench.ceilingQueue)
        await admin.close()
        return rate
    }

    /// Publishes `count` events to the shop-events exchange and waits until all are committed.
    func amqpThroughput(_ publisher: AMQPPublisher, _ pool: PostgresPool, count: Int, phase: String) async throws -> Double {
        let source = "bench-\(phase.lowercased())-\(runID)"
        let start = ContinuousClock.now
        for first in stride(from: 0, to: count, by: 500) {
            let batch = (first..<min(first + 500, count)).map { index in
                AMQPPublishRequest(
                    AMQPMessage(body: Array(event("\(phase)\(runID)-\(index)", source: source).utf8),
                                messageID: "\(phase)\(runID)-\(index)", contentType: "application/json"),
                    exchange: "ledgerline.shop-events", routingKey: "\(tenant).\(location).invoice.created")
            }
            for result in try await publisher.publish(batch: batch) { _ = try result.get() }
        }
        while try await stored(pool, source: source) < count {
            guard ContinuousClock.now - start < limit else { throw BenchError("AMQP phase \(phase) did not finish in \(limit)") }
            try await Task.sleep(for: .milliseconds(10))
        }
        return Double(count) / seconds(ContinuousClock.now - start)
    }

    /// `concurrency` clients posting `count` events, `batch` per request.
    func httpThroughput(_ client: HTTPClient, count: Int, batch: Int, phase: String) async throws -> Double {
        let source = "bench-\(phase.lowercased())-\(runID)"
        let requests = stride(from: 0, to: count, by: batch).map { first -> HTTPRequest in
            let bodies = (first..<min(first + batch, count)).map { event("\(phase)\(runID)-\($0)", source: source) }
            let body = batch == 1 ? bodies[0] : "[" + bodies.joined(separator: ",") + "]"
            return signed(Array(body.utf8), key: "\(phase)\(runID)-\(first)")
        }
        let start = ContinuousClock.now
        let failures = try await withThrowingTaskGroup(of: Int.self) { group in
            let next = Counter()
            for _ in 0..<concurrency {
                group.addTask {
                    var failed = 0
                    while let index = next.take(below: requests.count), ContinuousClock.now - start < limit {
                        let response = try await client.execute(requests[index], logger: IngestBench.logger)
                        if response.status != 202 { failed += 1 }
                    }
                    return failed
                }
            }
            return try await group.reduce(0, +)
        }
        guard failures == 0 else { throw BenchError("HTTP phase \(phase): \(failures) requests not answered 202") }
        return Double(count) / seconds(ContinuousClock.now - start)
    }

    struct Latency {
        var p50: Double
        var p99: Double
        var max: Double
        var count: Int
        var failures: Int
    }

    /// POSTs at a steady `rate` (open loop: a request starts on schedule whether or not earlier ones finished).
    func httpPaced(_ client: HTTPClient) async throws -> Latency {
        let total = rate * pacedSeconds
        let source = "bench-p-\(runID)"
        let interval = Duration.nanoseconds(1_000_000_000 / Int64(rate))
        let start = ContinuousClock.now
        let samples = try await withThrowingTaskGroup(of: (Double, Bool).self) { group in
            for index in 0..<total {
                let due = start + interval * index
                if due > .now { try await Task.sleep(until: due) }
                let request = signed(Array(event("P\(runID)-\(index)", source: source).utf8), key: "P\(runID)-\(index)")
                group.addTask {
                    let sent = ContinuousClock.now
                    let response = try await client.execute(request, logger: IngestBench.logger)
                    return (milliseconds(ContinuousClock.now - sent), response.status == 202)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let sorted = samples.map(\.0).sorted()
        return Latency(
            p50: percentile(sorted, 0.50), p99: percentile(sorted, 0.99), max: sorted.last ?? 0, count: sorted.count,
            failures: samples.filter { !$0.1 }.count)
    }

    /// Publishes at a steady `rate`, one confirmed message at a time, and reads publish → insert times.
    func amqpPaced(_ publisher: AMQPPublisher, _ pool: PostgresPool) async throws -> Latency {
        let total = rate * pacedSeconds
        let source = "bench-q-\(runID)"
        let interval = Duration.nanoseconds(1_000_000_000 / Int64(rate))
        let start = ContinuousClock.now
        for index in 0..<total {
            let due = start + interval * index
            if due > .now { try await Task.sleep(until: due) }
            let body = Array(event("Q\(runID)-\(index)", source: source, at: Date()).utf8)
            _ = try await publisher.publish(
                AMQPMessage(body: body, messageID: "Q\(runID)-\(index)", contentType: "application/json"),
                exchange: "ledgerline.shop-events", routingKey: "\(tenant).\(location).invoice.created")
        }
        while try await stored(pool, source: source) < total {
            guard ContinuousClock.now - start < limit else { throw BenchError("paced AMQP phase did not finish") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let rows = try await pool.query(
            """
            SELECT (percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::text AS p50,
                   (percentile_cont(0.99) WITHIN GROUP (ORDER BY ms))::text AS p99, max(ms)::text AS max, count(*) AS n
            FROM (SELECT extract(epoch FROM received_at - occurred_at) * 1000 AS ms
                  FROM inbound_events WHERE tenant_id = \(tenant) AND source_system = \(source)) AS x
            """)
        return Latency(
            p50: Double(try rows[0].decode(String.self, "p50")) ?? .nan,
            p99: Double(try rows[0].decode(String.self, "p99")) ?? .nan,
            max: Double(try rows[0].decode(String.self, "max")) ?? .nan, count: try rows[0].decode(Int.self, "n"),
            failures: 0)
    }

    /// p99 of (published_at − created_at) of the sync jobs of the given phases, once all are published.
    func relayLagP99(_ pool: PostgresPool, prefixes: [String]) async throws -> Double {
        let patterns = prefixes.map { "\($0)\(runID)-%" }
        let start = ContinuousClock.now
        while true {
            let pending = try await pool.query(
                """
                SELECT count(*) AS n FROM outbox
                WHERE tenant_id = \(tenant) AND published_at IS NULL AND body->>'invoice_id' LIKE ANY(\(patterns))
                """).first!.decode(Int.self, "n")
            if pending == 0 { break }
            guard ContinuousClock.now - start < limit else { throw BenchError("outbox did not drain") }
            try await Task.sleep(for: .milliseconds(50))
        }
        let rows = try await pool.query(
            """
            SELECT (coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at)), 0) * 1000)::text AS p99
            FROM outbox WHERE tenant_id = \(tenant) AND message_type = 'sync_job' AND body->>'invoice_id' LIKE ANY(\(patterns))
            """)
        return Double(try rows[0].decode(String.self, "p99")) ?? .nan
    }
}

/// Hands out indices to concurrent workers.
final class Counter: Sendable {
    private let value = Mutex(0)
    func take(below limit: Int) -> Int? {
        value.withLock { value in
            guard value < limit else { return nil }
            defer { value += 1 }
            return value
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func milliseconds(_ duration: Duration) -> Double { seconds(duration) * 1000 }

func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
}
