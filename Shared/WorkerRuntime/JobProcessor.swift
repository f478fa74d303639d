public import BlockingIO
public import Connectors
import Crypto
import Metrics
public import Domain
import Foundation
public import HTTP
public import Logging
import Postgres

/// How failures are retried.
public struct RetryPolicy: Sendable, Hashable {
    /// Capped exponential backoff; the delay is drawn with full jitter (`0 … ceiling(attempt)`).
    public var backoff: Backoff
    /// After this long since the first attempt at a version, a failing document is parked with its reason.
    public var horizon: Duration
    /// How long a payment waits for its invoice's link before it is tried again.
    public var dependencyWait: Duration

    /// Creates a policy. Defaults: backoff 2 s doubling to 10 min, horizon 24 h, dependency wait 30 s.
    public init(
        backoff: Backoff = Backoff(initial: .seconds(2), maximum: .seconds(600)), horizon: Duration = .seconds(86_400),
        dependencyWait: Duration = .seconds(30)
    ) {
        self.backoff = backoff
        self.horizon = horizon
        self.dependencyWait = dependencyWait
    }

    /// Creates a policy from the backoff's bounds.
    public init(initialBackoff: Duration, maximumBackoff: Duration, horizon: Duration, dependencyWait: Duration) {
        self.init(
            backoff: Backoff(initial: initialBackoff, maximum: maximumBackoff), horizon: horizon,
            dependencyWait: dependencyWait)
    }
}

/// What processing one job ended with (every case is committed before it is returned, so the delivery may be
/// acked).
public enum JobOutcome: Sendable, Equatable {
    /// Written to the ERP (action as in the sync log, e.g. `Invoice Created`).
    case synced(action: String)
    /// The ERP already held this version: acked without calling it.
    case alreadySynced
    /// Parked now with a reason.
    case parked(ReasonCode)
    /// Already parked for this version: acked without calling the ERP.
    case stillParked
    /// Deferred now (retry, Retry-After, a dependency); the sweeper re-enqueues it after `delay`.
    case deferred(ReasonCode, delay: Duration)
    /// Deferred earlier and not due yet.
    case notDue
    /// Another worker holds the document; it handles newer versions when it finishes.
    case busy
    /// The job cannot be processed (unknown kind, missing ids or document); acked and logged.
    case dropped(String)
    /// A `push_batch` job: the outcome of each listed invoice, in the job's order (duplicates removed).
    case batch([BatchItemResult])
}

/// The outcome of one invoice of a `push_batch` job.
public struct BatchItemResult: Sendable, Equatable {
    /// The shop invoice id.
    public var invoiceID: String
    /// What happened to it (committed).
    public var outcome: JobOutcome

    /// Creates a result.
    public init(invoiceID: String, outcome: JobOutcome) {
        self.invoiceID = invoiceID
        self.outcome = outcome
    }
}

/// Builds the connector for a job's connection, given the rate-limited transport to use.
public typealias ConnectorFactory<C: ERPConnector> = @Sendable (SyncJob, any HTTPTransport) async throws -> C

/// Processes one ``Domain/SyncJob`` for connector `C`: load the canonical document, claim it, record the ERP
/// idempotency key, run the connector's flow through a rate-limited transport, and commit the resulting state
/// (synced, deferred or parked) together with its audit events.
public struct JobProcessor<C: ERPConnector>: Sendable {
    /// The sync state.
    public let store: SyncStateStore
    /// The canonical store reader.
    public let documents: CanonicalDocuments
    /// The transport every ERP request goes through (wrapped in the connection's rate limiter).
    public let transport: any HTTPTransport
    /// Builds the connector of a job's connection.
    public let makeConnector: ConnectorFactory<C>
    /// The retry policy.
    public let retry: RetryPolicy
    /// The longest a request waits for a rate-limit token before the job is deferred.
    public let rateLimitWait: Duration
    /// The audit events' `source`, e.g. `worker-xero`.
    public let source: String
    /// Per-connection circuit breakers (shared by every replica through Postgres).
    public let breakers: CircuitBreakers
    /// Test-only crash injection (``CrashInjection/off`` unless `LEDGERLINE_FAULT_CRASH_AT` is set).
    public let crash: CrashInjection
    /// The limits enforced per connection (default: the connector's declared ``Connectors/ConnectorCapabilities/rateLimits``).
    public let rateLimits: [RateLimit]

    /// Creates a processor.
    public init(
        store: SyncStateStore, transport: any HTTPTransport, retry: RetryPolicy = RetryPolicy(),
        rateLimitWait: Duration = .seconds(10), rateLimits: [RateLimit]? = nil,
        breakers: CircuitBreakers = CircuitBreakers(), crash: CrashInjection = .off,
        makeConnector: @escaping ConnectorFactory<C>
    ) {
        self.breakers = breakers
        self.crash = crash
        self.rateLimits = rateLimits ?? C.capabilities.rateLimits
        self.store = store
        self.documents = CanonicalDocuments(store: store)
        self.transport = transport
        self.makeConnector = makeConnector
        self.retry = retry
        self.rateLimitWait = rateLimitWait
        self.source = "worker-\(C.erp.rawValue)"
    }

    /// The connection's rate limiter (shared through Postgres with every replica).
    public func limiter(for job: SyncJob) -> ConnectionRateLimiter {
        ConnectionRateLimiter(
            tenantID: job.tenantID, connectionID: job.connectionID, limits: rateLimits, store: store,
            maxWait: rateLimitWait, erp: C.erp)
    }

    /// Processes one job.
    /// - Throws: only when no state could be committed (database down): the delivery must then be requeued.
    public func process(_ job: SyncJob, logger: Logger) async throws -> JobOutcome {
        guard job.erp == C.erp else { return .dropped("job for \(job.erp) reached the \(C.erp) worker") }
        switch job.kind {
        case .pushInvoice, .voidInvoice: return try await processInvoice(job, logger: logger)
        case .pushPayment: return try await processPayment(job, logger: logger)
        case .pushBatch: return try await processBatch(job, logger: logger)
        case .pull, .initialSync: return try await PullProcessor(processor: self, options: .environment).process(job, logger: logger)
        }
    }

    // MARK: Invoices

    private func processInvoice(_ job: SyncJob, logger: Logger) async throws -> JobOutcome {
        guard let invoiceID = job.invoiceID else { return .dropped("invoice job without invoice_id") }
        guard
            let canonical = try await documents.invoice(
                tenantID: job.tenantID, locationID: job.locationID, invoiceID: invoiceID, logger: logger)
        else { return .dropped("invoice not in the canonical store") }
        let key = SyncDocumentKey(
            tenantID: job.tenantID, connectionID: job.connectionID, kind: .invoice, documentID: invoiceID)
        let claim: SyncClaim
        switch try await store.claim(
            key, version: canonical.version, job: job, force: job.trigger == .replay, logger: logger)
        {
        case .claimed(let claimed): claim = claimed
        case .alreadySynced: return .alreadySynced
        case .parked: return .stillParked
        case .notDue: return .notDue
        case .busy: return .busy
        }
        crash.reach(.afterClaim, logger: logger)
        return try await pushClaimedInvoice(canonical, job: job, claim: claim, checked: false, logger: logger)
    }

    private static func invoiceRecord(_ invoice: Invoice) -> AuditEvent.Record {
        AuditEvent.Record(
            objectType: .invoice, shopID: invoice.invoiceID, number: invoice.invoiceNumber,
            customerName: invoice.customer.name)
    }

    /// Writes one claimed invoice version through the connector's flows and commits the resulting state.
    /// - Parameter checked: the connection's status and circuit breaker were already checked (batch jobs).
    private func pushClaimedInvoice(
        _ canonical: CanonicalInvoice, job: SyncJob, claim: SyncClaim, checked: Bool, logger: Logger
    ) async throws -> JobOutcome {
        let invoice = canonical.invoice
        let invoiceID = claim.key.documentID
        let record = Self.invoiceRecord(invoice)
        if !checked {
            if let outcome = try await parkIfConnectionInactive(job: job, claim: claim, record: record, logger: logger) {
                return outcome
            }
            if let wait = try await breakerWait(job, logger: logger) {
                return try await deferForOpenCircuit(job: job, claim: claim, record: record, wait: wait, logger: logger)
            }
        }
        let limiter = limiter(for: job)
        let scope = IdempotencyScope(
            tenantID: job.tenantID, connectionID: job.connectionID, document: claim.key.documentKey,
            version: canonical.version)
        let hash = Self.hash(invoice)
        let started = ContinuousClock.now
        var madeConnector: C?
        do {
            let connector = try await makeConnector(job, erpTransport(limiter))
            madeConnector = connector
            let invoiceLink = try await store.link(
                tenantID: job.tenantID, connectionID: job.connectionID, kind: .invoice, ourID: invoiceID, logger: logger)
            if invoice.status == .voided {
                guard let invoiceLink else {
                    try await store.complete(
                        claim, result: SyncResult(erpID: nil, erpVersion: nil, payloadSHA256: hash, erpRequestID: nil),
                        links: [],
                        audit: [
                            audit(
                                job, claim, record: record, action: "Invoice Voided", outcome: .skipped,
                                message: "The invoice was never written to the accounting system.")
                        ], logger: logger)
                    return .synced(action: "Invoice Voided")
                }
                try await store.recordSend(
                    claim, operation: ConnectorOperation.voidInvoice.rawValue,
                    key: C.idempotencyKey(scope, .voidInvoice).rawValue, logger: logger)
                let receipt = try await connector.pushVoid(
                    ERPVersionedID(id: invoiceLink.erpID, version: invoiceLink.erpVersion), scope: scope, logger: logger)
                var link = invoiceLink
                link.erpVersion = receipt.record.version
                try await store.complete(
                    claim,
                    result: SyncResult(
                        erpID: receipt.record.erpID, erpVersion: receipt.record.version, payloadSHA256: hash,
                        erpRequestID: receipt.erpRequestID), links: [link],
                    audit: [
                        audit(
                            job, claim, record: withERPID(record, receipt.record.erpID), action: "Invoice Voided",
                            outcome: .succeeded, erpRequestID: receipt.erpRequestID)
                    ], logger: logger)
                await breakerSuccess(job, logger: logger)
                return .synced(action: "Invoice Voided")
            }
            let operation: ConnectorOperation = invoiceLink == nil ? .createInvoice : .updateInvoice
            try await store.recordSend(
                claim, operation: operation.rawValue, key: C.idempotencyKey(scope, operation).rawValue, logger: logger)
            let customerLink = try await ensureCustomer(invoice.customer, job: job, connector: connector, logger: logger)
            let document = InvoiceDocument(
                invoice: invoice, location: job.locationID,
                customer: ERPReference(customerLink.erpID, name: customerLink.erpName))
            let result = try await connector.pushInvoice(
                document, link: invoiceLink.map { ERPVersionedID(id: $0.erpID, version: $0.erpVersion) },
                priorAttempt: claim.priorAttempt, scope: scope, logger: logger)
            let action =
                switch result.path {
                case .created, .adopted: "Invoice Created"
                case .updated, .refetchedAndUpdated, .adoptedAndUpdated: "Invoice Updated"
                }
            return try await commitInvoiceWrite(
                result.receipt, invoice: invoice, hash: hash, action: action, path: result.path.rawValue, job: job,
                claim: claim, started: started, logger: logger)
        } catch let failure as ConnectorFailure {
            return try await handle(
                failure, job: job, claim: claim, record: record, limiter: limiter,
                credentials: madeConnector?.context.credentials, logger: logger)
        } catch let error as WorkerError where error.code == .leaseLost {
            return .busy
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return try await deferAfterInternalError(error, job: job, claim: claim, record: record, logger: logger)
        }
    }

    /// Commits an invoice the ERP accepted: parked on a totals drift (the link is kept), else synced with the link.
    private func commitInvoiceWrite(
        _ receipt: WriteReceipt<ERPInvoiceRecord>, invoice: Invoice, hash: [UInt8]?, action: String, path: String,
        job: SyncJob, claim: SyncClaim, started: ContinuousClock.Instant, logger: Logger
    ) async throws -> JobOutcome {
        let written = receipt.record
        let link = ERPLink(
            kind: .invoice, ourID: claim.key.documentID, erpID: written.erpID, erpVersion: written.version,
            erpNumber: written.number ?? invoice.invoiceNumber)
        let syncedRecord = withERPID(Self.invoiceRecord(invoice), written.erpID)
        let totals = receipt.totalsCheck ?? .notReported
        if let reason = totals.reason {
            try await store.saveLink(link, tenantID: job.tenantID, connectionID: job.connectionID, logger: logger)
            try await store.park(
                claim, reason: reason, erpMessage: totals.message, erpRequestID: receipt.erpRequestID,
                outcomeUnknown: false,
                audit: [
                    audit(
                        job, claim, record: syncedRecord, action: "Invoice Parked", outcome: .parked, reason: reason,
                        message: totals.message, erpRequestID: receipt.erpRequestID)
                ], logger: logger)
            await breakerSuccess(job, logger: logger)
            return .parked(reason)
        }
        try await store.complete(
            claim,
            result: SyncResult(
                erpID: written.erpID, erpVersion: written.version, payloadSHA256: hash,
                erpRequestID: receipt.erpRequestID), links: [link],
            audit: [
                audit(
                    job, claim, record: syncedRecord, action: action, outcome: .succeeded,
                    erpRequestID: receipt.erpRequestID,
                    details: ["path": path, "latency_ms": Self.milliseconds(since: started)])
            ], logger: logger)
        await breakerSuccess(job, logger: logger)
        return .synced(action: action)
    }

    // MARK: Batches

    /// The per-invoice job a batch item's state row keeps: what the sweeper re-enqueues when the item is deferred
    /// (so a retry runs the single-invoice path, which looks up first after an unknown outcome).
    static func itemJob(_ batch: SyncJob, invoiceID: String, version: Int64) -> SyncJob {
        SyncJob(
            jobID: "\(batch.jobID)/\(invoiceID)", kind: .pushInvoice, trigger: batch.trigger, tenantID: batch.tenantID,
            locationID: batch.locationID, connectionID: batch.connectionID, erp: batch.erp, invoiceID: invoiceID,
            invoiceVersion: version, sessionID: batch.sessionID, enqueuedAt: batch.enqueuedAt)
    }

    private struct BatchItem {
        var canonical: CanonicalInvoice
        var job: SyncJob
        var claim: SyncClaim
        var id: String { claim.key.documentID }
    }

    private struct PreparedItem {
        var item: BatchItem
        var link: ERPLink?
        var document: InvoiceDocument
    }

    /// `push_batch`: claims every listed invoice like the single path (already synced, busy, parked and not-due
    /// ones are skipped), resolves customers, and pushes the rest with the connector's batch call in chunks of
    /// `capabilities.batch.maxItems`; each item commits its own state. Voids, items after an unknown outcome
    /// (they look up first) and every item of an ERP without batch support go one by one.
    private func processBatch(_ job: SyncJob, logger: Logger) async throws -> JobOutcome {
        var seen = Set<String>()
        let ids = (job.invoiceIDs ?? []).filter { seen.insert($0).inserted }
        guard !ids.isEmpty else { return .dropped("batch job without invoice_ids") }
        var results: [String: JobOutcome] = [:]
        var claimed: [BatchItem] = []
        for id in ids {
            guard
                let canonical = try await documents.invoice(
                    tenantID: job.tenantID, locationID: job.locationID, invoiceID: id, logger: logger)
            else {
                results[id] = .dropped("invoice not in the canonical store")
                continue
            }
            let itemJob = Self.itemJob(job, invoiceID: id, version: canonical.version)
            let key = SyncDocumentKey(tenantID: job.tenantID, connectionID: job.connectionID, kind: .invoice, documentID: id)
            switch try await store.claim(
                key, version: canonical.version, job: itemJob, force: job.trigger == .replay, logger: logger)
            {
            case .claimed(let claim): claimed.append(BatchItem(canonical: canonical, job: itemJob, claim: claim))
            case .alreadySynced: results[id] = .alreadySynced
            case .parked: results[id] = .stillParked
            case .notDue: results[id] = .notDue
            case .busy: results[id] = .busy
            }
        }
        func summary() -> JobOutcome {
            .batch(ids.map { BatchItemResult(invoiceID: $0, outcome: results[$0] ?? .busy) })
        }
        guard let first = claimed.first else { return summary() }
        crash.reach(.afterClaim, logger: logger)

        // One connection: its status and breaker are checked once for the whole batch.
        if try await parkIfConnectionInactive(
            job: first.job, claim: first.claim, record: Self.invoiceRecord(first.canonical.invoice), logger: logger)
            != nil
        {
            for item in claimed {
                results[item.id] =
                    try await parkIfConnectionInactive(
                        job: item.job, claim: item.claim, record: Self.invoiceRecord(item.canonical.invoice),
                        logger: logger) ?? .busy
            }
            return summary()
        }
        if let wait = try await breakerWait(job, logger: logger) {
            for item in claimed {
                results[item.id] = try await runItem(item, logger: logger) {
                    try await deferForOpenCircuit(
                        job: item.job, claim: item.claim, record: Self.invoiceRecord(item.canonical.invoice), wait: wait,
                        logger: logger)
                }
            }
            return summary()
        }

        let batchable: [BatchItem]
        if C.capabilities.batch == nil {
            batchable = []
        } else {
            batchable = claimed.filter { $0.canonical.invoice.status != .voided && $0.claim.priorAttempt == .none }
        }
        let batchIDs = Set(batchable.map(\.id))
        for item in claimed where !batchIDs.contains(item.id) {
            results[item.id] = try await pushClaimedInvoice(
                item.canonical, job: item.job, claim: item.claim, checked: true, logger: logger)
        }
        if !batchable.isEmpty {
            for (id, outcome) in try await pushBatchItems(batchable, job: job, logger: logger) { results[id] = outcome }
        }
        return summary()
    }

    /// Runs `body` for one batch item, mapping a lost lease to `busy`.
    private func runItem(
        _ item: BatchItem, logger: Logger, _ body: () async throws -> JobOutcome
    ) async throws -> JobOutcome {
        do { return try await body() } catch let error as WorkerError where error.code == .leaseLost { return .busy }
    }

    private func pushBatchItems(_ items: [BatchItem], job: SyncJob, logger: Logger) async throws -> [String: JobOutcome] {
        var results: [String: JobOutcome] = [:]
        let limiter = limiter(for: job)
        let connector: C
        do {
            connector = try await makeConnector(job, erpTransport(limiter))
        } catch let failure as ConnectorFailure {
            for (index, item) in items.enumerated() {
                results[item.id] = try await runItem(item, logger: logger) {
                    try await handle(
                        failure, job: item.job, claim: item.claim, record: Self.invoiceRecord(item.canonical.invoice),
                        limiter: limiter, credentials: nil, sideEffects: index == 0, logger: logger)
                }
            }
            return results
        }
        // Links and customers first (one by one: customer resolution is serialised per customer anyway).
        var prepared: [PreparedItem] = []
        for item in items {
            let record = Self.invoiceRecord(item.canonical.invoice)
            do {
                let link = try await store.link(
                    tenantID: job.tenantID, connectionID: job.connectionID, kind: .invoice, ourID: item.id, logger: logger)
                let customerLink = try await ensureCustomer(
                    item.canonical.invoice.customer, job: item.job, connector: connector, logger: logger)
                prepared.append(
                    PreparedItem(
                        item: item, link: link,
                        document: InvoiceDocument(
                            invoice: item.canonical.invoice, location: job.locationID,
                            customer: ERPReference(customerLink.erpID, name: customerLink.erpName))))
            } catch let failure as ConnectorFailure {
                results[item.id] = try await runItem(item, logger: logger) {
                    try await handle(
                        failure, job: item.job, claim: item.claim, record: record, limiter: limiter,
                        credentials: connector.context.credentials, logger: logger)
                }
            } catch let error as WorkerError where error.code == .leaseLost {
                results[item.id] = .busy
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                results[item.id] = try await runItem(item, logger: logger) {
                    try await deferAfterInternalError(error, job: item.job, claim: item.claim, record: record, logger: logger)
                }
            }
        }
        let size = max(1, C.capabilities.batch?.maxItems ?? 1)
        for start in stride(from: 0, to: prepared.count, by: size) {
            let chunk = Array(prepared[start..<min(start + size, prepared.count)])
            let scope = IdempotencyScope(
                tenantID: job.tenantID, connectionID: job.connectionID,
                document: DocumentKey(
                    .batch, IdempotencyScope.batchID(chunk.map { ($0.item.id, $0.item.canonical.version) })),
                version: 1)
            let key = C.idempotencyKey(scope, .pushBatch)
            // Record before send: each item's row carries the batch key (a crash → lookup on the next claim).
            var sent: [PreparedItem] = []
            for entry in chunk {
                do {
                    try await store.recordSend(
                        entry.item.claim, operation: ConnectorOperation.pushBatch.rawValue, key: key.rawValue,
                        logger: logger)
                    sent.append(entry)
                } catch let error as WorkerError where error.code == .leaseLost {
                    results[entry.item.id] = .busy
                }
            }
            guard !sent.isEmpty else { continue }
            let started = ContinuousClock.now
            let outcomes: [BatchItemOutcome]
            do {
                outcomes = try await connector.pushInvoices(
                    sent.map {
                        BatchInvoiceItem(
                            document: $0.document, existing: $0.link.map { ERPVersionedID(id: $0.erpID, version: $0.erpVersion) })
                    }, key: key, logger: logger)
            } catch let failure as ConnectorFailure {
                // The whole request failed; an unknown outcome makes every item look up first on its retry.
                for (index, entry) in sent.enumerated() {
                    results[entry.item.id] = try await runItem(entry.item, logger: logger) {
                        try await handle(
                            failure, job: entry.item.job, claim: entry.item.claim,
                            record: Self.invoiceRecord(entry.item.canonical.invoice), limiter: limiter,
                            credentials: connector.context.credentials, sideEffects: index == 0, logger: logger)
                    }
                }
                continue
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                for entry in sent {
                    results[entry.item.id] = try await runItem(entry.item, logger: logger) {
                        try await deferAfterInternalError(
                            error, job: entry.item.job, claim: entry.item.claim,
                            record: Self.invoiceRecord(entry.item.canonical.invoice), logger: logger)
                    }
                }
                continue
            }
            let byID = Dictionary(outcomes.map { ($0.invoiceID, $0.result) }, uniquingKeysWith: { first, _ in first })
            for entry in sent {
                let item = entry.item
                let record = Self.invoiceRecord(item.canonical.invoice)
                results[item.id] = try await runItem(item, logger: logger) {
                    switch byID[item.id] {
                    case .success(let receipt):
                        return try await commitInvoiceWrite(
                            receipt, invoice: item.canonical.invoice, hash: Self.hash(item.canonical.invoice),
                            action: entry.link == nil ? "Invoice Created" : "Invoice Updated", path: "batch",
                            job: item.job, claim: item.claim, started: started, logger: logger)
                    case .failure(let failure):
                        return try await handle(
                            failure, job: item.job, claim: item.claim, record: record, limiter: limiter,
                            credentials: connector.context.credentials, logger: logger)
                    case nil:
                        let failure = ConnectorFailure(
                            reason: .erpOutcomeUnknown, disposition: .lookupThenRetry, erp: C.erp, operation: .pushBatch,
                            detail: "the batch answer has no result for this invoice")
                        return try await handle(
                            failure, job: item.job, claim: item.claim, record: record, limiter: limiter,
                            credentials: connector.context.credentials, logger: logger)
                    }
                }
            }
        }
        return results
    }

    /// The customer's ERP link: stored, or found / created through the connector's `ensureCustomer` flow (which
    /// looks up by our reference first, so a lost answer never creates a second customer).
    ///
    /// Two invoices of one new customer processed at once (by any replicas) would both find no customer and
    /// both create one, so resolution is serialised per (connection, customer) with a transaction-scoped advisory
    /// lock held across the ERP calls (`lock_timeout` 30 s); the link is written in the lock's transaction (so it is visible when the
    /// lock is released) and re-read after the lock is acquired. Only the lock's connection is held meanwhile.
    private func ensureCustomer(
        _ customer: Customer, job: SyncJob, connector: C, logger: Logger
    ) async throws -> ERPLink {
        if let link = try await store.link(
            tenantID: job.tenantID, connectionID: job.connectionID, kind: .customer, ourID: customer.customerID,
            logger: logger)
        {
            return link
        }
        let lockKey = "ledgerline-customer|\(job.connectionID.uuidString.lowercased())|\(customer.customerID)"
        return try await store.pool.withConnection(logger: logger) { lockConnection in
            try await lockConnection.withTransaction(logger: logger) { connection in
                try await connection.execute(
                    "SELECT set_config('ledgerline.tenant_id', \(job.tenantID.rawValue), true)", logger: logger)
                try await connection.execute("SET LOCAL lock_timeout = '30s'", logger: logger)
                try await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended(\(lockKey), 0))", logger: logger)
                if let row = try await connection.query(
                    """
                    SELECT erp_id, erp_version, erp_name FROM erp_links
                    WHERE tenant_id = \(job.tenantID.rawValue) AND connection_id = \(job.connectionID)
                      AND object_kind = 'customer' AND our_id = \(customer.customerID)
                    """, logger: logger
                ).first {
                    return ERPLink(
                        kind: .customer, ourID: customer.customerID, erpID: try row.decode(String.self, "erp_id"),
                        erpVersion: try row.decode(String?.self, "erp_version"),
                        erpName: try row.decode(String?.self, "erp_name"))
                }
                let scope = IdempotencyScope(
                    tenantID: job.tenantID, connectionID: job.connectionID,
                    document: DocumentKey(.customer, customer.customerID), version: 1)
                let resolution = try await connector.ensureCustomer(customer, scope: scope, logger: logger)
                let link = ERPLink(
                    kind: .customer, ourID: customer.customerID, erpID: resolution.customer.erpID,
                    erpVersion: resolution.customer.version, erpName: resolution.customer.displayName)
                let key = SyncDocumentKey(
                    tenantID: job.tenantID, connectionID: job.connectionID, kind: .customer, documentID: customer.customerID)
                try await SyncStateStore.upsert(link, key: key, connection: connection, logger: logger)
                return link
            }
        }
    }

    // MARK: Payments

    private func processPayment(_ job: SyncJob, logger: Logger) async throws -> JobOutcome {
        guard let invoiceID = job.invoiceID, let paymentID = job.paymentID else {
            return .dropped("payment job without invoice_id or payment_id")
        }
        guard
            let canonical = try await documents.payment(
                tenantID: job.tenantID, locationID: job.locationID, invoiceID: invoiceID, paymentID: paymentID,
                logger: logger)
        else { return .dropped("payment not in the canonical store") }
        let key = SyncDocumentKey(
            tenantID: job.tenantID, connectionID: job.connectionID, kind: .payment, documentID: paymentID)
        let version: Int64 = 1  // payments are immutable; a removal is not pushed (yet)
        let claim: SyncClaim
        switch try await store.claim(key, version: version, job: job, force: job.trigger == .replay, logger: logger) {
        case .claimed(let claimed): claim = claimed
        case .alreadySynced: return .alreadySynced
        case .parked: return .stillParked
        case .notDue: return .notDue
        case .busy: return .busy
        }
        crash.reach(.afterClaim, logger: logger)
        let record = AuditEvent.Record(objectType: .payment, shopID: paymentID, number: canonical.invoiceNumber)
        if let outcome = try await parkIfConnectionInactive(job: job, claim: claim, record: record, logger: logger) {
            return outcome
        }
        if let wait = try await breakerWait(job, logger: logger) {
            return try await deferForOpenCircuit(job: job, claim: claim, record: record, wait: wait, logger: logger)
        }
        let limiter = limiter(for: job)
        let hash = Self.hash(canonical.payment)
        let started = ContinuousClock.now
        var madeConnector: C?
        do {
            guard canonical.status == "applied" else {
                try await store.complete(
                    claim, result: SyncResult(erpID: nil, erpVersion: nil, payloadSHA256: hash, erpRequestID: nil),
                    links: [],
                    audit: [
                        audit(
                            job, claim, record: record, action: "Payment Skipped", outcome: .skipped,
                            message: "The payment was removed before it was pushed.")
                    ], logger: logger)
                return .synced(action: "Payment Skipped")
            }
            let invoiceLink = try await store.link(
                tenantID: job.tenantID, connectionID: job.connectionID, kind: .invoice, ourID: invoiceID, logger: logger)
            let customerLink = try await store.link(
                tenantID: job.tenantID, connectionID: job.connectionID, kind: .customer, ourID: canonical.customerID,
                logger: logger)
            guard let invoiceLink, let customerLink else {
                return try await deferOrPark(
                    job: job, claim: claim, record: record, delay: retry.dependencyWait, reason: Self.waitingForInvoice,
                    message: "The invoice is not in the accounting system yet.", erpRequestID: nil, outcomeUnknown: false,
                    logger: logger)
            }
            let connector = try await makeConnector(job, erpTransport(limiter))
            madeConnector = connector
            let scope = IdempotencyScope(
                tenantID: job.tenantID, connectionID: job.connectionID, document: key.documentKey, version: version)
            try await store.recordSend(
                claim, operation: ConnectorOperation.createPayment.rawValue,
                key: C.idempotencyKey(scope, .createPayment).rawValue, logger: logger)
            let document = PaymentDocument(
                payment: canonical.payment, currency: canonical.currency, location: job.locationID,
                invoice: ERPReference(invoiceLink.erpID, name: invoiceLink.erpNumber),
                customer: ERPReference(customerLink.erpID, name: customerLink.erpName),
                invoiceNumber: canonical.invoiceNumber)
            let result = try await connector.pushPayment(
                document, priorAttempt: claim.priorAttempt, scope: scope, logger: logger)
            let written = result.receipt.record
            try await store.complete(
                claim,
                result: SyncResult(
                    erpID: written.erpID, erpVersion: written.version, payloadSHA256: hash,
                    erpRequestID: result.receipt.erpRequestID),
                links: [ERPLink(kind: .payment, ourID: paymentID, erpID: written.erpID, erpVersion: written.version)],
                audit: [
                    audit(
                        job, claim, record: withERPID(record, written.erpID), action: "Payment Applied",
                        outcome: .succeeded, erpRequestID: result.receipt.erpRequestID,
                        details: ["path": result.path.rawValue, "latency_ms": Self.milliseconds(since: started)])
                ], logger: logger)
            await breakerSuccess(job, logger: logger)
            return .synced(action: "Payment Applied")
        } catch let failure as ConnectorFailure {
            return try await handle(
                failure, job: job, claim: claim, record: record, limiter: limiter,
                credentials: madeConnector?.context.credentials, logger: logger)
        } catch let error as WorkerError where error.code == .leaseLost {
            return .busy
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return try await deferAfterInternalError(error, job: job, claim: claim, record: record, logger: logger)
        }
    }

    // MARK: Failures

    /// The reason code of a payment waiting for its invoice's link.
    public static var waitingForInvoice: ReasonCode { ReasonCode("sync.waiting_for_invoice") }
    /// The reason code of a failure inside the worker (database, rate-limit wait).
    public static var workerInternal: ReasonCode { ReasonCode("sync.worker_internal") }

    /// The reason code of a job whose connection is paused or disconnected.
    public static var connectionInactive: ReasonCode { ReasonCode("sync.connection_inactive") }

    /// Parks the claimed document without calling the ERP when its connection is not active: `needs_reauth` →
    /// `erp.auth_lost`, `paused` / `disconnected` → `sync.connection_inactive`. The job is kept (parked, with its
    /// stored job message) for a replay once the connection is active again.
    private func parkIfConnectionInactive(
        job: SyncJob, claim: SyncClaim, record: AuditEvent.Record, logger: Logger
    ) async throws -> JobOutcome? {
        let status = try await store.inTenant(job.tenantID, logger: logger) { connection in
            try await connection.query(
                "SELECT status FROM erp_connections WHERE connection_id = \(job.connectionID)", logger: logger
            ).first.map { try $0.decode(String.self, "status") }
        }
        guard let status, status != "active" else {
            if status == nil {
                let failure = ConnectorFailure(
                    reason: .erpConfiguration, disposition: .park, erp: C.erp, detail: "the connection does not exist")
                return try await park(
                    failure, job: job, claim: claim, record: record, message: "The connection does not exist.",
                    reauthorize: false, outcomeUnknown: false, logger: logger)
            }
            return nil
        }
        let reason: ReasonCode = status == "needs_reauth" ? .erpAuthLost : Self.connectionInactive
        let message =
            status == "needs_reauth"
            ? "The connection needs to be re-authorized; the document waits for a replay."
            : "The connection is \(status); the document waits for a replay."
        try await store.park(
            claim, reason: reason, erpMessage: nil, erpRequestID: nil, outcomeUnknown: false,
            audit: [
                audit(
                    job, claim, record: record,
                    action: "\(record.objectType == .payment ? "Payment" : "Invoice") Parked", outcome: .parked,
                    reason: reason, message: message)
            ], logger: logger)
        return .parked(reason)
    }

    /// Maps a connector failure's disposition to a committed state.
    /// - Parameter sideEffects: count the failure (metrics, circuit breaker) and block the rate buckets on a
    ///   Retry-After; false for the second and later items of one failed batch request (one request, one count).
    private func handle(
        _ failure: ConnectorFailure, job: SyncJob, claim: SyncClaim, record: AuditEvent.Record,
        limiter: ConnectionRateLimiter, credentials: (any AccessTokenProvider)?, sideEffects: Bool = true,
        logger: Logger
    ) async throws -> JobOutcome {
        let outcomeUnknown = failure.reason == .erpOutcomeUnknown || failure.disposition == .lookupThenRetry
        if sideEffects {
            if [.erpTransient, .erpOutcomeUnknown, .erpInvalidResponse].contains(failure.reason) {
                await breakerFailure(job, reason: failure.reason, logger: logger)
            } else if failure.httpStatus != nil {
                // The ERP answered (a refusal of this document, not an outage): the connection works.
                await breakerSuccess(job, logger: logger)
            }
            Counter(
                label: "ledgerline_worker_erp_failures_total",
                dimensions: [("erp", C.erp.rawValue), ("reason", failure.reason.rawValue)]
            ).increment()
        }
        logger.debug(
            "ERP call failed",
            metadata: [
                "erp": "\(C.erp)", "sync.document": "\(claim.key)", "erp.reason": "\(failure.reason)",
                "erp.disposition": "\(failure.disposition)", "sync.attempt": "\(claim.attempt)",
            ])
        switch failure.disposition {
        case .park:
            return try await park(
                failure, job: job, claim: claim, record: record, message: failure.summary, reauthorize: false,
                outcomeUnknown: outcomeUnknown, logger: logger)
        case .reauthorize:
            // First 401 with a refreshing provider: refresh once (single flight; skipped when a sibling already
            // rotated the token since this claim) and retry right away. A second 401 in a row parks.
            if claim.previousReason != ReasonCode.erpAuthLost.rawValue,
                let refreshing = credentials as? any ForceRefreshingTokenProvider
            {
                do {
                    try await refreshing.forceRefresh(unlessRotatedSince: claim.claimedAt, logger: logger)
                    return try await deferOrPark(
                        job: job, claim: claim, record: record, delay: .zero, reason: failure.reason,
                        message: "The access token was rejected and has been refreshed.",
                        erpRequestID: failure.erpRequestID, outcomeUnknown: outcomeUnknown, logger: logger)
                } catch let refreshFailure as ConnectorFailure {
                    return try await park(
                        refreshFailure, job: job, claim: claim, record: record,
                        message: "The accounting system rejected the connection's authorization; reconnect it.",
                        reauthorize: true, outcomeUnknown: outcomeUnknown, logger: logger)
                } catch {
                    // The token endpoint or the database failed: try again later (not counted as a second 401).
                    logger.warning("Token refresh failed; deferring", metadata: ["error": "\(error)"])
                    return try await deferOrPark(
                        job: job, claim: claim, record: record, delay: retry.backoff.delay(attempt: claim.attempt),
                        reason: Self.workerInternal, message: nil, erpRequestID: failure.erpRequestID,
                        outcomeUnknown: outcomeUnknown, logger: logger)
                }
            }
            return try await park(
                failure, job: job, claim: claim, record: record,
                message: "The accounting system rejected the connection's authorization; reconnect it.", reauthorize: true,
                outcomeUnknown: outcomeUnknown, logger: logger)
        case .retryAfter(let wait):
            if sideEffects {
                do { try await limiter.block(for: wait, logger: logger) } catch {
                    logger.debug("Could not block the rate bucket", metadata: ["error": "\(error)"])
                }
            }
            return try await deferOrPark(
                job: job, claim: claim, record: record, delay: wait, reason: failure.reason, message: failure.summary,
                erpRequestID: failure.erpRequestID, outcomeUnknown: outcomeUnknown, logger: logger)
        case .retry, .lookupThenRetry:
            return try await deferOrPark(
                job: job, claim: claim, record: record, delay: retry.backoff.delay(attempt: claim.attempt),
                reason: failure.reason, message: failure.summary, erpRequestID: failure.erpRequestID,
                outcomeUnknown: outcomeUnknown, logger: logger)
        }
    }

    private func park(
        _ failure: ConnectorFailure, job: SyncJob, claim: SyncClaim, record: AuditEvent.Record, message: String,
        reauthorize: Bool, outcomeUnknown: Bool, logger: Logger
    ) async throws -> JobOutcome {
        var events = [
            audit(
                job, claim, record: record, action: "\(record.objectType == .payment ? "Payment" : "Invoice") Parked",
                outcome: .parked, reason: failure.reason, message: message, erpRequestID: failure.erpRequestID)
        ]
        if reauthorize {
            events.append(
                AuditEvent(
                    kind: .connectionChanged, occurredAt: Date(), tenantID: job.tenantID, locationID: job.locationID,
                    source: source, erp: C.erp, connectionID: job.connectionID, sessionID: job.sessionID,
                    action: "Authorization Lost", outcome: .failed, reason: failure.reason,
                    message: "The connection needs to be re-authorized.", jobID: job.jobID, attempt: claim.attempt,
                    erpRequestID: failure.erpRequestID))
        }
        try await store.park(
            claim, reason: failure.reason, erpMessage: failure.erpMessage, erpRequestID: failure.erpRequestID,
            outcomeUnknown: outcomeUnknown, needsReauthorization: reauthorize, audit: events, logger: logger)
        return .parked(failure.reason)
    }

    /// Defers by `delay`, or parks when that would pass the retry horizon.
    private func deferOrPark(
        job: SyncJob, claim: SyncClaim, record: AuditEvent.Record, delay: Duration, reason: ReasonCode,
        message: String?, erpRequestID: String?, outcomeUnknown: Bool, logger: Logger
    ) async throws -> JobOutcome {
        let horizonEnd = claim.firstAttemptAt.addingTimeInterval(Self.interval(retry.horizon))
        if claim.claimedAt.addingTimeInterval(Self.interval(delay)) > horizonEnd {
            let text = "Gave up after \(claim.attempt) attempts within the retry horizon: \(message ?? reason.rawValue)"
            try await store.park(
                claim, reason: reason, erpMessage: message, erpRequestID: erpRequestID, outcomeUnknown: outcomeUnknown,
                audit: [
                    audit(
                        job, claim, record: record,
                        action: "\(record.objectType == .payment ? "Payment" : "Invoice") Parked", outcome: .parked,
                        reason: reason, message: text, erpRequestID: erpRequestID,
                        details: ["retry_horizon_exceeded": "true"])
                ], logger: logger)
            return .parked(reason)
        }
        Counter(label: "ledgerline_worker_retries_total", dimensions: [("erp", C.erp.rawValue), ("reason", reason.rawValue)])
            .increment()
        try await store.deferDocument(
            claim, delay: delay, reason: reason, erpMessage: message, erpRequestID: erpRequestID,
            outcomeUnknown: outcomeUnknown,
            audit: [
                audit(
                    job, claim, record: record,
                    action: "\(record.objectType == .payment ? "Payment" : "Invoice") Deferred", outcome: .deferred,
                    reason: reason, message: message, erpRequestID: erpRequestID,
                    details: ["retry_in_ms": "\(Int64(Self.interval(delay) * 1000))"])
            ], logger: logger)
        return .deferred(reason, delay: delay)
    }

    private func deferAfterInternalError(
        _ error: any Error, job: SyncJob, claim: SyncClaim, record: AuditEvent.Record, logger: Logger
    ) async throws -> JobOutcome {
        logger.warning(
            "Job failed inside the worker; deferring it",
            metadata: ["sync.document": "\(claim.key)", "error": "\(error)"])
        // A rate-limit wait that timed out sent nothing: no unknown outcome (normally it arrives as a connector
        // failure `erp.rate_limited`; this covers a wait outside a connector call).
        let timedOut = error is RateLimitWaitTimeout || (error as? WorkerError)?.code == .rateLimitTimeout
        return try await deferOrPark(
            job: job, claim: claim, record: record,
            delay: timedOut ? .seconds(5) : retry.backoff.delay(attempt: claim.attempt),
            reason: timedOut ? .erpRateLimited : Self.workerInternal, message: nil, erpRequestID: nil,
            outcomeUnknown: !timedOut, logger: logger)
    }

    // MARK: Helpers

    /// The transport a job's connector sends through: the connection's rate limiter around the metering (429s)
    /// and crash-injection wrapper around the shared client.
    private func erpTransport(_ limiter: ConnectionRateLimiter) -> any HTTPTransport {
        RateLimitedTransport(base: MeteredTransport(base: transport, erp: C.erp, crash: crash), limiter: limiter)
    }

    /// How long the connection's breaker stays open, or nil when this job may call the ERP (closed, or the probe).
    private func breakerWait(_ job: SyncJob, logger: Logger) async throws -> Duration? {
        switch try await breakers.check(
            tenantID: job.tenantID, connectionID: job.connectionID, store: store, logger: logger)
        {
        case .closed, .probe: return nil
        case .open(let wait): return wait
        }
    }

    private func deferForOpenCircuit(
        job: SyncJob, claim: SyncClaim, record: AuditEvent.Record, wait: Duration, logger: Logger
    ) async throws -> JobOutcome {
        try await deferOrPark(
            job: job, claim: claim, record: record, delay: wait, reason: .erpTransient,
            message: "The accounting system keeps failing for this connection; waiting before trying again.",
            erpRequestID: nil, outcomeUnknown: false, logger: logger)
    }

    private func breakerFailure(_ job: SyncJob, reason: ReasonCode, logger: Logger) async {
        do {
            if try await breakers.recordFailure(
                tenantID: job.tenantID, connectionID: job.connectionID, reason: reason, store: store, logger: logger)
            {
                Counter(label: "ledgerline_worker_circuit_opened_total", dimensions: [("erp", C.erp.rawValue)]).increment()
                logger.warning(
                    "Circuit opened for a failing connection",
                    metadata: ["erp": "\(C.erp)", "erp.connection_id": "\(job.connectionID)", "erp.reason": "\(reason)"])
            }
        } catch {
            logger.debug("Circuit breaker failure not recorded", metadata: ["error": "\(error)"])
        }
    }

    private func breakerSuccess(_ job: SyncJob, logger: Logger) async {
        do {
            try await breakers.recordSuccess(
                tenantID: job.tenantID, connectionID: job.connectionID, store: store, logger: logger)
        } catch {
            logger.debug("Circuit breaker success not recorded", metadata: ["error": "\(error)"])
        }
    }

    private func audit(
        _ job: SyncJob, _ claim: SyncClaim, record: AuditEvent.Record, action: String, outcome: AuditEvent.Outcome,
        reason: ReasonCode? = nil, message: String? = nil, erpRequestID: String? = nil, details: [String: String] = [:]
    ) -> AuditEvent {
        var details = details
        details["version"] = String(claim.version)
        // The log writer refuses fields over 8 KiB; ERP messages can be long.
        let message = message.map { $0.count > 2000 ? String($0.prefix(2000)) + "…" : $0 }
        return AuditEvent(
            kind: .recordSynced, occurredAt: Date(), tenantID: job.tenantID, locationID: job.locationID, source: source,
            erp: C.erp, connectionID: job.connectionID, sessionID: job.sessionID, record: record, action: action,
            outcome: outcome, reason: reason, message: message, jobID: job.jobID, attempt: claim.attempt,
            erpRequestID: erpRequestID, details: details)
    }

    private func withERPID(_ record: AuditEvent.Record, _ erpID: String) -> AuditEvent.Record {
        var copy = record
        copy.erpID = erpID
        return copy
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> String {
        let elapsed = (ContinuousClock.now - start).components
        return String(elapsed.seconds * 1000 + elapsed.attoseconds / 1_000_000_000_000_000)
    }

    static func interval(_ duration: Duration) -> TimeInterval {
        let components = duration.components
        return TimeInterval(components.seconds) + TimeInterval(components.attoseconds) / 1e18
    }

    static func hash(_ value: some Encodable) -> [UInt8]? {
        guard let data = try? WireFormat.encoder().encode(value) else { return nil }
        return Array(Crypto.SHA256.hash(data: data))
    }
}
