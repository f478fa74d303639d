/// Capped exponential backoff with jitter for reconnect attempts.
///
/// Attempt `n` (from 0) waits a random time between half and all of `min(maximum, minimum * 2^n)`, so
/// clients that lost the same broker do not come back in lockstep.
public struct AMQPBackoff: Sendable, Hashable {
    /// The base delay of the first attempt.
    public var minimum: Duration
    /// The cap.
    public var maximum: Duration

    /// Creates a backoff policy.
    public init(minimum: Duration, maximum: Duration) {
        self.minimum = minimum
        self.maximum = max(minimum, maximum)
    }

    /// The upper bound of the delay before attempt `attempt` (0-based), without jitter.
    public func ceiling(attempt: Int) -> Duration {
        let shift = min(max(attempt, 0), 30)
        let scaled = minimum * (1 << shift)
        return scaled > maximum || scaled < minimum ? maximum : scaled
    }

    /// The jittered delay before attempt `attempt` (0-based): uniform in [ceiling/2, ceiling].
    public func delay<Generator: RandomNumberGenerator>(attempt: Int, using generator: inout Generator) -> Duration {
        let ceiling = ceiling(attempt: attempt)
        let fraction = Double.random(in: 0.5...1.0, using: &generator)
        return ceiling * fraction
    }

    /// The jittered delay before attempt `attempt` (0-based), with the system random generator.
    public func delay(attempt: Int) -> Duration {
        ceiling(attempt: attempt) * Double.random(in: 0.5...1.0)
    }
}
