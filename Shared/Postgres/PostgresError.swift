/// An error from the Postgres wrapper: a failed connection, a failed statement, a value that did
/// not decode, a pool that could not lend a connection in time.
///
/// `description` is safe to log: it names the code, the SQLSTATE, the constraint, the host and the
/// statement text (which holds `$n` placeholders, never bind values). The server's message and
/// detail may quote row data, so they appear only in `debugDescription`.
///
/// ```swift
/// do {
///     try await pool.execute("INSERT INTO invoices (key) VALUES (\(key))")
/// } catch let error as PostgresError where error.isUniqueViolation {
///     // already stored
/// }
/// ```
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case connectionFailed, connectionClosed, queryFailed, decodingFailed, invalidURL, poolClosed
            case timeout, protocolViolation, invalidArgument
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Could not open a connection (refused, authentication failed, database missing, timeout).
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection broke or was closed before or while a statement ran.
        public static let connectionClosed = Code(.connectionClosed)
        /// The server rejected a statement; see ``PostgresError/sqlState``.
        public static let queryFailed = Code(.queryFailed)
        /// A column is missing or its value does not decode into the requested Swift type.
        public static let decodingFailed = Code(.decodingFailed)
        /// A `postgres://` URL could not be parsed.
        public static let invalidURL = Code(.invalidURL)
        /// The pool was closed.
        public static let poolClosed = Code(.poolClosed)
        /// A wait ran out of time (for example, leasing a connection from a pool that cannot connect).
        public static let timeout = Code(.timeout)
        /// libpq returned a result this wrapper did not expect for the call.
        public static let protocolViolation = Code(.protocolViolation)
        /// An argument was rejected before anything was sent (for example, an empty column list).
        public static let invalidArgument = Code(.invalidArgument)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// The five-character SQLSTATE from the server, such as `23505`; safe to log and branch on.
    public var sqlState: String?
    /// The server's primary message, or libpq's message for client-side failures. May quote data:
    /// shown only in `debugDescription`.
    public var message: String?
    /// The server's detail line. May quote data: shown only in `debugDescription`.
    public var detail: String?
    /// The constraint that was violated, when the server names one.
    public var constraintName: String?
    /// `host:port` of the server involved.
    public var host: String?
    /// The statement text, with `$n` placeholders; never the bind values.
    public var statement: String?
    /// A short, data-free explanation written by this library (for example, which column was missing).
    public var reason: String?
    /// The error that caused this one, such as the last connection failure behind a pool timeout.
    public var underlying: (any Error)?
    /// Where the error was created.
    public var file: String
    /// Where the error was created.
    public var line: Int

    /// True when nothing of the failed request reached the server, so repeating it cannot apply it twice.
    var requestNotSent = false

    /// Creates an error.
    public init(
        code: Code, sqlState: String? = nil, message: String? = nil, detail: String? = nil,
        constraintName: String? = nil, host: String? = nil, statement: String? = nil, reason: String? = nil,
        underlying: (any Error)? = nil, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.constraintName = constraintName
        self.host = host
        self.statement = statement
        self.reason = reason
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    /// SQLSTATE 23505: a unique or primary-key constraint rejected the row.
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// SQLSTATE 40001: a serializable or repeatable-read transaction must be retried.
    public var isSerializationFailure: Bool { sqlState == "40001" }
    /// SQLSTATE 40P01: the server broke a deadlock by aborting this transaction.
    public var isDeadlock: Bool { sqlState == "40P01" }
    /// SQLSTATE 57014: the statement was cancelled, usually by `statement_timeout`.
    public var isQueryCanceled: Bool { sqlState == "57014" }
    /// True when the connection is unusable: it could not be opened, it broke, or the server is
    /// shutting down (SQLSTATE class 08, 57P01–57P03).
    public var isConnectionError: Bool {
        if code == .connectionFailed || code == .connectionClosed { return true }
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(sqlState)
    }

    public var description: String {
        var parts = [code.description]
        if let sqlState { parts.append("sqlState: \(sqlState)") }
        if let constraintName { parts.append("constraint: \(constraintName)") }
        if let host { parts.append("host: \(host)") }
        if let reason { parts.append("reason: \(reason)") }
        if let statement { parts.append("statement: \(Self.abbreviated(statement))") }
        if let underlying { parts.append("underlying: \(String(describing: underlying))") }
        return "PostgresError(\(parts.joined(separator: ", ")))"
    }

    public var debugDescription: String {
        var parts = [code.description]
        if let sqlState { parts.append("sqlState: \(sqlState)") }
        if let message { parts.append("message: \(message)") }
        if let detail { parts.append("detail: \(detail)") }
        if let constraintName { parts.append("constraint: \(constraintName)") }
        if let host { parts.append("host: \(host)") }
        if let reason { parts.append("reason: \(reason)") }
        if let statement { parts.append("statement: \(statement)") }
        if let underlying { parts.append("underlying: \(String(reflecting: underlying))") }
        parts.append("at: \(file):\(line)")
        return "PostgresError(\(parts.joined(separator: ", ")))"
    }

    private static func abbreviated(_ sql: String) -> String {
        let flat = sql.split(whereSeparator: \.isNewline).map { $0.trimmingPrefixWhitespace() }.joined(separator: " ")
        return flat.count <= 200 ? flat : String(flat.prefix(200)) + "…"
    }
}

extension Substring {
    fileprivate func trimmingPrefixWhitespace() -> Substring { drop(while: { $0 == " " || $0 == "\t" }) }
}
