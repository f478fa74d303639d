import Logging
import ServiceLifecycle

/// A simulator server running in the background of the current process (tests, embedding).
final class RunningSimulator: Sendable {
    let simulator: Simulator
    /// The bound port on 127.0.0.1.
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(simulator: Simulator, port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.simulator = simulator
        self.port = port
        self.group = group
        self.task = task
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts a server on a free loopback port and returns once it accepts connections.
    static func start(configuration: SimConfiguration, logger: Logger) async throws -> RunningSimulator {
        let simulator = Simulator(configuration: configuration)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let server = SimServer.make(simulator: simulator, host: "127.0.0.1", port: 0, logger: logger) { port in
            continuation.yield(port)
            continuation.finish()
        }
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            task.cancel()
            throw SimConfigurationError(problem: "the simulator server did not start")
        }
        return RunningSimulator(simulator: simulator, port: port, group: group, task: task)
    }

    /// Stops the server (in-flight answers may still finish) and waits for it.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}
