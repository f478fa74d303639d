import Connectors
import Domain
import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing
import WorkerRuntime

@Suite("Job processor against Postgres and a fake ERP", .requiresPostgres, .timeLimit(.minutes(1)))
struct JobProcessorTests {
    let logger = WorkerStack.logger

    @Test("pending → claimed → sent → synced; a redelivery of the synced version does not call the ERP")
    func createsThenSkipsRedelivery() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let erp = FakeERP()
        let store = WorkerStack.store(pool)
        let processor = WorkerStack.processor(store, erp: erp)
        try await fixture.invoice("i-1")
        let job = fixture.job(invoice: "i-1")

        #expect(try await processor.process(job, logger: logger) == .synced(action: "Invoice Created"))
        let document = try #require(try await store.document(fixture.key("i-1"), logger: logger))
        #expect(document.state == .synced)
        #expect(document.syncedVersion == 1)
        #expect(document.idempotencyKey?.hasPrefix("ci-") == true)
        let link = try #require(
            try await store.link(
                tenantID: TenantID(fixture.tenant), connectionID: fixture.connection, kind: .invoice, ourID: "i-1",
                logger: logger))
        #expect(link.erpID == erp.invoices.first?.id)
        #expect(erp.customerCount == 1)

        let callsBefore = erp.calls.count
        #expect(try await processor.process(job, logger: logger) == .alreadySynced)
        #expect(try await processor.process(fixture.job(invoice: "i-1"), logger: logger) == .alreadySynced)
        #expect(erp.calls.count == callsBefore)
        #expect(erp.invoices.count == 1)
        let audits = try await fixture.audits()
        #expect(audits.map(\.action) == ["Invoice Created"])
        #expect(audits.first?.outcome == "succeeded")
    }

    @Test("A new version updates the linked invoice; a void after that voids it")
    func updatesAndVoids() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let erp = FakeERP()
        let processor = WorkerStack.processor(WorkerStack.store(pool), erp: erp)
        try await fixture.invoice("i-2")
        #expect(try await processor.process(fixture.job(invoice: "i-2"), logger: logger) == .synced(action: "Invoice Created"))
        try await fixture.invoice("i-2", version: 2, total: "150.00")
        #expect(
            try await processor.process(fixture.job(invoice: "i-2", version: 2), logger: logger)
                == .synced(action: "Invoice Updated"))
        #expect(erp.invoices.first?.total == "150.00")
        try await fixture.invoice("i-2", version: 3, total: "150.00", status: "voided")
        #expect(
            try await processor.process(fixture.job(.voidInvoice, invoice: "i-2", version: 3), logger: logger)
                == .synced(action: "Invoice Voided"))
        #expect(erp.invoices.first?.status == "voided")
        #expect(erp.invoices.count == 1)
        #expect(erp.writes("createCustomer") == 1)
    }

    @Test("Timeout after the ERP committed: the lookup adopts the invoice, no duplicate")
    func timeoutAfterCommitAdopts() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let erp = FakeERP()
        let processor = WorkerStack.processor(WorkerStack.store(pool), erp: erp)
        try await fixture.invoice("i-3")
        erp.inject(.timeoutAfterCommit)  // hits createCustomer
        erp.inject(.timeoutAfterCommit)  // hits createInvoice
        #expect(try await processor.process(fixture.job(invoice: "i-3"), logger: logger) == .synced(action: "Invoice Created"))
        #expect(erp.invoices.count == 1)
        #expect(erp.customerCount == 1)
    }

    @Test("Crash after the key was recorded: the next claim looks up by reference first and adopts")
    func crashAfterRecordLooksUpFirst() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let erp = FakeERP()
        let store = WorkerStack.store(pool)
        try await fixture.invoice("i-4")
        let job = fixture.job(invoice: "i-4")
        // A worker claimed, recorded the key, sent the create (the ERP committed it) and died.
        let dead = WorkerStack.store(pool, worker: "dead-worker")
        guard case .claimed(let claim) = try await dead.claim(fixture.key("i-4"), version: 1, job: job, logger: logger) else {
            Issue.record("expected a claim")
            return
        }
        try await dead.recordSend(claim, operation: "createInvoice", key: "ci-test", logger: logger)
        erp.state.withLock {
            $0.invoices["900"] = FakeERP.Invoice(
                id: "900", number: "INV-i-4", ourRef: "i-4", customerID: "1", total: "120.00", version: 0, status: "open")
        }
        // While the lease holds, a redelivery leaves it alone.
        let processor = WorkerStack.processor(store, erp: erp)
        #expect(try await processor.process(job, logger: logger) == .busy)
        try await pool.execute(
            "UPDATE sync_documents SET lease_until = now() - interval '1 second' WHERE tenant_id = \(fixture.tenant)")
        #expect(try await processor.process(job, logger: logger) == .synced(action: "Invoice Created"))
        #expect(erp.writes("createInvoice") == 0)
        #expect(erp.invoices.count == 1)
        let document = try #require(try await store.document(fixture.key("i-4"), logger: logger))
        #expect(document.erpID == "900")
        #expect(document.attempt == 2)
    }

    @Test("429 with Retry-After: deferred exactly that long and no request before it")
    func retryAfterRespected() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let erp = FakeERP()
        let store = WorkerStack.store(pool)
        let processor = WorkerStack.processor(store, erp: erp)
        try await fixture.invoice("i-5")
        let job = fixture.job(invoice: "i-5")
        erp.inject(.rateLimited(retryAfterSeconds: 2))
        #expect(try await processor.process(job, logger: logger) == .deferred(.erpRateLimited, delay: .seconds(2)))
        let rejectedAt = try #require(erp.calls.last)
        #expect(rejectedAt.operation == "createCustomer")
        let wait = try await pool.query(
            """
            SELECT extract(epoch FROM not_before - updated_at)::float8::text AS s FROM sync_documents
            WHERE tenant_id = \(fixture.tenant)
            """)[0].decode(String.self, "s")
        #expect(abs((Double(wait) ?? 0) - 2) < 0.05)
        // A redelivery before the time is acked without a call.
        #expect(try await processor.process(job, logger: logger) == .notDue)
        // Made due early (as if the sweeper were wrong): the shared bucket still holds the request back.
        try await fixture.makeDue(fixture.key("i-5"))
        #expect(try await processor.process(job, logger: logger) == .synced(action: "Invoice Created"))
        let next = try #require(erp.calls.first { $0.start > rejectedAt.end })
        #expect(next.start - rejectedAt.end >= .milliseconds(1900))
        #expect(erp.customerCount == 1)
    }

    @Test("Transient failures back off, then park after the retry horizon")
    func parksAfterHorizon() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let erp = FakeERP()
        let store = WorkerStack.store(pool)
        let processor = WorkerStack.processor(store, erp: erp, horizon: .milliseconds(400))
        try await fixture.invoice("i-6")
        for _ in 0..<40 { erp.inject(.serverError) }
        var outcomes: [JobOutcome] = []
        for _ in 0..<20 {
            let outcome = try await processor.process(fixture.job(invoice: "i-6"), logger: logger)
            outcomes.append(outcome)
            if case .parked = outcome { break }
            try await fixture.makeDue(fixture.key("i-6"))
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(outcomes.last == .parked(.erpTransient))
        #expect(outcomes.dropLast().allSatisfy { if case .deferred(.erpTransient, _) = $0 { true } else { false } })
        #expect(outcomes.count >= 2)
        let document = try #require(try await store.document(fixture.key("i-6"), logger: logger))
        #expect(document.state == .parked)
        #expect(document.reason == "erp.transient")
        #expect(try await fixture.audits().last?.outcome == "parked")
        // Parked for this version: redeliveries do not call the ERP.
        let calls = erp.calls.count
        #expect(try await processor.process(fixture.job(invoice: "i-6"), logger: logger) == .stillParked)
        #expect(erp.calls.count == calls)
    }

    @Test("A validation error parks with the ERP's message until the data changes")
    func validationParks() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let erp = FakeERP()
        let store = WorkerStack.store(pool)
        let processor = WorkerStack.processor(store, erp: erp)
        try await fixture.invoice("i-7")
        erp.inject(.validation("Account code 200 is archived"))
        #expect(try await processor.process(fixture.job(invoice: "i-7"), logger: logger) == .parked(.erpRejectedData))
        let document = try #require(try await store.document(fixture.key("i-7"), logger: logger))
        #expect(document.erpMessage == "Account code 200 is archived")
        #expect(try await processor.process(fixture.job(invoice: "i-7"), logger: logger) == .stillParked)
        try await fixture.invoice("i-7", version: 2)
        #expect(
            try await processor.process(fixture.job(invoice: "i-7", version: 2), logger: logger)
                == .synced(action: "Invoice Created"))
        #expect(erp.customerCount == 1)
    }

    @Test("401 / invalid_grant: the connection needs re-authorization and the job is parked, not lost")
    func unauthorizedMarksConnection() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let erp = FakeERP()
        let processor = WorkerStack.processor(WorkerStack.store(pool), erp: erp)
        try await fixture.invoice("i-8")
        erp.inject(.unauthorized)
        #expect(try await processor.process(fixture.job(invoice: "i-8"), logger: logger) == .parked(.erpAuthLost))
        #expect(try await fixture.connectionStatus() == "needs_reauth")
        let audits = try await fixture.audits()
        #expect(audits.contains { $0.action == "Authorization Lost" && $0.reason == "erp.auth_lost" })
        #expect(audits.contains { $0.action == "Invoice Parked" })
        // Later jobs of that connection are parked without an ERP call (kept for a replay).
        try await fixture.invoice("i-8b")
        let calls = erp.calls.count
        #expect(try await processor.process(fixture.job(invoice: "i-8b"), logger: logger) == .parked(.erpAuthLost))
        #expect(erp.calls.count == calls)
        // The operator replays it after reconnecting.
        try await pool.execute("UPDATE erp_connections SET status = 'active' WHERE connection_id = \(fixture.connection)")
        #expect(
            try await processor.process(fixture.job(invoice: "i-8", trigger: .replay), logger: logger)
                == .synced(action: "Invoice Created"))
    }

    @Test("A payment waits (deferred) for its invoice's link, then applies once")
    func paymentWaitsForInvoice() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let erp = FakeERP()
        let processor = WorkerStack.processor(WorkerStack.store(pool), erp: erp)
        let invoiceKey = try await fixture.invoice("i-9")
        try await fixture.payment("p-1", invoiceKey: invoiceKey)
        let paymentJob = fixture.job(.pushPayment, invoice: "i-9", payment: "p-1")
        #expect(
            try await processor.process(paymentJob, logger: logger)
                == .deferred(JobProcessor<TestConnector>.waitingForInvoice, delay: .milliseconds(200)))
        #expect(erp.calls.isEmpty)
        #expect(try await processor.process(fixture.job(invoice: "i-9"), logger: logger) == .synced(action: "Invoice Created"))
        try await fixture.makeDue(fixture.key("p-1", kind: .payment))
        #expect(try await processor.process(paymentJob, logger: logger) == .synced(action: "Payment Applied"))
        #expect(try await processor.process(paymentJob, logger: logger) == .alreadySynced)
        #expect(erp.paymentCount == 1)
    }

    @Test("Two replicas pushing invoices of one new customer at once create that customer once")
    func customerResolvedOnce() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let erp = FakeERP(latency: .milliseconds(40))
        let invoices = (1...4).map { "cu-\($0)" }
        for invoice in invoices { try await fixture.invoice(invoice, customer: "shared") }
        let outcomes = try await withThrowingTaskGroup(of: JobOutcome.self) { group in
            for (index, invoice) in invoices.enumerated() {
                let processor = WorkerStack.processor(WorkerStack.store(pool, worker: "replica-\(index % 2)"), erp: erp)
                group.addTask { try await processor.process(fixture.job(invoice: invoice), logger: WorkerStack.logger) }
            }
            var outcomes: [JobOutcome] = []
            for try await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        #expect(outcomes.allSatisfy { $0 == .synced(action: "Invoice Created") })
        #expect(erp.customerCount == 1)
        #expect(erp.writes("createCustomer") == 1)
        #expect(erp.invoices.count == 4)
    }

    @Test("A connection that keeps failing opens its circuit: its jobs are deferred without ERP calls")
    func circuitBreaker() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let healthy = try await WorkerFixture.make(pool)
        let erp = FakeERP()
        let breakers = CircuitBreakers(threshold: 2, cooldown: .milliseconds(500))
        let processor = WorkerStack.processor(WorkerStack.store(pool), erp: erp, breakers: breakers)
        for invoice in ["cb-1", "cb-2", "cb-3"] { try await fixture.invoice(invoice) }
        try await healthy.invoice("cb-ok")
        erp.inject(.serverError, .serverError)
        #expect(try await processor.process(fixture.job(invoice: "cb-1"), logger: logger) != .synced(action: "Invoice Created"))
        #expect(try await processor.process(fixture.job(invoice: "cb-2"), logger: logger) != .synced(action: "Invoice Created"))
        let calls = erp.calls.count
        guard case .deferred(.erpTransient, let delay) = try await processor.process(fixture.job(invoice: "cb-3"), logger: logger)
        else {
            Issue.record("expected a deferral while the circuit is open")
            return
        }
        #expect(delay <= .milliseconds(500))
        #expect(erp.calls.count == calls)
        // Other connections are not affected.
        #expect(try await processor.process(healthy.job(invoice: "cb-ok"), logger: logger) == .synced(action: "Invoice Created"))
        // After the cooldown one job goes through and closes the circuit.
        try await Task.sleep(for: .milliseconds(550))
        try await fixture.makeDue(fixture.key("cb-3"))
        #expect(try await processor.process(fixture.job(invoice: "cb-3"), logger: logger) == .synced(action: "Invoice Created"))
        let state = try await breakers.state(
            tenantID: TenantID(fixture.tenant), connectionID: fixture.connection, store: WorkerStack.store(pool),
            logger: logger)
        #expect(state?.openUntil == nil)
        #expect(state?.consecutiveFailures == 0)
    }

    @Test("100 invoices, every write answered by a commit-then-timeout: 0 duplicates")
    func manyLostAnswers() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let erp = FakeERP(latency: .zero)
        let processor = WorkerStack.processor(WorkerStack.store(pool), erp: erp, rateLimits: [])
        let invoices = (1...100).map { "lost-\($0)" }
        for (index, invoice) in invoices.enumerated() { try await fixture.invoice(invoice, customer: "lc-\(index % 10)") }
        for _ in 0..<400 { erp.inject(.timeoutAfterCommit) }
        for invoice in invoices {
            var outcome = try await processor.process(fixture.job(invoice: invoice), logger: logger)
            for _ in 0..<5 where outcome != .synced(action: "Invoice Created") {
                try await fixture.makeDue(fixture.key(invoice))
                outcome = try await processor.process(fixture.job(invoice: invoice), logger: logger)
            }
            #expect(outcome == .synced(action: "Invoice Created"))
        }
        #expect(erp.invoices.count == 100)
        #expect(Set(erp.invoices.map(\.ourRef)).count == 100)
        #expect(erp.customerCount == 10)
        #expect(erp.writes("createInvoice") == 100)
    }

    @Test("A newer version acked as busy is not lost when the holder parks or completes the older one")
    func newerVersionWhileBusy() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let holder = WorkerStack.store(pool, worker: "holder")
        let other = WorkerStack.store(pool, worker: "other")
        for (id, ending) in [("nv-park", "park"), ("nv-complete", "complete")] {
            let key = fixture.key(id)
            guard case .claimed(let claim) = try await holder.claim(
                key, version: 1, job: fixture.job(invoice: id), logger: logger)
            else {
                Issue.record("expected a claim")
                return
            }
            #expect(try await other.claim(key, version: 2, job: fixture.job(invoice: id, version: 2), logger: logger)
                .isBusy)
            if ending == "park" {
                try await holder.park(
                    claim, reason: .erpRejectedData, erpMessage: "bad", erpRequestID: nil, outcomeUnknown: false,
                    audit: [], logger: logger)
            } else {
                try await holder.complete(
                    claim, result: SyncResult(erpID: "9", erpVersion: "0", payloadSHA256: nil, erpRequestID: nil),
                    links: [], audit: [], logger: logger)
            }
            let document = try #require(try await holder.document(key, logger: logger))
            #expect(document.state == .deferred)
            #expect(document.targetVersion == 2)
            // Due now: the next claim (the sweeper's re-published job) takes version 2.
            guard case .claimed(let next) = try await other.claim(
                key, version: 2, job: fixture.job(invoice: id, version: 2), logger: logger)
            else {
                Issue.record("expected the newer version to be claimable")
                return
            }
            #expect(next.version == 2)
        }
    }
}

extension ClaimDecision {
    var isBusy: Bool { if case .busy = self { true } else { false } }
}
