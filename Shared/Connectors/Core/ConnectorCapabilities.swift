/// What an ERP's API offers and demands, declared once per connector so the worker runtime can plan:
/// idempotency, batching, rate limits, concurrency control, and what may change after posting.
///
/// Every figure comes from `erp-specs/README.md` with its evidence tag; the connector's doc comment
/// repeats the source. The runtime builds its per-connection token buckets from ``rateLimits``.
public struct ConnectorCapabilities: Sendable, Hashable {
    /// The ERP's native idempotency mechanism, or `nil` when it has none (then search before create).
    public var idempotency: IdempotencySupport?
    /// Whether several documents can go in one request, and how many.
    public var batch: BatchSupport?
    /// The documented limits, per connection (company, tenant) and per application.
    public var rateLimits: [RateLimit]
    /// The wait to apply after a 429 that carries no `Retry-After`.
    public var defaultRateLimitWait: Duration
    /// How updates guard against overwriting someone else's change.
    public var concurrencyControl: ConcurrencyControl
    /// What can still change once an invoice is posted, and how invoices are cancelled.
    public var posting: PostingRules
    /// Where our references live in the ERP, so lookups after an unknown outcome can find our documents.
    public var references: ReferenceFields
    /// Reading changes back for two-way sync.
    public var pull: PullSupport
    /// The ERP's own server-side time limit for one request, if documented.
    public var serverTimeout: Duration?

    /// Creates a capability declaration.
    public init(
        idempotency: IdempotencySupport?, batch: BatchSupport?, rateLimits: [RateLimit],
        defaultRateLimitWait: Duration, concurrencyControl: ConcurrencyControl, posting: PostingRules,
        references: ReferenceFields, pull: PullSupport, serverTimeout: Duration?
    ) {
        self.idempotency = idempotency
        self.batch = batch
        self.rateLimits = rateLimits
        self.defaultRateLimitWait = defaultRateLimitWait
        self.concurrencyControl = concurrencyControl
        self.posting = posting
        self.references = references
        self.pull = pull
        self.serverTimeout = serverTimeout
    }

    /// The longest idempotency key a single write accepts (128 when the ERP has no native mechanism: the key
    /// then only labels the attempt in our own records).
    public var maxKeyLength: Int { idempotency?.maxLength ?? 128 }

    /// The longest idempotency key a batch request accepts.
    public var maxBatchKeyLength: Int { batch?.maxKeyLength ?? maxKeyLength }
}

/// An ERP's native idempotency mechanism.
public struct IdempotencySupport: Sendable, Hashable {
    /// How the key travels.
    public enum Carrier: Sendable, Hashable {
        /// A query parameter, e.g. QuickBooks Online's `requestid`.
        case queryParameter(String)
        /// A request header, e.g. Xero's `Idempotency-Key`.
        case header(String)
    }

    /// How the key travels.
    public var carrier: Carrier
    /// The longest key accepted.
    public var maxLength: Int
    /// How long the ERP remembers a key, when documented (`nil`: unpublished, treat as short).
    public var window: Duration?
    /// The operations that carry the key.
    public var operations: Set<ConnectorOperation>

    /// Creates a declaration.
    public init(carrier: Carrier, maxLength: Int, window: Duration?, operations: Set<ConnectorOperation>) {
        self.carrier = carrier
        self.maxLength = maxLength
        self.window = window
        self.operations = operations
    }
}

/// Batch writes: several documents per request.
public struct BatchSupport: Sendable, Hashable {
    /// The most documents per request.
    public var maxItems: Int
    /// The longest idempotency key a batch request accepts.
    public var maxKeyLength: Int
    /// Whether each document gets its own result (so one bad document does not fail the others).
    public var perItemResults: Bool

    /// Creates a declaration.
    public init(maxItems: Int, maxKeyLength: Int, perItemResults: Bool) {
        self.maxItems = maxItems
        self.maxKeyLength = maxKeyLength
        self.perItemResults = perItemResults
    }
}

/// One documented rate limit. The runtime enforces each as a token bucket (or a semaphore for
/// ``Kind/concurrent(_:)``) shared by every replica of the worker.
public struct RateLimit: Sendable, Hashable, CustomStringConvertible {
    /// Who shares the budget.
    public enum Scope: String, Sendable, Hashable {
        /// One ERP connection (QuickBooks realm, Xero tenant), for this application.
        case connection
        /// The whole application, across every connection.
        case application
    }

    /// Which requests count.
    public enum Requests: String, Sendable, Hashable {
        /// Every request.
        case all
        /// Only batch requests.
        case batch
    }

    /// The shape of the limit.
    public enum Kind: Sendable, Hashable {
        /// At most `limit` requests per `window`.
        case rate(limit: Int, per: Duration)
        /// At most `limit` requests in flight at once.
        case concurrent(Int)
    }

    /// Who shares the budget.
    public var scope: Scope
    /// Which requests count.
    public var requests: Requests
    /// The limit.
    public var kind: Kind
    /// Where the figure comes from, with its evidence tag, e.g. `[doc] developer.intuit.com limits page`.
    public var source: String

    /// Creates a limit.
    public init(scope: Scope, requests: Requests = .all, kind: Kind, source: String) {
        self.scope = scope
        self.requests = requests
        self.kind = kind
        self.source = source
    }

    /// `connection all 500/60s`, `connection all 10 concurrent`.
    public var description: String {
        switch kind {
        case .rate(let limit, let window):
            "\(scope.rawValue) \(requests.rawValue) \(limit)/\(window.components.seconds)s"
        case .concurrent(let limit): "\(scope.rawValue) \(requests.rawValue) \(limit) concurrent"
        }
    }
}

/// How updates avoid overwriting concurrent changes.
public enum ConcurrencyControl: Sendable, Hashable {
    /// Updates must carry the document's current version token (QuickBooks `SyncToken`); a stale one fails
    /// with ``Domain/ReasonCode/erpStaleVersion``.
    case versionToken(field: String)
    /// The last write wins; the ERP offers no token.
    case lastWriteWins
}

/// What can change after an invoice is posted, and how it is cancelled.
public struct PostingRules: Sendable, Hashable {
    /// When an invoice may still be updated.
    public enum UpdatePolicy: String, Sendable, Hashable {
        /// Always (the ERP adjusts linked payments itself).
        case always
        /// Until a payment or credit is applied.
        case untilPaid
        /// Only while a draft.
        case draftOnly
        /// Never: cancel and reissue instead.
        case never
    }

    /// When an invoice may still be updated.
    public var updates: UpdatePolicy
    /// Whether invoices can be voided (kept with zero amounts or a voided status).
    public var canVoid: Bool
    /// Whether a void is refused while payments are applied.
    public var voidRequiresNoPayments: Bool
    /// Whether invoices can be deleted, and when (`nil`: never).
    public var delete: UpdatePolicy?
    /// Notes for people, e.g. "Paid invoices cannot be edited."
    public var notes: String

    /// Creates the rules.
    public init(
        updates: UpdatePolicy, canVoid: Bool, voidRequiresNoPayments: Bool, delete: UpdatePolicy?, notes: String
    ) {
        self.updates = updates
        self.canVoid = canVoid
        self.voidRequiresNoPayments = voidRequiresNoPayments
        self.delete = delete
        self.notes = notes
    }
}

/// Where Ledgerline writes its references in the ERP (so documents can be found again after an unknown
/// outcome) and which fields must be unique.
public struct ReferenceFields: Sendable, Hashable {
    /// The searchable field holding the shop's invoice number, e.g. `DocNumber`.
    public var invoiceNumber: String
    /// Where the shop's invoice id is written, to prove a found invoice is ours, e.g. `PrivateNote`.
    public var invoiceOwnershipMarker: String
    /// Where the shop's customer id is written, e.g. `ContactNumber`.
    public var customerReference: String
    /// Where the shop's payment id is written, e.g. `PrivateNote`.
    public var paymentReference: String
    /// The longest invoice number the ERP accepts (`nil`: no documented limit).
    public var maxInvoiceNumberLength: Int?
    /// Whether customer display names must be unique (then the suffix policy applies).
    public var uniqueCustomerNames: Bool

    /// Creates the declaration.
    public init(
        invoiceNumber: String, invoiceOwnershipMarker: String, customerReference: String, paymentReference: String,
        maxInvoiceNumberLength: Int?, uniqueCustomerNames: Bool
    ) {
        self.invoiceNumber = invoiceNumber
        self.invoiceOwnershipMarker = invoiceOwnershipMarker
        self.customerReference = customerReference
        self.paymentReference = paymentReference
        self.maxInvoiceNumberLength = maxInvoiceNumberLength
        self.uniqueCustomerNames = uniqueCustomerNames
    }
}

/// Reading changes from the ERP.
public struct PullSupport: Sendable, Hashable {
    /// The entities the connector can read back.
    public var entities: Set<ERPEntity>
    /// The largest page the ERP returns.
    public var maxPageSize: Int
    /// How far back changes can be read, when limited.
    public var maxLookback: Duration?

    /// Creates the declaration.
    public init(entities: Set<ERPEntity>, maxPageSize: Int, maxLookback: Duration?) {
        self.entities = entities
        self.maxPageSize = maxPageSize
        self.maxLookback = maxLookback
    }
}

/// An ERP object kind that can be pulled back.
public enum ERPEntity: String, Sendable, Hashable, CaseIterable, Codable {
    /// Customers / contacts.
    case customer
    /// Sales invoices.
    case invoice
    /// Customer payments.
    case payment
}
