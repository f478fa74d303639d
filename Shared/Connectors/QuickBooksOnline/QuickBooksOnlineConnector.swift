public import Domain
import Foundation
public import HTTP
public import Logging

/// The QuickBooks Online Accounting API v3 connector (JSON, `minorversion=75` on every call).
///
/// Endpoints, relative to ``ConnectorConfiguration/baseURL`` (production ``productionBaseURL``, sandbox
/// ``sandboxBaseURL``, or a local `erp-sim`), with `{realm}` = ``ConnectorConfiguration/companyID``:
///
/// | operation | request |
/// |---|---|
/// | find customer / invoice / payment, pull | `GET /v3/company/{realm}/query?query=<select …>` |
/// | read by id | `GET /v3/company/{realm}/invoice/{id}`, `…/customer/{id}` |
/// | create customer | `POST /v3/company/{realm}/customer?requestid=…` |
/// | create invoice / sparse update | `POST /v3/company/{realm}/invoice?requestid=…` (update: `Id`, `SyncToken`, `sparse: true`) |
/// | void / delete | `POST /v3/company/{realm}/invoice?operation=void|delete&requestid=…` (`Id`, `SyncToken`) |
/// | payment | `POST /v3/company/{realm}/payment?requestid=…` |
/// | batch | `POST /v3/company/{realm}/batch?requestid=…` (≤ 30 items) |
///
/// Every call sends `Authorization: Bearer <token>` and `Accept: application/json`; every write carries a
/// deterministic `requestid` (≤ 50 characters, ≤ 36 for batches), so a retry returns the first answer instead
/// of a second document. Intuit's request id (`intuit_tid`) is returned in receipts and failures.
public struct QuickBooksOnlineConnector: ERPConnector {
    /// ``Domain/ERP/quickbooksOnline``.
    public static let erp = ERP.quickbooksOnline

    /// The production API host [spec: Ballerina OAS servers].
    public static let productionBaseURL = "https://quickbooks.api.intuit.com"
    /// The sandbox API host [inf].
    public static let sandboxBaseURL = "https://sandbox-quickbooks.api.intuit.com"

    /// QuickBooks Online's documented limits and rules (`erp-specs/README.md` §1, RELIABILITY.md §1.4):
    /// `requestid` ≤ 50 characters (≤ 36 for batch) [doc]; batch ≤ 30 payloads [doc; the batch page says 10,
    /// the limits page 30]; 500 requests/min per realm, 10 requests/s per realm and app, 10 concurrent per
    /// realm and app [doc, 2016 blog], 40 batch requests/min per realm and app [doc]; 429 → wait 60 s [doc];
    /// requests time out after 120 s server-side [doc]; `SyncToken` on updates [spec]; CDC look-back 30 days.
    public static let capabilities = ConnectorCapabilities(
        idempotency: IdempotencySupport(
            carrier: .queryParameter("requestid"), maxLength: 50, window: nil,
            operations: [
                .createCustomer, .createInvoice, .updateInvoice, .voidInvoice, .deleteInvoice, .createPayment,
                .pushBatch,
            ]),
        batch: BatchSupport(maxItems: 30, maxKeyLength: 36, perItemResults: true),
        rateLimits: [
            RateLimit(
                scope: .connection, kind: .rate(limit: 500, per: .seconds(60)),
                source: "[doc] Intuit limits and throttles: 500 requests/min per realm"),
            RateLimit(
                scope: .connection, kind: .rate(limit: 10, per: .seconds(1)),
                source: "[doc] Intuit limits and throttles: 10 requests/s per realm and app"),
            RateLimit(
                scope: .connection, kind: .concurrent(10),
                source: "[doc] Intuit blog 2016: 10 concurrent requests per realm and app"),
            RateLimit(
                scope: .connection, requests: .batch, kind: .rate(limit: 40, per: .seconds(60)),
                source: "[doc] Intuit limits and throttles: 40 batch requests/min per realm and app"),
        ],
        defaultRateLimitWait: .seconds(60),
        concurrencyControl: .versionToken(field: "SyncToken"),
        posting: PostingRules(
            updates: .always, canVoid: true, voidRequiresNoPayments: false, delete: .untilPaid,
            notes:
                "Invoices stay editable (sparse update with the current SyncToken); void keeps the invoice with "
                + "zero amounts; delete is refused while payments are linked [inf]."
        ),
        references: ReferenceFields(
            invoiceNumber: "DocNumber", invoiceOwnershipMarker: "PrivateNote", customerReference: "Notes",
            paymentReference: "PrivateNote", maxInvoiceNumberLength: QuickBooksOnlineMapping.maxDocNumberLength,
            uniqueCustomerNames: true),
        pull: PullSupport(entities: [.customer, .invoice, .payment], maxPageSize: 1000, maxLookback: nil),
        serverTimeout: .seconds(120))

    /// Items for every billed line kind, a deposit account for payments; tax by transaction (US) or by line;
    /// classes and departments for locations.
    public static let mappingRequirements = MappingRequirements(
        lineItem: [.part, .labor, .fee, .sublet, .coreCharge], lineAccount: [], paymentDepositAccount: true,
        taxModels: [.transaction, .line], locationDimensions: [.class, .department], maxTrackingCategories: nil)

    /// Intuit's OAuth 2.0 code flow; the company is the `realmId` on the redirect. (Intuit documents no PKCE
    /// for confidential clients, so none is sent.)
    public static let authorization = AuthorizationProfile(
        authorizeURL: "https://appcenter.intuit.com/connect/oauth2",
        tokenURL: "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
        apiBaseURL: "https://quickbooks.api.intuit.com", scopes: ["com.intuit.quickbooks.accounting"],
        supportsPKCE: false, companyDiscovery: .callbackParameter("realmId"))

    /// The connection.
    public let context: ConnectionContext
    private let http: ConnectorHTTP

    /// Creates a connector for one QuickBooks company (realm).
    public init(context: ConnectionContext, transport: any HTTPTransport) {
        self.context = context
        self.http = ConnectorHTTP(
            erp: .quickbooksOnline, context: context, transport: transport,
            requestIDHeader: QuickBooksOnlineErrors.requestIDHeader)
    }

    /// Colons, tabs and line breaks are not allowed in QuickBooks names; see
    /// ``QuickBooksOnlineMapping/displayName(for:)``.
    public static func baseDisplayName(for customer: Customer) -> String {
        QuickBooksOnlineMapping.displayName(for: customer)
    }

    // MARK: Customers

    /// Finds a customer: by our reference (the `Notes` marker, among the display name and its suffixed
    /// variants), by exact `DisplayName`, or by id.
    public func findCustomer(_ lookup: CustomerLookup, logger: Logger) async throws -> ERPCustomerRecord? {
        switch lookup {
        case .reference(let customerID, let displayName):
            let names = (1...max(1, context.mapping.customers.maxNameSuffix)).map {
                CustomerMatchingPolicy.candidateName(displayName, attempt: $0)
            }
            let found = try await query(
                QuickBooksOnlineMapping.customerQuery(displayNames: names), operation: .findCustomer, logger: logger)
            return (found.customer ?? []).compactMap(QuickBooksOnlineMapping.customerRecord).first {
                $0.ourReference == customerID
            }
        case .displayName(let name):
            let found = try await query(
                QuickBooksOnlineMapping.customerQuery(displayNames: [name]), operation: .findCustomer, logger: logger)
            return (found.customer ?? []).compactMap(QuickBooksOnlineMapping.customerRecord).first
        case .erpID(let id):
            do {
                let (envelope, _) = try await call(
                    .get, "/customer/\(ConnectorHTTP.percentEncode(id))", operation: .findCustomer, logger: logger)
                return envelope.customer.flatMap(QuickBooksOnlineMapping.customerRecord)
            } catch let failure as ConnectorFailure where failure.reason == .erpNotFound {
                return nil
            }
        }
    }

    /// Creates a customer (`POST …/customer?requestid=…`); a taken `DisplayName` is fault 6240 → `erp.duplicate`.
    public func createCustomer(
        _ customer: Customer, displayName: String, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPCustomerRecord> {
        let body = QuickBooksOnlineMapping.customer(customer, displayName: displayName)
        let (envelope, requestID) = try await call(
            .post, "/customer", body: body, key: key, operation: .createCustomer, logger: logger)
        guard let record = envelope.customer.flatMap(QuickBooksOnlineMapping.customerRecord) else {
            throw missingEntity("Customer", .createCustomer, requestID)
        }
        return WriteReceipt(record: record, erpRequestID: requestID, idempotencyKey: key)
    }

    // MARK: Invoices

    /// Finds an invoice by `DocNumber` (query) or by id (`GET …/invoice/{id}`, for its current `SyncToken`).
    public func findInvoice(_ lookup: InvoiceLookup, logger: Logger) async throws -> ERPInvoiceRecord? {
        switch lookup {
        case .number(let number):
            let found = try await query(
                QuickBooksOnlineMapping.invoiceQuery(docNumber: number), operation: .findInvoice, logger: logger)
            let records = (found.invoice ?? []).compactMap(QuickBooksOnlineMapping.invoiceRecord)
            return records.first { $0.ourReference != nil } ?? records.first
        case .erpID(let id):
            do {
                let (envelope, _) = try await call(
                    .get, "/invoice/\(ConnectorHTTP.percentEncode(id))", operation: .findInvoice, logger: logger)
                return envelope.invoice.flatMap(QuickBooksOnlineMapping.invoiceRecord)
            } catch let failure as ConnectorFailure where failure.reason == .erpNotFound {
                return nil
            }
        }
    }

    /// Creates an invoice; the receipt carries QuickBooks' `TotalAmt` checked against the shop's total.
    public func createInvoice(
        _ document: InvoiceDocument, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPInvoiceRecord> {
        let body = try QuickBooksOnlineMapping.invoice(document, mapping: context.mapping)
        return try await writeInvoice(
            body, document: document, query: [], key: key, operation: .createInvoice, logger: logger)
    }

    /// Sparse-updates an invoice with the `SyncToken` in `existing`; a stale token is fault 5010 →
    /// `erp.stale_version`.
    public func updateInvoice(
        _ document: InvoiceDocument, existing: ERPVersionedID, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPInvoiceRecord> {
        let body = try QuickBooksOnlineMapping.invoice(document, mapping: context.mapping, existing: existing)
        return try await writeInvoice(
            body, document: document, query: [], key: key, operation: .updateInvoice, logger: logger)
    }

    /// Voids an invoice (`?operation=void` with `Id` and `SyncToken`).
    public func voidInvoice(_ existing: ERPVersionedID, key: IdempotencyKey, logger: Logger) async throws
        -> WriteReceipt<ERPInvoiceRecord>
    {
        try await writeInvoice(
            QuickBooksOnlineMapping.invoiceReference(existing), document: nil, query: [("operation", "void")], key: key,
            operation: .voidInvoice, logger: logger)
    }

    /// Deletes an invoice (`?operation=delete` with `Id` and `SyncToken`); refused while payments are linked.
    public func deleteInvoice(_ existing: ERPVersionedID, key: IdempotencyKey, logger: Logger) async throws
        -> WriteReceipt<ERPInvoiceRecord>
    {
        try await writeInvoice(
            QuickBooksOnlineMapping.invoiceReference(existing), document: nil, query: [("operation", "delete")],
            key: key,
            operation: .deleteInvoice, logger: logger)
    }

    /// Pushes up to 30 invoices in one `POST …/batch` (creates and sparse updates); each item gets its own
    /// result from its `BatchItemResponse` (invoice or fault). Items whose mapping fails are not sent.
    public func pushInvoices(_ items: [BatchInvoiceItem], key: IdempotencyKey, logger: Logger) async throws
        -> [BatchItemOutcome]
    {
        let limit = Self.capabilities.batch?.maxItems ?? 0
        guard items.count <= limit else {
            throw ConnectorFailure(
                reason: .erpUnsupported, disposition: .park, erp: Self.erp, operation: .pushBatch,
                erpMessage: "A QuickBooks Online batch holds at most \(limit) items; split the batch")
        }
        var requests: [QuickBooksOnlinePayloads.BatchItemRequest] = []
        var outcomes: [Int: BatchItemOutcome] = [:]
        for (index, item) in items.enumerated() {
            do {
                let body = try QuickBooksOnlineMapping.invoice(
                    item.document, mapping: context.mapping, existing: item.existing)
                requests.append(
                    QuickBooksOnlinePayloads.BatchItemRequest(
                        bId: String(index + 1), operation: item.existing == nil ? "create" : "update", invoice: body))
            } catch let failure as ConnectorFailure {
                outcomes[index] = BatchItemOutcome(
                    invoiceID: item.document.invoice.invoiceID, result: .failure(failure))
            }
        }
        if !requests.isEmpty {
            let (envelope, requestID) = try await call(
                .post, "/batch", body: QuickBooksOnlinePayloads.BatchRequest(requests), key: key, operation: .pushBatch,
                logger: logger)
            let answers = Dictionary(
                (envelope.batchItemResponse ?? []).compactMap { answer in answer.bId.map { ($0, answer) } },
                uniquingKeysWith: { first, _ in first })
            for request in requests {
                let index = Int(request.bId)! - 1
                let item = items[index]
                let operation: ConnectorOperation = item.existing == nil ? .createInvoice : .updateInvoice
                let result: Result<WriteReceipt<ERPInvoiceRecord>, ConnectorFailure>
                if let fault = answers[request.bId]?.fault {
                    result = .failure(
                        QuickBooksOnlineErrors.failure(
                            for: fault, status: nil, operation: operation, requestID: requestID))
                } else if let record = answers[request.bId]?.invoice.flatMap(QuickBooksOnlineMapping.invoiceRecord) {
                    result = .success(
                        WriteReceipt(
                            record: record, erpRequestID: requestID, idempotencyKey: key,
                            totalsCheck: TotalsCheck.compare(item.document.invoice, with: record.totals)))
                } else {
                    result = .failure(
                        ConnectorFailure(
                            reason: .erpOutcomeUnknown, disposition: .lookupThenRetry, erp: Self.erp,
                            operation: operation,
                            erpRequestID: requestID, detail: "the batch answer has no item \(request.bId)"))
                }
                outcomes[index] = BatchItemOutcome(invoiceID: item.document.invoice.invoiceID, result: result)
            }
        }
        return items.indices.compactMap { outcomes[$0] }
    }

    // MARK: Payments

    /// Finds a payment by our reference: the customer's payments on the payment date, matched by the
    /// `PrivateNote` marker.
    public func findPayment(_ lookup: PaymentLookup, logger: Logger) async throws -> ERPPaymentRecord? {
        switch lookup {
        case .reference(let paymentID, _, let customer, let date):
            let found = try await query(
                QuickBooksOnlineMapping.paymentQuery(customerID: customer.id, date: date), operation: .findPayment,
                logger: logger)
            return (found.payment ?? []).compactMap(QuickBooksOnlineMapping.paymentRecord).first {
                $0.ourReference == paymentID
            }
        }
    }

    /// Records a payment linked to the invoice (`Line.LinkedTxn` `Invoice`), deposited to the mapped account.
    public func createPayment(
        _ document: PaymentDocument, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPPaymentRecord> {
        let body = try QuickBooksOnlineMapping.payment(document, mapping: context.mapping)
        let (envelope, requestID) = try await call(
            .post, "/payment", body: body, key: key, operation: .createPayment, logger: logger)
        guard let record = envelope.payment.flatMap(QuickBooksOnlineMapping.paymentRecord) else {
            throw missingEntity("Payment", .createPayment, requestID)
        }
        return WriteReceipt(record: record, erpRequestID: requestID, idempotencyKey: key)
    }

    // MARK: Pulls

    /// Pages through `select * from <Entity> where MetaData.LastUpdatedTime >= …` per entity; the cursor is
    /// `<entity>:<start position>`. Queries never return deleted objects: a regular pull (``ChangeRequest/since``
    /// within Change Data Capture's 30 days, not an initial sync) that reads invoices ends with one
    /// `GET /cdc?entities=Invoice&changedSince=…` page (cursor `cdc:1`) reporting the invoices deleted since then
    /// as records with status `Deleted`.
    public func pullChanges(_ request: ChangeRequest, logger: Logger) async throws -> ChangePage {
        if request.cursor?.rawValue == Self.deletionsCursor.rawValue {
            return ChangePage(changes: try await deletions(since: request.since, logger: logger), next: nil)
        }
        // Phases: the entities, then the reference data (items, tax rates), then the deletions (one page).
        let phases = request.entities.map(\.rawValue) + request.referenceData.map(\.rawValue)
        guard !phases.isEmpty else { return ChangePage(changes: [], next: nil) }
        var phaseIndex = 0
        var start = 1
        if let cursor = request.cursor {
            let parts = cursor.rawValue.split(separator: ":")
            guard parts.count == 2, let index = phases.firstIndex(of: String(parts[0])), let position = Int(parts[1]),
                position >= 1
            else {
                throw ConnectorFailure(
                    reason: .erpRejectedData, disposition: .park, erp: Self.erp, operation: .pullChanges,
                    detail: "unreadable change cursor")
            }
            phaseIndex = index
            start = position
        }
        let phase = phases[phaseIndex]
        let pageSize = min(max(1, request.pageSize), Self.capabilities.pull.maxPageSize)
        let names = [
            "customer": "Customer", "invoice": "Invoice", "payment": "Payment", "item": "Item", "tax_rate": "TaxRate",
        ]
        let entityName = names[phase] ?? "TaxRate"
        let found = try await query(
            QuickBooksOnlineMapping.changesQuery(entity: entityName, since: request.since, start: start, max: pageSize),
            operation: .pullChanges, logger: logger)
        let changes: [ERPChange]
        switch phase {
        case ERPEntity.customer.rawValue:
            changes = (found.customer ?? []).compactMap(QuickBooksOnlineMapping.customerRecord).map(ERPChange.customer)
        case ERPEntity.invoice.rawValue:
            changes = (found.invoice ?? []).compactMap(QuickBooksOnlineMapping.invoiceRecord).map(ERPChange.invoice)
        case ERPEntity.payment.rawValue:
            changes = (found.payment ?? []).compactMap(QuickBooksOnlineMapping.paymentRecord).map(ERPChange.payment)
        case ERPReferenceKind.item.rawValue:
            changes = (found.item ?? []).compactMap(QuickBooksOnlineMapping.itemRecord).map(ERPChange.reference)
        default:
            changes = (found.taxRate ?? []).compactMap(QuickBooksOnlineMapping.taxRateRecord).map(ERPChange.reference)
        }
        let next: ChangeCursor?
        if changes.count >= pageSize {
            next = ChangeCursor(rawValue: "\(phase):\(start + pageSize)")
        } else if phaseIndex + 1 < phases.count {
            next = ChangeCursor(rawValue: "\(phases[phaseIndex + 1]):1")
        } else if Self.readsDeletions(request, now: Date()) {
            next = Self.deletionsCursor
        } else {
            next = nil
        }
        return ChangePage(changes: changes, next: next)
    }

    /// The cursor of the Change Data Capture page that ends a regular pull.
    static let deletionsCursor = ChangeCursor(rawValue: "cdc:1")

    /// How far back Change Data Capture answers (QuickBooks: 30 days).
    static let changeDataCaptureWindow: TimeInterval = 30 * 86_400

    /// Whether a pull ends with the deletions page: it reads invoices and `since` is a regular pull's (after the
    /// epoch, within Change Data Capture's 30 days; an initial sync reads everything and needs no deletions).
    static func readsDeletions(_ request: ChangeRequest, now: Date) -> Bool {
        request.entities.contains(.invoice) && request.since.timeIntervalSince1970 > 0
            && now.timeIntervalSince(request.since) < changeDataCaptureWindow - 3600
    }

    /// The invoices deleted since `since`, from `GET /cdc?entities=Invoice&changedSince=…` (objects changed but
    /// not deleted are read by the queries and ignored here).
    private func deletions(since: Date, logger: Logger) async throws -> [ERPChange] {
        let (envelope, requestID) = try await call(
            .get, "/cdc",
            query: [("entities", "Invoice"), ("changedSince", since.formatted(Date.ISO8601FormatStyle()))],
            operation: .pullChanges, logger: logger)
        guard let answer = envelope.cdcResponse else { throw missingEntity("CDCResponse", .pullChanges, requestID) }
        return answer.flatMap { $0.queryResponse ?? [] }.flatMap { $0.invoice ?? [] }
            .filter { $0.status?.lowercased() == "deleted" }
            .compactMap(QuickBooksOnlineMapping.invoiceRecord)
            .map(ERPChange.invoice)
    }

    // MARK: Transport

    /// Writes an invoice body and checks QuickBooks' total against the shop's.
    private func writeInvoice(
        _ body: QuickBooksOnlinePayloads.Invoice, document: InvoiceDocument?, query: [(String, String)],
        key: IdempotencyKey, operation: ConnectorOperation, logger: Logger
    ) async throws -> WriteReceipt<ERPInvoiceRecord> {
        let (envelope, requestID) = try await call(
            .post, "/invoice", query: query, body: body, key: key, operation: operation, logger: logger)
        guard let record = envelope.invoice.flatMap(QuickBooksOnlineMapping.invoiceRecord) else {
            throw missingEntity("Invoice", operation, requestID)
        }
        return WriteReceipt(
            record: record, erpRequestID: requestID, idempotencyKey: key,
            totalsCheck: document.map { TotalsCheck.compare($0.invoice, with: record.totals) })
    }

    private func query(_ text: String, operation: ConnectorOperation, logger: Logger) async throws
        -> QuickBooksOnlinePayloads.QueryResponse
    {
        let (envelope, requestID) = try await call(
            .get, "/query", query: [("query", text)], operation: operation, logger: logger)
        guard let found = envelope.queryResponse else { throw missingEntity("QueryResponse", operation, requestID) }
        return found
    }

    /// One call: `minorversion` on every request, `requestid` on writes, faults (even inside HTTP 200)
    /// turned into ``ConnectorFailure``.
    private func call(
        _ method: HTTPMethod, _ resource: String, query: [(String, String)] = [],
        body: (any Encodable & Sendable)? = nil,
        key: IdempotencyKey? = nil, operation: ConnectorOperation, logger: Logger
    ) async throws -> (QuickBooksOnlinePayloads.IntuitResponse, String?) {
        var parameters = query
        parameters.append(("minorversion", QuickBooksOnlineMapping.minorVersion))
        if let key { parameters.append(("requestid", key.rawValue)) }
        let bytes: [UInt8]?
        do {
            bytes = try body.map { try ERPJSON.encode($0) }
        } catch {
            throw ConnectorFailure(
                reason: .erpRejectedData, disposition: .park, erp: Self.erp, operation: operation,
                detail: "the payload could not be encoded")
        }
        let path = "/v3/company/\(ConnectorHTTP.percentEncode(context.configuration.companyID))\(resource)"
        let response = try await http.send(
            method, path: path, query: parameters, body: bytes, operation: operation, logger: logger
        ) {
            QuickBooksOnlineErrors.failure(for: $0, operation: operation)
        }
        let requestID = response.header(QuickBooksOnlineErrors.requestIDHeader)
        do {
            return (try ERPJSON.decode(QuickBooksOnlinePayloads.IntuitResponse.self, from: response.body), requestID)
        } catch {
            let (reason, disposition) = QuickBooksOnlineErrors.classify(status: response.status, operation: operation)
            throw ConnectorFailure(
                reason: reason, disposition: disposition, erp: Self.erp, operation: operation,
                httpStatus: response.status,
                erpRequestID: requestID, detail: "the answer is not readable JSON")
        }
    }

    private func missingEntity(_ name: String, _ operation: ConnectorOperation, _ requestID: String?)
        -> ConnectorFailure
    {
        let (reason, disposition) = QuickBooksOnlineErrors.classify(status: 200, operation: operation)
        return ConnectorFailure(
            reason: reason, disposition: disposition, erp: Self.erp, operation: operation, httpStatus: 200,
            erpRequestID: requestID, detail: "the answer has no \(name)")
    }
}
