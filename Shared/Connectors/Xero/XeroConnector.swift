public import Domain
import Foundation
public import HTTP
public import Logging

/// The Xero Accounting API 2.0 connector (official OpenAPI in `erp-specs/xero/`).
///
/// Endpoints, relative to ``ConnectorConfiguration/baseURL`` (production ``productionBaseURL`` or a local
/// `erp-sim`); every call carries `Xero-tenant-id: <companyID>` and `Authorization: Bearer <token>`, every
/// write a deterministic `Idempotency-Key` (≤ 128 characters):
///
/// | operation | request |
/// |---|---|
/// | find contact | `GET /Contacts?where=ContactNumber=="…"` or `where=Name=="…"`; `GET /Contacts/{id}` |
/// | create contact | `PUT /Contacts?summarizeErrors=false` |
/// | find invoice | `GET /Invoices?InvoiceNumbers=…&unitdp=4`; `GET /Invoices/{id}?unitdp=4` |
/// | create invoice(s) | `POST /Invoices?summarizeErrors=false&unitdp=4` (several per request for batches) |
/// | update / void / delete | `POST /Invoices/{id}?unitdp=4` (full invoice; `Status` `VOIDED` / `DELETED`) |
/// | payment | `PUT /Payments?summarizeErrors=false` |
/// | find payment | `GET /Invoices/{id}` (its `Payments`, matched by the reference marker) |
/// | pull | `GET /Contacts|Invoices|Payments?page=…` with `If-Modified-Since` |
///
/// Xero's idempotency window is short and possibly bound to the access token (RELIABILITY.md §1.4), so after
/// an unknown outcome the flows look the invoice up by number before creating it again. Xero has no
/// concurrency token: updates are last-write-wins.
public struct XeroConnector: ERPConnector {
    /// ``Domain/ERP/xero``.
    public static let erp = ERP.xero

    /// The production API base URL [spec: OAS servers].
    public static let productionBaseURL = "https://api.xero.com/api.xro/2.0"

    /// Xero's documented limits and rules (`erp-specs/README.md` §2): `Idempotency-Key` ≤ 128 characters
    /// [spec], window unpublished (~6 min reported [3p]); per tenant and app 60 calls/min, 5,000 calls/day, 5
    /// concurrent; per app 10,000 calls/min [doc]; 429 with `Retry-After` [doc]; batches of about 50 invoices
    /// with per-element results via `summarizeErrors=false` [spec; size inf].
    public static let capabilities = ConnectorCapabilities(
        idempotency: IdempotencySupport(
            carrier: .header("Idempotency-Key"), maxLength: 128, window: .seconds(360),
            operations: [
                .createCustomer, .createInvoice, .updateInvoice, .voidInvoice, .deleteInvoice, .createPayment,
                .pushBatch,
            ]),
        batch: BatchSupport(maxItems: 50, maxKeyLength: 128, perItemResults: true),
        rateLimits: [
            RateLimit(
                scope: .connection, kind: .rate(limit: 60, per: .seconds(60)),
                source: "[doc] developer.xero.com/faq/limits: 60 calls/min per tenant"),
            RateLimit(
                scope: .connection, kind: .rate(limit: 5000, per: .seconds(86_400)),
                source: "[doc] developer.xero.com/faq/limits: 5,000 calls/day per tenant"),
            RateLimit(
                scope: .connection, kind: .concurrent(5),
                source: "[doc] developer.xero.com/faq/limits: 5 concurrent calls per tenant"),
            RateLimit(
                scope: .application, kind: .rate(limit: 10_000, per: .seconds(60)),
                source: "[doc] developer.xero.com/faq/limits: 10,000 calls/min per app"),
        ],
        defaultRateLimitWait: .seconds(60),
        concurrencyControl: .lastWriteWins,
        posting: PostingRules(
            updates: .untilPaid, canVoid: true, voidRequiresNoPayments: true, delete: .draftOnly,
            notes:
                "AUTHORISED invoices can be edited until a payment is applied; void (Status VOIDED) needs no "
                + "payments; DRAFT/SUBMITTED invoices can be deleted [inf]."
        ),
        references: ReferenceFields(
            invoiceNumber: "InvoiceNumber", invoiceOwnershipMarker: "Contact (ContactNumber) + InvoiceNumber",
            customerReference: "ContactNumber", paymentReference: "Reference", maxInvoiceNumberLength: 255,
            uniqueCustomerNames: true),
        pull: PullSupport(entities: [.customer, .invoice, .payment], maxPageSize: 100, maxLookback: nil),
        serverTimeout: nil)

    /// An account code for every line kind (discounts included), a tax type by line, a deposit account;
    /// tracking categories (at most two) for locations.
    public static let mappingRequirements = MappingRequirements(
        lineItem: [], lineAccount: Set(InvoiceLine.Kind.allCases), paymentDepositAccount: true, taxModels: [.line],
        locationDimensions: [.tracking], maxTrackingCategories: 2)

    /// Xero's OAuth 2.0 code flow with PKCE; the organisations come from `GET /connections`.
    public static let authorization = AuthorizationProfile(
        authorizeURL: "https://login.xero.com/identity/connect/authorize",
        tokenURL: "https://identity.xero.com/connect/token", apiBaseURL: "https://api.xero.com/api.xro/2.0",
        scopes: ["openid", "offline_access", "accounting.transactions", "accounting.contacts", "accounting.settings"],
        supportsPKCE: true, companyDiscovery: .connectionsEndpoint)

    /// The organisations the token may use: `GET /connections` on the API host (the base URL without its
    /// `/api.xro/2.0` path).
    public static func authorizedCompanies(
        apiBaseURL: String, accessToken: String, transport: any HTTPTransport, logger: Logger
    ) async throws -> [AuthorizedCompany] {
        var root = apiBaseURL
        while root.hasSuffix("/") { root.removeLast() }
        if root.hasSuffix("/api.xro/2.0") { root.removeLast("/api.xro/2.0".count) }
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Bearer \(accessToken)")
        headers.add(name: "Accept", value: "application/json")
        let response: HTTPResponse
        do {
            response = try await transport.execute(
                HTTPRequest(method: .get, url: root + "/connections", headers: headers), logger: logger)
        } catch {
            throw ConnectorFailure(
                reason: .erpTransient, disposition: .retry, erp: erp, detail: "GET /connections could not be sent")
        }
        guard response.status == 200 else {
            throw ConnectorFailure(
                reason: response.status == 401 || response.status == 403 ? .erpAuthLost : .erpTransient,
                disposition: .park, erp: erp, httpStatus: response.status, detail: "GET /connections failed")
        }
        struct Connection: Decodable {
            var tenantId: String
            var tenantName: String?
            var tenantType: String?
        }
        let connections = (try? ERPJSON.decode([Connection].self, from: response.body)) ?? []
        return connections.filter { ($0.tenantType ?? "ORGANISATION") == "ORGANISATION" }.map {
            AuthorizedCompany(id: $0.tenantId, name: $0.tenantName)
        }
    }

    /// The connection.
    public let context: ConnectionContext
    private let http: ConnectorHTTP

    /// Creates a connector for one Xero organisation (tenant).
    public init(context: ConnectionContext, transport: any HTTPTransport) {
        self.context = context
        self.http = ConnectorHTTP(
            erp: .xero, context: context, transport: transport, requestIDHeader: XeroErrors.requestIDHeader)
    }

    /// Xero invoices carry no private note, so an invoice found by number is ours when it bills the contact
    /// Ledgerline resolved for this customer.
    public static func isOurs(_ record: ERPInvoiceRecord, document: InvoiceDocument) -> Bool {
        record.number == document.invoice.invoiceNumber && record.customerID == document.customer.id
    }

    // MARK: Contacts

    /// Finds a contact: by `ContactNumber` (our reference), by exact `Name`, or by id.
    public func findCustomer(_ lookup: CustomerLookup, logger: Logger) async throws -> ERPCustomerRecord? {
        let filter: String
        switch lookup {
        case .reference(let customerID, _):
            filter = XeroMapping.contactNumberFilter(customerID)
            let found = try await get(
                XeroPayloads.Contacts.self, "/Contacts", query: [("where", filter)], operation: .findCustomer,
                logger: logger)
            return found.contacts.compactMap(XeroMapping.customerRecord).first.map {
                var record = $0
                record.ourReference = customerID
                return record
            }
        case .displayName(let name):
            filter = XeroMapping.contactNameFilter(name)
        case .erpID(let id):
            do {
                let found = try await get(
                    XeroPayloads.Contacts.self, "/Contacts/\(ConnectorHTTP.percentEncode(id))",
                    operation: .findCustomer, logger: logger)
                return found.contacts.compactMap(XeroMapping.customerRecord).first
            } catch let failure as ConnectorFailure where failure.reason == .erpNotFound {
                return nil
            }
        }
        let found = try await get(
            XeroPayloads.Contacts.self, "/Contacts", query: [("where", filter)], operation: .findCustomer,
            logger: logger)
        return found.contacts.compactMap(XeroMapping.customerRecord).first
    }

    /// Creates a contact (`PUT /Contacts?summarizeErrors=false`); a taken name → `erp.duplicate`.
    public func createCustomer(
        _ customer: Customer, displayName: String, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPCustomerRecord> {
        let body = XeroPayloads.Contacts([XeroMapping.contact(customer, name: displayName)])
        let (answer, requestID) = try await write(
            XeroPayloads.Contacts.self, .put, "/Contacts", query: [("summarizeErrors", "false")], body: body, key: key,
            operation: .createCustomer, logger: logger)
        guard let contact = answer.contacts.first else { throw missingElement(.createCustomer, requestID) }
        if contact.hasValidationErrors == true || !(contact.validationErrors ?? []).isEmpty {
            throw XeroErrors.failure(
                forValidationErrors: contact.validationErrors ?? [], operation: .createCustomer, requestID: requestID)
        }
        guard var record = XeroMapping.customerRecord(contact) else { throw missingElement(.createCustomer, requestID) }
        record.ourReference = customer.customerID
        return WriteReceipt(record: record, erpRequestID: requestID, idempotencyKey: key)
    }

    // MARK: Invoices

    /// Finds a sales invoice by `InvoiceNumber` or by id.
    public func findInvoice(_ lookup: InvoiceLookup, logger: Logger) async throws -> ERPInvoiceRecord? {
        switch lookup {
        case .number(let number):
            let found = try await get(
                XeroPayloads.Invoices.self, "/Invoices",
                query: [("InvoiceNumbers", number), ("where", "Type==\"ACCREC\""), ("unitdp", "4")],
                operation: .findInvoice,
                logger: logger)
            return found.invoices.filter { $0.invoiceNumber == number }.compactMap(XeroMapping.invoiceRecord).first
        case .erpID(let id):
            do {
                let found = try await get(
                    XeroPayloads.Invoices.self, "/Invoices/\(ConnectorHTTP.percentEncode(id))",
                    query: [("unitdp", "4")],
                    operation: .findInvoice, logger: logger)
                return found.invoices.compactMap(XeroMapping.invoiceRecord).first
            } catch let failure as ConnectorFailure where failure.reason == .erpNotFound {
                return nil
            }
        }
    }

    /// Creates an invoice (`POST /Invoices?summarizeErrors=false&unitdp=4`); the receipt carries Xero's `Total`
    /// checked against the shop's total.
    public func createInvoice(
        _ document: InvoiceDocument, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPInvoiceRecord> {
        let body = try XeroMapping.invoice(document, mapping: context.mapping)
        let outcomes = try await postInvoices(
            [body], documents: [document], path: "/Invoices", key: key, operations: [.createInvoice], logger: logger)
        return try outcomes[0].get()
    }

    /// Replaces an invoice's content (`POST /Invoices/{id}`); last write wins (Xero has no version token).
    public func updateInvoice(
        _ document: InvoiceDocument, existing: ERPVersionedID, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPInvoiceRecord> {
        let body = try XeroMapping.invoice(document, mapping: context.mapping, existing: existing)
        let outcomes = try await postInvoices(
            [body], documents: [document], path: "/Invoices/\(ConnectorHTTP.percentEncode(existing.id))", key: key,
            operations: [.updateInvoice], logger: logger)
        return try outcomes[0].get()
    }

    /// Voids an invoice (`Status` `VOIDED`); Xero refuses while payments are applied.
    public func voidInvoice(_ existing: ERPVersionedID, key: IdempotencyKey, logger: Logger) async throws
        -> WriteReceipt<ERPInvoiceRecord>
    {
        try await changeStatus(existing, to: "VOIDED", key: key, operation: .voidInvoice, logger: logger)
    }

    /// Deletes a draft or submitted invoice (`Status` `DELETED`).
    public func deleteInvoice(_ existing: ERPVersionedID, key: IdempotencyKey, logger: Logger) async throws
        -> WriteReceipt<ERPInvoiceRecord>
    {
        try await changeStatus(existing, to: "DELETED", key: key, operation: .deleteInvoice, logger: logger)
    }

    /// Several invoices in one `POST /Invoices?summarizeErrors=false`: each failed invoice gets its own
    /// reason from its `ValidationErrors`.
    public func pushInvoices(_ items: [BatchInvoiceItem], key: IdempotencyKey, logger: Logger) async throws
        -> [BatchItemOutcome]
    {
        let limit = Self.capabilities.batch?.maxItems ?? 0
        guard items.count <= limit else {
            throw ConnectorFailure(
                reason: .erpUnsupported, disposition: .park, erp: Self.erp, operation: .pushBatch,
                erpMessage: "A Xero batch holds at most \(limit) invoices here; split the batch")
        }
        var bodies: [XeroPayloads.Invoice] = []
        var sent: [Int] = []
        var outcomes: [Int: BatchItemOutcome] = [:]
        for (index, item) in items.enumerated() {
            do {
                bodies.append(try XeroMapping.invoice(item.document, mapping: context.mapping, existing: item.existing))
                sent.append(index)
            } catch let failure as ConnectorFailure {
                outcomes[index] = BatchItemOutcome(
                    invoiceID: item.document.invoice.invoiceID, result: .failure(failure))
            }
        }
        if !bodies.isEmpty {
            let results = try await postInvoices(
                bodies, documents: sent.map { items[$0].document }, path: "/Invoices", key: key,
                operations: sent.map { items[$0].existing == nil ? .createInvoice : .updateInvoice }, batch: true,
                logger: logger)
            for (position, index) in sent.enumerated() {
                outcomes[index] = BatchItemOutcome(
                    invoiceID: items[index].document.invoice.invoiceID, result: results[position])
            }
        }
        return items.indices.compactMap { outcomes[$0] }
    }

    // MARK: Payments

    /// Finds a payment by our reference among the payments of its invoice.
    public func findPayment(_ lookup: PaymentLookup, logger: Logger) async throws -> ERPPaymentRecord? {
        switch lookup {
        case .reference(let paymentID, let invoice, _, _):
            let found = try await get(
                XeroPayloads.Invoices.self, "/Invoices/\(ConnectorHTTP.percentEncode(invoice.id))",
                operation: .findPayment,
                logger: logger)
            let payments = found.invoices.first?.payments ?? []
            return payments.compactMap { XeroMapping.paymentRecord($0, invoiceID: invoice.id) }.first {
                $0.ourReference == paymentID
            }
        }
    }

    /// Records a payment against the invoice (`PUT /Payments`) to the mapped deposit account.
    public func createPayment(
        _ document: PaymentDocument, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPPaymentRecord> {
        let body = XeroPayloads.Payments([try XeroMapping.payment(document, mapping: context.mapping)])
        let (answer, requestID) = try await write(
            XeroPayloads.Payments.self, .put, "/Payments", query: [("summarizeErrors", "false")], body: body, key: key,
            operation: .createPayment, logger: logger)
        guard let payment = answer.payments.first else { throw missingElement(.createPayment, requestID) }
        if payment.hasValidationErrors == true || !(payment.validationErrors ?? []).isEmpty {
            throw XeroErrors.failure(
                forValidationErrors: payment.validationErrors ?? [], operation: .createPayment, requestID: requestID)
        }
        guard let record = XeroMapping.paymentRecord(payment, invoiceID: document.invoice.id) else {
            throw missingElement(.createPayment, requestID)
        }
        return WriteReceipt(record: record, erpRequestID: requestID, idempotencyKey: key)
    }

    // MARK: Pulls

    /// Pages through `GET /Contacts|Invoices|Payments?page=n` with `If-Modified-Since`, then reads the reference
    /// data asked for: `GET /Items` (`If-Modified-Since`, not paged) and `GET /TaxRates` (all of them: Xero keeps no
    /// update time on rates). The cursor is `<entity>:<page>`.
    public func pullChanges(_ request: ChangeRequest, logger: Logger) async throws -> ChangePage {
        let phases = request.entities.map(\.rawValue) + request.referenceData.map(\.rawValue)
        guard !phases.isEmpty else { return ChangePage(changes: [], next: nil) }
        var phaseIndex = 0
        var page = 1
        if let cursor = request.cursor {
            let parts = cursor.rawValue.split(separator: ":")
            guard parts.count == 2, let index = phases.firstIndex(of: String(parts[0])), let number = Int(parts[1]),
                number >= 1
            else {
                throw ConnectorFailure(
                    reason: .erpRejectedData, disposition: .park, erp: Self.erp, operation: .pullChanges,
                    detail: "unreadable change cursor")
            }
            phaseIndex = index
            page = number
        }
        let phase = phases[phaseIndex]
        let pageSize = min(max(1, request.pageSize), Self.capabilities.pull.maxPageSize)
        let headers = [("If-Modified-Since", XeroMapping.modifiedSince(request.since))]
        var query = [("page", String(page)), ("pageSize", String(pageSize))]
        let changes: [ERPChange]
        var paged = true
        switch phase {
        case ERPEntity.customer.rawValue:
            let found = try await get(
                XeroPayloads.Contacts.self, "/Contacts", query: query, headers: headers, operation: .pullChanges,
                logger: logger)
            changes = found.contacts.compactMap(XeroMapping.customerRecord).map(ERPChange.customer)
        case ERPEntity.invoice.rawValue:
            query += [("where", "Type==\"ACCREC\""), ("unitdp", "4")]
            let found = try await get(
                XeroPayloads.Invoices.self, "/Invoices", query: query, headers: headers, operation: .pullChanges,
                logger: logger)
            changes = found.invoices.compactMap(XeroMapping.invoiceRecord).map(ERPChange.invoice)
        case ERPEntity.payment.rawValue:
            let found = try await get(
                XeroPayloads.Payments.self, "/Payments", query: query, headers: headers, operation: .pullChanges,
                logger: logger)
            changes = found.payments.compactMap { XeroMapping.paymentRecord($0) }.map(ERPChange.payment)
        case ERPReferenceKind.item.rawValue:
            paged = false
            let found = try await get(
                XeroPayloads.Items.self, "/Items", query: [("unitdp", "4")], headers: headers, operation: .pullChanges,
                logger: logger)
            changes = found.items.compactMap(XeroMapping.itemRecord).map(ERPChange.reference)
        default:
            paged = false
            let found = try await get(
                XeroPayloads.TaxRates.self, "/TaxRates", operation: .pullChanges, logger: logger)
            changes = found.taxRates.compactMap(XeroMapping.taxRateRecord).map(ERPChange.reference)
        }
        let next: ChangeCursor?
        if paged && changes.count >= pageSize {
            next = ChangeCursor(rawValue: "\(phase):\(page + 1)")
        } else if phaseIndex + 1 < phases.count {
            next = ChangeCursor(rawValue: "\(phases[phaseIndex + 1]):1")
        } else {
            next = nil
        }
        return ChangePage(changes: changes, next: next)
    }

    // MARK: Transport

    private func changeStatus(
        _ existing: ERPVersionedID, to status: String, key: IdempotencyKey, operation: ConnectorOperation,
        logger: Logger
    ) async throws -> WriteReceipt<ERPInvoiceRecord> {
        let outcomes = try await postInvoices(
            [XeroMapping.statusChange(existing, to: status)], documents: [nil],
            path: "/Invoices/\(ConnectorHTTP.percentEncode(existing.id))", key: key, operations: [operation],
            logger: logger)
        return try outcomes[0].get()
    }

    /// Posts invoices and reads one result per invoice, in order (`summarizeErrors=false` on the collection
    /// endpoint; a single-invoice endpoint answers 400 on validation errors instead).
    private func postInvoices(
        _ bodies: [XeroPayloads.Invoice], documents: [InvoiceDocument?], path: String, key: IdempotencyKey,
        operations: [ConnectorOperation], batch: Bool = false, logger: Logger
    ) async throws -> [Result<WriteReceipt<ERPInvoiceRecord>, ConnectorFailure>] {
        var query = [("unitdp", "4")]
        if path == "/Invoices" { query.insert(("summarizeErrors", "false"), at: 0) }
        let operation = batch ? ConnectorOperation.pushBatch : operations[0]
        let (answer, requestID) = try await write(
            XeroPayloads.Invoices.self, .post, path, query: query, body: XeroPayloads.Invoices(bodies), key: key,
            operation: operation, logger: logger)
        return bodies.indices.map { index in
            let operation = operations[index]
            guard index < answer.invoices.count else {
                return .failure(
                    ConnectorFailure(
                        reason: .erpOutcomeUnknown, disposition: .lookupThenRetry, erp: Self.erp, operation: operation,
                        erpRequestID: requestID, detail: "the answer has no element \(index)"))
            }
            let element = answer.invoices[index]
            if element.hasErrors == true || element.statusAttributeString == "ERROR"
                || !(element.validationErrors ?? []).isEmpty
            {
                return .failure(
                    XeroErrors.failure(
                        forValidationErrors: element.validationErrors ?? [], operation: operation, requestID: requestID)
                )
            }
            guard let record = XeroMapping.invoiceRecord(element) else {
                return .failure(missingElement(operation, requestID))
            }
            return .success(
                WriteReceipt(
                    record: record, erpRequestID: requestID, idempotencyKey: key,
                    totalsCheck: documents[index].map { TotalsCheck.compare($0.invoice, with: record.totals) }))
        }
    }

    private func get<Answer: Decodable>(
        _ type: Answer.Type, _ path: String, query: [(String, String)] = [], headers: [(String, String)] = [],
        operation: ConnectorOperation, logger: Logger
    ) async throws -> Answer {
        try await exchange(
            type, .get, path, query: query, headers: headers, body: nil, key: nil, operation: operation, logger: logger
        ).0
    }

    private func write<Answer: Decodable>(
        _ type: Answer.Type, _ method: HTTPMethod, _ path: String, query: [(String, String)], body: some Encodable,
        key: IdempotencyKey, operation: ConnectorOperation, logger: Logger
    ) async throws -> (Answer, String?) {
        let bytes: [UInt8]
        do {
            bytes = try ERPJSON.encode(body)
        } catch {
            throw ConnectorFailure(
                reason: .erpRejectedData, disposition: .park, erp: Self.erp, operation: operation,
                detail: "the payload could not be encoded")
        }
        return try await exchange(
            type, method, path, query: query, headers: [], body: bytes, key: key, operation: operation, logger: logger)
    }

    /// One call: the tenant header on every request, the idempotency key on writes, failures classified.
    private func exchange<Answer: Decodable>(
        _ type: Answer.Type, _ method: HTTPMethod, _ path: String, query: [(String, String)],
        headers: [(String, String)],
        body: [UInt8]?, key: IdempotencyKey?, operation: ConnectorOperation, logger: Logger
    ) async throws -> (Answer, String?) {
        var allHeaders = [("Xero-tenant-id", context.configuration.companyID)]
        if let key { allHeaders.append(("Idempotency-Key", key.rawValue)) }
        allHeaders += headers
        let response = try await http.send(
            method, path: path, query: query, headers: allHeaders, body: body, operation: operation, logger: logger
        ) { XeroErrors.failure(for: $0, operation: operation) }
        let requestID = response.header(XeroErrors.requestIDHeader)
        do {
            return (try ERPJSON.decode(type, from: response.body), requestID)
        } catch {
            let (reason, disposition) = XeroErrors.classify(status: response.status, operation: operation)
            throw ConnectorFailure(
                reason: reason, disposition: disposition, erp: Self.erp, operation: operation,
                httpStatus: response.status,
                erpRequestID: requestID, detail: "the answer is not readable JSON of the expected shape")
        }
    }

    private func missingElement(_ operation: ConnectorOperation, _ requestID: String?) -> ConnectorFailure {
        let (reason, disposition) = XeroErrors.classify(status: 200, operation: operation)
        return ConnectorFailure(
            reason: reason, disposition: disposition, erp: Self.erp, operation: operation, httpStatus: 200,
            erpRequestID: requestID, detail: "the answer has no usable element")
    }
}
