public import Foundation

/// One fact for the audit trail and the sync log, published to the `ledgerline.audit` exchange
/// (routing key `<source>.<kind>`) by ingest, the scheduler and the workers, and stored by the
/// log writer exactly once per ``auditID``.
///
/// Every event names what it is about (``record``), what happened (``action``, ``result``), and
/// for every record that did not go through, why (``reason`` from the shared catalogue plus the
/// ERP's own ``message``). The trace fields tie it to the input event, the job, the attempt and the
/// ERP request.
public struct AuditEvent: Sendable, Equatable, Codable {
    /// What kind of fact this is.
    public enum Kind: String, Sendable, Hashable, CaseIterable, Codable {
        /// Ingest stored a shop event (or found it stale / a duplicate / waiting).
        case eventReceived = "event.received"
        /// Ingest rejected a shop event.
        case eventRejected = "event.rejected"
        /// A sync session opened (trigger run, batch, or real-time window of a connection).
        case sessionOpened = "session.opened"
        /// A sync session closed.
        case sessionClosed = "session.closed"
        /// A record was synced, skipped or failed within a session.
        case recordSynced = "record.synced"
        /// A connection changed state (connected, lost authorization, disconnected, …).
        case connectionChanged = "connection.changed"
    }

    /// The outcome for the record.
    public enum Outcome: String, Sendable, Hashable, CaseIterable, Codable {
        case succeeded, skipped, failed, rejected, deferred, parked
    }

    /// The object a record event is about.
    public enum ObjectType: String, Sendable, Hashable, CaseIterable, Codable {
        case invoice, customer, payment, item, taxRate = "tax_rate", event
    }

    /// The record an event is about, as finance ops recognise it.
    public struct Record: Sendable, Equatable, Codable {
        public var objectType: ObjectType
        /// The shop's id (invoice id, customer id, payment id).
        public var shopID: String?
        /// The shop's human number, e.g. the invoice number.
        public var number: String?
        /// The customer's display name.
        public var customerName: String?
        /// The ERP's id once known.
        public var erpID: String?

        public init(objectType: ObjectType, shopID: String? = nil, number: String? = nil,
                    customerName: String? = nil, erpID: String? = nil) {
            self.objectType = objectType
            self.shopID = shopID
            self.number = number
            self.customerName = customerName
            self.erpID = erpID
        }

        enum CodingKeys: String, CodingKey {
            case objectType = "object_type", shopID = "shop_id", number, customerName = "customer_name", erpID = "erp_id"
        }
    }

    /// Unique id; the log writer stores each id once.
    public var auditID: UUID
    public var kind: Kind
    public var occurredAt: Date
    public var tenantID: TenantID
    public var locationID: LocationID?
    /// The producing executable: `ingest`, `scheduler`, `worker-xero`, …
    public var source: String
    public var erp: ERP?
    public var connectionID: UUID?
    public var sessionID: UUID?
    public var record: Record?
    /// The sync-log description, e.g. "Invoice Created", "Invoice Updated", "Payment Applied", "Customer Skipped".
    public var action: String?
    public var outcome: Outcome?
    /// Why a record did not go through (or other notable reason), from the shared catalogue.
    public var reason: ReasonCode?
    /// A human message: ours or the ERP's own.
    public var message: String?
    /// The shop event that caused this (event id), its idempotency key, the job and attempt, and the ERP's request id.
    public var inputEventID: String?
    public var idempotencyKey: String?
    public var jobID: String?
    public var attempt: Int?
    public var erpRequestID: String?
    /// Further facts (counts of a closed session, trigger and window of an opened one, …).
    public var details: [String: String]?

    public init(
        auditID: UUID = UUID(), kind: Kind, occurredAt: Date, tenantID: TenantID, locationID: LocationID? = nil,
        source: String, erp: ERP? = nil, connectionID: UUID? = nil, sessionID: UUID? = nil, record: Record? = nil,
        action: String? = nil, outcome: Outcome? = nil, reason: ReasonCode? = nil, message: String? = nil,
        inputEventID: String? = nil, idempotencyKey: String? = nil, jobID: String? = nil, attempt: Int? = nil,
        erpRequestID: String? = nil, details: [String: String]? = nil
    ) {
        self.auditID = auditID
        self.kind = kind
        self.occurredAt = occurredAt
        self.tenantID = tenantID
        self.locationID = locationID
        self.source = source
        self.erp = erp
        self.connectionID = connectionID
        self.sessionID = sessionID
        self.record = record
        self.action = action
        self.outcome = outcome
        self.reason = reason
        self.message = message
        self.inputEventID = inputEventID
        self.idempotencyKey = idempotencyKey
        self.jobID = jobID
        self.attempt = attempt
        self.erpRequestID = erpRequestID
        self.details = details
    }

    /// The routing key on `ledgerline.audit`.
    public var routingKey: String { "\(source).\(kind.rawValue)" }

    enum CodingKeys: String, CodingKey {
        case auditID = "audit_id", kind, occurredAt = "occurred_at", tenantID = "tenant_id", locationID = "location_id"
        case source, erp, connectionID = "connection_id", sessionID = "session_id", record, action, outcome, reason
        case message, inputEventID = "input_event_id", idempotencyKey = "idempotency_key", jobID = "job_id", attempt
        case erpRequestID = "erp_request_id", details
    }
}
