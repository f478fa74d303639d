public import Foundation

/// An instant with the UTC offset it was written in: RFC 3339 `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
///
/// Equality and ordering compare the instant (`10:00:00Z` equals `11:00:00+01:00`); encoding writes the
/// original offset and fraction digits back. Up to 9 fraction digits (nanoseconds) are kept exactly. `T` and
/// `Z` must be upper case, seconds are 00–59 (no leap second), and an offset is required.
public struct Timestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    public let epochSeconds: Int64
    /// Nanoseconds within the second, 0...999,999,999.
    public let nanoseconds: Int32
    /// The offset from UTC the producer wrote, in minutes (0 for `Z`).
    public let utcOffsetMinutes: Int
    /// Fraction digits as written (0...9), used when encoding.
    public let fractionDigits: Int

    /// Parses RFC 3339 text.
    /// - Parameter string: e.g. `2025-03-01T14:05:09.120-05:00` or `2025-03-01T19:05:09Z`.
    /// - Returns: `nil` for any other form or an impossible date or time.
    public init?(string: String) {
        let b = Array(string.utf8)
        guard b.count >= 20, b[10] == UInt8(ascii: "T"), b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
            let date = LocalDate(string: String(decoding: b[0..<10], as: UTF8.self)),
            let hour = DateText.number(b, 11, 2), hour < 24,
            let minute = DateText.number(b, 14, 2), minute < 60,
            let second = DateText.number(b, 17, 2), second < 60
        else { return nil }
        var index = 19
        var nanos = 0
        var digits = 0
        if b[index] == UInt8(ascii: ".") {
            index += 1
            while index < b.count, b[index] >= 48, b[index] <= 57 {
                guard digits < 9 else { return nil }
                nanos = nanos * 10 + Int(b[index] - 48)
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<9 { nanos *= 10 }
        }
        var offset = 0
        guard index < b.count else { return nil }
        if b[index] == UInt8(ascii: "Z") {
            guard index + 1 == b.count else { return nil }
        } else {
            guard b[index] == UInt8(ascii: "+") || b[index] == UInt8(ascii: "-"), index + 6 == b.count,
                b[index + 3] == UInt8(ascii: ":"),
                let offsetHours = DateText.number(b, index + 1, 2), offsetHours < 24,
                let offsetMinutes = DateText.number(b, index + 4, 2), offsetMinutes < 60
            else { return nil }
            offset = (offsetHours * 60 + offsetMinutes) * (b[index] == UInt8(ascii: "-") ? -1 : 1)
        }
        let local = Int64(date.daysSinceEpoch) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        self.epochSeconds = local - Int64(offset * 60)
        self.nanoseconds = Int32(nanos)
        self.utcOffsetMinutes = offset
        self.fractionDigits = digits
    }

    /// Creates a timestamp from a `Date`, in UTC, with millisecond precision.
    /// - Parameter date: the instant.
    public init(_ date: Date) {
        let millis = (date.timeIntervalSince1970 * 1000).rounded(.down)
        let seconds = Int64((millis / 1000).rounded(.down))
        self.epochSeconds = seconds
        self.nanoseconds = Int32((Int64(millis) - seconds * 1000) * 1_000_000)
        self.utcOffsetMinutes = 0
        self.fractionDigits = 3
    }

    /// The instant as a Foundation `Date` (sub-microsecond precision may be lost; compare `Timestamp`s).
    public var date: Date {
        Date(timeIntervalSince1970: TimeInterval(epochSeconds) + TimeInterval(nanoseconds) / 1e9)
    }

    /// RFC 3339 text in the original offset and fraction digits.
    public var description: String {
        let local = epochSeconds + Int64(utcOffsetMinutes * 60)
        let days = Int(local >= 0 ? local / 86_400 : (local - 86_399) / 86_400)
        let secondOfDay = Int(local - Int64(days) * 86_400)
        let (year, month, day) = DateText.civilFromDays(days)
        var text = DateText.pad(year, 4) + "-" + DateText.pad(month, 2) + "-" + DateText.pad(day, 2) + "T"
        text += DateText.pad(secondOfDay / 3600, 2) + ":" + DateText.pad(secondOfDay / 60 % 60, 2) + ":"
        text += DateText.pad(secondOfDay % 60, 2)
        if fractionDigits > 0 {
            let nanos = DateText.pad(Int(nanoseconds), 9)
            text += "." + nanos.prefix(fractionDigits)
        }
        if utcOffsetMinutes == 0 { return text + "Z" }
        let magnitude = abs(utcOffsetMinutes)
        return text + (utcOffsetMinutes < 0 ? "-" : "+") + DateText.pad(magnitude / 60, 2) + ":"
            + DateText.pad(magnitude % 60, 2)
    }

    /// Compares instants.
    public static func == (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.epochSeconds == rhs.epochSeconds && lhs.nanoseconds == rhs.nanoseconds
    }

    /// Hashes the instant.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(epochSeconds)
        hasher.combine(nanoseconds)
    }

    /// Orders by instant.
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        (lhs.epochSeconds, lhs.nanoseconds) < (rhs.epochSeconds, rhs.nanoseconds)
    }

    /// Decodes from an RFC 3339 JSON string.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        guard let value = Timestamp(string: try container.decode(String.self)) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected an RFC 3339 timestamp")
        }
        self = value
    }

    /// Encodes as an RFC 3339 JSON string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
