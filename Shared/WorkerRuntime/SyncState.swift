public import Connectors
public import Domain
public import Foundation

/// The identity of one document's sync state: tenant, connection, document kind and id
/// (the primary key of `sync_documents`).
public struct SyncDocumentKey: Sendable, Hashable, CustomStringConvertible {
    /// The document kinds with a sync state of their own.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A customer.
        case customer
        /// An invoice (pushes, updates and voids share one state: a void is a later version).
        case invoice
        /// A payment.
        case payment

        /// The connector's document kind (for idempotency scopes).
        public var documentKind: DocumentKey.Kind {
            switch self {
            case .customer: .customer
            case .invoice: .invoice
            case .payment: .payment
            }
        }
    }

    /// The tenant.
    public var tenantID: TenantID
    /// The ERP connection.
    public var connectionID: UUID
    /// The document kind.
    public var kind: Kind
    /// The shop's id of the document (`invoice_id`, `payment_id`, `customer_id`).
    public var documentID: String

    /// Creates a key.
    public init(tenantID: TenantID, connectionID: UUID, kind: Kind, documentID: String) {
        self.tenantID = tenantID
        self.connectionID = connectionID
        self.kind = kind
        self.documentID = documentID
    }

    /// The connector's document key.
    public var documentKey: DocumentKey { DocumentKey(kind.documentKind, documentID) }

    /// `tenant/connection/kind:id`.
    public var description: String { "\(tenantID)/\(connectionID.uuidString.lowercased())/\(kind.rawValue):\(documentID)" }
}

/// The states of the per-document state machine (docs/worker-runtime.md).
public enum SyncState: String, Sendable, Hashable, CaseIterable {
    /// A job asked for it; nobody works on it.
    case pending
    /// A worker holds a lease on it.
    case claimed
    /// The ERP idempotency key was recorded and the ERP call may have happened.
    case sentOutcomeUnknown = "sent_outcome_unknown"
    /// The ERP holds `syncedVersion`.
    case synced
    /// Waits until `notBefore` (retry, Retry-After, a dependency).
    case deferred
    /// Stopped with a reason until the data changes or an operator replays it.
    case parked
}

/// One row of `sync_documents`.
public struct SyncDocument: Sendable, Equatable {
    /// Its key.
    public var key: SyncDocumentKey
    /// Its state.
    public var state: SyncState
    /// The highest version a job asked for.
    public var targetVersion: Int64
    /// Attempts made for `attemptVersion`.
    public var attempt: Int
    /// The version the last claim was for.
    public var attemptVersion: Int64?
    /// Start of the retry horizon of `attemptVersion`.
    public var firstAttemptAt: Date?
    /// Until when the claim holds.
    public var leaseUntil: Date?
    /// Which worker claimed it.
    public var workerID: String?
    /// The operation whose key was recorded.
    public var operation: String?
    /// The ERP idempotency key recorded before the call.
    public var idempotencyKey: String?
    /// Whether an earlier attempt may have reached the ERP.
    public var priorOutcomeUnknown: Bool
    /// The ERP id.
    public var erpID: String?
    /// The ERP version (e.g. `SyncToken`).
    public var erpVersion: String?
    /// The version the ERP holds.
    public var syncedVersion: Int64?
    /// The reason code of the last deferral or parking.
    public var reason: String?
    /// The ERP's message (may quote customer data: not for logs).
    public var erpMessage: String?
    /// Not to be retried before.
    public var notBefore: Date?
}

/// A claim on one document version, held by one worker until its lease runs out.
public struct SyncClaim: Sendable, Equatable {
    /// The document.
    public var key: SyncDocumentKey
    /// The version being written.
    public var version: Int64
    /// 1 for the first attempt at this version.
    public var attempt: Int
    /// When the first attempt at this version was claimed (the retry horizon starts here).
    public var firstAttemptAt: Date
    /// Whether an earlier attempt may have reached the ERP (the flows then look up before creating).
    public var priorAttempt: PriorAttempt
    /// The worker holding the claim.
    public var workerID: String
    /// The job that claimed it.
    public var jobID: String
    /// The database's clock at the claim.
    public var claimedAt: Date
    /// The reason of the previous deferral or parking of this document, if any (e.g. `erp.auth_lost` after a
    /// 401, so a second 401 parks instead of refreshing again).
    public var previousReason: String?
}

/// What ``SyncStateStore/claim(_:version:job:force:)`` decided.
public enum ClaimDecision: Sendable, Equatable {
    /// The caller holds the document and must end with complete, defer or park.
    case claimed(SyncClaim)
    /// The ERP already holds this version (or a later one): nothing to do.
    case alreadySynced(SyncDocument)
    /// Parked for this version: not retried until the data changes or an operator replays it.
    case parked(SyncDocument)
    /// Deferred until `notBefore`; the sweeper re-enqueues it then.
    case notDue(SyncDocument)
    /// Another worker holds a live lease; it picks up newer versions when it finishes.
    case busy(SyncDocument)
}

/// What a completed sync wrote into the ERP.
public struct SyncResult: Sendable, Equatable {
    /// The ERP id (nil when nothing had to be written).
    public var erpID: String?
    /// The ERP's version of it.
    public var erpVersion: String?
    /// SHA-256 of the canonical payload synced.
    public var payloadSHA256: [UInt8]?
    /// The ERP request id of the last write.
    public var erpRequestID: String?

    /// Creates a result.
    public init(erpID: String?, erpVersion: String?, payloadSHA256: [UInt8]?, erpRequestID: String?) {
        self.erpID = erpID
        self.erpVersion = erpVersion
        self.payloadSHA256 = payloadSHA256
        self.erpRequestID = erpRequestID
    }
}

/// A link between a shop object and its ERP object (`erp_links`).
public struct ERPLink: Sendable, Equatable {
    /// The object kind.
    public var kind: SyncDocumentKey.Kind
    /// The shop's id.
    public var ourID: String
    /// The ERP id.
    public var erpID: String
    /// The ERP version (e.g. `SyncToken`).
    public var erpVersion: String?
    /// The ERP document number.
    public var erpNumber: String?
    /// The ERP display name.
    public var erpName: String?

    /// Creates a link.
    public init(
        kind: SyncDocumentKey.Kind, ourID: String, erpID: String, erpVersion: String? = nil, erpNumber: String? = nil,
        erpName: String? = nil
    ) {
        self.kind = kind
        self.ourID = ourID
        self.erpID = erpID
        self.erpVersion = erpVersion
        self.erpNumber = erpNumber
        self.erpName = erpName
    }
}
