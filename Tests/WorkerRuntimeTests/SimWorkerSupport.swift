import Connectors
import Domain
@testable import ErpSim
import Foundation
import HTTP
import Logging
import Postgres
import Synchronization
import Testing
import WorkerRuntime

/// An in-process erp-sim (free loopback port) plus an HTTP client, for the worker tests that talk to the real
/// simulator instead of the fake ERP.
struct SimHarness: Sendable {
    let sim: RunningSimulator
    let http: HTTPClient
    let logger: Logger

    static let xeroTenant = SimConfiguration.defaultXeroTenant
    static let clientID = "ledgerline-sim"
    static let clientSecret = "ledgerline-sim-secret"

    static func with<T>(
        rateLimits: Bool = false, _ body: (SimHarness) async throws -> T
    ) async throws -> T {
        var configuration = SimConfiguration()
        configuration.rateLimitsEnabled = rateLimits
        configuration.hangDuration = .seconds(2)
        let logger = Logger(label: "worker-sim-tests") { _ in SwiftLogNoOpLogHandler() }
        let sim = try await RunningSimulator.start(configuration: configuration, logger: logger)
        var clientConfiguration = HTTPClientConfiguration()
        clientConfiguration.requestTimeout = .seconds(10)
        clientConfiguration.connectTimeout = .seconds(2)
        clientConfiguration.followRedirects = .doNotFollow
        let http = try HTTPClient(configuration: clientConfiguration, logger: logger)
        let harness = SimHarness(sim: sim, http: http, logger: logger)
        do {
            let result = try await body(harness)
            http.shutdown()
            await sim.stop()
            return result
        } catch {
            http.shutdown()
            await sim.stop()
            throw error
        }
    }

    var base: String { sim.baseURL }
    var xeroBase: String { sim.baseURL + "/api.xro/2.0" }

    /// A control-API call; returns the JSON answer.
    @discardableResult
    func control(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        let response = try await http.execute(
            HTTPRequest(method: method, url: base + path, headers: headers, body: body.map { Array($0.utf8) }),
            logger: logger)
        #expect(response.status < 300, "control \(path): \(response.status)")
        return (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
    }

    func stats() async throws -> [String: Int] {
        try await control(.get, "/_sim/stats").compactMapValues { ($0 as? NSNumber)?.intValue }
    }

    /// Invoices created at the simulator, and the duplicates it saw (same number twice).
    func documents() async throws -> (invoices: Int, duplicates: Int) {
        let answer = try await control(.get, "/_sim/documents?company=\(Self.xeroTenant)")
        let documents = answer["documents"] as? [[String: Any]] ?? []
        let invoices = documents.filter { ($0["entity"] as? String).map { $0.lowercased().hasPrefix("invoice") } ?? false }
        return (invoices.count, (answer["duplicates"] as? [Any])?.count ?? 0)
    }

    func refresher(transport: (any HTTPTransport)? = nil) -> OAuth2TokenRefresher {
        OAuth2TokenRefresher(
            tokenURL: base + "/connect/token", clientID: Self.clientID, clientSecret: Self.clientSecret,
            transport: transport ?? http)
    }

    static let mapping = MappingConfiguration(
        lines: LineMappings(
            part: LineMapping(account: ERPReference("200")), labor: LineMapping(account: ERPReference("201")),
            fee: LineMapping(account: ERPReference("202")), sublet: LineMapping(account: ERPReference("203")),
            coreCharge: LineMapping(account: ERPReference("204")), discount: LineMapping(account: ERPReference("205"))),
        tax: TaxMapping(model: .line, taxable: ERPReference("OUTPUT"), nonTaxable: ERPReference("NONE")),
        payments: PaymentMapping(depositAccount: ERPReference("090")))

    /// Points the fixture's connection at the simulator's Xero organisation and stores a fresh grant (sealed).
    func connectXero(_ fixture: WorkerFixture, credentials: CredentialStore) async throws {
        let mapping = String(decoding: try JSONEncoder().encode(Self.mapping), as: UTF8.self)
        try await fixture.pool.execute(
            """
            INSERT INTO erp_connection_settings (connection_id, tenant_id, api_base_url, company_id, mapping)
            VALUES (\(fixture.connection), \(fixture.tenant), \(xeroBase), \(Self.xeroTenant), \(mapping)::jsonb)
            ON CONFLICT (connection_id) DO UPDATE SET api_base_url = EXCLUDED.api_base_url
            """)
        let grant = try await control(.post, "/_sim/oauth/grants", #"{"company":"xero:\#(Self.xeroTenant)"}"#)
        let access = try #require(grant["access_token"] as? String)
        let expiresIn = (grant["expires_in"] as? NSNumber)?.doubleValue ?? 1800
        try await credentials.save(
            ConnectionSecrets(
                accessToken: access, refreshToken: grant["refresh_token"] as? String,
                accessExpiresAt: Date().addingTimeInterval(expiresIn)),
            tenantID: TenantID(fixture.tenant), connectionID: fixture.connection, logger: logger)
    }

    static let quickbooksRealm = SimConfiguration.defaultQuickBooksRealm

    static let quickbooksMapping = MappingConfiguration(
        lines: LineMappings(
            part: LineMapping(item: ERPReference("11")), labor: LineMapping(item: ERPReference("12")),
            fee: LineMapping(item: ERPReference("13")), sublet: LineMapping(item: ERPReference("14")),
            coreCharge: LineMapping(item: ERPReference("15")), discount: LineMapping(account: ERPReference("86"))),
        tax: TaxMapping(model: .transaction, transactionTaxCode: ERPReference("7")),
        payments: PaymentMapping(depositAccount: ERPReference("35")))

    /// Points the fixture's connection at the simulator's QuickBooks Online realm and stores a fresh grant.
    func connectQuickBooks(_ fixture: WorkerFixture, credentials: CredentialStore) async throws {
        let mapping = String(decoding: try JSONEncoder().encode(Self.quickbooksMapping), as: UTF8.self)
        try await fixture.pool.execute(
            """
            INSERT INTO erp_connection_settings (connection_id, tenant_id, api_base_url, company_id, mapping)
            VALUES (\(fixture.connection), \(fixture.tenant), \(base), \(Self.quickbooksRealm), \(mapping)::jsonb)
            ON CONFLICT (connection_id) DO UPDATE SET api_base_url = EXCLUDED.api_base_url
            """)
        let grant = try await control(.post, "/_sim/oauth/grants", #"{"company":"quickbooks-online:\#(Self.quickbooksRealm)"}"#)
        let access = try #require(grant["access_token"] as? String)
        try await credentials.save(
            ConnectionSecrets(
                accessToken: access, refreshToken: grant["refresh_token"] as? String,
                accessExpiresAt: Date().addingTimeInterval(3000)),
            tenantID: TenantID(fixture.tenant), connectionID: fixture.connection, logger: logger)
    }

    /// A QuickBooks Online processor against the simulator (token refresh at its QuickBooks token endpoint).
    func quickbooksProcessor(
        _ store: SyncStateStore, vault: CredentialVault, transport: (any HTTPTransport)? = nil
    ) -> JobProcessor<QuickBooksOnlineConnector> {
        let factory = StoredConnectorFactory<QuickBooksOnlineConnector>(
            store: store, credentials: CredentialStore(store: store, vault: vault),
            refresher: OAuth2TokenRefresher(
                tokenURL: base + "/oauth2/v1/tokens/bearer", clientID: Self.clientID, clientSecret: Self.clientSecret,
                transport: http))
        let logger = self.logger
        return JobProcessor<QuickBooksOnlineConnector>(
            store: store, transport: transport ?? http,
            retry: RetryPolicy(
                initialBackoff: .milliseconds(10), maximumBackoff: .milliseconds(50), horizon: .seconds(3600),
                dependencyWait: .milliseconds(200)),
            rateLimits: [RateLimit(scope: .connection, kind: .rate(limit: 6000, per: .seconds(60)), source: "test")]
        ) { job, transport in
            try await factory.make(job, transport: transport, logger: logger)
        }
    }

    /// Documents the simulator created for a company: invoices and duplicates.
    func documents(company: String) async throws -> (invoices: Int, duplicates: Int) {
        let answer = try await control(.get, "/_sim/documents?company=\(company)")
        let documents = answer["documents"] as? [[String: Any]] ?? []
        let invoices = documents.filter { ($0["entity"] as? String).map { $0.lowercased().hasPrefix("invoice") } ?? false }
        return (invoices.count, (answer["duplicates"] as? [Any])?.count ?? 0)
    }

    /// A processor for the real Xero connector against the simulator (fast retries), building connectors from
    /// the stored settings and credentials, refreshing tokens at the simulator's token endpoint.
    func processor(
        _ store: SyncStateStore, vault: CredentialVault, transport: (any HTTPTransport)? = nil,
        breakers: CircuitBreakers = CircuitBreakers(), rateLimitWait: Duration = .seconds(20),
        rateLimits: [RateLimit] = [RateLimit(scope: .connection, kind: .rate(limit: 6000, per: .seconds(60)), source: "test")]
    ) -> JobProcessor<XeroConnector> {
        let factory = StoredConnectorFactory<XeroConnector>(
            store: store, credentials: CredentialStore(store: store, vault: vault), refresher: refresher())
        let logger = self.logger
        return JobProcessor<XeroConnector>(
            store: store, transport: transport ?? http,
            retry: RetryPolicy(
                initialBackoff: .milliseconds(10), maximumBackoff: .milliseconds(50), horizon: .seconds(3600),
                dependencyWait: .milliseconds(200)),
            rateLimitWait: rateLimitWait, rateLimits: rateLimits, breakers: breakers
        ) { job, transport in
            try await factory.make(job, transport: transport, logger: logger)
        }
    }
}

/// Records when each ERP request started and when each answer arrived (status, Retry-After), in order.
final class RecordingTransport: HTTPTransport, Sendable {
    struct Exchange: Sendable {
        var method: String
        var path: String
        var started: Date
        var finished: Date
        var status: Int?
        var retryAfter: String?
    }

    let base: any HTTPTransport
    let exchanges = Mutex<[Exchange]>([])

    init(base: any HTTPTransport) { self.base = base }

    func execute(_ request: HTTPRequest, logger: Logger) async throws -> HTTPResponse {
        let started = Date()
        let path = String(request.description.split(separator: " ").last ?? "")
        do {
            let response = try await base.execute(request, logger: logger)
            exchanges.withLock {
                $0.append(
                    Exchange(
                        method: request.method.rawValue, path: path, started: started, finished: Date(),
                        status: response.status, retryAfter: response.header("Retry-After")))
            }
            return response
        } catch {
            exchanges.withLock {
                $0.append(Exchange(method: request.method.rawValue, path: path, started: started, finished: Date()))
            }
            throw error
        }
    }
}

extension WorkerFixture {
    /// Jobs for invoices `ids` (version 1).
    func jobs(_ ids: [String]) -> [SyncJob] { ids.map { job(invoice: $0) } }

    /// The states of the given invoices.
    func states(_ ids: [String], store: SyncStateStore) async throws -> [String: SyncState] {
        var states: [String: SyncState] = [:]
        for id in ids { states[id] = try await store.document(key(id), logger: WorkerStack.logger)?.state }
        return states
    }
}
