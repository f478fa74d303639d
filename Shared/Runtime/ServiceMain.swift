import Foundation
public import Logging
import Metrics
public import Prometheus
public import ServiceLifecycle
import UnixSignals

/// What every executable gets from ``ServiceMain``: its settings, logger, health registry and
/// metrics registry, all set up once per process.
public struct ServiceEnvironment: Sendable {
    /// The executable's name, e.g. `ingest` or `worker-xero`.
    public let name: String
    /// Environment settings.
    public let settings: Settings
    /// The service's root logger.
    public let logger: Logger
    /// Component statuses shown by `/healthz`.
    public let health: HealthRegistry
    /// The registry behind `/metrics`.
    public let metrics: PrometheusCollectorRegistry
}

/// A service plus what the group does when it ends on its own.
public struct ManagedService: Sendable {
    public var service: any Service
    /// If true, the service returning normally does not stop the others (e.g. a one-shot gate).
    public var mayFinishEarly: Bool

    public init(_ service: any Service, mayFinishEarly: Bool = false) {
        self.service = service
        self.mayFinishEarly = mayFinishEarly
    }
}

/// The one bootstrap every executable shares: settings, logging, metrics, the admin server
/// (`/healthz`, `/metrics`) and a `ServiceGroup` that shuts down gracefully on SIGTERM / SIGINT.
///
/// ## Settings read here
/// - `LEDGERLINE_LOG_LEVEL` (trace … critical, default `info`)
/// - `LEDGERLINE_LOG_FORMAT` (`json` or `text`, default `json`)
/// - `LEDGERLINE_ADMIN_HOST` (default `127.0.0.1`), `LEDGERLINE_ADMIN_PORT` (default per service;
///   0 picks a free port)
/// - `LEDGERLINE_SHUTDOWN_GRACE_SECONDS` (default 25): how long in-flight work may take to finish
///   after SIGTERM before it is cancelled.
public enum ServiceMain {
    /// Runs an executable until it is shut down, then exits the process.
    ///
    /// A configuration error is printed as one line on standard error and exits with status 2;
    /// a service failure exits with status 1.
    public static func run(
        name: String,
        defaultAdminPort: Int,
        settings: Settings = Settings(),
        makeServices: @Sendable (ServiceEnvironment) async throws -> [ManagedService]
    ) async -> Never {
        let environment: ServiceEnvironment
        let adminHost: String
        let adminPort: Int
        let grace: Duration
        do {
            let level = try settings.choice("LEDGERLINE_LOG_LEVEL", default: LogLevelSetting.info)
            let format = try settings.choice("LEDGERLINE_LOG_FORMAT", default: LogFormat.json)
            adminHost = settings.string("LEDGERLINE_ADMIN_HOST", default: "127.0.0.1")
            adminPort = try settings.int("LEDGERLINE_ADMIN_PORT", default: defaultAdminPort, range: 0...65535)
            grace = try settings.seconds("LEDGERLINE_SHUTDOWN_GRACE_SECONDS", default: .seconds(25), range: 0...600)
            let label = "ledgerline.\(name)"
            LoggingSystem.bootstrap { label in
                StructuredLogHandler(label: label, level: level.level, format: format)
            }
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            environment = ServiceEnvironment(
                name: name, settings: settings, logger: Logger(label: label), health: HealthRegistry(),
                metrics: registry)
        } catch {
            FileHandle.standardError.write(Data("\(name): \(error)\n".utf8))
            exit(2)
        }

        let logger = environment.logger
        do {
            let services = try await makeServices(environment)
            let admin = AdminServer.make(
                name: name, host: adminHost, port: adminPort, health: environment.health,
                registry: environment.metrics, logger: logger
            ) { port in
                logger.info("Admin endpoints ready", metadata: ["admin.address": "\(adminHost):\(port)"])
            }
            // The admin server is first so it answers /healthz until everything else has drained.
            let configured = [ServiceGroupConfiguration.ServiceConfiguration(service: admin)]
                + services.map { managed in
                    ServiceGroupConfiguration.ServiceConfiguration(
                        service: managed.service,
                        successTerminationBehavior: managed.mayFinishEarly ? .ignore : .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup)
                }
            var configuration = ServiceGroupConfiguration(
                services: configured, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [],
                logger: logger)
            configuration.maximumGracefulShutdownDuration = grace
            logger.info("Starting", metadata: ["service": "\(name)"])
            try await ServiceGroup(configuration: configuration).run()
            logger.info("Stopped", metadata: ["service": "\(name)"])
            exit(0)
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("\(name): \(error)\n".utf8))
            exit(2)
        } catch {
            logger.critical("Service failed", metadata: ["error": "\(error)"])
            exit(1)
        }
    }
}

/// `LEDGERLINE_LOG_LEVEL` values.
enum LogLevelSetting: String, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
    var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
}
