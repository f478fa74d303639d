import Crypto
import Domain
import Foundation

/// How an event reached ingest.
enum IntakeChannel: String, Sendable, Hashable {
    case amqp
    case http
}

/// One unit of input: a decoded event, or a body (or batch element) that failed validation.
struct IntakeItem: Sendable {
    /// The decoder's verdict.
    var decoded: Result<InvoiceEvent, ValidationError>
    var channel: IntakeChannel
    /// Deduplicates the rejection row when the same input is rejected twice (a redelivery).
    var rejectionRef: String
    /// What the rejection row stores about the input body.
    var body: BodyFacts
    /// The tenant authenticated by the HTTP signature; the event must belong to it.
    var authenticatedTenant: TenantID?
    /// Best-effort identifying fields of an input that failed to decode (for the rejection row).
    var claimed: ClaimedFields
    /// The event's own JSON text as received (stored as jsonb, and read by the SQL that writes the invoice);
    /// nil to use the event's canonical encoding.
    var eventJSON: String?

    init(
        decoded: Result<InvoiceEvent, ValidationError>, channel: IntakeChannel, rejectionRef: String,
        body: BodyFacts, authenticatedTenant: TenantID? = nil, claimed: ClaimedFields = ClaimedFields(),
        eventJSON: String? = nil
    ) {
        self.decoded = decoded
        self.channel = channel
        self.rejectionRef = rejectionRef
        self.body = body
        self.authenticatedTenant = authenticatedTenant
        self.claimed = claimed
        self.eventJSON = eventJSON
    }

    /// The hash, size and (when small) bytes of an input body.
    struct BodyFacts: Sendable {
        var sha256: [UInt8]
        var size: Int
        /// Kept when at most 64 KiB.
        var stored: [UInt8]?

        init(_ bytes: some Collection<UInt8>) {
            let array = Array(bytes)
            sha256 = Array(SHA256.hash(data: array))
            size = array.count
            stored = array.count <= 65_536 ? array : nil
        }
    }

    /// Fields read from a body that did not validate, when they look like what they claim to be.
    struct ClaimedFields: Sendable {
        var tenantID: String?
        var locationID: String?
        var eventID: String?
        var eventType: String?
        var idempotencyKey: String?
        var invoiceID: String?

        init() {}

        /// Reads the identifying fields of a JSON object, best effort (never throws).
        init(json object: Any?) {
            guard let object = object as? [String: Any] else { return }
            func text(_ key: String, limit: Int) -> String? {
                guard let value = object[key] as? String, !value.isEmpty, value.count <= limit,
                    value.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value <= 0x7e })
                else { return nil }
                return value
            }
            tenantID = text("tenant_id", limit: 64).flatMap { Self.isSlug($0) ? $0 : nil }
            locationID = text("location_id", limit: 64).flatMap { Self.isSlug($0) ? $0 : nil }
            eventID = text("event_id", limit: 128)
            eventType = text("event_type", limit: 64)
            idempotencyKey = text("idempotency_key", limit: 255)
            let invoice = (object["invoice"] as? [String: Any]) ?? (object["invoice_ref"] as? [String: Any])
            if let id = invoice?["invoice_id"] as? String, !id.isEmpty, id.count <= 128 { invoiceID = id }
        }

        /// Reads the identifying fields of one JSON body, best effort.
        init(body: [UInt8]) {
            self.init(json: try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]))
        }

        static func isSlug(_ text: String) -> Bool {
            guard let first = text.unicodeScalars.first, CharacterSet.alphanumerics.contains(first), first.isASCII
            else { return false }
            return text.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "." || $0 == "_" || $0 == "-")
            }
        }
    }
}

/// What ingest decided for one item.
enum IntakeOutcome: Sendable, Equatable {
    /// Stored and applied to the canonical store (answered as `accepted`).
    case applied
    /// Stored but not applied: an equal or higher invoice version was applied before.
    case stale
    /// Stored and waiting for its invoice.
    case parked
    /// The same event (idempotency key and content) was stored before; nothing new was written.
    /// `original` is the stored event's outcome.
    case duplicate(original: String)
    /// Refused; nothing was stored but the rejection (and its audit event).
    case rejected([ValidationFailure])

    /// The word used in HTTP answers and metrics.
    var label: String {
        switch self {
        case .applied: "accepted"
        case .stale: "stale"
        case .parked: "parked"
        case .duplicate: "duplicate"
        case .rejected: "rejected"
        }
    }

    /// The first failure's code, for a rejection.
    var reasonCode: ReasonCode? {
        switch self {
        case .stale: .invoiceStaleVersion
        case .parked: .invoiceNotYetReceived
        case .rejected(let failures): failures.first?.code
        case .applied, .duplicate: nil
        }
    }

    var isRejected: Bool { if case .rejected = self { true } else { false } }
}

/// The result for one item, in input order.
struct IntakeResult: Sendable, Equatable {
    var outcome: IntakeOutcome
    var eventID: String?
    var idempotencyKey: String?
    var invoiceID: String?
    var invoiceVersion: Int64?
    /// Outbox rows written for this item (jobs and audit events).
    var outboxRows: Int = 0
}

extension InvoiceEvent {
    /// The event as canonical JSON (sorted keys) and the SHA-256 of that text: the content fingerprint
    /// that tells a retry (same content) from a reused idempotency key (other content).
    func canonicalJSON() throws -> (text: String, sha256: [UInt8]) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(self)
        return (String(decoding: data, as: UTF8.self), Array(SHA256.hash(data: data)))
    }

    /// The lock that serialises every change to one invoice (tenant, location, source system, invoice id).
    var invoiceLockKey: String {
        ["invoice", tenantID.rawValue, locationID.rawValue, sourceSystem, invoiceID].joined(separator: "\n")
    }

    /// The lock of the customer a snapshot writes (nil for payments and voids).
    var customerLockKey: String? {
        guard let invoice else { return nil }
        return ["customer", tenantID.rawValue, locationID.rawValue, sourceSystem, invoice.customer.customerID]
            .joined(separator: "\n")
    }
}
