import Foundation

/// A parsed JSON value that keeps number text exactly as written (internal).
///
/// Produced by ``JSONScanner`` (strict, bounded, path-aware) or, for `Codable` decoding, from any `Decoder`.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's literal text, e.g. `12.50` or `1e3`.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// A short name of the JSON type, for messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// A JSON object: members in document order; the first of duplicate keys wins.
struct JSONObject: Sendable, Equatable {
    private(set) var keys: [String] = []
    private var values: [String: JSONValue] = [:]

    init() {}

    /// Adds a member unless the key is present; returns `false` for a duplicate.
    @discardableResult
    mutating func insert(_ key: String, _ value: JSONValue) -> Bool {
        guard values[key] == nil else { return false }
        keys.append(key)
        values[key] = value
        return true
    }

    subscript(key: String) -> JSONValue? { values[key] }

    /// Replaces a member's value in place, or appends it (tests use this to derive variants of examples).
    mutating func set(_ key: String, _ value: JSONValue) {
        if values[key] == nil { keys.append(key) }
        values[key] = value
    }

    /// Removes a member (tests use this to derive variants of examples).
    mutating func remove(_ key: String) {
        guard values.removeValue(forKey: key) != nil else { return }
        keys.removeAll { $0 == key }
    }
}

/// A location in a JSON document, printed as `invoice.lines[2].unit_price` (internal).
struct JSONPath: Sendable, Hashable, CustomStringConvertible {
    enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    var components: [Component] = []

    init(_ components: [Component] = []) { self.components = components }

    static let root = JSONPath()

    func appending(_ key: String) -> JSONPath { JSONPath(components + [.key(key)]) }
    func appending(index: Int) -> JSONPath { JSONPath(components + [.index(index)]) }

    var description: String {
        var text = ""
        for component in components {
            switch component {
            case .key(let key):
                if !text.isEmpty { text += "." }
                text += key
            case .index(let index):
                text += "[\(index)]"
            }
        }
        return text
    }
}

// MARK: - Codable bridge

extension JSONValue: Decodable {
    /// Reads any JSON through a `Decoder` (used by the model types' `init(from:)`). Number text is rebuilt
    /// from an exact `Decimal` when the decoder can give one.
    init(from decoder: any Decoder) throws {
        if let container = try? decoder.container(keyedBy: AnyKey.self) {
            var object = JSONObject()
            for key in container.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
                object.insert(key.stringValue, try container.decode(JSONValue.self, forKey: key))
            }
            self = .object(object)
            return
        }
        if var container = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !container.isAtEnd { items.append(try container.decode(JSONValue.self)) }
            self = .array(items)
            return
        }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .number(String(value))
        } else if let value = try? container.decode(Decimal.self) {
            self = .number(DecimalText.format(value, minimumScale: 0))
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unsupported JSON value")
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
