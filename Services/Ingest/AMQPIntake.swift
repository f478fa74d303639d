import BlockingIO
import AMQP
import Crypto
import Domain
import Foundation
import Logging
import Runtime
import ServiceLifecycle

/// Consumes shop events from the `ingest.shop-events` queue (manual acks) and stores them.
///
/// Rules:
/// - A delivery is acked only after the Postgres transaction that stored it (or its rejection) committed.
/// - Deliveries are taken in batches (whatever has arrived, up to ``IngestConfiguration/batchSize``) and
///   committed together; a batch that fails is retried one delivery per transaction.
/// - A rejected delivery is published, body unchanged, to the dead-letter exchange with routing key = the
///   queue name and headers `x-ledgerline-reason-code`, `x-ledgerline-reason`, `x-ledgerline-failures`
///   (JSON), `x-ledgerline-rejected-at`; only after the broker confirmed it is the original acked.
/// - When Postgres is unavailable nothing is dead-lettered: the batch is held (unacked) and the database
///   is retried with capped exponential backoff. On graceful shutdown held and buffered deliveries are
///   nacked with requeue; nothing half-done is acked.
final class AMQPIntake: Service, Sendable {
    private let amqp: AMQPConfiguration
    private let configuration: IngestConfiguration
    private let store: IntakeStore
    private let gate: DependencyGate?
    private let health: HealthRegistry?
    private let logger: Logger
    private let decoder = InvoiceEventDecoder()
    private let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))

    /// - Parameters:
    ///   - amqp: the broker.
    ///   - configuration: queue, exchanges, prefetch and batch size.
    ///   - store: where events go.
    ///   - gate: opened when Postgres and RabbitMQ answered; the intake waits for it.
    ///   - health: receives the `amqp-intake` component status.
    init(amqp: AMQPConfiguration, configuration: IngestConfiguration, store: IntakeStore, gate: DependencyGate?,
         health: HealthRegistry?, logger: Logger) {
        self.amqp = amqp
        self.configuration = configuration
        self.store = store
        self.gate = gate
        self.health = health
        var logger = logger
        logger[metadataKey: "amqp.queue"] = "\(configuration.queue)"
        self.logger = logger
        health?.set("amqp-intake", .unhealthy("starting"))
    }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await self.gate?.waitUntilOpen() }
        } catch {
            return  // shut down before the dependencies answered
        }
        guard let consumer = await connect({
            try await AMQPConsumer(
                configuration: self.amqp, queue: self.configuration.queue, prefetch: self.configuration.prefetch,
                logger: self.logger)
        }) else { return }
        let deadLetters = DeadLetterPublisher(configuration: amqp, logger: logger)
        let buffer = DeliveryBuffer()
        health?.set("amqp-intake", .healthy)
        logger.info("AMQP intake consuming", metadata: ["amqp.prefetch": "\(configuration.prefetch)"])
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await delivery in consumer.deliveries() { buffer.append(delivery) }
                } catch {
                    self.logger.error("AMQP intake consumer gave up", metadata: ["error": "\(error)"])
                }
                buffer.finish()
            }
            // Several batches in flight: one commits while the next is being decoded and written. Events of
            // one invoice in two batches are serialised by the invoice lock and ordered by their versions.
            await withTaskGroup(of: Void.self) { workers in
                for _ in 0..<self.configuration.concurrency {
                    workers.addTask { await self.processLoop(buffer: buffer, consumer: consumer, deadLetters: deadLetters) }
                }
            }
            // Stop taking work: what is buffered but not processed goes back to the queue.
            let unprocessed = buffer.drain()
            for delivery in unprocessed { try? consumer.nack(delivery, requeue: true) }
            if !unprocessed.isEmpty {
                logger.info("AMQP intake requeued unprocessed deliveries", metadata: ["amqp.count": "\(unprocessed.count)"])
            }
            await consumer.close(drainTimeout: .seconds(2))
            for delivery in buffer.drain() { try? consumer.nack(delivery, requeue: true) }
            await group.waitForAll()
        }
        await deadLetters.close()
        health?.set("amqp-intake", .unhealthy("stopped"))
        logger.info("AMQP intake stopped")
    }

    /// Creates a broker client, retrying with backoff until it works or the service is shut down.
    private func connect<Client: Sendable>(_ make: @escaping @Sendable () async throws -> Client) async -> Client? {
        try? await cancelWhenGracefulShutdown {
            try await retryUntilConnected(
                dependency: "rabbitmq", endpoint: self.amqp.endpoint, logger: self.logger
            ) { try await make() }
        }
    }

    private func processLoop(buffer: DeliveryBuffer, consumer: AMQPConsumer, deadLetters: DeadLetterPublisher) async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let batch: [AMQPDelivery]
            do {
                batch = try await cancelWhenGracefulShutdown {
                    try await buffer.next(max: self.configuration.batchSize)
                }
            } catch {
                return  // graceful shutdown while waiting
            }
            if batch.isEmpty { return }  // the consumer closed
            await handle(batch, consumer: consumer, deadLetters: deadLetters)
        }
    }

    /// Stores a batch, dead-letters its rejections, then acks. Holds the batch while Postgres is unavailable.
    func handle(_ batch: [AMQPDelivery], consumer: AMQPConsumer, deadLetters: DeadLetterPublisher) async {
        let start = ContinuousClock.now
        let items = batch.map(item(for:))
        var results: [IntakeResult] = []
        var attempt = 0
        while true {
            do {
                results = try await store.process(items)
                if attempt > 0 {
                    health?.set("amqp-intake", .healthy)
                    logger.info("Postgres is back; AMQP intake resumed", metadata: ["ingest.attempts": "\(attempt + 1)"])
                }
                break
            } catch where IntakeStore.isUnavailable(error) {
                attempt += 1
                IngestMetrics.databaseWait(channel: .amqp)
                health?.set("amqp-intake", .unhealthy("waiting for Postgres"))
                if attempt == 1 || attempt % 20 == 0 {
                    logger.warning("Postgres unavailable; holding deliveries and retrying", metadata: [
                        "amqp.count": "\(batch.count)", "ingest.attempt": "\(attempt)", "error": "\(error)",
                    ])
                }
                if Task.isShuttingDownGracefully || Task.isCancelled { return requeue(batch, consumer: consumer) }
                let wait = backoff.delay(attempt: attempt)
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                if Task.isShuttingDownGracefully || Task.isCancelled { return requeue(batch, consumer: consumer) }
            } catch {
                // A statement failed for one delivery on its own: not a database outage. Requeue after a pause;
                // the queue's delivery limit dead-letters a message that keeps failing.
                logger.error("Storing a delivery failed; requeueing it", metadata: [
                    "amqp.count": "\(batch.count)", "error": "\(error)",
                ])
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
                return requeue(batch, consumer: consumer)
            }
        }

        var toAck: [AMQPDelivery] = []
        var rejected: [(AMQPDelivery, [ValidationFailure])] = []
        for (delivery, result) in zip(batch, results) {
            IngestMetrics.event(channel: .amqp, outcome: result.outcome)
            if case .rejected(let failures) = result.outcome {
                rejected.append((delivery, failures))
                logger.info("Event rejected", metadata: [
                    "ingest.reason_code": "\(failures.first?.code.rawValue ?? "-")",
                    "ingest.path": "\(failures.first?.path ?? "")", "event.id": "\(result.eventID ?? "-")",
                    "amqp.message_id": "\(delivery.messageID ?? "-")",
                ])
            } else {
                toAck.append(delivery)
            }
        }
        IngestMetrics.accepted(channel: .amqp, since: start)
        for delivery in toAck { ack(delivery, consumer: consumer) }
        guard !rejected.isEmpty else { return }
        // The rejections are committed; each original is acked only once its dead-letter copy is confirmed.
        let confirmed = await deadLetters.publish(
            rejected, exchange: configuration.deadLetterExchange, routingKey: configuration.queue)
        if confirmed {
            for (delivery, _) in rejected { ack(delivery, consumer: consumer) }
        } else {
            requeue(rejected.map(\.0), consumer: consumer)
        }
    }

    private func ack(_ delivery: AMQPDelivery, consumer: AMQPConsumer) {
        do {
            try consumer.ack(delivery)
        } catch {
            // A stale delivery (the connection dropped) is redelivered; its repeat is a duplicate.
            logger.debug("Ack not sent", metadata: ["error": "\(error)"])
        }
    }

    private func requeue(_ batch: [AMQPDelivery], consumer: AMQPConsumer) {
        for delivery in batch { try? consumer.nack(delivery, requeue: true) }
    }

    /// Turns a delivery into an intake item (decoding and validating its body).
    func item(for delivery: AMQPDelivery) -> IntakeItem {
        let decoded = decoder.decode(delivery.body)
        var hasher = SHA256()
        hasher.update(data: Array("amqp\n\(configuration.queue)\n\(delivery.messageID ?? "")\n".utf8))
        hasher.update(data: delivery.body)
        let reference = "amqp:" + hasher.finalize().map { String(format: "%02x", $0) }.joined()
        var claimed = IntakeItem.ClaimedFields()
        var json: String?
        switch decoded {
        case .failure: claimed = IntakeItem.ClaimedFields(body: delivery.body)
        case .success: json = String(decoding: delivery.body, as: UTF8.self)
        }
        return IntakeItem(
            decoded: decoded, channel: .amqp, rejectionRef: reference, body: IntakeItem.BodyFacts(delivery.body),
            claimed: claimed, eventJSON: json)
    }
}

/// Publishes rejected deliveries to the dead-letter exchange with publisher confirms.
///
/// The publisher is created on first use and recreated after failures.
final class DeadLetterPublisher: Sendable {
    private let configuration: AMQPConfiguration
    private let logger: Logger
    private let publisher = PublisherSlot()

    init(configuration: AMQPConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Publishes every rejected delivery and waits for the confirms; retries with backoff until all are
    /// confirmed (true) or the service shuts down (false).
    func publish(_ rejected: [(AMQPDelivery, [ValidationFailure])], exchange: String, routingKey: String) async -> Bool {
        let requests = rejected.map { delivery, failures in
            AMQPPublishRequest(Self.message(for: delivery, failures: failures, queue: routingKey), exchange: exchange,
                               routingKey: routingKey, mandatory: true)
        }
        let backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
        var attempt = 0
        var remaining = requests
        while !remaining.isEmpty {
            attempt += 1
            do {
                let publisher = try await current()
                let outcomes = try await publisher.publish(batch: remaining)
                var failed: [AMQPPublishRequest] = []
                for (request, outcome) in zip(remaining, outcomes) {
                    switch outcome {
                    case .success(.confirmed): break
                    case .success(.returned(let code, _)):
                        logger.error("Dead-letter message unroutable: is the dead-letter queue bound?", metadata: [
                            "amqp.exchange": "\(exchange)", "amqp.routing_key": "\(routingKey)", "amqp.reply_code": "\(code)",
                        ])
                        failed.append(request)
                    case .failure(let error):
                        logger.debug("Dead-letter publish failed", metadata: ["error": "\(error)"])
                        failed.append(request)
                    }
                }
                remaining = failed
            } catch {
                logger.warning("Cannot publish to the dead-letter exchange; retrying", metadata: ["error": "\(error)"])
                await reset()
            }
            if remaining.isEmpty { break }
            if Task.isShuttingDownGracefully || Task.isCancelled { return false }
            let wait = backoff.delay(attempt: attempt)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            if Task.isShuttingDownGracefully || Task.isCancelled { return false }
        }
        return true
    }

    func close() async {
        if let publisher = await publisher.take() { await publisher.close() }
    }

    private func current() async throws -> AMQPPublisher {
        try await publisher.get(configuration: configuration, logger: logger)
    }

    private func reset() async {
        if let publisher = await publisher.take() { await publisher.close() }
    }

    /// The original message with the rejection's reason in its headers.
    static func message(for delivery: AMQPDelivery, failures: [ValidationFailure], queue: String) -> AMQPMessage {
        var message = delivery.message
        let first = failures.first
        message.headers["x-ledgerline-reason-code"] = .string(first?.code.rawValue ?? "ingest.internal_error")
        message.headers["x-ledgerline-reason"] = .string(String((first?.message ?? "").prefix(1000)))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let failuresJSON = (try? encoder.encode(Array(failures.prefix(100)))).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        message.headers["x-ledgerline-failures"] = .string(failuresJSON)
        message.headers["x-ledgerline-rejected-at"] = .timestamp(Date())
        message.headers["x-ledgerline-source-queue"] = .string(queue)
        message.persistent = true
        return message
    }
}

/// Holds the dead-letter publisher; creates it on first use.
actor PublisherSlot {
    private var publisher: AMQPPublisher?

    func get(configuration: AMQPConfiguration, logger: Logger) async throws -> AMQPPublisher {
        if let publisher { return publisher }
        let created = try await AMQPPublisher(configuration: configuration, confirmWindow: 256, logger: logger)
        publisher = created
        return created
    }

    func take() -> AMQPPublisher? {
        defer { publisher = nil }
        return publisher
    }
}
