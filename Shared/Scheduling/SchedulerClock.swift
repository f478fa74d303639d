import Foundation
import Synchronization

/// Where the scheduler reads the time and waits: the system clock in production, a virtual clock in tests
/// and simulations. Every fire records the time of this clock, never the database's.
public protocol SchedulerClock: Sendable {
    /// The current time.
    func now() -> Date
    /// Returns at `deadline` (or soon after), or throws `CancellationError` when the task is cancelled.
    func sleep(until deadline: Date) async throws
}

/// The system's wall clock.
public struct SystemClock: SchedulerClock {
    /// The system clock.
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until deadline: Date) async throws {
        let seconds = deadline.timeIntervalSinceNow
        if seconds > 0 { try await Task.sleep(for: .milliseconds(Int64((seconds * 1000).rounded(.up)))) }
    }
}

/// A clock for tests and simulations: time runs at real speed from `start`, and a ``sleep(until:)`` jumps it
/// forward to the deadline instead of waiting, so days of schedule pass in moments while the work done at
/// each instant still takes its real time (a fire's lateness is the real time its work took).
///
/// Several sleepers may share one clock; each jump moves time for all of them (never backwards).
public final class VirtualClock: SchedulerClock {
    private struct State {
        var offset: TimeInterval
        var limit: Date?
    }

    private let state: Mutex<State>

    /// A clock that shows `start` now.
    public init(start: Date) {
        state = Mutex(State(offset: start.timeIntervalSince1970 - Date().timeIntervalSince1970, limit: nil))
    }

    public func now() -> Date {
        let offset = state.withLock { $0.offset }
        return Date(timeIntervalSinceNow: offset)
    }

    /// Moves the clock forward to `instant` (never backwards).
    public func advance(to instant: Date) {
        state.withLock { state in
            let shown = Date().timeIntervalSince1970 + state.offset
            let target = instant.timeIntervalSince1970
            if target > shown { state.offset += target - shown }
        }
    }

    /// Moves the clock forward by `seconds`.
    public func advance(by seconds: TimeInterval) {
        advance(to: now().addingTimeInterval(seconds))
    }

    /// Stops jumps at `limit` (nil: no limit): a sleeper whose deadline lies beyond it waits (in real time)
    /// until the limit is raised, so a test can stop its schedulers at a chosen instant.
    public func hold(at limit: Date?) {
        state.withLock { $0.limit = limit }
    }

    public func sleep(until deadline: Date) async throws {
        while true {
            let limit = state.withLock { $0.limit }
            advance(to: limit.map { min($0, deadline) } ?? deadline)
            if now() >= deadline { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        try await Task.sleep(for: .milliseconds(1))
    }
}
