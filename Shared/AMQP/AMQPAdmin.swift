internal import BlockingIO
import Logging

/// A connection for declaring and inspecting topology: run it once, from one place, before publishers
/// and consumers start (RabbitMQ 3.10 can crash a channel when several clients declare the same new
/// quorum queue at once).
///
/// Each call runs on the admin's own thread. After a channel error (for example `404` from a passive
/// check) the channel is reopened for the next call; after a dropped connection the next call reconnects.
public final class AMQPAdmin: Sendable {
    private let thread: IOThread
    private let box: AdminConnectionBox

    private init(thread: IOThread, box: AdminConnectionBox) {
        self.thread = thread
        self.box = box
    }

    deinit {
        thread.submit { [box] in box.close() }
        thread.shutdown()
    }

    /// Connects and logs in.
    ///
    /// - Throws: ``AMQPError`` (`connectionFailed`, `authenticationFailed`, `accessRefused`, `timeout`).
    public static func connect(configuration: AMQPConfiguration, logger: Logger) async throws -> AMQPAdmin {
        let thread = IOThread(name: "amqp-admin")
        let box = AdminConnectionBox(configuration: configuration, logger: logger)
        do {
            try await thread.run { try box.withConnection { _ in } }
        } catch {
            thread.shutdown()
            throw error
        }
        return AMQPAdmin(thread: thread, box: box)
    }

    /// Declares exchanges, then queues, then bindings. Redeclaring an identical topology is a no-op.
    ///
    /// - Throws: ``AMQPError``: `invalidArgument` for a bad queue description (nothing is sent),
    ///   `preconditionFailed` when a queue or exchange exists with other settings.
    public func declare(_ topology: AMQPTopology) async throws {
        try topology.validate()
        try await run { try $0.declare(topology) }
    }

    /// A passive check of a queue: its counts, or nil when it does not exist.
    public func queueStatus(_ name: String) async throws -> AMQPQueueStatus? {
        try await run { try $0.queueStatus(name) }
    }

    /// True when the queue exists.
    public func queueExists(_ name: String) async throws -> Bool {
        try await queueStatus(name) != nil
    }

    /// Removes the ready messages of a queue; returns how many.
    @discardableResult
    public func purgeQueue(_ name: String) async throws -> Int {
        try await run { try $0.purgeQueue(name) }
    }

    /// Deletes a queue; returns how many messages it held.
    @discardableResult
    public func deleteQueue(_ name: String, ifUnused: Bool = false, ifEmpty: Bool = false) async throws -> Int {
        try await run { try $0.deleteQueue(name, ifUnused: ifUnused, ifEmpty: ifEmpty) }
    }

    /// Deletes an exchange.
    public func deleteExchange(_ name: String, ifUnused: Bool = false) async throws {
        try await run { try $0.deleteExchange(name, ifUnused: ifUnused) }
    }

    /// Closes the connection; later calls throw ``AMQPError/Code/shutDown``.
    public func close() async {
        _ = try? await thread.run { [box] in box.close() }
        thread.shutdown()
    }

    private func run<Result: Sendable>(_ body: @escaping @Sendable (AMQPConnection) throws -> Result) async throws -> Result {
        let box = box
        do {
            return try await thread.run { try box.withConnection(body) }
        } catch is IOThreadError {
            throw AMQPError(code: .shutDown, host: box.configuration.endpoint, detail: "the admin connection is closed")
        }
    }
}

extension AMQPTopology {
    /// Declares this topology over a short-lived admin connection.
    ///
    /// - Throws: ``AMQPError`` as ``AMQPAdmin/connect(configuration:logger:)`` and ``AMQPAdmin/declare(_:)``.
    public func declare(configuration: AMQPConfiguration, logger: Logger) async throws {
        try validate()
        let admin = try await AMQPAdmin.connect(configuration: configuration, logger: logger)
        do {
            try await admin.declare(self)
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
    }
}

/// Holds the admin's connection.
///
/// `@unchecked Sendable` because `AMQPConnection` is not thread-safe. Invariant: `connection` is only
/// read or written inside jobs of the admin's single `IOThread`, which runs them one at a time, so the
/// rabbitmq-c handle is never used by two threads at once.
final class AdminConnectionBox: @unchecked Sendable {
    let configuration: AMQPConfiguration
    let logger: Logger
    private var connection: AMQPConnection?
    private var closed = false

    init(configuration: AMQPConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    func withConnection<Result>(_ body: (AMQPConnection) throws -> Result) throws -> Result {
        guard !closed else {
            throw AMQPError(code: .shutDown, host: configuration.endpoint, detail: "the admin connection is closed")
        }
        if connection?.isAlive != true {
            connection = try AMQPConnection.open(configuration: configuration, logger: logger)
        }
        return try body(connection!)
    }

    func close() {
        closed = true
        connection?.close()
        connection = nil
    }
}
