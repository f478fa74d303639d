public import AMQP
import BlockingIO
import Foundation
public import Logging
public import Postgres
public import Runtime
public import ServiceLifecycle
import Synchronization

/// Publishes outbox rows to RabbitMQ and marks them sent.
///
/// Each pass, in one transaction: lock up to ``OutboxRelayConfiguration/batchSize`` due rows with
/// `FOR UPDATE SKIP LOCKED` (several relays — ingest and scheduler replicas — share the work without publishing a row twice at the
/// same time), publish them as persistent `mandatory` messages and wait for the broker's confirms (batched),
/// then set `published_at` on the confirmed rows and commit. A row the broker refused (nack, unroutable,
/// missing exchange) gets `attempts`, `last_error` and a later `next_attempt_at` (exponential, capped at 5
/// minutes); while the broker is unreachable rows simply wait. A crash between confirm and commit publishes
/// the row again; the AMQP message id is the outbox id so consumers can drop the repeat.
///
/// The relay wakes on `NOTIFY ledgerline_outbox` (sent by a trigger on insert) and polls every
/// ``OutboxRelayConfiguration/pollInterval`` in case a notification was missed. Every minute it prunes
/// published rows past their retention and runs the configuration's extra housekeeping.
public final class OutboxRelay: Service, Sendable {
    private let pool: PostgresPool
    private let postgres: PostgresConfiguration
    private let amqp: AMQPConfiguration
    private let configuration: OutboxRelayConfiguration
    private let health: HealthRegistry?
    private let logger: Logger
    private let wake = WakeSignal()
    private let backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
    /// Exchanges the broker said do not exist, until when rows for them are refused without publishing: a
    /// publish to a missing exchange closes the channel and fails every later message of its batch, so without
    /// this one misaddressed row would hold back every good row queued behind it.
    private let missingExchanges = Mutex<[String: ContinuousClock.Instant]>([:])
    /// The `NOTIFY` channel of the outbox's insert trigger.
    public static let channel = "ledgerline_outbox"

    /// - Parameters:
    ///   - pool: where the outbox is (the relay holds one pooled connection per pass).
    ///   - postgres: the settings for the relay's own `LISTEN` connection.
    ///   - amqp: the broker the rows are published to.
    ///   - configuration: batch size, polling, retention, tenant filter.
    ///   - health: where the relay reports its status (component ``OutboxRelayConfiguration/healthComponent``).
    ///   - logger: the service logger.
    public init(pool: PostgresPool, postgres: PostgresConfiguration, amqp: AMQPConfiguration,
                configuration: OutboxRelayConfiguration, health: HealthRegistry?, logger: Logger) {
        self.pool = pool
        self.postgres = postgres
        self.amqp = amqp
        self.configuration = configuration
        self.health = health
        var logger = logger
        logger[metadataKey: "component"] = "outbox-relay"
        self.logger = logger
        health?.set(configuration.healthComponent, .unhealthy("starting"))
    }

    /// Results of one pass.
    public struct PassResult: Sendable, Equatable {
        /// Rows locked.
        public var claimed = 0
        /// Rows confirmed by the broker and marked published.
        public var published = 0
        /// Rows the broker refused (retried later).
        public var failed = 0
        /// The broker could not be reached (nothing was marked).
        public var brokerUnavailable = false
    }

    /// Relays until graceful shutdown (or cancellation).
    public func run() async throws {
        let current = ListenerSlot()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Listen for NOTIFY; a listener whose first connect fails is closed, so make a new one until one
                // starts (the relay polls meanwhile). A started listener reconnects by itself.
                var attempt = 0
                while !Task.isCancelled {
                    let listener = PostgresListener(
                        configuration: self.postgres, channels: [Self.channel], logger: self.logger)
                    let notifications = listener.notifications()
                    current.listener.withLock { $0 = listener }
                    do {
                        try await listener.start()
                    } catch {
                        listener.close()
                        attempt += 1
                        try? await Task.sleep(for: self.backoff.delay(attempt: attempt))
                        continue
                    }
                    for await _ in notifications { self.wake.signal() }
                    return
                }
            }
            await self.loop()
            current.listener.withLock { $0?.close() }
            group.cancelAll()
        }
        health?.set(configuration.healthComponent, .unhealthy("stopped"))
        logger.info("Outbox relay stopped")
    }

    private func loop() async {
        var publisher: AMQPPublisher?
        var failures = 0
        var lastPrune = ContinuousClock.now - .seconds(3600)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if publisher == nil {
                do {
                    publisher = try await AMQPPublisher(
                        configuration: amqp, confirmWindow: 1024, confirmTimeout: .seconds(15), logger: logger)
                    logger.info("Outbox relay connected to RabbitMQ")
                } catch {
                    failures += 1
                    health?.set(configuration.healthComponent, .unhealthy("cannot reach RabbitMQ at \(amqp.endpoint)"))
                    if failures == 1 || failures % 20 == 0 {
                        logger.warning("Outbox relay cannot reach RabbitMQ; rows wait in the outbox", metadata: [
                            "endpoint": "\(amqp.endpoint)", "attempt": "\(failures)", "error": "\(error)",
                        ])
                    }
                    await pause(backoff.delay(attempt: failures))
                    continue
                }
            }
            var result = PassResult()
            do {
                result = try await relayOnce(publisher: publisher!)
                if result.brokerUnavailable {
                    failures += 1
                    health?.set(configuration.healthComponent, .unhealthy("RabbitMQ unavailable"))
                } else {
                    if failures > 0 { logger.info("Outbox relay resumed") }
                    failures = 0
                    health?.set(configuration.healthComponent, .healthy)
                }
            } catch {
                failures += 1
                health?.set(configuration.healthComponent, .unhealthy("database unavailable"))
                if failures == 1 || failures % 20 == 0 {
                    logger.warning("Outbox relay pass failed", metadata: ["attempt": "\(failures)", "error": "\(error)"])
                }
            }
            if ContinuousClock.now - lastPrune > .seconds(60) {
                lastPrune = ContinuousClock.now
                await prune()
            }
            if failures > 0 {
                await pause(backoff.delay(attempt: failures))
            } else if result.claimed < configuration.batchSize {
                await pause(configuration.pollInterval, wakeable: true)
            }
        }
        await publisher?.close()
    }

    /// Sleeps (or waits for a notification), returning early on graceful shutdown.
    private func pause(_ duration: Duration, wakeable: Bool = false) async {
        try? await cancelWhenGracefulShutdown {
            if wakeable {
                await self.wake.wait(upTo: duration)
            } else {
                try await Task.sleep(for: duration)
            }
        }
    }

    /// One pass: claim due rows, publish with confirms, mark. Exposed for tests.
    public func relayOnce(publisher: AMQPPublisher) async throws -> PassResult {
        try await pool.withTransaction(maxAttempts: 1, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT outbox_id, exchange, routing_key, message_id, message_type, headers::text AS headers,
                       body::text AS body, created_at
                FROM outbox
                WHERE published_at IS NULL AND next_attempt_at <= now()
                  AND (\(configuration.tenantPrefix)::text IS NULL
                       OR starts_with(tenant_id, \(configuration.tenantPrefix)::text))
                ORDER BY outbox_id
                LIMIT \(configuration.batchSize)
                FOR UPDATE SKIP LOCKED
                """, logger: logger)
            var result = PassResult(claimed: rows.count)
            guard !rows.isEmpty else {
                OutboxMetrics.pending(0)
                return result
            }
            var ids: [Int64] = []
            var created: [Date] = []
            var types: [String] = []
            var requests: [AMQPPublishRequest] = []
            var refused: [(Int64, String)] = []
            let knownMissing = missingExchanges.withLock { missing in
                missing = missing.filter { $0.value > .now }
                return Set(missing.keys)
            }
            for row in rows {
                let exchange = try row.decode(String.self, "exchange")
                if knownMissing.contains(exchange) {
                    refused.append((try row.decode(Int64.self, "outbox_id"), "refused: no exchange '\(exchange)'"))
                    continue
                }
                let headers = (try? JSONDecoder().decode(
                    [String: String].self, from: Data(try row.decode(String.self, "headers").utf8))) ?? [:]
                let createdAt = try row.decode(Date.self, "created_at")
                let message = AMQPMessage(
                    body: Array(try row.decode(String.self, "body").utf8), messageID: try row.decode(String.self, "message_id"),
                    correlationID: headers["x-ledgerline-correlation-id"], contentType: "application/json",
                    type: try row.decode(String.self, "message_type"), timestamp: createdAt, persistent: true,
                    headers: headers.mapValues { .string($0) }, appID: configuration.appID)
                ids.append(try row.decode(Int64.self, "outbox_id"))
                created.append(createdAt)
                types.append(message.type ?? "")
                requests.append(AMQPPublishRequest(
                    message, exchange: exchange,
                    routingKey: try row.decode(String.self, "routing_key"), mandatory: true))
            }
            var outcomes: [Result<AMQPPublishOutcome, AMQPError>] = []
            if !requests.isEmpty {
                do {
                    outcomes = try await publisher.publish(batch: requests)
                } catch {
                    result.brokerUnavailable = true
                    return result
                }
            }
            // A missing exchange fails the rest of the batch too: only its own rows are refused; the others were
            // not really tried and stay due for the next pass (which skips the missing exchange).
            let missing = outcomes.lazy.compactMap { outcome -> String? in
                guard case .failure(let error) = outcome, error.code == .notFound else { return nil }
                return Self.missingExchange(in: error.description)
            }.first
            if let missing {
                missingExchanges.withLock { $0[missing] = .now + .seconds(60) }
            }
            var confirmed: [Int64] = []
            let now = Date()
            for (index, outcome) in outcomes.enumerated() {
                switch outcome {
                case .success(.confirmed):
                    confirmed.append(ids[index])
                    OutboxMetrics.relayLag(seconds: now.timeIntervalSince(created[index]))
                case .success(.returned(let code, let text)):
                    refused.append((ids[index], "unroutable: \(code) \(text)"))
                    OutboxMetrics.failure(reason: "returned")
                case .failure(let error) where error.code == .notFound && missing != nil
                    && requests[index].exchange != missing:
                    continue  // caught in the closed channel of another row's missing exchange
                case .failure(let error) where error.code == .publishNacked || error.code == .notFound
                    || error.code == .accessRefused:
                    refused.append((ids[index], "refused: \(error.description)"))
                    OutboxMetrics.failure(reason: error.code == .publishNacked ? "nacked" : "refused")
                case .failure:
                    // Connection-level: the outcome is unknown; the row stays due and is published again.
                    result.brokerUnavailable = true
                    OutboxMetrics.failure(reason: "broker")
                }
            }
            if !confirmed.isEmpty {
                try await connection.execute(
                    """
                    UPDATE outbox SET published_at = clock_timestamp(), attempts = attempts + 1, last_error = NULL
                    WHERE outbox_id = ANY(\(confirmed))
                    """, logger: logger)
                for type in Set(types) {
                    OutboxMetrics.published(
                        messageType: type,
                        count: zip(ids, types).filter { $0.1 == type && confirmed.contains($0.0) }.count)
                }
            }
            if !refused.isEmpty {
                try await connection.execute(
                    """
                    UPDATE outbox SET attempts = attempts + 1, last_error = r.reason,
                           next_attempt_at = now() + make_interval(secs => least(300, power(2, attempts)))
                    FROM unnest(\(refused.map(\.0)), \(refused.map { String($0.1.prefix(500)) })) AS r(id, reason)
                    WHERE outbox_id = r.id
                    """, logger: logger)
            }
            if !refused.isEmpty {
                logger.warning("Outbox rows refused by the broker; retried later", metadata: [
                    "outbox.count": "\(refused.count)", "outbox.first_id": "\(refused[0].0)",
                ])
            }
            result.published = confirmed.count
            result.failed = refused.count
            return result
        }
    }

    /// The exchange named by a broker's `404 NOT_FOUND - no exchange 'X' in vhost '/'`, if any.
    static func missingExchange(in text: String) -> String? {
        guard let start = text.range(of: "no exchange '") else { return nil }
        let rest = text[start.upperBound...]
        guard let end = rest.firstIndex(of: "'") else { return nil }
        return String(rest[..<end])
    }

    /// Deletes published outbox rows past their retention, then runs the configuration's housekeeping.
    public func prune() async {
        let outbox = configuration.retention.components.seconds
        do {
            try await pool.execute(
                """
                DELETE FROM outbox WHERE outbox_id IN (
                    SELECT outbox_id FROM outbox
                    WHERE published_at < now() - make_interval(secs => \(outbox)) LIMIT 10000)
                """, logger: logger)
        } catch {
            logger.debug("Outbox prune skipped", metadata: ["error": "\(error)"])
        }
        await configuration.housekeeping?(pool, logger)
    }
}

/// The relay's current `LISTEN` connection, closed on shutdown.
final class ListenerSlot: Sendable {
    let listener = Mutex<PostgresListener?>(nil)
}
