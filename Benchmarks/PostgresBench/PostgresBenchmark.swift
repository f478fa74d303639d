import Foundation
import Logging
import Postgres

/// Settings read from the environment (kept out of main.swift, whose globals are main-actor isolated).
enum BenchSettings {
    static let environment = ProcessInfo.processInfo.environment
    static let seconds = Double(environment["LEDGERLINE_PG_BENCH_SECONDS"] ?? "") ?? 5
    static let maxRows = Int(environment["LEDGERLINE_PG_BENCH_MAX_ROWS"] ?? "") ?? 200_000
    static let table = "bench_pg_events"

    /// The ~1 KiB document every row carries; postgres.sh hands the same text to pgbench.
    static let payloadText: String = {
        let lines = (1...8).map { line in
            #"{"line":\#(line),"sku":"PART-\#(String(format: "%05d", line * 137))","description":"Brake pad set, front axle, ceramic","quantity":2,"unitPrice":"84.50","taxCode":"GST"}"#
        }
        let body = #"{"tenant":"shop-0042","invoice":"INV-2026-000123","currency":"NZD","issuedAt":"2026-11-21T09:30:00Z","lines":["#
            + lines.joined(separator: ",") + #"],"total":"1352.00"}"#
        return body
    }()
}

enum PostgresBenchmark {
    static let insert = "INSERT INTO bench_pg_events (idem_key, payload) VALUES ($1, $2) ON CONFLICT (idem_key) DO NOTHING"

    static func run(modes: [String]) async throws {
        guard let url = BenchSettings.environment["LEDGERLINE_POSTGRES_URL"] else {
            throw BenchError(message: "set LEDGERLINE_POSTGRES_URL (eval \"$(deploy/local-stack.sh env)\")")
        }
        let configuration = try PostgresConfiguration(
            url: url, password: BenchSettings.environment["LEDGERLINE_POSTGRES_PASSWORD"])
        let logger = Logger(label: "postgres-bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let pool = PostgresPool(configuration: configuration, maxConnections: 2, logger: logger)
        defer { pool.close() }
        let payload = PostgresJSON(BenchSettings.payloadText)
        let run = String(UInt64(Date().timeIntervalSince1970 * 1000), radix: 36)
        print("# payload \(payload.bytes.count) bytes, \(BenchSettings.seconds) s per figure")

        try await pool.withConnection { connection in
            try await connection.executeScript(
                unsafeSQL: """
                    CREATE TABLE IF NOT EXISTS bench_pg_events (
                        id bigserial PRIMARY KEY, idem_key text NOT NULL UNIQUE, payload jsonb NOT NULL,
                        created_at timestamptz NOT NULL DEFAULT now());
                    TRUNCATE bench_pg_events;
                    """)
            // Warm-up: prepare the statement, touch the table and index.
            for index in 0..<500 { try await connection.execute(query(key: "\(run)-warm-\(index)", payload)) }
        }

        for mode in modes {
            switch mode {
            case "single":
                let rate = try await pool.withConnection { connection in
                    try await measure(rowsPerStep: 1) { step in
                        try await connection.execute(query(key: "\(run)-s-\(step)", payload))
                    }
                }
                figure("pg.single_commit.swift", rate)
            case "tx100":
                let rate = try await pool.withConnection { connection in
                    try await measure(rowsPerStep: 100) { step in
                        try await connection.execute("BEGIN")
                        for row in 0..<100 { try await connection.execute(query(key: "\(run)-t-\(step)-\(row)", payload)) }
                        try await connection.execute("COMMIT")
                    }
                }
                figure("pg.tx100.swift", rate)
            case "pipeline100":
                let rate = try await pool.withConnection { connection in
                    try await measure(rowsPerStep: 100) { step in
                        let queries = (0..<100).map { query(key: "\(run)-p-\(step)-\($0)", payload) }
                        _ = try await connection.pipeline(queries, syncEvery: 100)
                    }
                }
                figure("pg.pipeline100.swift", rate)
            case "stream":
                let rate = try await pool.withConnection { connection in
                    try await measure(rowsPerStep: 10_000) { step in
                        let queries = (0..<10_000).map { query(key: "\(run)-m-\(step)-\($0)", payload) }
                        _ = try await connection.pipeline(queries, syncEvery: 100)
                    }
                }
                figure("pg.pipeline_stream.swift", rate)
            case "select1":
                let rate = try await pool.withConnection { connection in
                    try await measure(rowsPerStep: 1) { _ in try await connection.execute("SELECT 1") }
                }
                figure("pg.select1.swift", rate, unit: "queries/s")
            case "pool":
                let rate = try await measure(rowsPerStep: 1) { step in
                    try await pool.execute(query(key: "\(run)-l-\(step)", payload))
                }
                figure("pg.single_commit_pool.swift", rate)
            default:
                throw BenchError(message: "unknown mode \(mode)")
            }
        }
    }

    static func query(key: String, _ payload: PostgresJSON) -> PostgresQuery {
        PostgresQuery(unsafeSQL: insert, binds: [key, payload])
    }

    /// Runs `step` until the time or row budget is spent; returns rows per second.
    static func measure(rowsPerStep: Int, _ step: (Int) async throws -> Void) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        let budget = Duration.milliseconds(Int(BenchSettings.seconds * 1000))
        var steps = 0
        while clock.now - start < budget, steps * rowsPerStep < BenchSettings.maxRows {
            try await step(steps)
            steps += 1
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Double(steps * rowsPerStep) / seconds
    }

    static func figure(_ name: String, _ rate: Double, unit: String = "rows/s") {
        print("FIGURE \(name) \(Int(rate.rounded())) \(unit)")
    }
}

struct BenchError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
