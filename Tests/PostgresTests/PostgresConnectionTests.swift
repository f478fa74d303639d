import Foundation
import Logging
import Postgres
import Synchronization
import Testing
import TestSupport

extension PostgresIntegrationTests {
    @Suite struct Connection {
        @Test func uniqueViolationIsTyped() async throws {
            try await TestDatabase.withPool { pool in
                try await TestDatabase.withTable(pool, columns: "key text PRIMARY KEY") { table in
                    try await pool.execute("INSERT INTO \(unsafeTable: table) (key) VALUES (\("secret-key"))")
                    let error = try await #require(throws: PostgresError.self) {
                        try await pool.execute("INSERT INTO \(unsafeTable: table) (key) VALUES (\("secret-key"))")
                    }
                    #expect(error.code == .queryFailed)
                    #expect(error.sqlState == "23505")
                    #expect(error.isUniqueViolation)
                    #expect(error.constraintName?.hasSuffix("_pkey") == true)
                    #expect(error.statement?.contains("VALUES ($1)") == true)
                    #expect(error.host == (try TestDatabase.configuration()).endpointDescription)
                    #expect(!error.description.contains("secret-key"))
                    // ON CONFLICT DO NOTHING reports 0 rows.
                    let inserted = try await pool.execute(
                        "INSERT INTO \(unsafeTable: table) (key) VALUES (\("secret-key")) ON CONFLICT DO NOTHING")
                    #expect(inserted == 0)
                }
            }
        }

        @Test func executeReportsAffectedRows() async throws {
            try await TestDatabase.withPool { pool in
                try await TestDatabase.withTable(pool, columns: "id int PRIMARY KEY, v int") { table in
                    let inserted = try await pool.execute(
                        "INSERT INTO \(unsafeTable: table) SELECT g, 0 FROM generate_series(1, \(25)) g")
                    let updated = try await pool.execute("UPDATE \(unsafeTable: table) SET v = 1 WHERE id <= \(10)")
                    let deleted = try await pool.execute("DELETE FROM \(unsafeTable: table) WHERE v = \(Int32(0))")
                    #expect((inserted, updated, deleted) == (25, 10, 15))
                }
            }
        }

        @Test func statementsArePreparedOncePerConnection() async throws {
            let connection = try await PostgresConnection.connect(configuration: TestDatabase.configuration(), logger: TestDatabase.logger)
            defer { connection.close() }
            for value in 0..<3 {
                let rows = try await connection.query("SELECT \(value)::int + 1 AS next")
                #expect(try rows.first?.decode(Int.self, "next") == value + 1)
            }
            let prepared = try await connection.query(
                "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = \("SELECT $1::int + 1 AS next")")
            #expect(try prepared.first?.decode(Int.self, "n") == 1)
            // A statement dropped behind the cache's back is re-prepared transparently.
            try await connection.execute("DEALLOCATE ALL")
            let again = try await connection.query("SELECT \(41)::int + 1 AS next")
            #expect(try again.first?.decode(Int.self, "next") == 42)
        }

        @Test func statementTimeoutCancels() async throws {
            var configuration = try TestDatabase.configuration()
            configuration.statementTimeout = .milliseconds(200)
            let connection = try await PostgresConnection.connect(configuration: configuration, logger: TestDatabase.logger)
            defer { connection.close() }
            let error = try await #require(throws: PostgresError.self) { try await connection.execute("SELECT pg_sleep(5)") }
            #expect(error.isQueryCanceled)
            #expect(connection.isUsable)
            #expect(try await connection.query("SELECT 1 AS one").first?.decode(Int.self, "one") == 1)
        }

        @Test func cancellingTheTaskCancelsTheRunningStatement() async throws {
            let connection = try await PostgresConnection.connect(configuration: TestDatabase.configuration(), logger: TestDatabase.logger)
            defer { connection.close() }
            let clock = ContinuousClock()
            let start = clock.now
            let task = Task { try await connection.execute("SELECT pg_sleep(10)") }
            try await Task.sleep(for: .milliseconds(300))
            task.cancel()
            let result = await task.result
            #expect(clock.now - start < .seconds(5))
            #expect(throws: PostgresError.self) { try result.get() }
            #expect((try? result.get()) == nil)
            if case .failure(let error as PostgresError) = result { #expect(error.isQueryCanceled) }
            #expect(try await connection.query("SELECT 1 AS one")[0].decode(Int.self, "one") == 1)
        }

        @Test func warningsGoToTheLoggerAndNoticesAreSuppressed() async throws {
            let store = RecordingLogHandler.Store()
            let logger = Logger(label: "notices", factory: { _ in RecordingLogHandler(store: store) })
            let connection = try await PostgresConnection.connect(configuration: TestDatabase.configuration(), logger: logger)
            defer { connection.close() }
            try await connection.execute("DO $$ BEGIN RAISE NOTICE 'chatter'; END $$")
            #expect(!store.messages.contains("Postgres notice"))
            try await connection.execute("DO $$ BEGIN RAISE WARNING 'careful: %', 'secret-detail'; END $$")
            let notices = store.entries.withLock { $0.filter { $0.message == "Postgres notice" } }
            #expect(notices.count == 1)
            #expect(notices.first?.level == .debug)
            #expect(notices.first?.metadata["db.sql_state"] == "01000")
            // The notice text may quote data: only its severity and SQLSTATE are logged.
            let logged = String(describing: notices.first?.metadata ?? [:])
            #expect(logged.contains("secret-detail") == false)
        }

        @Test func closedPortIsATypedErrorNamingTheHost() async throws {
            var configuration = try TestDatabase.configuration()
            configuration.port = 1
            configuration.password = "canary-password-\(UUID().uuidString)"
            let password = try #require(configuration.password)
            let error = try await #require(throws: PostgresError.self) {
                try await PostgresConnection.connect(configuration: configuration, logger: TestDatabase.logger)
            }
            #expect(error.code == .connectionFailed)
            #expect(error.isConnectionError)
            #expect(error.host == "\(configuration.host):1")
            #expect(error.description.contains("\(configuration.host):1"))
            #expect(!error.description.contains(password))
            #expect(!error.debugDescription.contains(password))
        }

        @Test func rejectedLoginIsATypedErrorWithoutThePassword() async throws {
            // The local stack trusts loopback logins, so an unknown role stands in for a wrong password:
            // both are rejected by the server during authentication.
            var configuration = try TestDatabase.configuration()
            configuration.user = "no_such_role_\(UUID().uuidString.prefix(6).lowercased())"
            configuration.password = "canary-password-\(UUID().uuidString)"
            let password = try #require(configuration.password)
            let error = try await #require(throws: PostgresError.self) {
                try await PostgresConnection.connect(configuration: configuration, logger: TestDatabase.logger)
            }
            #expect(error.code == .connectionFailed)
            #expect(error.description.contains(configuration.endpointDescription))
            #expect(error.description.contains(configuration.user))
            #expect(!error.description.contains(password))
            #expect(!error.debugDescription.contains(password))
        }

        @Test func closedConnectionRefusesWork() async throws {
            let connection = try await PostgresConnection.connect(configuration: TestDatabase.configuration(), logger: TestDatabase.logger)
            connection.close()
            #expect(connection.isClosed)
            let error = try await #require(throws: PostgresError.self) { try await connection.execute("SELECT 1") }
            #expect(error.code == .connectionClosed)
        }

        @Test func pipelineInsertsTenThousandRows() async throws {
            try await TestDatabase.withPool { pool in
                try await TestDatabase.withTable(pool, columns: "id bigint PRIMARY KEY, body text") { table in
                    let queries: [PostgresQuery] = (0..<10_000).map { index in
                        "INSERT INTO \(unsafeTable: table) (id, body) VALUES (\(index), \("row \(index)"))"
                    }
                    let counts = try await pool.withConnection { try await $0.pipeline(queries, syncEvery: 100) }
                    #expect(counts.count == 10_000)
                    #expect(counts.allSatisfy { $0 == 1 })
                    let total = try await pool.query("SELECT count(*) AS n, sum(id) AS s FROM \(unsafeTable: table)")
                    #expect(try total[0].decode(Int.self, "n") == 10_000)
                    #expect(try total[0].decode(Int.self, "s") == 49_995_000)
                }
            }
        }

        @Test func pipelineStopsAtFirstFailureAndLeavesConnectionUsable() async throws {
            try await TestDatabase.withPool(maxConnections: 1) { pool in
                try await TestDatabase.withTable(pool, columns: "id bigint PRIMARY KEY") { table in
                    // Statement 150 repeats id 5. Groups of 100: 0..<100 commits, 100..<200 fails and rolls
                    // back, 200..<300 was already in flight and commits, 300..<400 is never sent.
                    let ids = (0..<400).map { $0 == 150 ? 5 : $0 }
                    let queries: [PostgresQuery] = ids.map { "INSERT INTO \(unsafeTable: table) (id) VALUES (\($0))" }
                    try await pool.withConnection { connection in
                        let error = try await #require(throws: PostgresError.self) {
                            try await connection.pipeline(queries, syncEvery: 100)
                        }
                        #expect(error.isUniqueViolation)
                        #expect(error.reason?.contains("statement 150") == true)
                        #expect(connection.isUsable)
                        let rows = try await connection.query(
                            "SELECT count(*) AS n, count(*) FILTER (WHERE id BETWEEN 100 AND 199) AS failed_group FROM \(unsafeTable: table)")
                        #expect(try rows[0].decode(Int.self, "n") == 200)
                        #expect(try rows[0].decode(Int.self, "failed_group") == 0)
                    }
                    // Inside a transaction the pipeline is all or nothing.
                    try await pool.execute("TRUNCATE \(unsafeTable: table)")
                    await #expect(throws: PostgresError.self) {
                        try await pool.withTransaction { try await $0.pipeline(queries, syncEvery: 100) }
                    }
                    #expect(try await pool.query("SELECT count(*) AS n FROM \(unsafeTable: table)")[0].decode(Int.self, "n") == 0)
                }
            }
        }

        @Test func bulkInsertCopiesTenThousandRowsAsData() async throws {
            try await TestDatabase.withPool { pool in
                try await TestDatabase.withTable(
                    pool, columns: "id bigint PRIMARY KEY, body text, amount numeric, at timestamptz, raw bytea, doc jsonb"
                ) { table in
                    let hostile = "'); DROP TABLE x; --\t\\N\n\r\\\\ end"
                    let date = Date(timeIntervalSince1970: 1_700_000_000.654321)
                    let rows: [[any PostgresBindable]] = (0..<10_000).map { index in
                        [
                            Int64(index), index % 2 == 0 ? hostile : String?.none,
                            Decimal(string: "12345678901234.5678")!, date, [UInt8](0...255),
                            PostgresJSON("{\"i\": \(index), \"s\": \"a\\tb\"}"),
                        ]
                    }
                    let name = String(table.dropFirst().dropLast())  // unquoted; bulkInsert quotes it
                    let copied = try await pool.withConnection {
                        try await $0.bulkInsert(table: name, columns: ["id", "body", "amount", "at", "raw", "doc"], rows: rows)
                    }
                    #expect(copied == 10_000)
                    let check = try await pool.query(
                        "SELECT count(*) AS n, count(body) AS bodies FROM \(unsafeTable: table)")
                    #expect(try check[0].decode(Int.self, "n") == 10_000)
                    #expect(try check[0].decode(Int.self, "bodies") == 5_000)
                    let sample = try await pool.query("SELECT * FROM \(unsafeTable: table) WHERE id = \(Int64(42))")
                    #expect(try sample[0].decode(String.self, "body") == hostile)
                    #expect(try sample[0].decode(Decimal.self, "amount") == Decimal(string: "12345678901234.5678")!)
                    #expect(try sample[0].decode(Date.self, "at") == date)
                    #expect(try sample[0].decode([UInt8].self, "raw") == [UInt8](0...255))
                    struct Doc: Decodable, Equatable { var i: Int, s: String }
                    #expect(try sample[0].decode(PostgresJSON.self, "doc").decode(Doc.self) == Doc(i: 42, s: "a\tb"))
                    // A bad value rejects the whole COPY.
                    let error = try await #require(throws: PostgresError.self) {
                        try await pool.withConnection {
                            try await $0.bulkInsert(table: name, columns: ["id", "doc"], rows: [[Int64(-1), PostgresJSON("{not json")]])
                        }
                    }
                    #expect(error.code == .queryFailed)
                    #expect(try await pool.query("SELECT count(*) AS n FROM \(unsafeTable: table)")[0].decode(Int.self, "n") == 10_000)
                }
            }
        }

        @Test func scriptsRunSeveralStatements() async throws {
            try await TestDatabase.withPool(maxConnections: 1) { pool in
                let table = PostgresQuery.quotedIdentifier(TestDatabase.uniqueName())
                try await pool.withConnection { connection in
                    try await connection.executeScript(
                        unsafeSQL: "CREATE TABLE \(table) (id int); INSERT INTO \(table) VALUES (1), (2); DROP TABLE \(table);")
                    let error = try await #require(throws: PostgresError.self) {
                        try await connection.executeScript(unsafeSQL: "SELECT 1; SELEC 2;", label: "broken script")
                    }
                    #expect(error.sqlState == "42601")
                    #expect(error.statement == "broken script")
                }
            }
        }
    }
}

extension PostgresConfiguration {
    /// `host:port` as errors report it.
    var endpointDescription: String { "\(host):\(port)" }
}
