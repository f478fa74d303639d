import Connectors
import Domain
@testable import ErpSim
import Foundation
import HTTP
import Logging
import Postgres
import Synchronization
import TestSupport
import Testing
import WorkerRuntime

/// The migrated database shared by the two-way sync tests.
enum TwoWayStack {
    static let logger = Logger(label: "two-way-tests") { _ in SwiftLogNoOpLogHandler() }
    private static let migrated = Mutex(false)

    static func pool(maxConnections: Int = 6) async throws -> PostgresPool {
        var configuration = try PostgresConfiguration(
            url: TestEnvironment.postgresURL ?? "postgres://postgres@127.0.0.1:5432/ledgerline",
            password: TestEnvironment.postgresPassword)
        configuration.connectTimeout = .seconds(5)
        let pool = PostgresPool(configuration: configuration, maxConnections: maxConnections, logger: logger)
        if !migrated.withLock({ $0 }) {
            let migrator = PostgresMigrator(
                directory: TestEnvironment.repositoryRoot.appendingPathComponent("deploy/migrations"))
            try await migrator.migrate(pool: pool, logger: logger)
            migrated.withLock { $0 = true }
        }
        return pool
    }

    static func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }

    static let vault = try! CredentialVault(base64Key: Data(repeating: 5, count: 32).base64EncodedString())
}

/// A tenant, a location and one connection (its `erp` slug kept out of other sweepers' reach unless asked).
struct TwoWayFixture: Sendable {
    let pool: PostgresPool
    let tenant: String
    let location = "loc-01"
    let connection: UUID
    let erp: ERP

    static func make(_ pool: PostgresPool, erp: ERP, slug: String? = nil) async throws -> TwoWayFixture {
        let tenant = TwoWayStack.unique("tw")
        try await pool.execute("INSERT INTO tenants (tenant_id, display_name) VALUES (\(tenant), 'Two-way test')")
        try await pool.execute(
            "INSERT INTO locations (tenant_id, location_id, display_name) VALUES (\(tenant), 'loc-01', 'Shop')")
        let rows = try await pool.query(
            """
            INSERT INTO erp_connections (tenant_id, location_id, erp, pull_customers, pull_invoices, pull_payments)
            VALUES (\(tenant), 'loc-01', \(slug ?? "\(erp.rawValue)-unswept"), true, true, true)
            RETURNING connection_id
            """)
        return TwoWayFixture(
            pool: pool, tenant: tenant, connection: try rows[0].decode(UUID.self, "connection_id"), erp: erp)
    }

    var tenantID: TenantID { TenantID(tenant) }

    func store(worker: String = "w1", lease: Duration = .seconds(60)) -> SyncStateStore {
        SyncStateStore(pool: pool, workerID: worker, lease: lease, auditExchange: "two-way-test.audit")
    }

    @discardableResult
    func invoice(_ invoiceID: String, version: Int64 = 1, total: String = "120.00", customer: String = "c-1") async throws
        -> Int64
    {
        try await pool.execute(
            """
            INSERT INTO customers (tenant_id, location_id, source_system, customer_id, name, tax_exempt, last_seen_occurred_at)
            VALUES (\(tenant), 'loc-01', 'shop', \(customer), \("Customer " + customer + " " + tenant), false, now())
            ON CONFLICT DO NOTHING
            """)
        let rows = try await pool.query(
            """
            INSERT INTO invoices (tenant_id, location_id, source_system, invoice_id, invoice_number, status, issue_date,
                                  currency, customer_id, customer_name, subtotal, tax_total, total, amount_paid,
                                  balance_due, invoice_version, last_occurred_at, last_event_id)
            VALUES (\(tenant), 'loc-01', 'shop', \(invoiceID), \("N" + String(invoiceID.suffix(6)) + String(tenant.suffix(6))),
                    'open', '2026-11-20', 'USD', \(customer), \("Customer " + customer + " " + tenant), \(total)::numeric, 0,
                    \(total)::numeric, 0, \(total)::numeric, \(version), now(), 'e-1')
            ON CONFLICT (tenant_id, location_id, source_system, invoice_id) DO UPDATE
            SET invoice_version = EXCLUDED.invoice_version, updated_at = now()
            RETURNING invoice_key
            """)
        let key = try rows[0].decode(Int64.self, "invoice_key")
        try await pool.execute(
            """
            INSERT INTO invoice_lines (invoice_key, invoice_version, line_number, tenant_id, kind, description, quantity,
                                       unit_price, amount, taxable)
            VALUES (\(key), \(version), 1, \(tenant), 'labor', 'Brake job', 1, \(total)::numeric, \(total)::numeric, false)
            ON CONFLICT DO NOTHING
            """)
        return key
    }

    func job(_ kind: SyncJob.Kind, invoice: String? = nil, version: Int64? = nil, trigger: SyncJob.Trigger = .event)
        -> SyncJob
    {
        SyncJob(
            jobID: TwoWayStack.unique("job"), kind: kind, trigger: trigger, tenantID: tenantID,
            locationID: LocationID(location), connectionID: connection, erp: erp, invoiceID: invoice,
            invoiceVersion: version, enqueuedAt: Date())
    }

    /// `SELECT … ` as the owner with this tenant set (RLS).
    func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await pool.withTransaction(logger: TwoWayStack.logger) { connection in
            try await connection.execute("SELECT set_config('ledgerline.tenant_id', \(tenant), true)", logger: TwoWayStack.logger)
            return try await connection.query(query, logger: TwoWayStack.logger)
        }
    }

    func count(_ query: PostgresQuery) async throws -> Int64 {
        try await self.query(query)[0].decode(Int64.self, at: 0)
    }

    func actions() async throws -> [String: Int] {
        var result: [String: Int] = [:]
        for row in try await query(
            """
            SELECT body->>'action' AS action, count(*) AS n FROM outbox
            WHERE tenant_id = \(tenant) AND message_type = 'audit_event' GROUP BY 1
            """)
        {
            result[try row.decode(String?.self, "action") ?? "", default: 0] += Int(try row.decode(Int64.self, "n"))
        }
        return result
    }

    func run(_ kind: String = "pull") async throws -> (state: String, records: Int64, pages: Int64, reason: String?) {
        guard
            let row = try await query(
                """
                SELECT state, records, pages, reason FROM erp_pull_runs
                WHERE tenant_id = \(tenant) AND connection_id = \(connection) AND run_kind = \(kind)
                """
            ).first
        else { return ("none", 0, 0, nil) }
        return (
            try row.decode(String.self, "state"), try row.decode(Int64.self, "records"), try row.decode(Int64.self, "pages"),
            try row.decode(String?.self, "reason")
        )
    }
}

/// An in-process erp-sim plus an HTTP client.
struct TwoWaySim: Sendable {
    let sim: RunningSimulator
    let http: HTTPClient
    let logger = TwoWayStack.logger

    static let realm = SimConfiguration.defaultQuickBooksRealm
    static let xeroTenant = SimConfiguration.defaultXeroTenant

    static func with<T>(rateLimits: Bool = false, _ body: (TwoWaySim) async throws -> T) async throws -> T {
        var configuration = SimConfiguration()
        configuration.rateLimitsEnabled = rateLimits
        configuration.hangDuration = .seconds(2)
        let sim = try await RunningSimulator.start(configuration: configuration, logger: TwoWayStack.logger)
        var clientConfiguration = HTTPClientConfiguration()
        clientConfiguration.requestTimeout = .seconds(30)
        clientConfiguration.connectTimeout = .seconds(2)
        clientConfiguration.followRedirects = .doNotFollow
        let http = try HTTPClient(configuration: clientConfiguration, logger: TwoWayStack.logger)
        let harness = TwoWaySim(sim: sim, http: http)
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

    @discardableResult
    func call(
        _ method: HTTPMethod, _ url: String, _ body: String? = nil, token: String? = nil,
        headers extra: [(String, String)] = []
    ) async throws -> (status: Int, json: [String: Any]) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Accept", value: "application/json")
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in extra { headers.add(name: name, value: value) }
        let response = try await http.execute(
            HTTPRequest(method: method, url: url, headers: headers, body: body.map { Array($0.utf8) }), logger: logger)
        return (response.status, (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:])
    }

    @discardableResult
    func control(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
        let answer = try await call(method, base + path, body)
        #expect(answer.status < 300, "control \(path): \(answer.status)")
        return answer.json
    }

    func stats() async throws -> [String: Int] {
        try await control(.get, "/_sim/stats").compactMapValues { ($0 as? NSNumber)?.intValue }
    }

    /// A fresh access token for a company (a grant without the browser flow).
    func token(_ company: String) async throws -> (access: String, refresh: String?) {
        let grant = try await control(.post, "/_sim/oauth/grants", #"{"company":"\#(company)"}"#)
        return (try #require(grant["access_token"] as? String), grant["refresh_token"] as? String)
    }

    /// Points the fixture's connection at the simulator and stores a fresh grant (sealed).
    func connect(_ fixture: TwoWayFixture, store: SyncStateStore) async throws {
        let quickbooks = fixture.erp == .quickbooksOnline
        let mapping: MappingConfiguration =
            quickbooks
            ? MappingConfiguration(
                lines: LineMappings(
                    part: LineMapping(item: ERPReference("11")), labor: LineMapping(item: ERPReference("12")),
                    fee: LineMapping(item: ERPReference("13")), sublet: LineMapping(item: ERPReference("14")),
                    coreCharge: LineMapping(item: ERPReference("15")), discount: LineMapping(account: ERPReference("86"))),
                tax: TaxMapping(model: .transaction, transactionTaxCode: ERPReference("7")),
                payments: PaymentMapping(depositAccount: ERPReference("35")))
            : MappingConfiguration(
                lines: LineMappings(
                    part: LineMapping(account: ERPReference("200")), labor: LineMapping(account: ERPReference("201")),
                    fee: LineMapping(account: ERPReference("202")), sublet: LineMapping(account: ERPReference("203")),
                    coreCharge: LineMapping(account: ERPReference("204")),
                    discount: LineMapping(account: ERPReference("205"))),
                tax: TaxMapping(model: .line, taxable: ERPReference("OUTPUT"), nonTaxable: ERPReference("NONE")),
                payments: PaymentMapping(depositAccount: ERPReference("090")))
        let text = String(decoding: try JSONEncoder().encode(mapping), as: UTF8.self)
        let apiBase = quickbooks ? base : base + "/api.xro/2.0"
        let company = quickbooks ? Self.realm : Self.xeroTenant
        try await fixture.pool.execute(
            """
            INSERT INTO erp_connection_settings (connection_id, tenant_id, api_base_url, company_id, mapping)
            VALUES (\(fixture.connection), \(fixture.tenant), \(apiBase), \(company), \(text)::jsonb)
            ON CONFLICT (connection_id) DO UPDATE SET api_base_url = EXCLUDED.api_base_url
            """)
        let grant = try await token("\(fixture.erp.rawValue):\(company)")
        try await CredentialStore(store: store, vault: TwoWayStack.vault).save(
            ConnectionSecrets(
                accessToken: grant.access, refreshToken: grant.refresh, accessExpiresAt: Date().addingTimeInterval(1500)),
            tenantID: fixture.tenantID, connectionID: fixture.connection, logger: logger)
    }

    /// A processor for connector `C` against the simulator, connectors built from the stored settings.
    func processor<C: ERPConnector>(
        _ type: C.Type, store: SyncStateStore, transport: (any HTTPTransport)? = nil, rateLimits: [RateLimit]? = nil
    ) -> JobProcessor<C> {
        let tokenURL = C.erp == .quickbooksOnline ? base + "/oauth2/v1/tokens/bearer" : base + "/connect/token"
        let factory = StoredConnectorFactory<C>(
            store: store, credentials: CredentialStore(store: store, vault: TwoWayStack.vault),
            refresher: OAuth2TokenRefresher(
                tokenURL: tokenURL, clientID: "ledgerline-sim", clientSecret: "ledgerline-sim-secret", transport: http))
        let logger = self.logger
        return JobProcessor<C>(
            store: store, transport: transport ?? http,
            retry: RetryPolicy(
                initialBackoff: .milliseconds(10), maximumBackoff: .milliseconds(50), horizon: .seconds(3600),
                dependencyWait: .milliseconds(200)),
            rateLimitWait: .seconds(30), rateLimits: rateLimits
        ) { job, transport in
            try await factory.make(job, transport: transport, logger: logger)
        }
    }

    // MARK: QuickBooks API calls a bookkeeper would make

    func quickbooks(_ method: HTTPMethod, _ resource: String, _ body: String? = nil, query: String = "") async throws
        -> [String: Any]
    {
        let token = try await token("quickbooks-online:\(Self.realm)").access
        let answer = try await call(
            method, "\(base)/v3/company/\(Self.realm)/\(resource)?minorversion=75\(query)", body, token: token)
        #expect(answer.status == 200, "QuickBooks \(resource): \(answer.status) \(answer.json)")
        return answer.json
    }
}

/// Runs `process` until the run is no longer continuing (chunks) or `limit` jobs were processed.
func drain<C: ERPConnector>(
    _ pull: PullProcessor<C>, _ job: SyncJob, limit: Int = 200
) async throws -> [JobOutcome] {
    var outcomes: [JobOutcome] = []
    for _ in 0..<limit {
        let outcome = try await pull.process(job, logger: TwoWayStack.logger)
        outcomes.append(outcome)
        if case .deferred(let reason, _) = outcome, reason == PullProcessor<C>.continues { continue }
        break
    }
    return outcomes
}

/// A transport that forwards requests and, once `after` pull requests went through, never answers (a worker
/// that died mid-run: its lease stays until it expires).
final class DyingTransport: HTTPTransport, Sendable {
    let base: any HTTPTransport
    let after: Int
    let seen = Mutex(0)

    init(base: any HTTPTransport, after: Int) {
        self.base = base
        self.after = after
    }

    func execute(_ request: HTTPRequest, logger: Logger) async throws -> HTTPResponse {
        if request.url.contains("/query"), !request.url.lowercased().contains("count") {
            let count = seen.withLock { value -> Int in
                value += 1
                return value
            }
            if count > after { try await Task.sleep(for: .seconds(3600)) }
        }
        return try await base.execute(request, logger: logger)
    }
}
