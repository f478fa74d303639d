import AMQP
import ArgumentParser
import Foundation
import Runtime

struct Topology: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Declare the RabbitMQ exchanges, queues and bindings of deploy/rabbitmq/topology.json.",
        discussion: """
            Run before services start: they only check that their queues exist. Safe to run twice. \
            The file is LEDGERLINE_TOPOLOGY_FILE (default deploy/rabbitmq/topology.json) unless --file is given.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "The topology file.")
    var file: String?

    func run() async throws {
        let url = file.map { URL(fileURLWithPath: $0) }
            ?? deployPath(common.settings, key: "LEDGERLINE_TOPOLOGY_FILE", default: "deploy/rabbitmq/topology.json")
        let topology = try TopologyFile.load(from: url)
        let admin = try await connectBroker(common)
        try await admin.declare(topology)
        await admin.close()
        print("Declared \(topology.exchanges.count) exchanges, \(topology.queues.count) queues, \(topology.bindings.count) bindings.")
    }
}
