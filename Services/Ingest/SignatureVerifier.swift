import Crypto
import Domain
import Foundation

/// Checks the HMAC signature of an HTTP intake request.
///
/// The client signs `"<timestamp>.<raw body>"` with HMAC-SHA256 under the tenant's signing secret (the
/// secret's text, as UTF-8 bytes, is the HMAC key) and sends:
///
/// ```
/// Ledgerline-Tenant: sparks-franchise
/// Ledgerline-Timestamp: 1742000000                       (unix seconds)
/// Ledgerline-Signature: v1=5f2b…c9                       (64 lower- or upper-case hex digits)
/// ```
///
/// During a secret rotation a client may send several signatures (`v1=…,v1=…`); one match is enough.
/// Every candidate is compared in constant time. The timestamp must be within ``tolerance`` of the
/// server's clock (both directions), which bounds how long a captured request could be replayed; the
/// intake additionally remembers each accepted signature for longer than the window (replay protection).
struct SignatureVerifier: Sendable {
    /// How far the request's timestamp may be from now, either way. Default 300 s.
    var tolerance: Duration = .seconds(300)

    /// A verified request: which signature matched and the time it was signed.
    struct Verified: Sendable, Equatable {
        /// The 32-byte MAC that matched (stored for replay protection).
        var signature: [UInt8]
        /// The request's `Ledgerline-Timestamp`.
        var signedAt: Date
    }

    /// Why a request failed authentication. `code` is one of the `signature.*` reason codes.
    struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        var code: ReasonCode
        var message: String
        var description: String { "\(code.rawValue): \(message)" }
    }

    /// Parses the timestamp header (unix seconds, digits only).
    static func parseTimestamp(_ text: String?) -> Result<Int64, Failure> {
        guard let text, !text.isEmpty else {
            return .failure(Failure(code: .signatureMissing, message: "The Ledgerline-Timestamp header is missing."))
        }
        guard text.count <= 12, text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(text) else {
            return .failure(Failure(
                code: .signatureMalformed, message: "Ledgerline-Timestamp must be the unix time in whole seconds."))
        }
        return .success(value)
    }

    /// Parses `v1=<hex>[,v1=<hex>…]` into 32-byte MACs. Unknown schemes (`v2=…`) are ignored.
    static func parseSignatures(_ text: String?) -> Result<[[UInt8]], Failure> {
        guard let text, !text.isEmpty else {
            return .failure(Failure(code: .signatureMissing, message: "The Ledgerline-Signature header is missing."))
        }
        var macs: [[UInt8]] = []
        for part in text.split(whereSeparator: { $0 == "," || $0 == " " }) where !part.isEmpty {
            guard let equals = part.firstIndex(of: "=") else {
                return .failure(Failure(
                    code: .signatureMalformed, message: "Ledgerline-Signature must look like v1=<64 hex digits>."))
            }
            guard part[..<equals] == "v1" else { continue }
            guard let mac = hexBytes(part[part.index(after: equals)...]), mac.count == 32 else {
                return .failure(Failure(
                    code: .signatureMalformed, message: "Ledgerline-Signature must look like v1=<64 hex digits>."))
            }
            macs.append(mac)
            if macs.count > 8 { break }
        }
        guard !macs.isEmpty else {
            return .failure(Failure(
                code: .signatureMalformed, message: "Ledgerline-Signature carries no v1 signature."))
        }
        return .success(macs)
    }

    /// Verifies a request.
    ///
    /// - Parameters:
    ///   - timestamp: the `Ledgerline-Timestamp` header.
    ///   - signature: the `Ledgerline-Signature` header.
    ///   - body: the raw request body, exactly as received.
    ///   - secrets: the tenant's active signing secrets (empty for an unknown tenant: always fails the same way).
    ///   - now: the server's clock.
    func verify(
        timestamp: String?, signature: String?, body: some Collection<UInt8>, secrets: [[UInt8]], now: Date
    ) -> Result<Verified, Failure> {
        let seconds: Int64
        switch Self.parseTimestamp(timestamp) {
        case .success(let value): seconds = value
        case .failure(let failure): return .failure(failure)
        }
        let candidates: [[UInt8]]
        switch Self.parseSignatures(signature) {
        case .success(let value): candidates = value
        case .failure(let failure): return .failure(failure)
        }
        var matched: [UInt8]?
        for secret in secrets {
            let expected = Self.mac(secret: secret, timestamp: seconds, body: body)
            for candidate in candidates where Self.constantTimeEquals(candidate, expected) {
                matched = expected
            }
        }
        guard let matched else {
            return .failure(Failure(
                code: .signatureInvalid,
                message: "The signature does not match: sign \"<Ledgerline-Timestamp>.<raw body>\" with HMAC-SHA256 under the tenant's signing secret."))
        }
        // The window is checked on authenticated timestamps only, so the answer does not help a forger.
        let signedAt = Date(timeIntervalSince1970: TimeInterval(seconds))
        let skew = abs(now.timeIntervalSince(signedAt))
        let limit = Double(tolerance.components.seconds) + Double(tolerance.components.attoseconds) / 1e18
        guard skew <= limit else {
            return .failure(Failure(
                code: .signatureExpired,
                message: "Ledgerline-Timestamp is \(Int(skew)) s away from the server's clock; the limit is \(Int(limit)) s. Sign again with the current time."))
        }
        return .success(Verified(signature: matched, signedAt: signedAt))
    }

    /// HMAC-SHA256(secret, "<timestamp>.<body>").
    static func mac(secret: [UInt8], timestamp: Int64, body: some Collection<UInt8>) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: secret))
        hmac.update(data: Array("\(timestamp).".utf8))
        if let contiguous = body as? [UInt8] {
            hmac.update(data: contiguous)
        } else {
            hmac.update(data: Array(body))
        }
        return Array(hmac.finalize())
    }

    /// The `Ledgerline-Signature` header value for a request (used by clients, tests and benchmarks).
    static func header(secret: String, timestamp: Int64, body: some Collection<UInt8>) -> String {
        "v1=" + mac(secret: Array(secret.utf8), timestamp: timestamp, body: body).map { String(format: "%02x", $0) }.joined()
    }

    /// Compares two byte strings in time that depends only on their lengths.
    static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }

    private static func hexBytes(_ text: Substring) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
