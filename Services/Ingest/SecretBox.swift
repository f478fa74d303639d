import Crypto
import Foundation

/// Seals and opens small secrets (HTTP signing secrets) with AES-256-GCM.
///
/// The key comes from `LEDGERLINE_SECRETS_KEY`: 32 random bytes, base64-encoded (`openssl rand -base64 32`).
/// Each seal uses a fresh random 96-bit nonce; the output is `nonce (12) ‖ ciphertext ‖ tag (16)`. The
/// associated data names what the ciphertext belongs to (tenant and secret id), so a ciphertext copied to
/// another row does not open.
///
/// ``keyID`` identifies the key (a hash, never the key) and is stored next to each ciphertext, so secrets
/// sealed under an earlier key can still be opened during a key rotation (see ``SecretKeyring``).
struct SecretBox: Sendable {
    /// A short public identifier of the key: the first 8 bytes of SHA-256("ledgerline key id" ‖ key), hex.
    let keyID: String
    /// The key bytes (a `SymmetricKey` is not `Sendable`; one is made per operation).
    private let keyBytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// - Parameter base64Key: 32 bytes in standard base64.
    /// - Throws: ``SecretBoxError`` when the text is not base64 of exactly 32 bytes (the error never
    ///   quotes the text).
    init(base64Key: String) throws {
        let trimmed = base64Key.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Data(base64Encoded: trimmed) else {
            throw SecretBoxError(problem: "is not valid base64 (generate one with: openssl rand -base64 32)")
        }
        guard bytes.count == 32 else {
            throw SecretBoxError(problem: "must decode to 32 bytes, got \(bytes.count) (generate one with: openssl rand -base64 32)")
        }
        self.init(keyBytes: [UInt8](bytes))
    }

    /// - Parameter keyBytes: exactly 32 bytes.
    init(keyBytes: [UInt8]) {
        precondition(keyBytes.count == 32, "AES-256 needs a 32-byte key")
        self.keyBytes = keyBytes
        var hasher = SHA256()
        hasher.update(data: Array("ledgerline key id".utf8))
        hasher.update(data: keyBytes)
        self.keyID = hasher.finalize().prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// Encrypts `plaintext`, binding it to `associatedData`.
    func seal(_ plaintext: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        let box = try AES.GCM.seal(plaintext, using: key, nonce: AES.GCM.Nonce(), authenticating: associatedData)
        guard let combined = box.combined else { throw SecretBoxError(problem: "could not encode the sealed box") }
        return [UInt8](combined)
    }

    /// Decrypts what ``seal(_:associatedData:)`` produced with the same associated data.
    /// - Throws: ``SecretBoxError`` when the ciphertext was altered, belongs to other associated data, or was
    ///   sealed with another key.
    func open(_ sealed: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return [UInt8](try AES.GCM.open(box, using: key, authenticating: associatedData))
        } catch {
            throw SecretBoxError(problem: "cannot open a sealed secret (wrong key, altered ciphertext or wrong row)")
        }
    }
}

/// The current encryption key plus earlier ones that may still be needed to open old ciphertexts.
struct SecretKeyring: Sendable {
    /// Seals new secrets.
    let current: SecretBox
    /// Open secrets sealed before a key rotation (`LEDGERLINE_SECRETS_PREVIOUS_KEYS`).
    let previous: [SecretBox]

    /// The key with `keyID`, if the ring has it.
    func box(keyID: String) -> SecretBox? {
        if current.keyID == keyID { return current }
        return previous.first { $0.keyID == keyID }
    }

    /// The development key documented in `docs/ingest.md` for the local stack and demo: the ASCII text
    /// `ledgerline-local-development-key`. Never use it outside a laptop.
    static let developmentKeyBase64 = "bGVkZ2VybGluZS1sb2NhbC1kZXZlbG9wbWVudC1rZXk="

    /// Reads `LEDGERLINE_SECRETS_KEY` and `LEDGERLINE_SECRETS_PREVIOUS_KEYS` (comma-separated).
    /// - Throws: `ConfigurationError`-shaped ``SecretBoxError`` naming the variable, never its value.
    static func fromEnvironment(_ raw: (String) -> String?) throws -> SecretKeyring {
        guard let text = raw("LEDGERLINE_SECRETS_KEY") else {
            throw SecretBoxError(
                key: "LEDGERLINE_SECRETS_KEY",
                problem: "is required for HTTP intake and tenant secrets but not set "
                    + "(32 random bytes in base64: openssl rand -base64 32; the local stack may use the development key in docs/ingest.md)")
        }
        let current: SecretBox
        do { current = try SecretBox(base64Key: text) } catch let error as SecretBoxError {
            throw SecretBoxError(key: "LEDGERLINE_SECRETS_KEY", problem: error.problem)
        }
        var previous: [SecretBox] = []
        if let list = raw("LEDGERLINE_SECRETS_PREVIOUS_KEYS") {
            for (index, item) in list.split(separator: ",").enumerated() {
                do { previous.append(try SecretBox(base64Key: String(item))) } catch let error as SecretBoxError {
                    throw SecretBoxError(key: "LEDGERLINE_SECRETS_PREVIOUS_KEYS", problem: "entry \(index + 1) \(error.problem)")
                }
            }
        }
        return SecretKeyring(current: current, previous: previous)
    }

    /// True when the current key is the documented development key.
    var usesDevelopmentKey: Bool {
        current.keyID == (try? SecretBox(base64Key: Self.developmentKeyBase64))?.keyID
    }
}

/// A secret key is missing or malformed, or a sealed secret does not open. Never contains key material.
struct SecretBoxError: Error, Sendable, CustomStringConvertible {
    /// The environment variable at fault, when the problem is a setting.
    var key: String?
    var problem: String

    init(key: String? = nil, problem: String) {
        self.key = key
        self.problem = problem
    }

    var description: String {
        if let key { return "configuration error: \(key) \(problem)" }
        return "secret box: \(problem)"
    }
}
