import AMQP
import Synchronization

/// Collects deliveries from a consumer's stream so the intake can take them in batches (whatever has
/// arrived, up to a limit) instead of one at a time.
///
/// One task appends (``append(_:)``, then ``finish()``); any number of tasks take (``next(max:)``).
final class DeliveryBuffer: Sendable {
    private struct State {
        var items: [AMQPDelivery] = []
        var finished = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    init() {}

    /// Adds a delivery and wakes a taker.
    func append(_ delivery: AMQPDelivery) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.items.append(delivery)
            guard let key = state.waiters.keys.first else { return nil }
            return state.waiters.removeValue(forKey: key)
        }
        waiter?.resume()
    }

    /// Marks the end of the stream (the consumer closed); the taker gets what is left, then an empty batch.
    func finish() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.finished = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until at least one delivery is buffered and returns up to `max` of them, oldest first. Returns
    /// an empty array when the stream has finished and nothing is left.
    /// - Throws: `CancellationError` when the waiting task is cancelled.
    func next(max: Int) async throws -> [AMQPDelivery] {
        while true {
            try Task.checkCancellation()
            if let batch = take(max: max) { return batch }
            let id = state.withLock { state -> Int in
                state.nextWaiter += 1
                return state.nextWaiter
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state -> Bool in
                        if !state.items.isEmpty || state.finished || Task.isCancelled { return true }
                        state.waiters[id] = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
                waiter?.resume()
            }
        }
    }

    /// Removes and returns everything buffered (used on shutdown to requeue what was not processed).
    func drain() -> [AMQPDelivery] {
        state.withLock { state in
            defer { state.items.removeAll() }
            return state.items
        }
    }

    private func take(max: Int) -> [AMQPDelivery]? {
        state.withLock { state -> [AMQPDelivery]? in
            if state.items.isEmpty { return state.finished ? [] : nil }
            let count = Swift.min(max, state.items.count)
            let batch = Array(state.items.prefix(count))
            state.items.removeFirst(count)
            return batch
        }
    }
}
