import Foundation
import Testing

@testable import Domain

/// A document-level case: bytes (built from an example or written out) and the code they must produce.
struct StructuralCase: Sendable, CustomTestStringConvertible {
    var name: String
    var code: ReasonCode
    var path: String?
    var limits: ValidationLimits = .default
    var body: @Sendable () throws -> [UInt8]

    var testDescription: String { "\(code): \(name)" }

    static func mutate(
        _ edits: [(String, JSONValue?)], in example: String = "invoice-created.json"
    ) -> @Sendable () throws -> [UInt8] {
        let pairs = edits.map { ($0.0, $0.1) }
        return {
            var document = try Repo.example(example)
            for (path, value) in pairs { document = document.setting(path, value) }
            return document.bytes
        }
    }

    static func text(_ text: String) -> @Sendable () throws -> [UInt8] { { Array(text.utf8) } }

    static let simplePart: JSONValue = .object(
        {
            var line = JSONObject()
            line.insert("kind", .string("part"))
            line.insert("description", .string("Fuse 10 A"))
            line.insert("quantity", .string("1"))
            line.insert("unit_price", .string("1.00"))
            line.insert("amount", .string("1.00"))
            line.insert("taxable", .bool(false))
            line.insert("part_number", .string("F10"))
            return line
        }())

    /// The created example with `count` one-dollar untaxed lines and matching totals.
    static func manyLines(_ count: Int) -> @Sendable () throws -> [UInt8] {
        let total = JSONValue.string("\(count).00")
        return mutate([
            ("invoice.lines", .array(Array(repeating: simplePart, count: count))),
            ("invoice.tax_lines", .array([])),
            ("invoice.totals.subtotal", total), ("invoice.totals.discount_total", .string("0.00")),
            ("invoice.totals.tax_total", .string("0.00")), ("invoice.totals.total", total),
            ("invoice.totals.balance_due", total),
        ])
    }

    static let all: [StructuralCase] = [
        .init(name: "truncated", code: .invalidJSON, path: "", body: text("{\"schema_version\": \"1\"")),
        .init(
            name: "customer is a string", code: .wrongType, path: "invoice.customer",
            body: mutate([("invoice.customer", .string("Marisol Vega"))])),
        .init(
            name: "invoice_version as a string", code: .wrongType, path: "invoice_version",
            body: mutate([("invoice_version", .string("1"))])),
        .init(
            name: "invoice_version with a fraction", code: .wrongType, path: "invoice_version",
            body: mutate([("invoice_version", .number("1.0"))])),
        .init(name: "top level is an array", code: .wrongType, path: "", body: text("[]")),
        .init(
            name: "currency removed", code: .missingField, path: "invoice.currency",
            body: mutate([("invoice.currency", nil)])),
        .init(
            name: "required field null", code: .missingField, path: "invoice.totals.total",
            body: mutate([("invoice.totals.total", .null)])),
        .init(
            name: "part line without part_number", code: .missingField, path: "invoice.lines[0].part_number",
            body: mutate([("invoice.lines[0].part_number", nil)])),
        .init(
            name: "invoice.created without invoice", code: .missingField, path: "invoice",
            body: mutate([("invoice", nil)])),
        .init(
            name: "typo in a field name", code: .unknownField, path: "invoice.lines[0].unit_prise",
            body: mutate([("invoice.lines[0].unit_prise", .string("1.00"))])),
        .init(
            name: "part_number on a labor line", code: .fieldNotAllowed, path: "invoice.lines[4].part_number",
            body: mutate([("invoice.lines[4].part_number", .string("X"))])),
        .init(
            name: "payment in an invoice.created event", code: .fieldNotAllowed, path: "payment",
            body: mutate([("payment", .object(JSONObject()))])),
        .init(
            name: "event_id twice", code: .duplicateKey, path: "event_id",
            body: {
                let text = try Repo.example("invoice-voided.json").serialized
                return Array(
                    text.replacingOccurrences(of: "\"event_id\":", with: "\"event_id\":\"first\",\"event_id\":").utf8)
            }),
        .init(
            name: "schema_version 2", code: .unsupportedVersion, path: "schema_version",
            body: mutate([("schema_version", .string("2"))])),
        .init(
            name: "invoice.deleted", code: .unknownEventType, path: "event_type",
            body: mutate([("event_type", .string("invoice.deleted"))])),
        .init(
            name: "status closed", code: .invalidEnumValue, path: "invoice.status",
            body: mutate([("invoice.status", .string("closed"))])),
        .init(
            name: "payment method bitcoin", code: .invalidEnumValue, path: "payment.method",
            body: mutate([("payment.method", .string("bitcoin"))], in: "payment-received-partial.json")),
        .init(
            name: "30 February", code: .invalidFormat, path: "invoice.issue_date",
            body: mutate([("invoice.issue_date", .string("2025-02-30"))])),
        .init(
            name: "timestamp without offset", code: .invalidFormat, path: "occurred_at",
            body: mutate([("occurred_at", .string("2025-03-14T16:42:05"))])),
        .init(
            name: "no lines", code: .emptyArray, path: "invoice.lines",
            body: mutate([("invoice.lines", .array([])), ("invoice.tax_lines", .array([]))])),
        .init(
            name: "2 MiB body", code: .bodyTooLarge, path: "",
            body: { Array(repeating: UInt8(ascii: " "), count: 2 * 1_048_576) }),
        .init(
            name: "100,000 nested arrays", code: .nestingTooDeep,
            body: { Array(repeating: UInt8(ascii: "["), count: 100_000) }),
        .init(
            name: "notes nested 20 deep", code: .nestingTooDeep,
            path: "invoice.notes" + String(repeating: "[0]", count: 14),
            body: text(
                "{\"schema_version\":\"1\",\"invoice\":{\"notes\":" + String(repeating: "[", count: 20)
                    + String(repeating: "]", count: 20) + "}}")),
        .init(name: "501 lines", code: .tooManyLines, path: "invoice.lines", body: manyLines(501)),
        .init(
            name: "4 lines over a limit of 3", code: .tooManyLines, path: "invoice.lines",
            limits: ValidationLimits(maxLinesPerInvoice: 3), body: manyLines(4)),
        .init(
            name: "2 tax lines over a limit of 1", code: .tooManyItems, path: "invoice.tax_lines",
            limits: ValidationLimits(maxTaxLinesPerInvoice: 1), body: mutate([])),
        .init(
            name: "many failures, 3 reported", code: .tooManyFailures, path: "",
            limits: ValidationLimits(maxReportedFailures: 3),
            body: mutate((0..<9).map { ("invoice.lines[\($0)].description", JSONValue.string("")) })),
        .init(
            name: "price as JSON number", code: .floatNotAllowed, path: "invoice.lines[0].unit_price",
            body: mutate([("invoice.lines[0].unit_price", .number("289.95"))])),
        .init(
            name: "quantity as JSON integer", code: .floatNotAllowed, path: "invoice.lines[0].quantity",
            body: mutate([("invoice.lines[0].quantity", .number("1"))])),
        .init(
            name: "exponent", code: .notADecimalString, path: "invoice.totals.total",
            body: mutate([("invoice.totals.total", .string("7.78e2"))])),
        .init(
            name: "decimal comma", code: .notADecimalString, path: "invoice.lines[0].unit_price",
            body: mutate([("invoice.lines[0].unit_price", .string("289,95"))])),
        .init(
            name: "40 integer digits", code: .moneyOutOfRange, path: "invoice.lines[0].unit_price",
            body: mutate([("invoice.lines[0].unit_price", .string(String(repeating: "9", count: 40)))])),
        .init(
            name: "40 fraction digits", code: .tooManyDecimals, path: "invoice.lines[0].unit_price",
            body: mutate([("invoice.lines[0].unit_price", .string("1." + String(repeating: "1", count: 40)))])),
        .init(
            name: "lower-case currency", code: .unknownCurrency, path: "invoice.currency",
            body: mutate([("invoice.currency", .string("usd"))])),
        .init(
            name: "retired currency", code: .unknownCurrency, path: "invoice_ref.currency",
            body: mutate([("invoice_ref.currency", .string("DEM"))], in: "invoice-voided.json")),
        .init(
            name: "overpaid", code: .paymentExceedsBalance, path: "invoice.totals.amount_paid",
            body: mutate([
                (
                    "invoice.payments",
                    .array([
                        .object(
                            {
                                var payment = JSONObject()
                                payment.insert("payment_id", .string("p1"))
                                payment.insert("amount", .string("800.00"))
                                payment.insert("method", .string("cash"))
                                payment.insert("payment_date", .string("2025-03-14"))
                                return payment
                            }())
                    ])
                ),
                ("invoice.totals.amount_paid", .string("800.00")), ("invoice.totals.balance_due", .string("-22.00")),
            ])),
    ]
}

@Suite("Reason codes")
struct ReasonCodeTests {
    @Test("structural case produces its code", arguments: StructuralCase.all)
    func structuralCase(testCase: StructuralCase) throws {
        let result = InvoiceEventDecoder(limits: testCase.limits).decode(try testCase.body())
        let matching = result.failures.filter { $0.code == testCase.code }
        #expect(!matching.isEmpty, "\(result.failures.map(\.debugDescription))")
        if let path = testCase.path { #expect(matching.contains { $0.path == path }, "\(matching.map(\.path))") }
    }

    @Test func everyCatalogueCodeIsTriggeredByATest() {
        let triggered = Set(StructuralCase.all.map(\.code)).union(ValueMutation.all.map(\.code))
            .union([.tooManyEvents])  // batch-level: BatchTests
        let catalogue = Set(ReasonCode.contractCatalogue.map(\.code))
        #expect(catalogue.subtracting(triggered).isEmpty, "never triggered: \(catalogue.subtracting(triggered))")
    }

    @Test func catalogueCodesAreUniqueAndWellFormed() {
        let codes = ReasonCode.contractCatalogue.map(\.code.rawValue)
        #expect(Set(codes).count == codes.count)
        for code in codes {
            #expect(code.wholeMatch(of: /[a-z]+\.[a-z_]+/) != nil, "\(code)")
        }
        for info in ReasonCode.contractCatalogue {
            #expect(info.summary.hasSuffix("."))
            #expect(info.code.contractSummary == info.summary)
        }
        #expect(ReasonCode("erp.rate_limited").contractSummary == nil)
        #expect(ReasonCode.lineAmountMismatch.category == "arithmetic")
    }

    @Test func reasonCodeIsCodableAsAPlainString() throws {
        let data = try JSONEncoder().encode([ReasonCode.floatNotAllowed])
        #expect(String(decoding: data, as: UTF8.self) == #"["money.float_not_allowed"]"#)
        #expect(try JSONDecoder().decode([ReasonCode].self, from: data) == [.floatNotAllowed])
    }

    @Test func failureDescriptionsAreSafeToLog() throws {
        let body = try StructuralCase.mutate([("invoice.lines[0].unit_price", .number("289.95"))])()
        guard case .failure(let error) = InvoiceEventDecoder().decode(body) else {
            Issue.record("expected a failure")
            return
        }
        #expect(
            error.description == "ValidationError(1 failure: money.float_not_allowed at invoice.lines[0].unit_price)")
        #expect(!error.description.contains("289.95"))
        #expect(error.debugDescription.contains("289.95"))
        #expect(error.codes == [.floatNotAllowed])
        #expect(!error.isPayloadTooLarge)
    }

    @Test func bodyTooLargeIsReportedAlone() {
        let result = InvoiceEventDecoder(limits: ValidationLimits(maxBodyBytes: 10)).decode(
            Array("{\"a\": \"long body\"}".utf8))
        guard case .failure(let error) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.isPayloadTooLarge)
    }

    @Test func severalFailuresAreAllReportedInDocumentOrder() throws {
        let body = try StructuralCase.mutate([
            ("event_id", .string("")),
            ("invoice.customer.name", nil),
            ("invoice.lines[2].quantity", .number("1")),
            ("invoice.lines[5].amount", .string("oops")),
            ("invoice.totals.total", .number("778")),
        ])()
        let failures = InvoiceEventDecoder().decode(body).failures
        #expect(
            failures.map(\.code) == [
                .emptyString, .missingField, .floatNotAllowed, .notADecimalString, .floatNotAllowed,
            ])
        #expect(
            failures.map(\.path) == [
                "event_id", "invoice.customer.name", "invoice.lines[2].quantity", "invoice.lines[5].amount",
                "invoice.totals.total",
            ])
    }

    @Test func mistypedVersionIsReportedAndTheRestStillChecked() throws {
        let body = try StructuralCase.mutate([
            ("schema_version", .number("1")), ("invoice.currency", .string("usd")),
        ])()
        #expect(
            InvoiceEventDecoder().decode(body).failures.map(\.description) == [
                "schema.wrong_type at schema_version", "currency.unknown at invoice.currency",
            ])
        let other = try StructuralCase.mutate([("schema_version", .string("2")), ("invoice.currency", .string("usd"))]
        )()
        #expect(
            InvoiceEventDecoder().decode(other).failures.map(\.description) == [
                "schema.unsupported_version at schema_version"
            ])
    }

    @Test func largestValidInvoiceDecodesQuickly() throws {
        let body = try StructuralCase.manyLines(500)()
        let clock = ContinuousClock()
        var result: Result<InvoiceEvent, ValidationError>?
        let elapsed = clock.measure { result = InvoiceEventDecoder().decode(body) }
        let event = try #require(try result?.get())
        #expect(event.invoice?.lines.count == 500)
        #expect(elapsed < .seconds(2))
    }
}
