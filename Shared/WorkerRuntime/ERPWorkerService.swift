public import AMQP
public import Connectors
public import Domain
import Foundation
public import Logging
import Metrics
import Postgres
public import ServiceLifecycle
import Synchronization

/// Settings of an ``ERPWorkerService``.
public struct ERPWorkerConfiguration: Sendable, Hashable {
    /// The queue to consume (default `erp.<slug>.jobs`).
    public var queue: String
    /// Where the sweeper re-publishes due jobs (default `ledgerline.jobs`, routing key = ERP slug).
    public var jobsExchange: String
    /// Unacknowledged deliveries the broker may push ahead.
    public var prefetch: UInt16
    /// Jobs processed at once by this replica.
    public var concurrency: Int
    /// How often the sweeper looks for due deferred jobs and expired claims.
    public var sweepInterval: Duration
    /// The most jobs one sweep re-publishes.
    public var sweepBatch: Int
    /// A re-published job is not re-published again for this long (in case its message was lost).
    public var sweepGuard: Duration
    /// How long in-flight jobs may take to finish after a graceful shutdown starts.
    public var shutdownGrace: Duration
    /// Wait before requeueing a delivery whose processing failed without a committed state (database down).
    public var failureRequeueDelay: Duration

    /// Defaults for `erp`: concurrency = the connector's smallest concurrent-request limit (else 4), prefetch =
    /// twice that.
    public init(erp: ERP, capabilities: ConnectorCapabilities) {
        let concurrent = capabilities.rateLimits.compactMap { limit -> Int? in
            if case .concurrent(let count) = limit.kind, limit.scope == .connection { return count }
            return nil
        }.min()
        let concurrency = max(1, concurrent ?? 4)
        self.queue = erp.jobQueue
        self.jobsExchange = "ledgerline.jobs"
        self.prefetch = UInt16(min(1000, concurrency * 2))
        self.concurrency = concurrency
        self.sweepInterval = .seconds(1)
        self.sweepBatch = 200
        self.sweepGuard = .seconds(60)
        self.shutdownGrace = .seconds(20)
        self.failureRequeueDelay = .seconds(1)
    }
}

/// The service every `worker-<erp>` runs: consumes `erp.<slug>.jobs` with manual acks, processes up to
/// `concurrency` jobs at once with a ``JobProcessor``, and acks a delivery only after the processor committed a
/// state (synced, deferred, parked — or found nothing to do). A delivery whose job cannot be decoded is rejected
/// without requeue (dead-lettered); one whose processing failed before any state was committed is requeued
/// (the queue's delivery limit dead-letters a poison job).
///
/// Deferred jobs come back through a **sweeper** (not a delay queue): every `sweepInterval` it takes due
/// deferred documents and expired claims of this ERP from Postgres (`worker_take_due_jobs`) and re-publishes
/// their stored job with publisher confirms. Any replica may sweep; `FOR UPDATE SKIP LOCKED` and the
/// `requeued_at` stamp keep replicas from publishing the same job twice within `sweepGuard` (a duplicate is
/// harmless anyway: the claim decides).
///
/// On graceful shutdown it stops starting jobs (prefetched deliveries are requeued), lets in-flight jobs finish
/// within `shutdownGrace`, then closes the consumer.
public final class ERPWorkerService<C: ERPConnector>: Service, Sendable {
    let amqp: AMQPConfiguration
    let processor: JobProcessor<C>
    let configuration: ERPWorkerConfiguration
    let logger: Logger

    /// Creates the service.
    public init(
        amqp: AMQPConfiguration, processor: JobProcessor<C>, configuration: ERPWorkerConfiguration? = nil, logger: Logger
    ) {
        self.amqp = amqp
        self.processor = processor
        self.configuration = configuration ?? ERPWorkerConfiguration(erp: C.erp, capabilities: C.capabilities)
        self.logger = logger
    }

    /// In-flight count and the stopping flag, shared by the consume loop, the jobs and the sweeper.
    private final class Shared: Sendable {
        struct Values: Sendable {
            var inFlight = 0
            var stopping = false
        }
        let values = Mutex(Values())
        func withLock<R: Sendable>(_ body: (inout Values) -> R) -> R { values.withLock { body(&$0) } }
    }

    /// Runs until graceful shutdown or cancellation.
    public func run() async throws {
        let consumer = try await AMQPConsumer(
            configuration: amqp, queue: configuration.queue, prefetch: configuration.prefetch, logger: logger)
        let publisher = try await AMQPPublisher(configuration: amqp, logger: logger)
        let shared = Shared()
        let configuration = self.configuration
        logger.info(
            "ERP worker consuming",
            metadata: ["erp": "\(C.erp)", "amqp.queue": "\(configuration.queue)", "concurrency": "\(configuration.concurrency)"])
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.sweepLoop(publisher: publisher, shared: shared) }
            group.addTask { await self.consumeLoop(consumer: consumer, shared: shared) }
            // Wait for the shutdown signal (or cancellation), then drain.
            try? await gracefulShutdown()
            shared.withLock { $0.stopping = true }
            let deadline = ContinuousClock.now + configuration.shutdownGrace
            while shared.withLock({ $0.inFlight }) > 0, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
            await consumer.close(drainTimeout: .seconds(2))
            group.cancelAll()
        }
        await publisher.close()
        logger.info("ERP worker stopped", metadata: ["erp": "\(C.erp)"])
    }

    private func consumeLoop(consumer: AMQPConsumer, shared: Shared) async {
        let concurrency = configuration.concurrency
        await withTaskGroup(of: Void.self) { jobs in
            var running = 0
            do {
                for try await delivery in consumer.deliveries() {
                    if shared.withLock({ $0.stopping }) {
                        try? consumer.nack(delivery, requeue: true)
                        continue
                    }
                    if running >= concurrency {
                        await jobs.next()
                        running -= 1
                    }
                    running += 1
                    shared.withLock { $0.inFlight += 1 }
                    jobs.addTask {
                        await self.handle(delivery, consumer: consumer)
                        shared.withLock { $0.inFlight -= 1 }
                    }
                }
            } catch {
                logger.error("Job consumer stopped", metadata: ["error": "\(error)"])
            }
            await jobs.waitForAll()
        }
    }

    private func handle(_ delivery: AMQPDelivery, consumer: AMQPConsumer) async {
        let erp = C.erp.rawValue
        let job: SyncJob
        do {
            job = try WireFormat.decoder().decode(SyncJob.self, from: Data(delivery.body))
        } catch {
            logger.warning(
                "Undecodable job dead-lettered", metadata: ["erp": "\(erp)", "amqp.message_id": "\(delivery.messageID ?? "-")"])
            Counter(label: "ledgerline_worker_jobs_total", dimensions: [("erp", erp), ("outcome", "undecodable")]).increment()
            try? consumer.reject(delivery, requeue: false)
            return
        }
        let started = ContinuousClock.now
        let lag = max(0, Date().timeIntervalSince(job.enqueuedAt))
        Timer(label: "ledgerline_worker_queue_lag_seconds", dimensions: [("erp", erp)])
            .recordNanoseconds(Int64(lag * 1e9))
        let jobLogger = logger.with(["erp": "\(erp)", "job.id": "\(job.jobID)", "job.kind": "\(job.kind.rawValue)"])
        processor.crash.reach(.afterDelivery, logger: jobLogger)
        do {
            let outcome = try await processor.process(job, logger: jobLogger)
            processor.crash.reach(.afterCommit, logger: jobLogger)
            try consumer.ack(delivery)
            Counter(label: "ledgerline_worker_jobs_total", dimensions: [("erp", erp), ("outcome", Self.label(outcome))])
                .increment()
            Timer(label: "ledgerline_worker_job_duration_seconds", dimensions: [("erp", erp)])
                .recordNanoseconds(Self.nanoseconds(ContinuousClock.now - started))
            if case .dropped(let why) = outcome {
                jobLogger.warning("Job dropped", metadata: ["reason": "\(why)"])
            } else {
                jobLogger.debug("Job done", metadata: ["outcome": "\(Self.label(outcome))"])
            }
        } catch {
            jobLogger.warning("Job failed before a state was committed; requeueing", metadata: ["error": "\(error)"])
            Counter(label: "ledgerline_worker_jobs_total", dimensions: [("erp", erp), ("outcome", "requeued")]).increment()
            try? await Task.sleep(for: configuration.failureRequeueDelay)
            try? consumer.nack(delivery, requeue: true)
        }
    }

    private func sweepLoop(publisher: AMQPPublisher, shared: Shared) async {
        while !Task.isCancelled, !shared.withLock({ $0.stopping }) {
            do {
                _ = try await sweepOnce(publisher: publisher)
            } catch {
                logger.warning("Sweep failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: configuration.sweepInterval)
        }
    }

    /// Re-publishes due deferred jobs and jobs of expired claims once.
    /// - Returns: how many jobs were published and confirmed.
    @discardableResult
    public func sweepOnce(publisher: AMQPPublisher) async throws -> Int {
        let guardSeconds = Int(configuration.sweepGuard.components.seconds)
        let rows = try await processor.store.pool.query(
            """
            SELECT tenant_id, job::text AS job FROM worker_take_due_jobs(\(C.erp.rawValue), \(configuration.sweepBatch)::int, \(guardSeconds)::int)
            """, logger: logger)
        guard !rows.isEmpty else { return 0 }
        let requests = try rows.map { row -> AMQPPublishRequest in
            let body = try row.decode(String.self, "job")
            return AMQPPublishRequest(
                AMQPMessage(
                    body: Array(body.utf8), messageID: UUID().uuidString.lowercased(), contentType: "application/json",
                    headers: ["x-ledgerline-tenant": .string(try row.decode(String.self, "tenant_id"))]),
                exchange: configuration.jobsExchange, routingKey: C.erp.jobRoutingKey)
        }
        var published = 0
        for result in try await publisher.publish(batch: requests) {
            if case .success(.confirmed) = result { published += 1 }
        }
        Counter(label: "ledgerline_worker_swept_total", dimensions: [("erp", C.erp.rawValue)]).increment(by: published)
        return published
    }

    static func label(_ outcome: JobOutcome) -> String {
        switch outcome {
        case .synced: "synced"
        case .alreadySynced: "already_synced"
        case .parked: "parked"
        case .stillParked: "still_parked"
        case .deferred: "deferred"
        case .notDue: "not_due"
        case .busy: "busy"
        case .dropped: "dropped"
        case .batch: "batch"
        }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}

extension Logger {
    fileprivate func with(_ metadata: Logger.Metadata) -> Logger {
        var copy = self
        for (key, value) in metadata { copy[metadataKey: key] = value }
        return copy
    }
}
