#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Logging
import Synchronization

/// A notification sent with `NOTIFY channel, 'payload'` or `pg_notify(channel, payload)`.
public struct PostgresNotification: Sendable, Hashable {
    /// The channel it was sent on.
    public var channel: String
    /// The payload (empty when none was given).
    public var payload: String
    /// The process ID of the sending server backend.
    public var processID: Int32

    /// Creates a notification.
    public init(channel: String, payload: String, processID: Int32) {
        self.channel = channel
        self.payload = payload
        self.processID = processID
    }
}

/// Listens on Postgres channels over a dedicated connection and streams the notifications.
///
/// The connection lives on a thread of its own, which polls the socket with a short timeout,
/// reads input and collects notifications. When the connection breaks (a server restart), the
/// thread reconnects with capped exponential backoff and issues `LISTEN` again.
///
/// ```swift
/// let listener = PostgresListener(configuration: configuration, channels: ["invoices"], logger: logger)
/// let notifications = listener.notifications()   // subscribe before anything is sent
/// try await listener.start()
/// for await notification in notifications { … }
/// listener.close()
/// ```
///
/// Notifications sent while the connection is down are lost (Postgres does not queue them for
/// absent listeners), so treat a notification as a hint to re-read state, and re-read after
/// ``reconnectCount`` changes.
public final class PostgresListener: Sendable {
    /// The channels, exactly as `pg_notify` names them (case-sensitive).
    public let channels: [String]
    private let configuration: PostgresConfiguration
    private let logger: Logger
    private let shared: Shared

    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    private struct State {
        var started = false
        var stopped = false
        var listening = false
        var reconnects = 0
        var nextSubscriber = 0
        var subscribers: [Int: AsyncStream<PostgresNotification>.Continuation] = [:]
        var startWaiter: CheckedContinuation<Void, any Error>?
    }

    /// Creates a listener; nothing connects until ``start()``.
    ///
    /// - Parameters:
    ///   - configuration: where to connect.
    ///   - channels: the channels to `LISTEN` on.
    ///   - logger: for debug messages about connects and reconnects.
    public init(configuration: PostgresConfiguration, channels: [String], logger: Logger) {
        self.configuration = configuration
        self.channels = channels
        self.logger = logger
        self.shared = Shared()
    }

    deinit {
        close()
    }

    /// Connects and issues `LISTEN` on every channel, then keeps listening on a background thread.
    ///
    /// - Throws: ``PostgresError`` when the first connection or `LISTEN` fails (the listener is then
    ///   closed); later failures are retried in the background.
    public func start() async throws {
        let configuration = self.configuration
        let channels = self.channels
        let logger = self.logger
        let shared = self.shared
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let accepted = shared.state.withLock { state -> Bool in
                guard !state.started, !state.stopped else { return false }
                state.started = true
                state.startWaiter = continuation
                return true
            }
            guard accepted else {
                continuation.resume(throwing: PostgresError(code: .invalidArgument, reason: "listener already started or closed"))
                return
            }
            let thread = Thread {
                Self.run(configuration: configuration, channels: channels, logger: logger, shared: shared)
            }
            thread.name = "postgres-listener"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// A stream of every notification received from now on. Each call returns its own stream; the
    /// stream finishes when the listener closes. Buffers up to 10,000 notifications, then drops the oldest.
    public func notifications() -> AsyncStream<PostgresNotification> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: PostgresNotification.self, bufferingPolicy: .bufferingNewest(10_000))
        let shared = self.shared
        let id = shared.state.withLock { state -> Int? in
            guard !state.stopped else { return nil }
            state.nextSubscriber += 1
            state.subscribers[state.nextSubscriber] = continuation
            return state.nextSubscriber
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { _ in
            _ = shared.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// True while the connection is up and `LISTEN` has been issued.
    public var isListening: Bool { shared.state.withLock { $0.listening } }

    /// How many times the listener has reconnected after losing its connection.
    public var reconnectCount: Int { shared.state.withLock { $0.reconnects } }

    /// Stops listening and finishes every stream now; the background thread closes the connection
    /// within about 200 ms (or, while it is reconnecting, once the connection attempt returns).
    public func close() {
        let subscribers = shared.state.withLock { state in
            state.stopped = true
            state.listening = false
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        subscribers.forEach { $0.finish() }
    }

    // MARK: The listener thread

    private static func run(configuration: PostgresConfiguration, channels: [String], logger: Logger, shared: Shared) {
        let listenSQL = channels.map { "LISTEN \(PostgresQuery.quotedIdentifier($0))" }.joined(separator: "; ")
        var connection: LibPQConnection?
        var failures = 0
        var everConnected = false
        defer {
            connection?.finish()
            let (subscribers, waiter) = shared.state.withLock { state in
                state.stopped = true
                state.listening = false
                defer {
                    state.subscribers.removeAll()
                    state.startWaiter = nil
                }
                return (Array(state.subscribers.values), state.startWaiter)
            }
            subscribers.forEach { $0.finish() }
            waiter?.resume(throwing: PostgresError(code: .connectionClosed, reason: "listener closed before it started"))
        }

        func deliver(_ notifications: [PostgresNotification]) {
            guard !notifications.isEmpty else { return }
            shared.state.withLock { state in
                for subscriber in state.subscribers.values { notifications.forEach { subscriber.yield($0) } }
            }
        }

        while !shared.state.withLock({ $0.stopped }) {
            guard let current = connection else {
                do {
                    let opened = try LibPQConnection.connect(configuration: configuration, logger: logger)
                    if !listenSQL.isEmpty { try opened.runScript(listenSQL, label: "LISTEN") }
                    connection = opened
                    failures = 0
                    let waiter = shared.state.withLock { state in
                        state.listening = true
                        if everConnected { state.reconnects += 1 }
                        defer { state.startWaiter = nil }
                        return state.startWaiter
                    }
                    logger.debug(
                        everConnected ? "Postgres listener reconnected" : "Postgres listener started",
                        metadata: ["db.endpoint": "\(configuration.endpoint)", "db.channels": "\(channels.count)"])
                    everConnected = true
                    waiter?.resume()
                    deliver((try? opened.takeNotifications()) ?? [])
                } catch {
                    if !everConnected {
                        let waiter = shared.state.withLock { state in
                            defer { state.startWaiter = nil }
                            return state.startWaiter
                        }
                        waiter?.resume(throwing: error)
                        return
                    }
                    failures += 1
                    logger.debug("Postgres listener reconnect failed", metadata: ["db.attempt": "\(failures)"])
                    sleep(backoff(failures: failures), unless: shared)
                }
                continue
            }
            var descriptor = pollfd(fd: current.socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 200)
            if ready < 0 && errno == EINTR { continue }
            guard ready != 0 else { continue }
            do {
                guard ready > 0 else { throw PostgresError(code: .connectionClosed, reason: "poll failed") }
                deliver(try current.takeNotifications())
            } catch {
                logger.debug("Postgres listener lost its connection", metadata: ["db.endpoint": "\(configuration.endpoint)"])
                current.finish()
                connection = nil
                shared.state.withLock { $0.listening = false }
            }
        }
    }

    /// 100 ms doubling per failure, capped at 5 s, with ±20 % jitter.
    private static func backoff(failures: Int) -> Duration {
        let base = min(5.0, 0.1 * pow(2.0, Double(min(failures - 1, 10))))
        return .milliseconds(Int(base * 1000 * Double.random(in: 0.8...1.2)))
    }

    /// Sleeps in short slices so that ``close()`` is noticed promptly.
    private static func sleep(_ duration: Duration, unless shared: Shared) {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: duration)
        while clock.now < deadline, !shared.state.withLock({ $0.stopped }) {
            Thread.sleep(forTimeInterval: 0.05)
        }
    }
}
