import Domain
import Foundation
import HTTP
import Logging
import Testing
import TestSupport

@testable import Connectors

/// The QuickBooks Online connector and the shared flows over a stub transport: what goes on the wire, and
/// what happens after timeouts, stale versions and name or number clashes.
@Suite("QuickBooks Online connector")
struct QuickBooksOnlineConnectorTests {
    static let responses = "QuickBooksOnline/responses/"
    static let errors = "QuickBooksOnline/errors/"
    static let realmPath = "/qbo/v3/company/9130357012345678"
    static let requestIDHeader = [("intuit_tid", "1-67d4a0f3-aaaa")]
    let logger = Logger(label: "test.quickbooks")

    func document(_ file: String = "invoice-created.json") throws -> InvoiceDocument {
        InvoiceDocument(
            invoice: try Fixtures.invoice(file), location: TestData.sacramento,
            customer: ERPReference("58", name: "Marisol Vega"))
    }

    // MARK: Wire format

    @Test func createInvoiceRequest() async throws {
        let transport = StubTransport([
            StubTransport.reply(200, fixture: Self.responses + "invoice-created.json", headers: Self.requestIDHeader)
        ])
        let connector = TestData.quickbooks(transport)
        let scope = TestData.scope(.invoice, "inv_01HZX3K8Q7T2", version: 1)
        let result = try await connector.pushInvoice(
            try document(), link: nil, priorAttempt: .none, scope: scope, logger: logger)

        let request = try #require(transport.requests.first)
        #expect(request.method == .post)
        #expect(request.path == Self.realmPath + "/invoice")
        #expect(request.query("minorversion") == "75")
        let key = QuickBooksOnlineConnector.idempotencyKey(scope, .createInvoice)
        #expect(request.query("requestid") == key.rawValue)
        #expect(key.rawValue.count <= 50)
        #expect(request.headers["Authorization"] == "Bearer \(TestData.token)")
        #expect(request.headers["Accept"] == "application/json")
        #expect(request.headers["Content-Type"] == "application/json")
        try Fixtures.expect(
            try JSONNode(parsing: request.body ?? []), matches: "QuickBooksOnline/requests/invoice-created.us.json")

        #expect(result.path == .created)
        #expect(result.receipt.record.erpID == "130")
        #expect(result.receipt.record.version == "0")
        #expect(result.receipt.erpRequestID == "1-67d4a0f3-aaaa")
        #expect(result.receipt.idempotencyKey == key)
        #expect(result.totalsCheck == .matches)
    }

    @Test func driftIsReportedAsItsOwnReason() async throws {
        let transport = StubTransport([StubTransport.reply(200, fixture: Self.responses + "invoice-drift.json")])
        let receipt = try await TestData.quickbooks(transport).createInvoice(
            try document(), key: IdempotencyKey(rawValue: "ci-test"), logger: logger)
        let check = try #require(receipt.totalsCheck)
        #expect(check == .drift(shopTotal: "778.00", erpTotal: "778.01", shopTax: "34.90", erpTax: "34.91"))
        #expect(check.reason == .erpTotalDrift)
    }

    @Test func faultInsideHTTP200IsAFailure() async throws {
        let transport = StubTransport([
            StubTransport.reply(200, fixture: Self.errors + "6000-business-validation-in-200.json")
        ])
        let failure = try await #require(throws: ConnectorFailure.self) {
            try await TestData.quickbooks(transport).createInvoice(
                try document(), key: IdempotencyKey(rawValue: "ci-x"), logger: logger)
        }
        #expect(failure.reason == .erpRejectedData)
        #expect(failure.erpCode == "6000")
    }

    @Test func tooLongDocNumberSendsNothing() async throws {
        let transport = StubTransport()
        var document = try document()
        document.invoice.invoiceNumber = String(repeating: "9", count: 22)
        await #expect(throws: ConnectorFailure.self) {
            try await TestData.quickbooks(transport).createInvoice(
                document, key: IdempotencyKey(rawValue: "ci-x"), logger: logger)
        }
        #expect(transport.requests.isEmpty)
    }

    @Test func tokenNeverAppearsInFailures() async throws {
        let transport = StubTransport([StubTransport.reply(401, fixture: Self.errors + "3200-token-expired.json")])
        let failure = try await #require(throws: ConnectorFailure.self) {
            try await TestData.quickbooks(transport).findInvoice(.number("INV-10482"), logger: logger)
        }
        #expect(failure.reason == .erpAuthLost)
        #expect(failure.disposition == .reauthorize)
        #expect(transport.requests.first?.headers["Authorization"] == "Bearer \(TestData.token)")
        for text in [
            failure.description, failure.debugDescription, failure.erpMessage ?? "", failure.summary, "\(failure)",
        ] {
            #expect(!text.contains(TestData.token), "the bearer token leaked into \(text)")
        }
        #expect(failure.erpMessage?.contains("<redacted>") == true, "the ERP echoed the token; it is redacted")
    }

    @Test func logsCarryNoTokensOrPayloads() async throws {
        let capture = LogCapture()
        let transport = StubTransport([
            StubTransport.reply(
                400, fixture: Self.errors + "6140-duplicate-docnumber.json", headers: Self.requestIDHeader),
            StubTransport.reply(200, fixture: Self.responses + "invoice-query-ours.json"),
        ])
        _ = try await TestData.quickbooks(transport).pushInvoice(
            try document(), link: nil, priorAttempt: .none, scope: TestData.scope(.invoice, "inv_01HZX3K8Q7T2"),
            logger: capture.logger())
        let lines = capture.lines
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { $0.hasPrefix("debug ERP request") })
        #expect(lines[0].contains("http.status_code=400") && lines[0].contains("erp.request_id=1-67d4a0f3-aaaa"))
        for line in lines {
            for secret in [
                TestData.token, "Marisol", "INV-10482", "Alternator", "778", "DocNumber", "requestid", "query",
            ] {
                #expect(!line.contains(secret), "log line carries \(secret): \(line)")
            }
        }
    }

    // MARK: Unknown outcomes

    @Test func timeoutAfterSendLooksUpAndAdopts() async throws {
        let transport = StubTransport([
            StubTransport.timeoutAfterSend(),
            StubTransport.reply(200, fixture: Self.responses + "invoice-query-ours.json"),
        ])
        let result = try await TestData.quickbooks(transport).pushInvoice(
            try document(), link: nil, priorAttempt: .none, scope: TestData.scope(.invoice, "inv_01HZX3K8Q7T2"),
            logger: logger)
        #expect(result.path == .adopted)
        #expect(result.receipt.record.erpID == "130")
        let requests = transport.requests
        #expect(requests.map(\.method) == [.post, .get])
        #expect(requests[1].path == Self.realmPath + "/query")
        #expect(requests[1].query("query") == "select * from Invoice where DocNumber = 'INV-10482'")
        #expect(requests[1].query("minorversion") == "75")
    }

    @Test func timeoutAfterSendWithNothingFoundCreatesAgainWithTheSameKey() async throws {
        let transport = StubTransport([
            StubTransport.timeoutAfterSend(),
            StubTransport.reply(200, fixture: Self.responses + "invoice-query-empty.json"),
        ])
        let connector = TestData.quickbooks(transport)
        let scope = TestData.scope(.invoice, "inv_01HZX3K8Q7T2")
        let failure = try await #require(throws: ConnectorFailure.self) {
            try await connector.pushInvoice(
                try document(), link: nil, priorAttempt: .none, scope: scope, logger: logger)
        }
        #expect(failure.reason == .erpOutcomeUnknown)
        #expect(failure.disposition == .lookupThenRetry)
        // The runtime retries later with priorAttempt = .outcomeUnknown: look up first, then the same requestid.
        transport.enqueue(
            StubTransport.reply(200, fixture: Self.responses + "invoice-query-empty.json"),
            StubTransport.reply(200, fixture: Self.responses + "invoice-created.json"))
        let result = try await connector.pushInvoice(
            try document(), link: nil, priorAttempt: .outcomeUnknown, scope: scope, logger: logger)
        #expect(result.path == .created)
        let requests = transport.requests
        #expect(requests.map(\.method) == [.post, .get, .get, .post])
        #expect(requests[0].query("requestid") == requests[3].query("requestid"))
    }

    @Test func priorUnknownOutcomeAdoptsWithoutWriting() async throws {
        let transport = StubTransport([StubTransport.reply(200, fixture: Self.responses + "invoice-query-ours.json")])
        let result = try await TestData.quickbooks(transport).pushInvoice(
            try document(), link: nil, priorAttempt: .outcomeUnknown,
            scope: TestData.scope(.invoice, "inv_01HZX3K8Q7T2"),
            logger: logger)
        #expect(result.path == .adopted)
        #expect(transport.requests.map(\.method) == [.get])
    }

    @Test func duplicateNumberOfAForeignInvoiceParks() async throws {
        let transport = StubTransport([
            StubTransport.reply(400, fixture: Self.errors + "6140-duplicate-docnumber.json"),
            StubTransport.reply(200, fixture: Self.responses + "invoice-query-foreign.json"),
        ])
        let failure = try await #require(throws: ConnectorFailure.self) {
            try await TestData.quickbooks(transport).pushInvoice(
                try document(), link: nil, priorAttempt: .none, scope: TestData.scope(.invoice, "inv_01HZX3K8Q7T2"),
                logger: logger)
        }
        #expect(failure.reason == .erpDuplicate)
        #expect(failure.disposition == .park)
        #expect(failure.field == "DocNumber")
    }

    @Test func duplicateNumberOfOurOwnInvoiceIsAdopted() async throws {
        let transport = StubTransport([
            StubTransport.reply(400, fixture: Self.errors + "6140-duplicate-docnumber.json"),
            StubTransport.reply(200, fixture: Self.responses + "invoice-query-ours.json"),
        ])
        let result = try await TestData.quickbooks(transport).pushInvoice(
            try document(), link: nil, priorAttempt: .none, scope: TestData.scope(.invoice, "inv_01HZX3K8Q7T2"),
            logger: logger)
        #expect(result.path == .adopted)
    }

    // MARK: Stale versions

    @Test func staleSyncTokenRefetchesOnceThenUpdates() async throws {
        let transport = StubTransport([
            StubTransport.reply(400, fixture: Self.errors + "5010-stale-object.json"),
            StubTransport.reply(200, fixture: Self.responses + "invoice-read-current.json"),
            StubTransport.reply(200, fixture: Self.responses + "invoice-updated.json"),
        ])
        let scope = TestData.scope(.invoice, "inv_01HZX3K8Q7T2", version: 2)
        let result = try await TestData.quickbooks(transport).pushInvoice(
            try document("invoice-updated.json"), link: ERPVersionedID(id: "130", version: "2"), priorAttempt: .none,
            scope: scope, logger: logger)
        #expect(result.path == .refetchedAndUpdated)
        #expect(result.receipt.record.version == "4")
        #expect(result.totalsCheck == .matches)

        let requests = transport.requests
        #expect(requests.map(\.method) == [.post, .get, .post])
        #expect(requests[1].path == Self.realmPath + "/invoice/130")
        let first = try JSONNode(parsing: requests[0].body ?? [])
        let retry = try JSONNode(parsing: requests[2].body ?? [])
        #expect(first["SyncToken"] == .string("2"))
        #expect(retry["SyncToken"] == .string("3"))
        #expect(retry["sparse"] == .bool(true))
        let key = QuickBooksOnlineConnector.idempotencyKey(scope, .updateInvoice)
        #expect(requests[0].query("requestid") == key.rawValue)
        #expect(requests[2].query("requestid") == key.variant("refetch-3").rawValue)
    }

    @Test func staleTwiceIsThrown() async throws {
        let transport = StubTransport([
            StubTransport.reply(400, fixture: Self.errors + "5010-stale-object.json"),
            StubTransport.reply(200, fixture: Self.responses + "invoice-read-current.json"),
            StubTransport.reply(400, fixture: Self.errors + "5010-stale-object.json"),
        ])
        let failure = try await #require(throws: ConnectorFailure.self) {
            try await TestData.quickbooks(transport).pushInvoice(
                try document("invoice-updated.json"), link: ERPVersionedID(id: "130", version: "2"),
                priorAttempt: .none,
                scope: TestData.scope(.invoice, "inv_01HZX3K8Q7T2", version: 2), logger: logger)
        }
        #expect(failure.reason == .erpStaleVersion)
        #expect(transport.requests.count == 3)
    }

    @Test func voidSendsIdAndSyncToken() async throws {
        let transport = StubTransport([StubTransport.reply(200, fixture: Self.responses + "invoice-voided.json")])
        let scope = TestData.scope(.invoice, "inv_01HZX9P2M4R8", version: 2)
        let receipt = try await TestData.quickbooks(transport).pushVoid(
            ERPVersionedID(id: "131", version: "2"), scope: scope, logger: logger)
        #expect(receipt.record.totals?.total == Money.zero)
        let request = try #require(transport.requests.first)
        #expect(request.query("operation") == "void")
        #expect(request.query("requestid") == QuickBooksOnlineConnector.idempotencyKey(scope, .voidInvoice).rawValue)
        #expect(
            try JSONNode(parsing: request.body ?? []) == JSONNode(parsing: Array(#"{"Id":"131","SyncToken":"2"}"#.utf8))
        )
    }

    // MARK: Customers

    @Test func displayNameCollisionAppliesTheSuffixPolicy() async throws {
        var mapping = TestData.quickbooksUS
        mapping.customers = CustomerMatchingPolicy(mode: .referenceOnly, maxNameSuffix: 5)
        let transport = StubTransport([
            StubTransport.reply(200, fixture: Self.responses + "customer-query-empty.json"),
            StubTransport.reply(400, fixture: Self.errors + "6240-duplicate-name.json"),
            StubTransport.reply(200, fixture: Self.responses + "customer-created.json"),
        ])
        let customer = try Fixtures.invoice("invoice-created.json").customer
        let scope = TestData.scope(.customer, customer.customerID)
        let resolution = try await TestData.quickbooks(transport, mapping: mapping).ensureCustomer(
            customer, scope: scope, logger: logger)
        #expect(resolution.path == .created(suffix: 2))
        #expect(resolution.customer.erpID == "58")
        #expect(resolution.customer.displayName == "Marisol Vega (2)")

        let requests = transport.requests
        #expect(
            requests[0].query("query") == """
                select * from Customer where DisplayName in ('Marisol Vega', 'Marisol Vega (2)', 'Marisol Vega (3)', \
                'Marisol Vega (4)', 'Marisol Vega (5)')
                """)
        #expect(try JSONNode(parsing: requests[1].body ?? [])["DisplayName"] == .string("Marisol Vega"))
        #expect(try JSONNode(parsing: requests[2].body ?? [])["DisplayName"] == .string("Marisol Vega (2)"))
        let key = QuickBooksOnlineConnector.idempotencyKey(scope, .createCustomer)
        #expect(requests[1].query("requestid") == key.rawValue)
        #expect(requests[2].query("requestid") == key.variant("name-2").rawValue)
        try Fixtures.expect(
            try JSONNode(parsing: requests[2].body ?? []), matches: "QuickBooksOnline/requests/customer-created.json")
    }

    @Test func suffixesRunOutAndPark() async throws {
        var mapping = TestData.quickbooksUS
        mapping.customers = CustomerMatchingPolicy(mode: .referenceOnly, maxNameSuffix: 3)
        let duplicate = StubTransport.reply(400, fixture: Self.errors + "6240-duplicate-name.json")
        let transport = StubTransport([
            StubTransport.reply(200, fixture: Self.responses + "customer-query-empty.json"), duplicate, duplicate,
            duplicate,
        ])
        let customer = try Fixtures.invoice("invoice-created.json").customer
        let failure = try await #require(throws: ConnectorFailure.self) {
            try await TestData.quickbooks(transport, mapping: mapping).ensureCustomer(
                customer, scope: TestData.scope(.customer, customer.customerID), logger: logger)
        }
        #expect(failure.reason == .erpDuplicate)
        #expect(failure.disposition == .park)
        #expect(failure.erpMessage == "The display names \"Marisol Vega\" to \"Marisol Vega (3)\" are all taken")
        #expect(transport.requests.count == 4)
    }

    @Test func ourSuffixedCustomerIsFoundByReference() async throws {
        let transport = StubTransport([
            StubTransport.reply(200, fixture: Self.responses + "customer-query-ours-suffixed.json")
        ])
        let customer = try Fixtures.invoice("invoice-created.json").customer
        let resolution = try await TestData.quickbooks(transport).ensureCustomer(
            customer, scope: TestData.scope(.customer, customer.customerID), logger: logger)
        #expect(resolution.path == .foundByReference)
        #expect(resolution.customer.erpID == "58")
        #expect(transport.requests.count == 1)
    }

    @Test func existingCustomerWithTheSameNameIsAdoptedByPolicy() async throws {
        let transport = StubTransport([
            StubTransport.reply(200, fixture: Self.responses + "customer-query-empty.json"),
            StubTransport.reply(200, fixture: Self.responses + "customer-query-other.json"),
        ])
        let customer = try Fixtures.invoice("invoice-created.json").customer
        let resolution = try await TestData.quickbooks(transport).ensureCustomer(
            customer, scope: TestData.scope(.customer, customer.customerID), logger: logger)
        #expect(resolution.path == .adoptedByName)
        #expect(resolution.customer.erpID == "41")
        #expect(transport.requests[1].query("query") == "select * from Customer where DisplayName = 'Marisol Vega'")
    }

    @Test func apostrophesAreEscapedInQueries() async throws {
        let transport = StubTransport([StubTransport.reply(200, fixture: Self.responses + "customer-query-empty.json")])
        let found = try await TestData.quickbooks(transport).findCustomer(
            .displayName("O'Brien \"Sparky\""), logger: logger)
        #expect(found == nil)
        #expect(
            transport.requests[0].query("query") == #"select * from Customer where DisplayName = 'O\'Brien "Sparky"'"#)
        #expect(transport.requests[0].url.contains("%27O%5C%27Brien%20%22Sparky%22%27"))
    }

    // MARK: Payments

    @Test func paymentIsLinkedAndDeposited() async throws {
        let transport = StubTransport([StubTransport.reply(200, fixture: Self.responses + "payment-created.json")])
        let document = try TestData.paymentDocument(invoiceID: "130", customerID: "58")
        let scope = TestData.scope(.payment, "pay_7802")
        let result = try await TestData.quickbooks(transport).pushPayment(
            document, priorAttempt: .none, scope: scope, logger: logger)
        #expect(result.path == .created)
        #expect(result.receipt.record.invoiceIDs == ["130"])
        #expect(result.receipt.record.amount == Money("500.00"))
        let request = try #require(transport.requests.first)
        #expect(request.path == Self.realmPath + "/payment")
        #expect(request.query("requestid") == QuickBooksOnlineConnector.idempotencyKey(scope, .createPayment).rawValue)
        try Fixtures.expect(
            try JSONNode(parsing: request.body ?? []), matches: "QuickBooksOnline/requests/payment-partial.json")
    }

    @Test func paymentWithUnknownOutcomeIsFoundByReference() async throws {
        let transport = StubTransport([
            StubTransport.timeoutAfterSend(),
            StubTransport.reply(200, fixture: Self.responses + "payment-query-ours.json"),
        ])
        let result = try await TestData.quickbooks(transport).pushPayment(
            try TestData.paymentDocument(invoiceID: "130", customerID: "58"), priorAttempt: .none,
            scope: TestData.scope(.payment, "pay_7802"), logger: logger)
        #expect(result.path == .adopted)
        #expect(result.receipt.record.erpID == "212")
        #expect(
            transport.requests[1].query("query")
                == "select * from Payment where CustomerRef = '58' and TxnDate = '2025-03-21'")
    }

    // MARK: Batches

    @Test func batchGivesEachItemItsOwnResult() async throws {
        let base = try Fixtures.invoice("invoice-created.json")
        var first = base
        first.invoiceID = "inv_A"
        first.invoiceNumber = "INV-10490"
        var second = base
        second.invoiceID = "inv_B"
        second.invoiceNumber = "INV-10491"
        let updated = try Fixtures.invoice("invoice-updated.json")
        let customer = ERPReference("58")
        let items = [
            BatchInvoiceItem(
                document: InvoiceDocument(invoice: first, location: TestData.sacramento, customer: customer)),
            BatchInvoiceItem(
                document: InvoiceDocument(invoice: second, location: TestData.sacramento, customer: customer)),
            BatchInvoiceItem(
                document: InvoiceDocument(invoice: updated, location: TestData.sacramento, customer: customer),
                existing: ERPVersionedID(id: "130", version: "4")),
        ]
        let scope = TestData.scope(
            .batch, IdempotencyScope.batchID([("inv_A", 1), ("inv_B", 1), ("inv_01HZX3K8Q7T2", 2)]))
        let key = QuickBooksOnlineConnector.idempotencyKey(scope, .pushBatch)
        let transport = StubTransport([StubTransport.reply(200, fixture: Self.responses + "batch-mixed.json")])
        let outcomes = try await TestData.quickbooks(transport).pushInvoices(items, key: key, logger: logger)

        #expect(outcomes.map(\.invoiceID) == ["inv_A", "inv_B", "inv_01HZX3K8Q7T2"])
        #expect(try outcomes[0].result.get().record.erpID == "140")
        #expect(try outcomes[0].result.get().totalsCheck == .matches)
        guard case .failure(let failure) = outcomes[1].result else { Issue.record("item 2 should fail"); return }
        #expect(failure.reason == .erpDuplicate)
        #expect(failure.operation == .createInvoice)
        #expect(try outcomes[2].result.get().totalsCheck?.reason == .erpTotalDrift)

        let request = try #require(transport.requests.first)
        #expect(request.path == Self.realmPath + "/batch")
        #expect(request.query("requestid") == key.rawValue)
        #expect(key.rawValue.count <= 36)
        let body = try JSONNode(parsing: request.body ?? [])
        let operations = body["BatchItemRequest"]?.arrayValue?.map {
            [$0["bId"]?.stringValue, $0["operation"]?.stringValue]
        }
        #expect(operations == [["1", "create"], ["2", "create"], ["3", "update"]])
        #expect(QuickBooksSchemaValidator.shared.violations(body, type: "IntuitBatchRequest").isEmpty)
    }

    @Test func batchOverTheLimitSendsNothing() async throws {
        let document = try document()
        let transport = StubTransport()
        let failure = try await #require(throws: ConnectorFailure.self) {
            try await TestData.quickbooks(transport).pushInvoices(
                Array(repeating: BatchInvoiceItem(document: document), count: 31),
                key: IdempotencyKey(rawValue: "bi-x"), logger: logger)
        }
        #expect(failure.reason == .erpUnsupported)
        #expect(transport.requests.isEmpty)
    }

    // MARK: Pulls

    @Test func pullPagesThroughChanges() async throws {
        let transport = StubTransport([StubTransport.reply(200, fixture: Self.responses + "changes-invoices-page.json")]
        )
        let since = Date(timeIntervalSince1970: 1_741_910_400)
        let page = try await TestData.quickbooks(transport).pullChanges(
            ChangeRequest(entities: [.invoice, .payment], since: since, pageSize: 2), logger: logger)
        #expect(page.changes.count == 2)
        #expect(page.next == ChangeCursor(rawValue: "invoice:3"))
        guard case .invoice(let first) = page.changes[0] else { Issue.record("expected an invoice"); return }
        #expect(first.totals?.total == Money("1017.24"))
        #expect(
            transport.requests[0].query("query")
                == "select * from Invoice where MetaData.LastUpdatedTime >= '2025-03-14T00:00:00Z' orderby MetaData.LastUpdatedTime startposition 1 maxresults 2"
        )
    }

    // MARK: Every request

    /// A realistic sequence: customer with a suffix, invoice, update after a stale token, payment, void, batch.
    /// Every request carries minorversion=75 and the bearer token; every write a deterministic requestid within
    /// its limit; every body passes the XSD contract.
    @Test func everyRequestFollowsTheRules() async throws {
        func run() async throws -> [HTTPRequest] {
            var mapping = TestData.quickbooksUS
            mapping.customers.mode = .referenceOnly
            let transport = StubTransport([
                StubTransport.reply(200, fixture: Self.responses + "customer-query-empty.json"),
                StubTransport.reply(400, fixture: Self.errors + "6240-duplicate-name.json"),
                StubTransport.reply(200, fixture: Self.responses + "customer-created.json"),
                StubTransport.reply(200, fixture: Self.responses + "invoice-created.json"),
                StubTransport.reply(400, fixture: Self.errors + "5010-stale-object.json"),
                StubTransport.reply(200, fixture: Self.responses + "invoice-read-current.json"),
                StubTransport.reply(200, fixture: Self.responses + "invoice-updated.json"),
                StubTransport.reply(200, fixture: Self.responses + "payment-created.json"),
                StubTransport.reply(200, fixture: Self.responses + "invoice-voided.json"),
                StubTransport.reply(200, fixture: Self.responses + "batch-mixed.json"),
            ])
            let connector = TestData.quickbooks(transport, mapping: mapping)
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
                try TestData.paymentDocument(invoiceID: "130", customerID: "58"), priorAttempt: .none,
                scope: TestData.scope(.payment, "pay_7802"), logger: logger)
            _ = try await connector.pushVoid(
                ERPVersionedID(id: "131", version: "2"),
                scope: TestData.scope(.invoice, "inv_01HZX9P2M4R8", version: 2), logger: logger)
            _ = try await connector.pushInvoices(
                [
                    BatchInvoiceItem(document: document), BatchInvoiceItem(document: document),
                    BatchInvoiceItem(document: updated),
                ],
                key: QuickBooksOnlineConnector.idempotencyKey(TestData.scope(.batch, "b1"), .pushBatch), logger: logger)
            #expect(transport.remainingSteps == 0)
            return transport.requests
        }

        let requests = try await run()
        #expect(requests.count == 10)
        let validator = QuickBooksSchemaValidator.shared
        for request in requests {
            #expect(request.query("minorversion") == "75", "\(request)")
            #expect(request.headers["Authorization"] == "Bearer \(TestData.token)")
            #expect(request.url.hasPrefix("http://127.0.0.1:8084/qbo/v3/company/9130357012345678/"))
            guard request.method == .post else {
                #expect(request.query("requestid") == nil)
                continue
            }
            let key = try #require(request.query("requestid"), "\(request) has no requestid")
            #expect(key.count <= (request.path.hasSuffix("/batch") ? 36 : 50))
            let body = try JSONNode(parsing: request.body ?? [])
            let type =
                request.path.hasSuffix("/batch")
                ? "IntuitBatchRequest"
                : request.path.hasSuffix("/customer")
                    ? "Customer"
                    : request.path.hasSuffix("/payment") ? "Payment" : "Invoice"
            #expect(validator.violations(body, type: type) == [], "\(request)")
        }
        let writeKeys = requests.compactMap { $0.query("requestid") }
        #expect(Set(writeKeys).count == writeKeys.count, "each distinct write has its own key")
        let again = try await run()
        #expect(again.map { $0.query("requestid") } == requests.map { $0.query("requestid") }, "keys are deterministic")
    }
}
