import Connectors
import Domain
import Foundation
import HTTP
import Logging
import Postgres
import TestSupport
import Testing
import WorkerRuntime

@Suite("Rate-limit wait timeout", .requiresPostgres, .timeLimit(.minutes(1)))
struct RateLimitTimeoutTests {
    let logger = WorkerStack.logger

    @Test("No slot within the wait: deferred as erp.rate_limited, nothing sent, no unknown outcome, breaker untouched")
    func waitTimeoutIsNotAnUnknownOutcome() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let store = WorkerStack.store(pool)
        let limit = RateLimit(scope: .connection, kind: .concurrent(1), source: "test")
        // Another holder keeps the only slot.
        let hog = PostgresConcurrencySlots(name: limit.description, limit: 1)
        #expect(
            try await hog.tryAcquire(
                holder: "hog", tenantID: TenantID(fixture.tenant), connectionID: fixture.connection, store: store,
                logger: logger) == 0)
        let erp = FakeERP()
        let processor = JobProcessor<TestConnector>(
            store: store, transport: erp,
            retry: RetryPolicy(
                initialBackoff: .milliseconds(10), maximumBackoff: .milliseconds(50), horizon: .seconds(3600),
                dependencyWait: .milliseconds(200)),
            rateLimitWait: .milliseconds(200), rateLimits: [limit]
        ) { job, transport in
            TestConnector(
                context: ConnectionContext(
                    tenantID: job.tenantID, connectionID: job.connectionID,
                    configuration: ConnectorConfiguration(baseURL: "http://127.0.0.1/fake", companyID: "fake"),
                    mapping: MappingConfiguration(), credentials: StaticAccessTokenProvider(AccessToken("test-token"))),
                transport: transport)
        }
        try await fixture.invoice("rt-1")
        guard case .deferred(.erpRateLimited, _) = try await processor.process(fixture.job(invoice: "rt-1"), logger: logger)
        else {
            Issue.record("expected a rate-limited deferral")
            return
        }
        #expect(erp.calls.isEmpty)
        let document = try #require(try await store.document(fixture.key("rt-1"), logger: logger))
        #expect(document.state == .deferred)
        #expect(document.priorOutcomeUnknown == false)
        #expect(
            try await CircuitBreakers().state(
                tenantID: TenantID(fixture.tenant), connectionID: fixture.connection, store: store, logger: logger) == nil)
        // Once the slot is free the retry syncs without a lookup first.
        try await hog.release(
            slot: 0, holder: "hog", tenantID: TenantID(fixture.tenant), connectionID: fixture.connection, store: store,
            logger: logger)
        try await fixture.makeDue(fixture.key("rt-1"))
        #expect(try await processor.process(fixture.job(invoice: "rt-1"), logger: logger) == .synced(action: "Invoice Created"))
        #expect(erp.writes("findInvoice") == 0)
    }

    @Test("The wait timeout is a request-not-sent error with a safe description")
    func timeoutErrorType() throws {
        let error = RateLimitWaitTimeout(limit: "connection all 60/60s", maxWait: .seconds(10))
        #expect("\(error)".contains("connection all 60/60s"))
        #expect((error as Any) is any RequestNotSentError)
    }
}
