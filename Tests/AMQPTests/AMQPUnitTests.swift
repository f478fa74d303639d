@testable import AMQP
import Foundation
import Testing

@Suite("AMQP URL parsing")
struct AMQPConfigurationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let url: String
        let host: String
        let port: Int
        let virtualHost: String
        let user: String
        var testDescription: String { url }
    }

    @Test(arguments: [
        Case(url: "amqp://guest@127.0.0.1:5683/%2F", host: "127.0.0.1", port: 5683, virtualHost: "/", user: "guest"),
        Case(url: "amqp://127.0.0.1", host: "127.0.0.1", port: 5672, virtualHost: "/", user: "guest"),
        Case(url: "amqp://app@broker.local/", host: "broker.local", port: 5672, virtualHost: "/", user: "app"),
        Case(url: "amqp://app@localhost:5672/billing", host: "localhost", port: 5672, virtualHost: "billing", user: "app"),
        Case(url: "amqp://sync%40shop@127.0.0.1/a%2Fb", host: "127.0.0.1", port: 5672, virtualHost: "a/b", user: "sync@shop"),
        Case(url: "amqp://app@[::1]:5673/%2F", host: "::1", port: 5673, virtualHost: "/", user: "app"),
    ])
    func parsesValidURLs(_ testCase: Case) throws {
        let configuration = try AMQPConfiguration(url: testCase.url, password: "s3cret")
        #expect(configuration.host == testCase.host)
        #expect(configuration.port == testCase.port)
        #expect(configuration.virtualHost == testCase.virtualHost)
        #expect(configuration.user == testCase.user)
        #expect(configuration.password == "s3cret")
    }

    @Test func readsQueryParameters() throws {
        let configuration = try AMQPConfiguration(
            url: "amqp://app@127.0.0.1/%2F?heartbeat=10&connection_timeout=2500&frame_max=65536", password: nil)
        #expect(configuration.heartbeat == .seconds(10))
        #expect(configuration.connectTimeout == .milliseconds(2500))
        #expect(configuration.frameMax == 65_536)
        #expect(configuration.password == "")
    }

    @Test(arguments: [
        ("http://127.0.0.1/", "must start with amqp://"),
        ("amqps://app@127.0.0.1/", "not supported"),
        ("amqp://", "host is missing"),
        ("amqp://app@:5672/", "host is missing"),
        ("amqp://app@127.0.0.1:99999/", "port must be a number"),
        ("amqp://app@127.0.0.1:abc/", "port must be a number"),
        ("amqp://app@127.0.0.1/a/b", "single path segment"),
        ("amqp://app@127.0.0.1/%zz", "badly percent-encoded"),
        ("amqp://app@127.0.0.1/?nonsense=1", "unknown query parameter"),
        ("amqp://app@127.0.0.1/?heartbeat=soon", "non-negative integer"),
        ("amqp://app@[::1/", "closing ]"),
        ("amqp://app@host name/", "not allowed"),
    ])
    func rejectsMalformedURLs(_ url: String, _ reason: String) throws {
        let error = try #require(throws: AMQPError.self) { try AMQPConfiguration(url: url, password: "pw") }
        #expect(error.code == .invalidURL)
        #expect(error.description.contains(reason), "\(error)")
    }

    @Test func rejectsPasswordInsideURLWithoutEchoingIt() throws {
        let error = try #require(throws: AMQPError.self) {
            try AMQPConfiguration(url: "amqp://app:hunter2@127.0.0.1/", password: nil)
        }
        #expect(error.code == .invalidURL)
        #expect(!error.description.contains("hunter2"))
        #expect(!error.debugDescription.contains("hunter2"))
    }

    @Test func descriptionsNeverContainThePassword() throws {
        let configuration = try AMQPConfiguration(url: "amqp://app@127.0.0.1:5683/%2F", password: "hunter2")
        #expect(configuration.description == "amqp://app@127.0.0.1:5683/%2F")
        #expect(!configuration.debugDescription.contains("hunter2"))
        #expect(!String(describing: configuration).contains("hunter2"))
        #expect(!String(reflecting: configuration).contains("hunter2"))
        var dumped = ""
        dump(configuration, to: &dumped)
        #expect(!dumped.contains("hunter2"))
        #expect(dumped.contains("127.0.0.1"))
    }
}

@Suite("AMQP field tables")
struct AMQPFieldTableTests {
    @Test func encodesExactWireBytes() throws {
        let bytes = try AMQPFieldTableWire.encode(["a": 1, "b": "hi", "c": true])
        let expected: [UInt8] =
            [0, 0, 0, 24]  // table length
            + [1, 0x61, 0x6C, 0, 0, 0, 0, 0, 0, 0, 1]  // "a" l 1
            + [1, 0x62, 0x53, 0, 0, 0, 2, 0x68, 0x69]  // "b" S "hi"
            + [1, 0x63, 0x74, 1]  // "c" t true
        #expect(bytes == expected)
    }

    @Test func encodesEmptyTable() throws {
        #expect(try AMQPFieldTableWire.encode([:]) == [0, 0, 0, 0])
    }

    @Test func roundTripsEveryKind() throws {
        let table: [String: AMQPFieldValue] = [
            "string": "häll❤",
            "bytes": .bytes([0, 1, 255]),
            "true": true,
            "false": false,
            "negative": .int(-42),
            "large": .int(Int64.max),
            "double": 2.5,
            "decimal": .decimal(scale: 2, value: 12_345),
            "timestamp": .timestamp(Date(timeIntervalSince1970: 1_700_000_000)),
            "void": .void,
            "nested": ["inner": ["deeper": 7], "list": [1, "two", [3]]],
            "x-death": [["reason": "delivery_limit", "count": 1, "queue": "jobs"]],
            "empty-table": .table([:]),
            "empty-array": .array([]),
        ]
        let decoded = try AMQPFieldTableWire.decode(AMQPFieldTableWire.encode(table))
        #expect(decoded == table)
    }

    @Test func decodesNarrowIntegersAndFloats() throws {
        // "i" I 32-bit -5, "s" s 16-bit 300, "f" f 32-bit 1.5
        let wire: [UInt8] = [0, 0, 0, 22]
            + [1, 0x69, 0x49, 0xFF, 0xFF, 0xFF, 0xFB]
            + [1, 0x73, 0x73, 0x01, 0x2C]
            + [1, 0x66, 0x66, 0x3F, 0xC0, 0, 0]
            + [1, 0x56, 0x56]  // "V" void
        let decoded = try AMQPFieldTableWire.decode(wire)
        #expect(decoded["i"] == .int(-5))
        #expect(decoded["s"] == .int(300))
        #expect(decoded["f"] == .double(1.5))
        #expect(decoded["V"] == .void)
    }

    @Test func rejectsTruncatedInput() throws {
        let error = try #require(throws: AMQPError.self) { try AMQPFieldTableWire.decode([0, 0, 0, 9, 1, 0x61]) }
        #expect(error.code == .protocolError)
    }

    @Test func queueArgumentsUseTheBrokersNames() {
        let queue = AMQPQueue(
            name: "jobs", quorum: true, deliveryLimit: 5, deadLetterExchange: "dlx", deadLetterRoutingKey: "dead",
            deadLetterStrategy: .atLeastOnce, overflow: .rejectPublish, messageTTL: .seconds(60), maxLength: 1000)
        #expect(queue.arguments == [
            "x-queue-type": "quorum", "x-delivery-limit": 5, "x-dead-letter-exchange": "dlx",
            "x-dead-letter-routing-key": "dead", "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish", "x-message-ttl": 60_000, "x-max-length": 1000,
        ])
    }

    @Test func validationCatchesSilentlyIgnoredSettings() throws {
        let atLeastOnceWithoutOverflow = AMQPQueue(
            name: "q", quorum: true, deadLetterExchange: "dlx", deadLetterStrategy: .atLeastOnce)
        let error = try #require(throws: AMQPError.self) { try atLeastOnceWithoutOverflow.validate() }
        #expect(error.code == .invalidArgument)
        #expect(error.description.contains("reject-publish"))
        #expect(throws: AMQPError.self) { try AMQPQueue(name: "q", deliveryLimit: 3).validate() }
        #expect(throws: AMQPError.self) { try AMQPQueue(name: "q", durable: false, quorum: true).validate() }
        try AMQPQueue(name: "q", quorum: true, deliveryLimit: 3, deadLetterExchange: "dlx",
                      deadLetterStrategy: .atLeastOnce, overflow: .rejectPublish).validate()
    }
}

@Suite("AMQP errors")
struct AMQPErrorTests {
    @Test func findsTheExchangeNamedInABrokerReply() {
        #expect(PublisherEngine.exchangeNamed(in: "NOT_FOUND - no exchange 'jobs.x' in vhost '/'") == "jobs.x")
        #expect(PublisherEngine.exchangeNamed(in: "ACCESS_REFUSED - access to exchange 'ingest' in vhost '/' refused for user 'shop'") == "ingest")
        #expect(PublisherEngine.exchangeNamed(in: "PRECONDITION_FAILED - user_id property set to 'a'") == nil)
    }

    @Test func descriptionNamesCodeCallHostAndReply() {
        let error = AMQPError(
            code: .notFound, replyCode: 404, replyText: "NOT_FOUND - no exchange 'x' in vhost '/'",
            host: "127.0.0.1:5672", call: "basic.publish")
        #expect(error.description
            == "AMQPError(notFound, call: basic.publish, host: 127.0.0.1:5672, reply: 404 NOT_FOUND - no exchange 'x' in vhost '/')")
        #expect(error.debugDescription.contains("AMQPUnitTests.swift"))
        #expect(!error.isTransient)
        #expect(AMQPError(code: .connectionClosed).isTransient)
    }
}
