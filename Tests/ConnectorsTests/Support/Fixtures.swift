import Connectors
import Domain
import Foundation
import Testing

/// Fixture files (`Tests/ConnectorsTests/Fixtures`, copied as resources) and the repository's contract examples.
enum Fixtures {
    /// The copied fixture folder inside the test bundle.
    static let root: URL = {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            fatalError("the Fixtures resource folder is missing from the test bundle")
        }
        return url
    }()

    /// The fixture folder in the source tree (to regenerate expected payloads).
    static let sourceRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // ConnectorsTests
        .appendingPathComponent("Fixtures")

    /// The repository root (scratch packages link `Tests/`, so resolve symlinks).
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func bytes(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: root.appendingPathComponent(path)))
    }

    static func json(_ path: String) throws -> JSONNode { try JSONNode(parsing: bytes(path)) }

    /// Whether to (re)write expected-payload fixtures from the current mapping instead of comparing.
    static var regenerate: Bool { ProcessInfo.processInfo.environment["LEDGERLINE_REGENERATE_FIXTURES"] == "1" }

    /// Compares a payload with an expected-payload fixture, structurally (key order and number spelling
    /// ignored); with `LEDGERLINE_REGENERATE_FIXTURES=1` writes the fixture instead.
    static func expect(_ actual: JSONNode, matches path: String, sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        if regenerate {
            let url = sourceRoot.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data((actual.prettyPrinted() + "\n").utf8).write(to: url)
            return
        }
        let expected = try json(path)
        if let difference = JSONDiff.first(expected, actual) {
            Issue.record("\(path): \(difference)", sourceLocation: sourceLocation)
        }
    }

    // MARK: Contract examples (docs/event-contract/examples)

    /// A validated event from `docs/event-contract/examples`.
    static func event(_ file: String) throws -> InvoiceEvent {
        let url = repositoryRoot.appendingPathComponent("docs/event-contract/examples").appendingPathComponent(file)
        switch InvoiceEventDecoder().decode(Array(try Data(contentsOf: url))) {
        case .success(let event): return event
        case .failure(let error): throw error
        }
    }

    /// The invoice of an example event.
    static func invoice(_ file: String) throws -> Invoice {
        let event = try event(file)
        guard let invoice = event.invoice else { throw FixtureError("\(file) carries no invoice") }
        return invoice
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The first structural difference between two JSON trees, as `path: expected … found …`.
enum JSONDiff {
    static func first(_ expected: JSONNode, _ actual: JSONNode, path: String = "$") -> String? {
        switch (expected, actual) {
        case (.object(let a), .object(let b)):
            for key in a.keys where b[key] == nil { return "\(path).\(key): missing" }
            for key in b.keys where a[key] == nil { return "\(path).\(key): unexpected \(b[key]!.compactText)" }
            for key in a.keys {
                if let difference = first(a[key]!, b[key]!, path: "\(path).\(key)") { return difference }
            }
            return nil
        case (.array(let a), .array(let b)):
            guard a.count == b.count else { return "\(path): expected \(a.count) items, found \(b.count)" }
            for index in a.indices {
                if let difference = first(a[index], b[index], path: "\(path)[\(index)]") { return difference }
            }
            return nil
        default:
            return expected == actual ? nil : "\(path): expected \(expected.compactText), found \(actual.compactText)"
        }
    }
}

extension JSONNode {
    var compactText: String { String(decoding: serialized(), as: UTF8.self) }
}
