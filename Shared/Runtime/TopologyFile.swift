public import AMQP
import Foundation

/// `deploy/rabbitmq/topology.json`: every exchange, queue and binding, declared from one place by
/// `syncctl topology` before services start.
///
/// Queues of `"type": "quorum"` get the dead-letter exchange `ledgerline.dead-letter`, the
/// at-least-once dead-letter strategy and `reject-publish` overflow (which that strategy needs)
/// whenever they have a `delivery_limit`.
public enum TopologyFile {
    /// The exchange that receives dead-lettered messages.
    public static let deadLetterExchange = "ledgerline.dead-letter"

    struct File: Decodable {
        struct Exchange: Decodable { var name: String; var type: String }
        struct Queue: Decodable {
            var name: String
            var type: String?
            var delivery_limit: Int?
            var dead_letter_routing_key: String?
            var message_ttl_ms: Int?
        }
        struct Binding: Decodable { var exchange: String; var queue: String; var routing_key: String }
        var exchanges: [Exchange]
        var queues: [Queue]
        var bindings: [Binding]
    }

    /// Reads and converts a topology file.
    ///
    /// - Throws: ``TopologyFileError`` naming the file and the problem.
    public static func load(from url: URL) throws -> AMQPTopology {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TopologyFileError(path: url.path, problem: "cannot be read (\(error.localizedDescription))")
        }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw TopologyFileError(path: url.path, problem: "is not a valid topology file (\(error))")
        }
        var topology = AMQPTopology()
        for exchange in file.exchanges {
            guard let kind = AMQPExchange.Kind(rawValue: exchange.type) else {
                throw TopologyFileError(path: url.path, problem: "exchange \(exchange.name) has unknown type \(exchange.type)")
            }
            topology.exchanges.append(AMQPExchange(name: exchange.name, kind: kind))
        }
        for queue in file.queues {
            let quorum = (queue.type ?? "quorum") == "quorum"
            let deadLetters = queue.delivery_limit != nil || queue.dead_letter_routing_key != nil
            topology.queues.append(AMQPQueue(
                name: queue.name, quorum: quorum, deliveryLimit: queue.delivery_limit,
                deadLetterExchange: deadLetters ? deadLetterExchange : nil,
                deadLetterRoutingKey: queue.dead_letter_routing_key,
                deadLetterStrategy: deadLetters && quorum ? .atLeastOnce : nil,
                overflow: deadLetters && quorum ? .rejectPublish : nil,
                messageTTL: queue.message_ttl_ms.map { .milliseconds($0) }))
        }
        for binding in file.bindings {
            topology.bindings.append(AMQPBinding(queue: binding.queue, exchange: binding.exchange, routingKey: binding.routing_key))
        }
        do { try topology.validate() } catch {
            throw TopologyFileError(path: url.path, problem: "is inconsistent (\(error))")
        }
        return topology
    }
}

/// The topology file is missing, malformed or inconsistent.
public struct TopologyFileError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var problem: String
    public var description: String { "\(path) \(problem)" }
}
