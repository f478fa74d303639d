import Foundation
public import Logging
public import Postgres
import Synchronization

/// Leader election through a Postgres session advisory lock held on a dedicated connection.
///
/// ``tryAcquire()`` opens a connection (if none) and calls `pg_try_advisory_lock(key)`. The lock lives as long
/// as that connection: when the leader's process dies, Postgres ends the session and releases the lock, and the
/// next replica's `tryAcquire` wins. ``confirm()`` checks that the connection still works (a leader whose lock
/// connection broke is no leader any more and must stop firing). Correctness does not depend on the lock
/// alone: every fire is unique per window in the database, so even two leaders at once fire nothing twice.
public final class LeaderElection: Sendable {
    private let configuration: PostgresConfiguration
    private let key: Int64
    private let logger: Logger
    private let connection = Mutex<PostgresConnection?>(nil)

    /// - Parameters:
    ///   - configuration: the database (the election opens its own connection).
    ///   - key: the advisory-lock key; every replica of one deployment uses the same.
    public init(configuration: PostgresConfiguration, key: Int64, logger: Logger) {
        var configuration = configuration
        configuration.applicationName += "-leader-lock"
        configuration.statementTimeout = .seconds(5)
        configuration.connectTimeout = .seconds(3)
        self.configuration = configuration
        self.key = key
        self.logger = logger
    }

    /// Tries to become the leader; true when this replica holds the lock (now or already).
    public func tryAcquire() async -> Bool {
        do {
            var current = connection.withLock { $0 }
            if current == nil || current?.isUsable == false {
                current?.close()
                let opened = try await PostgresConnection.connect(configuration: configuration, logger: logger)
                connection.withLock { $0 = opened }
                current = opened
            }
            guard let current else { return false }
            let rows = try await current.query("SELECT pg_try_advisory_lock(\(key)) AS acquired", logger: logger)
            return try rows.first?.decode(Bool.self, "acquired") == true
        } catch {
            logger.debug("Leader lock not taken", metadata: ["error": "\(error)"])
            drop()
            return false
        }
    }

    /// True while the lock connection works (so the lock is still held).
    public func confirm() async -> Bool {
        guard let current = connection.withLock({ $0 }), current.isUsable else { return false }
        do {
            let rows = try await current.query(
                """
                SELECT count(*) AS held FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
                  AND ((classid::bigint << 32) | objid::bigint) = \(key)
                """, logger: logger)
            return try rows.first?.decode(Int.self, "held") ?? 0 > 0
        } catch {
            logger.debug("Leader lock connection lost", metadata: ["error": "\(error)"])
            drop()
            return false
        }
    }

    /// Gives up the lock by closing its connection (the server releases it at once).
    public func resign() {
        drop()
    }

    /// Closes the lock connection without a word, as a crash would (tests).
    public func dropConnection() {
        drop()
    }

    private func drop() {
        let current = connection.withLock { connection -> PostgresConnection? in
            defer { connection = nil }
            return connection
        }
        current?.close()
    }
}
