public import AMQP
import Foundation
public import Logging
public import Postgres

extension Settings {
    /// Postgres settings from `LEDGERLINE_POSTGRES_URL` (default: the local stack) and
    /// `LEDGERLINE_POSTGRES_PASSWORD` (secret, kept apart from the URL).
    ///
    /// - Parameter applicationName: shown in `pg_stat_activity`, e.g. the executable's name.
    /// - Throws: ``ConfigurationError`` naming the variable when the URL is malformed.
    public func postgres(applicationName: String) throws -> PostgresConfiguration {
        let url = string("LEDGERLINE_POSTGRES_URL", default: "postgres://postgres@127.0.0.1:5433/ledgerline")
        do {
            var configuration = try PostgresConfiguration(url: url, password: raw("LEDGERLINE_POSTGRES_PASSWORD"))
            configuration.applicationName = applicationName
            return configuration
        } catch {
            throw ConfigurationError(key: "LEDGERLINE_POSTGRES_URL", problem: "is not a usable postgres:// URL (\(error))")
        }
    }

    /// The pool size from `LEDGERLINE_POSTGRES_POOL_SIZE` (default 8, 1–200).
    public func postgresPoolSize(default defaultSize: Int = 8) throws -> Int {
        try int("LEDGERLINE_POSTGRES_POOL_SIZE", default: defaultSize, range: 1...200)
    }

    /// Broker settings from `LEDGERLINE_AMQP_URL` (default: the local stack) and
    /// `LEDGERLINE_AMQP_PASSWORD` (secret, default `guest` for the local stack).
    ///
    /// - Throws: ``ConfigurationError`` naming the variable when the URL is malformed.
    public func amqp() throws -> AMQPConfiguration {
        let url = string("LEDGERLINE_AMQP_URL", default: "amqp://guest@127.0.0.1:5673/%2F")
        do {
            return try AMQPConfiguration(url: url, password: raw("LEDGERLINE_AMQP_PASSWORD") ?? "guest")
        } catch {
            throw ConfigurationError(key: "LEDGERLINE_AMQP_URL", problem: "is not a usable amqp:// URL (\(error))")
        }
    }
}

extension DependencyCheck {
    /// Probes Postgres by opening (and closing) one connection.
    public static func postgres(_ configuration: PostgresConfiguration, logger: Logger) -> DependencyCheck {
        DependencyCheck(name: "postgres", endpoint: "\(configuration.host):\(configuration.port)") {
            let connection = try await PostgresConnection.connect(configuration: configuration, logger: logger)
            connection.close()
        }
    }

    /// Probes RabbitMQ by opening (and closing) one connection.
    public static func rabbitMQ(_ configuration: AMQPConfiguration, logger: Logger) -> DependencyCheck {
        DependencyCheck(name: "rabbitmq", endpoint: "\(configuration.host):\(configuration.port)") {
            let admin = try await AMQPAdmin.connect(configuration: configuration, logger: logger)
            await admin.close()
        }
    }
}
