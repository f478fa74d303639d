import AMQP
import Foundation
import Logging
import Outbox
import Postgres
import Runtime
import ServiceLifecycle

/// Ingest's outbox relay: the shared ``Outbox/OutboxRelay`` (module `Outbox`, also run by the scheduler)
/// configured from ``IngestConfiguration``, plus ingest's own housekeeping: every minute, besides published
/// outbox rows, it prunes HTTP idempotency answers and signature replay records past their retention.
final class OutboxRelay: Service, Sendable {
    private let relay: Outbox.OutboxRelay

    init(pool: PostgresPool, postgres: PostgresConfiguration, amqp: AMQPConfiguration, configuration: IngestConfiguration,
         health: HealthRegistry?, logger: Logger) {
        relay = Outbox.OutboxRelay(
            pool: pool, postgres: postgres, amqp: amqp, configuration: Self.relayConfiguration(configuration),
            health: health, logger: logger)
    }

    /// The shared relay's settings from ingest's (the `LEDGERLINE_OUTBOX_*` variables are read there).
    static func relayConfiguration(_ configuration: IngestConfiguration) -> OutboxRelayConfiguration {
        var relay = OutboxRelayConfiguration()
        relay.batchSize = configuration.outboxBatchSize
        relay.pollInterval = configuration.outboxPollInterval
        relay.retention = configuration.outboxRetention
        relay.tenantPrefix = configuration.outboxTenantPrefix
        relay.appID = "ledgerline-ingest"
        let tolerance = Int64(configuration.signatureTolerance.components.seconds) + 300
        let answers = configuration.idempotencyRetention.components.seconds
        relay.housekeeping = { pool, logger in
            do {
                try await pool.execute(
                    """
                    DELETE FROM http_signature_replays WHERE (tenant_id, signature) IN (
                        SELECT tenant_id, signature FROM http_signature_replays
                        WHERE signed_at < now() - make_interval(secs => \(tolerance)) LIMIT 10000)
                    """, logger: logger)
                try await pool.execute(
                    """
                    DELETE FROM http_idempotency_keys WHERE (tenant_id, idempotency_key) IN (
                        SELECT tenant_id, idempotency_key FROM http_idempotency_keys
                        WHERE created_at < now() - make_interval(secs => \(answers)) LIMIT 10000)
                    """, logger: logger)
            } catch {
                logger.debug("HTTP record prune skipped", metadata: ["error": "\(error)"])
            }
        }
        return relay
    }

    func run() async throws {
        try await relay.run()
    }

    /// One pass: claim due rows, publish with confirms, mark. Exposed for tests.
    @discardableResult
    func relayOnce(publisher: AMQPPublisher) async throws -> Outbox.OutboxRelay.PassResult {
        try await relay.relayOnce(publisher: publisher)
    }

    /// Deletes published outbox rows, HTTP answers and replay records past their retention.
    func prune() async {
        await relay.prune()
    }
}
