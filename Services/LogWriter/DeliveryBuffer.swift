import AMQP
import Synchronization

/// Deliveries received but not yet taken into a batch. One task appends (the reader of the consumer's
/// stream), one task waits and takes (the batch loop).
final class DeliveryBuffer: Sendable {
    private struct State {
        var items: [AMQPDelivery] = []
        var finished = false
        var failure: (any Error)?
        var waiter: CheckedContinuation<Void, Never>?
        var wanted = 1
        /// A wake-up that came while nobody waited; the next wait returns at once.
        var pendingWake = false
    }

    private let state = Mutex(State())

    /// Adds a delivery; wakes the waiter once it has as many as it wants.
    func append(_ delivery: AMQPDelivery) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.items.append(delivery)
            guard state.items.count >= state.wanted else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// No more deliveries will come (the consumer stopped, or failed with `error`).
    func finish(_ error: (any Error)?) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            state.failure = error
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Ends the current wait early (shutdown, or the batch deadline).
    func wake() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pendingWake = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    var count: Int { state.withLock { $0.items.count } }
    var isFinished: Bool { state.withLock { $0.finished } }
    var failure: (any Error)? { state.withLock { $0.failure } }

    /// Waits until the buffer holds `count` deliveries, it finished, ``wake()`` is called, the task is
    /// cancelled, or `deadline` passes.
    func wait(for count: Int, until deadline: ContinuousClock.Instant?) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForCount(count) }
            if let deadline {
                group.addTask {
                    do {
                        try await Task.sleep(until: deadline, clock: ContinuousClock())
                        self.wake()
                    } catch {}
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForCount(_ count: Int) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.items.count >= count || state.finished || state.pendingWake || Task.isCancelled {
                        state.pendingWake = false
                        return true
                    }
                    state.wanted = count
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            wake()
        }
    }

    /// Takes up to `max` deliveries, oldest first.
    func take(max: Int) -> [AMQPDelivery] {
        state.withLock { state in
            let taken = Array(state.items.prefix(max))
            state.items.removeFirst(taken.count)
            return taken
        }
    }

    /// Takes everything.
    func drain() -> [AMQPDelivery] {
        state.withLock { state in
            defer { state.items.removeAll() }
            return state.items
        }
    }
}
