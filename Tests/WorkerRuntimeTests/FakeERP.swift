import Connectors
import Domain
import Foundation
import HTTP
import Logging
import Synchronization

/// An in-memory ERP behind the `HTTPTransport` protocol, so every call passes the runtime's rate-limited
/// transport. Requests are `POST http://127.0.0.1/fake/<operation>` with a flat JSON object; answers are JSON.
/// Faults are queued and hit the next write (or any call, for `.anyCall` faults).
final class FakeERP: HTTPTransport, Sendable {
    enum Fault: Sendable, Equatable {
        /// Commit the write, then fail as if the answer was lost (timeout after commit).
        case timeoutAfterCommit
        /// 429 with `Retry-After: seconds`.
        case rateLimited(retryAfterSeconds: Int)
        /// 401 (`invalid_grant` / expired token).
        case unauthorized
        /// 400 validation error with a message.
        case validation(String)
        /// 503.
        case serverError
    }

    struct Invoice: Sendable, Equatable {
        var id: String
        var number: String
        var ourRef: String
        var customerID: String
        var total: String
        var version: Int
        var status: String
    }

    struct Call: Sendable {
        var operation: String
        var start: ContinuousClock.Instant
        var end: ContinuousClock.Instant
        var idempotencyKey: String?
    }

    struct State: Sendable {
        var invoices: [String: Invoice] = [:]
        var customers: [String: (name: String, ourRef: String)] = [:]
        var payments: [String: (ourRef: String, invoiceID: String, amount: String)] = [:]
        var replies: [String: [String: String]] = [:]  // idempotency key → first answer
        var faults: [Fault] = []
        var calls: [Call] = []
        var nextID = 100
        var inFlight = 0
        var maxInFlight = 0
    }

    let state = Mutex(State())
    let latency: Duration

    init(latency: Duration = .milliseconds(5)) { self.latency = latency }

    func inject(_ faults: Fault...) { state.withLock { $0.faults += faults } }
    var calls: [Call] { state.withLock { $0.calls } }
    var invoices: [Invoice] { state.withLock { Array($0.invoices.values) } }
    var customerCount: Int { state.withLock { $0.customers.count } }
    var paymentCount: Int { state.withLock { $0.payments.count } }
    var maxInFlight: Int { state.withLock { $0.maxInFlight } }
    func writes(_ operation: String) -> Int { calls.filter { $0.operation == operation }.count }

    struct LostAnswer: Error {}

    func execute(_ request: HTTPRequest, logger: Logger) async throws -> HTTPResponse {
        let operation = String(request.url.split(separator: "/").last ?? "")
        let fields =
            (try? JSONSerialization.jsonObject(with: Data(request.body ?? [])) as? [String: String]) ?? [:]
        let key = request.headers["Idempotency-Key"]
        let start = ContinuousClock.now
        state.withLock {
            $0.inFlight += 1
            $0.maxInFlight = max($0.maxInFlight, $0.inFlight)
        }
        defer {
            let end = ContinuousClock.now
            state.withLock {
                $0.inFlight -= 1
                $0.calls.append(Call(operation: operation, start: start, end: end, idempotencyKey: key))
            }
        }
        try await Task.sleep(for: latency)
        let isWrite = operation.hasPrefix("create") || operation.hasPrefix("update") || operation.hasPrefix("void")
        let fault: Fault? = isWrite ? state.withLock { $0.faults.isEmpty ? nil : $0.faults.removeFirst() } : nil
        switch fault {
        case .rateLimited(let seconds):
            var headers = HTTPHeaders()
            headers.add(name: "Retry-After", value: String(seconds))
            return HTTPResponse(status: 429, headers: headers, body: Array(#"{"error":"rate"}"#.utf8))
        case .unauthorized: return HTTPResponse(status: 401, body: Array(#"{"error":"invalid_grant"}"#.utf8))
        case .validation(let message): return Self.json(400, ["message": message])
        case .serverError: return HTTPResponse(status: 503, body: [])
        case .timeoutAfterCommit, nil: break
        }
        let answer: [String: String] = state.withLock { state in
            if let key, let replay = state.replies[key] { return replay }
            let answer = Self.apply(operation, fields, &state)
            if let key, isWrite { state.replies[key] = answer }
            return answer
        }
        if fault == .timeoutAfterCommit { throw LostAnswer() }
        return Self.json(answer["found"] == "false" ? 404 : 200, answer)
    }

    private static func apply(_ operation: String, _ fields: [String: String], _ state: inout State) -> [String: String] {
        func newID() -> String {
            state.nextID += 1
            return String(state.nextID)
        }
        func invoiceAnswer(_ invoice: Invoice) -> [String: String] {
            ["id": invoice.id, "version": String(invoice.version), "number": invoice.number, "our_ref": invoice.ourRef,
             "customer_id": invoice.customerID, "total": invoice.total, "status": invoice.status]
        }
        switch operation {
        case "findCustomer":
            let match = state.customers.first {
                (fields["our_ref"] != nil && $0.value.ourRef == fields["our_ref"])
                    || (fields["name"] != nil && $0.value.name == fields["name"])
            }
            guard let match else { return ["found": "false"] }
            return ["id": match.key, "name": match.value.name, "our_ref": match.value.ourRef]
        case "createCustomer":
            let id = newID()
            state.customers[id] = (fields["name"] ?? "", fields["our_ref"] ?? "")
            return ["id": id, "name": fields["name"] ?? "", "our_ref": fields["our_ref"] ?? ""]
        case "findInvoice":
            let match = state.invoices.values.first {
                (fields["number"] != nil && $0.number == fields["number"]) || (fields["id"] != nil && $0.id == fields["id"])
            }
            return match.map(invoiceAnswer) ?? ["found": "false"]
        case "createInvoice":
            let invoice = Invoice(
                id: newID(), number: fields["number"] ?? "", ourRef: fields["our_ref"] ?? "",
                customerID: fields["customer_id"] ?? "", total: fields["total"] ?? "0", version: 0, status: "open")
            state.invoices[invoice.id] = invoice
            return invoiceAnswer(invoice)
        case "updateInvoice", "voidInvoice":
            guard var invoice = state.invoices[fields["id"] ?? ""] else { return ["found": "false"] }
            invoice.version += 1
            if operation == "voidInvoice" { invoice.status = "voided" } else { invoice.total = fields["total"] ?? invoice.total }
            state.invoices[invoice.id] = invoice
            return invoiceAnswer(invoice)
        case "findPayment":
            guard let match = state.payments.first(where: { $0.value.ourRef == fields["our_ref"] }) else {
                return ["found": "false"]
            }
            return ["id": match.key, "our_ref": match.value.ourRef, "invoice_id": match.value.invoiceID]
        case "createPayment":
            let id = newID()
            state.payments[id] = (fields["our_ref"] ?? "", fields["invoice_id"] ?? "", fields["amount"] ?? "")
            return ["id": id, "our_ref": fields["our_ref"] ?? "", "invoice_id": fields["invoice_id"] ?? ""]
        default:
            return ["found": "false"]
        }
    }

    private static func json(_ status: Int, _ object: [String: String]) -> HTTPResponse {
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return HTTPResponse(status: status, body: Array(body))
    }
}

/// A connector for the fake ERP. It claims to be Xero (`erp`), so jobs route like Xero's, but uses its own
/// capabilities; its failures map onto the shared catalogue like a real connector's.
struct TestConnector: ERPConnector {
    static let erp: ERP = .xero
    static let capabilities = ConnectorCapabilities(
        idempotency: IdempotencySupport(
            carrier: .header("Idempotency-Key"), maxLength: 64, window: .seconds(360),
            operations: [.createCustomer, .createInvoice, .updateInvoice, .voidInvoice, .createPayment]),
        batch: nil,
        rateLimits: [
            RateLimit(scope: .connection, kind: .rate(limit: 600, per: .seconds(60)), source: "test"),
            RateLimit(scope: .connection, kind: .concurrent(4), source: "test"),
        ],
        defaultRateLimitWait: .seconds(1), concurrencyControl: .versionToken(field: "version"),
        posting: PostingRules(updates: .always, canVoid: true, voidRequiresNoPayments: false, delete: nil, notes: "test"),
        references: ReferenceFields(
            invoiceNumber: "number", invoiceOwnershipMarker: "our_ref", customerReference: "our_ref",
            paymentReference: "our_ref", maxInvoiceNumberLength: nil, uniqueCustomerNames: true),
        pull: PullSupport(entities: [], maxPageSize: 100, maxLookback: nil), serverTimeout: nil)
    static let mappingRequirements = MappingRequirements(
        lineItem: [], lineAccount: [], paymentDepositAccount: false, taxModels: [], locationDimensions: [],
        maxTrackingCategories: nil)
    static let authorization = AuthorizationProfile(
        authorizeURL: "http://127.0.0.1/fake/authorize", tokenURL: "http://127.0.0.1/fake/token",
        apiBaseURL: "http://127.0.0.1/fake", scopes: [], supportsPKCE: false, companyDiscovery: .callbackParameter("realmId"))

    let context: ConnectionContext
    let transport: any HTTPTransport

    init(context: ConnectionContext, transport: any HTTPTransport) {
        self.context = context
        self.transport = transport
    }

    private func call(
        _ operation: ConnectorOperation, _ fields: [String: String], key: IdempotencyKey? = nil, logger: Logger
    ) async throws -> [String: String]? {
        var headers = HTTPHeaders()
        if let key { headers.add(name: "Idempotency-Key", value: key.rawValue) }
        let body = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        let response: HTTPResponse
        do {
            response = try await transport.execute(
                HTTPRequest(
                    method: .post, url: "http://127.0.0.1/fake/\(operation.rawValue)", headers: headers, body: Array(body)),
                logger: logger)
        } catch is FakeERP.LostAnswer {
            throw ConnectorFailure(
                reason: operation.isWrite ? .erpOutcomeUnknown : .erpTransient,
                disposition: operation.isWrite ? .lookupThenRetry : .retry, erp: Self.erp, operation: operation,
                transportError: "timeout")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: String]) ?? [:]
        switch response.status {
        case 200: return object
        case 404: return nil
        case 429:
            let seconds = Int(response.headers["Retry-After"] ?? "") ?? 1
            throw ConnectorFailure(
                reason: .erpRateLimited, disposition: .retryAfter(.seconds(seconds)), erp: Self.erp, operation: operation,
                httpStatus: 429)
        case 401:
            throw ConnectorFailure(
                reason: .erpAuthLost, disposition: .reauthorize, erp: Self.erp, operation: operation, httpStatus: 401,
                erpCode: "invalid_grant")
        case 400:
            throw ConnectorFailure(
                reason: .erpRejectedData, disposition: .park, erp: Self.erp, operation: operation, httpStatus: 400,
                erpMessage: object["message"])
        default:
            throw ConnectorFailure(
                reason: .erpTransient, disposition: .retry, erp: Self.erp, operation: operation,
                httpStatus: response.status)
        }
    }

    private static func customer(_ object: [String: String]) -> ERPCustomerRecord {
        ERPCustomerRecord(erpID: object["id"] ?? "", displayName: object["name"] ?? "", ourReference: object["our_ref"])
    }

    private static func invoice(_ object: [String: String]) -> ERPInvoiceRecord {
        ERPInvoiceRecord(
            erpID: object["id"] ?? "", version: object["version"], number: object["number"], status: object["status"],
            customerID: object["customer_id"], ourReference: object["our_ref"],
            totals: object["total"].flatMap { Money(string: $0) }.map { ERPTotals(total: $0) })
    }

    func findCustomer(_ lookup: CustomerLookup, logger: Logger) async throws -> ERPCustomerRecord? {
        let fields: [String: String] =
            switch lookup {
            case .reference(let customerID, _): ["our_ref": customerID]
            case .displayName(let name): ["name": name]
            case .erpID(let id): ["id": id]
            }
        return try await call(.findCustomer, fields, logger: logger).map(Self.customer)
    }

    func createCustomer(
        _ customer: Customer, displayName: String, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPCustomerRecord> {
        let object = try await call(
            .createCustomer, ["name": displayName, "our_ref": customer.customerID], key: key, logger: logger) ?? [:]
        return WriteReceipt(record: Self.customer(object), erpRequestID: "req-\(key.rawValue.prefix(6))", idempotencyKey: key)
    }

    func findInvoice(_ lookup: InvoiceLookup, logger: Logger) async throws -> ERPInvoiceRecord? {
        let fields: [String: String] =
            switch lookup {
            case .number(let number): ["number": number]
            case .erpID(let id): ["id": id]
            }
        return try await call(.findInvoice, fields, logger: logger).map(Self.invoice)
    }

    private func invoiceFields(_ document: InvoiceDocument) -> [String: String] {
        ["number": document.invoice.invoiceNumber, "our_ref": document.invoice.invoiceID,
         "customer_id": document.customer.id, "total": document.invoice.totals.total.description]
    }

    func createInvoice(
        _ document: InvoiceDocument, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPInvoiceRecord> {
        let record = Self.invoice(try await call(.createInvoice, invoiceFields(document), key: key, logger: logger) ?? [:])
        return WriteReceipt(
            record: record, erpRequestID: "req-ci", idempotencyKey: key,
            totalsCheck: TotalsCheck.compare(document.invoice, with: record.totals))
    }

    func updateInvoice(
        _ document: InvoiceDocument, existing: ERPVersionedID, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPInvoiceRecord> {
        var fields = invoiceFields(document)
        fields["id"] = existing.id
        guard let object = try await call(.updateInvoice, fields, key: key, logger: logger) else {
            throw ConnectorFailure(reason: .erpNotFound, disposition: .park, erp: Self.erp, operation: .updateInvoice)
        }
        let record = Self.invoice(object)
        return WriteReceipt(
            record: record, erpRequestID: "req-ui", idempotencyKey: key,
            totalsCheck: TotalsCheck.compare(document.invoice, with: record.totals))
    }

    func voidInvoice(_ existing: ERPVersionedID, key: IdempotencyKey, logger: Logger) async throws -> WriteReceipt<
        ERPInvoiceRecord
    > {
        guard let object = try await call(.voidInvoice, ["id": existing.id], key: key, logger: logger) else {
            throw ConnectorFailure(reason: .erpNotFound, disposition: .park, erp: Self.erp, operation: .voidInvoice)
        }
        return WriteReceipt(record: Self.invoice(object), erpRequestID: "req-vi", idempotencyKey: key)
    }

    func deleteInvoice(_ existing: ERPVersionedID, key: IdempotencyKey, logger: Logger) async throws -> WriteReceipt<
        ERPInvoiceRecord
    > {
        throw ConnectorFailure(reason: .erpUnsupported, disposition: .park, erp: Self.erp, operation: .deleteInvoice)
    }

    func pushInvoices(_ items: [BatchInvoiceItem], key: IdempotencyKey, logger: Logger) async throws -> [BatchItemOutcome] {
        throw ConnectorFailure(reason: .erpUnsupported, disposition: .park, erp: Self.erp, operation: .pushBatch)
    }

    func findPayment(_ lookup: PaymentLookup, logger: Logger) async throws -> ERPPaymentRecord? {
        guard case .reference(let paymentID, _, _, _) = lookup else { return nil }
        return try await call(.findPayment, ["our_ref": paymentID], logger: logger).map {
            ERPPaymentRecord(erpID: $0["id"] ?? "", invoiceIDs: [$0["invoice_id"] ?? ""], ourReference: $0["our_ref"])
        }
    }

    func createPayment(
        _ document: PaymentDocument, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPPaymentRecord> {
        let object =
            try await call(
                .createPayment,
                ["our_ref": document.payment.paymentID, "invoice_id": document.invoice.id,
                 "amount": document.payment.amount.description], key: key, logger: logger) ?? [:]
        return WriteReceipt(
            record: ERPPaymentRecord(
                erpID: object["id"] ?? "", invoiceIDs: [object["invoice_id"] ?? ""], ourReference: object["our_ref"]),
            erpRequestID: "req-cp", idempotencyKey: key)
    }

    func pullChanges(_ request: ChangeRequest, logger: Logger) async throws -> ChangePage {
        ChangePage(changes: [], next: nil)
    }
}
