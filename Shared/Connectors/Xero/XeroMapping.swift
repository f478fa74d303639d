import Crypto
public import Domain
public import Foundation

/// Pure functions between canonical values and Xero payloads: no I/O, no state.
///
/// Mapping table (also in `docs/connectors.md`):
///
/// | canonical | Xero |
/// |---|---|
/// | invoice | `Invoice` with `Type` `ACCREC`, `LineAmountTypes` `Exclusive` |
/// | `invoice_number` | `InvoiceNumber` |
/// | repair-order number (else work order, else job) | `Reference` |
/// | `issue_date` / `due_date` (issue date when absent) | `Date` / `DueDate` |
/// | `status` draft / other | `Status` `DRAFT` / `AUTHORISED` |
/// | customer (found or created) | `Contact.ContactID` |
/// | `currency` | `CurrencyCode` |
/// | vehicle, VIN, odometer | a first, description-only line item |
/// | each line (discounts included, negative) | `LineItems[]`: `Description`, `Quantity`, `UnitAmount`, `LineAmount`, `AccountCode` (`lines.<kind>.account`), `ItemCode` (`lines.<kind>.item`, optional), `TaxType` (`tax.codes[tax_code]`, else `tax.taxable` / `tax.non_taxable`), `TaxAmount` (tax lines spread by ``TaxAllocation``) |
/// | location | `Tracking` `[{Name, Option}]` on every priced line |
/// | `customer_id` | contact `ContactNumber` (ids over 50 characters: `ll-` + 47 hex of SHA-256) |
/// | payment | `Payment` `{Invoice.InvoiceID, Account.Code (payments.deposit_account), Date, Amount, Reference}` |
/// | `payment_id` | payment `Reference` ending `Ledgerline ref: <payment_id>` |
public enum XeroMapping {
    /// The longest `ContactNumber` Xero accepts (OAS `maxLength`).
    public static let maxContactNumberLength = 50

    // MARK: Contacts

    /// The `ContactNumber` carrying a shop customer id: the id itself when it fits in 50 characters, else
    /// `ll-` and the first 47 hex digits of its SHA-256.
    public static func contactNumber(for customerID: String) -> String {
        if customerID.count <= maxContactNumberLength { return customerID }
        return "ll-" + String(SHA256.hex(Array(customerID.utf8)).prefix(maxContactNumberLength - 3))
    }

    /// The body that creates `customer` as a contact named `name`.
    public static func contact(_ customer: Customer, name: String) -> XeroPayloads.Contact {
        let address = customer.billingAddress.map {
            XeroPayloads.Address(
                addressType: "POBOX", addressLine1: $0.line1, addressLine2: $0.line2, city: $0.city, region: $0.region,
                postalCode: $0.postalCode, country: $0.country)
        }
        return XeroPayloads.Contact(
            contactNumber: contactNumber(for: customer.customerID), name: name, emailAddress: customer.email,
            phones: customer.phone.map { [XeroPayloads.Phone(phoneType: "DEFAULT", phoneNumber: $0)] },
            addresses: address.map { [$0] })
    }

    /// The record of a contact from an answer; ``ERPCustomerRecord/ourReference`` is its `ContactNumber`.
    public static func customerRecord(_ contact: XeroPayloads.Contact) -> ERPCustomerRecord? {
        guard let id = contact.contactID else { return nil }
        return ERPCustomerRecord(
            erpID: id, version: contact.updatedDateUTC, displayName: contact.name ?? "",
            ourReference: contact.contactNumber,
            active: contact.contactStatus.map { $0 == "ACTIVE" }, lastUpdated: contact.updatedDateUTC)
    }

    /// The pulled record of an item (reference data; the amount is the sales unit price).
    public static func itemRecord(_ item: XeroPayloads.Item) -> ERPReferenceRecord? {
        guard let id = item.itemID else { return nil }
        return ERPReferenceRecord(
            kind: .item, erpID: id, version: item.updatedDateUTC, name: item.name ?? item.code ?? "", code: item.code,
            active: item.isSold, amount: item.salesDetails?.unitPrice?.decimal, lastUpdated: item.updatedDateUTC)
    }

    /// The pulled record of a tax rate (its `TaxType` is the id; Xero gives rates no update time, so the version
    /// is the content: name, status and effective rate).
    public static func taxRateRecord(_ rate: XeroPayloads.TaxRate) -> ERPReferenceRecord? {
        guard let type = rate.taxType else { return nil }
        let effective = rate.effectiveRate?.decimal
        let version = "\(rate.name ?? "")|\(rate.status ?? "")|\(effective.map { "\($0)" } ?? "")"
        return ERPReferenceRecord(
            kind: .taxRate, erpID: type, version: version,
            name: rate.name ?? type, code: type, active: rate.status.map { $0 == "ACTIVE" }, amount: effective,
            status: rate.status)
    }

    // MARK: Invoices

    /// The invoice body (create, or update when `existing` is given).
    /// - Throws: ``ConnectorFailure`` `erp.mapping_incomplete` naming the missing mapping entry.
    public static func invoice(
        _ document: InvoiceDocument, mapping: MappingConfiguration, existing: ERPVersionedID? = nil
    ) throws -> XeroPayloads.Invoice {
        let invoice = document.invoice
        let operation: ConnectorOperation = existing == nil ? .createInvoice : .updateInvoice
        let tracking = mapping.location(document.location)?.tracking.map {
            XeroPayloads.LineItemTracking(name: $0.category, option: $0.option)
        }
        let taxes = TaxAllocation.perLine(invoice)
        var items: [XeroPayloads.LineItem] = []
        if let vehicle = invoice.vehicle.flatMap(DocumentText.vehicle) {
            items.append(XeroPayloads.LineItem(description: vehicle))
        }
        for (index, line) in invoice.lines.enumerated() {
            let entry = mapping.lines[line.kind]
            guard let account = entry.account else {
                throw ConnectorFailure.mappingIncomplete(
                    .xero, operation, field: "lines.\(line.kind.rawValue).account",
                    message: "No Xero account code is mapped for \(line.kind.rawValue) lines")
            }
            guard let taxType = mapping.lineTaxCode(for: line) else {
                let key = line.taxCode.map { "tax.codes.\($0)" } ?? (line.taxable ? "tax.taxable" : "tax.non_taxable")
                throw ConnectorFailure.mappingIncomplete(
                    .xero, operation, field: key, message: "No Xero tax type is mapped for \(key)")
            }
            items.append(
                XeroPayloads.LineItem(
                    description: line.description, quantity: JSONNumber(line.quantity),
                    unitAmount: JSONNumber(line.unitPrice), itemCode: entry.item?.id, accountCode: account.id,
                    taxType: taxType.id, taxAmount: JSONNumber(taxes[index]), lineAmount: JSONNumber(line.amount),
                    tracking: tracking.flatMap { $0.isEmpty ? nil : $0 }))
        }
        return XeroPayloads.Invoice(
            type: "ACCREC", contact: XeroPayloads.Contact(contactID: document.customer.id), lineItems: items,
            date: invoice.issueDate.description, dueDate: (invoice.dueDate ?? invoice.issueDate).description,
            lineAmountTypes: "Exclusive", invoiceNumber: invoice.invoiceNumber,
            reference: DocumentText.workReference(invoice),
            currencyCode: invoice.currency.code, status: invoice.status == .draft ? "DRAFT" : "AUTHORISED",
            invoiceID: existing?.id)
    }

    /// The body that changes only an invoice's status (`VOIDED`, `DELETED`).
    public static func statusChange(_ existing: ERPVersionedID, to status: String) -> XeroPayloads.Invoice {
        XeroPayloads.Invoice(status: status, invoiceID: existing.id)
    }

    /// The record of an invoice from an answer, with Xero's totals.
    public static func invoiceRecord(_ invoice: XeroPayloads.Invoice) -> ERPInvoiceRecord? {
        guard let id = invoice.invoiceID else { return nil }
        var totals: ERPTotals?
        if let total = invoice.total?.money {
            totals = ERPTotals(total: total, taxTotal: invoice.totalTax?.money, balance: invoice.amountDue?.money)
        }
        return ERPInvoiceRecord(
            erpID: id, version: invoice.updatedDateUTC, number: invoice.invoiceNumber, status: invoice.status,
            customerID: invoice.contact?.contactID, ourReference: nil, totals: totals,
            lastUpdated: invoice.updatedDateUTC)
    }

    // MARK: Payments

    /// The payment's `Reference`: the shop's reference (if any) and the ownership marker.
    public static func paymentReference(_ payment: Payment) -> String {
        let marker = OwnershipMarker.text(for: payment.paymentID)
        return payment.reference.map { "\($0) | \(marker)" } ?? marker
    }

    /// The body that records a payment against an invoice, to the mapped deposit account.
    /// - Throws: ``ConnectorFailure`` `erp.mapping_incomplete` (`payments.deposit_account`).
    public static func payment(_ document: PaymentDocument, mapping: MappingConfiguration) throws
        -> XeroPayloads.Payment
    {
        guard let account = mapping.payments.depositAccount else {
            throw ConnectorFailure.mappingIncomplete(
                .xero, .createPayment, field: "payments.deposit_account",
                message: "No payment deposit account is mapped")
        }
        return XeroPayloads.Payment(
            invoice: XeroPayloads.Invoice(invoiceID: document.invoice.id),
            account: XeroPayloads.Account(code: account.id),
            date: document.payment.paymentDate.description, amount: JSONNumber(document.payment.amount),
            reference: paymentReference(document.payment))
    }

    /// The record of a payment from an answer.
    public static func paymentRecord(_ payment: XeroPayloads.Payment, invoiceID: String? = nil) -> ERPPaymentRecord? {
        guard let id = payment.paymentID else { return nil }
        let invoices = [payment.invoice?.invoiceID ?? invoiceID].compactMap { $0 }
        return ERPPaymentRecord(
            erpID: id, version: payment.updatedDateUTC, amount: payment.amount?.money, invoiceIDs: invoices,
            ourReference: OwnershipMarker.id(in: payment.reference), lastUpdated: payment.updatedDateUTC)
    }

    // MARK: Filters

    /// A string literal of Xero's `where` syntax: double quotes, with `\` and `"` escaped by a backslash.
    public static func quoted(_ literal: String) -> String {
        "\"" + literal.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// `ContactNumber=="…"`
    public static func contactNumberFilter(_ customerID: String) -> String {
        "ContactNumber==\(quoted(contactNumber(for: customerID)))"
    }

    /// `Name=="…"`
    public static func contactNameFilter(_ name: String) -> String { "Name==\(quoted(name))" }

    /// The `If-Modified-Since` value for pulls (ISO 8601 UTC, as in the OAS example).
    public static func modifiedSince(_ date: Date) -> String { date.formatted(Date.ISO8601FormatStyle()) }
}
