import Foundation
import Logging
import Synchronization

/// One Postgres connection, with its libpq handle confined to a dedicated thread.
///
/// Every operation is one job on that thread, so operations from several tasks run one after
/// another and never interleave on the wire. Code inside ``withThreadAffinity(_:)`` (which
/// ``PostgresPool/withConnection(logger:_:)`` uses) runs on that thread too, so its statements need
/// no thread hop. (Transactions are still the caller's business: use
/// ``withTransaction(isolation:logger:_:)`` or a pool lease so that no other task slips a statement
/// into yours.) Statements run as named prepared statements cached by SQL text, so repeated
/// statements are parsed once per connection.
///
/// ```swift
/// let connection = try await PostgresConnection.connect(configuration: configuration, logger: logger)
/// defer { connection.close() }
/// let inserted = try await connection.execute(
///     "INSERT INTO events (key, payload) VALUES (\(key), \(payload)) ON CONFLICT (key) DO NOTHING")
/// ```
///
/// Usually you lease connections from a ``PostgresPool`` instead of opening them yourself.
public final class PostgresConnection: Sendable {
    /// `host:port` of the server.
    public let endpoint: String
    /// The logger used when a call passes none.
    public let logger: Logger
    private let thread: ConnectionThread
    /// Confined to `thread`: only touched inside `thread.run` / `thread.submit` jobs.
    private let handle: LibPQConnection
    private let shared: Shared

    /// Sends cancel requests for the statement in flight (task cancellation).
    private let canceller: LibPQCanceller?

    /// State read by other threads (the pool, cancellation handlers), written by the connection's thread.
    private final class Shared: Sendable {
        let state = Mutex(State())
        let operations = Mutex(Operations())
    }

    private struct State {
        var closed = false
        var snapshot = ConnectionSnapshot(isBroken: false, transaction: .idle)
    }

    /// Which operation runs on the connection's thread, so a cancelled task cancels only its own statement.
    private struct Operations {
        var lastID = 0
        var running = 0
        var cancelled: Set<Int> = []
    }

    private static let counter = Atomic<Int>(0)

    private init(endpoint: String, logger: Logger, thread: ConnectionThread, handle: LibPQConnection) {
        self.endpoint = endpoint
        self.logger = logger
        self.thread = thread
        self.handle = handle
        self.canceller = handle.canceller
        self.shared = Shared()
    }

    deinit {
        close()
    }

    /// Opens a connection.
    ///
    /// - Parameters:
    ///   - configuration: where to connect; the password is never logged.
    ///   - logger: used for this connection's debug/trace messages when a call passes no logger.
    /// - Throws: ``PostgresError`` with code ``PostgresError/Code/connectionFailed``, naming the host.
    public static func connect(configuration: PostgresConfiguration, logger: Logger) async throws -> PostgresConnection {
        let number = counter.wrappingAdd(1, ordering: .relaxed).newValue
        var logger = logger
        logger[metadataKey: "db.connection_id"] = "\(number)"
        let thread = ConnectionThread(name: "postgres-\(number)")
        let connectLogger = logger
        do {
            let handle = try await thread.run {
                try LibPQConnection.connect(configuration: configuration, logger: connectLogger)
            }
            logger.debug("Postgres connection opened", metadata: ["db.endpoint": "\(configuration.endpoint)"])
            return PostgresConnection(endpoint: configuration.endpoint, logger: logger, thread: thread, handle: handle)
        } catch {
            thread.shutdown()
            logger.debug("Postgres connection failed", metadata: ["db.endpoint": "\(configuration.endpoint)"])
            if error is ConnectionThreadStopped { throw PostgresError(code: .connectionFailed, host: configuration.endpoint) }
            throw error
        }
    }

    /// True after ``close()``.
    public var isClosed: Bool { shared.state.withLock { $0.closed } }

    /// False once the connection is closed or libpq reported it broken; a pool discards such a connection.
    public var isUsable: Bool { shared.state.withLock { !$0.closed && !$0.snapshot.isBroken } }

    var snapshot: ConnectionSnapshot { shared.state.withLock { $0.snapshot } }

    /// True when the caller runs on this connection's thread (for tests).
    var isOnConnectionThread: Bool { thread.isCurrent }

    /// Closes the connection. Operations already queued finish first; later ones fail with
    /// ``PostgresError/Code/connectionClosed``. Safe to call more than once.
    public func close() {
        let wasClosed = shared.state.withLock { state in
            defer { state.closed = true }
            return state.closed
        }
        guard !wasClosed else { return }
        let handle = self.handle
        thread.submit { handle.finish() }
        thread.shutdown()
    }

    // MARK: Statements

    /// Runs a statement and returns its rows.
    ///
    /// - Throws: ``PostgresError``: ``PostgresError/Code/queryFailed`` with the SQLSTATE when the
    ///   server rejects it, ``PostgresError/Code/connectionClosed`` when the connection is gone.
    @discardableResult
    public func query(_ query: PostgresQuery, logger: Logger? = nil) async throws -> [PostgresRow] {
        let logger = logger ?? self.logger
        logger.trace("Postgres query", metadata: ["db.statement": "\(query.sql)", "db.binds": "\(query.binds.count)"])
        let storage = try await perform(statement: query.sql) { try $0.run(query, wantRows: true).rows }
        return storage?.rows() ?? []
    }

    /// Runs a statement and returns the number of rows it inserted, updated, deleted, copied or selected.
    ///
    /// - Throws: ``PostgresError`` as for ``query(_:logger:)``.
    @discardableResult
    public func execute(_ query: PostgresQuery, logger: Logger? = nil) async throws -> Int {
        let logger = logger ?? self.logger
        logger.trace("Postgres execute", metadata: ["db.statement": "\(query.sql)", "db.binds": "\(query.binds.count)"])
        return try await perform(statement: query.sql) { try $0.run(query, wantRows: false).affected }
    }

    /// Sends many statements in libpq pipeline mode and returns each one's affected-row count.
    ///
    /// Statements go out without waiting for replies, with a sync point every `syncEvery`
    /// statements and at most two sync groups in flight, so neither side's socket buffer fills.
    ///
    /// Each sync group is its own implicit transaction: a failing statement rolls back its group
    /// only. After a failure no further groups are sent, the group already in flight still runs,
    /// and the first error is thrown (its `reason` names the failing statement's index). For
    /// all-or-nothing, run the pipeline inside ``PostgresPool/withTransaction(isolation:maxAttempts:logger:_:)``:
    /// then the first failure aborts the whole transaction.
    /// Meant for statements with small results (INSERT/UPDATE/DELETE).
    ///
    /// - Parameters:
    ///   - queries: the statements, each with its own binds.
    ///   - syncEvery: statements per sync group (and per implicit transaction). Default: 100.
    public func pipeline(_ queries: [PostgresQuery], syncEvery: Int = 100, logger: Logger? = nil) async throws -> [Int] {
        guard !queries.isEmpty else { return [] }
        let logger = logger ?? self.logger
        logger.trace("Postgres pipeline", metadata: ["db.statements": "\(queries.count)", "db.sync_every": "\(syncEvery)"])
        return try await perform(statement: queries[0].sql) { try $0.pipeline(queries, syncEvery: syncEvery, windows: 2) }
    }

    /// Inserts many rows with `COPY … FROM STDIN` (text format) and returns the number of rows copied.
    ///
    /// Values are encoded as for bind parameters and escaped for COPY (backslash, tab, newline,
    /// carriage return; `nil` is NULL), so any text is stored as data. Names are quoted as identifiers.
    ///
    /// - Parameters:
    ///   - table: the table name; pass `schema` separately when needed.
    ///   - schema: the table's schema, or nil for the search path.
    ///   - columns: the columns each row provides, in order.
    ///   - rows: the values, one array per row, each as long as `columns`.
    /// - Throws: ``PostgresError/Code/invalidArgument`` when a row has the wrong length;
    ///   ``PostgresError/Code/queryFailed`` when the server rejects a value (nothing is inserted then).
    @discardableResult
    public func bulkInsert(
        table: String, schema: String? = nil, columns: [String], rows: [[any PostgresBindable]], logger: Logger? = nil
    ) async throws -> Int {
        guard !columns.isEmpty else {
            throw PostgresError(code: .invalidArgument, host: endpoint, reason: "bulkInsert needs at least one column")
        }
        var target = PostgresQuery.quotedIdentifier(table)
        if let schema { target = PostgresQuery.quotedIdentifier(schema) + "." + target }
        let sql = "COPY \(target) (\(columns.map(PostgresQuery.quotedIdentifier).joined(separator: ", "))) FROM STDIN"
        let data = try PostgresCopyEncoder.encode(rows, columnCount: columns.count, endpoint: endpoint, statement: sql)
        let logger = logger ?? self.logger
        logger.trace("Postgres copy", metadata: ["db.statement": "\(sql)", "db.rows": "\(rows.count)"])
        return try await perform(statement: sql) { try $0.copyIn(sql, data: data) }
    }

    /// Runs SQL text with the simple query protocol: several statements separated by semicolons are
    /// allowed, bind parameters are not. Meant for migrations and setup scripts.
    ///
    /// - Parameters:
    ///   - sql: the script; never put untrusted input into it.
    ///   - label: how errors and logs name the script instead of quoting it (default: the first 200 characters).
    public func executeScript(unsafeSQL sql: String, label: String? = nil, logger: Logger? = nil) async throws {
        let label = label ?? String(sql.prefix(200))
        (logger ?? self.logger).trace("Postgres script", metadata: ["db.statement": "\(label)"])
        try await perform(statement: label) { try $0.runScript(sql, label: label) }
    }

    /// Runs `body` with this connection's thread as the task's preferred executor.
    ///
    /// The closure's own code then runs on the connection's dedicated thread, and each statement it
    /// issues on this connection is a direct call instead of a hop to that thread and back, which
    /// roughly halves the client-side cost of a short statement. Awaiting anything else (another
    /// connection, an actor) works as usual. Keep long CPU-bound work out of the closure: it holds
    /// up other users of this connection.
    public func withThreadAffinity<Result>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await withTaskExecutorPreference(thread) { try await body(self) }
    }

    /// Runs `body` inside `BEGIN … COMMIT` on this connection, rolling back when it throws.
    /// No retries; ``PostgresPool/withTransaction(isolation:maxAttempts:logger:_:)`` retries.
    public func withTransaction<Result>(
        isolation: PostgresIsolationLevel = .readCommitted, logger: Logger? = nil,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withThreadAffinity { connection in
            try await connection.execute(PostgresQuery(unsafeSQL: isolation.beginStatement), logger: logger)
            let result: Result
            do {
                result = try await body(connection)
            } catch {
                if connection.isUsable { _ = try? await connection.execute("ROLLBACK", logger: logger) }
                throw error
            }
            try await connection.execute("COMMIT", logger: logger)
            return result
        }
    }

    /// Runs `body` with the libpq handle on the connection's thread and records the connection's state.
    ///
    /// Cancelling the calling task cancels the operation: before it starts, it is not sent; while it
    /// runs, a cancel request goes to the server (on a short-lived thread, as `PQcancel` blocks) and
    /// the statement fails with SQLSTATE 57014.
    private func perform<R: Sendable>(
        statement: String?, _ body: @escaping @Sendable (LibPQConnection) throws -> R
    ) async throws -> R {
        try Task.checkCancellation()
        guard !isClosed else {
            var error = PostgresError(code: .connectionClosed, host: endpoint, statement: statement, reason: "connection is closed")
            error.requestNotSent = true
            throw error
        }
        let handle = self.handle
        let shared = self.shared
        let id = shared.operations.withLock { operations in
            operations.lastID += 1
            return operations.lastID
        }
        // A cancellation that lands after the job finished leaves its mark; clear it.
        defer { shared.operations.withLock { _ = $0.cancelled.remove(id) } }
        do {
            return try await withTaskCancellationHandler {
                try await thread.run {
                    let cancelledEarly = shared.operations.withLock { operations in
                        if operations.cancelled.remove(id) != nil { return true }
                        operations.running = id
                        return false
                    }
                    if cancelledEarly { throw CancellationError() }
                    defer {
                        let snapshot = handle.snapshot
                        shared.state.withLock { $0.snapshot = snapshot }
                        shared.operations.withLock { $0.running = 0 }
                    }
                    return try body(handle)
                }
            } onCancel: { [canceller] in
                let running = shared.operations.withLock { operations in
                    operations.cancelled.insert(id)
                    return operations.running == id
                }
                if running, let canceller {
                    let thread = Thread { canceller.cancel() }
                    thread.name = "postgres-cancel"
                    thread.start()
                }
            }
        } catch is ConnectionThreadStopped {
            var error = PostgresError(code: .connectionClosed, host: endpoint, statement: statement, reason: "connection is closed")
            error.requestNotSent = true
            throw error
        }
    }
}

/// A transaction isolation level.
public enum PostgresIsolationLevel: Sendable, Hashable {
    /// Each statement sees data committed before it began (the Postgres default).
    case readCommitted
    /// The whole transaction sees one snapshot; conflicting updates fail with SQLSTATE 40001.
    case repeatableRead
    /// Transactions behave as if run one at a time; conflicts fail with SQLSTATE 40001.
    case serializable

    var beginStatement: String {
        switch self {
        case .readCommitted: "BEGIN ISOLATION LEVEL READ COMMITTED"
        case .repeatableRead: "BEGIN ISOLATION LEVEL REPEATABLE READ"
        case .serializable: "BEGIN ISOLATION LEVEL SERIALIZABLE"
        }
    }
}

/// Encodes rows in COPY text format.
enum PostgresCopyEncoder {
    static func encode(_ rows: [[any PostgresBindable]], columnCount: Int, endpoint: String, statement: String) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(rows.count * columnCount * 16)
        for (rowIndex, row) in rows.enumerated() {
            guard row.count == columnCount else {
                throw PostgresError(
                    code: .invalidArgument, host: endpoint, statement: statement,
                    reason: "row \(rowIndex) has \(row.count) values for \(columnCount) columns")
            }
            for (column, value) in row.enumerated() {
                if column > 0 { out.append(UInt8(ascii: "\t")) }
                switch value.postgresBind.storage {
                case .null:
                    out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "N")])
                case .text(let bytes):
                    appendEscaped(bytes, to: &out)
                case .binary(let bytes):
                    appendEscaped(PostgresTextFormat.hexEncode(bytes), to: &out)
                }
            }
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    /// COPY text format: backslash starts an escape; tab, newline and carriage return are delimiters.
    private static func appendEscaped(_ bytes: [UInt8], to out: inout [UInt8]) {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            default: out.append(byte)
            }
        }
    }
}
