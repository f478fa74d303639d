import AuditTrail
import Domain
import Foundation
import Postgres

/// A realistic run for one tenant: ingest receives four invoices (one rejected), a scheduled Xero
/// session pushes customers, invoices and a payment with one failure and one skip, a real-time push
/// follows, and some events are delivered twice.
struct SyncRunFixture {
    let tenant: String
    let session = UUID()
    let job = "job-\(UUID().uuidString.prefix(8))"
    /// A whole hour in the past, so that the real-time window has ended.
    static let base = Date(timeIntervalSince1970: 1_760_000_400)  // 2025-10-09 09:00:00 UTC
    private(set) var events: [AuditEvent] = []
    /// Events sent a second time (same audit ids).
    private(set) var duplicates: [AuditEvent] = []
    var scenario: AuditScenario

    init(tenant: String) {
        self.tenant = tenant
        var scenario = AuditScenario(tenant: tenant)
        scenario.clock = Self.base
        var events: [AuditEvent] = []
        events.append(scenario.received("1001", total: "100.00"))
        events.append(scenario.received("1002", total: "250.00", customer: "Bob's Garage"))
        events.append(scenario.received("1003", total: "75.50"))
        events.append(scenario.rejected("1004", reason: .totalMismatch, message: "total 12.00 is not subtotal 10.00 + tax 1.00"))
        events.append(scenario.opened(session, trigger: "interval", job: job))
        events.append(scenario.synced(session, .customer, "Customer Created", .succeeded, number: "C-1", erpID: "XC-1", job: job))
        events.append(scenario.synced(
            session, .customer, "Customer Skipped", .skipped, number: "C-2", customer: "Inactive Ltd",
            reason: ReasonCode("customer.inactive"), message: "Only active customers are synced", job: job))
        events.append(scenario.synced(session, .invoice, "Invoice Created", .succeeded, number: "1001", erpID: "X-1001", job: job))
        events.append(scenario.synced(
            session, .invoice, "Invoice Failed", .failed, number: "1002", customer: "Bob's Garage",
            reason: ReasonCode("erp.rejected_data"), message: "Account code '400' has been archived", job: job,
            attempt: 3))
        events.append(scenario.synced(
            session, .invoice, "Invoice Updated", .succeeded, number: "1003", erpID: "X-1003", job: job,
            details: ["total": "75.50"]))
        events.append(scenario.synced(session, .payment, "Payment Applied", .succeeded, number: "1001", erpID: "XP-1", job: job))
        events.append(scenario.closed(session, job: job, details: ["invoices_created": "1", "invoices_failed": "1"]))
        // A real-time push an hour window later, without a session.
        _ = scenario.tick(600)
        events.append(scenario.synced(nil, .invoice, "Invoice Updated", .succeeded, number: "1001", erpID: "X-1001", job: "job-rt"))
        self.scenario = scenario
        self.events = events
        self.duplicates = [events[0], events[7], events[8], events[12]]
    }

    /// Every event once, then the duplicates.
    var deliveries: [AuditEvent] { events + duplicates }

    /// Inserts the tenant, its location, an active Xero connection and invoices 1001–1003 and 1005
    /// (never pushed) into 0002's tables, as the owner.
    func seedCanonicalStore(_ pool: PostgresPool) async throws {
        let location = scenario.location.rawValue
        let changed = Self.base.addingTimeInterval(-3600)
        try await pool.execute("INSERT INTO tenants (tenant_id, display_name) VALUES (\(tenant), \(tenant))")
        try await pool.execute(
            "INSERT INTO locations (tenant_id, location_id, display_name) VALUES (\(tenant), \(location), 'Downtown')")
        try await pool.execute(
            """
            INSERT INTO erp_connections (connection_id, tenant_id, location_id, erp)
            VALUES (\(scenario.connection), \(tenant), \(location), 'xero')
            """)
        for (number, total) in [("1001", "100.00"), ("1002", "250.00"), ("1003", "75.50"), ("1005", "20.00")] {
            try await pool.execute(
                """
                INSERT INTO invoices (tenant_id, location_id, source_system, invoice_id, invoice_number, status,
                    issue_date, currency, customer_id, customer_name, subtotal, tax_total, total, amount_paid,
                    balance_due, invoice_version, last_occurred_at, last_event_id, updated_at)
                VALUES (\(tenant), \(location), 'shopware', \("inv-" + number), \(number), 'open', '2025-10-09', 'USD',
                    'c1', 'Ada Motors', \(Decimal(string: total)!), 0, \(Decimal(string: total)!), 0,
                    \(Decimal(string: total)!), 1, \(changed), \("evt-" + number), \(changed))
                """)
        }
    }
}
