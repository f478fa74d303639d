// WorkerBench: jobs/s through the real `worker-xero` executable (1 process, then 4 replicas) against erp-sim
// with rate limits off and no faults, and the RSS of each worker process under load (see Benchmarks/worker.sh).
//
// Each phase: a fresh tenant + Xero connection pointed at erp-sim (sealed grant from the sim's control API),
// N canonical invoices (20 customers) seeded with SQL, the worker processes started (own pools and AMQP
// connections), N push_invoice jobs published with confirms to `ledgerline.jobs`; the clock runs from the first
// publish until every document is `synced`. RSS is sampled from /proc/<pid>/status every 100 ms.
//
// Environment:
//   LEDGERLINE_POSTGRES_URL, LEDGERLINE_POSTGRES_PASSWORD, LEDGERLINE_AMQP_URL, LEDGERLINE_AMQP_PASSWORD
//   WORKER_BENCH_SIM_URL      erp-sim base URL, e.g. http://127.0.0.1:8797 (required; started with
//                             LEDGERLINE_ERPSIM_RATE_LIMITS=off)
//   BIN_DIR                   where worker-xero is (default: next to this executable)
//   WORKER_BENCH_JOBS         jobs per phase (default 2000)
//   WORKER_BENCH_CONCURRENCY  jobs at once per worker process (default 8)
//   WORKER_BENCH_SECONDS      time limit of each phase (default 120)
// Prints FIGURE lines:
//   worker.jobs_per_s.1_replica / .4_replicas       jobs/s  published → synced (all N)
//   worker.rss_hwm_mib.1_replica / .4_replicas_max  MiB     VmHWM of the worker process(es) after the phase
//   worker.rss_mib.1_replica / .4_replicas_max      MiB     highest VmRSS sampled during the phase
import AMQP
import Connectors
import Domain
import Foundation
import HTTP
import Logging
import Postgres
import WorkerRuntime

#if canImport(Glibc)
import Glibc
#endif

struct BenchError: Error, CustomStringConvertible {
    let description: String
}

let logger = Logger(label: "worker-bench") { _ in SwiftLogNoOpLogHandler() }
let environment = ProcessInfo.processInfo.environment
func setting(_ key: String, _ fallback: String? = nil) throws -> String {
    guard let value = environment[key] ?? fallback else { throw BenchError(description: "\(key) is required") }
    return value
}

let simURL = try setting("WORKER_BENCH_SIM_URL")
let jobCount = Int(try setting("WORKER_BENCH_JOBS", "2000")) ?? 2000
let concurrency = Int(try setting("WORKER_BENCH_CONCURRENCY", "8")) ?? 8
let phaseSeconds = Int(try setting("WORKER_BENCH_SECONDS", "120")) ?? 120
let binDir = environment["BIN_DIR"]
    ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
let workerPath = binDir + "/worker-xero"
let xeroTenant = "3f5e8a3c-0d4b-4a57-9a3e-7d1c2b6f0001"
let secretsKey = Data(repeating: 42, count: 32).base64EncodedString()

let postgres = try PostgresConfiguration(
    url: try setting("LEDGERLINE_POSTGRES_URL"), password: environment["LEDGERLINE_POSTGRES_PASSWORD"])
let amqp = try AMQPConfiguration(url: try setting("LEDGERLINE_AMQP_URL"), password: environment["LEDGERLINE_AMQP_PASSWORD"])
let pool = PostgresPool(configuration: postgres, maxConnections: 4, logger: logger)
var httpConfiguration = HTTPClientConfiguration()
httpConfiguration.followRedirects = .doNotFollow
let http = try HTTPClient(configuration: httpConfiguration, logger: logger)

func control(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: "application/json")
    let response = try await http.execute(
        HTTPRequest(method: method, url: simURL + path, headers: headers, body: body.map { Array($0.utf8) }),
        logger: logger)
    guard response.status < 300 else { throw BenchError(description: "erp-sim \(path) answered \(response.status)") }
    return (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
}

/// A tenant, a Xero connection on the simulator with a sealed grant, and `count` invoices (20 customers).
func seed(run: String, count: Int) async throws -> (tenant: String, connection: UUID) {
    let tenant = "wb-\(run)"
    try await pool.execute("INSERT INTO tenants (tenant_id, display_name) VALUES (\(tenant), 'Worker bench')")
    try await pool.execute(
        "INSERT INTO locations (tenant_id, location_id, display_name) VALUES (\(tenant), 'loc-01', 'Shop')")
    // The sweeper serves every active connection of its ERP: retire the earlier ones.
    try await pool.execute("UPDATE erp_connections SET status = 'disconnected' WHERE erp = 'xero' AND status = 'active'")
    let connection = try await pool.query(
        "INSERT INTO erp_connections (tenant_id, location_id, erp) VALUES (\(tenant), 'loc-01', 'xero') RETURNING connection_id"
    )[0].decode(UUID.self, "connection_id")
    let mapping = String(
        decoding: try JSONEncoder().encode(
            MappingConfiguration(
                lines: LineMappings(
                    part: LineMapping(account: ERPReference("200")), labor: LineMapping(account: ERPReference("201")),
                    fee: LineMapping(account: ERPReference("202")), sublet: LineMapping(account: ERPReference("203")),
                    coreCharge: LineMapping(account: ERPReference("204")),
                    discount: LineMapping(account: ERPReference("205"))),
                tax: TaxMapping(model: .line, taxable: ERPReference("OUTPUT"), nonTaxable: ERPReference("NONE")),
                payments: PaymentMapping(depositAccount: ERPReference("090")))), as: UTF8.self)
    try await pool.execute(
        """
        INSERT INTO erp_connection_settings (connection_id, tenant_id, api_base_url, company_id, mapping)
        VALUES (\(connection), \(tenant), \(simURL + "/api.xro/2.0"), \(xeroTenant), \(mapping)::jsonb)
        """)
    let grant = try await control(.post, "/_sim/oauth/grants", #"{"company":"xero:\#(xeroTenant)"}"#)
    guard let access = grant["access_token"] as? String else { throw BenchError(description: "no grant") }
    let store = SyncStateStore(pool: pool, workerID: "bench")
    try await CredentialStore(store: store, vault: try CredentialVault(base64Key: secretsKey)).save(
        ConnectionSecrets(
            accessToken: access, refreshToken: grant["refresh_token"] as? String,
            accessExpiresAt: Date().addingTimeInterval(1700)),
        tenantID: TenantID(tenant), connectionID: connection, logger: logger)
    try await pool.execute(
        """
        INSERT INTO customers (tenant_id, location_id, source_system, customer_id, name, tax_exempt, last_seen_occurred_at)
        SELECT \(tenant), 'loc-01', 'shop', 'c-' || n, \("Bench " + run + " customer ") || n, false, now()
        FROM generate_series(1, 20) AS n
        """)
    try await pool.execute(
        """
        INSERT INTO invoices (tenant_id, location_id, source_system, invoice_id, invoice_number, status, issue_date,
                              currency, customer_id, customer_name, subtotal, tax_total, total, amount_paid,
                              balance_due, invoice_version, last_occurred_at, last_event_id)
        SELECT \(tenant), 'loc-01', 'shop', 'i-' || n, \(run + "-") || n, 'open', '2026-11-20', 'USD',
               'c-' || (n % 20 + 1), \("Bench " + run + " customer ") || (n % 20 + 1), 120.00, 0, 120.00, 0, 120.00, 1,
               now(), 'e-1'
        FROM generate_series(1, \(count)) AS n
        """)
    try await pool.execute(
        """
        INSERT INTO invoice_lines (invoice_key, invoice_version, line_number, tenant_id, kind, description, quantity,
                                   unit_price, amount, taxable)
        SELECT invoice_key, 1, 1, tenant_id, 'labor', 'Brake job', 1, 120.00, 120.00, false
        FROM invoices WHERE tenant_id = \(tenant)
        """)
    return (tenant, connection)
}

/// VmRSS and VmHWM of a process, in KiB.
func memory(of pid: Int32) -> (rss: Int, hwm: Int)? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    func field(_ name: String) -> Int {
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return Int(line.split(separator: " ").dropFirst().first(where: { Int($0) != nil }) ?? "0") ?? 0
        }
        return 0
    }
    return (field("VmRSS"), field("VmHWM"))
}

func startWorkers(_ count: Int, run: String) throws -> [Process] {
    try (0..<count).map { index in
        let process = Process()
        process.executableURL = URL(fileURLWithPath: workerPath)
        var env = environment
        env["LEDGERLINE_SECRETS_KEY"] = secretsKey
        env["LEDGERLINE_WORKER_ID"] = "bench-\(run)-\(index)"
        env["LEDGERLINE_WORKER_CONCURRENCY"] = String(concurrency)
        env["LEDGERLINE_POSTGRES_POOL_SIZE"] = String(2 * concurrency + 2)
        env["LEDGERLINE_WORKER_RATE_LIMITS"] = "off"
        env["LEDGERLINE_ADMIN_PORT"] = "0"
        env["LEDGERLINE_LOG_LEVEL"] = "error"
        env.removeValue(forKey: "LEDGERLINE_FAULT_CRASH_AT")
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }
}

func phase(replicas: Int, label: String) async throws {
    let run = "\(label)-\(UUID().uuidString.prefix(6).lowercased())"
    let (tenant, connection) = try await seed(run: run, count: jobCount)
    let admin = try await AMQPAdmin.connect(configuration: amqp, logger: logger)
    _ = try await admin.purgeQueue(ERP.xero.jobQueue)
    let workers = try startWorkers(replicas, run: run)
    defer {
        for worker in workers where worker.isRunning { worker.terminate() }
        for worker in workers { worker.waitUntilExit() }
    }
    // Wait until every replica consumes.
    let ready = ContinuousClock.now + .seconds(30)
    while (try await admin.queueStatus(ERP.xero.jobQueue)?.consumerCount ?? 0) < replicas {
        guard ContinuousClock.now < ready else { throw BenchError(description: "workers did not start") }
        try await Task.sleep(for: .milliseconds(100))
    }
    let publisher = try await AMQPPublisher(configuration: amqp, logger: logger)
    let encoder = WireFormat.encoder()
    let requests = try (1...jobCount).map { n in
        AMQPPublishRequest(
            AMQPMessage(
                body: Array(
                    try encoder.encode(
                        SyncJob(
                            jobID: "\(run)-\(n)", kind: .pushInvoice, trigger: .event, tenantID: TenantID(tenant),
                            locationID: "loc-01", connectionID: connection, erp: .xero, invoiceID: "i-\(n)",
                            invoiceVersion: 1, enqueuedAt: Date()))), messageID: "\(run)-\(n)",
                contentType: "application/json"),
            exchange: "ledgerline.jobs", routingKey: ERP.xero.jobRoutingKey)
    }
    var peakRSS = [Int](repeating: 0, count: replicas)
    let started = ContinuousClock.now
    for start in stride(from: 0, to: requests.count, by: 500) {
        for result in try await publisher.publish(batch: Array(requests[start..<min(start + 500, requests.count)])) {
            _ = try result.get()
        }
    }
    await publisher.close()
    let deadline = started + .seconds(phaseSeconds)
    var synced = 0
    var nextSample = ContinuousClock.now
    while synced < jobCount {
        guard ContinuousClock.now < deadline else {
            throw BenchError(description: "\(label): only \(synced) of \(jobCount) synced within \(phaseSeconds) s")
        }
        if ContinuousClock.now >= nextSample {
            for (index, worker) in workers.enumerated() {
                peakRSS[index] = max(peakRSS[index], memory(of: worker.processIdentifier)?.rss ?? 0)
            }
            nextSample = ContinuousClock.now + .milliseconds(100)
        }
        synced = try await pool.query(
            "SELECT count(*)::int AS n FROM sync_documents WHERE tenant_id = \(tenant) AND state = 'synced'"
        )[0].decode(Int.self, "n")
        if synced < jobCount { try await Task.sleep(for: .milliseconds(50)) }
    }
    let elapsed = ContinuousClock.now - started
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let hwm = workers.map { memory(of: $0.processIdentifier)?.hwm ?? 0 }
    for (index, worker) in workers.enumerated() { peakRSS[index] = max(peakRSS[index], memory(of: worker.processIdentifier)?.rss ?? 0) }
    let other = try await pool.query(
        "SELECT state, count(*)::int AS n FROM sync_documents WHERE tenant_id = \(tenant) AND state <> 'synced' GROUP BY state")
    if !other.isEmpty { print("# \(label): documents not synced: \(try other.map { "\(try $0.decode(String.self, "state"))=\(try $0.decode(Int.self, "n"))" })") }
    await admin.close()
    let suffix = replicas == 1 ? "1_replica" : "\(replicas)_replicas"
    print("FIGURE worker.jobs_per_s.\(suffix) \(String(format: "%.1f", Double(jobCount) / seconds)) jobs/s")
    print("FIGURE worker.rss_hwm_mib.\(suffix)\(replicas == 1 ? "" : "_max") \(String(format: "%.1f", Double(hwm.max() ?? 0) / 1024)) MiB")
    print("FIGURE worker.rss_mib.\(suffix)\(replicas == 1 ? "" : "_max") \(String(format: "%.1f", Double(peakRSS.max() ?? 0) / 1024)) MiB")
    print("# \(label): \(jobCount) jobs in \(String(format: "%.2f", seconds)) s, \(replicas) worker process(es) × concurrency \(concurrency)")
}

guard FileManager.default.isExecutableFile(atPath: workerPath) else {
    throw BenchError(description: "missing \(workerPath): swift build -c release --product worker-xero")
}
_ = try await control(.get, "/_sim/health")
try await phase(replicas: 1, label: "one")
try await phase(replicas: 4, label: "four")
http.shutdown()
pool.close()
