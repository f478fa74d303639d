public import Foundation
public import Logging
public import Postgres

/// The first place where a tenant's audit chain does not hold.
public struct AuditChainBreak: Sendable, Hashable, Codable, CustomStringConvertible {
    /// What kind of break.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// Rows before the first present one are gone and no checkpoint vouches for them.
        case missingStart = "missing_start"
        /// A chain position has no row (a row was deleted or renumbered).
        case missingRow = "missing_row"
        /// A row's content no longer gives its stored hash (the row was edited or moved).
        case rowHashMismatch = "row_hash_mismatch"
        /// A row's `prev_hash` is not the previous row's hash (the previous row was replaced,
        /// or rows were reordered).
        case prevHashMismatch = "prev_hash_mismatch"
        /// A checkpoint's hash differs from the row it vouches for.
        case checkpointMismatch = "checkpoint_mismatch"
        /// The chain head names rows that are not there (rows at the end were deleted).
        case missingTail = "missing_tail"
        /// The chain head is behind the rows, has another hash, or is missing.
        case headMismatch = "head_mismatch"
    }

    public var tenantID: String
    public var kind: Kind
    /// The chain position where the break was found.
    public var chainSeq: Int64
    /// The audit id of the row at that position, when there is one.
    public var auditID: UUID?
    /// One sentence for people.
    public var detail: String

    public var description: String {
        "tenant \(tenantID): \(kind.rawValue) at chain_seq \(chainSeq)\(auditID.map { " (audit_id \($0.uuidString.lowercased()))" } ?? ""): \(detail)"
    }
}

/// The result of verifying one tenant's chain.
public struct AuditVerification: Sendable, Hashable, Codable {
    public var tenantID: String
    /// Rows checked.
    public var rowsChecked: Int64
    /// The first and last chain positions present (nil when the tenant has no rows).
    public var firstSeq: Int64?
    public var lastSeq: Int64?
    /// The checkpoint verification started from (nil: from the genesis).
    public var startCheckpointSeq: Int64?
    /// The chain head as stored, hex; anchor it outside the database to detect a rewritten chain.
    public var headSeq: Int64?
    public var headHash: String?
    /// The first break, or nil when the chain holds.
    public var firstBreak: AuditChainBreak?

    /// True when no break was found.
    public var isIntact: Bool { firstBreak == nil }
}

/// A verified checkpoint: rows up to ``chainSeq`` verified, and the row there hashed to ``rowHash``.
public struct AuditCheckpoint: Sendable, Hashable, Codable {
    public var tenantID: String
    public var chainSeq: Int64
    /// Hex.
    public var rowHash: String
    public var rowsVerified: Int64
}

/// Verifies the per-tenant hash chains of the audit trail and writes verified checkpoints.
///
/// Verification reads a tenant's rows in chain order inside one repeatable-read transaction and
/// checks, row by row: the position follows the previous one without a gap, `prev_hash` equals the
/// previous row's hash (or the genesis / the checkpoint just below the first row present), the
/// row's canonical encoding hashes to its stored `row_hash`, every checkpoint inside the range
/// matches its row, and the chain head agrees with the last row. It stops at the first break.
public struct AuditVerifier: Sendable {
    /// Rows fetched per round trip.
    public var pageSize: Int

    public init(pageSize: Int = 5_000) {
        self.pageSize = max(1, pageSize)
    }

    /// Every tenant with audit rows, a chain head or a `tenants` row that the connection's role can see.
    ///
    /// A role that is subject to row-level security sees only the `tenants` directory; run
    /// `syncctl audit verify` as the owner (or a role with `BYPASSRLS`) to find chains of tenants
    /// that are not in the directory.
    public func tenants(on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        let rows = try await connection.query(
            """
            WITH RECURSIVE trail(tenant_id) AS (
                (SELECT tenant_id FROM audit_trail ORDER BY tenant_id LIMIT 1)
                UNION ALL
                SELECT (SELECT a.tenant_id FROM audit_trail a WHERE a.tenant_id > trail.tenant_id
                        ORDER BY a.tenant_id LIMIT 1)
                FROM trail WHERE trail.tenant_id IS NOT NULL
            )
            SELECT tenant_id FROM trail WHERE tenant_id IS NOT NULL
            UNION SELECT tenant_id FROM audit_chain_heads
            UNION SELECT tenant_id FROM tenants
            ORDER BY 1
            """, logger: logger)
        return try rows.map { try $0.decode(String.self, at: 0) }
    }

    /// Verifies one tenant's chain.
    public func verify(tenant: String, on connection: PostgresConnection, logger: Logger) async throws
        -> AuditVerification
    {
        try await connection.withTransaction(isolation: .repeatableRead, logger: logger) { connection in
            try await TenantScope.enter(tenant, on: connection, logger: logger)
            return try await verifyInTransaction(tenant: tenant, connection: connection, logger: logger)
        }
    }

    /// Verifies every tenant from ``tenants(on:logger:)``.
    public func verifyAll(on connection: PostgresConnection, logger: Logger) async throws -> [AuditVerification] {
        var results: [AuditVerification] = []
        for tenant in try await tenants(on: connection, logger: logger) {
            results.append(try await verify(tenant: tenant, on: connection, logger: logger))
        }
        return results
    }

    /// Verifies the tenant's chain and, when it holds, records a checkpoint at its last row, so that
    /// rows up to there may later be archived without breaking verification.
    ///
    /// - Returns: the checkpoint, or nil when the tenant has no rows.
    /// - Throws: ``AuditTrailError`` with ``AuditTrailError/Code/chainBroken`` when the chain does not
    ///   verify (no checkpoint is written), or `PostgresError`.
    public func checkpoint(tenant: String, on connection: PostgresConnection, logger: Logger) async throws
        -> AuditCheckpoint?
    {
        try await connection.withTransaction(isolation: .repeatableRead, logger: logger) { connection in
            try await TenantScope.enter(tenant, on: connection, logger: logger)
            let verification = try await verifyInTransaction(tenant: tenant, connection: connection, logger: logger)
            if let firstBreak = verification.firstBreak {
                throw AuditTrailError(code: .chainBroken, tenantID: tenant, detail: firstBreak.description)
            }
            guard let lastSeq = verification.lastSeq, let hex = verification.headHash,
                let hash = AuditChain.bytes(hex: hex)
            else { return nil }
            let rowsVerified = verification.rowsChecked + (verification.startCheckpointSeq ?? 0)
            try await connection.execute(
                """
                INSERT INTO audit_checkpoints (tenant_id, chain_seq, row_hash, rows_verified)
                VALUES (\(tenant), \(lastSeq), \(hash), \(rowsVerified))
                ON CONFLICT (tenant_id, chain_seq) DO NOTHING
                """, logger: logger)
            return AuditCheckpoint(tenantID: tenant, chainSeq: lastSeq, rowHash: hex, rowsVerified: rowsVerified)
        }
    }

    private func verifyInTransaction(tenant: String, connection: PostgresConnection, logger: Logger) async throws
        -> AuditVerification
    {
        var result = AuditVerification(tenantID: tenant, rowsChecked: 0)
        func broken(_ kind: AuditChainBreak.Kind, _ seq: Int64, _ auditID: UUID?, _ detail: String) -> AuditVerification {
            var result = result
            result.firstBreak = AuditChainBreak(tenantID: tenant, kind: kind, chainSeq: seq, auditID: auditID, detail: detail)
            return result
        }

        let headRows = try await connection.query(
            "SELECT last_seq, last_hash FROM audit_chain_heads WHERE tenant_id = \(tenant)", logger: logger)
        let head: (seq: Int64, hash: [UInt8])? = try headRows.first.map {
            (try $0.decode(Int64.self, "last_seq"), try $0.decode([UInt8].self, "last_hash"))
        }
        result.headSeq = head?.seq
        result.headHash = head.map { AuditChain.hex($0.hash) }

        var checkpoints: [Int64: [UInt8]] = [:]
        for row in try await connection.query(
            "SELECT chain_seq, row_hash FROM audit_checkpoints WHERE tenant_id = \(tenant)", logger: logger)
        {
            checkpoints[try row.decode(Int64.self, "chain_seq")] = try row.decode([UInt8].self, "row_hash")
        }

        var expectedSeq: Int64 = 1
        var expectedPrev = AuditChain.genesisHash
        var afterSeq: Int64 = 0
        var first = true
        while true {
            let page = try await fetchPage(tenant: tenant, after: afterSeq, connection: connection, logger: logger)
            for row in page {
                if first {
                    first = false
                    result.firstSeq = row.chainSeq
                    if row.chainSeq > 1 {
                        guard let anchor = checkpoints[row.chainSeq - 1] else {
                            return broken(
                                .missingStart, row.chainSeq - 1, nil,
                                "the first row present is \(row.chainSeq) and no checkpoint vouches for rows 1...\(row.chainSeq - 1)")
                        }
                        result.startCheckpointSeq = row.chainSeq - 1
                        expectedSeq = row.chainSeq
                        expectedPrev = anchor
                    }
                }
                if row.chainSeq != expectedSeq {
                    return broken(
                        .missingRow, expectedSeq, nil, "row \(expectedSeq) is missing; the next row present is \(row.chainSeq)")
                }
                if row.computedHash() != row.rowHash {
                    return broken(.rowHashMismatch, row.chainSeq, row.auditID, "the row's content does not give its stored hash")
                }
                if row.prevHash != expectedPrev {
                    return broken(
                        .prevHashMismatch, row.chainSeq, row.auditID,
                        row.chainSeq == 1 ? "the first row does not start from the genesis hash"
                            : "prev_hash is not the hash of row \(row.chainSeq - 1)")
                }
                if let vouched = checkpoints[row.chainSeq], vouched != row.rowHash {
                    return broken(
                        .checkpointMismatch, row.chainSeq, row.auditID, "the checkpoint at this row records another hash")
                }
                expectedPrev = row.rowHash
                expectedSeq = row.chainSeq + 1
                result.rowsChecked += 1
                result.lastSeq = row.chainSeq
            }
            guard page.count == pageSize, let last = page.last else { break }
            afterSeq = last.chainSeq
        }

        let lastSeq = result.lastSeq ?? checkpoints.keys.max() ?? 0
        guard let head else {
            if result.lastSeq != nil { return broken(.headMismatch, lastSeq, nil, "the tenant has rows but no chain head") }
            return result
        }
        if head.seq > lastSeq {
            return broken(.missingTail, lastSeq + 1, nil, "the chain head is at \(head.seq) but the rows end at \(lastSeq)")
        }
        if head.seq < lastSeq {
            return broken(.headMismatch, head.seq, nil, "the chain head is at \(head.seq) but rows go on to \(lastSeq)")
        }
        let tailHash = result.lastSeq != nil ? expectedPrev : checkpoints[lastSeq]
        if let tailHash, head.hash != tailHash {
            return broken(.headMismatch, lastSeq, nil, "the chain head's hash is not the last row's hash")
        }
        return result
    }

    private func fetchPage(tenant: String, after: Int64, connection: PostgresConnection, logger: Logger) async throws
        -> [AuditRow]
    {
        let rows = try await connection.query(
            """
            SELECT tenant_id, chain_seq, audit_id, kind,
                   (EXTRACT(EPOCH FROM occurred_at) * 1000000)::bigint AS occurred_us,
                   (EXTRACT(EPOCH FROM recorded_at) * 1000000)::bigint AS recorded_us,
                   location_id, source, erp, connection_id, session_id, object_type, shop_id, record_number,
                   customer_name, erp_id, action, outcome, reason_code, message, input_event_id, idempotency_key,
                   job_id, attempt, erp_request_id, details::text AS details, prev_hash, row_hash
            FROM audit_trail
            WHERE tenant_id = \(tenant) AND chain_seq > \(after)
            ORDER BY chain_seq
            LIMIT \(pageSize)
            """, logger: logger)
        return try rows.map(AuditRow.init(stored:))
    }
}

extension AuditRow {
    /// Reads a row selected with the columns of the verifier's and the sync log's queries.
    init(stored row: PostgresRow) throws {
        let detailsText = try row.decode(String?.self, "details")
        let details = try detailsText.map { try JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
        self.init(
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
