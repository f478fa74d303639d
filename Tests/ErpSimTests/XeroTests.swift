@testable import ErpSim
import Foundation
import HTTP
import Testing

@Suite("Xero simulator", .timeLimit(.minutes(1)))
struct XeroTests {
    static func contact(_ s: SimSession, token: String) async throws -> String {
        let created = try await s.xero(.put, "Contacts?summarizeErrors=false", token: token, body: #"{"Contacts":[{"Name":"Bob's Garage","ContactNumber":"C-1"}]}"#, key: "cc-1")
        #expect(created.status == 200)
        return try #require(created.json?["Contacts"]?.array?.first?["ContactID"]?.string)
    }

    static func invoice(contact: String, number: String, status: String = "AUTHORISED", account: String = "200") -> String {
        #"{"Type":"ACCREC","InvoiceNumber":"\#(number)","Status":"\#(status)","DueDate":"2026-12-01","Contact":{"ContactID":"\#(contact)"},"#
            + #""LineAmountTypes":"Exclusive","LineItems":[{"Description":"Alternator","Quantity":2,"UnitAmount":4.335,"LineAmount":8.67,"AccountCode":"\#(account)","TaxAmount":0.87}]}"#
    }

    @Test func perRecordErrorsDuplicatesAndIdempotencyKey() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.tenant).access
            let contactID = try await Self.contact(s, token: token)
            let dupContact = try await s.xero(.put, "Contacts", token: token, body: #"{"Contacts":[{"Name":"bob's garage"}]}"#, key: "cc-2")
            #expect(dupContact.status == 400)
            #expect(dupContact.json?["Elements"]?.array?.first?["ValidationErrors"]?.array?.first?["Message"]?.string?.contains("already assigned to another contact") == true)

            let body = #"{"Invoices":[\#(Self.invoice(contact: contactID, number: "RO-1")),\#(Self.invoice(contact: contactID, number: "RO-2", account: ""))]}"#
            let first = try await s.xero(.post, "Invoices?summarizeErrors=false&unitdp=4", token: token, body: body, key: "bi-1")
            #expect(first.status == 200)
            let elements = try #require(first.json?["Invoices"]?.array)
            #expect(elements[0]["HasErrors"]?.bool == false)
            #expect(elements[0]["Total"]?.decimal == Decimal(string: "9.54"))
            #expect(elements[0]["LineItems"]?.array?.first?["UnitAmount"]?.decimal == Decimal(string: "4.335"))
            #expect(elements[1]["HasErrors"]?.bool == true)
            #expect(elements[1]["ValidationErrors"]?.array?.isEmpty == false)
            #expect(first.header("X-MinLimit-Remaining") != nil)

            let replay = try await s.xero(.post, "Invoices?summarizeErrors=false&unitdp=4", token: token, body: body, key: "bi-1")
            #expect(replay.json?["Invoices"]?.array?.first?["InvoiceID"] == elements[0]["InvoiceID"])
            let conflict = try await s.xero(.post, "Invoices?summarizeErrors=false", token: token, body: #"{"Invoices":[]}"#, key: "bi-1")
            #expect(conflict.status == 400)

            let duplicate = try await s.xero(.put, "Invoices", token: token, body: #"{"Invoices":[\#(Self.invoice(contact: contactID, number: "RO-1"))]}"#, key: "ci-9")
            #expect(duplicate.status == 400)
            #expect(duplicate.json?["ErrorNumber"]?.decimal == 10)
            #expect(duplicate.json?["Type"]?.string == "ValidationException")
            #expect(duplicate.json?["Elements"]?.array?.first?["ValidationErrors"]?.array?.first?["Message"]?.string == "Invoice # must be unique.")

            let documents = try await s.documents()
            #expect(documents["counts"]?["Invoice"]?.decimal == 1)
            #expect(documents["duplicates"]?.array?.isEmpty == true)

            let found = try await s.xero(.get, "Invoices?InvoiceNumbers=RO-1&unitdp=4", token: token)
            #expect(found.json?["Invoices"]?.array?.count == 1)
            let byWhere = try await s.xero(.get, "Contacts?where=" + #"ContactNumber=="C-1""#.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!, token: token)
            #expect(byWhere.json?["Contacts"]?.array?.first?["ContactID"]?.string == contactID)
        }
    }

    @Test func voidAndPaymentRules() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.tenant).access
            let contactID = try await Self.contact(s, token: token)
            let created = try await s.xero(.post, "Invoices?summarizeErrors=false", token: token,
                                           body: #"{"Invoices":[\#(Self.invoice(contact: contactID, number: "RO-5"))]}"#, key: "ci-5")
            let invoiceID = try #require(created.json?["Invoices"]?.array?.first?["InvoiceID"]?.string)
            let created2 = try await s.xero(.post, "Invoices?summarizeErrors=false", token: token,
                                            body: #"{"Invoices":[\#(Self.invoice(contact: contactID, number: "RO-6"))]}"#, key: "ci-6")
            let invoice2 = try #require(created2.json?["Invoices"]?.array?.first?["InvoiceID"]?.string)

            let payment = #"{"Payments":[{"Invoice":{"InvoiceID":"\#(invoiceID)"},"Account":{"Code":"090"},"Date":"2026-11-21","Amount":4.00,"Reference":"Ledgerline ref: p-1"}]}"#
            let paid = try await s.xero(.put, "Payments?summarizeErrors=false", token: token, body: payment, key: "cp-1")
            #expect(paid.status == 200)
            let after = try await s.xero(.get, "Invoices/\(invoiceID)", token: token)
            #expect(after.json?["Invoices"]?.array?.first?["AmountDue"]?.decimal == Decimal(string: "5.54"))

            let voidPaid = try await s.xero(.post, "Invoices/\(invoiceID)", token: token, body: #"{"Invoices":[{"Status":"VOIDED"}]}"#, key: "vi-1")
            #expect(voidPaid.status == 400)
            #expect(voidPaid.json?["Elements"]?.array?.first?["ValidationErrors"]?.array?.first?["Message"]?.string?.contains("payment") == true)

            let voided = try await s.xero(.post, "Invoices/\(invoice2)", token: token, body: #"{"Invoices":[{"Status":"VOIDED"}]}"#, key: "vi-2")
            #expect(voided.status == 200)
            #expect(voided.json?["Invoices"]?.array?.first?["Status"]?.string == "VOIDED")
            #expect(voided.json?["Invoices"]?.array?.first?["AmountDue"]?.decimal == 0)
        }
    }
}
