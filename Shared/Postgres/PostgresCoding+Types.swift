import Foundation

// Bind and decode conformances of the standard types. Values travel in text format, except
// `bytea`, which is sent in binary format to avoid doubling its size.

extension String: PostgresBindable, PostgresDecodable {
    /// ``PostgresDataType/unknown``: the server infers the type, so a `String` can be compared with
    /// `text`, `uuid` or enum columns alike.
    public static var postgresDataType: PostgresDataType { .unknown }
    public var postgresBind: PostgresBind { .text(self, type: .unknown) }

    /// Any column's text form.
    public init(postgresCell cell: PostgresCell) throws {
        self = String(decoding: cell.bytes ?? [], as: UTF8.self)
    }
}

/// Integer conformances share parsing and range checks.
private func decodeInteger<T: FixedWidthInteger>(_ type: T.Type, _ cell: PostgresCell) throws -> T {
    guard let wide = PostgresTextFormat.parseInt64(cell.bytes ?? []) else {
        throw cell.decodingError(T.self, reason: "not an integer")
    }
    guard let value = T(exactly: wide) else { throw cell.decodingError(T.self, reason: "out of range") }
    return value
}

extension Int: PostgresBindable, PostgresDecodable {
    public static var postgresDataType: PostgresDataType { .int8 }
    public var postgresBind: PostgresBind { .text(String(self), type: .int8) }
    public init(postgresCell cell: PostgresCell) throws { self = try decodeInteger(Int.self, cell) }
}

extension Int64: PostgresBindable, PostgresDecodable {
    public static var postgresDataType: PostgresDataType { .int8 }
    public var postgresBind: PostgresBind { .text(String(self), type: .int8) }
    public init(postgresCell cell: PostgresCell) throws { self = try decodeInteger(Int64.self, cell) }
}

extension Int32: PostgresBindable, PostgresDecodable {
    public static var postgresDataType: PostgresDataType { .int4 }
    public var postgresBind: PostgresBind { .text(String(self), type: .int4) }
    public init(postgresCell cell: PostgresCell) throws { self = try decodeInteger(Int32.self, cell) }
}

extension Int16: PostgresBindable, PostgresDecodable {
    public static var postgresDataType: PostgresDataType { .int2 }
    public var postgresBind: PostgresBind { .text(String(self), type: .int2) }
    public init(postgresCell cell: PostgresCell) throws { self = try decodeInteger(Int16.self, cell) }
}

extension Bool: PostgresBindable, PostgresDecodable {
    public static var postgresDataType: PostgresDataType { .bool }
    public var postgresBind: PostgresBind { .text(self ? "t" : "f", type: .bool) }

    /// `t` or `f`.
    public init(postgresCell cell: PostgresCell) throws {
        switch cell.bytes?.first {
        case UInt8(ascii: "t") where cell.bytes?.count == 1: self = true
        case UInt8(ascii: "f") where cell.bytes?.count == 1: self = false
        default: throw cell.decodingError(Bool.self, reason: "not t or f")
        }
    }
}

extension Decimal: PostgresBindable, PostgresDecodable {
    /// `numeric`; `Decimal.nan` is sent as `NaN`.
    public static var postgresDataType: PostgresDataType { .numeric }
    public var postgresBind: PostgresBind { .text(PostgresTextFormat.formatDecimal(self), type: .numeric) }

    /// Reads `numeric` (and integer) text exactly; values with more than 38 significant digits,
    /// `NaN` and infinities fail instead of being rounded.
    public init(postgresCell cell: PostgresCell) throws {
        do {
            self = try PostgresTextFormat.parseDecimal(cell.bytes ?? [])
        } catch {
            let reason =
                switch error {
                case .malformed: "not a decimal number"
                case .notANumber: "NaN has no Decimal value here"
                case .tooManyDigits: "more than 38 significant digits would be rounded"
                case .exponentOutOfRange: "scale outside Decimal's range"
                }
            throw cell.decodingError(Decimal.self, reason: reason)
        }
    }
}

extension Date: PostgresBindable, PostgresDecodable {
    /// `timestamptz`, rounded to microseconds.
    public static var postgresDataType: PostgresDataType { .timestamptz }
    public var postgresBind: PostgresBind { .text(PostgresTextFormat.formatTimestamp(self), type: .timestamptz) }

    /// Reads `timestamptz`, `timestamp` (as UTC) and `date` (midnight UTC).
    public init(postgresCell cell: PostgresCell) throws {
        guard let date = PostgresTextFormat.parseTimestamp(cell.bytes ?? []) else {
            throw cell.decodingError(Date.self, reason: "not a finite timestamp")
        }
        self = date
    }
}

extension UUID: PostgresBindable, PostgresDecodable {
    public static var postgresDataType: PostgresDataType { .uuid }
    public var postgresBind: PostgresBind { .text(uuidString, type: .uuid) }

    public init(postgresCell cell: PostgresCell) throws {
        guard let uuid = UUID(uuidString: String(decoding: cell.bytes ?? [], as: UTF8.self)) else {
            throw cell.decodingError(UUID.self, reason: "not a UUID")
        }
        self = uuid
    }
}

/// Reads `bytea` hex text.
private func decodeBytea(_ type: Any.Type, _ cell: PostgresCell) throws -> [UInt8] {
    guard cell.dataType == .bytea else { throw cell.decodingError(type, reason: "not a bytea column") }
    guard let bytes = PostgresTextFormat.hexDecode(cell.bytes ?? []) else {
        throw cell.decodingError(type, reason: "not bytea hex format")
    }
    return bytes
}

extension Data: PostgresBindable, PostgresDecodable {
    public static var postgresDataType: PostgresDataType { .bytea }
    public var postgresBind: PostgresBind { .binary([UInt8](self), type: .bytea) }
    public init(postgresCell cell: PostgresCell) throws { self = Data(try decodeBytea(Data.self, cell)) }
}

// MARK: Arrays

/// An element type of arrays that can be bound and decoded: `[UInt8]` is `bytea`; `[String]`,
/// `[Int]`, `[Int64]`, `[Int32]` and `[UUID]` are one-dimensional Postgres arrays without NULLs.
public protocol PostgresArrayElement: Sendable {
    /// The type of `[Self]`.
    static var postgresArrayDataType: PostgresDataType { get }
    /// Encodes `[Self]`.
    static func postgresArrayBind(_ elements: [Self]) -> PostgresBind
    /// Decodes `[Self]` from a non-NULL cell.
    static func postgresDecodeArray(_ cell: PostgresCell) throws -> [Self]
}

extension PostgresArrayElement where Self: PostgresBindable & PostgresDecodable {
    public static func postgresArrayBind(_ elements: [Self]) -> PostgresBind {
        let texts = elements.map { element -> [UInt8] in
            switch element.postgresBind.storage {
            case .text(let bytes): bytes
            case .binary(let bytes): PostgresTextFormat.hexEncode(bytes)
            case .null: []
            }
        }
        return .init(type: postgresArrayDataType, storage: .text(PostgresTextFormat.arrayLiteral(texts)))
    }

    public static func postgresDecodeArray(_ cell: PostgresCell) throws -> [Self] {
        guard let elements = PostgresTextFormat.parseArray(cell.bytes ?? []) else {
            throw cell.decodingError([Self].self, reason: "not a one-dimensional array")
        }
        return try elements.map { element in
            guard let element else { throw cell.decodingError([Self].self, reason: "array holds NULL") }
            return try Self(
                postgresCell: PostgresCell(
                    bytes: element[...], dataType: postgresDataType, columnName: cell.columnName,
                    columnIndex: cell.columnIndex))
        }
    }
}

extension String: PostgresArrayElement {
    public static var postgresArrayDataType: PostgresDataType { .textArray }
}

extension Int: PostgresArrayElement {
    public static var postgresArrayDataType: PostgresDataType { .int8Array }
}

extension Int64: PostgresArrayElement {
    public static var postgresArrayDataType: PostgresDataType { .int8Array }
}

extension Int32: PostgresArrayElement {
    public static var postgresArrayDataType: PostgresDataType { .int4Array }
}

extension UUID: PostgresArrayElement {
    public static var postgresArrayDataType: PostgresDataType { .uuidArray }
}

extension UInt8: PostgresArrayElement {
    /// `[UInt8]` is `bytea`.
    public static var postgresArrayDataType: PostgresDataType { .bytea }
    public static func postgresArrayBind(_ elements: [UInt8]) -> PostgresBind { .binary(elements, type: .bytea) }
    public static func postgresDecodeArray(_ cell: PostgresCell) throws -> [UInt8] {
        try decodeBytea([UInt8].self, cell)
    }
}

extension Array: PostgresBindable where Element: PostgresArrayElement {
    public static var postgresDataType: PostgresDataType { Element.postgresArrayDataType }
    public var postgresBind: PostgresBind { Element.postgresArrayBind(self) }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
    public init(postgresCell cell: PostgresCell) throws { self = try Element.postgresDecodeArray(cell) }
}
