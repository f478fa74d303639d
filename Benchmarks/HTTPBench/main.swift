// HTTPBench: keep-alive POST throughput of the HTTP module against a local server (see http.sh).
//
// Environment:
//   LEDGERLINE_HTTP_BENCH_URL       e.g. http://127.0.0.1:18080/invoices (must answer 201), required
//   LEDGERLINE_HTTP_BENCH_REQUESTS  requests per phase (default 20000)
//   LEDGERLINE_HTTP_BENCH_SECONDS   time limit per phase (default 10)
//   LEDGERLINE_HTTP_BENCH_INFLIGHT  concurrent requests in the concurrent phase (default 32)
//   LEDGERLINE_HTTP_BENCH_PHASES    comma-separated subset of sequential,executor,concurrent (default all)
// Prints, per phase:
//   FIGURE http.keepalive_post.swift N req/s                  sequential, from an ordinary task
//   FIGURE http.keepalive_post_client_executor.swift N req/s  sequential, task on client.taskExecutor
//   FIGURE http.concurrent<K>_post.swift N req/s              K tasks issuing requests concurrently
import HTTP
import Logging

let settings = BenchSettings.fromEnvironment()
let logger = Logger(label: "http-bench")
let client = try HTTPClient(configuration: BenchSettings.clientConfiguration, logger: logger)
let request = HTTPRequest(
    method: .post, url: settings.url, headers: ["Content-Type": "application/json"], body: BenchSettings.body)

// Warm up: opens the connection.
for _ in 0..<200 { _ = try await client.execute(request, logger: logger) }

if settings.phases.contains("sequential") {
    let result = try await Bench.sequential(client: client, request: request, settings: settings, logger: logger)
    print("FIGURE http.keepalive_post.swift \(Int(result.rate)) req/s")
    print("# swift sequential: \(result.count) requests in \(result.elapsed), \(result.connections) new connection(s)")
}

if settings.phases.contains("executor") {
    let result = try await withTaskExecutorPreference(client.taskExecutor) {
        try await Bench.sequential(client: client, request: request, settings: settings, logger: logger)
    }
    print("FIGURE http.keepalive_post_client_executor.swift \(Int(result.rate)) req/s")
    print(
        "# swift sequential on the client's executor: \(result.count) requests in \(result.elapsed), "
            + "\(result.connections) new connection(s)")
}

if settings.phases.contains("concurrent") {
    let result = try await Bench.concurrent(client: client, request: request, settings: settings, logger: logger)
    print("FIGURE http.concurrent\(settings.inflight)_post.swift \(Int(result.rate)) req/s")
    print(
        "# swift concurrent: \(result.count) requests in \(result.elapsed), \(settings.inflight) in flight, "
            + "\(result.connections) new connection(s)")
}
client.shutdown()
