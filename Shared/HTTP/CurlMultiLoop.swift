internal import CCurl
internal import Glibc
internal import Synchronization

/// The libcurl multi handle and the one OS thread that drives it.
///
/// Tasks hand work to the thread through ``submit(_:)`` and ``cancel(id:)``, which append to a
/// lock-protected command queue and wake the thread with `curl_multi_wakeup` if it sleeps in
/// `curl_multi_poll`. The thread owns everything else: easy handles, the transfer table and every
/// other libcurl call. It resumes each request's continuation when `curl_multi_info_read` reports
/// the transfer done, so no Swift task ever blocks on the network.
///
/// The thread is also a `TaskExecutor`: jobs of tasks that prefer it are queued as commands and
/// run between libcurl calls, so such a task's requests involve no thread switch at all.
final class CurlMultiLoop: TaskExecutor, Sendable {
    /// `CURLM *`. Only `curl_multi_wakeup` (documented thread-safe) is called on it from other
    /// threads; every other use happens on the loop thread, and `curl_multi_cleanup` runs there
    /// as its last act. That confinement is what makes sharing the pointer safe.
    private struct MultiHandle: @unchecked Sendable { let pointer: UnsafeMutableRawPointer }

    private enum Command: Sendable {
        case start(CurlJob)
        case cancel(UInt64)
        /// A Swift job of a task that prefers this thread as its executor.
        case run(UnownedJob)
    }

    private struct Shared: Sendable {
        var commands: [Command] = []
        /// The loop thread is in, or about to enter, `curl_multi_poll` and needs a wakeup.
        var sleeping = false
        var accepting = true
        var thread: pthread_t?
    }

    private let multi: MultiHandle
    private let shared = Mutex(Shared())
    private let configuration: HTTPClientConfiguration
    /// Connections opened over the client's lifetime (sum of `CURLINFO_NUM_CONNECTS`).
    let connectionsOpened = Atomic<Int>(0)
    /// Exchanges finished with a response.
    let responsesReceived = Atomic<Int>(0)

    init(configuration: HTTPClientConfiguration) throws {
        let initialised = CurlGlobal.initResult
        guard initialised == CURLE_OK else {
            throw HTTPClientError(
                curlCode: initialised, errorBuffer: "curl_global_init failed", host: nil, bodyLimitHit: false,
                requestMayHaveBeenSent: false)
        }
        guard let multi = curl_multi_init() else {
            throw HTTPClientError(code: .transport, detail: "curl_multi_init failed")
        }
        self.multi = MultiHandle(pointer: multi)
        self.configuration = configuration
        for (option, value) in [
            (CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maxConnectionsPerHost),
            (CURLMOPT_MAX_TOTAL_CONNECTIONS, configuration.maxTotalConnections),
            (CURLMOPT_MAXCONNECTS, configuration.maxTotalConnections),
        ] {
            let status = ccurl_multi_setopt_long(multi, option, value)
            guard status == CURLM_OK else {
                curl_multi_cleanup(multi)
                throw HTTPClientError(multiCode: status, host: nil)
            }
        }
        try startThread()
    }

    // MARK: Called from any thread

    /// Appends `command` unless the loop stopped taking work; wakes the thread if it sleeps.
    private func enqueue(_ command: Command) -> Bool {
        let (accepted, wake) = shared.withLock { state -> (Bool, Bool) in
            guard state.accepting else { return (false, false) }
            state.commands.append(command)
            defer { state.sleeping = false }
            return (true, state.sleeping)
        }
        if wake { curl_multi_wakeup(multi.pointer) }
        return accepted
    }

    /// Queues a request. If the loop no longer accepts work, the job fails with `shutDown` at once.
    func submit(_ job: CurlJob) {
        if !enqueue(.start(job)) {
            job.continuation.resume(throwing: HTTPClientError(code: .shutDown, host: job.host))
        }
    }

    /// Asks the loop to abandon request `id` (it fails with `CancellationError`). Harmless if the
    /// request already finished.
    func cancel(id: UInt64) { _ = enqueue(.cancel(id)) }

    /// Runs `job` on the loop thread (``TaskExecutor``). Once the client is shut down, jobs go to
    /// the global concurrent executor instead, so no task is ever stranded.
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if !enqueue(.run(job)) { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }

    func asUnownedTaskExecutor() -> UnownedTaskExecutor { UnownedTaskExecutor(ordinary: self) }

    /// Stops taking work, fails queued and in-flight requests with `shutDown`, and waits for the
    /// thread to exit. Later calls return at once.
    func shutdown() {
        let thread = shared.withLock { state -> pthread_t? in
            state.accepting = false
            defer { state.thread = nil }
            return state.thread
        }
        guard let thread else { return }
        curl_multi_wakeup(multi.pointer)
        // From the loop thread itself (a task running on this executor): the loop exits once the
        // current job returns; joining would deadlock.
        if pthread_equal(thread, pthread_self()) != 0 {
            pthread_detach(thread)
            return
        }
        pthread_join(thread, nil)
    }

    // MARK: The loop thread

    private func startThread() throws {
        let box = Unmanaged.passRetained(
            ThreadBody { [self] in
                let worker = LoopWorker(multi: multi.pointer, configuration: configuration, loop: self)
                worker.run()
            })
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { raw in
                let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
                body.run()
                return nil
            }, box.toOpaque())
        guard status == 0 else {
            box.release()
            curl_multi_cleanup(multi.pointer)
            throw HTTPClientError(code: .transport, detail: "pthread_create failed (\(status))")
        }
        shared.withLock { $0.thread = thread }
    }

    /// Takes queued commands (swapping buffers to avoid allocation) and reports whether to stop.
    private func takeCommands(into buffer: inout [Command]) -> Bool {
        shared.withLock { state in
            swap(&state.commands, &buffer)
            return !state.accepting
        }
    }

    /// Marks the loop as sleeping unless work arrived meanwhile; returns whether it may poll.
    private func prepareToSleep() -> Bool {
        shared.withLock { state in
            guard state.commands.isEmpty && state.accepting else { return false }
            state.sleeping = true
            return true
        }
    }

    private func wokeUp() { shared.withLock { $0.sleeping = false } }

    /// Everything owned by the loop thread. Created on it and never shared.
    private final class LoopWorker {
        let multi: UnsafeMutableRawPointer
        let configuration: HTTPClientConfiguration
        let loop: CurlMultiLoop  // the thread keeps the loop alive until it exits
        var transfers: [UInt64: CurlTransfer] = [:]
        var idle: [CurlEasy] = []
        var commands: [Command] = []
        /// No transfer's deadline is earlier than this (it may be stale-early after completions).
        var earliestDeadline: ContinuousClock.Instant?
        let clock = ContinuousClock()
        static let maxIdleHandles = 64

        init(multi: UnsafeMutableRawPointer, configuration: HTTPClientConfiguration, loop: CurlMultiLoop) {
            self.multi = multi
            self.configuration = configuration
            self.loop = loop
        }

        func run() {
            var running: Int32 = 0
            while true {
                let stopping = loop.takeCommands(into: &commands)
                for command in commands {
                    switch command {
                    case .start(let job): start(job, stopping: stopping)
                    case .cancel(let id): abandon(id) { _ in CancellationError() }
                    case .run(let job):
                        if stopping {
                            globalConcurrentExecutor.enqueue(ExecutorJob(job))
                        } else {
                            job.runSynchronously(on: loop.asUnownedTaskExecutor())
                        }
                    }
                }
                commands.removeAll(keepingCapacity: true)
                if stopping { break }

                curl_multi_perform(multi, &running)
                var remaining: Int32 = 0
                while let message = curl_multi_info_read(multi, &remaining) {
                    guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                    finish(easy, result: message.pointee.data.result)
                }
                let timeout = enforceDeadlines()
                if loop.prepareToSleep() {
                    curl_multi_poll(multi, nil, 0, timeout, nil)
                    loop.wokeUp()
                }
            }
            for id in Array(transfers.keys) {
                abandon(id) { $0.interruption(.shutDown, detail: "the client was shut down") }
            }
            for easy in idle { easy.destroy() }
            idle.removeAll()
            curl_multi_cleanup(multi)
        }

        private func start(_ job: CurlJob, stopping: Bool) {
            if stopping {
                job.continuation.resume(throwing: HTTPClientError(code: .shutDown, host: job.host))
                return
            }
            guard let easy = idle.popLast() ?? CurlEasy(configuration: configuration) else {
                job.continuation.resume(
                    throwing: HTTPClientError(code: .transport, detail: "curl_easy_init failed", host: job.host))
                return
            }
            let transfer: CurlTransfer
            do {
                transfer = try CurlTransfer(easy: easy, job: job, configuration: configuration, now: clock.now)
            } catch {
                recycle(easy)
                job.continuation.resume(throwing: error)
                return
            }
            let added = curl_multi_add_handle(multi, easy.handle)
            guard added == CURLM_OK else {
                recycle(easy)
                job.continuation.resume(throwing: HTTPClientError(multiCode: added, host: job.host))
                return
            }
            transfers[job.id] = transfer
            earliestDeadline = min(earliestDeadline ?? transfer.deadline, transfer.deadline)
        }

        /// Fails transfers past their deadline; returns how long `curl_multi_poll` may sleep (ms).
        private func enforceDeadlines() -> Int32 {
            guard let earliest = earliestDeadline else { return 1000 }
            let now = clock.now
            if now >= earliest {
                var next: ContinuousClock.Instant?
                var expired: [CurlTransfer] = []
                for transfer in transfers.values {
                    if transfer.deadline <= now {
                        expired.append(transfer)
                    } else {
                        next = min(next ?? transfer.deadline, transfer.deadline)
                    }
                }
                earliestDeadline = next
                for transfer in expired {
                    abandon(transfer.job.id) {
                        $0.interruption(.timedOut, detail: "the request timeout passed before the transfer finished")
                    }
                }
            }
            guard let earliest = earliestDeadline else { return 1000 }
            return Int32(min(max((earliest - now).curlMilliseconds, 1), 1000))
        }

        private func finish(_ handle: UnsafeMutableRawPointer, result: CURLcode) {
            var raw: UnsafeMutableRawPointer?
            guard ccurl_getinfo_pointer(handle, CURLINFO_PRIVATE, &raw) == CURLE_OK, let raw else { return }
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(raw).takeUnretainedValue()
            let outcome = transfer.outcome(result)
            curl_multi_remove_handle(multi, handle)
            transfers[transfer.job.id] = nil
            recycle(transfer.easy)
            switch outcome {
            case .success(let response):
                loop.connectionsOpened.add(response.metrics.connectionsOpened, ordering: .relaxed)
                loop.responsesReceived.add(1, ordering: .relaxed)
                transfer.job.continuation.resume(returning: response)
            case .failure(let error):
                transfer.job.continuation.resume(throwing: error)
            }
        }

        /// Takes a transfer out of libcurl and fails it with the error `reason` makes (before the
        /// handle is reset, so it can still read the handle's info).
        private func abandon(_ id: UInt64, reason: (CurlTransfer) -> any Error) {
            guard let transfer = transfers.removeValue(forKey: id) else { return }
            let error = reason(transfer)
            curl_multi_remove_handle(multi, transfer.easy.handle)
            recycle(transfer.easy)
            transfer.job.continuation.resume(throwing: error)
        }

        /// Keeps a handle for the next request (live connections stay in the multi handle's cache).
        private func recycle(_ easy: CurlEasy) {
            if idle.count < Self.maxIdleHandles {
                easy.recycle()
                idle.append(easy)
            } else {
                easy.destroy()
            }
        }
    }
}

/// Carries the thread's entry closure through `pthread_create`'s `void *` argument.
private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
