import Foundation
import Testing

@testable import Domain

/// Every worked example in docs/event-contract/examples decodes, or fails with exactly the failures its
/// index entry states.
@Suite("Worked examples")
struct ExampleTests {
    static let entries: [ExampleEntry] = (try? ExampleEntry.all()) ?? []

    @Test func indexListsEveryExampleFile() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Repo.examples.path)
            .filter { $0.hasSuffix(".json") && $0 != "index.json" }
        #expect(Set(files) == Set(Self.entries.map(\.file)))
        #expect(Self.entries.count >= 10)
        #expect(Self.entries.contains { !$0.valid })
    }

    @Test("example decodes as documented", arguments: entries)
    func exampleDecodesAsDocumented(entry: ExampleEntry) throws {
        let bytes = try Repo.bytes(Repo.examples.appendingPathComponent(entry.file))
        let result = InvoiceEventDecoder().decode(bytes)
        if entry.valid {
            let event = try result.get()
            #expect(event.schemaVersion == "1")
        } else {
            #expect(result.codesAndPaths == Set(entry.expect), "\(result.failures.map(\.debugDescription))")
            for failure in result.failures {
                #expect(!failure.message.isEmpty)
                #expect(ReasonCode.contractCatalogue.contains { $0.code == failure.code })
            }
        }
    }

    @Test("valid example survives encode → decode unchanged", arguments: entries.filter(\.valid))
    func roundTrip(entry: ExampleEntry) throws {
        let bytes = try Repo.bytes(Repo.examples.appendingPathComponent(entry.file))
        let event = try InvoiceEventDecoder().decode(bytes).get()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let encoded = try encoder.encode(event)
        let again = try InvoiceEventDecoder().decode(encoded).get()
        #expect(again == event)
        // Same JSON tree as the file (key order aside): nothing is lost or renamed, money text is kept.
        #expect(
            normalized(try Repo.json(Repo.examples.appendingPathComponent(entry.file)))
                == normalized(try Repo.json(encoded)))
        // JSONDecoder (Codable) reads the same value.
        #expect(try JSONDecoder().decode(InvoiceEvent.self, from: Data(bytes)) == event)
        // A decoded event passes the typed validator.
        #expect(InvoiceEventValidator().validate(event).isEmpty)
    }

    /// The decoder (checks while mapping) and the typed validator (checks on values) find the same failures
    /// for every value-level problem.
    @Test("decoder and typed validator agree", arguments: ValueMutation.all)
    func decoderAndValidatorAgree(mutation: ValueMutation) throws {
        var document = try Repo.example(mutation.example)
        for (path, value) in mutation.also { document = document.setting(path, value) }
        document = document.setting(mutation.path, mutation.value)
        let decoded = decode(document)
        #expect(decoded.failures.contains { $0.code == mutation.code }, "\(decoded.failures.map(\.debugDescription))")
        // Structure is intact, so Codable can build the value; the validator must then say the same.
        let event = try JSONDecoder().decode(InvoiceEvent.self, from: Data(document.bytes))
        let validated = InvoiceEventValidator().validate(event)
        #expect(Set(validated) == Set(decoded.failures))
    }

    private func normalized(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            var sorted = JSONObject()
            for key in object.keys.sorted() { sorted.insert(key, normalized(object[key]!)) }
            return .object(sorted)
        case .array(let items): return .array(items.map(normalized))
        default: return value
        }
    }
}

/// A value-level change to a valid example, with the code it must produce.
struct ValueMutation: Sendable, CustomTestStringConvertible {
    var example = "invoice-created.json"
    var path: String
    var value: JSONValue?
    var code: ReasonCode
    /// Further edits applied first (for rules that involve two fields).
    var also: [String: JSONValue] = [:]

    var testDescription: String { "\(code) via \(path)" }

    static let all: [ValueMutation] = [
        .init(path: "event_id", value: .string("has space"), code: .invalidFormat),
        .init(path: "tenant_id", value: .string("-leading-dash"), code: .invalidFormat),
        .init(path: "idempotency_key", value: .string(String(repeating: "k", count: 256)), code: .stringTooLong),
        .init(path: "invoice_version", value: .number("0"), code: .outOfRange),
        .init(path: "invoice.invoice_number", value: .string(""), code: .emptyString),
        .init(path: "invoice.notes", value: .string("bell \u{07}"), code: .invalidCharacters),
        .init(path: "invoice.customer.email", value: .string("no-at-sign.example"), code: .invalidFormat),
        .init(path: "invoice.customer.billing_address.country", value: .string("usa"), code: .invalidFormat),
        .init(path: "invoice.customer.tax_exempt", value: .bool(true), code: .missingField),
        .init(path: "invoice.vehicle.vin", value: .string("1FTFW1E50MFA1234"), code: .invalidVIN),
        .init(path: "invoice.vehicle.year", value: .number("1885"), code: .outOfRange),
        .init(path: "invoice.vehicle.odometer.reading", value: .number("10000000"), code: .outOfRange),
        .init(path: "invoice.due_date", value: .string("2025-03-13"), code: .dueBeforeIssue),
        .init(path: "invoice.lines[0].amount", value: .string("289.94"), code: .lineAmountMismatch),
        .init(path: "invoice.tax_lines[0].taxable_amount", value: .string("398.96"), code: .taxableBaseMismatch),
        .init(path: "invoice.lines[0].unit_price", value: .string("1234567890123456"), code: .moneyOutOfRange),
        .init(path: "invoice.lines[0].unit_price", value: .string("1.1234567"), code: .tooManyDecimals),
        .init(path: "invoice.lines[0].amount", value: .string("289.951"), code: .tooManyDecimals),
        .init(path: "invoice.lines[0].unit_price", value: .string("-289.95"), code: .negativeUnitPrice),
        .init(path: "invoice.lines[8].unit_price", value: .string("28.35"), code: .discountNotNegative),
        .init(path: "invoice.lines[1].line_id", value: .string("L1"), code: .duplicateID),
        .init(path: "invoice.tax_lines[0].rate_percent", value: .string("-1"), code: .taxRateOutOfRange),
        .init(path: "invoice.tax_lines[0].amount", value: .string("29.00"), code: .taxLineMismatch),
        .init(path: "invoice.totals.subtotal", value: .string("743.11"), code: .subtotalMismatch),
        .init(path: "invoice.totals.discount_total", value: .string("28.35"), code: .discountTotalMismatch),
        .init(path: "invoice.totals.tax_total", value: .string("34.91"), code: .taxTotalMismatch),
        .init(path: "invoice.totals.total", value: .string("778.01"), code: .totalMismatch),
        .init(
            path: "invoice.customer.tax_exempt", value: .bool(true), code: .exemptCustomerTaxed,
            also: ["invoice.customer.tax_exempt_reason": .string("Resale certificate SR-FDA 55-123456")]),
        .init(path: "invoice.totals.amount_paid", value: .string("10.00"), code: .amountPaidMismatch),
        .init(path: "invoice.totals.balance_due", value: .string("0.00"), code: .balanceMismatch),
        .init(path: "invoice.status", value: .string("paid"), code: .statusInconsistent),
        .init(path: "invoice.status", value: .string("voided"), code: .statusInvalidForEvent),
        .init(
            example: "payment-received-partial.json", path: "payment.amount", value: .string("-5.00"),
            code: .paymentNotPositive),
        .init(
            example: "payment-received-partial.json", path: "payment.amount", value: .string("5.001"),
            code: .tooManyDecimals),
        .init(
            example: "invoice-voided.json", path: "void.reason", value: .string(String(repeating: "x", count: 501)),
            code: .stringTooLong),
        .init(
            example: "invoice-created-jpy-counter-sale.json", path: "invoice.lines[0].amount", value: .string("1540.5"),
            code: .tooManyDecimals),
    ]
}
