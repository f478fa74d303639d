import Foundation

/// A SQL statement and its bind parameters.
///
/// Write statements as string literals; every interpolated value becomes a bind parameter
/// (`$1`, `$2`, …), never SQL text, so a value cannot change the statement:
///
/// ```swift
/// let query: PostgresQuery = "SELECT id FROM invoices WHERE tenant = \(tenant) AND number = \(number)"
/// // query.sql   == "SELECT id FROM invoices WHERE tenant = $1 AND number = $2"
/// // query.binds == [tenant.postgresBind, number.postgresBind]
/// ```
///
/// SQL text assembled at run time can only come in through the deliberately loud
/// ``init(unsafeSQL:binds:)``. Table and column names are never interpolated; quote them with
/// ``quotedIdentifier(_:)`` when building `unsafeSQL`.
public struct PostgresQuery: Sendable, Hashable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The statement text with `$n` placeholders.
    public let sql: String
    /// The parameters, in placeholder order.
    public let binds: [PostgresBind]

    /// Creates a statement from SQL text built at run time.
    ///
    /// The text is sent as is: never put untrusted input into `sql`. Pass values as `binds` and
    /// refer to them as `$1`, `$2`, … in the text.
    public init(unsafeSQL sql: String, binds: [any PostgresBindable] = []) {
        self.sql = sql
        self.binds = binds.map { $0.postgresBind }
    }

    /// Creates a statement from SQL text built at run time and already encoded parameters.
    public init(unsafeSQL sql: String, encodedBinds: [PostgresBind]) {
        self.sql = sql
        self.binds = encodedBinds
    }

    public init(stringLiteral value: String) {
        self.sql = value
        self.binds = []
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.binds = stringInterpolation.binds
    }

    /// The statement text only; bind values are never part of a description.
    public var description: String { sql }

    /// Quotes a table or column name for use in ``init(unsafeSQL:binds:)``: wraps it in double
    /// quotes and doubles any double quote inside, so it is always read as one identifier.
    public static func quotedIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Collects literal SQL and turns each interpolated value into a `$n` bind parameter.
    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        var sql: String
        var binds: [PostgresBind]

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds = []
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// Appends `value` as the next bind parameter.
        public mutating func appendInterpolation(_ value: some PostgresBindable) {
            binds.append(value.postgresBind)
            sql += "$\(binds.count)"
        }

        /// Appends `value` as the next bind parameter; `nil` binds a NULL of the wrapped type.
        public mutating func appendInterpolation<Value: PostgresBindable>(_ value: Value?) {
            binds.append(value.postgresBind)
            sql += "$\(binds.count)"
        }
    }
}
