public import Domain
import Foundation
public import Logging
import Postgres

/// A canonical invoice as the worker writes it: the invoice (lines, taxes, customer, vehicle, payments) and its
/// stored version.
public struct CanonicalInvoice: Sendable, Equatable {
    /// The invoice.
    public var invoice: Invoice
    /// Its location.
    public var locationID: LocationID
    /// The producer's version of the last applied event.
    public var version: Int64
}

/// A canonical payment and the invoice it applies to.
public struct CanonicalPayment: Sendable, Equatable {
    /// The payment.
    public var payment: Payment
    /// `applied` or `removed`.
    public var status: String
    /// The invoice's id.
    public var invoiceID: String
    /// The invoice's number.
    public var invoiceNumber: String
    /// The invoice's currency.
    public var currency: CurrencyCode
    /// The invoice's customer id.
    public var customerID: String
    /// The location.
    public var locationID: LocationID
}

/// Reads the canonical store written by ingest (`invoices`, `invoice_lines`, `invoice_tax_lines`, `vehicles`,
/// `customers`, `payments`), tenant-scoped. Amounts are read as text and parsed into `Money` (never floating point).
public struct CanonicalDocuments: Sendable {
    /// The state store (for its tenant-scoped transactions).
    public let store: SyncStateStore

    /// Creates a reader.
    public init(store: SyncStateStore) { self.store = store }

    /// The invoice, or nil when it does not exist.
    public func invoice(
        tenantID: TenantID, locationID: LocationID, invoiceID: String, logger: Logger
    ) async throws -> CanonicalInvoice? {
        try await store.inTenant(tenantID, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT i.invoice_key, i.invoice_id, i.invoice_number, i.job_number, i.work_order_number,
                       i.repair_order_number, i.purchase_order_number, i.status, i.issue_date::text AS issue_date,
                       i.due_date::text AS due_date, i.payment_terms, i.currency, i.customer_id, i.customer_name,
                       i.subtotal::text AS subtotal, i.discount_total::text AS discount_total, i.tax_total::text AS tax_total,
                       i.total::text AS total, i.amount_paid::text AS amount_paid, i.balance_due::text AS balance_due,
                       i.notes, i.invoice_version,
                       c.name, c.company_name, c.email, c.phone, c.billing_line1, c.billing_line2, c.billing_city,
                       c.billing_region, c.billing_postal_code, c.billing_country, coalesce(c.tax_exempt, false) AS tax_exempt,
                       c.tax_exempt_reason
                FROM invoices i
                LEFT JOIN customers c ON c.tenant_id = i.tenant_id AND c.location_id = i.location_id
                     AND c.source_system = i.source_system AND c.customer_id = i.customer_id
                WHERE i.tenant_id = \(tenantID.rawValue) AND i.location_id = \(locationID.rawValue)
                  AND i.invoice_id = \(invoiceID)
                ORDER BY i.updated_at DESC LIMIT 1
                """, logger: logger)
            guard let row = rows.first else { return nil }
            let invoiceKey = try row.decode(Int64.self, "invoice_key")
            // Payment and void events raise the invoice's version without a new snapshot of its lines: the
            // lines (and tax lines) of a version are those of the newest snapshot at or below it.
            let version = try row.decode(Int64.self, "invoice_version")
            let linesVersion = try await connection.query(
                """
                SELECT coalesce(max(invoice_version), 0) AS version FROM invoice_lines
                WHERE invoice_key = \(invoiceKey) AND invoice_version <= \(version)
                """, logger: logger
            )[0].decode(Int64.self, "version")
            let lines = try await connection.query(
                """
                SELECT line_id, kind, description, quantity::text AS quantity, unit_price::text AS unit_price,
                       amount::text AS amount, taxable, tax_code, part_number, manufacturer, technician_id,
                       technician_name, labor_code, fee_code, vendor_name, vendor_invoice_number
                FROM invoice_lines WHERE invoice_key = \(invoiceKey) AND invoice_version = \(linesVersion)
                ORDER BY line_number
                """, logger: logger
            ).map(Self.line)
            let taxLines = try await connection.query(
                """
                SELECT jurisdiction, tax_code, rate_percent::text AS rate_percent, taxable_amount::text AS taxable_amount,
                       amount::text AS amount
                FROM invoice_tax_lines WHERE invoice_key = \(invoiceKey) AND invoice_version = \(linesVersion)
                ORDER BY line_number
                """, logger: logger
            ).map {
                TaxLine(
                    jurisdiction: try $0.decode(String.self, "jurisdiction"), taxCode: try $0.decode(String?.self, "tax_code"),
                    ratePercent: try Self.decimal(Percentage.self, $0, "rate_percent"),
                    taxableAmount: try Self.money($0, "taxable_amount"), amount: try Self.money($0, "amount"))
            }
            let payments = try await connection.query(
                """
                SELECT payment_id, amount::text AS amount, method, payment_date::text AS payment_date, reference
                FROM payments WHERE invoice_key = \(invoiceKey) AND status = 'applied' ORDER BY payment_key
                """, logger: logger
            ).map(Self.payment)
            let currencyText = try row.decode(String.self, "currency")
            guard let currency = CurrencyCode(currencyText) else {
                throw WorkerError(code: .documentMissing, reason: "invoice currency is not ISO 4217")
            }
            let statusText = try row.decode(String.self, "status")
            var address: Address?
            if let line1 = try row.decode(String?.self, "billing_line1"), let city = try row.decode(String?.self, "billing_city"),
                let country = try row.decode(String?.self, "billing_country")
            {
                address = Address(
                    line1: line1, line2: try row.decode(String?.self, "billing_line2"), city: city,
                    region: try row.decode(String?.self, "billing_region"),
                    postalCode: try row.decode(String?.self, "billing_postal_code"), country: country)
            }
            let customer = Customer(
                customerID: try row.decode(String.self, "customer_id"),
                name: try row.decode(String?.self, "name") ?? row.decode(String.self, "customer_name"),
                companyName: try row.decode(String?.self, "company_name"), email: try row.decode(String?.self, "email"),
                phone: try row.decode(String?.self, "phone"), billingAddress: address,
                taxExempt: try row.decode(Bool.self, "tax_exempt"),
                taxExemptReason: try row.decode(String?.self, "tax_exempt_reason"))
            let invoice = Invoice(
                invoiceID: try row.decode(String.self, "invoice_id"), invoiceNumber: try row.decode(String.self, "invoice_number"),
                jobNumber: try row.decode(String?.self, "job_number"),
                workOrderNumber: try row.decode(String?.self, "work_order_number"),
                repairOrderNumber: try row.decode(String?.self, "repair_order_number"),
                purchaseOrderNumber: try row.decode(String?.self, "purchase_order_number"),
                status: InvoiceStatus(rawValue: statusText) ?? .open,
                issueDate: try Self.date(row, "issue_date"),
                dueDate: try row.decode(String?.self, "due_date").flatMap { LocalDate(string: $0) },
                paymentTerms: try row.decode(String?.self, "payment_terms"), currency: currency, customer: customer,
                lines: lines, taxLines: taxLines,
                totals: InvoiceTotals(
                    subtotal: try Self.money(row, "subtotal"),
                    discountTotal: try row.decode(String?.self, "discount_total").flatMap { Money(string: $0) },
                    taxTotal: try Self.money(row, "tax_total"), total: try Self.money(row, "total"),
                    amountPaid: try Self.money(row, "amount_paid"), balanceDue: try Self.money(row, "balance_due")),
                payments: payments, notes: try row.decode(String?.self, "notes"))
            return CanonicalInvoice(invoice: invoice, locationID: locationID, version: version)
        }
    }

    /// The payment with `paymentID` on the invoice `invoiceID`, or nil.
    public func payment(
        tenantID: TenantID, locationID: LocationID, invoiceID: String, paymentID: String, logger: Logger
    ) async throws -> CanonicalPayment? {
        try await store.inTenant(tenantID, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT p.payment_id, p.amount::text AS amount, p.method, p.payment_date::text AS payment_date, p.reference,
                       p.status, i.invoice_id, i.invoice_number, i.currency, i.customer_id
                FROM payments p JOIN invoices i ON i.invoice_key = p.invoice_key
                WHERE i.tenant_id = \(tenantID.rawValue) AND i.location_id = \(locationID.rawValue)
                  AND i.invoice_id = \(invoiceID) AND p.payment_id = \(paymentID)
                ORDER BY i.updated_at DESC LIMIT 1
                """, logger: logger)
            guard let row = rows.first else { return nil }
            guard let currency = CurrencyCode(try row.decode(String.self, "currency")) else {
                throw WorkerError(code: .documentMissing, reason: "invoice currency is not ISO 4217")
            }
            return CanonicalPayment(
                payment: try Self.payment(row), status: try row.decode(String.self, "status"),
                invoiceID: try row.decode(String.self, "invoice_id"), invoiceNumber: try row.decode(String.self, "invoice_number"),
                currency: currency, customerID: try row.decode(String.self, "customer_id"), locationID: locationID)
        }
    }

    // MARK: Row decoding

    static func money(_ row: PostgresRow, _ column: String) throws -> Money {
        try decimal(Money.self, row, column)
    }

    static func decimal<Value: DecimalStringValue>(_ type: Value.Type, _ row: PostgresRow, _ column: String) throws -> Value {
        let text = try row.decode(String.self, column)
        guard let value = Value(string: text) else {
            throw WorkerError(code: .documentMissing, reason: "column \(column) is not a decimal")
        }
        return value
    }

    static func date(_ row: PostgresRow, _ column: String) throws -> LocalDate {
        let text = try row.decode(String.self, column)
        guard let date = LocalDate(string: text) else {
            throw WorkerError(code: .documentMissing, reason: "column \(column) is not a date")
        }
        return date
    }

    static func payment(_ row: PostgresRow) throws -> Payment {
        Payment(
            paymentID: try row.decode(String.self, "payment_id"), amount: try money(row, "amount"),
            method: Payment.Method(rawValue: try row.decode(String.self, "method")) ?? .other,
            paymentDate: try date(row, "payment_date"), reference: try row.decode(String?.self, "reference"))
    }

    static func line(_ row: PostgresRow) throws -> InvoiceLine {
        let kind = try row.decode(String.self, "kind")
        let detail: InvoiceLine.Detail =
            switch kind {
            case "part":
                .part(
                    partNumber: try row.decode(String?.self, "part_number") ?? "",
                    manufacturer: try row.decode(String?.self, "manufacturer"))
            case "labor":
                .labor(
                    technicianID: try row.decode(String?.self, "technician_id"),
                    technicianName: try row.decode(String?.self, "technician_name"),
                    laborCode: try row.decode(String?.self, "labor_code"))
            case "fee": .fee(feeCode: try row.decode(String?.self, "fee_code"))
            case "sublet":
                .sublet(
                    vendorName: try row.decode(String?.self, "vendor_name") ?? "",
                    vendorInvoiceNumber: try row.decode(String?.self, "vendor_invoice_number"))
            case "discount": .discount
            default: .coreCharge(partNumber: try row.decode(String?.self, "part_number"))
            }
        return InvoiceLine(
            lineID: try row.decode(String?.self, "line_id"), description: try row.decode(String.self, "description"),
            quantity: try decimal(Quantity.self, row, "quantity"), unitPrice: try money(row, "unit_price"),
            amount: try money(row, "amount"), taxable: try row.decode(Bool.self, "taxable"),
            taxCode: try row.decode(String?.self, "tax_code"), detail: detail)
    }
}
