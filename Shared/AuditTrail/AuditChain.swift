import Crypto

/// The constants and hash function of the per-tenant audit hash chain.
///
/// Each tenant's rows are chained: row *n* carries the hash of row *n − 1* in `prev_hash`, and its
/// own `row_hash` is SHA-256 over its canonical encoding (``AuditRow/canonicalEncoding()``), which
/// includes `prev_hash`. Editing, deleting or reordering a row therefore breaks the chain at that row
/// or the next one, which ``AuditVerifier`` reports.
public enum AuditChain {
    /// The first bytes of every canonical encoding: format name and version.
    public static let formatTag: [UInt8] = Array("LLAUDIT1".utf8)

    /// The `prev_hash` of a tenant's first row: 32 zero bytes.
    public static let genesisHash: [UInt8] = [UInt8](repeating: 0, count: 32)

    /// SHA-256 of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: bytes))
    }

    /// Lower-case hex of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes from hex text (either case), or nil when it is not hex.
    public static func bytes(hex: String) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func value(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = value(utf8[index]), let low = value(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
