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
    /// The soonest access-token expiry this process knows (gauge `ledgerline_worker_token_expires_in_seconds`).
    public let tokenHorizon: TokenHorizon
    /// The app's OAuth client: with it (and no fixed ``refresher``) each connection refreshes at its own token
    /// URL (`erp_connection_settings.token_url`, else the ERP's production endpoint).
    public let oauthClient: OAuthClient?
    /// The time limit of each ERP request.
    public let requestTimeout: Duration
    /// One refreshing provider per connection, so concurrent jobs share one in-process refresh flight.
    private let providers = ProviderCache()

    private final class ProviderCache: Sendable {
        let providers = Mutex<[String: RefreshingAccessTokenProvider]>([:])  // key: tenant|connection
    }

    /// Creates a factory.
    public init(
        store: SyncStateStore, credentials: CredentialStore, refresher: (any TokenRefresher)? = nil,
        oauthClient: OAuthClient? = nil, requestTimeout: Duration = .seconds(60)
    ) {
        self.oauthClient = oauthClient
        self.requestTimeout = requestTimeout
        self.store = store
        self.credentials = credentials
        self.refresher = refresher
        self.tokenHorizon = TokenHorizon(erp: C.erp)
    }

    /// The connector of `job`'s connection, sending through `transport`.
    /// - Throws: ``Connectors/ConnectorFailure`` `erp.configuration` (park) when settings are missing or invalid.
    public func make(_ job: SyncJob, transport: any HTTPTransport, logger: Logger) async throws -> C {
        let row = try await store.inTenant(job.tenantID, logger: logger) { connection in
            try await connection.query(
                """
                SELECT api_base_url, company_id, mapping::text AS mapping, token_url FROM erp_connection_settings
                WHERE connection_id = \(job.connectionID)
                """, logger: logger
            ).first.map {
                (
                    try $0.decode(String.self, "api_base_url"), try $0.decode(String.self, "company_id"),
                    try $0.decode(String.self, "mapping"), try $0.decode(String?.self, "token_url")
                )
            }
        }
        guard let (baseURL, companyID, mappingJSON, tokenURL) = row else {
            throw ConnectorFailure(
                reason: .erpConfiguration, disposition: .park, erp: C.erp, detail: "the connection has no settings")
        }
        let configuration = ConnectorConfiguration(
            baseURL: baseURL, companyID: companyID, requestTimeout: requestTimeout)
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
        let tokens: any AccessTokenProvider
        if let refresher = refresher ?? oauthClient.map({
            OAuth2TokenRefresher(
                tokenURL: tokenURL ?? C.authorization.tokenURL, clientID: $0.clientID, clientSecret: $0.clientSecret,
                transport: $0.transport)
        }) {
            let shared = providers.providers.withLock { cache -> RefreshingAccessTokenProvider in
                let key = "\(job.tenantID.rawValue)|\(job.connectionID.uuidString)"
                if let cached = cache[key] { return cached }
                let provider = RefreshingAccessTokenProvider(
                    credentials: credentials, refresher: refresher, tenantID: job.tenantID,
                    connectionID: job.connectionID, erp: C.erp, horizon: tokenHorizon)
                cache[key] = provider
                return provider
            }
            tokens = shared.jobScoped()  // remembers the token generation this job was served
        } else {
            tokens = StoredAccessTokenProvider(
                credentials: credentials, tenantID: job.tenantID, connectionID: job.connectionID, erp: C.erp,
                horizon: tokenHorizon)
        }
        return C(
            context: ConnectionContext(
                tenantID: job.tenantID, connectionID: job.connectionID, configuration: configuration, mapping: mapping,
                credentials: tokens),
            transport: transport)
    }
}

/// An OAuth 2.0 client registered with an ERP (one per worker executable), used to refresh tokens at each
/// connection's token URL.
public struct OAuthClient: Sendable {
    /// The client id.
    public var clientID: String
    /// The client secret.
    public var clientSecret: String
    /// The transport of token requests.
    public var transport: any HTTPTransport

    /// Creates a client.
    public init(clientID: String, clientSecret: String, transport: any HTTPTransport) {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.transport = transport
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
/// - `LEDGERLINE_WORKER_RATE_LIMITS` (`declared`, default: the connector's documented limits, shared through
///   Postgres; `off`: no client-side limits — only for benchmarks against erp-sim with its limits off)
/// - `LEDGERLINE_JOBS_EXCHANGE` (default `ledgerline.jobs`), `LEDGERLINE_AUDIT_EXCHANGE` (default `ledgerline.audit`)
/// - `LEDGERLINE_OAUTH_CLIENT_ID`, `LEDGERLINE_OAUTH_CLIENT_SECRET`: the app's OAuth client; when set (and no
///   `refresher` is passed), tokens are refreshed with ``OAuth2TokenRefresher`` as a single flight per connection,
///   at the connection's token URL (`syncctl connection configure --token-url`, default the ERP's production
///   endpoint), or at `LEDGERLINE_OAUTH_TOKEN_URL` for every connection when that is set
/// - `LEDGERLINE_ERP_REQUEST_TIMEOUT_SECONDS` (default 60): the time limit of one ERP request
/// - `LEDGERLINE_POSTGRES_POOL_SIZE` (default 2 × concurrency + 2)
/// - **Test only** (fault injection for kill -9 tests, ``CrashInjection``): `LEDGERLINE_FAULT_CRASH_AT` ∈
///   `after_delivery`, `after_claim`, `after_response`, `after_commit`, and `LEDGERLINE_FAULT_CRASH_NTH` (default
///   1): the process kills itself with SIGKILL the Nth time it reaches that point. Unset: off.
///
/// A malformed setting (including a `LEDGERLINE_SECRETS_KEY` that is not 32 bytes in base64) exits with status 2
/// and one line naming the variable.
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

    /// The test-only crash injection from `LEDGERLINE_FAULT_CRASH_AT` / `LEDGERLINE_FAULT_CRASH_NTH` (read once).
    /// - Throws: ``Runtime/ConfigurationError`` for an unknown point or a count below 1.
    public static func crashInjection(_ settings: Settings) throws -> CrashInjection {
        guard let text = settings.raw("LEDGERLINE_FAULT_CRASH_AT") else { return .off }
        guard let point = CrashInjection.Point(rawValue: text) else {
            let allowed = CrashInjection.Point.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigurationError(key: "LEDGERLINE_FAULT_CRASH_AT", problem: "must be one of \(allowed), got \"\(text)\"")
        }
        let nth = try settings.int("LEDGERLINE_FAULT_CRASH_NTH", default: 1, range: 1...1_000_000)
        return CrashInjection(point: point, nth: nth)
    }

    /// The services of one worker process (dependency gate, resources, the worker).
    public static func makeServices<C: ERPConnector>(
        connector: C.Type, refresher: (any TokenRefresher)? = nil, environment: ServiceEnvironment
    ) throws -> [ManagedService] {
        let settings = environment.settings
        let logger = environment.logger
        let postgres = try settings.postgres(applicationName: "worker-\(C.erp.rawValue)")
        let amqp = try settings.amqp()
        let vault: CredentialVault
        do {
            vault = try CredentialVault(base64Key: try settings.requiredString("LEDGERLINE_SECRETS_KEY", isSecret: true))
        } catch let error as WorkerError {
            throw ConfigurationError(key: "LEDGERLINE_SECRETS_KEY", problem: "must be 32 bytes in base64 (\(error.code))")
        }
        let crash = try crashInjection(settings)
        let rateLimits: [RateLimit]? =
            try settings.choice("LEDGERLINE_WORKER_RATE_LIMITS", default: RateLimitSetting.declared) == .off ? [] : nil
        var configuration = ERPWorkerConfiguration(erp: C.erp, capabilities: C.capabilities)
        configuration.concurrency = try settings.int(
            "LEDGERLINE_WORKER_CONCURRENCY", default: configuration.concurrency, range: 1...256)
        // A job may hold two connections at once (a customer's lock transaction and a rate-limit token), and the
        // sweeper needs one: size the pool so concurrent jobs never wait for each other's connections.
        let pool = PostgresPool(
            configuration: postgres,
            maxConnections: try settings.postgresPoolSize(default: 2 * configuration.concurrency + 2), logger: logger)
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
        var oauthClient: OAuthClient?
        if tokenRefresher == nil, let clientID = settings.raw("LEDGERLINE_OAUTH_CLIENT_ID") {
            let client = OAuthClient(
                clientID: clientID,
                clientSecret: try settings.requiredString("LEDGERLINE_OAUTH_CLIENT_SECRET", isSecret: true),
                transport: http)
            if let tokenURL = settings.raw("LEDGERLINE_OAUTH_TOKEN_URL") {  // one endpoint for every connection
                tokenRefresher = OAuth2TokenRefresher(
                    tokenURL: tokenURL, clientID: client.clientID, clientSecret: client.clientSecret, transport: http)
            } else {
                oauthClient = client
            }
        }
        let requestTimeout = try settings.int("LEDGERLINE_ERP_REQUEST_TIMEOUT_SECONDS", default: 60, range: 1...600)
        let factory = StoredConnectorFactory<C>(
            store: store, credentials: CredentialStore(store: store, vault: vault), refresher: tokenRefresher,
            oauthClient: oauthClient, requestTimeout: .seconds(requestTimeout))
        let processor = JobProcessor<C>(
            store: store, transport: http, retry: RetryPolicy(horizon: .seconds(horizon), dependencyWait: .seconds(30)),
            rateLimitWait: C.capabilities.defaultRateLimitWait, rateLimits: rateLimits, crash: crash
        ) { job, transport in
            try await factory.make(job, transport: transport, logger: logger)
        }
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

/// `LEDGERLINE_WORKER_RATE_LIMITS` values.
enum RateLimitSetting: String, CaseIterable {
    case declared
    case off
}
