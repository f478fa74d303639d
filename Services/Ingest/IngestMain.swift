import Foundation
import Runtime

/// `ingest`: shop events in (AMQP queue and HTTP `POST /v1/events`), canonical invoices and the outbox in
/// Postgres, sync jobs and audit events out (outbox relay). `ingest admin …` runs operator commands instead.
@main
enum IngestMain {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "admin" {
            exit(await AdminCommand.run(Array(arguments.dropFirst())))
        }
        if let first = arguments.first, ["-h", "--help", "help"].contains(first) {
            print(AdminCommand.serviceUsage)
            exit(0)
        }
        // A nonisolated function, not a closure: a closure written here would be main-actor isolated, and
        // ServiceMain.run's `makeServices` parameter is neither @Sendable nor `sending`.
        await ServiceMain.run(name: "ingest", defaultAdminPort: 9101, makeServices: makeServices)
    }

    nonisolated static func makeServices(_ environment: ServiceEnvironment) async throws -> [ManagedService] {
        try IngestServices.make(environment)
    }
}
