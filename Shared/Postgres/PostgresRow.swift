/// The rows of one result, copied out of libpq's `PGresult` into Swift memory: column metadata
/// once, every value in one byte buffer. Immutable, so rows can cross tasks freely.
final class PostgresResultStorage: Sendable {
    let statement: String
    let columnNames: [String]
    let columnTypes: [PostgresDataType]
    let columnLookup: [String: Int]
    let rowCount: Int
    /// All values' text bytes, back to back.
    let bytes: [UInt8]
    /// For cell `row * columnCount + column`: its start in `bytes`, or -1 for NULL.
    let offsets: [Int]
    /// For each cell: its length in bytes.
    let lengths: [Int]

    init(
        statement: String, columnNames: [String], columnTypes: [PostgresDataType], rowCount: Int, bytes: [UInt8],
        offsets: [Int], lengths: [Int]
    ) {
        self.statement = statement
        self.columnNames = columnNames
        self.columnTypes = columnTypes
        var lookup: [String: Int] = [:]
        for (index, name) in columnNames.enumerated() where lookup[name] == nil { lookup[name] = index }
        self.columnLookup = lookup
        self.rowCount = rowCount
        self.bytes = bytes
        self.offsets = offsets
        self.lengths = lengths
    }

    func rows() -> [PostgresRow] { (0..<rowCount).map { PostgresRow(storage: self, index: $0) } }
}

/// One result row, decoded column by column into Swift types.
///
/// ```swift
/// for row in try await pool.query("SELECT id, amount, paid_at FROM invoices WHERE tenant = \(tenant)") {
///     let id = try row.decode(UUID.self, "id")
///     let amount = try row.decode(Decimal.self, "amount")
///     let paidAt = try row.decode(Date?.self, "paid_at")   // NULL becomes nil
/// }
/// ```
///
/// A missing column or a value that does not decode throws ``PostgresError/Code/decodingFailed``
/// naming the column and the types, never the value. Its `description` lists column names only.
public struct PostgresRow: Sendable, CustomStringConvertible {
    let storage: PostgresResultStorage
    let index: Int

    /// The number of columns.
    public var columnCount: Int { storage.columnNames.count }
    /// The column names, in order.
    public var columnNames: [String] { storage.columnNames }

    /// Decodes the column named `column` (the first one, if several share the name).
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, _ column: String, file: String = #fileID, line: Int = #line)
        throws -> T
    {
        guard let position = storage.columnLookup[column] else {
            throw PostgresError(
                code: .decodingFailed, statement: storage.statement,
                reason: "no column \"\(column)\" in result (columns: \(storage.columnNames.joined(separator: ", ")))",
                file: file, line: line)
        }
        return try decode(type, at: position, file: file, line: line)
    }

    /// Decodes the column at `position` (from 0).
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at position: Int, file: String = #fileID, line: Int = #line)
        throws -> T
    {
        let cell = try cell(at: position, file: file, line: line)
        do {
            return try T.decode(cell)
        } catch var error as PostgresError {
            error.statement = error.statement ?? storage.statement
            throw error
        }
    }

    /// True when the column named `column` is NULL.
    public func isNull(_ column: String) throws -> Bool {
        try decode(Optional<String>.self, column) == nil
    }

    /// The raw cell at `position` (from 0).
    public func cell(at position: Int, file: String = #fileID, line: Int = #line) throws -> PostgresCell {
        guard position >= 0, position < storage.columnNames.count else {
            throw PostgresError(
                code: .decodingFailed, statement: storage.statement,
                reason: "column index \(position) out of range 0..<\(storage.columnNames.count)", file: file,
                line: line)
        }
        let cellIndex = index * storage.columnNames.count + position
        let offset = storage.offsets[cellIndex]
        let bytes = offset < 0 ? nil : storage.bytes[offset..<(offset + storage.lengths[cellIndex])]
        return PostgresCell(
            bytes: bytes, dataType: storage.columnTypes[position], columnName: storage.columnNames[position],
            columnIndex: position)
    }

    public var description: String { "PostgresRow(columns: \(storage.columnNames.joined(separator: ", ")))" }
}
