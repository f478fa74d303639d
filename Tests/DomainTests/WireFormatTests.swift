import Domain
import Foundation
import Testing

struct WireFormatTests {
    @Test func syncJobRoundTripsWithSnakeCaseKeys() throws {
        let job = SyncJob(
            jobID: "42", kind: .pushInvoice, trigger: .event, tenantID: "acme", locationID: "north",
            connectionID: UUID(uuidString: "7D3B1B7E-0A52-4C5B-8E0B-2C8E6E0F4A11")!, erp: .xero, invoiceID: "INV-1",
            invoiceVersion: 3, enqueuedAt: Date(timeIntervalSince1970: 1_700_000_000))
        let data = try WireFormat.encoder().encode(job)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"job_id\":\"42\""))
        #expect(text.contains("\"kind\":\"push_invoice\""))
        #expect(text.contains("\"erp\":\"xero\""))
        #expect(text.contains("\"enqueued_at\":\"2023-11-14T22:13:20Z\""))
        #expect(try WireFormat.decoder().decode(SyncJob.self, from: data) == job)
    }

    @Test func auditEventRoundTripsAndRoutesBySourceAndKind() throws {
        let event = AuditEvent(
            kind: .eventRejected, occurredAt: Date(timeIntervalSince1970: 1_700_000_000), tenantID: "acme",
            source: "ingest", record: .init(objectType: .invoice, shopID: "INV-1", number: "1001"),
            outcome: .rejected, reason: "arithmetic.total_mismatch", message: "total does not add up")
        let data = try WireFormat.encoder().encode(event)
        #expect(try WireFormat.decoder().decode(AuditEvent.self, from: data) == event)
        #expect(event.routingKey == "ingest.event.rejected")
        #expect(String(decoding: data, as: UTF8.self).contains("\"reason\":\"arithmetic.total_mismatch\""))
    }

    @Test(arguments: ERP.allCases)
    func everyERPHasAJobQueueInTheTopologyFile(erp: ERP) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let topology = try String(contentsOf: root.appendingPathComponent("deploy/rabbitmq/topology.json"), encoding: .utf8)
        #expect(topology.contains("\"name\": \"\(erp.jobQueue)\""))
        #expect(topology.contains("\"routing_key\": \"\(erp.jobRoutingKey)\""))
    }
}
