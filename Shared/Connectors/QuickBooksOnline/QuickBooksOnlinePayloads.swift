/// QuickBooks Online Accounting API v3 JSON bodies, in the wire shape.
///
/// JSON property names equal the element and attribute names of Intuit's V3 XSDs
/// (`erp-specs/quickbooks-online/Finance.xsd`, `IntuitBaseTypes.xsd`, `IntuitRestServiceDef.xsd`); the
/// contract tests check every key a request uses against them. Only the fields Ledgerline writes or reads are
/// modelled; unknown response fields are ignored. Amounts are ``JSONNumber`` (exact). Optional properties
/// left `nil` are not sent.
///
/// The types are public so the `erp-sim` simulator can decode the same requests.
public enum QuickBooksOnlinePayloads {
    /// `ReferenceType`: `{"value": "11", "name": "Parts"}`.
    public struct Ref: Codable, Sendable, Hashable {
        /// The referenced entity's id.
        public var value: String
        /// Its name (informative).
        public var name: String?

        /// Creates a reference.
        public init(_ value: String, name: String? = nil) {
            self.value = value
            self.name = name
        }
    }

    /// `MemoRef`: `{"value": "text"}`.
    public struct MemoRef: Codable, Sendable, Hashable {
        /// The memo text.
        public var value: String

        /// Creates a memo.
        public init(_ value: String) { self.value = value }
    }

    /// `ModificationMetaData` (read only).
    public struct MetaData: Codable, Sendable, Hashable {
        /// When the entity was created.
        public var createTime: String?
        /// When it was last changed.
        public var lastUpdatedTime: String?

        enum CodingKeys: String, CodingKey {
            case createTime = "CreateTime", lastUpdatedTime = "LastUpdatedTime"
        }
    }

    /// `CustomField` (sales-form custom fields, `StringType`).
    public struct CustomField: Codable, Sendable, Hashable {
        /// The definition id (`"1"`, `"2"`, `"3"`).
        public var definitionId: String
        /// The field's name.
        public var name: String?
        /// `StringType`.
        public var type: String?
        /// The value.
        public var stringValue: String?

        /// Creates a string custom field.
        public init(definitionId: String, name: String?, stringValue: String) {
            self.definitionId = definitionId
            self.name = name
            self.type = "StringType"
            self.stringValue = stringValue
        }

        enum CodingKeys: String, CodingKey {
            case definitionId = "DefinitionId", name = "Name", type = "Type", stringValue = "StringValue"
        }
    }

    /// `EmailAddress`.
    public struct EmailAddress: Codable, Sendable, Hashable {
        /// The address.
        public var address: String?

        /// Creates an e-mail address.
        public init(_ address: String) { self.address = address }

        enum CodingKeys: String, CodingKey { case address = "Address" }
    }

    /// `TelephoneNumber`.
    public struct TelephoneNumber: Codable, Sendable, Hashable {
        /// The number as entered.
        public var freeFormNumber: String?

        /// Creates a phone number.
        public init(_ number: String) { self.freeFormNumber = number }

        enum CodingKeys: String, CodingKey { case freeFormNumber = "FreeFormNumber" }
    }

    /// `PhysicalAddress`.
    public struct PhysicalAddress: Codable, Sendable, Hashable {
        /// Street.
        public var line1: String?
        /// Suite, unit.
        public var line2: String?
        /// City.
        public var city: String?
        /// State / region.
        public var countrySubDivisionCode: String?
        /// Postal code.
        public var postalCode: String?
        /// Country.
        public var country: String?

        /// Creates an address.
        public init(
            line1: String?, line2: String?, city: String?, countrySubDivisionCode: String?, postalCode: String?,
            country: String?
        ) {
            self.line1 = line1
            self.line2 = line2
            self.city = city
            self.countrySubDivisionCode = countrySubDivisionCode
            self.postalCode = postalCode
            self.country = country
        }

        enum CodingKeys: String, CodingKey {
            case line1 = "Line1", line2 = "Line2", city = "City", countrySubDivisionCode = "CountrySubDivisionCode"
            case postalCode = "PostalCode", country = "Country"
        }
    }

    /// `Customer`.
    public struct Customer: Codable, Sendable, Hashable {
        /// The id (responses, updates).
        public var id: String?
        /// The concurrency token (responses, updates).
        public var syncToken: String?
        /// The unique display name.
        public var displayName: String?
        /// The company name.
        public var companyName: String?
        /// Billing e-mail.
        public var primaryEmailAddr: EmailAddress?
        /// Phone.
        public var primaryPhone: TelephoneNumber?
        /// Billing address.
        public var billAddr: PhysicalAddress?
        /// Free-form notes; Ledgerline's ownership marker goes here.
        public var notes: String?
        /// Active flag (responses).
        public var active: Bool?
        /// The customer's currency (multicurrency companies).
        public var currencyRef: Ref?
        /// Read-only metadata.
        public var metaData: MetaData?

        /// Creates a customer body.
        public init(
            id: String? = nil, syncToken: String? = nil, displayName: String? = nil, companyName: String? = nil,
            primaryEmailAddr: EmailAddress? = nil, primaryPhone: TelephoneNumber? = nil,
            billAddr: PhysicalAddress? = nil,
            notes: String? = nil, active: Bool? = nil, currencyRef: Ref? = nil
        ) {
            self.id = id
            self.syncToken = syncToken
            self.displayName = displayName
            self.companyName = companyName
            self.primaryEmailAddr = primaryEmailAddr
            self.primaryPhone = primaryPhone
            self.billAddr = billAddr
            self.notes = notes
            self.active = active
            self.currencyRef = currencyRef
        }

        enum CodingKeys: String, CodingKey {
            case id = "Id", syncToken = "SyncToken", displayName = "DisplayName", companyName = "CompanyName"
            case primaryEmailAddr = "PrimaryEmailAddr", primaryPhone = "PrimaryPhone", billAddr = "BillAddr"
            case notes = "Notes", active = "Active", currencyRef = "CurrencyRef", metaData = "MetaData"
        }
    }

    /// `SalesItemLineDetail`.
    public struct SalesItemLineDetail: Codable, Sendable, Hashable {
        /// The item sold.
        public var itemRef: Ref?
        /// The class, when classes are tracked per line.
        public var classRef: Ref?
        /// Price per unit (hourly rate for labor).
        public var unitPrice: JSONNumber?
        /// Quantity (hours for labor; negative for returns and core credits).
        public var qty: JSONNumber?
        /// `TAX` / `NON` (US) or a tax code id (elsewhere).
        public var taxCodeRef: Ref?

        /// Creates a detail.
        public init(itemRef: Ref?, classRef: Ref?, unitPrice: JSONNumber?, qty: JSONNumber?, taxCodeRef: Ref?) {
            self.itemRef = itemRef
            self.classRef = classRef
            self.unitPrice = unitPrice
            self.qty = qty
            self.taxCodeRef = taxCodeRef
        }

        enum CodingKeys: String, CodingKey {
            case itemRef = "ItemRef", classRef = "ClassRef", unitPrice = "UnitPrice", qty = "Qty"
            case taxCodeRef = "TaxCodeRef"
        }
    }

    /// `DiscountLineDetail`.
    public struct DiscountLineDetail: Codable, Sendable, Hashable {
        /// `false`: the line's `Amount` is the discount.
        public var percentBased: Bool?
        /// The account discounts post to (the company default when absent).
        public var discountAccountRef: Ref?
        /// The class, when classes are tracked per line.
        public var classRef: Ref?
        /// The tax code of the discount (line tax model).
        public var taxCodeRef: Ref?

        /// Creates a detail.
        public init(percentBased: Bool?, discountAccountRef: Ref?, classRef: Ref?, taxCodeRef: Ref? = nil) {
            self.percentBased = percentBased
            self.discountAccountRef = discountAccountRef
            self.classRef = classRef
            self.taxCodeRef = taxCodeRef
        }

        enum CodingKeys: String, CodingKey {
            case percentBased = "PercentBased", discountAccountRef = "DiscountAccountRef", classRef = "ClassRef"
            case taxCodeRef = "TaxCodeRef"
        }
    }

    /// `LinkedTxn`.
    public struct LinkedTxn: Codable, Sendable, Hashable {
        /// The linked transaction's id.
        public var txnId: String
        /// Its type, e.g. `Invoice`.
        public var txnType: String

        /// Creates a link.
        public init(txnId: String, txnType: String) {
            self.txnId = txnId
            self.txnType = txnType
        }

        enum CodingKeys: String, CodingKey { case txnId = "TxnId", txnType = "TxnType" }
    }

    /// `Line`.
    public struct Line: Codable, Sendable, Hashable {
        /// The line id (responses).
        public var id: String?
        /// The 1-based position.
        public var lineNum: Int?
        /// What was billed.
        public var description: String?
        /// The line amount.
        public var amount: JSONNumber?
        /// `SalesItemLineDetail`, `DiscountLineDetail`, `SubTotalLineDetail`, …
        public var detailType: String?
        /// The sales line detail.
        public var salesItemLineDetail: SalesItemLineDetail?
        /// The discount line detail.
        public var discountLineDetail: DiscountLineDetail?
        /// Links (payment lines → invoices).
        public var linkedTxn: [LinkedTxn]?

        /// Creates a line.
        public init(
            id: String? = nil, lineNum: Int? = nil, description: String? = nil, amount: JSONNumber?,
            detailType: String? = nil, salesItemLineDetail: SalesItemLineDetail? = nil,
            discountLineDetail: DiscountLineDetail? = nil, linkedTxn: [LinkedTxn]? = nil
        ) {
            self.id = id
            self.lineNum = lineNum
            self.description = description
            self.amount = amount
            self.detailType = detailType
            self.salesItemLineDetail = salesItemLineDetail
            self.discountLineDetail = discountLineDetail
            self.linkedTxn = linkedTxn
        }

        enum CodingKeys: String, CodingKey {
            case id = "Id", lineNum = "LineNum", description = "Description", amount = "Amount"
            case detailType = "DetailType", salesItemLineDetail = "SalesItemLineDetail"
            case discountLineDetail = "DiscountLineDetail", linkedTxn = "LinkedTxn"
        }
    }

    /// `TxnTaxDetail`.
    public struct TxnTaxDetail: Codable, Sendable, Hashable {
        /// The sales tax code or group of the transaction (US).
        public var txnTaxCodeRef: Ref?
        /// The total tax, stated so QuickBooks' total equals the shop's.
        public var totalTax: JSONNumber?

        /// Creates a tax detail.
        public init(txnTaxCodeRef: Ref?, totalTax: JSONNumber?) {
            self.txnTaxCodeRef = txnTaxCodeRef
            self.totalTax = totalTax
        }

        enum CodingKeys: String, CodingKey { case txnTaxCodeRef = "TxnTaxCodeRef", totalTax = "TotalTax" }
    }

    /// `Invoice`: create, sparse update, void and delete bodies, and responses.
    public struct Invoice: Codable, Sendable, Hashable {
        /// The id (updates, void, delete, responses).
        public var id: String?
        /// The concurrency token (updates, void, delete, responses).
        public var syncToken: String?
        /// `true` for a sparse update (only the fields sent change).
        public var sparse: Bool?
        /// The shop's invoice number (≤ 21 characters).
        public var docNumber: String?
        /// The issue date `YYYY-MM-DD`.
        public var txnDate: String?
        /// The due date.
        public var dueDate: String?
        /// The customer billed.
        public var customerRef: Ref?
        /// The currency.
        public var currencyRef: Ref?
        /// The class of the location (transaction level).
        public var classRef: Ref?
        /// The department (location) of the shop location.
        public var departmentRef: Ref?
        /// Repair order, VIN, odometer and the ownership marker (not printed).
        public var privateNote: String?
        /// The notes printed for the customer.
        public var customerMemo: MemoRef?
        /// Custom fields (repair-order number, VIN, odometer when mapped).
        public var customField: [CustomField]?
        /// The lines.
        public var line: [Line]?
        /// Transaction tax (US: code and total).
        public var txnTaxDetail: TxnTaxDetail?
        /// Outside the US: `TaxExcluded`, `TaxInclusive` or `NotApplicable`.
        public var globalTaxCalculation: String?
        /// The e-mail address invoices are sent to.
        public var billEmail: EmailAddress?
        /// The total as QuickBooks computed it (responses).
        public var totalAmt: JSONNumber?
        /// What is still owed (responses).
        public var balance: JSONNumber?
        /// `Deleted` / `Voided` state in some responses (attribute `status`).
        public var status: String?
        /// Read-only metadata.
        public var metaData: MetaData?

        /// Creates an invoice body.
        public init(
            id: String? = nil, syncToken: String? = nil, sparse: Bool? = nil, docNumber: String? = nil,
            txnDate: String? = nil, dueDate: String? = nil, customerRef: Ref? = nil, currencyRef: Ref? = nil,
            classRef: Ref? = nil, departmentRef: Ref? = nil, privateNote: String? = nil, customerMemo: MemoRef? = nil,
            customField: [CustomField]? = nil, line: [Line]? = nil, txnTaxDetail: TxnTaxDetail? = nil,
            globalTaxCalculation: String? = nil, billEmail: EmailAddress? = nil
        ) {
            self.id = id
            self.syncToken = syncToken
            self.sparse = sparse
            self.docNumber = docNumber
            self.txnDate = txnDate
            self.dueDate = dueDate
            self.customerRef = customerRef
            self.currencyRef = currencyRef
            self.classRef = classRef
            self.departmentRef = departmentRef
            self.privateNote = privateNote
            self.customerMemo = customerMemo
            self.customField = customField
            self.line = line
            self.txnTaxDetail = txnTaxDetail
            self.globalTaxCalculation = globalTaxCalculation
            self.billEmail = billEmail
        }

        enum CodingKeys: String, CodingKey {
            case id = "Id", syncToken = "SyncToken", sparse, docNumber = "DocNumber", txnDate = "TxnDate"
            case dueDate = "DueDate", customerRef = "CustomerRef", currencyRef = "CurrencyRef", classRef = "ClassRef"
            case departmentRef = "DepartmentRef", privateNote = "PrivateNote", customerMemo = "CustomerMemo"
            case customField = "CustomField", line = "Line", txnTaxDetail = "TxnTaxDetail"
            case globalTaxCalculation = "GlobalTaxCalculation", billEmail = "BillEmail", totalAmt = "TotalAmt"
            case balance = "Balance", status, metaData = "MetaData"
        }
    }

    /// `Payment`.
    public struct Payment: Codable, Sendable, Hashable {
        /// The id (responses).
        public var id: String?
        /// The concurrency token (responses).
        public var syncToken: String?
        /// The paying customer.
        public var customerRef: Ref?
        /// The amount received.
        public var totalAmt: JSONNumber?
        /// The date received.
        public var txnDate: String?
        /// The account the money is deposited to (the connection's payment deposit account).
        public var depositToAccountRef: Ref?
        /// The payment method.
        public var paymentMethodRef: Ref?
        /// Cheque number or other reference (≤ 21 characters).
        public var paymentRefNum: String?
        /// The ownership marker (not printed).
        public var privateNote: String?
        /// The currency.
        public var currencyRef: Ref?
        /// The department (location).
        public var departmentRef: Ref?
        /// The lines applying the payment to invoices.
        public var line: [Line]?
        /// Read-only metadata.
        public var metaData: MetaData?

        /// Creates a payment body.
        public init(
            customerRef: Ref?, totalAmt: JSONNumber?, txnDate: String?, depositToAccountRef: Ref?,
            paymentMethodRef: Ref?, paymentRefNum: String?, privateNote: String?, currencyRef: Ref?,
            departmentRef: Ref?, line: [Line]?
        ) {
            self.customerRef = customerRef
            self.totalAmt = totalAmt
            self.txnDate = txnDate
            self.depositToAccountRef = depositToAccountRef
            self.paymentMethodRef = paymentMethodRef
            self.paymentRefNum = paymentRefNum
            self.privateNote = privateNote
            self.currencyRef = currencyRef
            self.departmentRef = departmentRef
            self.line = line
        }

        enum CodingKeys: String, CodingKey {
            case id = "Id", syncToken = "SyncToken", customerRef = "CustomerRef", totalAmt = "TotalAmt"
            case txnDate = "TxnDate", depositToAccountRef = "DepositToAccountRef", paymentMethodRef = "PaymentMethodRef"
            case paymentRefNum = "PaymentRefNum", privateNote = "PrivateNote", currencyRef = "CurrencyRef"
            case departmentRef = "DepartmentRef", line = "Line", metaData = "MetaData"
        }
    }

    /// One `Error` of a `Fault`. Accepts both the documented PascalCase keys and the lower-case keys of
    /// Intuit's gateway answers (401, 429).
    public struct FaultError: Codable, Sendable, Hashable {
        /// The message, e.g. `Duplicate Document Number Error`.
        public var message: String?
        /// The detail.
        public var detail: String?
        /// The error code (attribute), e.g. `6140`.
        public var code: String?
        /// The element blamed (attribute), e.g. `DocNumber`.
        public var element: String?

        /// Creates an error.
        public init(message: String?, detail: String?, code: String?, element: String?) {
            self.message = message
            self.detail = detail
            self.code = code
            self.element = element
        }

        enum CodingKeys: String, CodingKey {
            case message = "Message", detail = "Detail", code, element
            case lowerMessage = "message", lowerDetail = "detail"
        }

        /// Decodes either spelling.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            message =
                try container.decodeIfPresent(String.self, forKey: .message)
                ?? container.decodeIfPresent(String.self, forKey: .lowerMessage)
            detail =
                try container.decodeIfPresent(String.self, forKey: .detail)
                ?? container.decodeIfPresent(String.self, forKey: .lowerDetail)
            code = try container.decodeIfPresent(String.self, forKey: .code)
            element = try container.decodeIfPresent(String.self, forKey: .element)
        }

        /// Encodes the documented spelling.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(message, forKey: .message)
            try container.encodeIfPresent(detail, forKey: .detail)
            try container.encodeIfPresent(code, forKey: .code)
            try container.encodeIfPresent(element, forKey: .element)
        }
    }

    /// `Fault`: `{"Error": [...], "type": "ValidationFault"}` (or the gateway's lower-case `error`).
    public struct Fault: Codable, Sendable, Hashable {
        /// The errors.
        public var errors: [FaultError]
        /// `ValidationFault`, `SystemFault`, `AuthenticationFault`, `AuthorizationFault`, `SERVICE`, …
        public var type: String?

        /// Creates a fault.
        public init(errors: [FaultError], type: String?) {
            self.errors = errors
            self.type = type
        }

        enum CodingKeys: String, CodingKey { case errors = "Error", lowerErrors = "error", type }

        /// Decodes either spelling.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            errors =
                try container.decodeIfPresent([FaultError].self, forKey: .errors)
                ?? container.decodeIfPresent([FaultError].self, forKey: .lowerErrors) ?? []
            type = try container.decodeIfPresent(String.self, forKey: .type)
        }

        /// Encodes the documented spelling.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(errors, forKey: .errors)
            try container.encodeIfPresent(type, forKey: .type)
        }
    }

    /// `QueryResponse`.
    public struct QueryResponse: Codable, Sendable, Hashable {
        /// Customers found.
        public var customer: [Customer]?
        /// Invoices found.
        public var invoice: [Invoice]?
        /// Payments found.
        public var payment: [Payment]?
        /// Items found.
        public var item: [Item]?
        /// Tax rates found.
        public var taxRate: [TaxRate]?
        /// 1-based position of the first row.
        public var startPosition: Int?
        /// Rows returned.
        public var maxResults: Int?

        enum CodingKeys: String, CodingKey {
            case customer = "Customer", invoice = "Invoice", payment = "Payment", item = "Item", taxRate = "TaxRate"
            case startPosition, maxResults
        }
    }

    /// `Item` (read by pulls; the fields Ledgerline keeps).
    public struct Item: Codable, Sendable, Hashable {
        /// The id.
        public var id: String?
        /// The version.
        public var syncToken: String?
        /// The name.
        public var name: String?
        /// The stock-keeping unit.
        public var sku: String?
        /// Whether it is active.
        public var active: Bool?
        /// `Service`, `NonInventory`, `Inventory`, `Category`.
        public var type: String?
        /// The sales price.
        public var unitPrice: JSONNumber?
        /// Creation and update times.
        public var metaData: MetaData?

        enum CodingKeys: String, CodingKey {
            case id = "Id", syncToken = "SyncToken", name = "Name", sku = "Sku", active = "Active", type = "Type"
            case unitPrice = "UnitPrice", metaData = "MetaData"
        }
    }

    /// `TaxRate` (read by pulls; the fields Ledgerline keeps).
    public struct TaxRate: Codable, Sendable, Hashable {
        /// The id.
        public var id: String?
        /// The version.
        public var syncToken: String?
        /// The name.
        public var name: String?
        /// Whether it is active.
        public var active: Bool?
        /// The rate in percent.
        public var rateValue: JSONNumber?
        /// Creation and update times.
        public var metaData: MetaData?

        enum CodingKeys: String, CodingKey {
            case id = "Id", syncToken = "SyncToken", name = "Name", active = "Active", rateValue = "RateValue"
            case metaData = "MetaData"
        }
    }

    /// `CDCResponse`: Change Data Capture's answer, one `QueryResponse` per entity asked for (deleted objects carry
    /// only `Id`, `status: "Deleted"` and `MetaData`).
    public struct CDCResponse: Codable, Sendable, Hashable {
        /// One entry per entity.
        public var queryResponse: [QueryResponse]?

        enum CodingKeys: String, CodingKey { case queryResponse = "QueryResponse" }
    }

    /// `BatchItemRequest`: one operation of a batch.
    public struct BatchItemRequest: Codable, Sendable, Hashable {
        /// The item id, echoed in the response.
        public var bId: String
        /// `create`, `update`, `delete`, `void`.
        public var operation: String?
        /// The invoice.
        public var invoice: Invoice?
        /// A query.
        public var query: String?

        /// Creates an item.
        public init(bId: String, operation: String?, invoice: Invoice?, query: String? = nil) {
            self.bId = bId
            self.operation = operation
            self.invoice = invoice
            self.query = query
        }

        enum CodingKeys: String, CodingKey { case bId, operation, invoice = "Invoice", query = "Query" }
    }

    /// `IntuitBatchRequest`: `{"BatchItemRequest": [...]}`.
    public struct BatchRequest: Codable, Sendable, Hashable {
        /// The operations.
        public var batchItemRequest: [BatchItemRequest]

        /// Creates a batch.
        public init(_ items: [BatchItemRequest]) { self.batchItemRequest = items }

        enum CodingKeys: String, CodingKey { case batchItemRequest = "BatchItemRequest" }
    }

    /// `BatchItemResponse`: an entity or a fault per `bId`.
    public struct BatchItemResponse: Codable, Sendable, Hashable {
        /// The item id.
        public var bId: String?
        /// The invoice written.
        public var invoice: Invoice?
        /// Why this item failed.
        public var fault: Fault?

        enum CodingKeys: String, CodingKey { case bId, invoice = "Invoice", fault = "Fault" }
    }

    /// `IntuitResponse`: the envelope of every answer (one of its members is set).
    public struct IntuitResponse: Codable, Sendable, Hashable {
        /// An invoice written or read.
        public var invoice: Invoice?
        /// A customer written or read.
        public var customer: Customer?
        /// A payment written or read.
        public var payment: Payment?
        /// Query results.
        public var queryResponse: QueryResponse?
        /// Batch results.
        public var batchItemResponse: [BatchItemResponse]?
        /// Change Data Capture results (`GET /cdc`).
        public var cdcResponse: [CDCResponse]?
        /// A fault (also inside HTTP 200 answers).
        public var fault: Fault?
        /// The server time.
        public var time: String?

        enum CodingKeys: String, CodingKey {
            case invoice = "Invoice", customer = "Customer", payment = "Payment", queryResponse = "QueryResponse"
            case batchItemResponse = "BatchItemResponse", cdcResponse = "CDCResponse", fault = "Fault"
            case lowerFault = "fault", time
        }

        /// Decodes the envelope (`Fault` or the gateway's `fault`).
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            invoice = try container.decodeIfPresent(Invoice.self, forKey: .invoice)
            customer = try container.decodeIfPresent(Customer.self, forKey: .customer)
            payment = try container.decodeIfPresent(Payment.self, forKey: .payment)
            queryResponse = try container.decodeIfPresent(QueryResponse.self, forKey: .queryResponse)
            batchItemResponse = try container.decodeIfPresent([BatchItemResponse].self, forKey: .batchItemResponse)
            cdcResponse = try container.decodeIfPresent([CDCResponse].self, forKey: .cdcResponse)
            fault =
                try container.decodeIfPresent(Fault.self, forKey: .fault)
                ?? container.decodeIfPresent(Fault.self, forKey: .lowerFault)
            // The gateway writes `time` as epoch milliseconds; the API as text.
            time =
                (try? container.decodeIfPresent(String.self, forKey: .time))
                ?? (try? container.decodeIfPresent(JSONNumber.self, forKey: .time))?.text
        }

        /// Encodes the documented spelling (simulators answer with it).
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(invoice, forKey: .invoice)
            try container.encodeIfPresent(customer, forKey: .customer)
            try container.encodeIfPresent(payment, forKey: .payment)
            try container.encodeIfPresent(queryResponse, forKey: .queryResponse)
            try container.encodeIfPresent(batchItemResponse, forKey: .batchItemResponse)
            try container.encodeIfPresent(cdcResponse, forKey: .cdcResponse)
            try container.encodeIfPresent(fault, forKey: .fault)
            try container.encodeIfPresent(time, forKey: .time)
        }
    }
}
