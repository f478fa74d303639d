import Foundation
import Logging
import Synchronization
import Testing

@testable import HTTP

/// An ``HTTPTransport`` that records every request and answers from a script, in order.
///
/// Each scripted step receives the request and returns a response or throws (e.g. a timeout after the
/// request was sent). Running out of script is a test failure (answered with 599 so nothing hangs).
final class StubTransport: HTTPTransport {
    typealias Step = @Sendable (HTTPRequest) throws -> HTTPResponse

    private struct State {
        var steps: [Step]
        var requests: [HTTPRequest] = []
    }

    private let state: Mutex<State>

    init(_ steps: [Step] = []) { state = Mutex(State(steps: steps)) }

    /// Appends steps to the script.
    func enqueue(_ steps: Step...) { state.withLock { $0.steps += steps } }

    /// Every request received, in order.
    var requests: [HTTPRequest] { state.withLock { $0.requests } }

    /// Steps not yet used.
    var remainingSteps: Int { state.withLock { $0.steps.count } }

    func execute(_ request: HTTPRequest, logger: Logger) async throws -> HTTPResponse {
        let step: Step? = state.withLock { state in
            state.requests.append(request)
            return state.steps.isEmpty ? nil : state.steps.removeFirst()
        }
        guard let step else {
            Issue.record("unexpected request \(request.description)")
            return HTTPResponse(status: 599)
        }
        return try step(request)
    }

    // MARK: Canned steps

    /// Answers with a status, a JSON body and headers.
    static func reply(_ status: Int, _ body: String, headers: [(String, String)] = []) -> Step {
        { _ in HTTPResponse(status: status, headers: HTTPHeaders(headers), body: Array(body.utf8)) }
    }

    /// Answers with a fixture file's bytes.
    static func reply(_ status: Int, fixture: String, headers: [(String, String)] = []) -> Step {
        let body = (try? Fixtures.bytes(fixture)) ?? []
        return { _ in HTTPResponse(status: status, headers: HTTPHeaders(headers), body: body) }
    }

    /// Fails as libcurl does when the total timeout expires after the request went out.
    static func timeoutAfterSend() -> Step {
        { request in
            throw HTTPClientError(
                code: .timedOut, curlCode: 28, host: Self.host(of: request.url), requestMayHaveBeenSent: true)
        }
    }

    /// Fails as libcurl does when the connection is refused (nothing sent).
    static func connectionRefused() -> Step {
        { request in
            throw HTTPClientError(
                code: .connectFailed, curlCode: 7, host: Self.host(of: request.url), requestMayHaveBeenSent: false)
        }
    }

    static func host(of url: String) -> String? {
        guard let range = url.range(of: "://") else { return nil }
        return String(url[range.upperBound...].prefix { $0 != "/" && $0 != ":" && $0 != "?" })
    }
}

extension HTTPRequest {
    /// The path, without scheme, host and query.
    var path: String {
        var rest = url
        if let range = rest.range(of: "://") { rest = String(rest[range.upperBound...]) }
        let withoutQuery = rest.prefix { $0 != "?" }
        return withoutQuery.firstIndex(of: "/").map { String(withoutQuery[$0...]) } ?? "/"
    }

    /// The decoded query parameters, in order.
    var queryItems: [(name: String, value: String)] {
        guard let mark = url.firstIndex(of: "?") else { return [] }
        return url[url.index(after: mark)...].split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            return (name, value)
        }
    }

    /// The first value of a query parameter.
    func query(_ name: String) -> String? { queryItems.first { $0.name == name }?.value }
}
