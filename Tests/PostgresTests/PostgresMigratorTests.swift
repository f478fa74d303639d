import Foundation
import Postgres
import Testing
import TestSupport

/// A temporary directory of migration files, removed afterwards.
private struct MigrationDirectory {
    let url: URL

    init(_ files: [String: String]) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, sql) in files { try write(name, sql) }
    }

    func write(_ name: String, _ sql: String) throws {
        try Data(sql.utf8).write(to: url.appendingPathComponent(name))
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

@Suite struct PostgresMigrationFileTests {
    @Test func loadsFilesInVersionOrder() throws {
        let directory = try MigrationDirectory([
            "0010_later.sql": "SELECT 10;", "0002_second.sql": "SELECT 2;", "0001_first.sql": "SELECT 1;",
            "README.md": "ignored",
        ])
        defer { directory.remove() }
        let migrations = try PostgresMigrator(directory: directory.url).loadMigrations()
        #expect(migrations.map(\.version) == [1, 2, 10])
        #expect(migrations.map(\.name) == ["first", "second", "later"])
        #expect(migrations[0].description == "0001_first")
        #expect(migrations[0].checksum.count == 64)
    }

    @Test(arguments: ["first.sql", "x1_bad.sql", "0001_.sql", "0001.sql"])
    func rejectsBadNames(name: String) throws {
        let directory = try MigrationDirectory([name: "SELECT 1;"])
        defer { directory.remove() }
        let error = #expect(throws: PostgresMigrationError.self) { try PostgresMigrator(directory: directory.url).loadMigrations() }
        #expect(error?.code == .invalidFileName)
    }

    @Test func rejectsDuplicateVersions() throws {
        let directory = try MigrationDirectory(["0001_a.sql": "SELECT 1;", "001_b.sql": "SELECT 2;"])
        defer { directory.remove() }
        let error = #expect(throws: PostgresMigrationError.self) { try PostgresMigrator(directory: directory.url).loadMigrations() }
        #expect(error?.code == .duplicateVersion)
    }
}

extension PostgresIntegrationTests {
    @Suite struct Migrator {
        @Test func appliesIsIdempotentAndDetectsChanges() async throws {
            let prefix = TestDatabase.uniqueName("m")
            let directory = try MigrationDirectory([
                "0001_create.sql": "CREATE TABLE \(prefix)_items (id int PRIMARY KEY, name text NOT NULL);\nCREATE INDEX ON \(prefix)_items (name);",
                "0002_seed.sql": "INSERT INTO \(prefix)_items VALUES (1, 'one'), (2, 'two');",
            ])
            defer { directory.remove() }
            let migrator = PostgresMigrator(directory: directory.url, tableName: "\(prefix)_schema_migrations")
            try await TestDatabase.withPool { pool in
                do {
                    let applied = try await migrator.migrate(pool: pool, logger: TestDatabase.logger)
                    #expect(applied.map(\.description) == ["0001_create", "0002_seed"])
                    #expect(try await pool.query("SELECT count(*) AS n FROM \(unsafeTable: "\(prefix)_items")")[0].decode(Int.self, "n") == 2)
                    let recorded = try await pool.query(
                        "SELECT version, name, checksum, applied_at FROM \(unsafeTable: "\(prefix)_schema_migrations") ORDER BY version")
                    #expect(try recorded.map { try $0.decode(Int64.self, "version") } == [1, 2])
                    #expect(try recorded[0].decode(String.self, "checksum") == applied[0].checksum)
                    #expect(try recorded[0].decode(Date.self, "applied_at").timeIntervalSinceNow > -60)

                    // Running again applies nothing.
                    #expect(try await migrator.migrate(pool: pool, logger: TestDatabase.logger).isEmpty)

                    // A dry run lists a new file without applying it.
                    try directory.write("0003_more.sql", "INSERT INTO \(prefix)_items VALUES (3, 'three');")
                    let planned = try await migrator.migrate(pool: pool, dryRun: true, logger: TestDatabase.logger)
                    #expect(planned.map(\.version) == [3])
                    #expect(try await pool.query("SELECT count(*) AS n FROM \(unsafeTable: "\(prefix)_items")")[0].decode(Int.self, "n") == 2)
                    #expect(try await migrator.migrate(pool: pool, logger: TestDatabase.logger).map(\.version) == [3])

                    // A failing file is rolled back entirely and named in the error.
                    try directory.write(
                        "0004_broken.sql", "CREATE TABLE \(prefix)_partial (id int);\nINSERT INTO \(prefix)_missing VALUES (1);")
                    let failure = try await #require(throws: PostgresMigrationError.self) {
                        try await migrator.migrate(pool: pool, logger: TestDatabase.logger)
                    }
                    #expect(failure.code == .migrationFailed)
                    #expect(failure.migration == "0004_broken")
                    #expect((failure.underlying as? PostgresError)?.sqlState == "42P01")
                    let partial = try await pool.query("SELECT to_regclass(\("\(prefix)_partial")) IS NULL AS gone")
                    #expect(try partial[0].decode(Bool.self, "gone"))
                    try FileManager.default.removeItem(at: directory.url.appendingPathComponent("0004_broken.sql"))

                    // Editing an applied file is refused.
                    try directory.write("0002_seed.sql", "INSERT INTO \(prefix)_items VALUES (1, 'uno'), (2, 'two');")
                    let changed = try await #require(throws: PostgresMigrationError.self) {
                        try await migrator.migrate(pool: pool, logger: TestDatabase.logger)
                    }
                    #expect(changed.code == .checksumMismatch)
                    #expect(changed.migration == "0002_seed")
                    #expect(changed.description.contains("0002_seed"))

                    // So is a deleted one.
                    try directory.write("0002_seed.sql", "INSERT INTO \(prefix)_items VALUES (1, 'one'), (2, 'two');")
                    try FileManager.default.removeItem(at: directory.url.appendingPathComponent("0003_more.sql"))
                    let missing = try await #require(throws: PostgresMigrationError.self) {
                        try await migrator.migrate(pool: pool, logger: TestDatabase.logger)
                    }
                    #expect(missing.code == .missingFile)
                } catch {
                    try? await cleanUp(pool, prefix)
                    throw error
                }
                try await cleanUp(pool, prefix)
            }
        }

        @Test func concurrentRunnersApplyEachFileOnce() async throws {
            let prefix = TestDatabase.uniqueName("m")
            var files: [String: String] = [:]
            for version in 1...5 {
                files[String(format: "%04d_step%d.sql", version, version)] =
                    version == 1
                    ? "CREATE TABLE \(prefix)_items (id int PRIMARY KEY); SELECT pg_sleep(0.2);"
                    : "INSERT INTO \(prefix)_items VALUES (\(version));"
            }
            let directory = try MigrationDirectory(files)
            defer { directory.remove() }
            let migrator = PostgresMigrator(directory: directory.url, tableName: "\(prefix)_schema_migrations")
            try await TestDatabase.withPool(maxConnections: 3) { pool in
                do {
                    let results = try await withThrowingTaskGroup(of: [PostgresMigration].self) { group in
                        for _ in 0..<2 { group.addTask { try await migrator.migrate(pool: pool, logger: TestDatabase.logger) } }
                        return try await group.reduce(into: [[PostgresMigration]]()) { $0.append($1) }
                    }
                    let appliedVersions = results.flatMap { $0.map(\.version) }.sorted()
                    #expect(appliedVersions == [1, 2, 3, 4, 5])
                    #expect(results.contains { $0.isEmpty })
                    #expect(try await pool.query("SELECT count(*) AS n FROM \(unsafeTable: "\(prefix)_items")")[0].decode(Int.self, "n") == 4)
                } catch {
                    try? await cleanUp(pool, prefix)
                    throw error
                }
                try await cleanUp(pool, prefix)
            }
        }

        private func cleanUp(_ pool: PostgresPool, _ prefix: String) async throws {
            try await pool.withConnection { connection in
                try await connection.executeScript(
                    unsafeSQL: """
                        DROP TABLE IF EXISTS \(prefix)_items; DROP TABLE IF EXISTS \(prefix)_partial;
                        DROP TABLE IF EXISTS \(prefix)_schema_migrations;
                        """)
            }
        }
    }
}
