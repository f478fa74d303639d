import Foundation
import Scheduling
import Testing

/// Instants written as UTC text, e.g. `utc("2026-03-08T07:00:00Z")`.
func utc(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = text.contains(".") ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
    return formatter.date(from: text)!
}

func zone(_ name: String) -> TimeZone { TimeZone(identifier: name)! }

func day(_ text: String) -> CivilDate { CivilDate(text)! }

func time(_ text: String) -> LocalTimeOfDay { LocalTimeOfDay(text)! }

@Suite("Civil dates and zoned time")
struct ZonedTimeTests {
    @Test func civilDatesRoundTripThroughDayNumbersIncludingLeapDays() {
        #expect(CivilDate(dayNumber: 0).description == "1970-01-01")
        #expect(day("2028-02-29").adding(days: 1).description == "2028-03-01")
        #expect(day("2028-03-01").adding(days: -1).description == "2028-02-29")
        #expect(day("2027-02-28").adding(days: 1).description == "2027-03-01")
        #expect(CivilDate("2027-02-29") == nil)
        #expect(CivilDate("2100-02-29") == nil)
        #expect(CivilDate("2000-02-29") != nil)
        #expect(day("1969-12-31").dayNumber == -1)
        for number in stride(from: -800_000, to: 800_000, by: 997) {
            #expect(CivilDate(dayNumber: number).dayNumber == number)
        }
    }

    @Test func localDateFollowsTheZone() {
        let instant = utc("2026-11-22T03:30:00Z")
        #expect(ZonedTime.localDate(of: instant, in: zone("America/New_York")).description == "2026-11-21")
        #expect(ZonedTime.localDate(of: instant, in: zone("Australia/Sydney")).description == "2026-11-22")
        #expect(ZonedTime.localDate(of: instant, in: zone("Pacific/Kiritimati")).description == "2026-11-22")
        #expect(ZonedTime.localDate(of: instant, in: zone("Pacific/Pago_Pago")).description == "2026-11-21")
    }

    @Test func ordinaryWallTimesMapToOneInstant() {
        #expect(ZonedTime.instant(of: day("2026-07-01"), at: time("23:59"), in: zone("America/New_York")) == utc("2026-07-02T03:59:00Z"))
        #expect(ZonedTime.instant(of: day("2026-01-15"), at: time("23:59"), in: zone("Europe/London")) == utc("2026-01-15T23:59:00Z"))
        #expect(ZonedTime.instant(of: day("2026-01-15"), at: time("23:59"), in: zone("Australia/Sydney")) == utc("2026-01-15T12:59:00Z"))
        #expect(ZonedTime.instant(of: day("2026-01-15"), at: time("23:59"), in: zone("Asia/Kolkata")) == utc("2026-01-15T18:29:00Z"))
    }

    @Test func skippedWallTimesMoveForwardByTheGap() {
        // New York: 2026-03-08 02:00 EST → 03:00 EDT.
        #expect(ZonedTime.instant(of: day("2026-03-08"), at: time("02:30"), in: zone("America/New_York")) == utc("2026-03-08T07:30:00Z"))
        #expect(ZonedTime.instant(of: day("2026-03-08"), at: time("03:00"), in: zone("America/New_York")) == utc("2026-03-08T07:00:00Z"))
        // Sydney: 2026-10-04 02:00 AEST → 03:00 AEDT.
        #expect(ZonedTime.instant(of: day("2026-10-04"), at: time("02:15"), in: zone("Australia/Sydney")) == utc("2026-10-03T16:15:00Z"))
        // London: 2026-03-29 01:00 GMT → 02:00 BST.
        #expect(ZonedTime.instant(of: day("2026-03-29"), at: time("01:30"), in: zone("Europe/London")) == utc("2026-03-29T01:30:00Z"))
    }

    @Test func repeatedWallTimesMeanTheFirstOccurrence() {
        // New York: 2026-11-01 02:00 EDT → 01:00 EST: 01:30 happens at 05:30Z and 06:30Z.
        #expect(ZonedTime.instant(of: day("2026-11-01"), at: time("01:30"), in: zone("America/New_York")) == utc("2026-11-01T05:30:00Z"))
        // Sydney: 2026-04-05 03:00 AEDT → 02:00 AEST: 02:30 happens at 15:30Z and 16:30Z (04-04).
        #expect(ZonedTime.instant(of: day("2026-04-05"), at: time("02:30"), in: zone("Australia/Sydney")) == utc("2026-04-04T15:30:00Z"))
        // London: 2026-10-25 02:00 BST → 01:00 GMT.
        #expect(ZonedTime.instant(of: day("2026-10-25"), at: time("01:30"), in: zone("Europe/London")) == utc("2026-10-25T00:30:00Z"))
    }

    @Test func startOfDayOnDaysOf23And25Hours() {
        let newYork = zone("America/New_York")
        let short = ZonedTime.startOfDay(day("2026-03-09"), in: newYork).timeIntervalSince(ZonedTime.startOfDay(day("2026-03-08"), in: newYork))
        let long = ZonedTime.startOfDay(day("2026-11-02"), in: newYork).timeIntervalSince(ZonedTime.startOfDay(day("2026-11-01"), in: newYork))
        #expect(short == 23 * 3600)
        #expect(long == 25 * 3600)
    }

    @Test func timeTextsParse() {
        #expect(LocalTimeOfDay("23:59")?.description == "23:59")
        #expect(LocalTimeOfDay("7:05")?.description == "07:05")
        #expect(LocalTimeOfDay("23:59:00")?.description == "23:59")
        #expect(LocalTimeOfDay("24:00") == nil)
        #expect(LocalTimeOfDay("12:60") == nil)
        #expect(Schedule.parseInterval("2h") == 7200)
        #expect(Schedule.parseInterval("30m") == 1800)
        #expect(Schedule.parseInterval("hourly") == 3600)
        #expect(Schedule.parseInterval("daily") == 86_400)
        #expect(Schedule.parseInterval("0h") == nil)
        #expect(Schedule.parseInterval("2x") == nil)
        #expect(Schedule.formatInterval(7200) == "2h")
        #expect(Schedule.formatInterval(90) == "90s")
        #expect(Schedule.utcKey(utc("2028-02-29T23:00:00Z")) == "2028-02-29T23:00:00Z")
        #expect(Schedule.utcKey(Date(timeIntervalSince1970: 1.5), milliseconds: true) == "1970-01-01T00:00:01.500Z")
    }
}
