import Domain
import Metrics

/// The service's metrics (swift-metrics; Prometheus names, low-cardinality labels only).
///
/// | name | type | labels |
/// |---|---|---|
/// | `ledgerline_ingest_events_total` | counter | `channel` (amqp, http), `outcome` (accepted, stale, parked, duplicate, rejected) |
/// | `ledgerline_ingest_rejections_total` | counter | `channel`, `category` (the reason code's category, e.g. `arithmetic`) |
/// | `ledgerline_ingest_accept_seconds` | timer | `channel` (time from receiving to commit) |
/// | `ledgerline_ingest_http_responses_total` | counter | `status` (202, 200, 401, …) |
/// | `ledgerline_ingest_auth_failures_total` | counter | `reason` (signature.* code) |
/// | `ledgerline_ingest_database_waits_total` | counter | `channel` (a batch held because Postgres was unavailable) |
///
/// The relay's `ledgerline_outbox_*` metrics are the shared relay's (module `Outbox`, `OutboxMetrics`).
enum IngestMetrics {
    private static let outcomes = ["accepted", "stale", "parked", "duplicate", "rejected"]
    private static let channels = [IntakeChannel.amqp, IntakeChannel.http]

    /// Metric objects are created once (creating one per event would look it up in the registry each time).
    private static let events: [String: Counter] = Dictionary(uniqueKeysWithValues: channels.flatMap { channel in
        outcomes.map { outcome in
            ("\(channel.rawValue)/\(outcome)", Counter(label: "ledgerline_ingest_events_total", dimensions: [
                ("channel", channel.rawValue), ("outcome", outcome),
            ]))
        }
    })
    private static let acceptTimers: [IntakeChannel: Timer] = Dictionary(uniqueKeysWithValues: channels.map {
        ($0, Timer(label: "ledgerline_ingest_accept_seconds", dimensions: [("channel", $0.rawValue)]))
    })

    static func event(channel: IntakeChannel, outcome: IntakeOutcome) {
        events["\(channel.rawValue)/\(outcome.label)"]?.increment()
        if case .rejected(let failures) = outcome {
            Counter(label: "ledgerline_ingest_rejections_total", dimensions: [
                ("channel", channel.rawValue), ("category", failures.first?.code.category ?? "unknown"),
            ]).increment()
        }
    }

    static func accepted(channel: IntakeChannel, since start: ContinuousClock.Instant) {
        acceptTimers[channel]?.recordInterval(since: start)
    }

    static func httpResponse(status: Int) {
        Counter(label: "ledgerline_ingest_http_responses_total", dimensions: [("status", String(status))]).increment()
    }

    static func authFailure(reason: String) {
        Counter(label: "ledgerline_ingest_auth_failures_total", dimensions: [("reason", reason)]).increment()
    }

    static func databaseWait(channel: IntakeChannel) {
        Counter(label: "ledgerline_ingest_database_waits_total", dimensions: [("channel", channel.rawValue)]).increment()
    }
}

extension Timer {
    /// Records the time elapsed since `start`.
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
