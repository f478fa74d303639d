import Domain
import Foundation
import HTTP
import Logging
import Postgres
import Synchronization
import TestSupport
import Testing

@testable import Ingest

/// Runs an HTTP intake in-process on a free port and sends signed requests to it with the libcurl client.
struct HTTPHarness: Sendable {
    let port: Int
    let client: HTTPClient

    /// Starts the intake, runs `body`, stops the intake.
    static func with<Result: Sendable>(
        pool: PostgresPool, secretsPool: PostgresPool? = nil, limits: ValidationLimits? = nil,
        _ body: @Sendable (HTTPHarness) async throws -> Result
    ) async throws -> Result {
        let configuration = IngestStack.configuration()
        let store = IngestStack.store(pool)
        let secrets = SigningSecretStore(
            pool: secretsPool ?? pool, keyring: IngestStack.keyring, cacheTTL: .milliseconds(100),
            negativeTTL: .milliseconds(100), logger: IngestStack.logger)
        var configured = HTTPIntake(
            configuration: configuration, store: store, secrets: secrets, verifier: SignatureVerifier(),
            logger: IngestStack.logger)
        if let limits { configured.limits = limits }
        let intake = configured
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var clientConfiguration = HTTPClientConfiguration()
        clientConfiguration.preferHTTP2 = false
        clientConfiguration.requestTimeout = .seconds(20)
        let client = try HTTPClient(configuration: clientConfiguration, logger: IngestStack.logger)
        defer { client.shutdown() }
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try await intake.serve { port in continuation.yield(port) }
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw IngestStack.TimedOut(what: "HTTP intake start") }
            let result = try await body(HTTPHarness(port: port, client: client))
            group.cancelAll()
            while let _ = try? await group.next() {}
            return result
        }
    }

    /// A signed POST /v1/events.
    func post(
        _ body: [UInt8], tenant: String, secret: String, key: String?, timestamp: Int64? = nil,
        signature: String? = nil, headers extra: [(String, String)] = [], omit: Set<String> = []
    ) async throws -> Answer {
        let ts = timestamp ?? Int64(Date().timeIntervalSince1970)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        if !omit.contains("tenant") { headers.add(name: "Ledgerline-Tenant", value: tenant) }
        if !omit.contains("timestamp") { headers.add(name: "Ledgerline-Timestamp", value: String(ts)) }
        if !omit.contains("signature") {
            headers.add(
                name: "Ledgerline-Signature",
                value: signature ?? SignatureVerifier.header(secret: secret, timestamp: ts, body: body))
        }
        if let key { headers.add(name: "Idempotency-Key", value: key) }
        headers.add(name: "Expect", value: "")
        for (name, value) in extra { headers.replaceOrAdd(name: name, value: value) }
        let response = try await client.execute(
            HTTPRequest(method: .post, url: "http://127.0.0.1:\(port)/v1/events", headers: headers, body: body),
            logger: IngestStack.logger)
        return Answer(status: response.status, headers: response.headers, body: response.body)
    }

    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]

        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        }

        /// The `errors[].code` of a problem answer.
        var errorCodes: [String] {
            (json["errors"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
        }

        /// The `errors[]` of a problem answer as (code, field).
        var errors: [Examples.Entry.Expectation] {
            (json["errors"] as? [[String: Any]] ?? []).compactMap {
                guard let code = $0["code"] as? String, let field = $0["field"] as? String else { return nil }
                return Examples.Entry.Expectation(code: code, path: field)
            }
        }

        var text: String { String(decoding: body, as: UTF8.self) }
    }
}

