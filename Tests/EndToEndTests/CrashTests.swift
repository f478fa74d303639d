import Foundation
import Postgres
import Testing
import TestSupport

extension EndToEnd {
    /// kill -9 of a worker at each crash window, then a fresh worker: every invoice reaches the ERP exactly once.
    ///
    /// The windows inside the process are reached with the worker's fault injection (`LEDGERLINE_FAULT_CRASH_AT`:
    /// the process sends itself SIGKILL there); "after the request was sent" is a real kill -9 from the test while
    /// the simulator holds a committed create open. Workers run with 10 s leases, so a dead worker's claim is
    /// taken over within seconds.
    @Suite(.serialized)
    struct CrashTests {
        static let points = ["after_delivery", "after_claim", "after_response", "after_commit"]

        @Test("QuickBooks Online: kill -9 at a crash window, 0 lost, 0 duplicates", arguments: points)
        func quickBooksOnline(_ point: String) async throws {
            try await crash(erp: "quickbooks-online", at: point)
        }

        @Test("Xero: kill -9 at a crash window, 0 lost, 0 duplicates", arguments: points)
        func xero(_ point: String) async throws {
            try await crash(erp: "xero", at: point)
        }

        @Test("kill -9 after the request was sent, before the answer", arguments: ["quickbooks-online", "xero"])
        func afterSend(_ erp: String) async throws {
            let stack = try await EndToEndStack.start()
            defer { stack.shutdown() }
            let tenant = try await stack.tenant(erp: erp, label: "crash-send")
            // The first invoice create commits at the simulator and is held open for 30 s.
            try await stack.fault(["kind": "hang", "seconds": 30, "method": "POST", "path_contains": "nvoice", "company": tenant.company])
            let doomed = try stack.startWorker(erp, name: "worker-doomed", environment: ["LEDGERLINE_ERP_REQUEST_TIMEOUT_SECONDS": "60"])
            defer { doomed.stop() }
            try await stack.send([ShopEvents.invoice(tenant, 1), ShopEvents.invoice(tenant, 2)], tenant: tenant)
            try await eventually("the held create to be committed at the simulator", timeout: .seconds(60)) {
                let consumed = try await stack.pendingFaults() == 0
                let created = try await stack.simDocuments(company: tenant.company).numbers
                return consumed && !created.isEmpty
            }
            doomed.kill9()

            let worker = try stack.startWorker(erp)
            defer { worker.stop() }
            try await stack.waitSettled(tenant, invoices: 2, timeout: .seconds(90))
            try await expectExactlyOnce(stack, tenant, invoices: 2)
        }

        func crash(erp: String, at point: String) async throws {
            let stack = try await EndToEndStack.start()
            defer { stack.shutdown() }
            let tenant = try await stack.tenant(erp: erp, label: "crash")
            let doomed = try stack.startWorker(
                erp, name: "worker-\(point)",
                environment: ["LEDGERLINE_FAULT_CRASH_AT": point, "LEDGERLINE_WORKER_CONCURRENCY": "1"])
            defer { doomed.stop() }
            try await stack.send([ShopEvents.invoice(tenant, 1), ShopEvents.invoice(tenant, 2), ShopEvents.invoice(tenant, 3)], tenant: tenant)
            #expect(await doomed.waitForExit(timeout: .seconds(60)), "the worker reached \(point): \(doomed.tail())")
            #expect(doomed.terminationSignal == SIGKILL)

            let worker = try stack.startWorker(erp)
            defer { worker.stop() }
            try await stack.waitSettled(tenant, invoices: 3, timeout: .seconds(90))
            try await expectExactlyOnce(stack, tenant, invoices: 3)
        }

        func expectExactlyOnce(_ stack: EndToEndStack, _ tenant: Tenant, invoices: Int) async throws {
            let states = try await stack.states(tenant)
            #expect(states["invoice:synced"] == invoices, "\(states)")
            let documents = try await stack.simDocuments(company: tenant.company)
            #expect(documents.duplicates == 0)
            #expect(documents.numbers.count == invoices, "\(documents.numbers)")
            #expect(Set(documents.numbers) == Set((1...invoices).map { ShopEvents.invoiceNumber(tenant, $0) }))
        }
    }
}
