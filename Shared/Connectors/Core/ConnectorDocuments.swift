public import Domain
public import Foundation

// MARK: - What goes in

/// An invoice to write, with what the ERP needs beside it.
public struct InvoiceDocument: Sendable, Equatable {
    /// The canonical invoice (full snapshot).
    public var invoice: Invoice
    /// The shop location (selects class / department / tracking and location tax overrides).
    public var location: LocationID
    /// The ERP customer to bill (found or created first: see ``ERPConnector/ensureCustomer(_:scope:logger:)``).
    public var customer: ERPReference

    /// Creates a document.
    public init(invoice: Invoice, location: LocationID, customer: ERPReference) {
        self.invoice = invoice
        self.location = location
        self.customer = customer
    }
}

/// A payment to record against an invoice that is already in the ERP.
public struct PaymentDocument: Sendable, Equatable {
    /// The canonical payment.
    public var payment: Payment
    /// The invoice's currency.
    public var currency: CurrencyCode
    /// The shop location.
    public var location: LocationID
    /// The ERP invoice the payment applies to.
    public var invoice: ERPReference
    /// The ERP customer of that invoice.
    public var customer: ERPReference
    /// The shop's invoice number, for messages.
    public var invoiceNumber: String?

    /// Creates a document.
    public init(
        payment: Payment, currency: CurrencyCode, location: LocationID, invoice: ERPReference, customer: ERPReference,
        invoiceNumber: String? = nil
    ) {
        self.payment = payment
        self.currency = currency
        self.location = location
        self.invoice = invoice
        self.customer = customer
        self.invoiceNumber = invoiceNumber
    }
}

/// An ERP document id with the version it was last seen at (the concurrency token, where the ERP has one).
public struct ERPVersionedID: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The ERP's id.
    public var id: String
    /// The version token (QuickBooks `SyncToken`), or `nil` for last-write-wins ERPs.
    public var version: String?

    /// Creates a versioned id.
    public init(id: String, version: String?) {
        self.id = id
        self.version = version
    }

    /// `130@2`
    public var description: String { version.map { "\(id)@\($0)" } ?? id }
}

/// How to find a customer.
public enum CustomerLookup: Sendable, Hashable {
    /// The customer Ledgerline created for this shop customer id. `displayName` narrows the search on ERPs
    /// that can only search by name (QuickBooks Online), including its suffixed variants.
    case reference(customerID: String, displayName: String)
    /// Any customer with exactly this display name.
    case displayName(String)
    /// The ERP's own id.
    case erpID(String)
}

/// How to find an invoice.
public enum InvoiceLookup: Sendable, Hashable {
    /// The invoice with the shop's number (`DocNumber`, `InvoiceNumber`); ``ERPInvoiceRecord/ourReference``
    /// then tells whether it is ours.
    case number(String)
    /// The ERP's own id (to refetch the current version).
    case erpID(String)
}

/// How to find a payment.
public enum PaymentLookup: Sendable, Hashable {
    /// The payment Ledgerline recorded for this shop payment id on this ERP invoice (and customer).
    case reference(paymentID: String, invoice: ERPReference, customer: ERPReference, date: LocalDate)
}

/// Whether an earlier attempt of the same operation may have reached the ERP.
public enum PriorAttempt: String, Sendable, Hashable, Codable {
    /// No earlier attempt, or it certainly did not reach the ERP.
    case none
    /// An earlier attempt ended without an answer (timeout, crash, reset after sending): look up by our
    /// reference before creating again.
    case outcomeUnknown = "outcome_unknown"
}

// MARK: - What comes back

/// A customer as the ERP holds it.
public struct ERPCustomerRecord: Sendable, Equatable {
    /// The ERP's id.
    public var erpID: String
    /// The version token, if any.
    public var version: String?
    /// The display name (unique in QuickBooks Online and Xero).
    public var displayName: String
    /// The shop customer id Ledgerline wrote into the customer (Xero `ContactNumber`, QuickBooks `Notes`),
    /// if present.
    public var ourReference: String?
    /// Whether the customer is active, if reported.
    public var active: Bool?
    /// When the ERP last changed it (ERP's format), if reported.
    public var lastUpdated: String?

    /// Creates a record.
    public init(
        erpID: String, version: String? = nil, displayName: String, ourReference: String? = nil, active: Bool? = nil,
        lastUpdated: String? = nil
    ) {
        self.erpID = erpID
        self.version = version
        self.displayName = displayName
        self.ourReference = ourReference
        self.active = active
        self.lastUpdated = lastUpdated
    }

    /// The reference to bill this customer.
    public var reference: ERPReference { ERPReference(erpID, name: displayName) }
}

/// Totals as the ERP computed them, for drift detection.
public struct ERPTotals: Sendable, Equatable {
    /// The invoice total including tax.
    public var total: Money
    /// The total tax, if reported.
    public var taxTotal: Money?
    /// What is still owed, if reported.
    public var balance: Money?

    /// Creates totals.
    public init(total: Money, taxTotal: Money? = nil, balance: Money? = nil) {
        self.total = total
        self.taxTotal = taxTotal
        self.balance = balance
    }
}

/// An invoice as the ERP holds it.
public struct ERPInvoiceRecord: Sendable, Equatable {
    /// The ERP's id.
    public var erpID: String
    /// The version token (`SyncToken`), if any.
    public var version: String?
    /// The invoice number in the ERP.
    public var number: String?
    /// The ERP's status text (`AUTHORISED`, `VOIDED`, `Deleted`…), if reported.
    public var status: String?
    /// The ERP customer id, if reported.
    public var customerID: String?
    /// The shop invoice id found in the ownership marker, if present (it is ours when it equals the
    /// canonical `invoice_id`).
    public var ourReference: String?
    /// Totals as the ERP computed them.
    public var totals: ERPTotals?
    /// When the ERP last changed it (ERP's format), if reported.
    public var lastUpdated: String?

    /// Creates a record.
    public init(
        erpID: String, version: String? = nil, number: String? = nil, status: String? = nil, customerID: String? = nil,
        ourReference: String? = nil, totals: ERPTotals? = nil, lastUpdated: String? = nil
    ) {
        self.erpID = erpID
        self.version = version
        self.number = number
        self.status = status
        self.customerID = customerID
        self.ourReference = ourReference
        self.totals = totals
        self.lastUpdated = lastUpdated
    }

    /// The id and version, for the next update.
    public var versionedID: ERPVersionedID { ERPVersionedID(id: erpID, version: version) }
}

/// A payment as the ERP holds it.
public struct ERPPaymentRecord: Sendable, Equatable {
    /// The ERP's id.
    public var erpID: String
    /// The version token, if any.
    public var version: String?
    /// The amount, if reported.
    public var amount: Money?
    /// The ERP invoices it is applied to.
    public var invoiceIDs: [String]
    /// The shop payment id found in its reference, if present.
    public var ourReference: String?
    /// When the ERP last changed it (ERP's format), if reported.
    public var lastUpdated: String?

    /// Creates a record.
    public init(
        erpID: String, version: String? = nil, amount: Money? = nil, invoiceIDs: [String] = [],
        ourReference: String? = nil, lastUpdated: String? = nil
    ) {
        self.erpID = erpID
        self.version = version
        self.amount = amount
        self.invoiceIDs = invoiceIDs
        self.ourReference = ourReference
        self.lastUpdated = lastUpdated
    }
}

/// The outcome of comparing the ERP's totals with the shop's.
public enum TotalsCheck: Sendable, Equatable {
    /// The ERP total equals the shop total to the minor unit (and so does the tax, when reported).
    case matches
    /// They differ: reported with ``Domain/ReasonCode/erpTotalDrift``.
    case drift(shopTotal: Money, erpTotal: Money, shopTax: Money, erpTax: Money?)
    /// The ERP did not report totals.
    case notReported

    /// Compares an invoice's totals with the ERP's.
    public static func compare(_ invoice: Invoice, with totals: ERPTotals?) -> TotalsCheck {
        guard let totals else { return .notReported }
        let taxDiffers = totals.taxTotal.map { $0 != invoice.totals.taxTotal } ?? false
        if totals.total == invoice.totals.total && !taxDiffers { return .matches }
        return .drift(
            shopTotal: invoice.totals.total, erpTotal: totals.total, shopTax: invoice.totals.taxTotal,
            erpTax: totals.taxTotal)
    }

    /// ``Domain/ReasonCode/erpTotalDrift`` for a drift, else `nil`.
    public var reason: ReasonCode? {
        if case .drift = self { return .erpTotalDrift }
        return nil
    }

    /// A sentence for the sync log, e.g. `ERP total 778.01 differs from the shop total 778.00`.
    public var message: String? {
        guard case .drift(let shopTotal, let erpTotal, let shopTax, let erpTax) = self else { return nil }
        var text = "ERP total \(erpTotal) differs from the shop total \(shopTotal)"
        if let erpTax, erpTax != shopTax { text += " (tax \(erpTax) vs \(shopTax))" }
        return text
    }
}

/// What a write returned.
public struct WriteReceipt<Record: Sendable & Equatable>: Sendable, Equatable {
    /// The document as the ERP now holds it.
    public var record: Record
    /// The ERP's request id (`intuit_tid`, `Xero-Correlation-Id`), for the audit trail.
    public var erpRequestID: String?
    /// The idempotency key the request carried.
    public var idempotencyKey: IdempotencyKey?
    /// For invoices: the ERP's totals against the shop's.
    public var totalsCheck: TotalsCheck?

    /// Creates a receipt.
    public init(record: Record, erpRequestID: String?, idempotencyKey: IdempotencyKey?, totalsCheck: TotalsCheck? = nil)
    {
        self.record = record
        self.erpRequestID = erpRequestID
        self.idempotencyKey = idempotencyKey
        self.totalsCheck = totalsCheck
    }
}

// MARK: - Batches

/// One invoice of a batch push: a create, or an update when ``existing`` is set.
public struct BatchInvoiceItem: Sendable, Equatable {
    /// The invoice and its customer.
    public var document: InvoiceDocument
    /// The ERP invoice to update, or `nil` to create.
    public var existing: ERPVersionedID?

    /// Creates an item.
    public init(document: InvoiceDocument, existing: ERPVersionedID? = nil) {
        self.document = document
        self.existing = existing
    }
}

/// The result of one item of a batch, in request order.
public struct BatchItemOutcome: Sendable {
    /// The shop invoice id.
    public var invoiceID: String
    /// The receipt, or why this item failed (other items are unaffected).
    public var result: Result<WriteReceipt<ERPInvoiceRecord>, ConnectorFailure>

    /// Creates an outcome.
    public init(invoiceID: String, result: Result<WriteReceipt<ERPInvoiceRecord>, ConnectorFailure>) {
        self.invoiceID = invoiceID
        self.result = result
    }
}

// MARK: - Pulls

/// A request for changes since a moment, one page at a time.
public struct ChangeRequest: Sendable, Hashable {
    /// The entities to read, in this order.
    public var entities: [ERPEntity]
    /// Changes at or after this instant.
    public var since: Date
    /// The page to read: `nil` for the first, else ``ChangePage/next`` of the previous page.
    public var cursor: ChangeCursor?
    /// The page size (capped to ``PullSupport/maxPageSize``).
    public var pageSize: Int
    /// The ERP reference data to read after ``entities`` (items, tax rates), in this order.
    public var referenceData: [ERPReferenceKind]

    /// Creates a request.
    public init(
        entities: [ERPEntity], since: Date, cursor: ChangeCursor? = nil, pageSize: Int = 100,
        referenceData: [ERPReferenceKind] = []
    ) {
        self.entities = entities
        self.since = since
        self.cursor = cursor
        self.pageSize = pageSize
        self.referenceData = referenceData
    }
}

/// ERP reference data read by pulls: kept as the ERP's records (no canonical shop record).
public enum ERPReferenceKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// Products and services (QuickBooks `Item`, Xero `Items`).
    case item
    /// Sales tax rates (QuickBooks `TaxRate`, Xero `TaxRates`).
    case taxRate = "tax_rate"
}

/// An item or tax rate as the ERP holds it.
public struct ERPReferenceRecord: Sendable, Equatable {
    /// Item or tax rate.
    public var kind: ERPReferenceKind
    /// The ERP's id (QuickBooks `Id`, Xero `ItemID` / `TaxType`).
    public var erpID: String
    /// The ERP's version (QuickBooks `SyncToken`, Xero `UpdatedDateUTC` or the rate's content).
    public var version: String?
    /// The name.
    public var name: String
    /// The code (QuickBooks `Sku`, Xero `Code` / `TaxType`).
    public var code: String?
    /// Whether the ERP lists it as active.
    public var active: Bool?
    /// Items: the sales unit price; tax rates: the rate in percent.
    public var amount: Decimal?
    /// The ERP's type or status (e.g. QuickBooks `Service`, Xero `ACTIVE`).
    public var status: String?
    /// The ERP's last-updated time, as it wrote it.
    public var lastUpdated: String?

    /// Creates a record.
    public init(
        kind: ERPReferenceKind, erpID: String, version: String?, name: String, code: String? = nil,
        active: Bool? = nil, amount: Decimal? = nil, status: String? = nil, lastUpdated: String? = nil
    ) {
        self.kind = kind
        self.erpID = erpID
        self.version = version
        self.name = name
        self.code = code
        self.active = active
        self.amount = amount
        self.status = status
        self.lastUpdated = lastUpdated
    }
}

/// An opaque position in a paged pull (connector-defined; store it as text).
public struct ChangeCursor: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The cursor text, e.g. `invoice:101`.
    public var rawValue: String

    /// Wraps a cursor.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The cursor text.
    public var description: String { rawValue }
}

/// One changed ERP object.
public enum ERPChange: Sendable, Equatable {
    /// A customer.
    case customer(ERPCustomerRecord)
    /// An invoice.
    case invoice(ERPInvoiceRecord)
    /// A payment.
    case payment(ERPPaymentRecord)
    /// An item or a tax rate (reference data).
    case reference(ERPReferenceRecord)
}

/// One page of changes.
public struct ChangePage: Sendable, Equatable {
    /// The changes on this page.
    public var changes: [ERPChange]
    /// The cursor of the next page, or `nil` when this was the last.
    public var next: ChangeCursor?

    /// Creates a page.
    public init(changes: [ERPChange], next: ChangeCursor?) {
        self.changes = changes
        self.next = next
    }
}
