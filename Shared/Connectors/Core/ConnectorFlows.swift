public import Domain
public import Logging

/// How ``ERPConnector/ensureCustomer(_:scope:logger:)`` obtained the ERP customer (for the sync log).
public struct CustomerResolution: Sendable, Equatable {
    /// The path taken.
    public enum Path: Sendable, Equatable {
        /// Found by our reference (created by Ledgerline earlier, possibly by an attempt whose answer was lost).
        case foundByReference
        /// An existing ERP customer with the same display name was adopted (policy `reference_then_name`).
        case adoptedByName
        /// Created; `suffix` is the number appended to the display name because the name was taken
        /// (`Name (2)` → 2), or `nil` when the plain name was free.
        case created(suffix: Int?)
    }

    /// The ERP customer to bill.
    public var customer: ERPCustomerRecord
    /// How it was obtained.
    public var path: Path
    /// The ERP request id of the create, when one was made.
    public var erpRequestID: String?

    /// Creates a resolution.
    public init(customer: ERPCustomerRecord, path: Path, erpRequestID: String?) {
        self.customer = customer
        self.path = path
        self.erpRequestID = erpRequestID
    }
}

/// How ``ERPConnector/pushInvoice(_:link:priorAttempt:scope:logger:)`` wrote the invoice.
public struct InvoicePushResult: Sendable, Equatable {
    /// The path taken.
    public enum Path: String, Sendable, Hashable {
        /// Created.
        case created
        /// Updated the linked invoice.
        case updated
        /// Updated after refetching the current version once (the link's version was stale).
        case refetchedAndUpdated = "refetched_and_updated"
        /// Found by our reference after an unknown outcome (or a duplicate-number answer) and adopted as is:
        /// its totals already equal the shop's.
        case adopted
        /// Found by our reference and adopted, then updated to this version.
        case adoptedAndUpdated = "adopted_and_updated"
    }

    /// The ERP's answer (with the totals check).
    public var receipt: WriteReceipt<ERPInvoiceRecord>
    /// The path taken.
    public var path: Path

    /// Creates a result.
    public init(receipt: WriteReceipt<ERPInvoiceRecord>, path: Path) {
        self.receipt = receipt
        self.path = path
    }

    /// The ERP's totals against the shop's (``TotalsCheck/drift(shopTotal:erpTotal:shopTax:erpTax:)`` is
    /// reported with ``Domain/ReasonCode/erpTotalDrift``).
    public var totalsCheck: TotalsCheck { receipt.totalsCheck ?? .notReported }
}

/// How ``ERPConnector/pushPayment(_:priorAttempt:scope:logger:)`` recorded the payment.
public struct PaymentPushResult: Sendable, Equatable {
    /// The path taken.
    public enum Path: String, Sendable, Hashable {
        /// Created.
        case created
        /// Found by our reference after an unknown outcome and adopted.
        case adopted
    }

    /// The payment as the ERP holds it.
    public var receipt: WriteReceipt<ERPPaymentRecord>
    /// The path taken.
    public var path: Path

    /// Creates a result.
    public init(receipt: WriteReceipt<ERPPaymentRecord>, path: Path) {
        self.receipt = receipt
        self.path = path
    }
}

/// The multi-step flows every worker needs, written once on top of the primitives so every connector
/// behaves the same. Each flow makes at most a handful of calls and never sleeps: failures are thrown as
/// ``ConnectorFailure`` for the runtime to schedule.
extension ERPConnector {
    /// Finds or creates the ERP customer for a shop customer.
    ///
    /// 1. Find by our reference (``CustomerLookup/reference(customerID:displayName:)``).
    /// 2. With ``CustomerMatchingPolicy/Mode/referenceThenName``, adopt a customer with the same display name
    ///    unless it carries another shop customer's reference.
    /// 3. Create under the display name; when the ERP says the name is taken (``Domain/ReasonCode/erpDuplicate``),
    ///    apply the suffix policy: `Name (2)`, `Name (3)`, … up to ``CustomerMatchingPolicy/maxNameSuffix``,
    ///    each attempt with its own key variant (`name-2`, …).
    /// 4. If a create's outcome is unknown, look up by reference once and adopt what was created; otherwise
    ///    rethrow for the runtime to retry.
    ///
    /// - Parameters:
    ///   - customer: the shop's customer.
    ///   - scope: the idempotency scope (document `customer:<customer_id>`).
    /// - Throws: ``ConnectorFailure``; every suffix taken → ``Domain/ReasonCode/erpDuplicate`` with
    ///   disposition ``ConnectorFailure/Disposition/park``.
    public func ensureCustomer(
        _ customer: Customer, scope: IdempotencyScope, logger: Logger
    ) async throws -> CustomerResolution {
        let baseName = Self.baseDisplayName(for: customer)
        let policy = context.mapping.customers
        let byReference = CustomerLookup.reference(customerID: customer.customerID, displayName: baseName)
        if let found = try await findCustomer(byReference, logger: logger) {
            return CustomerResolution(customer: found, path: .foundByReference, erpRequestID: nil)
        }
        if policy.mode == .referenceThenName,
            let found = try await findCustomer(.displayName(baseName), logger: logger),
            found.ourReference == nil || found.ourReference == customer.customerID
        {
            return CustomerResolution(customer: found, path: .adoptedByName, erpRequestID: nil)
        }
        let baseKey = Self.idempotencyKey(scope, .createCustomer)
        let lastAttempt = Self.capabilities.references.uniqueCustomerNames ? max(2, policy.maxNameSuffix) : 1
        for attempt in 1...lastAttempt {
            let name = CustomerMatchingPolicy.candidateName(baseName, attempt: attempt)
            let key = attempt == 1 ? baseKey : baseKey.variant("name-\(attempt)")
            do {
                let receipt = try await createCustomer(customer, displayName: name, key: key, logger: logger)
                return CustomerResolution(
                    customer: receipt.record, path: .created(suffix: attempt == 1 ? nil : attempt),
                    erpRequestID: receipt.erpRequestID)
            } catch let failure as ConnectorFailure where failure.reason == .erpDuplicate {
                logger.debug(
                    "Customer display name taken; trying the next suffix",
                    metadata: ["erp": "\(Self.erp)", "erp.name_attempt": "\(attempt)"])
                continue
            } catch let failure as ConnectorFailure where failure.reason == .erpOutcomeUnknown {
                if let found = try await findCustomer(byReference, logger: logger) {
                    return CustomerResolution(customer: found, path: .foundByReference, erpRequestID: nil)
                }
                throw failure
            }
        }
        let lastName = CustomerMatchingPolicy.candidateName(baseName, attempt: lastAttempt)
        throw ConnectorFailure(
            reason: .erpDuplicate, disposition: .park, erp: Self.erp, operation: .createCustomer,
            erpMessage: "The display names \"\(baseName)\" to \"\(lastName)\" are all taken", field: "displayName")
    }

    /// Creates or updates the ERP invoice for a canonical invoice.
    ///
    /// - With a `link` (the ERP invoice written before): update it; on ``Domain/ReasonCode/erpStaleVersion``
    ///   refetch the current version once and update again (key variant `refetch-<version>`).
    /// - Without a link: if the prior attempt's outcome is unknown (or the ERP has no native idempotency),
    ///   look the invoice up by number first and adopt it when it is ours; else create. A create whose outcome
    ///   is unknown is followed by one lookup; a duplicate-number answer is followed by one lookup and adopts
    ///   the invoice when it is ours, else parks with ``Domain/ReasonCode/erpDuplicate``.
    /// - An adopted invoice whose totals differ from the shop's is updated to this version.
    ///
    /// - Parameters:
    ///   - document: the invoice, its location and ERP customer.
    ///   - link: the ERP invoice linked to this shop invoice, if any.
    ///   - priorAttempt: whether an earlier attempt may have reached the ERP.
    ///   - scope: the idempotency scope (document `invoice:<invoice_id>`, the invoice version).
    public func pushInvoice(
        _ document: InvoiceDocument, link: ERPVersionedID?, priorAttempt: PriorAttempt, scope: IdempotencyScope,
        logger: Logger
    ) async throws -> InvoicePushResult {
        if let link {
            return try await updateRefetchingOnce(
                document, existing: link, scope: scope, path: .updated, logger: logger)
        }
        if priorAttempt == .outcomeUnknown || Self.capabilities.idempotency == nil,
            let found = try await findOurInvoice(document, logger: logger)
        {
            return try await adopt(found, document: document, scope: scope, logger: logger)
        }
        do {
            let receipt = try await createInvoice(
                document, key: Self.idempotencyKey(scope, .createInvoice), logger: logger)
            return InvoicePushResult(receipt: receipt, path: .created)
        } catch let failure as ConnectorFailure where failure.reason == .erpOutcomeUnknown {
            if let found = try await findOurInvoice(document, logger: logger) {
                return try await adopt(found, document: document, scope: scope, logger: logger)
            }
            throw failure
        } catch let failure as ConnectorFailure where failure.reason == .erpDuplicate {
            if let found = try await findOurInvoice(document, logger: logger) {
                return try await adopt(found, document: document, scope: scope, logger: logger)
            }
            var parked = failure.with(disposition: .park)
            parked.detail = "the number is used by an invoice Ledgerline did not write"
            throw parked
        }
    }

    /// Voids the linked ERP invoice, refetching its version once if it is stale.
    public func pushVoid(
        _ link: ERPVersionedID, scope: IdempotencyScope, logger: Logger
    ) async throws -> WriteReceipt<ERPInvoiceRecord> {
        let key = Self.idempotencyKey(scope, .voidInvoice)
        do {
            return try await voidInvoice(link, key: key, logger: logger)
        } catch let failure as ConnectorFailure where failure.reason == .erpStaleVersion {
            guard let current = try await findInvoice(.erpID(link.id), logger: logger) else {
                throw ConnectorFailure(
                    reason: .erpNotFound, disposition: .park, erp: Self.erp, operation: .voidInvoice,
                    erpMessage: "The invoice to void no longer exists")
            }
            return try await voidInvoice(
                current.versionedID, key: key.variant("refetch-\(current.version ?? "")"), logger: logger)
        }
    }

    /// Records a payment, looking it up first when an earlier attempt's outcome is unknown (or the ERP has no
    /// native idempotency), and once more after a create whose outcome is unknown.
    /// - Parameters:
    ///   - document: the payment and the ERP invoice and customer it applies to.
    ///   - priorAttempt: whether an earlier attempt may have reached the ERP.
    ///   - scope: the idempotency scope (document `payment:<payment_id>`).
    public func pushPayment(
        _ document: PaymentDocument, priorAttempt: PriorAttempt, scope: IdempotencyScope, logger: Logger
    ) async throws -> PaymentPushResult {
        let lookup = PaymentLookup.reference(
            paymentID: document.payment.paymentID, invoice: document.invoice, customer: document.customer,
            date: document.payment.paymentDate)
        if priorAttempt == .outcomeUnknown || Self.capabilities.idempotency == nil,
            let found = try await findPayment(lookup, logger: logger)
        {
            return PaymentPushResult(
                receipt: WriteReceipt(record: found, erpRequestID: nil, idempotencyKey: nil), path: .adopted)
        }
        do {
            let receipt = try await createPayment(
                document, key: Self.idempotencyKey(scope, .createPayment), logger: logger)
            return PaymentPushResult(receipt: receipt, path: .created)
        } catch let failure as ConnectorFailure where failure.reason == .erpOutcomeUnknown {
            if let found = try await findPayment(lookup, logger: logger) {
                return PaymentPushResult(
                    receipt: WriteReceipt(record: found, erpRequestID: nil, idempotencyKey: nil), path: .adopted)
            }
            throw failure
        }
    }

    // MARK: Helpers

    /// The invoice with the document's number, if it is ours.
    private func findOurInvoice(_ document: InvoiceDocument, logger: Logger) async throws -> ERPInvoiceRecord? {
        guard let found = try await findInvoice(.number(document.invoice.invoiceNumber), logger: logger),
            Self.isOurs(found, document: document)
        else { return nil }
        return found
    }

    private func adopt(
        _ found: ERPInvoiceRecord, document: InvoiceDocument, scope: IdempotencyScope, logger: Logger
    ) async throws -> InvoicePushResult {
        let check = TotalsCheck.compare(document.invoice, with: found.totals)
        if check == .matches {
            return InvoicePushResult(
                receipt: WriteReceipt(record: found, erpRequestID: nil, idempotencyKey: nil, totalsCheck: check),
                path: .adopted)
        }
        return try await updateRefetchingOnce(
            document, existing: found.versionedID, scope: scope, path: .adoptedAndUpdated, logger: logger)
    }

    private func updateRefetchingOnce(
        _ document: InvoiceDocument, existing: ERPVersionedID, scope: IdempotencyScope, path: InvoicePushResult.Path,
        logger: Logger
    ) async throws -> InvoicePushResult {
        let key = Self.idempotencyKey(scope, .updateInvoice)
        do {
            let receipt = try await updateInvoice(document, existing: existing, key: key, logger: logger)
            return InvoicePushResult(receipt: receipt, path: path)
        } catch let failure as ConnectorFailure where failure.reason == .erpStaleVersion {
            logger.debug(
                "Stale version; refetching once", metadata: ["erp": "\(Self.erp)", "erp.id": "\(existing.id)"])
            guard let current = try await findInvoice(.erpID(existing.id), logger: logger) else {
                throw ConnectorFailure(
                    reason: .erpNotFound, disposition: .park, erp: Self.erp, operation: .updateInvoice,
                    erpMessage: "The linked invoice no longer exists in the accounting system")
            }
            let receipt = try await updateInvoice(
                document, existing: current.versionedID, key: key.variant("refetch-\(current.version ?? "")"),
                logger: logger)
            return InvoicePushResult(receipt: receipt, path: path == .updated ? .refetchedAndUpdated : path)
        }
    }
}
