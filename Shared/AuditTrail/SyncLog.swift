public import Foundation
public import Logging
public import Postgres

/// Filters for the sync-log queries. Every field is optional; `limit` caps the rows returned.
public struct SyncLogFilter: Sendable, Hashable {
    /// Only this tenant. Also sets `ledgerline.tenant_id`, which a role under row-level security needs
    /// to see anything; without it only a role that bypasses row-level security sees rows.
    public var tenantID: String?
    public var locationID: String?
    /// ERP slug, e.g. `xero`.
    public var erp: String?
    /// Sessions started / events that occurred at or after this instant.
    public var since: Date?
    /// … and before this one.
    public var until: Date?
    /// Sessions: `open`, `completed`, `completed_with_failures` or `failed`. Events: an outcome
    /// (`succeeded`, `skipped`, `failed`, `rejected`, `deferred`, `parked`) or `not_synced` (anything
    /// but `succeeded`).
    public var result: String?
    /// The most rows returned (1…10 000). Default: 50.
    public var limit: Int

    public init(
        tenantID: String? = nil, locationID: String? = nil, erp: String? = nil, since: Date? = nil, until: Date? = nil,
        result: String? = nil, limit: Int = 50
    ) {
        self.tenantID = tenantID
        self.locationID = locationID
        self.erp = erp
        self.since = since
        self.until = until
        self.result = result
        self.limit = limit
    }
}

/// Created / updated / skipped / failed counts of one object group.
public struct SyncCounter: Sendable, Hashable, Codable {
    public var created: Int
    public var updated: Int
    public var skipped: Int
    public var failed: Int

    public init(created: Int = 0, updated: Int = 0, skipped: Int = 0, failed: Int = 0) {
        self.created = created
        self.updated = updated
        self.skipped = skipped
        self.failed = failed
    }
}

/// One row of the sync log's session table.
public struct SyncSessionSummary: Sendable, Hashable, Codable {
    public var tenantID: String
    public var sessionID: UUID
    /// `run`, `realtime_window` or `ingest_window`.
    public var kind: String
    /// `interval`, `end_of_day`, `manual`, `initial`, `realtime`, `ingest`, …
    public var trigger: String?
    public var locationID: String?
    public var erp: String?
    public var connectionID: UUID?
    public var startedAt: Date?
    public var endedAt: Date?
    /// `open`, `completed`, `completed_with_failures` or `failed`.
    public var result: String
    public var customers: SyncCounter
    public var invoices: SyncCounter
    public var payments: SyncCounter
    public var others: SyncCounter
    public var recordsDeferred: Int
    public var eventsRecorded: Int
    public var closeReasonCode: String?
    public var closeMessage: String?

    /// Creates a value (the queries build these; tests and other tools may too).
    public init(
        tenantID: String, sessionID: UUID, kind: String, trigger: String? = nil, locationID: String? = nil,
        erp: String? = nil, connectionID: UUID? = nil, startedAt: Date? = nil, endedAt: Date? = nil, result: String,
        customers: SyncCounter, invoices: SyncCounter, payments: SyncCounter, others: SyncCounter,
        recordsDeferred: Int, eventsRecorded: Int, closeReasonCode: String? = nil, closeMessage: String? = nil
    ) {
        self.tenantID = tenantID
        self.sessionID = sessionID
        self.kind = kind
        self.trigger = trigger
        self.locationID = locationID
        self.erp = erp
        self.connectionID = connectionID
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.result = result
        self.customers = customers
        self.invoices = invoices
        self.payments = payments
        self.others = others
        self.recordsDeferred = recordsDeferred
        self.eventsRecorded = eventsRecorded
        self.closeReasonCode = closeReasonCode
        self.closeMessage = closeMessage
    }
}

/// One event of the sync log: what happened to which record, and why when it did not go through.
public struct SyncEventEntry: Sendable, Hashable, Codable {
    public var occurredAt: Date
    public var tenantID: String
    public var locationID: String?
    public var erp: String?
    public var sessionID: UUID?
    /// The audit event kind, e.g. `record.synced`.
    public var kind: String
    /// "Invoice Created", "Payment Applied", "Customer Skipped", …
    public var description: String
    public var objectType: String?
    /// The shop's number, e.g. the invoice number.
    public var number: String?
    public var shopID: String?
    public var customerName: String?
    public var erpID: String?
    /// The outcome (`succeeded`, `skipped`, `failed`, …), or nil when the producer gave none.
    public var result: String?
    /// For a record that did not go through: the catalogue code (`audit.reason_missing` when the
    /// producer gave none); otherwise any code the producer gave.
    public var reasonCode: String?
    /// The catalogue's summary of ``reasonCode``.
    public var reason: String?
    /// The ERP's (or our) own message.
    public var erpMessage: String?
    public var inputEventID: String?
    public var idempotencyKey: String?
    public var jobID: String?
    public var attempt: Int?
    public var erpRequestID: String?
    public var auditID: UUID
    public var chainSeq: Int64

    /// Creates a value (the queries build these; tests and other tools may too).
    public init(
        occurredAt: Date, tenantID: String, locationID: String? = nil, erp: String? = nil, sessionID: UUID? = nil,
        kind: String, description: String, objectType: String? = nil, number: String? = nil, shopID: String? = nil,
        customerName: String? = nil, erpID: String? = nil, result: String? = nil, reasonCode: String? = nil,
        reason: String? = nil, erpMessage: String? = nil, inputEventID: String? = nil, idempotencyKey: String? = nil,
        jobID: String? = nil, attempt: Int? = nil, erpRequestID: String? = nil, auditID: UUID, chainSeq: Int64
    ) {
        self.occurredAt = occurredAt
        self.tenantID = tenantID
        self.locationID = locationID
        self.erp = erp
        self.sessionID = sessionID
        self.kind = kind
        self.description = description
        self.objectType = objectType
        self.number = number
        self.shopID = shopID
        self.customerName = customerName
        self.erpID = erpID
        self.result = result
        self.reasonCode = reasonCode
        self.reason = reason
        self.erpMessage = erpMessage
        self.inputEventID = inputEventID
        self.idempotencyKey = idempotencyKey
        self.jobID = jobID
        self.attempt = attempt
        self.erpRequestID = erpRequestID
        self.auditID = auditID
        self.chainSeq = chainSeq
    }
}

/// The sync log's queries, used by `syncctl log` (finance ops use the SQL views in the `finance`
/// schema instead).
public enum SyncLog {
    /// Sync sessions, newest first.
    public static func sessions(_ filter: SyncLogFilter, on connection: PostgresConnection, logger: Logger) async throws
        -> [SyncSessionSummary]
    {
        let limit = try checkedLimit(filter.limit)
        let query: PostgresQuery = """
            SELECT * FROM (
                SELECT s.*,
                       COALESCE(s.closed_at, CASE WHEN s.session_kind <> 'run' AND s.window_end <= now()
                                                  THEN s.last_event_at END) AS ended_at,
                       CASE
                           WHEN s.close_outcome IN ('failed', 'rejected', 'parked') THEN 'failed'
                           WHEN s.closed_at IS NULL AND (s.session_kind = 'run' OR s.window_end > now()) THEN 'open'
                           WHEN s.customers_failed + s.invoices_failed + s.payments_failed + s.others_failed > 0
                               THEN 'completed_with_failures'
                           ELSE 'completed'
                       END AS result
                FROM sync_sessions s
                WHERE (\(filter.tenantID)::text IS NULL OR s.tenant_id = \(filter.tenantID))
                  AND (\(filter.locationID)::text IS NULL OR s.location_id = \(filter.locationID))
                  AND (\(filter.erp)::text IS NULL OR s.erp = \(filter.erp))
                  AND (\(filter.since)::timestamptz IS NULL OR s.started_at >= \(filter.since))
                  AND (\(filter.until)::timestamptz IS NULL OR s.started_at < \(filter.until))
            ) x
            WHERE (\(filter.result)::text IS NULL OR x.result = \(filter.result))
            ORDER BY x.started_at DESC NULLS LAST, x.session_id
            LIMIT \(limit)
            """
        return try await scoped(filter.tenantID, connection, logger) { connection in
            try await connection.query(query, logger: logger).map { row in
                func counter(_ group: String) throws -> SyncCounter {
                    SyncCounter(
                        created: try row.decode(Int.self, "\(group)_created"), updated: try row.decode(Int.self, "\(group)_updated"),
                        skipped: try row.decode(Int.self, "\(group)_skipped"), failed: try row.decode(Int.self, "\(group)_failed"))
                }
                return SyncSessionSummary(
                    tenantID: try row.decode(String.self, "tenant_id"), sessionID: try row.decode(UUID.self, "session_id"),
                    kind: try row.decode(String.self, "session_kind"), trigger: try row.decode(String?.self, "trigger"),
                    locationID: try row.decode(String?.self, "location_id"), erp: try row.decode(String?.self, "erp"),
                    connectionID: try row.decode(UUID?.self, "connection_id"),
                    startedAt: try row.decode(Date?.self, "started_at"), endedAt: try row.decode(Date?.self, "ended_at"),
                    result: try row.decode(String.self, "result"), customers: try counter("customers"),
                    invoices: try counter("invoices"), payments: try counter("payments"), others: try counter("others"),
                    recordsDeferred: try row.decode(Int.self, "records_deferred"),
                    eventsRecorded: try row.decode(Int.self, "events_recorded"),
                    closeReasonCode: try row.decode(String?.self, "close_reason_code"),
                    closeMessage: try row.decode(String?.self, "close_message"))
            }
        }
    }

    /// The events of one session, in the order they happened.
    ///
    /// - Parameter session: the full session id, or a prefix of at least 8 hex digits as
    ///   `syncctl log sessions` prints it.
    /// - Throws: ``AuditTrailError`` with ``AuditTrailError/Code/sessionNotFound`` or
    ///   ``AuditTrailError/Code/ambiguousSession``, or `PostgresError`.
    public static func events(
        session: String, _ filter: SyncLogFilter, on connection: PostgresConnection, logger: Logger
    ) async throws -> [SyncEventEntry] {
        let limit = try checkedLimit(filter.limit)
        let prefix = session.lowercased()
        guard prefix.count >= 8, prefix.allSatisfy({ $0.isHexDigit || $0 == "-" }) else {
            throw AuditTrailError(
                code: .invalidArgument, detail: "a session id is a UUID or a prefix of at least 8 hex digits")
        }
        return try await scoped(filter.tenantID, connection, logger) { connection in
            let matches = try await connection.query(
                """
                SELECT tenant_id, session_id FROM sync_sessions
                WHERE (\(filter.tenantID)::text IS NULL OR tenant_id = \(filter.tenantID))
                  AND session_id::text LIKE \(prefix + "%")
                LIMIT 2
                """, logger: logger)
            guard let match = matches.first else {
                throw AuditTrailError(code: .sessionNotFound, tenantID: filter.tenantID, detail: "no session \(session)")
            }
            guard matches.count == 1 else {
                throw AuditTrailError(
                    code: .ambiguousSession, tenantID: filter.tenantID, detail: "more than one session starts with \(session)")
            }
            let tenant = try match.decode(String.self, "tenant_id")
            let sessionID = try match.decode(UUID.self, "session_id")
            return try await eventRows(
                where: "e.tenant_id = \(tenant) AND e.session_id = \(sessionID)", filter: filter, limit: limit,
                connection: connection, logger: logger)
        }
    }

    /// Everything that happened to one record, oldest first: received, rejected, each sync attempt.
    ///
    /// - Parameter reference: the shop's id or number of the record (e.g. the invoice number).
    public static func record(
        _ reference: String, _ filter: SyncLogFilter, on connection: PostgresConnection, logger: Logger
    ) async throws -> [SyncEventEntry] {
        let limit = try checkedLimit(filter.limit)
        return try await scoped(filter.tenantID, connection, logger) { connection in
            try await eventRows(
                where: """
                    (\(filter.tenantID)::text IS NULL OR e.tenant_id = \(filter.tenantID))
                    AND (e.shop_id = \(reference) OR e.record_number = \(reference))
                    """, filter: filter, limit: limit, connection: connection, logger: logger, allKinds: true)
        }
    }

    private static func eventRows(
        where condition: PostgresQuery, filter: SyncLogFilter, limit: Int, connection: PostgresConnection,
        logger: Logger, allKinds: Bool = false
    ) async throws -> [SyncEventEntry] {
        // The condition keeps its placeholders $1…$k; the fixed filters follow as $k+1….
        let fixed: [PostgresBind] = [
            filter.locationID.postgresBind, filter.erp.postgresBind, filter.since.postgresBind,
            filter.until.postgresBind, filter.result.postgresBind, limit.postgresBind, allKinds.postgresBind,
        ]
        let k = condition.binds.count
        func p(_ index: Int) -> String { "$\(k + index)" }
        let sql = """
            SELECT e.*, rc.summary AS reason
            FROM (
                SELECT e.occurred_at, e.tenant_id, e.location_id, e.erp, e.session_id, e.kind,
                       COALESCE(e.action, initcap(replace(e.kind, '.', ' '))) AS description,
                       e.object_type, e.record_number, e.shop_id, e.customer_name, e.erp_id, e.outcome,
                       CASE WHEN e.kind IN ('record.synced', 'event.rejected') AND e.outcome IS DISTINCT FROM 'succeeded'
                            THEN COALESCE(e.reason_code, 'audit.reason_missing') ELSE e.reason_code END AS reason_code,
                       e.message, e.input_event_id, e.idempotency_key, e.job_id, e.attempt, e.erp_request_id,
                       e.audit_id, e.chain_seq
                FROM audit_trail e
                WHERE \(condition.sql)
                  AND (\(p(7))::boolean OR e.kind IN ('record.synced', 'event.rejected'))
                  AND (\(p(1))::text IS NULL OR e.location_id = \(p(1)))
                  AND (\(p(2))::text IS NULL OR e.erp = \(p(2)))
                  AND (\(p(3))::timestamptz IS NULL OR e.occurred_at >= \(p(3)))
                  AND (\(p(4))::timestamptz IS NULL OR e.occurred_at < \(p(4)))
                  AND (\(p(5))::text IS NULL OR e.outcome = \(p(5))
                       OR (\(p(5)) = 'not_synced' AND e.outcome IS DISTINCT FROM 'succeeded'))
                ORDER BY e.occurred_at, e.chain_seq
                LIMIT \(p(6))
            ) e
            LEFT JOIN reason_codes rc ON rc.code = e.reason_code
            ORDER BY e.occurred_at, e.chain_seq
            """
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: sql, encodedBinds: condition.binds + fixed), logger: logger)
        return try rows.map { row in
            SyncEventEntry(
                occurredAt: try row.decode(Date.self, "occurred_at"), tenantID: try row.decode(String.self, "tenant_id"),
                locationID: try row.decode(String?.self, "location_id"), erp: try row.decode(String?.self, "erp"),
                sessionID: try row.decode(UUID?.self, "session_id"), kind: try row.decode(String.self, "kind"),
                description: try row.decode(String.self, "description"),
                objectType: try row.decode(String?.self, "object_type"),
                number: try row.decode(String?.self, "record_number"), shopID: try row.decode(String?.self, "shop_id"),
                customerName: try row.decode(String?.self, "customer_name"), erpID: try row.decode(String?.self, "erp_id"),
                result: try row.decode(String?.self, "outcome"), reasonCode: try row.decode(String?.self, "reason_code"),
                reason: try row.decode(String?.self, "reason"), erpMessage: try row.decode(String?.self, "message"),
                inputEventID: try row.decode(String?.self, "input_event_id"),
                idempotencyKey: try row.decode(String?.self, "idempotency_key"),
                jobID: try row.decode(String?.self, "job_id"), attempt: try row.decode(Int?.self, "attempt"),
                erpRequestID: try row.decode(String?.self, "erp_request_id"),
                auditID: try row.decode(UUID.self, "audit_id"), chainSeq: try row.decode(Int64.self, "chain_seq"))
        }
    }

    private static func checkedLimit(_ limit: Int) throws -> Int {
        guard (1...10_000).contains(limit) else {
            throw AuditTrailError(code: .invalidArgument, detail: "limit must be between 1 and 10000")
        }
        return limit
    }

    /// Runs `body` in a read-only transaction scoped to `tenant` when one is given.
    private static func scoped<Result>(
        _ tenant: String?, _ connection: PostgresConnection, _ logger: Logger,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await connection.withTransaction(isolation: .repeatableRead, logger: logger) { connection in
            try await connection.execute("SET TRANSACTION READ ONLY", logger: logger)
            if let tenant { try await TenantScope.enter(tenant, on: connection, logger: logger) }
            return try await body(connection)
        }
    }
}
