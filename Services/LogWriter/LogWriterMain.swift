import AuditTrail
import Postgres
import Runtime

/// `log-writer`: consumes the audit exchange's queue and keeps the audit trail and the sync log.
///
/// Settings: the shared ones (``ServiceMain``, `LEDGERLINE_POSTGRES_*`, `LEDGERLINE_AMQP_*`) and
/// the log writer's own (``LogWriterConfiguration``). Admin endpoints on port 9103 by default.
@main
enum LogWriterMain {
    static func main() async {
        await ServiceMain.run(name: "log-writer", defaultAdminPort: 9103, makeServices: makeServices)
    }

    nonisolated static func makeServices(_ environment: ServiceEnvironment) async throws -> [ManagedService] {
        let configuration = try LogWriterConfiguration(settings: environment.settings)
        var postgres = try environment.settings.postgres(applicationName: "log-writer")
        postgres.statementTimeout = configuration.statementTimeout
        let amqp = try environment.settings.amqp()
        let pool = PostgresPool(
            configuration: postgres, maxConnections: try environment.settings.postgresPoolSize(),
            logger: environment.logger)
        let gate = DependencyGate(
            checks: [
                .postgres(postgres, logger: environment.logger),
                .rabbitMQ(amqp, logger: environment.logger),
            ],
            health: environment.health, logger: environment.logger)
        let service = LogWriterService(
            configuration: configuration, amqp: amqp, writer: AuditTrailWriter(pool: pool), gate: gate,
            health: environment.health, logger: environment.logger)
        return [ManagedService(gate, mayFinishEarly: true), ManagedService(service)]
    }
}
