import HTTP
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

struct BenchSettings: Sendable {
    var url: String
    var requests: Int
    var seconds: Int
    var inflight: Int
    var phases: Set<String>

    static func fromEnvironment() -> BenchSettings {
        func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        guard let url = env("LEDGERLINE_HTTP_BENCH_URL") else {
            print("set LEDGERLINE_HTTP_BENCH_URL (a local server answering POST with 201); see Benchmarks/http.sh")
            exit(2)
        }
        return BenchSettings(
            url: url, requests: env("LEDGERLINE_HTTP_BENCH_REQUESTS").flatMap(Int.init) ?? 20_000,
            seconds: env("LEDGERLINE_HTTP_BENCH_SECONDS").flatMap(Int.init) ?? 10,
            inflight: env("LEDGERLINE_HTTP_BENCH_INFLIGHT").flatMap(Int.init) ?? 32,
            phases: Set(
                (env("LEDGERLINE_HTTP_BENCH_PHASES") ?? "sequential,executor,concurrent").split(separator: ",")
                    .map(String.init)))
    }

    static var clientConfiguration: HTTPClientConfiguration {
        var configuration = HTTPClientConfiguration()
        configuration.maxConnectionsPerHost = 64
        return configuration
    }

    /// The same 1 KiB JSON document as Benchmarks/reference/http_ref.c.
    static let body: [UInt8] = {
        let head = Array(#"{"invoice":"INV-000001","currency":"NZD","note":""#.utf8)
        let tail = Array(#""}"#.utf8)
        return head + [UInt8](repeating: UInt8(ascii: "x"), count: 1024 - head.count - tail.count) + tail
    }()
}

struct BenchResult {
    var count: Int
    var elapsed: Duration
    var connections: Int
    var rate: Double {
        let (s, atto) = elapsed.components
        return Double(count) / (Double(s) + Double(atto) / 1e18)
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
}

enum Bench {
    static func sequential(
        client: HTTPClient, request: HTTPRequest, settings: BenchSettings, logger: Logger
    ) async throws -> BenchResult {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .seconds(settings.seconds)
        let connectionsBefore = client.connectionsOpened
        var done = 0
        while done < settings.requests && clock.now < deadline {
            let response = try await client.execute(request, logger: logger)
            guard response.status == 201 else { throw BenchFailure(description: "status \(response.status)") }
            done += 1
        }
        return BenchResult(
            count: done, elapsed: clock.now - start, connections: client.connectionsOpened - connectionsBefore)
    }

    static func concurrent(
        client: HTTPClient, request: HTTPRequest, settings: BenchSettings, logger: Logger
    ) async throws -> BenchResult {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .seconds(settings.seconds)
        let connectionsBefore = client.connectionsOpened
        let issued = Counter()
        let done = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<settings.inflight {
                group.addTask {
                    var mine = 0
                    while issued.value.add(1, ordering: .relaxed).newValue <= settings.requests && clock.now < deadline
                    {
                        let response = try await client.execute(request, logger: logger)
                        guard response.status == 201 else {
                            throw BenchFailure(description: "status \(response.status)")
                        }
                        mine += 1
                    }
                    return mine
                }
            }
            return try await group.reduce(0, +)
        }
        return BenchResult(
            count: done, elapsed: clock.now - start, connections: client.connectionsOpened - connectionsBefore)
    }
}

/// A shared request counter for the concurrent phase.
final class Counter: Sendable {
    let value = Atomic<Int>(0)
}
