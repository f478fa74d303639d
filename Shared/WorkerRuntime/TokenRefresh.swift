public import Connectors
public import Domain
public import Foundation
public import Logging
import Postgres
import Synchronization

/// Calls an ERP's OAuth2 token endpoint with a refresh token (one implementation per provider, or erp-sim's).
public protocol TokenRefresher: Sendable {
    /// Exchanges `refreshToken` for new secrets (the refresh token may rotate).
    /// - Throws: ``TokenRefreshRejected`` for `invalid_grant` (the grant is gone), anything else for a transient
    ///   failure.
    func refresh(refreshToken: String, logger: Logger) async throws -> ConnectionSecrets
}

/// A token provider that can be told its token was rejected (an ERP answered 401 to it).
public protocol ForceRefreshingTokenProvider: AccessTokenProvider {
    /// Refreshes even an unexpired token, unless the token was already rotated since the rejected one was served
    /// (or, when that is unknown, at or after `since`, database clock).
    func forceRefresh(unlessRotatedSince since: Date, logger: Logger) async throws
}

/// The token endpoint answered `invalid_grant` (refresh token revoked, expired or already used).
public struct TokenRefreshRejected: Error, Sendable, CustomStringConvertible {
    /// The OAuth2 error code (`invalid_grant`).
    public var error: String
    /// Creates the error.
    public init(error: String = "invalid_grant") { self.error = error }
    /// Safe to log.
    public var description: String { "token refresh rejected: \(error)" }
}

/// An `AccessTokenProvider` that refreshes OAuth2 tokens as a **single flight per connection**, across tasks of
/// one process and across replicas:
///
/// 1. in-process: concurrent callers for one connection share one refresh task;
/// 2. cross-process: the refresh runs in a transaction holding `SELECT … FOR UPDATE` on the connection's
///    `erp_connection_credentials` row, **re-reads the secrets after the lock** and skips the refresh when another
///    replica already rotated them;
/// 3. the token endpoint is called while the lock is held, and the new pair (sealed) is written in the same
///    transaction, so a rotated refresh token is never lost or used twice;
/// 4. `invalid_grant` → the connection is marked `needs_reauth` (after the re-read under the lock, which already
///    saw any sibling's rotation) and the caller gets `erp.auth_lost` (disposition reauthorize: its job parks).
///
/// Tokens are refreshed `refreshAhead` before they expire (default 5 minutes), by our clock.
public final class RefreshingAccessTokenProvider: ForceRefreshingTokenProvider, Sendable {
    let credentials: CredentialStore
    let refresher: any TokenRefresher
    let tenantID: TenantID
    let connectionID: UUID
    let erp: ERP
    let refreshAhead: Duration
    let horizon: TokenHorizon?
    private let inFlight = Mutex<Task<(ConnectionSecrets, Int64), any Error>?>(nil)

    /// Creates a provider for one connection.
    public init(
        credentials: CredentialStore, refresher: any TokenRefresher, tenantID: TenantID, connectionID: UUID, erp: ERP,
        refreshAhead: Duration = .seconds(300), horizon: TokenHorizon? = nil
    ) {
        self.horizon = horizon
        self.credentials = credentials
        self.refresher = refresher
        self.tenantID = tenantID
        self.connectionID = connectionID
        self.erp = erp
        self.refreshAhead = refreshAhead
    }

    /// A valid access token, refreshing first when it expires within `refreshAhead`.
    /// - Throws: ``Connectors/ConnectorFailure``: `erp.auth_lost` (reauthorize) when there are no credentials or the
    ///   grant was rejected; `erp.transient` (retry) when the store or the token endpoint failed otherwise — never
    ///   another error type, which the connectors would report as lost authorization.
    public func accessToken(logger: Logger) async throws -> AccessToken {
        do {
            return try await currentToken(logger: logger)
        } catch let failure as ConnectorFailure {
            throw failure
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ConnectorFailure(
                reason: .erpTransient, disposition: .retry, erp: erp,
                detail: "credentials could not be read or refreshed (\(type(of: error)))")
        }
    }

    private func currentToken(logger: Logger) async throws -> AccessToken {
        try await servedToken(logger: logger).token
    }

    /// A valid access token and the credentials' `generation` it belongs to (refreshing first when needed).
    /// - Throws: as ``accessToken(logger:)``, except that store failures are not wrapped.
    func servedToken(logger: Logger) async throws -> (token: AccessToken, generation: Int64) {
        guard
            let (secrets, generation) = try await credentials.loadVersioned(
                tenantID: tenantID, connectionID: connectionID, logger: logger)
        else {
            throw ConnectorFailure(reason: .erpAuthLost, disposition: .reauthorize, erp: erp, detail: "no credentials stored")
        }
        if !needsRefresh(secrets) {
            horizon?.observe(tenantID: tenantID, connectionID: connectionID, expiresAt: secrets.accessExpiresAt)
            return (AccessToken(secrets.accessToken, expiresAt: secrets.accessExpiresAt), generation)
        }
        let (fresh, freshGeneration) = try await refreshOnce(logger: logger)
        horizon?.observe(tenantID: tenantID, connectionID: connectionID, expiresAt: fresh.accessExpiresAt)
        return (AccessToken(fresh.accessToken, expiresAt: fresh.accessExpiresAt), freshGeneration)
    }

    /// A provider for one job's connector: it serves this provider's tokens and remembers the generation it
    /// served, so a 401 forces a refresh **only if nobody rotated the token since** (exact, no clock comparison:
    /// a sibling's rotation committed just after this job read the old token is recognised).
    public func jobScoped() -> JobScopedTokenProvider { JobScopedTokenProvider(shared: self) }

    func needsRefresh(_ secrets: ConnectionSecrets) -> Bool {
        guard let expiry = secrets.accessExpiresAt else { return false }
        let ahead = refreshAhead.components
        return expiry.timeIntervalSinceNow <= TimeInterval(ahead.seconds) + TimeInterval(ahead.attoseconds) / 1e18
    }

    /// Refreshes even an unexpired token (the ERP rejected it with a 401), unless the stored secrets were
    /// rotated at or after `since` (database clock) — then the rejected token was already replaced.
    public func forceRefresh(unlessRotatedSince since: Date, logger: Logger) async throws {
        _ = try await refreshOnce(force: .rotatedSince(since), logger: logger)
    }

    /// Refreshes even an unexpired token (the ERP rejected it with a 401), unless the stored credentials' generation
    /// is already above `generation` (the rejected token's): then a sibling rotated it after it was served.
    public func forceRefresh(unlessGenerationAbove generation: Int64, logger: Logger) async throws {
        _ = try await refreshOnce(force: .generationAbove(generation), logger: logger)
    }

    enum Force: Sendable {
        case rotatedSince(Date)
        case generationAbove(Int64)
    }

    /// Joins the connection's refresh in flight, or starts one.
    func refreshOnce(force: Force? = nil, logger: Logger) async throws -> (ConnectionSecrets, Int64) {
        let task = inFlight.withLock { current -> Task<(ConnectionSecrets, Int64), any Error> in
            if let current { return current }
            let task = Task { try await self.refreshUnderLock(force: force, logger: logger) }
            current = task
            return task
        }
        defer { inFlight.withLock { if $0 == task { $0 = nil } } }
        return try await task.value
    }

    private func refreshUnderLock(force: Force?, logger: Logger) async throws -> (ConnectionSecrets, Int64) {
        let vault = credentials.vault
        let outcome: Result<(ConnectionSecrets, Int64), TokenRefreshRejected> = try await credentials.store.inTenant(
            tenantID, logger: logger
        ) { connection in
            guard
                let row = try await connection.query(
                    """
                    SELECT nonce, ciphertext, updated_at, generation FROM erp_connection_credentials
                    WHERE connection_id = \(connectionID) FOR UPDATE
                    """, logger: logger
                ).first
            else {
                return .failure(TokenRefreshRejected(error: "no_credentials"))
            }
            let current = try vault.open(
                nonce: Array(try row.decode(Data.self, "nonce")), ciphertext: Array(try row.decode(Data.self, "ciphertext")),
                tenantID: tenantID, connectionID: connectionID)
            // Re-read under the lock: another replica may have refreshed while we waited.
            let generation = try row.decode(Int64.self, "generation")
            switch force {
            case .rotatedSince(let since):
                if try row.decode(Date.self, "updated_at") >= since { return .success((current, generation)) }
            case .generationAbove(let served):
                if generation > served { return .success((current, generation)) }
            case nil:
                if !needsRefresh(current) { return .success((current, generation)) }
            }
            guard let refreshToken = current.refreshToken else { return .failure(TokenRefreshRejected(error: "no_refresh_token")) }
            let fresh: ConnectionSecrets
            do {
                fresh = try await refresher.refresh(refreshToken: refreshToken, logger: logger)
            } catch let rejected as TokenRefreshRejected {
                try await connection.execute(
                    """
                    UPDATE erp_connections SET status = 'needs_reauth', updated_at = now()
                    WHERE connection_id = \(connectionID) AND status = 'active'
                    """, logger: logger)
                try await connection.execute(
                    """
                    UPDATE erp_connection_settings SET reauth_reason = 'erp.auth_lost', reauth_at = now(), updated_at = now()
                    WHERE connection_id = \(connectionID)
                    """, logger: logger)
                return .failure(rejected)
            }
            var stored = fresh
            if stored.refreshToken == nil { stored.refreshToken = refreshToken }  // providers that do not rotate
            let sealed = try vault.seal(stored, tenantID: tenantID, connectionID: connectionID)
            try await connection.execute(
                """
                UPDATE erp_connection_credentials
                SET key_id = \(vault.keyID), nonce = \(Data(sealed.nonce)), ciphertext = \(Data(sealed.ciphertext)),
                    access_expires_at = \(stored.accessExpiresAt), generation = generation + 1,
                    updated_at = clock_timestamp()
                WHERE connection_id = \(connectionID)
                """, logger: logger)
            return .success((stored, generation + 1))
        }
        switch outcome {
        case .success(let secrets): return secrets
        case .failure(let rejected):
            logger.warning(
                "Token refresh rejected; the connection needs re-authorization",
                metadata: ["erp": "\(erp)", "erp.connection_id": "\(connectionID)", "oauth.error": "\(rejected.error)"])
            throw ConnectorFailure(
                reason: .erpAuthLost, disposition: .reauthorize, erp: erp, erpCode: rejected.error,
                detail: "token refresh rejected")
        }
    }
}

/// The token provider of one job's connector (``RefreshingAccessTokenProvider/jobScoped()``): serves the shared
/// provider's tokens and remembers the credentials generation of the last one it served, so that a 401 forces a
/// refresh only when that token is still the stored one.
public final class JobScopedTokenProvider: ForceRefreshingTokenProvider, Sendable {
    /// The connection's shared provider (single flight).
    public let shared: RefreshingAccessTokenProvider
    private let served = Mutex<Int64?>(nil)

    init(shared: RefreshingAccessTokenProvider) { self.shared = shared }

    /// A valid access token (see ``RefreshingAccessTokenProvider/accessToken(logger:)``).
    public func accessToken(logger: Logger) async throws -> AccessToken {
        do {
            let (token, generation) = try await shared.servedToken(logger: logger)
            served.withLock { $0 = generation }
            return token
        } catch let failure as ConnectorFailure {
            throw failure
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ConnectorFailure(
                reason: .erpTransient, disposition: .retry, erp: shared.erp,
                detail: "credentials could not be read or refreshed (\(type(of: error)))")
        }
    }

    /// Refreshes unless the token served last was rotated since; without a served token, unless rotated at or after
    /// `since`.
    public func forceRefresh(unlessRotatedSince since: Date, logger: Logger) async throws {
        if let generation = served.withLock({ $0 }) {
            try await shared.forceRefresh(unlessGenerationAbove: generation, logger: logger)
        } else {
            try await shared.forceRefresh(unlessRotatedSince: since, logger: logger)
        }
    }
}
