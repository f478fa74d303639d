import Domain
import Foundation
import HTTP
import Logging
import Testing

@testable import Connectors

/// The Xero connector and the shared flows over a stub transport.
@Suite("Xero connector")
struct XeroConnectorTests {
    static let responses = "Xero/responses/"
    static let errors = "Xero/errors/"
    static let base = "/xero/api.xro/2.0"
    static let tenant = "7a3f0c2e-1b4d-4e8f-9a6b-5c2d1e0f3a4b"
    static let contactID = "7b1c5a2e-3d4f-4a6b-8c9d-0e1f2a3b4c5d"
    static let invoiceID = "d3f8a1b2-c4e5-4f67-8901-a2b3c4d5e6f7"
    static let correlation = [("Xero-Correlation-Id", "c0ffee00-1234-4abc-9def-001122334455")]
    let logger = Logger(label: "test.xero")

    func document(_ file: String = "invoice-created.json") throws -> InvoiceDocument {
        InvoiceDocument(
            invoice: try Fixtures.invoice(file), location: TestData.sacramento,
            customer: ERPReference(Self.contactID, name: "Marisol Vega (2)"))
    }

    // MARK: Wire format

    @Test func createInvoiceRequest() async throws {
        let transport = StubTransport([
            StubTransport.reply(200, fixture: Self.responses + "invoices-created.json", headers: Self.correlation)
        ])
        let scope = TestData.scope(.invoice, "inv_01HZX3K8Q7T2")
        let result = try await TestData.xero(transport).pushInvoice(
            try document(), link: nil, priorAttempt: .none, scope: scope, logger: logger)

        let request = try #require(transport.requests.first)
        #expect(request.method == .post)
        #expect(request.path == Self.base + "/Invoices")
        #expect(request.query("summarizeErrors") == "false")
        #expect(request.query("unitdp") == "4")
        #expect(request.headers["Xero-tenant-id"] == Self.tenant)
        #expect(request.headers["xero-tenant-id"] == Self.tenant, "header names are case-insensitive")
        #expect(request.headers["Idempotency-Key"] == XeroConnector.idempotencyKey(scope, .createInvoice).rawValue)
        #expect(request.headers["Authorization"] == "Bearer \(TestData.token)")
        try Fixtures.expect(try JSONNode(parsing: request.body ?? []), matches: "Xero/requests/invoice-created.json")

        #expect(result.path == .created)
        #expect(result.receipt.record.erpID == Self.invoiceID)
        #expect(result.receipt.erpRequestID == "c0ffee00-1234-4abc-9def-001122334455")
        #expect(result.totalsCheck == .matches)
    }

    @Test func updateGoesToTheInvoiceAndCannotTouchAPaidOne() async throws {
        let transport = StubTransport([StubTransport.reply(400, fixture: Self.errors + "400-not-editable.json")])
        let failure = try await #require(throws: ConnectorFailure.self) {
            try await TestData.xero(transport).pushInvoice(
                try document("invoice-updated.json"), link: ERPVersionedID(id: Self.invoiceID, version: nil),
                priorAttempt: .none,
                scope: TestData.scope(.invoice, "inv_01HZX3K8Q7T2", version: 2), logger: logger)
        }
        #expect(failure.reason == .erpNotEditable)
        #expect(failure.disposition == .park)
        let request = try #require(transport.requests.first)
        #expect(request.path == Self.base + "/Invoices/\(Self.invoiceID)")
        #expect(request.query("summarizeErrors") == nil)
        #expect(try JSONNode(parsing: request.body ?? [])["Invoices"]?[0]?["InvoiceID"] == .string(Self.invoiceID))
    }

    @Test func voidSetsStatusVoided() async throws {
        let transport = StubTransport([StubTransport.reply(200, fixture: Self.responses + "invoice-voided.json")])
        let receipt = try await TestData.xero(transport).pushVoid(
            ERPVersionedID(id: Self.invoiceID, version: nil),
            scope: TestData.scope(.invoice, "inv_01HZX9P2M4R8", version: 2), logger: logger)
        #expect(receipt.record.status == "VOIDED")
        let request = try #require(transport.requests.first)
        #expect(request.path == Self.base + "/Invoices/\(Self.invoiceID)")
        #expect(
            try JSONNode(parsing: request.body ?? [])
                == JSONNode(
                    parsing: Array(#"{"Invoices":[{"Status":"VOIDED","InvoiceID":"\#(Self.invoiceID)"}]}"#.utf8)))
    }

    @Test func rateLimitCarriesRetryAfter() async throws {
        let transport = StubTransport([
            StubTransport.reply(429, "", headers: [("Retry-After", "37"), ("X-Rate-Limit-Problem", "minute")])
        ])
        let failure = try await #require(throws: ConnectorFailure.self) {
            try await TestData.xero(transport).findInvoice(.number("INV-10482"), logger: logger)
        }
        #expect(failure.reason == .erpRateLimited)
        #expect(failure.retryAfter == .seconds(37))
        #expect(failure.rateLimitProblem == "minute")
    }

    @Test func tokenNeverAppearsInFailures() async throws {
        let transport = StubTransport([StubTransport.reply(401, fixture: Self.errors + "401-unauthorized.json")])
        let failure = try await #require(throws: ConnectorFailure.self) {
            try await TestData.xero(transport).createInvoice(
                try document(), key: IdempotencyKey(rawValue: "ci-x"), logger: logger)
        }
        #expect(failure.reason == .erpAuthLost)
        for text in [failure.description, failure.debugDescription, failure.summary] {
            #expect(!text.contains(TestData.token))
        }
    }

    // MARK: Unknown outcomes and duplicates

    @Test func timeoutAfterSendLooksUpByNumberAndAdopts() async throws {
        let transport = StubTransport([
            StubTransport.timeoutAfterSend(),
            StubTransport.reply(200, fixture: Self.responses + "invoices-found-ours.json"),
        ])
        let result = try await TestData.xero(transport).pushInvoice(
            try document(), link: nil, priorAttempt: .none, scope: TestData.scope(.invoice, "inv_01HZX3K8Q7T2"),
            logger: logger)
        #expect(result.path == .adopted)
        let lookup = transport.requests[1]
        #expect(lookup.method == .get)
        #expect(lookup.path == Self.base + "/Invoices")
        #expect(lookup.query("InvoiceNumbers") == "INV-10482")
        #expect(lookup.query("where") == "Type==\"ACCREC\"")
        #expect(lookup.headers["Idempotency-Key"] == nil)
    }

    @Test func aForeignInvoiceWithOurNumberIsNotAdopted() async throws {
        let transport = StubTransport([
            StubTransport.timeoutAfterSend(),
            StubTransport.reply(200, fixture: Self.responses + "invoices-found-foreign.json"),
        ])
        let failure = try await #require(throws: ConnectorFailure.self) {
            try await TestData.xero(transport).pushInvoice(
                try document(), link: nil, priorAttempt: .none, scope: TestData.scope(.invoice, "inv_01HZX3K8Q7T2"),
                logger: logger)
        }
        #expect(failure.reason == .erpOutcomeUnknown)
    }

    @Test func retryAfterUnknownOutcomeReplaysTheSameKey() async throws {
        let transport = StubTransport([
            StubTransport.reply(200, fixture: Self.responses + "invoices-empty.json"),
            StubTransport.reply(200, fixture: Self.responses + "invoices-created.json"),
        ])
        let scope = TestData.scope(.invoice, "inv_01HZX3K8Q7T2")
        let result = try await TestData.xero(transport).pushInvoice(
            try document(), link: nil, priorAttempt: .outcomeUnknown, scope: scope, logger: logger)
        #expect(result.path == .created)
        #expect(transport.requests.map(\.method) == [.get, .post])
        #expect(
            transport.requests[1].headers["Idempotency-Key"]
                == XeroConnector.idempotencyKey(scope, .createInvoice).rawValue)
    }

    @Test func duplicateNumberElementLeadsToAdoption() async throws {
        let duplicate =
            #"{"Invoices":[{"InvoiceNumber":"INV-10482","HasErrors":true,"StatusAttributeString":"ERROR","ValidationErrors":[{"Message":"Invoice # must be unique."}]}]}"#
        let transport = StubTransport([
            StubTransport.reply(200, duplicate),
            StubTransport.reply(200, fixture: Self.responses + "invoices-found-ours.json"),
        ])
        let result = try await TestData.xero(transport).pushInvoice(
            try document(), link: nil, priorAttempt: .none, scope: TestData.scope(.invoice, "inv_01HZX3K8Q7T2"),
            logger: logger)
        #expect(result.path == .adopted)
    }

    // MARK: Contacts

    @Test func contactNameCollisionAppliesTheSuffixPolicy() async throws {
        let transport = StubTransport([
            StubTransport.reply(200, fixture: Self.responses + "contacts-empty.json"),
            StubTransport.reply(200, fixture: Self.responses + "contact-name-taken.json"),
            StubTransport.reply(200, fixture: Self.responses + "contact-created.json"),
        ])
        let customer = try Fixtures.invoice("invoice-created.json").customer
        let scope = TestData.scope(.customer, customer.customerID)
        let resolution = try await TestData.xero(transport).ensureCustomer(customer, scope: scope, logger: logger)
        #expect(resolution.path == .created(suffix: 2))
        #expect(resolution.customer.erpID == Self.contactID)
        #expect(resolution.customer.ourReference == "C-20417")

        let requests = transport.requests
        #expect(requests[0].path == Self.base + "/Contacts")
        #expect(requests[0].query("where") == "ContactNumber==\"C-20417\"")
        #expect(requests[1].method == .put)
        #expect(requests[1].query("summarizeErrors") == "false")
        #expect(try JSONNode(parsing: requests[2].body ?? [])["Contacts"]?[0]?["Name"] == .string("Marisol Vega (2)"))
        let key = XeroConnector.idempotencyKey(scope, .createCustomer)
        #expect(requests[1].headers["Idempotency-Key"] == key.rawValue)
        #expect(requests[2].headers["Idempotency-Key"] == key.variant("name-2").rawValue)
        try Fixtures.expect(try JSONNode(parsing: requests[1].body ?? []), matches: "Xero/requests/contact.json")
    }

    @Test func anotherShopCustomersContactIsNotAdoptedByName() async throws {
        var mapping = TestData.xero
        mapping.customers.mode = .referenceThenName
        let transport = StubTransport([
            StubTransport.reply(200, fixture: Self.responses + "contacts-empty.json"),
            StubTransport.reply(200, fixture: Self.responses + "contacts-other.json"),
            StubTransport.reply(200, fixture: Self.responses + "contact-created.json"),
        ])
        let customer = try Fixtures.invoice("invoice-created.json").customer
        let resolution = try await TestData.xero(transport, mapping: mapping).ensureCustomer(
            customer, scope: TestData.scope(.customer, customer.customerID), logger: logger)
        #expect(resolution.path == .created(suffix: nil))
        #expect(transport.requests[1].query("where") == "Name==\"Marisol Vega\"")
    }

    @Test func ourContactIsFoundByContactNumber() async throws {
        let transport = StubTransport([StubTransport.reply(200, fixture: Self.responses + "contacts-ours.json")])
        let customer = try Fixtures.invoice("invoice-created.json").customer
        let resolution = try await TestData.xero(transport).ensureCustomer(
            customer, scope: TestData.scope(.customer, customer.customerID), logger: logger)
        #expect(resolution.path == .foundByReference)
        #expect(resolution.customer.displayName == "Marisol Vega (2)")
    }

    // MARK: Payments

    @Test func paymentGoesToTheMappedAccount() async throws {
        let transport = StubTransport([StubTransport.reply(200, fixture: Self.responses + "payment-created.json")])
        let document = try TestData.paymentDocument(invoiceID: Self.invoiceID, customerID: Self.contactID)
        let scope = TestData.scope(.payment, "pay_7802")
        let result = try await TestData.xero(transport).pushPayment(
            document, priorAttempt: .none, scope: scope, logger: logger)
        #expect(result.path == .created)
        #expect(result.receipt.record.ourReference == "pay_7802")
        #expect(result.receipt.record.invoiceIDs == [Self.invoiceID])
        let request = try #require(transport.requests.first)
        #expect(request.method == .put)
        #expect(request.path == Self.base + "/Payments")
        #expect(request.headers["Idempotency-Key"] == XeroConnector.idempotencyKey(scope, .createPayment).rawValue)
        try Fixtures.expect(try JSONNode(parsing: request.body ?? []), matches: "Xero/requests/payment-partial.json")
    }

    @Test func paymentWithUnknownOutcomeIsFoundOnItsInvoice() async throws {
        let transport = StubTransport([
            StubTransport.timeoutAfterSend(),
            StubTransport.reply(200, fixture: Self.responses + "invoice-with-payments.json"),
        ])
        let result = try await TestData.xero(transport).pushPayment(
            try TestData.paymentDocument(invoiceID: Self.invoiceID, customerID: Self.contactID), priorAttempt: .none,
            scope: TestData.scope(.payment, "pay_7802"), logger: logger)
        #expect(result.path == .adopted)
        #expect(result.receipt.record.erpID == "0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d")
        #expect(transport.requests[1].path == Self.base + "/Invoices/\(Self.invoiceID)")
    }

    // MARK: Batches

    @Test func batchGivesEachInvoiceItsOwnReason() async throws {
        let base = try Fixtures.invoice("invoice-created.json")
        let customer = ERPReference(Self.contactID)
        let items = ["INV-10490", "INV-10491", "INV-10492"].enumerated().map { index, number in
            var invoice = base
            invoice.invoiceID = "inv_\(index)"
            invoice.invoiceNumber = number
            return BatchInvoiceItem(
                document: InvoiceDocument(invoice: invoice, location: TestData.sacramento, customer: customer))
        }
        let key = XeroConnector.idempotencyKey(TestData.scope(.batch, "b-2025-03-14"), .pushBatch)
        let transport = StubTransport([StubTransport.reply(200, fixture: Self.responses + "invoices-batch-mixed.json")])
        let outcomes = try await TestData.xero(transport).pushInvoices(items, key: key, logger: logger)

        #expect(try outcomes[0].result.get().record.number == "INV-10490")
        let reasons = outcomes.map { outcome -> ReasonCode? in
            if case .failure(let failure) = outcome.result { return failure.reason }
            return nil
        }
        #expect(reasons == [nil, .erpDuplicate, .erpRejectedData])
        guard case .failure(let third) = outcomes[2].result else { return }
        #expect(third.field == "AccountCode")
        #expect(
            third.erpMessage
                == "Account code '999' is not a valid code for this document.; TaxType code 'XYZ' does not exist or cannot be used for this type of transaction."
        )

        let request = try #require(transport.requests.first)
        #expect(request.path == Self.base + "/Invoices")
        #expect(request.query("summarizeErrors") == "false")
        #expect(request.headers["Idempotency-Key"] == key.rawValue)
        let body = try JSONNode(parsing: request.body ?? [])
        #expect(body["Invoices"]?.arrayValue?.count == 3)
        #expect(XeroSchemaValidator.shared.violations(body, schema: "Invoices") == [])
    }

    // MARK: Pulls

    @Test func pullSendsIfModifiedSinceAndMovesToTheNextEntity() async throws {
        let transport = StubTransport([StubTransport.reply(200, fixture: Self.responses + "invoices-changes-page.json")]
        )
        let page = try await TestData.xero(transport).pullChanges(
            ChangeRequest(
                entities: [.invoice, .payment], since: Date(timeIntervalSince1970: 1_741_910_400), pageSize: 2),
            logger: logger)
        #expect(page.changes.count == 1)
        #expect(page.next == ChangeCursor(rawValue: "payment:1"))
        let request = try #require(transport.requests.first)
        #expect(request.headers["If-Modified-Since"] == "2025-03-14T00:00:00Z")
        #expect(request.query("page") == "1")
        #expect(request.query("pageSize") == "2")
    }

    // MARK: Every request

    @Test func everyRequestFollowsTheRules() async throws {
        func run() async throws -> [HTTPRequest] {
            let transport = StubTransport([
                StubTransport.reply(200, fixture: Self.responses + "contacts-empty.json"),
                StubTransport.reply(200, fixture: Self.responses + "contact-name-taken.json"),
                StubTransport.reply(200, fixture: Self.responses + "contact-created.json"),
                StubTransport.reply(200, fixture: Self.responses + "invoices-created.json"),
                StubTransport.reply(200, fixture: Self.responses + "invoices-updated.json"),
                StubTransport.reply(200, fixture: Self.responses + "payment-created.json"),
                StubTransport.reply(200, fixture: Self.responses + "invoice-voided.json"),
                StubTransport.reply(200, fixture: Self.responses + "invoices-batch-mixed.json"),
            ])
            let connector = TestData.xero(transport)
            let created = try Fixtures.invoice("invoice-created.json")
            let customer = try await connector.ensureCustomer(
                created.customer, scope: TestData.scope(.customer, created.customer.customerID), logger: logger)
            let document = InvoiceDocument(
                invoice: created, location: TestData.sacramento, customer: customer.customer.reference)
            let pushed = try await connector.pushInvoice(
                document, link: nil, priorAttempt: .none, scope: TestData.scope(.invoice, created.invoiceID),
                logger: logger)
            var updated = document
            updated.invoice = try Fixtures.invoice("invoice-updated.json")
            _ = try await connector.pushInvoice(
                updated, link: pushed.receipt.record.versionedID, priorAttempt: .none,
                scope: TestData.scope(.invoice, created.invoiceID, version: 2), logger: logger)
            _ = try await connector.pushPayment(
                try TestData.paymentDocument(invoiceID: Self.invoiceID, customerID: Self.contactID),
                priorAttempt: .none,
                scope: TestData.scope(.payment, "pay_7802"), logger: logger)
            _ = try await connector.pushVoid(
                ERPVersionedID(id: Self.invoiceID, version: nil),
                scope: TestData.scope(.invoice, "inv_01HZX9P2M4R8", version: 2), logger: logger)
            _ = try await connector.pushInvoices(
                [
                    BatchInvoiceItem(document: document), BatchInvoiceItem(document: document),
                    BatchInvoiceItem(document: updated),
                ],
                key: XeroConnector.idempotencyKey(TestData.scope(.batch, "b1"), .pushBatch), logger: logger)
            #expect(transport.remainingSteps == 0)
            return transport.requests
        }

        let requests = try await run()
        #expect(requests.count == 8)
        let validator = XeroSchemaValidator.shared
        for request in requests {
            #expect(request.headers["Xero-tenant-id"] == Self.tenant, "\(request)")
            #expect(request.headers["Authorization"] == "Bearer \(TestData.token)")
            #expect(request.url.hasPrefix("http://127.0.0.1:8085/xero/api.xro/2.0/"))
            guard request.method != .get else {
                #expect(request.headers["Idempotency-Key"] == nil)
                continue
            }
            let key = try #require(request.headers["Idempotency-Key"], "\(request) has no Idempotency-Key")
            #expect(key.count <= 128)
            let body = try JSONNode(parsing: request.body ?? [])
            let schema =
                request.path.hasSuffix("/Contacts")
                ? "Contacts" : request.path.hasSuffix("/Payments") ? "Payments" : "Invoices"
            #expect(validator.violations(body, schema: schema) == [], "\(request)")
        }
        let keys = requests.compactMap { $0.headers["Idempotency-Key"] }
        #expect(Set(keys).count == keys.count)
        let again = try await run()
        #expect(again.map { $0.headers["Idempotency-Key"] } == requests.map { $0.headers["Idempotency-Key"] })
    }
}
