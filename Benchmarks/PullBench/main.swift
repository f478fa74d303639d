// PullBench: initial-sync throughput against erp-sim with its real rate limits, as a fraction of what the ERP's
// documented request limit allows (requests/s × page size). Started by Benchmarks/pull.sh, which runs erp-sim
// (limits on) and passes its URL. Prints `FIGURE <name> <value> <unit>` lines.
//
// Settings: LEDGERLINE_POSTGRES_URL / _PASSWORD (migrated database), LEDGERLINE_PULLBENCH_SIM (erp-sim base URL),
// LEDGERLINE_PULLBENCH_XERO_CUSTOMERS / _XERO_INVOICES (default 1,000 / 10,000: about two minutes at Xero's
// 60 calls/min), LEDGERLINE_PULLBENCH_QBO_CUSTOMERS / _QBO_INVOICES (default 5,000 / 20,000),
// LEDGERLINE_PULLBENCH_ERPS (default "xero,quickbooks-online").
import Connectors
import Domain
import Foundation
import HTTP
import Logging
import Postgres
import WorkerRuntime

let environment = ProcessInfo.processInfo.environment
let logger = Logger(label: "pull-bench") { _ in SwiftLogNoOpLogHandler() }

func setting(_ key: String, _ fallback: String) -> String { environment[key].flatMap { $0.isEmpty ? nil : $0 } ?? fallback }
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("pull-bench: \(message)\n".utf8))
    exit(1)
}

let simURL = setting("LEDGERLINE_PULLBENCH_SIM", "http://127.0.0.1:8790")
guard let postgresURL = environment["LEDGERLINE_POSTGRES_URL"] else { fail("LEDGERLINE_POSTGRES_URL is not set") }

var clientConfiguration = HTTPClientConfiguration()
clientConfiguration.requestTimeout = .seconds(60)
let http = try HTTPClient(configuration: clientConfiguration, logger: logger)
let pool = PostgresPool(
    configuration: try PostgresConfiguration(url: postgresURL, password: environment["LEDGERLINE_POSTGRES_PASSWORD"]),
    maxConnections: 4, logger: logger)
let vault = try CredentialVault(base64Key: Data(repeating: 11, count: 32).base64EncodedString())

func control(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: "application/json")
    let response = try await http.execute(
        HTTPRequest(method: method, url: simURL + path, headers: headers, body: body.map { Array($0.utf8) }),
        logger: logger)
    guard response.status < 300 else { fail("erp-sim \(path) answered \(response.status)") }
    return (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
}

/// The tightest per-connection request rate the connector declares (requests per second) among the limits whose
/// window fits in a run of `duration` seconds (a longer window, e.g. Xero's 5,000 calls/day, only caps the count:
/// checked separately by the 429 figure).
func documentedRate(_ limits: [RateLimit], duration: Double) -> Double {
    var best = Double.infinity
    for limit in limits where limit.scope == .connection && limit.requests == .all {
        if case .rate(let count, let window) = limit.kind {
            let seconds = Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
            if seconds <= duration { best = min(best, Double(count) / seconds) }
        }
    }
    return best
}

func run<C: ERPConnector>(_ type: C.Type, company: String, apiBase: String, customers: Int, invoices: Int) async throws {
    let slug = C.erp == .xero ? "xero" : "quickbooks"
    let tenant = "pullbench-\(UUID().uuidString.prefix(8).lowercased())"
    try await pool.execute("INSERT INTO tenants (tenant_id, display_name) VALUES (\(tenant), 'Pull bench')")
    try await pool.execute("INSERT INTO locations (tenant_id, location_id, display_name) VALUES (\(tenant), 'loc', 'Shop')")
    let connection = try await pool.query(
        """
        INSERT INTO erp_connections (tenant_id, location_id, erp, pull_customers, pull_invoices, pull_payments)
        VALUES (\(tenant), 'loc', \("\(C.erp.rawValue)-bench"), true, true, false) RETURNING connection_id
        """)[0].decode(UUID.self, "connection_id")
    try await pool.execute(
        """
        INSERT INTO erp_connection_settings (connection_id, tenant_id, api_base_url, company_id, mapping)
        VALUES (\(connection), \(tenant), \(apiBase), \(company), '{}'::jsonb)
        """)
    let store = SyncStateStore(pool: pool, workerID: "pull-bench", auditExchange: "pull-bench.audit")
    _ = try await control(.post, "/_sim/reset")
    let fresh = try await control(.post, "/_sim/oauth/grants", #"{"company":"\#(C.erp.rawValue):\#(company)"}"#)
    try await CredentialStore(store: store, vault: vault).save(
        ConnectionSecrets(
            accessToken: fresh["access_token"] as? String ?? "", refreshToken: fresh["refresh_token"] as? String,
            accessExpiresAt: Date().addingTimeInterval(1500)),
        tenantID: TenantID(tenant), connectionID: connection, logger: logger)
    _ = try await control(
        .post, "/_sim/seed",
        #"{"company":"\#(C.erp.rawValue):\#(company)","customers":\#(customers),"invoices":\#(invoices)}"#)
    let factory = StoredConnectorFactory<C>(store: store, credentials: CredentialStore(store: store, vault: vault))
    let processor = JobProcessor<C>(store: store, transport: http, rateLimitWait: .seconds(60)) { job, transport in
        try await factory.make(job, transport: transport, logger: logger)
    }
    let pull = PullProcessor(processor: processor, options: PullOptions(chunkDuration: .seconds(3600)))
    let job = SyncJob(
        jobID: UUID().uuidString, kind: .initialSync, trigger: .initial, tenantID: TenantID(tenant),
        locationID: LocationID("loc"), connectionID: connection, erp: C.erp, enqueuedAt: Date())
    let before = try await control(.get, "/_sim/stats")
    let started = ContinuousClock.now
    var outcome = try await pull.process(job, logger: logger)
    var rounds = 0
    while case .deferred = outcome, rounds < 1000 {
        rounds += 1
        try await Task.sleep(for: .milliseconds(50))
        outcome = try await pull.process(job, logger: logger)
    }
    let elapsed = ContinuousClock.now - started
    guard outcome == .synced(action: "Initial Sync Completed") else { fail("\(C.erp) initial sync ended \(outcome)") }
    let after = try await control(.get, "/_sim/stats")
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let records = Double(customers + invoices)
    let requests = ((after["requests"] as? NSNumber)?.intValue ?? 0) - ((before["requests"] as? NSNumber)?.intValue ?? 0) - 1  // the stats call
    let limited = ((after["rate_limited"] as? NSNumber)?.intValue ?? 0) - ((before["rate_limited"] as? NSNumber)?.intValue ?? 0)
    let pageSize = Double(min(1000, C.capabilities.pull.maxPageSize))
    let allowedRequests = documentedRate(C.capabilities.rateLimits, duration: seconds)
    let allowedRecords = allowedRequests * pageSize
    print("FIGURE pull.initial_sync.records_per_s.\(slug) \(String(format: "%.1f", records / seconds)) rec/s")
    print("FIGURE pull.initial_sync.limit_allows.\(slug) \(String(format: "%.1f", allowedRecords)) rec/s")
    print("FIGURE pull.initial_sync.fraction_of_limit.\(slug) \(String(format: "%.1f", 100 * records / seconds / allowedRecords)) %")
    print("FIGURE pull.initial_sync.requests_per_s.\(slug) \(String(format: "%.2f", Double(requests) / seconds)) req/s")
    print("FIGURE pull.initial_sync.request_fraction_of_limit.\(slug) \(String(format: "%.1f", 100 * Double(requests) / seconds / allowedRequests)) %")
    print("FIGURE pull.initial_sync.seconds.\(slug) \(String(format: "%.1f", seconds)) s")
    print("FIGURE pull.initial_sync.http_429.\(slug) \(limited) count")
}

let erps = setting("LEDGERLINE_PULLBENCH_ERPS", "xero,quickbooks-online").split(separator: ",").map(String.init)
do {
    if erps.contains("xero") {
        try await run(
            XeroConnector.self, company: "3f5e8a3c-0d4b-4a57-9a3e-7d1c2b6f0001", apiBase: simURL + "/api.xro/2.0",
            customers: Int(setting("LEDGERLINE_PULLBENCH_XERO_CUSTOMERS", "1000")) ?? 1000,
            invoices: Int(setting("LEDGERLINE_PULLBENCH_XERO_INVOICES", "10000")) ?? 10000)
    }
    if erps.contains("quickbooks-online") {
        try await run(
            QuickBooksOnlineConnector.self, company: "9341453000000001", apiBase: simURL,
            customers: Int(setting("LEDGERLINE_PULLBENCH_QBO_CUSTOMERS", "5000")) ?? 5000,
            invoices: Int(setting("LEDGERLINE_PULLBENCH_QBO_INVOICES", "20000")) ?? 20000)
    }
} catch {
    fail("\(error)")
}
http.shutdown()
pool.close()
