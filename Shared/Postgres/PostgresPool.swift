import Foundation
import Logging
import Synchronization

/// A fixed-size pool of ``PostgresConnection``s, lent out in scopes.
///
/// Connections open lazily, up to `maxConnections`. A connection that broke (a server restart, a
/// network failure) or was returned inside an open transaction is closed instead of reused, and
/// when one turns up broken the idle ones are dropped too, since a restart kills them all. The next
/// lease reconnects with capped exponential backoff (50 ms doubling to 2 s), so the pool recovers
/// from a restart by itself. A lease that cannot get a connection within `acquireTimeout` fails
/// with ``PostgresError/Code/timeout`` naming the last connection error, instead of hanging.
///
/// ```swift
/// let pool = PostgresPool(configuration: configuration, maxConnections: 8, logger: logger)
/// defer { pool.close() }
/// let rows = try await pool.query("SELECT status FROM sync_state WHERE invoice_id = \(id)")
/// try await pool.withTransaction(isolation: .serializable) { connection in
///     try await connection.execute("UPDATE sync_state SET status = \(status) WHERE invoice_id = \(id)")
/// }
/// ```
///
/// A leased connection **must not** escape the closure it was lent to.
public final class PostgresPool: Sendable {
    /// Where connections go.
    public let configuration: PostgresConfiguration
    /// The most connections open at once (leased, idle or connecting).
    public let maxConnections: Int
    /// How long a lease may wait for a connection.
    public let acquireTimeout: Duration
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var idle: [PostgresConnection] = []
        /// Idle + leased + connecting.
        var open = 0
        var closed = false
        /// Waiter IDs in arrival order.
        var waiterOrder: [Int] = []
        var continuations: [Int: CheckedContinuation<Wakeup, Never>] = [:]
        /// Outcomes for waiters that were resolved before they suspended.
        var earlyOutcomes: [Int: Wakeup] = [:]
        var nextWaiterID = 0
        var consecutiveFailures = 0
        var nextConnectAllowed: ContinuousClock.Instant?
        var lastConnectError: (any Error)?

        /// Resolves the first waiter, if any.
        mutating func resolveFirstWaiter(with outcome: Wakeup) -> Resolution {
            guard let first = waiterOrder.first else { return .noWaiter }
            return resolve(first, with: outcome)
        }

        /// Resolves waiter `id`: its continuation is returned for resuming outside the lock, or, when
        /// it has not suspended yet, the outcome waits for it in `earlyOutcomes`.
        mutating func resolve(_ id: Int, with outcome: Wakeup) -> Resolution {
            guard let position = waiterOrder.firstIndex(of: id) else { return .noWaiter }
            waiterOrder.remove(at: position)
            if let continuation = continuations.removeValue(forKey: id) { return .resume(continuation, outcome) }
            earlyOutcomes[id] = outcome
            return .deferred
        }
    }

    private enum Resolution {
        case noWaiter
        case deferred
        case resume(CheckedContinuation<Wakeup, Never>, Wakeup)

        func perform() {
            if case .resume(let continuation, let outcome) = self { continuation.resume(returning: outcome) }
        }
    }

    private enum Wakeup: Sendable {
        case connection(PostgresConnection)
        /// A slot freed up; try to connect.
        case retry
        case closed
        case timedOut
        case cancelled
    }

    /// Creates a pool. Nothing connects until the first lease.
    ///
    /// - Parameters:
    ///   - configuration: where to connect.
    ///   - maxConnections: the most connections open at once. Default: 10.
    ///   - acquireTimeout: how long a lease may wait for a connection. Default: 10 s.
    ///   - logger: for debug messages about connects, discards and retries.
    public init(
        configuration: PostgresConfiguration, maxConnections: Int = 10, acquireTimeout: Duration = .seconds(10),
        logger: Logger
    ) {
        precondition(maxConnections > 0, "maxConnections must be positive")
        self.configuration = configuration
        self.maxConnections = maxConnections
        self.acquireTimeout = acquireTimeout
        self.logger = logger
    }

    deinit {
        close()
    }

    /// Closes idle connections now and leased ones when they come back; pending and later leases
    /// fail with ``PostgresError/Code/poolClosed``.
    public func close() {
        let (idle, waiters) = state.withLock { state in
            state.closed = true
            let idle = state.idle
            state.open -= idle.count
            state.idle.removeAll()
            var waiters: [Resolution] = []
            while !state.waiterOrder.isEmpty { waiters.append(state.resolveFirstWaiter(with: .closed)) }
            return (idle, waiters)
        }
        idle.forEach { $0.close() }
        waiters.forEach { $0.perform() }
    }

    /// Connections open now (idle, leased and connecting).
    public var openConnections: Int { state.withLock { $0.open } }

    // MARK: Leases

    /// Lends a connection to `body` and takes it back afterwards.
    ///
    /// `body` runs with the connection's thread as its preferred executor
    /// (``PostgresConnection/withThreadAffinity(_:)``), so its statements need no thread hop.
    ///
    /// - Throws: ``PostgresError`` with ``PostgresError/Code/timeout`` (no connection within
    ///   `acquireTimeout`; `underlying` holds the last connection error) or
    ///   ``PostgresError/Code/poolClosed``, or whatever `body` throws.
    public func withConnection<Result>(
        logger: Logger? = nil, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await lease(logger: logger ?? self.logger)
        defer { release(connection) }
        return try await connection.withThreadAffinity(body)
    }

    /// Runs `body` in a transaction and retries the whole closure when Postgres asks for it.
    ///
    /// `body` runs between `BEGIN ISOLATION LEVEL …` and `COMMIT` on one leased connection, and is
    /// rolled back when it throws. The whole closure runs again (up to `maxAttempts` in total, after
    /// a jittered backoff of 10 ms doubling to 1 s) when the transaction fails with a serialization
    /// failure (40001) or a deadlock (40P01), or when the connection breaks before `COMMIT` was sent
    /// (the server rolled it back). A connection lost *during* `COMMIT` is not retried: whether it
    /// committed is unknown. So `body` must be safe to run more than once: keep side effects outside
    /// the database out of it.
    ///
    /// - Parameters:
    ///   - isolation: the isolation level. Default: read committed.
    ///   - maxAttempts: total attempts, at least 1. Default: 5.
    public func withTransaction<Result>(
        isolation: PostgresIsolationLevel = .readCommitted, maxAttempts: Int = 5, logger: Logger? = nil,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let logger = logger ?? self.logger
        var attempt = 0
        while true {
            attempt += 1
            var commitSent = false
            do {
                return try await withConnection(logger: logger) { connection in
                    try await connection.execute(PostgresQuery(unsafeSQL: isolation.beginStatement), logger: logger)
                    let result: Result
                    do {
                        result = try await body(connection)
                    } catch {
                        if connection.isUsable, connection.snapshot.transaction != .idle {
                            _ = try? await connection.execute("ROLLBACK", logger: logger)
                        }
                        throw error
                    }
                    commitSent = true
                    try await connection.execute("COMMIT", logger: logger)
                    return result
                }
            } catch let error as PostgresError {
                let retryable =
                    error.isSerializationFailure || error.isDeadlock || (error.isConnectionError && !commitSent)
                guard retryable, attempt < maxAttempts else { throw error }
                logger.debug(
                    "Postgres transaction retried",
                    metadata: ["db.attempt": "\(attempt)", "db.sql_state": "\(error.sqlState ?? "-")"])
                let cap = min(1.0, 0.01 * pow(2.0, Double(attempt - 1)))
                try await Task.sleep(for: .milliseconds(Int(1000 * (cap / 2 + Double.random(in: 0...(cap / 2))))))
            }
        }
    }

    /// Runs one statement on a pooled connection and returns its rows. A stale pooled connection
    /// found dead before the statement was sent is replaced once, transparently.
    @discardableResult
    public func query(_ query: PostgresQuery, logger: Logger? = nil) async throws -> [PostgresRow] {
        try await retryingStaleConnection(logger: logger) { try await $0.query(query, logger: logger) }
    }

    /// Runs one statement on a pooled connection and returns the affected-row count. A stale pooled
    /// connection found dead before the statement was sent is replaced once, transparently.
    @discardableResult
    public func execute(_ query: PostgresQuery, logger: Logger? = nil) async throws -> Int {
        try await retryingStaleConnection(logger: logger) { try await $0.execute(query, logger: logger) }
    }

    private func retryingStaleConnection<Result>(
        logger: Logger?, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        do {
            return try await withConnection(logger: logger, body)
        } catch let error as PostgresError where error.requestNotSent && error.isConnectionError {
            return try await withConnection(logger: logger, body)
        }
    }

    private func lease(logger: Logger) async throws -> PostgresConnection {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: acquireTimeout)
        while true {
            try Task.checkCancellation()
            enum Decision { case use(PostgresConnection), connect(ContinuousClock.Instant?), wait, closed }
            var stale: [PostgresConnection] = []
            let decision = state.withLock { state -> Decision in
                if state.closed { return .closed }
                while let connection = state.idle.popLast() {
                    if connection.isUsable { return .use(connection) }
                    state.open -= 1
                    stale.append(connection)
                }
                if state.open < maxConnections {
                    state.open += 1
                    return .connect(state.nextConnectAllowed)
                }
                return .wait
            }
            stale.forEach { $0.close() }
            switch decision {
            case .use(let connection):
                return connection
            case .closed:
                throw PostgresError(code: .poolClosed, host: configuration.endpoint)
            case .connect(let notBefore):
                do {
                    if let notBefore, notBefore > clock.now {
                        // Back off after failed connects; give up now if the wait would pass the deadline.
                        guard notBefore < deadline else { throw timeoutError() }
                        try await Task.sleep(until: notBefore, clock: clock)
                    }
                } catch {
                    giveBackSlot(connectError: nil)
                    throw error
                }
                do {
                    let connection = try await PostgresConnection.connect(configuration: configuration, logger: logger)
                    state.withLock { state in
                        state.consecutiveFailures = 0
                        state.nextConnectAllowed = nil
                        state.lastConnectError = nil
                    }
                    return connection
                } catch {
                    giveBackSlot(connectError: error)
                    logger.debug("Postgres pool connect failed", metadata: ["db.endpoint": "\(configuration.endpoint)"])
                    if clock.now >= deadline { throw timeoutError() }
                }
            case .wait:
                switch await wait(until: deadline) {
                case .connection(let connection): return connection
                case .retry: continue
                case .closed: throw PostgresError(code: .poolClosed, host: configuration.endpoint)
                case .timedOut: throw timeoutError()
                case .cancelled: throw CancellationError()
                }
            }
        }
    }

    /// Returns a connection slot that did not become a connection, records a failed connect (which
    /// pushes the next attempt back: 50 ms doubling to 2 s, ±20 %), and lets a waiter try instead.
    private func giveBackSlot(connectError: (any Error)?) {
        let clock = ContinuousClock()
        state.withLock { state -> Resolution in
            state.open -= 1
            if let connectError {
                state.consecutiveFailures += 1
                state.lastConnectError = connectError
                let backoff = min(2.0, 0.05 * pow(2.0, Double(min(state.consecutiveFailures - 1, 10))))
                state.nextConnectAllowed = clock.now.advanced(
                    by: .milliseconds(Int(backoff * 1000 * Double.random(in: 0.8...1.2))))
            }
            return state.resolveFirstWaiter(with: .retry)
        }.perform()
    }

    private func timeoutError() -> PostgresError {
        let underlying = state.withLock { $0.lastConnectError }
        return PostgresError(
            code: .timeout, host: configuration.endpoint,
            reason: "no connection within \(acquireTimeout) (pool of \(maxConnections))", underlying: underlying)
    }

    /// Suspends until a connection is handed over, a slot frees up, the deadline passes or the task
    /// is cancelled.
    private func wait(until deadline: ContinuousClock.Instant) async -> Wakeup {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            state.waiterOrder.append(state.nextWaiterID)
            return state.nextWaiterID
        }
        return await withTaskGroup(of: Wakeup?.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Wakeup, Never>) in
                    let early = self.state.withLock { state -> Wakeup? in
                        if let outcome = state.earlyOutcomes.removeValue(forKey: id) { return outcome }
                        state.continuations[id] = continuation
                        return nil
                    }
                    if let early { continuation.resume(returning: early) }
                }
            }
            group.addTask {
                // The timer: resolves the waiter on timeout or cancellation; a no-op once it was resolved.
                let outcome: Wakeup
                do {
                    try await Task.sleep(until: deadline, clock: ContinuousClock())
                    outcome = .timedOut
                } catch {
                    outcome = .cancelled
                }
                self.state.withLock { $0.resolve(id, with: outcome) }.perform()
                return nil
            }
            var result: Wakeup = .timedOut
            while let next = await group.next() {
                if let next {
                    result = next
                    group.cancelAll()
                }
            }
            return result
        }
    }

    /// Takes a connection back: hands it to a waiter, keeps it idle, or closes it when it is
    /// broken, closed or still inside a transaction.
    private func release(_ connection: PostgresConnection) {
        var toClose: [PostgresConnection] = []
        let wake = state.withLock { state -> Resolution in
            let broken = !connection.isUsable
            if state.closed || broken || connection.snapshot.transaction != .idle {
                state.open -= 1
                toClose.append(connection)
                if broken && !state.closed {
                    // A restart kills every connection; do not lend out the other idle ones.
                    state.open -= state.idle.count
                    toClose += state.idle
                    state.idle.removeAll()
                }
                return state.closed ? .noWaiter : state.resolveFirstWaiter(with: .retry)
            }
            let handoff = state.resolveFirstWaiter(with: .connection(connection))
            if case .noWaiter = handoff { state.idle.append(connection) }
            return handoff
        }
        if !toClose.isEmpty {
            logger.debug("Postgres pool discarded connections", metadata: ["db.count": "\(toClose.count)"])
        }
        toClose.forEach { $0.close() }
        wake.perform()
    }
}
