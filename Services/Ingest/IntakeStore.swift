import Domain
import Foundation
import Logging
import Postgres
import Runtime

/// Runs ``EventProcessor`` in Postgres transactions: one transaction per batch, falling back to one per
/// item when a batch fails for a reason other than the database being unavailable.
///
/// A commit is durable (`synchronous_commit` stays on) before any caller acks a delivery or answers a request.
struct IntakeStore: Sendable {
    let pool: PostgresPool
    let processor: EventProcessor
    let logger: Logger

    init(pool: PostgresPool, configuration: IngestConfiguration, logger: Logger) {
        self.pool = pool
        self.processor = EventProcessor(composer: OutboxComposer(
            jobsExchange: configuration.jobsExchange, auditExchange: configuration.auditExchange))
        self.logger = logger
    }

    init(pool: PostgresPool, processor: EventProcessor, logger: Logger) {
        self.pool = pool
        self.processor = processor
        self.logger = logger
    }

    /// Processes items and commits; returns one result per item, in order.
    ///
    /// - Throws: the database error when Postgres is unavailable (see ``isUnavailable(_:)``) — nothing was
    ///   committed then, or, for a connection lost during `COMMIT`, the outcome is unknown (a retry is safe:
    ///   idempotency keys and rejection references make it a duplicate).
    func process(_ items: [IntakeItem]) async throws -> [IntakeResult] {
        guard !items.isEmpty else { return [] }
        do {
            return try await transaction(items)
        } catch where items.count > 1 && !Self.isUnavailable(error) {
            logger.debug("Batch failed; processing its items one by one", metadata: [
                "ingest.batch_size": "\(items.count)", "error": "\(error)",
            ])
            var results: [IntakeResult] = []
            for item in items { results.append(try await transaction([item])[0]) }
            return results
        }
    }

    /// One transaction, retried (up to 5 times) after a deadlock or serialization failure. `BEGIN` goes out
    /// with the lock statement, and `COMMIT` with the last write, in pipeline mode: an event costs two round
    /// trips of its own (claim and read state; write), a batch two more.
    private func transaction(_ items: [IntakeItem]) async throws -> [IntakeResult] {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await pool.withConnection(logger: logger) { connection in
                    var statements: [PostgresQuery] = ["BEGIN ISOLATION LEVEL READ COMMITTED"]
                    let lock = EventProcessor.lockStatement(for: items)
                    if let lock { statements.append(lock) }
                    do {
                        _ = try await connection.pipeline(statements, logger: logger)
                        let (results, deferred) = try await processor.process(
                            items, on: connection, locked: lock != nil, deferLastWrite: true, logger: logger)
                        _ = try await connection.pipeline(deferred + ["COMMIT"], logger: logger)
                        return results
                    } catch {
                        if connection.isUsable { _ = try? await connection.execute("ROLLBACK", logger: logger) }
                        throw error
                    }
                }
            } catch let error as PostgresError where (error.isDeadlock || error.isSerializationFailure) && attempt < 5 {
                logger.debug("Intake transaction retried", metadata: ["db.sql_state": "\(error.sqlState ?? "-")"])
                try await Task.sleep(for: .milliseconds(Int.random(in: 5...(20 * attempt))))
            }
        }
    }

    /// True when an error means "Postgres cannot be reached right now" (connection failures, server
    /// shutting down, no connection within the pool's acquire timeout), as opposed to a statement failing.
    static func isUnavailable(_ error: any Error) -> Bool {
        if let error = error as? PostgresError {
            return error.isConnectionError || error.code == .timeout || error.code == .poolClosed
                || ["57P01", "57P02", "57P03", "53300"].contains(error.sqlState ?? "")
        }
        return false
    }
}
