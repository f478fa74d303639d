import AMQP
import ArgumentParser
import Foundation
import Logging
import Postgres
import Runtime

/// `syncctl`: the operator's command line for Ledgerline.
@main
struct Syncctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "syncctl",
        abstract: "Operate Ledgerline: database migrations, RabbitMQ topology, status.",
        discussion: """
            Connection settings come from the environment (LEDGERLINE_POSTGRES_URL, \
            LEDGERLINE_POSTGRES_PASSWORD, LEDGERLINE_AMQP_URL, LEDGERLINE_AMQP_PASSWORD); \
            `deploy/local-stack.sh env` prints them for the local stack.
            """,
        subcommands: [Migrate.self, Topology.self, Status.self, ConnectionCommand.self, AuditCommand.self, LogCommand.self,
                      ScheduleCommand.self, SyncNow.self])
}

/// Options every subcommand shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "How long to keep retrying an unreachable database or broker, in seconds.")
    var wait: Double = 30

    @Flag(help: "Log each retry and step (to standard error).")
    var verbose = false

    var settings: Settings { Settings() }

    var logger: Logger {
        let level: Logger.Level = verbose ? .debug : .warning
        return Logger(label: "ledgerline.syncctl") { label in
            StructuredLogHandler(label: label, level: level, format: .text)
        }
    }

    var waitLimit: Duration { .milliseconds(Int64(max(wait, 0) * 1000)) }
}

/// Connects to Postgres, retrying with backoff for up to `--wait` seconds.
func connectPostgres(_ options: CommonOptions) async throws -> PostgresConnection {
    let configuration = try options.settings.postgres(applicationName: "syncctl")
    let logger = options.logger
    return try await withTimeLimit(options.waitLimit, what: "connecting to Postgres at \(configuration.host):\(configuration.port)") {
        try await retryUntilConnected(dependency: "postgres", endpoint: "\(configuration.host):\(configuration.port)", logger: logger) {
            try await PostgresConnection.connect(configuration: configuration, logger: logger)
        }
    }
}

/// Connects to RabbitMQ, retrying with backoff for up to `--wait` seconds.
func connectBroker(_ options: CommonOptions) async throws -> AMQPAdmin {
    let configuration = try options.settings.amqp()
    let logger = options.logger
    return try await withTimeLimit(options.waitLimit, what: "connecting to RabbitMQ at \(configuration.host):\(configuration.port)") {
        try await retryUntilConnected(dependency: "rabbitmq", endpoint: "\(configuration.host):\(configuration.port)", logger: logger) {
            try await AMQPAdmin.connect(configuration: configuration, logger: logger)
        }
    }
}

/// Where a file of the repository is, relative to the working directory unless overridden.
func deployPath(_ settings: Settings, key: String, default relative: String) -> URL {
    URL(fileURLWithPath: settings.string(key, default: relative))
}
