internal import Glibc

/// Settings of an ``HTTPClient``, fixed when the client is created.
///
/// Defaults suit calls to ERP APIs: TLS verified against the system trust store, redirects not
/// followed (a redirect to another host is returned to the caller, never followed silently),
/// HTTP/2 used where the server offers it over TLS.
public struct HTTPClientConfiguration: Sendable {
    /// What to do with a 3xx response that has a `Location`.
    public struct RedirectPolicy: Hashable, Sendable, CustomStringConvertible {
        /// At most this many redirects are followed; 0 means redirects are returned as responses.
        public let maximumCount: Int

        /// Return 3xx responses to the caller (the default).
        public static let doNotFollow = RedirectPolicy(maximumCount: 0)
        /// Follow up to `max` redirects (http and https only); more fail with
        /// ``HTTPClientError/Code-swift.struct/tooManyRedirects``. As in browsers, a POST answered
        /// with 301/302/303 continues as a GET.
        public static func follow(max: Int) -> RedirectPolicy { RedirectPolicy(maximumCount: Swift.max(max, 0)) }

        /// `doNotFollow` or `follow(max: N)`.
        public var description: String { maximumCount == 0 ? "doNotFollow" : "follow(max: \(maximumCount))" }
    }

    /// Limit for establishing a connection (TCP plus TLS handshake). Default: 10 s.
    public var connectTimeout: Duration = .seconds(10)
    /// Limit for a whole exchange, including time waiting for a free connection, connecting and
    /// redirects. ``HTTPRequest/timeout`` overrides it per request. Default: 30 s.
    public var requestTimeout: Duration = .seconds(30)
    /// Open connections allowed to one host (`CURLMOPT_MAX_HOST_CONNECTIONS`); further requests
    /// wait inside the client. With HTTP/2 many requests share one connection. Default: 16.
    public var maxConnectionsPerHost: Int = 16
    /// Open connections allowed in total (`CURLMOPT_MAX_TOTAL_CONNECTIONS`). Default: 128.
    public var maxTotalConnections: Int = 128
    /// Redirect handling. Default: ``RedirectPolicy/doNotFollow``.
    public var followRedirects: RedirectPolicy = .doNotFollow
    /// Whether the server's certificate chain and host name are verified. Default: `true`.
    /// Turning it off is logged at debug level when the client starts; never do it in production.
    public var verifyTLS: Bool = true
    /// A PEM file of CA certificates (or a self-signed certificate) to trust instead of the
    /// system store (`CURLOPT_CAINFO`); it must be readable when the client starts.
    /// Default: `nil` (system store).
    public var trustedCAFile: String?
    /// Negotiate HTTP/2 over TLS when the server offers it (ALPN); plain `http://` stays HTTP/1.1.
    /// Default: `true`.
    public var preferHTTP2: Bool = true
    /// The `User-Agent` header. Default: `"Ledgerline-HTTP"`.
    public var userAgent: String = "Ledgerline-HTTP"
    /// Responses with a larger body fail with ``HTTPClientError/Code-swift.struct/responseTooLarge``
    /// instead of growing memory without bound. Default: 16 MiB.
    public var maxResponseBytes: Int = 16 << 20

    /// Creates the default configuration; change fields as needed.
    public init() {}

    /// Checks the values, throwing ``HTTPClientError/Code-swift.struct/invalidConfiguration``.
    func validate() throws {
        func fail(_ what: String) -> HTTPClientError { HTTPClientError(code: .invalidConfiguration, detail: what) }
        guard connectTimeout > .zero else { throw fail("connectTimeout must be positive") }
        guard requestTimeout > .zero else { throw fail("requestTimeout must be positive") }
        guard maxConnectionsPerHost > 0 else { throw fail("maxConnectionsPerHost must be positive") }
        guard maxTotalConnections > 0 else { throw fail("maxTotalConnections must be positive") }
        guard maxResponseBytes > 0 else { throw fail("maxResponseBytes must be positive") }
        guard HTTPHeaders.isValidValue(userAgent) else { throw fail("userAgent contains CR, LF or NUL") }
        if let trustedCAFile, access(trustedCAFile, R_OK) != 0 {
            throw fail("trustedCAFile \(trustedCAFile) is not readable")
        }
    }
}

extension Duration {
    /// Whole milliseconds, rounded up so that a tiny positive duration never becomes "no limit" (0).
    var curlMilliseconds: Int {
        let (seconds, attoseconds) = components
        let ms = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int(clamping: max(ms, 1))
    }

    /// From libcurl's seconds-as-double timings.
    static func curlSeconds(_ seconds: Double) -> Duration { .microseconds(Int64((seconds * 1_000_000).rounded())) }
}
