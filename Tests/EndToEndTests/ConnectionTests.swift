import Foundation
import HTTP
import Postgres
import Testing
import TestSupport

extension EndToEnd {
    /// The connection lifecycle through `syncctl`, the worker and the simulator: another company is refused, and a
    /// disconnected connection keeps its invoices and pushes them exactly once after it is connected again and
    /// synced ("Sync now").
    @Suite(.serialized)
    struct ConnectionTests {
        @Test("reconnecting to another company is refused with a clear message; nothing changes")
        func anotherCompanyIsRefused() async throws {
            let stack = try await EndToEndStack.start()
            defer { stack.shutdown() }
            let tenant = try await stack.tenant(erp: "xero", label: "refuse")
            let other = UUID().uuidString.lowercased()
            #expect(try await stack.post(stack.simURL + "/_sim/companies", json: ["erp": "xero", "id": other]).status == 201)
            let refusal = #expect(throws: HarnessError.self) { try stack.connect(tenant.connectionID, company: other) }
            #expect(refusal?.description.contains("refused") == true, "\(refusal?.description ?? "")")
            #expect(refusal?.description.contains(tenant.company) == true)
            let company = try await stack.pool.query(
                "SELECT company_id FROM erp_connection_settings WHERE connection_id = \(UUID(uuidString: tenant.connectionID)!)")
            #expect(try company[0].decode(String.self, "company_id") == tenant.company)
        }

        @Test("disconnect keeps the invoices; connecting again pushes each exactly once")
        func disconnectThenReconnect() async throws {
            let stack = try await EndToEndStack.start()
            defer { stack.shutdown() }
            let tenant = try await stack.tenant(erp: "quickbooks-online", label: "reconnect")
            let worker = try stack.startWorker("quickbooks-online")
            defer { worker.stop() }
            try await stack.send([ShopEvents.invoice(tenant, 1)], tenant: tenant)
            try await stack.waitSettled(tenant, invoices: 1)

            _ = try Services.run("syncctl", ["connection", "disconnect", tenant.connectionID])
            try await stack.send([ShopEvents.invoice(tenant, 2), ShopEvents.invoice(tenant, 3)], tenant: tenant)
            // While disconnected the shop's invoices are stored (nothing lost) and nothing reaches the ERP.
            try await eventually("the new invoices to be stored", timeout: .seconds(30)) {
                try await stack.pool.query("SELECT 1 FROM invoices WHERE tenant_id = \(tenant.id)").count == 3
            }
            try await Task.sleep(for: .seconds(2))
            #expect(try await stack.simDocuments(company: tenant.company).numbers.count == 1)

            // Connecting again (the same company) reactivates the connection; "Sync now" sends what is unsynced.
            try stack.connect(tenant.connectionID, company: tenant.company)
            _ = try Services.run("syncctl", ["sync", tenant.connectionID])
            try await eventually("all three invoices to be synced", timeout: .seconds(90)) {
                try await stack.states(tenant)["invoice:synced"] == 3
            }
            let documents = try await stack.simDocuments(company: tenant.company)
            #expect(documents.duplicates == 0)
            #expect(documents.numbers.sorted() == (1...3).map { ShopEvents.invoiceNumber(tenant, $0) }.sorted())
        }
    }
}
