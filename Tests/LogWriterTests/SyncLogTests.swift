import AuditTrail
import Domain
import Foundation
import Postgres
import TestSupport
import Testing

@Suite(.requiresPostgres) struct FinanceViewTests {
    @Test func theViewsShowSessionsEventsReasonsUnsyncedInvoicesStatusAndReconciliation() async throws {
        let owner = try await TestStack.ownerPool()
        defer { owner.close() }
        let fixture = SyncRunFixture(tenant: TestStack.unique("views"))
        try await fixture.seedCanonicalStore(owner)
        try await AuditTrailWriter(pool: owner).append(fixture.deliveries, logger: TestStack.logger)
        let connection = try await TestStack.connect(as: try await TestStack.createFinanceLogin(tenant: fixture.tenant, on: owner))
        defer { connection.close() }
        _ = try await connection.query("SELECT set_config('ledgerline.tenant_id', \(fixture.tenant), false)")

        let run = try #require(try await connection.query(
            "SELECT * FROM finance.sync_sessions WHERE session_id = \(fixture.session)").first)
        #expect(try run.decode(String.self, "result") == "completed_with_failures")
        #expect(try run.decode(Int.self, "invoices_created") == 1)
        #expect(try run.decode(Int.self, "invoices_failed") == 1)
        #expect(try run.decode(Int.self, "customers_skipped") == 1)
        #expect(try run.decode(Int.self, "payments_created") == 1)
        #expect(try run.decode(String?.self, "trigger") == "interval")

        // Every record that did not go through has a reason.
        let events = try await connection.query(
            "SELECT description, record_number, result, reason_code, reason, erp_message FROM finance.sync_events ORDER BY occurred_at")
        #expect(events.count == 8)
        for event in events where try event.decode(String?.self, "result") != "succeeded" {
            #expect(try event.decode(String?.self, "reason_code") != nil)
        }
        let failed = try #require(try events.first { try $0.decode(String?.self, "record_number") == "1002" })
        #expect(try failed.decode(String.self, "description") == "Invoice Failed")
        #expect(try failed.decode(String?.self, "reason_code") == "erp.rejected_data")
        #expect(try failed.decode(String?.self, "erp_message") == "Account code '400' has been archived")
        let rejected = try #require(try events.first { try $0.decode(String?.self, "record_number") == "1004" })
        #expect(try rejected.decode(String?.self, "reason_code") == "arithmetic.total_mismatch")
        #expect(try rejected.decode(String?.self, "reason") == ReasonCode.totalMismatch.contractSummary)

        // 1002 failed, 1005 never attempted; 1001 and 1003 reached Xero.
        let unsynced = try await connection.query(
            "SELECT invoice_number, result, reason_code, erp_message FROM finance.unsynced_invoices ORDER BY invoice_number")
        #expect(try unsynced.map { try $0.decode(String.self, "invoice_number") } == ["1002", "1005"])
        #expect(try unsynced[0].decode(String?.self, "reason_code") == "erp.rejected_data")
        #expect(try unsynced[1].decode(String.self, "result") == "not_attempted")
        #expect(try unsynced[1].decode(String?.self, "reason_code") == "sync.not_attempted")

        let status = try #require(try await connection.query(
            "SELECT * FROM finance.location_sync_status WHERE erp = 'xero'").first)
        #expect(try status.decode(String?.self, "location_id") == "downtown-01")
        #expect(try status.decode(Int.self, "unsynced_invoices") == 2)
        #expect(try status.decode(Date?.self, "last_success_at") != nil)

        let day = try #require(try await connection.query("SELECT * FROM finance.daily_reconciliation").first)
        #expect(try day.decode(Int.self, "shop_invoices") == 4)
        #expect(try day.decode(Decimal.self, "shop_total") == Decimal(string: "445.50"))
        #expect(try day.decode(Int.self, "pushed_invoices") == 2)
        #expect(try day.decode(Decimal.self, "pushed_total") == Decimal(string: "175.50"))
        #expect(try day.decode(Decimal.self, "difference") == Decimal(string: "270.00"))
        #expect(try day.decode(Decimal?.self, "erp_reported_total") == Decimal(string: "75.50"))
    }

    @Test func theReasonCatalogueHoldsEveryContractCode() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let rows = try await pool.query("SELECT code, summary FROM reason_codes")
        var catalogue: [String: String] = [:]
        for row in rows { catalogue[try row.decode(String.self, "code")] = try row.decode(String.self, "summary") }
        for info in ReasonCode.contractCatalogue {
            #expect(catalogue[info.code.rawValue] == info.summary, "\(info.code)")
        }
    }
}

@Suite(.requiresPostgres) struct SyncLogQueryTests {
    @Test func sessionsEventsAndRecordHistoryWithFilters() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let fixture = SyncRunFixture(tenant: TestStack.unique("log"))
        try await AuditTrailWriter(pool: pool).append(fixture.deliveries, logger: TestStack.logger)
        try await pool.withConnection { connection in
            let all = try await SyncLog.sessions(SyncLogFilter(tenantID: fixture.tenant), on: connection, logger: TestStack.logger)
            #expect(all.count == 3)
            #expect(all.first?.startedAt ?? .distantPast >= all.last?.startedAt ?? .distantFuture, "newest first")
            let failing = try await SyncLog.sessions(
                SyncLogFilter(tenantID: fixture.tenant, result: "completed_with_failures"), on: connection, logger: TestStack.logger)
            #expect(failing.map(\.sessionID).contains(fixture.session))
            #expect(!failing.contains { $0.kind == "realtime_window" })
            let xero = try await SyncLog.sessions(
                SyncLogFilter(tenantID: fixture.tenant, erp: "xero", until: SyncRunFixture.base.addingTimeInterval(60)),
                on: connection, logger: TestStack.logger)
            #expect(xero.map(\.sessionID) == [fixture.session])
            let none = try await SyncLog.sessions(
                SyncLogFilter(tenantID: fixture.tenant, locationID: "elsewhere"), on: connection, logger: TestStack.logger)
            #expect(none.isEmpty)

            // A session by the 8-character prefix the table prints.
            let prefix = String(fixture.session.uuidString.lowercased().prefix(8))
            let events = try await SyncLog.events(
                session: prefix, SyncLogFilter(tenantID: fixture.tenant), on: connection, logger: TestStack.logger)
            #expect(events.map(\.description) == [
                "Customer Created", "Customer Skipped", "Invoice Created", "Invoice Failed", "Invoice Updated",
                "Payment Applied",
            ])
            let notSynced = try await SyncLog.events(
                session: fixture.session.uuidString, SyncLogFilter(tenantID: fixture.tenant, result: "not_synced"),
                on: connection, logger: TestStack.logger)
            #expect(notSynced.map(\.number) == ["C-2", "1002"])
            #expect(notSynced.allSatisfy { $0.reasonCode != nil && $0.erpMessage != nil })
            await #expect(throws: AuditTrailError.self) {
                try await SyncLog.events(session: "ffffffff", SyncLogFilter(tenantID: fixture.tenant), on: connection, logger: TestStack.logger)
            }

            // Everything about invoice 1002: received, then the failed push with its trace.
            let history = try await SyncLog.record("1002", SyncLogFilter(tenantID: fixture.tenant), on: connection, logger: TestStack.logger)
            #expect(history.map(\.kind) == ["event.received", "record.synced"])
            #expect(history[1].jobID == fixture.job)
            #expect(history[1].attempt == 3)
            #expect(history[1].erpRequestID != nil)
            #expect(history[1].reasonCode == "erp.rejected_data")

            let table = SyncLogFormatter.sessionsTable(all)
            #expect(table.contains("1/1/0/1"), "invoices created/updated/skipped/failed of the run")
            #expect(table.contains("completed_with_failures"))
            let json = try SyncLogFormatter.json(history)
            let decoded = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]
            #expect(decoded?.count == 2)
            #expect(decoded?[1]["reason_code"] as? String == "erp.rejected_data")
        }
    }
}
