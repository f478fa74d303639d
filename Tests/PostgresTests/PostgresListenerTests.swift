import Foundation
import Postgres
import Testing
import TestSupport

extension PostgresIntegrationTests {
    @Suite struct Listener {
        /// Waits for the first notification on `stream` that matches, sending `send` every 250 ms
        /// until it arrives or `limit` passes. Returns nil on timeout.
        func receive(
            from stream: AsyncStream<PostgresNotification>, within limit: Duration,
            matching predicate: @escaping @Sendable (PostgresNotification) -> Bool,
            sending send: @escaping @Sendable (Int) async -> Void
        ) async -> PostgresNotification? {
            await withTaskGroup(of: PostgresNotification?.self) { group in
                group.addTask {
                    for await notification in stream where predicate(notification) { return notification }
                    return nil
                }
                group.addTask {
                    let clock = ContinuousClock()
                    let deadline = clock.now.advanced(by: limit)
                    var round = 0
                    while clock.now < deadline, !Task.isCancelled {
                        await send(round)
                        round += 1
                        try? await Task.sleep(for: .milliseconds(250))
                    }
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
        }

        @Test func firstConnectFailureIsThrownAndStreamsFinish() async throws {
            var configuration = try TestDatabase.configuration()
            configuration.port = 1
            let listener = PostgresListener(configuration: configuration, channels: ["x"], logger: TestDatabase.logger)
            let stream = listener.notifications()
            let error = try await #require(throws: PostgresError.self) { try await listener.start() }
            #expect(error.code == .connectionFailed)
            let ended = try await withTimeout(.seconds(5)) {
                for await _ in stream {}
                return true
            }
            #expect(ended)
        }

        @Test func closeFinishesStreams() async throws {
            let listener = PostgresListener(
                configuration: try TestDatabase.configuration(), channels: ["close_test"], logger: TestDatabase.logger)
            let stream = listener.notifications()
            try await listener.start()
            listener.close()
            let ended = try await withTimeout(.seconds(5)) {
                for await _ in stream {}
                return true
            }
            #expect(ended)
            #expect(!listener.isListening)
        }
    }
}

extension PostgresRestartTests {
        @Test func deliversNotificationsAndSurvivesARestart() async throws {
            try await TestDatabase.withPool(maxConnections: 2) { pool in
                let channel = "Ledger \(TestDatabase.uniqueName())"  // mixed case and a space: quoted correctly
                let listener = PostgresListener(
                    configuration: try TestDatabase.configuration(), channels: [channel, "other"], logger: TestDatabase.logger)
                defer { listener.close() }
                let stream = listener.notifications()
                try await listener.start()
                #expect(listener.isListening)

                try await pool.execute("SELECT pg_notify(\(channel), \("hello 'world'"))")
                let first = await PostgresIntegrationTests.Listener().receive(from: stream, within: .seconds(5), matching: { _ in true }, sending: { _ in })
                #expect(first?.channel == channel)
                #expect(first?.payload == "hello 'world'")

                try await TestDatabase.stack("restart-postgres")

                let afterRestart = listener.notifications()
                let received = await PostgresIntegrationTests.Listener().receive(
                    from: afterRestart, within: .seconds(20), matching: { $0.payload.hasPrefix("after-restart") },
                    sending: { round in
                        _ = try? await pool.execute("SELECT pg_notify(\(channel), \("after-restart \(round)"))")
                    })
                #expect(received != nil, "no notification within 20 s after the restart")
                #expect(listener.reconnectCount >= 1)
                #expect(listener.isListening)
            }
        }
}
