import Postgres

/// Builds one-dimensional `text[]` bind parameters whose elements may be NULL (the Postgres wrapper's
/// own array binds have no NULL elements). Statements cast the elements (`u.x::uuid`, `u.x::jsonb`).
struct TextArrayBuilder {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]
    private var count = 0

    init(capacity: Int = 0) {
        bytes.reserveCapacity(2 + capacity * 24)
    }

    mutating func append(_ value: String?) {
        if count > 0 { bytes.append(UInt8(ascii: ",")) }
        count += 1
        guard let value else {
            bytes.append(contentsOf: Array("NULL".utf8))
            return
        }
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
            bytes.append(byte)
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// The finished `text[]` parameter.
    func bind() -> PostgresBind {
        .text(String(decoding: bytes + [UInt8(ascii: "}")], as: UTF8.self), type: .textArray)
    }

    /// A `text[]` parameter holding `values`.
    static func bind(_ values: some Collection<String?>) -> PostgresBind {
        var builder = TextArrayBuilder(capacity: values.count)
        for value in values { builder.append(value) }
        return builder.bind()
    }
}

/// A bind parameter that is already encoded.
struct EncodedBind: PostgresBindable {
    let bind: PostgresBind
    static var postgresDataType: PostgresDataType { .textArray }
    var postgresBind: PostgresBind { bind }
}

/// JSON text of a string dictionary, keys sorted, written by hand (`JSONEncoder` costs more than the
/// rest of a row).
enum JSONText {
    static func object(_ dictionary: [String: String]) -> String {
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (index, key) in dictionary.keys.sorted().enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            string(key, into: &out)
            out.append(UInt8(ascii: ":"))
            string(dictionary[key]!, into: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    static func string(_ text: String, into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
