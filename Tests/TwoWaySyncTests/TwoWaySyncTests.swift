import Connectors
import Domain
import Foundation
import HTTP
import Logging
import Postgres
import TestSupport
import Testing
import WorkerRuntime

@Suite("Two-way sync: pulls, reconciliation, preferences, lifecycle", .requiresPostgres, .serialized)
struct TwoWaySyncTests {
    let logger = TwoWayStack.logger

    /// Pushes `invoice` through the normal push path and returns its ERP invoice id and customer id.
    func push(_ fixture: TwoWayFixture, _ processor: JobProcessor<QuickBooksOnlineConnector>, invoice: String)
        async throws -> (invoice: String, customer: String)
    {
        let outcome = try await processor.process(fixture.job(.pushInvoice, invoice: invoice, version: 1), logger: logger)
        #expect(outcome == .synced(action: "Invoice Created"), "\(outcome)")
        let links = try await fixture.query(
            """
            SELECT object_kind, erp_id FROM erp_links WHERE tenant_id = \(fixture.tenant) ORDER BY object_kind
            """)
        var ids: [String: String] = [:]
        for row in links { ids[try row.decode(String.self, "object_kind")] = try row.decode(String.self, "erp_id") }
        let invoiceLink = try await fixture.query(
            "SELECT erp_id FROM erp_links WHERE tenant_id = \(fixture.tenant) AND object_kind = 'invoice' AND our_id = \(invoice)")
        return (try invoiceLink[0].decode(String.self, "erp_id"), try #require(ids["customer"]))
    }

    @Test("a payment entered in QuickBooks reaches the canonical invoice: partially paid, then paid; no duplicates")
    func paymentEnteredInTheERPReachesTheCanonicalInvoice() async throws {
        let pool = try await TwoWayStack.pool()
        defer { pool.close() }
        try await TwoWaySim.with { sim in
            let fixture = try await TwoWayFixture.make(pool, erp: .quickbooksOnline)
            let store = fixture.store()
            try await sim.connect(fixture, store: store)
            let processor = sim.processor(QuickBooksOnlineConnector.self, store: store)
            try await fixture.invoice("inv-pay", total: "120.00")
            let ids = try await push(fixture, processor, invoice: "inv-pay")

            // The bookkeeper records 50.00 in QuickBooks.
            let payment = #"{"CustomerRef":{"value":"\#(ids.customer)"},"TotalAmt":50,"Line":[{"Amount":50,"LinkedTxn":[{"TxnId":"\#(ids.invoice)","TxnType":"Invoice"}]}]}"#
            try await sim.quickbooks(.post, "payment", payment)
            let pull = PullProcessor(processor: processor)
            let first = try await drain(pull, fixture.job(.pull, trigger: .pull))
            #expect(first.last == .synced(action: "Pull Completed"), "\(first)")
            var row = try await fixture.query(
                "SELECT status, amount_paid::text AS paid, balance_due::text AS due FROM invoices WHERE tenant_id = \(fixture.tenant)")[0]
            #expect(try row.decode(String.self, "status") == "partially_paid")
            #expect(Decimal(string: try row.decode(String.self, "paid")) == 50)
            #expect(Decimal(string: try row.decode(String.self, "due")) == 70)

            // The rest, later; the next pull marks it paid. Pulls overlap: nothing is imported twice.
            let rest = #"{"CustomerRef":{"value":"\#(ids.customer)"},"TotalAmt":70,"Line":[{"Amount":70,"LinkedTxn":[{"TxnId":"\#(ids.invoice)","TxnType":"Invoice"}]}]}"#
            try await sim.quickbooks(.post, "payment", rest)
            let second = try await drain(pull, fixture.job(.pull, trigger: .pull))
            #expect(second.last == .synced(action: "Pull Completed"), "\(second)")
            let third = try await drain(pull, fixture.job(.pull, trigger: .pull))
            #expect(third.last == .synced(action: "Pull Completed"), "\(third)")
            row = try await fixture.query(
                "SELECT status, amount_paid::text AS paid, balance_due::text AS due FROM invoices WHERE tenant_id = \(fixture.tenant)")[0]
            #expect(try row.decode(String.self, "status") == "paid")
            #expect(Decimal(string: try row.decode(String.self, "due")) == 0)
            let payments = try await fixture.count(
                "SELECT count(*) FROM payments WHERE tenant_id = \(fixture.tenant) AND recorded_from = 'erp_pull'")
            #expect(payments == 2)
            let actions = try await fixture.actions()
            #expect(actions["Payment Imported"] == 2, "\(actions)")
            #expect(actions["Pull Started"] == 3 && actions["Pull Completed"] == 3, "\(actions)")
        }
    }

    @Test("an invoice voided in QuickBooks is recorded and never pushed again; the next pull reads from the last one")
    func voidInTheERPIsNeverResurrected() async throws {
        let pool = try await TwoWayStack.pool()
        defer { pool.close() }
        try await TwoWaySim.with { sim in
            let fixture = try await TwoWayFixture.make(pool, erp: .quickbooksOnline)
            let store = fixture.store()
            try await sim.connect(fixture, store: store)
            let processor = sim.processor(QuickBooksOnlineConnector.self, store: store)
            try await fixture.invoice("inv-void", total: "80.00")
            let ids = try await push(fixture, processor, invoice: "inv-void")
            let current = try await sim.quickbooks(.get, "invoice/\(ids.invoice)")
            let token = try #require((current["Invoice"] as? [String: Any])?["SyncToken"] as? String)
            try await sim.quickbooks(
                .post, "invoice", #"{"Id":"\#(ids.invoice)","SyncToken":"\#(token)"}"#, query: "&operation=void")

            let pull = PullProcessor(processor: processor)
            let outcomes = try await drain(pull, fixture.job(.pull, trigger: .pull))
            #expect(outcomes.last == .synced(action: "Pull Completed"), "\(outcomes)")
            let actions = try await fixture.actions()
            #expect(actions["Invoice Voided in QuickBooks"] == 1, "\(actions)")
            let voided = try await fixture.count(
                "SELECT count(*) FROM erp_records WHERE tenant_id = \(fixture.tenant) AND voided_in_erp_at IS NOT NULL")
            #expect(voided == 1)

            // The shop edits the invoice (version 2): the push is acked without touching QuickBooks.
            let before = try await sim.stats()["requests"] ?? 0
            try await fixture.invoice("inv-void", version: 2, total: "80.00")
            let outcome = try await processor.process(
                fixture.job(.pushInvoice, invoice: "inv-void", version: 2), logger: logger)
            #expect(outcome == .alreadySynced, "\(outcome)")
            let after = try await sim.stats()["requests"] ?? 0
            #expect(after == before + 1, "no ERP call for a voided invoice, only the stats call (\(before) → \(after))")
            let still = try await sim.quickbooks(.get, "invoice/\(ids.invoice)")
            #expect(((still["Invoice"] as? [String: Any])?["PrivateNote"] as? String)?.hasPrefix("Voided") == true)

            // A regular pull starts where the last one started (minus the overlap), not two weeks back.
            let since = try await fixture.query(
                """
                SELECT since, last_success_since FROM erp_pull_runs
                WHERE tenant_id = \(fixture.tenant) AND run_kind = 'pull'
                """)[0]
            let firstSince = try since.decode(Date.self, "since")
            #expect(Date().timeIntervalSince(firstSince) > 13 * 86_400, "the first pull looks back two weeks")
            _ = try await drain(pull, fixture.job(.pull, trigger: .pull))
            let next = try await fixture.query(
                "SELECT since FROM erp_pull_runs WHERE tenant_id = \(fixture.tenant) AND run_kind = 'pull'")[0]
            #expect(Date().timeIntervalSince(try next.decode(Date.self, "since")) < 600)
        }
    }

    @Test("only active customers, ERP-only records kept, the initial sync skips voided invoices (QuickBooks)")
    func activeCustomersAndERPOnlyRecords() async throws {
        let pool = try await TwoWayStack.pool()
        defer { pool.close() }
        try await TwoWaySim.with { sim in
            let fixture = try await TwoWayFixture.make(pool, erp: .quickbooksOnline)
            let store = fixture.store()
            try await sim.connect(fixture, store: store)
            try await sim.control(
                .post, "/_sim/seed",
                #"{"company":"quickbooks-online:\#(TwoWaySim.realm)","customers":50,"invoices":100,"inactive_every":5,"voided_every":10}"#)
            let lifecycle = ConnectionLifecycle(store: store)
            var preferences = ConnectionPreferences()
            preferences.customersActiveOnly = true
            try await lifecycle.setPreferences(preferences, tenantID: fixture.tenantID, connectionID: fixture.connection, logger: logger)
            let pull = PullProcessor(
                processor: sim.processor(QuickBooksOnlineConnector.self, store: store),
                options: PullOptions(pageSize: 40, chunkDuration: .zero))
            // Every page is a chunk of its own: each job commits one page and continues in the next job.
            let outcomes = try await drain(pull, fixture.job(.initialSync, trigger: .initial))
            #expect(outcomes.last == .synced(action: "Initial Sync Completed"), "\(outcomes)")
            #expect(outcomes.dropLast().allSatisfy { $0 == .deferred(PullProcessor<QuickBooksOnlineConnector>.continues, delay: .zero) })
            #expect(outcomes.count >= 6, "\(outcomes.count) chunks")
            let actions = try await fixture.actions()
            #expect(actions["Customer Skipped"] == 10, "\(actions)")
            #expect(actions["Customer Imported"] == 40, "\(actions)")
            #expect(actions["Invoice Skipped"] == 10, "\(actions)")
            #expect(actions["Invoice Imported"] == 90, "\(actions)")
            let erpOnly = try await fixture.count(
                "SELECT count(*) FROM erp_records WHERE tenant_id = \(fixture.tenant) AND our_id IS NULL")
            #expect(erpOnly == 130)
            let run = try await fixture.run("initial")
            #expect(run.state == "completed" && run.records == 150, "\(run)")
            let reasons = try await fixture.query(
                """
                SELECT DISTINCT body->>'reason' AS reason FROM outbox
                WHERE tenant_id = \(fixture.tenant) AND body->>'action' = 'Customer Skipped'
                """)
            #expect(try reasons.map { try $0.decode(String?.self, "reason") } == ["pull.customer_inactive"])
        }
    }

    @Test("direction preferences: with 'do not sync invoices from the accounting system' no invoice is read")
    func directionPreferencesBlockTheBlockedDirection() async throws {
        let pool = try await TwoWayStack.pool()
        defer { pool.close() }
        try await TwoWaySim.with { sim in
            let fixture = try await TwoWayFixture.make(pool, erp: .xero)
            let store = fixture.store()
            try await sim.connect(fixture, store: store)
            try await sim.control(
                .post, "/_sim/seed", #"{"company":"xero:\#(TwoWaySim.xeroTenant)","customers":15,"invoices":30}"#)
            var preferences = ConnectionPreferences()
            preferences.pullInvoices = false
            try await ConnectionLifecycle(store: store).setPreferences(
                preferences, tenantID: fixture.tenantID, connectionID: fixture.connection, logger: logger)
            let pull = PullProcessor(processor: sim.processor(XeroConnector.self, store: store))
            let outcomes = try await drain(pull, fixture.job(.pull, trigger: .pull))
            #expect(outcomes.last == .synced(action: "Pull Completed"), "\(outcomes)")
            #expect(try await fixture.count(
                "SELECT count(*) FROM erp_records WHERE tenant_id = \(fixture.tenant) AND object_kind = 'invoice'") == 0)
            #expect(try await fixture.count(
                "SELECT count(*) FROM erp_records WHERE tenant_id = \(fixture.tenant) AND object_kind = 'customer'") == 15)

            // Nothing read at all: the job is dropped, nothing is called.
            preferences = ConnectionPreferences()
            preferences.pullCustomers = false
            preferences.pullPayments = false
            try await ConnectionLifecycle(store: store).setPreferences(
                preferences, tenantID: fixture.tenantID, connectionID: fixture.connection, logger: logger)
            let requests = try await sim.stats()["requests"] ?? 0
            let none = try await pull.process(fixture.job(.pull, trigger: .pull), logger: logger)
            guard case .dropped = none else { Issue.record("expected dropped, got \(none)"); return }
            #expect(try await sim.stats()["requests"] == requests + 1, "no ERP call, only the stats call")
        }
    }

    @Test("initial sync: Xero paging with If-Modified-Since under the real rate limits, with the progress estimate")
    func xeroInitialSync() async throws {
        let pool = try await TwoWayStack.pool()
        defer { pool.close() }
        try await TwoWaySim.with(rateLimits: true) { sim in
            let fixture = try await TwoWayFixture.make(pool, erp: .xero)
            let store = fixture.store()
            try await sim.connect(fixture, store: store)
            try await sim.control(
                .post, "/_sim/seed",
                #"{"company":"xero:\#(TwoWaySim.xeroTenant)","customers":120,"invoices":250,"voided_every":10}"#)
            let pull = PullProcessor(processor: sim.processor(XeroConnector.self, store: store))
            let outcomes = try await drain(pull, fixture.job(.initialSync, trigger: .initial))
            #expect(outcomes.last == .synced(action: "Initial Sync Completed"), "\(outcomes)")
            #expect(try await fixture.count(
                "SELECT count(*) FROM erp_records WHERE tenant_id = \(fixture.tenant) AND object_kind = 'invoice'") == 225)
            let estimate = try await fixture.query(
                "SELECT estimated_total FROM erp_pull_runs WHERE tenant_id = \(fixture.tenant) AND run_kind = 'initial'")[0]
            #expect(try estimate.decode(Int64?.self, "estimated_total") == 370)
            #expect(try await sim.stats()["rate_limited"] == 0)
        }
    }

    @Test("lost authorization: a revoked grant marks the connection needs_reauth with the fix; reconnect resumes the pull")
    func lostAuthorizationIsDetected() async throws {
        let pool = try await TwoWayStack.pool()
        defer { pool.close() }
        try await TwoWaySim.with { sim in
            let fixture = try await TwoWayFixture.make(pool, erp: .quickbooksOnline)
            let store = fixture.store()
            try await sim.connect(fixture, store: store)
            let secrets = try #require(
                try await CredentialStore(store: store, vault: TwoWayStack.vault).load(
                    tenantID: fixture.tenantID, connectionID: fixture.connection, logger: logger))
            try await sim.call(.post, sim.base + "/oauth2/v1/tokens/revoke", #"{"token":"\#(secrets.refreshToken ?? "")"}"#)
            let pull = PullProcessor(processor: sim.processor(QuickBooksOnlineConnector.self, store: store))
            let outcome = try await pull.process(fixture.job(.pull, trigger: .pull), logger: logger)
            #expect(outcome == .parked(.erpAuthLost), "\(outcome)")
            let status = try await fixture.query(
                "SELECT status FROM erp_connections WHERE connection_id = \(fixture.connection)")[0].decode(String.self, "status")
            #expect(status == "needs_reauth")
            #expect(try await fixture.actions()["Authorization Lost"] == 1)

            // Re-authorized (a new grant) and reconnected: the parked pull is due again and completes.
            try await sim.connect(fixture, store: store)
            let resumed = try await ConnectionLifecycle(store: store).reconnect(
                tenantID: fixture.tenantID, connectionID: fixture.connection, logger: logger)
            #expect(resumed == 1)
            let again = try await drain(pull, fixture.job(.pull, trigger: .pull))
            #expect(again.last == .synced(action: "Pull Completed"), "\(again)")
        }
    }

    @Test("disconnect keeps every record and parks jobs; reconnect resumes them once, no duplicates")
    func disconnectAndReconnect() async throws {
        let pool = try await TwoWayStack.pool()
        defer { pool.close() }
        try await TwoWaySim.with { sim in
            let slug = TwoWayStack.unique("qbo")
            let fixture = try await TwoWayFixture.make(pool, erp: .quickbooksOnline, slug: slug)
            let store = fixture.store()
            try await sim.connect(fixture, store: store)
            let processor = sim.processor(QuickBooksOnlineConnector.self, store: store)
            try await fixture.invoice("inv-a")
            _ = try await push(fixture, processor, invoice: "inv-a")
            let lifecycle = ConnectionLifecycle(store: store)
            func snapshot() async throws -> [Int64] {
                [
                    try await fixture.count("SELECT count(*) FROM invoices WHERE tenant_id = \(fixture.tenant)"),
                    try await fixture.count("SELECT count(*) FROM erp_links WHERE tenant_id = \(fixture.tenant)"),
                    try await fixture.count("SELECT count(*) FROM sync_documents WHERE tenant_id = \(fixture.tenant) AND state = 'synced'"),
                ]
            }
            let before = try await snapshot()
            let summary = try await lifecycle.disconnect(
                tenantID: fixture.tenantID, connectionID: fixture.connection, logger: logger)
            #expect(summary == DisconnectSummary(parkedDocuments: 0, parkedRuns: 0))
            #expect(try await snapshot() == before, "nothing lost")

            try await fixture.invoice("inv-b")
            try await fixture.invoice("inv-c")
            let jobs = [fixture.job(.pushInvoice, invoice: "inv-b", version: 1), fixture.job(.pushInvoice, invoice: "inv-c", version: 1)]
            for job in jobs {
                let outcome = try await processor.process(job, logger: logger)
                #expect(outcome == .parked(JobProcessor<QuickBooksOnlineConnector>.connectionInactive), "\(outcome)")
            }
            let pull = PullProcessor(processor: processor)
            #expect(try await pull.process(fixture.job(.pull, trigger: .pull), logger: logger)
                == .parked(JobProcessor<QuickBooksOnlineConnector>.connectionInactive))

            let resumed = try await lifecycle.reconnect(tenantID: fixture.tenantID, connectionID: fixture.connection, logger: logger)
            #expect(resumed == 2)
            // The workers' sweeper takes the due jobs (the same function, called here).
            let due = try await pool.query("SELECT tenant_id, job::text AS job FROM worker_take_due_jobs(\(slug), 100, 60)")
            #expect(due.count == 2)
            for row in due {
                let job = try WireFormat.decoder().decode(SyncJob.self, from: Data(try row.decode(String.self, "job").utf8))
                let outcome = try await processor.process(job, logger: logger)
                #expect(outcome == .synced(action: "Invoice Created"), "\(outcome)")
                #expect(try await processor.process(job, logger: logger) == .alreadySynced)
            }
            // Redelivered originals change nothing either.
            for job in jobs { #expect(try await processor.process(job, logger: logger) == .alreadySynced) }
            let documents = try await sim.control(.get, "/_sim/documents?company=\(TwoWaySim.realm)")
            let invoices = (documents["documents"] as? [[String: Any]] ?? []).filter { ($0["entity"] as? String) == "Invoice" }
            #expect(invoices.count == 3)
            #expect((documents["duplicates"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("migration: the old connection is frozen, invoices are linked by number, the rest is reported")
    func migrationLinksByNumber() async throws {
        let pool = try await TwoWayStack.pool()
        defer { pool.close() }
        try await TwoWaySim.with { sim in
            let old = try await TwoWayFixture.make(pool, erp: .quickbooksOnline)
            let store = old.store()
            try await sim.connect(old, store: store)
            let processor = sim.processor(QuickBooksOnlineConnector.self, store: store)
            try await old.invoice("inv-m1")
            try await old.invoice("inv-m2")
            _ = try await push(old, processor, invoice: "inv-m1")
            _ = try await push(old, processor, invoice: "inv-m2")
            // The new system (Xero) holds one of the two invoices under the same number.
            let number = try await old.query(
                "SELECT invoice_number FROM invoices WHERE tenant_id = \(old.tenant) AND invoice_id = 'inv-m1'")[0]
                .decode(String.self, "invoice_number")
            let newRows = try await pool.query(
                """
                INSERT INTO erp_connections (tenant_id, location_id, erp, pull_invoices) VALUES (\(old.tenant), 'loc-01', 'xero-unswept', true)
                RETURNING connection_id
                """)
            let new = TwoWayFixture(
                pool: pool, tenant: old.tenant, connection: try newRows[0].decode(UUID.self, "connection_id"), erp: .xero)
            try await sim.connect(new, store: store)
            let token = try await sim.token("xero:\(TwoWaySim.xeroTenant)").access
            let created = try await sim.call(
                .post, sim.base + "/api.xro/2.0/Invoices",
                #"{"Invoices":[{"Type":"ACCREC","Contact":{"Name":"Migrated"},"InvoiceNumber":"\#(number)","Status":"AUTHORISED","DueDate":"2026-12-01","LineItems":[{"Description":"x","Quantity":1,"UnitAmount":120,"AccountCode":"200"}]}]}"#,
                token: token, headers: [("Xero-tenant-id", TwoWaySim.xeroTenant)])
            #expect(created.status == 200, "\(created.json)")
            let initial = try await drain(
                PullProcessor(processor: sim.processor(XeroConnector.self, store: store)), new.job(.initialSync, trigger: .initial))
            #expect(initial.last == .synced(action: "Initial Sync Completed"), "\(initial)")
            let report = try await ConnectionLifecycle(store: store).migrate(
                tenantID: old.tenantID, from: old.connection, to: new.connection, logger: logger)
            #expect(report.linked == 1)
            #expect(report.unlinked == ["inv-m2"])
            let status = try await pool.query("SELECT status FROM erp_connections WHERE connection_id = \(old.connection)")[0]
            #expect(try status.decode(String.self, "status") == "paused")
            #expect(try await old.count(
                "SELECT count(*) FROM erp_links WHERE tenant_id = \(old.tenant) AND connection_id = \(old.connection)") == 3)
        }
    }
}
