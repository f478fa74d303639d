internal import BlockingIO
import Foundation
import Logging

/// Consumes one queue with manual acknowledgements on its own connection and thread.
///
/// Deliveries arrive through ``deliveries()``; settle each with ``ack(_:multiple:)``,
/// ``nack(_:multiple:requeue:)`` or ``reject(_:requeue:)``. These calls only queue the answer; the
/// consumer's thread sends it at once (it sleeps in `poll` on the socket and its command queue, waking at
/// least every 200 ms to service heartbeats and notice shutdown).
///
/// After a dropped connection (broker restart, network error) the consumer reconnects by itself with
/// capped exponential backoff and jitter and consumes again. Deliveries received on the old connection
/// can no longer be acknowledged: the broker requeues and redelivers them (`redelivered == true`), and
/// settling one throws ``AMQPError/Code/staleDelivery``. Processing must therefore be idempotent.
///
/// The consumer does not declare its queue unless given a topology; it checks passively that the queue
/// exists (declare the topology once, from one place, before consumers start).
///
/// ```swift
/// let consumer = try await AMQPConsumer(configuration: configuration, queue: "jobs.xero", prefetch: 50, logger: logger)
/// for try await delivery in consumer.deliveries() {
///     try await handle(delivery.body)
///     try consumer.ack(delivery)
/// }
/// ```
public final class AMQPConsumer: Sendable {
    /// The queue being consumed.
    public let queue: String
    private let mailbox: AMQPMailbox<ConsumerCommand>
    private let stream: AsyncThrowingStream<AMQPDelivery, any Error>
    private let endpoint: String

    /// Connects, checks (or declares) the queue, sets the prefetch and starts consuming.
    ///
    /// - Parameters:
    ///   - configuration: the broker and reconnect settings.
    ///   - queue: the queue to consume; it must exist (see ``AMQPTopology``).
    ///   - prefetch: how many unacknowledged deliveries the broker may send ahead (`basic.qos`).
    ///   - topology: declared before consuming, on every (re)connect; empty by default.
    ///   - maxReconnectAttempts: give up after this many failed reconnects in a row and finish
    ///     ``deliveries()`` with the last error; nil (the default) retries until ``close(drainTimeout:)``.
    ///   - logger: receives debug and trace messages only.
    /// - Throws: ``AMQPError`` when the first connection fails, for example `authenticationFailed`, or
    ///   `notFound` when the queue does not exist.
    public init(
        configuration: AMQPConfiguration, queue: String, prefetch: UInt16 = 100,
        topology: AMQPTopology = AMQPTopology(), maxReconnectAttempts: Int? = nil, logger: Logger
    ) async throws {
        try topology.validate()
        let mailbox = try AMQPMailbox<ConsumerCommand>()
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: AMQPDelivery.self, throwing: (any Error).self)
        continuation.onTermination = { _ in mailbox.post(.close(drain: .zero, nil)) }
        self.queue = queue
        self.mailbox = mailbox
        self.stream = stream
        self.endpoint = configuration.endpoint
        let settings = ConsumerEngine.Settings(
            configuration: configuration, queue: queue, prefetch: max(1, prefetch), topology: topology,
            maxReconnectAttempts: maxReconnectAttempts, logger: logger)
        try await withCheckedThrowingContinuation { (started: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                Thread.current.name = "amqp-consumer"  // set from inside, so Linux names the OS thread (top -H)
                ConsumerEngine(settings: settings, mailbox: mailbox, continuation: continuation).run(started: started)
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit {
        mailbox.post(.close(drain: .zero, nil))
    }

    /// The deliveries, in the order the broker sent them. The sequence ends after ``close(drainTimeout:)``
    /// and throws only when reconnecting was given up (`maxReconnectAttempts`). Iterate it from one task
    /// only. Ending the iteration early (cancellation) stops the consumer; unacknowledged messages return
    /// to the queue.
    public func deliveries() -> AsyncThrowingStream<AMQPDelivery, any Error> { stream }

    /// Counts the connections this consumer has made: 1 after the first connect, one more per
    /// reconnect. Deliveries from an earlier connection can no longer be acknowledged.
    public var connectionGeneration: UInt64 { mailbox.generation }

    /// Acknowledges `delivery` (and, with `multiple`, every earlier unacknowledged one).
    ///
    /// - Throws: ``AMQPError`` with code `staleDelivery` when the delivery came over a connection that has
    ///   since dropped (the broker redelivers it), or `shutDown` after the consumer closed.
    public func ack(_ delivery: AMQPDelivery, multiple: Bool = false) throws {
        try settle(delivery, .ack(tag: delivery.deliveryTag, multiple: multiple), call: "basic.ack")
    }

    /// Negatively acknowledges `delivery` (and, with `multiple`, every earlier unacknowledged one).
    /// With `requeue` false the message is dead-lettered (or dropped without a dead-letter exchange).
    ///
    /// - Throws: as ``ack(_:multiple:)``.
    public func nack(_ delivery: AMQPDelivery, multiple: Bool = false, requeue: Bool) throws {
        try settle(delivery, .nack(tag: delivery.deliveryTag, multiple: multiple, requeue: requeue), call: "basic.nack")
    }

    /// Rejects `delivery`. With `requeue` false the message is dead-lettered (or dropped without a
    /// dead-letter exchange); with `requeue` true a quorum queue counts it towards `x-delivery-limit`.
    ///
    /// - Throws: as ``ack(_:multiple:)``.
    public func reject(_ delivery: AMQPDelivery, requeue: Bool) throws {
        try settle(delivery, .reject(tag: delivery.deliveryTag, requeue: requeue), call: "basic.reject")
    }

    private func settle(_ delivery: AMQPDelivery, _ settlement: Settlement, call: String) throws {
        let generation = delivery.connectionGeneration
        switch mailbox.post(.settle(settlement, generation: generation), generation: generation) {
        case .posted:
            return
        case .stale:
            throw AMQPError(
                code: .staleDelivery, host: endpoint, call: call,
                detail: "the delivery came over a connection that has closed; the broker redelivers it")
        case .closed:
            throw AMQPError(code: .shutDown, host: endpoint, call: call, detail: "the consumer is closed")
        }
    }

    /// Stops consuming gracefully: sends `basic.cancel`, lets ``deliveries()`` finish with what already
    /// arrived, waits up to `drainTimeout` for those deliveries to be settled (their acks go out), then
    /// closes the connection. Unsettled messages return to the queue. Calling it again waits for the
    /// same close.
    public func close(drainTimeout: Duration = .seconds(5)) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if !mailbox.post(.close(drain: drainTimeout, continuation)) { continuation.resume() }
        }
    }
}

enum Settlement: Sendable {
    case ack(tag: UInt64, multiple: Bool)
    case nack(tag: UInt64, multiple: Bool, requeue: Bool)
    case reject(tag: UInt64, requeue: Bool)
}

enum ConsumerCommand: Sendable {
    case settle(Settlement, generation: UInt64)
    case close(drain: Duration, CheckedContinuation<Void, Never>?)
}

/// The consumer's thread: owns the connection, the delivery stream and the set of unsettled deliveries.
final class ConsumerEngine {
    struct Settings: Sendable {
        let configuration: AMQPConfiguration
        let queue: String
        let prefetch: UInt16
        let topology: AMQPTopology
        let maxReconnectAttempts: Int?
        let logger: Logger
    }

    private let settings: Settings
    private let mailbox: AMQPMailbox<ConsumerCommand>
    private let continuation: AsyncThrowingStream<AMQPDelivery, any Error>.Continuation
    private let backoff: Backoff
    private var logger: Logger
    private var connection: AMQPConnection?
    private var consumerTag: String?
    private var generation: UInt64 = 0
    private var unsettled = Set<UInt64>()
    private var reconnectAttempt = 0
    private var reconnectAt: ContinuousClock.Instant?
    private var closeDeadline: ContinuousClock.Instant?
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    private var streamFinished = false
    private var failure: AMQPError?
    private static let tick = Duration.milliseconds(200)

    init(settings: Settings, mailbox: AMQPMailbox<ConsumerCommand>,
         continuation: AsyncThrowingStream<AMQPDelivery, any Error>.Continuation) {
        self.settings = settings
        self.mailbox = mailbox
        self.continuation = continuation
        self.backoff = Backoff(
            initial: settings.configuration.reconnectBackoffMin, maximum: settings.configuration.reconnectBackoffMax)
        var logger = settings.logger
        logger[metadataKey: "amqp.host"] = "\(settings.configuration.endpoint)"
        logger[metadataKey: "amqp.queue"] = "\(settings.queue)"
        self.logger = logger
    }

    private var endpoint: String { settings.configuration.endpoint }

    func run(started: CheckedContinuation<Void, any Error>) {
        do {
            try connect()
        } catch {
            _ = mailbox.close()
            continuation.finish(throwing: error)
            started.resume(throwing: error)
            return
        }
        started.resume()
        loop()
        shutDown()
    }

    private func loop() {
        while true {
            for command in mailbox.take() { handle(command) }
            if failure != nil { return }
            if let closeDeadline {
                if !streamFinished, connection?.hasBufferedInput != true {
                    streamFinished = true
                    continuation.finish()
                }
                if connection == nil || unsettled.isEmpty || ContinuousClock.now >= closeDeadline { return }
            }
            if connection == nil, let reconnectAt, ContinuousClock.now >= reconnectAt { reconnect() }
            if let connection, connection.hasBufferedInput {
                consumeAvailable(firstWait: .zero)
                continue
            }
            var timeout = Self.tick
            if connection == nil, let reconnectAt { timeout = min(timeout, max(.zero, reconnectAt - .now)) }
            if let closeDeadline { timeout = min(timeout, max(.zero, closeDeadline - .now)) }
            switch mailbox.wait(socket: connection?.socketDescriptor ?? -1, timeout: timeout) {
            case .socketReadable:
                consumeAvailable(firstWait: .zero)
            case .timedOut where connection != nil:
                // After a quiet poll, a 1 ms wait lets rabbitmq-c send and check heartbeats.
                consumeAvailable(firstWait: .milliseconds(1))
            case .woken, .timedOut:
                break
            }
        }
    }

    private func handle(_ command: ConsumerCommand) {
        switch command {
        case .settle(let settlement, let commandGeneration):
            guard commandGeneration == generation, let connection else {
                logger.trace("AMQP stale settlement dropped")
                return
            }
            // Settling a tag twice would make the broker close the channel (406 unknown delivery tag).
            if case .ack(let tag, false) = settlement, !unsettled.contains(tag) { return dropUnknown(tag) }
            if case .nack(let tag, false, _) = settlement, !unsettled.contains(tag) { return dropUnknown(tag) }
            if case .reject(let tag, _) = settlement, !unsettled.contains(tag) { return dropUnknown(tag) }
            if case .ack(let tag, true) = settlement, !unsettled.contains(where: { $0 <= tag }) { return dropUnknown(tag) }
            if case .nack(let tag, true, _) = settlement, !unsettled.contains(where: { $0 <= tag }) { return dropUnknown(tag) }
            do {
                switch settlement {
                case .ack(let tag, let multiple):
                    try connection.ack(deliveryTag: tag, multiple: multiple)
                    settled(tag, multiple: multiple)
                case .nack(let tag, let multiple, let requeue):
                    try connection.nack(deliveryTag: tag, multiple: multiple, requeue: requeue)
                    settled(tag, multiple: multiple)
                case .reject(let tag, let requeue):
                    try connection.reject(deliveryTag: tag, requeue: requeue)
                    settled(tag, multiple: false)
                }
            } catch {
                connectionLost(error as? AMQPError ?? AMQPError(code: .connectionClosed, host: endpoint))
            }
        case .close(let drain, let waiter):
            if let waiter { closeWaiters.append(waiter) }
            guard closeDeadline == nil else { return }
            closeDeadline = .now + drain
            logger.debug("AMQP consumer closing")
            if let connection, let consumerTag {
                do {
                    try connection.cancel(consumerTag: consumerTag, timeout: min(settings.configuration.rpcTimeout, .seconds(5)))
                } catch {
                    connectionLost(error as? AMQPError ?? AMQPError(code: .connectionClosed, host: endpoint))
                }
            }
            consumerTag = nil
        }
    }

    private func dropUnknown(_ tag: UInt64) {
        logger.debug("AMQP settlement for an unknown or already settled delivery dropped", metadata: [
            "amqp.delivery_tag": "\(tag)",
        ])
    }

    private func settled(_ tag: UInt64, multiple: Bool) {
        if multiple {
            unsettled = unsettled.filter { $0 > tag }
        } else {
            unsettled.remove(tag)
        }
    }

    private func shutDown() {
        // Settlements queued before the close still go out.
        for command in mailbox.close() {
            if case .settle = command { handle(command) }
            if case .close(_, let waiter?) = command { closeWaiters.append(waiter) }
        }
        connection?.close()
        connection = nil
        if !streamFinished {
            streamFinished = true
            if let failure { continuation.finish(throwing: failure) } else { continuation.finish() }
        }
        for waiter in closeWaiters { waiter.resume() }
        closeWaiters.removeAll()
        logger.debug("AMQP consumer closed")
    }

    // MARK: - Connection lifecycle

    private func connect() throws {
        let connection = try AMQPConnection.open(configuration: settings.configuration, logger: logger)
        do {
            if !settings.topology.isEmpty { try connection.declare(settings.topology) }
            guard try connection.queueStatus(settings.queue) != nil else {
                throw AMQPError(
                    code: .notFound, host: endpoint, call: "queue.declare(passive)",
                    detail: "queue \(settings.queue) does not exist")
            }
            try connection.qos(prefetch: settings.prefetch)
            consumerTag = try connection.consume(queue: settings.queue)
        } catch {
            connection.destroy()
            throw error
        }
        self.connection = connection
        generation += 1
        mailbox.generation = generation
        unsettled.removeAll()
        reconnectAttempt = 0
        reconnectAt = nil
    }

    private func reconnect() {
        do {
            try connect()
            logger.debug("AMQP consumer reconnected")
        } catch {
            let error = error as? AMQPError ?? AMQPError(code: .connectionFailed, host: endpoint, detail: "\(error)")
            logger.debug("AMQP consumer reconnect failed", metadata: [
                "amqp.attempt": "\(reconnectAttempt)", "error.code": "\(error.code)",
            ])
            if let limit = settings.maxReconnectAttempts, reconnectAttempt + 1 >= limit {
                failure = error
                return
            }
            scheduleReconnect()
        }
    }

    private func scheduleReconnect() {
        reconnectAt = .now + backoff.delay(attempt: reconnectAttempt)
        reconnectAttempt += 1
    }

    /// The connection is gone: outstanding deliveries become stale (the broker redelivers them) and a
    /// reconnect is scheduled unless the consumer is closing.
    private func connectionLost(_ cause: AMQPError) {
        logger.debug("AMQP consumer connection lost", metadata: ["error.code": "\(cause.code)"])
        connection?.destroy()
        connection = nil
        consumerTag = nil
        unsettled.removeAll()
        generation += 1
        mailbox.generation = generation
        if closeDeadline == nil { scheduleReconnect() }
    }

    // MARK: - Receiving

    private func consumeAvailable(firstWait: Duration) {
        var wait = firstWait
        for _ in 0..<64 {
            guard let connection else { return }
            let result: AMQPConnection.ConsumeResult
            do {
                result = try connection.consume(timeout: wait)
            } catch {
                connectionLost(error as? AMQPError ?? AMQPError(code: .connectionClosed, host: endpoint))
                return
            }
            wait = .zero
            switch result {
            case .timeout:
                return
            case .delivery(let tag, let redelivered, let exchange, let routingKey, let message):
                let delivery = AMQPDelivery(
                    message: message, deliveryTag: tag, redelivered: redelivered, exchange: exchange,
                    routingKey: routingKey, connectionGeneration: generation)
                if case .enqueued = continuation.yield(delivery) {
                    unsettled.insert(tag)
                }
            case .frame(let inbound):
                switch inbound {
                case .consumerCancelled:
                    consumerTag = nil
                    if closeDeadline == nil {
                        // The queue was deleted or its leader moved; start over on a new connection.
                        connectionLost(AMQPError(
                            code: .channelClosed, host: endpoint, call: "basic.consume",
                            detail: "the broker cancelled the consumer"))
                    }
                    return
                case .channelClosed(let error):
                    connectionLost(error)
                    return
                case .blocked, .unblocked, .ack, .nack, .returned, .other:
                    break
                }
            }
        }
    }
}
