import Crypto
public import Domain
public import Foundation

/// A connector operation: what a call does to the ERP. Part of every idempotency key and failure.
public enum ConnectorOperation: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// Look a customer up.
    case findCustomer
    /// Create a customer.
    case createCustomer
    /// Look an invoice up.
    case findInvoice
    /// Create an invoice.
    case createInvoice
    /// Update an invoice.
    case updateInvoice
    /// Void an invoice (it stays, with zero amounts or a voided status).
    case voidInvoice
    /// Delete an invoice.
    case deleteInvoice
    /// Look a payment up.
    case findPayment
    /// Create a payment applied to an invoice.
    case createPayment
    /// Push several invoices in one request.
    case pushBatch
    /// Read changes since a date.
    case pullChanges

    /// Whether the operation changes data in the ERP (and so carries an idempotency key).
    public var isWrite: Bool {
        switch self {
        case .findCustomer, .findInvoice, .findPayment, .pullChanges: false
        default: true
        }
    }

    /// The two-letter code that starts an idempotency key (`ci` for createInvoice).
    public var keyCode: String {
        switch self {
        case .findCustomer: "fc"
        case .createCustomer: "cc"
        case .findInvoice: "fi"
        case .createInvoice: "ci"
        case .updateInvoice: "ui"
        case .voidInvoice: "vi"
        case .deleteInvoice: "di"
        case .findPayment: "fp"
        case .createPayment: "cp"
        case .pushBatch: "bi"
        case .pullChanges: "pc"
        }
    }

    /// The operation name, e.g. `createInvoice`.
    public var description: String { rawValue }
}

/// What a document is, for idempotency keys: the shop's document kind and id.
public struct DocumentKey: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The kinds of shop document Ledgerline pushes.
    public enum Kind: String, Sendable, Hashable, CaseIterable, Codable {
        /// A customer (`customer_id`).
        case customer
        /// An invoice (`invoice_id`).
        case invoice
        /// A payment (`payment_id`).
        case payment
        /// A batch of invoices (id: ``IdempotencyScope/batchID(_:)``).
        case batch
    }

    /// The kind of document.
    public var kind: Kind
    /// The shop's id of the document.
    public var id: String

    /// Creates a document key.
    public init(_ kind: Kind, _ id: String) {
        self.kind = kind
        self.id = id
    }

    /// `invoice:inv_01HZX3K8Q7T2`
    public var description: String { "\(kind.rawValue):\(id)" }
}

/// The inputs of a deterministic idempotency key: whose document, which version.
///
/// The worker records the key derived from this scope **before** calling the ERP, so a retry after a crash
/// or a timeout sends exactly the same key, and the ERP replays its first answer instead of creating a
/// second document.
public struct IdempotencyScope: Sendable, Hashable, Codable {
    /// The franchise.
    public var tenantID: TenantID
    /// The ERP connection.
    public var connectionID: UUID
    /// The document.
    public var document: DocumentKey
    /// The document's version (the canonical invoice version; 1 for customers and payments).
    public var version: Int64

    /// Creates a scope.
    public init(tenantID: TenantID, connectionID: UUID, document: DocumentKey, version: Int64) {
        self.tenantID = tenantID
        self.connectionID = connectionID
        self.document = document
        self.version = version
    }

    /// A stable id for a batch of invoice pushes: SHA-256 over the sorted `(invoice id, version)` pairs.
    /// - Parameter items: the invoices of the batch and their versions, in any order.
    public static func batchID(_ items: [(invoiceID: String, version: Int64)]) -> String {
        let parts = items.map { "\($0.invoiceID.utf8.count):\($0.invoiceID)@\($0.version)" }.sorted()
        return String(SHA256.hex(Array(parts.joined(separator: "|").utf8)).prefix(32))
    }
}

/// A deterministic key that makes one ERP write idempotent: QuickBooks Online's `requestid` query parameter,
/// Xero's `Idempotency-Key` header, or the reference of a search-before-create.
///
/// Formula (documented in `docs/connectors.md`):
///
/// ```
/// key = <operation code> "-" hex(SHA-256("ledgerline-idempotency-v1" ‖ f(tenant) ‖ f(connection) ‖
///       f(kind) ‖ f(document id) ‖ f(version) ‖ f(operation) [‖ f(variant)]))
/// f(x) = "|" + <UTF-8 byte count of x> + ":" + x        (length-prefixed, so no two inputs collide)
/// ```
///
/// cut to the ERP's maximum length (QuickBooks 50, or 36 inside a batch; Xero 128 but the key is 67
/// characters at most). A *variant* derives a sibling key for a second, different request of the same
/// logical operation (a new display-name suffix, an update after refetching the version) — an ERP that
/// replays answers by key must never see one key with two payloads.
public struct IdempotencyKey: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The key as sent, e.g. `ci-3f9a0c…`.
    public let rawValue: String

    /// Wraps an existing key (for example one read back from the sync state).
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Derives the key of `operation` on the document of `scope`.
    /// - Parameters:
    ///   - scope: tenant, connection, document, version.
    ///   - operation: the write.
    ///   - variant: an optional label for a sibling request of the same operation (see the type's notes).
    ///   - maxLength: the ERP's limit on the key (at least 8).
    public init(scope: IdempotencyScope, operation: ConnectorOperation, variant: String? = nil, maxLength: Int) {
        var fields = [
            scope.tenantID.rawValue, scope.connectionID.uuidString.lowercased(), scope.document.kind.rawValue,
            scope.document.id, String(scope.version), operation.rawValue,
        ]
        if let variant { fields.append(variant) }
        var input = "ledgerline-idempotency-v1"
        for field in fields { input += "|\(field.utf8.count):\(field)" }
        let key = operation.keyCode + "-" + SHA256.hex(Array(input.utf8))
        self.rawValue = String(key.prefix(max(8, maxLength)))
    }

    /// A sibling key for another request of the same logical operation, with the same length.
    /// - Parameter label: what distinguishes the request, e.g. `name-2` or `refetch-1`.
    public func variant(_ label: String) -> IdempotencyKey {
        let prefix = rawValue.prefix { $0 != "-" }
        let input = "ledgerline-idempotency-variant-v1|\(rawValue.utf8.count):\(rawValue)|\(label.utf8.count):\(label)"
        let key = prefix + "-" + SHA256.hex(Array(input.utf8))
        return IdempotencyKey(rawValue: String(key.prefix(rawValue.count)))
    }

    /// The key text.
    public var description: String { rawValue }
}
