public import Domain
public import Foundation
public import Logging
import Postgres

/// Preferences > Accounting of one connection (seed 001). `nil` fields are left unchanged.
public struct ConnectionPreferences: Sendable, Hashable {
    /// Per object: read from the accounting system ("do not sync from" is `false`).
    public var pullCustomers, pullInvoices, pullPayments, pullItems, pullTaxRates: Bool?
    /// Per object: write to the accounting system ("do not sync to" is `false`).
    public var pushCustomers, pushInvoices, pushPayments, pushItems, pushTaxRates: Bool?
    /// Customers: `true` imports only active ones.
    public var customersActiveOnly: Bool?
    /// The ERP account pushed payments are deposited to (also the mapping's `payments.deposit_account`).
    public var paymentDepositAccount: String?
    /// Minutes between regular pulls (5 … 10080).
    public var syncIntervalMinutes: Int?

    /// Creates a change set (all `nil`: nothing changes).
    public init() {}
}

/// What `disconnect` did.
public struct DisconnectSummary: Sendable, Equatable {
    /// Documents whose pending or deferred jobs were parked (`sync.connection_inactive`).
    public var parkedDocuments: Int
    /// Pull runs parked.
    public var parkedRuns: Int

    /// Creates a summary.
    public init(parkedDocuments: Int, parkedRuns: Int) {
        self.parkedDocuments = parkedDocuments
        self.parkedRuns = parkedRuns
    }
}

/// The connection lifecycle steps `syncctl connection …` runs, as a library (tested without the CLI). Every
/// step writes a `connection.changed` audit event (into the outbox, in the same transaction). Nothing is ever
/// deleted: a disconnect keeps every canonical record, link, sync state and ERP record.
public struct ConnectionLifecycle: Sendable {
    /// The store (its pool and audit exchange).
    public let store: SyncStateStore
    /// The audit events' source, e.g. `syncctl`.
    public let source: String

    /// Creates the lifecycle operations.
    public init(store: SyncStateStore, source: String = "syncctl") {
        self.store = store
        self.source = source
    }

    /// Disconnects: status `disconnected`, pending / deferred documents and running pulls parked with
    /// `sync.connection_inactive` (their stored jobs are kept for the reconnect). Workers park any job of a
    /// disconnected connection without calling the ERP.
    public func disconnect(tenantID: TenantID, connectionID: UUID, logger: Logger) async throws -> DisconnectSummary {
        try await store.inTenant(tenantID, logger: logger) { connection in
            let updated = try await connection.query(
                """
                UPDATE erp_connections SET status = 'disconnected', disconnected_at = now(), updated_at = now()
                WHERE connection_id = \(connectionID) RETURNING location_id, erp
                """, logger: logger)
            guard let row = updated.first else {
                throw WorkerError(code: .stateConflict, reason: "no connection \(connectionID) in this tenant")
            }
            let documents = try await connection.execute(
                """
                UPDATE sync_documents
                SET state = 'parked', reason = 'sync.connection_inactive', not_before = NULL, updated_at = now()
                WHERE tenant_id = \(tenantID.rawValue) AND connection_id = \(connectionID)
                  AND state IN ('pending', 'deferred') AND job IS NOT NULL
                """, logger: logger)
            let runs = try await connection.execute(
                """
                UPDATE erp_pull_runs
                SET state = 'parked', reason = 'sync.connection_inactive', not_before = NULL, lease_until = NULL,
                    updated_at = now()
                WHERE tenant_id = \(tenantID.rawValue) AND connection_id = \(connectionID) AND state IN ('due', 'running')
                """, logger: logger)
            try await ChangeApplier.insertAudit(
                event(
                        tenantID, connectionID, location: try row.decode(String.self, "location_id"),
                        erp: try row.decode(String.self, "erp"), action: "Connection Disconnected",
                        details: ["state": "disconnected", "parked_documents": "\(documents)", "parked_runs": "\(runs)"]),
                exchange: store.auditExchange, connection: connection, logger: logger)
            return DisconnectSummary(parkedDocuments: documents, parkedRuns: runs)
        }
    }

    /// Reconnects a disconnected, paused or re-authorized connection: status `active`, and every document or
    /// pull run parked because the connection was inactive (or its authorization lost) becomes due now, so the
    /// workers' sweeper re-enqueues its stored job. Claims and ERP idempotency keys make the resumed jobs
    /// exactly-once: a document already synced is acked without a call.
    /// - Returns: the number of documents and runs made due.
    public func reconnect(tenantID: TenantID, connectionID: UUID, logger: Logger) async throws -> Int {
        try await store.inTenant(tenantID, logger: logger) { connection in
            let updated = try await connection.query(
                """
                UPDATE erp_connections SET status = 'active', disconnected_at = NULL, updated_at = now()
                WHERE connection_id = \(connectionID) AND frozen_for_migration_to IS NULL
                RETURNING location_id, erp
                """, logger: logger)
            guard let row = updated.first else {
                throw WorkerError(
                    code: .stateConflict, reason: "no connection \(connectionID) in this tenant, or it was migrated")
            }
            let documents = try await connection.execute(
                """
                UPDATE sync_documents
                SET state = 'deferred', not_before = now(), requeued_at = NULL, updated_at = now()
                WHERE tenant_id = \(tenantID.rawValue) AND connection_id = \(connectionID) AND state = 'parked'
                  AND reason IN ('sync.connection_inactive', 'erp.auth_lost') AND job IS NOT NULL
                """, logger: logger)
            let runs = try await connection.execute(
                """
                UPDATE erp_pull_runs
                SET state = 'due', not_before = now(), requeued_at = NULL, updated_at = now()
                WHERE tenant_id = \(tenantID.rawValue) AND connection_id = \(connectionID) AND state = 'parked'
                  AND reason IN ('sync.connection_inactive', 'erp.auth_lost') AND job IS NOT NULL
                """, logger: logger)
            try await ChangeApplier.insertAudit(
                event(
                        tenantID, connectionID, location: try row.decode(String.self, "location_id"),
                        erp: try row.decode(String.self, "erp"), action: "Connection Reconnected",
                        details: ["state": "connected", "resumed_documents": "\(documents)", "resumed_runs": "\(runs)"]),
                exchange: store.auditExchange, connection: connection, logger: logger)
            return documents + runs
        }
    }

    /// Changes preferences; they take effect on the next job (workers read them per job).
    public func setPreferences(
        _ preferences: ConnectionPreferences, tenantID: TenantID, connectionID: UUID, logger: Logger
    ) async throws {
        let p = preferences
        try await store.inTenant(tenantID, logger: logger) { connection in
            let updated = try await connection.query(
                """
                UPDATE erp_connections SET
                    pull_customers = coalesce(\(p.pullCustomers), pull_customers),
                    pull_invoices = coalesce(\(p.pullInvoices), pull_invoices),
                    pull_payments = coalesce(\(p.pullPayments), pull_payments),
                    pull_items = coalesce(\(p.pullItems), pull_items),
                    pull_tax_rates = coalesce(\(p.pullTaxRates), pull_tax_rates),
                    push_customers = coalesce(\(p.pushCustomers), push_customers),
                    push_invoices = coalesce(\(p.pushInvoices), push_invoices),
                    push_payments = coalesce(\(p.pushPayments), push_payments),
                    push_items = coalesce(\(p.pushItems), push_items),
                    push_tax_rates = coalesce(\(p.pushTaxRates), push_tax_rates),
                    customers_active_only = coalesce(\(p.customersActiveOnly), customers_active_only),
                    payment_deposit_account = coalesce(\(p.paymentDepositAccount), payment_deposit_account),
                    sync_interval_minutes = coalesce(\(p.syncIntervalMinutes), sync_interval_minutes),
                    updated_at = now()
                WHERE connection_id = \(connectionID)
                RETURNING location_id, erp
                """, logger: logger)
            guard let row = updated.first else {
                throw WorkerError(code: .stateConflict, reason: "no connection \(connectionID) in this tenant")
            }
            if let account = p.paymentDepositAccount {
                // The connectors read the deposit account from the mapping.
                try await connection.execute(
                    """
                    UPDATE erp_connection_settings
                    SET mapping = jsonb_set(mapping, '{payments}',
                                            coalesce(mapping->'payments', '{}'::jsonb)
                                            || jsonb_build_object('deposit_account', jsonb_build_object('id', \(account)::text))),
                        updated_at = now()
                    WHERE connection_id = \(connectionID)
                    """, logger: logger)
            }
            try await ChangeApplier.insertAudit(
                event(
                        tenantID, connectionID, location: try row.decode(String.self, "location_id"),
                        erp: try row.decode(String.self, "erp"), action: "Preferences Changed",
                        details: ["state": "connected"]),
                exchange: store.auditExchange, connection: connection, logger: logger)
        }
    }

    /// Enqueues a `pull` or `initial_sync` job through the outbox (the outbox relay publishes it to the jobs
    /// exchange, routing key = the ERP slug). An initial sync asked for by an operator restarts a completed one.
    /// - Returns: the job.
    public func enqueuePull(
        tenantID: TenantID, connectionID: UUID, initial: Bool, jobsExchange: String = "ledgerline.jobs",
        logger: Logger
    ) async throws -> SyncJob {
        try await store.inTenant(tenantID, logger: logger) { connection in
            guard
                let row = try await connection.query(
                    "SELECT location_id, erp FROM erp_connections WHERE connection_id = \(connectionID)", logger: logger
                ).first
            else { throw WorkerError(code: .stateConflict, reason: "no connection \(connectionID) in this tenant") }
            let erpSlug = try row.decode(String.self, "erp")
            guard let erp = ERP(rawValue: erpSlug) else {
                throw WorkerError(code: .stateConflict, reason: "unknown ERP \(erpSlug)")
            }
            let job = SyncJob(
                jobID: UUID().uuidString.lowercased(), kind: initial ? .initialSync : .pull, trigger: .manual,
                tenantID: tenantID, locationID: LocationID(try row.decode(String.self, "location_id")),
                connectionID: connectionID, erp: erp, enqueuedAt: Date())
            let body = String(decoding: try WireFormat.encoder().encode(job), as: UTF8.self)
            let headers = String(
                decoding: try WireFormat.encoder().encode([
                    "x-ledgerline-tenant": tenantID.rawValue, "x-ledgerline-kind": job.kind.rawValue,
                ]), as: UTF8.self)
            try await connection.execute(
                """
                INSERT INTO outbox (tenant_id, exchange, routing_key, message_id, message_type, headers, body)
                VALUES (\(tenantID.rawValue), \(jobsExchange), \(erpSlug), \(job.jobID), 'sync_job', \(headers)::jsonb,
                        \(body)::jsonb)
                """, logger: logger)
            return job
        }
    }

    /// The outcome of linking a migration's documents.
    public struct MigrationReport: Sendable, Equatable {
        /// Shop invoices linked to the new accounting system's invoices by number.
        public var linked: Int
        /// Shop invoices linked in the old system that found no invoice with their number in the new one.
        public var unlinked: [String]
    }

    /// Migrates a location from one accounting system to another: freezes the old connection (`paused`,
    /// `frozen_for_migration_to`; its links, sync states and audit stay as they are), marks the new one
    /// (`migrated_from`), and links every shop invoice the old connection had linked to the new system's invoice
    /// with the same number, from what the new connection's initial sync read (`erp_records`). Run the new
    /// connection's initial sync first; running this again links what a later sync found.
    public func migrate(
        tenantID: TenantID, from old: UUID, to new: UUID, logger: Logger
    ) async throws -> MigrationReport {
        try await store.inTenant(tenantID, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT connection_id, location_id, erp FROM erp_connections WHERE connection_id IN (\(old), \(new))
                """, logger: logger)
            guard rows.count == 2, Set(try rows.map { try $0.decode(String.self, "location_id") }).count == 1 else {
                throw WorkerError(
                    code: .stateConflict, reason: "both connections must exist in this tenant, for the same location")
            }
            let location = try rows[0].decode(String.self, "location_id")
            try await connection.execute(
                """
                UPDATE erp_connections SET status = 'paused', frozen_for_migration_to = \(new), updated_at = now()
                WHERE connection_id = \(old)
                """, logger: logger)
            try await connection.execute(
                "UPDATE erp_connections SET migrated_from = \(old), updated_at = now() WHERE connection_id = \(new)",
                logger: logger)
            let linked = try await connection.execute(
                """
                WITH candidates AS (
                    SELECT DISTINCT ON (i.invoice_id) i.invoice_id, r.erp_id, r.erp_version, r.number
                    FROM erp_links old_link
                    JOIN invoices i ON i.tenant_id = old_link.tenant_id AND i.invoice_id = old_link.our_id
                                   AND i.location_id = \(location)
                    JOIN erp_records r ON r.tenant_id = old_link.tenant_id AND r.connection_id = \(new)
                                      AND r.object_kind = 'invoice' AND r.number = i.invoice_number AND r.our_id IS NULL
                    WHERE old_link.tenant_id = \(tenantID.rawValue) AND old_link.connection_id = \(old)
                      AND old_link.object_kind = 'invoice'
                    ORDER BY i.invoice_id, r.erp_id
                ), linked AS (
                    INSERT INTO erp_links (tenant_id, connection_id, object_kind, our_id, erp_id, erp_version, erp_number)
                    SELECT \(tenantID.rawValue), \(new), 'invoice', invoice_id, erp_id, erp_version, number FROM candidates
                    ON CONFLICT DO NOTHING
                    RETURNING our_id, erp_id
                )
                UPDATE erp_records r SET our_id = l.our_id, match_method = 'number'
                FROM linked l
                WHERE r.tenant_id = \(tenantID.rawValue) AND r.connection_id = \(new) AND r.object_kind = 'invoice'
                  AND r.erp_id = l.erp_id
                """, logger: logger)
            let unlinked = try await connection.query(
                """
                SELECT o.our_id FROM erp_links o
                WHERE o.tenant_id = \(tenantID.rawValue) AND o.connection_id = \(old) AND o.object_kind = 'invoice'
                  AND NOT EXISTS (SELECT 1 FROM erp_links n WHERE n.tenant_id = o.tenant_id AND n.connection_id = \(new)
                                  AND n.object_kind = 'invoice' AND n.our_id = o.our_id)
                ORDER BY o.our_id
                """, logger: logger
            ).map { try $0.decode(String.self, "our_id") }
            let erpOld = try rows.first { try $0.decode(UUID.self, "connection_id") == old }?.decode(String.self, "erp") ?? ""
            try await ChangeApplier.insertAudit(
                event(
                        tenantID, old, location: location, erp: erpOld, action: "Migration Started",
                        details: [
                            "state": "paused", "migrated_to": new.uuidString.lowercased(), "linked": "\(linked)",
                            "unlinked": "\(unlinked.count)",
                        ]),
                exchange: store.auditExchange, connection: connection, logger: logger)
            return MigrationReport(linked: linked, unlinked: unlinked)
        }
    }

    /// A lifecycle step as a sync-log session of its own: `session.opened`, the `connection.changed` event,
    /// `session.closed` (all with the step's action, e.g. "Connection Disconnected").
    private func event(
        _ tenantID: TenantID, _ connectionID: UUID, location: String, erp: String, action: String,
        details: [String: String]
    ) -> [AuditEvent] {
        let session = UUID()
        func make(_ kind: AuditEvent.Kind, _ outcome: AuditEvent.Outcome?, _ details: [String: String]) -> AuditEvent {
            AuditEvent(
                kind: kind, occurredAt: Date(), tenantID: tenantID, locationID: LocationID(location), source: source,
                erp: ERP(rawValue: erp), connectionID: connectionID, sessionID: session, action: action,
                outcome: outcome, details: details)
        }
        return [
            make(.sessionOpened, nil, ["trigger": "manual"]),
            make(.connectionChanged, .succeeded, details),
            make(.sessionClosed, .succeeded, ["trigger": "manual"]),
        ]
    }
}
