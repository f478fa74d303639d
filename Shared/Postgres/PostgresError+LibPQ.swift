internal import CLibPQ

// The one funnel from libpq status codes to PostgresError. No other file turns a libpq result,
// status or message into an error.

extension PostgresError {
    /// Checks a result returned by `PQexec*`, `PQprepare` or `PQgetResult`.
    ///
    /// - Returns: nil when `result` reports success (`PGRES_COMMAND_OK`, `TUPLES_OK`, `COPY_IN`,
    ///   `EMPTY_QUERY`, `PIPELINE_SYNC`), otherwise the error to throw. `PQclear` stays with the caller.
    static func from(
        result: OpaquePointer?, connection: OpaquePointer, endpoint: String, statement: String?,
        file: String = #fileID, line: Int = #line
    ) -> PostgresError? {
        guard let result else {
            // libpq returns NULL only when it could not even build a result (out of memory, lost connection).
            return connectionFailure(
                connection, endpoint: endpoint, statement: statement, reason: "libpq returned no result",
                file: file, line: line)
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_COPY_IN, PGRES_EMPTY_QUERY, PGRES_PIPELINE_SYNC,
            PGRES_SINGLE_TUPLE:
            return nil
        case PGRES_PIPELINE_ABORTED:
            return PostgresError(
                code: .queryFailed, host: endpoint, statement: statement,
                reason: "skipped: an earlier statement in the pipeline failed", file: file, line: line)
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            let sqlState = field(result, clibpq_diag_sqlstate())
            let broken = PQstatus(connection) == CONNECTION_BAD
            var error = PostgresError(
                code: broken ? .connectionClosed : .queryFailed,
                sqlState: sqlState,
                message: field(result, clibpq_diag_message_primary()) ?? trimmed(PQresultErrorMessage(result)),
                detail: field(result, clibpq_diag_message_detail()),
                constraintName: field(result, clibpq_diag_constraint_name()),
                host: endpoint, statement: statement, file: file, line: line)
            if broken { error.reason = sqlState == nil ? "connection lost" : "server closed the connection" }
            return error
        default:
            return PostgresError(
                code: .protocolViolation, host: endpoint, statement: statement,
                reason: "unexpected result status \(PQresultStatus(result).rawValue)", file: file, line: line)
        }
    }

    /// An error for a libpq call that returned a failure flag (0 or -1) instead of a result.
    static func connectionFailure(
        _ connection: OpaquePointer, endpoint: String, statement: String?, reason: String, file: String = #fileID,
        line: Int = #line
    ) -> PostgresError {
        let broken = PQstatus(connection) == CONNECTION_BAD
        return PostgresError(
            code: broken ? .connectionClosed : .protocolViolation, message: trimmed(PQerrorMessage(connection)),
            host: endpoint, statement: statement, reason: reason, file: file, line: line)
    }

    /// An error for a failed `PQconnectdbParams`. libpq's message names the host and the cause,
    /// never the password; it is scrubbed of the password anyway before it goes into `reason`.
    static func connectFailure(
        _ connection: OpaquePointer?, configuration: PostgresConfiguration, file: String = #fileID, line: Int = #line
    ) -> PostgresError {
        var message = connection.flatMap { trimmed(PQerrorMessage($0)) } ?? "libpq could not allocate a connection"
        if let password = configuration.password, !password.isEmpty {
            message = message.split(separator: password, omittingEmptySubsequences: false).joined(separator: "***")
        }
        let firstLine = message.split(whereSeparator: \.isNewline).first.map(String.init) ?? message
        return PostgresError(
            code: .connectionFailed, message: message, host: configuration.endpoint,
            reason: "\(firstLine) (user \(configuration.user), database \(configuration.database))",
            file: file, line: line)
    }

    private static func field(_ result: OpaquePointer, _ code: Int32) -> String? {
        guard let pointer = PQresultErrorField(result, code) else { return nil }
        return String(cString: pointer)
    }

    private static func trimmed(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
        guard let pointer else { return nil }
        let text = String(cString: pointer).trimmingTrailingNewlines()
        return text.isEmpty ? nil : text
    }
}

extension String {
    fileprivate func trimmingTrailingNewlines() -> String {
        var text = Substring(self)
        while let last = text.last, last.isNewline || last == " " { text = text.dropLast() }
        return String(text)
    }
}
