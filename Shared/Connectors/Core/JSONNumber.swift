public import Domain
public import Foundation

/// A number that ERP payloads carry as a JSON number literal (`289.95`), held as its exact decimal text.
///
/// QuickBooks Online and Xero require amounts as JSON numbers, while Ledgerline keeps money as exact
/// `Decimal`s. Going through `Double` would turn `0.1 + 0.2` into `0.30000000000000004` or drop cents on large
/// amounts, so this type never touches binary floating point: it is made from ``Money``, ``Quantity``,
/// ``Percentage``, `Decimal` or an integer, keeps the digits as text (`45.00` stays `45.00`), and
/// ``ERPJSON`` writes that text verbatim as the number literal and reads number literals back into it.
///
/// Equality compares values (`12.5 == 12.50`).
///
/// ```swift
/// let amount = JSONNumber(Money("289.95"))     // encodes as 289.95
/// amount.decimal                                // Decimal 289.95, exact
/// ```
public struct JSONNumber: Sendable, Hashable, Comparable, Codable, CustomStringConvertible, ExpressibleByStringLiteral,
    ExpressibleByIntegerLiteral
{
    /// The number literal as written on the wire, e.g. `289.95`, `-28.35`, `1e3`.
    public let text: String

    /// Wraps a JSON number literal.
    /// - Parameter text: text following the JSON number grammar (`-? int frac? exp?`).
    /// - Returns: `nil` when the text is not a JSON number.
    public init?(text: String) {
        guard JSONNumber.isValidLiteral(text) else { return nil }
        self.text = text
    }

    /// Creates a number from an amount of money, keeping its printed scale (`45.00`).
    public init(_ money: Money) { self.text = money.description }

    /// Creates a number from a quantity, keeping its printed scale (`1.8`).
    public init(_ quantity: Quantity) { self.text = quantity.description }

    /// Creates a number from a percentage (`7.25`).
    public init(_ percentage: Percentage) { self.text = percentage.description }

    /// Creates a number from an exact `Decimal`, printed without exponent.
    public init(_ decimal: Decimal) { self.text = Money(decimal).description }

    /// Creates a number from an integer.
    public init(_ integer: Int) { self.text = String(integer) }

    /// Creates a number from a literal such as `"289.95"`; traps on text that is not a JSON number.
    public init(stringLiteral value: String) {
        guard let number = JSONNumber(text: value) else { preconditionFailure("not a JSON number: \(value)") }
        self = number
    }

    /// Creates a number from an integer literal.
    public init(integerLiteral value: Int) { self.text = String(value) }

    /// The exact value (`nil` only for literals beyond `Decimal`'s range, such as `1e400`).
    public var decimal: Decimal? { Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) }

    /// The value as ``Money`` (exact), or `nil` when out of range.
    public var money: Money? { decimal.map { Money($0) } }

    /// The value as an `Int` when it is a whole number that fits.
    public var integer: Int? {
        if let value = Int(text) { return value }
        guard let decimal, decimal == decimal.rounded(scale: 0) else { return nil }
        return Int(Money(decimal).description)
    }

    /// The literal text.
    public var description: String { text }

    /// Compares values, not text.
    public static func == (lhs: JSONNumber, rhs: JSONNumber) -> Bool {
        lhs.text == rhs.text || (lhs.decimal != nil && lhs.decimal == rhs.decimal)
    }

    /// Hashes the value (consistent with `==`).
    public func hash(into hasher: inout Hasher) {
        if let decimal { hasher.combine(Money(decimal).description) } else { hasher.combine(text) }
    }

    /// Orders by value.
    public static func < (lhs: JSONNumber, rhs: JSONNumber) -> Bool {
        (lhs.decimal ?? 0) < (rhs.decimal ?? 0)
    }

    /// Decodes from a JSON number. ``ERPJSON`` passes the literal text through exactly; other decoders go
    /// through `Decimal`.
    public init(from decoder: any Decoder) throws {
        if let exact = decoder as? any ExactNumberDecoding {
            self = try exact.decodeExactNumber()
            return
        }
        let container = try decoder.singleValueContainer()
        self.init(try container.decode(Decimal.self))
    }

    /// Encodes as a JSON number. ``ERPJSON`` writes the text verbatim; other encoders receive a `Decimal`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(decimal ?? 0)
    }

    /// Whether `text` follows RFC 8259's number grammar.
    static func isValidLiteral(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var index = 0
        func digit(_ i: Int) -> Bool { i < bytes.count && bytes[i] >= 48 && bytes[i] <= 57 }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard digit(index) else { return false }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while digit(index) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digit(index) else { return false }
            while digit(index) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard digit(index) else { return false }
            while digit(index) { index += 1 }
        }
        return index == bytes.count
    }
}

/// Implemented by ``ERPJSON``'s decoder so ``JSONNumber`` can read the literal text without `Double`.
protocol ExactNumberDecoding {
    func decodeExactNumber() throws -> JSONNumber
}

extension Decimal {
    /// Rounds to `scale` fraction digits, half away from zero.
    func rounded(scale: Int) -> Decimal {
        var input = self
        var result = Decimal()
        NSDecimalRound(&result, &input, scale, .plain)
        return result
    }
}
