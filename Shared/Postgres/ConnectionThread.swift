#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The dedicated OS thread of one ``PostgresConnection``: it runs the connection's blocking libpq
/// calls, and it is also a `TaskExecutor`, so code that works with the connection can run on it.
///
/// Why a task executor: a statement issued from a Swift concurrency thread has to hop to this thread
/// and back (two context switches, tens of microseconds on a busy machine), which is a large share of
/// a 100 µs round trip. ``PostgresPool/withConnection(logger:_:)`` therefore runs its closure with this
/// thread as the task's preferred executor: the closure's code runs here, and each statement is then
/// an ordinary blocking call on this very thread, with no hop at all. Blocking here is fine: it is
/// not one of Swift's cooperative threads.
///
/// `@unchecked Sendable` is sound because every mutable field (`queue`, `state`, `threadID`) is read
/// and written only while `condition` is locked.
final class ConnectionThread: TaskExecutor, @unchecked Sendable {
    private enum Work {
        case closure(@Sendable () -> Void)
        case job(UnownedJob)
    }

    private enum State { case running, draining, stopped }

    private let condition = NSCondition()
    private var queue: [Work] = []
    private var state = State.running
    private var threadID: pthread_t?

    /// Starts the thread.
    /// - Parameter name: the Foundation `Thread` name.
    init(name: String) {
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// True when the caller runs on this thread.
    var isCurrent: Bool {
        condition.lock()
        let threadID = self.threadID
        condition.unlock()
        guard let threadID else { return false }
        return pthread_equal(pthread_self(), threadID) != 0
    }

    /// Runs `body` on this thread: directly when already on it, otherwise by queueing it and
    /// suspending until it has run.
    func run<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        if isCurrent { return try body() }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
            let accepted = submit { continuation.resume(with: Swift.Result { try body() }) }
            if !accepted { continuation.resume(throwing: ConnectionThreadStopped()) }
        }
    }

    /// Queues `work`; returns false once the thread no longer takes closures.
    @discardableResult
    func submit(_ work: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard state == .running else { return false }
        queue.append(.closure(work))
        condition.signal()
        return true
    }

    /// Stops taking closures; queued work still runs, then the thread exits. Task jobs that arrive
    /// later go to the global concurrent executor.
    func shutdown() {
        condition.lock()
        if state == .running { state = .draining }
        condition.broadcast()
        condition.unlock()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        guard state != .stopped else {
            condition.unlock()
            // The thread is gone, but a task that prefers it must still run.
            globalConcurrentExecutor.enqueue(ExecutorJob(unowned))
            return
        }
        queue.append(.job(unowned))
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        condition.lock()
        threadID = pthread_self()
        condition.unlock()
        let executor = asUnownedTaskExecutor()
        var batch: [Work] = []
        while true {
            condition.lock()
            while queue.isEmpty && state == .running { condition.wait() }
            if queue.isEmpty {
                state = .stopped
                condition.unlock()
                return
            }
            swap(&batch, &queue)
            condition.unlock()
            for work in batch {
                switch work {
                case .closure(let closure): closure()
                case .job(let job): job.runSynchronously(on: executor)
                }
            }
            batch.removeAll(keepingCapacity: true)
        }
    }
}

/// The connection's thread was shut down before the work could be queued.
struct ConnectionThreadStopped: Error {}
