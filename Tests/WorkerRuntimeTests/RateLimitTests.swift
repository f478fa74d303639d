import Connectors
import Domain
import Foundation
import Postgres
import TestSupport
import Testing
import WorkerRuntime

@Suite("Rate limits shared through Postgres", .requiresPostgres, .timeLimit(.minutes(1)))
struct RateLimitTests {
    let logger = WorkerStack.logger

    @Test("Four processors (own pools, like replicas) sharing a connection never exceed its limits")
    func fourReplicasRespectTheBucket() async throws {
        let setup = try await WorkerStack.pool()
        defer { setup.close() }
        let fixture = try await WorkerFixture.make(setup)
        let erp = FakeERP(latency: .milliseconds(30))
        let limits = [
            RateLimit(scope: .connection, kind: .rate(limit: 10, per: .seconds(1)), source: "test"),
            RateLimit(scope: .connection, kind: .concurrent(2), source: "test"),
        ]
        let invoices = (1...8).map { "r-\($0)" }
        for (index, invoice) in invoices.enumerated() {
            try await fixture.invoice(invoice, customer: "c-\(index)")
        }
        let pools = try await (0..<4).asyncMap { _ in try await WorkerStack.pool(maxConnections: 3) }
        defer { pools.forEach { $0.close() } }
        let outcomes = try await withThrowingTaskGroup(of: [JobOutcome].self) { group in
            for (replica, pool) in pools.enumerated() {
                let processor = WorkerStack.processor(
                    WorkerStack.store(pool, worker: "replica-\(replica)"), erp: erp, rateLimits: limits)
                let mine = invoices.enumerated().filter { $0.offset % 4 == replica }.map(\.element)
                group.addTask {
                    var outcomes: [JobOutcome] = []
                    for invoice in mine {
                        outcomes.append(try await processor.process(fixture.job(invoice: invoice), logger: logger))
                    }
                    return outcomes
                }
            }
            var all: [JobOutcome] = []
            for try await outcomes in group { all += outcomes }
            return all
        }
        #expect(outcomes.count == 8)
        #expect(outcomes.allSatisfy { $0 == .synced(action: "Invoice Created") })
        let starts = erp.calls.map(\.start).sorted()
        #expect(starts.count == 32)  // find by reference, find by name, create customer, create invoice
        // Any window of one second holds at most 10 request starts (burst 1 + 8.7/s refill).
        var worst = 0
        for (index, start) in starts.enumerated() {
            let inWindow = starts[index...].prefix { $0 - start < .milliseconds(980) }.count
            worst = max(worst, inWindow)
        }
        #expect(worst <= 10, "\(worst) requests within one second")
        #expect(erp.maxInFlight <= 2)
        let span = try #require(starts.last) - starts[0]
        #expect(span >= .milliseconds(3000))  // 32 requests at ≤ 8.7/s cannot be faster
    }

    @Test("An application-wide limit is shared by the connections of different tenants")
    func applicationLimitAcrossTenants() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let first = try await WorkerFixture.make(pool)
        let second = try await WorkerFixture.make(pool)
        let erp = FakeERP(latency: .milliseconds(2))
        let limits = [RateLimit(scope: .application, kind: .rate(limit: 20, per: .seconds(1)), source: "test")]
        let processor = WorkerStack.processor(WorkerStack.store(pool), erp: erp, rateLimits: limits)
        for (tag, fixture) in [(1, first), (2, second)] {
            for index in 1...3 { try await fixture.invoice("app-\(tag)-\(index)", customer: "ac-\(tag)-\(index)") }
        }
        // Start from an empty bucket, so the refill rate alone decides.
        try await pool.execute(
            """
            DELETE FROM erp_rate_buckets WHERE connection_id = \(ConnectionRateLimiter.applicationConnectionID(for: .xero))
            """)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (tag, fixture) in [(1, first), (2, second)] {
                group.addTask {
                    for index in 1...3 {
                        let outcome = try await processor.process(
                            fixture.job(invoice: "app-\(tag)-\(index)"), logger: WorkerStack.logger)
                        #expect(outcome == .synced(action: "Invoice Created"))
                    }
                }
            }
            try await group.waitForAll()
        }
        let starts = erp.calls.map(\.start).sorted()
        #expect(starts.count == 24)
        var worst = 0
        for (index, start) in starts.enumerated() {
            worst = max(worst, starts[index...].prefix { $0 - start < .milliseconds(980) }.count)
        }
        #expect(worst <= 20, "\(worst) requests within one second")
        #expect(try #require(starts.last) - starts[0] >= .milliseconds(1100))  // (24 − burst 1) / 18.4 per s
    }

    @Test("Concurrency slots: a crashed holder's slot frees itself when its lease ends")
    func slotLeaseExpires() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let store = WorkerStack.store(pool)
        let slots = PostgresConcurrencySlots(name: "test 1 concurrent", limit: 1, lease: .milliseconds(300))
        let tenant = TenantID(fixture.tenant)
        let first = try await slots.tryAcquire(
            holder: "a", tenantID: tenant, connectionID: fixture.connection, store: store, logger: logger)
        #expect(first == 0)
        #expect(
            try await slots.tryAcquire(
                holder: "b", tenantID: tenant, connectionID: fixture.connection, store: store, logger: logger) == nil)
        try await Task.sleep(for: .milliseconds(400))
        #expect(
            try await slots.tryAcquire(
                holder: "b", tenantID: tenant, connectionID: fixture.connection, store: store, logger: logger) == 0)
        try await slots.release(
            slot: 0, holder: "b", tenantID: tenant, connectionID: fixture.connection, store: store, logger: logger)
        #expect(
            try await slots.tryAcquire(
                holder: "c", tenantID: tenant, connectionID: fixture.connection, store: store, logger: logger) == 0)
    }

    @Test("Bucket sizing keeps any window of the documented length within the documented limit")
    func bucketSizing() {
        func near(_ value: Decimal, _ expected: Decimal) -> Bool { abs(value - expected) < Decimal(string: "0.000001")! }
        // Xero's 60/min: burst 1, and any minute admits 97 % of the limit (58.2 requests).
        let minute = PostgresTokenBucket(name: "x", limit: 60, per: .seconds(60))
        #expect(minute.capacity == 1)
        #expect(near(minute.capacity + minute.refillPerSecond * 60, Decimal(string: "58.2")!))
        // QuickBooks' 500/min: burst 5, 485 per minute in all.
        let quickBooks = PostgresTokenBucket(name: "q", limit: 500, per: .seconds(60))
        #expect(quickBooks.capacity == 5)
        #expect(near(quickBooks.capacity + quickBooks.refillPerSecond * 60, 485))
        // Xero's 5,000/day: half the budget at once, 4,850 in any 24 hours.
        let day = PostgresTokenBucket(name: "d", limit: 5_000, per: .seconds(86_400))
        #expect(day.capacity == 2_500)
        #expect(near(day.capacity + day.refillPerSecond * 86_400, 4_850))
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
