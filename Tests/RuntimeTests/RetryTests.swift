import BlockingIO
import Logging
import Runtime
import Synchronization
import Testing

struct BackoffTests {
    @Test func ceilingGrowsThenCaps() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        #expect(backoff.ceiling(attempt: 1) == .milliseconds(100))
        #expect(backoff.ceiling(attempt: 2) == .milliseconds(200))
        #expect(backoff.ceiling(attempt: 4) == .milliseconds(800))
        #expect(backoff.ceiling(attempt: 5) == .seconds(1))
        #expect(backoff.ceiling(attempt: 500) == .seconds(1))
    }

    @Test func jitterStaysWithinCeiling() {
        let backoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(400))
        for attempt in 1...12 {
            let delay = backoff.delay(attempt: attempt)
            #expect(delay >= .zero && delay <= backoff.ceiling(attempt: attempt))
        }
    }
}

struct FailingProbe: Error, CustomStringConvertible {
    var description: String { "connection refused by 127.0.0.1:1" }
}

struct RetryTests {
    @Test func retriesWithBackoffAndLogsTheEndpoint() async throws {
        let sink = LogSink()
        let logger = Logger(label: "t") { StructuredLogHandler(label: $0, level: .info, format: .json, sink: sink) }
        let calls = Mutex(0)
        let value = try await retryUntilConnected(
            dependency: "postgres", endpoint: "127.0.0.1:1",
            backoff: Backoff(initial: .milliseconds(5), maximum: .milliseconds(20)), logger: logger
        ) {
            let call = calls.withLock { $0 += 1; return $0 }
            if call < 4 { throw FailingProbe() }
            return call
        }
        #expect(value == 4)
        let warnings = sink.captured.filter { $0.contains("Cannot reach dependency; retrying") }
        #expect(warnings.count == 3)
        #expect(warnings.allSatisfy { $0.contains("\"endpoint\":\"127.0.0.1:1\"") && $0.contains("\"dependency\":\"postgres\"") })
        #expect(sink.captured.last?.contains("Connected after retrying") == true)
    }

    @Test func givesUpAfterMaxAttempts() async {
        let logger = Logger(label: "t") { StructuredLogHandler(label: $0, level: .info, format: .json, sink: LogSink()) }
        await #expect(throws: FailingProbe.self) {
            try await retryUntilConnected(
                dependency: "rabbitmq", endpoint: "127.0.0.1:1",
                backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(2)), maxAttempts: 3, logger: logger
            ) { () async throws -> Int in throw FailingProbe() }
        }
    }

    @Test func stopsWhenCancelled() async {
        let logger = Logger(label: "t") { StructuredLogHandler(label: $0, level: .info, format: .json, sink: LogSink()) }
        let task = Task {
            try await retryUntilConnected(
                dependency: "rabbitmq", endpoint: "127.0.0.1:1",
                backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(50)), logger: logger
            ) { () async throws -> Int in throw FailingProbe() }
        }
        try? await Task.sleep(for: .milliseconds(120))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }
}
