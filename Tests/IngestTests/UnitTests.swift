import Domain
import Foundation
import Testing

@testable import Ingest

@Suite("Small pieces")
struct SmallPieceTests {
    @Test func slicesTheElementsOfABatch() throws {
        let text = #" [ {"a": "x,]}"} ,{"b":[1,2,{"c":"\"]"}]},   3 ] "#
        let slices = try #require(JSONArraySlicer.elements(of: Array(text.utf8)))
        #expect(slices.map { String(decoding: $0, as: UTF8.self) } == [#"{"a": "x,]}"}"#, #"{"b":[1,2,{"c":"\"]"}]}"#, "3"])
        #expect(JSONArraySlicer.elements(of: Array("[]".utf8))?.isEmpty == true)
        #expect(JSONArraySlicer.elements(of: Array(#"{"a":1}"#.utf8)) == nil)
        #expect(JSONArraySlicer.elements(of: Array("[1, 2".utf8)) == nil)
    }

    @Test func writesHeaderJSONThatFoundationReadsBack() throws {
        let values = ["x-ledgerline-tenant": "t-1", "x-ledgerline-correlation-id": "id \"quoted\" \\ \n\u{1}é"]
        let text = JSONText.object(values)
        let decoded = try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
        #expect(decoded == values)
    }

    @Test func classifiesProblemStatuses() {
        func status(_ codes: ReasonCode...) -> Int {
            HTTPIntake.problemStatus(codes.map { ValidationFailure(code: $0, path: "", message: "") })
        }
        #expect(status(.bodyTooLarge) == 413)
        #expect(status(.invalidJSON) == 400)
        #expect(status(.tenantMismatch) == 403)
        #expect(status(.idempotencyKeyReused) == 409)
        #expect(status(.invoiceVoidHasPayments) == 409)
        #expect(status(.lineAmountMismatch, .invalidVIN) == 422)
        #expect(status(.locationUnknown) == 422)
    }

    @Test func readsClaimedFieldsOnlyWhenTheyLookRight() {
        let claimed = IntakeItem.ClaimedFields(body: Array(#"{"tenant_id": "sparks", "location_id": "bad id!", "event_id": "e1", "invoice": {"invoice_id": "i1"}}"#.utf8))
        #expect(claimed.tenantID == "sparks")
        #expect(claimed.locationID == nil)
        #expect(claimed.eventID == "e1")
        #expect(claimed.invoiceID == "i1")
        #expect(IntakeItem.ClaimedFields(body: Array("not json".utf8)).tenantID == nil)
    }

    @Test func buildsJobsOnlyForConnectionsThatWantThem() throws {
        let composer = OutboxComposer(jobsExchange: "jobs", auditExchange: "audit")
        let event = try EventFactory.decoded(EventFactory.invoice(tenant: "t", location: "l", invoiceID: "i"))
        let connections = [
            ConnectionTarget(connectionID: UUID(), erpSlug: "xero", pushInvoices: true, pushPayments: false),
            ConnectionTarget(connectionID: UUID(), erpSlug: "quickbooks-online", pushInvoices: false, pushPayments: true),
            ConnectionTarget(connectionID: UUID(), erpSlug: "not-built-here", pushInvoices: true, pushPayments: true),
        ]
        let invoices = try composer.jobs(kind: .pushInvoice, event: event, connections: connections, now: Date())
        #expect(invoices.map(\.routingKey) == ["xero"])
        let payments = try composer.jobs(kind: .pushPayment, event: event, connections: connections, paymentID: "p", now: Date())
        #expect(payments.map(\.routingKey) == ["quickbooks-online"])
        let job = try WireFormat.decoder().decode(SyncJob.self, from: Data(payments[0].body.utf8))
        #expect(job.paymentID == "p")
        #expect(job.trigger == .event)
        #expect(ConnectionTarget(packed: "\(UUID().uuidString) xero true false")?.pushPayments == false)
        #expect(ConnectionTarget(packed: "garbage") == nil)
    }
}
