import Connectors
import CoreMetrics
import Domain
import Foundation
import Logging
import Postgres
import Synchronization
import TestSupport
import Testing
import WorkerRuntime

/// A metrics backend that keeps counter totals and the last recorded value per (label, dimensions).
final class RecordingMetrics: MetricsFactory, Sendable {
    static let shared: RecordingMetrics = {
        let factory = RecordingMetrics()
        MetricsSystem.bootstrap(factory)
        return factory
    }()

    let values = Mutex<[String: Double]>([:])

    static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        ([label] + dimensions.sorted { $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" }).joined(separator: "|")
    }

    func value(_ label: String, _ dimensions: [(String, String)]) -> Double {
        values.withLock { $0[Self.key(label, dimensions)] ?? 0 }
    }

    final class Handler: CounterHandler, RecorderHandler, TimerHandler, Sendable {
        let key: String
        let factory: RecordingMetrics
        init(key: String, factory: RecordingMetrics) {
            self.key = key
            self.factory = factory
        }
        func increment(by amount: Int64) { factory.values.withLock { $0[key, default: 0] += Double(amount) } }
        func reset() { factory.values.withLock { $0[key] = 0 } }
        func record(_ value: Int64) { factory.values.withLock { $0[key] = Double(value) } }
        func record(_ value: Double) { factory.values.withLock { $0[key] = value } }
        func recordNanoseconds(_ duration: Int64) { factory.values.withLock { $0[key] = Double(duration) } }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        Handler(key: Self.key(label, dimensions), factory: self)
    }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Handler(key: Self.key(label, dimensions), factory: self)
    }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        Handler(key: Self.key(label, dimensions), factory: self)
    }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}

@Suite("Worker metrics per ERP", .requiresPostgres, .timeLimit(.minutes(1)))
struct MetricsTests {
    let logger = WorkerStack.logger

    @Test("429s, retries, circuit openings and the token horizon are counted per ERP")
    func metricsPerERP() async throws {
        let metrics = RecordingMetrics.shared
        let xero = [("erp", "xero")]
        let rateLimited = metrics.value("ledgerline_worker_rate_limited_total", xero)
        let retries = metrics.value("ledgerline_worker_retries_total", xero + [("reason", "erp.rate_limited")])
        let opened = metrics.value("ledgerline_worker_circuit_opened_total", xero)
        let pool = try await WorkerStack.pool()
        defer { pool.close() }
        let fixture = try await WorkerFixture.make(pool)
        let erp = FakeERP()
        let store = WorkerStack.store(pool)
        let processor = WorkerStack.processor(
            store, erp: erp, breakers: CircuitBreakers(threshold: 1, cooldown: .seconds(30)))
        try await fixture.invoice("m-1")
        try await fixture.invoice("m-2")
        erp.inject(.rateLimited(retryAfterSeconds: 1))
        guard case .deferred(.erpRateLimited, _) = try await processor.process(fixture.job(invoice: "m-1"), logger: logger)
        else {
            Issue.record("expected a 429 deferral")
            return
        }
        #expect(metrics.value("ledgerline_worker_rate_limited_total", xero) >= rateLimited + 1)
        #expect(metrics.value("ledgerline_worker_retries_total", xero + [("reason", "erp.rate_limited")]) >= retries + 1)
        erp.inject(.serverError)
        _ = try await processor.process(fixture.job(invoice: "m-2"), logger: logger)
        #expect(metrics.value("ledgerline_worker_circuit_opened_total", xero) >= opened + 1)

        let vault = try CredentialVault(base64Key: Data(repeating: 4, count: 32).base64EncodedString())
        let credentials = CredentialStore(store: store, vault: vault)
        try await credentials.save(
            ConnectionSecrets(accessToken: "at-m", refreshToken: "rt-m", accessExpiresAt: Date().addingTimeInterval(900)),
            tenantID: TenantID(fixture.tenant), connectionID: fixture.connection, logger: logger)
        let horizon = TokenHorizon(erp: .quickbooksOnline)
        let provider = StoredAccessTokenProvider(
            credentials: credentials, tenantID: TenantID(fixture.tenant), connectionID: fixture.connection,
            erp: .quickbooksOnline, horizon: horizon)
        _ = try await provider.accessToken(logger: logger)
        let left = metrics.value("ledgerline_worker_token_expires_in_seconds", [("erp", "quickbooks-online")])
        #expect(left > 890 && left <= 900, "\(left)")
        #expect(horizon.secondsLeft.map { $0 > 890 } == true)
    }
}
