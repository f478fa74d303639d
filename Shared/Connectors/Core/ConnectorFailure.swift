public import Domain
import Foundation

// MARK: - The shared catalogue of ERP reason codes

extension ReasonCode {
    /// The ERP or the network failed in a way that usually passes (5xx, connection refused, reset before
    /// sending, a maintenance page). Retry with backoff, reusing the same idempotency key.
    public static let erpTransient = ReasonCode("erp.transient")
    /// The ERP refused the call for rate limiting (HTTP 429 or its throttling fault). Wait exactly
    /// ``ConnectorFailure/retryAfter`` before the next call on this connection.
    public static let erpRateLimited = ReasonCode("erp.rate_limited")
    /// The ERP rejected the access token (HTTP 401). Refresh the token (single flight) and retry; if the
    /// refresh fails with `invalid_grant`, the connection needs re-authorization by a person.
    public static let erpAuthLost = ReasonCode("erp.auth_lost")
    /// The token is valid but not allowed to do this (HTTP 403: missing scope, lapsed subscription, company
    /// disconnected from the app). A person must act.
    public static let erpPermissionDenied = ReasonCode("erp.permission_denied")
    /// The ERP rejected the document's data (validation error); ``ConnectorFailure/erpMessage`` and
    /// ``ConnectorFailure/field`` say what. Not retried until the data or the mapping changes.
    public static let erpRejectedData = ReasonCode("erp.rejected_data")
    /// The document the call refers to does not exist (any more) in the ERP.
    public static let erpNotFound = ReasonCode("erp.not_found")
    /// The update carried an outdated concurrency token (QuickBooks `SyncToken`, an ETag). Re-read the
    /// document and retry once with its current version.
    public static let erpStaleVersion = ReasonCode("erp.stale_version")
    /// The request may or may not have taken effect (timeout or reset after it was sent, a gateway timeout on
    /// a write). Look the document up by our reference before creating it again.
    public static let erpOutcomeUnknown = ReasonCode("erp.outcome_unknown")
    /// The ERP already has a document with this unique value (invoice number, customer display name). Look
    /// it up: adopt it if it is ours; otherwise a person must resolve the clash (or the suffix policy applies
    /// for customer names).
    public static let erpDuplicate = ReasonCode("erp.duplicate")
    /// The document exists but the ERP no longer allows this change (paid, voided, locked period).
    public static let erpNotEditable = ReasonCode("erp.not_editable")
    /// This ERP (or this connector) does not support the operation (for example delete, or batches).
    public static let erpUnsupported = ReasonCode("erp.unsupported")
    /// The connection's mapping configuration lacks what this document needs (an item, account or tax code);
    /// ``ConnectorFailure/field`` names the missing entry, e.g. `lines.labor.item`.
    public static let erpMappingIncomplete = ReasonCode("erp.mapping_incomplete")
    /// The document was written, but the total the ERP computed differs from the shop's total.
    public static let erpTotalDrift = ReasonCode("erp.total_drift")
    /// The ERP answered with a body this connector cannot read (not JSON, or not the documented shape).
    public static let erpInvalidResponse = ReasonCode("erp.invalid_response")
    /// The connection's endpoint configuration is unusable (malformed base URL, TLS trust failure).
    public static let erpConfiguration = ReasonCode("erp.configuration")

    /// Every `erp.*` code a connector can produce, with its summary and default disposition, in the order of
    /// the table in `docs/connectors.md` (a test keeps the two identical).
    public static let connectorCatalogue: [ConnectorReasonInfo] = [
        .init(.erpTransient, .retry, "The accounting system or the network failed temporarily."),
        .init(.erpRateLimited, .retryAfter(.seconds(60)), "The accounting system's rate limit was reached."),
        .init(.erpAuthLost, .reauthorize, "The accounting system rejected the access token."),
        .init(.erpPermissionDenied, .park, "The connection is not allowed to do this in the accounting system."),
        .init(.erpRejectedData, .park, "The accounting system rejected the document's data."),
        .init(.erpNotFound, .park, "The document no longer exists in the accounting system."),
        .init(.erpStaleVersion, .lookupThenRetry, "The document changed in the accounting system since it was read."),
        .init(
            .erpOutcomeUnknown, .lookupThenRetry, "No answer arrived; the document may or may not have been written."),
        .init(
            .erpDuplicate, .lookupThenRetry, "The accounting system already has a document with this number or name."),
        .init(.erpNotEditable, .park, "The accounting system no longer allows this document to change."),
        .init(.erpUnsupported, .park, "The accounting system does not support this operation."),
        .init(
            .erpMappingIncomplete, .park,
            "The connection's mapping lacks an item, account or tax code this document needs."),
        .init(.erpTotalDrift, .park, "The accounting system's total differs from the shop's total."),
        .init(.erpInvalidResponse, .retry, "The accounting system's answer could not be read."),
        .init(.erpConfiguration, .park, "The connection's endpoint configuration is unusable."),
    ]

    /// The catalogue entry of an `erp.*` code, or `nil` for a code defined elsewhere.
    public var connectorInfo: ConnectorReasonInfo? { ReasonCode.connectorCatalogue.first { $0.code == self } }
}

/// One entry of ``ReasonCode/connectorCatalogue``.
public struct ConnectorReasonInfo: Sendable, Hashable {
    /// The code.
    public let code: ReasonCode
    /// What the runtime does by default with a failure carrying this code.
    public let defaultDisposition: ConnectorFailure.Disposition
    /// A one-sentence summary for people (the sync log's "Reason" column).
    public let summary: String

    /// Creates an entry.
    public init(_ code: ReasonCode, _ defaultDisposition: ConnectorFailure.Disposition, _ summary: String) {
        self.code = code
        self.defaultDisposition = defaultDisposition
        self.summary = summary
    }
}

// MARK: - The error

/// Why a connector call did not succeed, classified into the shared catalogue so the worker runtime can act
/// without knowing the ERP.
///
/// Every connector throws only this type (plus `CancellationError`). ``reason`` is one of the `erp.*` codes
/// of ``ReasonCode/connectorCatalogue``; ``disposition`` tells the runtime what to do; the ERP's own code,
/// message and field are kept for the sync log.
///
/// `description` is safe to log: it holds the reason, disposition, ERP, operation, HTTP status, the ERP's
/// error code and request id. It never holds the ERP's message (which may quote customer data), request
/// bodies, URLs with query strings, or tokens. `debugDescription` adds the ERP message, the field and the
/// transport detail (still never a token or a body).
public struct ConnectorFailure: Error, Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What the worker runtime should do next.
    public enum Disposition: Sendable, Hashable, CustomStringConvertible {
        /// Retry later with capped exponential backoff and jitter, reusing the same idempotency key.
        case retry
        /// Retry no earlier than after this wait (Retry-After honoured exactly).
        case retryAfter(Duration)
        /// Refresh the credentials (single flight per connection), then retry; a failed refresh means the
        /// connection needs re-authorization.
        case reauthorize
        /// Re-read before retrying: find the document by our reference (unknown outcome, duplicate) or
        /// refetch its current version (stale version), adopt what is found, then retry if still needed.
        case lookupThenRetry
        /// Do not retry until the data or the configuration changes or an operator replays the job.
        case park

        /// `retry`, `retry_after(30s)`, `reauthorize`, `lookup_then_retry`, `park`.
        public var description: String {
            switch self {
            case .retry: "retry"
            case .retryAfter(let wait): "retry_after(\(wait.components.seconds)s)"
            case .reauthorize: "reauthorize"
            case .lookupThenRetry: "lookup_then_retry"
            case .park: "park"
            }
        }
    }

    /// The shared reason code (`erp.*`).
    public var reason: ReasonCode
    /// What to do next.
    public var disposition: Disposition
    /// The ERP that failed.
    public var erp: ERP
    /// The connector operation that failed, when known.
    public var operation: ConnectorOperation?
    /// The HTTP status, when a response arrived.
    public var httpStatus: Int?
    /// The ERP's own error code (QuickBooks `Fault.Error.code` such as `6140`; Xero `ErrorNumber` or `Type`).
    public var erpCode: String?
    /// The ERP's message, for the sync log (may quote document data: not in ``description``).
    public var erpMessage: String?
    /// The field the ERP (or the mapping check) blames, e.g. `DocNumber` or `lines.labor.item`.
    public var field: String?
    /// The ERP's request id for support (`intuit_tid`, `Xero-Correlation-Id`).
    public var erpRequestID: String?
    /// Which limit was hit, when the ERP says (`minute`, `day`, `appminute`, `concurrent`).
    public var rateLimitProblem: String?
    /// The transport error's safe description when no response arrived (`HTTPClientError(timedOut, …)`).
    public var transportError: String?
    /// Extra detail for debugging (never a token or a request body).
    public var detail: String?

    /// Creates a failure.
    public init(
        reason: ReasonCode, disposition: Disposition, erp: ERP, operation: ConnectorOperation? = nil,
        httpStatus: Int? = nil, erpCode: String? = nil, erpMessage: String? = nil, field: String? = nil,
        erpRequestID: String? = nil, rateLimitProblem: String? = nil, transportError: String? = nil,
        detail: String? = nil
    ) {
        self.reason = reason
        self.disposition = disposition
        self.erp = erp
        self.operation = operation
        self.httpStatus = httpStatus
        self.erpCode = erpCode
        self.erpMessage = erpMessage
        self.field = field
        self.erpRequestID = erpRequestID
        self.rateLimitProblem = rateLimitProblem
        self.transportError = transportError
        self.detail = detail
    }

    /// The wait before the next attempt, for ``Disposition/retryAfter(_:)``.
    public var retryAfter: Duration? {
        if case .retryAfter(let wait) = disposition { return wait }
        return nil
    }

    /// The sync log's human text: the ERP's message when there is one, else the catalogue summary.
    public var summary: String {
        if let erpMessage, !erpMessage.isEmpty { return erpMessage }
        return reason.connectorInfo?.summary ?? reason.rawValue
    }

    /// `ConnectorFailure(erp.duplicate, lookup_then_retry, quickbooks-online createInvoice, http: 400, code: 6140, request: abc)`
    public var description: String {
        var text = "ConnectorFailure(\(reason), \(disposition), \(erp)"
        if let operation { text += " \(operation)" }
        if let httpStatus { text += ", http: \(httpStatus)" }
        if let erpCode { text += ", code: \(erpCode)" }
        if let rateLimitProblem { text += ", limit: \(rateLimitProblem)" }
        if let erpRequestID { text += ", request: \(erpRequestID)" }
        if let transportError { text += ", transport: \(transportError)" }
        return text + ")"
    }

    /// The description plus the field, the ERP's message and the detail.
    public var debugDescription: String {
        var text = description
        if let field { text += " field: \(field)" }
        if let erpMessage { text += " message: \(erpMessage)" }
        if let detail { text += " detail: \(detail)" }
        return text
    }

    /// A copy with the operation filled in when it is still unknown.
    func with(operation: ConnectorOperation) -> ConnectorFailure {
        var copy = self
        if copy.operation == nil { copy.operation = operation }
        return copy
    }

    /// A copy with another disposition.
    func with(disposition: Disposition) -> ConnectorFailure {
        var copy = self
        copy.disposition = disposition
        return copy
    }

    /// A copy with `secret` replaced by `<redacted>` in every text the ERP may have echoed.
    func redacting(_ secret: String) -> ConnectorFailure {
        guard !secret.isEmpty else { return self }
        var copy = self
        func clean(_ text: String?) -> String? { text?.replacingOccurrences(of: secret, with: "<redacted>") }
        copy.erpMessage = clean(copy.erpMessage)
        copy.field = clean(copy.field)
        copy.detail = clean(copy.detail)
        copy.erpCode = clean(copy.erpCode)
        return copy
    }

    /// The mapping lacks `field`: parks the document with ``ReasonCode/erpMappingIncomplete``.
    static func mappingIncomplete(
        _ erp: ERP, _ operation: ConnectorOperation, field: String, message: String
    ) -> ConnectorFailure {
        ConnectorFailure(
            reason: .erpMappingIncomplete, disposition: .park, erp: erp, operation: operation, erpMessage: message,
            field: field)
    }

    /// The document cannot be represented in the ERP (checked before sending, e.g. a number too long).
    static func rejectedLocally(
        _ erp: ERP, _ operation: ConnectorOperation, field: String, message: String
    ) -> ConnectorFailure {
        ConnectorFailure(
            reason: .erpRejectedData, disposition: .park, erp: erp, operation: operation, erpMessage: message,
            field: field, detail: "checked before sending")
    }
}
