import Domain
import Foundation
import Testing

@testable import Connectors

/// One mapping case: a canonical invoice with its mapping → the expected Xero payload fixture.
struct XeroInvoiceCase: Sendable, CustomTestStringConvertible {
    var fixture: String
    var invoice: @Sendable () throws -> Invoice
    var location: LocationID
    var existing: ERPVersionedID?
    var testDescription: String { fixture }

    static let all: [XeroInvoiceCase] = [
        // Every line kind, US taxes spread over the PARTS lines, tracking, RO as Reference, vehicle line.
        XeroInvoiceCase(
            fixture: "invoice-created", invoice: { try Fixtures.invoice("invoice-created.json") },
            location: TestData.sacramento),
        // Version 2 as an update (InvoiceID set).
        XeroInvoiceCase(
            fixture: "invoice-updated", invoice: { try Fixtures.invoice("invoice-updated.json") },
            location: TestData.sacramento,
            existing: ERPVersionedID(id: "d3f8a1b2-c4e5-4f67-8901-a2b3c4d5e6f7", version: nil)),
        // GST with a core credit (negative quantity and tax) and a discount; work order as Reference.
        XeroInvoiceCase(fixture: "invoice-au", invoice: { TestData.australianInvoice() }, location: TestData.brisbane),
        // JPY, no due date (→ issue date), no vehicle, no location mapping (no tracking).
        XeroInvoiceCase(
            fixture: "invoice-jpy", invoice: { try Fixtures.invoice("invoice-created-jpy-counter-sale.json") },
            location: "osaka-minami"),
    ]
}

@Suite("Xero mapping")
struct XeroMappingTests {
    static let contact = ERPReference("7b1c5a2e-3d4f-4a6b-8c9d-0e1f2a3b4c5d", name: "Marisol Vega (2)")

    @Test("canonical invoice → Xero payload", arguments: XeroInvoiceCase.all)
    func mapsInvoice(_ testCase: XeroInvoiceCase) throws {
        let document = InvoiceDocument(
            invoice: try testCase.invoice(), location: testCase.location, customer: Self.contact)
        let payload = try XeroMapping.invoice(document, mapping: TestData.xero, existing: testCase.existing)
        try Fixtures.expect(
            try ERPJSON.node(XeroPayloads.Invoices([payload])), matches: "Xero/requests/\(testCase.fixture).json")
    }

    @Test("line and tax amounts add up to the shop's totals", arguments: XeroInvoiceCase.all)
    func amountsAddUp(_ testCase: XeroInvoiceCase) throws {
        let invoice = try testCase.invoice()
        let document = InvoiceDocument(invoice: invoice, location: testCase.location, customer: Self.contact)
        let payload = try XeroMapping.invoice(document, mapping: TestData.xero, existing: testCase.existing)
        let items = payload.lineItems ?? []
        let subtotal = items.compactMap { $0.lineAmount?.decimal }.reduce(0, +)
        let tax = items.compactMap { $0.taxAmount?.decimal }.reduce(0, +)
        #expect(subtotal == invoice.totals.subtotal.value)
        #expect(tax == invoice.totals.taxTotal.value)
        for item in items where item.quantity != nil {
            // Xero checks LineAmount against Quantity × UnitAmount; the shop's amount is that product rounded.
            let product = (item.quantity?.decimal ?? 0) * (item.unitAmount?.decimal ?? 0)
            #expect(Money.rounding(product, to: invoice.currency) == item.lineAmount?.money)
        }
    }

    @Test func contactPayload() throws {
        let customer = try Fixtures.invoice("invoice-created.json").customer
        let payload = XeroPayloads.Contacts([XeroMapping.contact(customer, name: "Marisol Vega")])
        try Fixtures.expect(try ERPJSON.node(payload), matches: "Xero/requests/contact.json")
    }

    @Test func paymentPayload() throws {
        let payload = XeroPayloads.Payments([
            try XeroMapping.payment(
                try TestData.paymentDocument(
                    invoiceID: "d3f8a1b2-c4e5-4f67-8901-a2b3c4d5e6f7", customerID: Self.contact.id),
                mapping: TestData.xero)
        ])
        try Fixtures.expect(try ERPJSON.node(payload), matches: "Xero/requests/payment-partial.json")
    }

    @Test func statusChangeCarriesOnlyIdAndStatus() throws {
        let payload = XeroMapping.statusChange(
            ERPVersionedID(id: "d3f8a1b2-c4e5-4f67-8901-a2b3c4d5e6f7", version: nil), to: "VOIDED")
        #expect(
            try ERPJSON.node(payload)
                == JSONNode(
                    parsing: Array(#"{"Status":"VOIDED","InvoiceID":"d3f8a1b2-c4e5-4f67-8901-a2b3c4d5e6f7"}"#.utf8)))
    }

    @Test(
        "contact numbers carry the shop id within 50 characters",
        arguments: [
            ("C-20417", "C-20417"), (String(repeating: "c", count: 50), String(repeating: "c", count: 50)),
        ])
    func contactNumbers(id: String, expected: String) {
        #expect(XeroMapping.contactNumber(for: id) == expected)
    }

    @Test func longCustomerIDsAreHashed() {
        let number = XeroMapping.contactNumber(for: String(repeating: "c", count: 51))
        #expect(number.count == 50)
        #expect(number.hasPrefix("ll-"))
        #expect(number == XeroMapping.contactNumber(for: String(repeating: "c", count: 51)))
    }

    @Test(
        "where literals escape quotes and backslashes",
        arguments: [
            ("Marisol Vega", #""Marisol Vega""#), (#"O"Brien"#, #""O\"Brien""#), (#"A\B"#, #""A\\B""#),
        ])
    func quoting(literal: String, expected: String) {
        #expect(XeroMapping.quoted(literal) == expected)
    }

    @Test(
        "mapping gaps name the missing entry",
        arguments: ["lines.sublet.account", "lines.discount.account", "tax.codes.LABOR"])
    func mappingGaps(field: String) throws {
        var mapping = TestData.xero
        switch field {
        case "lines.sublet.account": mapping.lines.sublet.account = nil
        case "lines.discount.account": mapping.lines.discount.account = nil
        default:
            mapping.tax.codes["LABOR"] = nil
            mapping.tax.nonTaxable = nil
        }
        let document = InvoiceDocument(
            invoice: try Fixtures.invoice("invoice-created.json"), location: TestData.sacramento, customer: Self.contact
        )
        let failure = try #require(throws: ConnectorFailure.self) {
            try XeroMapping.invoice(document, mapping: mapping)
        }
        #expect(failure.reason == .erpMappingIncomplete)
        #expect(failure.field == field)
    }

    @Test func recordsCarryXeroTotals() throws {
        let answer = try ERPJSON.decode(
            XeroPayloads.Invoices.self, from: try Fixtures.bytes("Xero/responses/invoices-created.json"))
        let record = try #require(answer.invoices.first.flatMap(XeroMapping.invoiceRecord))
        #expect(record.erpID == "d3f8a1b2-c4e5-4f67-8901-a2b3c4d5e6f7")
        #expect(record.totals == ERPTotals(total: "778.00", taxTotal: "34.90", balance: "778.00"))
        #expect(record.customerID == "7b1c5a2e-3d4f-4a6b-8c9d-0e1f2a3b4c5d")
        #expect(record.status == "AUTHORISED")
    }
}
