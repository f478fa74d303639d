import Crypto
import Foundation

/// PKCE (RFC 7636) helpers.
enum PKCE {
    /// The `S256` code challenge of `verifier`: base64url (no padding) of its SHA-256.
    static func s256Challenge(of verifier: String) -> String {
        Data(SHA256.hash(data: Array(verifier.utf8))).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
