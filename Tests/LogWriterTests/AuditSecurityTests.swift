import AuditTrail
import Domain
import Foundation
import Postgres
import TestSupport
import Testing

@Suite(.requiresPostgres) struct AuditSecurityTests {
    /// Tables that carry a tenant_id but are the tenant directory itself (0001's `tenants` and
    /// `locations`): the scheduler lists them across tenants, and they hold no tenant's business data.
    /// Every other table with a tenant_id must have row-level security enabled and forced.
    static let tenantDirectoryTables: Set<String> = ["tenants", "locations"]

    @Test func everyTableWithATenantIDHasRowLevelSecurityEnabledAndForced() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let rows = try await pool.query(
            """
            SELECT n.nspname AS schema, c.relname AS name, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced,
                   EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) AS has_policy
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
            WHERE c.relkind IN ('r', 'p')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
            ORDER BY 1, 2
            """)
        var checked: [String] = []
        for row in rows {
            let name = try row.decode(String.self, "name")
            guard !Self.tenantDirectoryTables.contains(name) else { continue }
            checked.append(name)
            #expect(try row.decode(Bool.self, "enabled"), "\(name): row-level security is not enabled")
            #expect(try row.decode(Bool.self, "forced"), "\(name): row-level security is not forced")
            #expect(try row.decode(Bool.self, "has_policy"), "\(name): no policy")
        }
        #expect(Set(checked).isSuperset(of: ["audit_trail", "audit_chain_heads", "audit_checkpoints", "sync_sessions"]))
    }

    @Test func noRuntimeRoleBypassesRowLevelSecurityOrOwnsTheAuditTables() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let roles = try await pool.query(
            "SELECT rolname, rolbypassrls, rolsuper FROM pg_roles WHERE rolname LIKE 'ledgerline\\_%' AND NOT rolcanlogin")
        #expect(roles.count >= 2)
        for role in roles {
            #expect(try !role.decode(Bool.self, "rolbypassrls"))
            #expect(try !role.decode(Bool.self, "rolsuper"))
        }
        let owners = try await pool.query(
            """
            SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c
            WHERE c.relname IN ('audit_trail', 'audit_checkpoints', 'audit_chain_heads', 'sync_sessions')
              AND c.relkind = 'r'
            """)
        for owner in owners { #expect(try !owner.decode(String.self, "owner").hasPrefix("ledgerline_")) }
    }

    @Test func everyRuntimeRoleIsRefusedUpdateDeleteAndTruncateOnTheAuditTrail() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let tenant = try await AuditVerifyTests.chain(pool, rows: 3)
        let groups = try await pool.query(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'ledgerline\\_%' AND NOT rolcanlogin ORDER BY 1"
        ).map { try $0.decode(String.self, "rolname") }
        #expect(groups.contains("ledgerline_service"))
        #expect(groups.contains("ledgerline_finance"))
        for group in groups {
            let login = try await TestStack.createLogin(member: group, on: pool)
            let connection = try await TestStack.connect(as: login)
            defer { connection.close() }
            _ = try await connection.query("SELECT set_config('ledgerline.tenant_id', \(tenant), false)")
            try await connection.execute("SET default_transaction_read_only = off")
            for table in ["audit_trail", "audit_checkpoints"] {
                for statement in [
                    "UPDATE \(table) SET tenant_id = tenant_id WHERE tenant_id = $1",
                    "DELETE FROM \(table) WHERE tenant_id = $1",
                    "TRUNCATE \(table)",
                ] {
                    let binds: [any PostgresBindable] = statement.contains("$1") ? [tenant] : []
                    let error = await #expect(throws: PostgresError.self, "\(group): \(statement)") {
                        try await connection.execute(PostgresQuery(unsafeSQL: statement, binds: binds))
                    }
                    #expect(error?.sqlState == "42501", "\(group): \(statement) → \(error?.sqlState ?? "none")")
                }
            }
        }
        #expect(try await TestStack.auditRowCount(tenant, pool) == 3)
    }

    @Test func evenTheOwnerCannotChangeOrRemoveAuditRows() async throws {
        let pool = try await TestStack.ownerPool()
        defer { pool.close() }
        let tenant = try await AuditVerifyTests.chain(pool, rows: 2)
        for statement: PostgresQuery in [
            "UPDATE audit_trail SET message = 'x' WHERE tenant_id = \(tenant)",
            "DELETE FROM audit_trail WHERE tenant_id = \(tenant)",
            "TRUNCATE audit_trail",
            "TRUNCATE audit_checkpoints",
        ] {
            let error = await #expect(throws: PostgresError.self) { try await pool.execute(statement) }
            #expect(error?.sqlState == "P0001")
        }
        #expect(try await TestStack.auditRowCount(tenant, pool) == 2)
    }

    @Test func theServiceRoleWritesUnderRowLevelSecurityAndSeesOnlyItsTenant() async throws {
        let owner = try await TestStack.ownerPool()
        defer { owner.close() }
        let login = try await TestStack.createLogin(member: "ledgerline_service", on: owner)
        let servicePool = PostgresPool(configuration: try TestStack.postgres(user: login), maxConnections: 2, logger: TestStack.logger)
        defer { servicePool.close() }
        let a = SyncRunFixture(tenant: TestStack.unique("rls-a"))
        let b = SyncRunFixture(tenant: TestStack.unique("rls-b"))
        // The writer works as the service role (one batch spanning both tenants).
        let result = try await AuditTrailWriter(pool: servicePool).append(a.events + b.events, logger: TestStack.logger)
        #expect(result.stored == a.events.count + b.events.count)

        try await servicePool.withConnection { connection in
            // No tenant set: nothing at all.
            for table in ["audit_trail", "sync_sessions", "audit_chain_heads"] {
                let count = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) AS n FROM \(table)"))
                #expect(try count.first!.decode(Int.self, "n") == 0, "\(table) without a tenant")
            }
            try await connection.withTransaction { connection in
                try await TenantScope.enter(a.tenant, on: connection, logger: TestStack.logger)
                for table in ["audit_trail", "sync_sessions", "audit_chain_heads"] {
                    let rows = try await connection.query(
                        PostgresQuery(unsafeSQL: "SELECT tenant_id FROM \(table) WHERE tenant_id IN ($1, $2)", binds: [a.tenant, b.tenant]))
                    #expect(!rows.isEmpty, "\(table) shows tenant A")
                    #expect(try rows.allSatisfy { try $0.decode(String.self, "tenant_id") == a.tenant }, "\(table) leaks tenant B")
                }
            }
            // Writing tenant B's row while scoped to tenant A is refused.
            let error = await #expect(throws: PostgresError.self) {
                try await connection.withTransaction { connection in
                    try await TenantScope.enter(a.tenant, on: connection, logger: TestStack.logger)
                    try await connection.execute(
                        "INSERT INTO sync_sessions (tenant_id, session_id, session_kind) VALUES (\(b.tenant), \(UUID()), 'run')")
                }
            }
            #expect(error?.sqlState == "42501")
            // Finance views are not for the service role.
            await #expect(throws: PostgresError.self) { try await connection.query("SELECT * FROM finance.sync_sessions") }
        }
        // The sync log as the service role, scoped to tenant A.
        let sessions = try await servicePool.withConnection {
            try await SyncLog.sessions(SyncLogFilter(tenantID: a.tenant), on: $0, logger: TestStack.logger)
        }
        #expect(sessions.count == 3)
        #expect(sessions.allSatisfy { $0.tenantID == a.tenant })
    }

    @Test func theFinanceRoleReadsItsTenantsViewsOnlyAndCannotWrite() async throws {
        let owner = try await TestStack.ownerPool()
        defer { owner.close() }
        let a = SyncRunFixture(tenant: TestStack.unique("fin-a"))
        let b = SyncRunFixture(tenant: TestStack.unique("fin-b"))
        try await AuditTrailWriter(pool: owner).append(a.events + b.events, logger: TestStack.logger)
        let login = try await TestStack.createFinanceLogin(tenant: a.tenant, on: owner)
        let connection = try await TestStack.connect(as: login)
        defer { connection.close() }

        #expect(try await connection.query("SHOW default_transaction_read_only").first!.decode(String.self, at: 0) == "on")
        #expect(try await connection.query("SHOW statement_timeout").first!.decode(String.self, at: 0) == "30s")

        // No tables.
        for table in ["audit_trail", "sync_sessions", "audit_chain_heads", "reason_codes", "finance_tenant_access", "invoices", "tenants"] {
            let error = await #expect(throws: PostgresError.self, "\(table)") {
                try await connection.query(PostgresQuery(unsafeSQL: "SELECT 1 FROM \(table) LIMIT 1"))
            }
            #expect(error?.sqlState == "42501", "\(table)")
        }
        // Its own tenant through the views…
        _ = try await connection.query("SELECT set_config('ledgerline.tenant_id', \(a.tenant), false)")
        let sessions = try await connection.query("SELECT tenant_id FROM finance.sync_sessions")
        #expect(sessions.count == 3)
        let events = try await connection.query("SELECT tenant_id FROM finance.sync_events")
        #expect(events.count == 8)
        // …never another's, even when it names it.
        _ = try await connection.query("SELECT set_config('ledgerline.tenant_id', \(b.tenant), false)")
        for view in ["sync_sessions", "sync_events", "unsynced_invoices", "location_sync_status", "daily_reconciliation"] {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT 1 FROM finance.\(view)"))
            #expect(rows.isEmpty, "finance.\(view) shows another tenant")
        }
        // Writes are refused: read-only by default, and without privileges when read-only is switched off.
        let readOnly = await #expect(throws: PostgresError.self) {
            try await connection.execute("INSERT INTO audit_trail (tenant_id) VALUES ('x')")
        }
        #expect(["25006", "42501"].contains(readOnly?.sqlState ?? ""))
        try await connection.execute("SET default_transaction_read_only = off")
        for statement in [
            "INSERT INTO audit_trail (tenant_id) VALUES ('x')",
            "DELETE FROM finance.sync_events",
            "UPDATE finance.sync_sessions SET trigger = 'x'",
            "INSERT INTO finance_tenant_access (role_name, tenant_id) VALUES (session_user, '*')",
            "CALL ledgerline_grant_finance_access(session_user, '*')",
            "CREATE TABLE finance.sneaky (x int)",
        ] {
            let error = await #expect(throws: PostgresError.self, "\(statement)") {
                try await connection.execute(PostgresQuery(unsafeSQL: statement))
            }
            // 42501: no privilege; 55000: a view that is not updatable.
            #expect(["42501", "55000"].contains(error?.sqlState ?? ""), "\(statement) → \(error?.sqlState ?? "none")")
        }
    }
}
