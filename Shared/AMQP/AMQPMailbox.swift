internal import Glibc
internal import Synchronization

/// The queue of commands from async callers to a connection thread, plus the means to sleep on the
/// connection's socket and this queue at the same time.
///
/// The thread sleeps in `poll` on the broker socket and the read end of a pipe; ``post(_:)`` writes one
/// byte to the pipe when the thread is (about to be) asleep, so an ack or a publish is sent at once
/// instead of after the next poll timeout.
final class AMQPMailbox<Command: Sendable>: Sendable {
    private struct State {
        var commands: [Command] = []
        var sleeping = false
        var closed = false
        /// The consumer's connection generation; deliveries from older generations are stale.
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())
    private let wakeRead: Int32
    private let wakeWrite: Int32

    /// - Throws: ``AMQPError`` when the process is out of file descriptors.
    init() throws {
        var descriptors: [Int32] = [-1, -1]
        if pipe(&descriptors) != 0 {
            throw AMQPError(code: .connectionFailed, call: "pipe", detail: "could not create a wake-up pipe (errno \(errno))")
        }
        for descriptor in descriptors {
            _ = fcntl(descriptor, F_SETFL, O_NONBLOCK)
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = descriptors[0]
        wakeWrite = descriptors[1]
    }

    deinit {
        Glibc.close(wakeRead)
        Glibc.close(wakeWrite)
    }

    /// Queues `command`; false when the mailbox is closed.
    @discardableResult
    func post(_ command: sending Command) -> Bool {
        post(command, generation: nil) == .posted
    }

    enum PostResult { case posted, closed, stale }

    /// Queues `command` only while the generation is still `generation` (nil: any generation).
    func post(_ command: sending Command, generation: UInt64?) -> PostResult {
        let outcome: (PostResult, Bool) = state.withLock { state in
            if state.closed { return (.closed, false) }
            if let generation, generation != state.generation { return (.stale, false) }
            state.commands.append(command)
            let wake = state.sleeping
            state.sleeping = false
            return (.posted, wake)
        }
        if outcome.1 { wake() }
        return outcome.0
    }

    /// Wakes the thread without a command.
    func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Takes every queued command.
    func take() -> [Command] {
        state.withLock { state in
            guard !state.commands.isEmpty else { return [] }
            var taken: [Command] = []
            swap(&taken, &state.commands)
            return taken
        }
    }

    /// Stops accepting commands and returns those still queued.
    func close() -> [Command] {
        state.withLock { state in
            state.closed = true
            var taken: [Command] = []
            swap(&taken, &state.commands)
            return taken
        }
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    var generation: UInt64 {
        get { state.withLock { $0.generation } }
        set { state.withLock { $0.generation = newValue } }
    }

    /// Why ``wait(socket:timeout:)`` returned.
    enum WakeReason {
        /// The socket has input (or an error, which the next read reports).
        case socketReadable
        /// A command arrived (or ``wake()`` was called).
        case woken
        /// Nothing happened within the timeout.
        case timedOut
    }

    /// Sleeps until a command arrives, `socket` (if not -1) is readable, or `timeout` passes.
    func wait(socket: Int32, timeout: Duration) -> WakeReason {
        let mustSleep = state.withLock { state -> Bool in
            guard state.commands.isEmpty else { return false }
            state.sleeping = true
            return true
        }
        guard mustSleep else { return .woken }
        var descriptors = (
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        )
        let milliseconds = Int32(clamping: max(0, timeout.milliseconds))
        let ready = withUnsafeMutableBytes(of: &descriptors) { raw in
            poll(raw.baseAddress!.assumingMemoryBound(to: pollfd.self), 2, milliseconds)
        }
        state.withLock { $0.sleeping = false }
        if ready > 0, descriptors.0.revents != 0 {
            var buffer: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            while withUnsafeMutableBytes(of: &buffer, { read(wakeRead, $0.baseAddress, $0.count) }) > 0 {}
        }
        if ready > 0, socket >= 0, descriptors.1.revents != 0 { return .socketReadable }
        return ready > 0 ? .woken : .timedOut
    }
}
