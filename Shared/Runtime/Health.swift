import Synchronization

/// What `/healthz` reports: each component sets its own status, and the service is healthy when
/// every registered component is.
public final class HealthRegistry: Sendable {
    /// The state of one component.
    public enum Status: Sendable, Equatable {
        /// Working.
        case healthy
        /// Not (yet) working, with a reason safe to show (no secrets).
        case unhealthy(String)
    }

    private let statuses = Mutex<[String: Status]>([:])

    public init() {}

    /// Sets the status of `component`.
    public func set(_ component: String, _ status: Status) {
        statuses.withLock { $0[component] = status }
    }

    /// Every component's status, sorted by name.
    public var snapshot: [(component: String, status: Status)] {
        statuses.withLock { $0 }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// True when every registered component is healthy.
    public var isHealthy: Bool { snapshot.allSatisfy { $0.status == .healthy } }
}
