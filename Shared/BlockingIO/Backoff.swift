/// Capped exponential backoff with full jitter, shared by every reconnect and retry loop.
///
/// Attempt `n` (starting at 1) waits a random duration in `0 ... min(maximum, initial * 2^(n-1))`
/// ("full jitter"), so a fleet of clients that lost the same server does not return in lockstep.
public struct Backoff: Sendable, Hashable {
    /// The ceiling of the first wait.
    public var initial: Duration
    /// The largest wait.
    public var maximum: Duration

    /// - Parameters:
    ///   - initial: the ceiling of the first wait (default 100 ms).
    ///   - maximum: the largest wait (default 30 s).
    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The upper bound of the wait before retry number `attempt` (1-based), without jitter.
    public func ceiling(attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let grown = initial * (1 << exponent)
        return min(grown, maximum)
    }

    /// A jittered wait before retry number `attempt` (1-based).
    public func delay<G: RandomNumberGenerator>(attempt: Int, using generator: inout G) -> Duration {
        let bound = ceiling(attempt: attempt)
        let nanoseconds = bound.components.seconds * 1_000_000_000 + bound.components.attoseconds / 1_000_000_000
        guard nanoseconds > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...nanoseconds, using: &generator))
    }

    /// A jittered wait before retry number `attempt` (1-based), from the system generator.
    public func delay(attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(attempt: attempt, using: &generator)
    }
}
