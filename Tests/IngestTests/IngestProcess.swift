import Foundation
import TestSupport
import Testing

/// The built `ingest` executable, run as a child process (for crash and shutdown tests).
final class IngestProcess: @unchecked Sendable {
    // @unchecked: `process` is only touched by the test task that owns this object.
    let process: Process
    let logFile: URL

    /// Where the executable is: next to the test bundle (`.build/<triple>/debug/ingest`), or
    /// `LEDGERLINE_INGEST_BINARY`.
    static func executable() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [URL] = []
        if let explicit = environment["LEDGERLINE_INGEST_BINARY"] { candidates.append(URL(fileURLWithPath: explicit)) }
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        candidates.append(bundleDirectory.appendingPathComponent("ingest"))
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("ingest"))
        candidates.append(Bundle.main.bundleURL.appendingPathComponent("ingest"))
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate
        }
        throw MissingExecutable(searched: candidates.map(\.path))
    }

    struct MissingExecutable: Error, CustomStringConvertible {
        var searched: [String]
        var description: String {
            "the ingest executable was not found (build it: swift build --build-tests); looked in \(searched.joined(separator: ", "))"
        }
    }

    /// Starts `ingest` with the test servers' settings plus `extra`.
    init(_ extra: [String: String], name: String) throws {
        var environment = ProcessInfo.processInfo.environment
        environment["LEDGERLINE_ADMIN_PORT"] = "0"
        environment["LEDGERLINE_LOG_FORMAT"] = "json"
        environment["LEDGERLINE_LOG_LEVEL"] = "info"
        environment["LEDGERLINE_SHUTDOWN_GRACE_SECONDS"] = "10"
        environment["LEDGERLINE_INGEST_JOBS_EXCHANGE"] = IngestStack.jobsExchange
        environment["LEDGERLINE_INGEST_AUDIT_EXCHANGE"] = IngestStack.auditExchange
        environment["LEDGERLINE_INGEST_HTTP_ENABLED"] = "false"
        environment["LEDGERLINE_OUTBOX_POLL_SECONDS"] = "0.5"
        for (key, value) in extra { environment[key] = value }
        logFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logFile)
        process = Process()
        process.executableURL = try Self.executable()
        process.environment = environment
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    func kill9() { kill(process.processIdentifier, SIGKILL) }
    func terminate() { kill(process.processIdentifier, SIGTERM) }

    /// Waits for the process to exit; returns its status, or nil after `timeout` (then kills it).
    func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                kill9()
                return nil
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    /// Waits until the log contains `text`.
    func waitForLog(_ text: String, timeout: Duration = .seconds(20)) async throws {
        try await IngestStack.eventually(timeout: timeout, "ingest log line \"\(text)\"") {
            if !process.isRunning { throw Exited(log: log) }
            return log.contains(text)
        }
    }

    struct Exited: Error, CustomStringConvertible {
        var log: String
        var description: String { "ingest exited early; log:\n\(log.suffix(3000))" }
    }
}

extension IngestProcess {
    /// Runs `ingest <arguments>` to completion and returns its status and output (bounded by `timeout`).
    static func run(_ arguments: [String], environment extra: [String: String] = [:], timeout: Duration = .seconds(30))
        async throws -> (status: Int32, output: String)
    {
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in extra { environment[key] = value }
        let process = Process()
        process.executableURL = try executable()
        process.arguments = arguments
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline { kill(process.processIdentifier, SIGKILL) }
            try await Task.sleep(for: .milliseconds(20))
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
