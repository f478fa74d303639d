@testable import ErpSim
import Domain
import Foundation
import HTTP
import Runtime
import Testing

@Suite("Xero OAuth, limits and settings", .timeLimit(.minutes(1)))
struct MoreTests {
    @Test func xeroAuthorizeTokenAndConnections() async throws {
        try await SimSession.with { s in
            let verifier = "a-verifier-that-is-long-enough-0123456789abcdef"
            let challenge = PKCE.s256Challenge(of: verifier)
            let redirect = try await s.send(.get, "/identity/connect/authorize?response_type=code&client_id=ledgerline-sim"
                + "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=offline_access%20accounting.transactions&state=x1"
                + "&code_challenge=\(challenge)&code_challenge_method=S256")
            #expect(redirect.status == 302)
            let items = URLComponents(string: redirect.header("Location") ?? "")?.queryItems ?? []
            #expect(items.first { $0.name == "realmId" } == nil)
            let code = try #require(items.first { $0.name == "code" }?.value)
            // A public client: client_id + code_verifier, no secret.
            let token = try await s.send(.post, "/connect/token", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                         body: "grant_type=authorization_code&client_id=ledgerline-sim&code=\(code)&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&code_verifier=\(verifier)")
            #expect(token.status == 200)
            let access = try #require(token.json?["access_token"]?.string)
            #expect(token.json?["scope"]?.string == "offline_access accounting.transactions")
            let connections = try await s.send(.get, "/connections", headers: [("Authorization", "Bearer \(access)")])
            #expect(connections.status == 200)
            #expect(connections.json?.array?.first?["tenantId"]?.string == SimSession.tenant)

            // The code is single-use.
            let again = try await s.send(.post, "/connect/token", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                         body: "grant_type=authorization_code&client_id=ledgerline-sim&code=\(code)&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&code_verifier=\(verifier)")
            #expect(again.json?["error"]?.string == "invalid_grant")
            let badClient = try await s.send(.post, "/connect/token", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                             body: "grant_type=refresh_token&client_id=someone-else&refresh_token=x")
            #expect(badClient.status == 401)
        }
    }

    @Test func xeroDailyLimit() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.tenant).access
            try await s.control(.post, "/_sim/limits", #"{"company":"\#(SimSession.tenant)","per_day":2}"#)
            #expect(try await s.xero(.get, "Invoices", token: token).header("X-DayLimit-Remaining") == "1")
            #expect(try await s.xero(.get, "Invoices", token: token).status == 200)
            let refused = try await s.xero(.get, "Invoices", token: token)
            #expect(refused.status == 429)
            #expect(refused.header("X-Rate-Limit-Problem") == "day")
            #expect((86_000...86_400).contains(Int(refused.header("Retry-After") ?? "") ?? 0))
        }
    }

    @Test func quickBooksPerSecondLimitAndLimitsOff() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.realm).access
            var statuses: [Int] = []
            let start = ContinuousClock.now
            for _ in 0..<12 { statuses.append(try await s.qbo(.get, "query", token: token, query: "query=select%20*%20from%20Invoice").status) }
            // 10 per second per realm (sliding window): 12 calls within one second → the last two are refused.
            if ContinuousClock.now - start < .milliseconds(900) {
                #expect(statuses.prefix(10).allSatisfy { $0 == 200 })
                #expect(statuses.suffix(2) == [429, 429])
            }
            // Batch calls: 40 per minute per realm, lowered here to 1.
            try await s.control(.post, "/_sim/limits", #"{"company":"\#(SimSession.realm)","per_second":null,"batch_per_minute":1}"#)
            let batch = #"{"BatchItemRequest":[{"bId":"1","Query":"select * from Invoice"}]}"#
            #expect(try await s.qbo(.post, "batch", token: token, query: "requestid=b1", body: batch).status == 200)
            #expect(try await s.qbo(.post, "batch", token: token, query: "requestid=b2", body: batch).status == 429)
            try await s.control(.post, "/_sim/limits", #"{"company":"\#(SimSession.realm)","enabled":false}"#)
            for _ in 0..<12 { #expect(try await s.qbo(.get, "query", token: token, query: "query=select%20*%20from%20Invoice").status == 200) }
        }
    }

    @Test func settingsAreParsed() throws {
        let configuration = try SimConfiguration(settings: Settings([
            "LEDGERLINE_ERPSIM_COMPANIES": "quickbooks-online:111, xero:abc",
            "LEDGERLINE_ERPSIM_RATE_LIMITS": "off", "LEDGERLINE_ERPSIM_ACCESS_TOKEN_SECONDS": "5",
        ]))
        #expect(configuration.companies == [SimCompany(erp: .quickbooksOnline, id: "111"), SimCompany(erp: .xero, id: "abc")])
        #expect(configuration.rateLimitsEnabled == false)
        #expect(configuration.accessTokenLifetimeOverride == 5)
        #expect(throws: ConfigurationError.self) {
            _ = try SimConfiguration(settings: Settings(["LEDGERLINE_ERPSIM_COMPANIES": "sage:1"]))
        }
    }

    @Test func resetForgetsDocuments() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.realm).access
            #expect(try await s.qbo(.post, "customer", token: token, query: "requestid=r1", body: #"{"DisplayName":"Reset Me"}"#).status == 200)
            try await s.control(.post, "/_sim/reset")
            #expect(try await s.documents()["documents"]?.array?.isEmpty == true)
            // Tokens were forgotten too.
            #expect(try await s.qbo(.get, "customer/1", token: token).status == 401)
        }
    }
}
