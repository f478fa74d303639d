import Foundation

/// A message body with its AMQP basic properties.
public struct AMQPMessage: Sendable, Hashable {
    /// The payload. Never logged by this library.
    public var body: [UInt8]
    /// Application message id; consumers deduplicate on it.
    public var messageID: String?
    /// Correlation id, for example the id of the event that caused this message.
    public var correlationID: String?
    /// MIME type of the body, for example `application/json`.
    public var contentType: String?
    /// Content encoding of the body, for example `gzip`.
    public var contentEncoding: String?
    /// Application message type name.
    public var type: String?
    /// Creation time, sent with one-second resolution.
    public var timestamp: Date?
    /// When true the message is written to disk (delivery mode 2). Default true.
    public var persistent: Bool
    /// Application headers. The broker adds `x-death`, `x-first-death-reason` and, for quorum queues,
    /// `x-delivery-count` on redelivered or dead-lettered messages.
    public var headers: [String: AMQPFieldValue]
    /// Per-message time to live; expired messages are dropped or dead-lettered. Whole milliseconds.
    public var expiration: Duration?
    /// Message priority (0-9), only meaningful for priority queues.
    public var priority: UInt8?
    /// Name of a reply queue, for request/reply patterns.
    public var replyTo: String?
    /// User id; RabbitMQ checks that it equals the connection's user (validated user id).
    public var userID: String?
    /// Name of the sending application.
    public var appID: String?

    /// Creates a message.
    public init(
        body: [UInt8], messageID: String? = nil, correlationID: String? = nil, contentType: String? = nil,
        contentEncoding: String? = nil, type: String? = nil, timestamp: Date? = nil, persistent: Bool = true,
        headers: [String: AMQPFieldValue] = [:], expiration: Duration? = nil, priority: UInt8? = nil,
        replyTo: String? = nil, userID: String? = nil, appID: String? = nil
    ) {
        self.body = body
        self.messageID = messageID
        self.correlationID = correlationID
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.type = type
        self.timestamp = timestamp
        self.persistent = persistent
        self.headers = headers
        self.expiration = expiration
        self.priority = priority
        self.replyTo = replyTo
        self.userID = userID
        self.appID = appID
    }

    /// Creates a message whose body is the UTF-8 encoding of `text`.
    public init(text: String, messageID: String? = nil, contentType: String? = "text/plain", persistent: Bool = true) {
        self.init(body: Array(text.utf8), messageID: messageID, contentType: contentType, persistent: persistent)
    }
}

/// One message to publish, with where it goes.
public struct AMQPPublishRequest: Sendable {
    /// The message.
    public var message: AMQPMessage
    /// Exchange name; `""` is the default exchange, which routes by queue name.
    public var exchange: String
    /// Routing key.
    public var routingKey: String
    /// When true an unroutable message comes back as ``AMQPPublishOutcome/returned(replyCode:replyText:)``
    /// instead of being dropped silently.
    public var mandatory: Bool

    /// Creates a request.
    public init(_ message: AMQPMessage, exchange: String, routingKey: String, mandatory: Bool = true) {
        self.message = message
        self.exchange = exchange
        self.routingKey = routingKey
        self.mandatory = mandatory
    }
}

/// What the broker did with a published message.
public enum AMQPPublishOutcome: Sendable, Hashable {
    /// The broker confirmed the message: it is on disk (or in a quorum) in every queue it was routed to.
    case confirmed
    /// A `mandatory` message could not be routed to any queue and came back (`312 NO_ROUTE`). The broker
    /// confirmed it afterwards, but it is stored nowhere.
    case returned(replyCode: UInt16, replyText: String)
}

/// A message delivered to an ``AMQPConsumer``. Settle it with ``AMQPConsumer/ack(_:multiple:)``,
/// ``AMQPConsumer/nack(_:multiple:requeue:)`` or ``AMQPConsumer/reject(_:requeue:)``.
public struct AMQPDelivery: Sendable {
    /// The message with its properties and headers.
    public var message: AMQPMessage
    /// The broker's delivery tag on the consumer's channel.
    public var deliveryTag: UInt64
    /// True when the broker delivered this message before (to this or another consumer).
    public var redelivered: Bool
    /// The exchange the message was published to.
    public var exchange: String
    /// The routing key it was published with.
    public var routingKey: String
    /// Which connection of the consumer received it (see ``AMQPConsumer/connectionGeneration``);
    /// acks from an older connection are stale.
    public let connectionGeneration: UInt64

    init(message: AMQPMessage, deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String,
         connectionGeneration: UInt64) {
        self.message = message
        self.deliveryTag = deliveryTag
        self.redelivered = redelivered
        self.exchange = exchange
        self.routingKey = routingKey
        self.connectionGeneration = connectionGeneration
    }

    /// The message body.
    public var body: [UInt8] { message.body }
    /// The message headers.
    public var headers: [String: AMQPFieldValue] { message.headers }
    /// The message id.
    public var messageID: String? { message.messageID }
    /// How often a quorum queue delivered this message before (`x-delivery-count`), if it says.
    public var deliveryCount: Int64? { message.headers["x-delivery-count"]?.intValue }
    /// Why the message was first dead-lettered (`x-first-death-reason`: `rejected`, `expired`, `maxlen`,
    /// `delivery_limit`), if it was.
    public var firstDeathReason: String? { message.headers["x-first-death-reason"]?.stringValue }
}
