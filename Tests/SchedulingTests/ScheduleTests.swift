import Foundation
import Scheduling
import Testing

@Suite("Schedule: next fire times, windows, catch-up")
struct ScheduleTests {
    /// Every end-of-day fire of `zoneName` from `first` for `days` days, walking with nextWindow like the
    /// scheduler does (each fire plans the next).
    func walk(_ zoneName: String, from first: Date, days: Int, at time: LocalTimeOfDay = .endOfDay) -> [ScheduleWindow] {
        let rule = TriggerRule.endOfDay(time: time, timeZone: zone(zoneName))
        var windows: [ScheduleWindow] = []
        var cursor = first
        while windows.count < days, let next = Schedule.nextWindow(after: cursor, rule: rule) {
            windows.append(next)
            cursor = next.end
        }
        return windows
    }

    @Test(arguments: ["America/New_York", "Australia/Sydney", "Europe/London", "Asia/Kolkata", "Pacific/Chatham",
                      "America/Santiago", "Asia/Tehran", "Australia/Lord_Howe"])
    func endOfDayFiresOncePerLocalBusinessDayForTwoYears(_ name: String) {
        let windows = walk(name, from: utc("2026-01-01T00:00:00Z"), days: 731)
        let days = windows.compactMap(\.businessDay)
        #expect(days.count == 731)
        // Consecutive local days, no gap, no repeat — across every DST change and the 2028 leap day.
        for (previous, next) in zip(days, days.dropFirst()) {
            #expect(next.dayNumber == previous.dayNumber + 1, "\(name): \(previous) → \(next)")
        }
        #expect(days.contains(day("2028-02-29")) == (days.last! >= day("2028-02-29")))
        // Every fire is at 23:59 on the wall clock of its own business day.
        for window in windows {
            #expect(ZonedTime.localDate(of: window.end, in: zone(name)) == window.businessDay)
            #expect(window.key == window.businessDay?.description)
            let local = Int(window.end.timeIntervalSince1970) + zone(name).secondsFromGMT(for: window.end)
            #expect(((local % 86_400) + 86_400) % 86_400 == 23 * 3600 + 59 * 60, "\(name) \(window.key)")
        }
    }

    @Test func endOfDayOnTheDaysOf23And25HoursInNewYork() {
        let windows = walk("America/New_York", from: utc("2026-03-07T12:00:00Z"), days: 3)
        #expect(windows.map(\.key) == ["2026-03-07", "2026-03-08", "2026-03-09"])
        #expect(windows.map(\.end) == [utc("2026-03-08T04:59:00Z"), utc("2026-03-09T03:59:00Z"), utc("2026-03-10T03:59:00Z")])
        // The 23-hour day's window is 23 h 59 min long, the 25-hour day's 25 h 59 min.
        #expect(windows[1].end.timeIntervalSince(windows[1].start!) == 23 * 3600 - 60 + 3600 - 3600)
        let autumn = walk("America/New_York", from: utc("2026-10-31T12:00:00Z"), days: 3)
        #expect(autumn.map(\.key) == ["2026-10-31", "2026-11-01", "2026-11-02"])
        #expect(autumn[1].end.timeIntervalSince(autumn[1].start!) == 25 * 3600 - 60)
        #expect(autumn[1].end.timeIntervalSince(autumn[0].end) == 25 * 3600)
    }

    @Test func endOfDayAtAWallTimeInsideTheSkippedOrRepeatedHour() {
        // 02:30 in Sydney: skipped on 2026-10-04 (fires 03:30 AEDT), repeated on 2026-04-05 (fires the first).
        let spring = walk("Australia/Sydney", from: utc("2026-10-02T12:00:00Z"), days: 3, at: time("02:30"))
        #expect(spring.map(\.key) == ["2026-10-03", "2026-10-04", "2026-10-05"])
        #expect(spring[1].end == utc("2026-10-03T16:30:00Z"))
        let autumn = walk("Australia/Sydney", from: utc("2026-04-03T12:00:00Z"), days: 3, at: time("02:30"))
        #expect(autumn.map(\.key) == ["2026-04-04", "2026-04-05", "2026-04-06"])
        #expect(autumn[1].end == utc("2026-04-04T15:30:00Z"))
        // 01:30 in London on the autumn day: once, at 00:30Z (BST).
        let london = walk("Europe/London", from: utc("2026-10-24T12:00:00Z"), days: 2, at: time("01:30"))
        #expect(london.map(\.key) == ["2026-10-25", "2026-10-26"])
        #expect(london[0].end == utc("2026-10-25T00:30:00Z"))
    }

    @Test func leapDay2028HasItsOwnBatchInEveryZone() {
        for name in ["America/New_York", "Australia/Sydney", "Europe/London", "Pacific/Kiritimati", "Pacific/Pago_Pago"] {
            let windows = walk(name, from: utc("2028-02-26T00:00:00Z"), days: 7)
            #expect(windows.map(\.key).contains("2028-02-29"), "\(name)")
            #expect(windows.map(\.key).contains("2028-03-01"), "\(name)")
        }
    }

    @Test func intervalsAreAlignedToUTC() {
        let rule = TriggerRule.every(seconds: 7200)
        let next = Schedule.nextWindow(after: utc("2026-11-22T03:10:00Z"), rule: rule)!
        #expect(next.key == "2026-11-22T04:00:00Z")
        #expect(next.start == utc("2026-11-22T02:00:00Z"))
        // Exactly on a boundary: the next one (a window fires at its end, once).
        #expect(Schedule.nextWindow(after: utc("2026-11-22T04:00:00Z"), rule: rule)!.key == "2026-11-22T06:00:00Z")
        // Daily is midnight UTC, whatever the zone; across a leap day.
        let daily = TriggerRule.every(seconds: 86_400)
        #expect(Schedule.nextWindow(after: utc("2028-02-28T10:00:00Z"), rule: daily)!.key == "2028-02-29T00:00:00Z")
        #expect(Schedule.nextWindow(after: utc("2028-02-29T10:00:00Z"), rule: daily)!.key == "2028-03-01T00:00:00Z")
    }

    @Test func spreadPhasesAreStableAndSpreadConnectionsOverTheHour() {
        let ids = (0..<10_000).map { _ in UUID().uuidString }
        let phases = ids.map { Schedule.spreadPhase(connection: $0, interval: 7200) }
        #expect(phases.allSatisfy { (0..<3600).contains($0) })
        #expect(Schedule.spreadPhase(connection: ids[0], interval: 7200) == phases[0])
        #expect(Schedule.spreadPhase(connection: ids[0].lowercased(), interval: 7200) == phases[0])
        // No minute of the hour gets much more than its share (10,000 / 60 ≈ 167).
        let perMinute = Dictionary(grouping: phases, by: { $0 / 60 }).mapValues(\.count)
        #expect(perMinute.count == 60)
        #expect(perMinute.values.max()! < 260)
        #expect(Schedule.spreadPhase(connection: ids[0], interval: 90) < 90)
        // A phased rule: windows at phase past each multiple, once each.
        let rule = TriggerRule.every(seconds: 3600, phase: 125)
        #expect(Schedule.nextWindow(after: utc("2026-11-22T03:10:00Z"), rule: rule)!.key == "2026-11-22T04:02:05Z")
        #expect(Schedule.nextWindow(after: utc("2026-11-22T03:01:00Z"), rule: rule)!.key == "2026-11-22T03:02:05Z")
        let due = Schedule.dueWindows(rule: rule, nextFire: utc("2026-11-22T04:02:05Z"), now: utc("2026-11-22T07:02:04Z"))
        #expect(due.due.map(\.key) == ["2026-11-22T06:02:05Z"])
        #expect(due.skipped == 2)
        #expect(due.next?.key == "2026-11-22T07:02:05Z")
    }

    @Test func nothingIsDueBeforeTheNextFire() {
        let rule = TriggerRule.every(seconds: 3600)
        let due = Schedule.dueWindows(rule: rule, nextFire: utc("2026-11-22T04:00:00Z"), now: utc("2026-11-22T03:59:59Z"))
        #expect(due.due.isEmpty)
        #expect(due.next?.key == "2026-11-22T04:00:00Z")
    }

    @Test func intervalCatchUpFiresOnlyTheLatestMissedWindow() {
        let rule = TriggerRule.every(seconds: 3600)
        // Planned for 04:00, the scheduler was down until 09:20: windows 04…09 are owed; 09:00 fires, 5 are skipped.
        let due = Schedule.dueWindows(rule: rule, nextFire: utc("2026-11-22T04:00:00Z"), now: utc("2026-11-22T09:20:00Z"))
        #expect(due.due.map(\.key) == ["2026-11-22T09:00:00Z"])
        #expect(due.skipped == 5)
        #expect(due.next?.key == "2026-11-22T10:00:00Z")
        // On time: one window, nothing skipped.
        let onTime = Schedule.dueWindows(rule: rule, nextFire: utc("2026-11-22T04:00:00Z"), now: utc("2026-11-22T04:00:00.2Z"))
        #expect(onTime.due.map(\.key) == ["2026-11-22T04:00:00Z"])
        #expect(onTime.skipped == 0)
    }

    @Test func endOfDayCatchUpFiresEveryMissedDayUpToTheLimit() {
        let rule = TriggerRule.endOfDay(time: .endOfDay, timeZone: zone("Europe/London"))
        let first = Schedule.nextWindow(after: utc("2026-03-27T12:00:00Z"), rule: rule)!
        #expect(first.key == "2026-03-27")
        // Down from before 03-27 23:59 until 03-31 10:00: 27, 28, 29 (23 h day), 30 are owed, all fire, in order.
        let due = Schedule.dueWindows(rule: rule, nextFire: first.end, now: utc("2026-03-31T10:00:00Z"))
        #expect(due.due.map(\.key) == ["2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30"])
        #expect(due.skipped == 0)
        #expect(due.next?.key == "2026-03-31")
        // Down for 20 days with a limit of 7: the newest 7 fire, 13 are skipped.
        let long = Schedule.dueWindows(
            rule: rule, nextFire: first.end, now: utc("2026-04-16T12:00:00Z"), policy: CatchUpPolicy(maxEndOfDayDays: 7))
        #expect(long.due.count == 7)
        #expect(long.due.first?.key == "2026-04-09")
        #expect(long.due.last?.key == "2026-04-15")
        #expect(long.skipped == 13)
    }

    @Test func theInitialSyncFiresOnce() {
        let at = utc("2026-11-22T03:00:00Z")
        let rule = TriggerRule.once(at: at)
        #expect(Schedule.nextWindow(after: at.addingTimeInterval(-1), rule: rule)?.key == "initial")
        #expect(Schedule.nextWindow(after: at, rule: rule) == nil)
        let due = Schedule.dueWindows(rule: rule, nextFire: at, now: at.addingTimeInterval(3600))
        #expect(due.due.map(\.key) == ["initial"])
        #expect(due.next == nil)
    }

    @Test func manualWindowsAreUniqueToTheMillisecond() {
        let a = Schedule.manualWindow(at: utc("2026-11-22T03:00:00Z"))
        let b = Schedule.manualWindow(at: utc("2026-11-22T03:00:00Z").addingTimeInterval(0.001))
        #expect(a.key == "manual:2026-11-22T03:00:00.000Z")
        #expect(a.key != b.key)
    }

    @Test func theVirtualClockJumpsOnSleepAndNeverGoesBack() async throws {
        let clock = VirtualClock(start: utc("2026-11-22T03:00:00Z"))
        try await clock.sleep(until: utc("2026-11-23T03:00:00Z"))
        #expect(clock.now() >= utc("2026-11-23T03:00:00Z"))
        #expect(clock.now() < utc("2026-11-23T03:00:05Z"))
        clock.advance(to: utc("2026-11-22T00:00:00Z"))
        #expect(clock.now() >= utc("2026-11-23T03:00:00Z"))
    }

    /// 1,000 locations in 30 zones, a year each: one fire per local day, evaluated fast.
    @Test func thirtyZonesForAYear() {
        let names = Array(TimeZone.knownTimeZoneIdentifiers.filter { $0.contains("/") }.prefix(30))
        #expect(names.count == 30)
        for name in names {
            let days = walk(name, from: utc("2027-12-31T00:00:00Z"), days: 367).compactMap(\.businessDay)
            #expect(Set(days).count == 367)
            #expect(days.contains(day("2028-02-29")))
        }
    }
}
