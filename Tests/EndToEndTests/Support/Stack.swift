import Crypto
import Foundation
import HTTP
import Logging
import Postgres
import TestSupport

let e2eLogger = Logger(label: "ledgerline.e2e-tests")

/// The running system under test: erp-sim, ingest (HTTP intake and outbox relay) and workers as real
/// processes, on the test stack's RabbitMQ and Postgres. Tests add tenants, send signed events to ingest,
/// inject faults at the simulator and read the outcome from Postgres and the simulator's document record.
final class EndToEndStack: Sendable {
    let sim: ServiceProcess
    let ingest: ServiceProcess
    let simURL: String
    let ingestURL: String
    let pool: PostgresPool
    let http: HTTPClient

    /// Starts erp-sim and ingest (workers are started by the tests, see ``startWorker(_:environment:)``).
    static func start(simEnvironment: [String: String] = [:]) async throws -> EndToEndStack {
        var configuration = try PostgresConfiguration(
            url: try TestEnvironment.postgresURL.orThrow("LEDGERLINE_POSTGRES_URL"), password: TestEnvironment.postgresPassword)
        configuration.connectTimeout = .seconds(5)
        let pool = PostgresPool(configuration: configuration, maxConnections: 4, logger: e2eLogger)
        _ = try Services.run("syncctl", ["migrate"])
        _ = try Services.run("syncctl", ["topology"])
        // Other test targets leave outbox rows addressed to their own throwaway exchanges (gone now); the relay
        // of this stack's ingest would keep retrying them ahead of this test's jobs.
        try await pool.execute("DELETE FROM outbox WHERE published_at IS NULL AND exchange NOT LIKE 'ledgerline.%'")
        // Earlier tests' companies lived in simulators that are gone: retire their connections, so the sweeper
        // does not hand this test's workers jobs that can only fail.
        try await pool.execute("UPDATE erp_connections SET status = 'disconnected' WHERE tenant_id LIKE 'e2e-%'")
        try await pool.execute(
            """
            UPDATE sync_documents SET state = 'parked', reason = 'sync.connection_inactive', updated_at = now()
            WHERE tenant_id LIKE 'e2e-%' AND state NOT IN ('synced', 'parked')
            """)
        let simPort = try Services.freePort()
        let sim = try Services.start(
            "erp-sim",
            environment: [
                "LEDGERLINE_ERPSIM_PORT": "\(simPort)", "LEDGERLINE_ADMIN_PORT": "\(try Services.freePort())",
            ].merging(simEnvironment) { $1 })
        let ingestPort = try Services.freePort()
        let ingest = try Services.start(
            "ingest",
            environment: [
                "LEDGERLINE_INGEST_HTTP_PORT": "\(ingestPort)", "LEDGERLINE_ADMIN_PORT": "\(try Services.freePort())",
                "LEDGERLINE_INGEST_AMQP_ENABLED": "false",
            ])
        let stack = EndToEndStack(
            sim: sim, ingest: ingest, simURL: "http://127.0.0.1:\(simPort)", ingestURL: "http://127.0.0.1:\(ingestPort)",
            pool: pool, http: try HTTPClient(logger: e2eLogger))
        try await eventually("erp-sim to answer", timeout: .seconds(30)) {
            (try? await stack.get(stack.simURL + "/_sim/health"))?.status == 200
        }
        try await eventually("ingest to answer", timeout: .seconds(30)) {
            (try? await stack.http.execute(HTTPRequest(method: .post, url: stack.ingestURL + "/v1/events"), logger: e2eLogger)) != nil
        }
        return stack
    }

    private init(
        sim: ServiceProcess, ingest: ServiceProcess, simURL: String, ingestURL: String, pool: PostgresPool, http: HTTPClient
    ) {
        self.sim = sim
        self.ingest = ingest
        self.simURL = simURL
        self.ingestURL = ingestURL
        self.pool = pool
        self.http = http
    }

    func shutdown() {
        ingest.stop()
        sim.stop()
        http.shutdown()
        pool.close()
    }

    // MARK: Workers

    /// Starts `worker-<erp>` with short leases (so a killed worker's claims come back within seconds).
    func startWorker(_ erp: String, name: String? = nil, environment: [String: String] = [:]) throws -> ServiceProcess {
        try Services.start(
            "worker-\(erp)", name: name,
            environment: [
                "LEDGERLINE_ADMIN_PORT": "\(try Services.freePort())", "LEDGERLINE_WORKER_LEASE_SECONDS": "10",
                "LEDGERLINE_OAUTH_CLIENT_ID": "ledgerline-sim", "LEDGERLINE_OAUTH_CLIENT_SECRET": "ledgerline-sim-secret",
                "LEDGERLINE_ERP_REQUEST_TIMEOUT_SECONDS": "5",
            ].merging(environment) { $1 })
    }

    // MARK: Tenants

    /// A tenant with one location connected to a company of its own at the simulator, through
    /// `ingest admin` and `syncctl connection configure / connect` (the OAuth code flow, curl as the browser).
    func tenant(erp: String, label: String) async throws -> Tenant {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let tenantID = "e2e-\(label)-\(suffix)"
        let location = "shop-01"
        let company = erp == "xero" ? UUID().uuidString.lowercased() : "93414530\(UInt64.random(in: 10_000_000...99_999_999))"
        let added = try await post(simURL + "/_sim/companies", json: ["erp": erp, "id": company])
        guard added.status == 201 else { throw HarnessError("adding a simulator company answered \(added.status)") }
        let output = try Services.run(
            "ingest", ["admin", "tenant-add", "--tenant", tenantID, "--location", location, "--time-zone", "America/Los_Angeles"])
        guard let secret = output.split(separator: "\n").first(where: { $0.hasPrefix("secret=") })?.dropFirst(7) else {
            throw HarnessError("tenant-add printed no secret")
        }
        let connectionOutput = try Services.run(
            "ingest", ["admin", "connection-add", "--tenant", tenantID, "--location", location, "--erp", erp])
        guard
            let connectionID = connectionOutput.split(separator: "\n").first(where: { $0.hasPrefix("connection_id=") })?
                .dropFirst(14)
        else { throw HarnessError("connection-add printed no id") }
        let api = erp == "xero" ? simURL + "/api.xro/2.0" : simURL
        let (authorize, token) =
            erp == "xero" ? ("/identity/connect/authorize", "/connect/token") : ("/connect/oauth2", "/oauth2/v1/tokens/bearer")
        let mapping = TestEnvironment.repositoryRoot.appendingPathComponent("deploy/demo/mapping-\(erp).json").path
        let mappingForShop = try Self.mapping(mapping, location: location)
        _ = try Services.run(
            "syncctl",
            [
                "connection", "configure", String(connectionID), "--api-base-url", api, "--authorize-url", simURL + authorize,
                "--token-url", simURL + token, "--mapping", mappingForShop,
            ])
        try connect(String(connectionID), company: company)
        return Tenant(id: tenantID, location: location, connectionID: String(connectionID), erp: erp, company: company,
                      secret: String(secret))
    }

    /// Runs `syncctl connection connect`; the "browser" approves `company` at the simulator.
    func connect(_ connectionID: String, company: String) throws {
        let browser = Services.logDirectory.appendingPathComponent("browser-\(company).sh")
        try "#!/bin/sh\nexec curl -sS -L -o /dev/null \"$1&sim_company=\(company)\"\n".write(
            to: browser, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: browser.path)
        _ = try Services.run(
            "syncctl",
            [
                "connection", "connect", connectionID, "--client-id", "ledgerline-sim", "--redirect-port",
                "\(try Services.freePort())", "--open-with", browser.path, "--timeout", "20",
            ], environment: ["LEDGERLINE_OAUTH_CLIENT_SECRET": "ledgerline-sim-secret"])
    }

    /// The demo mapping with its location entry renamed to `location`.
    static func mapping(_ path: String, location: String) throws -> String {
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        let locations = object["locations"] as? [String: Any] ?? [:]
        object["locations"] = [location: locations.values.first ?? [:]]
        let out = Services.logDirectory.appendingPathComponent("mapping-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: object).write(to: out)
        return out.path
    }

    // MARK: Events

    /// Sends events to `POST /v1/events` as one signed batch; returns the per-event outcomes.
    @discardableResult
    func send(_ events: [[String: Any]], tenant: Tenant) async throws -> [String] {
        var outcomes: [String] = []
        for chunk in stride(from: 0, to: events.count, by: 500).map({ Array(events[$0..<min($0 + 500, events.count)]) }) {
            let body = Array(try JSONSerialization.data(withJSONObject: chunk).map { $0 })
            let timestamp = String(Int(Date().timeIntervalSince1970))
            let mac = HMAC<SHA256>.authenticationCode(
                for: Array(timestamp.utf8) + Array(".".utf8) + body, using: SymmetricKey(data: Data(tenant.secret.utf8)))
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Ledgerline-Tenant", value: tenant.id)
            headers.add(name: "Ledgerline-Timestamp", value: timestamp)
            headers.add(name: "Ledgerline-Signature", value: "v1=" + mac.map { String(format: "%02x", $0) }.joined())
            headers.add(name: "Idempotency-Key", value: "batch-\(UUID().uuidString)")
            let response = try await http.execute(
                HTTPRequest(method: .post, url: ingestURL + "/v1/events", headers: headers, body: body, timeout: .seconds(60)),
                logger: e2eLogger)
            guard response.status < 300,
                let answer = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
                let answers = answer["results"] as? [[String: Any]]
            else {
                throw HarnessError("ingest answered \(response.status): \(String(decoding: response.body, as: UTF8.self))")
            }
            outcomes += answers.map { $0["outcome"] as? String ?? "?" }
        }
        return outcomes
    }

    // MARK: Outcomes

    /// Documents of `tenant` by state.
    func states(_ tenant: Tenant) async throws -> [String: Int] {
        var result: [String: Int] = [:]
        for row in try await pool.query(
            "SELECT document_kind || ':' || state AS key, count(*) AS n FROM sync_documents WHERE tenant_id = \(tenant.id) GROUP BY 1")
        {
            result[try row.decode(String.self, "key")] = Int(try row.decode(Int64.self, "n"))
        }
        return result
    }

    /// Waits until `invoices` invoices and `payments` payments of `tenant` are synced or parked.
    func waitSettled(_ tenant: Tenant, invoices: Int, payments: Int = 0, timeout: Duration = .seconds(120)) async throws {
        do {
            try await eventually("\(invoices) invoices and \(payments) payments to settle", timeout: timeout, every: .milliseconds(500)) {
                let states = try await states(tenant)
                let settledInvoices = (states["invoice:synced"] ?? 0) + (states["invoice:parked"] ?? 0)
                let settledPayments = (states["payment:synced"] ?? 0) + (states["payment:parked"] ?? 0)
                return settledInvoices >= invoices && settledPayments >= payments
            }
        } catch {
            throw HarnessError("\(error); states now: \(try await states(tenant))")
        }
    }

    /// What the simulator holds for a company: documents per entity and the duplicates it found.
    func simDocuments(company: String) async throws -> (counts: [String: Int], duplicates: Int, numbers: [String]) {
        let response = try await get(simURL + "/_sim/documents?company=\(company)")
        let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] ?? [:]
        let counts = (object["counts"] as? [String: Any] ?? [:]).mapValues { ($0 as? NSNumber)?.intValue ?? 0 }
        let documents = object["documents"] as? [[String: Any]] ?? []
        return (
            counts, (object["duplicates"] as? [Any])?.count ?? -1,
            documents.filter { ($0["entity"] as? String) == "Invoice" }.compactMap { $0["number"] as? String }
        )
    }

    /// Queues a fault at the simulator.
    func fault(_ spec: [String: Any]) async throws {
        let response = try await post(simURL + "/_sim/faults", json: spec)
        guard response.status == 201 else { throw HarnessError("queuing a fault answered \(response.status)") }
    }

    /// Faults still queued (not yet consumed).
    func pendingFaults() async throws -> Int {
        let response = try await get(simURL + "/_sim/faults")
        let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return (object?["faults"] as? [[String: Any]])?.reduce(0) { $0 + (($1["count"] as? NSNumber)?.intValue ?? 1) } ?? -1
    }

    func get(_ url: String) async throws -> HTTPResponse {
        try await http.execute(HTTPRequest(method: .get, url: url, timeout: .seconds(10)), logger: e2eLogger)
    }

    func post(_ url: String, json: [String: Any]) async throws -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        return try await http.execute(
            HTTPRequest(
                method: .post, url: url, headers: headers, body: Array(try JSONSerialization.data(withJSONObject: json)),
                timeout: .seconds(10)), logger: e2eLogger)
    }
}

/// A tenant with one location and one connection.
struct Tenant: Sendable {
    let id: String
    let location: String
    let connectionID: String
    let erp: String
    let company: String
    let secret: String

    var currency: String { erp == "xero" ? "AUD" : "USD" }
}

extension Optional {
    func orThrow(_ what: String) throws -> Wrapped {
        guard let self else { throw HarnessError("\(what) is not set") }
        return self
    }
}
