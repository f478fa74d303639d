public import Domain
public import Foundation
public import Logging
import Postgres

/// Per-connection circuit breakers **shared by every replica through Postgres** (`erp_circuit_breakers`,
/// `deploy/migrations/0005_worker_runtime.sql`), so one failing ERP company does not take the workers' capacity
/// from the others, and every replica stops calling it as soon as one replica opened its breaker.
///
/// After `threshold` consecutive transient failures (`erp.transient`, `erp.outcome_unknown`,
/// `erp.invalid_response`, counted by any replica) the breaker opens for `cooldown`: jobs of that connection are
/// deferred at once, without an ERP call. When the cooldown ends **one** job (on any replica) is let through as a
/// probe; the others keep waiting while the probe's lease (`probeLease`) runs. A success (anywhere) closes the
/// breaker, a failure of the probe opens it again for `cooldown`. Every decision is one statement that locks the
/// connection's row and uses the database clock.
public struct CircuitBreakers: Sendable {
    /// What ``check(tenantID:connectionID:store:logger:)`` decided.
    public enum Decision: Sendable, Equatable {
        /// Closed (or not yet failing): call the ERP.
        case closed
        /// The cooldown ended and this caller is the one probe: call the ERP and report the result.
        case probe
        /// Open (or another caller is probing): do not call the ERP for `wait`.
        case open(wait: Duration)
    }

    /// One connection's breaker row.
    public struct State: Sendable, Equatable {
        /// Consecutive transient failures counted.
        public var consecutiveFailures: Int
        /// Until when it is open (nil: closed; may be in the past: a probe is due).
        public var openUntil: Date?
        /// Until when a probe holds the half-open breaker.
        public var probeUntil: Date?
        /// How often it opened.
        public var openedCount: Int64
    }

    /// Consecutive transient failures that open a breaker.
    public let threshold: Int
    /// How long an open breaker defers jobs.
    public let cooldown: Duration
    /// How long the probe job holds the half-open breaker before another job may probe (its ERP call's timeout
    /// plus margin; a probe that crashed frees the breaker after this).
    public let probeLease: Duration

    /// Creates the breakers. Defaults: 5 failures, 30 s cooldown, 120 s probe lease.
    public init(threshold: Int = 5, cooldown: Duration = .seconds(30), probeLease: Duration = .seconds(120)) {
        precondition(threshold > 0, "threshold must be positive")
        self.threshold = threshold
        self.cooldown = cooldown
        self.probeLease = probeLease
    }

    /// Decides whether a job of the connection may call the ERP (and takes the probe when one is due).
    public func check(
        tenantID: TenantID, connectionID: UUID, store: SyncStateStore, logger: Logger
    ) async throws -> Decision {
        let probe = SyncStateStore.seconds(probeLease)
        return try await store.inTenant(tenantID, logger: logger) { connection in
            let rows = try await connection.query(
                """
                WITH current AS (
                    SELECT connection_id, open_until, probe_until, clock_timestamp() AS at
                    FROM erp_circuit_breakers WHERE connection_id = \(connectionID) FOR UPDATE
                ), decided AS (
                    SELECT *, CASE WHEN open_until IS NULL THEN 'closed'
                                   WHEN open_until > at THEN 'open'
                                   WHEN probe_until IS NULL OR probe_until <= at THEN 'probe'
                                   ELSE 'probing' END AS decision
                    FROM current
                )
                UPDATE erp_circuit_breakers b
                SET probe_until = CASE WHEN decided.decision = 'probe'
                                       THEN decided.at + make_interval(secs => \(probe)) ELSE b.probe_until END,
                    updated_at = CASE WHEN decided.decision = 'probe' THEN decided.at ELSE b.updated_at END
                FROM decided
                WHERE b.connection_id = decided.connection_id
                RETURNING decided.decision,
                          GREATEST(0, extract(epoch FROM CASE WHEN decided.decision = 'open' THEN decided.open_until - decided.at
                                                             ELSE decided.probe_until - decided.at END))::float8::text AS wait
                """, logger: logger)
            guard let row = rows.first else { return .closed }
            switch try row.decode(String.self, "decision") {
            case "closed": return .closed
            case "probe": return .probe
            default:
                let seconds = Double(try row.decode(String?.self, "wait") ?? "") ?? 1
                return .open(wait: .milliseconds(max(10, Int64((seconds * 1000).rounded(.up)))))
            }
        }
    }

    /// Counts a transient failure of the connection; opens the breaker at the threshold, or again when the probe
    /// failed.
    /// - Returns: whether this failure opened the breaker (for the `circuit_opened` metric).
    @discardableResult
    public func recordFailure(
        tenantID: TenantID, connectionID: UUID, reason: ReasonCode, store: SyncStateStore, logger: Logger
    ) async throws -> Bool {
        let cooldown = SyncStateStore.seconds(self.cooldown)
        return try await store.inTenant(tenantID, logger: logger) { connection in
            let rows = try await connection.query(
                """
                INSERT INTO erp_circuit_breakers AS b (connection_id, tenant_id, consecutive_failures, open_until,
                                                       last_opened_at, opened_count, last_reason)
                VALUES (\(connectionID), \(tenantID.rawValue), 1,
                        CASE WHEN 1 >= \(threshold) THEN now() + make_interval(secs => \(cooldown)) END,
                        CASE WHEN 1 >= \(threshold) THEN now() END, CASE WHEN 1 >= \(threshold) THEN 1 ELSE 0 END,
                        \(reason.rawValue))
                ON CONFLICT (connection_id) DO UPDATE
                SET consecutive_failures = b.consecutive_failures + 1,
                    open_until = CASE WHEN (b.open_until IS NULL OR b.open_until <= now())
                                            AND (b.consecutive_failures + 1 >= \(threshold) OR b.probe_until IS NOT NULL)
                                      THEN now() + make_interval(secs => \(cooldown)) ELSE b.open_until END,
                    last_opened_at = CASE WHEN (b.open_until IS NULL OR b.open_until <= now())
                                            AND (b.consecutive_failures + 1 >= \(threshold) OR b.probe_until IS NOT NULL)
                                      THEN now() ELSE b.last_opened_at END,
                    opened_count = b.opened_count
                        + CASE WHEN (b.open_until IS NULL OR b.open_until <= now())
                                     AND (b.consecutive_failures + 1 >= \(threshold) OR b.probe_until IS NOT NULL)
                               THEN 1 ELSE 0 END,
                    probe_until = CASE WHEN b.open_until IS NULL OR b.open_until <= now() THEN NULL ELSE b.probe_until END,
                    last_reason = EXCLUDED.last_reason, updated_at = now()
                RETURNING (last_opened_at IS NOT NULL AND last_opened_at = now()) AS opened
                """, logger: logger)
            return try rows.first?.decode(Bool.self, "opened") ?? false
        }
    }

    /// Records a success of the connection: closes the breaker and resets the count (no write when it is
    /// already closed with no failures).
    public func recordSuccess(tenantID: TenantID, connectionID: UUID, store: SyncStateStore, logger: Logger) async throws {
        try await store.inTenant(tenantID, logger: logger) { connection in
            try await connection.execute(
                """
                UPDATE erp_circuit_breakers
                SET consecutive_failures = 0, open_until = NULL, probe_until = NULL, updated_at = now()
                WHERE connection_id = \(connectionID)
                  AND (consecutive_failures > 0 OR open_until IS NOT NULL OR probe_until IS NOT NULL)
                """, logger: logger)
        }
    }

    /// The connection's breaker row, or nil when it never failed.
    public func state(tenantID: TenantID, connectionID: UUID, store: SyncStateStore, logger: Logger) async throws -> State? {
        try await store.inTenant(tenantID, logger: logger) { connection in
            try await connection.query(
                """
                SELECT consecutive_failures, open_until, probe_until, opened_count FROM erp_circuit_breakers
                WHERE connection_id = \(connectionID)
                """, logger: logger
            ).first.map {
                State(
                    consecutiveFailures: try $0.decode(Int.self, "consecutive_failures"),
                    openUntil: try $0.decode(Date?.self, "open_until"), probeUntil: try $0.decode(Date?.self, "probe_until"),
                    openedCount: try $0.decode(Int64.self, "opened_count"))
            }
        }
    }
}
