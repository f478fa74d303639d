import AMQP
import Foundation
import TestSupport
import Testing

/// Integration tests against the real broker from `deploy/local-stack.sh`. Every test uses queue and
/// exchange names of its own and is bounded in time. The broker-restart test is in
/// ``AMQPBrokerRestartTests`` so that the test command can run it apart from everything else.
@Suite("AMQP integration", .requiresRabbitMQ, .serialized, .timeLimit(.minutes(2)))
struct AMQPIntegrationTests {
    let logger = AMQPTestSupport.logger

    // MARK: 1. Confirmed batches and manual acks: nothing lost, nothing duplicated

    @Test func tenThousandPersistentMessagesArriveExactlyOnce() async throws {
        let configuration = try AMQPTestSupport.configuration()
        let queue = AMQPTestSupport.uniqueName("roundtrip")
        try await withCleanUp(queues: [queue]) {
            let topology = AMQPTopology(queues: [AMQPQueue(name: queue, quorum: true)])
            try await topology.declare(configuration: configuration, logger: logger)

            let total = 10_000
            let publisher = try await AMQPPublisher(configuration: configuration, logger: logger)
            let confirmedCount = try await withTimeout(.seconds(60), "publishing \(total) messages") {
                var confirmed = 0
                for start in stride(from: 0, to: total, by: 500) {
                    let batch = (start..<min(start + 500, total)).map { index in
                        AMQPPublishRequest(
                            AMQPMessage(body: Array(repeating: 0x61, count: 256), messageID: "m-\(index)"),
                            exchange: "", routingKey: queue)
                    }
                    for result in try await publisher.publish(batch: batch) {
                        if case .success(.confirmed) = result { confirmed += 1 } else { Issue.record("\(result)") }
                    }
                }
                return confirmed
            }
            await publisher.close()
            #expect(confirmedCount == total)

            let consumer = try await AMQPConsumer(configuration: configuration, queue: queue, prefetch: 200, logger: logger)
            let seen = try await withTimeout(.seconds(60), "consuming \(total) messages") {
                var seen: [String: Int] = [:]
                var count = 0
                for try await delivery in consumer.deliveries() {
                    seen[delivery.messageID ?? "<none>", default: 0] += 1
                    #expect(delivery.message.persistent)
                    #expect(delivery.body.count == 256)
                    try consumer.ack(delivery)
                    count += 1
                    if count == total { break }
                }
                return seen
            }
            await consumer.close()
            #expect(seen.count == total, "distinct message ids")
            #expect(seen.values.allSatisfy { $0 == 1 }, "no message delivered twice")
            #expect(Set(seen.keys) == Set((0..<total).map { "m-\($0)" }))

            let admin = try await AMQPAdmin.connect(configuration: configuration, logger: logger)
            let status = try await admin.queueStatus(queue)
            await admin.close()
            #expect(status?.messageCount == 0, "every message was acknowledged")
        }
    }

    // MARK: 2. An unroutable mandatory publish comes back

    @Test func unroutableMandatoryPublishIsReturnedWith312() async throws {
        let configuration = try AMQPTestSupport.configuration()
        let exchange = AMQPTestSupport.uniqueName("noroute")
        let queue = AMQPTestSupport.uniqueName("routed")
        try await withCleanUp(queues: [queue], exchanges: [exchange]) {
            let topology = AMQPTopology(
                exchanges: [AMQPExchange(name: exchange, kind: .direct)],
                queues: [AMQPQueue(name: queue, quorum: true)],
                bindings: [AMQPBinding(queue: queue, exchange: exchange, routingKey: "routed")])
            let publisher = try await AMQPPublisher(configuration: configuration, topology: topology, logger: logger)
            try await withTimeout(.seconds(20), "publishing") {
                let message = AMQPMessage(text: "nobody listens", messageID: "lost-1")
                let returned = try await publisher.publish(message, exchange: exchange, routingKey: "nobody", mandatory: true)
                #expect(returned == .returned(replyCode: 312, replyText: "NO_ROUTE"))

                let dropped = try await publisher.publish(message, exchange: exchange, routingKey: "nobody", mandatory: false)
                #expect(dropped == .confirmed, "without mandatory the broker confirms and drops it")

                // Returns are matched to the right messages inside a batch.
                let batch = [
                    AMQPPublishRequest(AMQPMessage(text: "a", messageID: "a"), exchange: exchange, routingKey: "routed"),
                    AMQPPublishRequest(AMQPMessage(text: "x", messageID: "b"), exchange: exchange, routingKey: "nobody"),
                    AMQPPublishRequest(AMQPMessage(text: "c", messageID: "c"), exchange: exchange, routingKey: "routed"),
                    AMQPPublishRequest(AMQPMessage(text: "x", messageID: "d"), exchange: exchange, routingKey: "nobody"),
                ]
                let results = try await publisher.publish(batch: batch).map { try $0.get() }
                let noRoute = AMQPPublishOutcome.returned(replyCode: 312, replyText: "NO_ROUTE")
                #expect(results == [.confirmed, noRoute, .confirmed, noRoute])
            }
            await publisher.close()
        }
    }

    // MARK: 4. Delivery limit and dead-lettering

    @Test func repeatedlyRejectedMessageIsDeadLetteredWithReason() async throws {
        let configuration = try AMQPTestSupport.configuration()
        let work = AMQPTestSupport.uniqueName("work")
        let dead = AMQPTestSupport.uniqueName("dead")
        let dlx = AMQPTestSupport.uniqueName("dlx")
        let logger = logger
        try await withCleanUp(queues: [work, dead], exchanges: [dlx]) {
            let topology = AMQPTopology(
                exchanges: [AMQPExchange(name: dlx, kind: .direct)],
                queues: [
                    AMQPQueue(
                        name: work, quorum: true, deliveryLimit: 2, deadLetterExchange: dlx,
                        deadLetterRoutingKey: "dead", deadLetterStrategy: .atLeastOnce, overflow: .rejectPublish,
                        maxLength: 10_000),
                    AMQPQueue(name: dead, quorum: true),
                ],
                bindings: [AMQPBinding(queue: dead, exchange: dlx, routingKey: "dead")])
            try await topology.declare(configuration: configuration, logger: logger)

            let publisher = try await AMQPPublisher(configuration: configuration, logger: logger)
            let outcome = try await publisher.publish(
                AMQPMessage(text: "poison", messageID: "poison-1"), exchange: "", routingKey: work)
            #expect(outcome == .confirmed)
            await publisher.close()

            let workConsumer = try await AMQPConsumer(configuration: configuration, queue: work, prefetch: 1, logger: logger)
            let deadConsumer = try await AMQPConsumer(configuration: configuration, queue: dead, prefetch: 1, logger: logger)
            let attempts = Shared([Int64?]())
            let rejecter = Task {
                for try await delivery in workConsumer.deliveries() {
                    attempts.withValue { $0.append(delivery.deliveryCount) }
                    try workConsumer.reject(delivery, requeue: true)
                }
            }
            let deadLettered = try await withTimeout(.seconds(30), "the dead-lettered message") {
                var iterator = deadConsumer.deliveries().makeAsyncIterator()
                let delivery = try await iterator.next()
                if let delivery { try deadConsumer.ack(delivery) }
                return delivery
            }
            await workConsumer.close()
            await deadConsumer.close()
            _ = await rejecter.result

            let delivery = try #require(deadLettered)
            #expect(delivery.messageID == "poison-1")
            #expect(delivery.firstDeathReason == "delivery_limit")
            let deaths = try #require(delivery.headers["x-death"]?.arrayValue)
            let death = try #require(deaths.first?.tableValue)
            #expect(death["reason"] == "delivery_limit")
            #expect(death["queue"]?.stringValue == work)
            #expect(attempts.current.count == 3, "delivered once plus two redeliveries: \(attempts.current)")
            #expect(attempts.current.last == 2, "x-delivery-count of the last attempt")
        }
    }

    // MARK: 5. Bad input gives typed, safe errors

    @Test func badInputGivesTypedErrorsWithoutThePassword() async throws {
        let good = try AMQPTestSupport.configuration()
        let logger = logger

        let malformed = try #require(throws: AMQPError.self) {
            try AMQPConfiguration(url: "amqp://app@127.0.0.1:notaport/%2F", password: "hunter2")
        }
        #expect(malformed.code == .invalidURL)
        #expect(!malformed.description.contains("hunter2"))

        var wrongPasswordSettings = good
        wrongPasswordSettings.password = "wrong-password-\(UInt32.random(in: 0...UInt32.max))"
        let wrongPassword = wrongPasswordSettings
        let authError = try await withTimeout(.seconds(15), "a refused login") {
            try await #require(throws: AMQPError.self) {
                _ = try await AMQPPublisher(configuration: wrongPassword, logger: logger)
            }
        }
        #expect(authError.code == .authenticationFailed)
        #expect(authError.replyCode == 403)
        let records = Shared([String]())
        _ = try? await AMQPConsumer(
            configuration: wrongPassword, queue: "any", logger: RecordingLogHandler.logger(records))
        _ = try? await AMQPAdmin.connect(configuration: wrongPassword, logger: RecordingLogHandler.logger(records))
        #expect(!records.current.contains { $0.contains(wrongPassword.password) }, "the password reached a log")
        #expect(!authError.description.contains(wrongPassword.password))
        #expect(!authError.debugDescription.contains(wrongPassword.password))
        let consumerAuthError = try await withTimeout(.seconds(15), "a refused consumer login") {
            try await #require(throws: AMQPError.self) {
                _ = try await AMQPConsumer(configuration: wrongPassword, queue: "any", logger: logger)
            }
        }
        #expect(consumerAuthError.code == .authenticationFailed)

        var closedPortSettings = good
        closedPortSettings.port = 1
        let closedPort = closedPortSettings
        let connectError = try await withTimeout(.seconds(15), "a refused connection") {
            try await #require(throws: AMQPError.self) {
                _ = try await AMQPAdmin.connect(configuration: closedPort, logger: logger)
            }
        }
        #expect(connectError.code == .connectionFailed)
        #expect(connectError.description.contains("127.0.0.1:1"))
        #expect(!connectError.description.contains(good.password))

        let queue = AMQPTestSupport.uniqueName("recover")
        try await withCleanUp(queues: [queue]) {
            let topology = AMQPTopology(queues: [AMQPQueue(name: queue, quorum: true)])
            let publisher = try await AMQPPublisher(configuration: good, topology: topology, logger: logger)
            let missingExchange = AMQPTestSupport.uniqueName("missing")
            let notFound = try await withTimeout(.seconds(15), "a publish to a missing exchange") {
                try await #require(throws: AMQPError.self) {
                    _ = try await publisher.publish(AMQPMessage(text: "x"), exchange: missingExchange, routingKey: "k")
                }
            }
            #expect(notFound.code == .notFound)
            #expect(notFound.replyCode == 404)
            #expect(notFound.replyText?.contains("no exchange '\(missingExchange)'") == true)
            let recovered = try await withTimeout(.seconds(15), "the next publish") {
                try await publisher.publish(AMQPMessage(text: "ok"), exchange: "", routingKey: queue)
            }
            #expect(recovered == .confirmed, "the publisher reopened its channel")
            let mixed = try await withTimeout(.seconds(15), "a batch with one bad exchange") {
                try await publisher.publish(batch: [
                    AMQPPublishRequest(AMQPMessage(text: "bad"), exchange: missingExchange, routingKey: "k"),
                    AMQPPublishRequest(AMQPMessage(text: "good"), exchange: "", routingKey: queue),
                ])
            }
            #expect(throws: AMQPError.self) { try mixed[0].get() }
            if case .failure(let error) = mixed[0] { #expect(error.code == .notFound) }
            if case .failure(let error) = mixed[1] {
                #expect(error.code == .channelClosed, "caught up in another message's channel error: \(error)")
                #expect(error.isTransient)
            }
            await publisher.close()
            let afterClose = try await #require(throws: AMQPError.self) {
                _ = try await publisher.publish(AMQPMessage(text: "late"), exchange: "", routingKey: queue)
            }
            #expect(afterClose.code == .shutDown)

            let missingQueue = try await #require(throws: AMQPError.self) {
                _ = try await AMQPConsumer(configuration: good, queue: AMQPTestSupport.uniqueName("absent"), logger: logger)
            }
            #expect(missingQueue.code == .notFound)

            let admin = try await AMQPAdmin.connect(configuration: good, logger: logger)
            #expect(try await admin.queueExists(AMQPTestSupport.uniqueName("absent")) == false)
            #expect(try await admin.queueExists(queue), "the channel was reopened after the 404")
            let mismatch = try await #require(throws: AMQPError.self) {
                try await admin.declare(AMQPTopology(queues: [AMQPQueue(name: queue, quorum: true, deliveryLimit: 9)]))
            }
            #expect(mismatch.code == .preconditionFailed)
            #expect(mismatch.replyCode == 406)
            await admin.close()
        }
    }

    // MARK: Heartbeats keep idle connections open

    @Test func idlePublisherAndConsumerKeepTheirConnectionsOnHeartbeats() async throws {
        var settings = try AMQPTestSupport.configuration()
        settings.heartbeat = .seconds(1)
        let configuration = settings
        let queue = AMQPTestSupport.uniqueName("idle")
        let records = Shared([String]())
        let logger = RecordingLogHandler.logger(records)
        try await withCleanUp(queues: [queue]) {
            let topology = AMQPTopology(queues: [AMQPQueue(name: queue, quorum: true)])
            let publisher = try await AMQPPublisher(configuration: configuration, topology: topology, logger: logger)
            let consumer = try await AMQPConsumer(configuration: configuration, queue: queue, logger: logger)
            // The broker drops a connection after two missed 1 s heartbeats; stay idle for four.
            try await Task.sleep(for: .seconds(4))
            #expect(try await publisher.publish(AMQPMessage(text: "after idle", messageID: "idle-1"), exchange: "", routingKey: queue) == .confirmed)
            let delivery = try await withTimeout(.seconds(10), "the delivery after idling") { [consumer] in
                var iterator = consumer.deliveries().makeAsyncIterator()
                return try await iterator.next()
            }
            #expect(delivery?.messageID == "idle-1")
            if let delivery { try consumer.ack(delivery) }
            await consumer.close()
            await publisher.close()
        }
        let lost = records.current.filter { $0.contains("connection lost") || $0.contains("reconnect") }
        #expect(lost.isEmpty, "\(lost)")
        #expect(records.current.filter { $0.contains("AMQP connection opened") }.count == 2)
    }

    // MARK: Graceful close lets in-flight acks go out

    @Test func closeWaitsForInFlightAcks() async throws {
        let configuration = try AMQPTestSupport.configuration()
        let queue = AMQPTestSupport.uniqueName("drain")
        let logger = logger
        try await withCleanUp(queues: [queue]) {
            let topology = AMQPTopology(queues: [AMQPQueue(name: queue, quorum: true)])
            let publisher = try await AMQPPublisher(configuration: configuration, topology: topology, logger: logger)
            let requests = (0..<20).map {
                AMQPPublishRequest(AMQPMessage(text: "d", messageID: "d-\($0)"), exchange: "", routingKey: queue)
            }
            #expect(try await publisher.publish(batch: requests).allSatisfy { (try? $0.get()) == .confirmed })
            await publisher.close()

            let consumer = try await AMQPConsumer(configuration: configuration, queue: queue, prefetch: 20, logger: logger)
            let held = try await withTimeout(.seconds(20), "20 deliveries") {
                var held: [AMQPDelivery] = []
                for try await delivery in consumer.deliveries() {
                    held.append(delivery)
                    if held.count == 20 { break }
                }
                return held
            }
            // A second ack of the same delivery is dropped instead of making the broker close the channel
            // (which would requeue the other 19).
            try consumer.ack(held[0])
            try consumer.ack(held[0])
            let closing = Task { await consumer.close(drainTimeout: .seconds(10)) }
            try await Task.sleep(for: .milliseconds(200))
            for delivery in held.dropFirst() { try consumer.ack(delivery) }
            try await withTimeout(.seconds(15), "the graceful close") { await closing.value }
            #expect(throws: AMQPError.self) { try consumer.ack(held[0]) }

            let admin = try await AMQPAdmin.connect(configuration: configuration, logger: logger)
            let status = try await admin.queueStatus(queue)
            await admin.close()
            #expect(status?.messageCount == 0, "the acks sent during the close were not lost")
        }
    }
}

/// Runs `body`, then deletes the named queues and exchanges whether it threw or not.
private func withCleanUp(
    queues: [String] = [], exchanges: [String] = [], _ body: () async throws -> Void
) async throws {
    do {
        try await body()
    } catch {
        await AMQPTestSupport.cleanUp(queues: queues, exchanges: exchanges)
        throw error
    }
    await AMQPTestSupport.cleanUp(queues: queues, exchanges: exchanges)
}

/// Polls `condition` every 50 ms until it holds, failing after `limit`.
private func waitUntil(_ limit: Duration, _ what: String, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestTimedOut(what: what, limit: limit) }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// Restarts the broker mid-stream; run on its own (`swift test --filter RestartTests`).
@Suite("AMQP broker restart", .requiresRabbitMQ, .serialized, .timeLimit(.minutes(2)))
struct AMQPBrokerRestartTests {
    let logger = AMQPTestSupport.logger

    // MARK: 3. Broker restart mid-stream

    @Test func publisherAndConsumerReconnectAfterBrokerRestart() async throws {
        let configuration = try AMQPTestSupport.configuration()
        let queue = AMQPTestSupport.uniqueName("restart")
        let heldQueue = AMQPTestSupport.uniqueName("held")
        let logger = logger
        try await withCleanUp(queues: [queue, heldQueue]) {
            let topology = AMQPTopology(queues: [
                AMQPQueue(name: queue, quorum: true), AMQPQueue(name: heldQueue, quorum: true),
            ])
            try await topology.declare(configuration: configuration, logger: logger)
            let publisher = try await AMQPPublisher(
                configuration: configuration, topology: topology, confirmTimeout: .seconds(10), logger: logger)
            let consumer = try await AMQPConsumer(configuration: configuration, queue: queue, prefetch: 100, logger: logger)

            // One delivery is held unacknowledged across the restart: its ack must be reported as stale,
            // and the broker must deliver the message again.
            #expect(try await publisher.publish(AMQPMessage(text: "held", messageID: "held-1"), exchange: "", routingKey: heldQueue) == .confirmed)
            let holder = try await AMQPConsumer(configuration: configuration, queue: heldQueue, prefetch: 1, logger: logger)
            let held = try await withTimeout(.seconds(10), "the held delivery") { [holder] in
                var iterator = holder.deliveries().makeAsyncIterator()
                return try await iterator.next()
            }

            let confirmed = Shared(Set<String>())
            let consumed = Shared(Set<String>())
            let failedPublishes = Shared(0)
            let staleAcks = Shared(0)
            let stop = Shared(false)

            let consuming = Task {
                for try await delivery in consumer.deliveries() {
                    _ = consumed.withValue { $0.insert(delivery.messageID ?? "") }
                    do {
                        try consumer.ack(delivery)
                    } catch let error as AMQPError where error.code == .staleDelivery {
                        staleAcks.withValue { $0 += 1 }
                    }
                }
            }
            let publishing = Task {
                var next = 0
                var retry: [String] = []
                while !stop.current {
                    var ids = retry
                    retry = []
                    while ids.count < 50 {
                        ids.append("r-\(next)")
                        next += 1
                    }
                    let requests = ids.map {
                        AMQPPublishRequest(AMQPMessage(text: "restart", messageID: $0), exchange: "", routingKey: queue)
                    }
                    do {
                        let results = try await publisher.publish(batch: requests)
                        for (id, result) in zip(ids, results) {
                            if case .success(.confirmed) = result {
                                _ = confirmed.withValue { $0.insert(id) }
                            } else {
                                retry.append(id)
                            }
                        }
                    } catch {
                        retry = ids
                    }
                    if !retry.isEmpty {
                        failedPublishes.withValue { $0 += 1 }
                        try await Task.sleep(for: .milliseconds(100))
                    } else {
                        try await Task.sleep(for: .milliseconds(10))
                    }
                }
            }

            try await waitUntil(.seconds(20), "500 confirms before the restart") { confirmed.current.count >= 500 }
            let beforeRestart = confirmed.current.count
            try await AMQPTestSupport.stack("restart-rabbitmq")
            try await waitUntil(.seconds(45), "500 more confirms after the restart") {
                confirmed.current.count >= beforeRestart + 500
            }
            stop.withValue { $0 = true }
            try await withTimeout(.seconds(20), "the publishing task") { try await publishing.value }
            try await waitUntil(.seconds(45), "every confirmed message consumed") {
                confirmed.current.isSubset(of: consumed.current)
            }
            await consumer.close()
            await publisher.close()
            try await withTimeout(.seconds(20), "the consuming task") { try await consuming.value }

            let heldDelivery = try #require(held)
            // The idle holder notices the restart on its own schedule; wait until it has reconnected.
            try await waitUntil(.seconds(30), "the holder reconnected") {
                holder.connectionGeneration > heldDelivery.connectionGeneration
            }
            let staleError = try #require(throws: AMQPError.self) { try holder.ack(heldDelivery) }
            #expect(staleError.code == .staleDelivery)
            let redelivered = try await withTimeout(.seconds(20), "the redelivery of the held message") { [holder] in
                var iterator = holder.deliveries().makeAsyncIterator()
                return try await iterator.next()
            }
            #expect(redelivered?.messageID == "held-1")
            #expect(redelivered?.redelivered == true)
            if let redelivered { try holder.ack(redelivered) }
            await holder.close()

            let missing = confirmed.current.subtracting(consumed.current)
            #expect(missing.isEmpty, "confirmed but never delivered: \(missing.count)")
            #expect(failedPublishes.current > 0, "the restart was noticed by the publisher")
            #expect(confirmed.current.count >= 1000)
        }
    }
}
