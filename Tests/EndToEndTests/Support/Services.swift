import Foundation
import Glibc
import Logging
import Synchronization
import TestSupport

/// One Ledgerline executable started by a test (erp-sim, ingest, a worker…), with its output in a log file.
final class ServiceProcess: Sendable {
    let name: String
    let log: URL
    private let process: Process

    init(name: String, process: Process, log: URL) {
        self.name = name
        self.process = process
        self.log = log
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// A real `kill -9`: no cleanup, no graceful shutdown.
    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then waits (SIGKILL after 15 s).
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(15)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill9() }
    }

    /// Waits for the process to end by itself (e.g. a crash injection); true if it did within `timeout`.
    func waitForExit(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        return !process.isRunning
    }

    var terminationSignal: Int32? {
        !process.isRunning && process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil
    }

    /// The last lines of its log (for failure messages).
    func tail(_ lines: Int = 15) -> String {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

/// Starts the built executables with the test stack's settings.
enum Services {
    /// Where `swift build` put the executables (`LEDGERLINE_BIN_DIR` overrides).
    static var binDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["LEDGERLINE_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        return TestEnvironment.repositoryRoot.appendingPathComponent(".build/debug")
    }

    static let logDirectory: URL = {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("ledgerline-e2e-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// The key sealing connection credentials in these tests.
    static let secretsKey = "ZTJlLXRlc3RzLW9ubHktc2VjcmV0cy1rZXktMzJieXQ="

    private static let counter = Atomic<Int>(0)

    /// Starts `executable` with the stack's environment plus `environment`.
    static func start(_ executable: String, name: String? = nil, arguments: [String] = [], environment: [String: String] = [:])
        throws -> ServiceProcess
    {
        let binary = binDirectory.appendingPathComponent(executable)
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw HarnessError("\(binary.path) is missing: build first (swift build)")
        }
        let label = name ?? executable
        let log = logDirectory.appendingPathComponent("\(label)-\(counter.add(1, ordering: .relaxed).newValue).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["LEDGERLINE_SECRETS_KEY"] = secretsKey
        env["LEDGERLINE_LOG_FORMAT"] = "json"
        env["LEDGERLINE_LOG_LEVEL"] = env["LEDGERLINE_E2E_LOG_LEVEL"] ?? "info"
        env["LEDGERLINE_MIGRATIONS_DIR"] = TestEnvironment.repositoryRoot.appendingPathComponent("deploy/migrations").path
        env["LEDGERLINE_TOPOLOGY_FILE"] =
            TestEnvironment.repositoryRoot.appendingPathComponent("deploy/rabbitmq/topology.json").path
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return ServiceProcess(name: label, process: process, log: log)
    }

    /// Runs a command-line tool (syncctl, `ingest admin`) to completion and returns its standard output.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
        let process = Process()
        process.executableURL = binDirectory.appendingPathComponent(executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["LEDGERLINE_SECRETS_KEY"] = secretsKey
        env["LEDGERLINE_MIGRATIONS_DIR"] = TestEnvironment.repositoryRoot.appendingPathComponent("deploy/migrations").path
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw HarnessError(
                "\(executable) \(arguments.prefix(2).joined(separator: " ")) exited \(process.terminationStatus): "
                    + String(decoding: errorData, as: UTF8.self) + text)
        }
        return text
    }

    /// A free TCP port on 127.0.0.1.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw HarnessError("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A failure of the harness itself (a service did not start, a tool failed).
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` until it is true or `timeout` passes.
func eventually(
    _ what: String, timeout: Duration = .seconds(60), every interval: Duration = .milliseconds(200),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    throw HarnessError("timed out after \(timeout) waiting for \(what)")
}
