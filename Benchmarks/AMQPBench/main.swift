// AMQPBench: confirmed publishing and consume+ack through the AMQP module, the same work as
// Benchmarks/reference/amqp_ref.c (see there). Per round, on a fresh durable quorum queue:
//   publish: AMQPPublisher, MESSAGES persistent 1 KiB messages with a message id, `publish(batch:)` of
//            BATCH messages at a time (each batch waits for all its confirms), then close  -> msg/s
//   consume: AMQPConsumer with prefetch PREFETCH, one ack per delivery until all arrived, then close -> msg/s
// Prints the median of the rounds as FIGURE lines.
// Env: LEDGERLINE_AMQP_URL, LEDGERLINE_AMQP_PASSWORD, LEDGERLINE_AMQP_BENCH_MESSAGES (20000),
//      LEDGERLINE_AMQP_BENCH_BATCH (100), LEDGERLINE_AMQP_BENCH_PREFETCH (100),
//      LEDGERLINE_AMQP_BENCH_ROUNDS (3), LEDGERLINE_AMQP_BENCH_SECONDS (120: overall time limit).
import AMQP
import Foundation
import Logging

enum AMQPBench {
    static let environment = ProcessInfo.processInfo.environment

    static func setting(_ name: String, _ fallback: Int) -> Int {
        environment[name].flatMap(Int.init) ?? fallback
    }

    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    static func run() async throws {
        let configuration = try AMQPConfiguration(
            url: environment["LEDGERLINE_AMQP_URL"] ?? "amqp://guest@127.0.0.1:5672/%2F",
            password: environment["LEDGERLINE_AMQP_PASSWORD"] ?? "guest")
        let messages = setting("LEDGERLINE_AMQP_BENCH_MESSAGES", 20_000)
        let batchSize = setting("LEDGERLINE_AMQP_BENCH_BATCH", 100)
        let prefetch = UInt16(clamping: setting("LEDGERLINE_AMQP_BENCH_PREFETCH", 100))
        let rounds = min(setting("LEDGERLINE_AMQP_BENCH_ROUNDS", 3), 16)
        let deadline = ContinuousClock.now + .seconds(setting("LEDGERLINE_AMQP_BENCH_SECONDS", 120))
        let logger = Logger(label: "amqp-bench") { _ in SwiftLogNoOpLogHandler() }
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: 1024)

        var publishRates: [Double] = []
        var consumeRates: [Double] = []
        for round in 0..<rounds where ContinuousClock.now < deadline {
            let queue = "bench.swift.\(getpid()).\(round)"
            let admin = try await AMQPAdmin.connect(configuration: configuration, logger: logger)
            try await admin.declare(AMQPTopology(queues: [AMQPQueue(name: queue, quorum: true)]))

            let publishStart = ContinuousClock.now
            let publisher = try await AMQPPublisher(configuration: configuration, logger: logger)
            var published = 0
            while published < messages, ContinuousClock.now < deadline {
                let batch = (published..<min(published + batchSize, messages)).map { index in
                    AMQPPublishRequest(
                        AMQPMessage(body: body, messageID: "m-\(index)", persistent: true),
                        exchange: "", routingKey: queue, mandatory: false)
                }
                for result in try await publisher.publish(batch: batch) {
                    guard case .success(.confirmed) = result else { throw Failed(description: "publish: \(result)") }
                }
                published += batch.count
            }
            await publisher.close()
            let publishEnd = ContinuousClock.now

            let consumer = try await AMQPConsumer(
                configuration: configuration, queue: queue, prefetch: prefetch, logger: logger)
            let watchdog = Task {
                try await Task.sleep(until: deadline)
                await consumer.close(drainTimeout: .zero)
            }
            var consumed = 0
            if published > 0 {
                for try await delivery in consumer.deliveries() {
                    try consumer.ack(delivery)
                    consumed += 1
                    if consumed == published { break }
                }
            }
            await consumer.close()
            let consumeEnd = ContinuousClock.now
            watchdog.cancel()

            try await admin.deleteQueue(queue)
            await admin.close()
            guard consumed == published else {
                throw Failed(description: "consumed \(consumed) of \(published) messages (time limit?)")
            }
            publishRates.append(Double(published) / seconds(publishEnd - publishStart))
            consumeRates.append(Double(consumed) / seconds(consumeEnd - publishEnd))
            print("# round \(round): \(published) messages, publish \(Int(publishRates.last!)) msg/s, "
                + "consume \(Int(consumeRates.last!)) msg/s")
        }
        guard !publishRates.isEmpty else { throw Failed(description: "no round finished") }
        print("FIGURE amqp.publish_confirmed.swift \(Int(median(publishRates).rounded())) msg/s")
        print("FIGURE amqp.consume_ack.swift \(Int(median(consumeRates).rounded())) msg/s")
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}

do {
    try await AMQPBench.run()
} catch {
    FileHandle.standardError.write(Data("AMQPBench failed: \(error)\n".utf8))
    exit(1)
}
