import Connectors
import Crypto
import Domain
import Foundation
import Logging
import Postgres

/// A pull run being worked on (a row of `erp_pull_runs`).
struct PullRun: Sendable {
    var kind: String
    var number: Int64
    var since: Date
    var cursor: ChangeCursor?
    var entities: [ERPEntity]
    /// The reference data read after the entities (items, tax rates).
    var referenceData: [ERPReferenceKind] = []
    var sessionID: UUID
    var ownSession: Bool
    var failures: Int
    var counts: [String: Int]
}

/// Applies one page of ERP changes to the canonical store inside the caller's transaction (the one that also
/// advances the run's cursor). The rules (docs/two-way-sync.md):
///
/// - every object read is kept in `erp_records` with the shop record it matched — by link (`erp_links`), else by
///   our reference in the ERP object (it is then linked) — or none (an **ERP-only** record);
/// - **customers**: inactive ones are skipped when the connection imports active customers only; a linked
///   customer edited in the ERP is merged by its link (the link's name and version follow the ERP, the shop's
///   customer stays the shop's);
/// - **invoices**: a void or deletion in the ERP (QuickBooks deletions arrive from Change Data Capture with status
///   `Deleted`) is recorded and the invoice's sync state gets a tombstone
///   (`synced_version` = max), so no later push revives it; an initial sync brings open and paid invoices only;
/// - **payments** recorded in the ERP against one linked invoice become canonical payments (`recorded_from =
///   'erp_pull'`) and the invoice's paid amount, balance and status (paid / partially paid) follow;
/// - **items and tax rates** (reference data, when the connection's `pull_items` / `pull_tax_rates` are on) are
///   kept in `erp_records` (object kinds `item`, `tax_rate`: code in `number`, name, unit price or rate in
///   `amount`) with no shop record; new or changed ones log `Item Imported` / `Tax Rate Imported`;
/// - **conflicts** (the ERP changed an invoice whose newer shop version is not pushed yet): the shop wins — the
///   ERP's version is recorded, the shop's is pushed — and the conflict is logged (`pull.conflict_shop_wins`).
///
/// Only new or changed objects write sync-log events; an object read again unchanged (overlapping windows) is
/// counted as `unchanged`.
struct ChangeApplier: Sendable {
    let erp: ERP
    let source: String
    let auditExchange: String

    /// The sync-state tombstone: no canonical version is ever at or above it.
    static let tombstoneVersion = Int64.max

    var erpName: String { erp == .quickbooksOnline ? "QuickBooks" : erp.displayName }

    private struct Link {
        var ourID: String
        var version: String?
    }

    private struct Previous {
        var version: String?
        var voided: Bool
        var ourID: String?
    }

    private struct CanonicalInvoice {
        var key: Int64
        var id: String
        var number: String
        var customerName: String
        var total: Decimal
        var currency: String
        var version: Int64
        var status: String
    }

    private struct RecordRow {
        var kind: String
        var erpID: String
        var version: String?
        var number: String?
        var name: String?
        var status: String?
        var active: Bool?
        var customerID: String?
        var total: Decimal?
        var tax: Decimal?
        var balance: Decimal?
        var amount: Decimal?
        var invoiceIDs: [String]?
        var ourID: String?
        var method: String?
        var voided: Bool
        var lastUpdated: String?
    }

    private struct NewPayment {
        var invoiceKey: Int64
        var paymentID: String
        var amount: Decimal
        var currency: String
        var erpID: String
        var invoiceVersion: Int64
        var event: AuditEvent
    }

    /// Applies `changes`; returns the counts by `<object>.<result>`.
    func apply(
        _ changes: [ERPChange], run: PullRun, job: SyncJob, preferences: PullPreferences,
        connection: PostgresConnection, logger: Logger
    ) async throws -> [String: Int] {
        guard !changes.isEmpty else { return [:] }
        var customers: [String: ERPCustomerRecord] = [:]
        var invoices: [String: ERPInvoiceRecord] = [:]
        var payments: [String: ERPPaymentRecord] = [:]
        var references: [String: ERPReferenceRecord] = [:]  // "<kind>|<erp id>"
        var order: [(String, String)] = []
        for change in changes {
            switch change {
            case .customer(let record):
                if customers.updateValue(record, forKey: record.erpID) == nil { order.append(("customer", record.erpID)) }
            case .invoice(let record):
                if invoices.updateValue(record, forKey: record.erpID) == nil { order.append(("invoice", record.erpID)) }
            case .payment(let record):
                if payments.updateValue(record, forKey: record.erpID) == nil { order.append(("payment", record.erpID)) }
            case .reference(let record):
                if references.updateValue(record, forKey: "\(record.kind.rawValue)|\(record.erpID)") == nil {
                    order.append((record.kind.rawValue, record.erpID))
                }
            }
        }
        let tenant = job.tenantID.rawValue
        let location = preferences.locationID.rawValue

        // Links of everything on the page, and of the invoices the payments apply to.
        var linkKinds: [String] = []
        var linkIDs: [String] = []
        for id in customers.keys { linkKinds.append("customer"); linkIDs.append(id) }
        for id in invoices.keys { linkKinds.append("invoice"); linkIDs.append(id) }
        for (id, payment) in payments {
            linkKinds.append("payment"); linkIDs.append(id)
            for invoice in payment.invoiceIDs { linkKinds.append("invoice"); linkIDs.append(invoice) }
        }
        var links: [String: Link] = [:]  // "<kind>|<erp id>"
        for row in try await connection.query(
            """
            SELECT l.object_kind, l.erp_id, l.our_id, l.erp_version
            FROM erp_links l JOIN unnest(\(linkKinds)::text[], \(linkIDs)::text[]) AS x(kind, erp_id)
              ON l.object_kind = x.kind AND l.erp_id = x.erp_id
            WHERE l.tenant_id = \(tenant) AND l.connection_id = \(job.connectionID)
            """, logger: logger)
        {
            links["\(try row.decode(String.self, "object_kind"))|\(try row.decode(String.self, "erp_id"))"] = Link(
                ourID: try row.decode(String.self, "our_id"), version: try row.decode(String?.self, "erp_version"))
        }
        var previous: [String: Previous] = [:]
        let recordKinds = order.map(\.0)
        let recordIDs = order.map(\.1)
        for row in try await connection.query(
            """
            SELECT r.object_kind, r.erp_id, r.erp_version, r.voided_in_erp_at IS NOT NULL AS voided, r.our_id
            FROM erp_records r JOIN unnest(\(recordKinds)::text[], \(recordIDs)::text[]) AS x(kind, erp_id)
              ON r.object_kind = x.kind AND r.erp_id = x.erp_id
            WHERE r.tenant_id = \(tenant) AND r.connection_id = \(job.connectionID)
            """, logger: logger)
        {
            previous["\(try row.decode(String.self, "object_kind"))|\(try row.decode(String.self, "erp_id"))"] = Previous(
                version: try row.decode(String?.self, "erp_version"), voided: try row.decode(Bool.self, "voided"),
                ourID: try row.decode(String?.self, "our_id"))
        }
        // Our references written into ERP objects (customers; invoices where the ERP keeps the marker).
        let customerRefs = customers.values.compactMap { links["customer|\($0.erpID)"] == nil ? $0.ourReference : nil }
        var knownCustomers: Set<String> = []
        if !customerRefs.isEmpty {
            for row in try await connection.query(
                """
                SELECT customer_id FROM customers
                WHERE tenant_id = \(tenant) AND location_id = \(location) AND customer_id = ANY(\(customerRefs))
                """, logger: logger)
            {
                knownCustomers.insert(try row.decode(String.self, "customer_id"))
            }
        }
        var invoiceOurIDs = Set(invoices.values.compactMap { $0.ourReference })
        for (key, link) in links where key.hasPrefix("invoice|") { invoiceOurIDs.insert(link.ourID) }
        var canonical: [String: CanonicalInvoice] = [:]
        if !invoiceOurIDs.isEmpty {
            for row in try await connection.query(
                """
                SELECT invoice_key, invoice_id, invoice_number, customer_name, total::text AS total, currency,
                       invoice_version, status
                FROM invoices
                WHERE tenant_id = \(tenant) AND location_id = \(location) AND invoice_id = ANY(\(Array(invoiceOurIDs)))
                """, logger: logger)
            {
                let id = try row.decode(String.self, "invoice_id")
                canonical[id] = CanonicalInvoice(
                    key: try row.decode(Int64.self, "invoice_key"), id: id,
                    number: try row.decode(String.self, "invoice_number"),
                    customerName: try row.decode(String.self, "customer_name"),
                    total: Decimal(string: try row.decode(String.self, "total")) ?? 0,
                    currency: try row.decode(String.self, "currency"),
                    version: try row.decode(Int64.self, "invoice_version"), status: try row.decode(String.self, "status"))
            }
        }
        // Unpushed shop changes of linked invoices (for the conflict rule).
        var unpushed: Set<String> = []
        let linkedInvoiceIDs = invoices.keys.compactMap { links["invoice|\($0)"]?.ourID }
        if !linkedInvoiceIDs.isEmpty {
            for row in try await connection.query(
                """
                SELECT document_id FROM sync_documents
                WHERE tenant_id = \(tenant) AND connection_id = \(job.connectionID) AND document_kind = 'invoice'
                  AND document_id = ANY(\(linkedInvoiceIDs))
                  AND (synced_version IS NULL OR target_version > synced_version)
                """, logger: logger)
            {
                unpushed.insert(try row.decode(String.self, "document_id"))
            }
        }

        var rows: [RecordRow] = []
        var newLinks: [(kind: String, ourID: String, erpID: String, version: String?, number: String?, name: String?)] = []
        var customerMerges: [(erpID: String, version: String?, name: String)] = []
        var tombstones: [String] = []
        var newPayments: [NewPayment] = []
        var events: [AuditEvent] = []
        var counts: [String: Int] = [:]

        func event(
            _ type: AuditEvent.ObjectType, ourID: String?, number: String?, customerName: String? = nil,
            erpID: String, version: String?, action: String, outcome: AuditEvent.Outcome, reason: String? = nil,
            message: String? = nil, details: [String: String] = [:]
        ) -> AuditEvent {
            var details = details
            details["run"] = run.kind
            return AuditEvent(
                auditID: Self.deterministicID(
                    "\(job.connectionID.uuidString)|\(type.rawValue)|\(erpID)|\(version ?? "")|\(action)|\(run.number)"),
                kind: .recordSynced, occurredAt: Date(), tenantID: job.tenantID, locationID: job.locationID,
                source: source, erp: erp, connectionID: job.connectionID, sessionID: run.sessionID,
                record: AuditEvent.Record(
                    objectType: type, shopID: ourID, number: number, customerName: customerName, erpID: erpID),
                action: action, outcome: outcome, reason: reason.map { ReasonCode($0) }, message: message,
                jobID: job.jobID, details: details)
        }

        for (kind, erpID) in order {
            let prior = previous["\(kind)|\(erpID)"]
            switch kind {
            case "customer":
                guard let record = customers[erpID] else { continue }
                let changed = prior == nil || prior?.version != record.version
                if preferences.customersActiveOnly && record.active == false {
                    counts["customer.skipped", default: 0] += 1
                    if changed {
                        events.append(
                            event(
                                .customer, ourID: links["customer|\(erpID)"]?.ourID, number: nil,
                                customerName: record.displayName, erpID: erpID, version: record.version,
                                action: "Customer Skipped", outcome: .skipped, reason: "pull.customer_inactive",
                                message: "Customer Skipped: inactive"))
                    }
                    continue
                }
                var ourID = links["customer|\(erpID)"]?.ourID
                var method: String? = ourID == nil ? nil : "link"
                var action = "Customer Imported"
                if let linked = ourID {
                    action = "Customer Updated"
                    if changed { customerMerges.append((erpID, record.version, record.displayName)) }
                    _ = linked
                } else if let reference = record.ourReference, knownCustomers.contains(reference) {
                    ourID = reference
                    method = "reference"
                    action = "Customer Linked"
                    newLinks.append(("customer", reference, erpID, record.version, nil, record.displayName))
                }
                rows.append(
                    RecordRow(
                        kind: "customer", erpID: erpID, version: record.version, name: record.displayName,
                        active: record.active, ourID: ourID, method: method, voided: false,
                        lastUpdated: record.lastUpdated))
                if changed {
                    counts[ourID == nil ? "customer.imported" : "customer.updated", default: 0] += 1
                    events.append(
                        event(
                            .customer, ourID: ourID, number: nil, customerName: record.displayName, erpID: erpID,
                            version: record.version, action: action, outcome: .succeeded,
                            details: ourID == nil ? ["erp_only": "true"] : [:]))
                } else {
                    counts["customer.unchanged", default: 0] += 1
                }
            case "invoice":
                guard let record = invoices[erpID] else { continue }
                var ourID = links["invoice|\(erpID)"]?.ourID
                var method: String? = ourID == nil ? nil : "link"
                if ourID == nil, let reference = record.ourReference, canonical[reference] != nil {
                    ourID = reference
                    method = "reference"
                    newLinks.append(("invoice", reference, erpID, record.version, record.number, nil))
                }
                let shop = ourID.flatMap { canonical[$0] }
                let statusText = record.status?.lowercased() ?? ""
                var voided = statusText == "voided" || statusText == "deleted" || statusText == "void"
                // QuickBooks zeroes a voided invoice's amounts and its query answers carry no status: a zeroed
                // invoice whose shop total is not zero was voided there; an unknown zeroed one is neither open nor
                // paid (the initial sync skips it).
                var zeroed = false
                if erp == .quickbooksOnline, let totals = record.totals, totals.total.value == 0,
                    totals.balance?.value ?? 0 == 0
                {
                    zeroed = true
                    if let shop, shop.total != 0 { voided = true }
                }
                let changed = prior == nil || prior?.version != record.version || (voided && prior?.voided != true)
                if run.kind == "initial" && ourID == nil
                    && (voided || zeroed || statusText == "draft")
                {
                    counts["invoice.skipped", default: 0] += 1
                    if changed {
                        events.append(
                            event(
                                .invoice, ourID: nil, number: record.number, erpID: erpID, version: record.version,
                                action: "Invoice Skipped", outcome: .skipped, reason: "pull.invoice_not_open_or_paid",
                                message: "Invoice Skipped: \(statusText.isEmpty ? "voided" : statusText)"))
                    }
                    continue
                }
                rows.append(
                    RecordRow(
                        kind: "invoice", erpID: erpID, version: record.version, number: record.number,
                        status: record.status, customerID: record.customerID, total: record.totals?.total.value,
                        tax: record.totals?.taxTotal?.value, balance: record.totals?.balance?.value, ourID: ourID,
                        method: method, voided: voided, lastUpdated: record.lastUpdated))
                guard changed else {
                    counts["invoice.unchanged", default: 0] += 1
                    continue
                }
                if voided, let ourID {
                    tombstones.append(ourID)
                    counts["invoice.voided", default: 0] += 1
                    events.append(
                        event(
                            .invoice, ourID: ourID, number: shop?.number ?? record.number,
                            customerName: shop?.customerName, erpID: erpID, version: record.version,
                            action: "Invoice Voided in \(erpName)", outcome: .succeeded, reason: "pull.voided_in_erp",
                            message: "Voided or deleted in \(erpName); Ledgerline will not push it again.",
                            details: ["operation": "updated", "erp_status": record.status ?? "voided"]))
                } else if let ourID, method == "link", prior != nil || links["invoice|\(erpID)"]?.version != record.version {
                    if unpushed.contains(ourID) {
                        counts["invoice.conflict", default: 0] += 1
                        events.append(
                            event(
                                .invoice, ourID: ourID, number: shop?.number ?? record.number,
                                customerName: shop?.customerName, erpID: erpID, version: record.version,
                                action: "Invoice Conflict", outcome: .skipped, reason: "pull.conflict_shop_wins",
                                message: "Changed in \(erpName) and in the shop; the shop's version is kept and pushed."))
                    } else {
                        counts["invoice.updated", default: 0] += 1
                        events.append(
                            event(
                                .invoice, ourID: ourID, number: shop?.number ?? record.number,
                                customerName: shop?.customerName, erpID: erpID, version: record.version,
                                action: "Invoice Updated in \(erpName)", outcome: .succeeded,
                                details: ["operation": "updated", "erp_total": record.totals?.total.description ?? "",
                                          "erp_balance": record.totals?.balance?.description ?? ""]))
                    }
                } else if let ourID, method == "reference" {
                    counts["invoice.linked", default: 0] += 1
                    events.append(
                        event(
                            .invoice, ourID: ourID, number: shop?.number ?? record.number, erpID: erpID,
                            version: record.version, action: "Invoice Linked", outcome: .succeeded,
                            details: ["operation": "updated"]))
                } else if ourID == nil {
                    counts["invoice.imported", default: 0] += 1
                    events.append(
                        event(
                            .invoice, ourID: nil, number: record.number, erpID: erpID, version: record.version,
                            action: voided ? "Invoice Voided in \(erpName)" : "Invoice Imported", outcome: .succeeded,
                            details: ["erp_only": "true", "erp_total": record.totals?.total.description ?? "",
                                      "erp_balance": record.totals?.balance?.description ?? ""]))
                } else {
                    counts["invoice.unchanged", default: 0] += 1
                }
            case ERPReferenceKind.item.rawValue, ERPReferenceKind.taxRate.rawValue:
                // ERP reference data: kept as the ERP's record, no canonical shop record to match.
                guard let record = references["\(kind)|\(erpID)"] else { continue }
                let changed = prior == nil || prior?.version != record.version
                rows.append(
                    RecordRow(
                        kind: kind, erpID: erpID, version: record.version, number: record.code, name: record.name,
                        status: record.status, active: record.active, amount: record.amount, voided: false,
                        lastUpdated: record.lastUpdated))
                let label = record.kind == .item ? "item" : "tax_rate"
                guard changed else {
                    counts["\(label).unchanged", default: 0] += 1
                    continue
                }
                counts["\(label).imported", default: 0] += 1
                var details = ["erp_only": "true"]
                if let amount = record.amount { details[record.kind == .item ? "unit_price" : "rate"] = "\(amount)" }
                if let active = record.active { details["active"] = active ? "true" : "false" }
                events.append(
                    event(
                        record.kind == .item ? .item : .taxRate, ourID: nil, number: record.code, erpID: erpID,
                        version: record.version, action: record.kind == .item ? "Item Imported" : "Tax Rate Imported",
                        outcome: .succeeded, details: details))
            default:
                guard let record = payments[erpID] else { continue }
                let changed = prior == nil || prior?.version != record.version
                let ours = links["payment|\(erpID)"]?.ourID ?? record.ourReference
                let invoiceLinks = record.invoiceIDs.compactMap { links["invoice|\($0)"]?.ourID }
                let target = invoiceLinks.count == 1 && record.invoiceIDs.count == 1 ? canonical[invoiceLinks[0]] : nil
                let ourID = ours ?? target.map { _ in "erp-\(erpID)" }
                rows.append(
                    RecordRow(
                        kind: "payment", erpID: erpID, version: record.version, amount: record.amount?.value,
                        invoiceIDs: record.invoiceIDs, ourID: ourID, method: ours != nil ? "link" : nil, voided: false,
                        lastUpdated: record.lastUpdated))
                guard changed else {
                    counts["payment.unchanged", default: 0] += 1
                    continue
                }
                if ours != nil {
                    counts["payment.ours", default: 0] += 1
                    continue  // pushed by Ledgerline: nothing to import, nothing to log again
                }
                if let target, let amount = record.amount?.value, amount > 0, target.status != "voided" {
                    newPayments.append(
                        NewPayment(
                            invoiceKey: target.key, paymentID: "erp-\(erpID)", amount: amount, currency: target.currency,
                            erpID: erpID, invoiceVersion: target.version,
                            event: event(
                                .payment, ourID: "erp-\(erpID)", number: target.number,
                                customerName: target.customerName, erpID: erpID, version: record.version,
                                action: "Payment Imported", outcome: .succeeded,
                                details: ["invoice_id": target.id, "amount": "\(amount)"])))
                } else if record.invoiceIDs.count > 1 && !invoiceLinks.isEmpty {
                    counts["payment.skipped", default: 0] += 1
                    events.append(
                        event(
                            .payment, ourID: nil, number: nil, erpID: erpID, version: record.version,
                            action: "Payment Skipped", outcome: .skipped, reason: "pull.payment_unmatched",
                            message: "The payment applies to \(record.invoiceIDs.count) invoices; kept as an ERP-only record."))
                } else {
                    counts["payment.imported", default: 0] += 1
                    events.append(
                        event(
                            .payment, ourID: nil, number: nil, erpID: erpID, version: record.version,
                            action: "Payment Imported", outcome: .succeeded,
                            details: ["erp_only": "true", "amount": record.amount?.description ?? ""]))
                }
            }
        }

        try await upsertRecords(rows, tenant: tenant, job: job, connection: connection, logger: logger)
        if !newLinks.isEmpty {
            try await connection.execute(
                """
                INSERT INTO erp_links (tenant_id, connection_id, object_kind, our_id, erp_id, erp_version, erp_number, erp_name)
                SELECT \(tenant), \(job.connectionID), k, o, e, nullif(v, ''), nullif(n, ''), nullif(m, '')
                FROM unnest(\(newLinks.map(\.kind))::text[], \(newLinks.map(\.ourID))::text[], \(newLinks.map(\.erpID))::text[],
                            \(newLinks.map { $0.version ?? "" })::text[], \(newLinks.map { $0.number ?? "" })::text[],
                            \(newLinks.map { $0.name ?? "" })::text[]) AS x(k, o, e, v, n, m)
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
        if !customerMerges.isEmpty {
            try await connection.execute(
                """
                UPDATE erp_links l SET erp_name = x.m, erp_version = nullif(x.v, ''), updated_at = now()
                FROM unnest(\(customerMerges.map(\.erpID))::text[], \(customerMerges.map { $0.version ?? "" })::text[],
                            \(customerMerges.map(\.name))::text[]) AS x(e, v, m)
                WHERE l.tenant_id = \(tenant) AND l.connection_id = \(job.connectionID) AND l.object_kind = 'customer'
                  AND l.erp_id = x.e
                """, logger: logger)
        }
        if !tombstones.isEmpty {
            try await connection.execute(
                """
                INSERT INTO sync_documents (tenant_id, connection_id, document_kind, document_id, state, target_version,
                                            synced_version, synced_at, reason)
                SELECT \(tenant), \(job.connectionID), 'invoice', d, 'synced', 1, \(Self.tombstoneVersion), now(),
                       'pull.voided_in_erp'
                FROM unnest(\(tombstones)::text[]) AS x(d)
                ON CONFLICT (tenant_id, connection_id, document_kind, document_id) DO UPDATE
                SET state = 'synced', synced_version = \(Self.tombstoneVersion), reason = 'pull.voided_in_erp',
                    not_before = NULL, lease_until = NULL, synced_at = now(), updated_at = now()
                """, logger: logger)
        }
        if !newPayments.isEmpty {
            let inserted = try await connection.query(
                """
                INSERT INTO payments (invoice_key, tenant_id, payment_id, amount, currency, method, payment_date, reference,
                                      status, recorded_from, invoice_version)
                SELECT k::bigint, \(tenant), p, a::numeric, c, 'erp', current_date, e, 'applied', 'erp_pull', v::bigint
                FROM unnest(\(newPayments.map { String($0.invoiceKey) })::text[], \(newPayments.map(\.paymentID))::text[],
                            \(newPayments.map { "\($0.amount)" })::text[], \(newPayments.map(\.currency))::text[],
                            \(newPayments.map(\.erpID))::text[], \(newPayments.map { String($0.invoiceVersion) })::text[])
                     AS x(k, p, a, c, e, v)
                ON CONFLICT (invoice_key, payment_id) DO NOTHING
                RETURNING payment_id, invoice_key
                """, logger: logger)
            let insertedIDs = Set(try inserted.map { try $0.decode(String.self, "payment_id") })
            let keys = Array(Set(try inserted.map { String(try $0.decode(Int64.self, "invoice_key")) }))
            var statuses: [Int64: (String, String)] = [:]
            if !keys.isEmpty {
                for row in try await connection.query(
                    """
                    UPDATE invoices i
                    SET amount_paid = p.paid, balance_due = greatest(i.total - p.paid, 0),
                        status = CASE WHEN p.paid >= i.total THEN 'paid' WHEN p.paid > 0 THEN 'partially_paid' ELSE i.status END,
                        updated_at = now()
                    FROM (SELECT invoice_key, sum(amount) AS paid FROM payments
                          WHERE invoice_key = ANY(\(keys)::bigint[]) AND status = 'applied' GROUP BY invoice_key) p
                    WHERE i.invoice_key = p.invoice_key AND i.status NOT IN ('voided', 'draft')
                    RETURNING i.invoice_key, i.status, i.balance_due::text AS balance
                    """, logger: logger)
                {
                    statuses[try row.decode(Int64.self, "invoice_key")] = (
                        try row.decode(String.self, "status"), try row.decode(String.self, "balance")
                    )
                }
            }
            for payment in newPayments where insertedIDs.contains(payment.paymentID) {
                var event = payment.event
                if let (status, balance) = statuses[payment.invoiceKey] {
                    event.details?["invoice_status"] = status
                    event.details?["balance_due"] = balance
                }
                events.append(event)
                counts["payment.imported", default: 0] += 1
            }
        }
        try await Self.insertAudit(events, exchange: auditExchange, connection: connection, logger: logger)
        return counts
    }

    private func upsertRecords(
        _ rows: [RecordRow], tenant: String, job: SyncJob, connection: PostgresConnection, logger: Logger
    ) async throws {
        guard !rows.isEmpty else { return }
        func text(_ values: [String?]) -> [String] { values.map { $0 ?? "\u{1}" } }
        func decimal(_ value: Decimal?) -> String? { value.map { "\($0)" } }
        let null = "\u{1}"
        try await connection.execute(
            """
            INSERT INTO erp_records AS r (tenant_id, connection_id, object_kind, erp_id, erp_version, number, display_name,
                                         erp_status, active, customer_erp_id, total, tax_total, balance, amount,
                                         invoice_erp_ids, our_id, match_method, voided_in_erp_at, erp_last_updated)
            SELECT \(tenant), \(job.connectionID), k, e, nullif(v, \(null)), nullif(n, \(null)), nullif(m, \(null)),
                   nullif(s, \(null)), nullif(a, \(null))::boolean, nullif(c, \(null)), nullif(t, \(null))::numeric,
                   nullif(x, \(null))::numeric, nullif(b, \(null))::numeric, nullif(p, \(null))::numeric,
                   CASE WHEN i = \(null) THEN NULL ELSE string_to_array(i, ',') END,
                   nullif(o, \(null)), nullif(h, \(null)), CASE WHEN d = 'true' THEN now() END, nullif(u, \(null))
            FROM unnest(\(rows.map(\.kind))::text[], \(rows.map(\.erpID))::text[], \(text(rows.map(\.version)))::text[],
                        \(text(rows.map(\.number)))::text[], \(text(rows.map(\.name)))::text[],
                        \(text(rows.map(\.status)))::text[], \(text(rows.map { $0.active.map { $0 ? "true" : "false" } }))::text[],
                        \(text(rows.map(\.customerID)))::text[], \(text(rows.map { decimal($0.total) }))::text[],
                        \(text(rows.map { decimal($0.tax) }))::text[], \(text(rows.map { decimal($0.balance) }))::text[],
                        \(text(rows.map { decimal($0.amount) }))::text[],
                        \(text(rows.map { $0.invoiceIDs.map { $0.joined(separator: ",") } }))::text[],
                        \(text(rows.map(\.ourID)))::text[], \(text(rows.map(\.method)))::text[],
                        \(rows.map { $0.voided ? "true" : "false" })::text[], \(text(rows.map(\.lastUpdated)))::text[])
                 AS q(k, e, v, n, m, s, a, c, t, x, b, p, i, o, h, d, u)
            ON CONFLICT (tenant_id, connection_id, object_kind, erp_id) DO UPDATE
            SET erp_version = EXCLUDED.erp_version, number = coalesce(EXCLUDED.number, r.number),
                display_name = coalesce(EXCLUDED.display_name, r.display_name),
                erp_status = EXCLUDED.erp_status, active = EXCLUDED.active,
                customer_erp_id = coalesce(EXCLUDED.customer_erp_id, r.customer_erp_id),
                total = EXCLUDED.total, tax_total = EXCLUDED.tax_total, balance = EXCLUDED.balance,
                amount = EXCLUDED.amount, invoice_erp_ids = EXCLUDED.invoice_erp_ids,
                our_id = coalesce(EXCLUDED.our_id, r.our_id), match_method = coalesce(EXCLUDED.match_method, r.match_method),
                voided_in_erp_at = coalesce(r.voided_in_erp_at, EXCLUDED.voided_in_erp_at),
                erp_last_updated = EXCLUDED.erp_last_updated, last_pulled_at = now()
            """, logger: logger)
    }

    /// Inserts audit events into the outbox in one statement (the relay publishes them to the audit exchange).
    static func insertAudit(
        _ events: [AuditEvent], exchange: String, connection: PostgresConnection, logger: Logger
    ) async throws {
        guard !events.isEmpty else { return }
        let encoder = WireFormat.encoder()
        var tenants: [String] = []
        var routing: [String] = []
        var ids: [String] = []
        var headers: [String] = []
        var bodies: [String] = []
        for event in events {
            tenants.append(event.tenantID.rawValue)
            routing.append(event.routingKey)
            ids.append(event.auditID.uuidString.lowercased())
            headers.append(
                String(
                    decoding: try encoder.encode([
                        "x-ledgerline-tenant": event.tenantID.rawValue, "x-ledgerline-kind": event.kind.rawValue,
                    ]), as: UTF8.self))
            bodies.append(String(decoding: try encoder.encode(event), as: UTF8.self))
        }
        try await connection.execute(
            """
            INSERT INTO outbox (tenant_id, exchange, routing_key, message_id, message_type, headers, body)
            SELECT t, \(exchange), r, m, 'audit_event', h::jsonb, b::jsonb
            FROM unnest(\(tenants)::text[], \(routing)::text[], \(ids)::text[], \(headers)::text[], \(bodies)::text[])
                 WITH ORDINALITY AS x(t, r, m, h, b, n)
            ORDER BY n
            """, logger: logger)
    }

    /// A UUID derived from `text` (SHA-256, version 5 layout), for audit ids that repeat with their cause.
    static func deterministicID(_ text: String) -> UUID {
        var bytes = Array(SHA256.hash(data: Data(text.utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x50
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }
}
