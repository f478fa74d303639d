public import BlockingIO
public import Logging
public import ServiceLifecycle
import Synchronization

/// One external dependency a service needs before it takes work: a name, the endpoint shown in
/// logs (`host:port`), and a probe that throws while the dependency cannot be reached.
public struct DependencyCheck: Sendable {
    public var name: String
    public var endpoint: String
    public var probe: @Sendable () async throws -> Void

    public init(name: String, endpoint: String, probe: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.endpoint = endpoint
        self.probe = probe
    }
}

/// Waits, with backoff and a clear log line per failed attempt, until every dependency answers;
/// then opens so that the services behind it start taking work. Health shows each dependency.
///
/// A service that starts before its broker or database is up therefore waits and retries instead
/// of crash-looping, and `/healthz` says what it is waiting for.
public final class DependencyGate: Service, Sendable {
    private let checks: [DependencyCheck]
    private let health: HealthRegistry
    private let logger: Logger
    private let backoff: Backoff
    private let state = Mutex<State>(.waiting([]))

    private enum State {
        case waiting([CheckedContinuation<Void, any Error>])
        case open
        case failed(any Error)
    }

    /// - Parameters:
    ///   - checks: the dependencies, probed in order.
    ///   - health: where each dependency's status is shown.
    ///   - backoff: waits between failed probes.
    ///   - logger: the service logger.
    public init(checks: [DependencyCheck], health: HealthRegistry,
                backoff: Backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(15)), logger: Logger) {
        self.checks = checks
        self.health = health
        self.logger = logger
        self.backoff = backoff
        for check in checks { health.set(check.name, .unhealthy("not checked yet")) }
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                for check in self.checks {
                    try await retryUntilConnected(
                        dependency: check.name, endpoint: check.endpoint, backoff: self.backoff, logger: self.logger
                    ) {
                        do {
                            try await check.probe()
                        } catch {
                            self.health.set(check.name, .unhealthy("cannot reach \(check.endpoint): \(error)"))
                            throw error
                        }
                    }
                    self.health.set(check.name, .healthy)
                }
            }
            open(with: nil)
        } catch {
            open(with: error is CancellationError ? GateClosed() : error)
        }
    }

    /// Returns once every dependency answered; throws if the gate was shut down before that.
    public func waitUntilOpen() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let resume: Result<Void, any Error>? = state.withLock { state in
                switch state {
                case .waiting(var waiters):
                    waiters.append(continuation)
                    state = .waiting(waiters)
                    return nil
                case .open: return .success(())
                case .failed(let error): return .failure(error)
                }
            }
            if let resume { continuation.resume(with: resume) }
        }
    }

    private func open(with error: (any Error)?) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            guard case .waiting(let waiters) = state else { return [] }
            state = error.map { .failed($0) } ?? .open
            return waiters
        }
        for waiter in waiters {
            if let error { waiter.resume(throwing: error) } else { waiter.resume() }
        }
    }

    /// The service shut down before its dependencies answered.
    public struct GateClosed: Error, CustomStringConvertible {
        public var description: String { "shut down before dependencies were reachable" }
    }
}
