public import Domain
public import HTTP
public import Logging

/// One accounting system behind a uniform interface: map canonical customers, invoices and payments to the
/// ERP's payloads, call its API over an injected ``HTTP/HTTPTransport``, and classify every failure into the
/// shared ``ConnectorFailure`` catalogue.
///
/// There is exactly one conforming type per ``Domain/ERP`` case, listed in ``Connectors/all``. Each lives in
/// `Shared/Connectors/<ERP>/` as four files: `<ERP>Connector.swift` (this protocol, transport only),
/// `<ERP>Payloads.swift` (`Codable` DTOs in the wire shape), `<ERP>Mapping.swift` (pure functions between
/// canonical values and DTOs) and `<ERP>Errors.swift` (response → ``ConnectorFailure``).
///
/// The primitives below make one ERP call each (two for lookups that need paging) and never retry. The
/// multi-step flows every worker needs — find-or-create a customer with the suffix policy, look up before
/// creating after an unknown outcome, refetch once on a stale version — are written once, on top of the
/// primitives, in the protocol extension (`ConnectorFlows.swift`), so all connectors behave alike. The
/// worker runtime (queues, sync state, rate-limit buckets, token refresh, retries) sits above both.
///
/// Connectors are values: cheap to create per connection, safe to share between tasks. They log only at
/// debug/trace level, never tokens or payloads.
public protocol ERPConnector: Sendable {
    /// The ERP this connector talks to.
    static var erp: ERP { get }
    /// What the ERP offers and demands (idempotency, batches, rate limits, concurrency, posting rules).
    static var capabilities: ConnectorCapabilities { get }
    /// What this connector needs from a connection's ``MappingConfiguration``.
    static var mappingRequirements: MappingRequirements { get }
    /// How a connection is authorized (OAuth 2.0 endpoints, scopes, company discovery).
    static var authorization: AuthorizationProfile { get }

    /// The companies `accessToken` may use, for ERPs whose ``AuthorizationProfile/companyDiscovery`` is
    /// ``AuthorizationProfile/CompanyDiscovery/connectionsEndpoint``. Default: none.
    static func authorizedCompanies(
        apiBaseURL: String, accessToken: String, transport: any HTTPTransport, logger: Logger
    ) async throws -> [AuthorizedCompany]

    /// Creates a connector for one connection.
    /// - Parameters:
    ///   - context: the connection's endpoints, company id, mapping and token source.
    ///   - transport: the HTTP transport (``HTTP/HTTPClient`` in production, a stub in tests).
    init(context: ConnectionContext, transport: any HTTPTransport)

    /// The connection this connector serves.
    var context: ConnectionContext { get }

    /// The display name to give a new ERP customer for `customer` before any suffix (ERP rules applied, e.g.
    /// characters the ERP forbids replaced). Default: `customer.name`.
    static func baseDisplayName(for customer: Customer) -> String

    /// Whether an invoice found in the ERP is the one Ledgerline wrote for `document` (so it may be adopted
    /// after an unknown outcome or a duplicate-number answer). Default: its ownership marker equals the
    /// shop's `invoice_id`.
    static func isOurs(_ record: ERPInvoiceRecord, document: InvoiceDocument) -> Bool

    // MARK: Customers

    /// Finds a customer.
    /// - Returns: the customer, or `nil` when there is none.
    /// - Throws: ``ConnectorFailure``.
    func findCustomer(_ lookup: CustomerLookup, logger: Logger) async throws -> ERPCustomerRecord?

    /// Creates a customer with exactly `displayName` (no suffixing here: see ``ensureCustomer(_:scope:logger:)``).
    /// - Parameters:
    ///   - customer: the shop's customer.
    ///   - displayName: the name to create it under.
    ///   - key: the idempotency key of this request.
    /// - Throws: ``ConnectorFailure``; a taken name is ``Domain/ReasonCode/erpDuplicate`` with field
    ///   naming the ERP's display-name field.
    func createCustomer(
        _ customer: Customer, displayName: String, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPCustomerRecord>

    // MARK: Invoices

    /// Finds an invoice by the shop's number or the ERP id.
    /// - Returns: the invoice (with ``ERPInvoiceRecord/ourReference`` when it carries our marker), or `nil`.
    func findInvoice(_ lookup: InvoiceLookup, logger: Logger) async throws -> ERPInvoiceRecord?

    /// Creates an invoice.
    /// - Throws: ``ConnectorFailure``; mapping gaps are ``Domain/ReasonCode/erpMappingIncomplete`` (nothing sent).
    func createInvoice(
        _ document: InvoiceDocument, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPInvoiceRecord>

    /// Replaces the invoice's content with `document`, guarded by the version in `existing` where the ERP
    /// has a concurrency token.
    /// - Throws: ``ConnectorFailure``; ``Domain/ReasonCode/erpStaleVersion`` when the version is outdated.
    func updateInvoice(
        _ document: InvoiceDocument, existing: ERPVersionedID, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPInvoiceRecord>

    /// Voids an invoice (it stays in the ERP, voided).
    func voidInvoice(_ existing: ERPVersionedID, key: IdempotencyKey, logger: Logger) async throws -> WriteReceipt<
        ERPInvoiceRecord
    >

    /// Deletes an invoice where the ERP allows it (see ``PostingRules/delete``).
    /// - Throws: ``ConnectorFailure`` with ``Domain/ReasonCode/erpUnsupported`` when the ERP never allows it.
    func deleteInvoice(_ existing: ERPVersionedID, key: IdempotencyKey, logger: Logger) async throws -> WriteReceipt<
        ERPInvoiceRecord
    >

    /// Pushes several invoices in one request (creates, or updates for items with ``BatchInvoiceItem/existing``).
    /// - Parameters:
    ///   - items: at most ``BatchSupport/maxItems`` items.
    ///   - key: the batch's idempotency key (at most ``BatchSupport/maxKeyLength``).
    /// - Returns: one outcome per item, in order; a failed item does not fail the others.
    /// - Throws: ``ConnectorFailure`` when the whole request failed (then no item has an outcome), or
    ///   ``Domain/ReasonCode/erpUnsupported`` when the ERP has no batch endpoint.
    func pushInvoices(_ items: [BatchInvoiceItem], key: IdempotencyKey, logger: Logger) async throws
        -> [BatchItemOutcome]

    // MARK: Payments

    /// Finds a payment Ledgerline recorded.
    func findPayment(_ lookup: PaymentLookup, logger: Logger) async throws -> ERPPaymentRecord?

    /// Records a payment (full or partial) against an invoice, deposited to the mapped account.
    func createPayment(
        _ document: PaymentDocument, key: IdempotencyKey, logger: Logger
    ) async throws -> WriteReceipt<ERPPaymentRecord>

    // MARK: Two-way sync

    /// Reads one page of objects changed since ``ChangeRequest/since``.
    func pullChanges(_ request: ChangeRequest, logger: Logger) async throws -> ChangePage
}

extension ERPConnector {
    /// Default: the customer's name.
    public static func baseDisplayName(for customer: Customer) -> String { customer.name }

    /// Default: the ownership marker equals the shop's `invoice_id`.
    public static func isOurs(_ record: ERPInvoiceRecord, document: InvoiceDocument) -> Bool {
        record.ourReference == document.invoice.invoiceID
    }

    /// The ERP of this instance.
    public var erp: ERP { Self.erp }

    /// The capabilities of this instance's ERP.
    public var capabilities: ConnectorCapabilities { Self.capabilities }

    /// Validates the connection's mapping against ``mappingRequirements``.
    /// - Parameter location: also check this location's mapping.
    /// - Returns: every missing or invalid entry, by path; empty when complete.
    public func validateMapping(location: LocationID? = nil) -> [MappingIssue] {
        context.mapping.validate(Self.mappingRequirements, location: location)
    }

    /// The deterministic idempotency key of `operation` in `scope`, cut to this ERP's limit (the batch limit
    /// for ``ConnectorOperation/pushBatch``).
    public static func idempotencyKey(
        _ scope: IdempotencyScope, _ operation: ConnectorOperation, variant: String? = nil
    ) -> IdempotencyKey {
        let limit = operation == .pushBatch ? capabilities.maxBatchKeyLength : capabilities.maxKeyLength
        return IdempotencyKey(scope: scope, operation: operation, variant: variant, maxLength: limit)
    }
}
