import Foundation

/// Reading and writing Postgres text-format values.
///
/// Every connection sets `DateStyle=ISO, MDY`, `TimeZone=UTC` and `bytea_output=hex`, so the text
/// forms parsed here are fixed. Parsing is done by hand so that `numeric` never passes through
/// `Double` and timestamps keep their microseconds.
enum PostgresTextFormat {
    // MARK: Integers

    static func parseInt64(_ bytes: ArraySlice<UInt8>) -> Int64? {
        var index = bytes.startIndex
        guard index < bytes.endIndex else { return nil }
        var negative = false
        if bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
            guard index < bytes.endIndex else { return nil }
        }
        var value: Int64 = 0
        while index < bytes.endIndex {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) =
                negative ? times10.subtractingReportingOverflow(Int64(digit)) : times10.addingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { return nil }
            value = next
            index += 1
        }
        return value
    }

    // MARK: numeric

    /// Why a `numeric` text did not become a `Decimal`.
    enum DecimalParseFailure: Error { case malformed, notANumber, tooManyDigits, exponentOutOfRange }

    /// Parses `numeric` text (`-123.4500`, `0`, `NaN`) into a `Decimal` exactly, or fails: it never
    /// rounds. Values with more than 38 significant digits do not fit a `Decimal` and fail.
    static func parseDecimal(_ bytes: ArraySlice<UInt8>) throws(DecimalParseFailure) -> Decimal {
        var index = bytes.startIndex
        guard index < bytes.endIndex else { throw .malformed }
        var negative = false
        if bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        if bytes[index...].elementsEqual("NaN".utf8) { throw .notANumber }
        // Collect significant digits and the scale.
        var digits: [UInt8] = []
        digits.reserveCapacity(bytes.count)
        var scale = 0
        var seenPoint = false
        var seenDigit = false
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: ".") {
                guard !seenPoint else { throw .malformed }
                seenPoint = true
            } else {
                let digit = byte &- UInt8(ascii: "0")
                guard digit < 10 else { throw .malformed }  // also rejects "Infinity" and exponents
                seenDigit = true
                if seenPoint { scale += 1 }
                if !(digits.isEmpty && digit == 0) { digits.append(digit) }  // drop leading zeros
            }
            index += 1
        }
        guard seenDigit else { throw .malformed }
        var exponent = -scale
        while digits.count > 38, digits.last == 0 {  // trailing zeros move into the exponent
            digits.removeLast()
            exponent += 1
        }
        guard digits.count <= 38 else { throw .tooManyDigits }
        // Decimal's mantissa holds 38 digits, so this arithmetic is exact.
        var significand = Decimal(0)
        var chunk: UInt64 = 0
        var chunkDigits = 0
        for digit in digits {
            chunk = chunk * 10 + UInt64(digit)
            chunkDigits += 1
            if chunkDigits == 18 {
                significand = significand * Decimal(sign: .plus, exponent: 18, significand: 1) + Decimal(chunk)
                chunk = 0
                chunkDigits = 0
            }
        }
        if chunkDigits > 0 {
            significand = significand * Decimal(sign: .plus, exponent: chunkDigits, significand: 1) + Decimal(chunk)
        }
        if digits.isEmpty { return Decimal(0) }
        // Decimal's exponent is an Int8; outside it the value would be rounded.
        guard (-128...127).contains(exponent) else { throw .exponentOutOfRange }
        let value = Decimal(sign: negative ? .minus : .plus, exponent: exponent, significand: significand)
        guard !value.isNaN else { throw .exponentOutOfRange }
        return value
    }

    /// Formats a `Decimal` in `numeric` input syntax (`Decimal.description` is locale-free and exact).
    static func formatDecimal(_ value: Decimal) -> String {
        value.isNaN ? "NaN" : value.description
    }

    // MARK: timestamptz

    /// Formats an instant as `YYYY-MM-DD HH:MM:SS.ffffff+00`, rounded to microseconds (the precision
    /// of `timestamptz`). Years before 1 are written with ` BC`.
    static func formatTimestamp(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let (days, microOfDay) = floorDivide(micros, 86_400_000_000)
        let (year, month, day) = civil(fromDays: days)
        let seconds = microOfDay / 1_000_000
        let fraction = microOfDay % 1_000_000
        var text = ""
        text.reserveCapacity(32)
        let bc = year <= 0
        text += pad(bc ? 1 - year : year, 4)
        text += "-" + pad(month, 2) + "-" + pad(day, 2) + " "
        text += pad(seconds / 3600, 2) + ":" + pad(seconds / 60 % 60, 2) + ":" + pad(seconds % 60, 2)
        text += "." + pad(fraction, 6) + "+00"
        if bc { text += " BC" }
        return text
    }

    /// Parses `timestamptz` (`2024-05-06 07:08:09.123456+00`, any offset), `timestamp` (read as
    /// UTC) and `date` (midnight UTC) text. Returns nil for anything else, including `infinity`.
    static func parseTimestamp(_ bytes: ArraySlice<UInt8>) -> Date? {
        var reader = Reader(bytes)
        guard let year = reader.number(minDigits: 4, maxDigits: 9), reader.skip("-"),
            let month = reader.number(minDigits: 2, maxDigits: 2), reader.skip("-"),
            let day = reader.number(minDigits: 2, maxDigits: 2),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var hour: Int64 = 0, minute: Int64 = 0, second: Int64 = 0, fraction: Int64 = 0
        var offsetSeconds: Int64 = 0
        if reader.skip(" ") || reader.skip("T") {
            guard let h = reader.number(minDigits: 2, maxDigits: 2), reader.skip(":"),
                let m = reader.number(minDigits: 2, maxDigits: 2), reader.skip(":"),
                let s = reader.number(minDigits: 2, maxDigits: 2)
            else { return nil }
            (hour, minute, second) = (h, m, s)
            if reader.skip(".") {
                var digits = 0
                while let digit = reader.digit() {
                    if digits < 6 { fraction = fraction * 10 + digit }
                    digits += 1
                }
                guard digits > 0 else { return nil }
                for _ in min(digits, 6)..<6 { fraction *= 10 }
            }
            if let sign = reader.peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                reader.advance()
                guard let offsetHours = reader.number(minDigits: 2, maxDigits: 2) else { return nil }
                var offset = offsetHours * 3600
                if reader.skip(":") {
                    guard let offsetMinutes = reader.number(minDigits: 2, maxDigits: 2) else { return nil }
                    offset += offsetMinutes * 60
                    if reader.skip(":") {
                        guard let offsetSecs = reader.number(minDigits: 2, maxDigits: 2) else { return nil }
                        offset += offsetSecs
                    }
                }
                offsetSeconds = sign == UInt8(ascii: "-") ? -offset : offset
            }
        }
        var civilYear = year
        if reader.skip(" BC") { civilYear = 1 - year }
        guard reader.atEnd else { return nil }
        let days = days(fromCivil: civilYear, month, day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        let micros = seconds * 1_000_000 + fraction
        return Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }

    // MARK: bytea

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `\x` followed by two lowercase hex digits per byte: bytea's hex text format.
    static func hexEncode(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        out.reserveCapacity(2 + bytes.count * 2)
        for byte in bytes {
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0x0F)])
        }
        return out
    }

    /// Decodes bytea hex text (`\x00ff…`). Returns nil for other forms.
    static func hexDecode(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count >= 2, text.count % 2 == 0, text[text.startIndex] == UInt8(ascii: "\\"),
            text[text.startIndex + 1] == UInt8(ascii: "x")
        else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity((text.count - 2) / 2)
        var index = text.startIndex + 2
        while index < text.endIndex {
            guard let high = hexValue(text[index]), let low = hexValue(text[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    // MARK: One-dimensional arrays

    /// Writes an array literal (`{"a","b\"c"}`); every element is quoted, so any text is safe.
    static func arrayLiteral(_ elements: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (position, element) in elements.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            for byte in element {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Parses a one-dimensional array literal into its elements (nil for NULL elements).
    /// Returns nil for nested or malformed arrays.
    static func parseArray(_ text: ArraySlice<UInt8>) -> [[UInt8]?]? {
        guard text.first == UInt8(ascii: "{"), text.last == UInt8(ascii: "}") else { return nil }
        var elements: [[UInt8]?] = []
        var index = text.startIndex + 1
        let end = text.endIndex - 1
        if index == end { return [] }
        while index <= end {
            var element: [UInt8] = []
            var quoted = false
            if text[index] == UInt8(ascii: "\"") {
                quoted = true
                index += 1
                while true {
                    guard index < end else { return nil }
                    var byte = text[index]
                    if byte == UInt8(ascii: "\"") { index += 1; break }
                    if byte == UInt8(ascii: "\\") {
                        index += 1
                        guard index < end else { return nil }
                        byte = text[index]
                    }
                    element.append(byte)
                    index += 1
                }
            } else {
                while index < end, text[index] != UInt8(ascii: ",") {
                    if text[index] == UInt8(ascii: "{") || text[index] == UInt8(ascii: "\"") { return nil }
                    element.append(text[index])
                    index += 1
                }
                if element.isEmpty { return nil }
            }
            if !quoted && element.elementsEqual("NULL".utf8) { elements.append(nil) } else { elements.append(element) }
            if index == end { break }
            guard text[index] == UInt8(ascii: ",") else { return nil }
            index += 1
        }
        return elements
    }

    // MARK: Calendar arithmetic (proleptic Gregorian, Howard Hinnant's algorithms)

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        var quotient = value / divisor
        var remainder = value % divisor
        if remainder < 0 {
            quotient -= 1
            remainder += divisor
        }
        return (quotient, remainder)
    }

    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// A cursor over ASCII text.
    private struct Reader {
        let bytes: ArraySlice<UInt8>
        var index: Int
        init(_ bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            self.index = bytes.startIndex
        }
        var atEnd: Bool { index == bytes.endIndex }
        func peek() -> UInt8? { atEnd ? nil : bytes[index] }
        mutating func advance() { index += 1 }
        mutating func digit() -> Int64? {
            guard let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            index += 1
            return Int64(byte - UInt8(ascii: "0"))
        }
        mutating func number(minDigits: Int, maxDigits: Int) -> Int64? {
            var value: Int64 = 0
            var count = 0
            while count < maxDigits, let digit = digit() {
                value = value * 10 + digit
                count += 1
            }
            return count >= minDigits ? value : nil
        }
        mutating func skip(_ literal: String) -> Bool {
            let utf8 = literal.utf8
            guard bytes.endIndex - index >= utf8.count, bytes[index..<(index + utf8.count)].elementsEqual(utf8)
            else { return false }
            index += utf8.count
            return true
        }
    }
}
