/// An invoice as billed by an auto-electrical repair shop (full snapshot, wire key `invoice`).
///
/// Amounts are in ``currency``. The arithmetic rules that tie ``lines``, ``taxLines``, ``payments`` and
/// ``totals`` together are in `docs/event-contract/README.md` and implemented by ``InvoiceArithmetic``.
public struct Invoice: Sendable, Equatable, Codable {
    /// The source system's stable id of the invoice (never reused, survives renumbering). 1–128 visible ASCII.
    public var invoiceID: String
    /// The invoice number printed on the invoice. 1–64 characters.
    public var invoiceNumber: String
    /// The shop's job number, if it uses one.
    public var jobNumber: String?
    /// The work-order number.
    public var workOrderNumber: String?
    /// The repair-order (RO) number.
    public var repairOrderNumber: String?
    /// The customer's purchase-order number (fleet and account customers).
    public var purchaseOrderNumber: String?
    /// The invoice's status in the shop's software.
    public var status: InvoiceStatus
    /// The date the invoice was issued (shop-local date).
    public var issueDate: LocalDate
    /// The date payment is due; not before ``issueDate``.
    public var dueDate: LocalDate?
    /// Payment terms as printed, e.g. `Net 30`.
    public var paymentTerms: String?
    /// The currency of every amount in the invoice.
    public var currency: CurrencyCode
    /// Who is billed.
    public var customer: Customer
    /// The vehicle worked on (absent for counter sales).
    public var vehicle: Vehicle?
    /// The billed lines (at least one; at most ``ValidationLimits/maxLinesPerInvoice``).
    public var lines: [InvoiceLine]
    /// The taxes charged, one line per jurisdiction (and tax code); empty when no tax is charged.
    public var taxLines: [TaxLine]
    /// The totals as printed on the invoice.
    public var totals: InvoiceTotals
    /// Payments applied to the invoice so far.
    public var payments: [Payment]
    /// Notes printed on or attached to the invoice. Up to 4,000 characters, line breaks allowed.
    public var notes: String?

    /// Creates an invoice.
    public init(
        invoiceID: String, invoiceNumber: String, jobNumber: String? = nil, workOrderNumber: String? = nil,
        repairOrderNumber: String? = nil, purchaseOrderNumber: String? = nil, status: InvoiceStatus,
        issueDate: LocalDate, dueDate: LocalDate? = nil, paymentTerms: String? = nil, currency: CurrencyCode,
        customer: Customer, vehicle: Vehicle? = nil, lines: [InvoiceLine], taxLines: [TaxLine] = [],
        totals: InvoiceTotals, payments: [Payment] = [], notes: String? = nil
    ) {
        self.invoiceID = invoiceID
        self.invoiceNumber = invoiceNumber
        self.jobNumber = jobNumber
        self.workOrderNumber = workOrderNumber
        self.repairOrderNumber = repairOrderNumber
        self.purchaseOrderNumber = purchaseOrderNumber
        self.status = status
        self.issueDate = issueDate
        self.dueDate = dueDate
        self.paymentTerms = paymentTerms
        self.currency = currency
        self.customer = customer
        self.vehicle = vehicle
        self.lines = lines
        self.taxLines = taxLines
        self.totals = totals
        self.payments = payments
        self.notes = notes
    }

    enum CodingKeys: String, CodingKey {
        case invoiceID = "invoice_id", invoiceNumber = "invoice_number", jobNumber = "job_number"
        case workOrderNumber = "work_order_number", repairOrderNumber = "repair_order_number"
        case purchaseOrderNumber = "purchase_order_number", status, issueDate = "issue_date", dueDate = "due_date"
        case paymentTerms = "payment_terms", currency, customer, vehicle, lines, taxLines = "tax_lines", totals
        case payments, notes
    }

    /// Decodes the structure; see ``InvoiceEvent/init(from:)``.
    public init(from decoder: any Decoder) throws {
        self = try ContractCodable.decode(from: decoder) { mapper, json in mapper.invoice(json, at: .root) }
    }

    /// Encodes the wire form (`tax_lines` and `payments` are always written, possibly empty).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(invoiceID, forKey: .invoiceID)
        try container.encode(invoiceNumber, forKey: .invoiceNumber)
        try container.encodeIfPresent(jobNumber, forKey: .jobNumber)
        try container.encodeIfPresent(workOrderNumber, forKey: .workOrderNumber)
        try container.encodeIfPresent(repairOrderNumber, forKey: .repairOrderNumber)
        try container.encodeIfPresent(purchaseOrderNumber, forKey: .purchaseOrderNumber)
        try container.encode(status, forKey: .status)
        try container.encode(issueDate, forKey: .issueDate)
        try container.encodeIfPresent(dueDate, forKey: .dueDate)
        try container.encodeIfPresent(paymentTerms, forKey: .paymentTerms)
        try container.encode(currency, forKey: .currency)
        try container.encode(customer, forKey: .customer)
        try container.encodeIfPresent(vehicle, forKey: .vehicle)
        try container.encode(lines, forKey: .lines)
        try container.encode(taxLines, forKey: .taxLines)
        try container.encode(totals, forKey: .totals)
        try container.encode(payments, forKey: .payments)
        try container.encodeIfPresent(notes, forKey: .notes)
    }
}

/// The status of an invoice in the shop's software.
public enum InvoiceStatus: String, Sendable, Hashable, CaseIterable, Codable {
    /// Not yet issued to the customer.
    case draft
    /// Issued; no payment recorded (or the shop does not track partial payment).
    case open
    /// Issued; some but not all of the total paid. Requires amount paid ≠ 0 and balance due ≠ 0.
    case partiallyPaid = "partially_paid"
    /// Fully paid. Requires balance due = 0.
    case paid
    /// Voided or cancelled. Only the `invoice.voided` event sets this; snapshots may not carry it.
    case voided
}

/// The totals printed on the invoice (wire key `totals`). All amounts in the invoice currency.
public struct InvoiceTotals: Sendable, Equatable, Codable {
    /// Sum of all line amounts (discount lines included, so discounts are already subtracted).
    public var subtotal: Money
    /// Sum of the discount lines' amounts (zero or negative), if the shop prints it.
    public var discountTotal: Money?
    /// Sum of the tax lines' amounts.
    public var taxTotal: Money
    /// Subtotal + tax total.
    public var total: Money
    /// Sum of the payments.
    public var amountPaid: Money
    /// Total − amount paid.
    public var balanceDue: Money

    /// Creates totals.
    public init(
        subtotal: Money, discountTotal: Money? = nil, taxTotal: Money, total: Money, amountPaid: Money,
        balanceDue: Money
    ) {
        self.subtotal = subtotal
        self.discountTotal = discountTotal
        self.taxTotal = taxTotal
        self.total = total
        self.amountPaid = amountPaid
        self.balanceDue = balanceDue
    }

    enum CodingKeys: String, CodingKey {
        case subtotal, discountTotal = "discount_total", taxTotal = "tax_total", total
        case amountPaid = "amount_paid", balanceDue = "balance_due"
    }

    /// Decodes the structure; see ``InvoiceEvent/init(from:)``.
    public init(from decoder: any Decoder) throws {
        self = try ContractCodable.decode(from: decoder) { mapper, json in
            mapper.totals(json, at: .root, currency: nil)
        }
    }

    /// Encodes the wire form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(subtotal, forKey: .subtotal)
        try container.encodeIfPresent(discountTotal, forKey: .discountTotal)
        try container.encode(taxTotal, forKey: .taxTotal)
        try container.encode(total, forKey: .total)
        try container.encode(amountPaid, forKey: .amountPaid)
        try container.encode(balanceDue, forKey: .balanceDue)
    }
}
