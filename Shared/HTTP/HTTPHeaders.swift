/// An ordered list of HTTP header fields with case-insensitive lookup.
///
/// Order and duplicates are preserved exactly as given (requests) or as received (responses), so
/// repeated fields such as `Set-Cookie` stay separate. Lookups compare names ASCII
/// case-insensitively, as HTTP requires.
///
/// ```swift
/// var headers: HTTPHeaders = ["Content-Type": "application/json"]
/// headers.add(name: "Authorization", value: "Bearer \(token)")
/// headers["content-type"]   // "application/json"
/// ```
///
/// `description` lists the field names only, never the values, because values such as
/// `Authorization` carry secrets.
public struct HTTPHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral,
    CustomStringConvertible
{
    /// One header field.
    public typealias Field = (name: String, value: String)

    private var fields: [Field]

    /// Creates an empty header list.
    public init() { fields = [] }

    /// Creates a header list from `(name, value)` pairs, keeping their order.
    /// - Parameter fields: the fields, in the order they are sent.
    public init(_ fields: [(String, String)]) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    /// Creates a header list from a literal such as `["Accept": "application/json"]`, keeping its order.
    public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }

    /// The number of fields, duplicates included.
    public var count: Int { fields.count }
    /// Whether there are no fields.
    public var isEmpty: Bool { fields.isEmpty }

    /// The value of the first field named `name` (case-insensitive), or `nil`.
    public subscript(name: String) -> String? {
        fields.first { Self.namesEqual($0.name, name) }?.value
    }

    /// Every value of the fields named `name` (case-insensitive), in order.
    /// - Parameter name: the field name.
    /// - Returns: the values, empty when there is no such field.
    public func values(for name: String) -> [String] {
        fields.filter { Self.namesEqual($0.name, name) }.map(\.value)
    }

    /// Whether a field named `name` (case-insensitive) is present.
    public func contains(_ name: String) -> Bool { fields.contains { Self.namesEqual($0.name, name) } }

    /// Appends a field, keeping any existing fields with the same name.
    public mutating func add(name: String, value: String) { fields.append((name: name, value: value)) }

    /// Removes every field named `name` (case-insensitive), then appends `name: value`.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        add(name: name, value: value)
    }

    /// Removes every field named `name` (case-insensitive).
    public mutating func remove(name: String) { fields.removeAll { Self.namesEqual($0.name, name) } }

    /// Iterates over the fields in order.
    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

    /// The field names only (values can be secrets).
    public var description: String { "HTTPHeaders(\(fields.map(\.name).joined(separator: ", ")))" }

    /// Two lists are equal when they hold the same fields in the same order (names compared
    /// case-insensitively, values exactly).
    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { namesEqual($0.name, $1.name) && $0.value == $1.value }
    }

    /// ASCII case-insensitive comparison without allocating.
    static func namesEqual(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                guard x.count == y.count else { return false }
                for i in 0..<x.count where x[i] != y[i] {
                    let lx = x[i] &- 65 < 26 ? x[i] | 0x20 : x[i]
                    let ly = y[i] &- 65 < 26 ? y[i] | 0x20 : y[i]
                    if lx != ly { return false }
                }
                return true
            }
        }
    }

    /// Whether `name` is a valid field name (an RFC 9110 token).
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"):
                    return true
                default:
                    return "!#$%&'*+-.^_`|~".utf8.contains(byte)
                }
            }
    }

    /// Whether `value` can be sent as a field value: no CR, LF or NUL (prevents header injection).
    static func isValidValue(_ value: String) -> Bool {
        !value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 }
    }
}
