import Foundation
import Postgres
import TestSupport
import Testing

@testable import Ingest

@Suite("ingest admin", .requiresPostgres, .timeLimit(.minutes(1)))
struct AdminCommandTests {
    let key = ["LEDGERLINE_SECRETS_KEY": SecretKeyring.developmentKeyBase64]

    func value(_ name: String, in output: String) -> String? {
        output.split(separator: "\n").first { $0.hasPrefix("\(name)=") }.map { String($0.dropFirst(name.count + 1)) }
    }

    @Test func registersATenantLocationSecretAndConnection() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let tenant = IngestStack.unique("ingt")
        let added = try await IngestProcess.run(
            ["admin", "tenant-add", "--tenant", tenant, "--name", "Admin Test", "--location", "loc-9",
             "--time-zone", "Europe/London"], environment: key)
        #expect(added.status == 0, "\(added.output)")
        #expect(value("tenant", in: added.output) == tenant)
        #expect(value("location", in: added.output) == "loc-9")
        let secret = try #require(value("secret", in: added.output))
        #expect(secret.hasPrefix("llsec_"))
        let secretID = try #require(value("secret_id", in: added.output).flatMap(UUID.init(uuidString:)))

        let connection = try await IngestProcess.run(
            ["admin", "connection-add", "--tenant", tenant, "--location", "loc-9", "--erp", "xero", "--no-push-payments"])
        #expect(connection.status == 0, "\(connection.output)")
        let connectionID = try #require(value("connection_id", in: connection.output).flatMap(UUID.init(uuidString:)))
        let row = try await pool.query(
            "SELECT erp, status, push_invoices, push_payments FROM erp_connections WHERE connection_id = \(connectionID)")
        #expect(try row[0].decode(String.self, "erp") == "xero")
        #expect(try row[0].decode(Bool.self, "push_invoices"))
        #expect(try !row[0].decode(Bool.self, "push_payments"))
        #expect(try await IngestStack.count(
            pool, "SELECT count(*) AS n FROM locations WHERE tenant_id = \(tenant) AND time_zone = 'Europe/London'") == 1)

        let revoked = try await IngestProcess.run(
            ["admin", "secret-revoke", "--tenant", tenant, "--secret-id", secretID.uuidString])
        #expect(revoked.status == 0)
        let again = try await IngestProcess.run(
            ["admin", "secret-revoke", "--tenant", tenant, "--secret-id", secretID.uuidString])
        #expect(again.status == 1)
        // Nothing printed the secret except the one line meant for the operator.
        #expect(!connection.output.contains(secret) && !revoked.output.contains(secret))
    }

    @Test func refusesBadUsageWithStatus2() async throws {
        let missing = try await IngestProcess.run(["admin", "tenant-add"], environment: key)
        #expect(missing.status == 2)
        #expect(missing.output.contains("--tenant is required"))
        let unknown = try await IngestProcess.run(["admin", "frobnicate"])
        #expect(unknown.status == 2)
        let noKey = try await IngestProcess.run(
            ["admin", "tenant-add", "--tenant", IngestStack.unique("ingt")], environment: ["LEDGERLINE_SECRETS_KEY": ""])
        #expect(noKey.status == 2)
        #expect(noKey.output.contains("LEDGERLINE_SECRETS_KEY"))
    }
}
