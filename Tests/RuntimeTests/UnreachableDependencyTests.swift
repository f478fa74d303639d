import Foundation
import Testing
import TestSupport

/// A process given an unreachable database or broker names the host in a clear log line, never
/// the password, and retries with backoff instead of crash-looping. Checked on the real
/// `syncctl` executable, which shares the retry and logging code of every service.
struct UnreachableDependencyTests {
    static var syncctl: URL {
        // The test bundle sits in the same build folder as the executables.
        var url = Bundle.main.bundleURL
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("syncctl").path) {
            url.deleteLastPathComponent()
        }
        return url.appendingPathComponent("syncctl")
    }

    /// Runs syncctl with `environment`, returns (exit status, standard error).
    func run(_ arguments: [String], environment: [String: String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = Self.syncctl
        process.arguments = arguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { a, _ in a }
        process.currentDirectoryURL = TestEnvironment.repositoryRoot
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    @Test func unreachableDatabaseIsNamedAndRetriedWithoutThePassword() throws {
        try #require(FileManager.default.fileExists(atPath: Self.syncctl.path), "build syncctl first")
        let (status, stderr) = try run(
            ["migrate", "--wait", "2.5"],
            environment: [
                "LEDGERLINE_POSTGRES_URL": "postgres://svc@127.0.0.1:1/ledgerline",
                "LEDGERLINE_POSTGRES_PASSWORD": "Sup3rSecretPw",
            ])
        #expect(status != 0)
        let retries = stderr.split(separator: "\n").filter { $0.contains("Cannot reach dependency; retrying") }
        #expect(retries.count >= 3, "retried with backoff: \(stderr)")
        #expect(retries.allSatisfy { $0.contains("endpoint=127.0.0.1:1") })
        #expect(stderr.contains("connecting to Postgres at 127.0.0.1:1 did not finish within"))
        #expect(!stderr.contains("Sup3rSecretPw"))
    }

    @Test func unreachableBrokerIsNamedAndRetriedWithoutThePassword() throws {
        try #require(FileManager.default.fileExists(atPath: Self.syncctl.path), "build syncctl first")
        let (status, stderr) = try run(
            ["topology", "--wait", "2.5"],
            environment: ["LEDGERLINE_AMQP_URL": "amqp://svc@127.0.0.1:1/%2F", "LEDGERLINE_AMQP_PASSWORD": "Br0kerSecret"])
        #expect(status != 0)
        let retries = stderr.split(separator: "\n").filter { $0.contains("Cannot reach dependency; retrying") }
        #expect(retries.count >= 3, "retried with backoff: \(stderr)")
        #expect(retries.allSatisfy { $0.contains("endpoint=127.0.0.1:1") && $0.contains("dependency=rabbitmq") })
        #expect(!stderr.contains("Br0kerSecret"))
    }

    @Test func malformedSettingIsOneClearLine() throws {
        let (status, stderr) = try run(["migrate"], environment: ["LEDGERLINE_POSTGRES_URL": "mysql://nope"])
        #expect(status != 0)
        #expect(stderr.contains("LEDGERLINE_POSTGRES_URL is not a usable postgres:// URL"))
    }
}
