import Foundation
import Runtime

/// Every setting of the ingest service, read from the environment (documented in `docs/ingest.md`).
///
/// ## Settings
/// - `LEDGERLINE_INGEST_AMQP_ENABLED` (default `true`): consume the shop-events queue.
/// - `LEDGERLINE_INGEST_HTTP_ENABLED` (default `true`): serve `POST /v1/events`.
/// - `LEDGERLINE_INGEST_RELAY_ENABLED` (default `true`): run the outbox relay in this process.
/// - `LEDGERLINE_INGEST_HTTP_HOST` (default `127.0.0.1`), `LEDGERLINE_INGEST_HTTP_PORT` (default 8080; 0 picks one).
/// - `LEDGERLINE_SECRETS_KEY` (secret; required when HTTP intake is on or for `ingest admin` secret commands),
///   `LEDGERLINE_SECRETS_PREVIOUS_KEYS` (optional, comma-separated, for key rotation).
/// - `LEDGERLINE_INGEST_QUEUE` (default `ingest.shop-events`), `LEDGERLINE_INGEST_PREFETCH` (default 200),
///   `LEDGERLINE_INGEST_BATCH_SIZE` (default 50: deliveries committed together), `LEDGERLINE_INGEST_CONCURRENCY`
///   (default 2: batches in flight at once).
/// - `LEDGERLINE_INGEST_DEAD_LETTER_EXCHANGE` (default `ledgerline.dead-letter`; routing key = the queue name).
/// - `LEDGERLINE_INGEST_JOBS_EXCHANGE` (default `ledgerline.jobs`), `LEDGERLINE_INGEST_AUDIT_EXCHANGE`
///   (default `ledgerline.audit`).
/// - `LEDGERLINE_INGEST_SIGNATURE_TOLERANCE_SECONDS` (default 300).
/// - `LEDGERLINE_INGEST_IDEMPOTENCY_RETENTION_HOURS` (default 168): how long HTTP answers are kept.
/// - `LEDGERLINE_OUTBOX_BATCH_SIZE` (default 500), `LEDGERLINE_OUTBOX_POLL_SECONDS` (default 1),
///   `LEDGERLINE_OUTBOX_RETENTION_HOURS` (default 168): published rows older than this are pruned.
struct IngestConfiguration: Sendable {
    var amqpEnabled = true
    var httpEnabled = true
    var relayEnabled = true
    var httpHost = "127.0.0.1"
    var httpPort = 8080
    var queue = "ingest.shop-events"
    var prefetch: UInt16 = 200
    var batchSize = 50
    var concurrency = 2
    var deadLetterExchange = "ledgerline.dead-letter"
    var jobsExchange = "ledgerline.jobs"
    var auditExchange = "ledgerline.audit"
    var signatureTolerance: Duration = .seconds(300)
    var idempotencyRetention: Duration = .seconds(168 * 3600)
    var outboxBatchSize = 500
    var outboxPollInterval: Duration = .seconds(1)
    var outboxRetention: Duration = .seconds(168 * 3600)
    /// Restricts the relay to tenants whose id starts with this (tests share a database with other
    /// components' tests); nil, the default, relays every row.
    var outboxTenantPrefix: String?
    /// Needed for HTTP intake (opening signing secrets); nil when HTTP intake is off and no key was given.
    var keyring: SecretKeyring?

    init() {}

    /// Reads the settings.
    /// - Throws: `ConfigurationError` naming the variable (the value of a secret is never shown).
    init(settings: Settings) throws {
        amqpEnabled = try settings.choice("LEDGERLINE_INGEST_AMQP_ENABLED", default: Switch.true).isOn
        httpEnabled = try settings.choice("LEDGERLINE_INGEST_HTTP_ENABLED", default: Switch.true).isOn
        relayEnabled = try settings.choice("LEDGERLINE_INGEST_RELAY_ENABLED", default: Switch.true).isOn
        httpHost = settings.string("LEDGERLINE_INGEST_HTTP_HOST", default: httpHost)
        httpPort = try settings.int("LEDGERLINE_INGEST_HTTP_PORT", default: httpPort, range: 0...65535)
        queue = settings.string("LEDGERLINE_INGEST_QUEUE", default: queue)
        prefetch = UInt16(try settings.int("LEDGERLINE_INGEST_PREFETCH", default: Int(prefetch), range: 1...5000))
        batchSize = try settings.int("LEDGERLINE_INGEST_BATCH_SIZE", default: batchSize, range: 1...1000)
        concurrency = try settings.int("LEDGERLINE_INGEST_CONCURRENCY", default: concurrency, range: 1...16)
        deadLetterExchange = settings.string("LEDGERLINE_INGEST_DEAD_LETTER_EXCHANGE", default: deadLetterExchange)
        jobsExchange = settings.string("LEDGERLINE_INGEST_JOBS_EXCHANGE", default: jobsExchange)
        auditExchange = settings.string("LEDGERLINE_INGEST_AUDIT_EXCHANGE", default: auditExchange)
        signatureTolerance = try settings.seconds(
            "LEDGERLINE_INGEST_SIGNATURE_TOLERANCE_SECONDS", default: signatureTolerance, range: 1...3600)
        idempotencyRetention = .seconds(
            3600 * (try settings.int("LEDGERLINE_INGEST_IDEMPOTENCY_RETENTION_HOURS", default: 168, range: 1...24 * 365)))
        outboxBatchSize = try settings.int("LEDGERLINE_OUTBOX_BATCH_SIZE", default: outboxBatchSize, range: 1...5000)
        outboxPollInterval = try settings.seconds("LEDGERLINE_OUTBOX_POLL_SECONDS", default: outboxPollInterval, range: 0.05...300)
        outboxRetention = .seconds(
            3600 * (try settings.int("LEDGERLINE_OUTBOX_RETENTION_HOURS", default: 168, range: 1...24 * 3650)))
        if httpEnabled || settings.raw("LEDGERLINE_SECRETS_KEY") != nil {
            keyring = try Self.keyring(settings)
        }
    }

    /// Reads the secrets keyring, converting problems into `ConfigurationError`.
    static func keyring(_ settings: Settings) throws -> SecretKeyring {
        do {
            return try SecretKeyring.fromEnvironment { settings.raw($0) }
        } catch let error as SecretBoxError {
            throw ConfigurationError(key: error.key ?? "LEDGERLINE_SECRETS_KEY", problem: error.problem)
        }
    }

    /// `true`/`false` settings.
    enum Switch: String, CaseIterable {
        case `true`, `false`, on, off, yes, no, one = "1", zero = "0"
        var isOn: Bool { [.true, .on, .yes, .one].contains(self) }
    }
}
