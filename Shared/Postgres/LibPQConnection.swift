internal import CLibPQ
import Foundation
import Logging

/// The libpq connection (`PGconn *`) and everything that touches it: statements, pipelines, COPY,
/// notifications.
///
/// Confinement invariant, which is what makes the `@unchecked Sendable` sound: an instance is
/// created, used and finished on exactly one thread, the `ConnectionThread` of its ``PostgresConnection``
/// (or the dedicated thread of a ``PostgresListener``). Nothing else calls into it, so its mutable
/// state (the handle, the statement cache) is never touched concurrently. Every method blocks.
final class LibPQConnection: @unchecked Sendable {
    private var connection: OpaquePointer?
    let endpoint: String
    private let cacheCapacity: Int
    /// Named prepared statements by SQL text and parameter types.
    private var statements: [StatementKey: String] = [:]
    private var statementCounter = 0
    /// Retained while the connection lives; libpq's notice receiver points at it.
    private let noticeSink: Unmanaged<NoticeSink>
    /// Sends cancel requests for this connection; usable from any thread.
    let canceller: LibPQCanceller?

    private struct StatementKey: Hashable {
        let sql: String
        let types: [UInt32]
    }

    private init(connection: OpaquePointer, configuration: PostgresConfiguration, logger: Logger) {
        self.connection = connection
        self.endpoint = configuration.endpoint
        self.cacheCapacity = max(0, configuration.statementCacheCapacity)
        self.noticeSink = Unmanaged.passRetained(NoticeSink(logger: logger))
        self.canceller = PQgetCancel(connection).map(LibPQCanceller.init)
        PQsetNoticeReceiver(connection, noticeReceiver, noticeSink.toOpaque())
    }

    deinit {
        finish()
        noticeSink.release()
    }

    // MARK: Lifecycle

    /// Opens a connection with `PQconnectdbParams` (key/value arrays, never a conninfo string).
    static func connect(configuration: PostgresConfiguration, logger: Logger) throws -> LibPQConnection {
        let parameters = configuration.connectionParameters
        let connection = withCStringArray(parameters.map(\.0)) { keywords in
            withCStringArray(parameters.map(\.1)) { values in
                PQconnectdbParams(keywords, values, 0)
            }
        }
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            let error = PostgresError.connectFailure(connection, configuration: configuration)
            if let connection { PQfinish(connection) }
            throw error
        }
        return LibPQConnection(connection: connection, configuration: configuration, logger: logger)
    }

    /// Closes the connection. Safe to call twice.
    func finish() {
        if let connection { PQfinish(connection) }
        connection = nil
        statements.removeAll()
    }

    /// The connection's state as the pool and the wrapper see it.
    var snapshot: ConnectionSnapshot {
        guard let connection else { return ConnectionSnapshot(isBroken: true, transaction: .unknown) }
        let transaction: ConnectionSnapshot.Transaction =
            switch PQtransactionStatus(connection) {
            case PQTRANS_IDLE: .idle
            case PQTRANS_INTRANS: .inTransaction
            case PQTRANS_INERROR: .failedTransaction
            default: .unknown
            }
        return ConnectionSnapshot(isBroken: PQstatus(connection) != CONNECTION_OK, transaction: transaction)
    }

    /// Reads whatever the server sent while the connection sat idle (a shutdown notice, the end of the
    /// stream) without blocking, and fails when the connection is gone, before anything is sent.
    private func ready(statement: String?) throws -> OpaquePointer {
        guard let connection else {
            var error = PostgresError(code: .connectionClosed, host: endpoint, statement: statement, reason: "connection is closed")
            error.requestNotSent = true
            throw error
        }
        if PQconsumeInput(connection) == 0 || PQstatus(connection) != CONNECTION_OK {
            var error = PostgresError.connectionFailure(
                connection, endpoint: endpoint, statement: statement, reason: "connection was lost while idle")
            error.code = .connectionClosed
            error.requestNotSent = true
            throw error
        }
        // Notifications only matter to listeners; drop any that a LISTEN on this connection queued.
        while let notification = PQnotifies(connection) { PQfreemem(notification) }
        return connection
    }

    // MARK: Statements

    /// Runs one statement with the extended protocol, as a cached named prepared statement when the
    /// cache has room, and returns its rows (when `wantRows`) and the affected-row count.
    func run(_ query: PostgresQuery, wantRows: Bool) throws -> (rows: PostgresResultStorage?, affected: Int) {
        let connection = try ready(statement: query.sql)
        var retried = false
        while true {
            let (result, name) = try send(query, on: connection)
            defer { PQclear(result) }
            if let error = PostgresError.from(result: result, connection: connection, endpoint: endpoint, statement: query.sql) {
                // A cached statement can go stale: dropped by DISCARD/DEALLOCATE (26000), or its
                // result columns changed under it (0A000). Outside a transaction, re-prepare once.
                if let name, !retried, PQtransactionStatus(connection) == PQTRANS_IDLE,
                    error.sqlState == "26000"
                        || (error.sqlState == "0A000" && (error.message ?? "").contains("cached plan"))
                {
                    forget(query, name: name, on: connection)
                    retried = true
                    continue
                }
                throw error
            }
            let rows = wantRows ? Self.storage(of: result!, statement: query.sql) : nil
            return (rows, Self.affectedRows(result!))
        }
    }

    /// Sends `query` and waits for its result; prepares it first when it is not cached yet.
    private func send(_ query: PostgresQuery, on connection: OpaquePointer) throws -> (OpaquePointer?, String?) {
        let name = try preparedName(for: query, on: connection)
        let result = withParameters(query.binds) { count, types, values, lengths, formats in
            if let name {
                PQexecPrepared(connection, name, count, values, lengths, formats, 0)
            } else {
                PQexecParams(connection, query.sql, count, types, values, lengths, formats, 0)
            }
        }
        return (result, name)
    }

    /// The cached statement name for `query`, preparing it on first use; nil when the cache is full.
    private func preparedName(for query: PostgresQuery, on connection: OpaquePointer) throws -> String? {
        let key = StatementKey(sql: query.sql, types: query.binds.map(\.type.rawValue))
        if let name = statements[key] { return name }
        guard statements.count < cacheCapacity else { return nil }
        statementCounter += 1
        let name = "ll_\(statementCounter)"
        let result = key.types.withUnsafeBufferPointer { types in
            PQprepare(connection, name, query.sql, Int32(types.count), types.baseAddress)
        }
        defer { PQclear(result) }
        if let error = PostgresError.from(result: result, connection: connection, endpoint: endpoint, statement: query.sql) {
            throw error
        }
        statements[key] = name
        return name
    }

    private func forget(_ query: PostgresQuery, name: String, on connection: OpaquePointer) {
        statements[StatementKey(sql: query.sql, types: query.binds.map(\.type.rawValue))] = nil
        PQclear(PQexec(connection, "DEALLOCATE \(name)"))  // may already be gone; the outcome does not matter
    }

    /// Runs SQL text with the simple protocol: several statements separated by semicolons are
    /// allowed, bind parameters are not. Used for migrations and setup scripts.
    func runScript(_ sql: String, label: String) throws {
        let connection = try ready(statement: label)
        let result = PQexec(connection, sql)
        defer { PQclear(result) }
        // Later results of a multi-statement string are dropped by PQexec; the last one tells.
        if let error = PostgresError.from(result: result, connection: connection, endpoint: endpoint, statement: label) {
            throw error
        }
    }

    // MARK: Pipeline

    /// Sends `queries` in libpq pipeline mode with a sync point every `syncEvery` statements and at
    /// most `windows` sync groups in flight, then returns each statement's affected-row count.
    ///
    /// Each sync group commits as one implicit transaction unless the caller opened one. After the
    /// first failure no further groups are sent; the groups already in flight are drained (and
    /// commit) and the first error is thrown.
    func pipeline(_ queries: [PostgresQuery], syncEvery: Int, windows: Int) throws -> [Int] {
        let connection = try ready(statement: queries.first?.sql)
        // Prepare each distinct statement before entering pipeline mode (one round trip each, once).
        var names: [String?] = []
        names.reserveCapacity(queries.count)
        var seen: [StatementKey: String?] = [:]
        for query in queries {
            let key = StatementKey(sql: query.sql, types: query.binds.map(\.type.rawValue))
            if let known = seen[key] {
                names.append(known)
            } else {
                let name = try preparedName(for: query, on: connection)
                seen[key] = .some(name)
                names.append(name)
            }
        }
        guard PQenterPipelineMode(connection) == 1 else {
            throw PostgresError.connectionFailure(
                connection, endpoint: endpoint, statement: nil, reason: "could not enter pipeline mode")
        }
        var counts = [Int](repeating: 0, count: queries.count)
        var inFlight: [Range<Int>] = []
        var firstError: PostgresError?

        func fail(_ reason: String, _ statement: String?) -> PostgresError {
            PostgresError.connectionFailure(connection, endpoint: endpoint, statement: statement, reason: reason)
        }

        func drainOldest() throws {
            let group = inFlight.removeFirst()
            for index in group {
                guard let result = PQgetResult(connection) else {
                    throw fail("pipeline ended before statement \(index) returned", queries[index].sql)
                }
                if let error = PostgresError.from(
                    result: result, connection: connection, endpoint: endpoint, statement: queries[index].sql)
                {
                    if PQresultStatus(result) != PGRES_PIPELINE_ABORTED, firstError == nil {
                        var error = error
                        error.reason = "statement \(index) (from 0) of \(queries.count) failed; its sync group was rolled back"
                        firstError = error
                    }
                } else {
                    counts[index] = Self.affectedRows(result)
                }
                PQclear(result)
                // Each statement's results end with NULL.
                while let extra = PQgetResult(connection) {
                    let status = PQresultStatus(extra)
                    PQclear(extra)
                    if status == PGRES_PIPELINE_SYNC { throw fail("pipeline out of step", queries[index].sql) }
                }
                if PQstatus(connection) != CONNECTION_OK { throw fail("connection lost during pipeline", queries[index].sql) }
            }
            guard let sync = PQgetResult(connection) else { throw fail("pipeline sync missing", nil) }
            let status = PQresultStatus(sync)
            PQclear(sync)
            guard status == PGRES_PIPELINE_SYNC else { throw fail("pipeline sync missing", nil) }
        }

        do {
            var next = 0
            while next < queries.count && firstError == nil {
                let end = min(next + max(1, syncEvery), queries.count)
                for index in next..<end {
                    let query = queries[index]
                    let sent = withParameters(query.binds) { count, types, values, lengths, formats in
                        if let name = names[index] {
                            PQsendQueryPrepared(connection, name, count, values, lengths, formats, 0)
                        } else {
                            PQsendQueryParams(connection, query.sql, count, types, values, lengths, formats, 0)
                        }
                    }
                    guard sent == 1 else { throw fail("could not send pipeline statement", query.sql) }
                }
                guard PQpipelineSync(connection) == 1 else { throw fail("could not send pipeline sync", nil) }
                inFlight.append(next..<end)
                next = end
                if inFlight.count >= max(1, windows) { try drainOldest() }
            }
            while !inFlight.isEmpty { try drainOldest() }
        } catch {
            // The connection is in an unknown protocol state: close it so the pool discards it.
            finish()
            throw error
        }
        guard PQexitPipelineMode(connection) == 1 else {
            let error = fail("could not leave pipeline mode", nil)
            finish()
            throw error
        }
        if let firstError { throw firstError }
        return counts
    }

    // MARK: COPY

    /// Runs `COPY … FROM STDIN` with `data` (COPY text format) and returns the number of rows copied.
    func copyIn(_ sql: String, data: [UInt8]) throws -> Int {
        let connection = try ready(statement: sql)
        let start = PQexec(connection, sql)
        let startStatus = start.map { PQresultStatus($0) }
        if let error = PostgresError.from(result: start, connection: connection, endpoint: endpoint, statement: sql) {
            PQclear(start)
            throw error
        }
        PQclear(start)
        guard startStatus == PGRES_COPY_IN else {
            throw PostgresError(code: .protocolViolation, host: endpoint, statement: sql, reason: "COPY did not start")
        }
        var offset = 0
        let chunk = 256 * 1024
        var sendFailed = false
        data.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                while offset < chars.count {
                    let length = min(chunk, chars.count - offset)
                    if PQputCopyData(connection, chars.baseAddress! + offset, Int32(length)) != 1 {
                        sendFailed = true
                        return
                    }
                    offset += length
                }
            }
        }
        if sendFailed {
            _ = PQputCopyEnd(connection, "client failed to send data")
        } else if PQputCopyEnd(connection, nil) != 1 {
            sendFailed = true
        }
        var firstError: PostgresError?
        var copied = 0
        while let result = PQgetResult(connection) {
            if let error = PostgresError.from(result: result, connection: connection, endpoint: endpoint, statement: sql) {
                firstError = firstError ?? error
            } else if PQresultStatus(result) == PGRES_COMMAND_OK {
                copied = Self.affectedRows(result)
            }
            PQclear(result)
        }
        if let firstError { throw firstError }
        if sendFailed {
            throw PostgresError.connectionFailure(connection, endpoint: endpoint, statement: sql, reason: "COPY data not sent")
        }
        return copied
    }

    // MARK: Notifications (used by PostgresListener on its own thread)

    /// The socket descriptor to poll, or -1.
    var socket: Int32 { connection.map { PQsocket($0) } ?? -1 }

    /// Reads available input and returns the queued notifications; throws when the connection broke.
    func takeNotifications() throws -> [PostgresNotification] {
        guard let connection else {
            throw PostgresError(code: .connectionClosed, host: endpoint, reason: "connection is closed")
        }
        if PQconsumeInput(connection) == 0 || PQstatus(connection) != CONNECTION_OK {
            var error = PostgresError.connectionFailure(connection, endpoint: endpoint, statement: nil, reason: "listener connection lost")
            error.code = .connectionClosed
            throw error
        }
        var notifications: [PostgresNotification] = []
        while let notification = PQnotifies(connection) {
            notifications.append(
                PostgresNotification(
                    channel: String(cString: notification.pointee.relname),
                    payload: String(cString: notification.pointee.extra),
                    processID: notification.pointee.be_pid))
            PQfreemem(notification)
        }
        return notifications
    }

    // MARK: Helpers

    /// Copies a result's values into Swift memory.
    private static func storage(of result: OpaquePointer, statement: String) -> PostgresResultStorage {
        let columns = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        var names: [String] = []
        var types: [PostgresDataType] = []
        for column in 0..<columns {
            names.append(String(cString: PQfname(result, Int32(column))))
            types.append(PostgresDataType(rawValue: PQftype(result, Int32(column))))
        }
        var offsets = [Int](repeating: -1, count: columns * rowCount)
        var lengths = [Int](repeating: 0, count: columns * rowCount)
        var total = 0
        for row in 0..<rowCount {
            for column in 0..<columns where PQgetisnull(result, Int32(row), Int32(column)) == 0 {
                let length = Int(PQgetlength(result, Int32(row), Int32(column)))
                offsets[row * columns + column] = total
                lengths[row * columns + column] = length
                total += length
            }
        }
        let bytes = [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            for row in 0..<rowCount {
                for column in 0..<columns where offsets[row * columns + column] >= 0 {
                    let cell = row * columns + column
                    if lengths[cell] > 0 {
                        let source = UnsafeRawPointer(PQgetvalue(result, Int32(row), Int32(column))!)
                        (buffer.baseAddress! + offsets[cell]).initialize(
                            from: source.assumingMemoryBound(to: UInt8.self), count: lengths[cell])
                    }
                }
            }
            initialized = total
        }
        return PostgresResultStorage(
            statement: statement, columnNames: names, columnTypes: types, rowCount: rowCount, bytes: bytes,
            offsets: offsets, lengths: lengths)
    }

    private static func affectedRows(_ result: OpaquePointer) -> Int {
        guard let text = PQcmdTuples(result) else { return 0 }
        return Int(String(cString: text)) ?? 0
    }

    /// Lays the parameters out for libpq: one buffer holding every value (text values NUL-terminated),
    /// plus the pointer, length, format and type arrays.
    private func withParameters<R>(
        _ binds: [PostgresBind],
        _ body: (
            Int32, UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?,
            UnsafePointer<Int32>?
        ) -> R
    ) -> R {
        if binds.isEmpty { return body(0, nil, nil, nil, nil) }
        var size = 0
        for bind in binds {
            switch bind.storage {
            case .null: break
            case .text(let bytes): size += bytes.count + 1
            case .binary(let bytes): size += bytes.count
            }
        }
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, size))
        defer { buffer.deallocate() }
        var values = [UnsafePointer<CChar>?](repeating: nil, count: binds.count)
        var lengths = [Int32](repeating: 0, count: binds.count)
        var formats = [Int32](repeating: 0, count: binds.count)
        var types = [Oid](repeating: 0, count: binds.count)
        var offset = 0
        for (index, bind) in binds.enumerated() {
            types[index] = bind.type.rawValue
            switch bind.storage {
            case .null:
                break
            case .text(let bytes), .binary(let bytes):
                bytes.withUnsafeBufferPointer { source in
                    source.withMemoryRebound(to: CChar.self) { chars in
                        if let base = chars.baseAddress { (buffer + offset).update(from: base, count: chars.count) }
                    }
                }
                values[index] = UnsafePointer(buffer + offset)
                lengths[index] = Int32(bytes.count)
                offset += bytes.count
                if case .text = bind.storage {
                    buffer[offset] = 0
                    offset += 1
                } else {
                    formats[index] = 1
                }
            }
        }
        return types.withUnsafeBufferPointer { types in
            values.withUnsafeBufferPointer { values in
                lengths.withUnsafeBufferPointer { lengths in
                    formats.withUnsafeBufferPointer { formats in
                        body(Int32(binds.count), types.baseAddress, values.baseAddress, lengths.baseAddress, formats.baseAddress)
                    }
                }
            }
        }
    }
}

/// A libpq cancel handle (`PGcancel *`).
///
/// Why `@unchecked Sendable` is sound: the handle is immutable after `PQgetCancel` (it holds a copy of
/// the server address and the backend's cancel key, not the connection), libpq documents `PQcancel`
/// as safe to call from any thread, and it is freed only in `deinit`, when no thread can use it.
final class LibPQCanceller: @unchecked Sendable {
    private let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit { PQfreeCancel(pointer) }

    /// Asks the server to cancel the statement running on the connection. Blocks while it opens a
    /// short-lived connection to the server, so call it off Swift's cooperative threads.
    func cancel() {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(pointer, &buffer, Int32(buffer.count))
    }
}

/// The state of a connection as seen after its last operation.
struct ConnectionSnapshot: Sendable {
    enum Transaction: Sendable { case idle, inTransaction, failedTransaction, unknown }
    var isBroken: Bool
    var transaction: Transaction
}

/// Calls `body` with a NULL-terminated array of C strings that lives for the call.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Where libpq's notice receiver sends NOTICE/WARNING messages: the connection's logger at debug,
/// with severity and SQLSTATE only (the message text may quote data).
final class NoticeSink: Sendable {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }
}

private let noticeReceiver: PQnoticeReceiver = { context, result in
    guard let context, let result else { return }
    let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
    let severity = PQresultErrorField(result, clibpq_diag_severity()).map { String(cString: $0) } ?? "?"
    let sqlState = PQresultErrorField(result, clibpq_diag_sqlstate()).map { String(cString: $0) } ?? "?"
    sink.logger.debug("Postgres notice", metadata: ["db.severity": "\(severity)", "db.sql_state": "\(sqlState)"])
}
