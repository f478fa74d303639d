@testable import ErpSim
import Foundation
import HTTP
import Testing

@Suite("OAuth 2.0 and bearer checks", .timeLimit(.minutes(1)))
struct OAuthTests {
    static let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

    @Test func pkceS256MatchesRFC7636Example() {
        #expect(PKCE.s256Challenge(of: Self.verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }

    @Test func authorizationCodeWithStateAndPKCE() async throws {
        try await SimSession.with { s in
            let challenge = PKCE.s256Challenge(of: Self.verifier)
            let authorize = "/connect/oauth2?client_id=ledgerline-sim&response_type=code&scope=com.intuit.quickbooks.accounting"
                + "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&state=st-42&code_challenge=\(challenge)&code_challenge_method=S256"
            let redirect = try await s.send(.get, authorize)
            #expect(redirect.status == 302)
            let location = try #require(redirect.header("Location").flatMap(URLComponents.init(string:)))
            let items = Dictionary(uniqueKeysWithValues: (location.queryItems ?? []).map { ($0.name, $0.value ?? "") })
            #expect(items["state"] == "st-42")
            #expect(items["realmId"] == SimSession.realm)
            let code = try #require(items["code"])
            let basic = "Basic " + Data("ledgerline-sim:ledgerline-sim-secret".utf8).base64EncodedString()
            let form = [("Authorization", basic), ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")]

            // A wrong verifier is refused, and the code is then spent.
            let wrong = try await s.send(.post, "/oauth2/v1/tokens/bearer", headers: form,
                                         body: "grant_type=authorization_code&code=\(code)&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&code_verifier=nope")
            #expect(wrong.status == 400)
            #expect(wrong.json?["error"]?.string == "invalid_grant")

            let again = try await s.send(.get, authorize)
            let code2 = try #require(URLComponents(string: again.header("Location") ?? "")?.queryItems?.first { $0.name == "code" }?.value)
            let ok = try await s.send(.post, "/oauth2/v1/tokens/bearer", headers: form,
                                      body: "grant_type=authorization_code&code=\(code2)&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&code_verifier=\(Self.verifier)")
            #expect(ok.status == 200)
            let token = try #require(ok.json)
            #expect(token["token_type"]?.string == "bearer")
            #expect(token["expires_in"]?.decimal == 3600)
            #expect(token["refresh_token"]?.string != nil)
            let access = try #require(token["access_token"]?.string)
            let read = try await s.qbo(.get, "query", token: access, query: "query=select%20*%20from%20Customer")
            #expect(read.status == 200)
        }
    }

    @Test func refreshRotatesAndReuseRevokesTheGrant() async throws {
        try await SimSession.with { s in
            let first = try await s.grant(SimSession.tenant)
            let form = [("Content-Type", "application/x-www-form-urlencoded"),
                        ("Authorization", "Basic " + Data("ledgerline-sim:ledgerline-sim-secret".utf8).base64EncodedString())]
            let refreshed = try await s.send(.post, "/connect/token", headers: form, body: "grant_type=refresh_token&refresh_token=\(first.refresh)")
            #expect(refreshed.status == 200)
            let second = try #require(refreshed.json)
            let newRefresh = try #require(second["refresh_token"]?.string)
            let newAccess = try #require(second["access_token"]?.string)
            #expect(newRefresh != first.refresh)
            #expect(second["expires_in"]?.decimal == 1800)
            #expect(try await s.xero(.get, "Contacts", token: newAccess).status == 200)

            // Reusing the rotated-away token revokes the whole grant.
            let reuse = try await s.send(.post, "/connect/token", headers: form, body: "grant_type=refresh_token&refresh_token=\(first.refresh)")
            #expect(reuse.status == 400)
            #expect(reuse.json?["error"]?.string == "invalid_grant")
            let afterRevoke = try await s.send(.post, "/connect/token", headers: form, body: "grant_type=refresh_token&refresh_token=\(newRefresh)")
            #expect(afterRevoke.json?["error"]?.string == "invalid_grant")
            #expect(try await s.xero(.get, "Contacts", token: newAccess).status == 401)

            let stats = try await s.control(.get, "/_sim/stats")
            #expect(stats["refresh_calls"]?.decimal == 3)
            #expect(stats["invalid_grant"]?.decimal == 2)
            #expect(stats["grants_revoked_for_reuse"]?.decimal == 1)
        }
    }

    @Test func bearerIsRequiredWithEachERPsShape() async throws {
        try await SimSession.with { s in
            let qbo = try await s.qbo(.get, "invoice/1", token: "not-a-token")
            #expect(qbo.status == 401)
            #expect(qbo.json?["fault"]?["type"]?.string == "AUTHENTICATION")
            #expect(qbo.json?["fault"]?["error"]?.array?.first?["code"]?.string == "3200")

            let xero = try await s.xero(.get, "Invoices", token: "not-a-token")
            #expect(xero.status == 401)
            #expect(xero.json?["Title"]?.string == "Unauthorized")

            let token = try await s.grant(SimSession.tenant)
            let noTenant = try await s.xero(.get, "Invoices", token: token.access, tenant: nil)
            #expect(noTenant.status == 403)
            #expect(noTenant.json?["Detail"]?.string == "AuthenticationUnsuccessful")

            // A QuickBooks token does not open another realm.
            let qboToken = try await s.grant(SimSession.realm)
            let otherRealm = try await s.qbo(.get, "invoice/1", token: qboToken.access, realm: "123")
            #expect(otherRealm.status == 403)
        }
    }

    @Test func expiredAccessTokenAnswers401UntilRefreshed() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.realm)
            try await s.control(.post, "/_sim/oauth/expire", #"{"company":"\#(SimSession.realm)"}"#)
            let expired = try await s.qbo(.get, "query", token: token.access, query: "query=select%20*%20from%20Invoice")
            #expect(expired.status == 401)
            #expect(expired.json?["fault"]?["error"]?.array?.first?["detail"]?.string?.contains("expired") == true)
            let refreshed = try await s.send(.post, "/oauth2/v1/tokens/bearer", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                             body: "grant_type=refresh_token&refresh_token=\(token.refresh)&client_id=ledgerline-sim&client_secret=ledgerline-sim-secret")
            let access = try #require(refreshed.json?["access_token"]?.string)
            #expect(try await s.qbo(.get, "query", token: access, query: "query=select%20*%20from%20Invoice").status == 200)
        }
    }
}
