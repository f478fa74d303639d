public import Logging
public import Postgres

/// The tenant a transaction works for: the `ledgerline.tenant_id` setting every row-level security
/// policy compares `tenant_id` with.
public enum TenantScope {
    /// The name of the setting.
    public static let settingName = "ledgerline.tenant_id"

    /// Sets the tenant for the rest of the current transaction (`set_config(…, true)`); the next
    /// call in the same transaction switches it. Outside a transaction it lasts one statement only,
    /// so call it inside `withTransaction`.
    public static func enter(_ tenantID: String, on connection: PostgresConnection, logger: Logger) async throws {
        _ = try await connection.query("SELECT set_config('ledgerline.tenant_id', \(tenantID), true)", logger: logger)
    }
}
