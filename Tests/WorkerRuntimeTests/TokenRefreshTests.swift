import Connectors
import Domain
import Foundation
import HTTP
import Logging
import Postgres
import Synchronization
import TestSupport
import Testing
import WorkerRuntime

/// A strict OAuth2 token endpoint: refresh tokens rotate, and presenting an old one revokes the grant.
final class FakeTokenEndpoint: TokenRefresher, Sendable {
    struct State: Sendable {
        var current = "rt-0"
        var generation = 0
        var calls = 0
        var rejected = 0
        var revoked = false
    }
    let state = Mutex(State())

    func refresh(refreshToken: String, logger: Logger) async throws -> ConnectionSecrets {
        try await Task.sleep(for: .milliseconds(30))
        return try state.withLock { state in
            state.calls += 1
            guard !state.revoked, refreshToken == state.current else {
                state.revoked = true
                state.rejected += 1
                throw TokenRefreshRejected()
            }
            state.generation += 1
            state.current = "rt-\(state.generation)"
            return ConnectionSecrets(
                accessToken: "at-\(state.generation)", refreshToken: state.current,
                accessExpiresAt: Date().addingTimeInterval(3600))
        }
    }
}

@Suite("OAuth2 refresh as a single flight per connection", .requiresPostgres, .timeLimit(.minutes(1)))
struct TokenRefreshTests {
    let logger = WorkerStack.logger
    let vault = try! CredentialVault(base64Key: Data(repeating: 3, count: 32).base64EncodedString())

    /// Expires the stored access token, keeping the refresh token.
    func expire(_ credentials: CredentialStore, _ fixture: WorkerFixture) async throws {
        let tenant = TenantID(fixture.tenant)
        var secrets = try #require(try await credentials.load(tenantID: tenant, connectionID: fixture.connection, logger: logger))
        secrets.accessExpiresAt = Date().addingTimeInterval(-1)
        try await credentials.save(secrets, tenantID: tenant, connectionID: fixture.connection, logger: logger)
    }

    @Test("4 replicas × 5 callers over 10 forced expiries: exactly 10 refreshes, no invalid_grant")
    func singleFlight() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let credentials = CredentialStore(store: WorkerStack.store(pool), vault: vault)
        let tenant = TenantID(fixture.tenant)
        try await credentials.save(
            ConnectionSecrets(accessToken: "at-0", refreshToken: "rt-0", accessExpiresAt: Date().addingTimeInterval(-1)),
            tenantID: tenant, connectionID: fixture.connection, logger: logger)
        let endpoint = FakeTokenEndpoint()
        let pools = try await (0..<4).asyncMap { _ in try await WorkerStack.pool(maxConnections: 6) }
        defer { pools.forEach { $0.close() } }
        let providers = pools.map { replicaPool in
            RefreshingAccessTokenProvider(
                credentials: CredentialStore(store: WorkerStack.store(replicaPool), vault: vault), refresher: endpoint,
                tenantID: tenant, connectionID: fixture.connection, erp: .xero)
        }
        for round in 1...10 {
            if round > 1 { try await expire(credentials, fixture) }
            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for provider in providers {
                    for _ in 0..<5 { group.addTask { try await provider.accessToken(logger: WorkerStack.logger).value } }
                }
                var tokens: [String] = []
                for try await token in group { tokens.append(token) }
                return tokens
            }
            #expect(Set(tokens) == ["at-\(round)"])
        }
        let state = endpoint.state.withLock { $0 }
        #expect(state.calls == 10)
        #expect(state.rejected == 0)
        #expect(try await fixture.connectionStatus() == "active")
    }

    @Test("A 401 on a live token refreshes once and retries; a second 401 in a row parks")
    func unauthorizedRefreshesOnce() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let store = WorkerStack.store(pool)
        let credentials = CredentialStore(store: store, vault: vault)
        let tenant = TenantID(fixture.tenant)
        try await credentials.save(
            ConnectionSecrets(accessToken: "at-0", refreshToken: "rt-0", accessExpiresAt: Date().addingTimeInterval(3600)),
            tenantID: tenant, connectionID: fixture.connection, logger: logger)
        let endpoint = FakeTokenEndpoint()
        let provider = RefreshingAccessTokenProvider(
            credentials: credentials, refresher: endpoint, tenantID: tenant, connectionID: fixture.connection, erp: .xero)
        let erp = FakeERP()
        let processor = JobProcessor<TestConnector>(
            store: store, transport: erp, retry: RetryPolicy(initialBackoff: .milliseconds(10), maximumBackoff: .milliseconds(50),
                                                             horizon: .seconds(3600), dependencyWait: .milliseconds(100))
        ) { job, transport in
            TestConnector(
                context: ConnectionContext(
                    tenantID: job.tenantID, connectionID: job.connectionID,
                    configuration: ConnectorConfiguration(baseURL: "http://127.0.0.1/fake", companyID: "fake"),
                    mapping: MappingConfiguration(), credentials: provider),
                transport: transport)
        }
        try await fixture.invoice("ra-1")
        erp.inject(.unauthorized)
        #expect(
            try await processor.process(fixture.job(invoice: "ra-1"), logger: logger)
                == .deferred(.erpAuthLost, delay: .zero))
        #expect(endpoint.state.withLock { $0.calls } == 1)
        #expect(try await provider.accessToken(logger: logger).value == "at-1")
        #expect(try await processor.process(fixture.job(invoice: "ra-1"), logger: logger) == .synced(action: "Invoice Created"))
        #expect(try await fixture.connectionStatus() == "active")

        try await fixture.invoice("ra-2", customer: "c-ra2")
        erp.inject(.unauthorized, .unauthorized)
        #expect(
            try await processor.process(fixture.job(invoice: "ra-2"), logger: logger)
                == .deferred(.erpAuthLost, delay: .zero))
        #expect(try await processor.process(fixture.job(invoice: "ra-2"), logger: logger) == .parked(.erpAuthLost))
        #expect(endpoint.state.withLock { $0.calls } == 2)
        #expect(try await fixture.connectionStatus() == "needs_reauth")
    }

    @Test("invalid_grant marks the connection needs_reauth and reports erp.auth_lost")
    func invalidGrant() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let credentials = CredentialStore(store: WorkerStack.store(pool), vault: vault)
        try await credentials.save(
            ConnectionSecrets(accessToken: "at-x", refreshToken: "rt-stale", accessExpiresAt: Date().addingTimeInterval(-1)),
            tenantID: TenantID(fixture.tenant), connectionID: fixture.connection, logger: logger)
        let provider = RefreshingAccessTokenProvider(
            credentials: credentials, refresher: FakeTokenEndpoint(), tenantID: TenantID(fixture.tenant),
            connectionID: fixture.connection, erp: .xero)
        let error = await #expect(throws: ConnectorFailure.self) { try await provider.accessToken(logger: logger) }
        #expect(error?.reason == .erpAuthLost)
        #expect(error?.disposition == .reauthorize)
        #expect(try await fixture.connectionStatus() == "needs_reauth")
    }
}

/// Answers token requests from a script and records them.
final class ScriptedTokenEndpoint: HTTPTransport, Sendable {
    let answers: Mutex<[HTTPResponse]>
    let requests = Mutex<[HTTPRequest]>([])
    init(_ answers: [HTTPResponse]) { self.answers = Mutex(answers) }

    func execute(_ request: HTTPRequest, logger: Logger) async throws -> HTTPResponse {
        requests.withLock { $0.append(request) }
        return answers.withLock { $0.removeFirst() }
    }
}

@Suite("OAuth2 refresh-token grant")
struct OAuth2TokenRefresherTests {
    let logger = WorkerStack.logger

    @Test("Sends the form with Basic client auth, reads the rotated pair, classifies invalid_grant and failures")
    func refreshGrant() async throws {
        let endpoint = ScriptedTokenEndpoint([
            HTTPResponse(
                status: 200,
                body: Array(#"{"access_token":"at-new","refresh_token":"rt-new","expires_in":1800,"token_type":"Bearer"}"#.utf8)),
            HTTPResponse(status: 400, body: Array(#"{"error":"invalid_grant"}"#.utf8)),
            HTTPResponse(status: 503, body: Array("rt-old+/= down".utf8)),
        ])
        let refresher = OAuth2TokenRefresher(
            tokenURL: "http://127.0.0.1:1/connect/token", clientID: "client", clientSecret: "s3cret", transport: endpoint)
        let before = Date()
        let secrets = try await refresher.refresh(refreshToken: "rt-old+/=", logger: logger)
        #expect(secrets.accessToken == "at-new")
        #expect(secrets.refreshToken == "rt-new")
        let expiry = try #require(secrets.accessExpiresAt)
        #expect(abs(expiry.timeIntervalSince(before) - 1800) < 5)
        let sent = try #require(endpoint.requests.withLock { $0.first })
        #expect(String(decoding: sent.body ?? [], as: UTF8.self) == "grant_type=refresh_token&refresh_token=rt-old%2B%2F%3D")
        #expect(sent.headers["Authorization"] == "Basic " + Data("client:s3cret".utf8).base64EncodedString())
        await #expect(throws: TokenRefreshRejected.self) { try await refresher.refresh(refreshToken: "rt-old+/=", logger: logger) }
        let failure = await #expect(throws: WorkerError.self) {
            try await refresher.refresh(refreshToken: "rt-old+/=", logger: logger)
        }
        #expect(failure.map { !"\($0)".contains("rt-old") && !String(reflecting: $0).contains("s3cret") } == true)
    }
}
