import Crypto
import Domain
import Foundation
import Logging
import Postgres

/// Operator functions: register tenants and locations, issue and revoke HTTP signing secrets, and add ERP
/// connections. Used by `ingest admin …`, the tests and the benchmark set-up.
///
/// Each function runs in its own transaction with the tenant set (row-level security applies to every role
/// that is not a superuser).
struct TenantAdmin: Sendable {
    let pool: PostgresPool
    let logger: Logger

    /// A signing secret as shown to the operator once (it is stored only encrypted).
    struct IssuedSecret: Sendable {
        var secretID: UUID
        /// The secret text; its UTF-8 bytes are the HMAC-SHA256 key.
        var secret: String
    }

    /// Registers a tenant; does nothing when it exists.
    func addTenant(_ tenant: String, displayName: String? = nil) async throws {
        try await pool.execute(
            """
            INSERT INTO tenants (tenant_id, display_name) VALUES (\(tenant), \(displayName ?? tenant))
            ON CONFLICT (tenant_id) DO NOTHING
            """, logger: logger)
    }

    /// Registers a location of a tenant; does nothing when it exists.
    func addLocation(_ location: String, tenant: String, displayName: String? = nil, timeZone: String = "UTC") async throws {
        try await pool.execute(
            """
            INSERT INTO locations (tenant_id, location_id, display_name, time_zone)
            VALUES (\(tenant), \(location), \(displayName ?? location), \(timeZone))
            ON CONFLICT (tenant_id, location_id) DO NOTHING
            """, logger: logger)
    }

    /// Issues a new signing secret for a tenant (earlier secrets stay valid until revoked, for rotation).
    ///
    /// - Parameters:
    ///   - secret: the secret text to store; nil generates one (`llsec_` + 43 base64url characters, 256 bits).
    ///   - keyring: seals the secret (AES-256-GCM, bound to tenant and secret id).
    ///   - expiresAt: when it stops being accepted; nil: until revoked.
    func issueSigningSecret(
        tenant: String, secret: String? = nil, keyring: SecretKeyring, expiresAt: Date? = nil
    ) async throws -> IssuedSecret {
        let text = secret ?? Self.generateSecret()
        let secretID = UUID()
        let sealed = try keyring.current.seal(
            Array(text.utf8), associatedData: SigningSecretStore.associatedData(tenant: tenant, secretID: secretID))
        try await pool.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT set_config('ledgerline.tenant_id', \(tenant), true)", logger: logger)
            try await connection.execute(
                """
                INSERT INTO tenant_signing_secrets (secret_id, tenant_id, key_id, ciphertext, expires_at)
                VALUES (\(secretID), \(tenant), \(keyring.current.keyID), \(sealed), \(expiresAt))
                """, logger: logger)
        }
        return IssuedSecret(secretID: secretID, secret: text)
    }

    /// Revokes a signing secret; returns false when no active secret had that id.
    func revokeSigningSecret(tenant: String, secretID: UUID) async throws -> Bool {
        try await pool.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT set_config('ledgerline.tenant_id', \(tenant), true)", logger: logger)
            return try await connection.execute(
                """
                UPDATE tenant_signing_secrets SET revoked_at = now()
                WHERE tenant_id = \(tenant) AND secret_id = \(secretID) AND revoked_at IS NULL
                """, logger: logger) == 1
        }
    }

    /// Adds (or updates the settings of) the connection of a location to an ERP; returns its id.
    func addConnection(
        tenant: String, location: String, erp: String, status: String = "active", pushInvoices: Bool = true,
        pushPayments: Bool = true, pushCustomers: Bool = true
    ) async throws -> UUID {
        try await pool.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT set_config('ledgerline.tenant_id', \(tenant), true)", logger: logger)
            let rows = try await connection.query(
                """
                INSERT INTO erp_connections (tenant_id, location_id, erp, status, push_invoices, push_payments,
                                             push_customers)
                VALUES (\(tenant), \(location), \(erp), \(status), \(pushInvoices), \(pushPayments), \(pushCustomers))
                ON CONFLICT (tenant_id, location_id, erp) DO UPDATE SET
                    status = EXCLUDED.status, push_invoices = EXCLUDED.push_invoices,
                    push_payments = EXCLUDED.push_payments, push_customers = EXCLUDED.push_customers, updated_at = now()
                RETURNING connection_id
                """, logger: logger)
            return try rows[0].decode(UUID.self, "connection_id")
        }
    }

    /// 256 random bits as `llsec_<base64url>`.
    static func generateSecret() -> String {
        let key = SymmetricKey(size: .bits256)
        let bytes = key.withUnsafeBytes { Data($0) }
        let base64 = bytes.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return "llsec_" + base64
    }
}
