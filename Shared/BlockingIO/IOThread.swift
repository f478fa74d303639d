import Foundation

/// One dedicated OS thread that runs blocking work (libpq, rabbitmq-c, libcurl calls) in the
/// order it was submitted, so that such calls never occupy Swift's small cooperative pool.
///
/// Each C connection handle is confined to one `IOThread`: everything that touches the handle
/// runs through ``run(_:)``, which is what makes the handle safe to share across tasks.
public final class IOThread: @unchecked Sendable {
    // `condition` guards `jobs` and `state`; nothing else is mutable.
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var state = State.running
    private let name: String

    private enum State { case running, draining, stopped }

    /// Starts the thread.
    /// - Parameter name: the thread name, shown in debuggers and `top -H`.
    public init(name: String) {
        self.name = name
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit {
        // The thread holds a strong reference while running, so reaching deinit means it ended.
    }

    /// Runs `body` on this thread and returns its result.
    ///
    /// - Throws: whatever `body` throws, or ``IOThreadError/shutDown`` when the thread no longer
    ///   takes work.
    public func run<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
            let accepted = submit {
                continuation.resume(with: Swift.Result { try body() })
            }
            if !accepted { continuation.resume(throwing: IOThreadError.shutDown(thread: name)) }
        }
    }

    /// Queues `job` without waiting for it. Returns `false` when the thread is shutting down.
    @discardableResult
    public func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard state == .running else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    /// Stops taking work; jobs already queued still run, then the thread exits.
    public func shutdown() {
        condition.lock()
        if state == .running { state = .draining }
        condition.broadcast()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && state == .running { condition.wait() }
            if jobs.isEmpty {
                state = .stopped
                condition.unlock()
                return
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job() }
        }
    }
}

/// Errors from ``IOThread``.
public enum IOThreadError: Error, Sendable, CustomStringConvertible {
    /// The thread was shut down before the work could be queued.
    case shutDown(thread: String)

    public var description: String {
        switch self {
        case .shutDown(let thread): "IOThread \(thread) is shut down and takes no more work"
        }
    }
}
