public import Connectors
public import Domain
import BlockingIO
import Foundation
public import Logging
import Postgres

/// How pulls run.
public struct PullOptions: Sendable, Hashable {
    /// Objects per page asked of the ERP (capped to the connector's ``Connectors/PullSupport/maxPageSize``).
    public var pageSize: Int
    /// How far back a regular pull reads at most (seed 001: two weeks).
    public var lookback: Duration
    /// How far before the last successful pull's start the next one reads again (clock skew, late commits).
    public var overlap: Duration
    /// A job reads pages for at most this long, commits its place and continues in the next job (re-enqueued
    /// by the sweeper at once), so no delivery stays unacked for long and shutdowns are quick.
    public var chunkDuration: Duration
    /// The run's lease; renewed with every page. A run whose holder died is swept after it.
    public var lease: Duration

    /// Creates options. Defaults: the ERP's largest page, two weeks, 5 minutes, 60 s, 120 s.
    public init(
        pageSize: Int = 1000, lookback: Duration = .seconds(14 * 86_400), overlap: Duration = .seconds(300),
        chunkDuration: Duration = .seconds(60), lease: Duration = .seconds(120)
    ) {
        self.pageSize = pageSize
        self.lookback = lookback
        self.overlap = overlap
        self.chunkDuration = chunkDuration
        self.lease = lease
    }
}

extension PullOptions {
    /// The defaults, overridden by `LEDGERLINE_PULL_PAGE_SIZE`, `LEDGERLINE_PULL_LOOKBACK_DAYS`,
    /// `LEDGERLINE_PULL_CHUNK_SECONDS` and `LEDGERLINE_PULL_LEASE_SECONDS` (read once per process).
    public static let environment: PullOptions = {
        let values = ProcessInfo.processInfo.environment
        func number(_ key: String) -> Int? { values[key].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil } }
        var options = PullOptions()
        if let size = number("LEDGERLINE_PULL_PAGE_SIZE") { options.pageSize = size }
        if let days = number("LEDGERLINE_PULL_LOOKBACK_DAYS") { options.lookback = .seconds(days * 86_400) }
        if let seconds = number("LEDGERLINE_PULL_CHUNK_SECONDS") { options.chunkDuration = .seconds(seconds) }
        if let seconds = number("LEDGERLINE_PULL_LEASE_SECONDS") { options.lease = .seconds(seconds) }
        return options
    }()
}

/// The pull preferences of a connection (columns of `erp_connections`).
public struct PullPreferences: Sendable, Hashable {
    /// The connection's status (`active`, `paused`, `needs_reauth`, `disconnected`).
    public var status: String
    /// The shop location of the connection.
    public var locationID: LocationID
    /// Read customers from the ERP ("do not sync from the accounting system" is `false`).
    public var pullCustomers: Bool
    /// Read invoices from the ERP.
    public var pullInvoices: Bool
    /// Read payments from the ERP.
    public var pullPayments: Bool
    /// Import only active customers.
    public var customersActiveOnly: Bool
    /// Read the ERP's items (reference data; `pull_items`).
    public var pullItems: Bool = false
    /// Read the ERP's tax rates (reference data; `pull_tax_rates`).
    public var pullTaxRates: Bool = false

    /// The entities to read, in the order they are read (customers first: invoices name them).
    public func entities(supported: Set<ERPEntity>) -> [ERPEntity] {
        var result: [ERPEntity] = []
        if pullCustomers { result.append(.customer) }
        if pullInvoices { result.append(.invoice) }
        if pullPayments { result.append(.payment) }
        return result.filter { supported.contains($0) }
    }

    /// The reference data to read after the entities (items, then tax rates).
    public var referenceData: [ERPReferenceKind] {
        var result: [ERPReferenceKind] = []
        if pullItems { result.append(.item) }
        if pullTaxRates { result.append(.taxRate) }
        return result
    }
}

/// Runs `pull` and `initial_sync` jobs: reads the ERP's changes page by page through the connection's
/// rate-limited transport, applies each page to the canonical store with ``ChangeApplier`` and advances the
/// checkpoint (`erp_pull_runs`) **in the same transaction**, so a crash resumes at the first page not applied
/// and nothing is applied twice. See docs/two-way-sync.md.
public struct PullProcessor<C: ERPConnector>: Sendable {
    /// The job processor whose store, connector factory, rate limits and retry policy are used.
    public let processor: JobProcessor<C>
    /// The options.
    public let options: PullOptions

    /// Creates a pull processor.
    public init(processor: JobProcessor<C>, options: PullOptions = PullOptions()) {
        self.processor = processor
        self.options = options
    }

    /// The reason code of a chunk that continues in the next job.
    public static var continues: ReasonCode { ReasonCode("sync.pull_continues") }

    /// Processes one `pull` or `initial_sync` job.
    /// - Returns: `.synced("Pull Completed" | "Initial Sync Completed")`, `.deferred(sync.pull_continues, 0)` when
    ///   the run continues in the next job, `.deferred(reason, delay)` after an ERP failure, `.parked`, `.busy`
    ///   (another worker holds the run), `.alreadySynced` (a newer run covered this job) or `.dropped`.
    /// - Throws: only when no state could be committed.
    public func process(_ job: SyncJob, logger: Logger) async throws -> JobOutcome {
        let store = processor.store
        let runKind = job.kind == .initialSync ? "initial" : "pull"
        guard let preferences = try await Self.preferences(job, store: store, logger: logger) else {
            return .dropped("the connection does not exist")
        }
        let entities = preferences.entities(supported: C.capabilities.pull.entities)
        guard !entities.isEmpty || !preferences.referenceData.isEmpty else {
            return .dropped("the connection reads nothing from the accounting system")
        }
        let run: PullRun
        switch try await begin(
            job, runKind: runKind, entities: entities, referenceData: preferences.referenceData,
            preferences: preferences, logger: logger) {
        case .run(let started): run = started
        case .outcome(let outcome): return outcome
        }
        let limiter = processor.limiter(for: job)
        let transport = RateLimitedTransport(
            base: MeteredTransport(base: processor.transport, erp: C.erp, crash: processor.crash), limiter: limiter)
        let connector: C
        do {
            connector = try await processor.makeConnector(job, transport)
        } catch let failure as ConnectorFailure {
            return try await fail(failure, run: run, job: job, logger: logger)
        }
        if run.kind == "initial" && run.cursor == nil,
            let estimate = await PullEstimate.total(
                entities: run.entities, context: connector.context, erp: C.erp, transport: transport, logger: logger)
        {
            try await store.inTenant(job.tenantID, logger: logger) { connection in
                try await connection.execute(
                    """
                    UPDATE erp_pull_runs SET estimated_total = \(estimate)
                    WHERE tenant_id = \(job.tenantID.rawValue) AND connection_id = \(job.connectionID) AND run_kind = 'initial'
                      AND run_number = \(run.number)
                    """, logger: logger)
            }
        }
        let applier = ChangeApplier(erp: C.erp, source: processor.source, auditExchange: store.auditExchange)
        let deadline = ContinuousClock.now + options.chunkDuration
        var counts = run.counts
        // The next page is read while the current one is applied (the cursor is known before the apply): the
        // ERP's latency and the database's overlap. A page read ahead but not applied (crash, lease lost, chunk
        // end) is simply read again by whoever continues: the checkpoint only moves with applied pages.
        let runEntities = run.entities
        let runReferenceData = run.referenceData
        let since = run.since
        let pageSize = options.pageSize
        @Sendable func read(_ cursor: ChangeCursor?) async throws -> ChangePage {
            try await connector.pullChanges(
                ChangeRequest(
                    entities: runEntities, since: since, cursor: cursor, pageSize: pageSize,
                    referenceData: runReferenceData), logger: logger)
        }
        var ahead: Task<ChangePage, any Error>? = Task { try await read(run.cursor) }
        defer { ahead?.cancel() }
        while let reading = ahead {
            let page: ChangePage
            do {
                page = try await withTaskCancellationHandler {
                    try await reading.value
                } onCancel: {
                    reading.cancel()
                }
            } catch let failure as ConnectorFailure {
                ahead = nil
                return try await fail(failure, run: run, job: job, logger: logger)
            } catch {
                ahead = nil
                if Task.isCancelled { throw CancellationError() }
                throw error
            }
            let finished = page.next == nil
            let continuing = !finished && ContinuousClock.now >= deadline
            if let next = page.next, !continuing {
                ahead = Task { try await read(next) }
            } else {
                ahead = nil
            }
            do {
                let pageCounts = try await store.inTenant(job.tenantID, logger: logger) { connection in
                    let applied = try await applier.apply(
                        page.changes, run: run, job: job, preferences: preferences, connection: connection,
                        logger: logger)
                    var merged = counts
                    for (key, value) in applied { merged[key, default: 0] += value }
                    try await advance(
                        run: run, job: job, next: page.next, records: page.changes.count, counts: merged,
                        finished: finished, continuing: continuing, connection: connection, logger: logger)
                    return merged
                }
                counts = pageCounts
            } catch let error as WorkerError where error.code == .leaseLost {
                return .busy
            }
            if finished {
                logger.debug(
                    "Pull completed",
                    metadata: ["erp": "\(C.erp)", "erp.connection_id": "\(job.connectionID)", "pull.run": "\(runKind)"])
                return .synced(action: runKind == "initial" ? "Initial Sync Completed" : "Pull Completed")
            }
            if continuing { return .deferred(Self.continues, delay: .zero) }
        }
        return .deferred(Self.continues, delay: .zero)
    }

    // MARK: Run state

    enum Begin: Sendable {
        case run(PullRun)
        case outcome(JobOutcome)
    }

    static func preferences(_ job: SyncJob, store: SyncStateStore, logger: Logger) async throws -> PullPreferences? {
        try await store.inTenant(job.tenantID, logger: logger) { connection in
            try await connection.query(
                """
                SELECT status, location_id, pull_customers, pull_invoices, pull_payments, customers_active_only,
                       pull_items, pull_tax_rates
                FROM erp_connections WHERE connection_id = \(job.connectionID)
                """, logger: logger
            ).first.map {
                PullPreferences(
                    status: try $0.decode(String.self, "status"),
                    locationID: LocationID(try $0.decode(String.self, "location_id")),
                    pullCustomers: try $0.decode(Bool.self, "pull_customers"),
                    pullInvoices: try $0.decode(Bool.self, "pull_invoices"),
                    pullPayments: try $0.decode(Bool.self, "pull_payments"),
                    customersActiveOnly: try $0.decode(Bool.self, "customers_active_only"),
                    pullItems: try $0.decode(Bool.self, "pull_items"),
                    pullTaxRates: try $0.decode(Bool.self, "pull_tax_rates"))
            }
        }
    }

    /// Takes the run: starts a new one or resumes the one in progress (its `since`, cursor and session).
    private func begin(
        _ job: SyncJob, runKind: String, entities: [ERPEntity], referenceData: [ERPReferenceKind],
        preferences: PullPreferences, logger: Logger
    ) async throws -> Begin {
        let store = processor.store
        let jobText = String(decoding: try WireFormat.encoder().encode(job), as: UTF8.self)
        let lease = SyncStateStore.seconds(options.lease)
        let lookback = SyncStateStore.seconds(options.lookback)
        let overlap = SyncStateStore.seconds(options.overlap)
        // The run's `entities` column holds the entities, then the reference data kinds (`item`, `tax_rate`).
        let entityNames = entities.map(\.rawValue) + referenceData.map(\.rawValue)
        return try await store.inTenant(job.tenantID, logger: logger) { connection in
            try await connection.execute(
                """
                INSERT INTO erp_pull_runs (tenant_id, connection_id, run_kind)
                VALUES (\(job.tenantID.rawValue), \(job.connectionID), \(runKind)) ON CONFLICT DO NOTHING
                """, logger: logger)
            guard
                let row = try await connection.query(
                    """
                    SELECT state, run_number, lease_until, completed_at, now() AS db_now
                    FROM erp_pull_runs
                    WHERE tenant_id = \(job.tenantID.rawValue) AND connection_id = \(job.connectionID) AND run_kind = \(runKind)
                    FOR UPDATE
                    """, logger: logger
                ).first
            else { throw WorkerError(code: .stateConflict, reason: "the pull run vanished") }
            let state = try row.decode(String.self, "state")
            let now = try row.decode(Date.self, "db_now")
            if preferences.status != "active" {
                // Disconnected, paused or needing re-authorization: keep the run (and this job) parked; a
                // reconnect makes it due again.
                try await connection.execute(
                    """
                    UPDATE erp_pull_runs
                    SET state = CASE WHEN state IN ('idle', 'completed') THEN state ELSE 'parked' END,
                        job = CASE WHEN state IN ('idle', 'completed') THEN job ELSE \(jobText)::jsonb END,
                        reason = \(JobProcessor<C>.connectionInactive.rawValue), lease_until = NULL, updated_at = now()
                    WHERE tenant_id = \(job.tenantID.rawValue) AND connection_id = \(job.connectionID) AND run_kind = \(runKind)
                      AND state <> 'running'
                    """, logger: logger)
                return .outcome(.parked(JobProcessor<C>.connectionInactive))
            }
            if state == "running", let until = try row.decode(Date?.self, "lease_until"), until > now {
                return .outcome(.busy)
            }
            let resume = ["running", "due", "parked"].contains(state)
            if !resume {
                let completedAt = try row.decode(Date?.self, "completed_at")
                if state == "completed", let completedAt {
                    if runKind == "initial" && job.trigger != .manual && job.trigger != .replay {
                        return .outcome(.alreadySynced)
                    }
                    if runKind == "pull" && completedAt >= job.enqueuedAt { return .outcome(.alreadySynced) }
                }
                let session = job.sessionID ?? UUID()
                let sinceSQL =
                    runKind == "initial"
                    ? "'1970-01-01T00:00:00Z'::timestamptz"
                    : "greatest(coalesce(last_success_since - make_interval(secs => \(overlap)), '-infinity'::timestamptz), "
                        + "now() - make_interval(secs => \(lookback)))"
                let update: PostgresQuery = """
                    UPDATE erp_pull_runs
                    SET state = 'running', run_number = run_number + 1, job = \(jobText)::jsonb, job_id = \(job.jobID),
                        worker_id = \(store.workerID), lease_until = now() + make_interval(secs => \(lease)),
                        not_before = NULL, requeued_at = NULL, session_id = \(session), entities = \(entityNames),
                        started_at = now(), cursor = NULL, pages = 0, records = 0, failures = 0, counts = '{}',
                        reason = NULL, message = NULL, completed_at = NULL, updated_at = now(),
                        since = \(unsafeRaw: sinceSQL)
                    WHERE tenant_id = \(job.tenantID.rawValue) AND connection_id = \(job.connectionID) AND run_kind = \(runKind)
                    RETURNING run_number, since
                    """
                guard let started = try await connection.query(update, logger: logger).first else {
                    throw WorkerError(code: .stateConflict, reason: "the pull run vanished")
                }
                let run = PullRun(
                    kind: runKind, number: try started.decode(Int64.self, "run_number"),
                    since: try started.decode(Date.self, "since"), cursor: nil, entities: entities,
                    referenceData: referenceData, sessionID: session, ownSession: job.sessionID == nil, failures: 0,
                    counts: [:])
                if run.ownSession {
                    try await ChangeApplier.insertAudit(
                        [
                            sessionEvent(
                                .sessionOpened, job: job, run: run, action: Self.startAction(runKind),
                                outcome: nil, details: ["trigger": job.trigger.rawValue, "since": "\(run.since)"])
                        ], exchange: store.auditExchange, connection: connection, logger: logger)
                }
                return .run(run)
            }
            guard
                let resumed = try await connection.query(
                    """
                    UPDATE erp_pull_runs
                    SET state = 'running', job = \(jobText)::jsonb, job_id = \(job.jobID), worker_id = \(store.workerID),
                        lease_until = now() + make_interval(secs => \(lease)), not_before = NULL, requeued_at = NULL,
                        reason = NULL, updated_at = now()
                    WHERE tenant_id = \(job.tenantID.rawValue) AND connection_id = \(job.connectionID) AND run_kind = \(runKind)
                    RETURNING run_number, since, cursor, entities, session_id, failures, counts::text AS counts, job
                    """, logger: logger
                ).first
            else { throw WorkerError(code: .stateConflict, reason: "the pull run vanished") }
            let storedNames = try resumed.decode([String].self, "entities")
            let storedEntities = storedNames.compactMap(ERPEntity.init(rawValue:))
            let storedReferenceData = storedNames.compactMap(ERPReferenceKind.init(rawValue:))
            let countsText = try resumed.decode(String.self, "counts")
            let counts = (try? JSONDecoder().decode([String: Int].self, from: Data(countsText.utf8))) ?? [:]
            let storedJob = try? WireFormat.decoder().decode(
                SyncJob.self, from: Data(try resumed.decode(String.self, "job").utf8))
            return .run(
                PullRun(
                    kind: runKind, number: try resumed.decode(Int64.self, "run_number"),
                    since: try resumed.decode(Date.self, "since"),
                    cursor: try resumed.decode(String?.self, "cursor").map(ChangeCursor.init(rawValue:)),
                    entities: storedNames.isEmpty ? entities : storedEntities,
                    referenceData: storedNames.isEmpty ? referenceData : storedReferenceData,
                    sessionID: try resumed.decode(UUID?.self, "session_id") ?? UUID(),
                    ownSession: storedJob?.sessionID == nil, failures: try resumed.decode(Int.self, "failures"),
                    counts: counts))
        }
    }

    static func startAction(_ runKind: String) -> String { runKind == "initial" ? "Initial Sync Started" : "Pull Started" }

    /// Commits the page's place: the next cursor, or the run's completion (and the next pull's `since`), or a
    /// chunk boundary (due at once). Guarded by the run number and this worker's job, like a claim.
    private func advance(
        run: PullRun, job: SyncJob, next: ChangeCursor?, records: Int, counts: [String: Int], finished: Bool,
        continuing: Bool, connection: PostgresConnection, logger: Logger
    ) async throws {
        let store = processor.store
        let lease = SyncStateStore.seconds(options.lease)
        let countsText = String(decoding: try JSONEncoder().encode(counts), as: UTF8.self)
        let state = finished ? "completed" : (continuing ? "due" : "running")
        let count = try await connection.execute(
            """
            UPDATE erp_pull_runs
            SET cursor = \(next?.rawValue), pages = pages + 1, records = records + \(records), failures = 0,
                counts = \(countsText)::jsonb, state = \(state),
                lease_until = CASE WHEN \(state) = 'running' THEN now() + make_interval(secs => \(lease)) END,
                not_before = CASE WHEN \(state) = 'due' THEN now() END,
                completed_at = CASE WHEN \(state) = 'completed' THEN now() END,
                last_success_since = CASE WHEN \(state) = 'completed' AND run_kind = 'pull' THEN started_at
                                          ELSE last_success_since END,
                updated_at = now()
            WHERE tenant_id = \(job.tenantID.rawValue) AND connection_id = \(job.connectionID) AND run_kind = \(run.kind)
              AND run_number = \(run.number) AND worker_id = \(store.workerID) AND job_id = \(job.jobID)
              AND state = 'running'
            """, logger: logger)
        guard count == 1 else { throw WorkerError(code: .leaseLost, reason: "the pull run was taken over") }
        if finished && run.kind == "initial" {
            // The first regular pull after an initial sync reads from the initial sync's start.
            try await connection.execute(
                """
                INSERT INTO erp_pull_runs (tenant_id, connection_id, run_kind, state, last_success_since)
                SELECT tenant_id, connection_id, 'pull', 'idle', started_at FROM erp_pull_runs
                WHERE tenant_id = \(job.tenantID.rawValue) AND connection_id = \(job.connectionID) AND run_kind = 'initial'
                ON CONFLICT (tenant_id, connection_id, run_kind) DO UPDATE
                SET last_success_since = greatest(erp_pull_runs.last_success_since, EXCLUDED.last_success_since)
                """, logger: logger)
        }
        if finished && run.ownSession {
            var details = counts.mapValues(String.init)
            details["trigger"] = job.trigger.rawValue
            try await ChangeApplier.insertAudit(
                [
                    sessionEvent(
                        .sessionClosed, job: job, run: run,
                        action: run.kind == "initial" ? "Initial Sync Completed" : "Pull Completed",
                        outcome: .succeeded, details: details)
                ], exchange: store.auditExchange, connection: connection, logger: logger)
        }
    }

    /// Commits a failed page: due again after a backoff or Retry-After, parked (rejected, configuration), or
    /// the connection marked `needs_reauth` (authorization lost).
    private func fail(_ failure: ConnectorFailure, run: PullRun, job: SyncJob, logger: Logger) async throws
        -> JobOutcome
    {
        let store = processor.store
        let delay: Duration?
        switch failure.disposition {
        case .retry, .lookupThenRetry: delay = processor.retry.backoff.delay(attempt: run.failures + 1)
        case .retryAfter(let wait): delay = wait
        case .reauthorize, .park: delay = nil
        }
        let reauthorize = failure.disposition == .reauthorize
        let seconds = delay.map(SyncStateStore.seconds) ?? 0
        let message = String(failure.description.prefix(2000))
        try await store.inTenant(job.tenantID, logger: logger) { connection in
            try await connection.execute(
                """
                UPDATE erp_pull_runs
                SET state = \(delay == nil ? "parked" : "due"), failures = failures + 1,
                    not_before = CASE WHEN \(delay != nil) THEN now() + make_interval(secs => \(seconds)) END,
                    lease_until = NULL, reason = \(failure.reason.rawValue), message = \(message), updated_at = now()
                WHERE tenant_id = \(job.tenantID.rawValue) AND connection_id = \(job.connectionID) AND run_kind = \(run.kind)
                  AND run_number = \(run.number) AND worker_id = \(store.workerID) AND job_id = \(job.jobID)
                  AND state = 'running'
                """, logger: logger)
            var events: [AuditEvent] = []
            if reauthorize {
                try await connection.execute(
                    """
                    UPDATE erp_connections SET status = 'needs_reauth', updated_at = now()
                    WHERE connection_id = \(job.connectionID) AND status = 'active'
                    """, logger: logger)
                try await connection.execute(
                    """
                    UPDATE erp_connection_settings SET reauth_reason = \(failure.reason.rawValue), reauth_at = now(),
                        updated_at = now()
                    WHERE connection_id = \(job.connectionID)
                    """, logger: logger)
                events.append(
                    AuditEvent(
                        kind: .connectionChanged, occurredAt: Date(), tenantID: job.tenantID, locationID: job.locationID,
                        source: processor.source, erp: C.erp, connectionID: job.connectionID, sessionID: run.sessionID,
                        action: "Authorization Lost", outcome: .failed, reason: failure.reason,
                        message: "Reconnect with `syncctl connection connect` to authorize again.", jobID: job.jobID,
                        details: ["state": "needs_reauth"]))
            }
            if delay == nil && run.ownSession {
                events.append(
                    sessionEvent(
                        .sessionClosed, job: job, run: run, action: run.kind == "initial" ? "Initial Sync Failed" : "Pull Failed",
                        outcome: .parked, reason: failure.reason, message: message, details: [:]))
            }
            try await ChangeApplier.insertAudit(events, exchange: store.auditExchange, connection: connection, logger: logger)
        }
        if let delay { return .deferred(failure.reason, delay: delay) }
        return .parked(failure.reason)
    }

    private func sessionEvent(
        _ kind: AuditEvent.Kind, job: SyncJob, run: PullRun, action: String, outcome: AuditEvent.Outcome?,
        reason: ReasonCode? = nil, message: String? = nil, details: [String: String]
    ) -> AuditEvent {
        AuditEvent(
            auditID: Self.sessionEventID(run.sessionID, kind), kind: kind, occurredAt: Date(), tenantID: job.tenantID,
            locationID: job.locationID, source: processor.source, erp: C.erp, connectionID: job.connectionID,
            sessionID: run.sessionID, action: action, outcome: outcome, reason: reason, message: message,
            jobID: job.jobID, details: details)
    }

    /// A deterministic audit id per (session, kind): a repeated open or close is one event.
    static func sessionEventID(_ session: UUID, _ kind: AuditEvent.Kind) -> UUID {
        ChangeApplier.deterministicID("\(session.uuidString)|\(kind.rawValue)")
    }
}
