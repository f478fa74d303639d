import AMQP
import Foundation
import Postgres
import Runtime
import TestSupport
import Testing

@testable import Ingest

/// Runs an AMQP intake in-process on a private queue (with its own dead-letter queue) and publishes to it.
struct AMQPHarness: Sendable {
    let queue: String
    let deadQueue: String
    let publisher: AMQPPublisher
    let amqp: AMQPConfiguration

    /// Declares the queues, starts the intake (unless `startIntake` is false), runs `body`, stops the intake
    /// and deletes the queues.
    static func with<Result: Sendable>(
        pool: PostgresPool, batchSize: Int = 50, startIntake: Bool = true,
        _ body: @Sendable (AMQPHarness) async throws -> Result
    ) async throws -> Result {
        try await IngestStack.declareTopology()
        let amqp = try IngestStack.amqp()
        let queue = IngestStack.unique("ingest-test.intake")
        let deadQueue = queue + ".dead"
        let admin = try await AMQPAdmin.connect(configuration: amqp, logger: IngestStack.logger)
        try await admin.declare(AMQPTopology(
            queues: [AMQPQueue(name: queue, quorum: true), AMQPQueue(name: deadQueue, quorum: true)],
            bindings: [AMQPBinding(queue: deadQueue, exchange: TopologyFile.deadLetterExchange, routingKey: queue)]))
        let publisher = try await AMQPPublisher(configuration: amqp, logger: IngestStack.logger)
        var configuration = IngestStack.configuration(queue: queue)
        configuration.batchSize = batchSize
        let intake = AMQPIntake(
            amqp: amqp, configuration: configuration, store: IngestStack.store(pool), gate: nil, health: nil,
            logger: IngestStack.logger)
        let harness = AMQPHarness(queue: queue, deadQueue: deadQueue, publisher: publisher, amqp: amqp)
        let outcome: Swift.Result<Result, any Error> = await withTaskGroup(of: Void.self) { group in
            if startIntake { group.addTask { try? await intake.run() } }
            let result: Swift.Result<Result, any Error>
            do { result = .success(try await body(harness)) } catch { result = .failure(error) }
            group.cancelAll()
            await group.waitForAll()
            return result
        }
        await publisher.close()
        _ = try? await admin.deleteQueue(queue)
        _ = try? await admin.deleteQueue(deadQueue)
        await admin.close()
        return try outcome.get()
    }

    /// Publishes bodies straight to the queue (default exchange), with confirms.
    func publish(_ bodies: [[UInt8]], messageIDs: [String]? = nil) async throws {
        let requests = bodies.enumerated().map { index, body in
            AMQPPublishRequest(
                AMQPMessage(body: body, messageID: messageIDs?[index] ?? UUID().uuidString, contentType: "application/json"),
                exchange: "", routingKey: queue)
        }
        for result in try await publisher.publish(batch: requests) { #expect(try result.get() == .confirmed) }
    }

    /// Takes `count` messages from the dead-letter queue (acking them), waiting up to `timeout`.
    func deadLetters(_ count: Int, timeout: Duration = .seconds(15)) async throws -> [AMQPDelivery] {
        let consumer = try await AMQPConsumer(configuration: amqp, queue: deadQueue, prefetch: 500, logger: IngestStack.logger)
        let collected = try await withTimeLimit(timeout, what: "\(count) dead letters") {
            var collected: [AMQPDelivery] = []
            for try await delivery in consumer.deliveries() {
                try consumer.ack(delivery)
                collected.append(delivery)
                if collected.count >= count { break }
            }
            return collected
        }
        await consumer.close()
        return collected
    }

    /// Ready messages in a queue.
    func ready(_ name: String) async throws -> Int {
        let admin = try await AMQPAdmin.connect(configuration: amqp, logger: IngestStack.logger)
        let count = try await admin.queueStatus(name)?.messageCount ?? -1
        await admin.close()
        return Int(count)
    }
}
