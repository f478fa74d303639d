import Connectors
import Foundation

/// Checks request payloads against Xero's official OpenAPI component schemas (extracted once into
/// `Fixtures/Contracts/xero-accounting.schemas.json` by `extract_contracts.py`).
///
/// Every key must be a property of the schema, of the right JSON type (`number` accepts any JSON number,
/// `integer` whole numbers only), within `enum` and `maxLength`, a UUID where the format says so, and never a
/// `readOnly` property.
struct XeroSchemaValidator: Sendable {
    struct Property: Decodable, Sendable {
        var type: String?
        var ref: String?
        var format: String?
        var maxLength: Int?
        var readOnly: Bool?
        var `enum`: [String]?
        var items: Box<Property>?
    }

    /// A boxed recursive value.
    final class Box<T: Decodable & Sendable>: Decodable, Sendable {
        let value: T
        required init(from decoder: any Decoder) throws { value = try T(from: decoder) }
    }

    struct Schema: Decodable, Sendable {
        var type: String
        var properties: [String: Property]
    }

    struct File: Decodable, Sendable {
        var source: String
        var source_sha256: String
        var spec_version: String
        var schemas: [String: Schema]
    }

    let file: File

    init() throws {
        file = try JSONDecoder().decode(
            File.self, from: Data(try Fixtures.bytes("Contracts/xero-accounting.schemas.json")))
    }

    /// Every violation of `node` against schema `name`, as `path: problem`.
    func violations(_ node: JSONNode, schema name: String, path: String = "$") -> [String] {
        guard let schema = file.schemas[name] else { return ["\(path): unknown schema \(name)"] }
        guard case .object(let object) = node else {
            return ["\(path): expected an object for \(name), found \(node.typeName)"]
        }
        var problems: [String] = []
        for (key, value) in object {
            guard let property = schema.properties[key] else {
                problems.append("\(path).\(key): not a property of \(name)")
                continue
            }
            problems += check(value, property, path: "\(path).\(key)")
        }
        return problems
    }

    private func check(_ value: JSONNode, _ property: Property, path: String) -> [String] {
        if property.readOnly == true { return ["\(path): read-only property sent"] }
        if let ref = property.ref { return violations(value, schema: ref, path: path) }
        switch (property.type, value) {
        case ("string", .string(let text)):
            var problems: [String] = []
            if let maxLength = property.maxLength, text.count > maxLength {
                problems.append("\(path): longer than \(maxLength)")
            }
            if let values = property.enum, !values.contains(text) {
                problems.append("\(path): \(text) not in \(values)")
            }
            if property.format == "uuid", UUID(uuidString: text) == nil { problems.append("\(path): not a UUID") }
            return problems
        case ("number", .number): return []
        case ("integer", .number(let number)): return number.integer == nil ? ["\(path): not an integer"] : []
        case ("boolean", .bool): return []
        case ("array", .array(let items)):
            guard let item = property.items?.value else { return [] }
            return items.enumerated().flatMap { check($1, item, path: "\(path)[\($0)]") }
        default:
            return ["\(path): expected \(property.type ?? "?"), found \(value.typeName)"]
        }
    }
}

/// Checks request payloads against Intuit's V3 XSDs (element and attribute names and types, extracted once
/// into `Fixtures/Contracts/quickbooks-online.xsd.json` by `extract_contracts.py`).
///
/// JSON keys must be elements or attributes of the complex type; repeated elements must be arrays and
/// single ones must not; simple types map to JSON types (decimal → number, positiveInteger → integer,
/// boolean, string) and enumerations are enforced; a type with simple content is an object with `value`.
struct QuickBooksSchemaValidator: Sendable {
    struct Field: Decodable, Sendable {
        var complex: String?
        var json: String?
        var `enum`: [String]?
        var repeated: Bool?
    }

    struct ComplexType: Decodable, Sendable {
        var elements: [String: Field]
        var attributes: [String: Field]
        var simple_content: String?
    }

    struct File: Decodable, Sendable {
        var source: String
        var source_sha256: [String: String]
        var types: [String: ComplexType]
    }

    let file: File

    init() throws {
        file = try JSONDecoder().decode(
            File.self, from: Data(try Fixtures.bytes("Contracts/quickbooks-online.xsd.json")))
    }

    /// Every violation of `node` against complex type `name`, as `path: problem`.
    func violations(_ node: JSONNode, type name: String, path: String = "$") -> [String] {
        guard let type = file.types[name] else { return ["\(path): unknown XSD type \(name)"] }
        guard case .object(let object) = node else {
            return ["\(path): expected an object for \(name), found \(node.typeName)"]
        }
        var problems: [String] = []
        for (key, value) in object {
            if key == "value", let simple = type.simple_content {
                problems += checkSimple(value, Field(json: simple), path: "\(path).value")
                continue
            }
            if let element = type.elements[key] {
                if element.repeated == true {
                    guard case .array(let items) = value else {
                        problems.append("\(path).\(key): repeated element must be an array")
                        continue
                    }
                    for (index, item) in items.enumerated() {
                        problems += check(item, element, path: "\(path).\(key)[\(index)]")
                    }
                } else {
                    problems += check(value, element, path: "\(path).\(key)")
                }
            } else if let attribute = type.attributes[key] {
                problems += check(value, attribute, path: "\(path).\(key)")
            } else {
                problems.append("\(path).\(key): not an element or attribute of \(name)")
            }
        }
        return problems
    }

    private func check(_ value: JSONNode, _ field: Field, path: String) -> [String] {
        if let complex = field.complex { return violations(value, type: complex, path: path) }
        return checkSimple(value, field, path: path)
    }

    private func checkSimple(_ value: JSONNode, _ field: Field, path: String) -> [String] {
        switch (field.json, value) {
        case ("string", .string(let text)):
            if let values = field.enum, !values.contains(text) { return ["\(path): \(text) not in \(values)"] }
            return []
        case ("number", .number): return []
        case ("integer", .number(let number)): return number.integer == nil ? ["\(path): not an integer"] : []
        case ("boolean", .bool): return []
        default: return ["\(path): expected \(field.json ?? "?"), found \(value.typeName)"]
        }
    }
}

extension QuickBooksSchemaValidator {
    /// Loaded once per test process.
    static let shared: QuickBooksSchemaValidator = try! QuickBooksSchemaValidator()
}

extension XeroSchemaValidator {
    /// Loaded once per test process.
    static let shared: XeroSchemaValidator = try! XeroSchemaValidator()
}
