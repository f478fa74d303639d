import Connectors
import Domain
import Foundation
import HTTP
import Logging
import Postgres
import TestSupport
import Testing
import WorkerRuntime

extension TwoWaySyncTests {
    @Test("an invoice deleted in QuickBooks is seen through Change Data Capture, recorded as deleted, never pushed again")
    func deletionInQuickBooksIsNeverResurrected() async throws {
        let pool = try await TwoWayStack.pool()
        defer { pool.close() }
        try await TwoWaySim.with { sim in
            let fixture = try await TwoWayFixture.make(pool, erp: .quickbooksOnline)
            let store = fixture.store()
            try await sim.connect(fixture, store: store)
            let processor = sim.processor(QuickBooksOnlineConnector.self, store: store)
            try await fixture.invoice("inv-del", total: "64.00")
            let ids = try await push(fixture, processor, invoice: "inv-del")
            let pull = PullProcessor(processor: processor)
            // A first pull records the invoice as QuickBooks holds it.
            let first = try await drain(pull, fixture.job(.pull, trigger: .pull))
            #expect(first.last == .synced(action: "Pull Completed"), "\(first)")

            // The bookkeeper deletes it (POST /invoice?operation=delete with Id + SyncToken).
            let current = try await sim.quickbooks(.get, "invoice/\(ids.invoice)")
            let token = try #require((current["Invoice"] as? [String: Any])?["SyncToken"] as? String)
            let deleted = try await sim.quickbooks(
                .post, "invoice", #"{"Id":"\#(ids.invoice)","SyncToken":"\#(token)"}"#, query: "&operation=delete")
            #expect((deleted["Invoice"] as? [String: Any])?["status"] as? String == "Deleted")
            // Queries no longer return it; Change Data Capture reports it.
            let changedSince = Date().addingTimeInterval(-3600).formatted(Date.ISO8601FormatStyle())
            let cdc = try await sim.quickbooks(.get, "cdc", query: "&entities=Invoice,Payment&changedSince=\(changedSince)")
            let responses = (cdc["CDCResponse"] as? [[String: Any]])?.first?["QueryResponse"] as? [[String: Any]] ?? []
            let cdcInvoices = responses.compactMap { $0["Invoice"] as? [[String: Any]] }.flatMap { $0 }
            #expect(cdcInvoices.contains { $0["Id"] as? String == ids.invoice && $0["status"] as? String == "Deleted" })

            let second = try await drain(pull, fixture.job(.pull, trigger: .pull))
            #expect(second.last == .synced(action: "Pull Completed"), "\(second)")
            let actions = try await fixture.actions()
            #expect(actions["Invoice Voided in QuickBooks"] == 1, "\(actions)")
            let record = try await fixture.query(
                """
                SELECT erp_status, number, voided_in_erp_at IS NOT NULL AS gone FROM erp_records
                WHERE tenant_id = \(fixture.tenant) AND object_kind = 'invoice' AND erp_id = \(ids.invoice)
                """)
            #expect(record.count == 1)
            #expect(try record.first?.decode(String?.self, "erp_status") == "Deleted")
            #expect(try record.first?.decode(Bool.self, "gone") == true)
            #expect(try record.first?.decode(String?.self, "number") != nil, "the deletion keeps the known number")

            // The shop edits the invoice (version 2): acked without an ERP call; QuickBooks holds no invoice again.
            let before = try await sim.stats()["requests"] ?? 0
            try await fixture.invoice("inv-del", version: 2, total: "70.00")
            let outcome = try await processor.process(
                fixture.job(.pushInvoice, invoice: "inv-del", version: 2), logger: logger)
            #expect(outcome == .alreadySynced, "\(outcome)")
            let after = try await sim.stats()["requests"] ?? 0
            #expect(after == before + 1, "no ERP call for a deleted invoice (\(before) → \(after))")
            let found = try await sim.quickbooks(.get, "query", query: "&query=select%20*%20from%20Invoice")
            let invoices = (found["QueryResponse"] as? [String: Any])?["Invoice"] as? [[String: Any]] ?? []
            #expect(invoices.isEmpty, "the deleted invoice was not recreated: \(invoices.count)")

            // A later pull reads the deletion again (overlap) without a second event.
            _ = try await drain(pull, fixture.job(.pull, trigger: .pull))
            #expect(try await fixture.actions()["Invoice Voided in QuickBooks"] == 1)
        }
    }
}
