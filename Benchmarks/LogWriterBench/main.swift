// LogWriterBench: audit events written per second by AuditTrailWriter (the log writer's batch path:
// tenant lock, duplicate check, hash chain, multi-row insert under row-level security, session
// counts, one transaction per batch), beside a plain COPY of the same rows into a copy of the table
// (same columns and indexes; no chain, no duplicate check, no sessions, no row-level security).
//
// Env: LEDGERLINE_POSTGRES_URL / LEDGERLINE_POSTGRES_PASSWORD (a superuser of a throwaway database:
//      the bench applies the migrations and creates a login role `ledgerline_bench_writer`),
//      LEDGERLINE_MIGRATIONS_DIR (deploy/migrations), LEDGERLINE_LOGWRITER_BENCH_EVENTS (100000),
//      LEDGERLINE_LOGWRITER_BENCH_BATCH (1000), LEDGERLINE_LOGWRITER_BENCH_TENANTS (4),
//      LEDGERLINE_LOGWRITER_BENCH_SECONDS (60, per measurement).
// Prints `FIGURE <name> <value> <unit>` lines.
import AuditTrail
import Domain
import Foundation
import Logging
import Postgres

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("LogWriterBench: \(message)\n".utf8))
    exit(1)
}

/// Events as ingest and a worker publish them: one session per 100 events, mostly successes, some
/// failures with reasons, realistic text.
func makeEvents(count: Int, run: String, tenantCount: Int) -> [AuditEvent] {
    let start = Date()
    var events: [AuditEvent] = []
    events.reserveCapacity(count)
    var session = UUID()
    for index in 0..<count {
        let tenant = TenantID("bench-\(run)-\(index % tenantCount)")
        if index % 100 == 0 { session = UUID() }
        let failed = index % 20 == 7
        let number = String(100_000 + index)
        events.append(AuditEvent(
            kind: .recordSynced, occurredAt: start.addingTimeInterval(Double(index) / 1000), tenantID: tenant,
            locationID: "downtown-01", source: "worker-xero", erp: .xero, connectionID: UUID(), sessionID: session,
            record: .init(objectType: .invoice, shopID: "inv-\(number)", number: number, customerName: "Customer \(index % 977)",
                          erpID: failed ? nil : "X-\(number)"),
            action: failed ? "Invoice Failed" : (index % 3 == 0 ? "Invoice Updated" : "Invoice Created"),
            outcome: failed ? .failed : .succeeded, reason: failed ? ReasonCode("erp.rejected_data") : nil,
            message: failed ? "Account code '400' has been archived" : nil, inputEventID: "evt-\(number)",
            idempotencyKey: "shop:\(number):v1", jobID: "job-\(index / 100)", attempt: 1,
            erpRequestID: "req-\(UUID().uuidString.prefix(12))", details: ["total": "\(index % 900).50", "currency": "USD"]))
    }
    return events
}

/// Runs `body` over `items` in batches until done or the time limit; returns items per second.
func measure<Item>(
    _ items: [Item], batch: Int, limit timeLimit: Duration, _ body: ([Item]) async throws -> Void
) async throws -> (rate: Double, done: Int) {
    let clock = ContinuousClock()
    let started = clock.now
    var done = 0
    while done < items.count, clock.now - started < timeLimit {
        let slice = Array(items[done..<min(done + batch, items.count)])
        try await body(slice)
        done += slice.count
    }
    let elapsed = clock.now - started
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return (Double(done) / seconds, done)
}

/// Everything runs in a nonisolated function: top-level code is main-actor isolated.
func runBench() async throws {
    let environment = ProcessInfo.processInfo.environment
    func setting(_ key: String, _ fallback: Int) -> Int { environment[key].flatMap(Int.init) ?? fallback }
    let eventCount = setting("LEDGERLINE_LOGWRITER_BENCH_EVENTS", 100_000)
    let batchSize = setting("LEDGERLINE_LOGWRITER_BENCH_BATCH", 1000)
    let tenantCount = setting("LEDGERLINE_LOGWRITER_BENCH_TENANTS", 4)
    let timeLimit = Duration.seconds(setting("LEDGERLINE_LOGWRITER_BENCH_SECONDS", 60))
    let logger = Logger(label: "logwriter-bench") { _ in SwiftLogNoOpLogHandler() }
    guard let url = environment["LEDGERLINE_POSTGRES_URL"] else { fail("set LEDGERLINE_POSTGRES_URL") }
    let ownerConfiguration = try PostgresConfiguration(url: url, password: environment["LEDGERLINE_POSTGRES_PASSWORD"])
    let owner = PostgresPool(configuration: ownerConfiguration, maxConnections: 2, logger: logger)
    defer { owner.close() }
    let migrations = URL(fileURLWithPath: environment["LEDGERLINE_MIGRATIONS_DIR"] ?? "deploy/migrations")
    try await PostgresMigrator(directory: migrations).migrate(pool: owner, logger: logger)
    try await owner.execute(
        """
        DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledgerline_bench_writer') THEN
                CREATE ROLE ledgerline_bench_writer LOGIN;
            END IF;
        END $$
        """)
    try await owner.execute("GRANT ledgerline_service TO ledgerline_bench_writer")
    var writerConfiguration = ownerConfiguration
    writerConfiguration.user = "ledgerline_bench_writer"
    let writerPool = PostgresPool(configuration: writerConfiguration, maxConnections: 2, logger: logger)
    defer { writerPool.close() }
    let writer = AuditTrailWriter(pool: writerPool)

    let run = UUID().uuidString.prefix(8).lowercased()
    // Warm-up (connections, statement cache, page cache), not counted.
    try await writer.append(makeEvents(count: 2 * batchSize, run: "\(run)w", tenantCount: tenantCount), logger: logger)

    // 1. The log writer's path, from decoded events.
    let events = makeEvents(count: eventCount, run: run, tenantCount: tenantCount)
    let appended = try await measure(events, batch: batchSize, limit: timeLimit) { try await writer.append($0, logger: logger) }
    print("# appended \(appended.done) events in batches of \(batchSize) over \(tenantCount) tenants")
    print("FIGURE logwriter.append_batched.swift \(Int(appended.rate)) events/s")

    // 2. The same path from the wire: JSON bodies decoded with WireFormat, then appended.
    let encoder = WireFormat.encoder()
    let bodies = try makeEvents(count: min(eventCount, 50_000), run: "\(run)j", tenantCount: tenantCount).map { try encoder.encode($0) }
    let decoder = WireFormat.decoder()
    let decoded = try await measure(bodies, batch: batchSize, limit: timeLimit) { batch in
        try await writer.append(try batch.map { try decoder.decode(AuditEvent.self, from: $0) }, logger: logger)
    }
    print("FIGURE logwriter.decode_append_batched.swift \(Int(decoded.rate)) events/s")

    // 3. Reference: a plain COPY of the same rows (as the chain would store them) into a copy of the table.
    let table = "bench_audit_copy_\(run)"
    try await owner.execute(PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (LIKE audit_trail INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)"))
    let recorded = AuditRow.micros(Date())
    var previous: [String: [UInt8]] = [:]
    var sequence: [String: Int64] = [:]
    let copyEvents = makeEvents(count: eventCount, run: "\(run)c", tenantCount: tenantCount)
    let rows: [[any PostgresBindable]] = copyEvents.map { event in
        let tenant = event.tenantID.rawValue
        let seq = (sequence[tenant] ?? 0) + 1
        sequence[tenant] = seq
        let row = AuditRow(
            event: event, chainSeq: seq, recordedAtMicros: recorded, sessionID: event.sessionID,
            prevHash: previous[tenant] ?? AuditChain.genesisHash)
        previous[tenant] = row.rowHash
        let details = row.details.map { dict in
            String(decoding: (try? JSONEncoder().encode(dict)) ?? Data("{}".utf8), as: UTF8.self)
        }
        return [
            row.tenantID, row.chainSeq, row.auditID, row.kind, event.occurredAt, Date(), row.locationID, row.source,
            row.erp, row.connectionID, row.sessionID, row.objectType, row.shopID, row.recordNumber, row.customerName,
            row.erpID, row.action, row.outcome, row.reasonCode, row.message, row.inputEventID, row.idempotencyKey,
            row.jobID, row.attempt, row.erpRequestID, details.map { PostgresJSON($0) }, row.prevHash, row.rowHash,
        ]
    }
    let columns = [
        "tenant_id", "chain_seq", "audit_id", "kind", "occurred_at", "recorded_at", "location_id", "source", "erp",
        "connection_id", "session_id", "object_type", "shop_id", "record_number", "customer_name", "erp_id", "action",
        "outcome", "reason_code", "message", "input_event_id", "idempotency_key", "job_id", "attempt", "erp_request_id",
        "details", "prev_hash", "row_hash",
    ]
    let copied = try await owner.withConnection { connection in
        try await measure(rows, batch: batchSize, limit: timeLimit) { batch in
            try await connection.withTransaction { connection in
                _ = try await connection.bulkInsert(table: table, columns: columns, rows: batch)
            }
        }
    }
    print("# copied \(copied.done) rows in batches of \(batchSize)")
    print("FIGURE logwriter.append_batched.reference \(Int(copied.rate)) rows/s")
    try await owner.execute(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS \(table)"))
}

do {
    try await runBench()
} catch {
    fail("\(error)")
}
