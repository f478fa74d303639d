import AMQP
import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

/// Settings and helpers shared by the AMQP integration tests.
enum AMQPTestSupport {
    /// The broker from `LEDGERLINE_AMQP_URL` / `LEDGERLINE_AMQP_PASSWORD`, with short reconnect backoff so
    /// restart tests finish quickly.
    static func configuration() throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(
            url: requiredSetting(TestEnvironment.amqpURL, "LEDGERLINE_AMQP_URL"),
            password: TestEnvironment.amqpPassword)
        configuration.heartbeat = .seconds(10)
        configuration.connectTimeout = .seconds(3)
        configuration.rpcTimeout = .seconds(15)
        configuration.reconnectBackoffMin = .milliseconds(100)
        configuration.reconnectBackoffMax = .seconds(1)
        return configuration
    }

    /// A logger that discards everything (tests never bootstrap the global logging system).
    static let logger = Logger(label: "amqp-tests") { _ in SwiftLogNoOpLogHandler() }

    /// A name no other test run uses.
    static func uniqueName(_ prefix: String) -> String {
        "test.\(prefix).\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Deletes queues and exchanges after a test, ignoring errors (they may not exist).
    static func cleanUp(queues: [String] = [], exchanges: [String] = []) async {
        guard let configuration = try? configuration(),
            let admin = try? await AMQPAdmin.connect(configuration: configuration, logger: logger)
        else { return }
        for queue in queues { _ = try? await admin.deleteQueue(queue) }
        for exchange in exchanges { try? await admin.deleteExchange(exchange) }
        await admin.close()
    }
}

extension AMQPTestSupport {
    /// Runs `deploy/local-stack.sh <command>` (for example `restart-rabbitmq`) and waits for it.
    static func stack(_ command: String) async throws {
        try await TestEnvironment.stackAsync(command)
    }
}

/// The operation did not finish in time.
struct TestTimedOut: Error, CustomStringConvertible {
    let what: String
    let limit: Duration
    var description: String { "\(what) did not finish within \(limit)" }
}

/// Runs `operation`, failing with ``TestTimedOut`` when it takes longer than `limit`. The operation is
/// cancelled at the deadline.
func withTimeout<Result: Sendable>(
    _ limit: Duration, _ what: String, _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else {
            throw TestTimedOut(what: what, limit: limit)
        }
        return result
    }
}

/// A value that several tasks update.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withValue<R: Sendable>(_ body: (inout sending Value) throws -> sending R) rethrows -> R {
        try mutex.withLock { try body(&$0) }
    }

    var current: Value { mutex.withLock { $0 } }
}

/// Keeps every log record (message and metadata as text) so tests can check what a component logged.
struct RecordingLogHandler: LogHandler {
    let records: Shared<[String]>
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let text = "\(event.level) \(event.message) \(merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })"
        records.withValue { $0.append(text) }
    }

    /// A logger at trace level that records into `records`.
    static func logger(_ records: Shared<[String]>) -> Logger {
        Logger(label: "amqp-tests.recording") { _ in RecordingLogHandler(records: records) }
    }
}
