import Metrics

/// The relay's metrics (swift-metrics; Prometheus names).
///
/// | name | type | labels |
/// |---|---|---|
/// | `ledgerline_outbox_published_total` | counter | `message_type` (sync_job, audit_event) |
/// | `ledgerline_outbox_failures_total` | counter | `reason` (returned, nacked, refused, broker) |
/// | `ledgerline_outbox_relay_lag_seconds` | timer | — (row creation to confirmed publish) |
/// | `ledgerline_outbox_pending` | gauge | — (rows waiting after the last relay pass) |
enum OutboxMetrics {
    private static let relayLagTimer = Timer(label: "ledgerline_outbox_relay_lag_seconds")
    private static let pendingGauge = Gauge(label: "ledgerline_outbox_pending")

    static func published(messageType: String, count: Int) {
        Counter(label: "ledgerline_outbox_published_total", dimensions: [("message_type", messageType)])
            .increment(by: count)
    }

    static func failure(reason: String) {
        Counter(label: "ledgerline_outbox_failures_total", dimensions: [("reason", reason)]).increment()
    }

    static func relayLag(seconds: Double) {
        relayLagTimer.recordNanoseconds(Int64(max(0, seconds) * 1e9))
    }

    static func pending(_ count: Int) {
        pendingGauge.record(count)
    }
}
