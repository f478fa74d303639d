import Domain
import Foundation
import Postgres
import TestSupport
import Testing

@testable import Ingest

/// The canonical store, idempotency and ordering rules, called through ``IntakeStore`` (as both intakes do).
@Suite("Intake store: canonical store, idempotency, ordering", .requiresPostgres, .timeLimit(.minutes(1)))
struct IntakeStoreTests {
    func process(_ store: IntakeStore, _ bodies: [UInt8]...) async throws -> [IntakeResult] {
        try await store.process(bodies.map { IntakeItem.amqp($0) })
    }

    @Test func storesAnInvoiceSnapshotWithAllItsParts() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool, erps: [("xero", true, true), ("quickbooks-online", true, false)])
        let store = IngestStack.store(pool)

        let results = try await process(store, try fixture.example("invoice-created.json"))
        #expect(results[0].outcome == .applied)
        #expect(results[0].outboxRows == 3)  // push_invoice × 2 connections + the audit event

        let invoice = try await pool.query(
            """
            SELECT invoice_number, status, currency, subtotal::text AS subtotal, tax_total::text AS tax_total,
                   total::text AS total, balance_due::text AS balance_due, invoice_version, customer_name
            FROM invoices WHERE tenant_id = \(fixture.tenant)
            """)
        #expect(invoice.count == 1)
        #expect(try invoice[0].decode(String.self, "invoice_number") == "INV-10482")
        #expect(try invoice[0].decode(String.self, "total") == "778.00")
        #expect(try invoice[0].decode(String.self, "subtotal") == "743.10")
        #expect(try invoice[0].decode(String.self, "tax_total") == "34.90")
        #expect(try invoice[0].decode(String.self, "balance_due") == "778.00")
        #expect(try invoice[0].decode(Int64.self, "invoice_version") == 1)
        #expect(try await fixture.count("invoice_lines", pool) == 9)
        #expect(try await fixture.count("invoice_tax_lines", pool) == 2)
        #expect(try await fixture.count("vehicles", pool) == 1)
        #expect(try await fixture.count("customers", pool) == 1)
        let line = try await pool.query(
            """
            SELECT quantity::text AS q, unit_price::text AS p, amount::text AS a FROM invoice_lines
            WHERE tenant_id = \(fixture.tenant) AND line_number = 4
            """)
        #expect(try line[0].decode(String.self, "q") == "3")
        #expect(try line[0].decode(String.self, "p") == "4.335")
        #expect(try line[0].decode(String.self, "a") == "13.01")

        // One job per connection that pushes invoices, with the outbox id as job id, and one audit event.
        let jobs = try await pool.query(
            """
            SELECT outbox_id, routing_key, exchange, message_id, body->>'job_id' AS job_id, body->>'kind' AS kind,
                   body->>'connection_id' AS connection
            FROM outbox WHERE tenant_id = \(fixture.tenant) AND message_type = 'sync_job' ORDER BY outbox_id
            """)
        #expect(try jobs.map { try $0.decode(String.self, "routing_key") }.sorted() == ["quickbooks-online", "xero"])
        for job in jobs {
            let id = try job.decode(Int64.self, "outbox_id")
            #expect(try job.decode(String.self, "job_id") == String(id))
            #expect(try job.decode(String.self, "message_id") == String(id))
            #expect(try job.decode(String.self, "kind") == "push_invoice")
            #expect(try job.decode(String.self, "exchange") == IngestStack.jobsExchange)
        }
        let audit = try await pool.query(
            """
            SELECT routing_key, body->>'kind' AS kind, body->>'action' AS action, body->>'outcome' AS outcome
            FROM outbox WHERE tenant_id = \(fixture.tenant) AND message_type = 'audit_event'
            """)
        #expect(audit.count == 1)
        #expect(try audit[0].decode(String.self, "routing_key") == "ingest.event.received")
        #expect(try audit[0].decode(String.self, "action") == "Invoice Created")
        #expect(try audit[0].decode(String.self, "outcome") == "succeeded")
    }

    @Test func theSameEventTwiceIsStoredOnce() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let store = IngestStack.store(pool)
        let body = try fixture.example("invoice-created.json")
        #expect(try await process(store, body)[0].outcome == .applied)
        // A redelivery, and a re-send with other formatting (same content).
        #expect(try await process(store, body)[0].outcome == .duplicate(original: "accepted"))
        let reformatted = Array(String(decoding: body, as: UTF8.self).replacingOccurrences(of: "\n", with: " ").utf8)
        #expect(try await process(store, reformatted)[0].outcome == .duplicate(original: "accepted"))
        #expect(try await fixture.count("inbound_events", pool) == 1)
        #expect(try await fixture.count("outbox", pool) == 2)
    }

    @Test func concurrentDuplicatesRaceSafely() async throws {
        let pool = try await IngestStack.pool(maxConnections: 10)
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let store = IngestStack.store(pool)
        let body = try fixture.example("invoice-created.json")
        let outcomes = try await withThrowingTaskGroup(of: IntakeOutcome.self) { group in
            for _ in 0..<20 { group.addTask { try await store.process([IntakeItem.amqp(body)])[0].outcome } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == .applied }.count == 1)
        #expect(outcomes.filter { $0 == .duplicate(original: "accepted") }.count == 19)
        #expect(try await fixture.count("inbound_events", pool) == 1)
        #expect(try await fixture.count("invoices", pool) == 1)
        #expect(try await fixture.count("outbox", pool, where: "message_type = 'sync_job'") == 1)
    }

    @Test func aReusedKeyWithOtherContentIsRejected() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let store = IngestStack.store(pool)
        let first = EventFactory.invoice(tenant: fixture.tenant, location: fixture.location, invoiceID: "i1", key: "k1")
        let other = EventFactory.invoice(
            tenant: fixture.tenant, location: fixture.location, invoiceID: "i1", key: "k1", amount: "120.00")
        let results = try await process(store, first, other)
        #expect(results[0].outcome == .applied)
        guard case .rejected(let failures) = results[1].outcome else { Issue.record("not rejected"); return }
        #expect(failures.map(\.code) == [.idempotencyKeyReused])
        #expect(failures[0].path == "idempotency_key")
        let rejection = try await pool.query(
            "SELECT reason_code, reason, failures FROM ingest_rejections WHERE tenant_id = \(fixture.tenant)")
        #expect(try rejection.map { try $0.decode(String.self, "reason_code") } == ["idempotency.key_reused"])
        #expect(try await fixture.count("outbox", pool, where: "routing_key = 'ingest.event.rejected'") == 1)
        // The stored invoice is the first one.
        #expect(try await IngestStack.count(pool, "SELECT (total * 100)::bigint AS n FROM invoices WHERE tenant_id = \(fixture.tenant)") == 10_000)
    }

    @Test func aLowerVersionNeverOverwritesAHigherOne() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let store = IngestStack.store(pool)
        let v2 = EventFactory.invoice(
            tenant: fixture.tenant, location: fixture.location, invoiceID: "i1", version: 2, amount: "200.00",
            type: "invoice.updated")
        let v1 = EventFactory.invoice(tenant: fixture.tenant, location: fixture.location, invoiceID: "i1", version: 1)
        let results = try await process(store, v2, v1)
        #expect(results[0].outcome == .applied)  // update before create: created with the latest state
        #expect(results[1].outcome == .stale)
        let row = try await pool.query(
            "SELECT invoice_version, total::text AS total FROM invoices WHERE tenant_id = \(fixture.tenant)")
        #expect(try row[0].decode(Int64.self, "invoice_version") == 2)
        #expect(try row[0].decode(String.self, "total") == "200.00")
        #expect(try await fixture.count("inbound_events", pool, where: "outcome = 'stale' AND outcome_reason = 'invoice.stale_version'") == 1)
        #expect(try await fixture.count("invoice_lines", pool) == 1)
        // The stale event is audited as skipped and makes no job.
        #expect(try await fixture.count("outbox", pool, where: "message_type = 'sync_job'") == 1)
        #expect(try await fixture.count("outbox", pool, where: "body->>'outcome' = 'skipped' AND body->>'reason' = 'invoice.stale_version'") == 1)
        // An equal version with other content is stale too.
        let otherV2 = EventFactory.invoice(
            tenant: fixture.tenant, location: fixture.location, invoiceID: "i1", version: 2, key: "other-key",
            amount: "999.00", type: "invoice.updated")
        #expect(try await process(store, otherV2)[0].outcome == .stale)
    }

    @Test func aPaymentRecordedInTheAccountingSystemSurvivesALaterShopSnapshot() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let store = IngestStack.store(pool)
        let v1 = EventFactory.invoice(tenant: fixture.tenant, location: fixture.location, invoiceID: "i1")
        #expect(try await process(store, v1)[0].outcome == .applied)
        // Two-way sync recorded a payment made in the ERP (as ChangeApplier does).
        try await pool.execute(
            """
            WITH pay AS (
                INSERT INTO payments (invoice_key, tenant_id, payment_id, amount, currency, method, payment_date, status,
                                      recorded_from, invoice_version)
                SELECT invoice_key, tenant_id, 'erp-p1', 40.00, currency, 'card', '2025-03-15', 'applied', 'erp_pull', 1
                FROM invoices WHERE tenant_id = \(fixture.tenant) AND invoice_id = 'i1'
            )
            UPDATE invoices SET amount_paid = 40.00, balance_due = total - 40.00, status = 'partially_paid'
            WHERE tenant_id = \(fixture.tenant) AND invoice_id = 'i1'
            """)
        // The shop then sends a snapshot that does not list that payment: the ERP wins for payments received.
        let v2 = EventFactory.invoice(
            tenant: fixture.tenant, location: fixture.location, invoiceID: "i1", version: 2, type: "invoice.updated")
        #expect(try await process(store, v2)[0].outcome == .applied)
        let payment = try await pool.query(
            "SELECT status FROM payments WHERE tenant_id = \(fixture.tenant) AND payment_id = 'erp-p1'")
        #expect(try payment.first?.decode(String.self, "status") == "applied")
        let invoice = try await pool.query(
            """
            SELECT amount_paid::text AS paid, balance_due::text AS due, status, invoice_version FROM invoices
            WHERE tenant_id = \(fixture.tenant) AND invoice_id = 'i1'
            """)
        #expect(try invoice[0].decode(String.self, "paid") == "40.00")
        #expect(try invoice[0].decode(String.self, "due") == "60.00")
        #expect(try invoice[0].decode(String.self, "status") == "partially_paid")
        #expect(try invoice[0].decode(Int64.self, "invoice_version") == 2)
    }

    @Test func aPaymentBeforeItsInvoiceIsParkedThenApplied() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let store = IngestStack.store(pool)
        let payment = EventFactory.payment(
            tenant: fixture.tenant, location: fixture.location, invoiceID: "i1", version: 2, paymentID: "p1",
            amount: "40.00")
        #expect(try await process(store, payment)[0].outcome == .parked)
        #expect(try await fixture.count("parked_events", pool, where: "resolved_at IS NULL") == 1)
        #expect(try await fixture.count("payments", pool) == 0)

        let invoice = EventFactory.invoice(tenant: fixture.tenant, location: fixture.location, invoiceID: "i1")
        let results = try await process(store, invoice)
        #expect(results[0].outcome == .applied)
        let row = try await pool.query(
            """
            SELECT invoice_version, status, amount_paid::text AS paid, balance_due::text AS balance
            FROM invoices WHERE tenant_id = \(fixture.tenant)
            """)
        #expect(try row[0].decode(Int64.self, "invoice_version") == 2)
        #expect(try row[0].decode(String.self, "status") == "partially_paid")
        #expect(try row[0].decode(String.self, "paid") == "40.00")
        #expect(try row[0].decode(String.self, "balance") == "60.00")
        #expect(try await fixture.count("payments", pool, where: "payment_id = 'p1' AND status = 'applied'") == 1)
        #expect(try await fixture.count("parked_events", pool, where: "resolution = 'applied'") == 1)
        #expect(try await fixture.count("inbound_events", pool, where: "outcome = 'applied'") == 2)
        #expect(try await fixture.count("outbox", pool, where: "body->>'kind' = 'push_payment' AND body->>'payment_id' = 'p1'") == 1)
    }

    @Test func aParkedEventOlderThanTheArrivingSnapshotIsStale() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let store = IngestStack.store(pool)
        let payment = EventFactory.payment(
            tenant: fixture.tenant, location: fixture.location, invoiceID: "i1", version: 2, paymentID: "p1",
            amount: "40.00")
        #expect(try await process(store, payment)[0].outcome == .parked)
        // The snapshot (version 3) already lists the payment.
        let invoice = EventFactory.invoice(
            tenant: fixture.tenant, location: fixture.location, invoiceID: "i1", version: 3,
            type: "invoice.updated", paid: "40.00")
        #expect(try await process(store, invoice)[0].outcome == .applied)
        #expect(try await fixture.count("parked_events", pool, where: "resolution = 'stale'") == 1)
        #expect(try await IngestStack.count(pool, "SELECT (amount_paid * 100)::bigint AS n FROM invoices WHERE tenant_id = \(fixture.tenant)") == 4_000)
    }

    @Test func paymentsFollowTheBalanceAndTheirOwnVersions() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool, erps: [("xero", true, false)])
        let store = IngestStack.store(pool)
        let invoice = EventFactory.invoice(tenant: fixture.tenant, location: fixture.location, invoiceID: "i1")
        let results = try await process(
            store, invoice,
            EventFactory.payment(tenant: fixture.tenant, location: fixture.location, invoiceID: "i1", version: 2,
                                 paymentID: "p1", amount: "60.00"),
            EventFactory.payment(tenant: fixture.tenant, location: fixture.location, invoiceID: "i1", version: 3,
                                 paymentID: "p2", amount: "50.00"),
            EventFactory.payment(tenant: fixture.tenant, location: fixture.location, invoiceID: "i1", version: 4,
                                 paymentID: "p3", amount: "40.00", currency: "EUR"),
            EventFactory.payment(tenant: fixture.tenant, location: fixture.location, invoiceID: "i1", version: 5,
                                 paymentID: "p4", amount: "40.00"))
        #expect(results[0].outcome == .applied)
        #expect(results[1].outcome == .applied)
        #expect(results[2].outcome.reasonCode == .paymentExceedsBalance)
        #expect(results[3].outcome.reasonCode == .invoiceCurrencyMismatch)
        #expect(results[4].outcome == .applied)
        let row = try await pool.query(
            "SELECT status, amount_paid::text AS paid, balance_due::text AS balance, invoice_version FROM invoices WHERE tenant_id = \(fixture.tenant)")
        #expect(try row[0].decode(String.self, "status") == "paid")
        #expect(try row[0].decode(String.self, "paid") == "100.00")
        #expect(try row[0].decode(String.self, "balance") == "0.00")
        #expect(try row[0].decode(Int64.self, "invoice_version") == 5)
        // The connection does not push payments: no payment jobs.
        #expect(try await fixture.count("outbox", pool, where: "body->>'kind' = 'push_payment'") == 0)
        // A rejected event does not keep its key: fixed, it can be sent again with the same key.
        #expect(try await fixture.count("inbound_events", pool) == 3)
    }

    @Test func voidingFollowsTheDocumentedRule() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let store = IngestStack.store(pool)
        let paidInvoice = EventFactory.invoice(
            tenant: fixture.tenant, location: fixture.location, invoiceID: "paid", paid: "100.00")
        let openInvoice = EventFactory.invoice(tenant: fixture.tenant, location: fixture.location, invoiceID: "open")
        let results = try await process(
            store, paidInvoice, openInvoice,
            EventFactory.void(tenant: fixture.tenant, location: fixture.location, invoiceID: "paid", version: 2),
            EventFactory.void(tenant: fixture.tenant, location: fixture.location, invoiceID: "open", version: 2),
            EventFactory.invoice(tenant: fixture.tenant, location: fixture.location, invoiceID: "open", version: 3,
                                 type: "invoice.updated"),
            EventFactory.payment(tenant: fixture.tenant, location: fixture.location, invoiceID: "open", version: 4,
                                 paymentID: "late", amount: "10.00"))
        #expect(results[2].outcome.reasonCode == .invoiceVoidHasPayments)
        #expect(results[3].outcome == .applied)
        #expect(results[4].outcome.reasonCode == .invoiceAlreadyVoided)
        #expect(results[5].outcome.reasonCode == .invoiceAlreadyVoided)
        let statuses = try await pool.query(
            "SELECT invoice_id, status, void_reason FROM invoices WHERE tenant_id = \(fixture.tenant) ORDER BY invoice_id")
        #expect(try statuses.map { try $0.decode(String.self, "status") } == ["voided", "paid"])
        #expect(try await fixture.count("outbox", pool, where: "body->>'kind' = 'void_invoice'") == 1)
        // A void for an invoice not received yet waits like a payment.
        #expect(try await process(
            store, EventFactory.void(tenant: fixture.tenant, location: fixture.location, invoiceID: "later", version: 2)
        )[0].outcome == .parked)
    }

    @Test func unknownTenantsAndLocationsAreRejected() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let store = IngestStack.store(pool)
        let results = try await process(
            store,
            EventFactory.invoice(tenant: fixture.tenant, location: "nowhere", invoiceID: "i1"),
            EventFactory.invoice(tenant: IngestStack.unique("ghost"), location: "loc-01", invoiceID: "i1"))
        #expect(results[0].outcome.reasonCode == .locationUnknown)
        #expect(results[1].outcome.reasonCode == .tenantUnknown)
        #expect(try await fixture.count("inbound_events", pool) == 0)
        #expect(try await fixture.count("ingest_rejections", pool, where: "reason_code = 'location.unknown'") == 1)
        // The unknown tenant's rejection is stored, but no audit event (the audit trail is per known tenant).
        #expect(try await IngestStack.count(
            pool, "SELECT count(*) AS n FROM ingest_rejections WHERE reason_code = 'tenant.unknown' AND event_id = 'e-i1-1-invoice.created' AND tenant_id LIKE 'ghost-%' AND rejected_at > now() - interval '1 minute'") >= 1)
    }

    @Test func validationFailuresAreRecordedOnceWithEveryFailure() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let store = IngestStack.store(pool)
        let body = try fixture.example("invalid-several-problems.json")
        let item = IntakeItem.amqp(body, messageID: "m-\(fixture.tenant)")
        let first = try await store.process([item])
        guard case .rejected(let failures) = first[0].outcome else { Issue.record("not rejected"); return }
        #expect(failures.count >= 3)
        // The same delivery again (a redelivery): no second row, no second audit event.
        _ = try await store.process([item])
        let rows = try await pool.query(
            """
            SELECT reason_code, jsonb_array_length(failures) AS n, event_id, body_bytes, body IS NOT NULL AS kept
            FROM ingest_rejections WHERE tenant_id = \(fixture.tenant)
            """)
        #expect(rows.count == 1)
        #expect(try rows[0].decode(Int.self, "n") == failures.count)
        #expect(try rows[0].decode(Int.self, "body_bytes") == body.count)
        #expect(try rows[0].decode(Bool.self, "kept"))
        #expect(try await fixture.count("outbox", pool, where: "routing_key = 'ingest.event.rejected'") == 1)
        // A body that is not JSON at all is recorded without a tenant.
        let garbage = IntakeItem.amqp(Array("not json \(UUID())".utf8))
        let result = try await store.process([garbage])
        #expect(result[0].outcome.reasonCode == .invalidJSON)
    }

    @Test func aSnapshotReplacesLinesAndPayments() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let store = IngestStack.store(pool)
        _ = try await process(
            store,
            try fixture.example("invoice-created.json"), try fixture.example("invoice-updated.json"),
            try fixture.example("payment-received-partial.json"))
        #expect(try await fixture.count("invoice_lines", pool) == 10)
        #expect(try await fixture.count("invoice_lines", pool, where: "invoice_version = 1") == 0)
        let paid = try await pool.query(
            "SELECT amount_paid::text AS paid, invoice_version, status FROM invoices WHERE tenant_id = \(fixture.tenant)")
        #expect(try paid[0].decode(String.self, "paid") == "700.00")
        #expect(try paid[0].decode(Int64.self, "invoice_version") == 3)
        // A later snapshot without a payment marks it removed.
        let v4 = try fixture.example("invoice-updated.json")
        var text = String(decoding: v4, as: UTF8.self)
        text = text.replacingOccurrences(of: "\"invoice_version\": 2", with: "\"invoice_version\": 4")
        text = Examples.replacing(text, key: "idempotency_key", with: "v4")
        _ = try await process(store, Array(text.utf8))
        #expect(try await fixture.count("payments", pool, where: "status = 'removed' AND payment_id = 'pay_7802'") == 1)
    }
}
