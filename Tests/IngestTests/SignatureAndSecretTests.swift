import Crypto
import Domain
import Foundation
import Runtime
import Testing

@testable import Ingest

@Suite("Signature verification")
struct SignatureVerifierTests {
    let verifier = SignatureVerifier()
    let secret = "llsec_test-secret"
    let body = Array(#"{"schema_version": "1"}"#.utf8)
    let now = Date(timeIntervalSince1970: 1_750_000_000)

    func sign(_ body: [UInt8], at timestamp: Int64, secret: String? = nil) -> String {
        SignatureVerifier.header(secret: secret ?? self.secret, timestamp: timestamp, body: body)
    }

    func verify(timestamp: String?, signature: String?, body: [UInt8]? = nil, secrets: [String]? = nil)
        -> Result<SignatureVerifier.Verified, SignatureVerifier.Failure>
    {
        verifier.verify(
            timestamp: timestamp, signature: signature, body: body ?? self.body,
            secrets: (secrets ?? [secret]).map { Array($0.utf8) }, now: now)
    }

    @Test func acceptsAValidSignature() throws {
        let ts: Int64 = 1_750_000_000
        let verified = try verify(timestamp: String(ts), signature: sign(body, at: ts)).get()
        #expect(verified.signature.count == 32)
        #expect(verified.signedAt == now)
    }

    @Test func matchesOpenSSLStyleHexOfTimestampDotBody() {
        // HMAC-SHA256("key", "1.x") computed independently with Crypto.
        let mac = HMAC<SHA256>.authenticationCode(for: Array("1.x".utf8), using: SymmetricKey(data: Array("key".utf8)))
        let hex = mac.map { String(format: "%02x", $0) }.joined()
        #expect(SignatureVerifier.header(secret: "key", timestamp: 1, body: Array("x".utf8)) == "v1=" + hex)
    }

    @Test func rejectsAFlippedBodyByte() {
        let ts: Int64 = 1_750_000_000
        var tampered = body
        tampered[3] ^= 0x01
        #expect(verify(timestamp: String(ts), signature: sign(body, at: ts), body: tampered).failureCode == .signatureInvalid)
    }

    @Test func rejectsReserialisedJSON() {
        let ts: Int64 = 1_750_000_000
        let reserialised = Array(#"{"schema_version":"1"}"#.utf8)  // same JSON, other bytes
        #expect(verify(timestamp: String(ts), signature: sign(body, at: ts), body: reserialised).failureCode == .signatureInvalid)
    }

    @Test func rejectsTheWrongSecret() {
        let ts: Int64 = 1_750_000_000
        #expect(verify(timestamp: String(ts), signature: sign(body, at: ts, secret: "other")).failureCode == .signatureInvalid)
        #expect(verify(timestamp: String(ts), signature: sign(body, at: ts), secrets: []).failureCode == .signatureInvalid)
    }

    @Test func rejectsATimestampThatWasNotSigned() {
        let ts: Int64 = 1_750_000_000
        #expect(verify(timestamp: String(ts + 1), signature: sign(body, at: ts)).failureCode == .signatureInvalid)
    }

    @Test(arguments: [-301, 301, -3600, 86_400])
    func rejectsTimestampsOutsideTheWindow(offset: Int64) {
        let ts = 1_750_000_000 + offset
        #expect(verify(timestamp: String(ts), signature: sign(body, at: ts)).failureCode == .signatureExpired)
    }

    @Test(arguments: [-300, -299, 0, 299, 300])
    func acceptsTimestampsInsideTheWindow(offset: Int64) throws {
        let ts = 1_750_000_000 + offset
        _ = try verify(timestamp: String(ts), signature: sign(body, at: ts)).get()
    }

    @Test func reportsMissingAndMalformedHeaders() {
        let ts: Int64 = 1_750_000_000
        let good = sign(body, at: ts)
        #expect(verify(timestamp: nil, signature: good).failureCode == .signatureMissing)
        #expect(verify(timestamp: String(ts), signature: nil).failureCode == .signatureMissing)
        #expect(verify(timestamp: "2025-03-14T10:00:00Z", signature: good).failureCode == .signatureMalformed)
        #expect(verify(timestamp: "-5", signature: good).failureCode == .signatureMalformed)
        #expect(verify(timestamp: String(ts), signature: "v1=zz").failureCode == .signatureMalformed)
        #expect(verify(timestamp: String(ts), signature: "sha256=abc").failureCode == .signatureMalformed)
        #expect(verify(timestamp: String(ts), signature: "v2=" + String(repeating: "a", count: 64)).failureCode == .signatureMalformed)
    }

    @Test func acceptsOneValidSignatureAmongSeveral() throws {
        let ts: Int64 = 1_750_000_000
        let wrong = sign(body, at: ts, secret: "old-secret")
        let right = sign(body, at: ts)
        _ = try verify(timestamp: String(ts), signature: "\(wrong),\(right)").get()
        _ = try verify(timestamp: String(ts), signature: "\(right), \(wrong)").get()
        // Upper-case hex is accepted too.
        _ = try verify(timestamp: String(ts), signature: "v1=" + right.dropFirst(3).uppercased()).get()
    }

    @Test func acceptsAnyActiveSecretDuringRotation() throws {
        let ts: Int64 = 1_750_000_000
        _ = try verify(timestamp: String(ts), signature: sign(body, at: ts, secret: "new"), secrets: ["old", "new"]).get()
    }

    @Test func comparesInConstantTimeShape() {
        #expect(SignatureVerifier.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!SignatureVerifier.constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!SignatureVerifier.constantTimeEquals([1, 2, 3], [1, 2]))
    }
}

extension Result where Failure == SignatureVerifier.Failure {
    var failureCode: ReasonCode? {
        if case .failure(let failure) = self { return failure.code }
        return nil
    }
}

@Suite("Secrets at rest")
struct SecretBoxTests {
    @Test func sealsAndOpens() throws {
        let box = try SecretBox(base64Key: SecretKeyring.developmentKeyBase64)
        let sealed = try box.seal(Array("llsec_abc".utf8), associatedData: Array("t1/s1".utf8))
        #expect(sealed.count == 12 + 9 + 16)
        #expect(try box.open(sealed, associatedData: Array("t1/s1".utf8)) == Array("llsec_abc".utf8))
        // The plaintext does not appear in the ciphertext, and two seals differ (fresh nonce).
        #expect(!String(decoding: sealed, as: UTF8.self).contains("llsec_abc"))
        #expect(try box.seal(Array("llsec_abc".utf8), associatedData: Array("t1/s1".utf8)) != sealed)
    }

    @Test func refusesAnotherRowsCiphertextOrAnotherKey() throws {
        let box = try SecretBox(base64Key: SecretKeyring.developmentKeyBase64)
        let sealed = try box.seal(Array("secret".utf8), associatedData: Array("tenant-a".utf8))
        #expect(throws: SecretBoxError.self) { try box.open(sealed, associatedData: Array("tenant-b".utf8)) }
        let other = SecretBox(keyBytes: Array(repeating: 1, count: 32))
        #expect(throws: SecretBoxError.self) { try other.open(sealed, associatedData: Array("tenant-a".utf8)) }
        var altered = sealed
        altered[15] ^= 1
        #expect(throws: SecretBoxError.self) { try box.open(altered, associatedData: Array("tenant-a".utf8)) }
        #expect(box.keyID != other.keyID)
        #expect(box.keyID.count == 16)
    }

    @Test(arguments: ["", "not base64!", "c2hvcnQ=", Data(repeating: 1, count: 31).base64EncodedString(),
                      Data(repeating: 1, count: 33).base64EncodedString()])
    func refusesMalformedKeys(text: String) {
        #expect(throws: SecretBoxError.self) { try SecretBox(base64Key: text) }
    }

    @Test func missingOrMalformedKeyIsAClearConfigurationError() throws {
        let missing = #expect(throws: ConfigurationError.self) {
            try IngestConfiguration(settings: Settings([:]))
        }
        #expect(missing?.key == "LEDGERLINE_SECRETS_KEY")
        #expect(missing?.description.contains("openssl rand -base64 32") == true)

        let malformed = #expect(throws: ConfigurationError.self) {
            try IngestConfiguration(settings: Settings(["LEDGERLINE_SECRETS_KEY": "c2VjcmV0LXZhbHVlLXRvby1zaG9ydA=="]))
        }
        #expect(malformed?.key == "LEDGERLINE_SECRETS_KEY")
        // The value never appears in the message.
        #expect(malformed?.description.contains("c2VjcmV0") == false)

        // Without HTTP intake no key is needed.
        let configuration = try IngestConfiguration(settings: Settings(["LEDGERLINE_INGEST_HTTP_ENABLED": "false"]))
        #expect(configuration.keyring == nil)
    }

    @Test func keyringOpensSecretsOfAPreviousKey() throws {
        let old = SecretBox(keyBytes: Array(repeating: 2, count: 32))
        let ring = try SecretKeyring.fromEnvironment { key in
            [
                "LEDGERLINE_SECRETS_KEY": SecretKeyring.developmentKeyBase64,
                "LEDGERLINE_SECRETS_PREVIOUS_KEYS": Data(repeating: 2, count: 32).base64EncodedString(),
            ][key]
        }
        #expect(ring.usesDevelopmentKey)
        #expect(ring.box(keyID: old.keyID) != nil)
        #expect(ring.box(keyID: "unknown") == nil)
    }

    @Test func generatedSecretsAreLongAndDistinct() {
        let first = TenantAdmin.generateSecret()
        #expect(first.hasPrefix("llsec_"))
        #expect(first.count == 6 + 43)
        #expect(first != TenantAdmin.generateSecret())
    }

    @Test func readsSettingsWithDefaults() throws {
        let configuration = try IngestConfiguration(settings: Settings([
            "LEDGERLINE_SECRETS_KEY": SecretKeyring.developmentKeyBase64, "LEDGERLINE_INGEST_HTTP_PORT": "0",
            "LEDGERLINE_INGEST_AMQP_ENABLED": "off", "LEDGERLINE_INGEST_BATCH_SIZE": "10",
        ]))
        #expect(configuration.httpPort == 0)
        #expect(!configuration.amqpEnabled)
        #expect(configuration.batchSize == 10)
        #expect(configuration.queue == "ingest.shop-events")
        #expect(configuration.signatureTolerance == .seconds(300))
        #expect(throws: ConfigurationError.self) {
            try IngestConfiguration(settings: Settings([
                "LEDGERLINE_SECRETS_KEY": SecretKeyring.developmentKeyBase64, "LEDGERLINE_INGEST_HTTP_PORT": "70000",
            ]))
        }
    }
}
