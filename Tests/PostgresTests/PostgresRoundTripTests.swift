import Foundation
import Postgres
import Testing
import TestSupport

/// Every integration suite nests in here so they run one at a time: the restart tests stop the
/// server that the others use.
@Suite(.requiresPostgres, .serialized, .timeLimit(.minutes(3)))
struct PostgresIntegrationTests {}

extension PostgresIntegrationTests {
    @Suite struct RoundTrip {
        struct Payload: Codable, Equatable {
            var invoice: String
            var lines: [Int]
            var note: String?
        }

        @Test func everySupportedTypeRoundTrips() async throws {
            try await TestDatabase.withPool { pool in
                try await TestDatabase.withTable(
                    pool,
                    columns: """
                        id int PRIMARY KEY, s text, i8 bigint, i4 integer, i2 smallint, b boolean, n numeric,
                        ts timestamptz, u uuid, j jsonb, raw bytea, tags text[], nums bigint[], ids uuid[]
                        """
                ) { table in
                    let uuid = UUID()
                    let date = Date(timeIntervalSince1970: 1_700_000_000.123456)
                    let payload = Payload(invoice: "INV-1", lines: [1, 2, 3], note: "ünïcødé ✓")
                    let bytes = [UInt8](0...255)
                    let tags = ["a", "with space", "quote\"d", "back\\slash", "comma,{}", "", "NULL", "ünï"]
                    let nums: [Int64] = [Int64.min, -1, 0, Int64.max]
                    let json = try PostgresJSON(encoding: payload)
                    let text = "tab\tnewline\n'quote' \"dq\" \\ emoji 🧾"
                    let insert: PostgresQuery = """
                        INSERT INTO \(unsafeTable: table) (id, s, i8, i4, i2, b, n, ts, u, j, raw, tags, nums, ids)
                        VALUES (1, \(text), \(Int64.max), \(Int32.min), \(Int16.max), \(true),
                                \(Decimal(string: "12345678901234.5678")!), \(date), \(uuid),
                                \(json), \(bytes), \(tags), \(nums), \([uuid, uuid]))
                        """
                    #expect(try await pool.execute(insert) == 1)
                    try await pool.execute(PostgresQuery(unsafeSQL: "INSERT INTO \(table) (id) VALUES (2)"))

                    let rows = try await pool.query(PostgresQuery(unsafeSQL: "SELECT * FROM \(table) ORDER BY id"))
                    try #require(rows.count == 2)
                    let row = rows[0]
                    #expect(try row.decode(String.self, "s") == text)
                    #expect(try row.decode(Int64.self, "i8") == Int64.max)
                    #expect(try row.decode(Int.self, "i8") == Int.max)
                    #expect(try row.decode(Int32.self, "i4") == Int32.min)
                    #expect(try row.decode(Int16.self, "i2") == Int16.max)
                    #expect(try row.decode(Bool.self, "b") == true)
                    #expect(try row.decode(Decimal.self, "n") == Decimal(string: "12345678901234.5678")!)
                    #expect(try row.decode(Date.self, "ts") == date)
                    #expect(try row.decode(UUID.self, "u") == uuid)
                    #expect(try row.decode(PostgresJSON.self, "j").decode(Payload.self) == payload)
                    #expect(try row.decode([UInt8].self, "raw") == bytes)
                    #expect(try row.decode(Data.self, "raw") == Data(bytes))
                    #expect(try row.decode([String].self, "tags") == tags)
                    #expect(try row.decode([Int64].self, "nums") == nums)
                    #expect(try row.decode([UUID].self, "ids") == [uuid, uuid])
                    // By index, too.
                    #expect(try row.decode(Int.self, at: 0) == 1)
                    #expect(try row.decode(String.self, at: 1) == text)

                    // Row 2: every column but id is NULL.
                    let nulls = rows[1]
                    #expect(try nulls.decode(String?.self, "s") == nil)
                    #expect(try nulls.decode(Int64?.self, "i8") == nil)
                    #expect(try nulls.decode(Decimal?.self, "n") == nil)
                    #expect(try nulls.decode(Date?.self, "ts") == nil)
                    #expect(try nulls.decode(UUID?.self, "u") == nil)
                    #expect(try nulls.decode(PostgresJSON?.self, "j") == nil)
                    #expect(try nulls.decode([UInt8]?.self, "raw") == nil)
                    #expect(try nulls.decode([String]?.self, "tags") == nil)
                    #expect(try nulls.isNull("b"))
                    let error = #expect(throws: PostgresError.self) { try nulls.decode(String.self, "s") }
                    #expect(error?.code == .decodingFailed)

                    // NULL binds land as NULL.
                    let none: String? = nil
                    try await pool.execute("INSERT INTO \(unsafeTable: table) (id, s, n) VALUES (3, \(none), \(Decimal?.none))")
                    let third = try await pool.query("SELECT s, n FROM \(unsafeTable: table) WHERE id = 3")
                    #expect(try third.first?.decode(String?.self, "s") == .some(nil))
                }
            }
        }

        @Test(arguments: [
            "12345678901234.5678", "-0.0001", "0.00", "0", "99999999999999999999999999999999999999",
            "-1234567890123456789.0123456789012345678", "0.00000000000000000000000000000000000001", "1000000.000",
        ])
        func numericRoundTripsExactly(text: String) async throws {
            let expected = try #require(Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")))
            try await TestDatabase.withPool(maxConnections: 1) { pool in
                // Bound as Decimal, stored as numeric, read back.
                let bound = try await pool.query("SELECT \(expected)::numeric AS v")
                #expect(try bound.first?.decode(Decimal.self, "v") == expected)
                // The server's own text of the literal, read as Decimal.
                let literal = try await pool.query(PostgresQuery(unsafeSQL: "SELECT \(text)::numeric AS v"))
                #expect(try literal.first?.decode(Decimal.self, "v") == expected)
            }
        }

        @Test func numericBeyondDecimalPrecisionFailsInsteadOfRounding() async throws {
            try await TestDatabase.withPool(maxConnections: 1) { pool in
                let rows = try await pool.query("SELECT 123456789012345678901234567890123456789.5::numeric AS v")
                let error = #expect(throws: PostgresError.self) { try rows.first?.decode(Decimal.self, "v") }
                #expect(error?.code == .decodingFailed)
                #expect(error?.reason?.contains("38") == true)
            }
        }

        @Test func timestampsKeepMicroseconds() async throws {
            try await TestDatabase.withPool(maxConnections: 1) { pool in
                for seconds in [1_700_000_000.000001, 1_700_000_000.999999, -1.5, 951_782_400.123456] {
                    let date = Date(timeIntervalSince1970: seconds)
                    let rows = try await pool.query("SELECT \(date) AS t, (\(date))::text AS text")
                    let back = try #require(try rows.first?.decode(Date.self, "t"))
                    let text = try rows[0].decode(String.self, "text")
                    #expect(abs(back.timeIntervalSince1970 - seconds) < 0.000_000_5, "\(text)")
                }
                let rows = try await pool.query(
                    "SELECT '2024-02-29 23:59:59.123456+05:30'::timestamptz AS tz, '2024-02-29 23:59:59.5'::timestamp AS plain, '2024-02-29'::date AS d")
                #expect(try rows[0].decode(Date.self, "tz").timeIntervalSince1970 == 1_709_231_399.123456)
                #expect(try rows[0].decode(Date.self, "plain").timeIntervalSince1970 == 1_709_251_199.5)
                #expect(try rows[0].decode(Date.self, "d").timeIntervalSince1970 == 1_709_164_800)
            }
        }

        @Test func injectionLookingTextIsStoredAsData() async throws {
            try await TestDatabase.withPool { pool in
                try await TestDatabase.withTable(pool, columns: "id serial PRIMARY KEY, body text") { table in
                    let hostile = "'); DROP TABLE \(table); --"
                    try await pool.execute("INSERT INTO \(unsafeTable: table) (body) VALUES (\(hostile))")
                    try await pool.execute("INSERT INTO \(unsafeTable: table) (body) VALUES (\("x' OR '1'='1"))")
                    let rows = try await pool.query("SELECT body FROM \(unsafeTable: table) WHERE body = \(hostile)")
                    #expect(try rows.map { try $0.decode(String.self, "body") } == [hostile])
                    let none = try await pool.query("SELECT body FROM \(unsafeTable: table) WHERE body = \("x' OR '1'='1' --")")
                    #expect(none.isEmpty)
                    #expect(try await pool.query("SELECT count(*) AS n FROM \(unsafeTable: table)")[0].decode(Int.self, "n") == 2)
                }
            }
        }

        @Test func missingColumnAndBadValueAreTypedErrors() async throws {
            try await TestDatabase.withPool(maxConnections: 1) { pool in
                let rows = try await pool.query("SELECT \("secret-value")::text AS name, 5 AS n")
                let row = try #require(rows.first)
                let missing = #expect(throws: PostgresError.self) { try row.decode(String.self, "nope") }
                #expect(missing?.code == .decodingFailed)
                #expect(missing?.reason?.contains("nope") == true)
                let bad = #expect(throws: PostgresError.self) { try row.decode(Int.self, "name") }
                #expect(bad?.code == .decodingFailed)
                #expect(bad?.description.contains("name") == true)
                #expect(bad?.description.contains("secret-value") == false)
                let badBytes = #expect(throws: PostgresError.self) { try row.decode([UInt8].self, "name") }
                #expect(badBytes?.code == .decodingFailed)
                #expect(throws: PostgresError.self) { try row.decode(Int.self, at: 7) }
            }
        }
    }
}

extension PostgresQuery.StringInterpolation {
    /// Test-only: splices an already quoted table name into the SQL text.
    mutating func appendInterpolation(unsafeTable name: String) {
        appendLiteral(name)
    }
}
