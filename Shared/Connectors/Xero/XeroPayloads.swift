/// Xero Accounting API 2.0 JSON bodies, in the wire shape of Xero's official OpenAPI
/// (`erp-specs/xero/xero_accounting.yaml`, version 16.1.0); the contract tests check every request's keys
/// and types against its component schemas. Only the fields Ledgerline writes or reads are modelled;
/// read-only fields (`Total`, `AmountDue`, `UpdatedDateUTC`, …) are decoded from answers and never sent.
/// Amounts are ``JSONNumber`` (exact).
///
/// The types are public so the `erp-sim` simulator can decode the same requests.
public enum XeroPayloads {
    /// `ValidationError`: `{"Message": "…"}`.
    public struct ValidationError: Codable, Sendable, Hashable {
        /// The message.
        public var message: String?

        /// Creates an error.
        public init(message: String?) { self.message = message }

        enum CodingKeys: String, CodingKey { case message = "Message" }
    }

    /// `Address`.
    public struct Address: Codable, Sendable, Hashable {
        /// `POBOX` (postal / billing) or `STREET`.
        public var addressType: String?
        /// Street.
        public var addressLine1: String?
        /// Suite, unit.
        public var addressLine2: String?
        /// City.
        public var city: String?
        /// Region / state.
        public var region: String?
        /// Postal code.
        public var postalCode: String?
        /// Country.
        public var country: String?

        /// Creates an address.
        public init(
            addressType: String?, addressLine1: String?, addressLine2: String?, city: String?, region: String?,
            postalCode: String?, country: String?
        ) {
            self.addressType = addressType
            self.addressLine1 = addressLine1
            self.addressLine2 = addressLine2
            self.city = city
            self.region = region
            self.postalCode = postalCode
            self.country = country
        }

        enum CodingKeys: String, CodingKey {
            case addressType = "AddressType", addressLine1 = "AddressLine1", addressLine2 = "AddressLine2", city =
                "City"
            case region = "Region", postalCode = "PostalCode", country = "Country"
        }
    }

    /// `Phone`.
    public struct Phone: Codable, Sendable, Hashable {
        /// `DEFAULT`, `MOBILE`, …
        public var phoneType: String?
        /// The number as entered.
        public var phoneNumber: String?

        /// Creates a phone.
        public init(phoneType: String?, phoneNumber: String?) {
            self.phoneType = phoneType
            self.phoneNumber = phoneNumber
        }

        enum CodingKeys: String, CodingKey { case phoneType = "PhoneType", phoneNumber = "PhoneNumber" }
    }

    /// `Contact` (also used as the invoice's contact reference: only `ContactID`).
    public struct Contact: Codable, Sendable, Hashable {
        /// The id.
        public var contactID: String?
        /// Ledgerline's customer reference (≤ 50 characters).
        public var contactNumber: String?
        /// The unique name.
        public var name: String?
        /// Billing e-mail.
        public var emailAddress: String?
        /// Phones.
        public var phones: [Phone]?
        /// Addresses.
        public var addresses: [Address]?
        /// `ACTIVE`, `ARCHIVED` (answers).
        public var contactStatus: String?
        /// Last change (answers, read only).
        public var updatedDateUTC: String?
        /// Whether the element failed (answers with `summarizeErrors=false`).
        public var hasValidationErrors: Bool?
        /// Why it failed.
        public var validationErrors: [ValidationError]?

        /// Creates a contact body.
        public init(
            contactID: String? = nil, contactNumber: String? = nil, name: String? = nil, emailAddress: String? = nil,
            phones: [Phone]? = nil, addresses: [Address]? = nil
        ) {
            self.contactID = contactID
            self.contactNumber = contactNumber
            self.name = name
            self.emailAddress = emailAddress
            self.phones = phones
            self.addresses = addresses
        }

        enum CodingKeys: String, CodingKey {
            case contactID = "ContactID", contactNumber = "ContactNumber", name = "Name", emailAddress = "EmailAddress"
            case phones = "Phones", addresses = "Addresses", contactStatus = "ContactStatus"
            case updatedDateUTC = "UpdatedDateUTC", hasValidationErrors = "HasValidationErrors"
            case validationErrors = "ValidationErrors"
        }
    }

    /// `LineItemTracking`: a tracking category and option by name.
    public struct LineItemTracking: Codable, Sendable, Hashable {
        /// The category name, e.g. `Location`.
        public var name: String?
        /// The option, e.g. `Sacramento`.
        public var option: String?

        /// Creates a tracking entry.
        public init(name: String?, option: String?) {
            self.name = name
            self.option = option
        }

        enum CodingKeys: String, CodingKey { case name = "Name", option = "Option" }
    }

    /// `LineItem`.
    public struct LineItem: Codable, Sendable, Hashable {
        /// What was billed.
        public var description: String?
        /// Quantity (hours for labor).
        public var quantity: JSONNumber?
        /// Price per unit (up to 4 decimals with `unitdp=4`).
        public var unitAmount: JSONNumber?
        /// The item code, when mapped.
        public var itemCode: String?
        /// The income account code.
        public var accountCode: String?
        /// The tax type, e.g. `OUTPUT`, `NONE`.
        public var taxType: String?
        /// The tax of this line (the shop's tax spread over its lines).
        public var taxAmount: JSONNumber?
        /// The line amount, exclusive of tax.
        public var lineAmount: JSONNumber?
        /// Tracking categories.
        public var tracking: [LineItemTracking]?

        /// Creates a line item.
        public init(
            description: String?, quantity: JSONNumber? = nil, unitAmount: JSONNumber? = nil, itemCode: String? = nil,
            accountCode: String? = nil, taxType: String? = nil, taxAmount: JSONNumber? = nil,
            lineAmount: JSONNumber? = nil, tracking: [LineItemTracking]? = nil
        ) {
            self.description = description
            self.quantity = quantity
            self.unitAmount = unitAmount
            self.itemCode = itemCode
            self.accountCode = accountCode
            self.taxType = taxType
            self.taxAmount = taxAmount
            self.lineAmount = lineAmount
            self.tracking = tracking
        }

        enum CodingKeys: String, CodingKey {
            case description = "Description", quantity = "Quantity", unitAmount = "UnitAmount", itemCode = "ItemCode"
            case accountCode = "AccountCode", taxType = "TaxType", taxAmount = "TaxAmount", lineAmount = "LineAmount"
            case tracking = "Tracking"
        }
    }

    /// `Invoice`: sales invoices (`Type` `ACCREC`), also the reference inside a payment (only `InvoiceID`).
    public struct Invoice: Codable, Sendable, Hashable {
        /// `ACCREC` for sales invoices.
        public var type: String?
        /// The contact billed (`ContactID`).
        public var contact: Contact?
        /// The lines.
        public var lineItems: [LineItem]?
        /// The issue date `YYYY-MM-DD`.
        public var date: String?
        /// The due date.
        public var dueDate: String?
        /// `Exclusive`.
        public var lineAmountTypes: String?
        /// The shop's invoice number.
        public var invoiceNumber: String?
        /// The repair-order (or work-order) number.
        public var reference: String?
        /// The currency.
        public var currencyCode: String?
        /// `DRAFT`, `AUTHORISED`, `VOIDED`, `DELETED`.
        public var status: String?
        /// The id (updates, voids, payment references, answers).
        public var invoiceID: String?
        /// Subtotal as Xero computed it (read only).
        public var subTotal: JSONNumber?
        /// Tax as Xero computed it (read only).
        public var totalTax: JSONNumber?
        /// Total as Xero computed it (read only).
        public var total: JSONNumber?
        /// What is still owed (read only).
        public var amountDue: JSONNumber?
        /// Payments applied (read only).
        public var payments: [Payment]?
        /// Last change (read only).
        public var updatedDateUTC: String?
        /// Whether the element failed (answers with `summarizeErrors=false`).
        public var hasErrors: Bool?
        /// `OK`, `WARNING`, `ERROR` (answers with `summarizeErrors=false`).
        public var statusAttributeString: String?
        /// Why it failed.
        public var validationErrors: [ValidationError]?

        /// Creates an invoice body.
        public init(
            type: String? = nil, contact: Contact? = nil, lineItems: [LineItem]? = nil, date: String? = nil,
            dueDate: String? = nil, lineAmountTypes: String? = nil, invoiceNumber: String? = nil,
            reference: String? = nil, currencyCode: String? = nil, status: String? = nil, invoiceID: String? = nil
        ) {
            self.type = type
            self.contact = contact
            self.lineItems = lineItems
            self.date = date
            self.dueDate = dueDate
            self.lineAmountTypes = lineAmountTypes
            self.invoiceNumber = invoiceNumber
            self.reference = reference
            self.currencyCode = currencyCode
            self.status = status
            self.invoiceID = invoiceID
        }

        enum CodingKeys: String, CodingKey {
            case type = "Type", contact = "Contact", lineItems = "LineItems", date = "Date", dueDate = "DueDate"
            case lineAmountTypes = "LineAmountTypes", invoiceNumber = "InvoiceNumber", reference = "Reference"
            case currencyCode = "CurrencyCode", status = "Status", invoiceID = "InvoiceID", subTotal = "SubTotal"
            case totalTax = "TotalTax", total = "Total", amountDue = "AmountDue", payments = "Payments"
            case updatedDateUTC = "UpdatedDateUTC", hasErrors = "HasErrors", statusAttributeString =
                "StatusAttributeString"
            case validationErrors = "ValidationErrors"
        }
    }

    /// `Account` reference by code.
    public struct Account: Codable, Sendable, Hashable {
        /// The account code, e.g. `090`.
        public var code: String?
        /// The account id.
        public var accountID: String?

        /// Creates a reference by code.
        public init(code: String) {
            self.code = code
            self.accountID = nil
        }

        enum CodingKeys: String, CodingKey { case code = "Code", accountID = "AccountID" }
    }

    /// `Payment`.
    public struct Payment: Codable, Sendable, Hashable {
        /// The invoice paid (`InvoiceID`).
        public var invoice: Invoice?
        /// The account the money is deposited to.
        public var account: Account?
        /// The date received.
        public var date: String?
        /// The amount.
        public var amount: JSONNumber?
        /// The shop's reference and Ledgerline's ownership marker.
        public var reference: String?
        /// The id (answers).
        public var paymentID: String?
        /// `AUTHORISED`, `DELETED` (answers).
        public var status: String?
        /// Last change (read only).
        public var updatedDateUTC: String?
        /// Whether the element failed (answers with `summarizeErrors=false`).
        public var hasValidationErrors: Bool?
        /// Why it failed.
        public var validationErrors: [ValidationError]?

        /// Creates a payment body.
        public init(invoice: Invoice?, account: Account?, date: String?, amount: JSONNumber?, reference: String?) {
            self.invoice = invoice
            self.account = account
            self.date = date
            self.amount = amount
            self.reference = reference
        }

        enum CodingKeys: String, CodingKey {
            case invoice = "Invoice", account = "Account", date = "Date", amount = "Amount", reference = "Reference"
            case paymentID = "PaymentID", status = "Status", updatedDateUTC = "UpdatedDateUTC"
            case hasValidationErrors = "HasValidationErrors", validationErrors = "ValidationErrors"
        }
    }

    /// `Invoices`: `{"Invoices": [...]}` (requests and answers).
    public struct Invoices: Codable, Sendable, Hashable {
        /// The invoices.
        public var invoices: [Invoice]

        /// Wraps invoices.
        public init(_ invoices: [Invoice]) { self.invoices = invoices }

        enum CodingKeys: String, CodingKey { case invoices = "Invoices" }

        /// Decodes, with a missing array read as empty.
        public init(from decoder: any Decoder) throws {
            invoices =
                try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent([Invoice].self, forKey: .invoices) ?? []
        }
    }

    /// `Item` (read by pulls; the fields Ledgerline keeps).
    public struct Item: Codable, Sendable, Hashable {
        /// The id.
        public var itemID: String?
        /// The code.
        public var code: String?
        /// The name.
        public var name: String?
        /// Whether it is sold.
        public var isSold: Bool?
        /// Sales price and account.
        public var salesDetails: PurchaseDetails?
        /// When it last changed.
        public var updatedDateUTC: String?

        enum CodingKeys: String, CodingKey {
            case itemID = "ItemID", code = "Code", name = "Name", isSold = "IsSold", salesDetails = "SalesDetails"
            case updatedDateUTC = "UpdatedDateUTC"
        }
    }

    /// `Purchase` (an item's `SalesDetails`).
    public struct PurchaseDetails: Codable, Sendable, Hashable {
        /// The unit price.
        public var unitPrice: JSONNumber?
        /// The tax type.
        public var taxType: String?

        enum CodingKeys: String, CodingKey { case unitPrice = "UnitPrice", taxType = "TaxType" }
    }

    /// `Items`: `{"Items": [...]}`.
    public struct Items: Codable, Sendable, Hashable {
        /// The items.
        public var items: [Item]

        enum CodingKeys: String, CodingKey { case items = "Items" }

        /// Decodes, with a missing array read as empty.
        public init(from decoder: any Decoder) throws {
            items = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent([Item].self, forKey: .items) ?? []
        }
    }

    /// `TaxRate` (read by pulls; `TaxType` is its id).
    public struct TaxRate: Codable, Sendable, Hashable {
        /// The name.
        public var name: String?
        /// The tax type (its id).
        public var taxType: String?
        /// `ACTIVE`, `DELETED`, `ARCHIVED`, `PENDING`.
        public var status: String?
        /// The effective rate in percent.
        public var effectiveRate: JSONNumber?

        enum CodingKeys: String, CodingKey {
            case name = "Name", taxType = "TaxType", status = "Status", effectiveRate = "EffectiveRate"
        }
    }

    /// `TaxRates`: `{"TaxRates": [...]}`.
    public struct TaxRates: Codable, Sendable, Hashable {
        /// The rates.
        public var taxRates: [TaxRate]

        enum CodingKeys: String, CodingKey { case taxRates = "TaxRates" }

        /// Decodes, with a missing array read as empty.
        public init(from decoder: any Decoder) throws {
            taxRates =
                try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent([TaxRate].self, forKey: .taxRates) ?? []
        }
    }

    /// `Contacts`: `{"Contacts": [...]}`.
    public struct Contacts: Codable, Sendable, Hashable {
        /// The contacts.
        public var contacts: [Contact]

        /// Wraps contacts.
        public init(_ contacts: [Contact]) { self.contacts = contacts }

        enum CodingKeys: String, CodingKey { case contacts = "Contacts" }

        /// Decodes, with a missing array read as empty.
        public init(from decoder: any Decoder) throws {
            contacts =
                try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent([Contact].self, forKey: .contacts) ?? []
        }
    }

    /// `Payments`: `{"Payments": [...]}`.
    public struct Payments: Codable, Sendable, Hashable {
        /// The payments.
        public var payments: [Payment]

        /// Wraps payments.
        public init(_ payments: [Payment]) { self.payments = payments }

        enum CodingKeys: String, CodingKey { case payments = "Payments" }

        /// Decodes, with a missing array read as empty.
        public init(from decoder: any Decoder) throws {
            payments =
                try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent([Payment].self, forKey: .payments) ?? []
        }
    }

    /// One element of an `Error`: the object submitted, with its validation errors.
    public struct Element: Codable, Sendable, Hashable {
        /// Why the element failed.
        public var validationErrors: [ValidationError]?
        /// The invoice id, when the element is an invoice.
        public var invoiceID: String?
        /// The invoice number, when the element is an invoice (echoed, not in the OAS `Element` schema).
        public var invoiceNumber: String?
        /// The contact id, when the element is a contact.
        public var contactID: String?

        enum CodingKeys: String, CodingKey {
            case validationErrors = "ValidationErrors", invoiceID = "InvoiceID", invoiceNumber = "InvoiceNumber"
            case contactID = "ContactID"
        }
    }

    /// `Error`: the HTTP 400 body (`ValidationException`, `PostDataInvalidException`, …).
    public struct APIError: Codable, Sendable, Hashable {
        /// `10` for validation.
        public var errorNumber: Int?
        /// `ValidationException`, …
        public var type: String?
        /// The summary.
        public var message: String?
        /// The objects that failed.
        public var elements: [Element]?

        enum CodingKeys: String, CodingKey {
            case errorNumber = "ErrorNumber", type = "Type", message = "Message", elements = "Elements"
        }
    }

    /// The problem body of Xero's identity gateway (401/403): `{"Title", "Status", "Detail"}`.
    public struct Problem: Codable, Sendable, Hashable {
        /// e.g. `Unauthorized`.
        public var title: String?
        /// The HTTP status.
        public var status: Int?
        /// e.g. `AuthenticationUnsuccessful`, `TokenExpired`.
        public var detail: String?

        enum CodingKeys: String, CodingKey { case title = "Title", status = "Status", detail = "Detail" }
    }
}
