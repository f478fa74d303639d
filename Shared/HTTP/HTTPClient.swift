public import Logging
internal import Synchronization

/// An HTTP/1.1 and HTTP/2 client over libcurl that keeps many requests in flight on one thread.
///
/// One dedicated OS thread drives a libcurl multi handle: requests from any number of tasks are
/// queued to it, run concurrently, share kept-alive connections (and HTTP/2 multiplexing), and
/// complete their callers' continuations when done. No Swift concurrency thread ever blocks on
/// the network.
///
/// ```swift
/// let client = try HTTPClient(configuration: .init(), logger: logger)
/// defer { client.shutdown() }
/// let response = try await client.execute(
///     HTTPRequest(method: .post, url: "https://api.example.com/invoices", body: Array(json)), logger: logger)
/// ```
///
/// Call ``shutdown()`` when done (deinit does it as a last resort). Cancelling the calling task
/// abandons its exchange and throws `CancellationError`.
public final class HTTPClient: HTTPTransport, Sendable {
    private let loop: CurlMultiLoop
    private let nextID = Atomic<UInt64>(0)

    /// The configuration the client was created with.
    public let configuration: HTTPClientConfiguration

    /// Starts the client's thread.
    ///
    /// - Parameters:
    ///   - configuration: timeouts, limits, TLS and redirect settings.
    ///   - logger: receives debug events about the client itself (start, TLS verification off).
    /// - Throws: ``HTTPClientError`` with code `invalidConfiguration` for invalid settings, or
    ///   `transport` if libcurl or the thread cannot be set up.
    public init(configuration: HTTPClientConfiguration = HTTPClientConfiguration(), logger: Logger) throws {
        try configuration.validate()
        self.configuration = configuration
        loop = try CurlMultiLoop(configuration: configuration)
        logger.debug(
            "HTTP client started",
            metadata: [
                "http.max_connections_per_host": "\(configuration.maxConnectionsPerHost)",
                "http.redirects": "\(configuration.followRedirects)",
            ])
        if !configuration.verifyTLS {
            logger.debug("HTTP client TLS verification disabled by configuration")
        }
    }

    deinit { loop.shutdown() }

    /// Fails every queued and in-flight request with ``HTTPClientError/Code-swift.struct/shutDown``,
    /// closes all connections and joins the client's thread. Later requests fail with `shutDown`.
    /// Safe to call more than once.
    public func shutdown() { loop.shutdown() }

    /// The client's I/O thread as a task executor.
    ///
    /// A task that calls the client in a tight sequential loop can run on this thread with
    /// `withTaskExecutorPreference(client.taskExecutor) { … }`. Its request then goes from the task
    /// to libcurl and its continuation back to the task without any thread switch, which roughly
    /// halves the per-request overhead on small machines. Code run this way shares the thread with
    /// every in-flight transfer of the client, so it must not block or compute for long. After
    /// ``shutdown()``, such tasks continue on the global concurrent executor.
    public var taskExecutor: any TaskExecutor { loop }

    /// Connections opened so far, over all requests (a measure of keep-alive reuse).
    public var connectionsOpened: Int { loop.connectionsOpened.load(ordering: .relaxed) }
    /// Exchanges that ended with a response so far.
    public var responsesReceived: Int { loop.responsesReceived.load(ordering: .relaxed) }

    /// Sends `request` and returns the final response, whatever its status.
    ///
    /// - Parameters:
    ///   - request: the request.
    ///   - logger: receives trace events (method, host, status, duration) and a debug event on
    ///     failure; never headers, query strings or bodies.
    /// - Returns: the response. 3xx (unless redirects are followed), 4xx and 5xx are responses.
    /// - Throws: ``HTTPClientError`` when no response was obtained; `CancellationError` when the
    ///   task was cancelled (the exchange is abandoned and its connection closed if mid-transfer).
    public func execute(_ request: HTTPRequest, logger: Logger) async throws -> HTTPResponse {
        try Task.checkCancellation()
        let isHTTPS = try Self.validate(request)
        let id = nextID.add(1, ordering: .relaxed).newValue
        let cancellation = CancellationState()
        let clock = ContinuousClock()
        let started = logger.logLevel <= .trace ? clock.now : nil
        logger.trace(
            "HTTP request started",
            metadata: ["http.method": "\(request.method)", "server.address": "\(request.host ?? "")"])
        do {
            let response = try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation {
                    (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                    let job = CurlJob(id: id, request: request, isHTTPS: isHTTPS, continuation: continuation)
                    let submitted = cancellation.phase.withLock { phase -> Bool in
                        guard phase != .cancelled else { return false }
                        phase = .submitted
                        loop.submit(job)  // under the lock, so a cancel command always follows it
                        return true
                    }
                    if !submitted { continuation.resume(throwing: CancellationError()) }
                }
            } onCancel: {
                cancellation.phase.withLock { phase in
                    switch phase {
                    case .created: phase = .cancelled
                    case .submitted: loop.cancel(id: id)
                    case .cancelled: break
                    }
                }
            }
            logger.trace(
                "HTTP response received",
                metadata: [
                    "http.method": "\(request.method)", "server.address": "\(request.host ?? "")",
                    "http.status_code": "\(response.status)",
                    "http.duration": "\(started.map { clock.now - $0 } ?? .zero)",
                ])
            return response
        } catch {
            logger.debug(
                "HTTP request failed",
                metadata: [
                    "http.method": "\(request.method)", "server.address": "\(request.host ?? "")",
                    "error.type":
                        "\((error as? HTTPClientError)?.code.description ?? String(describing: type(of: error)))",
                ])
            throw error
        }
    }

    /// Checks the URL's scheme and host and the header fields before anything is queued;
    /// returns whether the URL is https. (libcurl rejects other malformed URLs when it starts.)
    private static func validate(_ request: HTTPRequest) throws -> Bool {
        guard let target = request.target else {
            throw HTTPClientError(code: .invalidURL, detail: "not an absolute http:// or https:// URL with a host")
        }
        guard HTTPHeaders.isValidName(request.method.rawValue) else {
            throw HTTPClientError(code: .invalidRequest, detail: "invalid method token", host: request.host)
        }
        for (name, value) in request.headers
        where !HTTPHeaders.isValidName(name) || !HTTPHeaders.isValidValue(value) {
            throw HTTPClientError(
                code: .invalidRequest, detail: "invalid header field \(HTTPHeaders.isValidName(name) ? name : "name")",
                host: request.host)
        }
        return target.isHTTPS
    }
}

/// Orders a task's cancellation against its submission (see ``HTTPClient/execute(_:logger:)``).
private final class CancellationState: Sendable {
    enum Phase { case created, submitted, cancelled }
    let phase = Mutex(Phase.created)
}
