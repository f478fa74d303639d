@testable import ErpSim
import Foundation
import HTTP
import Testing
import TestSupport

/// Where the connectors' fixtures live (beside this test target).
let connectorFixturesRoot = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/ConnectorsTests/Fixtures")

/// Replays the request bodies the connectors produce (their mapping fixtures in
/// `Tests/ConnectorsTests/Fixtures/<ERP>/requests/`) against the simulators: the simulator must
/// accept them and compute the totals the shop expects. Ids of the fixtures are replaced by the
/// simulator's.
@Suite("Connector request fixtures against the simulators", .timeLimit(.minutes(1)),
       .enabled(if: FileManager.default.fileExists(atPath: connectorFixturesRoot.path), "connector fixtures not present"))
struct ConnectorFixtureTests {
    static let root = connectorFixturesRoot

    static func fixture(_ path: String, ids: [String: String]) throws -> JSONValue {
        let data = try Data(contentsOf: root.appendingPathComponent(path))
        let value = try #require(JSONValue.parse(Array(data)), "fixture \(path)")
        return substitute(value, ids)
    }

    static func substitute(_ value: JSONValue, _ ids: [String: String]) -> JSONValue {
        switch value {
        case .object(let fields):
            var result: [String: JSONValue] = [:]
            for (key, field) in fields {
                if ["value", "TxnId", "ContactID", "InvoiceID", "Id"].contains(key), let text = field.string, let replacement = ids[text] {
                    result[key] = .string(replacement)
                } else {
                    result[key] = substitute(field, ids)
                }
            }
            return .object(result)
        case .array(let items): return .array(items.map { substitute($0, ids) })
        default: return value
        }
    }

    @Test func quickBooksFixturesAreAccepted() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.realm).access
            let customer = try await s.qbo(.post, "customer", token: token, query: "requestid=cc-f", body: try Self.fixture("QuickBooksOnline/requests/customer-created.json", ids: [:]).serialized)
            #expect(customer.status == 200, "\(customer.text)")
            let customerID = try #require(customer.json?["Customer"]?["Id"]?.string)

            let invoiceBody = try Self.fixture("QuickBooksOnline/requests/invoice-created.us.json", ids: ["58": customerID])
            let invoice = try await s.qbo(.post, "invoice", token: token, query: "requestid=ci-f", body: invoiceBody.serialized)
            #expect(invoice.status == 200, "\(invoice.text)")
            let created = try #require(invoice.json?["Invoice"])
            #expect(created["TotalAmt"]?.decimal == Decimal(string: "778.00"))   // 771.45 − 28.35 + 34.90
            let invoiceID = try #require(created["Id"]?.string)

            var update = try Self.fixture("QuickBooksOnline/requests/invoice-updated.us.sparse.json", ids: ["58": customerID, "130": invoiceID])
            if case .object(var fields) = update {
                fields["SyncToken"] = "0"
                update = .object(fields)
            }
            let updated = try await s.qbo(.post, "invoice", token: token, query: "requestid=ui-f", body: update.serialized)
            #expect(updated.status == 200, "\(updated.text)")
            #expect(updated.json?["Invoice"]?["SyncToken"]?.string == "1")

            let au = try Self.fixture("QuickBooksOnline/requests/invoice-au.line-tax.json", ids: ["58": customerID])
            let auAnswer = try await s.qbo(.post, "invoice", token: token, query: "requestid=ci-au", body: au.serialized)
            #expect(auAnswer.status == 200, "\(auAnswer.text)")

            let payment = try Self.fixture("QuickBooksOnline/requests/payment-partial.json", ids: ["58": customerID, "130": invoiceID])
            let paid = try await s.qbo(.post, "payment", token: token, query: "requestid=cp-f", body: payment.serialized)
            #expect(paid.status == 200, "\(paid.text)")
            let after = try await s.qbo(.get, "invoice/\(invoiceID)", token: token)
            let total = try #require(after.json?["Invoice"]?["TotalAmt"]?.decimal)
            #expect(after.json?["Invoice"]?["Balance"]?.decimal == total - 500)
        }
    }

    @Test func xeroFixturesAreAccepted() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.tenant).access
            let contact = try await s.xero(.put, "Contacts?summarizeErrors=false", token: token,
                                           body: try Self.fixture("Xero/requests/contact.json", ids: [:]).serialized, key: "cc-f")
            #expect(contact.status == 200, "\(contact.text)")
            let contactID = try #require(contact.json?["Contacts"]?.array?.first?["ContactID"]?.string)
            let fixtureContact = "7b1c5a2e-3d4f-4a6b-8c9d-0e1f2a3b4c5d"

            let body = try Self.fixture("Xero/requests/invoice-created.json", ids: [fixtureContact: contactID])
            let created = try await s.xero(.post, "Invoices?summarizeErrors=false&unitdp=4", token: token, body: body.serialized, key: "ci-f")
            #expect(created.status == 200, "\(created.text)")
            let invoice = try #require(created.json?["Invoices"]?.array?.first)
            #expect(invoice["HasErrors"]?.bool == false, "\(created.text)")
            let lines = body["Invoices"]?.array?.first?["LineItems"]?.array ?? []
            let expected = lines.reduce(Decimal(0)) { $0 + ($1["LineAmount"]?.decimal ?? 0) + ($1["TaxAmount"]?.decimal ?? 0) }
            #expect(invoice["Total"]?.decimal == expected)
            let invoiceID = try #require(invoice["InvoiceID"]?.string)

            let fixtureInvoice = "d3f8a1b2-c4e5-4f67-8901-a2b3c4d5e6f7"
            let update = try Self.fixture("Xero/requests/invoice-updated.json", ids: [fixtureContact: contactID, fixtureInvoice: invoiceID])
            let updated = try await s.xero(.post, "Invoices/\(invoiceID)?unitdp=4", token: token, body: update.serialized, key: "ui-f")
            #expect(updated.status == 200, "\(updated.text)")

            let au = try Self.fixture("Xero/requests/invoice-au.json", ids: [fixtureContact: contactID])
            let auAnswer = try await s.xero(.post, "Invoices?summarizeErrors=false&unitdp=4", token: token, body: au.serialized, key: "ci-au")
            #expect(auAnswer.json?["Invoices"]?.array?.first?["HasErrors"]?.bool == false, "\(auAnswer.text)")

            let payment = try Self.fixture("Xero/requests/payment-partial.json", ids: [fixtureInvoice: invoiceID])
            let paid = try await s.xero(.put, "Payments?summarizeErrors=false", token: token, body: payment.serialized, key: "cp-f")
            #expect(paid.status == 200, "\(paid.text)")
            #expect(try await s.documents()["duplicates"]?.array?.isEmpty == true)
        }
    }
}
