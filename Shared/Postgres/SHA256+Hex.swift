import Crypto

extension SHA256 {
    /// The SHA-256 digest of `message` as lower-case hex (migration checksums).
    static func hexDigest(_ message: some Collection<UInt8>) -> String {
        digest(message).map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }.joined()
    }

    /// The SHA-256 digest of `message` as bytes.
    static func digest(_ message: some Collection<UInt8>) -> [UInt8] {
        Array(hash(data: Array(message)))
    }
}
