import Crypto

extension SHA256 {
    /// The SHA-256 digest of `message` as lower-case hex, for deterministic keys and references.
    static func hex(_ message: [UInt8]) -> String {
        hash(data: message).map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }.joined()
    }
}
