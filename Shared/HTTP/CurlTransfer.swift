internal import CCurl

/// libcurl's process-wide initialisation, done once (Swift runs a `static let` initialiser exactly
/// once, thread-safely) before the first handle is created.
enum CurlGlobal {
    static let initResult: CURLcode = curl_global_init(Int(CURL_GLOBAL_ALL))
}

/// A request that passed validation, ready for the loop thread.
struct CurlJob: Sendable {
    let id: UInt64
    let request: HTTPRequest
    /// The URL is https (HTTP/2 may be negotiated).
    let isHTTPS: Bool
    let continuation: CheckedContinuation<HTTPResponse, any Error>

    /// The request's host, for errors.
    var host: String? { request.host }
}

/// A reusable easy handle and its error buffer. Confined to the loop thread.
///
/// Options that are the same for every request of a client are set once, when the handle is
/// created; ``CurlTransfer`` sets the per-request ones on each use and ``recycle()`` clears the
/// pointers a finished request leaves behind. This avoids `curl_easy_reset` plus about twenty
/// `curl_easy_setopt` calls (with string copies) per request.
struct CurlEasy {
    /// `CURL *`
    let handle: UnsafeMutableRawPointer
    /// `CURLOPT_ERRORBUFFER`, `CURL_ERROR_SIZE` bytes.
    let errorBuffer: UnsafeMutablePointer<CChar>

    /// A new handle with the client-wide options, or `nil` if libcurl refuses one.
    init?(configuration: HTTPClientConfiguration) {
        guard let handle = curl_easy_init() else { return nil }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer[0] = 0
        let h = handle
        var status = CURLE_OK
        func set(_ result: CURLcode) { if status == CURLE_OK { status = result } }
        set(ccurl_setopt_pointer(h, CURLOPT_ERRORBUFFER, errorBuffer))
        set(ccurl_setopt_long(h, CURLOPT_NOSIGNAL, 1))
        set(ccurl_setopt_string(h, CURLOPT_PROTOCOLS_STR, "http,https"))
        set(ccurl_setopt_string(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"))
        set(ccurl_setopt_data_callback(h, CURLOPT_WRITEFUNCTION, curlWriteBody))
        set(ccurl_setopt_data_callback(h, CURLOPT_HEADERFUNCTION, curlReceiveHeader))
        set(ccurl_setopt_off(h, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(configuration.maxResponseBytes)))
        set(ccurl_setopt_string(h, CURLOPT_USERAGENT, configuration.userAgent))
        set(ccurl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, configuration.connectTimeout.curlMilliseconds))
        set(ccurl_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1))
        let redirects = configuration.followRedirects.maximumCount
        set(ccurl_setopt_long(h, CURLOPT_FOLLOWLOCATION, redirects > 0 ? 1 : 0))
        if redirects > 0 { set(ccurl_setopt_long(h, CURLOPT_MAXREDIRS, redirects)) }
        set(
            ccurl_setopt_long(
                h, CURLOPT_HTTP_VERSION, configuration.preferHTTP2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1))
        set(ccurl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, configuration.verifyTLS ? 1 : 0))
        set(ccurl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, configuration.verifyTLS ? 2 : 0))
        if let caFile = configuration.trustedCAFile { set(ccurl_setopt_string(h, CURLOPT_CAINFO, caFile)) }
        guard status == CURLE_OK else {
            destroy()
            return nil
        }
    }

    /// Drops the pointers of the finished request (its header list is freed with it).
    func recycle() {
        _ = ccurl_setopt_slist(handle, CURLOPT_HTTPHEADER, nil)
        _ = ccurl_setopt_pointer(handle, CURLOPT_PRIVATE, nil)
        _ = ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, nil)
        _ = ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, nil)
    }

    func destroy() {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }
}

/// One exchange in progress: the easy handle, the request's C resources and the response being
/// received. Created, used and destroyed on the loop thread only; libcurl's callbacks reach it
/// through an unretained pointer while the loop's table keeps it alive.
final class CurlTransfer {
    let easy: CurlEasy
    let job: CurlJob
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var responseHeaders = HTTPHeaders()
    private var body: [UInt8] = []
    private let maxResponseBytes: Int
    private var bodyLimitHit = false
    /// When the loop abandons the transfer if libcurl has not finished it: the request timeout
    /// plus a grace period. libcurl enforces `CURLOPT_TIMEOUT_MS` itself while a transfer runs,
    /// but checks it for transfers still queued for a connection only on their next activity.
    let deadline: ContinuousClock.Instant

    /// Sets the per-request options on a handle made by ``CurlEasy/init(configuration:)``.
    init(easy: CurlEasy, job: CurlJob, configuration: HTTPClientConfiguration, now: ContinuousClock.Instant) throws {
        self.easy = easy
        self.job = job
        self.maxResponseBytes = configuration.maxResponseBytes
        let timeout = job.request.timeout ?? configuration.requestTimeout
        self.deadline = now + timeout + .milliseconds(50)
        try configure(timeout: timeout, pipeWait: configuration.preferHTTP2 && job.isHTTPS)
    }

    deinit { curl_slist_free_all(headerList) }

    private func configure(timeout: Duration, pipeWait: Bool) throws {
        let h = easy.handle
        let request = job.request
        var status = CURLE_OK
        func set(_ result: CURLcode) { if status == CURLE_OK { status = result } }

        easy.errorBuffer[0] = 0
        let me = Unmanaged.passUnretained(self).toOpaque()
        set(ccurl_setopt_pointer(h, CURLOPT_PRIVATE, me))
        set(ccurl_setopt_pointer(h, CURLOPT_WRITEDATA, me))
        set(ccurl_setopt_pointer(h, CURLOPT_HEADERDATA, me))
        set(ccurl_setopt_string(h, CURLOPT_URL, request.url))  // copied by libcurl
        set(ccurl_setopt_long(h, CURLOPT_TIMEOUT_MS, timeout.curlMilliseconds))
        // With https, wait for a connection being set up (ALPN tells whether it multiplexes)
        // instead of opening one per request. Never for plain http: libcurl would learn that only
        // from the first response, so concurrent requests would queue behind it.
        set(ccurl_setopt_long(h, CURLOPT_PIPEWAIT, pipeWait ? 1 : 0))
        // Set on every use: the handle is recycled across requests. A fresh connection is never
        // reused, so libcurl's silent re-send on a dead reused connection cannot happen.
        set(ccurl_setopt_long(h, CURLOPT_FRESH_CONNECT, request.freshConnection ? 1 : 0))
        set(ccurl_setopt_long(h, CURLOPT_FORBID_REUSE, request.freshConnection ? 1 : 0))

        // Method and body; the handle may carry the previous request's method, so each case sets
        // all of it. POST without POSTFIELDS would make libcurl read the body from stdin.
        let body = request.body
        set(ccurl_setopt_string(h, CURLOPT_CUSTOMREQUEST, nil))
        switch request.method {
        case .get:
            set(ccurl_setopt_long(h, CURLOPT_HTTPGET, 1))
        case .head:
            set(ccurl_setopt_long(h, CURLOPT_NOBODY, 1))
        case .post:
            set(ccurl_setopt_long(h, CURLOPT_POST, 1))
            set(Self.setBody(h, body ?? []))
        default:
            if let body {
                set(ccurl_setopt_long(h, CURLOPT_POST, 1))
                set(Self.setBody(h, body))
            } else {
                set(ccurl_setopt_long(h, CURLOPT_HTTPGET, 1))
            }
            set(ccurl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method.rawValue))
        }

        // Headers: the caller's, then an empty Expect (libcurl would add "Expect: 100-continue" for
        // bodies over 1 KiB and wait for an interim reply) and no default form Content-Type.
        var hasExpect = false
        var hasContentType = false
        for (name, value) in request.headers {
            if HTTPHeaders.namesEqual(name, "Content-Length") { continue }  // libcurl computes it
            if HTTPHeaders.namesEqual(name, "Expect") { hasExpect = true }
            if HTTPHeaders.namesEqual(name, "Content-Type") { hasContentType = true }
            // "Name;" is libcurl's spelling of a header with an empty value ("Name:" removes it).
            append(value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        if !hasExpect { append("Expect:") }
        if body != nil && !hasContentType { append("Content-Type:") }
        set(ccurl_setopt_slist(h, CURLOPT_HTTPHEADER, headerList))

        if status != CURLE_OK {
            throw HTTPClientError(
                curlCode: status, errorBuffer: String(cString: easy.errorBuffer), host: job.host,
                bodyLimitHit: false, requestMayHaveBeenSent: false)
        }
    }

    private func append(_ line: String) {
        if let list = curl_slist_append(headerList, line) { headerList = list }
    }

    /// libcurl copies the body (`CURLOPT_COPYPOSTFIELDS`), so it need not outlive this call.
    private static func setBody(_ h: UnsafeMutableRawPointer, _ body: [UInt8]) -> CURLcode {
        let sized = ccurl_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
        guard sized == CURLE_OK else { return sized }
        if body.isEmpty { return ccurl_setopt_string(h, CURLOPT_COPYPOSTFIELDS, "") }
        return body.withUnsafeBytes { bytes in
            ccurl_setopt_pointer(h, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress!))
        }
    }

    // MARK: Callbacks (loop thread, inside curl_multi_perform)

    fileprivate func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard body.count + bytes.count <= maxResponseBytes else {
            bodyLimitHit = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    fileprivate func receiveHeader(_ line: UnsafeRawBufferPointer) {
        var end = line.count
        while end > 0 && (line[end - 1] == 0x0A || line[end - 1] == 0x0D) { end -= 1 }
        guard end > 0 else { return }
        if end >= 5 && line[0] == UInt8(ascii: "H") && line[1] == UInt8(ascii: "T") && line[2] == UInt8(ascii: "T")
            && line[3] == UInt8(ascii: "P") && line[4] == UInt8(ascii: "/")
        {
            responseHeaders = HTTPHeaders()  // a new response (redirect or 1xx) starts
            return
        }
        if line[0] == 0x20 || line[0] == 0x09 { return }  // obsolete line folding: ignored
        guard let colon = line[..<end].firstIndex(of: UInt8(ascii: ":")) else { return }
        var valueStart = colon + 1
        while valueStart < end && (line[valueStart] == 0x20 || line[valueStart] == 0x09) { valueStart += 1 }
        var valueEnd = end
        while valueEnd > valueStart && (line[valueEnd - 1] == 0x20 || line[valueEnd - 1] == 0x09) { valueEnd -= 1 }
        responseHeaders.add(
            name: String(decoding: UnsafeRawBufferPointer(rebasing: line[..<colon]), as: UTF8.self),
            value: String(decoding: UnsafeRawBufferPointer(rebasing: line[valueStart..<valueEnd]), as: UTF8.self))
    }

    // MARK: Completion

    /// The error for a transfer the loop abandons before libcurl finished it (deadline passed,
    /// client shut down). Call before the handle is reset.
    func interruption(_ code: HTTPClientError.Code, detail: String) -> HTTPClientError {
        var pretransfer = 0.0
        _ = ccurl_getinfo_double(easy.handle, CURLINFO_PRETRANSFER_TIME, &pretransfer)
        return HTTPClientError(code: code, detail: detail, host: job.host, requestMayHaveBeenSent: pretransfer > 0)
    }

    /// Turns the finished transfer into a response or an error. Call before the handle is reset.
    func outcome(_ result: CURLcode) -> Result<HTTPResponse, HTTPClientError> {
        let h = easy.handle
        func long(_ info: CURLINFO) -> Int {
            var value = 0
            return ccurl_getinfo_long(h, info, &value) == CURLE_OK ? value : 0
        }
        func seconds(_ info: CURLINFO) -> Duration {
            var value = 0.0
            return ccurl_getinfo_double(h, info, &value) == CURLE_OK ? .curlSeconds(value) : .zero
        }
        guard result == CURLE_OK else {
            return .failure(
                HTTPClientError(
                    curlCode: result, errorBuffer: String(cString: easy.errorBuffer), host: job.host,
                    bodyLimitHit: bodyLimitHit, requestMayHaveBeenSent: seconds(CURLINFO_PRETRANSFER_TIME) > .zero))
        }
        let version: HTTPVersion
        switch long(CURLINFO_HTTP_VERSION) {
        case CURL_HTTP_VERSION_1_0: version = .http1_0
        case CURL_HTTP_VERSION_2_0: version = .http2
        case CURL_HTTP_VERSION_3: version = .http3
        default: version = .http1_1
        }
        let metrics = HTTPTransferMetrics(
            connectionsOpened: long(CURLINFO_NUM_CONNECTS), redirectCount: long(CURLINFO_REDIRECT_COUNT),
            localPort: long(CURLINFO_LOCAL_PORT), connectTime: seconds(CURLINFO_CONNECT_TIME),
            tlsHandshakeTime: seconds(CURLINFO_APPCONNECT_TIME), timeToFirstByte: seconds(CURLINFO_STARTTRANSFER_TIME),
            totalTime: seconds(CURLINFO_TOTAL_TIME))
        let response = HTTPResponse(
            status: long(CURLINFO_RESPONSE_CODE), version: version, headers: responseHeaders, body: body,
            metrics: metrics)
        body = []
        return .success(response)
    }
}

private func curlWriteBody(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?
) -> Int {
    let length = size * count
    guard let user, length > 0 else { return length }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(user).takeUnretainedValue()
    return transfer.receiveBody(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}

private func curlReceiveHeader(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?
) -> Int {
    let length = size * count
    guard let user, length > 0 else { return length }
    Unmanaged<CurlTransfer>.fromOpaque(user).takeUnretainedValue()
        .receiveHeader(UnsafeRawBufferPointer(start: data, count: length))
    return length
}
