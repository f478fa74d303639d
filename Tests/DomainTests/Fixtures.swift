import Foundation
import Testing

@testable import Domain

/// Paths into the repository (found from this file, so tests need no resources or working directory).
enum Repo {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().resolvingSymlinksInPath()  // DomainTests (scratch packages link Tests/)
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository root
    static let contract = root.appendingPathComponent("docs/event-contract")
    static let examples = contract.appendingPathComponent("examples")
    static let schema = contract.appendingPathComponent("invoice-event.v1.schema.json")
    static let readme = contract.appendingPathComponent("README.md")

    static func bytes(_ url: URL) throws -> [UInt8] { Array(try Data(contentsOf: url)) }

    static func json(_ url: URL) throws -> JSONValue {
        var scanner = JSONScanner(bytes: try bytes(url), maxDepth: 64)
        return try scanner.parseDocument()
    }

    static func json(_ bytes: some Collection<UInt8>) throws -> JSONValue {
        var scanner = JSONScanner(bytes: Array(bytes), maxDepth: 64)
        return try scanner.parseDocument()
    }

    static func example(_ name: String) throws -> JSONValue { try json(examples.appendingPathComponent(name)) }
}

/// One entry of `examples/index.json`.
struct ExampleEntry: Sendable, CustomTestStringConvertible {
    struct Expected: Sendable, Hashable, Decodable {
        var code: String
        var path: String
    }

    var file: String
    var valid: Bool
    var about: String
    var expect: [Expected]

    var testDescription: String { file }

    static func all() throws -> [ExampleEntry] {
        struct Raw: Decodable {
            var file: String
            var valid: Bool
            var about: String
            var expect: [Expected]?
        }
        let data = try Data(contentsOf: Repo.examples.appendingPathComponent("index.json"))
        return try JSONDecoder().decode([Raw].self, from: data).map {
            ExampleEntry(file: $0.file, valid: $0.valid, about: $0.about, expect: $0.expect ?? [])
        }
    }
}

// MARK: - Editing JSON trees in tests

extension JSONValue {
    /// Parses a path such as `invoice.lines[2].unit_price`.
    static func components(_ path: String) -> [JSONPath.Component] {
        var result: [JSONPath.Component] = []
        for part in path.split(separator: ".") {
            var name = Substring(part)
            var indices: [Int] = []
            while let open = name.lastIndex(of: "["), name.hasSuffix("]") {
                indices.insert(Int(name[name.index(after: open)..<name.index(before: name.endIndex)])!, at: 0)
                name = name[..<open]
            }
            if !name.isEmpty { result.append(.key(String(name))) }
            result += indices.map { .index($0) }
        }
        return result
    }

    /// A copy with the value at `path` replaced (`nil` removes it).
    func setting(_ path: String, _ value: JSONValue?) -> JSONValue {
        setting(JSONValue.components(path)[...], value)
    }

    private func setting(_ components: ArraySlice<JSONPath.Component>, _ value: JSONValue?) -> JSONValue {
        guard let first = components.first else { return value ?? .null }
        let rest = components.dropFirst()
        switch (self, first) {
        case (.object(var object), .key(let key)):
            if rest.isEmpty, value == nil {
                object.remove(key)
            } else {
                object.set(key, (object[key] ?? .object(JSONObject())).setting(rest, value))
            }
            return .object(object)
        case (.array(var items), .index(let index)):
            if rest.isEmpty, value == nil {
                items.remove(at: index)
            } else {
                items[index] = items[index].setting(rest, value)
            }
            return .array(items)
        default:
            preconditionFailure("path does not match the document")
        }
    }

    /// The value at `path`.
    func value(at path: String) -> JSONValue? {
        var current: JSONValue? = self
        for component in JSONValue.components(path) {
            switch (current, component) {
            case (.object(let object)?, .key(let key)): current = object[key]
            case (.array(let items)?, .index(let index)): current = index < items.count ? items[index] : nil
            default: return nil
            }
        }
        return current
    }

    /// Compact JSON text.
    var serialized: String {
        switch self {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .number(let text): return text
        case .string(let text): return JSONValue.quote(text)
        case .array(let items): return "[" + items.map(\.serialized).joined(separator: ",") + "]"
        case .object(let object):
            return "{" + object.keys.map { JSONValue.quote($0) + ":" + object[$0]!.serialized }.joined(separator: ",")
                + "}"
        }
    }

    var bytes: [UInt8] { Array(serialized.utf8) }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

extension Result where Failure == ValidationError {
    /// The failures, or `[]` on success.
    var failures: [ValidationFailure] {
        if case .failure(let error) = self { return error.failures }
        return []
    }

    /// (code, path) pairs of the failures.
    var codesAndPaths: Set<ExampleEntry.Expected> {
        Set(failures.map { ExampleEntry.Expected(code: $0.code.rawValue, path: $0.path) })
    }
}

/// Decodes with default limits.
func decode(_ value: JSONValue, limits: ValidationLimits = .default) -> Result<InvoiceEvent, ValidationError> {
    InvoiceEventDecoder(limits: limits).decode(value.bytes)
}
