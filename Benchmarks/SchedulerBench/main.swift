// SchedulerBench: the scheduler's work for 10,000 connections (module SchedulerCore's FireEngine and the pure
// Scheduling logic), on a real Postgres:
//   * evaluate: pure next-fire / due-window computation for 10,000 interval and 10,000 end-of-day triggers;
//   * the worst minute: every connection's hourly sweep due at the same instant (windows aligned, i.e.
//     LEDGERLINE_SCHEDULER_SPREAD_INTERVALS=false: 10,000 fires, each enqueuing its pending invoices as
//     push_invoice jobs plus session.opened / session.closed events, one transaction per 500 triggers);
//   * the production default (windows spread by connection over the hour): one hour of schedule with a pass
//     every 5 s; the busiest minute's and the mean minute's work;
//   * the busiest end-of-day minute (the locations of the zones whose 23:59 falls in it; push_batch jobs);
//   * a quiet minute: the passes of a minute with nothing due (a pass every 5 s, as the loop does).
//
// Env: LEDGERLINE_POSTGRES_URL / LEDGERLINE_POSTGRES_PASSWORD (a superuser of a throwaway database: the bench
//      applies the migrations), LEDGERLINE_MIGRATIONS_DIR (deploy/migrations),
//      LEDGERLINE_SCHEDULER_BENCH_CONNECTIONS (10000), LEDGERLINE_SCHEDULER_BENCH_INVOICES (2 pending per
//      connection), LEDGERLINE_SCHEDULER_BENCH_ROUNDS (3; medians are printed), LEDGERLINE_SCHEDULER_BENCH_BATCH
//      (triggers per transaction, default 500 as the scheduler).
// Prints `FIGURE <name> <value> <unit>` lines.
import Domain
import Foundation
import Logging
import Postgres
import SchedulerCore
import Scheduling

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("SchedulerBench: \(message)\n".utf8))
    exit(1)
}

func setting(_ key: String, _ fallback: Int) -> Int {
    ProcessInfo.processInfo.environment[key].flatMap(Int.init) ?? fallback
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

let environment = ProcessInfo.processInfo.environment
let connectionCount = setting("LEDGERLINE_SCHEDULER_BENCH_CONNECTIONS", 10_000)
let invoicesPerConnection = setting("LEDGERLINE_SCHEDULER_BENCH_INVOICES", 2)
let rounds = max(1, setting("LEDGERLINE_SCHEDULER_BENCH_ROUNDS", 3))
let logger = Logger(label: "scheduler-bench") { _ in SwiftLogNoOpLogHandler() }
let zones = [
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Anchorage",
    "Pacific/Honolulu", "America/Sao_Paulo", "America/Santiago", "America/St_Johns", "America/Mexico_City",
    "Europe/London", "Europe/Paris", "Europe/Helsinki", "Europe/Moscow", "Africa/Johannesburg",
    "Asia/Dubai", "Asia/Tehran", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Dhaka",
    "Asia/Bangkok", "Asia/Shanghai", "Asia/Tokyo", "Australia/Adelaide", "Australia/Sydney",
    "Australia/Lord_Howe", "Pacific/Auckland", "Pacific/Chatham", "Pacific/Kiritimati", "Pacific/Pago_Pago",
]

guard let url = environment["LEDGERLINE_POSTGRES_URL"] else { fail("set LEDGERLINE_POSTGRES_URL") }
let postgres: PostgresConfiguration
do {
    postgres = try PostgresConfiguration(url: url, password: environment["LEDGERLINE_POSTGRES_PASSWORD"])
} catch {
    fail("LEDGERLINE_POSTGRES_URL: \(error)")
}
let pool = PostgresPool(configuration: postgres, maxConnections: 2, acquireTimeout: .seconds(30), logger: logger)
defer { pool.close() }

// MARK: Pure evaluation

do {
    let intervalRule = TriggerRule.every(seconds: 3600)
    let rules = (0..<connectionCount).map { TriggerRule.endOfDay(time: .endOfDay, timeZone: TimeZone(identifier: zones[$0 % 30])!) }
    let base = Date(timeIntervalSince1970: 1_795_000_000)
    var samples: [Double] = []
    var sink = 0
    for round in 0..<rounds {
        let now = base.addingTimeInterval(Double(round) * 86_400)
        let start = ContinuousClock.now
        for rule in rules {
            let next = Schedule.nextWindow(after: now, rule: rule)!
            sink &+= Schedule.dueWindows(rule: rule, nextFire: next.end, now: next.end.addingTimeInterval(1)).due.count
        }
        for _ in 0..<connectionCount {
            let next = Schedule.nextWindow(after: now, rule: intervalRule)!
            sink &+= Schedule.dueWindows(rule: intervalRule, nextFire: next.end, now: next.end.addingTimeInterval(1)).due.count
        }
        samples.append(milliseconds(ContinuousClock.now - start))
    }
    guard sink == 2 * connectionCount * rounds else { fail("evaluation gave \(sink) windows") }
    print("FIGURE scheduler.evaluate_\(connectionCount)x2_triggers.swift \(String(format: "%.1f", median(samples))) ms")
}

// MARK: Database setup

let run = UUID().uuidString.prefix(8).lowercased()
let tenant = "bench-sched-\(run)"
do {
    let migrator = PostgresMigrator(directory: URL(fileURLWithPath: environment["LEDGERLINE_MIGRATIONS_DIR"] ?? "deploy/migrations"))
    try await migrator.migrate(pool: pool, logger: logger)
    // Earlier runs' triggers would be due at this run's (future) times: remove them.
    for table in ["schedule_triggers", "schedule_fires", "outbox"] {
        try await pool.execute(PostgresQuery(unsafeSQL: "DELETE FROM \(table) WHERE tenant_id LIKE 'bench-sched-%'"))
    }
    // Align the schedule: an hour boundary well in the future of the database's data, in UTC.
    let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 3600).rounded(.down) * 3600 + 10 * 86_400)
    let anchor = base.addingTimeInterval(-1800)
    try await pool.withTransaction { connection in
        try await connection.execute("INSERT INTO tenants (tenant_id, display_name) VALUES (\(tenant), 'scheduler bench')")
        try await connection.execute(
            """
            INSERT INTO locations (tenant_id, location_id, display_name, time_zone)
            SELECT \(tenant), 'l' || g, 'l' || g, (\(zones)::text[])[1 + g % 30] FROM generate_series(0, \(connectionCount) - 1) AS g
            """)
        try await connection.execute(
            "INSERT INTO erp_connections (tenant_id, location_id, erp) SELECT \(tenant), location_id, 'xero' FROM locations WHERE tenant_id = \(tenant)")
        try await connection.execute(
            """
            INSERT INTO invoices (tenant_id, location_id, source_system, invoice_id, invoice_number, status, issue_date,
                                  currency, customer_id, customer_name, subtotal, tax_total, total, amount_paid, balance_due,
                                  invoice_version, last_occurred_at, last_event_id)
            SELECT \(tenant), 'l' || g, 'shop', 'i' || g || '-' || k, 'N' || g || '-' || k, 'open',
                   (\(base)::timestamptz AT TIME ZONE (\(zones)::text[])[1 + g % 30])::date, 'USD', 'c' || g, 'Customer',
                   10, 1, 11, 0, 11, 1, now(), 'e'
            FROM generate_series(0, \(connectionCount) - 1) AS g, generate_series(1, \(invoicesPerConnection)) AS k
            """)
        try await connection.execute(
            """
            INSERT INTO schedule_triggers (connection_id, trigger_kind, tenant_id, interval_seconds, end_of_day_time, anchor_at)
            SELECT connection_id, k.kind, tenant_id, k.seconds, k.eod::time, \(anchor)
            FROM erp_connections, (VALUES ('interval', 3600, NULL), ('end_of_day', NULL, '23:59')) AS k(kind, seconds, eod)
            WHERE tenant_id = \(tenant)
            """)
    }
    var configuration = SchedulerConfiguration()
    configuration.tenantPrefix = tenant
    configuration.instanceID = "bench"
    configuration.batchSize = setting("LEDGERLINE_SCHEDULER_BENCH_BATCH", configuration.batchSize)
    configuration.jobsExchange = "scheduler-bench.jobs"
    configuration.auditExchange = "scheduler-bench.audit"
    // First the burst: windows aligned to the hour (LEDGERLINE_SCHEDULER_SPREAD_INTERVALS=false), so every sweep
    // is due at once; then the production default (spread) below.
    configuration.spreadIntervals = false
    let engine = FireEngine(pool: pool, configuration: configuration, logger: logger)

    // Planning pass: every trigger is new (planned from its anchor), nothing fires yet.
    var start = ContinuousClock.now
    let planned = try await engine.runDue(now: anchor.addingTimeInterval(1))
    print("FIGURE scheduler.plan_\(2 * connectionCount)_new_triggers.swift \(String(format: "%.0f", milliseconds(ContinuousClock.now - start))) ms")
    guard planned.triggers == 2 * connectionCount else { fail("planned \(planned.triggers) triggers") }
    // Steady state, as autovacuum keeps it.
    try await pool.execute("VACUUM ANALYZE schedule_triggers")
    try await pool.execute("VACUUM ANALYZE schedule_fires")

    var worst: [Double] = [], endOfDay: [Double] = [], quiet: [Double] = []
    var endOfDayFires = 0
    for round in 0..<rounds {
        let hour = base.addingTimeInterval(Double(round) * 3600)
        // The worst minute: every hourly sweep at once.
        start = ContinuousClock.now
        let report = try await engine.runDue(now: hour.addingTimeInterval(0.5))
        worst.append(milliseconds(ContinuousClock.now - start))
        let sweeps = report.fired.filter { $0.trigger == .interval }
        guard sweeps.count == connectionCount, sweeps.allSatisfy({ $0.jobs == invoicesPerConnection }) else {
            fail("round \(round): \(sweeps.count) sweeps fired")
        }
        // A quiet minute (nothing due from :00:01 to :14:00): 12 passes and the next-due query, as the loop runs them.
        start = ContinuousClock.now
        for pass in 0..<12 {
            let now = hour.addingTimeInterval(60 + Double(pass) * 5)
            let idle = try await engine.runDue(now: now)
            _ = try await engine.nextDue(now: now)
            guard idle.fired.isEmpty else { fail("a quiet pass fired \(idle.fired.count)") }
        }
        quiet.append(milliseconds(ContinuousClock.now - start))
        // The busiest end-of-day minute of this hour (the zones whose 23:59 is at :59 UTC).
        start = ContinuousClock.now
        let batch = try await engine.runDue(now: hour.addingTimeInterval(59 * 60 + 0.5))
        endOfDay.append(milliseconds(ContinuousClock.now - start))
        endOfDayFires = max(endOfDayFires, batch.fired.filter { $0.trigger == .endOfDay }.count)
    }
    // The production default: each connection's sweep at its own phase within the hour. Plan again from the
    // next hour, then run one hour of schedule with a pass every 5 s (as the loop does when nothing wakes it
    // earlier) and sum each minute's passes.
    let spreadStart = base.addingTimeInterval(Double(rounds + 1) * 3600)
    try await pool.execute(
        "UPDATE schedule_triggers SET next_fire_at = NULL, anchor_at = \(spreadStart) WHERE tenant_id = \(tenant) AND trigger_kind = 'interval'")
    configuration.spreadIntervals = true
    let spread = FireEngine(pool: pool, configuration: configuration, logger: logger)
    _ = try await spread.runDue(now: spreadStart)
    var minutes: [Double] = []
    var spreadFires = 0
    for minute in 0..<60 {
        start = ContinuousClock.now
        for pass in 0..<12 {
            let now = spreadStart.addingTimeInterval(Double(minute * 60 + pass * 5) + 5)
            spreadFires += try await spread.runDue(now: now).fired.filter { $0.trigger == .interval }.count
            _ = try await spread.nextDue(now: now)
        }
        minutes.append(milliseconds(ContinuousClock.now - start))
    }
    guard spreadFires >= connectionCount - 10 else { fail("the spread hour fired \(spreadFires) sweeps") }
    print("FIGURE scheduler.spread_busiest_minute.swift \(String(format: "%.0f", minutes.max() ?? 0)) ms")
    print("FIGURE scheduler.spread_mean_minute.swift \(String(format: "%.0f", minutes.reduce(0, +) / Double(minutes.count))) ms")
    print("FIGURE scheduler.spread_hour_total.swift \(String(format: "%.0f", minutes.reduce(0, +))) ms")

    let worstMedian = median(worst)
    print("FIGURE scheduler.worst_minute_\(connectionCount)_sweeps.swift \(String(format: "%.0f", worstMedian)) ms")
    print("FIGURE scheduler.fires_per_second.swift \(String(format: "%.0f", Double(connectionCount) / (worstMedian / 1000))) fires/s")
    print("FIGURE scheduler.jobs_per_second.swift \(String(format: "%.0f", Double(connectionCount * (invoicesPerConnection + 2)) / (worstMedian / 1000))) outbox_rows/s")
    print("FIGURE scheduler.end_of_day_minute_\(endOfDayFires)_batches.swift \(String(format: "%.0f", median(endOfDay))) ms")
    print("FIGURE scheduler.quiet_minute.swift \(String(format: "%.1f", median(quiet))) ms")

    // Leave the database small: the bench's scheduling rows go (its tenant, locations and invoices stay).
    for table in ["schedule_triggers", "schedule_fires", "outbox"] {
        try await pool.execute(PostgresQuery(unsafeSQL: "DELETE FROM \(table) WHERE tenant_id = $1", binds: [tenant]))
    }
} catch {
    fail("\(error)")
}
