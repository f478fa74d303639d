@testable import ErpSim
import Foundation
import HTTP
import Testing

@Suite("QuickBooks Online simulator", .timeLimit(.minutes(1)))
struct QuickBooksTests {
    static func invoiceBody(customer: String, number: String, tax: String = "3.20") -> String {
        #"{"DocNumber":"\#(number)","CustomerRef":{"value":"\#(customer)"},"PrivateNote":"Ledgerline ref: inv-\#(number)","#
            + #""Line":[{"DetailType":"SalesItemLineDetail","Amount":45.00,"SalesItemLineDetail":{"ItemRef":{"value":"11"},"Qty":3,"UnitPrice":15}},"#
            + #"{"DetailType":"SalesItemLineDetail","Amount":12.34,"SalesItemLineDetail":{"ItemRef":{"value":"12"}}},"#
            + #"{"DetailType":"DiscountLineDetail","Amount":5.00,"DiscountLineDetail":{"PercentBased":false}}],"#
            + #""TxnTaxDetail":{"TotalTax":\#(tax)}}"#
    }

    static func customer(_ s: SimSession, token: String, name: String = "O'Brien Auto") async throws -> String {
        let created = try await s.qbo(.post, "customer", token: token, query: "requestid=cc-\(name.count)", body: #"{"DisplayName":"\#(name)"}"#)
        #expect(created.status == 200)
        return try #require(created.json?["Customer"]?["Id"]?.string)
    }

    @Test func createDuplicateAndIdempotentReplay() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.realm).access
            let customerID = try await Self.customer(s, token: token)

            let dupName = try await s.qbo(.post, "customer", token: token, query: "requestid=cc-other", body: #"{"DisplayName":"o'brien auto"}"#)
            #expect(dupName.status == 400)
            #expect(dupName.json?["Fault"]?["type"]?.string == "ValidationFault")
            #expect(dupName.json?["Fault"]?["Error"]?.array?.first?["code"]?.string == "6240")

            let body = Self.invoiceBody(customer: customerID, number: "RO-1001")
            let first = try await s.qbo(.post, "invoice", token: token, query: "requestid=ci-1", body: body)
            #expect(first.status == 200)
            let invoice = try #require(first.json?["Invoice"])
            #expect(invoice["TotalAmt"]?.decimal == Decimal(string: "55.54"))   // 45 + 12.34 - 5 + 3.20
            #expect(invoice["Balance"]?.decimal == Decimal(string: "55.54"))
            #expect(invoice["SyncToken"]?.string == "0")
            #expect(first.header("X-Erp-Sim-Minorversion") == "75")

            let replay = try await s.qbo(.post, "invoice", token: token, query: "requestid=ci-1", body: body)
            #expect(replay.status == 200)
            #expect(replay.json?["Invoice"]?["Id"] == invoice["Id"])

            let dupNumber = try await s.qbo(.post, "invoice", token: token, query: "requestid=ci-2", body: body)
            #expect(dupNumber.status == 400)
            #expect(dupNumber.json?["Fault"]?["Error"]?.array?.first?["code"]?.string == "6140")

            let documents = try await s.documents()
            #expect(documents["counts"]?["Invoice"]?.decimal == 1)
            #expect(documents["counts"]?["Customer"]?.decimal == 1)
            #expect(documents["duplicates"]?.array?.isEmpty == true)
            #expect(try await s.control(.get, "/_sim/stats")["idempotent_replays"]?.decimal == 1)
        }
    }

    @Test func sparseUpdateStaleSyncTokenAndVoid() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.realm).access
            let customerID = try await Self.customer(s, token: token)
            let created = try await s.qbo(.post, "invoice", token: token, query: "requestid=ci-1", body: Self.invoiceBody(customer: customerID, number: "RO-7"))
            let id = try #require(created.json?["Invoice"]?["Id"]?.string)

            let update = try await s.qbo(.post, "invoice", token: token, query: "requestid=ui-1",
                                         body: #"{"Id":"\#(id)","SyncToken":"0","sparse":true,"CustomerMemo":{"value":"Thanks"}}"#)
            #expect(update.status == 200)
            #expect(update.json?["Invoice"]?["SyncToken"]?.string == "1")
            #expect(update.json?["Invoice"]?["DocNumber"]?.string == "RO-7")
            #expect(update.json?["Invoice"]?["CustomerMemo"]?["value"]?.string == "Thanks")

            let stale = try await s.qbo(.post, "invoice", token: token, query: "requestid=ui-2",
                                        body: #"{"Id":"\#(id)","SyncToken":"0","sparse":true,"CustomerMemo":{"value":"Again"}}"#)
            #expect(stale.status == 400)
            #expect(stale.json?["Fault"]?["Error"]?.array?.first?["code"]?.string == "5010")

            let voided = try await s.qbo(.post, "invoice", token: token, query: "operation=void&requestid=vi-1", body: #"{"Id":"\#(id)","SyncToken":"1"}"#)
            #expect(voided.status == 200)
            #expect(voided.json?["Invoice"]?["TotalAmt"]?.decimal == 0)
            #expect(voided.json?["Invoice"]?["SyncToken"]?.string == "2")

            let read = try await s.qbo(.get, "invoice/\(id)", token: token)
            #expect(read.json?["Invoice"]?["Balance"]?.decimal == 0)
            let missing = try await s.qbo(.get, "invoice/999", token: token)
            #expect(missing.status == 400)
            #expect(missing.json?["Fault"]?["Error"]?.array?.first?["code"]?.string == "610")
        }
    }

    @Test func queryBatchAndPartialPayment() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.realm).access
            let customerID = try await Self.customer(s, token: token, name: "O'Brien Auto")
            let query = "select * from Customer where DisplayName in ('O\\'Brien Auto', 'O\\'Brien Auto (2)')"
            let found = try await s.qbo(.get, "query", token: token,
                                        query: "query=" + query.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
            #expect(found.status == 200)
            #expect(found.json?["QueryResponse"]?["Customer"]?.array?.first?["Id"]?.string == customerID)

            let batch = #"{"BatchItemRequest":[{"bId":"1","operation":"create","Invoice":\#(Self.invoiceBody(customer: customerID, number: "B-1"))},"#
                + #"{"bId":"2","operation":"create","Invoice":\#(Self.invoiceBody(customer: customerID, number: "B-1"))},"#
                + #"{"bId":"3","Query":"select * from Invoice where DocNumber = 'B-1'"}]}"#
            let answer = try await s.qbo(.post, "batch", token: token, query: "requestid=bi-1", body: batch)
            #expect(answer.status == 200)
            let items = try #require(answer.json?["BatchItemResponse"]?.array)
            #expect(items.count == 3)
            let invoiceID = try #require(items[0]["Invoice"]?["Id"]?.string)
            #expect(items[1]["Fault"]?["Error"]?.array?.first?["code"]?.string == "6140")
            #expect(items[2]["QueryResponse"]?["Invoice"]?.array?.count == 1)

            let byNumber = try await s.qbo(.get, "query", token: token,
                                           query: "query=select%20*%20from%20Invoice%20where%20DocNumber%20%3D%20%27B-1%27")
            #expect(byNumber.json?["QueryResponse"]?["Invoice"]?.array?.first?["Id"]?.string == invoiceID)

            let payment = #"{"CustomerRef":{"value":"\#(customerID)"},"TotalAmt":20.00,"DepositToAccountRef":{"value":"35"},"#
                + #""Line":[{"Amount":20.00,"LinkedTxn":[{"TxnId":"\#(invoiceID)","TxnType":"Invoice"}]}]}"#
            let paid = try await s.qbo(.post, "payment", token: token, query: "requestid=cp-1", body: payment)
            #expect(paid.status == 200)
            let invoice = try await s.qbo(.get, "invoice/\(invoiceID)", token: token)
            #expect(invoice.json?["Invoice"]?["Balance"]?.decimal == Decimal(string: "35.54"))
            #expect(invoice.json?["Invoice"]?["SyncToken"]?.string == "1")

            let tooMuch = payment.replacingOccurrences(of: "20.00", with: "99.00")
            #expect(try await s.qbo(.post, "payment", token: token, query: "requestid=cp-2", body: tooMuch).status == 400)
        }
    }

    @Test func minorVersionAndAcceptAreRequired() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.realm).access
            let noMinor = try await s.send(.get, "/v3/company/\(SimSession.realm)/query?query=select%20*%20from%20Invoice",
                                           headers: [("Authorization", "Bearer \(token)"), ("Accept", "application/json")])
            #expect(noMinor.status == 400)
            #expect(noMinor.json?["Fault"]?["Error"]?.array?.first?["element"]?.string == "minorversion")
            let noAccept = try await s.send(.get, "/v3/company/\(SimSession.realm)/query?minorversion=75&query=select%20*%20from%20Invoice",
                                            headers: [("Authorization", "Bearer \(token)")])
            #expect(noAccept.status == 400)
            let since = "select * from Customer where MetaData.LastUpdatedTime >= '2000-01-01T00:00:00-08:00' orderby MetaData.LastUpdatedTime startposition 1 maxresults 10"
            _ = try await s.qbo(.post, "customer", token: token, query: "requestid=c1", body: #"{"DisplayName":"Pull Me"}"#)
            let pulled = try await s.qbo(.get, "query", token: token, query: "query=" + since.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
            #expect(pulled.json?["QueryResponse"]?["Customer"]?.array?.count == 1)
            let future = since.replacingOccurrences(of: "2000-01-01", with: "2999-01-01")
            let none = try await s.qbo(.get, "query", token: token, query: "query=" + future.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
            #expect(none.json?["QueryResponse"]?.object?.isEmpty == true)
            let badQuery = try await s.qbo(.get, "query", token: token, query: "query=selec%20nothing")
            #expect(badQuery.json?["Fault"]?["Error"]?.array?.first?["code"]?.string == "4000")
        }
    }
}
