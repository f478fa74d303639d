import AMQP
import Domain
import Foundation
import HTTP
import Postgres
import Runtime
import TestSupport
import Testing

@testable import Ingest

/// Faults with real servers: a crashed or stopped ingest process, a stopped broker, a stopped database.
/// These suites stop servers, so they run on their own, one after another (`swift test --filter RestartTests`).
@Suite("Ingest process: kill -9 and SIGTERM mid-stream", .requiresPostgres, .requiresRabbitMQ, .serialized,
       .timeLimit(.minutes(3)))
struct IngestProcessRestartTests {
    /// Publishes `count` invoice events to the shop-events exchange in chunks (like shop software would).
    static func stream(_ fixture: TenantFixture, count: Int, chunk: Int = 250) async throws {
        let publisher = try await AMQPPublisher(configuration: try IngestStack.amqp(), logger: IngestStack.logger)
        for start in stride(from: 0, to: count, by: chunk) {
            let requests = (start..<min(start + chunk, count)).map { index in
                AMQPPublishRequest(
                    AMQPMessage(
                        body: EventFactory.invoice(tenant: fixture.tenant, location: fixture.location, invoiceID: "s\(index)"),
                        messageID: "\(fixture.tenant)-\(index)", contentType: "application/json"),
                    exchange: "ledgerline.shop-events", routingKey: "\(fixture.tenant).\(fixture.location).invoice.created")
            }
            for result in try await publisher.publish(batch: requests) { #expect(try result.get() == .confirmed) }
            try await Task.sleep(for: .milliseconds(30))
        }
        await publisher.close()
    }

    @Test func killNineMidStreamStoresEveryEventOnceAndPublishesEveryJob() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        try await IngestStack.declareTopology()
        let fixture = try await TenantFixture.make(pool)
        let (tapName, tap) = try await OutboxRelayTests.tap()
        let total = 5_000

        var ingest = try IngestProcess([:], name: "ingest-kill")
        try await ingest.waitForLog("AMQP intake consuming")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await Self.stream(fixture, count: total) }
            try await IngestStack.eventually(timeout: .seconds(60), "1,000 events stored before the kill") {
                try await fixture.count("inbound_events", pool) >= 1_000
            }
            ingest.kill9()
            #expect(await ingest.waitForExit(timeout: .seconds(5)) != nil)
            let storedAtKill = try await fixture.count("inbound_events", pool)
            #expect(storedAtKill < total, "the kill came after the stream was done; nothing was tested")
            ingest = try IngestProcess([:], name: "ingest-restart")
            try await group.waitForAll()
        }
        try await IngestStack.eventually(timeout: .seconds(90), "every event stored and every job published") {
            let stored = try await fixture.count("inbound_events", pool)
            let pending = try await fixture.count("outbox", pool, where: "published_at IS NULL")
            return stored == total && pending == 0
        }
        // Exactly once in the store.
        #expect(try await fixture.count("inbound_events", pool) == total)
        #expect(try await fixture.count("invoices", pool) == total)
        #expect(try await fixture.count("outbox", pool, where: "message_type = 'sync_job'") == total)
        #expect(try await fixture.count("ingest_rejections", pool) == 0)
        // At least once on the broker: every job's outbox id arrived (a repeat is allowed and dropped by id).
        let ids = Set(try await pool.query(
            "SELECT outbox_id FROM outbox WHERE tenant_id = \(fixture.tenant) AND message_type = 'sync_job'"
        ).map { String(try $0.decode(Int64.self, "outbox_id")) })
        let received = try await OutboxRelayTests.collect(tap, tenant: fixture.tenant, timeout: .seconds(60)) { deliveries in
            Set(deliveries.compactMap(\.messageID)).isSuperset(of: ids)
        }
        await OutboxRelayTests.dropTap(tapName, tap)
        #expect(Set(received.compactMap(\.messageID)).isSuperset(of: ids))

        ingest.terminate()
        #expect(await ingest.waitForExit(timeout: .seconds(20)) == 0, "\(ingest.log.suffix(2000))")
    }

    @Test func sigtermFinishesInFlightWorkAndAcksNothingHalfDone() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        try await IngestStack.declareTopology()
        let fixture = try await TenantFixture.make(pool)
        let total = 2_000
        var ingest = try IngestProcess([:], name: "ingest-term")
        try await ingest.waitForLog("AMQP intake consuming")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await Self.stream(fixture, count: total, chunk: 100) }
            try await IngestStack.eventually(timeout: .seconds(60), "300 events stored") {
                try await fixture.count("inbound_events", pool) >= 300
            }
            ingest.terminate()
            let status = await ingest.waitForExit(timeout: .seconds(20))
            #expect(status == 0, "\(ingest.log.suffix(2000))")
            #expect(ingest.log.contains("AMQP intake stopped"))
            #expect(ingest.log.contains("\"message\":\"Stopped\""))
            ingest = try IngestProcess([:], name: "ingest-term-restart")
            try await group.waitForAll()
        }
        try await IngestStack.eventually(timeout: .seconds(60), "every event stored") {
            try await fixture.count("inbound_events", pool) == total
        }
        #expect(try await fixture.count("invoices", pool) == total)
        #expect(try await fixture.count("ingest_rejections", pool) == 0)
        try await IngestStack.eventually(timeout: .seconds(30), "jobs published") {
            try await fixture.count("outbox", pool, where: "published_at IS NULL") == 0
        }
        ingest.terminate()
        #expect(await ingest.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test func startsWithAClearErrorWhenTheSecretsKeyIsMissing() async throws {
        let ingest = try IngestProcess(
            ["LEDGERLINE_INGEST_HTTP_ENABLED": "true", "LEDGERLINE_SECRETS_KEY": ""], name: "ingest-nokey")
        #expect(await ingest.waitForExit(timeout: .seconds(10)) == 2)
        #expect(ingest.log.contains("configuration error: LEDGERLINE_SECRETS_KEY"))
        let malformed = try IngestProcess(
            ["LEDGERLINE_INGEST_HTTP_ENABLED": "true", "LEDGERLINE_SECRETS_KEY": "dG9vLXNob3J0"], name: "ingest-badkey")
        #expect(await malformed.waitForExit(timeout: .seconds(10)) == 2)
        #expect(malformed.log.contains("must decode to 32 bytes"))
        #expect(!malformed.log.contains("dG9vLXNob3J0"))
    }
}

@Suite("Broker and database outages", .requiresPostgres, .requiresRabbitMQ, .serialized, .timeLimit(.minutes(3)))
struct OutageRestartTests {
    @Test func httpIntakeKeepsAcceptingWhileTheBrokerIsDownAndTheRelayCatchesUp() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        try await IngestStack.declareTopology()
        let fixture = try await TenantFixture.make(pool)
        let relay = OutboxRelay(
            pool: pool, postgres: try IngestStack.postgres(), amqp: try IngestStack.amqp(),
            configuration: IngestStack.configuration(), health: HealthRegistry(), logger: IngestStack.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await relay.run() }
            try await TestEnvironment.stackAsync("stop-rabbitmq")
            do {
                try await HTTPHarness.with(pool: pool) { http in
                    for index in 0..<20 {
                        let answer = try await http.post(
                            EventFactory.invoice(tenant: fixture.tenant, location: fixture.location, invoiceID: "b\(index)"),
                            tenant: fixture.tenant, secret: fixture.secret, key: "b\(index)")
                        #expect(answer.status == 202)
                    }
                }
                try await Task.sleep(for: .seconds(1))
                #expect(try await fixture.count("outbox", pool, where: "published_at IS NULL") == 40)
            } catch {
                try await TestEnvironment.stackAsync("start-rabbitmq")
                throw error
            }
            try await TestEnvironment.stackAsync("start-rabbitmq")
            try await IngestStack.eventually(timeout: .seconds(60), "the outbox drained after the broker came back") {
                try await fixture.count("outbox", pool, where: "published_at IS NULL") == 0
            }
            group.cancelAll()
        }
        #expect(try await fixture.count("inbound_events", pool) == 20)
    }

    @Test func amqpIntakeHoldsDeliveriesWhilePostgresIsDownAndDeadLettersNothing() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let bodies = (0..<10).map { EventFactory.invoice(tenant: fixture.tenant, location: fixture.location, invoiceID: "p\($0)") }
        try await AMQPHarness.with(pool: pool) { amqp in
            try await TestEnvironment.stackAsync("stop-postgres")
            do {
                try await amqp.publish(bodies)
                try await Task.sleep(for: .seconds(3))
                #expect(try await amqp.ready(amqp.deadQueue) == 0)
                #expect(try await amqp.ready(amqp.queue) == 0)  // delivered and held, not acked, not requeued
            } catch {
                try await TestEnvironment.stackAsync("start-postgres")
                throw error
            }
            try await TestEnvironment.stackAsync("start-postgres")
            try await IngestStack.eventually(timeout: .seconds(60), "the held events stored") {
                try await fixture.count("inbound_events", pool) == 10
            }
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await amqp.ready(amqp.deadQueue) == 0)
        }
        #expect(try await fixture.count("ingest_rejections", pool) == 0)
    }
}
