import Connectors
public import Domain
public import Foundation
public import Logging
public import Postgres

/// The per-document sync state in Postgres (`sync_documents`, `erp_links`, audit rows in `outbox`).
///
/// Every method is one committed, tenant-scoped transaction (`set_config('ledgerline.tenant_id', …, true)`),
/// so a worker acks its delivery only after one of them returned. A claim takes the row lock through
/// `INSERT … ON CONFLICT DO UPDATE`; later writes are guarded by the claim's worker id and job id so a worker
/// whose lease was taken over cannot overwrite the new holder's state (``WorkerError/Code/leaseLost``).
public struct SyncStateStore: Sendable {
    /// The pool (as a role with `ledgerline_worker`'s rights, or the owner in tests).
    public let pool: PostgresPool
    /// This worker's id (host + pid + random), recorded with each claim.
    public let workerID: String
    /// How long a claim holds before another worker (or the sweeper) may take the document over.
    public let lease: Duration
    /// Where audit events go (the exchange of the outbox rows).
    public let auditExchange: String

    /// Creates a store.
    public init(pool: PostgresPool, workerID: String, lease: Duration = .seconds(300), auditExchange: String = "ledgerline.audit") {
        self.pool = pool
        self.workerID = workerID
        self.lease = lease
        self.auditExchange = auditExchange
    }

    // MARK: Claim

    /// Records that `job` wants `version` of the document and claims it unless it is already synced, parked
    /// for this version, deferred into the future or leased by another worker.
    /// - Parameters:
    ///   - key: the document.
    ///   - version: the canonical version to write.
    ///   - job: the job (stored so the sweeper can re-enqueue it).
    ///   - force: claim even a parked or deferred document (operator replay).
    public func claim(
        _ key: SyncDocumentKey, version: Int64, job: SyncJob, force: Bool = false, logger: Logger
    ) async throws -> ClaimDecision {
        let jobText = String(decoding: try WireFormat.encoder().encode(job), as: UTF8.self)
        let leaseSeconds = Self.seconds(lease)
        return try await inTenant(key.tenantID, logger: logger) { connection in
            let rows = try await connection.query(
                """
                INSERT INTO sync_documents AS d (tenant_id, connection_id, document_kind, document_id, state, target_version, job)
                VALUES (\(key.tenantID.rawValue), \(key.connectionID), \(key.kind.rawValue), \(key.documentID), 'pending',
                        \(version), \(jobText)::jsonb)
                ON CONFLICT (tenant_id, connection_id, document_kind, document_id) DO UPDATE
                SET target_version = GREATEST(d.target_version, EXCLUDED.target_version),
                    job = CASE WHEN EXCLUDED.target_version >= d.target_version THEN EXCLUDED.job ELSE d.job END
                RETURNING \(unsafeRaw: Self.columns), now() AS db_now
                """, logger: logger)
            guard let row = rows.first else { throw WorkerError(code: .stateConflict, reason: "claim returned no row") }
            let document = try Self.document(row, key: key)
            let now = try row.decode(Date.self, "db_now")
            if !force {
                if document.state == .synced, let synced = document.syncedVersion, synced >= version {
                    return .alreadySynced(document)
                }
                if document.state == .parked, document.attemptVersion == version { return .parked(document) }
                if document.state == .deferred, let notBefore = document.notBefore, notBefore > now {
                    return .notDue(document)
                }
            }
            if [.claimed, .sentOutcomeUnknown].contains(document.state), let until = document.leaseUntil, until > now {
                return .busy(document)
            }
            let claimed = try await connection.query(
                """
                UPDATE sync_documents
                SET attempt = CASE WHEN attempt_version = \(version) THEN attempt + 1 ELSE 1 END,
                    first_attempt_at = CASE WHEN attempt_version = \(version) THEN coalesce(first_attempt_at, now()) ELSE now() END,
                    prior_outcome_unknown = prior_outcome_unknown OR state = 'sent_outcome_unknown',
                    state = 'claimed', attempt_version = \(version),
                    lease_until = now() + make_interval(secs => \(leaseSeconds)),
                    worker_id = \(workerID), job_id = \(job.jobID), not_before = NULL, requeued_at = NULL, updated_at = now()
                WHERE tenant_id = \(key.tenantID.rawValue) AND connection_id = \(key.connectionID)
                  AND document_kind = \(key.kind.rawValue) AND document_id = \(key.documentID)
                RETURNING attempt, first_attempt_at, prior_outcome_unknown, reason
                """, logger: logger)
            guard let claimedRow = claimed.first else {
                throw WorkerError(code: .stateConflict, reason: "the claimed row vanished")
            }
            return .claimed(
                SyncClaim(
                    key: key, version: version, attempt: try claimedRow.decode(Int.self, "attempt"),
                    firstAttemptAt: try claimedRow.decode(Date.self, "first_attempt_at"),
                    priorAttempt: try claimedRow.decode(Bool.self, "prior_outcome_unknown") ? .outcomeUnknown : .none,
                    workerID: workerID, jobID: job.jobID, claimedAt: now,
                    previousReason: try claimedRow.decode(String?.self, "reason")))
        }
    }

    // MARK: Record before send

    /// Records the ERP idempotency key of the operation about to be sent (state `sent_outcome_unknown`).
    /// Must commit before the ERP call: after a crash the next claim sees an unknown outcome and looks up first.
    public func recordSend(_ claim: SyncClaim, operation: String, key: String, logger: Logger) async throws {
        try await inTenant(claim.key.tenantID, logger: logger) { connection in
            let count = try await connection.execute(
                """
                UPDATE sync_documents
                SET state = 'sent_outcome_unknown', operation = \(operation), idempotency_key = \(key),
                    key_recorded_at = now(), updated_at = now()
                WHERE \(claimGuard: claim)
                """, logger: logger)
            guard count == 1 else { throw WorkerError(code: .leaseLost, reason: "the claim on \(claim.key) was taken over") }
        }
    }

    // MARK: Outcomes

    /// Marks the claimed version synced, stores `links`, and writes `audit` to the outbox, in one transaction.
    /// When a newer version was asked for meanwhile, the document becomes due again at once (`deferred`,
    /// `not_before = now()`), so the sweeper re-enqueues the newest job.
    public func complete(
        _ claim: SyncClaim, result: SyncResult, links: [ERPLink], audit: [AuditEvent], logger: Logger
    ) async throws {
        let hash = result.payloadSHA256.map { Data($0) }
        try await inTenant(claim.key.tenantID, logger: logger) { connection in
            let count = try await connection.execute(
                """
                UPDATE sync_documents
                SET state = CASE WHEN target_version > \(claim.version) THEN 'deferred' ELSE 'synced' END,
                    not_before = CASE WHEN target_version > \(claim.version) THEN now() ELSE NULL END,
                    erp_id = \(result.erpID), erp_version = \(result.erpVersion), synced_version = \(claim.version),
                    payload_sha256 = \(hash), synced_at = now(), erp_request_id = \(result.erpRequestID),
                    reason = NULL, erp_message = NULL, lease_until = NULL, prior_outcome_unknown = false,
                    first_attempt_at = NULL, updated_at = now()
                WHERE \(claimGuard: claim)
                """, logger: logger)
            guard count == 1 else { throw WorkerError(code: .leaseLost, reason: "the claim on \(claim.key) was taken over") }
            for link in links { try await Self.upsert(link, key: claim.key, connection: connection, logger: logger) }
            if claim.key.kind == .invoice {
                // Payments that were waiting for this invoice's link are due now, not after their dependency wait.
                try await connection.execute(
                    """
                    UPDATE sync_documents SET not_before = now(), updated_at = now()
                    WHERE tenant_id = \(claim.key.tenantID.rawValue) AND connection_id = \(claim.key.connectionID)
                      AND document_kind = 'payment' AND state = 'deferred'
                      AND reason = \(ReasonCode("sync.waiting_for_invoice").rawValue)
                      AND job->>'invoice_id' = \(claim.key.documentID) AND not_before > now()
                    """, logger: logger)
            }
            try await insertAudit(audit, connection: connection, logger: logger)
        }
    }

    /// Defers the claimed document until `delay` from now (database clock).
    /// - Parameter outcomeUnknown: the attempt may have reached the ERP; the next one looks up first.
    public func deferDocument(
        _ claim: SyncClaim, delay: Duration, reason: ReasonCode, erpMessage: String?, erpRequestID: String?,
        outcomeUnknown: Bool, audit: [AuditEvent], logger: Logger
    ) async throws {
        let seconds = Self.seconds(delay)
        try await inTenant(claim.key.tenantID, logger: logger) { connection in
            let count = try await connection.execute(
                """
                UPDATE sync_documents
                SET state = 'deferred', not_before = now() + make_interval(secs => \(seconds)),
                    reason = \(reason.rawValue), erp_message = \(erpMessage), erp_request_id = \(erpRequestID),
                    prior_outcome_unknown = prior_outcome_unknown OR \(outcomeUnknown),
                    lease_until = NULL, updated_at = now()
                WHERE \(claimGuard: claim)
                """, logger: logger)
            guard count == 1 else { throw WorkerError(code: .leaseLost, reason: "the claim on \(claim.key) was taken over") }
            try await insertAudit(audit, connection: connection, logger: logger)
        }
    }

    /// Parks the claimed document with a reason; optionally marks its connection `needs_reauth`. When a newer
    /// version was asked for meanwhile (a job acked as busy), the row becomes due at once instead (`deferred`,
    /// `not_before = now()`), so the sweeper brings the newest job back.
    public func park(
        _ claim: SyncClaim, reason: ReasonCode, erpMessage: String?, erpRequestID: String?, outcomeUnknown: Bool,
        needsReauthorization: Bool = false, audit: [AuditEvent], logger: Logger
    ) async throws {
        try await inTenant(claim.key.tenantID, logger: logger) { connection in
            let count = try await connection.execute(
                """
                UPDATE sync_documents
                SET state = CASE WHEN target_version > \(claim.version) THEN 'deferred' ELSE 'parked' END,
                    not_before = CASE WHEN target_version > \(claim.version) THEN now() ELSE NULL END,
                    reason = \(reason.rawValue), erp_message = \(erpMessage),
                    erp_request_id = \(erpRequestID), prior_outcome_unknown = prior_outcome_unknown OR \(outcomeUnknown),
                    lease_until = NULL, updated_at = now()
                WHERE \(claimGuard: claim)
                """, logger: logger)
            guard count == 1 else { throw WorkerError(code: .leaseLost, reason: "the claim on \(claim.key) was taken over") }
            if needsReauthorization {
                try await connection.execute(
                    """
                    UPDATE erp_connections SET status = 'needs_reauth', updated_at = now()
                    WHERE connection_id = \(claim.key.connectionID) AND status = 'active'
                    """, logger: logger)
                try await connection.execute(
                    """
                    UPDATE erp_connection_settings SET reauth_reason = \(reason.rawValue), reauth_at = now(), updated_at = now()
                    WHERE connection_id = \(claim.key.connectionID)
                    """, logger: logger)
            }
            try await insertAudit(audit, connection: connection, logger: logger)
        }
    }

    // MARK: Reads

    /// The sync state of a document, or nil.
    public func document(_ key: SyncDocumentKey, logger: Logger) async throws -> SyncDocument? {
        try await inTenant(key.tenantID, logger: logger) { connection in
            try await connection.query(
                """
                SELECT \(unsafeRaw: Self.columns) FROM sync_documents
                WHERE tenant_id = \(key.tenantID.rawValue) AND connection_id = \(key.connectionID)
                  AND document_kind = \(key.kind.rawValue) AND document_id = \(key.documentID)
                """, logger: logger
            ).first.map { try Self.document($0, key: key) }
        }
    }

    /// The link of a shop object on a connection, or nil.
    public func link(
        tenantID: TenantID, connectionID: UUID, kind: SyncDocumentKey.Kind, ourID: String, logger: Logger
    ) async throws -> ERPLink? {
        try await inTenant(tenantID, logger: logger) { connection in
            try await connection.query(
                """
                SELECT erp_id, erp_version, erp_number, erp_name FROM erp_links
                WHERE tenant_id = \(tenantID.rawValue) AND connection_id = \(connectionID)
                  AND object_kind = \(kind.rawValue) AND our_id = \(ourID)
                """, logger: logger
            ).first.map {
                ERPLink(
                    kind: kind, ourID: ourID, erpID: try $0.decode(String.self, "erp_id"),
                    erpVersion: try $0.decode(String?.self, "erp_version"),
                    erpNumber: try $0.decode(String?.self, "erp_number"), erpName: try $0.decode(String?.self, "erp_name"))
            }
        }
    }

    /// Stores a link outside a state transition (e.g. the customer resolved before its invoice is written).
    public func saveLink(_ link: ERPLink, tenantID: TenantID, connectionID: UUID, logger: Logger) async throws {
        let key = SyncDocumentKey(tenantID: tenantID, connectionID: connectionID, kind: link.kind, documentID: link.ourID)
        try await inTenant(tenantID, logger: logger) { connection in
            try await Self.upsert(link, key: key, connection: connection, logger: logger)
        }
    }

    /// Runs `body` in a transaction scoped to `tenant`.
    @discardableResult
    public func inTenant<Result: Sendable>(
        _ tenant: TenantID, logger: Logger, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await pool.withTransaction(logger: logger) { connection in
            try await connection.execute("SELECT set_config('ledgerline.tenant_id', \(tenant.rawValue), true)", logger: logger)
            return try await body(connection)
        }
    }

    // MARK: Helpers

    static let columns = """
        state, target_version, attempt, attempt_version, first_attempt_at, lease_until, worker_id, operation,
        idempotency_key, prior_outcome_unknown, erp_id, erp_version, synced_version, reason, erp_message, not_before
        """

    static func document(_ row: PostgresRow, key: SyncDocumentKey) throws -> SyncDocument {
        let stateText = try row.decode(String.self, "state")
        guard let state = SyncState(rawValue: stateText) else {
            throw WorkerError(code: .stateConflict, reason: "unknown state \(stateText)")
        }
        return SyncDocument(
            key: key, state: state, targetVersion: try row.decode(Int64.self, "target_version"),
            attempt: try row.decode(Int.self, "attempt"), attemptVersion: try row.decode(Int64?.self, "attempt_version"),
            firstAttemptAt: try row.decode(Date?.self, "first_attempt_at"),
            leaseUntil: try row.decode(Date?.self, "lease_until"), workerID: try row.decode(String?.self, "worker_id"),
            operation: try row.decode(String?.self, "operation"),
            idempotencyKey: try row.decode(String?.self, "idempotency_key"),
            priorOutcomeUnknown: try row.decode(Bool.self, "prior_outcome_unknown"),
            erpID: try row.decode(String?.self, "erp_id"), erpVersion: try row.decode(String?.self, "erp_version"),
            syncedVersion: try row.decode(Int64?.self, "synced_version"), reason: try row.decode(String?.self, "reason"),
            erpMessage: try row.decode(String?.self, "erp_message"), notBefore: try row.decode(Date?.self, "not_before"))
    }

    static func seconds(_ duration: Duration) -> Decimal {
        let components = duration.components
        return Decimal(components.seconds) + Decimal(components.attoseconds / 1_000_000_000_000) / 1_000_000
    }

    static func upsert(_ link: ERPLink, key: SyncDocumentKey, connection: PostgresConnection, logger: Logger) async throws {
        try await connection.execute(
            """
            INSERT INTO erp_links AS l (tenant_id, connection_id, object_kind, our_id, erp_id, erp_version, erp_number, erp_name)
            VALUES (\(key.tenantID.rawValue), \(key.connectionID), \(link.kind.rawValue), \(link.ourID), \(link.erpID),
                    \(link.erpVersion), \(link.erpNumber), \(link.erpName))
            ON CONFLICT (tenant_id, connection_id, object_kind, our_id) DO UPDATE
            SET erp_id = EXCLUDED.erp_id, erp_version = EXCLUDED.erp_version,
                erp_number = coalesce(EXCLUDED.erp_number, l.erp_number), erp_name = coalesce(EXCLUDED.erp_name, l.erp_name),
                updated_at = now()
            """, logger: logger)
    }

    func insertAudit(_ events: [AuditEvent], connection: PostgresConnection, logger: Logger) async throws {
        let encoder = WireFormat.encoder()
        for event in events {
            let body = String(decoding: try encoder.encode(event), as: UTF8.self)
            let headers = String(
                decoding: try encoder.encode([
                    "x-ledgerline-tenant": event.tenantID.rawValue, "x-ledgerline-kind": event.kind.rawValue,
                ]), as: UTF8.self)
            try await connection.execute(
                """
                INSERT INTO outbox (tenant_id, exchange, routing_key, message_id, message_type, headers, body)
                VALUES (\(event.tenantID.rawValue), \(auditExchange), \(event.routingKey),
                        \(event.auditID.uuidString.lowercased()), 'audit_event', \(headers)::jsonb, \(body)::jsonb)
                """, logger: logger)
        }
    }
}

extension PostgresQuery.StringInterpolation {
    /// Appends trusted SQL text (column lists defined in this module, never input).
    mutating func appendInterpolation(unsafeRaw text: String) {
        appendLiteral(text)
    }

    /// Appends the predicate of writes under a claim: the document's key, and the claim's worker, job and
    /// version, with the state still claimed or sent (so a worker whose lease was taken over changes nothing).
    mutating func appendInterpolation(claimGuard claim: SyncClaim) {
        appendLiteral("tenant_id = ")
        appendInterpolation(claim.key.tenantID.rawValue)
        appendLiteral(" AND connection_id = ")
        appendInterpolation(claim.key.connectionID)
        appendLiteral(" AND document_kind = ")
        appendInterpolation(claim.key.kind.rawValue)
        appendLiteral(" AND document_id = ")
        appendInterpolation(claim.key.documentID)
        appendLiteral(" AND worker_id = ")
        appendInterpolation(claim.workerID)
        appendLiteral(" AND job_id = ")
        appendInterpolation(claim.jobID)
        appendLiteral(" AND attempt_version = ")
        appendInterpolation(claim.version)
        appendLiteral(" AND state IN ('claimed', 'sent_outcome_unknown')")
    }
}
