import Domain
import Foundation
import Logging
import Postgres

/// Applies intake items to the canonical store inside the caller's transaction.
///
/// 1. Set the transaction's tenant (`set_config('ledgerline.tenant_id', …, true)`) and take the advisory lock
///    of every invoice the items touch (`pg_advisory_xact_lock`, in hash order), so every change to one invoice
///    is serialised across transactions, replicas and channels, and concurrent batches cannot deadlock on them.
/// 2. For each valid event, in input order: claim the idempotency key (`INSERT … ON CONFLICT DO NOTHING` on
///    `(tenant_id, idempotency_key)`) and, in the same statement, read the invoice's state, the location's
///    active ERP connections and whether events are parked for the invoice.
/// 3. Decide: duplicate, key reused, stale, parked, rejected or applied (``decide(_:state:)``).
/// 4. Write the change, one sync job per enabled connection and one audit event to the outbox, in one statement.
///
/// Rejections (validation failures and the rules above) write an `ingest_rejections` row and an
/// `event.rejected` audit event; a rejected event never keeps its idempotency key, so it can be fixed and
/// sent again. Every statement is constant SQL with bind parameters.
///
/// The processor has no state of its own: a transaction that is retried runs it again from the start.
struct EventProcessor: Sendable {
    var composer: OutboxComposer
    var now: @Sendable () -> Date = { Date() }

    /// Processes `items` and returns one result per item, in input order (events of one invoice are applied
    /// in the order they came, and the version rules decide what each one does).
    /// - Parameter locked: the caller already ran ``lockStatement(for:)`` in this transaction.
    func process(
        _ items: [IntakeItem], on connection: PostgresConnection, locked: Bool = false, logger: Logger
    ) async throws -> [IntakeResult] {
        try await process(items, on: connection, locked: locked, deferLastWrite: false, logger: logger).results
    }

    /// As ``process(_:on:locked:logger:)``, but when `deferLastWrite` is true the write of the last event (when
    /// nothing after it needs its result) is returned instead of executed: the caller sends it in the same
    /// round trip as its own last statements and `COMMIT` (the results already say what it does).
    func process(
        _ items: [IntakeItem], on connection: PostgresConnection, locked: Bool, deferLastWrite: Bool,
        logger: Logger
    ) async throws -> (results: [IntakeResult], deferred: [PostgresQuery]) {
        let scope = TransactionScope()
        var results = [IntakeResult?](repeating: nil, count: items.count)
        var pending: [(index: Int, event: InvoiceEvent)] = []
        for (index, item) in items.enumerated() {
            switch item.decoded {
            case .failure(let error):
                results[index] = try await reject(
                    item: item, failures: error.failures, tenantForRow: item.authenticatedTenant?.rawValue ?? item.claimed.tenantID,
                    event: nil, scope: scope, on: connection, logger: logger)
            case .success(let event):
                if let authenticated = item.authenticatedTenant, authenticated != event.tenantID {
                    let failure = ValidationFailure(
                        code: .tenantMismatch, path: "tenant_id",
                        message: "The event is for tenant \(event.tenantID) but the request was signed for tenant \(authenticated).")
                    results[index] = try await reject(
                        item: item, failures: [failure], tenantForRow: authenticated.rawValue, event: event,
                        scope: scope, on: connection, logger: logger)
                } else {
                    pending.append((index, event))
                }
            }
        }
        if let first = pending.first {
            // Every invoice (and customer) lock of the batch at once, in hash order: the same order in every
            // transaction, so concurrent batches never deadlock on them.
            if !locked, let statement = Self.lockStatement(for: items) {
                try await connection.query(statement, logger: logger)
            }
            scope.tenant = first.event.tenantID.rawValue
        }
        for (position, entry) in pending.enumerated() {
            scope.deferWrite = deferLastWrite && position == pending.count - 1
            results[entry.index] = try await apply(
                entry.event, item: items[entry.index], scope: scope, on: connection, logger: logger)
        }
        scope.deferWrite = false
        return (results.map { $0! }, scope.deferred)
    }

    /// The statement that sets the tenant of the first valid event and takes the locks of every valid event's
    /// invoice; nil when no item is a valid event.
    static func lockStatement(for items: [IntakeItem]) -> PostgresQuery? {
        let events = items.compactMap { item -> InvoiceEvent? in
            guard case .success(let event) = item.decoded else { return nil }
            if let authenticated = item.authenticatedTenant, authenticated != event.tenantID { return nil }
            return event
        }
        guard let first = events.first else { return nil }
        // Customers are shared between invoices: their locks are taken here too, in the same order, so two
        // batches that upsert the same customers cannot deadlock on the customer rows.
        let keys = events.map(\.invoiceLockKey) + events.compactMap(\.customerLockKey)
        return PostgresQuery(unsafeSQL: SQL.lockAll, binds: [first.tenantID.rawValue, keys])
    }

    /// What one run of ``process(_:on:locked:logger:)`` knows about its transaction.
    final class TransactionScope {
        /// The tenant the transaction's `ledgerline.tenant_id` setting holds.
        var tenant: String?
        /// The next write (whose rows nobody reads) is kept in ``deferred`` instead of being executed.
        var deferWrite = false
        var deferred: [PostgresQuery] = []

        /// Runs a write, or defers it (see ``deferWrite``); returns its rows when it ran.
        func write(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws -> [PostgresRow]? {
            if deferWrite {
                deferWrite = false
                deferred.append(query)
                return nil
            }
            return try await connection.query(query, logger: logger)
        }

        func enter(_ tenant: String, on connection: PostgresConnection, logger: Logger) async throws {
            guard self.tenant != tenant else { return }
            try await connection.query(PostgresQuery(unsafeSQL: SQL.setTenant, binds: [tenant]), logger: logger)
            self.tenant = tenant
        }
    }

    // MARK: - One event

    private func apply(
        _ event: InvoiceEvent, item: IntakeItem, scope: TransactionScope, on connection: PostgresConnection,
        logger: Logger
    ) async throws -> IntakeResult {
        // The event's own JSON (as received) is stored and read by the SQL; its fingerprint is computed by
        // Postgres from the jsonb form, so formatting and key order do not matter.
        let json = try item.eventJSON ?? event.canonicalJSON().text
        let tenant = event.tenantID.rawValue
        try await scope.enter(tenant, on: connection, logger: logger)
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: SQL.claimAndState, binds: [
                tenant, event.locationID.rawValue, event.sourceSystem, event.idempotencyKey, event.eventID,
                event.eventType.rawValue, event.invoiceID, event.invoiceVersion, event.occurredAt.date,
                item.channel.rawValue, json,
            ]), logger: logger)
        guard let row = rows.first else { throw PostgresError(code: .protocolViolation, reason: "claim query returned no row") }
        var result = IntakeResult(
            outcome: .applied, eventID: event.eventID, idempotencyKey: event.idempotencyKey, invoiceID: event.invoiceID,
            invoiceVersion: event.invoiceVersion)

        guard try row.decode(Bool.self, "tenant_known") else {
            return try await reject(
                item: item, failures: [ValidationFailure(
                    code: .tenantUnknown, path: "tenant_id", message: "Tenant \(tenant) is not registered with Ledgerline.")],
                tenantForRow: tenant, event: event, scope: scope, on: connection, logger: logger)
        }
        guard try row.decode(Bool.self, "location_known") else {
            return try await reject(
                item: item, failures: [ValidationFailure(
                    code: .locationUnknown, path: "location_id",
                    message: "Location \(event.locationID) is not registered for tenant \(tenant).")],
                tenantForRow: tenant, event: event, scope: scope, on: connection, logger: logger)
        }
        guard let eventKey = try row.decode(Int64?.self, "claimed_key") else {
            // The key was claimed before (possibly by a concurrent transaction that has committed since).
            let stored = try await connection.query(
                PostgresQuery(unsafeSQL: SQL.storedEvent, binds: [tenant, event.idempotencyKey, json]), logger: logger)
            guard let previous = stored.first else {
                throw PostgresError(code: .protocolViolation, reason: "idempotency key conflict without a stored event")
            }
            if try previous.decode(Bool.self, "same") {
                let original = try previous.decode(String.self, "outcome")
                result.outcome = .duplicate(original: original == "applied" ? "accepted" : original)
                return result
            }
            return try await reject(
                item: item, failures: [ValidationFailure(
                    code: .idempotencyKeyReused, path: "idempotency_key",
                    message: "Idempotency key \(event.idempotencyKey) was already used for a different event; a retry must send the same event, a new event needs a new key.")],
                tenantForRow: tenant, event: event, scope: scope, on: connection, logger: logger)
        }

        var state = try InvoiceState(row: row)
        let connections = try row.decode([String].self, "connections").compactMap(ConnectionTarget.init(packed:))
        let hasParked = try row.decode(Bool.self, "has_parked")

        let decision = decide(event, state: state)
        switch decision {
        case .reject(let failure):
            scope.deferWrite = false
            try await connection.query(PostgresQuery(unsafeSQL: SQL.unclaim, binds: [eventKey]), logger: logger)
            return try await reject(
                item: item, failures: [failure], tenantForRow: tenant, event: event, scope: scope, on: connection, logger: logger)
        case .stale, .park:
            let parked: Bool = if case .park = decision { true } else { false }
            result.outcome = parked ? .parked : .stale
            let audit = try composer.received(
                event: event, outcome: result.outcome, channel: item.channel, customerName: state.customerName,
                invoiceNumber: state.invoiceNumber, now: now())
            _ = try await scope.write(
                PostgresQuery(unsafeSQL: SQL.recordOutcome, binds: [
                    eventKey, parked ? "parked" : "stale", result.outcome.reasonCode!.rawValue, tenant, parked,
                    event.locationID.rawValue, event.sourceSystem, event.invoiceID, event.invoiceVersion,
                    event.eventType.rawValue,
                ] + Self.outboxBinds([audit])), on: connection, logger: logger)
            result.outboxRows = 1
            return result
        case .apply:
            if hasParked { scope.deferWrite = false }  // the parked events need the written state
            result.outboxRows = try await write(
                event, eventKey: eventKey, state: &state, connections: connections, channel: item.channel,
                scope: scope, on: connection, logger: logger)
        }
        if hasParked, state.invoiceKey != nil {
            result.outboxRows += try await resolveParked(
                for: event, state: &state, connections: connections, scope: scope, on: connection, logger: logger)
        }
        return result
    }

    // MARK: - Decisions

    private enum Decision {
        case apply
        case stale
        case park
        case reject(ValidationFailure)
    }

    /// The ordering and lifecycle rules, decided from the stored state alone.
    private func decide(_ event: InvoiceEvent, state: InvoiceState) -> Decision {
        guard let current = state.version else {
            switch event.payload {
            case .invoiceCreated, .invoiceUpdated: return .apply
            case .paymentReceived, .invoiceVoided: return .park
            }
        }
        if event.invoiceVersion <= current { return .stale }
        switch event.payload {
        case .invoiceCreated, .invoiceUpdated:
            if state.isVoided {
                return .reject(ValidationFailure(
                    code: .invoiceAlreadyVoided, path: "invoice.status",
                    message: "Invoice \(event.invoiceReference.invoiceNumber) was voided; a voided invoice cannot change."))
            }
            return .apply
        case .paymentReceived(let reference, let payment):
            if state.isVoided {
                return .reject(ValidationFailure(
                    code: .invoiceAlreadyVoided, path: "invoice_ref",
                    message: "Invoice \(reference.invoiceNumber) was voided; a payment cannot be applied to it."))
            }
            if reference.currency.code != state.currency {
                return .reject(ValidationFailure(
                    code: .invoiceCurrencyMismatch, path: "invoice_ref.currency",
                    message: "The payment is in \(reference.currency) but invoice \(reference.invoiceNumber) is in \(state.currency ?? "?")."))
            }
            if !state.appliedPaymentIDs.contains(payment.paymentID),
                state.amountPaid + payment.amount.value > state.total
            {
                return .reject(ValidationFailure(
                    code: .paymentExceedsBalance, path: "payment.amount",
                    message: "Payment \(payment.paymentID) of \(payment.amount) \(reference.currency) exceeds the balance due of \(Money(state.total - state.amountPaid)) on invoice \(reference.invoiceNumber)."))
            }
            return .apply
        case .invoiceVoided(let reference, _):
            if !state.isVoided, state.amountPaid > 0 {
                return .reject(ValidationFailure(
                    code: .invoiceVoidHasPayments, path: "invoice_ref",
                    message: "Invoice \(reference.invoiceNumber) has \(Money(state.amountPaid)) \(reference.currency) of payments applied; refund or unapply them (send an invoice.updated without them) before voiding."))
            }
            return .apply
        }
    }

    // MARK: - Writes

    /// Writes an applied event, its jobs and its audit event; updates `state`. Returns the outbox rows written.
    private func write(
        _ event: InvoiceEvent, eventKey: Int64, state: inout InvoiceState, connections: [ConnectionTarget],
        channel: IntakeChannel, scope: TransactionScope, on connection: PostgresConnection, logger: Logger
    ) async throws -> Int {
        let time = now()
        let tenant = event.tenantID.rawValue
        var messages: [OutboxMessage] = []
        switch event.payload {
        case .invoiceCreated(let invoice), .invoiceUpdated(let invoice):
            messages += try composer.jobs(kind: .pushInvoice, event: event, connections: connections, now: time)
            for payment in invoice.payments where !state.appliedPaymentIDs.contains(payment.paymentID) {
                messages += try composer.jobs(
                    kind: .pushPayment, event: event, connections: connections, paymentID: payment.paymentID, now: time)
            }
            messages.append(try composer.received(
                event: event, outcome: .applied, channel: channel, customerName: invoice.customer.name,
                invoiceNumber: invoice.invoiceNumber, now: time))
            let rows = try await scope.write(
                PostgresQuery(unsafeSQL: SQL.applySnapshot, binds: [
                    eventKey, tenant, event.locationID.rawValue, event.sourceSystem, event.invoiceVersion,
                    event.occurredAt.date, event.eventID,
                ] + Self.outboxBinds(messages)), on: connection, logger: logger)
            state.invoiceKey = try rows?.first?.decode(Int64.self, "invoice_key") ?? state.invoiceKey
            state.version = event.invoiceVersion
            state.status = invoice.status.rawValue
            state.currency = invoice.currency.code
            state.total = invoice.totals.total.value
            state.amountPaid = invoice.totals.amountPaid.value
            state.appliedPaymentIDs = Set(invoice.payments.map(\.paymentID))
            state.invoiceNumber = invoice.invoiceNumber
            state.customerName = invoice.customer.name

        case .paymentReceived(let reference, let payment):
            let alreadyApplied = state.appliedPaymentIDs.contains(payment.paymentID)
            let paid = alreadyApplied ? state.amountPaid : state.amountPaid + payment.amount.value
            let balance = state.total - paid
            let status = balance == 0 ? "paid" : (paid == 0 ? state.status ?? "open" : "partially_paid")
            if !alreadyApplied {
                messages += try composer.jobs(
                    kind: .pushPayment, event: event, connections: connections, paymentID: payment.paymentID, now: time)
            }
            messages.append(try composer.received(
                event: event, outcome: .applied, channel: channel, customerName: state.customerName,
                invoiceNumber: state.invoiceNumber, now: time))
            _ = try await scope.write(
                PostgresQuery(unsafeSQL: SQL.applyPayment, binds: [
                    state.invoiceKey!, tenant, payment.paymentID, payment.amount.description, reference.currency.code,
                    payment.method.rawValue, payment.paymentDate.description, payment.reference, event.invoiceVersion,
                    Self.money(paid, reference.currency), Self.money(balance, reference.currency), status,
                    event.occurredAt.date, event.eventID, !alreadyApplied,
                ] + Self.outboxBinds(messages)), on: connection, logger: logger)
            state.version = event.invoiceVersion
            state.amountPaid = paid
            state.status = status
            state.appliedPaymentIDs.insert(payment.paymentID)

        case .invoiceVoided(_, let details):
            if !state.isVoided {
                messages += try composer.jobs(kind: .voidInvoice, event: event, connections: connections, now: time)
            }
            messages.append(try composer.received(
                event: event, outcome: .applied, channel: channel, customerName: state.customerName,
                invoiceNumber: state.invoiceNumber, now: time))
            _ = try await scope.write(
                PostgresQuery(unsafeSQL: SQL.applyVoid, binds: [
                    state.invoiceKey!, tenant, event.invoiceVersion, details.reason, event.occurredAt.date,
                    event.eventID,
                ] + Self.outboxBinds(messages)), on: connection, logger: logger)
            state.version = event.invoiceVersion
            state.status = "voided"
        }
        return messages.count
    }

    /// Applies the events that were parked for this invoice, in version order, against the state just written.
    private func resolveParked(
        for event: InvoiceEvent, state: inout InvoiceState, connections: [ConnectionTarget], scope: TransactionScope,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> Int {
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: SQL.parkedEvents, binds: [
                event.tenantID.rawValue, event.locationID.rawValue, event.sourceSystem, event.invoiceID,
            ]), logger: logger)
        var written = 0
        for row in rows {
            let eventKey = try row.decode(Int64.self, "event_key")
            let channel = IntakeChannel(rawValue: try row.decode(String.self, "channel")) ?? .amqp
            let parked = try JSONDecoder().decode(InvoiceEvent.self, from: Data(try row.decode(String.self, "body").utf8))
            switch decide(parked, state: state) {
            case .apply:
                written += try await write(
                    parked, eventKey: eventKey, state: &state, connections: connections, channel: channel,
                    scope: scope, on: connection, logger: logger)
                try await resolve(eventKey, resolution: "applied", outcome: "applied", reason: nil, on: connection, logger: logger)
            case .stale, .park:
                let audit = try composer.received(
                    event: parked, outcome: .stale, channel: channel, customerName: state.customerName,
                    invoiceNumber: state.invoiceNumber, now: now())
                try await connection.query(
                    PostgresQuery(unsafeSQL: SQL.auditOnly, binds: [parked.tenantID.rawValue] + Self.outboxBinds([audit])),
                    logger: logger)
                written += 1
                try await resolve(
                    eventKey, resolution: "stale", outcome: "stale", reason: ReasonCode.invoiceStaleVersion.rawValue,
                    on: connection, logger: logger)
            case .reject(let failure):
                let item = IntakeItem(
                    decoded: .success(parked), channel: channel, rejectionRef: "parked:\(eventKey)",
                    body: IntakeItem.BodyFacts(Array(((try? parked.canonicalJSON().text) ?? "").utf8)))
                let rejected = try await reject(
                    item: item, failures: [failure], tenantForRow: parked.tenantID.rawValue, event: parked,
                    scope: scope, on: connection, logger: logger)
                written += rejected.outboxRows
                try await resolve(
                    eventKey, resolution: "rejected", outcome: "rejected", reason: failure.code.rawValue,
                    on: connection, logger: logger)
            }
        }
        return written
    }

    private func resolve(
        _ eventKey: Int64, resolution: String, outcome: String, reason: String?, on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        try await connection.query(
            PostgresQuery(unsafeSQL: SQL.resolveParked, binds: [eventKey, resolution, outcome, reason]), logger: logger)
    }

    /// Writes a rejection row and (when the tenant exists) its audit event. Nothing else is stored.
    private func reject(
        item: IntakeItem, failures: [ValidationFailure], tenantForRow: String?, event: InvoiceEvent?,
        scope: TransactionScope, on connection: PostgresConnection, logger: Logger
    ) async throws -> IntakeResult {
        let failures = failures.isEmpty
            ? [ValidationFailure(code: .internalError, path: "", message: "Rejected without a reason.")] : failures
        let claimed = item.claimed
        let locationID = event?.locationID.rawValue ?? claimed.locationID
        let eventID = event?.eventID ?? claimed.eventID
        let idempotencyKey = event?.idempotencyKey ?? claimed.idempotencyKey
        let invoiceID = event?.invoiceID ?? claimed.invoiceID
        var messages: [OutboxMessage] = []
        if let tenantForRow {
            messages.append(try composer.rejected(
                tenantID: tenantForRow, locationID: locationID, eventID: eventID, idempotencyKey: idempotencyKey,
                invoiceID: invoiceID, failures: failures, channel: item.channel, now: now()))
        }
        let failuresJSON = String(decoding: try JSONEncoder().encode(failures), as: UTF8.self)
        try await scope.enter(tenantForRow ?? "", on: connection, logger: logger)
        let binds: [any PostgresBindable] = [
            item.rejectionRef, tenantForRow, locationID, item.channel.rawValue, eventID,
            event?.eventType.rawValue ?? claimed.eventType, idempotencyKey, invoiceID, failures[0].code.rawValue,
            failures[0].message, failuresJSON, item.body.sha256, Int64(item.body.size), item.body.stored,
        ]
        let inserted: Int64
        if tenantForRow == nil {
            inserted = Int64(try await connection.execute(
                PostgresQuery(unsafeSQL: SQL.rejectWithoutTenant, binds: binds), logger: logger))
        } else {
            let rows = try await connection.query(
                PostgresQuery(unsafeSQL: SQL.reject, binds: binds + Self.outboxBinds(messages)), logger: logger)
            inserted = try rows.first?.decode(Int64.self, "inserted") ?? 0
        }
        return IntakeResult(
            outcome: .rejected(failures), eventID: eventID, idempotencyKey: idempotencyKey, invoiceID: invoiceID,
            invoiceVersion: event?.invoiceVersion, outboxRows: inserted > 0 ? messages.count : 0)
    }

    /// An amount as text with the currency's minor units (`700` in USD is written `700.00`).
    static func money(_ value: Decimal, _ currency: CurrencyCode) -> String {
        Money(value: value, writtenScale: currency.minorUnits).description
    }

    /// The five text arrays the outbox CTE reads.
    static func outboxBinds(_ messages: [OutboxMessage]) -> [any PostgresBindable] {
        [
            messages.map(\.exchange), messages.map(\.routingKey), messages.map(\.messageType),
            messages.map { JSONText.object($0.headers) }, messages.map(\.body),
        ]
    }
}

/// What the claim query reads about an invoice.
struct InvoiceState: Sendable {
    var invoiceKey: Int64?
    var version: Int64?
    var status: String?
    var currency: String?
    var total: Decimal = 0
    var amountPaid: Decimal = 0
    var appliedPaymentIDs: Set<String> = []
    var invoiceNumber: String?
    var customerName: String?

    var isVoided: Bool { status == "voided" }

    init(row: PostgresRow) throws {
        invoiceKey = try row.decode(Int64?.self, "invoice_key")
        version = try row.decode(Int64?.self, "invoice_version")
        status = try row.decode(String?.self, "status")
        currency = try row.decode(String?.self, "currency")
        total = try row.decode(Decimal?.self, "total") ?? 0
        amountPaid = try row.decode(Decimal?.self, "amount_paid") ?? 0
        appliedPaymentIDs = Set(try row.decode([String].self, "payment_ids"))
        invoiceNumber = try row.decode(String?.self, "invoice_number")
        customerName = try row.decode(String?.self, "customer_name")
    }
}

/// Writes small flat JSON objects of strings (outbox headers) without a JSONEncoder.
enum JSONText {
    /// `{"key":"value",…}` with keys sorted.
    static func object(_ values: [String: String]) -> String {
        "{" + values.sorted { $0.key < $1.key }.map { string($0.key) + ":" + string($0.value) }.joined(separator: ",") + "}"
    }

    /// A JSON string literal.
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u00" + String(scalar.value, radix: 16).leftPadded(to: 2)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
