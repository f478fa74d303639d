/// Capped exponential backoff with full jitter for the relay's retry loops: attempt `n` (from 1) waits a
/// random time in `0 ... min(maximum, initial × 2^(n−1))`.
struct RetryDelay: Sendable {
    var initial: Duration
    var maximum: Duration

    func delay(attempt: Int) -> Duration {
        let ceiling = min(maximum, initial * (1 << min(max(attempt - 1, 0), 30)))
        let nanoseconds = ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        guard nanoseconds > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...nanoseconds))
    }
}
