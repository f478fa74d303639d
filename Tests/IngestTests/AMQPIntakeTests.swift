import AMQP
import Domain
import Foundation
import HTTP
import Postgres
import TestSupport
import Testing

@testable import Ingest

@Suite("AMQP intake", .requiresPostgres, .requiresRabbitMQ, .timeLimit(.minutes(1)))
struct AMQPIntakeTests {
    @Test func storesEventsAcksAndDeadLettersRejectionsWithTheirReason() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let valid = EventFactory.invoice(tenant: fixture.tenant, location: fixture.location, invoiceID: "i1")
        let invalid = try fixture.example("invalid-tax-total.json")
        let unknownLocation = EventFactory.invoice(tenant: fixture.tenant, location: "nowhere", invoiceID: "i2")
        try await AMQPHarness.with(pool: pool) { amqp in
            try await amqp.publish([valid, invalid, unknownLocation], messageIDs: ["m-valid", "m-invalid", "m-location"])
            let dead = try await amqp.deadLetters(2)
            let byID = Dictionary(uniqueKeysWithValues: dead.map { ($0.messageID ?? "", $0) })
            let tax = try #require(byID["m-invalid"])
            #expect(tax.body == invalid)  // the original body, unchanged
            #expect(tax.headers["x-ledgerline-reason-code"]?.stringValue == "arithmetic.tax_total_mismatch")
            #expect(tax.headers["x-ledgerline-reason"]?.stringValue?.contains("tax_total") == true)
            #expect(tax.headers["x-ledgerline-source-queue"]?.stringValue == amqp.queue)
            let failures = try JSONDecoder().decode(
                [ValidationFailure].self, from: Data((tax.headers["x-ledgerline-failures"]?.stringValue ?? "").utf8))
            #expect(failures.map(\.path) == ["invoice.totals.tax_total"])
            #expect(byID["m-location"]?.headers["x-ledgerline-reason-code"]?.stringValue == "location.unknown")
            try await IngestStack.eventually("the valid event stored") {
                try await fixture.count("inbound_events", pool) == 1
            }
            // Everything was acked: nothing is left in the queue.
            try await IngestStack.eventually("the queue drained") { try await amqp.ready(amqp.queue) == 0 }
        }
        #expect(try await fixture.count("ingest_rejections", pool, where: "channel = 'amqp'") == 2)
        #expect(try await fixture.count("outbox", pool, where: "routing_key = 'ingest.event.rejected'") == 2)
        // Every delivery was settled: after the intake stopped nothing came back to the queue.
    }

    @Test func aRedeliveredOrRepublishedEventIsStoredOnce() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let bodies = (0..<30).map { EventFactory.invoice(tenant: fixture.tenant, location: fixture.location, invoiceID: "i\($0)") }
        try await AMQPHarness.with(pool: pool, batchSize: 7) { amqp in
            try await amqp.publish(bodies)
            try await amqp.publish(bodies)  // the shop software publishes everything twice
            try await IngestStack.eventually("both copies processed") {
                let ready = try await amqp.ready(amqp.queue)
                let stored = try await fixture.count("inbound_events", pool)
                return ready == 0 && stored == 30
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(try await fixture.count("inbound_events", pool) == 30)
        #expect(try await fixture.count("invoices", pool) == 30)
        #expect(try await fixture.count("outbox", pool, where: "message_type = 'sync_job'") == 30)
    }

    @Test func aBodyThatIsNotJSONIsDeadLettered() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        try await AMQPHarness.with(pool: pool) { amqp in
            let garbage = Array("\u{1}not json at all \(UUID())".utf8)
            try await amqp.publish([garbage])
            let dead = try await amqp.deadLetters(1)
            #expect(dead.first?.body == garbage)
            #expect(dead.first?.headers["x-ledgerline-reason-code"]?.stringValue == "schema.invalid_json")
        }
    }
}

/// Every example of the event contract, through both intakes: valid ones are stored, invalid ones are
/// rejected with exactly the failures `examples/index.json` lists.
@Suite("Reason codes from the contract's examples", .requiresPostgres, .requiresRabbitMQ, .timeLimit(.minutes(1)))
struct ExampleReasonCodeTests {
    @Test func throughHTTP() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let entries = try Examples.index()
        try await HTTPHarness.with(pool: pool) { http in
            for (index, entry) in entries.enumerated() {
                let answer = try await http.post(
                    try fixture.example(entry.file), tenant: fixture.tenant, secret: fixture.secret, key: "ex-\(index)")
                if entry.valid {
                    #expect(answer.status == 202, "\(entry.file): \(answer.text)")
                    #expect(["accepted", "parked"].contains(answer.json["outcome"] as? String), "\(entry.file)")
                } else {
                    #expect(answer.status == 422, "\(entry.file)")
                    #expect(Set(answer.errors) == Set(entry.expect ?? []), "\(entry.file)")
                    #expect(answer.headers["Content-Type"] == "application/problem+json")
                }
            }
        }
        let invalid = entries.filter { !$0.valid }
        #expect(try await fixture.count("ingest_rejections", pool) == invalid.count)
        #expect(try await fixture.count("inbound_events", pool) == entries.count - invalid.count)
        // Each rejection row carries the first expected code.
        for entry in invalid {
            let codes = Set((entry.expect ?? []).map(\.code))
            let stored = try await pool.query(
                "SELECT reason_code FROM ingest_rejections WHERE tenant_id = \(fixture.tenant) AND failures @> \(PostgresJSON(String(decoding: try JSONEncoder().encode([["code": entry.expect![0].code, "path": entry.expect![0].path]]), as: UTF8.self)))")
            #expect(stored.count >= 1, "\(entry.file)")
            #expect(codes.contains(try stored.first?.decode(String.self, "reason_code") ?? ""), "\(entry.file)")
        }
    }

    @Test func throughAMQP() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let entries = try Examples.index()
        let invalid = entries.filter { !$0.valid }
        try await AMQPHarness.with(pool: pool) { amqp in
            try await amqp.publish(try entries.map { try fixture.example($0.file) }, messageIDs: entries.map(\.file))
            let dead = try await amqp.deadLetters(invalid.count)
            let byFile = Dictionary(uniqueKeysWithValues: dead.map { ($0.messageID ?? "", $0) })
            for entry in invalid {
                let delivery = try #require(byFile[entry.file], "\(entry.file) not dead-lettered")
                #expect(delivery.body == (try fixture.example(entry.file)))
                let failures = try JSONDecoder().decode(
                    [ValidationFailure].self,
                    from: Data((delivery.headers["x-ledgerline-failures"]?.stringValue ?? "[]").utf8))
                #expect(
                    Set(failures.map { Examples.Entry.Expectation(code: $0.code.rawValue, path: $0.path) })
                        == Set(entry.expect ?? []), "\(entry.file)")
                #expect(delivery.headers["x-ledgerline-reason-code"]?.stringValue == failures.first?.code.rawValue)
            }
            try await IngestStack.eventually("valid examples stored") {
                try await fixture.count("inbound_events", pool) == entries.count - invalid.count
            }
        }
        #expect(try await fixture.count("ingest_rejections", pool, where: "channel = 'amqp'") == invalid.count)
    }
}
