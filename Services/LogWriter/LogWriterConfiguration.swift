import Foundation
import Runtime

/// The log writer's own settings.
///
/// ## Configuration keys
/// - `LEDGERLINE_LOG_WRITER_QUEUE` (default `log-writer.audit`): the queue bound to `ledgerline.audit`.
/// - `LEDGERLINE_LOG_WRITER_BATCH_SIZE` (default 500, 1–5000): the most events per transaction.
/// - `LEDGERLINE_LOG_WRITER_BATCH_WAIT_SECONDS` (default 0.05, 0–10): how long a batch waits to fill
///   after its first event arrived.
/// - `LEDGERLINE_LOG_WRITER_PREFETCH` (default twice the batch size, at least the batch size, at most
///   65535): unacknowledged deliveries the broker may send ahead. This bounds what the writer holds
///   when the database is slow or down: the rest waits in the queue.
/// - `LEDGERLINE_LOG_WRITER_RETRY_MAX_SECONDS` (default 10, 0.1–300): the longest wait between
///   attempts to write a held batch.
/// - `LEDGERLINE_LOG_WRITER_STATEMENT_TIMEOUT_SECONDS` (default 15, 1–600): `statement_timeout` of
///   the writer's connections, so a stuck statement turns into a retry (and shutdown never hangs).
struct LogWriterConfiguration: Sendable {
    var queue = "log-writer.audit"
    var batchSize = 500
    var batchWait: Duration = .milliseconds(50)
    var prefetch: UInt16 = 1000
    var retryInitial: Duration = .milliseconds(100)
    var retryMax: Duration = .seconds(10)
    var statementTimeout: Duration = .seconds(15)
    /// How long closing the consumer waits for settlements to go out.
    var drainTimeout: Duration = .seconds(5)

    init() {}

    init(settings: Settings) throws {
        queue = settings.string("LEDGERLINE_LOG_WRITER_QUEUE", default: queue)
        batchSize = try settings.int("LEDGERLINE_LOG_WRITER_BATCH_SIZE", default: batchSize, range: 1...5000)
        batchWait = try settings.seconds("LEDGERLINE_LOG_WRITER_BATCH_WAIT_SECONDS", default: batchWait, range: 0...10)
        let prefetchValue = try settings.int(
            "LEDGERLINE_LOG_WRITER_PREFETCH", default: min(65535, 2 * batchSize), range: 1...65535)
        guard prefetchValue >= batchSize else {
            throw ConfigurationError(
                key: "LEDGERLINE_LOG_WRITER_PREFETCH",
                problem: "must be at least LEDGERLINE_LOG_WRITER_BATCH_SIZE (\(batchSize)), got \(prefetchValue)")
        }
        prefetch = UInt16(prefetchValue)
        retryMax = try settings.seconds("LEDGERLINE_LOG_WRITER_RETRY_MAX_SECONDS", default: retryMax, range: 0.1...300)
        statementTimeout = try settings.seconds(
            "LEDGERLINE_LOG_WRITER_STATEMENT_TIMEOUT_SECONDS", default: statementTimeout, range: 1...600)
    }
}
