public import Connectors
public import Domain
public import Foundation
public import HTTP
public import Logging
import Postgres
import Synchronization
import Crypto

/// A token bucket in Postgres (`erp_rate_buckets`), shared by every replica of a worker.
///
/// One row per (connection, limit). Taking a token is one statement that locks the row
/// (`SELECT … FOR UPDATE` in a CTE), computes the refill from the time since `updated_at` with the database
/// clock, and writes the new level, so replicas on different machines (and clocks) agree. A 429's
/// Retry-After drains the bucket until then (`blocked_until`).
///
/// Sizing from a documented limit of `n` requests per window `w`: any window of length `w` admits at most
/// `b + refill × w` requests, kept at 97 % of `n` (a margin for clock differences between the ERP and us), so the
/// ERP's limit holds for sliding windows, not only on average.
/// - Windows up to an hour (per second, per minute): a small burst `b = max(1, n / 100)` and refill
///   `(0.97 n − b) / w`, so a busy connection runs steadily at about 96 % of the limit.
/// - Longer windows (a daily budget): burst `b = n / 2` and refill `(0.97 n − b) / w`, so a connection may spend
///   half its day's budget at once (an initial sync, a backlog) instead of crawling at the daily average.
public struct PostgresTokenBucket: Sendable {
    /// The bucket's name, e.g. `connection all 60/60s`.
    public let name: String
    /// Tokens the bucket holds when full.
    public let capacity: Decimal
    /// Tokens added per second.
    public let refillPerSecond: Decimal

    /// Creates a bucket with an explicit capacity and refill rate.
    public init(name: String, capacity: Decimal, refillPerSecond: Decimal) {
        precondition(capacity > 0 && refillPerSecond > 0, "capacity and refill must be positive")
        self.name = name
        self.capacity = capacity
        self.refillPerSecond = refillPerSecond
    }

    /// The bucket for a documented `limit` per `window` (see the type's sizing rule).
    public init(name: String, limit: Int, per window: Duration) {
        let seconds = SyncStateStore.seconds(window)
        let burst = max(1, seconds > 3600 ? limit / 2 : limit / 100)
        let budget = Decimal(limit) * Decimal(string: "0.97")!
        let refill = budget > Decimal(burst) ? (budget - Decimal(burst)) / seconds : Decimal(limit) / seconds
        self.init(name: name, capacity: Decimal(burst), refillPerSecond: refill)
    }

    /// Tries to take one token.
    /// - Returns: nil when taken; otherwise how long to wait before a token is there.
    public func tryTake(
        tenantID: TenantID, connectionID: UUID, store: SyncStateStore, logger: Logger
    ) async throws -> Duration? {
        try await store.inTenant(tenantID, logger: logger) { connection in
            try await connection.execute(
                """
                INSERT INTO erp_rate_buckets (connection_id, limit_name, tenant_id, capacity, refill_per_sec, tokens)
                VALUES (\(connectionID), \(name), \(tenantID.rawValue), \(capacity), \(refillPerSecond), \(capacity))
                ON CONFLICT (connection_id, limit_name) DO UPDATE  -- a new sizing rule applies to existing rows
                SET capacity = EXCLUDED.capacity, refill_per_sec = EXCLUDED.refill_per_sec,
                    tokens = LEAST(erp_rate_buckets.tokens, EXCLUDED.capacity)
                WHERE erp_rate_buckets.capacity <> EXCLUDED.capacity
                   OR erp_rate_buckets.refill_per_sec <> EXCLUDED.refill_per_sec
                """, logger: logger)
            let rows = try await connection.query(
                """
                WITH current AS (
                    SELECT connection_id, limit_name, clock_timestamp() AS at, refill_per_sec, blocked_until,
                           LEAST(capacity, tokens + refill_per_sec
                                 * GREATEST(0, extract(epoch FROM clock_timestamp() - updated_at))) AS level
                    FROM erp_rate_buckets
                    WHERE connection_id = \(connectionID) AND limit_name = \(name)
                    FOR UPDATE
                ), decided AS (
                    SELECT *, (level >= 1 AND (blocked_until IS NULL OR blocked_until <= at)) AS granted FROM current
                )
                UPDATE erp_rate_buckets b
                SET tokens = decided.level - CASE WHEN decided.granted THEN 1 ELSE 0 END, updated_at = decided.at
                FROM decided
                WHERE b.connection_id = decided.connection_id AND b.limit_name = decided.limit_name
                RETURNING decided.granted,
                          GREATEST(CASE WHEN decided.level >= 1 THEN 0 ELSE (1 - decided.level) / decided.refill_per_sec END,
                                   coalesce(extract(epoch FROM decided.blocked_until - decided.at), 0))::float8::text AS wait
                """, logger: logger)
            guard let row = rows.first else { throw WorkerError(code: .stateConflict, reason: "rate bucket row missing") }
            if try row.decode(Bool.self, "granted") { return nil }
            let wait = try row.decode(String.self, "wait")
            let seconds = max(0.001, Double(wait) ?? 0.05)
            return .milliseconds(Int64((seconds * 1000).rounded(.up)))
        }
    }

    /// Blocks the bucket until a 429's Retry-After has passed: no replica takes a token before then. The tokens
    /// are left as they are: zeroing them would starve a slow bucket (a daily budget refills about one token in
    /// 20 s) long after the Retry-After.
    public func block(
        for wait: Duration, tenantID: TenantID, connectionID: UUID, store: SyncStateStore, logger: Logger
    ) async throws {
        let seconds = SyncStateStore.seconds(wait)
        try await store.inTenant(tenantID, logger: logger) { connection in
            try await connection.execute(
                """
                UPDATE erp_rate_buckets
                SET blocked_until = GREATEST(coalesce(blocked_until, now()), now() + make_interval(secs => \(seconds)))
                WHERE connection_id = \(connectionID) AND limit_name = \(name)
                """, logger: logger)
        }
    }
}

/// Concurrent-request slots in Postgres (`erp_concurrency_slots`), shared by every replica: `limit` rows per
/// (connection, limit name); a holder takes a free (or expired) slot with `FOR UPDATE SKIP LOCKED` and a lease,
/// and frees it after the request. A crashed holder's slot frees itself when its lease runs out.
public struct PostgresConcurrencySlots: Sendable {
    /// The limit's name.
    public let name: String
    /// How many requests may run at once.
    public let limit: Int
    /// How long a slot is held at most (longer than the HTTP timeout).
    public let lease: Duration

    /// Creates the slots of one limit.
    public init(name: String, limit: Int, lease: Duration = .seconds(180)) {
        precondition(limit > 0, "limit must be positive")
        self.name = name
        self.limit = limit
        self.lease = lease
    }

    /// Tries to take a slot for `holder`.
    /// - Returns: the slot number, or nil when all are taken.
    public func tryAcquire(
        holder: String, tenantID: TenantID, connectionID: UUID, store: SyncStateStore, logger: Logger
    ) async throws -> Int? {
        let seconds = SyncStateStore.seconds(lease)
        return try await store.inTenant(tenantID, logger: logger) { connection in
            try await connection.execute(
                """
                INSERT INTO erp_concurrency_slots (connection_id, limit_name, slot, tenant_id)
                SELECT \(connectionID), \(name), s, \(tenantID.rawValue) FROM generate_series(0, \(limit - 1)) AS s
                ON CONFLICT DO NOTHING
                """, logger: logger)
            let rows = try await connection.query(
                """
                UPDATE erp_concurrency_slots SET holder = \(holder), lease_until = now() + make_interval(secs => \(seconds))
                WHERE (connection_id, limit_name, slot) = (
                    SELECT connection_id, limit_name, slot FROM erp_concurrency_slots
                    WHERE connection_id = \(connectionID) AND limit_name = \(name) AND slot < \(limit)
                      AND (holder IS NULL OR lease_until < now())
                    ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING slot
                """, logger: logger)
            return try rows.first?.decode(Int.self, "slot")
        }
    }

    /// Frees a slot taken by `holder`.
    public func release(
        slot: Int, holder: String, tenantID: TenantID, connectionID: UUID, store: SyncStateStore, logger: Logger
    ) async throws {
        try await store.inTenant(tenantID, logger: logger) { connection in
            try await connection.execute(
                """
                UPDATE erp_concurrency_slots SET holder = NULL, lease_until = NULL
                WHERE connection_id = \(connectionID) AND limit_name = \(name) AND slot = \(slot) AND holder = \(holder)
                """, logger: logger)
        }
    }
}

/// Every rate limit of one connection, applied before each ERP request: a token from each bucket, then a
/// concurrency slot, waiting as long as the buckets say (bounded by `maxWait`).
public struct ConnectionRateLimiter: Sendable {
    /// The tenant.
    public let tenantID: TenantID
    /// The connection.
    public let connectionID: UUID
    /// The token buckets of this connection.
    public let buckets: [PostgresTokenBucket]
    /// Application-wide buckets (one per ERP, shared by every connection and tenant): kept under the empty tenant
    /// and the ERP's ``applicationConnectionID(for:)``.
    public let applicationBuckets: [PostgresTokenBucket]
    /// The connection id the application-wide buckets are stored under.
    public let applicationID: UUID?
    /// The concurrency limits.
    public let slots: [PostgresConcurrencySlots]
    /// The store (for transactions).
    public let store: SyncStateStore
    /// The longest an acquire waits before failing with ``RateLimitWaitTimeout``.
    public let maxWait: Duration

    /// Creates a limiter from explicit buckets and slots.
    public init(
        tenantID: TenantID, connectionID: UUID, buckets: [PostgresTokenBucket], slots: [PostgresConcurrencySlots],
        store: SyncStateStore, maxWait: Duration = .seconds(120), applicationBuckets: [PostgresTokenBucket] = [],
        applicationID: UUID? = nil
    ) {
        self.tenantID = tenantID
        self.connectionID = connectionID
        self.buckets = buckets
        self.applicationBuckets = applicationID == nil ? [] : applicationBuckets
        self.applicationID = applicationID
        self.slots = slots
        self.store = store
        self.maxWait = maxWait
    }

    /// Creates a limiter from a connector's declared limits on all requests: connection-scoped rates and
    /// concurrency, and (when `erp` is given) application-wide rates shared by every connection of that ERP.
    /// Batch-only limits and application-wide concurrency are not enforced yet (docs/worker-runtime.md).
    public init(
        tenantID: TenantID, connectionID: UUID, limits: [RateLimit], store: SyncStateStore,
        maxWait: Duration = .seconds(120), erp: ERP? = nil
    ) {
        var buckets: [PostgresTokenBucket] = []
        var applicationBuckets: [PostgresTokenBucket] = []
        var slots: [PostgresConcurrencySlots] = []
        for limit in limits where limit.requests == .all {
            switch (limit.scope, limit.kind) {
            case (.connection, .rate(let count, let window)):
                buckets.append(PostgresTokenBucket(name: limit.description, limit: count, per: window))
            case (.connection, .concurrent(let count)):
                slots.append(PostgresConcurrencySlots(name: limit.description, limit: count))
            case (.application, .rate(let count, let window)):
                applicationBuckets.append(PostgresTokenBucket(name: limit.description, limit: count, per: window))
            case (.application, .concurrent):
                break
            }
        }
        self.init(
            tenantID: tenantID, connectionID: connectionID, buckets: buckets, slots: slots, store: store, maxWait: maxWait,
            applicationBuckets: applicationBuckets, applicationID: erp.map(Self.applicationConnectionID(for:)))
    }

    /// The fixed id under which an ERP's application-wide buckets are stored (tenant `""`): a name-based UUID
    /// derived from the ERP slug.
    public static func applicationConnectionID(for erp: ERP) -> UUID {
        var bytes = Array(Crypto.SHA256.hash(data: Array("ledgerline-application-limits|\(erp.rawValue)".utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x50  // version 5 layout
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }

    /// A held permission to send one request; release it with ``release(_:logger:)``.
    public struct Permit: Sendable {
        fileprivate var slots: [(PostgresConcurrencySlots, Int)]
        fileprivate var holder: String
    }

    /// Waits for a slot of every concurrency limit, then a token of every bucket (in that order, so the request
    /// starts right after its token is taken and the bucket's promise holds for request start times too).
    public func acquire(logger: Logger) async throws -> Permit {
        let deadline = ContinuousClock.now + maxWait
        let holder = "\(store.workerID)/\(UUID().uuidString.prefix(8))"
        var taken: [(PostgresConcurrencySlots, Int)] = []
        do {
            for limit in slots {
                while true {
                    if let slot = try await limit.tryAcquire(
                        holder: holder, tenantID: tenantID, connectionID: connectionID, store: store, logger: logger)
                    {
                        taken.append((limit, slot))
                        break
                    }
                    guard ContinuousClock.now < deadline else {
                        throw RateLimitWaitTimeout(limit: limit.name, maxWait: maxWait)
                    }
                    try await Task.sleep(for: .milliseconds(Int.random(in: 20...60)))
                }
            }
            var plan = buckets.map { ($0, tenantID, connectionID) }
            if let applicationID {
                plan += applicationBuckets.map { ($0, TenantID(""), applicationID) }
            }
            for (bucket, owner, id) in plan {
                while let wait = try await bucket.tryTake(tenantID: owner, connectionID: id, store: store, logger: logger) {
                    guard ContinuousClock.now + wait <= deadline else {
                        throw RateLimitWaitTimeout(limit: bucket.name, maxWait: maxWait)
                    }
                    try await Task.sleep(for: wait)
                }
            }
        } catch {
            await release(Permit(slots: taken, holder: holder), logger: logger)
            throw error
        }
        return Permit(slots: taken, holder: holder)
    }

    /// Frees the permit's slots (errors are logged: a slot not freed frees itself when its lease ends).
    public func release(_ permit: Permit, logger: Logger) async {
        for (limit, slot) in permit.slots {
            do {
                try await limit.release(
                    slot: slot, holder: permit.holder, tenantID: tenantID, connectionID: connectionID, store: store,
                    logger: logger)
            } catch {
                logger.debug("Concurrency slot not released; its lease will free it", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Stops every replica from sending on this connection for `wait` (a 429's Retry-After).
    public func block(for wait: Duration, logger: Logger) async throws {
        for bucket in buckets {
            try await bucket.block(for: wait, tenantID: tenantID, connectionID: connectionID, store: store, logger: logger)
        }
    }
}

/// No rate-limit token or concurrency slot arrived within the limiter's `maxWait`; the request was **not sent**.
///
/// It conforms to ``Connectors/RequestNotSentError``, so a connector reports it as `erp.rate_limited` (retry), never
/// as an unknown outcome, and the job is deferred without a lookup and without counting towards the circuit
/// breaker.
public struct RateLimitWaitTimeout: RequestNotSentError, Sendable {
    /// The limit that had no capacity (e.g. `connection all 60/60s`).
    public var limit: String
    /// How long the request waited.
    public var maxWait: Duration

    /// Creates the error.
    public init(limit: String, maxWait: Duration) {
        self.limit = limit
        self.maxWait = maxWait
    }

    /// Safe to log.
    public var description: String { "no capacity of rate limit \(limit) within \(maxWait)" }
}

/// An `HTTPTransport` that takes a permit from a ``ConnectionRateLimiter`` around every request, so every ERP
/// call a connector makes (including the extra lookups of its flows) counts against the connection's limits.
public struct RateLimitedTransport: HTTPTransport {
    /// The transport that sends.
    public let base: any HTTPTransport
    /// The connection's limiter.
    public let limiter: ConnectionRateLimiter

    /// Creates the wrapper.
    public init(base: any HTTPTransport, limiter: ConnectionRateLimiter) {
        self.base = base
        self.limiter = limiter
    }

    /// Waits for a permit, sends, and frees the permit. A 429 with a `Retry-After` blocks the connection's buckets
    /// at once (before the answer reaches the connector), so no replica takes a token before it has passed.
    public func execute(_ request: HTTPRequest, logger: Logger) async throws -> HTTPResponse {
        let permit = try await limiter.acquire(logger: logger)
        do {
            let response = try await base.execute(request, logger: logger)
            if response.status == 429, let wait = Self.retryAfter(response.header("Retry-After"), now: Date()) {
                do { try await limiter.block(for: wait, logger: logger) } catch {
                    logger.debug("Could not block the rate bucket", metadata: ["error": "\(error)"])
                }
            }
            await limiter.release(permit, logger: logger)
            return response
        } catch {
            await limiter.release(permit, logger: logger)
            throw error
        }
    }
}

extension RateLimitedTransport {
    /// A `Retry-After` value as a wait from `now`: delta-seconds or an HTTP date (RFC 9110 IMF-fixdate); nil when
    /// absent or unreadable, zero when the date has passed.
    static func retryAfter(_ header: String?, now: Date) -> Duration? {
        guard let text = header?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let seconds = Int(text) { return seconds >= 0 ? .seconds(seconds) : nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text) else { return nil }
        let milliseconds = max(0, Int64((date.timeIntervalSince(now) * 1000).rounded(.up)))
        return .milliseconds(milliseconds)
    }
}
