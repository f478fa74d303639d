#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Domain
public import HTTP
public import Logging
import Metrics
import Synchronization

/// **Test-only** crash injection for kill -9 tests of the worker's crash windows (docs/worker-runtime.md §7).
///
/// Off unless `LEDGERLINE_FAULT_CRASH_AT` is set. When the chosen point is reached for the `nth` time in this
/// process, the process sends itself `SIGKILL` (`kill(getpid(), SIGKILL)`): no cleanup, no ack, no flush — a real
/// kill -9. ``WorkerMain`` reads the settings once at startup and passes this value down (to ``JobProcessor`` and
/// ``ERPWorkerService``); there is no global state.
public final class CrashInjection: Sendable {
    /// Where the process can be killed.
    public enum Point: String, Sendable, Hashable, CaseIterable {
        /// A delivery was received and decoded, before processing.
        case afterDelivery = "after_delivery"
        /// The claim was committed, before any ERP call.
        case afterClaim = "after_claim"
        /// An ERP write request (POST / PUT) was answered 2xx, before the state is committed.
        case afterResponse = "after_response"
        /// The state was committed, before the delivery is acked.
        case afterCommit = "after_commit"
    }

    /// The point, or nil when injection is off.
    public let point: Point?
    /// Crash the `nth` time the point is reached (1 = the first time).
    public let nth: Int
    private let reached = Atomic<Int>(0)

    /// No injection.
    public static var off: CrashInjection { CrashInjection(point: nil) }

    /// Creates an injection.
    public init(point: Point?, nth: Int = 1) {
        precondition(nth >= 1, "nth must be at least 1")
        self.point = point
        self.nth = nth
    }

    /// Kills the process with `SIGKILL` when `point` is the configured point and this is its `nth` arrival.
    public func reach(_ point: Point, logger: Logger) {
        guard self.point == point else { return }
        let count = reached.wrappingAdd(1, ordering: .relaxed).newValue
        guard count == nth else { return }
        logger.warning("Fault injection: killing the process", metadata: ["fault.crash_at": "\(point.rawValue)", "fault.nth": "\(nth)"])
        kill(getpid(), SIGKILL)
    }
}

/// Wraps the shared HTTP client for one job's connector: counts 429 answers
/// (`ledgerline_worker_rate_limited_total{erp}`) and reaches ``CrashInjection/Point/afterResponse`` after a 2xx answer
/// to a POST or PUT (an ERP write).
struct MeteredTransport: HTTPTransport {
    let base: any HTTPTransport
    let erp: ERP
    let crash: CrashInjection

    func execute(_ request: HTTPRequest, logger: Logger) async throws -> HTTPResponse {
        let response = try await base.execute(request, logger: logger)
        if response.status == 429 {
            Counter(label: "ledgerline_worker_rate_limited_total", dimensions: [("erp", erp.rawValue)]).increment()
        }
        if (200..<300).contains(response.status), request.method == .post || request.method == .put {
            crash.reach(.afterResponse, logger: logger)
        }
        return response
    }
}
