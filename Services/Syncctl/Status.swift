import AMQP
import ArgumentParser
import Foundation
import Postgres
import Runtime

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the database and the broker hold: migrations applied, queues and their depth.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let settings = common.settings
        let postgres = try settings.postgres(applicationName: "syncctl")
        let connection = try await connectPostgres(common)
        defer { connection.close() }
        let version = try await connection.query("SHOW server_version").first?.decode(String.self, at: 0) ?? "?"
        print("Postgres \(postgres.host):\(postgres.port)/\(postgres.database): server \(version)")
        let migrator = PostgresMigrator(
            directory: deployPath(settings, key: "LEDGERLINE_MIGRATIONS_DIR", default: "deploy/migrations"))
        let applied = try await migrator.appliedMigrations(connection: connection, logger: common.logger)
        print("  migrations applied: \(applied.count)\(applied.last.map { " (latest \($0.version) \($0.name))" } ?? "")")

        let amqp = try settings.amqp()
        let admin = try await connectBroker(common)
        print("RabbitMQ \(amqp.host):\(amqp.port)\(amqp.virtualHost == "/" ? "" : amqp.virtualHost)")
        let topologyURL = deployPath(settings, key: "LEDGERLINE_TOPOLOGY_FILE", default: "deploy/rabbitmq/topology.json")
        let topology = try TopologyFile.load(from: topologyURL)
        for queue in topology.queues {
            if let status = try await admin.queueStatus(queue.name) {
                print("  \(queue.name): \(status.messageCount) ready, \(status.consumerCount) consumers")
            } else {
                print("  \(queue.name): missing (run syncctl topology)")
            }
        }
        await admin.close()
    }
}
