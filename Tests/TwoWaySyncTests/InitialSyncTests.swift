import Connectors
import Domain
import Foundation
import HTTP
import Logging
import Postgres
import TestSupport
import Testing
import WorkerRuntime

@Suite("Initial sync at scale", .requiresPostgres, .serialized)
struct InitialSyncTests {
    let logger = TwoWayStack.logger

    @Test(
        "5,000 customers and 20,000 invoices: a worker dies mid-run, another resumes at the checkpoint; exact counts, no 429",
        .timeLimit(.minutes(3)))
    func initialSyncResumesAfterAWorkerDies() async throws {
        let pool = try await TwoWayStack.pool()
        defer { pool.close() }
        try await TwoWaySim.with(rateLimits: true) { sim in
            let slug = TwoWayStack.unique("qbo")
            let fixture = try await TwoWayFixture.make(pool, erp: .quickbooksOnline, slug: slug)
            try await sim.connect(fixture, store: fixture.store())
            let seeded = try await sim.control(
                .post, "/_sim/seed",
                #"{"company":"quickbooks-online:\#(TwoWaySim.realm)","customers":5000,"invoices":20000,"paid_every":4}"#)
            let customersInBooks = (seeded["customers"] as? NSNumber)?.intValue ?? 0
            let invoicesInBooks = (seeded["invoices"] as? NSNumber)?.intValue ?? 0
            #expect(customersInBooks >= 5000 && invoicesInBooks >= 20000)
            let job = fixture.job(.initialSync, trigger: .initial)

            // Worker 1 reads eight pages (five of customers, an empty sixth, two of invoices), then stops answering for good (its process is gone; its lease remains).
            let dying = DyingTransport(base: sim.http, after: 8)
            let first = PullProcessor(
                processor: sim.processor(QuickBooksOnlineConnector.self, store: fixture.store(worker: "w1"), transport: dying),
                options: PullOptions(lease: .seconds(3)))
            let task = Task { try await first.process(job, logger: TwoWayStack.logger) }
            let waitUntil = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < waitUntil {
                if try await fixture.run("initial").pages >= 8 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .milliseconds(300))
            task.cancel()
            _ = try? await task.value
            let middle = try await fixture.run("initial")
            #expect(middle.pages == 8 && middle.records == 7000, "\(middle)")

            let second = PullProcessor(
                processor: sim.processor(QuickBooksOnlineConnector.self, store: fixture.store(worker: "w2")),
                options: PullOptions(lease: .seconds(3)))
            if middle.state == "running" {
                #expect(try await second.process(job, logger: logger) == .busy)
                try await Task.sleep(for: .seconds(3.5))
                // The sweeper finds the dead worker's run.
                let due = try await pool.query("SELECT job::text AS job FROM worker_take_due_jobs(\(slug), 10, 60)")
                #expect(due.count == 1)
            }
            let outcomes = try await drain(second, job)
            #expect(outcomes.last == .synced(action: "Initial Sync Completed"), "\(outcomes)")
            let done = try await fixture.run("initial")
            #expect(done.state == "completed")
            #expect(done.records == Int64(customersInBooks + invoicesInBooks), "\(done)")
            #expect((26...30).contains(done.pages), "\(done)")
            #expect(try await fixture.count(
                "SELECT count(*) FROM erp_records WHERE tenant_id = \(fixture.tenant) AND object_kind = 'customer'")
                == Int64(customersInBooks))
            #expect(try await fixture.count(
                "SELECT count(*) FROM erp_records WHERE tenant_id = \(fixture.tenant) AND object_kind = 'invoice'")
                == Int64(invoicesInBooks))
            let actions = try await fixture.actions()
            #expect(actions["Customer Imported"] == customersInBooks, "\(actions)")
            #expect(actions["Invoice Imported"] == invoicesInBooks, "\(actions)")
            #expect(actions["Initial Sync Started"] == 1 && actions["Initial Sync Completed"] == 1, "\(actions)")
            #expect(try await sim.stats()["rate_limited"] == 0, "stays within QuickBooks' limits")
            let estimate = try await fixture.query(
                "SELECT estimated_total FROM erp_pull_runs WHERE tenant_id = \(fixture.tenant) AND run_kind = 'initial'")[0]
            #expect(try estimate.decode(Int64?.self, "estimated_total") == Int64(customersInBooks + invoicesInBooks))
        }
    }
}
