import Foundation
import Testing

@testable import Domain

/// Keeps docs/event-contract/invoice-event.v1.schema.json, README.md and the Swift decoder in step.
@Suite("Schema and docs consistency")
struct SchemaConsistencyTests {
    static let schema: JSONValue = (try? Repo.json(Repo.schema)) ?? .null

    static func def(_ name: String) -> JSONObject? {
        guard case .object(let object)? = schema.value(at: "$defs.\(name)") else { return nil }
        return object
    }

    /// The pattern each text charset has in the schema.
    static let charsetPatterns: [ContractShape.Charset: String] = [
        .visibleASCII: "^[!-~]+$",
        .slug: "^[A-Za-z0-9][A-Za-z0-9._-]*$",
        .singleLine: "^[^\\u0000-\\u001F\\u007F-\\u009F]+$",
        .multiline: "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]+$",
        .email:
            "^[^@ \\u0000-\\u001F\\u007F-\\u009F]+@[^@ \\u0000-\\u001F\\u007F-\\u009F]+\\.[^@ \\u0000-\\u001F\\u007F-\\u009F]+$",
        .countryCode: "^[A-Z]{2}$",
    ]

    static let decimalDefs: [ContractShape.DecimalKind: String] = [
        .amount: "Money", .unitPrice: "UnitPrice", .quantity: "Quantity", .percentage: "Percentage",
    ]

    @Test func schemaHeader() {
        #expect(Self.schema.value(at: "$schema") == .string("https://json-schema.org/draft/2020-12/schema"))
        #expect(Self.schema.value(at: "$ref") == .string("#/$defs/InvoiceEvent"))
    }

    @Test func everyDefinitionIsKnown() throws {
        guard case .object(let defs)? = Self.schema.value(at: "$defs") else {
            Issue.record("no $defs")
            return
        }
        let expected = Set(ContractShape.all.keys).union(Self.decimalDefs.values)
            .union(["CurrencyCode", "LocalDate", "Timestamp"])
        #expect(Set(defs.keys) == expected)
    }

    @Test("object definition matches ContractShape", arguments: Array(ContractShape.all.keys).sorted())
    func objectMatches(name: String) throws {
        let shape = try #require(ContractShape.all[name])
        let def = try #require(Self.def(name), "missing $defs.\(name)")
        #expect(def["type"] == .string("object"))
        #expect(def["additionalProperties"] == .bool(false))
        guard case .object(let properties)? = def["properties"] else {
            Issue.record("no properties")
            return
        }
        #expect(Set(properties.keys) == Set(shape.keys), "\(name) properties")
        #expect(Set(strings(def["required"])) == Set(shape.fields.filter(\.required).map(\.key)), "\(name) required")
        for field in shape.fields {
            guard let property = properties[field.key] else { continue }
            check(field, property, in: name)
        }
    }

    private func strings(_ value: JSONValue?) -> [String] {
        guard case .array(let items)? = value else { return [] }
        return items.compactMap { if case .string(let text) = $0 { text } else { nil } }
    }

    /// Checks one property schema against its Swift field.
    private func check(_ field: ContractShape.Field, _ property: JSONValue, in object: String) {
        let label = "\(object).\(field.key)"
        guard case .object(let schema) = property else {
            Issue.record("\(label) is not an object schema")
            return
        }
        func typeIs(_ type: String) {
            let expected: JSONValue = field.required ? .string(type) : .array([.string(type), .string("null")])
            #expect(schema["type"] == expected, "\(label) type")
        }
        func refIs(_ def: String) {
            let ref = JSONValue.string("#/$defs/\(def)")
            if field.required {
                #expect(schema["$ref"] == ref, "\(label) $ref")
            } else {
                let nullable = JSONValue.array([
                    .object(jsonObject(["$ref": ref])), .object(jsonObject(["type": .string("null")])),
                ])
                #expect(schema["anyOf"] == nullable, "\(label) anyOf")
            }
        }
        switch field.type {
        case .text(let rule):
            typeIs("string")
            #expect(schema["minLength"] == .number("1"), "\(label) minLength")
            #expect(schema["maxLength"] == .number(String(rule.maxLength)), "\(label) maxLength")
            #expect(schema["pattern"] == .string(Self.charsetPatterns[rule.charset]!), "\(label) pattern")
        case .decimal(let kind):
            refIs(Self.decimalDefs[kind]!)
        case .currency:
            refIs("CurrencyCode")
        case .date:
            refIs("LocalDate")
        case .timestamp:
            refIs("Timestamp")
        case .bool:
            typeIs("boolean")
        case .integer(let range):
            typeIs("integer")
            #expect(schema["minimum"] == .number(String(range.lowerBound)), "\(label) minimum")
            #expect(schema["maximum"] == .number(String(range.upperBound)), "\(label) maximum")
        case .enumeration(let values):
            let expected = values.map(JSONValue.string) + (field.required ? [] : [.null])
            #expect(schema["enum"] == .array(expected), "\(label) enum")
        case .object(let def):
            refIs(def)
        case .array(let element, let kind):
            typeIs("array")
            #expect(schema["items"] == .object(jsonObject(["$ref": .string("#/$defs/\(element)")])), "\(label) items")
            let limits = ValidationLimits.default
            let max =
                switch kind {
                case .lines: limits.maxLinesPerInvoice
                case .taxLines: limits.maxTaxLinesPerInvoice
                case .payments: limits.maxPaymentsPerInvoice
                }
            #expect(schema["maxItems"] == .number(String(max)), "\(label) maxItems")
            #expect(schema["minItems"] == (kind == .lines ? .number("1") : nil), "\(label) minItems")
        case .schemaVersion:
            #expect(schema["const"] == .string(InvoiceEvent.currentSchemaVersion))
        case .eventType:
            #expect(schema["enum"] == .array(InvoiceEvent.EventType.allCases.map { .string($0.rawValue) }))
        case .vin:
            typeIs("string")
        }
    }

    private func jsonObject(_ members: KeyValuePairs<String, JSONValue>) -> JSONObject {
        var object = JSONObject()
        for (key, value) in members { object.insert(key, value) }
        return object
    }

    @Test func decimalDefinitionsMatchDigitLimits() {
        for (kind, def) in Self.decimalDefs {
            let pattern = Self.schema.value(at: "$defs.\(def).pattern")
            if kind == .percentage {
                #expect(pattern == .string("^(100(\\.0{1,6})?|[1-9]?[0-9](\\.[0-9]{1,6})?)$"))
            } else {
                let expected =
                    "^-?(0|[1-9][0-9]{0,\(kind.maxIntegerDigits - 1)})(\\.[0-9]{1,\(kind.maxFractionDigits)})?$"
                #expect(pattern == .string(expected), "\(def)")
            }
        }
        #expect(ContractShape.DecimalKind.amount.maxFractionDigits == CurrencyCode.all.map(\.minorUnits).max())
    }

    @Test func currencyEnumMatchesTheTable() {
        #expect(Self.schema.value(at: "$defs.CurrencyCode.enum") == .array(CurrencyCode.all.map { .string($0.code) }))
    }

    @Test func eventTypeConditionalsMatchPayloadKeys() throws {
        let clauses = try #require(Self.def("InvoiceEvent").flatMap { ifClauses($0) })
        for type in InvoiceEvent.EventType.allCases {
            let clause = try #require(clauses.first { $0.key == "event_type" && $0.value == type.rawValue }, "\(type)")
            let needed = ContractShape.payloadKeys[type]!
            #expect(clause.required == needed, "\(type)")
            for key in ContractShape.allPayloadKeys {
                let expected: JSONValue =
                    needed.contains(key)
                    ? .object(jsonObject(["$ref": .string("#/$defs/\(ContractShape.event[key].type.objectName!)")]))
                    : .object(jsonObject(["type": .string("null")]))
                #expect(clause.properties[key] == expected, "\(type).\(key)")
            }
        }
    }

    @Test func lineKindConditionalsMatchKindFields() throws {
        let clauses = try #require(Self.def("InvoiceLine").flatMap { ifClauses($0) })
        for kind in InvoiceLine.Kind.allCases {
            let clause = try #require(clauses.first { $0.key == "kind" && $0.value == kind.rawValue }, "\(kind)")
            let fields = ContractShape.lineKindFields[kind]!
            #expect(clause.required == fields.required, "\(kind)")
            for key in ContractShape.kindSpecificKeys {
                let expected: JSONValue? =
                    if fields.required.contains(key) {
                        .object(jsonObject(["type": .string("string")]))
                    } else if fields.optional.contains(key) { nil } else {
                        .object(jsonObject(["type": .string("null")]))
                    }
                #expect(clause.properties[key] == expected, "\(kind).\(key)")
            }
        }
    }

    @Test func customerExemptionConditional() throws {
        let clauses = try #require(Self.def("Customer").flatMap { ifClauses($0) })
        #expect(clauses.count == 1)
        #expect(clauses.first?.key == "tax_exempt")
        #expect(clauses.first?.value == "true")
        #expect(clauses.first?.required == ["tax_exempt_reason"])
    }

    @Test func vinPatterns() {
        #expect(Self.schema.value(at: "$defs.Vehicle.if.properties.year.maximum") == .number("1980"))
        #expect(
            Self.schema.value(at: "$defs.Vehicle.then.properties.vin.anyOf[1].pattern") == .string("^[A-Z0-9]{5,17}$"))
        #expect(
            Self.schema.value(at: "$defs.Vehicle.else.properties.vin.anyOf[1].pattern")
                == .string("^[A-HJ-NPR-Z0-9]{17}$"))
    }

    // MARK: Behaviour: what the schema requires is what the decoder requires

    struct IfClause {
        var key: String
        var value: String
        var required: [String]
        var properties: JSONObject
    }

    /// The `if {properties: {k: {const: v}}} then {...}` clauses of a definition (in `allOf` or at its top).
    private func ifClauses(_ def: JSONObject) -> [IfClause] {
        var candidates: [JSONObject] = []
        if case .array(let items)? = def["allOf"] {
            candidates += items.compactMap { if case .object(let o) = $0 { o } else { nil } }
        }
        if def["if"] != nil { candidates.append(def) }
        return candidates.compactMap { clause in
            guard case .object(let condition)? = clause["if"], case .object(let properties)? = condition["properties"],
                let key = properties.keys.first, let constant = properties[key]?.value(at: "const")
            else { return nil }
            let value: String =
                switch constant {
                case .string(let text): text
                case .bool(let flag): flag ? "true" : "false"
                default: constant.serialized
                }
            guard case .object(let then)? = clause["then"] else { return nil }
            var thenProperties = JSONObject()
            if case .object(let p)? = then["properties"] { thenProperties = p }
            return IfClause(key: key, value: value, required: strings(then["required"]), properties: thenProperties)
        }
    }

    /// Keys the schema requires of `object` (typed by definition `def`), conditionals included.
    private func requiredKeys(_ def: JSONObject, for object: JSONObject) -> Set<String> {
        var required = Set(strings(def["required"]))
        for clause in ifClauses(def) {
            guard let value = object[clause.key] else { continue }
            let text: String =
                switch value {
                case .string(let s): s
                case .bool(let b): b ? "true" : "false"
                default: value.serialized
                }
            if text == clause.value { required.formUnion(clause.required) }
        }
        return required
    }

    /// The definition a property refers to, directly, through a nullable `anyOf`, or as array items.
    private func referencedDef(_ property: JSONValue?) -> String? {
        guard let property else { return nil }
        for path in ["$ref", "anyOf[0].$ref", "items.$ref"] {
            if case .string(let ref)? = property.value(at: path), ref.hasPrefix("#/$defs/") {
                return String(ref.dropFirst("#/$defs/".count))
            }
        }
        return nil
    }

    struct ObjectSite {
        var path: String
        var def: JSONObject
        var object: JSONObject
    }

    /// Every object in a document, with its path and schema definition.
    private func objects(in value: JSONValue, path: String, defName: String) -> [ObjectSite] {
        guard let def = Self.def(defName) else { return [] }
        switch value {
        case .object(let object):
            var sites = [ObjectSite(path: path, def: def, object: object)]
            guard case .object(let properties)? = def["properties"] else { return sites }
            for key in object.keys {
                guard let child = referencedDef(properties[key]), let childValue = object[key] else { continue }
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                if case .array(let items) = childValue {
                    for (index, item) in items.enumerated() {
                        sites += objects(in: item, path: "\(childPath)[\(index)]", defName: child)
                    }
                } else {
                    sites += objects(in: childValue, path: childPath, defName: child)
                }
            }
            return sites
        default:
            return []
        }
    }

    @Test("removing a field fails exactly when the schema requires it", arguments: ExampleTests.entries.filter(\.valid))
    func removalMatchesSchema(entry: ExampleEntry) throws {
        let document = try Repo.example(entry.file)
        let sites = objects(in: document, path: "", defName: "InvoiceEvent")
        #expect(sites.count > 2)
        for site in sites {
            let required = requiredKeys(site.def, for: site.object)
            for key in site.object.keys {
                let fieldPath = site.path.isEmpty ? key : "\(site.path).\(key)"
                let failures = decode(document.setting(fieldPath, nil)).failures
                let missing = failures.contains { $0.code == .missingField && $0.path == fieldPath }
                #expect(missing == required.contains(key), "removing \(fieldPath): \(failures.map(\.description))")
            }
            let extraPath = site.path.isEmpty ? "x_extra" : "\(site.path).x_extra"
            let failures = decode(document.setting(extraPath, .string("?"))).failures
            #expect(failures.map(\.description) == ["schema.unknown_field at \(extraPath)"])
        }
    }

    /// The lines of a README section (from its heading to the next heading of the same or higher level).
    private func section(_ heading: String, in readme: String) -> [Substring] {
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0 == heading }) else { return [] }
        let level = heading.prefix { $0 == "#" }.count
        let rest = lines[(start + 1)...]
        let end =
            rest.firstIndex { line in
                let hashes = line.prefix { $0 == "#" }.count
                return hashes > 0 && hashes <= level && line.dropFirst(hashes).hasPrefix(" ")
            } ?? lines.endIndex
        return Array(lines[(start + 1)..<end])
    }

    @Test func readmeCatalogueMatchesReasonCodes() throws {
        let readme = try String(contentsOf: Repo.readme, encoding: .utf8)
        let rows = section("## 8. Reason codes", in: readme).compactMap { line -> ReasonCodeInfo? in
            guard let match = line.wholeMatch(of: /\| `([a-z]+\.[a-z_]+)` \| (.+) \|/) else { return nil }
            return ReasonCodeInfo(ReasonCode(String(match.1)), String(match.2))
        }
        #expect(rows == ReasonCode.contractCatalogue)
    }

    @Test("README field table matches ContractShape", arguments: Array(ContractShape.all.keys).sorted())
    func readmeFieldTable(name: String) throws {
        let readme = try String(contentsOf: Repo.readme, encoding: .utf8)
        let shape = try #require(ContractShape.all[name])
        let rows = section("### `\(name)`", in: readme).compactMap { line -> (String, Bool)? in
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count >= 5, cells[1].hasPrefix("`") else { return nil }
            return (cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`")), cells[3] == "yes")
        }
        #expect(rows.map(\.0) == shape.keys, "\(name) fields")
        #expect(rows.map(\.1) == shape.fields.map(\.required), "\(name) required column")
    }
}

extension ContractShape.FieldType {
    var objectName: String? {
        if case .object(let name) = self { return name }
        return nil
    }
}
