import Foundation
import Logging
import Postgres
import Synchronization
import Testing
import TestSupport

/// Settings and helpers shared by the Postgres integration tests.
enum TestDatabase {
    /// A logger that drops everything; the wrapper logs only at debug/trace anyway.
    static let logger = Logger(label: "postgres-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    static func configuration() throws -> PostgresConfiguration {
        try PostgresConfiguration(
            url: requiredSetting(TestEnvironment.postgresURL, "LEDGERLINE_POSTGRES_URL"),
            password: TestEnvironment.postgresPassword)
    }

    /// Runs `body` with a fresh pool and closes it afterwards.
    static func withPool<Result>(
        maxConnections: Int = 4, acquireTimeout: Duration = .seconds(10),
        _ body: (PostgresPool) async throws -> Result
    ) async throws -> Result {
        let pool = PostgresPool(
            configuration: try configuration(), maxConnections: maxConnections, acquireTimeout: acquireTimeout,
            logger: logger)
        defer { pool.close() }
        return try await body(pool)
    }

    /// Runs `deploy/local-stack.sh <command>` (e.g. `restart-postgres`) and waits for it.
    static func stack(_ command: String) async throws {
        try await TestEnvironment.stackAsync(command)
    }

    /// A name no other test run uses, e.g. `t_3f9a1c2e`.
    static func uniqueName(_ prefix: String = "t") -> String {
        "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Creates a table with `columns`, runs `body` with its (quoted) name, and drops it.
    static func withTable<Result>(
        _ pool: PostgresPool, columns: String, _ body: (String) async throws -> Result
    ) async throws -> Result {
        let name = PostgresQuery.quotedIdentifier(uniqueName())
        try await pool.execute(PostgresQuery(unsafeSQL: "CREATE TABLE \(name) (\(columns))"))
        do {
            let result = try await body(name)
            try await pool.execute(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS \(name)"))
            return result
        } catch {
            _ = try? await pool.execute(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS \(name)"))
            throw error
        }
    }
}

/// `deploy/local-stack.sh` exited non-zero.

/// Thrown by ``withTimeout(_:_:)`` when the operation does not finish in time.
struct TestTimedOut: Error, CustomStringConvertible {
    let duration: Duration
    var description: String { "operation did not finish within \(duration)" }
}

/// Runs `operation`, failing with ``TestTimedOut`` after `duration` so no test can hang.
func withTimeout<Result: Sendable>(
    _ duration: Duration, _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: duration)
            throw TestTimedOut(duration: duration)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Lets `count` tasks wait for one another (with a timeout, so a test never hangs).
final class TestBarrier: Sendable {
    private let state: Mutex<(arrived: Int, waiters: [CheckedContinuation<Void, Never>])>
    private let count: Int

    init(count: Int) {
        self.count = count
        self.state = Mutex((0, []))
    }

    func arriveAndWait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let release = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.arrived += 1
                state.waiters.append(continuation)
                guard state.arrived >= count else { return [] }
                defer { state.waiters.removeAll() }
                return state.waiters
            }
            release.forEach { $0.resume() }
        }
    }
}

/// Counts across tasks.
final class TestCounter: Sendable {
    private let value = Mutex(0)
    @discardableResult func increment() -> Int { value.withLock { $0 += 1; return $0 } }
    var current: Int { value.withLock { $0 } }
}

/// A log handler that keeps what it is given, for asserting on log output without global bootstrap.
struct RecordingLogHandler: LogHandler {
    final class Store: Sendable {
        let entries = Mutex<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])
        var messages: [String] { entries.withLock { $0.map(\.message) } }
    }

    let store: Store
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        event.metadata?.forEach { merged[$0.key] = $0.value }
        store.entries.withLock { $0.append((event.level, event.message.description, merged)) }
    }
}
