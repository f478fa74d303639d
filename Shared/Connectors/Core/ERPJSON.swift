import Foundation

/// The JSON codec every connector uses for ERP payloads: `Codable` DTOs ⇄ bytes, with numbers exact.
///
/// Foundation's `JSONEncoder`/`JSONDecoder` are not used for payloads because amounts must never pass
/// through `Double`. Here ``JSONNumber`` values (and `Decimal`s) are written as number literals from their
/// decimal text and read back from the literal text; `Double` and `Float` are refused when encoding. Object
/// members are written in the order the DTO encodes them, and `nil` optionals are omitted.
///
/// ```swift
/// let body = try ERPJSON.encode(QuickBooksOnlinePayloads.Invoice(…))     // [UInt8]
/// let reply = try ERPJSON.decode(QuickBooksOnlinePayloads.IntuitResponse.self, from: response.body)
/// ```
public enum ERPJSON {
    /// Encodes a value to compact JSON bytes.
    /// - Throws: `EncodingError` for `Double`/`Float` values or a top level that is not an object or array.
    public static func encode(_ value: some Encodable) throws -> [UInt8] { try node(value).serialized() }

    /// Encodes a value to a ``JSONNode`` tree.
    public static func node(_ value: some Encodable) throws -> JSONNode {
        let slot = EncodingSlot()
        try NodeEncoder(slot: slot, codingPath: []).encodeValue(value)
        return slot.finish()
    }

    /// Decodes a value from JSON bytes.
    /// - Throws: ``JSONParseError`` for malformed JSON, `DecodingError` for a shape mismatch.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>) throws -> T {
        try decode(type, from: try JSONNode(parsing: bytes))
    }

    /// Decodes a value from a ``JSONNode`` tree.
    public static func decode<T: Decodable>(_ type: T.Type, from node: JSONNode) throws -> T {
        try NodeDecoder(node: node, codingPath: []).decodeValue(type)
    }
}

// MARK: - Encoding

/// A mutable place in the tree being built (internal to the encoder).
final class EncodingSlot {
    enum Content {
        case value(JSONNode)
        case object(ObjectBox)
        case array(ArrayBox)
    }

    final class ObjectBox {
        var keys: [String] = []
        var slots: [String: EncodingSlot] = [:]

        func slot(for key: String) -> EncodingSlot {
            if let existing = slots[key] { return existing }
            let slot = EncodingSlot()
            keys.append(key)
            slots[key] = slot
            return slot
        }
    }

    final class ArrayBox {
        var slots: [EncodingSlot] = []

        func append() -> EncodingSlot {
            let slot = EncodingSlot()
            slots.append(slot)
            return slot
        }
    }

    var content: Content?

    func objectBox() -> ObjectBox {
        if case .object(let box) = content { return box }
        let box = ObjectBox()
        content = .object(box)
        return box
    }

    func arrayBox() -> ArrayBox {
        if case .array(let box) = content { return box }
        let box = ArrayBox()
        content = .array(box)
        return box
    }

    func finish() -> JSONNode {
        switch content {
        case nil: return .object(JSONObject())  // a type that encoded nothing
        case .value(let node): return node
        case .array(let box): return .array(box.slots.map { $0.finish() })
        case .object(let box):
            var object = JSONObject()
            for key in box.keys { object[key] = box.slots[key]!.finish() }
            return .object(object)
        }
    }
}

struct NodeEncoder: Encoder {
    let slot: EncodingSlot
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedContainer<Key>(box: slot.objectBox(), codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        UnkeyedContainer(box: slot.arrayBox(), codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleContainer(encoder: self) }

    /// Encodes any value into ``slot``, writing exact numbers and copying ``JSONNode``s verbatim.
    func encodeValue(_ value: some Encodable) throws {
        switch value {
        case let number as JSONNumber: slot.content = .value(.number(number))
        case let decimal as Decimal: slot.content = .value(.number(JSONNumber(decimal)))
        case let node as JSONNode: slot.content = .value(node)
        case is Double, is Float:
            throw EncodingError.invalidValue(
                value,
                EncodingError.Context(
                    codingPath: codingPath, debugDescription: "binary floating point is not allowed in ERP payloads"))
        default: try value.encode(to: self)
        }
    }

    struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let box: EncodingSlot.ObjectBox
        let codingPath: [any CodingKey]

        private func child(_ key: Key) -> NodeEncoder {
            NodeEncoder(slot: box.slot(for: key.stringValue), codingPath: codingPath + [key])
        }

        mutating func encodeNil(forKey key: Key) throws { child(key).slot.content = .value(.null) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { child(key).slot.content = .value(.bool(value)) }
        mutating func encode(_ value: String, forKey key: Key) throws {
            child(key).slot.content = .value(.string(value))
        }
        mutating func encode(_ value: Int, forKey key: Key) throws { child(key).slot.content = .value(.integer(value)) }
        mutating func encode(_ value: Int8, forKey key: Key) throws {
            child(key).slot.content = .value(.integer(value))
        }
        mutating func encode(_ value: Int16, forKey key: Key) throws {
            child(key).slot.content = .value(.integer(value))
        }
        mutating func encode(_ value: Int32, forKey key: Key) throws {
            child(key).slot.content = .value(.integer(value))
        }
        mutating func encode(_ value: Int64, forKey key: Key) throws {
            child(key).slot.content = .value(.integer(value))
        }
        mutating func encode(_ value: UInt, forKey key: Key) throws {
            child(key).slot.content = .value(.integer(value))
        }
        mutating func encode(_ value: UInt8, forKey key: Key) throws {
            child(key).slot.content = .value(.integer(value))
        }
        mutating func encode(_ value: UInt16, forKey key: Key) throws {
            child(key).slot.content = .value(.integer(value))
        }
        mutating func encode(_ value: UInt32, forKey key: Key) throws {
            child(key).slot.content = .value(.integer(value))
        }
        mutating func encode(_ value: UInt64, forKey key: Key) throws {
            child(key).slot.content = .value(.integer(value))
        }
        mutating func encode(_ value: Double, forKey key: Key) throws { try child(key).encodeValue(value) }
        mutating func encode(_ value: Float, forKey key: Key) throws { try child(key).encodeValue(value) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try child(key).encodeValue(value) }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type, forKey key: Key
        ) -> KeyedEncodingContainer<NestedKey> {
            child(key).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            child(key).unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder {
            NodeEncoder(slot: box.slot(for: "super"), codingPath: codingPath)
        }

        mutating func superEncoder(forKey key: Key) -> any Encoder { child(key) }
    }

    struct UnkeyedContainer: UnkeyedEncodingContainer {
        let box: EncodingSlot.ArrayBox
        let codingPath: [any CodingKey]
        var count: Int { box.slots.count }

        private func next() -> NodeEncoder {
            NodeEncoder(slot: box.append(), codingPath: codingPath + [IndexKey(box.slots.count)])
        }

        mutating func encodeNil() throws { next().slot.content = .value(.null) }
        mutating func encode(_ value: Bool) throws { next().slot.content = .value(.bool(value)) }
        mutating func encode(_ value: String) throws { next().slot.content = .value(.string(value)) }
        mutating func encode(_ value: Int) throws { next().slot.content = .value(.integer(value)) }
        mutating func encode(_ value: Int8) throws { next().slot.content = .value(.integer(value)) }
        mutating func encode(_ value: Int16) throws { next().slot.content = .value(.integer(value)) }
        mutating func encode(_ value: Int32) throws { next().slot.content = .value(.integer(value)) }
        mutating func encode(_ value: Int64) throws { next().slot.content = .value(.integer(value)) }
        mutating func encode(_ value: UInt) throws { next().slot.content = .value(.integer(value)) }
        mutating func encode(_ value: UInt8) throws { next().slot.content = .value(.integer(value)) }
        mutating func encode(_ value: UInt16) throws { next().slot.content = .value(.integer(value)) }
        mutating func encode(_ value: UInt32) throws { next().slot.content = .value(.integer(value)) }
        mutating func encode(_ value: UInt64) throws { next().slot.content = .value(.integer(value)) }
        mutating func encode(_ value: Double) throws { try next().encodeValue(value) }
        mutating func encode(_ value: Float) throws { try next().encodeValue(value) }
        mutating func encode<T: Encodable>(_ value: T) throws { try next().encodeValue(value) }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type
        ) -> KeyedEncodingContainer<NestedKey> {
            next().container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { next().unkeyedContainer() }
        mutating func superEncoder() -> any Encoder { next() }
    }

    struct SingleContainer: SingleValueEncodingContainer {
        let encoder: NodeEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }

        mutating func encodeNil() throws { encoder.slot.content = .value(.null) }
        mutating func encode(_ value: Bool) throws { encoder.slot.content = .value(.bool(value)) }
        mutating func encode(_ value: String) throws { encoder.slot.content = .value(.string(value)) }
        mutating func encode(_ value: Int) throws { encoder.slot.content = .value(.integer(value)) }
        mutating func encode(_ value: Int8) throws { encoder.slot.content = .value(.integer(value)) }
        mutating func encode(_ value: Int16) throws { encoder.slot.content = .value(.integer(value)) }
        mutating func encode(_ value: Int32) throws { encoder.slot.content = .value(.integer(value)) }
        mutating func encode(_ value: Int64) throws { encoder.slot.content = .value(.integer(value)) }
        mutating func encode(_ value: UInt) throws { encoder.slot.content = .value(.integer(value)) }
        mutating func encode(_ value: UInt8) throws { encoder.slot.content = .value(.integer(value)) }
        mutating func encode(_ value: UInt16) throws { encoder.slot.content = .value(.integer(value)) }
        mutating func encode(_ value: UInt32) throws { encoder.slot.content = .value(.integer(value)) }
        mutating func encode(_ value: UInt64) throws { encoder.slot.content = .value(.integer(value)) }
        mutating func encode(_ value: Double) throws { try encoder.encodeValue(value) }
        mutating func encode(_ value: Float) throws { try encoder.encodeValue(value) }
        mutating func encode<T: Encodable>(_ value: T) throws { try encoder.encodeValue(value) }
    }
}

extension JSONNode {
    /// An integer as a number node.
    static func integer(_ value: some BinaryInteger) -> JSONNode { .number(JSONNumber(text: String(value))!) }
}

/// An array index as a coding key (for coding paths in errors).
struct IndexKey: CodingKey {
    var stringValue: String { "[\(intValue ?? 0)]" }
    var intValue: Int?
    init(_ index: Int) { self.intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

// MARK: - Decoding

struct NodeDecoder: Decoder, ExactNumberDecoding {
    let node: JSONNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = node else { throw mismatch(JSONObject.self, "an object") }
        return KeyedDecodingContainer(KeyedContainer<Key>(object: object, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = node else { throw mismatch([JSONNode].self, "an array") }
        return UnkeyedContainer(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleContainer(decoder: self) }

    func decodeExactNumber() throws -> JSONNumber {
        guard case .number(let number) = node else { throw mismatch(JSONNumber.self, "a number") }
        return number
    }

    func mismatch(_ type: Any.Type, _ expected: String) -> DecodingError {
        DecodingError.typeMismatch(
            type,
            DecodingError.Context(
                codingPath: codingPath, debugDescription: "expected \(expected), found \(node.typeName)"))
    }

    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        if type == JSONNumber.self { return try decodeExactNumber() as! T }
        if type == JSONNode.self { return node as! T }
        if type == Decimal.self {
            guard let decimal = try decodeExactNumber().decimal else { throw mismatch(Decimal.self, "a decimal") }
            return decimal as! T
        }
        return try T(from: self)
    }

    func decodeInteger<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let number = try decodeExactNumber()
        guard let value = T(number.text) ?? number.integer.flatMap({ T(exactly: $0) }) else {
            throw mismatch(type, "an integer")
        }
        return value
    }

    struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let object: JSONObject
        let codingPath: [any CodingKey]

        var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }
        func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

        private func child(_ key: Key) throws -> NodeDecoder {
            guard let node = object[key.stringValue] else {
                throw DecodingError.keyNotFound(
                    key, DecodingError.Context(codingPath: codingPath, debugDescription: "missing key"))
            }
            return NodeDecoder(node: node, codingPath: codingPath + [key])
        }

        func decodeNil(forKey key: Key) throws -> Bool { (try child(key)).node == .null }
        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
            try SingleContainer(decoder: try child(key)).decode(type)
        }
        func decode(_ type: String.Type, forKey key: Key) throws -> String {
            try SingleContainer(decoder: try child(key)).decode(type)
        }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try child(key).decodeInteger(type) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try child(key).decodeInteger(type) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try child(key).decodeInteger(type) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try child(key).decodeInteger(type) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try child(key).decodeInteger(type) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try child(key).decodeInteger(type) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try child(key).decodeInteger(type) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try child(key).decodeInteger(type) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try child(key).decodeInteger(type) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try child(key).decodeInteger(type) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
            try SingleContainer(decoder: try child(key)).decode(type)
        }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
            try SingleContainer(decoder: try child(key)).decode(type)
        }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try child(key).decodeValue(type) }

        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
            guard let node = object[key.stringValue], node != .null else { return nil }
            return try NodeDecoder(node: node, codingPath: codingPath + [key]).decodeValue(type)
        }
        func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
            guard let node = object[key.stringValue], node != .null else { return nil }
            return try SingleContainer(decoder: NodeDecoder(node: node, codingPath: codingPath + [key])).decode(type)
        }
        func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
            guard let node = object[key.stringValue], node != .null else { return nil }
            return try SingleContainer(decoder: NodeDecoder(node: node, codingPath: codingPath + [key])).decode(type)
        }
        func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? {
            guard let node = object[key.stringValue], node != .null else { return nil }
            return try NodeDecoder(node: node, codingPath: codingPath + [key]).decodeInteger(type)
        }

        func nestedContainer<NestedKey: CodingKey>(
            keyedBy type: NestedKey.Type, forKey key: Key
        ) throws -> KeyedDecodingContainer<NestedKey> {
            try child(key).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try child(key).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder {
            NodeDecoder(node: object["super"] ?? .null, codingPath: codingPath)
        }

        func superDecoder(forKey key: Key) throws -> any Decoder { try child(key) }
    }

    struct UnkeyedContainer: UnkeyedDecodingContainer {
        let items: [JSONNode]
        let codingPath: [any CodingKey]
        var currentIndex = 0
        var count: Int? { items.count }
        var isAtEnd: Bool { currentIndex >= items.count }

        private mutating func next() throws -> NodeDecoder {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(
                    JSONNode.self, DecodingError.Context(codingPath: codingPath, debugDescription: "array is exhausted")
                )
            }
            defer { currentIndex += 1 }
            return NodeDecoder(node: items[currentIndex], codingPath: codingPath + [IndexKey(currentIndex)])
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd, items[currentIndex] == .null else { return false }
            currentIndex += 1
            return true
        }
        mutating func decode(_ type: Bool.Type) throws -> Bool { try SingleContainer(decoder: try next()).decode(type) }
        mutating func decode(_ type: String.Type) throws -> String {
            try SingleContainer(decoder: try next()).decode(type)
        }
        mutating func decode(_ type: Int.Type) throws -> Int { try next().decodeInteger(type) }
        mutating func decode(_ type: Int8.Type) throws -> Int8 { try next().decodeInteger(type) }
        mutating func decode(_ type: Int16.Type) throws -> Int16 { try next().decodeInteger(type) }
        mutating func decode(_ type: Int32.Type) throws -> Int32 { try next().decodeInteger(type) }
        mutating func decode(_ type: Int64.Type) throws -> Int64 { try next().decodeInteger(type) }
        mutating func decode(_ type: UInt.Type) throws -> UInt { try next().decodeInteger(type) }
        mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next().decodeInteger(type) }
        mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next().decodeInteger(type) }
        mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next().decodeInteger(type) }
        mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next().decodeInteger(type) }
        mutating func decode(_ type: Double.Type) throws -> Double {
            try SingleContainer(decoder: try next()).decode(type)
        }
        mutating func decode(_ type: Float.Type) throws -> Float {
            try SingleContainer(decoder: try next()).decode(type)
        }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decodeValue(type) }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy type: NestedKey.Type
        ) throws -> KeyedDecodingContainer<NestedKey> {
            try next().container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
        mutating func superDecoder() throws -> any Decoder { try next() }
    }

    struct SingleContainer: SingleValueDecodingContainer {
        let decoder: NodeDecoder
        var codingPath: [any CodingKey] { decoder.codingPath }

        func decodeNil() -> Bool { decoder.node == .null }

        func decode(_ type: Bool.Type) throws -> Bool {
            guard case .bool(let value) = decoder.node else { throw decoder.mismatch(type, "a boolean") }
            return value
        }

        func decode(_ type: String.Type) throws -> String {
            guard case .string(let value) = decoder.node else { throw decoder.mismatch(type, "a string") }
            return value
        }

        func decode(_ type: Double.Type) throws -> Double {
            guard let value = Double(try decoder.decodeExactNumber().text) else {
                throw decoder.mismatch(type, "a number")
            }
            return value
        }

        func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }
        func decode(_ type: Int.Type) throws -> Int { try decoder.decodeInteger(type) }
        func decode(_ type: Int8.Type) throws -> Int8 { try decoder.decodeInteger(type) }
        func decode(_ type: Int16.Type) throws -> Int16 { try decoder.decodeInteger(type) }
        func decode(_ type: Int32.Type) throws -> Int32 { try decoder.decodeInteger(type) }
        func decode(_ type: Int64.Type) throws -> Int64 { try decoder.decodeInteger(type) }
        func decode(_ type: UInt.Type) throws -> UInt { try decoder.decodeInteger(type) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.decodeInteger(type) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.decodeInteger(type) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.decodeInteger(type) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.decodeInteger(type) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeValue(type) }
    }
}
