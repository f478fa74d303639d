import Foundation
public import Logging
import Metrics
public import Postgres
public import Scheduling
import Synchronization

/// The scheduler's timer loop: elect a leader; the leader runs the ``FireEngine`` whenever a trigger is due
/// (by the injected ``SchedulerClock``), gives new connections their default triggers, and checks its lock
/// before every pass. Replicas that are not the leader retry the lock every
/// ``SchedulerConfiguration/leaderRetry``.
///
/// ``run()`` returns when its task is cancelled (the executable cancels it on graceful shutdown); it then
/// resigns the leadership so that another replica takes over at once.
public final class SchedulerLoop: Sendable {
    /// What the loop is doing, for `/healthz` and tests.
    public enum Role: String, Sendable {
        case starting, standby, leader, stopped
    }

    /// Counters since start.
    public struct Statistics: Sendable {
        /// What the replica does now.
        public var role: Role = .starting
        /// Passes run as the leader.
        public var passes = 0
        /// Windows fired.
        public var fires = 0
        /// Jobs enqueued.
        public var jobs = 0
        /// The latest error of a pass (nil after a good pass).
        public var lastError: String?
        /// Times this replica became the leader.
        public var elections = 0
    }

    private let engine: FireEngine
    private let election: LeaderElection
    private let pool: PostgresPool
    private let clock: any SchedulerClock
    private let configuration: SchedulerConfiguration
    private let logger: Logger
    private let state = Mutex(Statistics())
    private let onRoleChange: (@Sendable (Role, String?) -> Void)?

    /// - Parameters:
    ///   - pool: the scheduler's pool (fire transactions).
    ///   - postgres: the database settings for the leader-lock connection.
    ///   - clock: the time (``SystemClock`` in production).
    ///   - onRoleChange: told when the role changes or a pass fails (health reporting).
    public init(
        pool: PostgresPool, postgres: PostgresConfiguration, clock: any SchedulerClock,
        configuration: SchedulerConfiguration, logger: Logger, onRoleChange: (@Sendable (Role, String?) -> Void)? = nil
    ) {
        self.pool = pool
        self.clock = clock
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "component"] = "scheduler"
        self.logger = logger
        self.engine = FireEngine(pool: pool, configuration: configuration, logger: logger)
        self.election = LeaderElection(configuration: postgres, key: configuration.leaderLockKey, logger: logger)
        self.onRoleChange = onRoleChange
    }

    /// The counters so far.
    public var statistics: Statistics { state.withLock { $0 } }

    /// The fire engine (for `syncctl`-style manual fires from the same process).
    public var fireEngine: FireEngine { engine }

    /// Simulates a crash of the leader's lock connection (tests): the lock is released by the server; this
    /// replica notices at its next check.
    public func dropLeaderConnection() {
        election.dropConnection()
    }

    /// Runs until the task is cancelled.
    public func run() async {
        defer {
            election.resign()
            setRole(.stopped, nil)
        }
        var lastDefaults = Date.distantPast
        setRole(.standby, nil)
        while !Task.isCancelled {
            let leader = statistics.role == .leader ? await election.confirm() : await election.tryAcquire()
            if !leader {
                if statistics.role == .leader {
                    logger.warning("Leadership lost; standing by")
                }
                setRole(.standby, nil)
                // Real time, not the schedule's clock: the lock frees when a process dies, whatever the schedule says.
                do { try await Task.sleep(for: configuration.leaderRetry) } catch { return }
                continue
            }
            if statistics.role != .leader {
                logger.info("Elected leader", metadata: ["instance": "\(configuration.instanceID)"])
                state.withLock { $0.elections += 1 }
                setRole(.leader, nil)
            }
            var wake = clock.now().addingTimeInterval(configuration.maxIdle.seconds)
            do {
                let now = clock.now()
                if now.timeIntervalSince(lastDefaults) >= configuration.defaultsInterval || now < lastDefaults {
                    lastDefaults = now
                    let added = try await pool.withConnection(logger: logger) { connection in
                        try await ScheduleStore.addDefaults(configuration: configuration, now: now, on: connection, logger: logger)
                    }
                    if added > 0 { logger.info("Default triggers added", metadata: ["triggers": "\(added)"]) }
                    let moved = try await engine.replanMovedLocations()
                    if moved > 0 { logger.info("End-of-day triggers planned again in a new time zone", metadata: ["triggers": "\(moved)"]) }
                }
                let passStart = ContinuousClock.now
                let report = try await engine.runDue(now: now)
                SchedulerMetrics.pass(report, since: passStart)
                state.withLock { statistics in
                    statistics.passes += 1
                    statistics.fires += report.fired.count
                    statistics.jobs += report.fired.reduce(0) { $0 + $1.jobs }
                    statistics.lastError = nil
                }
                if !report.fired.isEmpty {
                    logger.info("Windows fired", metadata: [
                        "fires": "\(report.fired.count)", "jobs": "\(report.fired.reduce(0) { $0 + $1.jobs })",
                        "catch_up": "\(report.fired.filter(\.catchUp).count)", "already_fired": "\(report.alreadyFired)",
                    ])
                }
                if let next = try await engine.nextDue(now: clock.now()), next < wake { wake = next }
                onRoleChange?(.leader, nil)
            } catch is CancellationError {
                return
            } catch {
                state.withLock { $0.lastError = "\(error)" }
                logger.warning("Scheduler pass failed; retried", metadata: ["error": "\(error)"])
                onRoleChange?(.leader, "pass failed: \(error)")
                wake = clock.now().addingTimeInterval(1)
            }
            if Task.isCancelled { return }
            // Never spin: a trigger due but locked by another replica is retried shortly.
            wake = max(wake, clock.now().addingTimeInterval(0.02))
            do { try await clock.sleep(until: wake) } catch { return }
        }
    }

    private func setRole(_ role: Role, _ problem: String?) {
        let changed = state.withLock { statistics -> Bool in
            defer { statistics.role = role }
            return statistics.role != role
        }
        SchedulerMetrics.leader(role == .leader)
        if changed { onRoleChange?(role, problem) }
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: TimeInterval {
        TimeInterval(components.seconds) + TimeInterval(components.attoseconds) / 1e18
    }
}

/// The scheduler's metrics (swift-metrics; Prometheus names, low-cardinality labels).
///
/// | name | type | labels |
/// |---|---|---|
/// | `ledgerline_scheduler_fires_total` | counter | `trigger` (interval, end_of_day, pull, initial), `catch_up` (true, false) |
/// | `ledgerline_scheduler_jobs_enqueued_total` | counter | — |
/// | `ledgerline_scheduler_windows_skipped_total` | counter | — (missed windows the catch-up policy skipped) |
/// | `ledgerline_scheduler_fire_lateness_seconds` | timer | — (fire time minus the window's time) |
/// | `ledgerline_scheduler_pass_seconds` | timer | — (one pass over the due triggers) |
/// | `ledgerline_scheduler_leader` | gauge | — (1 while this replica leads) |
enum SchedulerMetrics {
    private static let jobs = Counter(label: "ledgerline_scheduler_jobs_enqueued_total")
    private static let skipped = Counter(label: "ledgerline_scheduler_windows_skipped_total")
    private static let lateness = Timer(label: "ledgerline_scheduler_fire_lateness_seconds")
    private static let passDuration = Timer(label: "ledgerline_scheduler_pass_seconds")
    private static let leaderGauge = Gauge(label: "ledgerline_scheduler_leader")

    static func pass(_ report: PassReport, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        passDuration.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        if report.skipped > 0 { skipped.increment(by: report.skipped) }
        guard !report.fired.isEmpty else { return }
        var counts: [String: Int] = [:]
        var enqueued = 0
        for fire in report.fired {
            counts["\(fire.trigger.rawValue)|\(fire.catchUp)", default: 0] += 1
            enqueued += fire.jobs
            lateness.recordNanoseconds(Int64(max(0, fire.firedAt.timeIntervalSince(fire.scheduledFor)) * 1e9))
        }
        for (key, count) in counts {
            let parts = key.split(separator: "|").map(String.init)
            Counter(label: "ledgerline_scheduler_fires_total", dimensions: [("trigger", parts[0]), ("catch_up", parts[1])])
                .increment(by: count)
        }
        if enqueued > 0 { jobs.increment(by: enqueued) }
    }

    static func leader(_ isLeader: Bool) {
        leaderGauge.record(isLeader ? 1 : 0)
    }
}
