import Domain
import Foundation
import Testing

import Crypto
@testable import Connectors

/// Every request payload the connectors build is checked against the ERPs' own contracts — Xero's official
/// OpenAPI and Intuit's V3 XSDs — not against our simulator. The extracted contract fixtures are checked
/// against the reference pack when it is present.
@Suite("Contracts")
struct ContractTests {
    let quickbooks = QuickBooksSchemaValidator.shared
    let xero = XeroSchemaValidator.shared

    // MARK: QuickBooks Online (XSD)

    @Test("QuickBooks invoice payloads use only XSD elements of the right types", arguments: QuickBooksInvoiceCase.all)
    func quickbooksInvoices(_ testCase: QuickBooksInvoiceCase) throws {
        let document = InvoiceDocument(
            invoice: try testCase.invoice(), location: testCase.location, customer: ERPReference("58", name: "X"))
        let payload = try ERPJSON.node(
            QuickBooksOnlineMapping.invoice(document, mapping: testCase.mapping, existing: testCase.existing))
        #expect(quickbooks.violations(payload, type: "Invoice") == [])
    }

    @Test func quickbooksCustomerPaymentVoidAndBatchPayloads() throws {
        let invoice = try Fixtures.invoice("invoice-created.json")
        let customer = try ERPJSON.node(QuickBooksOnlineMapping.customer(invoice.customer, displayName: "Marisol Vega"))
        #expect(quickbooks.violations(customer, type: "Customer") == [])
        let au = try ERPJSON.node(
            QuickBooksOnlineMapping.customer(TestData.australianInvoice().customer, displayName: "x"))
        #expect(quickbooks.violations(au, type: "Customer") == [])
        let payment = try ERPJSON.node(
            QuickBooksOnlineMapping.payment(
                try TestData.paymentDocument(invoiceID: "130", customerID: "58"), mapping: TestData.quickbooksUS))
        #expect(quickbooks.violations(payment, type: "Payment") == [])
        let void = try ERPJSON.node(QuickBooksOnlineMapping.invoiceReference(ERPVersionedID(id: "130", version: "2")))
        #expect(quickbooks.violations(void, type: "Invoice") == [])
        let document = InvoiceDocument(invoice: invoice, location: TestData.sacramento, customer: ERPReference("58"))
        let batch = QuickBooksOnlinePayloads.BatchRequest([
            .init(
                bId: "1", operation: "create",
                invoice: try QuickBooksOnlineMapping.invoice(document, mapping: TestData.quickbooksUS)),
            .init(
                bId: "2", operation: "void",
                invoice: QuickBooksOnlineMapping.invoiceReference(ERPVersionedID(id: "131", version: "0"))),
        ])
        #expect(quickbooks.violations(try ERPJSON.node(batch), type: "IntuitBatchRequest") == [])
    }

    @Test(
        "QuickBooks request fixtures conform to the XSD",
        arguments: [
            ("invoice-created.us", "Invoice"), ("invoice-updated.us.sparse", "Invoice"),
            ("invoice-au.line-tax", "Invoice"),
            ("invoice-jpy.line-tax", "Invoice"), ("customer-created", "Customer"), ("payment-partial", "Payment"),
        ])
    func quickbooksRequestFixtures(name: String, type: String) throws {
        #expect(quickbooks.violations(try Fixtures.json("QuickBooksOnline/requests/\(name).json"), type: type) == [])
    }

    /// The answers the tests replay (and a simulator should send) are shaped like Intuit's `IntuitResponse`.
    @Test(
        "QuickBooks response fixtures conform to the XSD",
        arguments: [
            "customer-query-empty", "customer-query-other", "customer-query-ours-suffixed", "customer-created",
            "invoice-created",
            "invoice-drift", "invoice-updated", "invoice-read-current", "invoice-query-ours", "invoice-query-foreign",
            "invoice-query-empty", "invoice-voided", "payment-created", "payment-query-ours", "batch-mixed",
            "changes-invoices-page",
        ])
    func quickbooksResponseFixtures(name: String) throws {
        #expect(
            quickbooks.violations(try Fixtures.json("QuickBooksOnline/responses/\(name).json"), type: "IntuitResponse")
                == [])
    }

    @Test(
        "QuickBooks fault fixtures conform to the XSD",
        arguments: [
            "6140-duplicate-docnumber", "6240-duplicate-name", "5010-stale-object", "2500-invalid-reference",
            "6000-business-validation-in-200", "3100-authorization", "610-object-not-found", "6210-closed-period",
            "10000-system-failure",
        ])
    func quickbooksFaultFixtures(name: String) throws {
        #expect(
            quickbooks.violations(try Fixtures.json("QuickBooksOnline/errors/\(name).json"), type: "IntuitResponse")
                == [])
    }

    @Test func quickbooksValidatorCatchesMistakes() throws {
        let bad = try JSONNode(
            parsing: Array(
                #"""
                {"DocNumber": "1", "Lines": [], "TxnDate": 20250314, "GlobalTaxCalculation": "TaxExclusive",
                 "Line": {"Amount": 1}, "CustomerRef": {"value": "1", "label": "x"},
                 "TxnTaxDetail": {"TotalTax": "34.90"}}
                """#.utf8))
        let problems = quickbooks.violations(bad, type: "Invoice").sorted()
        #expect(
            problems == [
                "$.CustomerRef.label: not an element or attribute of ReferenceType",
                "$.GlobalTaxCalculation: TaxExclusive not in [\"TaxInclusive\", \"TaxExcluded\", \"NotApplicable\"]",
                "$.Line: repeated element must be an array",
                "$.Lines: not an element or attribute of Invoice",
                "$.TxnDate: expected string, found number",
                "$.TxnTaxDetail.TotalTax: expected number, found string",
            ])
        let line = try JSONNode(parsing: Array(#"{"Line": [{"LineNum": 1.5, "DetailType": "Sales"}]}"#.utf8))
        #expect(quickbooks.violations(line, type: "Invoice").count == 2)
    }

    // MARK: Xero (OpenAPI)

    @Test("Xero invoice payloads use only OpenAPI properties of the right types", arguments: XeroInvoiceCase.all)
    func xeroInvoices(_ testCase: XeroInvoiceCase) throws {
        let document = InvoiceDocument(
            invoice: try testCase.invoice(), location: testCase.location,
            customer: ERPReference("7b1c5a2e-3d4f-4a6b-8c9d-0e1f2a3b4c5d"))
        let payload = try ERPJSON.node(
            XeroPayloads.Invoices([
                try XeroMapping.invoice(document, mapping: TestData.xero, existing: testCase.existing)
            ]))
        #expect(xero.violations(payload, schema: "Invoices") == [])
    }

    @Test func xeroContactPaymentAndStatusPayloads() throws {
        let invoice = try Fixtures.invoice("invoice-created.json")
        for customer in [invoice.customer, TestData.australianInvoice().customer] {
            let contact = try ERPJSON.node(XeroPayloads.Contacts([XeroMapping.contact(customer, name: customer.name)]))
            #expect(xero.violations(contact, schema: "Contacts") == [])
        }
        let payment = try ERPJSON.node(
            XeroPayloads.Payments([
                try XeroMapping.payment(
                    try TestData.paymentDocument(invoiceID: "d3f8a1b2-c4e5-4f67-8901-a2b3c4d5e6f7", customerID: "x"),
                    mapping: TestData.xero)
            ]))
        #expect(xero.violations(payment, schema: "Payments") == [])
        for status in ["VOIDED", "DELETED"] {
            let change = try ERPJSON.node(
                XeroPayloads.Invoices([
                    XeroMapping.statusChange(
                        ERPVersionedID(id: "d3f8a1b2-c4e5-4f67-8901-a2b3c4d5e6f7", version: nil), to: status)
                ]))
            #expect(xero.violations(change, schema: "Invoices") == [])
        }
    }

    @Test(
        "Xero request fixtures conform to the OpenAPI",
        arguments: [
            ("invoice-created", "Invoices"), ("invoice-updated", "Invoices"), ("invoice-au", "Invoices"),
            ("invoice-jpy", "Invoices"),
            ("contact", "Contacts"), ("payment-partial", "Payments"),
        ])
    func xeroRequestFixtures(name: String, schema: String) throws {
        #expect(xero.violations(try Fixtures.json("Xero/requests/\(name).json"), schema: schema) == [])
    }

    @Test func xeroValidatorCatchesMistakes() throws {
        let bad = try JSONNode(
            parsing: Array(
                #"""
                {"Invoices": [{"Type": "SALES", "Total": 10, "LineAmountTypes": "EXCLUSIVE", "Contact": {"ContactID": "42"},
                  "LineItems": [{"Quantity": "1", "Tracking": [{"Name": "Location", "Options": "X"}]}], "InvoiceNo": "1"}]}
                """#.utf8))
        let problems = xero.violations(bad, schema: "Invoices").sorted()
        #expect(
            problems == [
                "$.Invoices[0].Contact.ContactID: not a UUID",
                "$.Invoices[0].InvoiceNo: not a property of Invoice",
                "$.Invoices[0].LineAmountTypes: EXCLUSIVE not in [\"Exclusive\", \"Inclusive\", \"NoTax\"]",
                "$.Invoices[0].LineItems[0].Quantity: expected number, found string",
                "$.Invoices[0].LineItems[0].Tracking[0].Options: not a property of LineItemTracking",
                "$.Invoices[0].Total: read-only property sent",
                "$.Invoices[0].Type: SALES not in [\"ACCPAY\", \"ACCPAYCREDIT\", \"APOVERPAYMENT\", \"APPREPAYMENT\", \"ACCREC\", \"ACCRECCREDIT\", \"AROVERPAYMENT\", \"ARPREPAYMENT\"]",
            ])
    }

    // MARK: The extracted contracts match the reference pack

    static let pack = Fixtures.repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/erp-specs")

    @Test(
        .enabled(
            if: FileManager.default.fileExists(atPath: pack.path),
            "the erp-specs reference pack is not beside the repository"))
    func extractedContractsAreCurrent() throws {
        let xeroSource = Self.pack.appendingPathComponent(xero.file.source)
        #expect(
            SHA256.hex(Array(try Data(contentsOf: xeroSource))) == xero.file.source_sha256,
            "xero_accounting.yaml changed: rerun Fixtures/Contracts/extract_contracts.py")
        #expect(xero.file.spec_version == "16.1.0")
        for (name, digest) in quickbooks.file.source_sha256 {
            let url = Self.pack.appendingPathComponent("quickbooks-online").appendingPathComponent(name)
            #expect(
                SHA256.hex(Array(try Data(contentsOf: url))) == digest, "\(name) changed: rerun extract_contracts.py")
        }
    }
}
