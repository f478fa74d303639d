public import Foundation

/// A decimal number that travels as a JSON string (`"12.50"`) and is held exactly as a Foundation `Decimal`.
///
/// Conforming types (``Money``, ``Quantity``, ``Percentage``) never pass through `Double`: text is parsed
/// digit by digit into a `Decimal` and printed back without an exponent. Equality and ordering compare values
/// (`"12.5" == "12.50"`); ``writtenScale`` remembers how many fraction digits were written so that encoding
/// gives back `"12.50"`.
///
/// The accepted text grammar is strict: `-? (0 | [1-9][0-9]*) ( . [0-9]+ )?`. No exponent, no `+`, no
/// spaces, no leading zeros, no bare `.5` or `5.`. At most 38 significant digits (`Decimal`'s precision).
public protocol DecimalStringValue: Sendable, Hashable, Comparable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
where StringLiteralType == String {
    /// The exact value.
    var value: Decimal { get }
    /// The number of fraction digits to print: as written in the input, or as needed by the value.
    var writtenScale: Int { get }
    /// Creates a value; `writtenScale` is raised to the digits the value needs.
    /// - Parameters:
    ///   - value: the exact value.
    ///   - writtenScale: the fraction digits to print at least.
    init(value: Decimal, writtenScale: Int)
}

extension DecimalStringValue {
    /// Creates a value from a `Decimal`, printing as many fraction digits as the value needs.
    /// - Parameter value: the exact value.
    public init(_ value: Decimal) { self.init(value: value, writtenScale: 0) }

    /// Parses strict decimal text such as `"12.50"` or `"-3"`.
    /// - Parameter string: the text; see ``DecimalStringValue`` for the grammar.
    /// - Returns: `nil` if the text does not follow the grammar or has more than 38 significant digits.
    public init?(string: String) {
        guard let parsed = DecimalText.parse(string), let value = parsed.value else { return nil }
        self.init(value: value, writtenScale: parsed.fractionDigits)
    }

    /// Creates a value from a literal such as `"12.50"`. Traps if the literal is not a valid decimal, like
    /// a malformed literal anywhere else; use ``init(string:)`` for input.
    public init(stringLiteral string: String) {
        guard let parsed = Self(string: string) else { preconditionFailure("invalid decimal literal \"\(string)\"") }
        self = parsed
    }

    /// The plain decimal text (no exponent), with at least ``writtenScale`` fraction digits.
    public var description: String { DecimalText.format(value, minimumScale: writtenScale) }

    /// Compares values (`12.5 == 12.50`).
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.value == rhs.value }

    /// Orders by value.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }

    /// Hashes the value (consistent with `==`).
    public func hash(into hasher: inout Hasher) { hasher.combine(DecimalText.format(value, minimumScale: 0)) }

    /// Decodes from a JSON string; a JSON number or malformed text throws `DecodingError`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = Self(string: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "money.not_a_decimal_string: expected a decimal string")
        }
        self = parsed
    }

    /// Encodes as a JSON string, e.g. `"12.50"`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// Whether the value is below zero.
    public var isNegative: Bool { value < 0 }

    /// The number of fraction digits the value needs (`12.50` → 1, `3` → 0, `0.125` → 3).
    public var significantFractionDigits: Int { DecimalText.significantFractionDigits(value) }

    /// The number of digits before the decimal point, ignoring sign (`0.5` → 1, `1234.5` → 4).
    public var integerDigits: Int { DecimalText.integerDigits(value) }
}

/// An amount of money in the invoice's currency (the currency is a property of the invoice, not of each
/// amount). Exact: a `Decimal`, written on the wire as a string such as `"1234.50"`.
///
/// ```swift
/// let price: Money = "45.00"
/// let rounded = Money(string: "12.345")!.rounded(to: .usd)   // 12.35 (half away from zero)
/// ```
public struct Money: DecimalStringValue {
    /// The exact amount.
    public let value: Decimal
    /// Fraction digits to print (see ``DecimalStringValue/writtenScale``).
    public let writtenScale: Int

    /// Creates an amount. See ``DecimalStringValue/init(value:writtenScale:)``.
    public init(value: Decimal, writtenScale: Int) {
        self.value = value
        self.writtenScale = max(writtenScale, DecimalText.significantFractionDigits(value))
    }

    /// Zero.
    public static let zero = Money(value: 0, writtenScale: 0)

    /// Sum; prints with the larger scale of the two.
    public static func + (lhs: Money, rhs: Money) -> Money {
        Money(value: lhs.value + rhs.value, writtenScale: max(lhs.writtenScale, rhs.writtenScale))
    }

    /// Difference; prints with the larger scale of the two.
    public static func - (lhs: Money, rhs: Money) -> Money {
        Money(value: lhs.value - rhs.value, writtenScale: max(lhs.writtenScale, rhs.writtenScale))
    }

    /// Negation.
    public static prefix func - (amount: Money) -> Money {
        Money(value: -amount.value, writtenScale: amount.writtenScale)
    }

    /// Rounds to the currency's minor units, half away from zero (the contract's rounding rule).
    /// - Parameter currency: the currency whose minor units give the scale.
    /// - Returns: the rounded amount, printed with exactly the currency's minor units.
    public func rounded(to currency: CurrencyCode) -> Money {
        Money(
            value: DecimalText.roundHalfAwayFromZero(value, scale: currency.minorUnits),
            writtenScale: currency.minorUnits)
    }

    /// Rounds an exact `Decimal` to the currency's minor units, half away from zero.
    /// - Parameters:
    ///   - value: the unrounded value (for example quantity × unit price).
    ///   - currency: the currency whose minor units give the scale.
    public static func rounding(_ value: Decimal, to currency: CurrencyCode) -> Money {
        Money(
            value: DecimalText.roundHalfAwayFromZero(value, scale: currency.minorUnits),
            writtenScale: currency.minorUnits)
    }
}

extension Sequence where Element == Money {
    /// The exact sum (zero for an empty sequence).
    public func sum() -> Money { reduce(Money.zero, +) }
}

/// A quantity on an invoice line: units of a part, or hours of labor. Exact, written as a string (`"1.5"`).
public struct Quantity: DecimalStringValue {
    /// The exact quantity.
    public let value: Decimal
    /// Fraction digits to print (see ``DecimalStringValue/writtenScale``).
    public let writtenScale: Int

    /// Creates a quantity. See ``DecimalStringValue/init(value:writtenScale:)``.
    public init(value: Decimal, writtenScale: Int) {
        self.value = value
        self.writtenScale = max(writtenScale, DecimalText.significantFractionDigits(value))
    }
}

/// A percentage such as a tax rate: `"7.25"` means 7.25 %. Exact, written as a string.
public struct Percentage: DecimalStringValue {
    /// The exact number of percent (7.25 for 7.25 %).
    public let value: Decimal
    /// Fraction digits to print (see ``DecimalStringValue/writtenScale``).
    public let writtenScale: Int

    /// Creates a percentage. See ``DecimalStringValue/init(value:writtenScale:)``.
    public init(value: Decimal, writtenScale: Int) {
        self.value = value
        self.writtenScale = max(writtenScale, DecimalText.significantFractionDigits(value))
    }

    /// The rate as a fraction (7.25 % → 0.0725), exact.
    public var fraction: Decimal { value / 100 }
}

/// Strict decimal text ↔ `Decimal`, exact, without `Double` (internal helpers).
enum DecimalText {
    struct Parsed {
        var negative: Bool
        /// Digits before the point (a lone `0` counts as 1).
        var integerDigits: Int
        /// Digits after the point, as written.
        var fractionDigits: Int
        /// `nil` when the number has more than 38 significant digits.
        var value: Decimal?
    }

    /// Parses `-? (0 | [1-9][0-9]*) ( . [0-9]+ )?`; returns `nil` if the text does not follow it.
    static func parse(_ text: String) -> Parsed? {
        let utf8 = Array(text.utf8)
        var index = 0
        var negative = false
        if index < utf8.count, utf8[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        let integerStart = index
        while index < utf8.count, isDigit(utf8[index]) { index += 1 }
        let integerCount = index - integerStart
        guard integerCount > 0 else { return nil }
        if integerCount > 1, utf8[integerStart] == UInt8(ascii: "0") { return nil }
        var fractionCount = 0
        var fractionStart = index
        if index < utf8.count {
            guard utf8[index] == UInt8(ascii: ".") else { return nil }
            index += 1
            fractionStart = index
            while index < utf8.count, isDigit(utf8[index]) { index += 1 }
            fractionCount = index - fractionStart
            guard fractionCount > 0, index == utf8.count else { return nil }
        }
        // Significant digits: all digits with leading zeros removed.
        var digits = Array(utf8[integerStart..<(integerStart + integerCount)])
        digits += utf8[fractionStart..<(fractionStart + fractionCount)]
        let firstNonZero = digits.firstIndex { $0 != UInt8(ascii: "0") } ?? digits.count
        let significant = digits[firstNonZero...]
        var value: Decimal?
        if significant.count <= 38 {
            var significand = Decimal(0)
            var chunkStart = significant.startIndex
            while chunkStart < significant.endIndex {
                let chunkEnd = min(chunkStart + 18, significant.endIndex)
                var chunk: UInt64 = 0
                for digit in significant[chunkStart..<chunkEnd] { chunk = chunk * 10 + UInt64(digit - 48) }
                significand = significand * power10(chunkEnd - chunkStart) + Decimal(chunk)
                chunkStart = chunkEnd
            }
            value = Decimal(sign: negative ? .minus : .plus, exponent: -fractionCount, significand: significand)
        }
        return Parsed(negative: negative, integerDigits: integerCount, fractionDigits: fractionCount, value: value)
    }

    /// Plain text without exponent, with at least `minimumScale` fraction digits.
    static func format(_ value: Decimal, minimumScale: Int) -> String {
        var text = value.description  // swift-foundation prints plain digits, never an exponent
        if text == "-0" { text = "0" }
        let scale = text.firstIndex(of: ".").map { text.distance(from: $0, to: text.endIndex) - 1 } ?? 0
        if scale < minimumScale {
            if scale == 0 { text += "." }
            text += String(repeating: "0", count: minimumScale - scale)
        }
        return text
    }

    static func significantFractionDigits(_ value: Decimal) -> Int {
        var compact = value
        NSDecimalCompact(&compact)
        return compact.isZero ? 0 : max(0, -Int(compact.exponent))
    }

    static func integerDigits(_ value: Decimal) -> Int {
        format(roundTowardZero(value.magnitude), minimumScale: 0).count
    }

    static func roundHalfAwayFromZero(_ value: Decimal, scale: Int) -> Decimal {
        var input = value
        var result = Decimal()
        NSDecimalRound(&result, &input, scale, .plain)  // .plain: halves round away from zero
        return result
    }

    static func roundTowardZero(_ value: Decimal) -> Decimal {
        var input = value
        var result = Decimal()
        NSDecimalRound(&result, &input, 0, value < 0 ? .up : .down)
        return result
    }

    static func power10(_ exponent: Int) -> Decimal { Decimal(sign: .plus, exponent: exponent, significand: 1) }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }
}
