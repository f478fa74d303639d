import Domain
import Foundation
import Testing

@testable import Connectors

/// One mapping case: a canonical invoice with its mapping → the expected QuickBooks payload fixture.
struct QuickBooksInvoiceCase: Sendable, CustomTestStringConvertible {
    var fixture: String
    var invoice: @Sendable () throws -> Invoice
    var location: LocationID
    var mapping: MappingConfiguration
    var existing: ERPVersionedID?
    var testDescription: String { fixture }

    static let all: [QuickBooksInvoiceCase] = [
        // US sales tax: TxnTaxDetail with the mapped code and the shop's total tax; every line kind; custom fields.
        QuickBooksInvoiceCase(
            fixture: "invoice-created.us", invoice: { try Fixtures.invoice("invoice-created.json") },
            location: TestData.sacramento, mapping: TestData.quickbooksUS),
        // The same invoice, version 2, as a sparse update with the SyncToken.
        QuickBooksInvoiceCase(
            fixture: "invoice-updated.us.sparse", invoice: { try Fixtures.invoice("invoice-updated.json") },
            location: TestData.sacramento, mapping: TestData.quickbooksUS,
            existing: ERPVersionedID(id: "130", version: "3")),
        // Outside the US: per-line GST codes, GlobalTaxCalculation, class on each line, core credit, discount.
        QuickBooksInvoiceCase(
            fixture: "invoice-au.line-tax", invoice: { TestData.australianInvoice() }, location: TestData.brisbane,
            mapping: TestData.quickbooksAU),
        // JPY counter sale: no minor units, no vehicle, no location mapping, taxable default code.
        QuickBooksInvoiceCase(
            fixture: "invoice-jpy.line-tax", invoice: { try Fixtures.invoice("invoice-created-jpy-counter-sale.json") },
            location: "osaka-minami", mapping: TestData.quickbooksAU),
    ]
}

@Suite("QuickBooks Online mapping")
struct QuickBooksOnlineMappingTests {
    static let customer = ERPReference("58", name: "Marisol Vega")

    @Test("canonical invoice → QuickBooks payload", arguments: QuickBooksInvoiceCase.all)
    func mapsInvoice(_ testCase: QuickBooksInvoiceCase) throws {
        let document = InvoiceDocument(
            invoice: try testCase.invoice(), location: testCase.location, customer: Self.customer)
        let payload = try QuickBooksOnlineMapping.invoice(
            document, mapping: testCase.mapping, existing: testCase.existing)
        try Fixtures.expect(try ERPJSON.node(payload), matches: "QuickBooksOnline/requests/\(testCase.fixture).json")
    }

    @Test("payload amounts add up to the shop's total", arguments: QuickBooksInvoiceCase.all)
    func amountsAddUp(_ testCase: QuickBooksInvoiceCase) throws {
        let invoice = try testCase.invoice()
        let document = InvoiceDocument(invoice: invoice, location: testCase.location, customer: Self.customer)
        let payload = try QuickBooksOnlineMapping.invoice(
            document, mapping: testCase.mapping, existing: testCase.existing)
        var total = Decimal(0)
        for line in payload.line ?? [] {
            let amount = line.amount?.decimal ?? 0
            total += line.detailType == "DiscountLineDetail" ? -amount : amount
        }
        total += payload.txnTaxDetail?.totalTax?.decimal ?? 0
        #expect(total == invoice.totals.total.value)
    }

    @Test func customerPayload() throws {
        let invoice = try Fixtures.invoice("invoice-created.json")
        let payload = QuickBooksOnlineMapping.customer(invoice.customer, displayName: "Marisol Vega (2)")
        try Fixtures.expect(try ERPJSON.node(payload), matches: "QuickBooksOnline/requests/customer-created.json")
    }

    @Test func paymentPayload() throws {
        let payload = try QuickBooksOnlineMapping.payment(
            try TestData.paymentDocument(invoiceID: "130", customerID: "58"), mapping: TestData.quickbooksUS)
        try Fixtures.expect(try ERPJSON.node(payload), matches: "QuickBooksOnline/requests/payment-partial.json")
    }

    @Test(
        "display names drop what QuickBooks forbids",
        arguments: [
            ("Marisol Vega", "Marisol Vega"),
            ("O'Brien \"Sparky\" Electrical: Fleet", "O'Brien \"Sparky\" Electrical- Fleet"),
            ("  Tab\there\nand  there ", "Tab here and there"),
        ])
    func displayNames(name: String, expected: String) {
        #expect(QuickBooksOnlineMapping.displayName(for: Customer(customerID: "1", name: name)) == expected)
    }

    @Test(
        "query literals escape quotes and backslashes",
        arguments: [
            ("Marisol Vega", "'Marisol Vega'"), ("O'Brien", #"'O\'Brien'"#), (#"A\B"#, #"'A\\B'"#),
            (#"\'"#, #"'\\\''"#),
        ])
    func quoting(literal: String, expected: String) {
        #expect(QuickBooksOnlineMapping.quoted(literal) == expected)
    }

    @Test func queries() {
        #expect(
            QuickBooksOnlineMapping.customerQuery(displayNames: ["O'Brien"])
                == #"select * from Customer where DisplayName = 'O\'Brien'"#)
        #expect(
            QuickBooksOnlineMapping.customerQuery(displayNames: ["A", "A (2)"])
                == "select * from Customer where DisplayName in ('A', 'A (2)')")
        #expect(
            QuickBooksOnlineMapping.invoiceQuery(docNumber: "INV-10482")
                == "select * from Invoice where DocNumber = 'INV-10482'")
        #expect(
            QuickBooksOnlineMapping.paymentQuery(customerID: "58", date: LocalDate(string: "2025-03-21")!)
                == "select * from Payment where CustomerRef = '58' and TxnDate = '2025-03-21'")
        #expect(
            QuickBooksOnlineMapping.changesQuery(
                entity: "Invoice", since: Date(timeIntervalSince1970: 1_741_910_400), start: 101, max: 100)
                == "select * from Invoice where MetaData.LastUpdatedTime >= '2025-03-14T00:00:00Z' orderby MetaData.LastUpdatedTime startposition 101 maxresults 100"
        )
    }

    @Test func privateNoteCarriesNumbersVehicleAndMarker() throws {
        let note = QuickBooksOnlineMapping.privateNote(for: try Fixtures.invoice("invoice-created.json"))
        #expect(
            note == """
                RO RO-88213 | WO WO-5520 | Job J-7731 | PO PO-2025-0311
                Vehicle 2021 Ford F-150 | VIN 1FTFW1E50MFA12345 | Plate 8ABC123 | Odometer 48213 mi
                Ledgerline ref: inv_01HZX3K8Q7T2
                """)
        #expect(OwnershipMarker.id(in: note) == "inv_01HZX3K8Q7T2")
    }

    @Test func docNumberLongerThan21IsRefusedBeforeSending() throws {
        var invoice = try Fixtures.invoice("invoice-created.json")
        invoice.invoiceNumber = "INV-2025-SACRAMENTO-0010482"
        let document = InvoiceDocument(invoice: invoice, location: TestData.sacramento, customer: Self.customer)
        let failure = try #require(throws: ConnectorFailure.self) {
            try QuickBooksOnlineMapping.invoice(document, mapping: TestData.quickbooksUS)
        }
        #expect(failure.reason == .erpRejectedData)
        #expect(failure.disposition == .park)
        #expect(failure.field == "DocNumber")
    }

    @Test(
        "mapping gaps name the missing entry",
        arguments: [
            "lines.labor.item", "lines.core_charge.item", "tax.transaction_tax_code", "tax.codes.PARTS",
        ])
    func mappingGaps(field: String) throws {
        var mapping = TestData.quickbooksUS
        switch field {
        case "lines.labor.item": mapping.lines.labor.item = nil
        case "lines.core_charge.item": mapping.lines.coreCharge.item = nil
        case "tax.transaction_tax_code": mapping.tax.transactionTaxCode = nil
        default:
            mapping.tax = TaxMapping(model: .line, codes: ["LABOR": ERPReference("9")], nonTaxable: ERPReference("9"))
        }
        let document = InvoiceDocument(
            invoice: try Fixtures.invoice("invoice-created.json"), location: TestData.sacramento,
            customer: Self.customer)
        let failure = try #require(throws: ConnectorFailure.self) {
            try QuickBooksOnlineMapping.invoice(document, mapping: mapping)
        }
        #expect(failure.reason == .erpMappingIncomplete)
        #expect(failure.field == field)
        #expect(failure.disposition == .park)
    }

    @Test func paymentNeedsDepositAccount() throws {
        var mapping = TestData.quickbooksUS
        mapping.payments.depositAccount = nil
        let failure = try #require(throws: ConnectorFailure.self) {
            try QuickBooksOnlineMapping.payment(
                try TestData.paymentDocument(invoiceID: "130", customerID: "58"), mapping: mapping)
        }
        #expect(failure.field == "payments.deposit_account")
    }

    @Test func recordsCarryQuickBooksTotalsAndMarker() throws {
        let envelope = try ERPJSON.decode(
            QuickBooksOnlinePayloads.IntuitResponse.self,
            from: try Fixtures.bytes("QuickBooksOnline/responses/invoice-created.json"))
        let record = try #require(envelope.invoice.flatMap(QuickBooksOnlineMapping.invoiceRecord))
        #expect(
            record
                == ERPInvoiceRecord(
                    erpID: "130", version: "0", number: "INV-10482", customerID: "58", ourReference: "inv_01HZX3K8Q7T2",
                    totals: ERPTotals(total: "778.00", taxTotal: "34.90", balance: "778.00"),
                    lastUpdated: "2025-03-14T16:42:07-07:00"))
    }
}
