public import Foundation

/// A unit of work for one ERP connection, published to the `ledgerline.jobs` exchange with the
/// ERP's slug as routing key. Ingest's outbox relay and the scheduler produce jobs; the ERP's
/// worker consumes them.
///
/// Delivery is at-least-once: the AMQP message id is ``jobID`` and a worker treats a job it has
/// already completed (same document, same version) as done.
public struct SyncJob: Sendable, Equatable, Codable {
    /// What the worker is asked to do.
    public enum Kind: String, Sendable, Hashable, CaseIterable, Codable {
        /// Create or update the invoice (and its customer first) in the ERP.
        case pushInvoice = "push_invoice"
        /// Record a payment against its invoice in the ERP.
        case pushPayment = "push_payment"
        /// Void the invoice in the ERP.
        case voidInvoice = "void_invoice"
        /// Push every listed invoice, using the ERP's batch API where it has one.
        case pushBatch = "push_batch"
        /// Read what changed in the ERP since the last pull.
        case pull = "pull"
        /// Read everything (first connect).
        case initialSync = "initial_sync"
    }

    /// Why the job exists.
    public enum Trigger: String, Sendable, Hashable, CaseIterable, Codable {
        /// A shop event (invoice created / updated / paid / voided).
        case event
        /// An interval sweep.
        case interval
        /// The end-of-day batch of a location.
        case endOfDay = "end_of_day"
        /// "Sync now" from an operator.
        case manual
        /// A scheduled pull.
        case pull
        /// The first sync of a new connection.
        case initial
        /// An operator replayed a parked job.
        case replay
    }

    /// Unique id; also the AMQP message id (the outbox row id for jobs from the outbox).
    public var jobID: String
    public var kind: Kind
    public var trigger: Trigger
    public var tenantID: TenantID
    public var locationID: LocationID
    /// The ERP connection (`erp_connections.connection_id`).
    public var connectionID: UUID
    public var erp: ERP
    /// The shop's invoice id, for invoice and payment jobs.
    public var invoiceID: String?
    /// The invoice version the job was created for; a worker never pushes an older one.
    public var invoiceVersion: Int64?
    /// The shop's payment id, for payment jobs.
    public var paymentID: String?
    /// The shop's invoice ids of a batch job.
    public var invoiceIDs: [String]?
    /// The sync-log session the job belongs to, when the trigger opened one.
    public var sessionID: UUID?
    public var enqueuedAt: Date

    public init(
        jobID: String, kind: Kind, trigger: Trigger, tenantID: TenantID, locationID: LocationID, connectionID: UUID,
        erp: ERP, invoiceID: String? = nil, invoiceVersion: Int64? = nil, paymentID: String? = nil,
        invoiceIDs: [String]? = nil, sessionID: UUID? = nil, enqueuedAt: Date
    ) {
        self.jobID = jobID
        self.kind = kind
        self.trigger = trigger
        self.tenantID = tenantID
        self.locationID = locationID
        self.connectionID = connectionID
        self.erp = erp
        self.invoiceID = invoiceID
        self.invoiceVersion = invoiceVersion
        self.paymentID = paymentID
        self.invoiceIDs = invoiceIDs
        self.sessionID = sessionID
        self.enqueuedAt = enqueuedAt
    }

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", kind, trigger, tenantID = "tenant_id", locationID = "location_id"
        case connectionID = "connection_id", erp, invoiceID = "invoice_id", invoiceVersion = "invoice_version"
        case paymentID = "payment_id", invoiceIDs = "invoice_ids", sessionID = "session_id", enqueuedAt = "enqueued_at"
    }
}
