/// An error from the AMQP wrapper: a connection, a channel, the broker or a local check failed.
///
/// ``code`` is what callers branch on. ``replyCode`` and ``replyText`` come from the broker when it
/// closed a channel or the connection (for example `404` and `NOT_FOUND - no exchange 'x' in vhost '/'`).
/// ``description`` is safe to log: it never contains a password or a message body. Broker reply texts
/// name exchanges, queues and virtual hosts, never credentials.
public struct AMQPError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong, as a value that can grow without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case connectionFailed, authenticationFailed, accessRefused, connectionClosed, channelClosed
            case timeout, invalidURL, invalidArgument, publishNacked, notFound, preconditionFailed
            case resourceLocked, protocolError, shutDown, staleDelivery
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The TCP connection could not be opened (refused, unreachable, name not resolved, timed out).
        public static let connectionFailed = Code(.connectionFailed)
        /// The broker refused the user name or password (`403 ACCESS_REFUSED` during login).
        public static let authenticationFailed = Code(.authenticationFailed)
        /// The broker refused access to a virtual host or resource (`403` after login, `530 NOT_ALLOWED`).
        public static let accessRefused = Code(.accessRefused)
        /// The connection was closed or dropped (broker restart, socket error, missed heartbeats).
        public static let connectionClosed = Code(.connectionClosed)
        /// The broker closed the channel with a reply code that has no more specific code here.
        public static let channelClosed = Code(.channelClosed)
        /// An operation did not finish in time (connect, RPC, publisher confirm).
        public static let timeout = Code(.timeout)
        /// An `amqp://` URL could not be parsed.
        public static let invalidURL = Code(.invalidURL)
        /// A configuration or topology value was rejected before anything was sent.
        public static let invalidArgument = Code(.invalidArgument)
        /// The broker answered a publish with `basic.nack`: it did not take responsibility for it.
        public static let publishNacked = Code(.publishNacked)
        /// `404 NOT_FOUND`: the exchange or queue does not exist.
        public static let notFound = Code(.notFound)
        /// `406 PRECONDITION_FAILED`: for example a queue redeclared with different arguments.
        public static let preconditionFailed = Code(.preconditionFailed)
        /// `405 RESOURCE_LOCKED`: for example an exclusive queue used by another connection.
        public static let resourceLocked = Code(.resourceLocked)
        /// The broker or the library reported a protocol violation or an unexpected frame.
        public static let protocolError = Code(.protocolError)
        /// The publisher, consumer or admin connection was closed and takes no more work.
        public static let shutDown = Code(.shutDown)
        /// An ack, nack or reject named a delivery from a connection that no longer exists. The broker
        /// redelivers such messages, so the outcome is at-least-once; the ack itself was dropped.
        public static let staleDelivery = Code(.staleDelivery)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// The AMQP reply code from the broker's `channel.close` / `connection.close`, when there was one.
    public var replyCode: UInt16?
    /// The broker's reply text (for example `NOT_FOUND - no queue 'jobs' in vhost '/'`).
    public var replyText: String?
    /// `host:port` of the broker.
    public var host: String?
    /// The library call or AMQP method that failed (for example `amqp_login`, `basic.publish`).
    public var call: String?
    /// The rabbitmq-c status code (negative `AMQP_STATUS_*`), when the library reported the error.
    public var libraryStatus: Int32?
    /// A short explanation (a library error string or a validation message). Never a secret.
    public var detail: String?
    /// Where the error was created.
    public var file: String
    /// Where the error was created.
    public var line: Int

    /// Creates an error.
    public init(
        code: Code, replyCode: UInt16? = nil, replyText: String? = nil, host: String? = nil, call: String? = nil,
        libraryStatus: Int32? = nil, detail: String? = nil, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.replyCode = replyCode
        self.replyText = replyText
        self.host = host
        self.call = call
        self.libraryStatus = libraryStatus
        self.detail = detail
        self.file = file
        self.line = line
    }

    public var description: String {
        var parts = ["\(code)"]
        if let call { parts.append("call: \(call)") }
        if let host { parts.append("host: \(host)") }
        if let replyCode { parts.append("reply: \(replyCode)\(replyText.map { " \($0)" } ?? "")") }
        if let detail { parts.append(detail) }
        return "AMQPError(\(parts.joined(separator: ", ")))"
    }

    public var debugDescription: String {
        var text = description
        if let libraryStatus { text += " [library status \(libraryStatus)]" }
        return text + " at \(file):\(line)"
    }

    /// True when trying again may succeed (a connect failed, the connection or channel closed, a confirm
    /// timed out, a publish was nacked). Broker refusals such as `404`, `403` or `406` are not transient.
    public var isTransient: Bool {
        [.connectionFailed, .connectionClosed, .channelClosed, .timeout, .publishNacked].contains(code)
    }

    /// Returns a copy that names `call` (used when a lower layer did not know the API-level call).
    func with(call: String) -> AMQPError {
        var copy = self
        copy.call = call
        return copy
    }
}
