/// One value of a result row in Postgres text format, handed to ``PostgresDecodable`` types.
public struct PostgresCell: Sendable {
    /// The value's text-format bytes, or nil for SQL NULL.
    public let bytes: ArraySlice<UInt8>?
    /// The column's type.
    public let dataType: PostgresDataType
    /// The column's name (for errors).
    public let columnName: String
    /// The column's position, from 0.
    public let columnIndex: Int

    /// Creates a cell (useful for testing your own ``PostgresDecodable`` conformances).
    public init(bytes: ArraySlice<UInt8>?, dataType: PostgresDataType, columnName: String, columnIndex: Int) {
        self.bytes = bytes
        self.dataType = dataType
        self.columnName = columnName
        self.columnIndex = columnIndex
    }

    /// True for SQL NULL.
    public var isNull: Bool { bytes == nil }

    /// The error to throw when this cell's value does not decode as `type`.
    ///
    /// - Parameter reason: a data-free explanation; never include the value itself.
    public func decodingError(_ type: Any.Type, reason: String, file: String = #fileID, line: Int = #line) -> PostgresError {
        PostgresError(
            code: .decodingFailed,
            reason: "column \"\(columnName)\" (\(dataType)) as \(type): \(reason)",
            file: file, line: line)
    }
}

/// A Swift type that can be read from a result column.
///
/// Conforming types: `String` (any column's text form), `Int`, `Int64`, `Int32`, `Int16`, `Bool`,
/// `Decimal` (exact, from `numeric`), `Date` (`timestamptz`, `timestamp` read as UTC, `date`),
/// `UUID`, `Data` and `[UInt8]` (`bytea`), ``PostgresJSON`` (`json`, `jsonb`), arrays of `String`,
/// `Int`, `Int64`, `Int32` and `UUID`, and `Optional` of any of them (NULL becomes `nil`).
public protocol PostgresDecodable: Sendable {
    /// Decodes a non-NULL cell.
    init(postgresCell cell: PostgresCell) throws

    /// Returns the value for SQL NULL. The default throws ``PostgresError/Code/decodingFailed``;
    /// `Optional` returns `nil`.
    static func postgresDecodeNull(_ cell: PostgresCell) throws -> Self
}

extension PostgresDecodable {
    public static func postgresDecodeNull(_ cell: PostgresCell) throws -> Self {
        throw cell.decodingError(Self.self, reason: "unexpected NULL; decode an Optional instead")
    }

    /// Decodes `cell`, NULL included.
    static func decode(_ cell: PostgresCell) throws -> Self {
        cell.bytes == nil ? try postgresDecodeNull(cell) : try Self(postgresCell: cell)
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresCell cell: PostgresCell) throws {
        self = .some(try Wrapped(postgresCell: cell))
    }

    public static func postgresDecodeNull(_ cell: PostgresCell) throws -> Self { nil }
}
