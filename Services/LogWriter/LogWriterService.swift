import AMQP
import AuditTrail
import Domain
import Foundation
import Logging
import Metrics
import Postgres
import Runtime
import ServiceLifecycle
import Synchronization

/// Consumes `log-writer.audit` and appends the audit events to the trail in batches.
///
/// - Deliveries are collected into a batch of up to `batchSize` events (or whatever arrived within
///   `batchWait` of the first one), written in one transaction by ``AuditTrailWriter``, and acked
///   with one `basic.ack multiple` only after the commit.
/// - A delivery that is not a valid ``AuditEvent`` can never be stored: it is rejected without
///   requeue, so it goes to `log-writer.audit.dead`. So is a single event the database refuses as
///   data (SQLSTATE class 22 or 23) after the batch was split to find it.
/// - Any other failure (database down, slow, refusing privileges) holds the batch and retries it with
///   capped exponential backoff and jitter, without acking, nacking or taking more: the prefetch
///   limit then stops the broker, and the rest waits in the queue. Nothing is dropped.
/// - On graceful shutdown the batch in hand is finished (or, while the database is failing, given
///   back), and every delivery not committed is nacked with requeue.
struct LogWriterService: Service {
    let configuration: LogWriterConfiguration
    let amqp: AMQPConfiguration
    let writer: AuditTrailWriter
    let gate: DependencyGate?
    let health: HealthRegistry?
    let logger: Logger

    /// Set once graceful shutdown begins.
    private let stopping = Stopping()
    /// Deliveries received but not yet in a batch. A service value runs once.
    private let buffer = DeliveryBuffer()

    init(
        configuration: LogWriterConfiguration, amqp: AMQPConfiguration, writer: AuditTrailWriter,
        gate: DependencyGate? = nil, health: HealthRegistry? = nil, logger: Logger
    ) {
        self.configuration = configuration
        self.amqp = amqp
        self.writer = writer
        self.gate = gate
        self.health = health
        self.logger = logger
    }

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await gate?.waitUntilOpen()
            guard !stopping.isSet else { return }
            let consumer = try await retryUntilConnected(
                dependency: "rabbitmq", endpoint: amqp.endpoint, logger: logger
            ) {
                try await AMQPConsumer(
                    configuration: amqp, queue: configuration.queue, prefetch: configuration.prefetch, logger: logger)
            }
            health?.set("log-writer", .healthy)
            logger.info("Log writer consuming", metadata: [
                "amqp.queue": "\(configuration.queue)", "batch.size": "\(configuration.batchSize)",
                "amqp.prefetch": "\(configuration.prefetch)",
            ])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        for try await delivery in consumer.deliveries() { buffer.append(delivery) }
                        buffer.finish(nil)
                    } catch {
                        buffer.finish(error)
                    }
                }
                await batchLoop(consumer: consumer, buffer: buffer)
                await consumer.close(drainTimeout: configuration.drainTimeout)
                try await group.waitForAll()
            }
            if let failure = buffer.failure { throw failure }
        } onGracefulShutdown: {
            stop()
        }
        logger.info("Log writer stopped")
    }

    /// Begins a graceful stop, as SIGTERM does: the batch in hand is finished (or given back while the
    /// database fails), the rest is requeued, and ``run()`` returns.
    func stop() {
        stopping.set()
        buffer.wake()
    }

    // MARK: The batch loop

    private func batchLoop(consumer: AMQPConsumer, buffer: DeliveryBuffer) async {
        let decoder = WireFormat.decoder()
        while !stopping.isSet {
            await buffer.wait(for: 1, until: nil)
            if stopping.isSet { break }
            if buffer.count == 0 {
                if buffer.isFinished { break }
                continue
            }
            if configuration.batchWait > .zero && buffer.count < configuration.batchSize {
                await buffer.wait(for: configuration.batchSize, until: .now + configuration.batchWait)
            }
            let batch = buffer.take(max: configuration.batchSize)
            guard !batch.isEmpty else { continue }
            if !(await process(batch, consumer: consumer, decoder: decoder)) {
                break
            }
        }
        // Whatever was received but not committed goes back to the queue now.
        let rest = buffer.drain()
        if let last = rest.last {
            settle(consumer, last, "nack") { try consumer.nack(last, multiple: true, requeue: true) }
            logger.debug("Log writer requeued unwritten deliveries", metadata: ["amqp.count": "\(rest.count)"])
        }
    }

    /// Decodes, writes and settles one batch. Returns false when the batch was given back because
    /// the service is stopping.
    private func process(_ batch: [AMQPDelivery], consumer: AMQPConsumer, decoder: JSONDecoder) async -> Bool {
        var items: [(delivery: AMQPDelivery, event: AuditEvent)] = []
        items.reserveCapacity(batch.count)
        for delivery in batch {
            do {
                let event = try decoder.decode(AuditEvent.self, from: Data(delivery.body))
                if let problem = AuditEventValidation.problem(in: event) {
                    deadLetter(consumer, delivery, reason: problem)
                } else {
                    items.append((delivery, event))
                }
            } catch {
                deadLetter(consumer, delivery, reason: "not a valid audit event (\(type(of: error)))")
            }
        }
        guard let lastValid = items.last?.delivery else { return true }
        let started = ContinuousClock.now
        do {
            let (result, refused) = try await commit(items)
            for item in refused {
                deadLetter(consumer, item.delivery, reason: "the database refuses the event as data")
            }
            // Ack up to the last delivery still unsettled (never a tag already rejected above).
            let refusedTags = Set(refused.map(\.delivery.deliveryTag))
            if let last = items.last(where: { !refusedTags.contains($0.delivery.deliveryTag) })?.delivery {
                settle(consumer, last, "ack") { try consumer.ack(last, multiple: true) }
            }
            WriterMetrics.stored.increment(by: result.stored)
            WriterMetrics.duplicates.increment(by: result.duplicates)
            WriterMetrics.batchDuration.recordNanoseconds(Self.nanoseconds(ContinuousClock.now - started))
            logger.debug("Audit batch committed", metadata: [
                "audit.stored": "\(result.stored)", "audit.duplicates": "\(result.duplicates)",
                "audit.sessions": "\(result.sessionsTouched)",
            ])
            return true
        } catch {
            // Stopping while the database fails: give the batch back.
            settle(consumer, lastValid, "nack") { try consumer.nack(lastValid, multiple: true, requeue: true) }
            logger.info("Log writer gave an unwritten batch back to the queue", metadata: ["amqp.count": "\(items.count)"])
            return false
        }
    }

    /// Writes `items`, holding and retrying on failure until it commits or the service stops.
    /// A database refusal of the data itself splits the batch to find the refused events.
    ///
    /// - Returns: what was stored, and the items the database refused as data.
    /// - Throws: ``Stopped`` when the service began stopping before the batch committed.
    private func commit(_ items: [(delivery: AMQPDelivery, event: AuditEvent)]) async throws
        -> (AuditAppendResult, [(delivery: AMQPDelivery, event: AuditEvent)])
    {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let result = try await writer.append(items.map(\.event), logger: logger)
                if attempt > 1 {
                    health?.set("log-writer", .healthy)
                    logger.info("Audit batch written after retrying", metadata: ["attempts": "\(attempt)"])
                }
                return (result, [])
            } catch let error as PostgresError where Self.isDataError(error) {
                guard items.count > 1 else {
                    logger.warning("Audit event refused by the database", metadata: [
                        "audit.id": "\(items[0].event.auditID)", "db.sql_state": "\(error.sqlState ?? "-")",
                    ])
                    return (AuditAppendResult(), items)
                }
                let middle = items.count / 2
                let (left, leftRefused) = try await commit(Array(items[..<middle]))
                let (right, rightRefused) = try await commit(Array(items[middle...]))
                return (
                    AuditAppendResult(
                        stored: left.stored + right.stored, duplicates: left.duplicates + right.duplicates,
                        sessionsTouched: left.sessionsTouched + right.sessionsTouched),
                    leftRefused + rightRefused
                )
            } catch {
                if stopping.isSet || Task.isCancelled { throw Stopped() }
                WriterMetrics.writeFailures.increment()
                health?.set("log-writer", .unhealthy("audit writes failing; holding \(items.count) events"))
                let wait = backoff(attempt: attempt)
                if attempt == 1 || attempt.isMultiple(of: 10) {
                    logger.warning("Audit batch write failed; holding it and retrying", metadata: [
                        "attempt": "\(attempt)", "audit.held": "\(items.count)", "error": "\(error)",
                        "retry_in_ms": "\(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)",
                    ])
                }
                await sleep(wait)
                if stopping.isSet || Task.isCancelled { throw Stopped() }
            }
        }
    }

    /// SQLSTATE classes 22 (data exception) and 23 (integrity constraint): this data will never be
    /// stored, however often it is retried.
    static func isDataError(_ error: PostgresError) -> Bool {
        guard error.code == .queryFailed, let state = error.sqlState else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23")
    }

    /// Capped exponential backoff with full jitter.
    private func backoff(attempt: Int) -> Duration {
        let exponent = min(attempt - 1, 20)
        let ceiling = min(configuration.retryInitial * (1 << exponent), configuration.retryMax)
        let nanos = ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        return .nanoseconds(Int64.random(in: (nanos / 2)...max(nanos / 2, nanos)))
    }

    /// Sleeps in short steps so that shutdown is noticed promptly.
    private func sleep(_ duration: Duration) async {
        let deadline = ContinuousClock.now + duration
        while !stopping.isSet, ContinuousClock.now < deadline {
            try? await Task.sleep(for: min(.milliseconds(50), deadline - .now))
            if Task.isCancelled { return }
        }
    }

    private func deadLetter(_ consumer: AMQPConsumer, _ delivery: AMQPDelivery, reason: String) {
        WriterMetrics.deadLettered.increment()
        logger.warning("Dead-lettering an audit delivery", metadata: [
            "amqp.delivery_tag": "\(delivery.deliveryTag)", "amqp.message_id": "\(delivery.messageID ?? "-")",
            "reason": "\(reason)",
        ])
        settle(consumer, delivery, "reject") { try consumer.reject(delivery, requeue: false) }
    }

    private func settle(_ consumer: AMQPConsumer, _ delivery: AMQPDelivery, _ what: String, _ body: () throws -> Void) {
        do {
            try body()
        } catch {
            // A stale delivery (the connection dropped) is redelivered by the broker; writing is idempotent.
            logger.debug("Audit delivery settlement not sent", metadata: [
                "amqp.settlement": "\(what)", "error": "\(error)",
            ])
        }
    }

    struct Stopped: Error {}

    static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    /// Metrics of the log writer (snake_case, low-cardinality).
    enum WriterMetrics {
        static let stored = Counter(label: "ledgerline_log_writer_events_stored_total")
        static let duplicates = Counter(label: "ledgerline_log_writer_events_duplicate_total")
        static let deadLettered = Counter(label: "ledgerline_log_writer_events_dead_lettered_total")
        static let writeFailures = Counter(label: "ledgerline_log_writer_write_failures_total")
        static let batchDuration = Metrics.Timer(label: "ledgerline_log_writer_batch_duration_seconds")
    }
}

/// A one-way flag.
final class Stopping: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { flag.load(ordering: .sequentiallyConsistent) }
}
