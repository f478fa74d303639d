@testable import ErpSim
import Foundation
import HTTP
import Testing

@Suite("erp-sim reference data and Change Data Capture", .timeLimit(.minutes(1)))
struct ReferenceDataTests {
    @Test func quickBooksItemsTaxRatesAndDeletionsThroughCDC() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.realm).access
            let items = try await s.qbo(
                .get, "query", token: token,
                query: "query=select%20*%20from%20Item%20where%20MetaData.LastUpdatedTime%20%3E%20'2020-01-01T00:00:00Z'")
            #expect(items.status == 200)
            #expect(items.json?["QueryResponse"]?["Item"]?.array?.count == 3)
            let rates = try await s.qbo(.get, "query", token: token, query: "query=select%20*%20from%20TaxRate")
            #expect(rates.json?["QueryResponse"]?["TaxRate"]?.array?.first?["RateValue"]?.decimal == Decimal(string: "7.25"))

            let customerID = try await QuickBooksTests.customer(s, token: token)
            let created = try await s.qbo(
                .post, "invoice", token: token, query: "requestid=cdc-1",
                body: QuickBooksTests.invoiceBody(customer: customerID, number: "RO-7001"))
            let id = try #require(created.json?["Invoice"]?["Id"]?.string)
            let since = Date().addingTimeInterval(-600).formatted(Date.ISO8601FormatStyle())
            let deleted = try await s.qbo(
                .post, "invoice", token: token, query: "operation=delete", body: #"{"Id":"\#(id)","SyncToken":"0"}"#)
            #expect(deleted.json?["Invoice"]?["status"]?.string == "Deleted")

            let cdc = try await s.qbo(.get, "cdc", token: token, query: "entities=Invoice,Payment&changedSince=\(since)")
            #expect(cdc.status == 200)
            let responses = cdc.json?["CDCResponse"]?.array?.first?["QueryResponse"]?.array ?? []
            #expect(responses.count == 2)
            let invoices = responses.first?["Invoice"]?.array ?? []
            #expect(invoices.count == 1)
            #expect(invoices.first?["Id"]?.string == id && invoices.first?["status"]?.string == "Deleted")

            let old = Date().addingTimeInterval(-31 * 86_400).formatted(Date.ISO8601FormatStyle())
            let tooOld = try await s.qbo(.get, "cdc", token: token, query: "entities=Invoice&changedSince=\(old)")
            #expect(tooOld.status == 400)
            let missing = try await s.qbo(.get, "cdc", token: token, query: "entities=Invoice")
            #expect(missing.status == 400)
        }
    }

    @Test func xeroItemsAndTaxRates() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.tenant).access
            let items = try await s.xero(.get, "Items", token: token)
            #expect(items.status == 200)
            #expect(items.json?["Items"]?.array?.count == 3)
            #expect(items.json?["Items"]?.array?.first?["SalesDetails"]?["UnitPrice"]?.decimal == 120)
            let rates = try await s.xero(.get, "TaxRates", token: token)
            let output = rates.json?["TaxRates"]?.array?.first { $0["TaxType"]?.string == "OUTPUT" }
            #expect(output?["EffectiveRate"]?.decimal == Decimal(string: "8.25"))
            let write = try await s.xero(.put, "Items", token: token, body: #"{"Items":[{"Code":"X"}]}"#)
            #expect(write.status == 405)
        }
    }
}
