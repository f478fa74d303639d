import Crypto
import Foundation
import Logging

/// One migration file, `NNNN_name.sql`.
public struct PostgresMigration: Sendable, Hashable, CustomStringConvertible {
    /// The number before the first underscore.
    public let version: Int64
    /// The part between the underscore and `.sql`.
    public let name: String
    /// SHA-256 of the file's bytes, as 64 hex digits.
    public let checksum: String
    /// The SQL text.
    public let sql: String

    /// Creates a migration from its parts (the checksum is computed from `sql`).
    public init(version: Int64, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = SHA256.hexDigest(Array(sql.utf8))
    }

    /// `0003_add_outbox`, padded to four digits.
    public var description: String {
        let digits = String(version)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits + "_" + name
    }
}

/// Why migrations could not be loaded or applied.
public struct PostgresMigrationError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case unreadableDirectory, invalidFileName, duplicateVersion, checksumMismatch, missingFile, outOfOrder
            case lockTimeout, migrationFailed
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The directory or a file in it could not be read (or is not UTF-8).
        public static let unreadableDirectory = Code(.unreadableDirectory)
        /// A `.sql` file is not named `NNNN_name.sql`.
        public static let invalidFileName = Code(.invalidFileName)
        /// Two files share a version number.
        public static let duplicateVersion = Code(.duplicateVersion)
        /// An applied migration's file changed since it was applied.
        public static let checksumMismatch = Code(.checksumMismatch)
        /// An applied migration's file is gone.
        public static let missingFile = Code(.missingFile)
        /// A pending migration is numbered below one already applied.
        public static let outOfOrder = Code(.outOfOrder)
        /// Another runner held the migration lock for longer than the lock timeout.
        public static let lockTimeout = Code(.lockTimeout)
        /// A migration's SQL failed; it was rolled back. See `underlying`.
        public static let migrationFailed = Code(.migrationFailed)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// The migration involved, e.g. `0002_add_index`.
    public var migration: String?
    /// A data-free explanation.
    public var reason: String
    /// The Postgres error behind it, if any.
    public var underlying: (any Error)?

    public var description: String {
        var text = "PostgresMigrationError(\(code)"
        if let migration { text += ", migration: \(migration)" }
        text += ", reason: \(reason)"
        if let underlying { text += ", underlying: \(underlying)" }
        return text + ")"
    }
}

/// Applies numbered SQL files from a directory, in order, each in its own transaction.
///
/// Files are named `NNNN_name.sql` (any number of digits; the number is the version). Applied
/// migrations are recorded in a table (default `schema_migrations`: `version`, `name`, `checksum`,
/// `applied_at`). A run:
///
/// 1. takes a session-level `pg_advisory_lock`, waiting up to `lockTimeout`, so two runners never race;
/// 2. creates the table if needed;
/// 3. refuses to go on when an applied file was changed (SHA-256 differs), deleted, or when a pending
///    file is numbered below an applied one;
/// 4. applies each pending file and records it in the same transaction, so a failed file leaves nothing.
///
/// Running it again applies nothing. Files run with the simple query protocol, so they may hold
/// several statements, but must not contain transaction control (`BEGIN`/`COMMIT`) or statements
/// that cannot run in a transaction (`CREATE INDEX CONCURRENTLY`).
///
/// ```swift
/// let migrator = PostgresMigrator(directory: URL(fileURLWithPath: "deploy/migrations"))
/// let applied = try await migrator.migrate(pool: pool, logger: logger)
/// ```
public struct PostgresMigrator: Sendable {
    /// The advisory-lock key used by default: the first 8 bytes of SHA-256("ledgerline.schema_migrations").
    public static let defaultLockKey: Int64 = {
        let digest = SHA256.digest(Array("ledgerline.schema_migrations".utf8))
        return digest.prefix(8).reduce(Int64(0)) { ($0 << 8) | Int64($1) }
    }()

    /// The directory holding the `.sql` files.
    public let directory: URL
    /// The table that records applied migrations.
    public let tableName: String
    /// The `pg_advisory_lock` key that serialises runners.
    public let lockKey: Int64
    /// How long to wait for another runner to finish.
    public let lockTimeout: Duration

    /// Creates a migrator.
    ///
    /// - Parameters:
    ///   - directory: where the `NNNN_name.sql` files are.
    ///   - tableName: the bookkeeping table. Default: `schema_migrations`.
    ///   - lockKey: the advisory-lock key. Default: ``defaultLockKey``.
    ///   - lockTimeout: how long to wait for the lock. Default: 60 s.
    public init(
        directory: URL, tableName: String = "schema_migrations", lockKey: Int64 = PostgresMigrator.defaultLockKey,
        lockTimeout: Duration = .seconds(60)
    ) {
        self.directory = directory
        self.tableName = tableName
        self.lockKey = lockKey
        self.lockTimeout = lockTimeout
    }

    /// Reads and checks the migration files, sorted by version.
    ///
    /// - Throws: ``PostgresMigrationError`` for an unreadable directory, a badly named `.sql` file
    ///   or a duplicate version. Files not ending in `.sql` are ignored.
    public func loadMigrations() throws -> [PostgresMigration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw PostgresMigrationError(code: .unreadableDirectory, reason: "cannot list \(directory.path)", underlying: error)
        }
        var migrations: [PostgresMigration] = []
        var seen: [Int64: String] = [:]
        for fileName in names.sorted() where fileName.hasSuffix(".sql") {
            let stem = fileName.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int64(stem[..<underscore]), version >= 0,
                stem[..<underscore].allSatisfy(\.isASCII),
                case let name = String(stem[stem.index(after: underscore)...]), !name.isEmpty
            else {
                throw PostgresMigrationError(
                    code: .invalidFileName, migration: fileName, reason: "expected NNNN_name.sql")
            }
            if let other = seen[version] {
                throw PostgresMigrationError(
                    code: .duplicateVersion, migration: fileName, reason: "version \(version) is also used by \(other)")
            }
            seen[version] = fileName
            let data: Data
            do {
                data = try Data(contentsOf: directory.appendingPathComponent(fileName))
            } catch {
                throw PostgresMigrationError(code: .unreadableDirectory, migration: fileName, reason: "cannot read file", underlying: error)
            }
            guard let sql = String(validating: [UInt8](data), as: UTF8.self) else {
                throw PostgresMigrationError(code: .unreadableDirectory, migration: fileName, reason: "file is not UTF-8")
            }
            migrations.append(PostgresMigration(version: version, name: name, sql: sql))
        }
        return migrations.sorted { $0.version < $1.version }
    }

    /// Applies the pending migrations on a connection leased from `pool`.
    ///
    /// - Parameters:
    ///   - dryRun: when true, checks everything and returns what would be applied, changing nothing.
    /// - Returns: the migrations applied (or, for a dry run, those that would be), in order.
    /// - Throws: ``PostgresMigrationError`` or ``PostgresError``.
    @discardableResult
    public func migrate(pool: PostgresPool, dryRun: Bool = false, logger: Logger) async throws -> [PostgresMigration] {
        try await pool.withConnection(logger: logger) { connection in
            try await migrate(connection: connection, dryRun: dryRun, logger: logger)
        }
    }

    /// Applies the pending migrations on `connection`, which must not be inside a transaction.
    @discardableResult
    public func migrate(connection: PostgresConnection, dryRun: Bool = false, logger: Logger) async throws -> [PostgresMigration] {
        let migrations = try loadMigrations()
        try await acquireLock(connection, logger: logger)
        do {
            let result = try await migrateLocked(connection, migrations: migrations, dryRun: dryRun, logger: logger)
            try await releaseLock(connection, logger: logger)
            return result
        } catch {
            if connection.isUsable { try? await releaseLock(connection, logger: logger) }
            throw error
        }
    }

    /// Returns the recorded migrations (version, name, checksum), or an empty list when the table
    /// does not exist yet.
    public func appliedMigrations(connection: PostgresConnection, logger: Logger) async throws
        -> [(version: Int64, name: String, checksum: String)]
    {
        let exists = try await connection.query(
            "SELECT to_regclass(\(PostgresQuery.quotedIdentifier(tableName))) IS NOT NULL AS present", logger: logger)
        guard try exists.first?.decode(Bool.self, "present") == true else { return [] }
        let table = PostgresQuery.quotedIdentifier(tableName)
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT version, name, checksum FROM \(table) ORDER BY version"), logger: logger)
        return try rows.map {
            (try $0.decode(Int64.self, "version"), try $0.decode(String.self, "name"), try $0.decode(String.self, "checksum"))
        }
    }

    private func migrateLocked(
        _ connection: PostgresConnection, migrations: [PostgresMigration], dryRun: Bool, logger: Logger
    ) async throws -> [PostgresMigration] {
        let table = PostgresQuery.quotedIdentifier(tableName)
        if !dryRun {
            try await connection.execute(
                PostgresQuery(
                    unsafeSQL: """
                        CREATE TABLE IF NOT EXISTS \(table) (
                            version bigint PRIMARY KEY,
                            name text NOT NULL,
                            checksum text NOT NULL,
                            applied_at timestamptz NOT NULL DEFAULT now()
                        )
                        """), logger: logger)
        }
        let applied = try await appliedMigrations(connection: connection, logger: logger)
        let byVersion = Dictionary(migrations.map { ($0.version, $0) }, uniquingKeysWith: { first, _ in first })
        for record in applied {
            guard let file = byVersion[record.version] else {
                throw PostgresMigrationError(
                    code: .missingFile, migration: "\(record.version)_\(record.name)",
                    reason: "applied migration has no file in \(directory.lastPathComponent)")
            }
            guard file.checksum == record.checksum else {
                throw PostgresMigrationError(
                    code: .checksumMismatch, migration: file.description,
                    reason: "file changed after it was applied (checksum \(file.checksum.prefix(12))…, recorded \(record.checksum.prefix(12))…)")
            }
        }
        let appliedVersions = Set(applied.map(\.version))
        let pending = migrations.filter { !appliedVersions.contains($0.version) }
        if let highest = applied.map(\.version).max(), let early = pending.first(where: { $0.version < highest }) {
            throw PostgresMigrationError(
                code: .outOfOrder, migration: early.description,
                reason: "numbered below \(highest), which is already applied; renumber it")
        }
        if dryRun { return pending }
        for migration in pending {
            logger.debug("Postgres migration applying", metadata: ["db.migration": "\(migration)"])
            do {
                try await connection.withTransaction(logger: logger) { connection in
                    try await connection.executeScript(unsafeSQL: migration.sql, label: "migration \(migration)", logger: logger)
                    try await connection.execute(
                        PostgresQuery(
                            unsafeSQL: "INSERT INTO \(table) (version, name, checksum) VALUES ($1, $2, $3)",
                            binds: [migration.version, migration.name, migration.checksum]), logger: logger)
                }
            } catch {
                throw PostgresMigrationError(
                    code: .migrationFailed, migration: migration.description, reason: "rolled back", underlying: error)
            }
        }
        return pending
    }

    private func acquireLock(_ connection: PostgresConnection, logger: Logger) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: lockTimeout)
        while true {
            let rows = try await connection.query("SELECT pg_try_advisory_lock(\(lockKey)) AS locked", logger: logger)
            if try rows.first?.decode(Bool.self, "locked") == true { return }
            guard clock.now < deadline else {
                throw PostgresMigrationError(
                    code: .lockTimeout, reason: "another migration runner held the lock for \(lockTimeout)")
            }
            logger.debug("Postgres migration lock busy; waiting")
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    private func releaseLock(_ connection: PostgresConnection, logger: Logger) async throws {
        _ = try await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
    }
}
