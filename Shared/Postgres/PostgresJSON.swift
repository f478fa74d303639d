import Foundation

/// A JSON document stored as `jsonb`, kept as raw UTF-8 bytes.
///
/// ```swift
/// let payload = try PostgresJSON(encoding: invoice)
/// try await pool.execute("INSERT INTO events (key, payload) VALUES (\(key), \(payload))")
/// let stored = try row.decode(PostgresJSON.self, "payload").decode(Invoice.self)
/// ```
///
/// The server normalises `jsonb` (key order, whitespace), so the bytes read back are equivalent JSON,
/// not necessarily the same bytes. Its `description` never shows the document.
public struct PostgresJSON: Sendable, Hashable, PostgresBindable, PostgresDecodable, CustomStringConvertible {
    /// The JSON text as UTF-8 bytes.
    public var bytes: [UInt8]

    /// Wraps JSON text that is already encoded. The server validates it when it is bound.
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Wraps JSON text. The server validates it when it is bound.
    public init(_ json: String) { self.bytes = Array(json.utf8) }

    /// Encodes `value` with `encoder`.
    public init(encoding value: some Encodable, encoder: JSONEncoder = JSONEncoder()) throws {
        self.bytes = [UInt8](try encoder.encode(value))
    }

    /// The JSON text.
    public var string: String { String(decoding: bytes, as: UTF8.self) }

    /// Decodes the document as `type`.
    public func decode<T: Decodable>(_ type: T.Type, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(type, from: Data(bytes))
    }

    public var description: String { "PostgresJSON(\(bytes.count) bytes)" }

    public static var postgresDataType: PostgresDataType { .jsonb }
    public var postgresBind: PostgresBind { .init(type: .jsonb, storage: .text(bytes)) }

    /// Reads `json`, `jsonb` and text columns.
    public init(postgresCell cell: PostgresCell) throws {
        guard [.json, .jsonb, .text, .unknown].contains(cell.dataType) else {
            throw cell.decodingError(PostgresJSON.self, reason: "not a json or jsonb column")
        }
        self.bytes = Array(cell.bytes ?? [])
    }
}
