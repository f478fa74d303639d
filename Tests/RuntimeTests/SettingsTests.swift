import Logging
import Runtime
import Testing

struct SettingsTests {
    @Test func defaultsApplyWhenUnset() throws {
        let settings = Settings([:])
        #expect(try settings.int("LEDGERLINE_X", default: 7, range: 1...10) == 7)
        #expect(settings.string("LEDGERLINE_Y", default: "a") == "a")
        #expect(try settings.seconds("LEDGERLINE_Z", default: .seconds(3), range: 0...10) == .seconds(3))
    }

    @Test(arguments: [
        ("abc", "must be a whole number, got \"abc\""),
        ("0", "must be between 1 and 10, got 0"),
        ("11", "must be between 1 and 10, got 11"),
    ])
    func badIntegerNamesTheVariable(value: String, problem: String) {
        let settings = Settings(["LEDGERLINE_PREFETCH": value])
        #expect {
            try settings.int("LEDGERLINE_PREFETCH", default: 5, range: 1...10)
        } throws: { error in
            (error as? ConfigurationError)?.description == "configuration error: LEDGERLINE_PREFETCH \(problem)"
        }
    }

    @Test func missingRequiredSettingIsOneClearLine() {
        #expect {
            try Settings([:]).requiredString("LEDGERLINE_POSTGRES_URL")
        } throws: { error in
            "\(error)" == "configuration error: LEDGERLINE_POSTGRES_URL is required but not set"
        }
    }

    @Test func secondsAcceptFractions() throws {
        let settings = Settings(["T": "1.5"])
        #expect(try settings.seconds("T", default: .zero, range: 0...5) == .milliseconds(1500))
    }
}

struct StructuredLogHandlerTests {
    @Test func jsonLinesCarryMetadataAndRedactSecrets() throws {
        let sink = LogSink()
        var logger = Logger(label: "ledgerline.test") { label in
            StructuredLogHandler(label: label, level: .debug, format: .json, sink: sink)
        }
        logger[metadataKey: "tenant.id"] = "t-1"
        logger.info("Connected", metadata: ["postgres.password": "hunter2", "auth_token": "abc", "endpoint": "db:5432"])
        logger.debug("Quote \"and\" newline\n")
        logger.trace("not written")
        let lines = sink.captured
        try #require(lines.count == 2)
        #expect(lines[0].contains("\"message\":\"Connected\""))
        #expect(lines[0].contains("\"tenant.id\":\"t-1\""))
        #expect(lines[0].contains("\"endpoint\":\"db:5432\""))
        #expect(!lines[0].contains("hunter2"))
        #expect(!lines[0].contains("abc\""))
        #expect(lines[0].contains("\"postgres.password\":\"[redacted]\""))
        #expect(lines[1].contains("Quote \\\"and\\\" newline\\n"))
    }
}
