/// An HTTP request method such as `GET` or `POST`.
public struct HTTPMethod: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    /// The method token as sent on the wire, e.g. `"POST"`.
    public let rawValue: String

    /// Creates a method from its token. Tokens are case-sensitive; use upper case for standard methods.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// Creates a method from a literal such as `"PATCH"`.
    public init(stringLiteral value: String) { self.rawValue = value }

    /// `GET`
    public static let get = HTTPMethod(rawValue: "GET")
    /// `HEAD`: the response has no body.
    public static let head = HTTPMethod(rawValue: "HEAD")
    /// `POST`
    public static let post = HTTPMethod(rawValue: "POST")
    /// `PUT`
    public static let put = HTTPMethod(rawValue: "PUT")
    /// `PATCH`
    public static let patch = HTTPMethod(rawValue: "PATCH")
    /// `DELETE`
    public static let delete = HTTPMethod(rawValue: "DELETE")
    /// `OPTIONS`
    public static let options = HTTPMethod(rawValue: "OPTIONS")

    /// The method token.
    public var description: String { rawValue }
}

/// One HTTP request: method, absolute URL, header fields and an optional body.
///
/// ```swift
/// let request = HTTPRequest(method: .post, url: "https://api.example.com/invoices",
///                           headers: ["Content-Type": "application/json"], body: Array(json))
/// ```
///
/// `description` shows the method, scheme, host and path only: no query string, header values or
/// body, since those can carry tokens or invoice data.
public struct HTTPRequest: Sendable, CustomStringConvertible {
    /// The request method. Default: `GET`.
    public var method: HTTPMethod
    /// The absolute `http://` or `https://` URL. Other schemes are rejected with
    /// ``HTTPClientError/Code-swift.struct/invalidURL``.
    public var url: String
    /// The header fields, sent in order. A field given here replaces the client's own (`Host`,
    /// `User-Agent`, `Accept`). `Content-Length` is always computed from ``body`` (a given one is
    /// dropped), and no `Expect: 100-continue` is sent unless given here. A body without a
    /// `Content-Type` is sent without one.
    public var headers: HTTPHeaders
    /// The body, or `nil` for none. A body on `GET`/`HEAD` is not sent.
    public var body: [UInt8]?
    /// Overrides ``HTTPClientConfiguration/requestTimeout`` for this request (whole exchange,
    /// including connecting and any redirects).
    public var timeout: Duration?
    /// Send this request on a new connection and close it afterwards (`CURLOPT_FRESH_CONNECT` +
    /// `CURLOPT_FORBID_REUSE`). Default `false`.
    ///
    /// libcurl silently re-sends a request once when a reused keep-alive connection dies before any
    /// byte of the answer. Set this for requests that must never be sent twice, whatever the ERP's
    /// idempotency, e.g. an OAuth2 refresh-token grant (presenting a rotated-away refresh token
    /// revokes the grant). It costs a TCP (and TLS) handshake per request.
    public var freshConnection: Bool

    /// Creates a request.
    /// - Parameters:
    ///   - method: the method; default `GET`.
    ///   - url: the absolute URL.
    ///   - headers: header fields, in order.
    ///   - body: the body bytes, or `nil`.
    ///   - timeout: a per-request total timeout, or `nil` for the client's default.
    ///   - freshConnection: use a new connection and never reuse it (see ``freshConnection``).
    public init(
        method: HTTPMethod = .get, url: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8]? = nil,
        timeout: Duration? = nil, freshConnection: Bool = false
    ) {
        self.freshConnection = freshConnection
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    /// `METHOD scheme://host/path`, without query, headers or body.
    public var description: String {
        var shown = url
        if let cut = shown.firstIndex(where: { $0 == "?" || $0 == "#" }) { shown = String(shown[..<cut]) }
        // Drop "user:password@" from the authority.
        if let colon = shown.firstIndex(of: ":"), shown[colon...].hasPrefix("://") {
            let authorityStart = shown.index(colon, offsetBy: 3)
            let authorityEnd = shown[authorityStart...].firstIndex(of: "/") ?? shown.endIndex
            if let at = shown[authorityStart..<authorityEnd].lastIndex(of: "@") {
                shown.removeSubrange(authorityStart...at)
            }
        }
        return "\(method) \(shown)"
    }
}

extension HTTPRequest {
    /// What the client needs from ``url`` before libcurl parses it: whether it is https, and the
    /// UTF-8 offsets of its host. `nil` unless the URL starts with `http://` or `https://` (any
    /// case) and names a host. libcurl does the full parse (and rejects malformed URLs) when the
    /// transfer starts.
    var target: (isHTTPS: Bool, host: Range<Int>)? {
        var url = url
        return url.withUTF8 { bytes -> (Bool, Range<Int>)? in
            func lower(_ i: Int) -> UInt8 { bytes[i] &- 65 < 26 ? bytes[i] | 0x20 : bytes[i] }
            guard bytes.count > 7, lower(0) == UInt8(ascii: "h"), lower(1) == UInt8(ascii: "t"),
                lower(2) == UInt8(ascii: "t"), lower(3) == UInt8(ascii: "p")
            else { return nil }
            let isHTTPS = lower(4) == UInt8(ascii: "s")
            var i = isHTTPS ? 5 : 4
            guard bytes.count > i + 2, bytes[i] == UInt8(ascii: ":"), bytes[i + 1] == UInt8(ascii: "/"),
                bytes[i + 2] == UInt8(ascii: "/")
            else { return nil }
            i += 3
            var end = i
            while end < bytes.count, bytes[end] != UInt8(ascii: "/"), bytes[end] != UInt8(ascii: "?"),
                bytes[end] != UInt8(ascii: "#")
            {
                end += 1
            }
            var start = i
            for j in i..<end where bytes[j] == UInt8(ascii: "@") { start = j + 1 }  // after user:password@
            var hostEnd = start
            if start < end && bytes[start] == UInt8(ascii: "[") {  // [IPv6]
                while hostEnd < end && bytes[hostEnd] != UInt8(ascii: "]") { hostEnd += 1 }
                hostEnd = min(hostEnd + 1, end)
            } else {
                while hostEnd < end && bytes[hostEnd] != UInt8(ascii: ":") { hostEnd += 1 }
            }
            return hostEnd > start ? (isHTTPS, start..<hostEnd) : nil
        }
    }

    /// The host for errors and logs (never the path, query or credentials).
    var host: String? {
        guard let range = target?.host else { return nil }
        let utf8 = url.utf8
        return String(
            utf8[
                utf8.index(
                    utf8.startIndex, offsetBy: range.lowerBound)..<utf8.index(
                        utf8.startIndex, offsetBy: range.upperBound)])
    }
}
