public import Domain
public import Foundation

/// One stored row of the audit trail: an ``AuditEvent`` as the log writer appended it to its
/// tenant's hash chain.
///
/// Timestamps are kept as whole microseconds since 1970 (the precision of `timestamptz`), so the
/// bytes hashed when the row is written are the bytes hashed when it is verified.
public struct AuditRow: Sendable, Equatable, Codable {
    /// The tenant whose chain holds the row.
    public var tenantID: String
    /// The row's position in its tenant's chain: 1, 2, 3, … without gaps.
    public var chainSeq: Int64
    public var auditID: UUID
    /// ``AuditEvent/Kind`` raw value, e.g. `record.synced`.
    public var kind: String
    public var occurredAtMicros: Int64
    /// When the log writer stored the row (server clock under the tenant's chain lock).
    public var recordedAtMicros: Int64
    public var locationID: String?
    public var source: String
    public var erp: String?
    public var connectionID: UUID?
    /// The producer's session, or the window session the writer assigned (see ``SessionAssignment``).
    public var sessionID: UUID?
    public var objectType: String?
    public var shopID: String?
    public var recordNumber: String?
    public var customerName: String?
    public var erpID: String?
    public var action: String?
    public var outcome: String?
    public var reasonCode: String?
    public var message: String?
    public var inputEventID: String?
    public var idempotencyKey: String?
    public var jobID: String?
    public var attempt: Int?
    public var erpRequestID: String?
    public var details: [String: String]?
    /// The previous row's ``rowHash`` (32 zero bytes for row 1).
    public var prevHash: [UInt8]
    /// SHA-256 of ``canonicalEncoding()``.
    public var rowHash: [UInt8]

    /// Builds the row for `event` at `chainSeq`; ``rowHash`` is computed from the other fields.
    ///
    /// - Parameters:
    ///   - event: the event as received.
    ///   - chainSeq: its position in the tenant's chain.
    ///   - recordedAtMicros: the server time the batch took the tenant's chain lock.
    ///   - sessionID: the session the row belongs to (the event's, or an implicit window).
    ///   - prevHash: the previous row's hash.
    public init(event: AuditEvent, chainSeq: Int64, recordedAtMicros: Int64, sessionID: UUID?, prevHash: [UInt8]) {
        self.tenantID = event.tenantID.rawValue
        self.chainSeq = chainSeq
        self.auditID = event.auditID
        self.kind = event.kind.rawValue
        self.occurredAtMicros = AuditRow.micros(event.occurredAt)
        self.recordedAtMicros = recordedAtMicros
        self.locationID = event.locationID?.rawValue
        self.source = event.source
        self.erp = event.erp?.rawValue
        self.connectionID = event.connectionID
        self.sessionID = sessionID
        self.objectType = event.record?.objectType.rawValue
        self.shopID = event.record?.shopID
        self.recordNumber = event.record?.number
        self.customerName = event.record?.customerName
        self.erpID = event.record?.erpID
        self.action = event.action
        self.outcome = event.outcome?.rawValue
        self.reasonCode = event.reason?.rawValue
        self.message = event.message
        self.inputEventID = event.inputEventID
        self.idempotencyKey = event.idempotencyKey
        self.jobID = event.jobID
        self.attempt = event.attempt
        self.erpRequestID = event.erpRequestID
        self.details = event.details
        self.prevHash = prevHash
        self.rowHash = []
        self.rowHash = AuditChain.hash(canonicalEncoding())
    }

    /// Creates a row from stored values (used by the verifier); nothing is recomputed.
    public init(
        tenantID: String, chainSeq: Int64, auditID: UUID, kind: String, occurredAtMicros: Int64,
        recordedAtMicros: Int64, locationID: String?, source: String, erp: String?, connectionID: UUID?,
        sessionID: UUID?, objectType: String?, shopID: String?, recordNumber: String?, customerName: String?,
        erpID: String?, action: String?, outcome: String?, reasonCode: String?, message: String?,
        inputEventID: String?, idempotencyKey: String?, jobID: String?, attempt: Int?, erpRequestID: String?,
        details: [String: String]?, prevHash: [UInt8], rowHash: [UInt8]
    ) {
        self.tenantID = tenantID
        self.chainSeq = chainSeq
        self.auditID = auditID
        self.kind = kind
        self.occurredAtMicros = occurredAtMicros
        self.recordedAtMicros = recordedAtMicros
        self.locationID = locationID
        self.source = source
        self.erp = erp
        self.connectionID = connectionID
        self.sessionID = sessionID
        self.objectType = objectType
        self.shopID = shopID
        self.recordNumber = recordNumber
        self.customerName = customerName
        self.erpID = erpID
        self.action = action
        self.outcome = outcome
        self.reasonCode = reasonCode
        self.message = message
        self.inputEventID = inputEventID
        self.idempotencyKey = idempotencyKey
        self.jobID = jobID
        self.attempt = attempt
        self.erpRequestID = erpRequestID
        self.details = details
        self.prevHash = prevHash
        self.rowHash = rowHash
    }

    /// Whole microseconds since 1970, rounded as Postgres rounds a `timestamptz`.
    public static func micros(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    /// The bytes the row hash covers (format `LLAUDIT1`, described in docs/audit-trail.md):
    ///
    /// the 8 ASCII bytes `LLAUDIT1`; then each field in a fixed order, a NULL as the single byte
    /// `0x00` and a value as `0x01`, its length as a 4-byte big-endian integer and its UTF-8 text
    /// (integers and timestamps in decimal, timestamps as microseconds since 1970, UUIDs in lower
    /// case); `details` as `0x00`, or `0x01`, the pair count (4 bytes) and each key and value as a
    /// field, keys sorted by their UTF-8 bytes; finally the 32 raw bytes of `prev_hash`.
    public func canonicalEncoding() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        out.append(contentsOf: AuditChain.formatTag)
        func field(_ value: String?) {
            guard let value else { return out.append(0) }
            out.append(1)
            let utf8 = value.utf8
            appendLength(utf8.count)
            out.append(contentsOf: utf8)
        }
        func appendLength(_ count: Int) {
            let length = UInt32(truncatingIfNeeded: count)
            out.append(UInt8(truncatingIfNeeded: length >> 24))
            out.append(UInt8(truncatingIfNeeded: length >> 16))
            out.append(UInt8(truncatingIfNeeded: length >> 8))
            out.append(UInt8(truncatingIfNeeded: length))
        }
        field(tenantID)
        field(String(chainSeq))
        field(auditID.uuidString.lowercased())
        field(kind)
        field(String(occurredAtMicros))
        field(String(recordedAtMicros))
        field(locationID)
        field(source)
        field(erp)
        field(connectionID?.uuidString.lowercased())
        field(sessionID?.uuidString.lowercased())
        field(objectType)
        field(shopID)
        field(recordNumber)
        field(customerName)
        field(erpID)
        field(action)
        field(outcome)
        field(reasonCode)
        field(message)
        field(inputEventID)
        field(idempotencyKey)
        field(jobID)
        field(attempt.map(String.init))
        field(erpRequestID)
        if let details {
            out.append(1)
            appendLength(details.count)
            for key in details.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                field(key)
                field(details[key])
            }
        } else {
            out.append(0)
        }
        out.append(contentsOf: prevHash)
        return out
    }

    /// The hash ``canonicalEncoding()`` gives now (equal to ``rowHash`` for an untouched row).
    public func computedHash() -> [UInt8] { AuditChain.hash(canonicalEncoding()) }
}
