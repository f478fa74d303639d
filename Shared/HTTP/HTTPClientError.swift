internal import CCurl

/// Why an HTTP exchange produced no response.
///
/// `description` is safe to log: it names the code, the host and the curl code, never the URL's
/// path or query, request headers (they carry tokens) or bodies. `debugDescription` adds libcurl's
/// messages, which can mention the host and port but not headers or bodies.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The kind of failure. New codes may be added; match with `==`, keep a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidURL, invalidRequest, invalidConfiguration, connectFailed, timedOut, tlsFailure
            case tooManyRedirects, responseTooLarge, shutDown, transport
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The URL is malformed or its scheme is not http/https. Nothing was sent.
        public static let invalidURL = Code(.invalidURL)
        /// A header name or value is invalid (e.g. contains CR/LF). Nothing was sent.
        public static let invalidRequest = Code(.invalidRequest)
        /// The ``HTTPClientConfiguration`` is invalid (e.g. a non-positive timeout).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The host name did not resolve or the TCP connection was refused/unreachable. Nothing was sent.
        public static let connectFailed = Code(.connectFailed)
        /// The connect timeout or the total request timeout expired. See
        /// ``HTTPClientError/requestMayHaveBeenSent`` before retrying non-idempotent requests.
        public static let timedOut = Code(.timedOut)
        /// TLS failed: most often the peer's certificate is not trusted or does not match the host.
        public static let tlsFailure = Code(.tlsFailure)
        /// More redirects than ``HTTPClientConfiguration/followRedirects`` allows.
        public static let tooManyRedirects = Code(.tooManyRedirects)
        /// The response body exceeded ``HTTPClientConfiguration/maxResponseBytes``.
        public static let responseTooLarge = Code(.responseTooLarge)
        /// The client was shut down before the exchange completed.
        public static let shutDown = Code(.shutDown)
        /// Any other transport failure (connection reset, protocol error, …); see ``curlCode``.
        public static let transport = Code(.transport)

        /// The code's name, e.g. `timedOut`.
        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// The libcurl `CURLcode` (or `CURLMcode` for multi-handle failures), when libcurl reported it.
    public var curlCode: Int?
    /// libcurl's text for ``curlCode`` (`curl_easy_strerror`).
    public var curlMessage: String?
    /// The transfer's detailed message (`CURLOPT_ERRORBUFFER`) or the client's own explanation.
    public var detail: String?
    /// The host the request was for, when known.
    public var host: String?
    /// `false` when the request certainly never left the client (it failed before a connection was
    /// ready to carry it), so even a non-idempotent request can be retried safely. `true` when
    /// the server may have received and acted on it.
    public var requestMayHaveBeenSent: Bool

    init(
        code: Code, curlCode: Int? = nil, curlMessage: String? = nil, detail: String? = nil, host: String? = nil,
        requestMayHaveBeenSent: Bool = false
    ) {
        self.code = code
        self.curlCode = curlCode
        self.curlMessage = curlMessage
        self.detail = detail
        self.host = host
        self.requestMayHaveBeenSent = requestMayHaveBeenSent
    }

    /// `HTTPClientError(timedOut, host: api.example.com, curl: 28)`
    public var description: String {
        var text = "HTTPClientError(\(code)"
        if let host { text += ", host: \(host)" }
        if let curlCode { text += ", curl: \(curlCode)" }
        return text + ")"
    }

    /// The description plus libcurl's messages.
    public var debugDescription: String {
        var text = description
        if let curlMessage { text += " \(curlMessage)" }
        if let detail, !detail.isEmpty { text += ": \(detail)" }
        if requestMayHaveBeenSent { text += " (request may have been sent)" }
        return text
    }
}

extension HTTPClientError {
    /// The one place where a libcurl `CURLcode` becomes an error.
    ///
    /// - Parameters:
    ///   - curlCode: the transfer's result (not `CURLE_OK`).
    ///   - errorBuffer: the text libcurl wrote to `CURLOPT_ERRORBUFFER`.
    ///   - host: the request's host.
    ///   - bodyLimitHit: the write callback refused data because of `maxResponseBytes`.
    ///   - requestMayHaveBeenSent: whether the transfer got as far as sending.
    init(curlCode: CURLcode, errorBuffer: String, host: String?, bodyLimitHit: Bool, requestMayHaveBeenSent: Bool) {
        let code: Code
        switch curlCode {
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            code = .invalidURL
        case CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT:
            code = .connectFailed
        case CURLE_OPERATION_TIMEDOUT:
            code = .timedOut
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
            CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
            CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ENGINE_NOTFOUND,
            CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_CLIENTCERT:
            code = .tlsFailure
        case CURLE_TOO_MANY_REDIRECTS:
            code = .tooManyRedirects
        case CURLE_FILESIZE_EXCEEDED:
            code = .responseTooLarge
        case CURLE_WRITE_ERROR where bodyLimitHit:
            code = .responseTooLarge
        default:
            code = .transport
        }
        self.init(
            code: code, curlCode: Int(curlCode.rawValue), curlMessage: String(cString: curl_easy_strerror(curlCode)),
            detail: errorBuffer, host: host,
            requestMayHaveBeenSent: code == .connectFailed || code == .invalidURL ? false : requestMayHaveBeenSent)
    }

    /// A multi-interface failure (`curl_multi_add_handle`, …): only resource exhaustion in practice.
    init(multiCode: CURLMcode, host: String?) {
        self.init(
            code: .transport, curlCode: Int(multiCode.rawValue),
            curlMessage: String(cString: curl_multi_strerror(multiCode)), host: host)
    }
}
