import Foundation
import Postgres

extension IntakeStore {
    /// What happened to an HTTP request at the database.
    enum HTTPRequestOutcome: Sendable {
        /// The same signed request was received before (replay): nothing was processed.
        case replayed
        /// The `Idempotency-Key` was used before with a different body.
        case keyReused
        /// The key was used before with the same body: the stored answer.
        case earlierAnswer(status: Int, body: [UInt8])
        /// Processed now; the answer was stored under the key.
        case processed(status: Int, body: [UInt8], results: [IntakeResult])
    }

    /// Processes an authenticated HTTP request in one transaction: processes the items, records the signature
    /// (replay protection) and stores the answer under `(tenant, Idempotency-Key)`. A request whose signature or
    /// key is stored already is rolled back and answered from what is stored; concurrent requests with the same
    /// event wait on the event's idempotency key, so the first commits and the others then find its answer.
    ///
    /// - Parameter answer: builds the status and body from the results (pure; it may run more than once when
    ///   the transaction is retried).
    func processHTTP(
        tenant: String, signature: SignatureVerifier.Verified, idempotencyKey: String, requestSHA256: [UInt8],
        items: [IntakeItem], answer: @escaping @Sendable ([IntakeResult]) -> (status: Int, body: [UInt8])
    ) async throws -> HTTPRequestOutcome {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await pool.withConnection(logger: logger) { connection in
                    try await httpTransaction(
                        on: connection, tenant: tenant, signature: signature, idempotencyKey: idempotencyKey,
                        requestSHA256: requestSHA256, items: items, answer: answer)
                }
            } catch let error as PostgresError where (error.isDeadlock || error.isSerializationFailure) && attempt < 5 {
                try await Task.sleep(for: .milliseconds(Int.random(in: 5...(20 * attempt))))
            }
        }
    }

    /// The transaction, in three round trips for one event: `BEGIN` with the tenant and the invoice locks;
    /// the event's claim and state; its write, the signature record, the answer and `COMMIT`. The signature and
    /// the answer are plain inserts: a request whose signature or `Idempotency-Key` is already stored fails on
    /// the primary key, which rolls back everything it did, and is then answered from what is stored.
    private func httpTransaction(
        on connection: PostgresConnection, tenant: String, signature: SignatureVerifier.Verified,
        idempotencyKey: String, requestSHA256: [UInt8], items: [IntakeItem],
        answer: @Sendable ([IntakeResult]) -> (status: Int, body: [UInt8])
    ) async throws -> HTTPRequestOutcome {
        do {
            let lock = EventProcessor.lockStatement(for: items)
            _ = try await connection.pipeline([
                "BEGIN ISOLATION LEVEL READ COMMITTED",
                lock ?? PostgresQuery(unsafeSQL: SQL.setTenant, binds: [tenant]),
            ], logger: logger)
            let (results, deferred) = try await processor.process(
                items, on: connection, locked: lock != nil, deferLastWrite: true, logger: logger)
            let (status, body) = answer(results)
            // Every item belongs to the authenticated tenant, so the setting still names it.
            _ = try await connection.pipeline(deferred + [
                PostgresQuery(unsafeSQL: HTTPSQL.recordSignature, binds: [tenant, signature.signature, signature.signedAt]),
                PostgresQuery(unsafeSQL: HTTPSQL.saveAnswer, binds: [tenant, idempotencyKey, requestSHA256, status, body]),
                "COMMIT",
            ], logger: logger)
            return .processed(status: status, body: body, results: results)
        } catch let error as PostgresError where error.isUniqueViolation
            && [HTTPSQL.replayConstraint, HTTPSQL.answerConstraint].contains(error.constraintName ?? "")
        {
            if connection.isUsable { _ = try? await connection.execute("ROLLBACK", logger: logger) }
            if error.constraintName == HTTPSQL.replayConstraint { return .replayed }
            return try await earlierAnswer(
                on: connection, tenant: tenant, idempotencyKey: idempotencyKey, requestSHA256: requestSHA256)
        } catch {
            if connection.isUsable { _ = try? await connection.execute("ROLLBACK", logger: logger) }
            throw error
        }
    }

    /// Reads the stored answer on the same connection (a second lease could wait for ever on a full pool).
    private func earlierAnswer(
        on connection: PostgresConnection, tenant: String, idempotencyKey: String, requestSHA256: [UInt8]
    ) async throws -> HTTPRequestOutcome {
        let stored = try await connection.withTransaction(logger: logger) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: SQL.setTenant, binds: [tenant]), logger: logger)
            return try await connection.query(
                PostgresQuery(unsafeSQL: HTTPSQL.storedAnswer, binds: [tenant, idempotencyKey]), logger: logger)
        }
        guard let row = stored.first else {
            throw PostgresError(code: .protocolViolation, reason: "idempotency key conflict without a stored answer")
        }
        guard try row.decode([UInt8].self, "request_sha256") == requestSHA256 else { return .keyReused }
        return .earlierAnswer(
            status: try row.decode(Int.self, "status_code"), body: try row.decode([UInt8].self, "response_body"))
    }
}

/// The statements of the HTTP intake's transaction.
enum HTTPSQL {
    static let replayConstraint = "http_signature_replays_pkey"
    static let answerConstraint = "http_idempotency_keys_pkey"

    /// $1 tenant, $2 signature, $3 signed at. Fails on the primary key for a replay.
    static let recordSignature = """
        INSERT INTO http_signature_replays (tenant_id, signature, signed_at) VALUES ($1, $2, $3)
        """

    /// $1 tenant, $2 idempotency key, $3 request sha256, $4 status, $5 body. Fails on the primary key when the
    /// key was used before.
    static let saveAnswer = """
        INSERT INTO http_idempotency_keys (tenant_id, idempotency_key, request_sha256, status_code, response_body)
        VALUES ($1, $2, $3, $4, $5)
        """

    /// $1 tenant, $2 idempotency key.
    static let storedAnswer = """
        SELECT request_sha256, status_code, response_body FROM http_idempotency_keys
        WHERE tenant_id = $1 AND idempotency_key = $2
        """
}
