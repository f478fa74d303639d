import ArgumentParser
import Foundation
import Postgres
import Runtime
import SchedulerCore
import Scheduling

/// `syncctl schedule`: the triggers of ERP connections (docs/scheduler.md).
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Show and change the sync triggers of ERP connections: interval sweeps, end-of-day batches, pulls.",
        subcommands: [ScheduleSet.self, ScheduleList.self])
}

/// `syncctl schedule set <connection-id> [--interval 2h|off] [--end-of-day on|off [--end-of-day-time 23:59]]
/// [--pull 2h|off] [--initial on|off]`.
struct ScheduleSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Change a connection's triggers; each is planned again from now (no catch-up of earlier windows).",
        discussion: """
            Intervals: 30m, 2h, 1d, hourly, daily (at least 1m). Each connection's windows are shifted by a \
            fixed phase of less than an hour (derived from its id) so that connections do not all fire at once; \
            `schedule list` shows the times. The end-of-day batch runs at --end-of-day-time (default 23:59) on the wall \
            clock of the connection's location (locations.time_zone), once per local business day.
            """)

    @OptionGroup var common: CommonOptions

    @Argument(help: "The connection id (erp_connections.connection_id).")
    var connection: String

    @Option(help: "Interval sweeps: an interval (e.g. 2h, 30m, hourly, daily) or off.")
    var interval: String?

    @Option(name: .customLong("end-of-day"), help: "The end-of-day batch: on or off.")
    var endOfDay: String?

    @Option(name: .customLong("end-of-day-time"), help: "The local time of the end-of-day batch, HH:MM (default 23:59).")
    var endOfDayTime: String?

    @Option(help: "Pulls from the ERP (two-way sync): an interval (e.g. 2h) or off.")
    var pull: String?

    @Option(help: "The initial full sync (fires once per connection): on or off.")
    var initial: String?

    func validate() throws {
        guard UUID(uuidString: connection) != nil else { throw ValidationError("the connection id must be a UUID") }
        guard interval != nil || endOfDay != nil || endOfDayTime != nil || pull != nil || initial != nil else {
            throw ValidationError("nothing to change: give --interval, --end-of-day, --end-of-day-time, --pull or --initial")
        }
    }

    func changes() throws -> [TriggerChange] {
        var changes: [TriggerChange] = []
        if let interval { changes.append(.interval(seconds: try Self.interval(interval, "--interval"))) }
        if endOfDay != nil || endOfDayTime != nil {
            let time = try endOfDayTime.map { text -> LocalTimeOfDay in
                guard let time = LocalTimeOfDay(text) else { throw ValidationError("--end-of-day-time must be HH:MM, e.g. 23:59") }
                return time
            }
            changes.append(.endOfDay(enabled: try Self.switchValue(endOfDay ?? "on", "--end-of-day"), time: time))
        }
        if let pull { changes.append(.pull(seconds: try Self.interval(pull, "--pull"))) }
        if let initial { changes.append(.initial(enabled: try Self.switchValue(initial, "--initial"))) }
        return changes
    }

    static func interval(_ text: String, _ option: String) throws -> Int? {
        if ["off", "none"].contains(text.lowercased()) { return nil }
        guard let seconds = Schedule.parseInterval(text), seconds >= 60 else {
            throw ValidationError("\(option) must be an interval such as 30m, 2h, 1d, hourly or daily (at least 1m), or off")
        }
        return seconds
    }

    static func switchValue(_ text: String, _ option: String) throws -> Bool {
        switch text.lowercased() {
        case "on", "true", "yes": return true
        case "off", "false", "no": return false
        default: throw ValidationError("\(option) must be on or off")
        }
    }

    func run() async throws {
        let id = UUID(uuidString: connection)!
        let changes = try changes()
        let postgres = try await connectPostgres(common)
        defer { postgres.close() }
        let now = Date()
        do {
            try await postgres.withTransaction(logger: common.logger) { transaction in
                for change in changes {
                    try await ScheduleStore.apply(change, connectionID: id, now: now, on: transaction, logger: common.logger)
                }
            }
        } catch let error as SchedulerError {
            FileHandle.standardError.write(Data("syncctl: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let triggers = try await ScheduleStore.list(connectionID: id, on: postgres, logger: common.logger)
        print(ScheduleFormatter.table(triggers, now: now))
    }
}

/// `syncctl schedule list [--connection ID]`: every trigger with its next fire time.
struct ScheduleList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List triggers with their next fire time (UTC and the location's local time) and the last window fired.")

    @OptionGroup var common: CommonOptions

    @Option(help: "Only this connection.")
    var connection: String?

    @Option(help: "Only tenants whose id starts with this.")
    var tenantPrefix: String?

    func run() async throws {
        var id: UUID?
        if let connection {
            guard let parsed = UUID(uuidString: connection) else { throw ValidationError("--connection must be a UUID") }
            id = parsed
        }
        let postgres = try await connectPostgres(common)
        defer { postgres.close() }
        let triggers = try await ScheduleStore.list(
            connectionID: id, tenantPrefix: tenantPrefix, on: postgres, logger: common.logger)
        print(triggers.isEmpty ? "No triggers." : ScheduleFormatter.table(triggers, now: Date()))
    }
}

/// `syncctl sync <connection-id>`: "Sync now".
struct SyncNow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Sync a connection now: enqueue every invoice not synced yet (and a pull when the connection pulls).",
        discussion: """
            Prints the sync-log session id (see `syncctl log events <session-id>`) and the jobs enqueued. The jobs \
            go through the outbox; a running ingest or scheduler relays them.
            """)

    @OptionGroup var common: CommonOptions

    @Argument(help: "The connection id (erp_connections.connection_id).")
    var connection: String

    func validate() throws {
        guard UUID(uuidString: connection) != nil else { throw ValidationError("the connection id must be a UUID") }
    }

    func run() async throws {
        let configuration = try common.settings.postgres(applicationName: "syncctl")
        // One attempt to connect first, with syncctl's --wait retries; then a one-connection pool for the fire.
        try await connectPostgres(common).close()
        let pool = PostgresPool(configuration: configuration, maxConnections: 1, logger: common.logger)
        defer { pool.close() }
        var settings = SchedulerConfiguration()
        settings.jobsExchange = common.settings.string("LEDGERLINE_SCHEDULER_JOBS_EXCHANGE", default: settings.jobsExchange)
        settings.auditExchange = common.settings.string("LEDGERLINE_SCHEDULER_AUDIT_EXCHANGE", default: settings.auditExchange)
        let engine = FireEngine(pool: pool, configuration: settings, logger: common.logger)
        do {
            let user = ProcessInfo.processInfo.environment["USER"] ?? "operator"
            let fire = try await engine.fireManual(
                connectionID: UUID(uuidString: connection)!, now: Date(), firedBy: "syncctl (\(user))")
            print("session_id=\(fire.sessionID.uuidString.lowercased())")
            print("window=\(fire.windowKey)")
            print("jobs_enqueued=\(fire.jobs)")
            print("invoices_enqueued=\(fire.invoices)")
        } catch let error as SchedulerError {
            FileHandle.standardError.write(Data("syncctl: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}

/// Text output of `syncctl schedule`.
enum ScheduleFormatter {
    static func table(_ triggers: [TriggerSettings], now: Date) -> String {
        var rows = [["connection", "tenant/location", "erp", "trigger", "setting", "enabled", "next fire (UTC)", "next fire (local)", "last window"]]
        for trigger in triggers {
            let setting: String =
                switch trigger.kind {
                case .interval, .pull: trigger.intervalSeconds.map { "every \(Schedule.formatInterval($0))" } ?? "-"
                case .endOfDay: "\(trigger.endOfDayTime?.description ?? "23:59") \(trigger.timeZone)"
                case .initial: "once"
                case .manual: "-"
                }
            let next = trigger.upcomingFire
            rows.append([
                trigger.connectionID.uuidString.lowercased(), "\(trigger.tenantID)/\(trigger.locationID)", trigger.erp,
                trigger.kind.rawValue, setting, trigger.enabled ? "yes" : "no",
                next.map { Schedule.utcKey($0) + (($0 < now) ? " (due)" : "") } ?? "-",
                next.map { local($0, trigger.zone) } ?? "-", trigger.lastWindowKey ?? "-",
            ])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }

    static func local(_ instant: Date, _ zone: TimeZone) -> String {
        let day = ZonedTime.localDate(of: instant, in: zone)
        let seconds = Int(instant.timeIntervalSince1970) + zone.secondsFromGMT(for: instant) - day.dayNumber * 86_400
        let hour = seconds / 3600, minute = seconds / 60 % 60
        return "\(day) \(hour < 10 ? "0" : "")\(hour):\(minute < 10 ? "0" : "")\(minute) \(zone.abbreviation(for: instant) ?? zone.identifier)"
    }
}
