import Foundation
import HTTP
import Logging
import Testing

/// Throwaway servers on 127.0.0.1 for the HTTP tests: the Python script in Support/ and nginx.
/// Every server is started inside a `with…` function that kills it on every exit path; the
/// Python script also exits by itself when the test process dies.
enum LocalServers {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let script = testsDirectory.appendingPathComponent("Support/test_server.py").path
    static let logger = Logger(label: "http-tests")

    /// Runs `body` with the port of a fresh `test_server.py` (plain HTTP, TLS, or blackhole).
    static func withPythonServer<R>(
        tls: Certificate? = nil, blackhole: Bool = false, _ body: (Int) async throws -> R
    ) async throws -> R {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let portFile = directory.path + "/port"
        var arguments = [script, "--port-file", portFile]
        if let tls { arguments += ["--tls", tls.certificatePath, tls.keyPath] }
        if blackhole { arguments.append("--blackhole") }
        let process = try ChildProcess(["python3"] + arguments, log: directory.path + "/server.log")
        defer { process.kill() }
        let port = try await waitForPortFile(portFile, process: process)
        return try await body(port)
    }

    /// Runs `body` with the HTTPS port of a fresh nginx (HTTP/2 enabled, `return 200`).
    static func withNginxTLS<R>(certificate: Certificate, _ body: (Int) async throws -> R) async throws -> R {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let port = try freePort()
        let root = directory.path
        let configuration = """
            master_process off;
            daemon off;
            pid \(root)/nginx.pid;
            error_log \(root)/error.log warn;
            events { worker_connections 256; }
            http {
                access_log off;
                client_body_temp_path \(root)/body;
                proxy_temp_path \(root)/proxy;
                fastcgi_temp_path \(root)/fastcgi;
                uwsgi_temp_path \(root)/uwsgi;
                scgi_temp_path \(root)/scgi;
                server {
                    listen 127.0.0.1:\(port) ssl http2;
                    ssl_certificate \(certificate.certificatePath);
                    ssl_certificate_key \(certificate.keyPath);
                    location / { return 200 "nginx"; }
                }
            }
            """
        try configuration.write(toFile: root + "/nginx.conf", atomically: true, encoding: .utf8)
        let nginx = FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx"
        // Single-process nginx under the script's supervisor: SIGTERM to the supervisor, or the
        // test process dying, stops nginx too.
        let process = try ChildProcess(
            ["python3", script, "--supervise", nginx, "-p", root, "-c", root + "/nginx.conf"], log: root + "/stdout.log"
        )
        defer { process.stop() }
        try await waitForListener(port: port, process: process)
        return try await body(port)
    }

    /// A self-signed certificate for 127.0.0.1 made with `openssl req -x509`.
    struct Certificate {
        let directory: TemporaryDirectory
        var certificatePath: String { directory.path + "/cert.pem" }
        var keyPath: String { directory.path + "/key.pem" }
    }

    /// Runs `body` with a fresh self-signed certificate, removed afterwards.
    static func withSelfSignedCertificate<R>(_ body: (Certificate) async throws -> R) async throws -> R {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificate = Certificate(directory: directory)
        let process = try ChildProcess(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", certificate.keyPath, "-out", certificate.certificatePath, "-days", "1",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ], log: directory.path + "/openssl.log")
        defer { process.kill() }
        let deadline = ContinuousClock.now + .seconds(20)
        while process.exitStatus == nil {
            guard ContinuousClock.now < deadline else { throw ServerFailure("openssl did not finish") }
            try await Task.sleep(for: .milliseconds(20))
        }
        guard process.exitStatus == 0 else { throw ServerFailure("openssl failed") }
        return try await body(certificate)
    }

    /// A port on 127.0.0.1 that nothing listens on (bound, then closed).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerFailure("socket failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw ServerFailure("bind failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    // MARK: Process plumbing

    private static func waitForPortFile(_ path: String, process: ChildProcess) async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), let port = Int(text) { return port }
            guard process.exitStatus == nil else { throw ServerFailure("test server exited during start-up") }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw ServerFailure("test server did not start within 15 s")
    }

    private static func waitForListener(port: Int, process: ChildProcess) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            guard process.exitStatus == nil else { throw ServerFailure("nginx exited during start-up") }
            if canConnect(port: port) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ServerFailure("nginx did not listen within 15 s")
    }

    private static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

/// A child process started with `posix_spawnp`, output to a log file, stdin from /dev/null.
/// Reaped with `waitpid` by this type only.
final class ChildProcess {
    let pid: pid_t
    private var status: Int32?

    init(_ arguments: [String], log: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid = pid_t()
        let result = posix_spawnp(&pid, arguments[0], &actions, nil, &argv, environ)
        guard result == 0 else { throw ServerFailure("cannot start \(arguments[0]): error \(result)") }
        self.pid = pid
    }

    /// The exit status once the process has ended, `nil` while it runs.
    var exitStatus: Int32? {
        if status == nil {
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid { status = (raw >> 8) & 0xFF }
        }
        return status
    }

    /// SIGKILL and reap (immediate).
    func kill() {
        guard exitStatus == nil else { return }
        Glibc.kill(pid, SIGKILL)
        var raw: Int32 = 0
        waitpid(pid, &raw, 0)
        status = -1
    }

    /// SIGTERM (so a supervisor can stop its child), up to 2 s to exit, then SIGKILL.
    func stop() {
        guard exitStatus == nil else { return }
        Glibc.kill(pid, SIGTERM)
        for _ in 0..<200 {
            if exitStatus != nil { return }
            usleep(10_000)
        }
        kill()
    }
}

/// A directory under /tmp, removed by `remove()`.
struct TemporaryDirectory {
    let path: String
    init() throws {
        var template = Array("/tmp/ledgerline-http-test.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ServerFailure("mkdtemp failed") }
        path = String(cString: made)
        chmod(path, 0o755)  // nginx workers may run as another user
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

struct ServerFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Measures how long `body` takes.
func timed<R>(_ body: () async throws -> R) async rethrows -> (R, Duration) {
    let clock = ContinuousClock()
    let start = clock.now
    let result = try await body()
    return (result, clock.now - start)
}

/// Runs `body` with a client that is shut down afterwards, whatever happens.
func withClient<R>(
    _ configure: (inout HTTPClientConfiguration) -> Void = { _ in }, _ body: (HTTPClient) async throws -> R
) async throws -> R {
    var configuration = HTTPClientConfiguration()
    configuration.connectTimeout = .seconds(5)
    configuration.requestTimeout = .seconds(10)  // no test request may hang
    configure(&configuration)
    let client = try HTTPClient(configuration: configuration, logger: LocalServers.logger)
    defer { client.shutdown() }
    return try await body(client)
}

/// The error `body` throws, or a test failure if it succeeds.
func capture(_ body: () async throws -> HTTPResponse) async -> (any Error)? {
    do {
        let response = try await body()
        Issue.record("expected an error, got status \(response.status)")
        return nil
    } catch {
        return error
    }
}
