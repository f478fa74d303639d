import AMQP
import Foundation
import Logging
import Outbox
import Postgres
import Runtime
import SchedulerCore
import Scheduling
import ServiceLifecycle

/// `scheduler`: fires the triggers of every ERP connection (interval sweeps, end-of-day batches per location
/// time zone, pulls, the initial sync) exactly once per window, as the leader among its replicas; and runs an
/// outbox relay that publishes the jobs and session events it writes. See `docs/scheduler.md`.
///
/// Settings: the shared ones (``ServiceMain``, `LEDGERLINE_POSTGRES_*`, `LEDGERLINE_AMQP_*`,
/// `LEDGERLINE_OUTBOX_*`) and ``SchedulerSettings``. Admin endpoints on port 9113 by default.
@main
enum SchedulerMain {
    static func main() async {
        if let first = CommandLine.arguments.dropFirst().first, ["-h", "--help", "help"].contains(first) {
            print(SchedulerSettings.usage)
            exit(0)
        }
        await ServiceMain.run(name: "scheduler", defaultAdminPort: 9113, makeServices: makeServices)
    }

    nonisolated static func makeServices(_ environment: ServiceEnvironment) async throws -> [ManagedService] {
        let settings = environment.settings
        let logger = environment.logger
        let scheduler = try SchedulerSettings(settings: settings)
        var postgres = try settings.postgres(applicationName: "scheduler")
        postgres.statementTimeout = .seconds(30)
        let amqp = try settings.amqp()
        let pool = PostgresPool(
            configuration: postgres, maxConnections: try settings.postgresPoolSize(), acquireTimeout: .seconds(5),
            logger: logger)
        let gate = DependencyGate(
            checks: [schemaCheck(postgres, logger: logger), .rabbitMQ(amqp, logger: logger)], health: environment.health,
            logger: logger)
        var services = [ManagedService(gate, mayFinishEarly: true), ManagedService(PoolLifetime(pool: pool))]
        if scheduler.relayEnabled {
            var relay = try OutboxRelayConfiguration(settings: settings, appID: "ledgerline-scheduler")
            relay.tenantPrefix = scheduler.core.tenantPrefix
            services.append(ManagedService(OutboxRelay(
                pool: pool, postgres: postgres, amqp: amqp, configuration: relay, health: environment.health, logger: logger)))
        }
        services.append(ManagedService(SchedulerService(
            pool: pool, postgres: postgres, configuration: scheduler.core, gate: gate, health: environment.health,
            logger: logger)))
        logger.info("Scheduler configured", metadata: [
            "scheduler.instance": "\(scheduler.core.instanceID)", "scheduler.relay": "\(scheduler.relayEnabled)",
            "postgres.endpoint": "\(postgres.host):\(postgres.port)", "amqp.endpoint": "\(amqp.endpoint)",
        ])
        return services
    }

    /// Probes Postgres and checks that the scheduler's tables are there (`syncctl migrate` has run).
    static func schemaCheck(_ configuration: PostgresConfiguration, logger: Logger) -> DependencyCheck {
        DependencyCheck(name: "postgres", endpoint: "\(configuration.host):\(configuration.port)") {
            let connection = try await PostgresConnection.connect(configuration: configuration, logger: logger)
            defer { connection.close() }
            let rows = try await connection.query(
                "SELECT to_regclass('public.schedule_fires') IS NOT NULL AND to_regclass('public.outbox') IS NOT NULL AS ready",
                logger: logger)
            guard try rows.first?.decode(Bool.self, "ready") == true else { throw SchemaMissing() }
        }
    }

    struct SchemaMissing: Error, CustomStringConvertible {
        var description: String { "the scheduler tables are missing; run `syncctl migrate` first" }
    }
}

/// The scheduler loop as a service: waits for the dependency gate, runs until graceful shutdown, then resigns
/// the leadership (another replica takes over at once).
struct SchedulerService: Service {
    let loop: SchedulerLoop
    let gate: DependencyGate

    init(pool: PostgresPool, postgres: PostgresConfiguration, configuration: SchedulerConfiguration, gate: DependencyGate,
         health: HealthRegistry, logger: Logger) {
        health.set("scheduler", .unhealthy("starting"))
        loop = SchedulerLoop(
            pool: pool, postgres: postgres, clock: SystemClock(), configuration: configuration, logger: logger
        ) { role, problem in
            switch (role, problem) {
            case (_, let problem?): health.set("scheduler", .unhealthy(problem))
            case (.stopped, nil): health.set("scheduler", .unhealthy("stopped"))
            default: health.set("scheduler", .healthy)  // leader or standby: both are working replicas
            }
        }
        self.gate = gate
    }

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await gate.waitUntilOpen()
            await loop.run()
        }
    }
}

/// Keeps the Postgres pool open while the service runs and closes it last on shutdown.
struct PoolLifetime: Service {
    let pool: PostgresPool

    func run() async throws {
        try? await gracefulShutdown()
        pool.close()
    }
}
