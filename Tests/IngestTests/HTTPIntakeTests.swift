import Domain
import Foundation
import HTTP
import Postgres
import TestSupport
import Testing

@testable import Ingest

@Suite("HTTP intake: POST /v1/events", .requiresPostgres, .timeLimit(.minutes(1)))
struct HTTPIntakeTests {
    @Test func acceptsAnEventAndAnswersARetryTheSameWay() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        try await HTTPHarness.with(pool: pool) { http in
            let body = try fixture.example("invoice-created.json")
            let first = try await http.post(body, tenant: fixture.tenant, secret: fixture.secret, key: "req-1")
            #expect(first.status == 202)
            #expect(first.headers["Content-Type"] == "application/json")
            #expect(first.json["outcome"] as? String == "accepted")
            #expect(first.json["invoice_id"] as? String == "inv_01HZX3K8Q7T2")

            // A retry (signed again, so it is not a replay) gets the first answer with 200.
            try await Task.sleep(for: .milliseconds(1100))
            let retry = try await http.post(body, tenant: fixture.tenant, secret: fixture.secret, key: "req-1")
            #expect(retry.status == 200)
            #expect(retry.body == first.body)
            #expect(retry.headers["Idempotent-Replayed"] == "true")

            // The same key with another body is a conflict.
            let other = try fixture.example("invoice-updated.json")
            let conflict = try await http.post(other, tenant: fixture.tenant, secret: fixture.secret, key: "req-1")
            #expect(conflict.status == 409)
            #expect(conflict.headers["Content-Type"] == "application/problem+json")
            #expect(conflict.errorCodes == ["idempotency.key_reused"])
            #expect(conflict.errors.first?.path == "Idempotency-Key")

            // The same event under a new request key: a duplicate of the stored event.
            let again = try await http.post(
                body, tenant: fixture.tenant, secret: fixture.secret, key: "req-2",
                timestamp: Int64(Date().timeIntervalSince1970) - 7)
            #expect(again.status == 200)
            #expect(again.json["outcome"] as? String == "duplicate")
            #expect(again.json["original_outcome"] as? String == "accepted")
        }
        #expect(try await fixture.count("inbound_events", pool) == 1)
    }

    @Test func twentyConcurrentIdenticalRequestsStoreOneEvent() async throws {
        let pool = try await IngestStack.pool(maxConnections: 10)
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let body = try fixture.example("invoice-created.json")
        let now = Int64(Date().timeIntervalSince1970)
        let answers = try await HTTPHarness.with(pool: pool) { http in
            try await withThrowingTaskGroup(of: HTTPHarness.Answer.self) { group in
                // Same key and body; each request signed at its own second (else they are one replayed request).
                for index in 0..<20 {
                    group.addTask {
                        try await http.post(
                            body, tenant: fixture.tenant, secret: fixture.secret, key: "same-key",
                            timestamp: now - Int64(index))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        for answer in answers where answer.status != 200 && answer.status != 202 { Issue.record("\(answer.status): \(answer.text)") }
        #expect(answers.filter { $0.status == 202 }.count == 1)
        #expect(answers.filter { $0.status == 200 }.count == 19)
        let first = try #require(answers.first { $0.status == 202 })
        #expect(answers.allSatisfy { $0.body == first.body })
        #expect(try await fixture.count("inbound_events", pool) == 1)
        #expect(try await fixture.count("invoices", pool) == 1)
        #expect(try await fixture.count("outbox", pool, where: "message_type = 'sync_job'") == 1)
        #expect(try await fixture.count("http_idempotency_keys", pool) == 1)
    }

    @Test func refusesBadSignatures() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let body = try fixture.example("invoice-created.json")
        let now = Int64(Date().timeIntervalSince1970)
        try await HTTPHarness.with(pool: pool) { http in
            func post(_ body: [UInt8], timestamp: Int64? = nil, signature: String? = nil, tenant: String? = nil,
                      secret: String? = nil, omit: Set<String> = []) async throws -> HTTPHarness.Answer {
                try await http.post(
                    body, tenant: tenant ?? fixture.tenant, secret: secret ?? fixture.secret, key: "k",
                    timestamp: timestamp, signature: signature, omit: omit)
            }
            var flipped = body
            flipped[40] ^= 0x01
            let good = SignatureVerifier.header(secret: fixture.secret, timestamp: now, body: body)
            let cases: [(String, HTTPHarness.Answer, String)] = [
                ("flipped byte", try await post(flipped, timestamp: now, signature: good), "signature.invalid"),
                ("wrong secret", try await post(body, secret: "not-the-secret"), "signature.invalid"),
                ("unknown tenant", try await post(body, tenant: IngestStack.unique("nobody")), "signature.invalid"),
                // (The exact ±301 s boundary is in SignatureVerifierTests; here the clock moves while we send.)
                ("310 s old", try await post(body, timestamp: now - 310), "signature.expired"),
                ("310 s ahead", try await post(body, timestamp: now + 310), "signature.expired"),
                ("no signature", try await post(body, omit: ["signature"]), "signature.missing"),
                ("no timestamp", try await post(body, omit: ["timestamp"]), "signature.missing"),
                ("no tenant", try await post(body, omit: ["tenant"]), "signature.missing"),
                ("malformed", try await post(body, signature: "v1=xyz"), "signature.malformed"),
            ]
            for (name, answer, code) in cases {
                #expect(answer.status == 401, "\(name)")
                #expect(answer.errorCodes == [code], "\(name)")
                #expect(answer.headers["WWW-Authenticate"] == "Ledgerline-HMAC-SHA256", "\(name)")
                #expect(!answer.text.contains(fixture.secret), "\(name)")
            }
            // A replay of an accepted request (same bytes, same signature) is refused.
            let accepted = try await post(body, timestamp: now)
            #expect(accepted.status == 202)
            let replay = try await post(body, timestamp: now)
            #expect(replay.status == 401)
            #expect(replay.errorCodes == ["signature.replayed"])
        }
        #expect(try await fixture.count("inbound_events", pool) == 1)
    }

    @Test func answersProblemsForInvalidRequests() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        let other = try await TenantFixture.make(pool)
        try await HTTPHarness.with(pool: pool) { http in
            let valid = try fixture.example("invoice-created.json")
            let noKey = try await http.post(valid, tenant: fixture.tenant, secret: fixture.secret, key: nil)
            #expect(noKey.status == 400)
            #expect(noKey.errorCodes == ["idempotency.key_missing"])
            let badKey = try await http.post(valid, tenant: fixture.tenant, secret: fixture.secret, key: "has space")
            #expect(badKey.status == 400)
            #expect(badKey.errorCodes == ["idempotency.key_invalid"])
            let xml = try await http.post(
                valid, tenant: fixture.tenant, secret: fixture.secret, key: "x", headers: [("Content-Type", "application/xml")])
            #expect(xml.status == 415)

            let invalid = try await http.post(
                try fixture.example("invalid-line-amount.json"), tenant: fixture.tenant, secret: fixture.secret, key: "bad")
            #expect(invalid.status == 422)
            #expect(invalid.headers["Content-Type"] == "application/problem+json")
            let json = invalid.json
            #expect(json["type"] as? String == "urn:ledgerline:problem:invalid-event")
            #expect(json["title"] as? String != nil)
            #expect(json["status"] as? Int == 422)
            #expect((json["detail"] as? String)?.contains("13.01") == true)
            #expect(invalid.errors == [.init(code: "arithmetic.line_amount_mismatch", path: "invoice.lines[3].amount")])

            let notJSON = try await http.post(Array("{nope".utf8), tenant: fixture.tenant, secret: fixture.secret, key: "nj")
            #expect(notJSON.status == 400)
            #expect(notJSON.errorCodes == ["schema.invalid_json"])

            // An event of another tenant, signed by this one.
            let foreign = try other.example("invoice-created.json")
            let forbidden = try await http.post(foreign, tenant: fixture.tenant, secret: fixture.secret, key: "f")
            #expect(forbidden.status == 403)
            #expect(forbidden.errors == [.init(code: "tenant.mismatch", path: "tenant_id")])
        }
        #expect(try await other.count("inbound_events", pool) == 0)
        // Each rejected event is in the audit trail: a rejection row and an event.rejected audit event.
        #expect(try await fixture.count("ingest_rejections", pool) == 3)
        #expect(try await fixture.count("outbox", pool, where: "routing_key = 'ingest.event.rejected'") == 3)
    }

    @Test func refusesOversizedBodies() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        // One event over 1 MiB (the batch limit is 16 MiB, so the body is read, verified and refused).
        var big = try fixture.example("invoice-created.json")
        let padding = Array(String(repeating: " ", count: 1_048_576).utf8)
        big.insert(contentsOf: padding, at: 1)
        let oversized = big
        try await HTTPHarness.with(pool: pool) { http in
            let answer = try await http.post(oversized, tenant: fixture.tenant, secret: fixture.secret, key: "big")
            #expect(answer.status == 413)
            #expect(answer.errorCodes == ["limits.body_too_large"])
        }
        // Over the batch limit: refused from Content-Length (or while reading), before verification.
        var limits = ValidationLimits()
        limits.maxBatchBodyBytes = 64 * 1024
        limits.maxBodyBytes = 32 * 1024
        let batch = Array("[".utf8) + Array(repeating: UInt8(ascii: " "), count: 70 * 1024) + Array("]".utf8)
        try await HTTPHarness.with(pool: pool, limits: limits) { http in
            let answer = try await http.post(batch, tenant: fixture.tenant, secret: "anything", key: "huge")
            #expect(answer.status == 413)
            #expect(answer.errorCodes == ["limits.body_too_large"])
        }
    }

    @Test func acceptsBatches() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        func element(_ file: String) throws -> String { String(decoding: try fixture.example(file), as: UTF8.self) }
        let batch = Array("[\(try element("invoice-created.json")), \(try element("invalid-vin.json")), \(try element("invoice-updated.json"))]".utf8)
        let allBad = Array("[\(try element("invalid-vin.json")), \(try element("invalid-money-float.json"))]".utf8)
        try await HTTPHarness.with(pool: pool) { http in
            let answer = try await http.post(batch, tenant: fixture.tenant, secret: fixture.secret, key: "batch-1")
            #expect(answer.status == 202)
            #expect(answer.json["accepted"] as? Int == 2)
            #expect(answer.json["rejected"] as? Int == 1)
            let results = answer.json["results"] as? [[String: Any]] ?? []
            #expect(results.map { $0["outcome"] as? String } == ["accepted", "rejected", "accepted"])
            let errors = results[1]["errors"] as? [[String: Any]] ?? []
            #expect(errors.first?["code"] as? String == "vehicle.invalid_vin")
            #expect(errors.first?["field"] as? String == "[1].invoice.vehicle.vin")

            let rejected = try await http.post(allBad, tenant: fixture.tenant, secret: fixture.secret, key: "batch-2")
            #expect(rejected.status == 422)
            #expect(Set(rejected.errors) == [
                .init(code: "vehicle.invalid_vin", path: "[0].invoice.vehicle.vin"),
                .init(code: "money.float_not_allowed", path: "[1].invoice.lines[0].unit_price"),
            ])
            let notArray = try await http.post(Array("[1, ".utf8), tenant: fixture.tenant, secret: fixture.secret, key: "b3")
            #expect(notArray.status == 400)
        }
        #expect(try await fixture.count("inbound_events", pool) == 2)
    }

    @Test func answers503WhilePostgresIsUnavailable() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let fixture = try await TenantFixture.make(pool)
        // A pool pointing at a port nothing listens on: what the intake sees while Postgres is down.
        var down = try IngestStack.postgres()
        down.port = 1
        down.connectTimeout = .seconds(1)
        let deadPool = PostgresPool(configuration: down, maxConnections: 2, acquireTimeout: .milliseconds(500), logger: IngestStack.logger)
        defer { deadPool.close() }
        try await HTTPHarness.with(pool: deadPool) { http in
            let answer = try await http.post(
                try fixture.example("invoice-created.json"), tenant: fixture.tenant, secret: fixture.secret, key: "k")
            #expect(answer.status == 503)
            #expect(answer.headers["Retry-After"] == "5")
            #expect(answer.errorCodes == ["service.unavailable"])
        }
        // Secrets readable, event store down (the secret is cached from a working pool): still 503, nothing stored.
        try await HTTPHarness.with(pool: deadPool, secretsPool: pool) { http in
            let answer = try await http.post(
                try fixture.example("invoice-created.json"), tenant: fixture.tenant, secret: fixture.secret, key: "k")
            #expect(answer.status == 503)
        }
        #expect(try await fixture.count("inbound_events", pool) == 0)
    }

    @Test func signingSecretsAreEncryptedAndBoundToTheirTenant() async throws {
        let pool = try await IngestStack.pool()
        defer { pool.close() }
        let canary = "llsec_canary_\(UUID().uuidString)"
        let first = try await TenantFixture.make(pool, secret: canary)
        let second = try await TenantFixture.make(pool)
        // The secret text is nowhere in the table.
        #expect(try await IngestStack.count(
            pool, "SELECT count(*) AS n FROM tenant_signing_secrets WHERE position(convert_to(\(canary), 'UTF8') in ciphertext) > 0") == 0)
        try await HTTPHarness.with(pool: pool) { http in
            let ok = try await http.post(
                try first.example("invoice-created.json"), tenant: first.tenant, secret: canary, key: "a")
            #expect(ok.status == 202)
            #expect(!ok.text.contains(canary))
        }
        // Moving the first tenant's ciphertext onto the second tenant's row does not give the second tenant the secret.
        try await pool.execute(
            """
            UPDATE tenant_signing_secrets SET ciphertext = (SELECT ciphertext FROM tenant_signing_secrets WHERE secret_id = \(first.secretID))
            WHERE secret_id = \(second.secretID)
            """)
        try await HTTPHarness.with(pool: pool) { http in
            let moved = try await http.post(
                try second.example("invoice-created.json"), tenant: second.tenant, secret: canary, key: "b")
            #expect(moved.status == 401)
            let original = try await http.post(
                try second.example("invoice-created.json"), tenant: second.tenant, secret: second.secret, key: "c")
            #expect(original.status == 401)  // its own secret no longer opens either: fails closed
        }
        // Rotation: a second secret works alongside the first; revoking the first stops it.
        let admin = TenantAdmin(pool: pool, logger: IngestStack.logger)
        let rotated = try await admin.issueSigningSecret(tenant: first.tenant, keyring: IngestStack.keyring)
        #expect(try await admin.revokeSigningSecret(tenant: first.tenant, secretID: first.secretID))
        try await HTTPHarness.with(pool: pool) { http in
            let old = try await http.post(
                try first.example("invoice-updated.json"), tenant: first.tenant, secret: canary, key: "d")
            #expect(old.status == 401)
            let new = try await http.post(
                try first.example("invoice-updated.json"), tenant: first.tenant, secret: rotated.secret, key: "d")
            #expect(new.status == 202)
        }
    }
}
