public import Logging

/// Something that performs HTTP exchanges. ``HTTPClient`` is the production conformance; ERP
/// connectors take `any HTTPTransport` so their tests can inject a stub.
public protocol HTTPTransport: Sendable {
    /// Sends `request` and returns the final response, whatever its status.
    ///
    /// - Parameters:
    ///   - request: the request.
    ///   - logger: receives debug/trace events for this exchange (never headers or bodies).
    /// - Returns: the response; HTTP error statuses (4xx, 5xx) are returned, not thrown.
    /// - Throws: ``HTTPClientError`` when no response was obtained, or `CancellationError` when
    ///   the calling task was cancelled.
    func execute(_ request: HTTPRequest, logger: Logger) async throws -> HTTPResponse
}
