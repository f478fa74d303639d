import Domain
import Foundation
import Postgres
import SchedulerCore
import Scheduling
import TestSupport
import Testing

/// The fire engine against real Postgres: what a fire enqueues, its session events, exactly once per window.
@Suite("Fire engine", .requiresPostgres, .timeLimit(.minutes(1)))
struct FireEngineTests {
    @Test func anIntervalSweepEnqueuesEveryInvoiceNotSyncedAndOpensAndClosesASession() async throws {
        let pool = try await SchedulerStack.pool()
        defer { pool.close() }
        let fixture = try await Fixture.make(pool, zones: ["America/New_York"])
        let now = utc("2026-11-22T04:00:00.300Z")
        try await fixture.addInvoices(pool, ids: ["new", "pending", "due", "later", "synced", "stale", "parked", "claimed"], day: "2026-11-21", version: 2)
        try await fixture.addInvoices(pool, ids: ["void"], day: "2026-11-21", status: "voided")
        try await fixture.setState(pool, invoice: "pending", state: "pending")
        try await fixture.setState(pool, invoice: "due", state: "deferred", notBefore: now.addingTimeInterval(-60))
        try await fixture.setState(pool, invoice: "later", state: "deferred", notBefore: now.addingTimeInterval(600))
        try await fixture.setState(pool, invoice: "synced", state: "synced", syncedVersion: 2)
        try await fixture.setState(pool, invoice: "stale", state: "synced", syncedVersion: 1)
        try await fixture.setState(pool, invoice: "parked", state: "parked")
        try await fixture.setState(pool, invoice: "claimed", state: "claimed")
        try await fixture.setTrigger(pool, .interval(seconds: 3600), anchor: utc("2026-11-22T03:10:00Z"))

        let engine = FireEngine(pool: pool, configuration: SchedulerStack.configuration(prefix: fixture.prefix), logger: SchedulerStack.logger)
        #expect(try await engine.runDue(now: utc("2026-11-22T03:59:59Z")).fired.isEmpty)
        let report = try await engine.runDue(now: now)
        #expect(report.fired.count == 1)
        let fire = try #require(report.fired.first)
        #expect(fire.windowKey == "2026-11-22T04:00:00Z")
        #expect(fire.sessionID == SessionID.of(connectionID: fixture.firstConnection, trigger: .interval, windowKey: fire.windowKey))
        #expect(fire.jobs == 5)
        #expect(!fire.catchUp)

        let jobs = try await fixture.jobs(pool)
        #expect(Set(jobs.compactMap(\.invoiceID)) == ["new", "pending", "due", "stale", "void"])
        for job in jobs {
            #expect(job.trigger == .interval)
            #expect(job.sessionID == fire.sessionID)
            #expect(job.connectionID == fixture.firstConnection)
            #expect(job.erp == .xero)
            #expect(job.tenantID.rawValue == fixture.tenant)
            #expect(job.kind == (job.invoiceID == "void" ? .voidInvoice : .pushInvoice))
            #expect(job.invoiceVersion == (job.invoiceID == "void" ? 1 : 2))
            #expect(job.enqueuedAt == utc("2026-11-22T04:00:00Z"))
        }
        #expect(Set(jobs.map(\.jobID)).count == jobs.count)

        let events = try await fixture.auditEvents(pool)
        #expect(events.map(\.kind) == [.sessionOpened, .sessionClosed])
        #expect(events.allSatisfy { $0.sessionID == fire.sessionID && $0.source == "scheduler" && $0.connectionID == fixture.firstConnection })
        #expect(events[0].details?["trigger"] == "interval")
        #expect(events[0].details?["window"] == "2026-11-22T04:00:00Z")
        #expect(events[1].details?["jobs_enqueued"] == "5")
        #expect(events[1].outcome == .succeeded)
        #expect(events[0].auditID != events[1].auditID)

        // The next window is planned; nothing more is due until then.
        #expect(try await engine.runDue(now: utc("2026-11-22T04:59:00Z")).fired.isEmpty)
        let triggers = try await pool.withConnection { try await ScheduleStore.list(connectionID: fixture.firstConnection, on: $0, logger: SchedulerStack.logger) }
        #expect(triggers.first?.nextFireAt == utc("2026-11-22T05:00:00Z"))
        #expect(triggers.first?.lastWindowKey == "2026-11-22T04:00:00Z")
    }

    @Test func theEndOfDayBatchTakesTheLocalBusinessDayInChunksOf100() async throws {
        let pool = try await SchedulerStack.pool()
        defer { pool.close() }
        let fixture = try await Fixture.make(pool, zones: ["Australia/Sydney"])
        let today = (0..<250).map { "d\($0)" }
        try await fixture.addInvoices(pool, ids: today, day: "2026-11-22")
        try await fixture.addInvoices(pool, ids: ["yesterday"], day: "2026-11-21")
        try await fixture.addInvoices(pool, ids: ["tomorrow"], day: "2026-11-23")
        try await fixture.setState(pool, invoice: "d7", state: "synced", syncedVersion: 1)
        try await fixture.setTrigger(pool, .endOfDay(enabled: true, time: nil), anchor: utc("2026-11-22T01:00:00Z"))
        let engine = FireEngine(pool: pool, configuration: SchedulerStack.configuration(prefix: fixture.prefix), logger: SchedulerStack.logger)

        // 23:59 AEDT (UTC+11) on 2026-11-22 is 12:59Z.
        #expect(try await engine.runDue(now: utc("2026-11-22T12:58:59Z")).fired.isEmpty)
        let report = try await engine.runDue(now: utc("2026-11-22T12:59:01Z"))
        let fire = try #require(report.fired.first)
        #expect(report.fired.count == 1)
        #expect(fire.windowKey == "2026-11-22")
        #expect(fire.scheduledFor == utc("2026-11-22T12:59:00Z"))
        #expect(fire.jobs == 3)
        #expect(fire.invoices == 249)
        let jobs = try await fixture.jobs(pool)
        #expect(jobs.allSatisfy { $0.kind == .pushBatch && $0.trigger == .endOfDay && $0.invoiceID == nil })
        #expect(jobs.map { $0.invoiceIDs?.count ?? 0 }.sorted() == [49, 100, 100])
        let batched = jobs.flatMap { $0.invoiceIDs ?? [] }
        #expect(Set(batched) == Set(today).subtracting(["d7"]))
        #expect(batched.count == 249)
        let events = try await fixture.auditEvents(pool)
        #expect(events.first?.details?["business_day"] == "2026-11-22")
        #expect(events.first?.details?["time_zone"] == "Australia/Sydney")
        #expect(events.last?.details?["invoices_enqueued"] == "249")
    }

    @Test func twoEnginesFiringTheSameWindowAtOnceFireItOnce() async throws {
        let pool = try await SchedulerStack.pool()
        defer { pool.close() }
        let fixture = try await Fixture.make(pool, zones: Array(repeating: "Europe/London", count: 20))
        try await fixture.setTriggerEverywhere(pool, kind: .interval, intervalSeconds: 3600, anchor: utc("2026-11-22T03:00:00Z"))
        try await fixture.addInvoices(pool, ids: ["a", "b"], day: "2026-11-22")
        let configuration = SchedulerStack.configuration(prefix: fixture.prefix)
        let pools = try await [SchedulerStack.pool(), SchedulerStack.pool()]
        defer { pools.forEach { $0.close() } }
        // Both start from the same planned state: the triggers are not planned yet, and both see them due.
        let reports = try await withThrowingTaskGroup(of: PassReport.self) { group in
            for (index, pool) in pools.enumerated() {
                var mine = configuration
                mine.instanceID = "engine-\(index)"
                mine.batchSize = 3
                let engine = FireEngine(pool: pool, configuration: mine, logger: SchedulerStack.logger)
                group.addTask { try await engine.runDue(now: utc("2026-11-22T04:00:01Z")) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(reports.map(\.fired.count).reduce(0, +) == 20)
        let fires = try await fixture.fires(pool)
        #expect(fires.count == 20)
        #expect(Set(fires.map(\.connectionID)).count == 20)
        #expect(try await fixture.jobs(pool).count == 2)  // loc-0's two invoices, once
        // A restarted leader with stale planning (next_fire_at rewound) fires nothing twice.
        try await pool.execute("UPDATE schedule_triggers SET next_fire_at = NULL WHERE tenant_id = \(fixture.tenant)")
        let again = try await FireEngine(pool: pool, configuration: configuration, logger: SchedulerStack.logger)
            .runDue(now: utc("2026-11-22T04:00:02Z"))
        #expect(again.fired.isEmpty)
        #expect(try await fixture.fires(pool).count == 20)
    }

    @Test func spreadIntervalsFireEachConnectionOnceAnHourAtItsOwnPhase() async throws {
        let pool = try await SchedulerStack.pool()
        defer { pool.close() }
        let fixture = try await Fixture.make(pool, zones: Array(repeating: "UTC", count: 120))
        try await fixture.setTriggerEverywhere(pool, kind: .interval, intervalSeconds: 3600, anchor: utc("2026-11-22T03:00:00Z"))
        var configuration = SchedulerStack.configuration(prefix: fixture.prefix)
        configuration.spreadIntervals = true
        let engine = FireEngine(pool: pool, configuration: configuration, logger: SchedulerStack.logger)
        // Walk two hours minute by minute, as the loop would.
        var perMinute: [Int] = []
        for minute in 0..<120 {
            perMinute.append(try await engine.runDue(now: utc("2026-11-22T03:00:00Z").addingTimeInterval(Double(minute * 60))).fired.count)
        }
        perMinute.append(try await engine.runDue(now: utc("2026-11-22T04:59:59.9Z")).fired.count)
        let fires = try await fixture.fires(pool)
        let from = Int(utc("2026-11-22T03:00:00Z").timeIntervalSince1970), to = Int(utc("2026-11-22T04:59:59Z").timeIntervalSince1970)
        for connection in fixture.connections.values {
            let mine = fires.filter { $0.connectionID == connection }
            let phase = Schedule.spreadPhase(connection: connection.uuidString, interval: 3600)
            // Every window after the anchor up to the last pass: hh:00 + phase, each once.
            let expected = stride(from: from - 3600 + phase, through: to, by: 3600).filter { $0 > from }
            #expect(mine.map { Int($0.scheduledFor.timeIntervalSince1970) } == expected)
            #expect(mine.allSatisfy { $0.firedAt.timeIntervalSince($0.scheduledFor) < 60 })
        }
        #expect(fires.count >= 238)
        #expect(perMinute.max()! < 15, "120 connections spread over the hour: \(perMinute)")
    }

    @Test func aLocationMovedToAnotherTimeZoneIsPlannedAgainThere() async throws {
        let pool = try await SchedulerStack.pool()
        defer { pool.close() }
        let fixture = try await Fixture.make(pool, zones: ["America/New_York"])
        try await fixture.setTrigger(pool, .endOfDay(enabled: true, time: nil), anchor: utc("2026-11-22T00:00:00Z"))
        let engine = FireEngine(pool: pool, configuration: SchedulerStack.configuration(prefix: fixture.prefix), logger: SchedulerStack.logger)
        _ = try await engine.runDue(now: utc("2026-11-22T00:00:01Z"))
        var planned = try await pool.withConnection { try await ScheduleStore.list(connectionID: fixture.firstConnection, on: $0, logger: SchedulerStack.logger) }
        #expect(planned.first?.nextFireAt == utc("2026-11-22T04:59:00Z"))  // 23:59 EST on the 21st
        try await pool.execute("UPDATE locations SET time_zone = 'Asia/Tokyo' WHERE tenant_id = \(fixture.tenant)")
        #expect(try await engine.replanMovedLocations() == 1)
        _ = try await engine.runDue(now: utc("2026-11-22T00:00:02Z"))
        planned = try await pool.withConnection { try await ScheduleStore.list(connectionID: fixture.firstConnection, on: $0, logger: SchedulerStack.logger) }
        #expect(planned.first?.nextFireAt == utc("2026-11-22T14:59:00Z"))  // 23:59 JST on the 22nd
        let report = try await engine.runDue(now: utc("2026-11-22T14:59:00.5Z"))
        #expect(report.fired.map(\.windowKey) == ["2026-11-22"])
    }

    @Test func syncNowFiresAManualSessionWithAPullWhenTheConnectionPulls() async throws {
        let pool = try await SchedulerStack.pool()
        defer { pool.close() }
        let fixture = try await Fixture.make(pool, zones: ["UTC"], pulls: true)
        try await fixture.addInvoices(pool, ids: ["x", "y"], day: "2026-11-22")
        let engine = FireEngine(pool: pool, configuration: SchedulerStack.configuration(prefix: fixture.prefix), logger: SchedulerStack.logger)
        let fire = try await engine.fireManual(connectionID: fixture.firstConnection, now: utc("2026-11-22T10:00:00Z"), firedBy: "test")
        #expect(fire.trigger == .manual)
        #expect(fire.jobs == 3)
        #expect(fire.invoices == 2)
        let jobs = try await fixture.jobs(pool)
        #expect(jobs.map(\.kind).sorted { $0.rawValue < $1.rawValue } == [.pull, .pushInvoice, .pushInvoice])
        #expect(jobs.allSatisfy { $0.trigger == .manual && $0.sessionID == fire.sessionID })
        await #expect(throws: SchedulerError.self) {
            try await engine.fireManual(connectionID: UUID(), now: Date(), firedBy: "test")
        }
        try await pool.execute("UPDATE erp_connections SET status = 'paused' WHERE connection_id = \(fixture.firstConnection)")
        await #expect(throws: SchedulerError.self) {
            try await engine.fireManual(connectionID: fixture.firstConnection, now: Date(), firedBy: "test")
        }
    }

    @Test func newConnectionsGetDefaultTriggersAndTheInitialSyncFiresOnce() async throws {
        let pool = try await SchedulerStack.pool()
        defer { pool.close() }
        let fixture = try await Fixture.make(pool, zones: ["UTC", "UTC"], pulls: true)
        var configuration = SchedulerStack.configuration(prefix: fixture.prefix)
        configuration.defaultIntervalSeconds = 7200
        configuration.defaultPullSeconds = 7200
        configuration.defaultInitialSync = true
        let start = utc("2026-11-22T03:00:00Z")
        // loc-1 already has a (disabled) trigger: left alone.
        try await fixture.setTrigger(pool, .interval(seconds: nil), location: "loc-1", anchor: start)
        let added = try await pool.withConnection {
            try await ScheduleStore.addDefaults(configuration: configuration, now: start, on: $0, logger: SchedulerStack.logger)
        }
        #expect(added == 3)
        let engine = FireEngine(pool: pool, configuration: configuration, logger: SchedulerStack.logger)
        let first = try await engine.runDue(now: start.addingTimeInterval(1))
        #expect(first.fired.map(\.trigger) == [.initial])
        #expect(try await fixture.jobs(pool).map(\.kind) == [.initialSync])
        let later = try await engine.runDue(now: utc("2026-11-22T04:00:05Z"))
        #expect(Set(later.fired.map(\.trigger)) == [.interval, .pull])
        #expect(try await engine.runDue(now: utc("2026-11-23T04:00:05Z")).fired.allSatisfy { $0.trigger != .initial })
        #expect(try await fixture.fires(pool, trigger: "initial").count == 1)
    }

    @Test func aLeastPrivilegeLoginWorksAcrossTenantsThroughTheSchedulerRole() async throws {
        let pool = try await SchedulerStack.pool()
        defer { pool.close() }
        let login = "ledgerline_sched_test_login"
        try await pool.execute(
            PostgresQuery(unsafeSQL: """
                DO $$ BEGIN
                    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '\(login)') THEN
                        CREATE ROLE \(login) LOGIN NOSUPERUSER NOBYPASSRLS;
                    END IF;
                END $$;
                """))
        try await pool.execute(PostgresQuery(unsafeSQL: "GRANT ledgerline_scheduler TO \(login)"))
        let fixture = try await Fixture.make(pool, zones: ["America/New_York"])
        try await fixture.addInvoices(pool, ids: ["r1"], day: "2026-11-21")
        try await fixture.setTrigger(pool, .endOfDay(enabled: true, time: LocalTimeOfDay("22:00")), anchor: utc("2026-11-21T12:00:00Z"))
        let restricted = try await SchedulerStack.pool(user: login)
        defer { restricted.close() }
        // Without a tenant setting the role sees nothing of ingest's tables except through its own policies.
        let engine = FireEngine(pool: restricted, configuration: SchedulerStack.configuration(prefix: fixture.prefix), logger: SchedulerStack.logger)
        let report = try await engine.runDue(now: utc("2026-11-22T03:00:01Z"))
        #expect(report.fired.map(\.windowKey) == ["2026-11-21"])
        #expect(report.fired.first?.invoices == 1)
        #expect(try await fixture.jobs(pool).first?.invoiceIDs == ["r1"])
        // It cannot delete fires or read other tables.
        await #expect(throws: PostgresError.self) {
            try await restricted.execute("DELETE FROM schedule_fires WHERE tenant_id = \(fixture.tenant)")
        }
        await #expect(throws: PostgresError.self) { try await restricted.query("SELECT count(*) FROM payments") }
    }
}

func utc(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = text.contains(".") ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
    return formatter.date(from: text)!
}
