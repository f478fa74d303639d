public import Domain
import Foundation
public import Logging
public import Postgres

/// What one ``AuditTrailWriter/append(_:logger:)`` call did.
public struct AuditAppendResult: Sendable, Hashable {
    /// New rows appended to the trail.
    public var stored: Int
    /// Events already in the trail (or repeated within the batch), not stored again.
    public var duplicates: Int
    /// Sync sessions created or updated.
    public var sessionsTouched: Int

    public init(stored: Int = 0, duplicates: Int = 0, sessionsTouched: Int = 0) {
        self.stored = stored
        self.duplicates = duplicates
        self.sessionsTouched = sessionsTouched
    }
}

/// Appends audit events to the trail and keeps the sync sessions' counts.
///
/// A batch's tenants are spread over up to `parallelism` transactions that run at once (each tenant's
/// events stay together, in arrival order). For each of its tenants, in tenant order (so concurrent
/// writers never deadlock), a transaction:
/// 1. sets `ledgerline.tenant_id` (row-level security);
/// 2. locks the tenant's chain head (`INSERT … ON CONFLICT DO UPDATE … RETURNING`), which serialises
///    every writer of that tenant until commit, and reads the server clock as `recorded_at`;
/// 3. finds which audit ids are already stored: under the lock nobody else can add them, so the
///    check is exact and duplicates are dropped before they get a chain position or a count;
/// 4. appends the new rows (one multi-row `INSERT … SELECT FROM unnest(…)`; `COPY` is not allowed
///    into a table whose row-level security applies), moves the head, and upserts the sessions.
///
/// Each transaction is retried as a whole on serialization failures, deadlocks and connections lost
/// before `COMMIT`. Whatever else fails is thrown; transactions of the batch that had committed keep
/// their rows, and appending the whole batch again stores exactly the rest (duplicates are skipped).
public struct AuditTrailWriter: Sendable {
    private let pool: PostgresPool
    private let parallelism: Int

    /// - Parameters:
    ///   - pool: where to write; its role needs the grants of `ledgerline_service`.
    ///   - parallelism: how many transactions one batch may use at once, each for a disjoint set of
    ///     tenants (one connection each). Default 2; 1 writes every batch in a single transaction.
    public init(pool: PostgresPool, parallelism: Int = 2) {
        self.pool = pool
        self.parallelism = max(1, min(parallelism, pool.maxConnections))
    }

    /// Appends `events`, each audit id once.
    ///
    /// - Returns: how many rows were stored and how many events were duplicates.
    /// - Throws: `PostgresError` (some tenants' rows may be stored; append the batch again), or ``AuditTrailError`` with
    ///   ``AuditTrailError/Code/invalidEvent`` when an event fails ``AuditEventValidation`` (checked
    ///   before anything is sent).
    @discardableResult
    public func append(_ events: [AuditEvent], logger: Logger) async throws -> AuditAppendResult {
        guard !events.isEmpty else { return AuditAppendResult() }
        for event in events {
            if let problem = AuditEventValidation.problem(in: event) {
                throw AuditTrailError(
                    code: .invalidEvent, tenantID: event.tenantID.rawValue,
                    detail: "audit event \(event.auditID): \(problem)")
            }
        }
        // Group by tenant, keeping arrival order; repeats within the batch are duplicates.
        var byTenant: [String: [AuditEvent]] = [:]
        var seen = Set<String>()
        var repeated = 0
        for event in events {
            guard seen.insert("\(event.tenantID.rawValue)|\(event.auditID)").inserted else {
                repeated += 1
                continue
            }
            byTenant[event.tenantID.rawValue, default: []].append(event)
        }
        // Tenants are split into up to `parallelism` groups, each appended in its own transaction on
        // its own connection, concurrently. Groups share no tenant, so they share no row and cannot
        // deadlock; within a group tenants are locked in name order.
        let tenants = byTenant.keys.sorted()
        let groupCount = max(1, min(parallelism, tenants.count))
        var groups = [[String]](repeating: [], count: groupCount)
        var load = [Int](repeating: 0, count: groupCount)
        for tenant in tenants.sorted(by: { byTenant[$0]!.count > byTenant[$1]!.count }) {
            let lightest = load.indices.min { load[$0] < load[$1] }!
            groups[lightest].append(tenant)
            load[lightest] += byTenant[tenant]!.count
        }
        let batches = groups.map { group in group.sorted().map { ($0, byTenant[$0]!) } }
        var result = try await withThrowingTaskGroup(of: AuditAppendResult.self) { taskGroup in
            for batch in batches {
                taskGroup.addTask { try await appendGroup(batch, logger: logger) }
            }
            var total = AuditAppendResult()
            for try await part in taskGroup {
                total.stored += part.stored
                total.duplicates += part.duplicates
                total.sessionsTouched += part.sessionsTouched
            }
            return total
        }
        result.duplicates += repeated
        return result
    }

    /// Appends the events of some tenants in one transaction, tenant by tenant.
    private func appendGroup(_ tenants: [(String, [AuditEvent])], logger: Logger) async throws -> AuditAppendResult {
        try await pool.withTransaction(logger: logger) { connection in
            var result = AuditAppendResult()
            for (tenant, events) in tenants {
                let part = try await appendTenant(tenant, events, connection: connection, logger: logger)
                result.stored += part.stored
                result.duplicates += part.duplicates
                result.sessionsTouched += part.sessionsTouched
            }
            return result
        }
    }

    private func appendTenant(
        _ tenant: String, _ events: [AuditEvent], connection: PostgresConnection, logger: Logger
    ) async throws -> AuditAppendResult {
        try await TenantScope.enter(tenant, on: connection, logger: logger)
        let head = try await connection.query(
            """
            INSERT INTO audit_chain_heads AS h (tenant_id, last_seq, last_hash)
            VALUES (\(tenant), 0, \(AuditChain.genesisHash))
            ON CONFLICT (tenant_id) DO UPDATE SET updated_at = clock_timestamp()
            RETURNING h.last_seq, h.last_hash, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint AS now_us
            """, logger: logger)
        guard let headRow = head.first else {
            throw PostgresError(code: .protocolViolation, reason: "chain head upsert returned no row")
        }
        var lastSeq = try headRow.decode(Int64.self, "last_seq")
        var lastHash = try headRow.decode([UInt8].self, "last_hash")
        let recordedAt = try headRow.decode(Int64.self, "now_us")

        let existing = try await connection.query(
            "SELECT audit_id FROM audit_trail WHERE tenant_id = \(tenant) AND audit_id = ANY(\(events.map(\.auditID)))",
            logger: logger)
        let stored = Set(try existing.map { try $0.decode(UUID.self, "audit_id") })
        let fresh = events.filter { !stored.contains($0.auditID) }
        guard !fresh.isEmpty else { return AuditAppendResult(duplicates: events.count) }

        var rows: [AuditRow] = []
        rows.reserveCapacity(fresh.count)
        var sessions: [UUID: SessionDelta] = [:]
        var sessionOrder: [UUID] = []
        for event in fresh {
            let assignment = SessionAssignment.assign(event)
            lastSeq += 1
            let row = AuditRow(
                event: event, chainSeq: lastSeq, recordedAtMicros: recordedAt, sessionID: assignment?.sessionID,
                prevHash: lastHash)
            lastHash = row.rowHash
            rows.append(row)
            guard let assignment else { continue }
            let id = assignment.sessionID
            if sessions[id] == nil {
                sessionOrder.append(id)
                switch assignment {
                case .explicit:
                    sessions[id] = SessionDelta(sessionID: id, kind: "run")
                case .window(_, let kind, let start, let end):
                    var delta = SessionDelta(sessionID: id, kind: kind.rawValue)
                    delta.trigger = kind == .realtime ? "realtime" : "ingest"
                    delta.windowStart = start
                    delta.windowEnd = end
                    sessions[id] = delta
                }
            }
            sessions[id]!.apply(event, occurredMicros: row.occurredAtMicros)
        }

        var statements: [PostgresQuery] = [
            Self.insertRows(tenant, rows),
            "UPDATE audit_chain_heads SET last_seq = \(lastSeq), last_hash = \(lastHash), updated_at = clock_timestamp() WHERE tenant_id = \(tenant)",
        ]
        if !sessionOrder.isEmpty {
            statements.append(Self.upsertSessions(tenant, sessionOrder.map { sessions[$0]! }))
        }
        let counts = try await connection.pipeline(statements, logger: logger)
        guard counts[0] == rows.count else {
            throw PostgresError(
                code: .protocolViolation, reason: "inserted \(counts[0]) audit rows, expected \(rows.count)")
        }
        logger.trace("Audit rows appended", metadata: [
            "tenant.id": "\(tenant)", "audit.stored": "\(rows.count)", "audit.chain_seq": "\(lastSeq)",
        ])
        return AuditAppendResult(
            stored: rows.count, duplicates: events.count - rows.count, sessionsTouched: sessionOrder.count)
    }

    // MARK: Statements

    private static func timestamp(_ column: String) -> String {
        "CASE WHEN \(column) IS NULL THEN NULL ELSE timestamptz 'epoch' + \(column)::bigint * interval '1 microsecond' END"
    }

    static func insertRows(_ tenant: String, _ rows: [AuditRow]) -> PostgresQuery {
        var columns = [TextArrayBuilder](repeating: TextArrayBuilder(capacity: rows.count), count: 26)
        for row in rows {
            let values: [String?] = [
                String(row.chainSeq), row.auditID.uuidString, row.kind, String(row.occurredAtMicros),
                String(row.recordedAtMicros), row.locationID, row.source, row.erp, row.connectionID?.uuidString,
                row.sessionID?.uuidString, row.objectType, row.shopID, row.recordNumber, row.customerName, row.erpID,
                row.action, row.outcome, row.reasonCode, row.message, row.inputEventID, row.idempotencyKey, row.jobID,
                row.attempt.map(String.init), row.erpRequestID,
                row.details.map(JSONText.object),
                AuditChain.hex(row.prevHash) + AuditChain.hex(row.rowHash),
            ]
            for index in values.indices { columns[index].append(values[index]) }
        }
        let sql = """
            INSERT INTO audit_trail (tenant_id, chain_seq, audit_id, kind, occurred_at, recorded_at, location_id, source,
                erp, connection_id, session_id, object_type, shop_id, record_number, customer_name, erp_id, action,
                outcome, reason_code, message, input_event_id, idempotency_key, job_id, attempt, erp_request_id, details,
                prev_hash, row_hash)
            SELECT $1, u.seq::bigint, u.audit_id::uuid, u.kind, \(timestamp("u.occurred")), \(timestamp("u.recorded")),
                u.location_id, u.source, u.erp, u.connection_id::uuid, u.session_id::uuid, u.object_type, u.shop_id,
                u.record_number, u.customer_name, u.erp_id, u.action, u.outcome, u.reason_code, u.message,
                u.input_event_id, u.idempotency_key, u.job_id, u.attempt::integer, u.erp_request_id, u.details::jsonb,
                decode(substr(u.hashes, 1, 64), 'hex'), decode(substr(u.hashes, 65, 64), 'hex')
            FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                        $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
                        $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[],
                        $24::text[], $25::text[], $26::text[], $27::text[])
                AS u(seq, audit_id, kind, occurred, recorded, location_id, source, erp, connection_id, session_id,
                     object_type, shop_id, record_number, customer_name, erp_id, action, outcome, reason_code, message,
                     input_event_id, idempotency_key, job_id, attempt, erp_request_id, details, hashes)
            """
        return PostgresQuery(unsafeSQL: sql, encodedBinds: [tenant.postgresBind] + columns.map { $0.bind() })
    }

    static func upsertSessions(_ tenant: String, _ deltas: [SessionDelta]) -> PostgresQuery {
        var texts = [TextArrayBuilder](repeating: TextArrayBuilder(capacity: deltas.count), count: 18)
        var counts = [[Int]](repeating: [], count: SessionDelta.counterColumns.count + 1)
        for delta in deltas {
            let values: [String?] = [
                delta.sessionID.uuidString, delta.kind, delta.trigger, delta.locationID, delta.erp,
                delta.connectionID?.uuidString, delta.jobID, delta.source, delta.openedAt.map(String.init),
                delta.closedAt.map(String.init), delta.windowStart.map(String.init), delta.windowEnd.map(String.init),
                delta.firstEventAt.map(String.init), delta.lastEventAt.map(String.init), delta.closeOutcome,
                delta.closeReasonCode, delta.closeMessage,
                delta.reportedCounts.map(JSONText.object),
            ]
            for index in values.indices { texts[index].append(values[index]) }
            for index in delta.counts.indices { counts[index].append(delta.counts[index]) }
            counts[SessionDelta.counterColumns.count].append(delta.eventsRecorded)
        }
        let countColumns = SessionDelta.counterColumns + ["events_recorded"]
        var binds: [PostgresBind] = [tenant.postgresBind] + texts.map { $0.bind() }
        binds += counts.map { $0.postgresBind }
        let textParams = (0..<18).map { "$\($0 + 2)::text[]" }
        let countParams = countColumns.indices.map { "$\($0 + 20)::bigint[]" }
        let countAliases = countColumns.indices.map { "c\($0)" }
        let sql = """
            INSERT INTO sync_sessions AS s (tenant_id, session_id, session_kind, trigger, location_id, erp, connection_id,
                job_id, source, opened_at, closed_at, window_start, window_end, first_event_at, last_event_at,
                close_outcome, close_reason_code, close_message, reported_counts, \(countColumns.joined(separator: ", ")),
                updated_at)
            SELECT $1, u.session_id::uuid, u.kind, u.trigger, u.location_id, u.erp, u.connection_id::uuid, u.job_id,
                u.source, \(timestamp("u.opened")), \(timestamp("u.closed")), \(timestamp("u.window_start")),
                \(timestamp("u.window_end")), \(timestamp("u.first_event")), \(timestamp("u.last_event")),
                u.close_outcome, u.close_reason_code, u.close_message, u.reported::jsonb,
                \(countAliases.map { "u.\($0)" }.joined(separator: ", ")), clock_timestamp()
            FROM unnest(\((textParams + countParams).joined(separator: ", ")))
                AS u(session_id, kind, trigger, location_id, erp, connection_id, job_id, source, opened, closed,
                     window_start, window_end, first_event, last_event, close_outcome, close_reason_code,
                     close_message, reported, \(countAliases.joined(separator: ", ")))
            ON CONFLICT (tenant_id, session_id) DO UPDATE SET
                trigger = COALESCE(EXCLUDED.trigger, s.trigger),
                location_id = COALESCE(s.location_id, EXCLUDED.location_id),
                erp = COALESCE(s.erp, EXCLUDED.erp),
                connection_id = COALESCE(s.connection_id, EXCLUDED.connection_id),
                job_id = COALESCE(s.job_id, EXCLUDED.job_id),
                source = COALESCE(s.source, EXCLUDED.source),
                opened_at = LEAST(s.opened_at, EXCLUDED.opened_at),
                closed_at = GREATEST(s.closed_at, EXCLUDED.closed_at),
                window_start = COALESCE(s.window_start, EXCLUDED.window_start),
                window_end = COALESCE(s.window_end, EXCLUDED.window_end),
                first_event_at = LEAST(s.first_event_at, EXCLUDED.first_event_at),
                last_event_at = GREATEST(s.last_event_at, EXCLUDED.last_event_at),
                close_outcome = COALESCE(EXCLUDED.close_outcome, s.close_outcome),
                close_reason_code = COALESCE(EXCLUDED.close_reason_code, s.close_reason_code),
                close_message = COALESCE(EXCLUDED.close_message, s.close_message),
                reported_counts = COALESCE(EXCLUDED.reported_counts, s.reported_counts),
                \(countColumns.map { "\($0) = s.\($0) + EXCLUDED.\($0)" }.joined(separator: ",\n    "))
                , updated_at = EXCLUDED.updated_at
            """
        return PostgresQuery(unsafeSQL: sql, encodedBinds: binds)
    }
}
