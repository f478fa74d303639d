/// The HTTP protocol version a response arrived with.
public struct HTTPVersion: Hashable, Sendable, CustomStringConvertible {
    /// The major version (1, 2 or 3; 0 when unknown).
    public var major: Int
    /// The minor version.
    public var minor: Int

    /// Creates a version.
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// HTTP/1.0
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    /// HTTP/1.1
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)
    /// HTTP/2
    public static let http2 = HTTPVersion(major: 2, minor: 0)
    /// HTTP/3
    public static let http3 = HTTPVersion(major: 3, minor: 0)

    /// `HTTP/1.1`, `HTTP/2`, …
    public var description: String { major >= 2 ? "HTTP/\(major)" : "HTTP/\(major).\(minor)" }
}

/// Timing and connection facts about one exchange, as libcurl measured them.
///
/// Times are measured from the start of the transfer (after it left the client's queue).
public struct HTTPTransferMetrics: Sendable, Hashable {
    /// New connections this exchange had to open (`CURLINFO_NUM_CONNECTS`): 0 when it reused a
    /// kept-alive (or multiplexed) connection.
    public var connectionsOpened: Int
    /// Redirects followed (`CURLINFO_REDIRECT_COUNT`).
    public var redirectCount: Int
    /// The local TCP port of the (last) connection used (`CURLINFO_LOCAL_PORT`).
    public var localPort: Int
    /// Until the TCP connection was established (0 when reused).
    public var connectTime: Duration
    /// Until the TLS handshake was done (0 for plain HTTP or a reused connection).
    public var tlsHandshakeTime: Duration
    /// Until the first response byte arrived.
    public var timeToFirstByte: Duration
    /// The whole exchange.
    public var totalTime: Duration

    /// Creates metrics; everything defaults to zero (for stub transports).
    public init(
        connectionsOpened: Int = 0, redirectCount: Int = 0, localPort: Int = 0, connectTime: Duration = .zero,
        tlsHandshakeTime: Duration = .zero, timeToFirstByte: Duration = .zero, totalTime: Duration = .zero
    ) {
        self.connectionsOpened = connectionsOpened
        self.redirectCount = redirectCount
        self.localPort = localPort
        self.connectTime = connectTime
        self.tlsHandshakeTime = tlsHandshakeTime
        self.timeToFirstByte = timeToFirstByte
        self.totalTime = totalTime
    }
}

/// A complete HTTP response: any status (4xx and 5xx are responses, not errors), headers and body.
public struct HTTPResponse: Sendable {
    /// The status code, e.g. 201.
    public var status: Int
    /// The protocol version of the response.
    public var version: HTTPVersion
    /// The header fields of the final response (not of redirects or interim 1xx responses).
    public var headers: HTTPHeaders
    /// The body bytes (empty for `HEAD` and bodiless statuses).
    public var body: [UInt8]
    /// Timing and connection facts.
    public var metrics: HTTPTransferMetrics

    /// Creates a response (stub transports use this).
    public init(
        status: Int, version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = [],
        metrics: HTTPTransferMetrics = HTTPTransferMetrics()
    ) {
        self.status = status
        self.version = version
        self.headers = headers
        self.body = body
        self.metrics = metrics
    }

    /// The first value of the header field `name` (case-insensitive), or `nil`.
    public func header(_ name: String) -> String? { headers[name] }
}
