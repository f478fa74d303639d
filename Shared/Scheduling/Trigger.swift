import Foundation

/// Why the scheduler fires: the trigger kinds of a connection's schedule. The raw values are the `trigger`
/// values of sync jobs and of the sync log (`SyncJob.Trigger`).
public enum TriggerKind: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// An interval sweep: every invoice of the connection still pending, failed-retryable or deferred past its
    /// not-before time is enqueued again.
    case interval
    /// The end-of-day batch of the location's business day.
    case endOfDay = "end_of_day"
    /// A scheduled pull of what changed in the ERP (two-way sync).
    case pull
    /// The initial full sync of a new connection (fires once).
    case initial
    /// "Sync now" from an operator (`syncctl sync`).
    case manual

    public var description: String { rawValue }
}

/// When a trigger fires.
public enum TriggerRule: Sendable, Hashable {
    /// Every `seconds`, at `phase` seconds past the multiples of `seconds` since 1970-01-01T00:00:00Z (with phase
    /// 0 "every 2 h" fires at 00:00, 02:00, … UTC and "daily" at 00:00 UTC), on every replica alike. See
    /// ``Schedule/spreadPhase(connection:interval:)`` for the phase the scheduler gives each connection.
    case every(seconds: Int, phase: Int = 0)
    /// Once per local business day of `timeZone`, when its wall clock shows `time`.
    case endOfDay(time: LocalTimeOfDay, timeZone: TimeZone)
    /// Once, at `at` (the initial sync of a new connection).
    case once(at: Date)
}

/// One window of a trigger: what one fire covers. A fire is unique per (connection, trigger, ``key``).
public struct ScheduleWindow: Sendable, Hashable, CustomStringConvertible {
    /// The window's identity: the end instant in UTC for intervals and pulls (`2026-11-22T02:00:00Z`), the
    /// business day for end-of-day batches (`2026-11-22`), `initial`, or `manual:<instant>`.
    public var key: String
    /// Where the window starts (intervals: end − interval; end-of-day: local midnight); nil for one-off fires.
    public var start: Date?
    /// When the window is due: its fire time.
    public var end: Date
    /// The local business day of an end-of-day window.
    public var businessDay: CivilDate?

    /// A window with its key, bounds and (end-of-day) business day.
    public init(key: String, start: Date?, end: Date, businessDay: CivilDate? = nil) {
        self.key = key
        self.start = start
        self.end = end
        self.businessDay = businessDay
    }

    public var description: String { key }
}

/// How windows missed while no scheduler ran are caught up.
///
/// - Intervals and pulls: only the **latest** missed window fires (each sweep or pull covers everything up
///   to its time, so firing the older ones too would only repeat it); the older ones are counted as skipped.
/// - End-of-day batches: **every** missed business day fires, oldest first (each day's batch has its own
///   invoices), but at most ``maxEndOfDayDays`` of them (the newest); older days are skipped.
/// - The initial sync fires once, whenever it is found due.
public struct CatchUpPolicy: Sendable, Hashable {
    /// At most this many missed end-of-day batches are fired per connection after an outage.
    public var maxEndOfDayDays: Int

    /// A policy firing at most `maxEndOfDayDays` missed end-of-day batches (at least 1).
    public init(maxEndOfDayDays: Int = 7) {
        self.maxEndOfDayDays = max(1, maxEndOfDayDays)
    }
}

/// The windows a trigger owes at some instant.
public struct DueWindows: Sendable, Hashable {
    /// To fire now, oldest first.
    public var due: [ScheduleWindow]
    /// Missed windows not fired because of the catch-up policy.
    public var skipped: Int
    /// The next window after now (nil: the trigger never fires again).
    public var next: ScheduleWindow?
}

/// Pure schedule arithmetic: next fire times, windows and catch-up. No I/O, no clock: every function takes
/// the instants it works on, so it is tested with any clock and in any zone.
public enum Schedule {
    /// The first window of `rule` whose fire time is strictly after `instant`; nil for a one-off fire in the past.
    public static func nextWindow(after instant: Date, rule: TriggerRule) -> ScheduleWindow? {
        switch rule {
        case .every(let seconds, let phase):
            let interval = max(1, seconds)
            let now = Int(instant.timeIntervalSince1970.rounded(.down)) - phase
            let end = (ZonedTime.floorDiv(now, interval) + 1) * interval + phase
            return intervalWindow(end: end, interval: interval)
        case .endOfDay(let time, let zone):
            let today = ZonedTime.localDate(of: instant, in: zone)
            for offset in -1...3 {
                let window = endOfDayWindow(today.adding(days: offset), time: time, zone: zone)
                if window.end > instant { return window }
            }
            return endOfDayWindow(today.adding(days: 4), time: time, zone: zone)
        case .once(let at):
            return at > instant ? onceWindow(at) : nil
        }
    }

    /// The window of `rule` that is due at `nextFire` (the trigger's planned fire time), and those after it up
    /// to `now`, reduced by `policy`; plus the window after `now`.
    ///
    /// `nextFire` is the first window not fired yet (what ``nextWindow(after:rule:)`` returned when the trigger
    /// was planned or last fired). Nothing is due while `now < nextFire`.
    public static func dueWindows(rule: TriggerRule, nextFire: Date, now: Date, policy: CatchUpPolicy = CatchUpPolicy())
        -> DueWindows
    {
        let next = nextWindow(after: now, rule: rule)
        guard nextFire <= now else {
            return DueWindows(due: [], skipped: 0, next: nextWindow(after: nextFire.addingTimeInterval(-0.001), rule: rule))
        }
        switch rule {
        case .every(let seconds, let phase):
            let interval = max(1, seconds)
            let latest = ZonedTime.floorDiv(Int(now.timeIntervalSince1970.rounded(.down)) - phase, interval) * interval + phase
            let first = Int(nextFire.timeIntervalSince1970.rounded(.up))
            guard latest >= first else { return DueWindows(due: [], skipped: 0, next: next) }
            // Windows first…latest are owed; the latest fires, the older ones are skipped.
            let owed = (latest - phase - ZonedTime.floorDiv(first - 1 - phase, interval) * interval) / interval
            return DueWindows(due: [intervalWindow(end: latest, interval: interval)], skipped: max(0, owed - 1), next: next)
        case .endOfDay(let time, let zone):
            var windows: [ScheduleWindow] = []
            var day = ZonedTime.localDate(of: nextFire, in: zone).adding(days: -1)
            let lastDay = ZonedTime.localDate(of: now, in: zone).adding(days: 1)
            while day <= lastDay {
                let window = endOfDayWindow(day, time: time, zone: zone)
                if window.end >= nextFire && window.end <= now { windows.append(window) }
                day = day.adding(days: 1)
                if windows.count > 3660 { break }
            }
            let kept = Array(windows.suffix(policy.maxEndOfDayDays))
            return DueWindows(due: kept, skipped: windows.count - kept.count, next: next)
        case .once(let at):
            return DueWindows(due: [onceWindow(at)], skipped: 0, next: nil)
        }
    }

    /// The end-of-day window of `day`: from the local start of the day to `time` on it.
    public static func endOfDayWindow(_ day: CivilDate, time: LocalTimeOfDay, zone: TimeZone) -> ScheduleWindow {
        ScheduleWindow(
            key: day.description, start: ZonedTime.startOfDay(day, in: zone),
            end: ZonedTime.instant(of: day, at: time, in: zone), businessDay: day)
    }

    /// The interval window ending at `end` (seconds since 1970).
    public static func intervalWindow(end: Int, interval: Int) -> ScheduleWindow {
        let endDate = Date(timeIntervalSince1970: TimeInterval(end))
        return ScheduleWindow(key: utcKey(endDate), start: endDate.addingTimeInterval(-TimeInterval(interval)), end: endDate)
    }

    /// The window of a one-off fire.
    public static func onceWindow(_ at: Date) -> ScheduleWindow {
        ScheduleWindow(key: "initial", start: nil, end: at)
    }

    /// The window of a manual fire at `instant` (unique to the millisecond).
    public static func manualWindow(at instant: Date) -> ScheduleWindow {
        ScheduleWindow(key: "manual:" + utcKey(instant, milliseconds: true), start: nil, end: instant)
    }

    /// `2026-11-22T02:00:00Z` (with `.123` before the `Z` when `milliseconds`).
    public static func utcKey(_ instant: Date, milliseconds: Bool = false) -> String {
        let millis = Int((instant.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = ZonedTime.floorDiv(millis, 1000)
        let day = CivilDate(dayNumber: ZonedTime.floorDiv(seconds, 86_400))
        let rest = seconds - day.dayNumber * 86_400
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var text = "\(day)T\(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60))"
        if milliseconds {
            let ms = millis - seconds * 1000
            text += "." + (ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)")
        }
        return text + "Z"
    }

    /// The phase that spreads a connection's interval windows: a stable hash of `connection` (FNV-1a of its
    /// text) in whole seconds below `min(interval, 3600)`. So 10,000 connections with "every 2 h" do not all
    /// fire at 00:00 UTC but spread over the first hour of each window (about 170 a minute), which keeps the
    /// scheduler's, the workers' and the ERPs' load even; "daily" fires within the hour after midnight UTC.
    public static func spreadPhase(connection: String, interval: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in connection.lowercased().utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int(hash % UInt64(max(1, min(interval, 3600))))
    }

    /// Parses interval texts: `90s`, `15m`, `2h`, `1d`, `hourly`, `daily` → seconds.
    public static func parseInterval(_ text: String) -> Int? {
        let lowered = text.lowercased().trimmingCharacters(in: .whitespaces)
        switch lowered {
        case "hourly": return 3600
        case "daily": return 86_400
        default: break
        }
        guard let unit = lowered.last, let value = Int(lowered.dropLast()), value > 0 else { return nil }
        switch unit {
        case "s": return value
        case "m": return value * 60
        case "h": return value * 3600
        case "d": return value * 86_400
        default: return nil
        }
    }

    /// `2h`, `15m`, `1d`, `90s`: the shortest exact form.
    public static func formatInterval(_ seconds: Int) -> String {
        if seconds % 86_400 == 0 { return "\(seconds / 86_400)d" }
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
