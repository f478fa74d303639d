public import Domain
public import Foundation

/// Pure functions between canonical values and QuickBooks Online payloads: no I/O, no state.
///
/// Mapping table (also in `docs/connectors.md`):
///
/// | canonical | QuickBooks Online |
/// |---|---|
/// | `invoice_number` (≤ 21 characters) | `DocNumber` |
/// | `issue_date` / `due_date` | `TxnDate` / `DueDate` |
/// | customer (found or created) | `CustomerRef` |
/// | `currency` | `CurrencyRef` |
/// | part / labor / fee / sublet / core charge line | `Line` with `SalesItemLineDetail` (`ItemRef` from `lines.<kind>.item`, `Qty`, `UnitPrice`, `Amount`) |
/// | discount lines (summed into one) | `Line` with `DiscountLineDetail` (`PercentBased` false, `DiscountAccountRef` from `lines.discount.account`) |
/// | taxes, US (`tax.model` = transaction) | line `TaxCodeRef` `TAX`/`NON` from `taxable`; `TxnTaxDetail.TxnTaxCodeRef` (location override or `tax.transaction_tax_code`) and `TotalTax` = `totals.tax_total` |
/// | taxes, elsewhere (`tax.model` = line) | line `TaxCodeRef` from `tax.codes[tax_code]` (else `tax.taxable` / `tax.non_taxable`), `GlobalTaxCalculation` `TaxExcluded`, `TxnTaxDetail.TotalTax` |
/// | RO / WO / job / PO numbers, vehicle, VIN, odometer | `PrivateNote` lines (and `CustomField` when `document_fields` maps them) |
/// | `invoice_id` | `PrivateNote` last line `Ledgerline ref: <invoice_id>` (ownership marker) |
/// | `notes` | `CustomerMemo` (first 1,000 characters) |
/// | customer e-mail | `BillEmail` |
/// | location | `ClassRef` (transaction, or each line with `class_per_line`) and `DepartmentRef` |
public enum QuickBooksOnlineMapping {
    /// The minor version sent on every call (Intuit's baseline from 1 Aug 2025).
    public static let minorVersion = "75"
    /// The longest `DocNumber` QuickBooks Online accepts (Finance.xsd documentation).
    public static let maxDocNumberLength = 21
    /// The longest `PaymentRefNum` kept (cut beyond, [inf]).
    public static let maxPaymentRefNumLength = 21
    /// The longest `CustomerMemo` sent ([inf]; longer notes are cut with `...`).
    public static let maxCustomerMemoLength = 1000

    // MARK: Customers

    /// The display name QuickBooks accepts for a customer: colons (its sub-customer separator) become `-`,
    /// tabs and line breaks become spaces, runs of spaces collapse, and the ends are trimmed.
    public static func displayName(for customer: Customer) -> String {
        var text = customer.name.replacingOccurrences(of: ":", with: "-")
        for separator in ["\t", "\r\n", "\n", "\r"] { text = text.replacingOccurrences(of: separator, with: " ") }
        while text.contains("  ") { text = text.replacingOccurrences(of: "  ", with: " ") }
        return text.trimmingCharacters(in: .whitespaces)
    }

    /// The body that creates `customer` under `displayName`, with the ownership marker in `Notes`.
    public static func customer(_ customer: Customer, displayName: String) -> QuickBooksOnlinePayloads.Customer {
        let address = customer.billingAddress.map {
            QuickBooksOnlinePayloads.PhysicalAddress(
                line1: $0.line1, line2: $0.line2, city: $0.city, countrySubDivisionCode: $0.region,
                postalCode: $0.postalCode, country: $0.country)
        }
        return QuickBooksOnlinePayloads.Customer(
            displayName: displayName, companyName: customer.companyName,
            primaryEmailAddr: customer.email.map(QuickBooksOnlinePayloads.EmailAddress.init),
            primaryPhone: customer.phone.map(QuickBooksOnlinePayloads.TelephoneNumber.init), billAddr: address,
            notes: OwnershipMarker.text(for: customer.customerID))
    }

    /// The record of a customer body from a response.
    public static func customerRecord(_ customer: QuickBooksOnlinePayloads.Customer) -> ERPCustomerRecord? {
        guard let id = customer.id else { return nil }
        return ERPCustomerRecord(
            erpID: id, version: customer.syncToken, displayName: customer.displayName ?? "",
            ourReference: OwnershipMarker.id(in: customer.notes), active: customer.active,
            lastUpdated: customer.metaData?.lastUpdatedTime)
    }

    /// The pulled record of an item (reference data).
    public static func itemRecord(_ item: QuickBooksOnlinePayloads.Item) -> ERPReferenceRecord? {
        guard let id = item.id else { return nil }
        return ERPReferenceRecord(
            kind: .item, erpID: id, version: item.syncToken, name: item.name ?? "", code: item.sku, active: item.active,
            amount: item.unitPrice?.decimal, status: item.type, lastUpdated: item.metaData?.lastUpdatedTime)
    }

    /// The pulled record of a tax rate (reference data; the amount is the rate in percent).
    public static func taxRateRecord(_ rate: QuickBooksOnlinePayloads.TaxRate) -> ERPReferenceRecord? {
        guard let id = rate.id else { return nil }
        return ERPReferenceRecord(
            kind: .taxRate, erpID: id, version: rate.syncToken, name: rate.name ?? "", active: rate.active,
            amount: rate.rateValue?.decimal, lastUpdated: rate.metaData?.lastUpdatedTime)
    }

    // MARK: Invoices

    /// The create body (or, with `existing`, the sparse update body) for an invoice.
    /// - Throws: ``ConnectorFailure`` with `erp.mapping_incomplete` naming the missing mapping entry, or
    ///   `erp.rejected_data` when the invoice number is longer than 21 characters (nothing is sent).
    public static func invoice(
        _ document: InvoiceDocument, mapping: MappingConfiguration, existing: ERPVersionedID? = nil
    ) throws -> QuickBooksOnlinePayloads.Invoice {
        let invoice = document.invoice
        let operation: ConnectorOperation = existing == nil ? .createInvoice : .updateInvoice
        guard invoice.invoiceNumber.count <= maxDocNumberLength else {
            throw ConnectorFailure.rejectedLocally(
                .quickbooksOnline, operation, field: "DocNumber",
                message: "QuickBooks Online allows at most \(maxDocNumberLength) characters in DocNumber; "
                    + "the invoice number has \(invoice.invoiceNumber.count)")
        }
        let location = mapping.location(document.location)
        let classRef = location?.classRef.map(ref)
        let lineClass = location?.classPerLine == true ? classRef : nil

        var lines: [QuickBooksOnlinePayloads.Line] = []
        for line in invoice.lines where line.kind != .discount {
            guard let item = mapping.lines[line.kind].item else {
                throw ConnectorFailure.mappingIncomplete(
                    .quickbooksOnline, operation, field: "lines.\(line.kind.rawValue).item",
                    message: "No QuickBooks item is mapped for \(line.kind.rawValue) lines")
            }
            let detail = QuickBooksOnlinePayloads.SalesItemLineDetail(
                itemRef: ref(item), classRef: lineClass, unitPrice: JSONNumber(line.unitPrice),
                qty: JSONNumber(line.quantity),
                taxCodeRef: try lineTaxCode(line, mapping: mapping, operation: operation))
            lines.append(
                QuickBooksOnlinePayloads.Line(
                    lineNum: lines.count + 1, description: line.description, amount: JSONNumber(line.amount),
                    detailType: "SalesItemLineDetail", salesItemLineDetail: detail))
        }
        let discounts = invoice.lines.filter { $0.kind == .discount }
        let discountTotal = -discounts.map(\.amount).sum()
        if !discounts.isEmpty, discountTotal.value != 0 {
            // Under the line tax model the discount carries the (first) discount line's tax code, so the tax
            // QuickBooks computes is reduced like the shop's; under US sales tax the stated total tax rules.
            let discountTaxCode =
                mapping.tax.model == .line
                ? try lineTaxCode(discounts[0], mapping: mapping, operation: operation) : nil
            let detail = QuickBooksOnlinePayloads.DiscountLineDetail(
                percentBased: false, discountAccountRef: mapping.lines.discount.account.map(ref), classRef: lineClass,
                taxCodeRef: discountTaxCode)
            lines.append(
                QuickBooksOnlinePayloads.Line(
                    lineNum: lines.count + 1, description: discounts.map(\.description).joined(separator: "; "),
                    amount: JSONNumber(Money(value: discountTotal.value, writtenScale: invoice.currency.minorUnits)),
                    detailType: "DiscountLineDetail", discountLineDetail: detail))
        }

        let taxDetail: QuickBooksOnlinePayloads.TxnTaxDetail
        var globalTaxCalculation: String?
        switch mapping.tax.model {
        case .transaction:
            guard let code = mapping.transactionTaxCode(for: document.location) else {
                throw ConnectorFailure.mappingIncomplete(
                    .quickbooksOnline, operation, field: "tax.transaction_tax_code",
                    message: "No QuickBooks sales tax code is mapped for location \(document.location)")
            }
            taxDetail = QuickBooksOnlinePayloads.TxnTaxDetail(
                txnTaxCodeRef: ref(code), totalTax: JSONNumber(invoice.totals.taxTotal))
        case .line:
            taxDetail = QuickBooksOnlinePayloads.TxnTaxDetail(
                txnTaxCodeRef: nil, totalTax: JSONNumber(invoice.totals.taxTotal))
            globalTaxCalculation = "TaxExcluded"
        }

        var memo = invoice.notes
        if let text = memo, text.count > maxCustomerMemoLength {
            memo = String(text.prefix(maxCustomerMemoLength - 3)) + "..."
        }
        var body = QuickBooksOnlinePayloads.Invoice(
            docNumber: invoice.invoiceNumber, txnDate: invoice.issueDate.description,
            dueDate: invoice.dueDate?.description, customerRef: ref(document.customer),
            currencyRef: QuickBooksOnlinePayloads.Ref(invoice.currency.code),
            classRef: location?.classPerLine == true ? nil : classRef, departmentRef: location?.department.map(ref),
            privateNote: privateNote(for: invoice), customerMemo: memo.map(QuickBooksOnlinePayloads.MemoRef.init),
            customField: customFields(for: invoice, mapping: mapping), line: lines, txnTaxDetail: taxDetail,
            globalTaxCalculation: globalTaxCalculation,
            billEmail: invoice.customer.email.map(QuickBooksOnlinePayloads.EmailAddress.init))
        if let existing {
            body.id = existing.id
            body.syncToken = existing.version
            body.sparse = true
        }
        return body
    }

    /// The line's `TaxCodeRef`: `TAX`/`NON` under the transaction model, the mapped code under the line model.
    static func lineTaxCode(
        _ line: InvoiceLine, mapping: MappingConfiguration, operation: ConnectorOperation
    ) throws -> QuickBooksOnlinePayloads.Ref {
        switch mapping.tax.model {
        case .transaction:
            return QuickBooksOnlinePayloads.Ref(line.taxable ? "TAX" : "NON")
        case .line:
            guard let code = mapping.lineTaxCode(for: line) else {
                let key = line.taxCode.map { "tax.codes.\($0)" } ?? (line.taxable ? "tax.taxable" : "tax.non_taxable")
                throw ConnectorFailure.mappingIncomplete(
                    .quickbooksOnline, operation, field: key, message: "No QuickBooks tax code is mapped for \(key)")
            }
            return ref(code)
        }
    }

    /// The `PrivateNote`: document numbers, the vehicle, and the ownership marker on the last line.
    public static func privateNote(for invoice: Invoice) -> String {
        var lines: [String] = []
        if let numbers = DocumentText.documentNumbers(invoice) { lines.append(numbers) }
        if let vehicle = invoice.vehicle.flatMap(DocumentText.vehicle) { lines.append(vehicle) }
        lines.append(OwnershipMarker.text(for: invoice.invoiceID))
        return lines.joined(separator: "\n")
    }

    /// Custom fields for the repair-order number, VIN and odometer, where `document_fields` maps them.
    static func customFields(for invoice: Invoice, mapping: MappingConfiguration) -> [QuickBooksOnlinePayloads
        .CustomField]?
    {
        let fields = mapping.documentFields
        var out: [QuickBooksOnlinePayloads.CustomField] = []
        func add(_ field: CustomFieldReference?, _ value: String?) {
            guard let field, let value else { return }
            out.append(
                QuickBooksOnlinePayloads.CustomField(
                    definitionId: field.definitionID, name: field.name, stringValue: value))
        }
        add(fields.repairOrderNumber, invoice.repairOrderNumber)
        add(fields.vin, invoice.vehicle?.vin)
        add(fields.odometer, invoice.vehicle?.odometer.map { "\($0.reading) \($0.unit.rawValue)" })
        return out.isEmpty ? nil : out
    }

    /// The body that voids or deletes an invoice: its id and current `SyncToken`.
    public static func invoiceReference(_ existing: ERPVersionedID) -> QuickBooksOnlinePayloads.Invoice {
        QuickBooksOnlinePayloads.Invoice(id: existing.id, syncToken: existing.version)
    }

    /// The record of an invoice body from a response, with QuickBooks' totals.
    public static func invoiceRecord(_ invoice: QuickBooksOnlinePayloads.Invoice) -> ERPInvoiceRecord? {
        guard let id = invoice.id else { return nil }
        var totals: ERPTotals?
        if let total = invoice.totalAmt?.money {
            totals = ERPTotals(
                total: total, taxTotal: invoice.txnTaxDetail?.totalTax?.money, balance: invoice.balance?.money)
        }
        return ERPInvoiceRecord(
            erpID: id, version: invoice.syncToken, number: invoice.docNumber, status: invoice.status,
            customerID: invoice.customerRef?.value, ourReference: OwnershipMarker.id(in: invoice.privateNote),
            totals: totals, lastUpdated: invoice.metaData?.lastUpdatedTime)
    }

    // MARK: Payments

    /// The body that records a payment against an invoice, deposited to the mapped account.
    /// - Throws: ``ConnectorFailure`` `erp.mapping_incomplete` (`payments.deposit_account`).
    public static func payment(_ document: PaymentDocument, mapping: MappingConfiguration) throws
        -> QuickBooksOnlinePayloads.Payment
    {
        guard let deposit = mapping.payments.depositAccount else {
            throw ConnectorFailure.mappingIncomplete(
                .quickbooksOnline, .createPayment, field: "payments.deposit_account",
                message: "No payment deposit account is mapped")
        }
        let payment = document.payment
        let amount = JSONNumber(payment.amount)
        let link = QuickBooksOnlinePayloads.LinkedTxn(txnId: document.invoice.id, txnType: "Invoice")
        return QuickBooksOnlinePayloads.Payment(
            customerRef: ref(document.customer), totalAmt: amount, txnDate: payment.paymentDate.description,
            depositToAccountRef: ref(deposit),
            paymentMethodRef: mapping.payments.methods[payment.method.rawValue].map(ref),
            paymentRefNum: payment.reference.map { String($0.prefix(maxPaymentRefNumLength)) },
            privateNote: OwnershipMarker.text(for: payment.paymentID),
            currencyRef: QuickBooksOnlinePayloads.Ref(document.currency.code),
            departmentRef: mapping.location(document.location)?.department.map(ref),
            line: [QuickBooksOnlinePayloads.Line(amount: amount, linkedTxn: [link])])
    }

    /// The record of a payment body from a response.
    public static func paymentRecord(_ payment: QuickBooksOnlinePayloads.Payment) -> ERPPaymentRecord? {
        guard let id = payment.id else { return nil }
        let invoices = (payment.line ?? []).flatMap { $0.linkedTxn ?? [] }.filter { $0.txnType == "Invoice" }.map(
            \.txnId)
        return ERPPaymentRecord(
            erpID: id, version: payment.syncToken, amount: payment.totalAmt?.money, invoiceIDs: invoices,
            ourReference: OwnershipMarker.id(in: payment.privateNote), lastUpdated: payment.metaData?.lastUpdatedTime)
    }

    // MARK: Queries

    /// A string literal of the QuickBooks query language: single quotes, with `\` and `'` escaped by a
    /// backslash (`O'Brien` → `'O\'Brien'`).
    public static func quoted(_ literal: String) -> String {
        "'" + literal.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }

    /// Customers with any of these display names (our customer and its suffixed variants).
    public static func customerQuery(displayNames: [String]) -> String {
        if displayNames.count == 1 { return "select * from Customer where DisplayName = \(quoted(displayNames[0]))" }
        return "select * from Customer where DisplayName in (\(displayNames.map(quoted).joined(separator: ", ")))"
    }

    /// Invoices with this `DocNumber`.
    public static func invoiceQuery(docNumber: String) -> String {
        "select * from Invoice where DocNumber = \(quoted(docNumber))"
    }

    /// Payments of a customer on a date (then matched by the ownership marker).
    public static func paymentQuery(customerID: String, date: LocalDate) -> String {
        "select * from Payment where CustomerRef = \(quoted(customerID)) and TxnDate = \(quoted(date.description))"
    }

    /// One page of an entity changed since `since`, oldest first.
    /// - Parameters:
    ///   - entity: `Customer`, `Invoice` or `Payment`.
    ///   - since: the instant.
    ///   - start: the 1-based position of the first row.
    ///   - max: the page size (≤ 1,000).
    public static func changesQuery(entity: String, since: Date, start: Int, max: Int) -> String {
        let instant = quoted(since.formatted(Date.ISO8601FormatStyle()))
        return "select * from \(entity) where MetaData.LastUpdatedTime >= \(instant)"
            + " orderby MetaData.LastUpdatedTime startposition \(start) maxresults \(max)"
    }

    // MARK: Helpers

    static func ref(_ reference: ERPReference) -> QuickBooksOnlinePayloads.Ref {
        QuickBooksOnlinePayloads.Ref(reference.id, name: reference.name)
    }
}
