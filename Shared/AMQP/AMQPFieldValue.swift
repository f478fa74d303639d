import Foundation

/// A value in an AMQP field table: message headers, queue arguments, `x-death` entries.
///
/// Literals work: `["x-delivery-limit": 5, "x-queue-type": "quorum", "retry": true]`.
///
/// Encoding: `.int` is sent as a signed 64-bit integer (`l`), `.double` as `d`, `.string` as a long
/// string (`S`), `.timestamp` as `T` (whole seconds). Decoding maps every integer width to `.int`
/// (an unsigned 64-bit value above `Int64.max` wraps) and 32-bit floats to `.double`.
public enum AMQPFieldValue: Sendable, Hashable {
    /// A UTF-8 long string (`S`).
    case string(String)
    /// A byte array (`x`).
    case bytes([UInt8])
    /// A boolean (`t`).
    case bool(Bool)
    /// A signed integer; sent as 64 bits (`l`), decoded from every integer width.
    case int(Int64)
    /// A floating-point number; sent as 64 bits (`d`), decoded from `f` and `d`.
    case double(Double)
    /// An AMQP decimal: `value` divided by 10^`scale`.
    case decimal(scale: UInt8, value: UInt32)
    /// A timestamp in whole seconds (`T`).
    case timestamp(Date)
    /// A nested field table (`F`), for example one `x-death` entry.
    case table([String: AMQPFieldValue])
    /// A field array (`A`), for example the `x-death` list.
    case array([AMQPFieldValue])
    /// No value (`V`).
    case void

    /// The string, when this is `.string` (or UTF-8 `.bytes`).
    public var stringValue: String? {
        switch self {
        case .string(let value): value
        case .bytes(let value): String(validating: value, as: UTF8.self)
        default: nil
        }
    }

    /// The integer, when this is `.int`.
    public var intValue: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }

    /// The table, when this is `.table`.
    public var tableValue: [String: AMQPFieldValue]? {
        if case .table(let value) = self { return value }
        return nil
    }

    /// The array, when this is `.array`.
    public var arrayValue: [AMQPFieldValue]? {
        if case .array(let value) = self { return value }
        return nil
    }
}

extension AMQPFieldValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

extension AMQPFieldValue: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) { self = .int(value) }
}

extension AMQPFieldValue: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension AMQPFieldValue: ExpressibleByFloatLiteral {
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension AMQPFieldValue: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: AMQPFieldValue...) { self = .array(elements) }
}

extension AMQPFieldValue: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, AMQPFieldValue)...) {
        self = .table(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
