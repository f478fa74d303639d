import Foundation

/// Conversions between instants and a time zone's wall clock, correct across DST changes.
///
/// Uses only `TimeZone.secondsFromGMT(for:)` (the IANA rules), so it behaves the same on every platform:
/// - a wall time that happens **twice** (the repeated hour when clocks go back) means its **first** occurrence;
/// - a wall time that **does not exist** (the hour skipped when clocks go forward) is moved forward by the
///   length of the gap (02:30 on a 02:00→03:00 day is 03:30), as `Calendar` does.
public enum ZonedTime {
    /// The business day (local date) of `instant` in `zone`.
    public static func localDate(of instant: Date, in zone: TimeZone) -> CivilDate {
        let seconds = Int(instant.timeIntervalSince1970.rounded(.down)) + zone.secondsFromGMT(for: instant)
        return CivilDate(dayNumber: floorDiv(seconds, 86_400))
    }

    /// The instant at which the wall clock of `zone` shows `time` on `date` (see the type's rules for
    /// repeated and skipped times).
    public static func instant(of date: CivilDate, at time: LocalTimeOfDay, in zone: TimeZone) -> Date {
        instant(wallSeconds: date.dayNumber * 86_400 + time.secondsIntoDay, in: zone)
    }

    /// The first instant of `date` in `zone` (local midnight, or the end of a gap that swallowed it).
    public static func startOfDay(_ date: CivilDate, in zone: TimeZone) -> Date {
        instant(wallSeconds: date.dayNumber * 86_400, in: zone)
    }

    /// Wall-clock seconds since 1970-01-01T00:00 (as if the wall clock were UTC) → the instant.
    static func instant(wallSeconds: Int, in zone: TimeZone) -> Date {
        let naive = Date(timeIntervalSince1970: TimeInterval(wallSeconds))
        let before = zone.secondsFromGMT(for: naive.addingTimeInterval(-26 * 3600))
        let after = zone.secondsFromGMT(for: naive.addingTimeInterval(26 * 3600))
        let here = zone.secondsFromGMT(for: naive)
        var best: Int?
        for offset in Set([before, after, here]) {
            let candidate = wallSeconds - offset
            if zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(candidate))) == offset {
                best = min(best ?? candidate, candidate)
            }
        }
        // No offset maps the wall time onto itself: it lies in a gap. Read it with the offset from before the
        // gap, which lands as far past the gap's start as the wall time was.
        return Date(timeIntervalSince1970: TimeInterval(best ?? (wallSeconds - before)))
    }

    static func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
}
