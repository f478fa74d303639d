import Domain

/// Reason codes ingest adds to the shared catalogue (`docs/ingest.md` lists them with their HTTP status).
///
/// The event contract's own codes (`schema.*`, `money.*`, `arithmetic.*`, …) come from the decoder; these
/// are decided by the intake: identity, idempotency, ordering, signatures.
extension ReasonCode {
    // idempotency.*
    /// The idempotency key was used before with different content (an event key, or an HTTP
    /// `Idempotency-Key` with a different body).
    static let idempotencyKeyReused = ReasonCode("idempotency.key_reused")
    /// The HTTP request has no `Idempotency-Key` header.
    static let idempotencyKeyMissing = ReasonCode("idempotency.key_missing")
    /// The `Idempotency-Key` header is not 1–255 visible ASCII characters.
    static let idempotencyKeyInvalid = ReasonCode("idempotency.key_invalid")

    // invoice.*  (ordering and lifecycle)
    /// An equal or higher invoice version was already applied; the event is recorded, not applied.
    static let invoiceStaleVersion = ReasonCode("invoice.stale_version")
    /// A payment or void for an invoice not received yet: parked until the invoice arrives.
    static let invoiceNotYetReceived = ReasonCode("invoice.not_yet_received")
    /// A void for an invoice with payments applied: refund or unapply the payments first.
    static let invoiceVoidHasPayments = ReasonCode("invoice.void_has_payments")
    /// A change to an invoice that was voided (a void is final).
    static let invoiceAlreadyVoided = ReasonCode("invoice.already_voided")
    /// A payment event whose currency differs from the stored invoice's.
    static let invoiceCurrencyMismatch = ReasonCode("invoice.currency_mismatch")

    // tenant.* / location.*
    /// The tenant is not registered (AMQP intake; over HTTP an unknown tenant fails the signature).
    static let tenantUnknown = ReasonCode("tenant.unknown")
    /// The event's tenant differs from the authenticated tenant of the HTTP request.
    static let tenantMismatch = ReasonCode("tenant.mismatch")
    /// The location is not registered for the tenant.
    static let locationUnknown = ReasonCode("location.unknown")

    // signature.*  (HTTP intake authentication; answered 401, never stored)
    /// `Ledgerline-Tenant`, `Ledgerline-Timestamp` or `Ledgerline-Signature` is missing.
    static let signatureMissing = ReasonCode("signature.missing")
    /// A signature header is not in the documented form.
    static let signatureMalformed = ReasonCode("signature.malformed")
    /// No signature matches any active secret of the tenant (or the tenant is unknown).
    static let signatureInvalid = ReasonCode("signature.invalid")
    /// `Ledgerline-Timestamp` is more than the tolerance (300 s) away from the server's clock.
    static let signatureExpired = ReasonCode("signature.expired")
    /// The same signed request was already received (replay).
    static let signatureReplayed = ReasonCode("signature.replayed")

    // request.* / service.*
    /// The request's `Content-Type` is not JSON.
    static let unsupportedMediaType = ReasonCode("request.unsupported_media_type")
    /// Postgres is unavailable; retry after the `Retry-After` delay.
    static let serviceUnavailable = ReasonCode("service.unavailable")
    /// An unexpected internal error (the event was not stored).
    static let internalError = ReasonCode("ingest.internal_error")
}
