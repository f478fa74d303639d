public import BlockingIO
public import Logging

/// Runs `attempt` until it succeeds, waiting with ``Backoff`` between failures, and logs each
/// failure once with the dependency's name and endpoint (host and port, never credentials).
///
/// A service whose broker or database is unreachable therefore keeps retrying with growing waits
/// instead of crash-looping, and an operator can read from the log what it is waiting for.
///
/// - Parameters:
///   - dependency: a short name, e.g. `postgres` or `rabbitmq`.
///   - endpoint: `host:port`, shown in logs.
///   - backoff: waits between attempts.
///   - maxAttempts: give up after this many attempts (`nil`: until cancelled).
///   - logger: where failures are reported.
/// - Throws: the last error after `maxAttempts`, or `CancellationError` when the task is cancelled.
public func retryUntilConnected<Value: Sendable>(
    dependency: String,
    endpoint: String,
    backoff: Backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(15)),
    maxAttempts: Int? = nil,
    logger: Logger,
    _ attempt: () async throws -> Value
) async throws -> Value {
    var number = 0
    while true {
        try Task.checkCancellation()
        number += 1
        do {
            let value = try await attempt()
            if number > 1 {
                logger.info("Connected after retrying", metadata: [
                    "dependency": "\(dependency)", "endpoint": "\(endpoint)", "attempts": "\(number)",
                ])
            }
            return value
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if let maxAttempts, number >= maxAttempts {
                logger.error("Giving up on dependency", metadata: [
                    "dependency": "\(dependency)", "endpoint": "\(endpoint)", "attempts": "\(number)",
                    "error": "\(error)",
                ])
                throw error
            }
            let wait = backoff.delay(attempt: number)
            logger.warning("Cannot reach dependency; retrying", metadata: [
                "dependency": "\(dependency)", "endpoint": "\(endpoint)", "attempt": "\(number)",
                "retry_in_ms": "\(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)",
                "error": "\(error)",
            ])
            try await Task.sleep(for: wait)
        }
    }
}

/// Runs `body`, cancelling it when `limit` passes first.
///
/// - Throws: ``TimeLimitExceeded`` naming `what` when the limit passes, else what `body` throws.
public func withTimeLimit<Value: Sendable>(
    _ limit: Duration, what: String, _ body: @escaping @Sendable () async throws -> Value
) async throws -> Value {
    try await withThrowingTaskGroup(of: Value?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TimeLimitExceeded(what: what, limit: limit)
        }
        return value
    }
}

/// ``withTimeLimit(_:what:_:)`` ran out of time.
public struct TimeLimitExceeded: Error, Sendable, CustomStringConvertible {
    public var what: String
    public var limit: Duration
    public var description: String { "\(what) did not finish within \(limit)" }
}
