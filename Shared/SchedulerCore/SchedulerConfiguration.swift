import Foundation
public import Scheduling

/// What the fire engine and the scheduler loop need to know (the executable reads it from the environment).
public struct SchedulerConfiguration: Sendable {
    /// The exchange sync jobs go to (routing key = the ERP slug).
    public var jobsExchange = "ledgerline.jobs"
    /// The exchange of the session audit events.
    public var auditExchange = "ledgerline.audit"
    /// Who fires, recorded in `schedule_fires.fired_by` (e.g. `scheduler@host:pid`).
    public var instanceID = "scheduler"
    /// Triggers handled per transaction.
    public var batchSize = 500
    /// Invoice ids per `push_batch` job of an end-of-day batch.
    public var batchChunkSize = 100
    /// How missed windows are caught up.
    public var catchUp = CatchUpPolicy()
    /// Only connections of tenants whose id starts with this (tests share a database); nil: all.
    public var tenantPrefix: String?
    /// Default triggers given to an active connection that has none: interval sweep (seconds, nil: none).
    public var defaultIntervalSeconds: Int? = 7200
    /// Default pull interval for connections that pull anything (seconds, nil: none).
    public var defaultPullSeconds: Int? = 7200
    /// Whether a new connection gets the initial full sync.
    public var defaultInitialSync = true
    /// Spread interval and pull windows per connection (``Schedule/spreadPhase(connection:interval:)``); false
    /// aligns them to UTC multiples of the interval.
    public var spreadIntervals = true
    /// A fire this long after its window's time is recorded as a catch-up.
    public var catchUpThreshold: TimeInterval = 60
    /// The advisory-lock key that elects the leader (one per deployment; tests use their own).
    public var leaderLockKey: Int64 = 0x4C4C_5343_4845_44  // "LLSCHED"
    /// How often a replica that is not the leader tries to become it.
    public var leaderRetry: Duration = .seconds(1)
    /// The longest the leader sleeps between passes (it also wakes for the next due trigger); bounds how late
    /// a trigger changed by `syncctl schedule set` is planned and how soon a lost lock is noticed.
    public var maxIdle: Duration = .seconds(5)
    /// How often the leader gives connections without triggers their defaults.
    public var defaultsInterval: TimeInterval = 10

    /// The defaults (production values).
    public init() {}
}

/// A scheduler failure that is not a database error.
public struct SchedulerError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// The connection does not exist.
        public static let unknownConnection = Code("unknownConnection")
        /// The connection is not active (paused, needs re-authorization, disconnected).
        public static let connectionInactive = Code("connectionInactive")
        /// A setting is invalid (e.g. an unknown time zone).
        public static let invalidSetting = Code("invalidSetting")
        public var description: String { name }
    }

    /// What went wrong.
    public var code: Code
    /// The connection concerned, if any.
    public var connectionID: UUID?
    /// Safe to log.
    public var reason: String

    /// An error with its code, the connection concerned and a reason safe to log.
    public init(code: Code, connectionID: UUID? = nil, reason: String) {
        self.code = code
        self.connectionID = connectionID
        self.reason = reason
    }

    public var description: String {
        "scheduler error \(code)\(connectionID.map { " (connection \($0.uuidString.lowercased()))" } ?? ""): \(reason)"
    }
}
