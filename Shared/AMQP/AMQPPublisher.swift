internal import BlockingIO
import Foundation
import Logging

/// Publishes messages with publisher confirms on one connection and channel, owned by its own thread.
///
/// Every publish waits for the broker's `basic.ack` (or `basic.nack`, or a `basic.return` for an
/// unroutable `mandatory` message). Many tasks may publish at once: their messages share a window of
/// unconfirmed messages on the channel.
///
/// When the connection drops (broker restart, network error, missed confirms) the publisher reconnects
/// by itself with capped exponential backoff and jitter, declares its ``AMQPTopology`` again and carries
/// on. Messages whose confirm never arrived are reported as failed (thrown, or `.failure` in a batch), so
/// the caller publishes them again: delivery is at-least-once and consumers deduplicate by message id.
///
/// ```swift
/// let publisher = try await AMQPPublisher(configuration: configuration, topology: topology, logger: logger)
/// let outcome = try await publisher.publish(message, exchange: "jobs", routingKey: "xero")
/// await publisher.close()
/// ```
public final class AMQPPublisher: Sendable {
    private let mailbox: AMQPMailbox<PublisherCommand>
    private let endpoint: String

    /// Connects, declares `topology` and puts the channel into confirm mode.
    ///
    /// - Parameters:
    ///   - configuration: the broker and reconnect settings.
    ///   - topology: declared on the first connection and again after every reconnect.
    ///   - confirmWindow: at most this many messages are unconfirmed at a time; further messages wait.
    ///   - confirmTimeout: a message unconfirmed for this long counts the connection as broken; it is
    ///     reported with ``AMQPError/Code/timeout`` and the publisher reconnects.
    ///   - logger: receives debug and trace messages only.
    /// - Throws: ``AMQPError`` when the first connection, login or declaration fails.
    public init(
        configuration: AMQPConfiguration, topology: AMQPTopology = AMQPTopology(), confirmWindow: Int = 1024,
        confirmTimeout: Duration = .seconds(30), logger: Logger
    ) async throws {
        try topology.validate()
        let mailbox = try AMQPMailbox<PublisherCommand>()
        self.mailbox = mailbox
        self.endpoint = configuration.endpoint
        let settings = PublisherEngine.Settings(
            configuration: configuration, topology: topology, window: max(1, confirmWindow),
            confirmTimeout: confirmTimeout, logger: logger)
        try await withCheckedThrowingContinuation { (started: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                Thread.current.name = "amqp-publisher"  // set from inside, so Linux names the OS thread (top -H)
                PublisherEngine(settings: settings, mailbox: mailbox).run(started: started)
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit {
        mailbox.post(.shutdown)
    }

    /// Publishes one message and waits for the broker's answer.
    ///
    /// - Parameters:
    ///   - message: the message; `persistent` decides whether it is written to disk.
    ///   - exchange: the exchange; `""` is the default exchange, which routes by queue name.
    ///   - routingKey: the routing key.
    ///   - mandatory: when true (the default) an unroutable message comes back as
    ///     ``AMQPPublishOutcome/returned(replyCode:replyText:)`` instead of vanishing.
    /// - Returns: ``AMQPPublishOutcome/confirmed`` or ``AMQPPublishOutcome/returned(replyCode:replyText:)``.
    /// - Throws: ``AMQPError``: `publishNacked` when the broker refused it; `notFound` (reply 404),
    ///   `accessRefused` and other codes when the broker closed the channel because of this message, and
    ///   `channelClosed` when another message on the channel caused that (the publisher reopens the
    ///   channel for the next publish); `connectionClosed` or `timeout` when the outcome is unknown;
    ///   `connectionFailed` when the broker is unreachable; `shutDown` after ``close()``. Publish again
    ///   whenever ``AMQPError/isTransient`` is true.
    public func publish(
        _ message: AMQPMessage, exchange: String, routingKey: String, mandatory: Bool = true
    ) async throws -> AMQPPublishOutcome {
        let results = try await publish(
            batch: [AMQPPublishRequest(message, exchange: exchange, routingKey: routingKey, mandatory: mandatory)])
        return try results[0].get()
    }

    /// Publishes many messages, then waits for all their confirms together.
    ///
    /// Up to the confirm window is sent before the first confirm is awaited; confirms (including
    /// `multiple` acks) settle messages as they arrive.
    ///
    /// - Returns: one result per request, in order. A `.failure` is an ``AMQPError`` as described for
    ///   ``publish(_:exchange:routingKey:mandatory:)``; publish those messages again.
    /// - Throws: ``AMQPError`` with code `shutDown` when the publisher was closed before the batch was taken.
    public func publish(batch: [AMQPPublishRequest]) async throws -> [Result<AMQPPublishOutcome, AMQPError>] {
        guard !batch.isEmpty else { return [] }
        let endpoint = endpoint
        return try await withCheckedThrowingContinuation { continuation in
            if !mailbox.post(.publish(batch, continuation)) {
                continuation.resume(throwing: AMQPError(
                    code: .shutDown, host: endpoint, call: "basic.publish", detail: "the publisher is closed"))
            }
        }
    }

    /// Stops taking messages, waits for the confirms of those already taken (at most the confirm
    /// timeout), and closes the connection. Messages not yet sent when the connection is down fail with
    /// ``AMQPError/Code/shutDown``. Calling it again waits for the same close.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if !mailbox.post(.close(continuation)) { continuation.resume() }
        }
    }
}

typealias PublishResults = [Result<AMQPPublishOutcome, AMQPError>]

enum PublisherCommand: Sendable {
    case publish([AMQPPublishRequest], CheckedContinuation<PublishResults, any Error>)
    case close(CheckedContinuation<Void, Never>)
    case shutdown
}

/// The messages of one `publish(batch:)` call while they are in flight. Thread-confined.
final class PendingBatch {
    let requests: [AMQPPublishRequest]
    private var results: [Result<AMQPPublishOutcome, AMQPError>?]
    private var remaining: Int
    /// Returns (`basic.return`) seen for an index; the ack that follows settles it as `.returned`.
    var returns: [Int: AMQPPublishOutcome] = [:]
    private let continuation: CheckedContinuation<PublishResults, any Error>

    init(requests: [AMQPPublishRequest], continuation: CheckedContinuation<PublishResults, any Error>) {
        self.requests = requests
        self.results = Array(repeating: nil, count: requests.count)
        self.remaining = requests.count
        self.continuation = continuation
    }

    func settle(_ index: Int, _ result: Result<AMQPPublishOutcome, AMQPError>) {
        guard results[index] == nil else { return }
        results[index] = result
        remaining -= 1
        if remaining == 0 {
            continuation.resume(returning: results.map { $0! })
        }
    }

    func confirm(_ index: Int) {
        settle(index, .success(returns[index] ?? .confirmed))
    }
}

/// Published messages waiting for their confirm, indexed by the channel's publish sequence number.
struct ConfirmWindow {
    struct Slot {
        let batch: PendingBatch
        let index: Int
        let sentAt: ContinuousClock.Instant
    }

    private var slots: [Slot?] = []
    private var head = 0
    /// Sequence number of `slots[head]`.
    private var firstSequence: UInt64 = 1
    private(set) var count = 0

    /// Records the next publish; its sequence number is the channel's next one.
    mutating func append(_ slot: Slot) {
        slots.append(slot)
        count += 1
    }

    /// The oldest unconfirmed message.
    var oldest: Slot? { head < slots.count ? slots[head] : nil }

    /// Removes and returns the slot for `sequence` (and, with `multiple`, every older one).
    mutating func take(_ sequence: UInt64, multiple: Bool) -> [Slot] {
        guard sequence >= firstSequence else { return [] }
        let last = head + Int(sequence - firstSequence)
        guard last < slots.count else { return multiple ? takeAll() : [] }
        var taken: [Slot] = []
        for index in (multiple ? head : last)...last {
            if let slot = slots[index] {
                taken.append(slot)
                slots[index] = nil
                count -= 1
            }
        }
        compact()
        return taken
    }

    /// Removes everything and restarts numbering at 1 (a new channel in confirm mode).
    mutating func takeAll() -> [Slot] {
        let taken = slots[head...].compactMap { $0 }
        slots.removeAll(keepingCapacity: true)
        head = 0
        firstSequence = 1
        count = 0
        return taken
    }

    /// The first unconfirmed slot (oldest first) for which `predicate` holds.
    func first(where predicate: (Slot) -> Bool) -> Slot? {
        for index in head..<slots.count {
            if let slot = slots[index], predicate(slot) { return slot }
        }
        return nil
    }

    private mutating func compact() {
        while head < slots.count, slots[head] == nil {
            head += 1
            firstSequence += 1
        }
        if head == slots.count {
            slots.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 4096 {
            slots.removeFirst(head)
            head = 0
        }
    }
}

/// The publisher's thread: owns the connection, the backlog and the confirm window.
final class PublisherEngine {
    struct Settings: Sendable {
        let configuration: AMQPConfiguration
        let topology: AMQPTopology
        let window: Int
        let confirmTimeout: Duration
        let logger: Logger
    }

    private struct Item {
        let batch: PendingBatch
        let index: Int
    }

    private let settings: Settings
    private let mailbox: AMQPMailbox<PublisherCommand>
    private let backoff: Backoff
    private var logger: Logger
    private var connection: AMQPConnection?
    private var backlog: [Item] = []
    private var backlogHead = 0
    private var window = ConfirmWindow()
    private var reconnectAttempt = 0
    private var reconnectAt: ContinuousClock.Instant?
    private var lastConnectError: AMQPError?
    private var stopping = false
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    private static let tick = Duration.milliseconds(200)

    init(settings: Settings, mailbox: AMQPMailbox<PublisherCommand>) {
        self.settings = settings
        self.mailbox = mailbox
        self.backoff = Backoff(
            initial: settings.configuration.reconnectBackoffMin, maximum: settings.configuration.reconnectBackoffMax)
        var logger = settings.logger
        logger[metadataKey: "amqp.host"] = "\(settings.configuration.endpoint)"
        self.logger = logger
    }

    private var endpoint: String { settings.configuration.endpoint }

    func run(started: CheckedContinuation<Void, any Error>) {
        do {
            try connect()
        } catch {
            _ = mailbox.close()
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
            if stopping, backlogHead == backlog.count, window.count == 0 { return }
            if connection == nil {
                if stopping { return }
                if let reconnectAt, ContinuousClock.now >= reconnectAt { reconnect() }
            }
            if connection != nil { flushBacklog() }
            if let connection, connection.hasBufferedInput {
                readFrames(firstWait: .zero)
                continue
            }
            var timeout = Self.tick
            if connection == nil, let reconnectAt {
                timeout = min(timeout, max(.zero, reconnectAt - ContinuousClock.now))
            }
            switch mailbox.wait(socket: connection?.socketDescriptor ?? -1, timeout: timeout) {
            case .socketReadable:
                readFrames(firstWait: .zero)
            case .timedOut where connection != nil:
                // After a quiet poll, a 1 ms wait lets rabbitmq-c send and check heartbeats.
                readFrames(firstWait: .milliseconds(1))
            case .woken, .timedOut:
                break
            }
            checkConfirmDeadline()
        }
    }

    private func handle(_ command: PublisherCommand) {
        switch command {
        case .publish(let requests, let continuation):
            let batch = PendingBatch(requests: requests, continuation: continuation)
            for index in requests.indices { backlog.append(Item(batch: batch, index: index)) }
        case .close(let waiter):
            closeWaiters.append(waiter)
            beginStopping()
        case .shutdown:
            beginStopping()
        }
    }

    private func beginStopping() {
        guard !stopping else { return }
        stopping = true
        logger.debug("AMQP publisher closing")
        for command in mailbox.close() { handle(command) }
    }

    private func shutDown() {
        if !stopping { beginStopping() }
        let error = AMQPError(code: .shutDown, host: endpoint, call: "basic.publish", detail: "the publisher is closed")
        failBacklog(error)
        for slot in window.takeAll() { slot.batch.settle(slot.index, .failure(error)) }
        connection?.close()
        connection = nil
        for waiter in closeWaiters { waiter.resume() }
        closeWaiters.removeAll()
        logger.debug("AMQP publisher closed")
    }

    // MARK: - Connection lifecycle

    private func connect() throws {
        let connection = try AMQPConnection.open(configuration: settings.configuration, logger: logger)
        do {
            try connection.declare(settings.topology)
            try connection.confirmSelect()
        } catch {
            connection.destroy()
            throw error
        }
        self.connection = connection
        _ = window.takeAll()
        reconnectAttempt = 0
        reconnectAt = nil
        lastConnectError = nil
    }

    private func reconnect() {
        do {
            try connect()
            logger.debug("AMQP publisher reconnected")
        } catch {
            let error = error as? AMQPError ?? AMQPError(code: .connectionFailed, host: endpoint, detail: "\(error)")
            logger.debug("AMQP publisher reconnect failed", metadata: [
                "amqp.attempt": "\(reconnectAttempt)", "error.code": "\(error.code)",
            ])
            lastConnectError = error
            // Waiting callers get the failure now rather than after an unbounded number of attempts.
            failBacklog(error)
            scheduleReconnect()
        }
    }

    private func scheduleReconnect() {
        reconnectAt = ContinuousClock.now + backoff.delay(attempt: reconnectAttempt)
        reconnectAttempt += 1
    }

    /// The connection is gone: every unconfirmed message fails (the caller republishes) and a reconnect
    /// is scheduled.
    private func connectionLost(_ cause: AMQPError) {
        logger.debug("AMQP publisher connection lost", metadata: ["error.code": "\(cause.code)"])
        connection?.destroy()
        connection = nil
        var failure = cause
        if failure.code != .timeout { failure.code = .connectionClosed }
        failure.call = "basic.publish"
        failure.detail = "the connection closed before the broker confirmed this message; publish it again"
            + (cause.detail.map { " (\($0))" } ?? "")
        for slot in window.takeAll() { slot.batch.settle(slot.index, .failure(failure)) }
        if !stopping { scheduleReconnect() }
    }

    // MARK: - Sending

    private func flushBacklog() {
        guard backlogHead < backlog.count else { return }
        let sentAt = ContinuousClock.now
        while backlogHead < backlog.count, window.count < settings.window, let connection {
            let item = backlog[backlogHead]
            backlogHead += 1
            window.append(.init(batch: item.batch, index: item.index, sentAt: sentAt))
            do {
                try connection.publish(item.batch.requests[item.index])
            } catch {
                connectionLost(error as? AMQPError ?? AMQPError(code: .connectionClosed, host: endpoint))
                break
            }
        }
        compactBacklog()
    }

    private func failBacklog(_ error: AMQPError) {
        while backlogHead < backlog.count {
            let item = backlog[backlogHead]
            backlogHead += 1
            item.batch.settle(item.index, .failure(error))
        }
        compactBacklog()
    }

    private func compactBacklog() {
        if backlogHead == backlog.count {
            backlog.removeAll(keepingCapacity: true)
            backlogHead = 0
        } else if backlogHead > 4096 {
            backlog.removeFirst(backlogHead)
            backlogHead = 0
        }
    }

    private func checkConfirmDeadline() {
        guard connection != nil, let oldest = window.oldest,
            ContinuousClock.now - oldest.sentAt > settings.confirmTimeout
        else { return }
        connectionLost(AMQPError(
            code: .timeout, host: endpoint, call: "basic.publish",
            detail: "no publisher confirm within \(settings.confirmTimeout)"))
    }

    // MARK: - Receiving

    private func readFrames(firstWait: Duration) {
        var wait = firstWait
        for _ in 0..<4096 {
            guard let connection, connection.isAlive else { break }
            let inbound: AMQPConnection.Inbound?
            do {
                inbound = try connection.readFrame(timeout: wait)
            } catch {
                connectionLost(error as? AMQPError ?? AMQPError(code: .connectionClosed, host: endpoint))
                return
            }
            wait = .zero
            guard let inbound else { break }
            handle(inbound)
        }
        connection?.releaseBuffers()
    }

    /// Fails every unconfirmed message after the broker closed the channel. The reply usually names the
    /// exchange at fault (`NOT_FOUND - no exchange 'x' in vhost '/'`, `access to exchange 'x' … refused`):
    /// messages for that exchange get the broker's code; the others were only caught up in it and get
    /// ``AMQPError/Code/channelClosed`` (transient), so the caller publishes them again.
    private func failAfterChannelClose(_ error: AMQPError) {
        let culprit = error.replyText.flatMap(Self.exchangeNamed(in:))
        var innocent = error
        innocent.code = .channelClosed
        innocent.detail = "the broker closed the channel because of another message; publish this one again"
        for slot in window.takeAll() {
            let exchange = slot.batch.requests[slot.index].exchange
            let failure = culprit == nil || culprit == exchange ? error : innocent
            slot.batch.settle(slot.index, .failure(failure.with(call: "basic.publish")))
        }
    }

    /// The name in `exchange 'name'` inside a broker reply text.
    static func exchangeNamed(in replyText: String) -> String? {
        guard let marker = replyText.range(of: "exchange '") else { return nil }
        let rest = replyText[marker.upperBound...]
        guard let end = rest.firstIndex(of: "'") else { return nil }
        return String(rest[..<end])
    }

    private func handle(_ inbound: AMQPConnection.Inbound) {
        switch inbound {
        case .ack(let tag, let multiple):
            for slot in window.take(tag, multiple: multiple) { slot.batch.confirm(slot.index) }
        case .nack(let tag, let multiple):
            let error = AMQPError(
                code: .publishNacked, host: endpoint, call: "basic.publish",
                detail: "the broker did not accept responsibility for the message; publish it again")
            for slot in window.take(tag, multiple: multiple) { slot.batch.settle(slot.index, .failure(error)) }
        case .returned(let replyCode, let replyText, let exchange, let routingKey, let message):
            // A return carries no sequence number; it precedes the ack of the same message, and the
            // channel handles publishes in order, so the oldest matching unconfirmed message is it.
            let match = window.first { slot in
                let request = slot.batch.requests[slot.index]
                return slot.batch.returns[slot.index] == nil && request.mandatory && request.exchange == exchange
                    && request.routingKey == routingKey && request.message.messageID == message.messageID
                    && request.message.body == message.body
            }
            if let match {
                match.batch.returns[match.index] = .returned(replyCode: replyCode, replyText: replyText)
            } else {
                logger.debug("AMQP return matched no unconfirmed message", metadata: ["amqp.reply_code": "\(replyCode)"])
            }
        case .channelClosed(let error):
            logger.debug("AMQP publisher channel closed by broker", metadata: ["amqp.reply_code": "\(error.replyCode ?? 0)"])
            failAfterChannelClose(error)
            guard let connection else { return }
            do {
                try connection.ensureChannel()
                try connection.confirmSelect()
            } catch {
                connectionLost(error as? AMQPError ?? AMQPError(code: .channelClosed, host: endpoint))
            }
        case .blocked(let reason):
            logger.debug("AMQP connection blocked by broker", metadata: ["amqp.reason": "\(reason)"])
        case .unblocked:
            logger.debug("AMQP connection unblocked")
        case .consumerCancelled, .other:
            break
        }
    }
}
