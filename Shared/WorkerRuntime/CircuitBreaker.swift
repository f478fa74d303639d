import Foundation
import Synchronization

/// Per-connection circuit breakers of one worker process, so one failing ERP company does not take the
/// worker's capacity from the others.
///
/// After `threshold` consecutive transient failures (`erp.transient`, `erp.outcome_unknown`,
/// `erp.invalid_response`) on a connection the breaker opens for `cooldown`: jobs of that connection are deferred
/// at once, without an ERP call. When the cooldown ends one job is let through (half-open); a success closes the
/// breaker, a failure opens it again. State is in memory, per replica (each replica learns on its own within
/// `threshold` failures).
public final class CircuitBreakers: Sendable {
    /// Consecutive transient failures that open a breaker.
    public let threshold: Int
    /// How long an open breaker defers jobs.
    public let cooldown: Duration

    private struct Entry {
        var failures = 0
        var openUntil: ContinuousClock.Instant?
    }
    private let entries = Mutex<[String: Entry]>([:])

    /// Creates the breakers. Defaults: 5 failures, 30 s.
    public init(threshold: Int = 5, cooldown: Duration = .seconds(30)) {
        precondition(threshold > 0, "threshold must be positive")
        self.threshold = threshold
        self.cooldown = cooldown
    }

    /// Nil when a call may be made; otherwise how long the breaker stays open.
    public func wait(for key: String) -> Duration? {
        let now = ContinuousClock.now
        return entries.withLock { entries in
            guard let until = entries[key]?.openUntil, until > now else { return nil }
            return until - now
        }
    }

    /// Records a transient failure; opens the breaker at the threshold.
    public func recordFailure(_ key: String) {
        let now = ContinuousClock.now
        entries.withLock { entries in
            var entry = entries[key] ?? Entry()
            entry.failures += 1
            if entry.failures >= threshold { entry.openUntil = now + cooldown }
            entries[key] = entry
        }
    }

    /// Records a success; closes the breaker.
    public func recordSuccess(_ key: String) {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }
}
