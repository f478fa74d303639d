/// One event of the invoice event contract v1: something happened to an invoice in a shop's software.
///
/// Wire form (JSON, snake_case keys; see `docs/event-contract/README.md` and
/// `docs/event-contract/invoice-event.v1.schema.json`):
///
/// ```json
/// { "schema_version": "1", "event_id": "…", "event_type": "invoice.created",
///   "tenant_id": "…", "location_id": "…", "source_system": "…",
///   "occurred_at": "2025-03-01T14:05:09-05:00", "idempotency_key": "…", "invoice_version": 1,
///   "invoice": { … } }
/// ```
///
/// The payload depends on the event type: `invoice` for `invoice.created` / `invoice.updated`;
/// `invoice_ref` + `payment` for `payment.received`; `invoice_ref` + `void` for `invoice.voided`. In Swift the
/// pairing is enforced by ``Payload``: ``eventType`` is derived from it.
///
/// To read untrusted bytes use ``InvoiceEventDecoder``, which checks limits, structure, formats and
/// arithmetic and reports every failure with a path. `Codable` decoding (`JSONDecoder`) checks structure only.
public struct InvoiceEvent: Sendable, Equatable, Codable {
    /// The contract version this module reads and writes: `"1"`.
    public static let currentSchemaVersion = "1"

    /// The contract version of this event (`"1"`).
    public var schemaVersion: String
    /// The producer's unique id of this event (a UUID is recommended). 1–128 visible ASCII characters.
    public var eventID: String
    /// The franchise the shop belongs to.
    public var tenantID: TenantID
    /// The shop location within the tenant.
    public var locationID: LocationID
    /// The producing software, e.g. `shopmaster-pro`. 1–64 characters `[A-Za-z0-9._-]`.
    public var sourceSystem: String
    /// When the change happened in the shop's software (not when it was sent).
    public var occurredAt: Timestamp
    /// The producer's key for safe retries: the same key must always carry the same event.
    /// 1–255 visible ASCII characters; unique per tenant.
    public var idempotencyKey: String
    /// The invoice's version after this event: increases with every change to the invoice (any event type);
    /// older versions arriving late are ignored. 1 ... 2^53 − 1.
    public var invoiceVersion: Int64
    /// What happened, with its data.
    public var payload: Payload

    /// The four kinds of event.
    public enum EventType: String, Sendable, Hashable, CaseIterable, Codable {
        /// A new invoice (full snapshot).
        case invoiceCreated = "invoice.created"
        /// A changed invoice (full snapshot replacing the previous one).
        case invoiceUpdated = "invoice.updated"
        /// A payment against an invoice.
        case paymentReceived = "payment.received"
        /// The invoice was voided or cancelled.
        case invoiceVoided = "invoice.voided"
    }

    /// The data of an event; the case determines the event type.
    public enum Payload: Sendable, Equatable {
        /// `invoice.created`: the full invoice.
        case invoiceCreated(Invoice)
        /// `invoice.updated`: the full invoice after the change.
        case invoiceUpdated(Invoice)
        /// `payment.received`: which invoice, and the payment.
        case paymentReceived(InvoiceReference, Payment)
        /// `invoice.voided`: which invoice, and why.
        case invoiceVoided(InvoiceReference, VoidDetails)

        /// The event type this payload belongs to.
        public var eventType: EventType {
            switch self {
            case .invoiceCreated: .invoiceCreated
            case .invoiceUpdated: .invoiceUpdated
            case .paymentReceived: .paymentReceived
            case .invoiceVoided: .invoiceVoided
            }
        }
    }

    /// Creates an event.
    /// - Parameters:
    ///   - schemaVersion: the contract version; defaults to ``currentSchemaVersion``.
    ///   - eventID: the producer's unique event id.
    ///   - tenantID: the franchise.
    ///   - locationID: the shop location.
    ///   - sourceSystem: the producing software.
    ///   - occurredAt: when the change happened.
    ///   - idempotencyKey: the producer's retry key.
    ///   - invoiceVersion: the invoice's version after this event (≥ 1).
    ///   - payload: what happened.
    public init(
        schemaVersion: String = InvoiceEvent.currentSchemaVersion, eventID: String, tenantID: TenantID,
        locationID: LocationID, sourceSystem: String, occurredAt: Timestamp, idempotencyKey: String,
        invoiceVersion: Int64, payload: Payload
    ) {
        self.schemaVersion = schemaVersion
        self.eventID = eventID
        self.tenantID = tenantID
        self.locationID = locationID
        self.sourceSystem = sourceSystem
        self.occurredAt = occurredAt
        self.idempotencyKey = idempotencyKey
        self.invoiceVersion = invoiceVersion
        self.payload = payload
    }

    /// The event type, derived from ``payload``.
    public var eventType: EventType { payload.eventType }

    /// The source system's id of the invoice this event is about (for every event type).
    public var invoiceID: String {
        switch payload {
        case .invoiceCreated(let invoice), .invoiceUpdated(let invoice): invoice.invoiceID
        case .paymentReceived(let reference, _), .invoiceVoided(let reference, _): reference.invoiceID
        }
    }

    /// The reference of the invoice this event is about (built from the invoice for created/updated).
    public var invoiceReference: InvoiceReference {
        switch payload {
        case .invoiceCreated(let invoice), .invoiceUpdated(let invoice):
            InvoiceReference(
                invoiceID: invoice.invoiceID, invoiceNumber: invoice.invoiceNumber, currency: invoice.currency)
        case .paymentReceived(let reference, _), .invoiceVoided(let reference, _): reference
        }
    }

    /// The full invoice, for `invoice.created` and `invoice.updated`; `nil` otherwise.
    public var invoice: Invoice? {
        switch payload {
        case .invoiceCreated(let invoice), .invoiceUpdated(let invoice): invoice
        case .paymentReceived, .invoiceVoided: nil
        }
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version", eventID = "event_id", eventType = "event_type"
        case tenantID = "tenant_id", locationID = "location_id", sourceSystem = "source_system"
        case occurredAt = "occurred_at", idempotencyKey = "idempotency_key", invoiceVersion = "invoice_version"
        case invoice, invoiceRef = "invoice_ref", payment, void
    }

    /// Decodes the structure (types, required fields, formats of dates, decimals and enums) without the
    /// contract's value checks; use ``InvoiceEventDecoder`` for untrusted input.
    public init(from decoder: any Decoder) throws {
        self = try ContractCodable.decode(from: decoder) { mapper, json in mapper.event(json) }
    }

    /// Encodes the wire form (optional fields that are `nil` are omitted).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(schemaVersion, forKey: .schemaVersion)
        try container.encode(eventID, forKey: .eventID)
        try container.encode(eventType, forKey: .eventType)
        try container.encode(tenantID, forKey: .tenantID)
        try container.encode(locationID, forKey: .locationID)
        try container.encode(sourceSystem, forKey: .sourceSystem)
        try container.encode(occurredAt, forKey: .occurredAt)
        try container.encode(idempotencyKey, forKey: .idempotencyKey)
        try container.encode(invoiceVersion, forKey: .invoiceVersion)
        switch payload {
        case .invoiceCreated(let invoice), .invoiceUpdated(let invoice):
            try container.encode(invoice, forKey: .invoice)
        case .paymentReceived(let reference, let payment):
            try container.encode(reference, forKey: .invoiceRef)
            try container.encode(payment, forKey: .payment)
        case .invoiceVoided(let reference, let details):
            try container.encode(reference, forKey: .invoiceRef)
            try container.encode(details, forKey: .void)
        }
    }
}

/// Identifies an invoice in `payment.received` and `invoice.voided` events (wire key `invoice_ref`).
public struct InvoiceReference: Sendable, Hashable, Codable {
    /// The source system's stable id of the invoice (as in ``Invoice/invoiceID``).
    public var invoiceID: String
    /// The invoice number printed on the invoice.
    public var invoiceNumber: String
    /// The invoice's currency (amounts in the event are in it).
    public var currency: CurrencyCode

    /// Creates a reference.
    /// - Parameters:
    ///   - invoiceID: the source system's stable id.
    ///   - invoiceNumber: the printed number.
    ///   - currency: the invoice's currency.
    public init(invoiceID: String, invoiceNumber: String, currency: CurrencyCode) {
        self.invoiceID = invoiceID
        self.invoiceNumber = invoiceNumber
        self.currency = currency
    }

    enum CodingKeys: String, CodingKey {
        case invoiceID = "invoice_id", invoiceNumber = "invoice_number", currency
    }

    /// Decodes the structure; see ``InvoiceEvent/init(from:)``.
    public init(from decoder: any Decoder) throws {
        self = try ContractCodable.decode(from: decoder) { mapper, json in mapper.invoiceReference(json, at: .root) }
    }

    /// Encodes the wire form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(invoiceID, forKey: .invoiceID)
        try container.encode(invoiceNumber, forKey: .invoiceNumber)
        try container.encode(currency, forKey: .currency)
    }
}

/// Why an invoice was voided or cancelled (wire key `void`).
public struct VoidDetails: Sendable, Hashable, Codable {
    /// The reason as entered in the shop, 1–500 characters.
    public var reason: String

    /// Creates void details.
    /// - Parameter reason: the reason as entered in the shop.
    public init(reason: String) { self.reason = reason }

    enum CodingKeys: String, CodingKey { case reason }

    /// Decodes the structure; see ``InvoiceEvent/init(from:)``.
    public init(from decoder: any Decoder) throws {
        self = try ContractCodable.decode(from: decoder) { mapper, json in mapper.voidDetails(json, at: .root) }
    }

    /// Encodes the wire form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(reason, forKey: .reason)
    }
}
