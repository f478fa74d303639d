public import Connectors
import Crypto
public import Domain
public import Foundation
public import Logging
import Metrics
import Postgres
import Synchronization

/// OAuth2 tokens or API secrets of one connection, as sealed in `erp_connection_credentials`.
public struct ConnectionSecrets: Sendable, Equatable, Codable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The access token (or API key).
    public var accessToken: String
    /// The refresh token, when the ERP uses OAuth2.
    public var refreshToken: String?
    /// When the access token expires (from `expires_in` and our receive time).
    public var accessExpiresAt: Date?

    /// Creates secrets.
    public init(accessToken: String, refreshToken: String? = nil, accessExpiresAt: Date? = nil) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.accessExpiresAt = accessExpiresAt
    }

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token", refreshToken = "refresh_token", accessExpiresAt = "access_expires_at"
    }

    /// Never shows a token.
    public var description: String { "ConnectionSecrets(redacted)" }
    /// Never shows a token.
    public var debugDescription: String { description }
}

/// Seals and opens connection secrets with AES-256-GCM under the key in `LEDGERLINE_SECRETS_KEY` (32 bytes,
/// base64). The associated data is `ledgerline-credentials-v1|<tenant>|<connection>`, so a ciphertext copied
/// to another tenant's or connection's row does not open. Each seal uses a fresh random 96-bit nonce.
public struct CredentialVault: Sendable {
    /// A public identifier of the key (first 8 bytes of SHA-256("ledgerline key id" ‖ key), hex), stored with
    /// each ciphertext for key rotation. Same derivation as the ingest's signing-secret box.
    public let keyID: String
    private let keyBytes: [UInt8]

    /// Creates a vault from a base64 key of 32 bytes.
    /// - Throws: ``WorkerError`` (`credentials`) that never quotes the key.
    public init(base64Key: String) throws {
        guard let bytes = Data(base64Encoded: base64Key.trimmingCharacters(in: .whitespacesAndNewlines)),
            bytes.count == 32
        else {
            throw WorkerError(code: .credentials, reason: "LEDGERLINE_SECRETS_KEY must be 32 bytes in base64")
        }
        keyBytes = Array(bytes)
        keyID = Crypto.SHA256.hash(data: Array("ledgerline key id".utf8) + keyBytes).prefix(8)
            .map { String(format: "%02x", $0) }.joined()
    }

    static func associatedData(tenantID: TenantID, connectionID: UUID) -> [UInt8] {
        Array("ledgerline-credentials-v1|\(tenantID.rawValue)|\(connectionID.uuidString.lowercased())".utf8)
    }

    /// Seals `secrets` for one connection.
    /// - Returns: the nonce (12 bytes) and `ciphertext ‖ tag`.
    public func seal(
        _ secrets: ConnectionSecrets, tenantID: TenantID, connectionID: UUID
    ) throws -> (nonce: [UInt8], ciphertext: [UInt8]) {
        do {
            let plaintext = try JSONEncoder().encode(secrets)
            let box = try AES.GCM.seal(
                plaintext, using: SymmetricKey(data: keyBytes), nonce: AES.GCM.Nonce(),
                authenticating: Self.associatedData(tenantID: tenantID, connectionID: connectionID))
            return (Array(box.nonce), Array(box.ciphertext) + Array(box.tag))
        } catch {
            throw WorkerError(code: .credentials, reason: "could not seal the connection's secrets")
        }
    }

    /// Opens what ``seal(_:tenantID:connectionID:)`` produced for the same tenant and connection.
    public func open(
        nonce: [UInt8], ciphertext: [UInt8], tenantID: TenantID, connectionID: UUID
    ) throws -> ConnectionSecrets {
        do {
            guard ciphertext.count >= 16 else { throw CancellationError() }
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: nonce), ciphertext: ciphertext.dropLast(16), tag: ciphertext.suffix(16))
            let plaintext = try AES.GCM.open(
                box, using: SymmetricKey(data: keyBytes),
                authenticating: Self.associatedData(tenantID: tenantID, connectionID: connectionID))
            return try JSONDecoder().decode(ConnectionSecrets.self, from: plaintext)
        } catch {
            throw WorkerError(code: .credentials, reason: "the connection's secrets do not open with this key and connection")
        }
    }
}

/// Reads and writes sealed credentials (`erp_connection_credentials`).
public struct CredentialStore: Sendable {
    /// The store (tenant-scoped transactions).
    public let store: SyncStateStore
    /// The vault.
    public let vault: CredentialVault

    /// Creates a credential store.
    public init(store: SyncStateStore, vault: CredentialVault) {
        self.store = store
        self.vault = vault
    }

    /// Seals and stores (or replaces) a connection's secrets, bumping the generation.
    public func save(_ secrets: ConnectionSecrets, tenantID: TenantID, connectionID: UUID, logger: Logger) async throws {
        let sealed = try vault.seal(secrets, tenantID: tenantID, connectionID: connectionID)
        try await store.inTenant(tenantID, logger: logger) { connection in
            try await connection.execute(
                """
                INSERT INTO erp_connection_credentials AS c
                       (connection_id, tenant_id, key_id, nonce, ciphertext, access_expires_at)
                VALUES (\(connectionID), \(tenantID.rawValue), \(vault.keyID), \(Data(sealed.nonce)),
                        \(Data(sealed.ciphertext)), \(secrets.accessExpiresAt))
                ON CONFLICT (connection_id) DO UPDATE
                SET key_id = EXCLUDED.key_id, nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext,
                    access_expires_at = EXCLUDED.access_expires_at, generation = c.generation + 1, updated_at = now()
                """, logger: logger)
        }
    }

    /// The connection's secrets, or nil when none are stored.
    public func load(tenantID: TenantID, connectionID: UUID, logger: Logger) async throws -> ConnectionSecrets? {
        try await loadVersioned(tenantID: tenantID, connectionID: connectionID, logger: logger)?.secrets
    }

    /// The connection's secrets and their `generation` (bumped by every save and refresh), or nil.
    public func loadVersioned(
        tenantID: TenantID, connectionID: UUID, logger: Logger
    ) async throws -> (secrets: ConnectionSecrets, generation: Int64)? {
        let row = try await store.inTenant(tenantID, logger: logger) { connection in
            try await connection.query(
                "SELECT nonce, ciphertext, generation FROM erp_connection_credentials WHERE connection_id = \(connectionID)",
                logger: logger
            ).first.map {
                (
                    Array(try $0.decode(Data.self, "nonce")), Array(try $0.decode(Data.self, "ciphertext")),
                    try $0.decode(Int64.self, "generation")
                )
            }
        }
        guard let (nonce, ciphertext, generation) = row else { return nil }
        return (
            try vault.open(nonce: nonce, ciphertext: ciphertext, tenantID: tenantID, connectionID: connectionID),
            generation
        )
    }
}

/// An `AccessTokenProvider` over the sealed credentials. It does not refresh yet (see docs/worker-runtime.md):
/// a missing or expired token is reported as `erp.auth_lost` (disposition reauthorize), which parks the job and
/// marks the connection `needs_reauth`.
public struct StoredAccessTokenProvider: AccessTokenProvider {
    let credentials: CredentialStore
    let tenantID: TenantID
    let connectionID: UUID
    let erp: ERP
    let horizon: TokenHorizon?

    /// Creates a provider for one connection.
    /// - Parameter horizon: where each token's expiry is reported (the token-horizon gauge), if anywhere.
    public init(
        credentials: CredentialStore, tenantID: TenantID, connectionID: UUID, erp: ERP, horizon: TokenHorizon? = nil
    ) {
        self.credentials = credentials
        self.tenantID = tenantID
        self.connectionID = connectionID
        self.erp = erp
        self.horizon = horizon
    }

    /// The stored access token.
    /// - Throws: ``Connectors/ConnectorFailure``: `erp.auth_lost` when none is stored or it expired; `erp.transient`
    ///   when the store could not be read (so a database hiccup never marks the connection `needs_reauth`: the
    ///   connectors treat any other provider error as lost authorization).
    public func accessToken(logger: Logger) async throws -> AccessToken {
        let loaded: ConnectionSecrets?
        do {
            loaded = try await credentials.load(tenantID: tenantID, connectionID: connectionID, logger: logger)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ConnectorFailure(
                reason: .erpTransient, disposition: .retry, erp: erp,
                detail: "the stored credentials could not be read (\(type(of: error)))")
        }
        guard let secrets = loaded
        else {
            throw ConnectorFailure(
                reason: .erpAuthLost, disposition: .reauthorize, erp: erp, detail: "no credentials stored")
        }
        horizon?.observe(tenantID: tenantID, connectionID: connectionID, expiresAt: secrets.accessExpiresAt)
        if let expiry = secrets.accessExpiresAt, expiry <= Date() {
            throw ConnectorFailure(
                reason: .erpAuthLost, disposition: .reauthorize, erp: erp,
                detail: "access token expired and refresh is not implemented yet")
        }
        return AccessToken(secrets.accessToken, expiresAt: secrets.accessExpiresAt)
    }
}

/// The soonest access-token expiry this process knows for one ERP, published as the gauge
/// `ledgerline_worker_token_expires_in_seconds{erp}` (seconds from now; negative when a known token already
/// expired). The token providers report every token they hand out or refresh; one instance per worker process
/// (``StoredConnectorFactory`` owns it).
public final class TokenHorizon: Sendable {
    /// The ERP (the gauge's dimension).
    public let erp: ERP
    private let expiries = Mutex<[String: Date]>([:])  // key: tenant|connection

    /// Creates a tracker.
    public init(erp: ERP) { self.erp = erp }

    /// Records a connection's current access-token expiry and updates the gauge.
    public func observe(tenantID: TenantID, connectionID: UUID, expiresAt: Date?) {
        guard let expiresAt else { return }
        let key = "\(tenantID.rawValue)|\(connectionID.uuidString)"
        let soonest = expiries.withLock { expiries -> Date in
            expiries[key] = expiresAt
            return expiries.values.min() ?? expiresAt
        }
        Gauge(label: "ledgerline_worker_token_expires_in_seconds", dimensions: [("erp", erp.rawValue)])
            .record(soonest.timeIntervalSinceNow)
    }

    /// Seconds until the soonest known expiry, or nil when no expiring token was seen.
    public var secondsLeft: Double? {
        expiries.withLock { $0.values.min() }.map { $0.timeIntervalSinceNow }
    }
}
