public import Connectors
public import Domain
import Foundation
public import HTTP
public import Logging
import Postgres
import Runtime
import Synchronization
import ServiceLifecycle

/// Builds connectors from a connection's stored settings (`erp_connection_settings`: base URL, company id,
/// mapping) and sealed credentials.
public struct StoredConnectorFactory<C: ERPConnector>: Sendable {
    /// The store.
    public let store: SyncStateStore
    /// The credentials.
    public let credentials: CredentialStore
    /// The ERP's token endpoint client; nil: tokens are used as stored, never refreshed.
    public let refresher: (any TokenRefresher)?
    /// One refreshing provider per connection, so concurrent jobs share one in-process refresh flight.
    private let providers = ProviderCache()

    private final class ProviderCache: Sendable {
        let providers = Mutex<[String: RefreshingAccessTokenProvider]>([:])  // key: tenant|connection
    }

    /// Creates a factory.
    public init(store: SyncStateStore, credentials: CredentialStore, refresher: (any TokenRefresher)? = nil) {
        self.store = store
        self.credentials = credentials
        self.refresher = refresher
    }

    /// The connector of `job`'s connection, sending through `transport`.
    /// - Throws: ``Connectors/ConnectorFailure`` `erp.configuration` (park) when settings are missing or invalid.
    public func make(_ job: SyncJob, transport: any HTTPTransport, logger: Logger) async throws -> C {
        let row = try await store.inTenant(job.tenantID, logger: logger) { connection in
            try await connection.query(
                """
                SELECT api_base_url, company_id, mapping::text AS mapping FROM erp_connection_settings
                WHERE connection_id = \(job.connectionID)
                """, logger: logger
            ).first.map {
                (
                    try $0.decode(String.self, "api_base_url"), try $0.decode(String.self, "company_id"),
                    try $0.decode(String.self, "mapping")
                )
            }
        }
        guard let (baseURL, companyID, mappingJSON) = row else {
            throw ConnectorFailure(
                reason: .erpConfiguration, disposition: .park, erp: C.erp, detail: "the connection has no settings")
        }
        let configuration = ConnectorConfiguration(baseURL: baseURL, companyID: companyID)
        let problems = configuration.validate()
        guard problems.isEmpty else {
            throw ConnectorFailure(
                reason: .erpConfiguration, disposition: .park, erp: C.erp, detail: problems.joined(separator: "; "))
        }
        let mapping: MappingConfiguration
        do {
            mapping = try JSONDecoder().decode(MappingConfiguration.self, from: Data(mappingJSON.utf8))
        } catch {
            throw ConnectorFailure(
                reason: .erpConfiguration, disposition: .park, erp: C.erp, detail: "the connection's mapping is unreadable")
        }
        let tokens: any AccessTokenProvider =
            if let refresher {
                providers.providers.withLock { cache in
                    let key = "\(job.tenantID.rawValue)|\(job.connectionID.uuidString)"
                    if let cached = cache[key] { return cached }
                    let provider = RefreshingAccessTokenProvider(
                        credentials: credentials, refresher: refresher, tenantID: job.tenantID,
                        connectionID: job.connectionID, erp: C.erp)
                    cache[key] = provider
                    return provider
                }
            } else {
                StoredAccessTokenProvider(
                    credentials: credentials, tenantID: job.tenantID, connectionID: job.connectionID, erp: C.erp)
            }
        return C(
            context: ConnectionContext(
                tenantID: job.tenantID, connectionID: job.connectionID, configuration: configuration, mapping: mapping,
                credentials: tokens),
            transport: transport)
    }
}

/// Closes a pool and an HTTP client when the service group shuts down.
struct WorkerResources: Service {
    let pool: PostgresPool
    let http: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        http.shutdown()
        pool.close()
    }
}

/// The whole `main` of a `worker-<erp>` executable: `await WorkerMain.run(connector: XeroConnector.self)`.
///
/// ## Settings
/// - `LEDGERLINE_POSTGRES_URL` / `_PASSWORD` / `_POOL_SIZE`, `LEDGERLINE_AMQP_URL` / `_PASSWORD` (as every service)
/// - `LEDGERLINE_SECRETS_KEY` (required): the AES-256-GCM key sealing connection credentials
/// - `LEDGERLINE_WORKER_ID` (default `<hostname>-<pid>`): recorded with each claim
/// - `LEDGERLINE_WORKER_CONCURRENCY` (default: the connector's concurrent-request limit, else 4)
/// - `LEDGERLINE_WORKER_LEASE_SECONDS` (default 300), `LEDGERLINE_WORKER_HORIZON_SECONDS` (default 86400)
/// - `LEDGERLINE_JOBS_EXCHANGE` (default `ledgerline.jobs`), `LEDGERLINE_AUDIT_EXCHANGE` (default `ledgerline.audit`)
/// - `LEDGERLINE_OAUTH_TOKEN_URL`, `LEDGERLINE_OAUTH_CLIENT_ID`, `LEDGERLINE_OAUTH_CLIENT_SECRET`: when all are set
///   (and no `refresher` is passed), tokens are refreshed with ``OAuth2TokenRefresher`` as a single flight.
public enum WorkerMain {
    /// Runs the worker of connector `C` until SIGTERM / SIGINT, then exits.
    /// - Parameters:
    ///   - refresher: the ERP's OAuth2 token endpoint client (single-flight refresh); nil uses stored tokens as is.
    ///   - adminPort: the default admin port (`/healthz`, `/metrics`).
    public static func run<C: ERPConnector>(
        connector: C.Type, refresher: (any TokenRefresher)? = nil, adminPort: Int = 9110
    ) async -> Never {
        await ServiceMain.run(name: "worker-\(C.erp.rawValue)", defaultAdminPort: adminPort) { environment in
            try makeServices(connector: C.self, refresher: refresher, environment: environment)
        }
    }

    /// The services of one worker process (dependency gate, resources, the worker).
    public static func makeServices<C: ERPConnector>(
        connector: C.Type, refresher: (any TokenRefresher)? = nil, environment: ServiceEnvironment
    ) throws -> [ManagedService] {
        let settings = environment.settings
        let logger = environment.logger
        let postgres = try settings.postgres(applicationName: "worker-\(C.erp.rawValue)")
        let amqp = try settings.amqp()
        let vault = try CredentialVault(base64Key: try settings.requiredString("LEDGERLINE_SECRETS_KEY", isSecret: true))
        let pool = PostgresPool(configuration: postgres, maxConnections: try settings.postgresPoolSize(), logger: logger)
        let workerID = settings.string(
            "LEDGERLINE_WORKER_ID",
            default: "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)")
        let lease = try settings.int("LEDGERLINE_WORKER_LEASE_SECONDS", default: 300, range: 10...86_400)
        let horizon = try settings.int("LEDGERLINE_WORKER_HORIZON_SECONDS", default: 86_400, range: 60...2_592_000)
        let store = SyncStateStore(
            pool: pool, workerID: workerID, lease: .seconds(lease),
            auditExchange: settings.string("LEDGERLINE_AUDIT_EXCHANGE", default: "ledgerline.audit"))
        var httpConfiguration = HTTPClientConfiguration()
        httpConfiguration.followRedirects = .doNotFollow
        let http = try HTTPClient(configuration: httpConfiguration, logger: logger)
        var tokenRefresher = refresher
        if tokenRefresher == nil, let tokenURL = settings.raw("LEDGERLINE_OAUTH_TOKEN_URL") {
            tokenRefresher = OAuth2TokenRefresher(
                tokenURL: tokenURL, clientID: try settings.requiredString("LEDGERLINE_OAUTH_CLIENT_ID"),
                clientSecret: try settings.requiredString("LEDGERLINE_OAUTH_CLIENT_SECRET", isSecret: true),
                transport: http)
        }
        let factory = StoredConnectorFactory<C>(
            store: store, credentials: CredentialStore(store: store, vault: vault), refresher: tokenRefresher)
        let processor = JobProcessor<C>(
            store: store, transport: http, retry: RetryPolicy(horizon: .seconds(horizon), dependencyWait: .seconds(30))
        ) { job, transport in
            try await factory.make(job, transport: transport, logger: logger)
        }
        var configuration = ERPWorkerConfiguration(erp: C.erp, capabilities: C.capabilities)
        configuration.concurrency = try settings.int(
            "LEDGERLINE_WORKER_CONCURRENCY", default: configuration.concurrency, range: 1...256)
        configuration.prefetch = UInt16(min(1000, configuration.concurrency * 2))
        configuration.jobsExchange = settings.string("LEDGERLINE_JOBS_EXCHANGE", default: "ledgerline.jobs")
        let gate = DependencyGate(
            checks: [.postgres(postgres, logger: logger), .rabbitMQ(amqp, logger: logger)], health: environment.health,
            logger: logger)
        return [
            ManagedService(gate, mayFinishEarly: true),
            ManagedService(WorkerResources(pool: pool, http: http)),
            ManagedService(ERPWorkerService<C>(amqp: amqp, processor: processor, configuration: configuration, logger: logger)),
        ]
    }
}
