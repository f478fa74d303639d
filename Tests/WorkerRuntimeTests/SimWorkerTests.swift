import Connectors
import Domain
import Foundation
import HTTP
import Logging
import Postgres
import Synchronization
import TestSupport
import Testing
import WorkerRuntime

@Suite("Worker runtime against erp-sim", .requiresPostgres, .timeLimit(.minutes(2)))
struct SimWorkerTests {
    let logger = WorkerStack.logger
    let vault = try! CredentialVault(base64Key: Data(repeating: 9, count: 32).base64EncodedString())

    @Test("50 workers (own pools) over 100 forced expiries at erp-sim: exactly 100 refresh calls, no invalid_grant")
    func fiftyWorkersHundredExpiries() async throws {
        try await SimHarness.with { sim in
            let pool = try await WorkerStack.pool()
            defer { pool.close() }
            let fixture = try await WorkerFixture.make(pool)
            let credentials = CredentialStore(store: WorkerStack.store(pool), vault: vault)
            try await sim.connectXero(fixture, credentials: credentials)
            let tenant = TenantID(fixture.tenant)
            // 50 workers, each with its own one-connection pool and provider (no in-process sharing at all).
            var pools: [PostgresPool] = []
            for _ in 0..<50 { pools.append(try await WorkerStack.pool(maxConnections: 1)) }
            defer { pools.forEach { $0.close() } }
            let providers = pools.enumerated().map { index, workerPool in
                RefreshingAccessTokenProvider(
                    credentials: CredentialStore(store: WorkerStack.store(workerPool, worker: "w\(index)"), vault: vault),
                    refresher: sim.refresher(), tenantID: tenant, connectionID: fixture.connection, erp: .xero)
            }
            let before = try await sim.stats()
            let started = ContinuousClock.now
            let failures = Failures()
            for _ in 1...100 {
                try await sim.control(.post, "/_sim/oauth/expire", #"{"company":"xero:\#(SimHarness.xeroTenant)"}"#)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for provider in providers {
                        group.addTask {
                            // What a job does: call with the token it was served; on a 401 force one refresh (skipped
                            // when a sibling already rotated that token) and call again.
                            let tokens = provider.jobScoped()
                            let connector = XeroConnector(
                                context: ConnectionContext(
                                    tenantID: tenant, connectionID: fixture.connection,
                                    configuration: ConnectorConfiguration(
                                        baseURL: sim.xeroBase, companyID: SimHarness.xeroTenant),
                                    mapping: SimHarness.mapping, credentials: tokens),
                                transport: sim.http)
                            do {
                                _ = try await connector.findInvoice(.number("none"), logger: WorkerStack.logger)
                            } catch let failure as ConnectorFailure where failure.reason == .erpAuthLost {
                                try await tokens.forceRefresh(unlessRotatedSince: .distantPast, logger: WorkerStack.logger)
                                do {
                                    _ = try await connector.findInvoice(.number("none"), logger: WorkerStack.logger)
                                } catch {
                                    failures.items.withLock { $0.append("\(error)") }
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let elapsed = ContinuousClock.now - started
            let after = try await sim.stats()
            #expect((after["refresh_calls"] ?? 0) - (before["refresh_calls"] ?? 0) == 100)
            #expect(after["invalid_grant"] == before["invalid_grant"])
            #expect(after["grants_revoked_for_reuse"] == before["grants_revoked_for_reuse"])
            #expect(failures.items.withLock { $0 }.isEmpty, "\(failures.items.withLock { $0.prefix(3) })")
            #expect(try await fixture.connectionStatus() == "active")
            #expect(elapsed < .seconds(60), "took \(elapsed)")
        }
    }

    @Test("429 storm (Retry-After in seconds and as an HTTP date), two replicas: no request before Retry-After")
    func rateLimitStorm() async throws {
        try await SimHarness.with { sim in
            let pool = try await WorkerStack.pool()
            defer { pool.close() }
            let fixture = try await WorkerFixture.make(pool)
            let store = WorkerStack.store(pool, worker: "storm-0")
            try await sim.connectXero(fixture, credentials: CredentialStore(store: store, vault: vault))
            let recorder = RecordingTransport(base: sim.http)
            let pools = [try await WorkerStack.pool(maxConnections: 4), try await WorkerStack.pool(maxConnections: 4)]
            defer { pools.forEach { $0.close() } }
            let replicas = pools.enumerated().map { index, replicaPool in
                sim.processor(WorkerStack.store(replicaPool, worker: "storm-\(index + 1)"), vault: vault, transport: recorder)
            }
            let ids = (1...6).map { "rl-\($0)" }
            for id in ids { try await fixture.invoice(id, customer: "c-storm") }
            try await sim.control(.post, "/_sim/faults", #"{"kind":"rate_limit","seconds":2,"count":2}"#)
            try await sim.control(.post, "/_sim/faults", #"{"kind":"rate_limit","seconds":3,"http_date":true,"count":2}"#)
            let deadline = ContinuousClock.now + .seconds(40)
            var remaining = Set(ids)
            while !remaining.isEmpty, ContinuousClock.now < deadline {
                // Every pending document is made due at once (earlier than Retry-After): only the shared, blocked
                // bucket can keep the replicas from sending.
                for id in remaining { try await fixture.makeDue(fixture.key(id)) }
                let batch = Array(remaining)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, id) in batch.enumerated() {
                        let processor = replicas[index % 2]
                        group.addTask { _ = try await processor.process(fixture.job(invoice: id), logger: WorkerStack.logger) }
                    }
                    try await group.waitForAll()
                }
                for id in batch where try await store.document(fixture.key(id), logger: logger)?.state == .synced {
                    remaining.remove(id)
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(remaining.isEmpty, "not synced: \(remaining)")
            let exchanges = recorder.exchanges.withLock { $0 }
            let limited = exchanges.filter { $0.status == 429 }
            #expect(limited.count == 4, "\(limited.map { ($0.status ?? 0, $0.retryAfter ?? "-") })")
            let httpDate = DateFormatter()
            httpDate.locale = Locale(identifier: "en_US_POSIX")
            httpDate.timeZone = TimeZone(identifier: "GMT")
            httpDate.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
            var sawDate = false
            for answer in limited {
                let header = try #require(answer.retryAfter)
                let notBefore: Date
                if let seconds = Int(header) {
                    notBefore = answer.finished.addingTimeInterval(TimeInterval(seconds))
                } else {
                    notBefore = try #require(httpDate.date(from: header), "Retry-After \(header)")
                    sawDate = true
                }
                let early = exchanges.filter { $0.started > answer.finished && $0.started < notBefore.addingTimeInterval(-0.005) }
                #expect(
                    early.isEmpty,
                    "\(early.map { "\($0.method) \($0.status ?? 0) started \($0.started.timeIntervalSince(answer.finished)) s after the 429, \(notBefore.timeIntervalSince($0.started)) s early" }) (Retry-After \(header))")
            }
            #expect(sawDate)
            let documents = try await sim.documents()
            #expect(documents.invoices == 6)
            #expect(documents.duplicates == 0)
        }
    }

    @Test("Circuit breaker shared through Postgres: one replica opens it, the other defers without calls; one probe")
    func sharedCircuitBreaker() async throws {
        try await SimHarness.with { sim in
            let pool = try await WorkerStack.pool()
            defer { pool.close() }
            let fixture = try await WorkerFixture.make(pool)
            let store = WorkerStack.store(pool, worker: "cb-0")
            try await sim.connectXero(fixture, credentials: CredentialStore(store: store, vault: vault))
            let recorder = RecordingTransport(base: sim.http)
            let pools = [try await WorkerStack.pool(maxConnections: 4), try await WorkerStack.pool(maxConnections: 4)]
            defer { pools.forEach { $0.close() } }
            let breakers = CircuitBreakers(threshold: 3, cooldown: .milliseconds(800), probeLease: .seconds(10))
            let replicas = pools.enumerated().map { index, replicaPool in
                sim.processor(
                    WorkerStack.store(replicaPool, worker: "cb-\(index + 1)"), vault: vault, transport: recorder,
                    breakers: breakers)
            }
            let ids = (1...8).map { "cb-\($0)" }
            for id in ids { try await fixture.invoice(id, customer: "c-cb") }
            // Replica 1 meets three 503s in a row: the breaker opens.
            try await sim.control(.post, "/_sim/faults", #"{"kind":"error","status":503,"count":3}"#)
            for id in ids.prefix(3) {
                guard case .deferred(.erpTransient, _) = try await replicas[0].process(fixture.job(invoice: id), logger: logger)
                else {
                    Issue.record("expected a transient deferral")
                    return
                }
            }
            let state = try await breakers.state(
                tenantID: TenantID(fixture.tenant), connectionID: fixture.connection, store: store, logger: logger)
            #expect(state?.openUntil != nil)
            #expect(state?.openedCount == 1)
            // Replica 2 (its own pool) sees it open: deferred without calling the ERP.
            let calls = recorder.exchanges.withLock { $0.count }
            for id in ids[3..<6] {
                guard case .deferred(.erpTransient, let wait) = try await replicas[1].process(fixture.job(invoice: id), logger: logger)
                else {
                    Issue.record("expected a deferral while the circuit is open")
                    return
                }
                #expect(wait <= .milliseconds(800))
            }
            #expect(recorder.exchanges.withLock { $0.count } == calls)
            // After the cooldown exactly one of many concurrent jobs is let through as the probe; it succeeds and
            // closes the breaker.
            try await Task.sleep(for: .milliseconds(850))
            for id in ids { try await fixture.makeDue(fixture.key(id)) }
            let outcomes = try await withThrowingTaskGroup(of: JobOutcome.self) { group in
                for (index, id) in ids[6..<8].enumerated() + ids[3..<6].enumerated().map({ ($0.offset + 2, $0.element) }) {
                    group.addTask { try await replicas[index % 2].process(fixture.job(invoice: id), logger: WorkerStack.logger) }
                }
                var outcomes: [JobOutcome] = []
                for try await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            #expect(outcomes.filter { $0 == .synced(action: "Invoice Created") }.count == 1, "\(outcomes)")
            #expect(outcomes.filter { if case .deferred(.erpTransient, _) = $0 { true } else { false } }.count == 4)
            let closed = try await breakers.state(
                tenantID: TenantID(fixture.tenant), connectionID: fixture.connection, store: store, logger: logger)
            #expect(closed?.openUntil == nil)
            #expect(closed?.consecutiveFailures == 0)
            // Closed: everything flows again on both replicas.
            for id in ids { try await fixture.makeDue(fixture.key(id)) }
            for (index, id) in ids.enumerated() {
                let outcome = try await replicas[index % 2].process(fixture.job(invoice: id), logger: logger)
                #expect(outcome == .synced(action: "Invoice Created") || outcome == .alreadySynced, "\(id): \(outcome)")
            }
            #expect(try await sim.documents().invoices == 8)
        }
    }
}

/// Errors collected from concurrent tasks.
final class Failures: Sendable {
    let items = Mutex<[String]>([])
}
