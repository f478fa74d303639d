internal import CRabbitMQ
internal import Glibc
import Logging

/// How many messages a queue holds and how many consumers it has (from a passive `queue.declare`).
public struct AMQPQueueStatus: Sendable, Hashable {
    /// Queue name.
    public var name: String
    /// Messages ready for delivery (not counting unacknowledged ones).
    public var messageCount: Int
    /// Active consumers.
    public var consumerCount: Int
}

/// One rabbitmq-c connection with one channel (number 1).
///
/// Not thread-safe and deliberately not `Sendable`: an instance is created, used and destroyed on one
/// thread (a publisher's or consumer's own thread, or the admin's `IOThread`). After any socket error or
/// a broker `connection.close` the handle is destroyed at once and ``isAlive`` turns false; the owner
/// then opens a new connection.
final class AMQPConnection {
    let configuration: AMQPConfiguration
    let logger: Logger
    private var state: amqp_connection_state_t?
    private(set) var channelOpen = false
    let channel: amqp_channel_t = 1
    let arena = CArena()

    var endpoint: String { configuration.endpoint }
    var isAlive: Bool { state != nil }

    private init(configuration: AMQPConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    deinit { destroy() }

    /// Connects, logs in and opens channel 1.
    ///
    /// - Throws: ``AMQPError``: `connectionFailed` (naming `host:port`) when the socket cannot be opened,
    ///   `authenticationFailed` for a refused login, `accessRefused` for a refused virtual host,
    ///   `timeout` when the handshake stalls.
    static func open(configuration: AMQPConfiguration, logger: Logger) throws -> AMQPConnection {
        let connection = AMQPConnection(configuration: configuration, logger: logger)
        do {
            try connection.connect()
        } catch {
            connection.destroy()
            throw error
        }
        return connection
    }

    private func connect() throws {
        guard let state = amqp_new_connection() else {
            throw AMQPError(code: .connectionFailed, host: endpoint, call: "amqp_new_connection", detail: "out of memory")
        }
        self.state = state
        guard let socket = amqp_tcp_socket_new(state) else {
            throw AMQPError(code: .connectionFailed, host: endpoint, call: "amqp_tcp_socket_new", detail: "out of memory")
        }
        var connectTimeout = timeval(configuration.connectTimeout)
        let status = configuration.host.withCString { host in
            amqp_socket_open_noblock(socket, host, Int32(clamping: configuration.port), &connectTimeout)
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            var error = AMQPError(libraryStatus: status, call: "amqp_socket_open", host: endpoint, phase: .connect)
            error.detail = "could not open a TCP connection (refused, unreachable or timed out): " + (error.detail ?? "")
            throw error
        }
        var handshakeTimeout = timeval(configuration.connectTimeout)
        _ = amqp_set_handshake_timeout(state, &handshakeTimeout)
        var rpcTimeout = timeval(configuration.rpcTimeout)
        _ = amqp_set_rpc_timeout(state, &rpcTimeout)
        let heartbeat = Int32(clamping: configuration.heartbeat.components.seconds)
        let reply = configuration.virtualHost.withCString { vhost in
            configuration.user.withCString { user in
                configuration.password.withCString { password in
                    crabbitmq_login_plain(state, vhost, 0, Int32(clamping: configuration.frameMax), heartbeat, user, password)
                }
            }
        }
        try check(reply, call: "amqp_login", phase: .login)
        try ensureChannel()
        logger.debug("AMQP connection opened", metadata: ["amqp.host": "\(endpoint)"])
    }

    /// Frees the handle and closes the socket without a goodbye.
    func destroy() {
        guard let state else { return }
        self.state = nil
        channelOpen = false
        _ = amqp_destroy_connection(state)
    }

    /// Closes politely (`connection.close`, at most 2 s), then frees the handle.
    func close() {
        guard let state else { return }
        var timeout = timeval(.seconds(2))
        _ = amqp_set_rpc_timeout(state, &timeout)
        _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
        destroy()
        logger.debug("AMQP connection closed", metadata: ["amqp.host": "\(endpoint)"])
    }

    /// The socket, for `poll`; -1 when dead.
    var socketDescriptor: Int32 { state.map { amqp_get_sockfd($0) } ?? -1 }

    /// True when rabbitmq-c already holds input (queued frames or unread bytes), so `poll` on the socket
    /// would not see it.
    var hasBufferedInput: Bool {
        guard let state else { return false }
        return amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0
    }

    private func liveState(_ call: String) throws -> amqp_connection_state_t {
        guard let state else {
            throw AMQPError(code: .connectionClosed, host: endpoint, call: call, detail: "the connection is closed")
        }
        return state
    }

    // MARK: - The error funnel for RPC replies

    /// Turns an `amqp_rpc_reply_t` into success or an ``AMQPError``; answers broker close methods and
    /// destroys the handle when the connection is gone.
    func check(_ reply: amqp_rpc_reply_t, call: String, phase: AMQPError.Phase = .established) throws {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            var error = AMQPError(libraryStatus: reply.library_error, call: call, host: endpoint, phase: phase)
            if phase == .login, error.code == .connectionClosed {
                // A broker without authentication_failure_close drops the socket on a bad password.
                error.code = .authenticationFailed
                error.detail = "the broker closed the connection during login (wrong user or password?)"
            }
            destroy()
            throw error
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            throw brokerClosed(reply.reply, call: call, phase: phase)
        default:
            destroy()
            throw AMQPError(code: .protocolError, host: endpoint, call: call, detail: "no RPC reply")
        }
    }

    /// Answers a broker `channel.close` or `connection.close` and returns the error it describes.
    func brokerClosed(_ method: amqp_method_t, call: String, phase: AMQPError.Phase = .established) -> AMQPError {
        switch method.id {
        case AMQP_CONNECTION_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let error = AMQPError(
                brokerReplyCode: close.reply_code, replyText: String(amqpBytes: close.reply_text),
                connectionLevel: true, call: call, host: endpoint, phase: phase)
            if let state {
                var ok = amqp_connection_close_ok_t()
                _ = amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok)
            }
            destroy()
            return error
        case AMQP_CHANNEL_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let error = AMQPError(
                brokerReplyCode: close.reply_code, replyText: String(amqpBytes: close.reply_text),
                connectionLevel: false, call: call, host: endpoint, phase: phase)
            if let state {
                var ok = amqp_channel_close_ok_t()
                if amqp_send_method(state, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) != AMQP_STATUS_OK.rawValue {
                    destroy()
                }
            }
            channelOpen = false
            return error
        default:
            destroy()
            return AMQPError(code: .protocolError, host: endpoint, call: call,
                             detail: "unexpected method 0x\(String(method.id, radix: 16))")
        }
    }

    private func checkStatus(_ status: Int32, call: String) throws {
        guard status != AMQP_STATUS_OK.rawValue else { return }
        let error = AMQPError(libraryStatus: status, call: call, host: endpoint)
        destroy()
        throw error
    }

    // MARK: - Channel setup

    /// Opens channel 1 if the broker closed it (after a channel error such as `404`).
    func ensureChannel() throws {
        guard !channelOpen else { return }
        let state = try liveState("channel.open")
        _ = amqp_channel_open(state, channel)
        try check(amqp_get_rpc_reply(state), call: "channel.open")
        channelOpen = true
    }

    /// Puts the channel into publisher-confirm mode.
    func confirmSelect() throws {
        let state = try liveState("confirm.select")
        _ = amqp_confirm_select(state, channel)
        try check(amqp_get_rpc_reply(state), call: "confirm.select")
    }

    /// Sets the consumer prefetch (unacknowledged deliveries in flight) for the channel.
    func qos(prefetch: UInt16) throws {
        let state = try liveState("basic.qos")
        _ = amqp_basic_qos(state, channel, 0, prefetch, 0)
        try check(amqp_get_rpc_reply(state), call: "basic.qos")
    }

    // MARK: - Topology

    /// Declares exchanges, then queues, then bindings.
    func declare(_ topology: AMQPTopology) throws {
        try topology.validate()
        for exchange in topology.exchanges { try declare(exchange) }
        for queue in topology.queues { try declare(queue) }
        for binding in topology.bindings { try bind(binding) }
    }

    func declare(_ exchange: AMQPExchange) throws {
        try ensureChannel()
        let state = try liveState("exchange.declare")
        defer { arena.reset() }
        _ = amqp_exchange_declare(
            state, channel, arena.bytes(exchange.name), arena.bytes(exchange.kind.rawValue), 0,
            exchange.durable ? 1 : 0, exchange.autoDelete ? 1 : 0, 0, arena.table(exchange.arguments))
        try check(amqp_get_rpc_reply(state), call: "exchange.declare")
        logger.trace("AMQP exchange declared", metadata: ["amqp.exchange": "\(exchange.name)"])
    }

    func declare(_ queue: AMQPQueue) throws {
        try queue.validate()
        try ensureChannel()
        let state = try liveState("queue.declare")
        defer { arena.reset() }
        _ = amqp_queue_declare(
            state, channel, arena.bytes(queue.name), 0, queue.durable ? 1 : 0, queue.exclusive ? 1 : 0,
            queue.autoDelete ? 1 : 0, arena.table(queue.arguments))
        try check(amqp_get_rpc_reply(state), call: "queue.declare")
        logger.trace("AMQP queue declared", metadata: ["amqp.queue": "\(queue.name)"])
    }

    func bind(_ binding: AMQPBinding) throws {
        try ensureChannel()
        let state = try liveState("queue.bind")
        defer { arena.reset() }
        _ = amqp_queue_bind(
            state, channel, arena.bytes(binding.queue), arena.bytes(binding.exchange), arena.bytes(binding.routingKey),
            arena.table(binding.arguments))
        try check(amqp_get_rpc_reply(state), call: "queue.bind")
    }

    /// Passive `queue.declare`: the queue's counts, or nil when it does not exist.
    func queueStatus(_ name: String) throws -> AMQPQueueStatus? {
        try ensureChannel()
        let state = try liveState("queue.declare")
        defer { arena.reset() }
        let ok = amqp_queue_declare(state, channel, arena.bytes(name), 1, 0, 0, 0, amqp_table_t())
        do {
            try check(amqp_get_rpc_reply(state), call: "queue.declare(passive)")
        } catch let error as AMQPError where error.code == .notFound {
            return nil
        }
        guard let ok else { return nil }
        return AMQPQueueStatus(name: name, messageCount: Int(ok.pointee.message_count),
                               consumerCount: Int(ok.pointee.consumer_count))
    }

    /// Deletes a queue; returns how many messages it held.
    func deleteQueue(_ name: String, ifUnused: Bool, ifEmpty: Bool) throws -> Int {
        try ensureChannel()
        let state = try liveState("queue.delete")
        defer { arena.reset() }
        let ok = amqp_queue_delete(state, channel, arena.bytes(name), ifUnused ? 1 : 0, ifEmpty ? 1 : 0)
        try check(amqp_get_rpc_reply(state), call: "queue.delete")
        return Int(ok?.pointee.message_count ?? 0)
    }

    /// Removes all ready messages from a queue; returns how many.
    func purgeQueue(_ name: String) throws -> Int {
        try ensureChannel()
        let state = try liveState("queue.purge")
        defer { arena.reset() }
        let ok = amqp_queue_purge(state, channel, arena.bytes(name))
        try check(amqp_get_rpc_reply(state), call: "queue.purge")
        return Int(ok?.pointee.message_count ?? 0)
    }

    func deleteExchange(_ name: String, ifUnused: Bool) throws {
        try ensureChannel()
        let state = try liveState("exchange.delete")
        defer { arena.reset() }
        _ = amqp_exchange_delete(state, channel, arena.bytes(name), ifUnused ? 1 : 0)
        try check(amqp_get_rpc_reply(state), call: "exchange.delete")
    }

    // MARK: - Publishing

    /// Sends one `basic.publish` with its content. Does not wait for anything.
    func publish(_ request: AMQPPublishRequest) throws {
        let state = try liveState("basic.publish")
        defer { arena.reset() }
        var properties = arena.properties(for: request.message)
        let exchange = arena.bytes(request.exchange)
        let routingKey = arena.bytes(request.routingKey)
        let status = request.message.body.withUnsafeBytes { body in
            amqp_basic_publish(
                state, channel, exchange, routingKey, request.mandatory ? 1 : 0, 0, &properties,
                amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress)))
        }
        try checkStatus(status, call: "basic.publish")
    }

    // MARK: - Consuming

    /// Starts consuming `queue` with manual acks; returns the consumer tag.
    func consume(queue: String) throws -> String {
        try ensureChannel()
        let state = try liveState("basic.consume")
        defer { arena.reset() }
        let ok = amqp_basic_consume(state, channel, arena.bytes(queue), amqp_bytes_t(), 0, 0, 0, amqp_table_t())
        try check(amqp_get_rpc_reply(state), call: "basic.consume")
        return ok.map { String(amqpBytes: $0.pointee.consumer_tag) } ?? ""
    }

    /// `basic.cancel` and wait (at most `timeout`) for `cancel-ok`. Deliveries that arrive meanwhile stay
    /// queued inside rabbitmq-c and come out of later ``consume(timeout:)`` calls.
    func cancel(consumerTag: String, timeout: Duration) throws {
        let state = try liveState("basic.cancel")
        defer { arena.reset() }
        var shortTimeout = timeval(timeout)
        _ = amqp_set_rpc_timeout(state, &shortTimeout)
        _ = amqp_basic_cancel(state, channel, arena.bytes(consumerTag))
        let reply = amqp_get_rpc_reply(state)
        if self.state != nil {
            var normalTimeout = timeval(configuration.rpcTimeout)
            _ = amqp_set_rpc_timeout(state, &normalTimeout)
        }
        try check(reply, call: "basic.cancel")
    }

    func ack(deliveryTag: UInt64, multiple: Bool) throws {
        let state = try liveState("basic.ack")
        try checkStatus(amqp_basic_ack(state, channel, deliveryTag, multiple ? 1 : 0), call: "basic.ack")
    }

    func nack(deliveryTag: UInt64, multiple: Bool, requeue: Bool) throws {
        let state = try liveState("basic.nack")
        try checkStatus(amqp_basic_nack(state, channel, deliveryTag, multiple ? 1 : 0, requeue ? 1 : 0), call: "basic.nack")
    }

    func reject(deliveryTag: UInt64, requeue: Bool) throws {
        let state = try liveState("basic.reject")
        try checkStatus(amqp_basic_reject(state, channel, deliveryTag, requeue ? 1 : 0), call: "basic.reject")
    }

    /// What ``consume(timeout:)`` found.
    enum ConsumeResult {
        case delivery(deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String, message: AMQPMessage)
        case frame(Inbound)
        case timeout
    }

    /// Waits up to `timeout` for one delivery (`.zero` only looks at what is already there).
    func consume(timeout: Duration) throws -> ConsumeResult {
        let state = try liveState("amqp_consume_message")
        amqp_maybe_release_buffers(state)
        var envelope = amqp_envelope_t()
        var wait = timeval(timeout)
        let reply = amqp_consume_message(state, &envelope, &wait, 0)
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            defer { amqp_destroy_envelope(&envelope) }
            return .delivery(
                deliveryTag: envelope.delivery_tag, redelivered: envelope.redelivered != 0,
                exchange: String(amqpBytes: envelope.exchange), routingKey: String(amqpBytes: envelope.routing_key),
                message: AMQPDecoder.message(properties: envelope.message.properties, body: envelope.message.body))
        case AMQP_RESPONSE_LIBRARY_EXCEPTION where reply.library_error == AMQP_STATUS_TIMEOUT.rawValue:
            return .timeout
        case AMQP_RESPONSE_LIBRARY_EXCEPTION where reply.library_error == AMQP_STATUS_UNEXPECTED_STATE.rawValue:
            // Something other than basic.deliver came first; rabbitmq-c put it back in its queue.
            return try readFrame(timeout: .zero).map { .frame($0) } ?? .timeout
        default:
            try check(reply, call: "amqp_consume_message")
            return .timeout
        }
    }

    // MARK: - Reading frames

    /// Asynchronous methods the broker sends on its own.
    enum Inbound {
        case ack(deliveryTag: UInt64, multiple: Bool)
        case nack(deliveryTag: UInt64, multiple: Bool)
        case returned(replyCode: UInt16, replyText: String, exchange: String, routingKey: String, message: AMQPMessage)
        /// The broker cancelled our consumer (queue deleted, leader moved).
        case consumerCancelled
        /// The broker closed our channel; the connection is still usable.
        case channelClosed(AMQPError)
        case blocked(reason: String)
        case unblocked
        case other(methodID: UInt32)
    }

    /// Reads one frame: `timeout` nil blocks, `.zero` only takes what is already there. Returns nil on
    /// timeout. A broker `connection.close` or a socket error is thrown (the handle is then destroyed).
    func readFrame(timeout: Duration?) throws -> Inbound? {
        let state = try liveState("amqp_simple_wait_frame")
        var frame = amqp_frame_t()
        let status: Int32
        if let timeout {
            var wait = timeval(timeout)
            status = amqp_simple_wait_frame_noblock(state, &frame, &wait)
        } else {
            status = amqp_simple_wait_frame(state, &frame)
        }
        if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
        try checkStatus(status, call: "amqp_simple_wait_frame")
        guard frame.frame_type == AMQP_FRAME_METHOD else { return .other(methodID: 0) }
        let method = frame.payload.method
        switch method.id {
        case AMQP_BASIC_ACK_METHOD:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            return .ack(deliveryTag: ack.delivery_tag, multiple: ack.multiple != 0)
        case AMQP_BASIC_NACK_METHOD:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            return .nack(deliveryTag: nack.delivery_tag, multiple: nack.multiple != 0)
        case AMQP_BASIC_RETURN_METHOD:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let replyText = String(amqpBytes: returned.reply_text)
            let exchange = String(amqpBytes: returned.exchange)
            let routingKey = String(amqpBytes: returned.routing_key)
            var content = amqp_message_t()
            try check(amqp_read_message(state, frame.channel, &content, 0), call: "amqp_read_message")
            defer { amqp_destroy_message(&content) }
            return .returned(
                replyCode: returned.reply_code, replyText: replyText, exchange: exchange, routingKey: routingKey,
                message: AMQPDecoder.message(properties: content.properties, body: content.body))
        case AMQP_CHANNEL_CLOSE_METHOD:
            return .channelClosed(brokerClosed(method, call: "channel"))
        case AMQP_CONNECTION_CLOSE_METHOD:
            throw brokerClosed(method, call: "connection")
        case AMQP_BASIC_CANCEL_METHOD:
            return .consumerCancelled
        case AMQP_CONNECTION_BLOCKED_METHOD:
            let blocked = method.decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            return .blocked(reason: String(amqpBytes: blocked.reason))
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            return .unblocked
        default:
            return .other(methodID: method.id)
        }
    }

    /// Lets rabbitmq-c recycle the memory of frames already handled.
    func releaseBuffers() {
        if let state { amqp_maybe_release_buffers(state) }
    }
}

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(max(0, seconds)), tv_usec: Int(max(0, attoseconds / 1_000_000_000_000)))
    }
}
