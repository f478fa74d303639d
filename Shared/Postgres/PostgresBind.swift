/// A Postgres type, identified by its OID (`pg_type.oid`).
///
/// The wrapper tells the server the type of each bind parameter so that, for example, `COALESCE($1, 0)`
/// works. ``unknown`` lets the server infer the type from the statement, which is what ``String``
/// uses so that a string can be compared with a `uuid`, `text` or enum column alike.
public struct PostgresDataType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The type's OID.
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Let the server infer the type from the statement (OID 0).
    public static let unknown = Self(rawValue: 0)
    /// `bool`
    public static let bool = Self(rawValue: 16)
    /// `bytea`
    public static let bytea = Self(rawValue: 17)
    /// `name`
    public static let name = Self(rawValue: 19)
    /// `int8` / `bigint`
    public static let int8 = Self(rawValue: 20)
    /// `int2` / `smallint`
    public static let int2 = Self(rawValue: 21)
    /// `int4` / `integer`
    public static let int4 = Self(rawValue: 23)
    /// `text`
    public static let text = Self(rawValue: 25)
    /// `oid`
    public static let oid = Self(rawValue: 26)
    /// `json`
    public static let json = Self(rawValue: 114)
    /// `bpchar` / `char(n)`
    public static let bpchar = Self(rawValue: 1042)
    /// `varchar`
    public static let varchar = Self(rawValue: 1043)
    /// `date`
    public static let date = Self(rawValue: 1082)
    /// `timestamp` (without time zone)
    public static let timestamp = Self(rawValue: 1114)
    /// `timestamptz`
    public static let timestamptz = Self(rawValue: 1184)
    /// `numeric`
    public static let numeric = Self(rawValue: 1700)
    /// `uuid`
    public static let uuid = Self(rawValue: 2950)
    /// `jsonb`
    public static let jsonb = Self(rawValue: 3802)
    /// `bool[]`
    public static let boolArray = Self(rawValue: 1000)
    /// `bytea[]`
    public static let byteaArray = Self(rawValue: 1001)
    /// `int2[]`
    public static let int2Array = Self(rawValue: 1005)
    /// `int4[]`
    public static let int4Array = Self(rawValue: 1007)
    /// `text[]`
    public static let textArray = Self(rawValue: 1009)
    /// `varchar[]`
    public static let varcharArray = Self(rawValue: 1015)
    /// `int8[]`
    public static let int8Array = Self(rawValue: 1016)
    /// `numeric[]`
    public static let numericArray = Self(rawValue: 1231)
    /// `uuid[]`
    public static let uuidArray = Self(rawValue: 2951)

    public var description: String {
        switch self {
        case .unknown: "unknown"
        case .bool: "bool"
        case .bytea: "bytea"
        case .name: "name"
        case .int8: "int8"
        case .int2: "int2"
        case .int4: "int4"
        case .text: "text"
        case .oid: "oid"
        case .json: "json"
        case .bpchar: "bpchar"
        case .varchar: "varchar"
        case .date: "date"
        case .timestamp: "timestamp"
        case .timestamptz: "timestamptz"
        case .numeric: "numeric"
        case .uuid: "uuid"
        case .jsonb: "jsonb"
        case .boolArray: "bool[]"
        case .byteaArray: "bytea[]"
        case .int2Array: "int2[]"
        case .int4Array: "int4[]"
        case .textArray: "text[]"
        case .varcharArray: "varchar[]"
        case .int8Array: "int8[]"
        case .numericArray: "numeric[]"
        case .uuidArray: "uuid[]"
        default: "oid \(rawValue)"
        }
    }
}

/// One encoded bind parameter: its type and its value in Postgres text or binary format.
///
/// Its `description` names the type only; the value is never printed.
public struct PostgresBind: Sendable, Hashable, CustomStringConvertible {
    enum Storage: Sendable, Hashable {
        case null
        /// UTF-8 text form, without a terminating NUL.
        case text([UInt8])
        case binary([UInt8])
    }

    /// The parameter's declared type.
    public let type: PostgresDataType
    let storage: Storage

    /// SQL NULL of the given type.
    public static func null(_ type: PostgresDataType) -> Self { Self(type: type, storage: .null) }

    /// A value in Postgres text format, e.g. `"42"` for `int8` or `"t"` for `bool`.
    /// Postgres text cannot hold NUL characters; the server rejects them.
    public static func text(_ value: String, type: PostgresDataType) -> Self {
        Self(type: type, storage: .text(Array(value.utf8)))
    }

    /// A value in Postgres binary format (used for `bytea`).
    public static func binary(_ bytes: [UInt8], type: PostgresDataType) -> Self {
        Self(type: type, storage: .binary(bytes))
    }

    /// True for SQL NULL.
    public var isNull: Bool { if case .null = storage { true } else { false } }

    /// The text form of the value, or nil for NULL and binary values.
    public var textValue: String? {
        if case .text(let bytes) = storage { String(decoding: bytes, as: UTF8.self) } else { nil }
    }

    /// The binary form of the value, or nil for NULL and text values.
    public var binaryValue: [UInt8]? {
        if case .binary(let bytes) = storage { bytes } else { nil }
    }

    public var description: String { isNull ? "PostgresBind(\(type), NULL)" : "PostgresBind(\(type))" }
}

/// A Swift value that can be sent as a bind parameter.
///
/// Conforming types: `String`, `Int`, `Int64`, `Int32`, `Int16`, `Bool`, `Decimal` (`numeric`),
/// `Date` (`timestamptz`), `UUID`, `Data` and `[UInt8]` (`bytea`), ``PostgresJSON`` (`jsonb`),
/// arrays of `String`, `Int`, `Int64`, `Int32` and `UUID`, and `Optional` of any of them (`nil` is NULL).
public protocol PostgresBindable: Sendable {
    /// The type sent for this value and for `nil` of this type.
    static var postgresDataType: PostgresDataType { get }
    /// The encoded value.
    var postgresBind: PostgresBind { get }
}

extension Optional: PostgresBindable where Wrapped: PostgresBindable {
    public static var postgresDataType: PostgresDataType { Wrapped.postgresDataType }
    public var postgresBind: PostgresBind {
        switch self {
        case .some(let value): value.postgresBind
        case .none: .null(Wrapped.postgresDataType)
        }
    }
}
