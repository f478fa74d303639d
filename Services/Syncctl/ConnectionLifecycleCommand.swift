import ArgumentParser
import Connectors
import Domain
import Foundation
import Logging
import Postgres
import Runtime
import WorkerRuntime

/// The lifecycle subcommands of `syncctl connection` (issue 8): status, disconnect, reconnect, preferences,
/// initial sync / pull with progress, migration. docs/two-way-sync.md.
let connectionLifecycleSubcommands: [any ParsableCommand.Type] = [
    ConnectionStatus.self, ConnectionDisconnect.self, ConnectionReconnect.self, ConnectionPreferencesCommand.self,
    ConnectionSync.self, ConnectionMigrate.self,
]

/// A one-connection pool and the connection's row (tenant, ERP), for the lifecycle commands.
private struct LifecycleContext {
    var pool: PostgresPool
    var row: ConnectionRow
    var lifecycle: ConnectionLifecycle
    var store: SyncStateStore

    static func open(_ common: CommonOptions, connection text: String) async throws -> LifecycleContext {
        let connection = try await connectPostgres(common)
        defer { connection.close() }
        let row = try await ConnectionRow.load(text, connection: connection, logger: common.logger)
        let pool = PostgresPool(
            configuration: try common.settings.postgres(applicationName: "syncctl"), maxConnections: 1,
            logger: common.logger)
        let store = SyncStateStore(pool: pool, workerID: "syncctl")
        return LifecycleContext(pool: pool, row: row, lifecycle: ConnectionLifecycle(store: store), store: store)
    }

    var tenant: TenantID { TenantID(row.tenant) }
}

// MARK: status

struct ConnectionStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "One connection: status (connected, needs re-authorization, disconnected), last sync per object, queue depth, token expiry, preferences.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "The connection id.") var connection: String

    func run() async throws {
        let context = try await LifecycleContext.open(common, connection: connection)
        defer { context.pool.close() }
        let logger = common.logger
        let lines: [String] = try await context.store.inTenant(context.tenant, logger: logger) { db in
            var out: [String] = []
            guard
                let c = try await db.query(
                    """
                    SELECT c.status, c.disconnected_at, c.push_customers, c.push_invoices, c.push_payments, c.pull_customers,
                           c.pull_invoices, c.pull_payments, c.customers_active_only, c.payment_deposit_account,
                           c.sync_interval_minutes, c.frozen_for_migration_to::text AS frozen,
                           coalesce(s.company_id, '') AS company, s.reauth_reason, k.access_expires_at
                    FROM erp_connections c
                    LEFT JOIN erp_connection_settings s ON s.connection_id = c.connection_id
                    LEFT JOIN erp_connection_credentials k ON k.connection_id = c.connection_id
                    WHERE c.connection_id = \(context.row.id)
                    """, logger: logger
                ).first
            else { return ["no such connection"] }
            let status = try c.decode(String.self, "status")
            let shown =
                ["active": "connected", "needs_reauth": "needs re-authorization", "disconnected": "disconnected",
                 "paused": "paused"][status] ?? status
            out.append("\(context.row.id.uuidString.lowercased())  \(context.row.tenant)/\(context.row.location)  \(context.row.erp.rawValue)  \(shown)")
            let company = try c.decode(String.self, "company")
            let expiry = try c.decode(Date?.self, "access_expires_at")
            out.append(
                "  company \(company.isEmpty ? "(not connected)" : company)  token \(expiry.map { $0 < Date() ? "expired \(Self.stamp($0))" : "expires \(Self.stamp($0))" } ?? "none")"
            )
            if status == "needs_reauth" {
                out.append(
                    "  authorization lost (\(try c.decode(String?.self, "reauth_reason") ?? "token rejected")); fix: syncctl connection connect \(context.row.id.uuidString.lowercased()), then syncctl connection reconnect \(context.row.id.uuidString.lowercased())"
                )
            }
            if status == "disconnected" {
                out.append("  disconnected \(try c.decode(Date?.self, "disconnected_at").map(Self.stamp) ?? ""); data kept; jobs parked until: syncctl connection reconnect \(context.row.id.uuidString.lowercased())")
            }
            if let frozen = try c.decode(String?.self, "frozen") { out.append("  frozen: migrated to connection \(frozen)") }
            func flag(_ name: String) throws -> String { try c.decode(Bool.self, name) ? "yes" : "no" }
            out.append(
                "  preferences: from ERP customers \(try flag("pull_customers")) invoices \(try flag("pull_invoices")) payments \(try flag("pull_payments")); to ERP customers \(try flag("push_customers")) invoices \(try flag("push_invoices")) payments \(try flag("push_payments")); customers \(try c.decode(Bool.self, "customers_active_only") ? "active only" : "all"); deposit account \(try c.decode(String?.self, "payment_deposit_account") ?? "(mapping)"); interval \(try c.decode(Int.self, "sync_interval_minutes")) min"
            )
            for row in try await db.query(
                """
                SELECT document_kind, max(synced_at) AS last_synced,
                       count(*) FILTER (WHERE state NOT IN ('synced', 'parked')) AS queued,
                       count(*) FILTER (WHERE state = 'parked') AS parked
                FROM sync_documents WHERE tenant_id = \(context.row.tenant) AND connection_id = \(context.row.id)
                GROUP BY document_kind ORDER BY document_kind
                """, logger: logger)
            {
                out.append(
                    "  push \(try row.decode(String.self, "document_kind")): last synced \(try row.decode(Date?.self, "last_synced").map(Self.stamp) ?? "never"), queue \(try row.decode(Int64.self, "queued")), parked \(try row.decode(Int64.self, "parked"))"
                )
            }
            for row in try await db.query(
                """
                SELECT run_kind, state, completed_at, last_success_since, records, pages, reason, entities
                FROM erp_pull_runs WHERE tenant_id = \(context.row.tenant) AND connection_id = \(context.row.id)
                ORDER BY run_kind
                """, logger: logger)
            {
                out.append(
                    "  \(try row.decode(String.self, "run_kind") == "initial" ? "initial sync" : "pull") [\(try row.decode([String].self, "entities").joined(separator: ", "))]: \(try row.decode(String.self, "state")), last completed \(try row.decode(Date?.self, "completed_at").map(Self.stamp) ?? "never"), \(try row.decode(Int64.self, "records")) records in \(try row.decode(Int64.self, "pages")) pages\(try row.decode(String?.self, "reason").map { " (\($0))" } ?? "")"
                )
            }
            for row in try await db.query(
                """
                SELECT object_kind, count(*) AS n, count(*) FILTER (WHERE our_id IS NULL) AS erp_only,
                       max(last_pulled_at) AS last_pulled
                FROM erp_records WHERE tenant_id = \(context.row.tenant) AND connection_id = \(context.row.id)
                GROUP BY object_kind ORDER BY object_kind
                """, logger: logger)
            {
                out.append(
                    "  pulled \(try row.decode(String.self, "object_kind")): \(try row.decode(Int64.self, "n")) (\(try row.decode(Int64.self, "erp_only")) ERP-only), last \(try row.decode(Date?.self, "last_pulled").map(Self.stamp) ?? "never")"
                )
            }
            return out
        }
        for line in lines { print(line) }
    }

    static func stamp(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
}

// MARK: disconnect / reconnect

struct ConnectionDisconnect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disconnect",
        abstract: "Disconnect: keeps every record; pending jobs are parked until `connection reconnect`.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "The connection id.") var connection: String

    func run() async throws {
        let context = try await LifecycleContext.open(common, connection: connection)
        defer { context.pool.close() }
        let summary = try await context.lifecycle.disconnect(
            tenantID: context.tenant, connectionID: context.row.id, logger: common.logger)
        print(
            "disconnected \(context.row.id.uuidString.lowercased()): data kept; \(summary.parkedDocuments) documents and \(summary.parkedRuns) pulls parked. Reconnect the SAME company with: syncctl connection connect \(context.row.id.uuidString.lowercased()) && syncctl connection reconnect \(context.row.id.uuidString.lowercased())"
        )
    }
}

struct ConnectionReconnect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconnect",
        abstract: "Reactivate a disconnected (or re-authorized) connection; parked jobs resume, without duplicates.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "The connection id.") var connection: String

    func run() async throws {
        let context = try await LifecycleContext.open(common, connection: connection)
        defer { context.pool.close() }
        let resumed = try await context.lifecycle.reconnect(
            tenantID: context.tenant, connectionID: context.row.id, logger: common.logger)
        print("reconnected \(context.row.id.uuidString.lowercased()): \(resumed) parked jobs resume (the worker's sweeper re-enqueues them)")
    }
}

// MARK: preferences

struct ConnectionPreferencesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preferences",
        abstract: "Preferences > Accounting: direction per object, active customers only, deposit account, interval.",
        discussion: "Changes take effect on the next job. Example: --no-pull-invoices --customers active --sync-interval 120")

    @OptionGroup var common: CommonOptions
    @Argument(help: "The connection id.") var connection: String

    @Option(name: .customLong("pull-customers"), help: "Sync customers from the accounting system (true/false).") var pullCustomers: Bool?
    @Option(name: .customLong("pull-invoices"), help: "Sync invoices from the accounting system.") var pullInvoices: Bool?
    @Option(name: .customLong("pull-payments"), help: "Sync payments from the accounting system.") var pullPayments: Bool?
    @Option(name: .customLong("pull-items"), help: "Sync items from the accounting system (kept as ERP reference data).") var pullItems: Bool?
    @Option(name: .customLong("pull-tax-rates"), help: "Sync tax rates from the accounting system (kept as ERP reference data).") var pullTaxRates: Bool?
    @Option(name: .customLong("push-customers"), help: "Sync customers to the accounting system.") var pushCustomers: Bool?
    @Option(name: .customLong("push-invoices"), help: "Sync invoices to the accounting system.") var pushInvoices: Bool?
    @Option(name: .customLong("push-payments"), help: "Sync payments to the accounting system.") var pushPayments: Bool?
    @Flag(name: .customLong("no-pull-invoices"), help: "Shorthand for --pull-invoices false.") var noPullInvoices = false
    @Flag(name: .customLong("no-pull-customers"), help: "Shorthand for --pull-customers false.") var noPullCustomers = false
    @Flag(name: .customLong("no-pull-payments"), help: "Shorthand for --pull-payments false.") var noPullPayments = false
    @Option(help: "Customers to import: all | active.") var customers: String?
    @Option(name: .customLong("deposit-account"), help: "The ERP account payments are deposited to.") var depositAccount: String?
    @Option(name: .customLong("sync-interval"), help: "Minutes between regular pulls (5…10080).") var syncInterval: Int?

    func validate() throws {
        if let customers, !["all", "active"].contains(customers) { throw ValidationError("--customers is all or active") }
        if let syncInterval, !(5...10080).contains(syncInterval) { throw ValidationError("--sync-interval is 5…10080 minutes") }
    }

    func run() async throws {
        let context = try await LifecycleContext.open(common, connection: connection)
        defer { context.pool.close() }
        var preferences = ConnectionPreferences()
        preferences.pullCustomers = noPullCustomers ? false : pullCustomers
        preferences.pullInvoices = noPullInvoices ? false : pullInvoices
        preferences.pullPayments = noPullPayments ? false : pullPayments
        preferences.pullItems = pullItems
        preferences.pullTaxRates = pullTaxRates
        preferences.pushCustomers = pushCustomers
        preferences.pushInvoices = pushInvoices
        preferences.pushPayments = pushPayments
        preferences.customersActiveOnly = customers.map { $0 == "active" }
        preferences.paymentDepositAccount = depositAccount
        preferences.syncIntervalMinutes = syncInterval
        try await context.lifecycle.setPreferences(
            preferences, tenantID: context.tenant, connectionID: context.row.id, logger: common.logger)
        print("preferences saved for \(context.row.id.uuidString.lowercased()); they apply from the next job")
    }
}

// MARK: sync with progress

struct ConnectionSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Start the initial sync (--initial) or a pull, and show its progress bar and ETA until it ends.",
        discussion: """
            The job goes through the outbox (a running ingest or scheduler relays it) to the ERP's worker. The \
            progress is read from the run's checkpoint (erp_pull_runs); the ETA is bounded by the ERP's documented \
            rate limit (requests per window × page size). Ctrl-C stops watching, not the sync. --watch-only \
            shows a run already going.
            """)

    @OptionGroup var common: CommonOptions
    @Argument(help: "The connection id.") var connection: String
    @Flag(help: "The initial full sync (all customers, open and paid invoices).") var initial = false
    @Flag(name: .customLong("watch-only"), help: "Do not enqueue; only watch.") var watchOnly = false
    @Option(help: "Stop watching after this many seconds.") var timeout: Double = 6 * 3600

    func run() async throws {
        let context = try await LifecycleContext.open(common, connection: connection)
        defer { context.pool.close() }
        let logger = common.logger
        let runKind = initial ? "initial" : "pull"
        // The run number before this request: a completed run only counts when it is a newer one.
        let previousRun: Int64 = try await context.store.inTenant(context.tenant, logger: logger) { db in
            try await db.query(
                """
                SELECT run_number FROM erp_pull_runs
                WHERE tenant_id = \(context.row.tenant) AND connection_id = \(context.row.id) AND run_kind = \(runKind)
                """, logger: logger
            ).first?.decode(Int64.self, "run_number") ?? 0
        }
        let requestedAt = Date()
        if !watchOnly {
            let job = try await context.lifecycle.enqueuePull(
                tenantID: context.tenant, connectionID: context.row.id, initial: initial, logger: logger)
            FileHandle.standardOutput.write(Data("enqueued \(job.kind.rawValue) job \(job.jobID)\n".utf8))
        }
        let pageSize = context.row.connector.capabilities.pull.maxPageSize
        let limitRate = Self.requestsPerSecond(context.row.connector.capabilities.rateLimits)
        let deadline = Date().addingTimeInterval(timeout)
        var firstSeen: (Date, Int64)?
        var lastLine = ""
        while Date() < deadline {
            let row = try await context.store.inTenant(context.tenant, logger: logger) { db in
                try await db.query(
                    """
                    SELECT state, run_number, records, pages, estimated_total, reason, message, completed_at
                    FROM erp_pull_runs WHERE tenant_id = \(context.row.tenant) AND connection_id = \(context.row.id)
                      AND run_kind = \(runKind)
                    """, logger: logger
                ).first
            }
            guard let row else {
                lastLine = Self.show("waiting for the worker to start the \(runKind == "initial" ? "initial sync" : "pull")…", lastLine)
                try await Task.sleep(for: .seconds(1))
                continue
            }
            let state = try row.decode(String.self, "state")
            let runNumber = try row.decode(Int64.self, "run_number")
            let completedAt = try row.decode(Date?.self, "completed_at")
            let completedSince = completedAt.map { $0 >= requestedAt.addingTimeInterval(-1) } ?? false
            if !watchOnly && runNumber <= previousRun && state != "running" && state != "due" && !completedSince {
                // The worker has not taken the new job yet (a completed run is the previous one).
                lastLine = Self.show("waiting for the worker to take the job…", lastLine)
                try await Task.sleep(for: .seconds(1))
                continue
            }
            let records = try row.decode(Int64.self, "records")
            let total = try row.decode(Int64?.self, "estimated_total")
            let now = Date()
            if firstSeen == nil { firstSeen = (now, records) }
            let elapsed = now.timeIntervalSince(firstSeen!.0)
            let observed = elapsed > 1 ? Double(records - firstSeen!.1) / elapsed : 0
            let ceiling = limitRate.map { $0 * Double(pageSize) }  // records/s the rate limit allows at most
            var line = ""
            if let total, total > 0 {
                let fraction = min(1, Double(records) / Double(total))
                let filled = Int(fraction * 30)
                line = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled) + "] "
                line += String(format: "%3.0f%% ", fraction * 100)
                line += "\(records)/\(total) records"
                let remaining = Double(max(total - records, 0))
                var rate = observed
                if let ceiling { rate = rate > 0 ? min(rate, ceiling) : ceiling }
                if rate > 0 && state != "completed" { line += "  ETA \(Self.duration(remaining / rate))" }
            } else {
                line = "\(records) records, \(try row.decode(Int64.self, "pages")) pages"
            }
            if observed > 0 { line += String(format: "  %.0f rec/s", observed) }
            if let ceiling { line += String(format: " (limit allows ≤ %.0f)", ceiling) }
            line += "  \(state)"
            if let reason = try row.decode(String?.self, "reason"), state != "running" { line += " (\(reason))" }
            lastLine = Self.show(line, lastLine)
            if state == "completed" {
                print("")
                print("done: \(records) records")
                return
            }
            if state == "parked" {
                print("")
                print("stopped: \(try row.decode(String?.self, "message") ?? "parked"); see syncctl connection status \(connection)")
                throw ExitCode.failure
            }
            try await Task.sleep(for: .seconds(1))
        }
        print("")
        print("still running; watch again with: syncctl connection sync \(connection)\(initial ? " --initial" : "") --watch-only")
    }

    private static func show(_ line: String, _ last: String) -> String {
        let padding = String(repeating: " ", count: max(0, last.count - line.count))
        FileHandle.standardOutput.write(Data("\r\(line)\(padding)".utf8))
        return line
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        return s >= 3600 ? "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" : (s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s")
    }

    /// The tightest documented request rate of the connection (requests per second) over windows of at most an
    /// hour, if any.
    static func requestsPerSecond(_ limits: [RateLimit]) -> Double? {
        var best: Double?
        for limit in limits where limit.scope == .connection && limit.requests == .all {
            if case .rate(let count, let window) = limit.kind {
                let components = window.components
                let seconds = Double(components.seconds) + Double(components.attoseconds) / 1e18
                // A daily budget (Xero 5,000/day) caps the count, not the pace of one sync: hour-or-shorter windows.
                guard seconds > 0, seconds <= 3600 else { continue }
                let rate = Double(count) / seconds
                best = min(best ?? rate, rate)
            }
        }
        return best
    }
}

// MARK: migrate

struct ConnectionMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Migrate a location to another accounting system: freeze the old connection, link documents by number, report what could not be linked.",
        discussion: """
            Create and connect the new connection first and run its initial sync (syncctl connection sync <new> \
            --initial). The old connection's links, sync states and audit trail are kept unchanged.
            """)

    @OptionGroup var common: CommonOptions
    @Argument(help: "The old connection id.") var from: String
    @Argument(help: "The new connection id.") var to: String

    func run() async throws {
        let context = try await LifecycleContext.open(common, connection: from)
        defer { context.pool.close() }
        guard let target = UUID(uuidString: to) else { throw ValidationError("not a connection id: \(to)") }
        let report = try await context.lifecycle.migrate(
            tenantID: context.tenant, from: context.row.id, to: target, logger: common.logger)
        print("old connection \(context.row.id.uuidString.lowercased()) frozen; \(report.linked) invoices linked by number")
        if !report.unlinked.isEmpty {
            print("\(report.unlinked.count) invoices could not be linked (no invoice with their number in the new system):")
            for id in report.unlinked.prefix(200) { print("  \(id)") }
        }
    }
}
