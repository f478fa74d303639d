import ArgumentParser
import AuditTrail
import Foundation
import Postgres

/// `syncctl log`: the sync log (sessions, their events, a record's history) for operators.
struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Show the sync log: sessions, the events of a session, the history of a record.",
        subcommands: [LogSessions.self, LogEvents.self, LogRecord.self])
}

/// Filters shared by the `log` subcommands.
struct LogFilterOptions: ParsableArguments {
    @Option(help: "Only this tenant (also needed to see anything when the database role is under row-level security).")
    var tenant: String?

    @Option(help: "Only this location.")
    var location: String?

    @Option(help: "Only this ERP (e.g. xero, quickbooks-online).")
    var erp: String?

    @Option(help: "From this time on (ISO 8601, e.g. 2025-03-01 or 2025-03-01T08:00:00Z).")
    var since: String?

    @Option(help: "Before this time (ISO 8601).")
    var until: String?

    @Option(help: "Sessions: open, completed, completed_with_failures, failed. Events: succeeded, skipped, failed, rejected, deferred, parked, not_synced.")
    var result: String?

    @Option(help: "At most this many rows.")
    var limit = 50

    @Flag(help: "Print JSON for scripts.")
    var json = false

    func filter() throws -> SyncLogFilter {
        SyncLogFilter(
            tenantID: tenant, locationID: location, erp: erp, since: try since.map { try Self.parseTime($0, "--since") },
            until: try until.map { try Self.parseTime($0, "--until") }, result: result, limit: limit)
    }

    static func parseTime(_ text: String, _ option: String) throws -> Date {
        if let date = try? Date(text, strategy: .iso8601) { return date }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle().year().month().day()) { return date }
        throw ValidationError("\(option) must be an ISO 8601 date or time, e.g. 2025-03-01 or 2025-03-01T08:00:00Z")
    }
}

struct LogSessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "List sync sessions, newest first, with counts of customers / invoices / payments created, updated, skipped and failed.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var options: LogFilterOptions

    func run() async throws {
        let connection = try await connectPostgres(common)
        defer { connection.close() }
        let sessions = try await SyncLog.sessions(try options.filter(), on: connection, logger: common.logger)
        if options.json {
            print(try SyncLogFormatter.json(sessions))
        } else if sessions.isEmpty {
            print("No sessions match.\(options.tenant == nil ? " (Pass --tenant when the database role is under row-level security.)" : "")")
        } else {
            print(SyncLogFormatter.sessionsTable(sessions))
        }
    }
}

struct LogEvents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "List the events of one session: time, description, record, result and the reason for every record not synced.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var options: LogFilterOptions

    @Argument(help: "The session id, or the first 8 characters `log sessions` prints.")
    var session: String

    func run() async throws {
        let connection = try await connectPostgres(common)
        defer { connection.close() }
        let events: [SyncEventEntry]
        do {
            events = try await SyncLog.events(session: session, try options.filter(), on: connection, logger: common.logger)
        } catch let error as AuditTrailError {
            FileHandle.standardError.write(Data("syncctl: \(error.detail)\n".utf8))
            throw ExitCode(1)
        }
        if options.json {
            print(try SyncLogFormatter.json(events))
        } else if events.isEmpty {
            print("The session has no matching events.")
        } else {
            print(SyncLogFormatter.eventsTable(events))
        }
    }
}

struct LogRecord: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Show everything that happened to one record (e.g. an invoice number): received, rejected, each sync attempt, with trace ids.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var options: LogFilterOptions

    @Argument(help: "The shop's invoice number or id (or a customer / payment id).")
    var reference: String

    func run() async throws {
        let connection = try await connectPostgres(common)
        defer { connection.close() }
        let events = try await SyncLog.record(reference, try options.filter(), on: connection, logger: common.logger)
        if options.json {
            print(try SyncLogFormatter.json(events))
        } else if events.isEmpty {
            print("Nothing recorded for \(reference).")
        } else {
            print(SyncLogFormatter.eventsTable(events))
            print("")
            print(SyncLogFormatter.traceTable(events))
        }
    }
}
