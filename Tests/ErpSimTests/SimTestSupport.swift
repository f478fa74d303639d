@testable import ErpSim
import Foundation
import HTTP
import Logging
import Testing

/// One simulator on a free port plus an HTTP client, for the duration of `body`.
struct SimSession {
    let sim: RunningSimulator
    let client: HTTPClient
    let logger: Logger

    static let realm = SimConfiguration.defaultQuickBooksRealm
    static let tenant = SimConfiguration.defaultXeroTenant

    static func with<T>(
        _ configure: (inout SimConfiguration) -> Void = { _ in },
        _ body: (SimSession) async throws -> T
    ) async throws -> T {
        var configuration = SimConfiguration()
        configuration.hangDuration = .seconds(2)
        configure(&configuration)
        var logger = Logger(label: "erp-sim-tests")
        logger.logLevel = .warning
        let sim = try await RunningSimulator.start(configuration: configuration, logger: logger)
        var clientConfiguration = HTTPClientConfiguration()
        clientConfiguration.requestTimeout = .seconds(10)
        clientConfiguration.connectTimeout = .seconds(2)
        let client = try HTTPClient(configuration: clientConfiguration, logger: logger)
        do {
            let result = try await body(SimSession(sim: sim, client: client, logger: logger))
            client.shutdown()
            await sim.stop()
            return result
        } catch {
            client.shutdown()
            await sim.stop()
            throw error
        }
    }

    var base: String { sim.baseURL }

    func send(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: String? = nil, timeout: Duration? = nil
    ) async throws -> HTTPResponse {
        try await client.execute(
            HTTPRequest(method: method, url: base + path, headers: HTTPHeaders(headers), body: body.map { Array($0.utf8) }, timeout: timeout),
            logger: logger)
    }

    /// Control API call; returns the parsed JSON answer.
    @discardableResult
    func control(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> JSONValue {
        let response = try await send(method, path, headers: [("Content-Type", "application/json")], body: body)
        #expect(response.status < 300, "control \(path): \(response.status) \(String(decoding: response.body, as: UTF8.self))")
        return try #require(JSONValue.parse(response.body))
    }

    /// A token pair issued by the control API for a company.
    func grant(_ company: String) async throws -> (access: String, refresh: String) {
        let answer = try await control(.post, "/_sim/oauth/grants", #"{"company":"\#(company)"}"#)
        return (try #require(answer["access_token"]?.string), try #require(answer["refresh_token"]?.string))
    }

    // MARK: QuickBooks

    func qbo(
        _ method: HTTPMethod, _ resource: String, token: String, query: String = "", body: String? = nil, realm: String = SimSession.realm,
        timeout: Duration? = nil
    ) async throws -> HTTPResponse {
        let separator = query.isEmpty ? "" : "&"
        return try await send(
            method, "/v3/company/\(realm)/\(resource)?minorversion=75\(separator)\(query)",
            headers: [("Authorization", "Bearer \(token)"), ("Accept", "application/json"), ("Content-Type", "application/json")],
            body: body, timeout: timeout)
    }

    // MARK: Xero

    func xero(
        _ method: HTTPMethod, _ path: String, token: String, body: String? = nil, key: String? = nil, tenant: String? = SimSession.tenant,
        timeout: Duration? = nil
    ) async throws -> HTTPResponse {
        var headers = [("Authorization", "Bearer \(token)"), ("Accept", "application/json"), ("Content-Type", "application/json")]
        if let tenant { headers.append(("Xero-tenant-id", tenant)) }
        if let key { headers.append(("Idempotency-Key", key)) }
        return try await send(method, "/api.xro/2.0/\(path)", headers: headers, body: body, timeout: timeout)
    }

    func documents() async throws -> JSONValue {
        try await control(.get, "/_sim/documents")
    }
}

extension HTTPResponse {
    var json: JSONValue? { JSONValue.parse(body) }
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// Runs `body` with a deadline so that no test can hang.
func withDeadline<T: Sendable>(_ seconds: Int = 30, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw DeadlineExceeded()
        }
        let result = try await group.next()!
        group.cancelAll()
        return result
    }
}

struct DeadlineExceeded: Error {}
