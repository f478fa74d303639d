import AuditTrail
import Domain
import Foundation
@testable import LogWriter
import Runtime
import Testing

@Suite struct CanonicalEncodingTests {
    static let event = AuditEvent(
        auditID: UUID(uuidString: "6F9619FF-8B86-D011-B42D-00C04FC964FF")!, kind: .recordSynced,
        occurredAt: Date(timeIntervalSince1970: 1_760_000_000.123456), tenantID: "sparks", locationID: "downtown-01",
        source: "worker-xero", erp: .xero, connectionID: UUID(uuidString: "00000000-0000-0000-0000-000000000001"),
        sessionID: UUID(uuidString: "00000000-0000-0000-0000-000000000002"),
        record: .init(objectType: .invoice, shopID: "inv-1", number: "1001", customerName: "Ada", erpID: "X-9"),
        action: "Invoice Created", outcome: .succeeded, inputEventID: "evt-1", idempotencyKey: "k-1", jobID: "job-1",
        attempt: 2, erpRequestID: "req-1", details: ["b": "2", "a": "1"])

    @Test func encodingStartsWithTheFormatTagAndEndsWithThePreviousHash() {
        let prev = [UInt8](repeating: 7, count: 32)
        let row = AuditRow(event: Self.event, chainSeq: 5, recordedAtMicros: 1, sessionID: Self.event.sessionID, prevHash: prev)
        let bytes = row.canonicalEncoding()
        #expect(Array(bytes.prefix(8)) == Array("LLAUDIT1".utf8))
        #expect(Array(bytes.suffix(32)) == prev)
        #expect(row.rowHash == AuditChain.hash(bytes))
        #expect(row.rowHash.count == 32)
    }

    @Test func theHashIsAFixedFunctionOfTheFields() {
        // A golden value, computed independently (a few lines of Python following docs/audit-trail.md,
        // "Canonical encoding"): changing the encoding breaks every stored chain, so it must be deliberate.
        let row = AuditRow(
            event: Self.event, chainSeq: 1, recordedAtMicros: 1_760_000_001_000_000, sessionID: Self.event.sessionID,
            prevHash: AuditChain.genesisHash)
        #expect(row.occurredAtMicros == 1_760_000_000_123_456)
        #expect(AuditChain.hex(row.rowHash) == "a89ff31fee2c0292fa89c790c462a24cbfa2c1e06e473c0fecb137a30ad1ee95")
        var other = row
        other.details = ["a": "1", "b": "2"]
        #expect(other.computedHash() == row.rowHash, "details are hashed in key order, not insertion order")
        for mutate in [
            { (r: inout AuditRow) in r.chainSeq = 2 }, { $0.message = "x" }, { $0.details = ["a": "1"] },
            { $0.attempt = nil }, { $0.prevHash = [UInt8](repeating: 1, count: 32) }, { $0.customerName = "Adb" },
            { $0.occurredAtMicros += 1 }, { $0.tenantID = "sparkz" },
        ] {
            var changed = row
            mutate(&changed)
            #expect(changed.computedHash() != row.rowHash)
        }
    }

    @Test func nilAndEmptyAreDifferent() {
        var a = AuditRow(event: Self.event, chainSeq: 1, recordedAtMicros: 0, sessionID: nil, prevHash: AuditChain.genesisHash)
        a.message = nil
        var b = a
        b.message = ""
        #expect(a.computedHash() != b.computedHash())
        // Field boundaries cannot be shifted: ("ab", nil) vs ("a", "b") differ.
        var c = a
        c.shopID = "ab"
        c.recordNumber = nil
        var d = a
        d.shopID = "a"
        d.recordNumber = "b"
        #expect(c.computedHash() != d.computedHash())
    }

    @Test(arguments: [0.0, 1_760_000_000.123456, 1_760_000_000.999_999_4, 1_760_000_000.000_000_6, 4_102_444_800.5])
    func microsecondsMatchPostgresRounding(_ seconds: Double) {
        let date = Date(timeIntervalSince1970: seconds)
        let micros = AuditRow.micros(date)
        #expect(Int64((seconds * 1_000_000).rounded()) == micros)
    }

    @Test func hexRoundTrips() {
        let bytes: [UInt8] = [0, 1, 0xab, 0xff]
        #expect(AuditChain.hex(bytes) == "0001abff")
        #expect(AuditChain.bytes(hex: "0001ABff") == bytes)
        #expect(AuditChain.bytes(hex: "0g") == nil)
        #expect(AuditChain.bytes(hex: "abc") == nil)
    }
}

@Suite struct SessionTallyTests {
    static func synced(
        _ type: AuditEvent.ObjectType?, _ action: String?, _ outcome: AuditEvent.Outcome?, details: [String: String]? = nil
    ) -> AuditEvent {
        event(.recordSynced, type, action, outcome, details: details)
    }

    static func event(
        _ kind: AuditEvent.Kind, _ type: AuditEvent.ObjectType?, _ action: String?,
        _ outcome: AuditEvent.Outcome?, details: [String: String]? = nil
    ) -> AuditEvent {
        AuditEvent(
            kind: kind, occurredAt: Date(), tenantID: "t", source: "worker-xero",
            record: type.map { .init(objectType: $0) }, action: action, outcome: outcome, details: details)
    }

    @Test(arguments: [
        (synced(.invoice, "Invoice Created", .succeeded), SessionTally(group: .invoices, result: .created)),
        (synced(.invoice, "Invoice Updated", .succeeded), SessionTally(group: .invoices, result: .updated)),
        (synced(.invoice, "Invoice Voided", .succeeded), SessionTally(group: .invoices, result: .updated)),
        (synced(.payment, "Payment Applied", .succeeded), SessionTally(group: .payments, result: .created)),
        (synced(.customer, "Customer Created", .succeeded), SessionTally(group: .customers, result: .created)),
        (synced(.customer, "Customer Skipped", .skipped), SessionTally(group: .customers, result: .skipped)),
        (synced(.invoice, "Invoice Failed", .failed), SessionTally(group: .invoices, result: .failed)),
        (synced(.invoice, "Invoice Parked", .parked), SessionTally(group: .invoices, result: .failed)),
        (synced(.invoice, "Invoice Rejected", .rejected), SessionTally(group: .invoices, result: .failed)),
        (synced(.invoice, "Invoice Deferred", .deferred), SessionTally(group: .invoices, result: .deferred)),
        (synced(.item, "Item Created", .succeeded), SessionTally(group: .others, result: .created)),
        (synced(.taxRate, "Tax Rate Pulled", .succeeded), SessionTally(group: .others, result: .created)),
        (synced(.invoice, "Invoice Synced", .succeeded, details: ["operation": "created"]), SessionTally(group: .invoices, result: .created)),
        (synced(.invoice, "Invoice Created", .succeeded, details: ["operation": "update"]), SessionTally(group: .invoices, result: .updated)),
        (synced(.customer, "Customer Skipped", nil), SessionTally(group: .customers, result: .skipped)),
        (event(.eventRejected, .event, "Invoice Rejected", .rejected), SessionTally(group: .invoices, result: .failed)),
        (event(.eventRejected, nil, nil, nil), SessionTally(group: .invoices, result: .failed)),
    ])
    func classifies(_ event: AuditEvent, _ expected: SessionTally) {
        #expect(SessionTally.classify(event) == expected)
    }

    @Test func nonRecordEventsDoNotCount() {
        for kind in [AuditEvent.Kind.eventReceived, .sessionOpened, .sessionClosed, .connectionChanged] {
            #expect(SessionTally.classify(Self.event(kind, .invoice, "Invoice Received", .succeeded)) == nil)
        }
    }

    @Test func realtimeEventsShareADeterministicHourlyWindowPerConnection() throws {
        let connection = UUID()
        func event(_ seconds: Double, connection: UUID) -> AuditEvent {
            AuditEvent(
                kind: .recordSynced, occurredAt: Date(timeIntervalSince1970: seconds), tenantID: "t",
                source: "worker-xero", erp: .xero, connectionID: connection)
        }
        let a = try #require(SessionAssignment.assign(event(7200 + 10, connection: connection)))
        let b = try #require(SessionAssignment.assign(event(7200 + 3599, connection: connection)))
        let c = try #require(SessionAssignment.assign(event(7200 + 3600, connection: connection)))
        let d = try #require(SessionAssignment.assign(event(7200 + 10, connection: UUID())))
        #expect(a == b)
        #expect(a.sessionID != c.sessionID)
        #expect(a.sessionID != d.sessionID)
        guard case .window(_, let kind, let start, let end) = a else { Issue.record("not a window"); return }
        #expect(kind == .realtime)
        #expect(start == 7_200_000_000)
        #expect(end == 10_800_000_000)
    }

    @Test func explicitSessionsWinAndOtherKindsGetNone() {
        let session = UUID()
        var event = Self.synced(.invoice, "Invoice Created", .succeeded)
        event.sessionID = session
        #expect(SessionAssignment.assign(event) == .explicit(session))
        #expect(SessionAssignment.assign(Self.event(.eventReceived, .invoice, nil, nil)) == nil)
        #expect(SessionAssignment.assign(Self.event(.connectionChanged, nil, nil, nil)) == nil)
        guard case .window(_, let kind, _, _)? = SessionAssignment.assign(Self.event(.eventRejected, .invoice, nil, .rejected))
        else { Issue.record("rejected events get an ingest window"); return }
        #expect(kind == .ingest)
    }
}

@Suite struct ValidationAndFormattingTests {
    @Test func validation() {
        var event = AuditEvent(kind: .recordSynced, occurredAt: Date(), tenantID: "sparks", source: "worker-xero")
        #expect(AuditEventValidation.problem(in: event) == nil)
        event.tenantID = ""
        #expect(AuditEventValidation.problem(in: event) != nil)
        event.tenantID = "-bad"
        #expect(AuditEventValidation.problem(in: event) != nil)
        event.tenantID = "sparks"
        event.message = "a\u{0}b"
        #expect(AuditEventValidation.problem(in: event)?.contains("NUL") == true)
        event.message = String(repeating: "x", count: AuditEventValidation.maxFieldBytes + 1)
        #expect(AuditEventValidation.problem(in: event) != nil)
        event.message = nil
        event.details = ["k\u{0}": "v"]
        #expect(AuditEventValidation.problem(in: event) != nil)
    }

    @Test func eventsTableShowsRecordResultAndReason() {
        let entry = SyncEventEntry(
            occurredAt: Date(timeIntervalSince1970: 1_760_000_000), tenantID: "t", locationID: "l", erp: "xero",
            sessionID: UUID(), kind: "record.synced", description: "Invoice Failed", objectType: "invoice",
            number: "1001", shopID: "inv-1001", customerName: "Ada\nMotors", erpID: nil, result: "failed",
            reasonCode: "arithmetic.total_mismatch", reason: "The total is not subtotal plus tax total.",
            erpMessage: "Total does not match", inputEventID: nil, idempotencyKey: nil, jobID: nil, attempt: nil,
            erpRequestID: nil, auditID: UUID(), chainSeq: 1)
        let table = SyncLogFormatter.eventsTable([entry])
        let lines = table.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("TIME (UTC)"))
        #expect(lines[1].contains("2025-10-09 08:53:20"))
        #expect(lines[1].contains("Invoice #1001"))
        #expect(lines[1].contains("Ada Motors"), "line breaks inside cells are flattened")
        #expect(lines[1].contains("arithmetic.total_mismatch"))
    }

    @Test func configurationReadsAndChecksItsKeys() throws {
        let configuration = try LogWriterConfiguration(settings: Settings([
            "LEDGERLINE_LOG_WRITER_BATCH_SIZE": "200", "LEDGERLINE_LOG_WRITER_BATCH_WAIT_SECONDS": "0.01",
        ]))
        #expect(configuration.batchSize == 200)
        #expect(configuration.prefetch == 400)
        #expect(configuration.batchWait == .milliseconds(10))
        #expect(throws: ConfigurationError.self) {
            try LogWriterConfiguration(settings: Settings([
                "LEDGERLINE_LOG_WRITER_BATCH_SIZE": "200", "LEDGERLINE_LOG_WRITER_PREFETCH": "100",
            ]))
        }
    }
}
