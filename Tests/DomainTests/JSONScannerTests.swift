import Foundation
import Testing

@testable import Domain

@Suite("Strict JSON scanner")
struct JSONScannerTests {
    private func scan(_ bytes: [UInt8], depth: Int = 16) -> Result<JSONValue, JSONScanner.Failure> {
        var scanner = JSONScanner(bytes: bytes, maxDepth: depth)
        return Result { () throws(JSONScanner.Failure) in try scanner.parseDocument() }
    }

    @Test(
        "malformed documents",
        arguments: [
            "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "1.", "-", ".5", "1e", "tru", "nul",
            "\"\\x\"", "\"\\u12\"", "\"abc", "{} {}", "NaN", "Infinity", "-Infinity", "'a'", "[1 2]", "\"\\ud800\"",
            "\"\\udc00\\ud800\"", "\"\\ud800\\u0041\"", "\u{FEFF}{}",
        ])
    func malformed(text: String) {
        guard case .failure(let failure) = scan(Array(text.utf8)) else {
            Issue.record("accepted \(text.debugDescription)")
            return
        }
        #expect(failure.code == .invalidJSON)
        #expect(failure.message.contains("byte"))
    }

    @Test(
        "invalid UTF-8 and raw control characters",
        arguments: [
            [0x22, 0xC3, 0x28, 0x22], [0x22, 0xFF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0x01, 0x22],
            [0x22, 0x0A, 0x22], [0x22, 0xE2, 0x82, 0x22],
        ] as [[UInt8]])
    func invalidBytes(bytes: [UInt8]) {
        guard case .failure(let failure) = scan(bytes) else {
            Issue.record("accepted \(bytes)")
            return
        }
        #expect(failure.code == .invalidJSON)
    }

    @Test func stringsAndEscapes() throws {
        let text = #"["a\"b\\c\/d\b\f\n\r\t", "\u00e9\u20AC", "\ud83d\ude97", "Grüße 🚗"]"#
        let value = try scan(Array(text.utf8)).get()
        #expect(
            value == .array([.string("a\"b\\c/d\u{08}\u{0C}\n\r\t"), .string("é€"), .string("🚗"), .string("Grüße 🚗")]))
    }

    @Test func numbersKeepTheirText() throws {
        let value = try scan(Array("[12.50, -0, 1e400, 123456789012345678901234567890, 1E-2]".utf8)).get()
        #expect(
            value
                == .array([
                    .number("12.50"), .number("-0"), .number("1e400"), .number("123456789012345678901234567890"),
                    .number("1E-2"),
                ]))
    }

    @Test func nestingLimitIsExact() throws {
        let ok = String(repeating: "[", count: 16) + String(repeating: "]", count: 16)
        #expect((try? scan(Array(ok.utf8)).get()) != nil)
        let deep = String(repeating: "[", count: 17) + String(repeating: "]", count: 17)
        guard case .failure(let failure) = scan(Array(deep.utf8)) else {
            Issue.record("accepted depth 17")
            return
        }
        #expect(failure.code == .nestingTooDeep)
        #expect(failure.path.description == String(repeating: "[0]", count: 16))
    }

    @Test func hostileNestingFailsFastWithoutRecursingDeep() {
        for opener in ["[", "{\"a\":"] {
            let bytes = Array(String(repeating: opener, count: 200_000).utf8)
            let clock = ContinuousClock()
            var code: ReasonCode?
            let elapsed = clock.measure {
                if case .failure(let failure) = scan(bytes) { code = failure.code }
            }
            #expect(code == .nestingTooDeep)
            #expect(elapsed < .seconds(1))
        }
    }

    @Test func duplicateKeysAreReportedWithTheirPathAndTheFirstValueWins() throws {
        var scanner = JSONScanner(bytes: Array(#"{"a":{"b":1,"b":2},"c":[{"d":1,"d":1}]}"#.utf8), maxDepth: 16)
        let value = try scanner.parseDocument()
        #expect(scanner.warnings.map(\.path.description) == ["a.b", "c[0].d"])
        #expect(scanner.warnings.allSatisfy { $0.code == .duplicateKey })
        #expect(value.value(at: "a.b") == .number("1"))
    }

    @Test func whitespaceAroundTheDocumentIsAllowed() throws {
        #expect(
            try scan(Array(" \n\t{\"a\" : [ true , false , null ] }\r\n".utf8)).get()
                == .object(
                    {
                        var object = JSONObject()
                        object.insert("a", .array([.bool(true), .bool(false), .null]))
                        return object
                    }()))
    }
}

@Suite("Hostile input")
struct HostileInputTests {
    /// Thousands of randomly damaged copies of a valid event: every one decodes or is rejected; none traps.
    @Test func damagedBodiesNeverCrashTheDecoder() throws {
        let original = try Repo.bytes(Repo.examples.appendingPathComponent("invoice-updated.json"))
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next(_ bound: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(bound))
        }
        let interesting: [UInt8] = Array("{}[]\",:.-0123456789eE\\u tfn".utf8) + [0x00, 0x7F, 0xC3, 0xFF, 0xED]
        var rejected = 0
        for _ in 0..<3_000 {
            var bytes = original
            for _ in 0..<(1 + next(4)) where !bytes.isEmpty {
                let position = next(bytes.count)
                switch next(4) {
                case 0: bytes[position] = interesting[next(interesting.count)]
                case 1: bytes.remove(at: position)
                case 2: bytes.insert(interesting[next(interesting.count)], at: position)
                default: bytes = Array(bytes[..<max(position, 1)])
                }
            }
            if case .failure(let error) = InvoiceEventDecoder().decode(bytes) {
                rejected += 1
                #expect(!error.failures.isEmpty)
            }
        }
        #expect(rejected > 2_500)
    }

    @Test func largeButLegalBodiesAreBounded() {
        // A 1 MiB string inside the limit is read, then rejected for its length; nothing else happens.
        let filler = String(repeating: "x", count: 1_000_000)
        let body = Array(#"{"schema_version":"1","event_id":"\#(filler)"}"#.utf8)
        let failures = InvoiceEventDecoder().decode(body).failures
        #expect(failures.contains { $0.code == .stringTooLong && $0.path == "event_id" })
        #expect(failures.count < 20)
    }
}
