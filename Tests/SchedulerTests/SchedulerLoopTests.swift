import Foundation
import Postgres
import SchedulerCore
import Scheduling
import TestSupport
import Testing

/// The timer loop with leader election, against real Postgres, on a virtual clock (days pass in seconds; the
/// work at each instant takes its real time).
@Suite("Scheduler loop", .requiresPostgres, .timeLimit(.minutes(2)))
struct SchedulerLoopTests {
    /// Runs `loops` until `clock` shows `until` (or the real `timeout` passes), then stops them.
    static func run(_ loops: [SchedulerLoop], clock: VirtualClock, until: Date, timeout: Duration = .seconds(60),
                    during: (@Sendable () async throws -> Void)? = nil) async throws {
        clock.hold(at: until)
        defer { clock.hold(at: nil) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for loop in loops { group.addTask { await loop.run() } }
            if let during { try await during() }
            try await eventually("the virtual clock to reach \(until)", timeout: timeout) { clock.now() >= until }
            group.cancelAll()
        }
    }

    @Test func twoSchedulersFireEveryWindowExactlyOnce() async throws {
        let pool = try await SchedulerStack.pool()
        defer { pool.close() }
        let zones = ["America/New_York", "Australia/Sydney", "Europe/London", "Asia/Tokyo", "UTC"]
        let fixture = try await Fixture.make(pool, zones: Array((0..<20).map { zones[$0 % zones.count] }))
        let start = utc("2026-10-30T12:00:00Z")
        try await fixture.setTriggerEverywhere(pool, kind: .interval, intervalSeconds: 3600, anchor: start)
        try await fixture.setTriggerEverywhere(pool, kind: .endOfDay, endOfDay: "23:59", anchor: start)
        let clock = VirtualClock(start: start)
        let configuration = SchedulerStack.configuration(prefix: fixture.prefix)
        let pools = try await [SchedulerStack.pool(), SchedulerStack.pool()]
        defer { pools.forEach { $0.close() } }
        let loops = pools.enumerated().map { index, pool in
            var mine = configuration
            mine.instanceID = "replica-\(index)"
            return SchedulerLoop(pool: pool, postgres: try! SchedulerStack.postgres(), clock: clock, configuration: mine,
                                 logger: SchedulerStack.logger)
        }
        let end = utc("2026-11-02T12:00:00Z")  // three days, across New York's 25-hour day
        try await Self.run(loops, clock: clock, until: end)
        let stats = loops.map(\.statistics)
        #expect(stats.map(\.elections).reduce(0, +) == 1, "one leader for the whole run")

        let fires = try await fixture.fires(pool)
        let intervals = fires.filter { $0.trigger == "interval" }
        for connection in fixture.connections.values {
            let mine = intervals.filter { $0.connectionID == connection }.map(\.scheduledFor)
            // Every hour from 13:00 on the first day to the last full hour before the end, once each.
            let hours = Int(end.timeIntervalSince(start) / 3600)
            #expect(mine.count >= hours - 1 && mine.count <= hours)
            #expect(Set(mine).count == mine.count)
            for (a, b) in zip(mine, mine.dropFirst()) { #expect(b.timeIntervalSince(a) == 3600) }
        }
        let days = fires.filter { $0.trigger == "end_of_day" }
        for (location, connection) in fixture.connections {
            let mine = days.filter { $0.connectionID == connection }
            let expected = Self.endOfDays(zone: fixture.zones[location]!, from: start, to: end)
            #expect(mine.map(\.window) == expected, "\(location) \(fixture.zones[location]!)")
        }
        #expect(fires.allSatisfy { $0.firedAt.timeIntervalSince($0.scheduledFor) < 5 && !$0.catchUp })
    }

    /// The business days whose 23:59 falls in (from, to], computed independently with Foundation's Calendar.
    static func endOfDays(zone: String, from: Date, to: Date) -> [String] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: zone)!
        var result: [String] = []
        var day = calendar.startOfDay(for: from.addingTimeInterval(-86_400))
        while day < to.addingTimeInterval(86_400) {
            let parts = calendar.dateComponents([.year, .month, .day], from: day)
            if let fire = calendar.date(bySettingHour: 23, minute: 59, second: 0, of: day), fire > from, fire <= to {
                result.append(String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!))
            }
            day = calendar.date(byAdding: .day, value: 1, to: day)!
        }
        return result
    }

    @Test func whenTheLeaderDiesTheOtherTakesOverWithinSecondsAndNoWindowIsLostOrDoubled() async throws {
        let pool = try await SchedulerStack.pool()
        defer { pool.close() }
        let fixture = try await Fixture.make(pool, zones: Array(repeating: "America/New_York", count: 5))
        let start = utc("2026-11-22T00:00:30Z")
        try await fixture.setTriggerEverywhere(pool, kind: .interval, intervalSeconds: 60, anchor: start)
        let clock = VirtualClock(start: start)
        var configuration = SchedulerStack.configuration(prefix: fixture.prefix)
        configuration.maxIdle = .seconds(5)
        let pools = try await [SchedulerStack.pool(), SchedulerStack.pool()]
        defer { pools.forEach { $0.close() } }
        let loops = pools.enumerated().map { index, pool in
            var mine = configuration
            mine.instanceID = "replica-\(index)"
            return SchedulerLoop(pool: pool, postgres: try! SchedulerStack.postgres(), clock: clock, configuration: mine,
                                 logger: SchedulerStack.logger)
        }
        var tasks = loops.map { loop in Task { await loop.run() } }
        defer { tasks.forEach { $0.cancel() } }
        try await eventually("a leader") { loops.contains { $0.statistics.role == .leader } }
        // Generous real-time bounds: virtual minutes pass only as fast as the loaded machine fires them.
        try await eventually("ten minutes of windows", timeout: .seconds(90)) { clock.now() > start.addingTimeInterval(600) }
        let leader = loops.firstIndex { $0.statistics.role == .leader }!
        let other = 1 - leader
        // Kill the leader: its lock connection goes away (as when its process dies) and it stops.
        let killed = ContinuousClock.now
        loops[leader].dropLeaderConnection()
        tasks[leader].cancel()
        try await eventually("the standby to take over", timeout: .seconds(10)) { loops[other].statistics.role == .leader }
        let takeover = ContinuousClock.now - killed
        #expect(takeover < .seconds(3))
        let afterTakeover = clock.now()
        try await eventually("ten more minutes", timeout: .seconds(90)) { clock.now() > afterTakeover.addingTimeInterval(600) }
        tasks[other].cancel()
        _ = await tasks[other].value
        tasks = []

        let fires = try await fixture.fires(pool)
        #expect(Set(fires.map(\.firedBy)) == ["replica-\(leader)", "replica-\(other)"])
        for connection in fixture.connections.values {
            let minutes = fires.filter { $0.connectionID == connection }.map(\.scheduledFor)
            #expect(minutes.first == utc("2026-11-22T00:01:00Z"))
            #expect(Set(minutes).count == minutes.count, "no window doubled")
            for (a, b) in zip(minutes, minutes.dropFirst()) { #expect(b.timeIntervalSince(a) == 60, "no window lost") }
        }
    }

    @Test func windowsMissedWhileNoSchedulerRanAreCaughtUpOnceOnRestart() async throws {
        let pool = try await SchedulerStack.pool()
        defer { pool.close() }
        let fixture = try await Fixture.make(pool, zones: ["Europe/London"])
        let start = utc("2026-03-27T20:00:00Z")
        try await fixture.setTrigger(pool, .interval(seconds: 3600), anchor: start)
        try await fixture.setTrigger(pool, .endOfDay(enabled: true, time: nil), anchor: start)
        try await fixture.addInvoices(pool, ids: ["a27"], day: "2026-03-27")
        try await fixture.addInvoices(pool, ids: ["a28"], day: "2026-03-28")
        try await fixture.addInvoices(pool, ids: ["a29"], day: "2026-03-29")
        let clock = VirtualClock(start: start)
        let configuration = SchedulerStack.configuration(prefix: fixture.prefix)
        func loop() -> SchedulerLoop {
            SchedulerLoop(pool: pool, postgres: try! SchedulerStack.postgres(), clock: clock, configuration: configuration,
                          logger: SchedulerStack.logger)
        }
        // Runs until 22:30 on the 27th, then stops before the end of day.
        try await Self.run([loop()], clock: clock, until: utc("2026-03-27T22:30:00Z"))
        #expect(try await fixture.fires(pool, trigger: "end_of_day").isEmpty)
        #expect(try await fixture.fires(pool, trigger: "interval").map(\.window) == ["2026-03-27T21:00:00Z", "2026-03-27T22:00:00Z"])
        // Nobody runs across two ends of day (27th and the 23-hour 29th… and the 28th), restart on the 30th at 09:10.
        clock.advance(to: utc("2026-03-30T09:10:00Z"))
        let restarted = loop()
        try await Self.run([restarted], clock: clock, until: utc("2026-03-30T09:10:01Z"))
        let days = try await fixture.fires(pool, trigger: "end_of_day")
        #expect(days.map(\.window) == ["2026-03-27", "2026-03-28", "2026-03-29"])
        #expect(days.allSatisfy { $0.catchUp })
        #expect(days.map(\.invoices) == [1, 1, 1])
        let hours = try await fixture.fires(pool, trigger: "interval")
        #expect(hours.map(\.window) == ["2026-03-27T21:00:00Z", "2026-03-27T22:00:00Z", "2026-03-30T09:00:00Z"])
        // Another restart fires nothing again.
        try await Self.run([loop()], clock: clock, until: utc("2026-03-30T09:10:02Z"))
        #expect(try await fixture.fires(pool).count == 6)
    }

    @Test func aThousandLocationsInThirtyZonesEachFireTheirEndOfDayOnceOnTime() async throws {
        let pool = try await SchedulerStack.pool()
        defer { pool.close() }
        let zones = [
            "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Anchorage",
            "Pacific/Honolulu", "America/Sao_Paulo", "America/Santiago", "America/St_Johns", "America/Mexico_City",
            "Europe/London", "Europe/Paris", "Europe/Helsinki", "Europe/Moscow", "Africa/Johannesburg",
            "Asia/Dubai", "Asia/Tehran", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Dhaka",
            "Asia/Bangkok", "Asia/Shanghai", "Asia/Tokyo", "Australia/Adelaide", "Australia/Sydney",
            "Australia/Lord_Howe", "Pacific/Auckland", "Pacific/Chatham", "Pacific/Kiritimati", "Pacific/Pago_Pago",
        ]
        let fixture = try await Fixture.make(pool, zones: (0..<1000).map { zones[$0 % 30] })
        // Across Europe's end of summer time (25 October) and a day on either side.
        let start = utc("2026-10-24T06:00:00Z")
        let end = utc("2026-10-27T06:00:00Z")
        try await fixture.setTriggerEverywhere(pool, kind: .endOfDay, endOfDay: "23:59", anchor: start)
        let clock = VirtualClock(start: start)
        var configuration = SchedulerStack.configuration(prefix: fixture.prefix)
        configuration.maxIdle = .seconds(600)
        let loop = SchedulerLoop(pool: pool, postgres: try SchedulerStack.postgres(), clock: clock, configuration: configuration,
                                 logger: SchedulerStack.logger)
        try await Self.run([loop], clock: clock, until: end, timeout: .seconds(90))
        let fires = try await fixture.fires(pool)
        var expectedTotal = 0
        for (location, connection) in fixture.connections {
            let expected = Self.endOfDays(zone: fixture.zones[location]!, from: start, to: end)
            expectedTotal += expected.count
            #expect(fires.filter { $0.connectionID == connection }.map(\.window) == expected, "\(location)")
        }
        #expect(fires.count == expectedTotal)
        #expect(expectedTotal >= 2900)
        let lateness = fires.map { $0.firedAt.timeIntervalSince($0.scheduledFor) }
        #expect(lateness.allSatisfy { $0 >= 0 })
        #expect((lateness.max() ?? 99) < 3, "latest fire \(lateness.max() ?? -1) s after its time")
    }
}
