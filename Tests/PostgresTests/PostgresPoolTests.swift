import Foundation
@testable import Postgres
import Testing
import TestSupport

extension PostgresIntegrationTests {
    @Suite struct Pool {
        @Test func serializationFailureIsRetriedByWithTransaction() async throws {
            try await TestDatabase.withPool(maxConnections: 2) { pool in
                try await TestDatabase.withTable(pool, columns: "v int NOT NULL") { table in
                    try await pool.execute("INSERT INTO \(unsafeTable: table) (v) VALUES (1)")
                    let attempts = TestCounter()
                    let barrier = TestBarrier(count: 2)
                    // Both read the same snapshot, then both insert: a write-skew cycle that SERIALIZABLE
                    // breaks by failing one with 40001. The retry reads the committed row and succeeds.
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for _ in 0..<2 {
                            group.addTask {
                                try await pool.withTransaction(isolation: .serializable, maxAttempts: 5) { connection in
                                    let attempt = attempts.increment()
                                    let sum = try await connection.query("SELECT sum(v) AS s FROM \(unsafeTable: table)")[0]
                                        .decode(Int.self, "s")
                                    if attempt <= 2 { await barrier.arriveAndWait() }
                                    try await connection.execute("INSERT INTO \(unsafeTable: table) (v) VALUES (\(sum + 1))")
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                    #expect(attempts.current >= 3)
                    let values = try await pool.query("SELECT v FROM \(unsafeTable: table) ORDER BY v").map {
                        try $0.decode(Int.self, "v")
                    }
                    #expect(values == [1, 2, 4])
                }
            }
        }

        @Test func serializationFailureSurfacesWhenAttemptsRunOut() async throws {
            try await TestDatabase.withPool(maxConnections: 1) { pool in
                let attempts = TestCounter()
                let error = try await #require(throws: PostgresError.self) {
                    try await pool.withTransaction(isolation: .serializable, maxAttempts: 3) { connection in
                        attempts.increment()
                        // Raise 40001 directly, as a conflict would.
                        try await connection.execute(
                            "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$")
                    }
                }
                #expect(error.isSerializationFailure)
                #expect(attempts.current == 3)
                // The connection went back rolled back and is reused.
                #expect(try await pool.query("SELECT 1 AS one")[0].decode(Int.self, "one") == 1)
            }
        }

        @Test func transactionRollsBackOnError() async throws {
            struct Boom: Error {}
            try await TestDatabase.withPool { pool in
                try await TestDatabase.withTable(pool, columns: "v int") { table in
                    await #expect(throws: Boom.self) {
                        try await pool.withTransaction { connection in
                            try await connection.execute("INSERT INTO \(unsafeTable: table) (v) VALUES (1)")
                            throw Boom()
                        }
                    }
                    #expect(try await pool.query("SELECT count(*) AS n FROM \(unsafeTable: table)")[0].decode(Int.self, "n") == 0)
                    _ = try await pool.withTransaction(isolation: .repeatableRead) { connection in
                        try await connection.execute("INSERT INTO \(unsafeTable: table) (v) VALUES (2)")
                    }
                    #expect(try await pool.query("SELECT count(*) AS n FROM \(unsafeTable: table)")[0].decode(Int.self, "n") == 1)
                }
            }
        }

        @Test func connectionLeftInsideATransactionIsDiscarded() async throws {
            try await TestDatabase.withPool(maxConnections: 2) { pool in
                let leakedPID = try await pool.withConnection { connection in
                    try await connection.execute("BEGIN")
                    return try await connection.query("SELECT pg_backend_pid() AS pid")[0].decode(Int32.self, "pid")
                }
                #expect(pool.openConnections == 0)
                let next = try await pool.query("SELECT pg_backend_pid() AS pid")
                #expect(try next[0].decode(Int32.self, "pid") != leakedPID)
            }
        }

        @Test func leaseBodyRunsOnTheConnectionThread() async throws {
            try await TestDatabase.withPool(maxConnections: 1) { pool in
                let onThread = try await pool.withConnection { connection in
                    let before = connection.isOnConnectionThread
                    _ = try await connection.query("SELECT 1")
                    try await Task.sleep(for: .milliseconds(5))
                    return (before, connection.isOnConnectionThread)
                }
                #expect(onThread == (true, true))
                // Closing the connection inside the body does not strand the task.
                let value = try await pool.withConnection { connection in
                    connection.close()
                    try await Task.sleep(for: .milliseconds(50))
                    return 5
                }
                #expect(value == 5)
                #expect(try await pool.query("SELECT 2 AS v")[0].decode(Int.self, "v") == 2)
            }
        }

        @Test func manyTasksShareAFewConnections() async throws {
            try await TestDatabase.withPool(maxConnections: 3) { pool in
                let total = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<40 {
                        group.addTask {
                            try await pool.query("SELECT \(index) AS i, pg_sleep(0.005)")[0].decode(Int.self, "i")
                        }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(total == (0..<40).reduce(0, +))
                #expect(pool.openConnections <= 3)
            }
        }

        @Test func leasesTimeOutWhenThePoolCannotConnect() async throws {
            var configuration = try TestDatabase.configuration()
            configuration.port = 1
            let pool = PostgresPool(
                configuration: configuration, maxConnections: 1, acquireTimeout: .milliseconds(800), logger: TestDatabase.logger)
            defer { pool.close() }
            let clock = ContinuousClock()
            let start = clock.now
            let errors = try await withTimeout(.seconds(15)) {
                await withTaskGroup(of: PostgresError?.self) { group in
                    for _ in 0..<3 {
                        group.addTask {
                            do {
                                _ = try await pool.query("SELECT 1")
                                return nil
                            } catch {
                                return error as? PostgresError
                            }
                        }
                    }
                    return await group.reduce(into: [PostgresError?]()) { $0.append($1) }
                }
            }
            #expect(clock.now - start < .seconds(10))
            #expect(errors.count == 3)
            for error in errors {
                #expect(error?.code == .timeout)
                #expect(error?.host == "\(configuration.host):1")
                #expect((error?.underlying as? PostgresError)?.code == .connectionFailed)
            }
        }

        @Test func closedPoolRefusesLeases() async throws {
            let pool = PostgresPool(configuration: try TestDatabase.configuration(), logger: TestDatabase.logger)
            _ = try await pool.query("SELECT 1")
            pool.close()
            let error = try await #require(throws: PostgresError.self) { try await pool.query("SELECT 1") }
            #expect(error.code == .poolClosed)
            #expect(pool.openConnections == 0)
        }
    }
}

/// Tests that restart Postgres. They run apart from everything else (the test command runs
/// `swift test --filter RestartTests` after the other suites), because other suites share the server.
@Suite(.requiresPostgres, .serialized, .timeLimit(.minutes(3)))
struct PostgresRestartTests {
        @Test func poolRecoversAfterPostgresRestart() async throws {
            try await TestDatabase.withPool(maxConnections: 3, acquireTimeout: .seconds(5)) { pool in
                // Open a few connections so that idle ones go stale across the restart.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<3 { group.addTask { _ = try await pool.query("SELECT pg_sleep(0.05)") } }
                    try await group.waitForAll()
                }
                let pidBefore = try await pool.query("SELECT pg_backend_pid() AS pid")[0].decode(Int32.self, "pid")

                try await TestDatabase.stack("restart-postgres")

                let clock = ContinuousClock()
                let start = clock.now
                var attempts = 0
                var pidAfter: Int32?
                while pidAfter == nil, clock.now - start < .seconds(20) {
                    attempts += 1
                    do {
                        pidAfter = try await pool.query("SELECT pg_backend_pid() AS pid")[0].decode(Int32.self, "pid")
                    } catch let error as PostgresError {
                        #expect(error.isConnectionError, "\(error)")
                        try await Task.sleep(for: .milliseconds(200))
                    }
                }
                let recovered = try #require(pidAfter, "pool did not recover within 20 s")
                #expect(recovered != pidBefore)
                #expect(attempts <= 3, "took \(attempts) attempts")
                // Transactions work again too.
                let value = try await pool.withTransaction { try await $0.query("SELECT 7 AS v")[0].decode(Int.self, "v") }
                #expect(value == 7)
            }
        }

        @Test func transactionRetriesAcrossRestart() async throws {
            try await TestDatabase.withPool(maxConnections: 2, acquireTimeout: .seconds(10)) { pool in
                _ = try await pool.query("SELECT 1")
                try await TestDatabase.stack("restart-postgres")
                // The idle connection is dead; withTransaction replaces it and runs the body.
                let value = try await pool.withTransaction(maxAttempts: 5) { try await $0.query("SELECT 8 AS v")[0].decode(Int.self, "v") }
                #expect(value == 8)
            }
        }
}
