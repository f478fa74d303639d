/// An exchange to declare.
public struct AMQPExchange: Sendable, Hashable {
    /// How an exchange routes.
    public enum Kind: String, Sendable, Hashable {
        /// Routes to queues whose binding key equals the routing key.
        case direct
        /// Routes by pattern (`*` one word, `#` any words).
        case topic
        /// Routes to every bound queue.
        case fanout
        /// Routes by message headers.
        case headers
    }

    /// Exchange name.
    public var name: String
    /// Routing type.
    public var kind: Kind
    /// Survives a broker restart. Default true.
    public var durable: Bool
    /// Deleted when its last binding goes. Default false.
    public var autoDelete: Bool
    /// Optional arguments (for example `alternate-exchange`).
    public var arguments: [String: AMQPFieldValue]

    /// Creates an exchange description.
    public init(name: String, kind: Kind = .direct, durable: Bool = true, autoDelete: Bool = false,
                arguments: [String: AMQPFieldValue] = [:]) {
        self.name = name
        self.kind = kind
        self.durable = durable
        self.autoDelete = autoDelete
        self.arguments = arguments
    }
}

/// A queue to declare, with the arguments this project relies on spelled out.
///
/// ```swift
/// let jobs = AMQPQueue(name: "jobs.xero", quorum: true, deliveryLimit: 5,
///                      deadLetterExchange: "dlx", deadLetterRoutingKey: "jobs.xero.dead",
///                      deadLetterStrategy: .atLeastOnce, overflow: .rejectPublish, maxLength: 1_000_000)
/// ```
public struct AMQPQueue: Sendable, Hashable {
    /// What a quorum queue does with dead-lettered messages.
    public enum DeadLetterStrategy: String, Sendable, Hashable {
        /// The default: dead-lettered messages may be lost if the target is unavailable.
        case atMostOnce = "at-most-once"
        /// Dead-lettering with confirms; needs `overflow: .rejectPublish` (else RabbitMQ silently falls back).
        case atLeastOnce = "at-least-once"
    }

    /// What happens when the queue reaches `maxLength`.
    public enum Overflow: String, Sendable, Hashable {
        /// Drop (or dead-letter) the oldest message.
        case dropHead = "drop-head"
        /// Refuse new messages: publishers get `basic.nack`. Needed for at-least-once dead-lettering.
        case rejectPublish = "reject-publish"
        /// Refuse new messages and dead-letter them (classic queues only).
        case rejectPublishDLX = "reject-publish-dlx"
    }

    /// Queue name.
    public var name: String
    /// Survives a broker restart. Quorum queues are always durable. Default true.
    public var durable: Bool
    /// Only this connection may use it; deleted when the connection closes. Default false.
    public var exclusive: Bool
    /// Deleted when its last consumer goes. Default false.
    public var autoDelete: Bool
    /// A replicated quorum queue (`x-queue-type: quorum`) instead of a classic queue.
    public var quorum: Bool
    /// `x-delivery-limit`: after this many redeliveries the message is dead-lettered (quorum queues).
    public var deliveryLimit: Int?
    /// `x-dead-letter-exchange`.
    public var deadLetterExchange: String?
    /// `x-dead-letter-routing-key`; without it the original routing key is kept.
    public var deadLetterRoutingKey: String?
    /// `x-dead-letter-strategy` (quorum queues).
    public var deadLetterStrategy: DeadLetterStrategy?
    /// `x-overflow`.
    public var overflow: Overflow?
    /// `x-message-ttl`, whole milliseconds.
    public var messageTTL: Duration?
    /// `x-max-length` in messages.
    public var maxLength: Int?
    /// Further arguments, merged last (they win over the fields above).
    public var extraArguments: [String: AMQPFieldValue]

    /// Creates a queue description.
    public init(
        name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false, quorum: Bool = false,
        deliveryLimit: Int? = nil, deadLetterExchange: String? = nil, deadLetterRoutingKey: String? = nil,
        deadLetterStrategy: DeadLetterStrategy? = nil, overflow: Overflow? = nil, messageTTL: Duration? = nil,
        maxLength: Int? = nil, extraArguments: [String: AMQPFieldValue] = [:]
    ) {
        self.name = name
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.quorum = quorum
        self.deliveryLimit = deliveryLimit
        self.deadLetterExchange = deadLetterExchange
        self.deadLetterRoutingKey = deadLetterRoutingKey
        self.deadLetterStrategy = deadLetterStrategy
        self.overflow = overflow
        self.messageTTL = messageTTL
        self.maxLength = maxLength
        self.extraArguments = extraArguments
    }

    /// The `x-…` arguments sent with `queue.declare`.
    public var arguments: [String: AMQPFieldValue] {
        var arguments: [String: AMQPFieldValue] = [:]
        if quorum { arguments["x-queue-type"] = "quorum" }
        if let deliveryLimit { arguments["x-delivery-limit"] = .int(Int64(deliveryLimit)) }
        if let deadLetterExchange { arguments["x-dead-letter-exchange"] = .string(deadLetterExchange) }
        if let deadLetterRoutingKey { arguments["x-dead-letter-routing-key"] = .string(deadLetterRoutingKey) }
        if let deadLetterStrategy { arguments["x-dead-letter-strategy"] = .string(deadLetterStrategy.rawValue) }
        if let overflow { arguments["x-overflow"] = .string(overflow.rawValue) }
        if let messageTTL { arguments["x-message-ttl"] = .int(messageTTL.milliseconds) }
        if let maxLength { arguments["x-max-length"] = .int(Int64(maxLength)) }
        arguments.merge(extraArguments) { _, extra in extra }
        return arguments
    }

    /// Checks combinations the broker would reject or, worse, silently ignore.
    ///
    /// - Throws: ``AMQPError`` with code ``AMQPError/Code/invalidArgument``.
    public func validate() throws {
        func invalid(_ reason: String) -> AMQPError {
            AMQPError(code: .invalidArgument, call: "queue.declare", detail: "queue \(name): \(reason)")
        }
        if quorum {
            if !durable || exclusive || autoDelete {
                throw invalid("a quorum queue must be durable, not exclusive and not auto-delete")
            }
            if overflow == .dropHead, deadLetterStrategy == .atLeastOnce {
                throw invalid("x-dead-letter-strategy at-least-once needs x-overflow reject-publish")
            }
            if deadLetterStrategy == .atLeastOnce, overflow == nil {
                throw invalid("x-dead-letter-strategy at-least-once needs x-overflow reject-publish")
            }
        } else {
            if deliveryLimit != nil { throw invalid("x-delivery-limit needs a quorum queue") }
            if deadLetterStrategy != nil { throw invalid("x-dead-letter-strategy needs a quorum queue") }
        }
        if deadLetterStrategy == .atLeastOnce, deadLetterExchange == nil {
            throw invalid("x-dead-letter-strategy at-least-once needs a dead-letter exchange")
        }
        if let deliveryLimit, deliveryLimit < 0 { throw invalid("x-delivery-limit must not be negative") }
        if let maxLength, maxLength < 0 { throw invalid("x-max-length must not be negative") }
        if name.utf8.count > 255 { throw invalid("the name is longer than 255 bytes") }
    }
}

/// A binding of a queue to an exchange.
public struct AMQPBinding: Sendable, Hashable {
    /// Queue name.
    public var queue: String
    /// Exchange name.
    public var exchange: String
    /// Routing key (a pattern for topic exchanges).
    public var routingKey: String
    /// Binding arguments (for headers exchanges).
    public var arguments: [String: AMQPFieldValue]

    /// Creates a binding.
    public init(queue: String, exchange: String, routingKey: String, arguments: [String: AMQPFieldValue] = [:]) {
        self.queue = queue
        self.exchange = exchange
        self.routingKey = routingKey
        self.arguments = arguments
    }
}

/// Exchanges, queues and bindings that belong together; declared in that order.
///
/// Declare it once, from one place, before consumers start: RabbitMQ 3.10 can crash a channel when
/// several clients declare the same new quorum queue at the same moment. Consumers then only check
/// their queue passively (``AMQPAdmin/queueStatus(_:)``).
public struct AMQPTopology: Sendable, Hashable {
    /// Exchanges, declared first.
    public var exchanges: [AMQPExchange]
    /// Queues, declared second.
    public var queues: [AMQPQueue]
    /// Bindings, declared last.
    public var bindings: [AMQPBinding]

    /// Creates a topology.
    public init(exchanges: [AMQPExchange] = [], queues: [AMQPQueue] = [], bindings: [AMQPBinding] = []) {
        self.exchanges = exchanges
        self.queues = queues
        self.bindings = bindings
    }

    /// True when there is nothing to declare.
    public var isEmpty: Bool { exchanges.isEmpty && queues.isEmpty && bindings.isEmpty }

    /// Validates every queue.
    ///
    /// - Throws: ``AMQPError`` with code ``AMQPError/Code/invalidArgument``.
    public func validate() throws {
        for queue in queues { try queue.validate() }
    }
}
