import Domain
import Foundation

/// One outbox row to be written (the relay publishes it later).
struct OutboxMessage: Sendable, Equatable {
    var exchange: String
    var routingKey: String
    /// `sync_job` or `audit_event`. For sync jobs the stored body's `job_id` is replaced by the outbox id.
    var messageType: String
    /// AMQP headers (string values).
    var headers: [String: String]
    /// JSON body.
    var body: String

    static let syncJob = "sync_job"
    static let auditEvent = "audit_event"
}

/// An active ERP connection of a location, as the state query reads it.
struct ConnectionTarget: Sendable, Equatable {
    var connectionID: UUID
    var erpSlug: String
    var pushInvoices: Bool
    var pushPayments: Bool

    /// Parses `"<uuid> <erp> <push_invoices> <push_payments>"` (booleans as `true`/`false`).
    init?(packed: String) {
        let parts = packed.split(separator: " ")
        guard parts.count == 4, let id = UUID(uuidString: String(parts[0])) else { return nil }
        connectionID = id
        erpSlug = String(parts[1])
        pushInvoices = parts[2] == "true"
        pushPayments = parts[3] == "true"
    }

    init(connectionID: UUID, erpSlug: String, pushInvoices: Bool, pushPayments: Bool) {
        self.connectionID = connectionID
        self.erpSlug = erpSlug
        self.pushInvoices = pushInvoices
        self.pushPayments = pushPayments
    }
}

/// Builds the sync jobs and audit events ingest writes to the outbox.
struct OutboxComposer: Sendable {
    var jobsExchange: String
    var auditExchange: String
    /// The source written into audit events.
    var source = "ingest"

    private static let encoder = WireFormat.encoder()

    /// One job per connection that wants `kind`; connections of an ERP this build does not know are skipped.
    func jobs(
        kind: SyncJob.Kind, event: InvoiceEvent, connections: [ConnectionTarget], paymentID: String? = nil,
        now: Date
    ) throws -> [OutboxMessage] {
        try connections.compactMap { connection -> OutboxMessage? in
            let wanted: Bool =
                switch kind {
                case .pushPayment: connection.pushPayments
                default: connection.pushInvoices
                }
            guard wanted, let erp = ERP(rawValue: connection.erpSlug) else { return nil }
            let job = SyncJob(
                jobID: "0", kind: kind, trigger: .event, tenantID: event.tenantID, locationID: event.locationID,
                connectionID: connection.connectionID, erp: erp, invoiceID: event.invoiceID,
                invoiceVersion: event.invoiceVersion, paymentID: paymentID, enqueuedAt: now)
            return OutboxMessage(
                exchange: jobsExchange, routingKey: erp.jobRoutingKey, messageType: OutboxMessage.syncJob,
                headers: headers(tenant: event.tenantID.rawValue, correlation: event.eventID, kind: kind.rawValue),
                body: String(decoding: try Self.encoder.encode(job), as: UTF8.self))
        }
    }

    /// The `event.received` audit event for a stored event (applied, stale or parked).
    func received(event: InvoiceEvent, outcome: IntakeOutcome, channel: IntakeChannel, customerName: String?,
                  invoiceNumber: String?, now: Date) throws -> OutboxMessage {
        let action: String
        var record = AuditEvent.Record(objectType: .invoice, shopID: event.invoiceID,
                                       number: invoiceNumber ?? event.invoiceReference.invoiceNumber,
                                       customerName: customerName ?? event.invoice?.customer.name)
        switch event.payload {
        case .invoiceCreated: action = "Invoice Created"
        case .invoiceUpdated: action = "Invoice Updated"
        case .paymentReceived(_, let payment):
            action = "Payment Received"
            record = AuditEvent.Record(objectType: .payment, shopID: payment.paymentID, number: record.number,
                                       customerName: record.customerName)
        case .invoiceVoided: action = "Invoice Voided"
        }
        let (auditOutcome, reason, message): (AuditEvent.Outcome, ReasonCode?, String?) =
            switch outcome {
            case .applied: (.succeeded, nil, nil)
            case .stale:
                (.skipped, .invoiceStaleVersion,
                 "Version \(event.invoiceVersion) is not newer than the stored invoice; recorded, not applied.")
            case .parked:
                (.deferred, .invoiceNotYetReceived,
                 "The invoice has not been received yet; the event waits for it.")
            case .duplicate, .rejected: (.skipped, nil, nil)
            }
        let audit = AuditEvent(
            kind: .eventReceived, occurredAt: now, tenantID: event.tenantID, locationID: event.locationID,
            source: source, record: record, action: action, outcome: auditOutcome, reason: reason, message: message,
            inputEventID: event.eventID, idempotencyKey: event.idempotencyKey,
            details: ["channel": channel.rawValue, "event_type": event.eventType.rawValue,
                      "invoice_version": String(event.invoiceVersion)])
        return try auditMessage(audit, correlation: event.eventID)
    }

    /// The `event.rejected` audit event.
    func rejected(tenantID: String, locationID: String?, eventID: String?, idempotencyKey: String?, invoiceID: String?,
                  failures: [ValidationFailure], channel: IntakeChannel, now: Date) throws -> OutboxMessage {
        let first = failures.first
        var details = ["channel": channel.rawValue, "failures": String(failures.count)]
        details["codes"] = Array(Set(failures.map(\.code.rawValue))).sorted().prefix(20).joined(separator: ",")
        let audit = AuditEvent(
            kind: .eventRejected, occurredAt: now, tenantID: TenantID(tenantID), locationID: locationID.map { LocationID($0) },
            source: source, record: AuditEvent.Record(objectType: invoiceID == nil ? .event : .invoice, shopID: invoiceID),
            action: "Event Rejected", outcome: .rejected, reason: first?.code, message: first?.message,
            inputEventID: eventID, idempotencyKey: idempotencyKey, details: details)
        return try auditMessage(audit, correlation: eventID)
    }

    private func auditMessage(_ audit: AuditEvent, correlation: String?) throws -> OutboxMessage {
        OutboxMessage(
            exchange: auditExchange, routingKey: audit.routingKey, messageType: OutboxMessage.auditEvent,
            headers: headers(tenant: audit.tenantID.rawValue, correlation: correlation, kind: audit.kind.rawValue),
            body: String(decoding: try Self.encoder.encode(audit), as: UTF8.self))
    }

    private func headers(tenant: String, correlation: String?, kind: String) -> [String: String] {
        var headers = ["x-ledgerline-tenant": tenant, "x-ledgerline-kind": kind]
        if let correlation { headers["x-ledgerline-correlation-id"] = correlation }
        return headers
    }
}
