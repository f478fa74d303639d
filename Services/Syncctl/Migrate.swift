import ArgumentParser
import Foundation
import Postgres
import Runtime

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the SQL migrations in deploy/migrations, each in its own transaction.",
        discussion: """
            Applied migrations are recorded in schema_migrations; running this twice changes nothing. \
            A migration file edited after it was applied is refused. The directory is \
            LEDGERLINE_MIGRATIONS_DIR (default deploy/migrations) unless --directory is given.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "The directory of NNNN_name.sql files.")
    var directory: String?

    @Flag(help: "List what would be applied without applying it.")
    var dryRun = false

    func run() async throws {
        let folder = directory.map { URL(fileURLWithPath: $0) }
            ?? deployPath(common.settings, key: "LEDGERLINE_MIGRATIONS_DIR", default: "deploy/migrations")
        let migrator = PostgresMigrator(directory: folder)
        let available = try migrator.loadMigrations()
        let connection = try await connectPostgres(common)
        defer { connection.close() }
        let applied = try await migrator.migrate(connection: connection, dryRun: dryRun, logger: common.logger)
        if applied.isEmpty {
            print("Database is up to date (\(available.count) migration\(available.count == 1 ? "" : "s") applied).")
        } else {
            for migration in applied {
                print("\(dryRun ? "would apply" : "applied") \(migration.description)")
            }
            print(dryRun ? "\(applied.count) pending." : "Applied \(applied.count); database is up to date.")
        }
    }
}
