import AuditTrail
import Domain
import Foundation
import Postgres
import TestSupport
import Testing

@Suite(.requiresPostgres) struct AuditTrailWriterTests {
    @Test func storesEachAuditIDOnceAndChainsTheRows() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let writer = AuditTrailWriter(pool: pool)
        let fixture = SyncRunFixture(tenant: TestStack.unique("dup"))
        // Duplicates within one batch and across batches.
        let first = try await writer.append(fixture.events + [fixture.events[0]], logger: TestStack.logger)
        #expect(first.stored == fixture.events.count)
        #expect(first.duplicates == 1)
        let again = try await writer.append(fixture.duplicates, logger: TestStack.logger)
        #expect(again.stored == 0)
        #expect(again.duplicates == fixture.duplicates.count)
        #expect(try await TestStack.auditRowCount(fixture.tenant, pool) == fixture.events.count)

        let seqs = try await pool.query(
            "SELECT chain_seq FROM audit_trail WHERE tenant_id = \(fixture.tenant) ORDER BY chain_seq"
        ).map { try $0.decode(Int64.self, "chain_seq") }
        #expect(seqs == Array(1...Int64(fixture.events.count)))
        let verification = try await pool.withConnection {
            try await AuditVerifier().verify(tenant: fixture.tenant, on: $0, logger: TestStack.logger)
        }
        #expect(verification.isIntact, "\(String(describing: verification.firstBreak))")
        #expect(verification.rowsChecked == Int64(fixture.events.count))
        #expect(verification.headSeq == Int64(fixture.events.count))
    }

    @Test func everyRowIsTraceableToItsInputEventJobAttemptAndERPRequest() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let fixture = SyncRunFixture(tenant: TestStack.unique("trace"))
        try await AuditTrailWriter(pool: pool).append(fixture.events, logger: TestStack.logger)
        let failed = fixture.events[8]
        let row = try #require(try await pool.query(
            """
            SELECT input_event_id, idempotency_key, job_id, attempt, erp_request_id, reason_code, message, session_id
            FROM audit_trail WHERE tenant_id = \(fixture.tenant) AND audit_id = \(failed.auditID)
            """
        ).first)
        #expect(try row.decode(String?.self, "input_event_id") == failed.inputEventID)
        #expect(try row.decode(String?.self, "idempotency_key") == failed.idempotencyKey)
        #expect(try row.decode(String?.self, "job_id") == fixture.job)
        #expect(try row.decode(Int?.self, "attempt") == 3)
        #expect(try row.decode(String?.self, "erp_request_id") == failed.erpRequestID)
        #expect(try row.decode(String?.self, "reason_code") == "erp.rejected_data")
        #expect(try row.decode(UUID?.self, "session_id") == fixture.session)
    }

    @Test func sessionsCountRecordsOnceAndOpenWindowsForRecordsWithoutASession() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let writer = AuditTrailWriter(pool: pool)
        let fixture = SyncRunFixture(tenant: TestStack.unique("sess"))
        // Out of order: the record events and the close arrive before the open; duplicates on top.
        let shuffled = Array(fixture.events[5...]) + Array(fixture.events[..<5]) + fixture.duplicates
        for chunk in stride(from: 0, to: shuffled.count, by: 4) {
            try await writer.append(Array(shuffled[chunk..<min(chunk + 4, shuffled.count)]), logger: TestStack.logger)
        }
        let sessions = try await pool.withConnection {
            try await SyncLog.sessions(SyncLogFilter(tenantID: fixture.tenant), on: $0, logger: TestStack.logger)
        }
        #expect(sessions.count == 3)
        let run = try #require(sessions.first { $0.sessionID == fixture.session })
        #expect(run.kind == "run")
        #expect(run.trigger == "interval")
        #expect(run.erp == "xero")
        #expect(run.locationID == "downtown-01")
        #expect(run.customers == SyncCounter(created: 1, updated: 0, skipped: 1, failed: 0))
        #expect(run.invoices == SyncCounter(created: 1, updated: 1, skipped: 0, failed: 1))
        #expect(run.payments == SyncCounter(created: 1, updated: 0, skipped: 0, failed: 0))
        #expect(run.eventsRecorded == 6)
        #expect(run.result == "completed_with_failures")
        #expect(run.startedAt == fixture.events[4].occurredAt.roundedToMicros)
        #expect(run.endedAt == fixture.events[11].occurredAt.roundedToMicros)

        let realtime = try #require(sessions.first { $0.kind == "realtime_window" })
        #expect(realtime.trigger == "realtime")
        #expect(realtime.invoices == SyncCounter(created: 0, updated: 1, skipped: 0, failed: 0))
        #expect(realtime.result == "completed")
        let ingest = try #require(sessions.first { $0.kind == "ingest_window" })
        #expect(ingest.invoices == SyncCounter(created: 0, updated: 0, skipped: 0, failed: 1))
    }

    @Test func concurrentWritersOfOneTenantKeepOneUnbrokenChain() async throws {
        let pool = try await TestStack.ownerPool(maxConnections: 4)
        defer { pool.close() }
        let tenant = TestStack.unique("race")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writerIndex in 0..<4 {
                group.addTask {
                    var scenario = AuditScenario(tenant: tenant)
                    let writer = AuditTrailWriter(pool: pool)
                    for batch in 0..<5 {
                        let events = (0..<10).map { index in
                            scenario.synced(nil, .invoice, "Invoice Created", .succeeded, number: "\(writerIndex)-\(batch)-\(index)")
                        }
                        try await writer.append(events, logger: TestStack.logger)
                    }
                }
            }
            try await group.waitForAll()
        }
        let verification = try await pool.withConnection {
            try await AuditVerifier().verify(tenant: tenant, on: $0, logger: TestStack.logger)
        }
        #expect(verification.isIntact, "\(String(describing: verification.firstBreak))")
        #expect(verification.rowsChecked == 200)
        let counted = try await pool.query(
            "SELECT sum(invoices_created) AS n FROM sync_sessions WHERE tenant_id = \(tenant)").first!.decode(Int.self, "n")
        #expect(counted == 200)
    }

    @Test func invalidEventsAreRefusedBeforeAnythingIsSent() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        var scenario = AuditScenario(tenant: TestStack.unique("bad"))
        var bad = scenario.synced(nil, .invoice, "Invoice Created", .succeeded, number: "1")
        bad.message = "nul \u{0} inside"
        await #expect(throws: AuditTrailError.self) {
            try await AuditTrailWriter(pool: pool).append([scenario.received("2", total: "1.00"), bad], logger: TestStack.logger)
        }
        #expect(try await TestStack.auditRowCount(scenario.tenant.rawValue, pool) == 0)
    }
}

extension Date {
    /// The instant as Postgres stores it (microseconds).
    var roundedToMicros: Date { Date(timeIntervalSince1970: Double(AuditRow.micros(self)) / 1_000_000) }
}

@Suite(.requiresPostgres) struct AuditVerifyTests {
    /// Writes a 6-row chain for a new tenant and returns the tenant.
    static func chain(_ pool: PostgresPool, rows: Int = 6) async throws -> String {
        let tenant = TestStack.unique("chain")
        var scenario = AuditScenario(tenant: tenant)
        let events = (1...rows).map { scenario.synced(nil, .invoice, "Invoice Created", .succeeded, number: "\($0)") }
        try await AuditTrailWriter(pool: pool).append(events, logger: TestStack.logger)
        return tenant
    }

    static func verify(_ tenant: String, _ pool: PostgresPool) async throws -> AuditVerification {
        try await pool.withConnection { try await AuditVerifier(pageSize: 4).verify(tenant: tenant, on: $0, logger: TestStack.logger) }
    }

    @Test func anUntouchedChainVerifiesAcrossPages() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let tenant = try await Self.chain(pool, rows: 9)
        let result = try await Self.verify(tenant, pool)
        #expect(result.isIntact)
        #expect(result.rowsChecked == 9)
        #expect(result.firstSeq == 1)
        #expect(result.lastSeq == 9)
    }

    @Test func anEditedRowIsCaught() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let tenant = try await Self.chain(pool)
        try await TestStack.tamper(pool) {
            try await $0.execute("UPDATE audit_trail SET message = 'looks fine' WHERE tenant_id = \(tenant) AND chain_seq = 3")
        }
        let broken = try #require(try await Self.verify(tenant, pool).firstBreak)
        #expect(broken.kind == .rowHashMismatch)
        #expect(broken.chainSeq == 3)
        #expect(broken.auditID != nil)
    }

    @Test func aDeletedRowIsCaught() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let tenant = try await Self.chain(pool)
        try await TestStack.tamper(pool) {
            try await $0.execute("DELETE FROM audit_trail WHERE tenant_id = \(tenant) AND chain_seq = 4")
        }
        let broken = try #require(try await Self.verify(tenant, pool).firstBreak)
        #expect(broken.kind == .missingRow)
        #expect(broken.chainSeq == 4)
    }

    @Test func swappedRowsAreCaught() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let tenant = try await Self.chain(pool)
        try await TestStack.tamper(pool) { connection in
            try await connection.execute("UPDATE audit_trail SET chain_seq = 1000 WHERE tenant_id = \(tenant) AND chain_seq = 2")
            try await connection.execute("UPDATE audit_trail SET chain_seq = 2 WHERE tenant_id = \(tenant) AND chain_seq = 5")
            try await connection.execute("UPDATE audit_trail SET chain_seq = 5 WHERE tenant_id = \(tenant) AND chain_seq = 1000")
        }
        let broken = try #require(try await Self.verify(tenant, pool).firstBreak)
        #expect(broken.kind == .rowHashMismatch)
        #expect(broken.chainSeq == 2)
    }

    @Test func anEditWithARecomputedHashBreaksTheNextLink() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let tenant = try await Self.chain(pool)
        // The attacker knows the encoding and rehashes the edited row, but cannot fix row 4's prev_hash
        // without rewriting the rest of the chain.
        let rows = try await pool.query(
            """
            SELECT tenant_id, chain_seq, audit_id, kind, (EXTRACT(EPOCH FROM occurred_at) * 1000000)::bigint AS occurred_us,
                   (EXTRACT(EPOCH FROM recorded_at) * 1000000)::bigint AS recorded_us, location_id, source, erp,
                   connection_id, session_id, object_type, shop_id, record_number, customer_name, erp_id, action,
                   outcome, reason_code, message, input_event_id, idempotency_key, job_id, attempt, erp_request_id,
                   details::text AS details, prev_hash, row_hash
            FROM audit_trail WHERE tenant_id = \(tenant) AND chain_seq = 3
            """)
        var row = try #require(try rows.first.map { try StoredRow.decode($0) })
        row.customerName = "Someone Else"
        let rehashed = row.computedHash()
        try await TestStack.tamper(pool) {
            try await $0.execute(
                """
                UPDATE audit_trail SET customer_name = 'Someone Else', row_hash = \(rehashed)
                WHERE tenant_id = \(tenant) AND chain_seq = 3
                """)
        }
        let broken = try #require(try await Self.verify(tenant, pool).firstBreak)
        #expect(broken.kind == .prevHashMismatch)
        #expect(broken.chainSeq == 4)
    }

    @Test func aTruncatedTailAndAMissingHeadAreCaught() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let tenant = try await Self.chain(pool)
        try await TestStack.tamper(pool) {
            try await $0.execute("DELETE FROM audit_trail WHERE tenant_id = \(tenant) AND chain_seq >= 5")
        }
        let broken = try #require(try await Self.verify(tenant, pool).firstBreak)
        #expect(broken.kind == .missingTail)
        #expect(broken.chainSeq == 5)

        let other = try await Self.chain(pool)
        try await pool.execute("DELETE FROM audit_chain_heads WHERE tenant_id = \(other)")
        #expect(try await Self.verify(other, pool).firstBreak?.kind == .headMismatch)
    }

    @Test func checkpointsLetOldRowsBeArchivedWithoutBreakingVerification() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let tenant = try await Self.chain(pool, rows: 10)
        let checkpoint = try #require(try await pool.withConnection {
            try await AuditVerifier().checkpoint(tenant: tenant, on: $0, logger: TestStack.logger)
        })
        #expect(checkpoint.chainSeq == 10)
        var scenario = AuditScenario(tenant: tenant)
        try await AuditTrailWriter(pool: pool).append(
            (11...15).map { scenario.synced(nil, .invoice, "Invoice Updated", .succeeded, number: "\($0)") },
            logger: TestStack.logger)
        // Archive rows 1...10 (in production: detach the partition that holds them).
        try await TestStack.tamper(pool) {
            try await $0.execute("DELETE FROM audit_trail WHERE tenant_id = \(tenant) AND chain_seq <= 10")
        }
        let result = try await Self.verify(tenant, pool)
        #expect(result.isIntact, "\(String(describing: result.firstBreak))")
        #expect(result.startCheckpointSeq == 10)
        #expect(result.rowsChecked == 5)

        // The same archive without a checkpoint is a break.
        let other = try await Self.chain(pool, rows: 6)
        try await TestStack.tamper(pool) {
            try await $0.execute("DELETE FROM audit_trail WHERE tenant_id = \(other) AND chain_seq <= 3")
        }
        let broken = try #require(try await Self.verify(other, pool).firstBreak)
        #expect(broken.kind == .missingStart)
        // And a broken chain gets no checkpoint.
        await #expect(throws: AuditTrailError.self) {
            try await pool.withConnection { try await AuditVerifier().checkpoint(tenant: other, on: $0, logger: TestStack.logger) }
        }
    }

    @Test func verificationFindsTheBrokenTenantAmongIntactOnes() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let intact = try await Self.chain(pool)
        let broken = try await Self.chain(pool)
        try await TestStack.tamper(pool) {
            try await $0.execute("UPDATE audit_trail SET outcome = 'failed' WHERE tenant_id = \(broken) AND chain_seq = 1")
        }
        // verifyAll walks every tenant of the database, which may hold a benchmark's worth of rows:
        // check that both tenants are enumerated, then verify just these two.
        let (tenants, results) = try await pool.withConnection { connection in
            let verifier = AuditVerifier()
            let tenants = try await verifier.tenants(on: connection, logger: TestStack.logger)
            var results: [AuditVerification] = []
            for tenant in [intact, broken] {
                results.append(try await verifier.verify(tenant: tenant, on: connection, logger: TestStack.logger))
            }
            return (tenants, results)
        }
        #expect(tenants.contains(intact) && tenants.contains(broken))
        #expect(results.first { $0.tenantID == intact }?.isIntact == true)
        #expect(results.first { $0.tenantID == broken }?.firstBreak?.chainSeq == 1)
    }
}

/// Decodes rows selected with the verifier's column list (the decoder itself is internal to AuditTrail).
enum StoredRow {
    static func decode(_ row: PostgresRow) throws -> AuditRow {
        let details = try row.decode(String?.self, "details").map {
            try JSONDecoder().decode([String: String].self, from: Data($0.utf8))
        }
        return AuditRow(
            tenantID: try row.decode(String.self, "tenant_id"), chainSeq: try row.decode(Int64.self, "chain_seq"),
            auditID: try row.decode(UUID.self, "audit_id"), kind: try row.decode(String.self, "kind"),
            occurredAtMicros: try row.decode(Int64.self, "occurred_us"),
            recordedAtMicros: try row.decode(Int64.self, "recorded_us"),
            locationID: try row.decode(String?.self, "location_id"), source: try row.decode(String.self, "source"),
            erp: try row.decode(String?.self, "erp"), connectionID: try row.decode(UUID?.self, "connection_id"),
            sessionID: try row.decode(UUID?.self, "session_id"), objectType: try row.decode(String?.self, "object_type"),
            shopID: try row.decode(String?.self, "shop_id"), recordNumber: try row.decode(String?.self, "record_number"),
            customerName: try row.decode(String?.self, "customer_name"), erpID: try row.decode(String?.self, "erp_id"),
            action: try row.decode(String?.self, "action"), outcome: try row.decode(String?.self, "outcome"),
            reasonCode: try row.decode(String?.self, "reason_code"), message: try row.decode(String?.self, "message"),
            inputEventID: try row.decode(String?.self, "input_event_id"),
            idempotencyKey: try row.decode(String?.self, "idempotency_key"), jobID: try row.decode(String?.self, "job_id"),
            attempt: try row.decode(Int?.self, "attempt"), erpRequestID: try row.decode(String?.self, "erp_request_id"),
            details: details, prevHash: try row.decode([UInt8].self, "prev_hash"),
            rowHash: try row.decode([UInt8].self, "row_hash"))
    }
}
