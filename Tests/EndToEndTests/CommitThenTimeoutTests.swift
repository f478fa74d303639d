import Foundation
import HTTP
import Postgres
import Testing
import TestSupport

extension EndToEnd {
    /// 1,000 invoices whose create is committed by the ERP and then answered too late (the worker's request times
    /// out): each outcome is unknown, so the worker looks the invoice up by our reference (or replays its
    /// idempotency key) and adopts it. Not one is created twice.
    @Suite(.serialized)
    struct CommitThenTimeoutTests {
        @Test("1,000 commit-then-timeout injections: 0 duplicates, 0 lost (QuickBooks Online)")
        func thousandInjections() async throws {
            let count = 1_000
            let stack = try await EndToEndStack.start()
            defer { stack.shutdown() }
            let tenant = try await stack.tenant(erp: "quickbooks-online", label: "timeouts")
            // Only the injected faults slow this run: no rate limits at the simulator or in the worker.
            let limits = try await stack.post(stack.simURL + "/_sim/limits", json: ["company": tenant.company, "enabled": false])
            #expect(limits.status == 200)
            try await stack.fault([
                "kind": "hang", "seconds": 2, "count": count, "method": "POST", "path_contains": "/invoice",
                "company": tenant.company,
            ])
            let worker = try stack.startWorker(
                "quickbooks-online",
                environment: [
                    "LEDGERLINE_ERP_REQUEST_TIMEOUT_SECONDS": "1", "LEDGERLINE_WORKER_RATE_LIMITS": "off",
                    "LEDGERLINE_WORKER_CONCURRENCY": "16", "LEDGERLINE_LOG_LEVEL": "warning",
                ])
            defer { worker.stop() }

            let outcomes = try await stack.send((1...count).map { ShopEvents.invoice(tenant, $0, customer: $0 % 20) }, tenant: tenant)
            #expect(outcomes.filter { $0 == "accepted" }.count == count)
            try await stack.waitSettled(tenant, invoices: count, timeout: .seconds(400))

            #expect(try await stack.pendingFaults() == 0, "all \(count) injections happened")
            let states = try await stack.states(tenant)
            #expect(states["invoice:synced"] == count, "\(states)")
            let documents = try await stack.simDocuments(company: tenant.company)
            #expect(documents.duplicates == 0)
            #expect(documents.numbers.count == count)
            #expect(Set(documents.numbers).count == count)
            // Every create timed out: each invoice was adopted after an unknown outcome, none created twice.
            let unknown = try await stack.pool.query(
                """
                SELECT count(*) AS n FROM outbox WHERE tenant_id = \(tenant.id) AND message_type = 'audit_event'
                AND body->>'action' = 'Invoice Created' AND body->'details'->>'path' = 'adopted'
                """)
            #expect(try unknown[0].decode(Int64.self, "n") >= Int64(count / 2), "most invoices were adopted after a timeout")
            #expect(worker.isRunning)
        }
    }
}
