import Crypto
import Foundation
import Logging
import Postgres
import Synchronization

/// The HTTP signing secrets of each tenant, read from `tenant_signing_secrets`, opened with the keyring, and
/// cached briefly (so a rotation or revocation takes effect within ``cacheTTL``).
///
/// Secrets never leave this type except as HMAC keys, and are never logged.
final class SigningSecretStore: Sendable {
    private let pool: PostgresPool
    private let keyring: SecretKeyring
    private let logger: Logger
    /// How long a tenant's secrets are cached. Default 30 s.
    let cacheTTL: Duration
    /// How long "no such tenant / no secret" is cached. Default 5 s.
    let negativeTTL: Duration
    private let cache = Mutex<[String: Entry]>([:])

    private struct Entry {
        var secrets: [[UInt8]]
        var expires: ContinuousClock.Instant
    }

    init(pool: PostgresPool, keyring: SecretKeyring, cacheTTL: Duration = .seconds(30), negativeTTL: Duration = .seconds(5),
         logger: Logger) {
        self.pool = pool
        self.keyring = keyring
        self.cacheTTL = cacheTTL
        self.negativeTTL = negativeTTL
        self.logger = logger
    }

    /// The tenant's active secrets as HMAC keys (empty for an unknown tenant or one without secrets).
    /// - Throws: a Postgres error when the database is unavailable.
    func secrets(for tenant: String) async throws -> [[UInt8]] {
        let now = ContinuousClock.now
        if let entry = cache.withLock({ $0[tenant] }), entry.expires > now { return entry.secrets }
        let rows = try await pool.withTransaction(logger: logger) { connection in
            try await connection.query(
                "SELECT set_config('ledgerline.tenant_id', \(tenant), true)", logger: logger)
            return try await connection.query(
                """
                SELECT secret_id, key_id, ciphertext FROM tenant_signing_secrets
                WHERE tenant_id = \(tenant) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
                ORDER BY created_at DESC
                """, logger: logger)
        }
        var secrets: [[UInt8]] = []
        for row in rows {
            let secretID = try row.decode(UUID.self, "secret_id")
            let keyID = try row.decode(String.self, "key_id")
            guard let box = keyring.box(keyID: keyID) else {
                logger.error("Signing secret sealed with an unknown key; set LEDGERLINE_SECRETS_PREVIOUS_KEYS", metadata: [
                    "tenant.id": "\(tenant)", "secret.key_id": "\(keyID)",
                ])
                continue
            }
            do {
                secrets.append(try box.open(
                    try row.decode([UInt8].self, "ciphertext"),
                    associatedData: Self.associatedData(tenant: tenant, secretID: secretID)))
            } catch {
                logger.error("Signing secret does not open (altered or moved ciphertext)", metadata: [
                    "tenant.id": "\(tenant)", "secret.id": "\(secretID)",
                ])
            }
        }
        let ttl = secrets.isEmpty ? negativeTTL : cacheTTL
        cache.withLock { $0[tenant] = Entry(secrets: secrets, expires: now.advanced(by: ttl)) }
        return secrets
    }

    /// Forgets cached secrets (all tenants, or one).
    func invalidate(tenant: String? = nil) {
        cache.withLock { cache in
            if let tenant { cache[tenant] = nil } else { cache.removeAll() }
        }
    }

    /// Binds a ciphertext to its row: the tenant and the secret's id.
    static func associatedData(tenant: String, secretID: UUID) -> [UInt8] {
        Array("ledgerline/tenant-signing-secret/v1\n\(tenant)\n\(secretID.uuidString.lowercased())".utf8)
    }
}
