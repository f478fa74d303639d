import Foundation
import Runtime
import SchedulerCore
import Scheduling

/// The scheduler's own settings, read from the environment (documented in `docs/scheduler.md`).
///
/// - `LEDGERLINE_SCHEDULER_INSTANCE_ID` (default `scheduler@<host>:<pid>`): recorded in `schedule_fires.fired_by`.
/// - `LEDGERLINE_SCHEDULER_RELAY_ENABLED` (default `true`): run an outbox relay in this process.
/// - `LEDGERLINE_SCHEDULER_JOBS_EXCHANGE` (`ledgerline.jobs`), `LEDGERLINE_SCHEDULER_AUDIT_EXCHANGE` (`ledgerline.audit`).
/// - `LEDGERLINE_SCHEDULER_BATCH_SIZE` (500): triggers per transaction.
/// - `LEDGERLINE_SCHEDULER_CATCH_UP_DAYS` (7): missed end-of-day batches fired after an outage (newest first kept).
/// - `LEDGERLINE_SCHEDULER_DEFAULT_INTERVAL` (`2h`, `off`), `LEDGERLINE_SCHEDULER_DEFAULT_PULL` (`2h`, `off`),
///   `LEDGERLINE_SCHEDULER_DEFAULT_INITIAL` (`true`): the triggers a connection without any gets.
/// - `LEDGERLINE_SCHEDULER_LOCK_KEY` (default 21479887185642564): the leader's advisory-lock key.
/// - `LEDGERLINE_SCHEDULER_LEADER_RETRY_SECONDS` (1), `LEDGERLINE_SCHEDULER_MAX_IDLE_SECONDS` (5).
/// - `LEDGERLINE_SCHEDULER_SPREAD_INTERVALS` (`true`): spread interval and pull windows per connection over up to
///   an hour (`Schedule.spreadPhase`); `false` aligns them to UTC multiples of the interval.
/// - `LEDGERLINE_SCHEDULER_TENANT_PREFIX` (unset): only tenants whose id starts with this (tests).
struct SchedulerSettings {
    var core = SchedulerConfiguration()
    var relayEnabled = true

    init(settings: Settings) throws {
        core.instanceID = settings.string(
            "LEDGERLINE_SCHEDULER_INSTANCE_ID",
            default: "scheduler@\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)")
        relayEnabled = try settings.choice("LEDGERLINE_SCHEDULER_RELAY_ENABLED", default: Switch.true).isOn
        core.jobsExchange = settings.string("LEDGERLINE_SCHEDULER_JOBS_EXCHANGE", default: core.jobsExchange)
        core.auditExchange = settings.string("LEDGERLINE_SCHEDULER_AUDIT_EXCHANGE", default: core.auditExchange)
        core.batchSize = try settings.int("LEDGERLINE_SCHEDULER_BATCH_SIZE", default: core.batchSize, range: 1...10_000)
        core.catchUp = CatchUpPolicy(
            maxEndOfDayDays: try settings.int("LEDGERLINE_SCHEDULER_CATCH_UP_DAYS", default: 7, range: 1...366))
        core.defaultIntervalSeconds = try Self.interval(settings, "LEDGERLINE_SCHEDULER_DEFAULT_INTERVAL", default: 7200)
        core.defaultPullSeconds = try Self.interval(settings, "LEDGERLINE_SCHEDULER_DEFAULT_PULL", default: 7200)
        core.defaultInitialSync = try settings.choice("LEDGERLINE_SCHEDULER_DEFAULT_INITIAL", default: Switch.true).isOn
        if let key = settings.raw("LEDGERLINE_SCHEDULER_LOCK_KEY") {
            guard let value = Int64(key) else {
                throw ConfigurationError(key: "LEDGERLINE_SCHEDULER_LOCK_KEY", problem: "must be a 64-bit integer, got \"\(key)\"")
            }
            core.leaderLockKey = value
        }
        core.leaderRetry = try settings.seconds("LEDGERLINE_SCHEDULER_LEADER_RETRY_SECONDS", default: core.leaderRetry, range: 0.05...60)
        core.maxIdle = try settings.seconds("LEDGERLINE_SCHEDULER_MAX_IDLE_SECONDS", default: core.maxIdle, range: 0.05...300)
        core.tenantPrefix = settings.raw("LEDGERLINE_SCHEDULER_TENANT_PREFIX")
        core.spreadIntervals = try settings.choice("LEDGERLINE_SCHEDULER_SPREAD_INTERVALS", default: Switch.true).isOn
    }

    static func interval(_ settings: Settings, _ key: String, default value: Int) throws -> Int? {
        guard let text = settings.raw(key) else { return value }
        if ["off", "none", "false"].contains(text.lowercased()) { return nil }
        guard let seconds = Schedule.parseInterval(text), seconds >= 60 else {
            throw ConfigurationError(key: key, problem: "must be an interval such as 2h, 30m or 1d (at least 1m), or off; got \"\(text)\"")
        }
        return seconds
    }

    /// `true`/`false` settings.
    enum Switch: String, CaseIterable {
        case `true`, `false`, on, off, yes, no, one = "1", zero = "0"
        var isOn: Bool { [.true, .on, .yes, .one].contains(self) }
    }

    static let usage = """
        scheduler — fires the sync triggers of every ERP connection (interval sweeps, end-of-day batches in each
        location's time zone, pulls, the initial sync), exactly once per window, as the leader of its replicas.
        Configure triggers with `syncctl schedule`; see docs/scheduler.md for the settings (LEDGERLINE_SCHEDULER_*).
        """
}
