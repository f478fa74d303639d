import Domain
import Foundation
import Testing

@testable import Connectors
@testable import HTTP

@Suite("Exact JSON")
struct ERPJSONTests {
    struct Amounts: Codable, Equatable {
        var amount: JSONNumber
        var values: [JSONNumber]
        var note: String?
    }

    @Test(
        "decimals are written from their text, never through Double",
        arguments: [
            ("0.1", "0.1"), ("45.00", "45.00"), ("-28.35", "-28.35"),
            ("12345678901234567890.12", "12345678901234567890.12"),
            ("0.30000000000000000001", "0.30000000000000000001"), ("4.3350", "4.3350"),
        ])
    func writesExactText(input: String, expected: String) throws {
        let value = Amounts(amount: JSONNumber(Money(string: input)!), values: [], note: nil)
        let text = String(decoding: try ERPJSON.encode(value), as: UTF8.self)
        #expect(text == "{\"amount\":\(expected),\"values\":[]}")
    }

    @Test func sumOfTenthsIsExact() throws {
        let sum = Money("0.1") + Money("0.2")
        let text = String(
            decoding: try ERPJSON.encode(Amounts(amount: JSONNumber(sum), values: [], note: nil)), as: UTF8.self)
        #expect(text.contains("\"amount\":0.3"))
        #expect(!text.contains("0.30000000000000004"))
    }

    @Test func readsNumberLiteralsExactly() throws {
        let json = #"{"amount": 1017.24, "values": [0.1, 1e2, -0.000001, 99999999999999999999.99], "note": "x"}"#
        let value = try ERPJSON.decode(Amounts.self, from: Array(json.utf8))
        #expect(value.amount.text == "1017.24")
        #expect(value.values.map(\.text) == ["0.1", "1e2", "-0.000001", "99999999999999999999.99"])
        #expect(value.values[1].decimal == 100)
        #expect(value.values[3].money == Money("99999999999999999999.99"))
    }

    @Test func encodesEveryIntegerWidthAndDecodesItBack() throws {
        struct Widths: Codable, Equatable {
            var a: Int8, b: Int16, c: Int32, d: Int64, e: UInt8, f: UInt16, g: UInt32, h: UInt64, i: UInt, j: Int
            var k: [Int32], l: Bool, m: Decimal
        }
        let value = Widths(
            a: -8, b: -16, c: -32, d: Int64.min, e: 8, f: 16, g: 32, h: UInt64.max, i: 7, j: -1, k: [1, 2], l: true,
            m: Decimal(string: "0.125")!)
        let bytes = try ERPJSON.encode(value)
        #expect(
            String(decoding: bytes, as: UTF8.self)
                == #"{"a":-8,"b":-16,"c":-32,"d":-9223372036854775808,"e":8,"f":16,"g":32,"h":18446744073709551615,"i":7,"j":-1,"k":[1,2],"l":true,"m":0.125}"#
        )
        #expect(try ERPJSON.decode(Widths.self, from: bytes) == value)
    }

    @Test func structuralDiffNamesThePath() throws {
        let a = try JSONNode(parsing: Array(#"{"Line": [{"Amount": 1.50}, {"Amount": 2}], "x": true}"#.utf8))
        let b = try JSONNode(parsing: Array(#"{"x": true, "Line": [{"Amount": 1.5}, {"Amount": 2.01}]}"#.utf8))
        #expect(JSONDiff.first(a, a) == nil)
        #expect(JSONDiff.first(a, b) == "$.Line[1].Amount: expected 2, found 2.01")
        #expect(JSONDiff.first(a, try JSONNode(parsing: Array(#"{"Line": []}"#.utf8))) == "$.x: missing")
    }

    @Test func refusesBinaryFloatingPoint() {
        struct Bad: Encodable { var amount: Double }
        #expect(throws: EncodingError.self) { try ERPJSON.encode(Bad(amount: 0.1)) }
    }

    @Test func omitsNilAndEscapesStrings() throws {
        let value = Amounts(amount: 1, values: [2], note: "Quote \" backslash \\ newline \n tab \t bell \u{7}")
        let bytes = try ERPJSON.encode(value)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#""note":"Quote \" backslash \\ newline \n tab \t bell \u0007""#))
        let back = try ERPJSON.decode(Amounts.self, from: bytes)
        #expect(back == value)
        let withoutNote = String(decoding: try ERPJSON.encode(Amounts(amount: 1, values: [], note: nil)), as: UTF8.self)
        #expect(!withoutNote.contains("note"))
    }

    @Test(
        "malformed JSON is refused with an offset",
        arguments: ["", "{", "{\"a\":}", "[1,]", "01", "\"\\x\"", "{\"a\":1} x", "\"\u{1}\""])
    func rejectsMalformed(text: String) {
        #expect(throws: JSONParseError.self) { try JSONNode(parsing: Array(text.utf8)) }
    }

    @Test func parsesUnicodeEscapesAndComparesStructurally() throws {
        let a = try JSONNode(parsing: Array(#"{"b": [1.50, "\u00e9\ud83d\ude00"], "a": null}"#.utf8))
        let b = try JSONNode(parsing: Array(#"{"a": null, "b": [1.5, "é😀"]}"#.utf8))
        #expect(a == b)
        #expect(a["b"]?[1]?.stringValue == "é😀")
    }
}

@Suite("SHA-256 and idempotency keys")
struct IdempotencyKeyTests {
    @Test func keysAreDeterministicAndDistinct() {
        let scope = TestData.scope(.invoice, "inv_01HZX3K8Q7T2", version: 3)
        let a = IdempotencyKey(scope: scope, operation: .createInvoice, maxLength: 50)
        let b = IdempotencyKey(scope: scope, operation: .createInvoice, maxLength: 50)
        #expect(a == b)
        #expect(a.rawValue.hasPrefix("ci-"))
        #expect(a.rawValue.count == 50)
        var other = scope
        other.version = 4
        let distinct = [
            a, IdempotencyKey(scope: scope, operation: .updateInvoice, maxLength: 50),
            IdempotencyKey(scope: other, operation: .createInvoice, maxLength: 50),
            IdempotencyKey(
                scope: TestData.scope(.invoice, "inv_01HZX3K8Q7T3", version: 3), operation: .createInvoice,
                maxLength: 50),
            IdempotencyKey(scope: scope, operation: .createInvoice, variant: "name-2", maxLength: 50),
            a.variant("refetch-2"), a.variant("refetch-3"),
        ]
        #expect(Set(distinct).count == distinct.count)
        #expect(a.variant("refetch-2") == a.variant("refetch-2"))
        #expect(a.variant("refetch-2").rawValue.count == a.rawValue.count)
    }

    @Test func fieldsAreLengthPrefixedSoBoundariesCannotCollide() {
        let one = IdempotencyScope(
            tenantID: "ab", connectionID: TestData.connection, document: DocumentKey(.invoice, "c"), version: 1)
        let two = IdempotencyScope(
            tenantID: "a", connectionID: TestData.connection, document: DocumentKey(.invoice, "bc"), version: 1)
        #expect(
            IdempotencyKey(scope: one, operation: .createInvoice, maxLength: 128)
                != IdempotencyKey(scope: two, operation: .createInvoice, maxLength: 128))
    }

    @Test("each connector's keys fit its limits", arguments: Connectors.all.map { ConnectorType($0) })
    func keysFitLimits(connector: ConnectorType) {
        let type = connector.type
        let scope = TestData.scope(.invoice, String(repeating: "x", count: 128), version: Int64.max)
        for operation in ConnectorOperation.allCases where operation.isWrite {
            let key = type.idempotencyKey(scope, operation)
            let limit = operation == .pushBatch ? type.capabilities.maxBatchKeyLength : type.capabilities.maxKeyLength
            #expect(key.rawValue.count <= limit, "\(operation) key \(key.rawValue.count) > \(limit)")
            #expect(key.rawValue.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
        }
        #expect(QuickBooksOnlineConnector.idempotencyKey(scope, .createInvoice).rawValue.count <= 50)
        #expect(QuickBooksOnlineConnector.idempotencyKey(scope, .pushBatch).rawValue.count <= 36)
        #expect(XeroConnector.idempotencyKey(scope, .createInvoice).rawValue.count <= 128)
    }

    @Test func batchIDIgnoresOrder() {
        let a = IdempotencyScope.batchID([("inv-1", 2), ("inv-2", 1)])
        let b = IdempotencyScope.batchID([("inv-2", 1), ("inv-1", 2)])
        #expect(a == b)
        #expect(a != IdempotencyScope.batchID([("inv-1", 3), ("inv-2", 1)]))
    }
}

/// A connector type as a test argument.
struct ConnectorType: Sendable, CustomTestStringConvertible {
    let type: any ERPConnector.Type
    init(_ type: any ERPConnector.Type) { self.type = type }
    var testDescription: String { type.erp.rawValue }
}

@Suite("Connector list, catalogue and capabilities")
struct CatalogueTests {
    @Test("every ERP has exactly one connector", arguments: ERP.allCases)
    func everyERPIsWiredUp(erp: ERP) {
        #expect(Connectors.all.filter { $0.erp == erp }.count == 1)
        #expect(Connectors.type(for: erp)?.erp == erp)
        let context = TestData.context(erp, mapping: MappingConfiguration())
        #expect(Connectors.make(for: erp, context: context, transport: StubTransport())?.erp == erp)
    }

    @Test func connectorListHasNoExtras() {
        #expect(Connectors.all.count == ERP.allCases.count)
    }

    @Test func catalogueCodesAreUniqueDottedAndERPScoped() {
        let codes = ReasonCode.connectorCatalogue.map(\.code)
        #expect(Set(codes).count == codes.count)
        for code in codes {
            #expect(code.category == "erp")
            #expect(code.rawValue.allSatisfy { $0.isLowercase || $0 == "." || $0 == "_" })
            #expect(ReasonCode.contractCatalogue.allSatisfy { $0.code != code })
        }
    }

    @Test func catalogueTableInDocsMatches() throws {
        let docs = try String(
            contentsOf: Fixtures.repositoryRoot.appendingPathComponent("docs/connectors.md"), encoding: .utf8)
        let rows = docs.split(separator: "\n").filter { $0.hasPrefix("| `erp.") }.map { row in
            row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let documented = rows.map { ($0[0].trimmingCharacters(in: CharacterSet(charactersIn: "`")), $0[1]) }
        let expected = ReasonCode.connectorCatalogue.map { ($0.code.rawValue, "`\($0.defaultDisposition)`") }
        #expect(documented.map(\.0) == expected.map(\.0))
        #expect(documented.map(\.1) == expected.map(\.1))
    }

    @Test("capabilities declare the documented limits", arguments: Connectors.all.map { ConnectorType($0) })
    func capabilitiesAreComplete(connector: ConnectorType) {
        let capabilities = connector.type.capabilities
        #expect(!capabilities.rateLimits.isEmpty)
        #expect(capabilities.rateLimits.contains { if case .concurrent = $0.kind { true } else { false } })
        #expect(capabilities.rateLimits.allSatisfy { $0.source.hasPrefix("[") })
        #expect(capabilities.idempotency != nil)
        #expect(capabilities.batch != nil)
    }

    @Test func quickbooksLimits() {
        let limits = QuickBooksOnlineConnector.capabilities.rateLimits.map(\.description)
        #expect(
            limits == [
                "connection all 500/60s", "connection all 10/1s", "connection all 10 concurrent",
                "connection batch 40/60s",
            ])
        #expect(QuickBooksOnlineConnector.capabilities.batch?.maxItems == 30)
        #expect(QuickBooksOnlineConnector.capabilities.idempotency?.carrier == .queryParameter("requestid"))
        #expect(QuickBooksOnlineConnector.capabilities.concurrencyControl == .versionToken(field: "SyncToken"))
    }

    @Test func xeroLimits() {
        let limits = XeroConnector.capabilities.rateLimits.map(\.description)
        #expect(
            limits == [
                "connection all 60/60s", "connection all 5000/86400s", "connection all 5 concurrent",
                "application all 10000/60s",
            ])
        #expect(XeroConnector.capabilities.idempotency?.carrier == .header("Idempotency-Key"))
        #expect(XeroConnector.capabilities.idempotency?.maxLength == 128)
    }
}

@Suite("Mapping configuration")
struct MappingConfigurationTests {
    @Test func completeMappingsValidate() {
        #expect(
            TestData.quickbooksUS.validate(QuickBooksOnlineConnector.mappingRequirements, location: TestData.sacramento)
                .isEmpty)
        #expect(
            TestData.quickbooksAU.validate(QuickBooksOnlineConnector.mappingRequirements, location: TestData.brisbane)
                .isEmpty)
        #expect(TestData.xero.validate(XeroConnector.mappingRequirements, location: TestData.sacramento).isEmpty)
    }

    @Test func emptyMappingNamesEverythingMissingForQuickBooks() {
        let issues = MappingConfiguration().validate(QuickBooksOnlineConnector.mappingRequirements).map(\.path)
        #expect(
            issues == [
                "lines.part.item", "lines.labor.item", "lines.fee.item", "lines.sublet.item", "lines.core_charge.item",
                "tax.taxable", "tax.non_taxable", "payments.deposit_account",
            ])
    }

    @Test func emptyMappingNamesEverythingMissingForXero() {
        var mapping = MappingConfiguration()
        mapping.tax.model = .transaction
        mapping.locations = [
            "x": LocationMapping(
                classRef: ERPReference("1"),
                tracking: [
                    TrackingAssignment(category: "A", option: "1"), TrackingAssignment(category: "B", option: "2"),
                    TrackingAssignment(category: "C", option: "3"),
                ])
        ]
        let issues = mapping.validate(XeroConnector.mappingRequirements, location: "y").map(\.description)
        #expect(
            issues == [
                "lines.part.account: no income account for part lines",
                "lines.labor.account: no income account for labor lines",
                "lines.fee.account: no income account for fee lines",
                "lines.sublet.account: no income account for sublet lines",
                "lines.discount.account: no income account for discount lines",
                "lines.core_charge.account: no income account for core_charge lines",
                "tax.model: this ERP supports the line tax model",
                "tax.transaction_tax_code: no sales tax code for invoices",
                "payments.deposit_account: no payment deposit account", "locations.x.class: this ERP has no classes",
                "locations.x.tracking: at most 2 tracking categories",
                "locations.y: the location has no class, department or tracking mapping",
            ])
    }

    @Test func decodesStoredJSONWithDefaults() throws {
        let json = #"""
            {"lines": {"labor": {"item": {"id": "12", "name": "Labor"}}, "core_charge": {"item": {"id": "15"}}},
             "tax": {"model": "transaction", "transaction_tax_code": {"id": "7"}},
             "locations": {"sacramento-01": {"class": {"id": "500"}, "tracking": []}},
             "payments": {"deposit_account": {"id": "35"}},
             "customers": {"mode": "reference_only"}}
            """#
        let mapping = try JSONDecoder().decode(MappingConfiguration.self, from: Data(json.utf8))
        #expect(mapping.lines.labor.item == ERPReference("12", name: "Labor"))
        #expect(mapping.lines.coreCharge.item?.id == "15")
        #expect(mapping.lines.part.item == nil)
        #expect(mapping.tax.model == .transaction)
        #expect(mapping.location(TestData.sacramento)?.classRef?.id == "500")
        #expect(mapping.customers == CustomerMatchingPolicy(mode: .referenceOnly, maxNameSuffix: 20))
        let back = try JSONDecoder().decode(MappingConfiguration.self, from: try JSONEncoder().encode(mapping))
        #expect(back == mapping)
    }

    @Test("suffix policy names", arguments: [(1, "Marisol Vega"), (2, "Marisol Vega (2)"), (20, "Marisol Vega (20)")])
    func suffixNames(attempt: Int, expected: String) {
        #expect(CustomerMatchingPolicy.candidateName("Marisol Vega", attempt: attempt) == expected)
    }
}

@Suite("Shared helpers")
struct HelperTests {
    @Test func taxAllocationSumsExactlyPerTaxLine() throws {
        let invoice = try Fixtures.invoice("invoice-created.json")
        let shares = TaxAllocation.perLine(invoice)
        #expect(shares.count == invoice.lines.count)
        #expect(shares.map(\.value).reduce(0, +) == invoice.totals.taxTotal.value)
        // Only PARTS lines (L1, L2, L3, L4, L7) carry tax.
        #expect(shares.map(\.description) == ["25.36", "3.93", "3.37", "1.14", "0.00", "0.00", "1.10", "0.00", "0.00"])
    }

    @Test func taxAllocationHandlesNegativeLinesAndZeroCurrencies() throws {
        let au = TestData.australianInvoice()
        let shares = TaxAllocation.perLine(au)
        #expect(shares.map(\.value).reduce(0, +) == au.totals.taxTotal.value)
        #expect(shares[1].isNegative)  // the core credit carries negative GST
        let jpy = try Fixtures.invoice("invoice-created-jpy-counter-sale.json")
        let yen = TaxAllocation.perLine(jpy)
        #expect(yen.map(\.description) == ["154", "100", "55"])
        #expect(yen.map(\.value).reduce(0, +) == 309)
    }

    @Test func ownershipMarkerRoundTrips() {
        let note = "RO RO-1 | WO WO-2\nVehicle 2021 Ford\n" + OwnershipMarker.text(for: "inv_01HZX3K8Q7T2")
        #expect(OwnershipMarker.id(in: note) == "inv_01HZX3K8Q7T2")
        #expect(OwnershipMarker.id(in: "Check 10443 | Ledgerline ref: pay_7802") == "pay_7802")
        #expect(OwnershipMarker.id(in: "no marker") == nil)
        #expect(OwnershipMarker.id(in: nil) == nil)
    }

    @Test(
        "Retry-After as seconds or HTTP-date",
        arguments: [
            ("30", 30), ("0", 0), (" 7 ", 7), ("Sat, 14 Jun 2025 12:00:45 GMT", 45),
            ("Sat, 14 Jun 2025 11:59:00 GMT", 0),
        ])
    func retryAfter(value: String, seconds: Int) {
        let now = Date(
            timeIntervalSince1970: TimeInterval(LocalDate(string: "2025-06-14")!.daysSinceEpoch * 86_400 + 12 * 3600))
        #expect(ConnectorHTTP.retryAfter(value, now: now) == .seconds(seconds))
    }

    @Test func unreadableRetryAfterIsNil() {
        #expect(ConnectorHTTP.retryAfter("soon", now: Date()) == nil)
        #expect(ConnectorHTTP.retryAfter(nil, now: Date()) == nil)
    }

    @Test func percentEncodingKeepsOnlyUnreserved() {
        #expect(
            ConnectorHTTP.percentEncode("select * from Customer where DisplayName = 'O\\'Brien'")
                == "select%20%2A%20from%20Customer%20where%20DisplayName%20%3D%20%27O%5C%27Brien%27")
        #expect(ConnectorHTTP.percentEncode("Name==\"Zoë\"") == "Name%3D%3D%22Zo%C3%AB%22")
        #expect(ConnectorHTTP.percentEncode("a-b.c_d~e") == "a-b.c_d~e")
    }

    @Test(
        "endpoint configuration",
        arguments: [
            ("https://quickbooks.api.intuit.com", true), ("https://api.xero.com/api.xro/2.0/", true),
            ("http://127.0.0.1:8084/qbo", true), ("http://localhost:9000", true), ("http://api.example.com", false),
            ("ftp://x", false), ("https://user:pw@host", false), ("https://host/?a=1", false),
        ])
    func configurationValidation(url: String, valid: Bool) {
        let configuration = ConnectorConfiguration(baseURL: url, companyID: "1")
        #expect(configuration.validate().isEmpty == valid)
        #expect(!configuration.baseURL.hasSuffix("/"))
    }

    @Test func accessTokenNeverPrints() {
        let token = AccessToken(TestData.token)
        #expect(!"\(token)".contains(TestData.token))
        #expect(!String(reflecting: token).contains(TestData.token))
    }

    @Test func totalsCheck() throws {
        let invoice = try Fixtures.invoice("invoice-created.json")
        #expect(TotalsCheck.compare(invoice, with: ERPTotals(total: "778.00", taxTotal: "34.90")) == .matches)
        #expect(TotalsCheck.compare(invoice, with: nil) == .notReported)
        let drift = TotalsCheck.compare(invoice, with: ERPTotals(total: "778.01", taxTotal: "34.91"))
        #expect(drift.reason == .erpTotalDrift)
        #expect(drift.message == "ERP total 778.01 differs from the shop total 778.00 (tax 34.91 vs 34.90)")
    }
}

@Suite("Transport failures")
struct TransportFailureTests {
    @Test(
        "curl failures are classified by whether the request may have been sent",
        arguments: [
            (
                HTTPClientError.Code.connectFailed, false, ConnectorOperation.createInvoice, ReasonCode.erpTransient,
                ConnectorFailure.Disposition.retry
            ),
            (.timedOut, true, .createInvoice, .erpOutcomeUnknown, .lookupThenRetry),
            (.timedOut, true, .findInvoice, .erpTransient, .retry),
            (.timedOut, false, .createInvoice, .erpTransient, .retry),
            (.transport, true, .createPayment, .erpOutcomeUnknown, .lookupThenRetry),
            (.responseTooLarge, true, .findCustomer, .erpInvalidResponse, .retry),
            (.invalidURL, false, .createInvoice, .erpConfiguration, .park),
            (.tooManyRedirects, true, .createInvoice, .erpConfiguration, .park),
            (.tlsFailure, false, .createInvoice, .erpTransient, .retry),
        ])
    func classify(
        code: HTTPClientError.Code, sent: Bool, operation: ConnectorOperation, reason: ReasonCode,
        disposition: ConnectorFailure.Disposition
    ) {
        let error = HTTPClientError(code: code, curlCode: 28, host: "127.0.0.1", requestMayHaveBeenSent: sent)
        let failure = ConnectorHTTP.failure(for: error, erp: .xero, operation: operation)
        #expect(failure.reason == reason)
        #expect(failure.disposition == disposition)
        #expect(failure.transportError == error.description)
    }
}
