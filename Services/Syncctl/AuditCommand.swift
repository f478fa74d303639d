import ArgumentParser
import AuditTrail
import Foundation
import Postgres

/// `syncctl audit`: checks of the append-only, hash-chained audit trail.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Verify the audit trail's hash chains and record verified checkpoints.",
        subcommands: [AuditVerify.self, AuditCheckpointCommand.self])
}

/// `syncctl audit verify [--tenant T] [--json]`: exits 1 when any chain is broken.
struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify each tenant's hash chain; report the first broken link and exit 1 if there is one.",
        discussion: """
            Without --tenant every tenant is verified (run it as the owner or a BYPASSRLS role to see \
            chains of tenants missing from the tenants table). Prints each chain's head hash: keep it \
            outside the database to detect a chain that was rewritten as a whole.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "Verify only this tenant.")
    var tenant: String?

    @Flag(help: "Print the results as JSON.")
    var json = false

    func run() async throws {
        let connection = try await connectPostgres(common)
        defer { connection.close() }
        let verifier = AuditVerifier()
        let results: [AuditVerification]
        if let tenant {
            results = [try await verifier.verify(tenant: tenant, on: connection, logger: common.logger)]
        } else {
            results = try await verifier.verifyAll(on: connection, logger: common.logger)
        }
        if json {
            print(try SyncLogFormatter.json(results))
        } else {
            if results.isEmpty { print("No audit chains found.") }
            for result in results {
                let range = result.firstSeq.map { "\($0)...\(result.lastSeq ?? $0)" } ?? "none"
                let start = result.startCheckpointSeq.map { ", from checkpoint \($0)" } ?? ""
                if let broken = result.firstBreak {
                    print("BROKEN  \(broken)")
                } else {
                    print("OK      tenant \(result.tenantID): \(result.rowsChecked) rows (\(range)\(start)), head \(result.headSeq ?? 0) \(result.headHash ?? "-")")
                }
            }
        }
        if results.contains(where: { !$0.isIntact }) { throw ExitCode(1) }
    }
}

/// `syncctl audit checkpoint --tenant T`: verify, then record a checkpoint at the last row.
struct AuditCheckpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Verify a tenant's chain and record a verified checkpoint at its last row (before archiving).")

    @OptionGroup var common: CommonOptions

    @Option(help: "The tenant.")
    var tenant: String

    func run() async throws {
        let connection = try await connectPostgres(common)
        defer { connection.close() }
        do {
            if let checkpoint = try await AuditVerifier().checkpoint(tenant: tenant, on: connection, logger: common.logger) {
                print("checkpoint tenant \(checkpoint.tenantID) at \(checkpoint.chainSeq) \(checkpoint.rowHash) (\(checkpoint.rowsVerified) rows verified)")
            } else {
                print("tenant \(tenant) has no audit rows; no checkpoint written")
            }
        } catch let error as AuditTrailError where error.code == .chainBroken {
            print("BROKEN  \(error.detail)")
            throw ExitCode(1)
        }
    }
}
