import Foundation
import Logging
import Postgres
import Runtime

/// The settings of an ``OutboxRelay``.
///
/// ## Settings (``init(settings:appID:)``)
/// - `LEDGERLINE_OUTBOX_BATCH_SIZE` (default 500): rows per relay pass.
/// - `LEDGERLINE_OUTBOX_POLL_SECONDS` (default 1): polling fallback to `NOTIFY ledgerline_outbox`.
/// - `LEDGERLINE_OUTBOX_RETENTION_HOURS` (default 168): published rows older than this are pruned.
public struct OutboxRelayConfiguration: Sendable {
    /// Rows locked, published and marked per pass.
    public var batchSize = 500
    /// How often the relay looks for rows when no notification arrives.
    public var pollInterval: Duration = .seconds(1)
    /// Published rows older than this are deleted by the prune (once a minute).
    public var retention: Duration = .seconds(168 * 3600)
    /// Restricts the relay to tenants whose id starts with this (tests share a database with other
    /// components' tests); nil, the default, relays every row.
    public var tenantPrefix: String?
    /// The AMQP `app_id` of published messages, e.g. `ledgerline-ingest`.
    public var appID = "ledgerline"
    /// The `/healthz` component name.
    public var healthComponent = "outbox-relay"
    /// Extra housekeeping run with each prune (e.g. ingest prunes its HTTP idempotency records). Errors are
    /// the closure's business: it should log them at debug level and return.
    public var housekeeping: (@Sendable (PostgresPool, Logger) async -> Void)?

    /// The defaults.
    public init() {}

    /// Reads the `LEDGERLINE_OUTBOX_*` settings.
    /// - Parameter appID: the AMQP `app_id` of the messages.
    /// - Throws: `ConfigurationError` naming the variable.
    public init(settings: Settings, appID: String) throws {
        self.appID = appID
        batchSize = try settings.int("LEDGERLINE_OUTBOX_BATCH_SIZE", default: batchSize, range: 1...5000)
        pollInterval = try settings.seconds("LEDGERLINE_OUTBOX_POLL_SECONDS", default: pollInterval, range: 0.05...300)
        retention = .seconds(3600 * (try settings.int("LEDGERLINE_OUTBOX_RETENTION_HOURS", default: 168, range: 1...24 * 3650)))
    }
}
