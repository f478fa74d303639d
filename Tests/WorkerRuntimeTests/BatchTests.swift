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

/// A transport that lets the first matching request reach the ERP, then loses its answer (as a timeout after the
/// ERP committed would).
final class AnswerLosingTransport: HTTPTransport, Sendable {
    struct Lost: Error {}
    let base: any HTTPTransport
    let method: HTTPMethod
    let pathSuffix: String
    let remaining: Mutex<Int>

    init(base: any HTTPTransport, method: HTTPMethod, pathSuffix: String, count: Int = 1) {
        self.base = base
        self.method = method
        self.pathSuffix = pathSuffix
        self.remaining = Mutex(count)
    }

    func execute(_ request: HTTPRequest, logger: Logger) async throws -> HTTPResponse {
        let response = try await base.execute(request, logger: logger)
        let path = String(request.description.split(separator: " ").last ?? "")
        if request.method == method, path.hasSuffix(pathSuffix),
            remaining.withLock({ count in
                guard count > 0 else { return false }
                count -= 1
                return true
            })
        {
            throw Lost()
        }
        return response
    }
}

@Suite("push_batch jobs", .requiresPostgres, .timeLimit(.minutes(1)))
struct BatchTests {
    let logger = WorkerStack.logger
    let vault = try! CredentialVault(base64Key: Data(repeating: 7, count: 32).base64EncodedString())

    @Test("Against erp-sim (Xero, 50 per request): synced, busy-free items batched, others skipped or one by one")
    func batchAgainstSimulator() async throws {
        try await SimHarness.with { sim in
            let pool = try await WorkerStack.pool()
            defer { pool.close() }
            let fixture = try await WorkerFixture.make(pool)
            let store = WorkerStack.store(pool, worker: "batch-1")
            try await sim.connectXero(fixture, credentials: CredentialStore(store: store, vault: vault))
            let recorder = RecordingTransport(base: sim.http)
            let processor = sim.processor(store, vault: vault, transport: recorder)
            let ids = (1...60).map { "b-\($0)" }
            for (index, id) in ids.enumerated() { try await fixture.invoice(id, customer: "c-\(index % 7)") }
            try await fixture.invoice("b-synced")
            try await fixture.invoice("b-void", status: "voided")
            #expect(try await processor.process(fixture.job(invoice: "b-synced"), logger: logger) == .synced(action: "Invoice Created"))
            let singleWrites = recorder.exchanges.withLock { $0.filter { $0.method == "POST" && $0.path.hasSuffix("/Invoices") }.count }

            var batch = fixture.job(.pushBatch, invoice: "")
            batch.invoiceID = nil
            batch.trigger = .endOfDay
            batch.invoiceIDs = ids + ["b-synced", "b-void", "b-missing", "b-1"]
            guard case .batch(let results) = try await processor.process(batch, logger: logger) else {
                Issue.record("expected batch results")
                return
            }
            #expect(results.map(\.invoiceID) == ids + ["b-synced", "b-void", "b-missing"])
            let outcomes = Dictionary(uniqueKeysWithValues: results.map { ($0.invoiceID, $0.outcome) })
            #expect(ids.allSatisfy { outcomes[$0] == .synced(action: "Invoice Created") }, "\(results)")
            #expect(outcomes["b-synced"] == .alreadySynced)
            #expect(outcomes["b-void"] == .synced(action: "Invoice Voided"))
            #expect(outcomes["b-missing"] == .dropped("invoice not in the canonical store"))
            let batchWrites = recorder.exchanges.withLock {
                $0.filter { $0.method == "POST" && $0.path.hasSuffix("/Invoices") }.count
            } - singleWrites
            #expect(batchWrites == 2, "60 invoices in requests of at most 50")
            let documents = try await sim.documents()
            #expect(documents.invoices == 61)
            #expect(documents.duplicates == 0)
            let states = try await fixture.states(ids, store: store)
            #expect(states.values.allSatisfy { $0 == .synced })
            let audits = try await fixture.audits()
            #expect(audits.filter { $0.action == "Invoice Created" }.count == 61)
            // A redelivery of the batch writes nothing.
            guard case .batch(let again) = try await processor.process(batch, logger: logger) else { return }
            #expect(again.filter { $0.outcome == .alreadySynced }.count == 62)
            #expect(try await sim.documents().invoices == 61)
        }
    }

    @Test("Unknown outcome of a batch request: every item looks up first on its retry and is adopted, no duplicate")
    func batchUnknownOutcome() async throws {
        try await SimHarness.with { sim in
            let pool = try await WorkerStack.pool()
            defer { pool.close() }
            let fixture = try await WorkerFixture.make(pool)
            let store = WorkerStack.store(pool, worker: "batch-2")
            try await sim.connectXero(fixture, credentials: CredentialStore(store: store, vault: vault))
            let losing = AnswerLosingTransport(base: sim.http, method: .post, pathSuffix: "/Invoices")
            let processor = sim.processor(store, vault: vault, transport: losing)
            let ids = (1...12).map { "u-\($0)" }
            for id in ids { try await fixture.invoice(id, customer: "c-1") }
            var batch = fixture.job(.pushBatch, invoice: "")
            batch.invoiceID = nil
            batch.invoiceIDs = ids
            guard case .batch(let results) = try await processor.process(batch, logger: logger) else {
                Issue.record("expected batch results")
                return
            }
            #expect(results.allSatisfy { if case .deferred(.erpOutcomeUnknown, _) = $0.outcome { true } else { false } }, "\(results)")
            for id in ids {
                let document = try #require(try await store.document(fixture.key(id), logger: logger))
                #expect(document.state == .deferred)
                #expect(document.priorOutcomeUnknown)
                #expect(document.operation == ConnectorOperation.pushBatch.rawValue)
            }
            #expect(try await sim.documents().invoices == 12, "the lost batch was committed by the ERP")
            // The sweeper's view: each row keeps its own push_invoice job; run them once due.
            for id in ids { try await fixture.makeDue(fixture.key(id)) }
            let stored = try await pool.query(
                """
                SELECT job::text AS job FROM sync_documents WHERE tenant_id = \(fixture.tenant) AND document_kind = 'invoice'
                ORDER BY document_id
                """)
            #expect(stored.count == 12)
            for row in stored {
                let job = try WireFormat.decoder().decode(SyncJob.self, from: Data(try row.decode(String.self, "job").utf8))
                #expect(job.kind == .pushInvoice)
                #expect(try await processor.process(job, logger: logger) == .synced(action: "Invoice Created"))
            }
            let documents = try await sim.documents()
            #expect(documents.invoices == 12)
            #expect(documents.duplicates == 0)
            let paths = try await pool.query(
                """
                SELECT body->'details'->>'path' AS path FROM outbox
                WHERE tenant_id = \(fixture.tenant) AND body->>'action' = 'Invoice Created'
                """
            ).map { try $0.decode(String?.self, "path") }
            #expect(paths.count == 12)
            #expect(paths.allSatisfy { $0 == "adopted" }, "\(paths)")
        }
    }

    @Test("Against erp-sim (QuickBooks Online, POST /batch ≤ 30): 40 invoices in 2 batch requests, each committed")
    func quickBooksBatch() async throws {
        try await SimHarness.with { sim in
            let pool = try await WorkerStack.pool()
            defer { pool.close() }
            let fixture = try await WorkerFixture.make(pool)
            let store = WorkerStack.store(pool, worker: "batch-qbo")
            try await sim.connectQuickBooks(fixture, credentials: CredentialStore(store: store, vault: vault))
            let recorder = RecordingTransport(base: sim.http)
            let processor = sim.quickbooksProcessor(store, vault: vault, transport: recorder)
            let run = String(fixture.tenant.suffix(6))
            let ids = (1...40).map { "q\(run)-\($0)" }
            for (index, id) in ids.enumerated() { try await fixture.invoice(id, customer: "c-\(index % 5)") }
            var batch = fixture.job(.pushBatch, invoice: "")
            batch.invoiceID = nil
            batch.erp = .quickbooksOnline
            batch.invoiceIDs = ids
            guard case .batch(let results) = try await processor.process(batch, logger: logger) else {
                Issue.record("expected batch results")
                return
            }
            #expect(results.allSatisfy { $0.outcome == .synced(action: "Invoice Created") }, "\(results.prefix(3))")
            let batchCalls = recorder.exchanges.withLock { $0.filter { $0.method == "POST" && $0.path.hasSuffix("/batch") } }
            #expect(batchCalls.count == 2)
            let documents = try await sim.documents(company: SimHarness.quickbooksRealm)
            #expect(documents.duplicates == 0)
            let links = try await pool.query(
                "SELECT count(*)::int AS n FROM erp_links WHERE tenant_id = \(fixture.tenant) AND object_kind = 'invoice'")
            #expect(try links[0].decode(Int.self, "n") == 40)
        }
    }

    @Test("An ERP without batch support: the batch's invoices are pushed one by one")
    func fallbackOneByOne() async throws {
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let erp = FakeERP()
        let processor = WorkerStack.processor(WorkerStack.store(pool), erp: erp)
        let ids = (1...5).map { "f-\($0)" }
        for id in ids { try await fixture.invoice(id) }
        #expect(try await processor.process(fixture.job(invoice: "f-1"), logger: logger) == .synced(action: "Invoice Created"))
        var batch = fixture.job(.pushBatch, invoice: "")
        batch.invoiceID = nil
        batch.invoiceIDs = ids
        guard case .batch(let results) = try await processor.process(batch, logger: logger) else {
            Issue.record("expected batch results")
            return
        }
        #expect(results.first?.outcome == .alreadySynced)
        #expect(results.dropFirst().allSatisfy { $0.outcome == .synced(action: "Invoice Created") })
        #expect(erp.invoices.count == 5)
        #expect(erp.writes("pushBatch") == 0)
    }
}
