import AMQP
import Foundation
import Logging
import Postgres
import Runtime
import ServiceLifecycle

/// Builds the ingest service group from the environment.
enum IngestServices {
    /// The services, in start order (shutdown runs in reverse): the dependency gate, the Postgres pool's
    /// lifetime, the outbox relay, the AMQP intake and the HTTP intake. So on SIGTERM the HTTP server stops
    /// taking requests and finishes those in flight first, then the AMQP intake finishes its batch and
    /// requeues what it had not started, then the relay finishes its pass, then the pool closes.
    static func make(_ environment: ServiceEnvironment) throws -> [ManagedService] {
        let settings = environment.settings
        let logger = environment.logger
        let configuration = try IngestConfiguration(settings: settings)
        var postgres = try settings.postgres(applicationName: "ingest")
        // Bounds every statement (a lock wait included): a stuck batch fails and is retried instead of hanging.
        postgres.statementTimeout = .seconds(15)
        let amqp = try settings.amqp()
        let pool = PostgresPool(
            configuration: postgres, maxConnections: try settings.postgresPoolSize(), acquireTimeout: .seconds(3),
            logger: logger)
        let store = IntakeStore(pool: pool, configuration: configuration, logger: logger)
        let gate = DependencyGate(
            checks: [schemaCheck(postgres, logger: logger), .rabbitMQ(amqp, logger: logger)], health: environment.health,
            logger: logger)

        var services = [ManagedService(gate, mayFinishEarly: true), ManagedService(PoolLifetime(pool: pool))]
        if configuration.relayEnabled {
            services.append(ManagedService(OutboxRelay(
                pool: pool, postgres: postgres, amqp: amqp, configuration: configuration, health: environment.health,
                logger: logger)))
        }
        if configuration.amqpEnabled {
            services.append(ManagedService(AMQPIntake(
                amqp: amqp, configuration: configuration, store: store, gate: gate, health: environment.health,
                logger: logger)))
        }
        if configuration.httpEnabled, let keyring = configuration.keyring {
            if keyring.usesDevelopmentKey {
                logger.warning("LEDGERLINE_SECRETS_KEY is the documented development key; use a random key outside a laptop")
            }
            let secrets = SigningSecretStore(pool: pool, keyring: keyring, logger: logger)
            let intake = HTTPIntake(
                configuration: configuration, store: store, secrets: secrets,
                verifier: SignatureVerifier(tolerance: configuration.signatureTolerance), logger: logger)
            services.append(ManagedService(intake.application()))
        }
        logger.info("Ingest configured", metadata: [
            "ingest.amqp": "\(configuration.amqpEnabled)", "ingest.http": "\(configuration.httpEnabled)",
            "ingest.relay": "\(configuration.relayEnabled)", "amqp.queue": "\(configuration.queue)",
            "postgres.endpoint": "\(postgres.host):\(postgres.port)", "amqp.endpoint": "\(amqp.endpoint)",
        ])
        return services
    }

    /// Probes Postgres and checks that the ingest schema is there (`syncctl migrate` has run).
    static func schemaCheck(_ configuration: PostgresConfiguration, logger: Logger) -> DependencyCheck {
        DependencyCheck(name: "postgres", endpoint: "\(configuration.host):\(configuration.port)") {
            let connection = try await PostgresConnection.connect(configuration: configuration, logger: logger)
            defer { connection.close() }
            let rows = try await connection.query(
                "SELECT to_regclass('public.outbox') IS NOT NULL AND to_regclass('public.inbound_events') IS NOT NULL AS ready",
                logger: logger)
            guard try rows.first?.decode(Bool.self, "ready") == true else { throw SchemaMissing() }
        }
    }

    /// The database has not been migrated.
    struct SchemaMissing: Error, CustomStringConvertible {
        var description: String { "the ingest tables are missing; run `syncctl migrate` first" }
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
