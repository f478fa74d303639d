import Foundation
import Testing

/// Where the integration tests find the real servers that the test command started.
///
/// Settings come from the environment that `deploy/local-stack.sh env` prints. On a laptop with no
/// servers the integration suites skip with a reason; with `REQUIRE_INTEGRATION=1` (set by the
/// README's test command and CI) a missing server fails instead.
public enum TestEnvironment {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// `postgres://user@host:port/database`, without a password.
    public static var postgresURL: String? { environment["LEDGERLINE_POSTGRES_URL"] }
    /// The Postgres password, kept apart from the URL (empty for the local trust setup).
    public static var postgresPassword: String? { environment["LEDGERLINE_POSTGRES_PASSWORD"] }
    /// `amqp://user@host:port/vhost`, without a password.
    public static var amqpURL: String? { environment["LEDGERLINE_AMQP_URL"] }
    /// The AMQP password, kept apart from the URL.
    public static var amqpPassword: String? { environment["LEDGERLINE_AMQP_PASSWORD"] }
    /// True when missing servers must fail the run instead of skipping.
    public static var integrationRequired: Bool { environment["REQUIRE_INTEGRATION"] == "1" }

    /// The repository root, found from this file's location.
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    /// Runs `deploy/local-stack.sh <command>` (e.g. `restart-rabbitmq`, `stop-postgres`) against the
    /// stack these tests use, and waits for it to finish.
    public static func stack(_ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [repositoryRoot.appendingPathComponent("deploy/local-stack.sh").path, command]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw StackCommandFailed(command: command, status: process.terminationStatus)
        }
    }

    /// Runs `deploy/local-stack.sh <command>` without blocking a Swift concurrency thread.
    public static func stackAsync(_ command: String) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread { continuation.resume(with: Result { try stack(command) }) }
            thread.start()
        }
    }
}

/// A `deploy/local-stack.sh` command exited non-zero.
public struct StackCommandFailed: Error, CustomStringConvertible {
    public let command: String
    public let status: Int32
    public var description: String { "deploy/local-stack.sh \(command) exited with status \(status)" }
}

extension Trait where Self == ConditionTrait {
    /// Runs the suite only when a Postgres server is configured (or fails when one is required).
    public static var requiresPostgres: Self {
        .enabled(
            if: TestEnvironment.postgresURL != nil || TestEnvironment.integrationRequired,
            "set LEDGERLINE_POSTGRES_URL (eval \"$(deploy/local-stack.sh env)\") to run")
    }

    /// Runs the suite only when a RabbitMQ broker is configured (or fails when one is required).
    public static var requiresRabbitMQ: Self {
        .enabled(
            if: TestEnvironment.amqpURL != nil || TestEnvironment.integrationRequired,
            "set LEDGERLINE_AMQP_URL (eval \"$(deploy/local-stack.sh env)\") to run")
    }
}

/// Reads a required setting in an integration test: a clear failure, never a silent skip.
public func requiredSetting(_ value: String?, _ name: String) throws -> String {
    guard let value, !value.isEmpty else {
        throw MissingTestSetting(name: name)
    }
    return value
}

/// An integration setting is missing although the suite was asked to run.
public struct MissingTestSetting: Error, CustomStringConvertible {
    public let name: String
    public var description: String {
        "\(name) is not set; start the stack with deploy/local-stack.sh up and eval \"$(deploy/local-stack.sh env)\""
    }
}
