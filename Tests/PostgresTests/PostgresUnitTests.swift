import Foundation
import Testing

@testable import Postgres

/// Query building, value encoding and parsing, URL parsing, checksums: no database involved.
@Suite struct PostgresQueryTests {
    @Test func interpolationBecomesNumberedBinds() {
        let tenant = "acme"
        let amount = Decimal(string: "12.50")!
        let query: PostgresQuery = "SELECT * FROM invoices WHERE tenant = \(tenant) AND amount > \(amount) LIMIT \(10)"
        #expect(query.sql == "SELECT * FROM invoices WHERE tenant = $1 AND amount > $2 LIMIT $3")
        #expect(query.binds == [tenant.postgresBind, amount.postgresBind, 10.postgresBind])
        #expect(query.binds.map(\.type) == [.unknown, .numeric, .int8])
        #expect(query.binds.map(\.textValue) == ["acme", "12.5", "10"])
    }

    @Test func injectionLookingValueIsABindNotSQL() {
        let hostile = "'); DROP TABLE x; --"
        let query: PostgresQuery = "INSERT INTO notes (body) VALUES (\(hostile))"
        #expect(query.sql == "INSERT INTO notes (body) VALUES ($1)")
        #expect(query.binds.first?.textValue == hostile)
        #expect(!query.sql.contains("DROP"))
    }

    @Test func literalWithoutInterpolationHasNoBinds() {
        let query: PostgresQuery = "SELECT 1"
        #expect(query.sql == "SELECT 1")
        #expect(query.binds.isEmpty)
    }

    @Test func nilBindsTypedNull() {
        let missing: Int? = nil
        let date: Date? = nil
        let query: PostgresQuery = "UPDATE t SET a = \(missing), b = \(date)"
        #expect(query.sql == "UPDATE t SET a = $1, b = $2")
        #expect(query.binds == [.null(.int8), .null(.timestamptz)])
        #expect(query.binds.allSatisfy { $0.isNull })
    }

    @Test func unsafeSQLKeepsTextAndBinds() {
        let table = PostgresQuery.quotedIdentifier("odd\"name")
        let query = PostgresQuery(unsafeSQL: "SELECT * FROM \(table) WHERE id = $1", binds: [Int64(7)])
        #expect(query.sql == "SELECT * FROM \"odd\"\"name\" WHERE id = $1")
        #expect(query.binds == [Int64(7).postgresBind])
    }

    @Test func bindTypesOfSupportedValues() throws {
        let uuid = UUID()
        #expect(true.postgresBind == .text("t", type: .bool))
        #expect(Int32(-5).postgresBind == .text("-5", type: .int4))
        #expect(Int16(5).postgresBind.type == .int2)
        #expect(uuid.postgresBind == .text(uuid.uuidString, type: .uuid))
        #expect([UInt8]([0, 255]).postgresBind == .binary([0, 255], type: .bytea))
        #expect(Data([1, 2]).postgresBind == .binary([1, 2], type: .bytea))
        #expect(PostgresJSON("{\"a\":1}").postgresBind.type == .jsonb)
        #expect(["a", "b\"c", "d\\e"].postgresBind == .text(#"{"a","b\"c","d\\e"}"#, type: .textArray))
        #expect([Int64(1), -2].postgresBind == .text(#"{"1","-2"}"#, type: .int8Array))
        #expect(Decimal.nan.postgresBind.textValue == "NaN")
    }

    @Test func descriptionsNeverShowValues() throws {
        let secret = "canary-\(UUID().uuidString)"
        let query: PostgresQuery = "SELECT \(secret)"
        #expect(!query.description.contains(secret))
        #expect(!String(describing: query.binds[0]).contains(secret))
        #expect(!PostgresJSON("{\"k\":\"\(secret)\"}").description.contains(secret))
    }
}

@Suite struct PostgresTextFormatTests {
    @Test(arguments: [
        "12345678901234.5678", "-0.0001", "0", "0.00", "1", "-1", "100", "99999999999999999999999999999999999999",
        "-12345678901234567890.123456789012345678", "0.00000000000000000000000000000000000001",
        "123456789012345678901234567890123456780000000000",
    ])
    func numericTextParsesExactly(text: String) throws {
        let parsed = try PostgresTextFormat.parseDecimal(Array(text.utf8)[...])
        #expect(parsed == Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")))
        // And formats back to the same number.
        let again = try PostgresTextFormat.parseDecimal(Array(PostgresTextFormat.formatDecimal(parsed).utf8)[...])
        #expect(again == parsed)
    }

    @Test(arguments: ["", "-", "1.2.3", "abc", "1e5", "NaN", "Infinity", "123456789012345678901234567890123456789"])
    func badNumericTextIsRejected(text: String) {
        #expect(throws: PostgresTextFormat.DecimalParseFailure.self) {
            try PostgresTextFormat.parseDecimal(Array(text.utf8)[...])
        }
    }

    @Test func timestampsRoundTripWithMicroseconds() throws {
        let samples: [Double] = [0, 1_700_000_000.123456, -0.5, -62_135_596_800, 4_102_444_800.000001, 951_868_799.000001]
        for seconds in samples {
            let date = Date(timeIntervalSince1970: seconds)
            let text = PostgresTextFormat.formatTimestamp(date)
            let parsed = try #require(PostgresTextFormat.parseTimestamp(Array(text.utf8)[...]), "\(text)")
            #expect(micros(parsed) == micros(date), "\(text)")
        }
        #expect(PostgresTextFormat.formatTimestamp(Date(timeIntervalSince1970: 1_700_000_000.123456)) == "2023-11-14 22:13:20.123456+00")
    }

    @Test func timestampTextForms() throws {
        func parse(_ text: String) -> Double? { PostgresTextFormat.parseTimestamp(Array(text.utf8)[...])?.timeIntervalSince1970 }
        #expect(parse("2024-02-29 23:59:59.999999+00") == 1_709_251_199.999999)
        #expect(parse("2024-02-29 23:59:59+00") == 1_709_251_199)
        #expect(parse("2024-03-01 01:59:59+02") == 1_709_251_199)
        #expect(parse("2024-02-29 18:29:59-05:30") == 1_709_251_199)
        #expect(parse("2024-02-29 23:59:59.5") == 1_709_251_199.5)  // timestamp without time zone: UTC
        #expect(parse("2024-02-29") == 1_709_164_800)  // date: midnight UTC
        #expect(parse("0001-01-01 00:00:00+00 BC") == -62_167_219_200)
        #expect(parse("infinity") == nil)
        #expect(parse("2024-13-01 00:00:00+00") == nil)
        #expect(parse("2024-01-01 00:00:00+00 trailing") == nil)
    }

    @Test func byteaHexRoundTripsEveryByte() throws {
        let all = [UInt8](0...255)
        let hex = PostgresTextFormat.hexEncode(all)
        #expect(hex.prefix(4) == Array("\\x00".utf8)[...])
        #expect(PostgresTextFormat.hexDecode(hex[...]) == all)
        #expect(PostgresTextFormat.hexDecode(Array("\\xZZ".utf8)[...]) == nil)
        #expect(PostgresTextFormat.hexDecode(Array("00ff".utf8)[...]) == nil)
    }

    @Test func arrayLiteralsRoundTrip() throws {
        let elements = ["plain", "with space", "quote\"d", "back\\slash", "comma,brace{}", "", "NULL"]
        let literal = PostgresTextFormat.arrayLiteral(elements.map { Array($0.utf8) })
        let parsed = try #require(PostgresTextFormat.parseArray(literal[...]))
        #expect(parsed.map { $0.map { String(decoding: $0, as: UTF8.self) } } == elements)
        // Server-style unquoted elements and NULL.
        let server = try #require(PostgresTextFormat.parseArray(Array("{1,-2,NULL,\"x y\"}".utf8)[...]))
        #expect(server.map { $0.map { String(decoding: $0, as: UTF8.self) } } == ["1", "-2", nil, "x y"])
        #expect(PostgresTextFormat.parseArray(Array("{{1,2},{3,4}}".utf8)[...]) == nil)
        #expect(PostgresTextFormat.parseArray(Array("{}".utf8)[...])?.isEmpty == true)
    }

    @Test func copyEncodingEscapesDelimiters() throws {
        let rows: [[any PostgresBindable]] = [["a\tb\nc\\d\re", Int?.none, [UInt8]([0, 255])]]
        let encoded = try PostgresCopyEncoder.encode(rows, columnCount: 3, endpoint: "x", statement: "COPY")
        #expect(String(decoding: encoded, as: UTF8.self) == "a\\tb\\nc\\\\d\\re\t\\N\t\\\\x00ff\n")
        #expect(throws: PostgresError.self) {
            try PostgresCopyEncoder.encode([["only one"]], columnCount: 2, endpoint: "x", statement: "COPY")
        }
    }

    @Test func integerParsing() {
        #expect(PostgresTextFormat.parseInt64(Array("9223372036854775807".utf8)[...]) == .max)
        #expect(PostgresTextFormat.parseInt64(Array("-9223372036854775808".utf8)[...]) == .min)
        #expect(PostgresTextFormat.parseInt64(Array("9223372036854775808".utf8)[...]) == nil)
        #expect(PostgresTextFormat.parseInt64(Array("12a".utf8)[...]) == nil)
        #expect(PostgresTextFormat.parseInt64(Array("".utf8)[...]) == nil)
    }

    private func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
}

@Suite struct PostgresConfigurationTests {
    @Test func parsesURL() throws {
        let configuration = try PostgresConfiguration(url: "postgres://ledger@127.0.0.1:5453/ledgerline", password: "pw")
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 5453)
        #expect(configuration.user == "ledger")
        #expect(configuration.database == "ledgerline")
        #expect(configuration.password == "pw")
        #expect(configuration.description == "postgres://ledger@127.0.0.1:5453/ledgerline")
    }

    @Test func defaultsAndOptions() throws {
        let configuration = try PostgresConfiguration(
            url: "postgresql://[::1]/?application_name=ingest&sslmode=disable&connect_timeout=3", password: nil)
        #expect(configuration.host == "::1")
        #expect(configuration.port == 5432)
        #expect(configuration.user == "postgres")
        #expect(configuration.database == "postgres")
        #expect(configuration.applicationName == "ingest")
        #expect(configuration.sslMode == "disable")
        #expect(configuration.connectTimeout == .seconds(3))
        let escaped = try PostgresConfiguration(url: "postgres://us%40er:p%3Ass@db.local/my%20db", password: nil)
        #expect(escaped.user == "us@er")
        #expect(escaped.password == "p:ss")
        #expect(escaped.database == "my db")
    }

    @Test(arguments: [
        "", "127.0.0.1:5432/db", "mysql://u@h/db", "postgres://u@:5432/db", "postgres://u@h:99999/db",
        "postgres://u@h:abc/db", "postgres://u@[::1/db", "postgres://u@h/db?unknown=1", "postgres://u@h/db?sslmode",
        "postgres://u@h/db%zz", "postgres://u@h/a/b",
    ])
    func malformedURLIsATypedError(url: String) {
        let error = #expect(throws: PostgresError.self) { try PostgresConfiguration(url: url, password: nil) }
        #expect(error?.code == .invalidURL)
        #expect(error?.reason != nil)
    }

    @Test func passwordNeverInDescriptionOrURLError() throws {
        let configuration = try PostgresConfiguration(url: "postgres://u@h/db", password: "hunter2-canary")
        #expect(!configuration.description.contains("hunter2"))
        #expect(!String(describing: configuration).contains("hunter2"))
        let error = #expect(throws: PostgresError.self) {
            try PostgresConfiguration(url: "postgres://u:hunter2-canary@h:bad/db", password: nil)
        }
        #expect(!(error?.description.contains("hunter2") ?? true))
        #expect(!(error?.debugDescription.contains("hunter2") ?? true))
    }
}

@Suite struct PostgresErrorTests {
    @Test func helpersFollowSQLState() {
        #expect(PostgresError(code: .queryFailed, sqlState: "23505").isUniqueViolation)
        #expect(PostgresError(code: .queryFailed, sqlState: "40001").isSerializationFailure)
        #expect(PostgresError(code: .queryFailed, sqlState: "40P01").isDeadlock)
        #expect(PostgresError(code: .queryFailed, sqlState: "57P01").isConnectionError)
        #expect(PostgresError(code: .queryFailed, sqlState: "08006").isConnectionError)
        #expect(PostgresError(code: .connectionFailed).isConnectionError)
        #expect(!PostgresError(code: .queryFailed, sqlState: "23505").isConnectionError)
    }

    @Test func descriptionKeepsServerTextOut() {
        let error = PostgresError(
            code: .queryFailed, sqlState: "23505", message: "duplicate key value violates unique constraint",
            detail: "Key (key)=(secret-value) already exists.", constraintName: "events_key_key", host: "127.0.0.1:5432",
            statement: "INSERT INTO events (key) VALUES ($1)")
        #expect(error.description.contains("23505"))
        #expect(error.description.contains("events_key_key"))
        #expect(error.description.contains("127.0.0.1:5432"))
        #expect(error.description.contains("INSERT INTO events"))
        #expect(!error.description.contains("secret-value"))
        #expect(error.debugDescription.contains("secret-value"))
    }
}
