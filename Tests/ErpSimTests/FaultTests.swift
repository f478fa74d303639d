@testable import ErpSim
import Foundation
import HTTP
import Testing

@Suite("Fault injection", .timeLimit(.minutes(1)))
struct FaultTests {
    static let invoice = #"{"DocNumber":"F-1","CustomerRef":{"value":"1"},"Line":[{"DetailType":"SalesItemLineDetail","Amount":10.00}]}"#

    static func prepare(_ s: SimSession) async throws -> String {
        let token = try await s.grant(SimSession.realm).access
        let customer = try await s.qbo(.post, "customer", token: token, query: "requestid=cc-1", body: #"{"DisplayName":"Fault Motors"}"#)
        #expect(customer.json?["Customer"]?["Id"]?.string == "1")
        return token
    }

    @Test func failNextCallsWith5xxWritesNothing() async throws {
        try await SimSession.with { s in
            let token = try await Self.prepare(s)
            try await s.control(.post, "/_sim/faults", #"{"company":"\#(SimSession.realm)","kind":"error","status":503,"count":2,"path_contains":"/invoice"}"#)
            for _ in 0..<2 {
                let failed = try await s.qbo(.post, "invoice", token: token, query: "requestid=ci-1", body: Self.invoice)
                #expect(failed.status == 503)
                #expect(failed.json?["Fault"]?["type"]?.string == "SystemFault")
            }
            let ok = try await s.qbo(.post, "invoice", token: token, query: "requestid=ci-1", body: Self.invoice)
            #expect(ok.status == 200)
            #expect(try await s.documents()["counts"]?["Invoice"]?.decimal == 1)
            #expect(try await s.control(.get, "/_sim/faults")["faults"]?.array?.isEmpty == true)
        }
    }

    @Test func commitThenHangPastTheClientTimeout() async throws {
        try await SimSession.with({ $0.hangDuration = .seconds(3) }) { s in
            let token = try await Self.prepare(s)
            try await s.control(.post, "/_sim/faults", #"{"kind":"hang","count":1,"method":"POST"}"#)
            await #expect(throws: HTTPClientError.self) {
                _ = try await s.qbo(.post, "invoice", token: token, query: "requestid=ci-h", body: Self.invoice, timeout: .milliseconds(500))
            }
            // The effect was committed; replaying the same requestid returns it without a second document.
            let replay = try await s.qbo(.post, "invoice", token: token, query: "requestid=ci-h", body: Self.invoice)
            #expect(replay.status == 200)
            #expect(replay.json?["Invoice"]?["DocNumber"]?.string == "F-1")
            #expect(try await s.documents()["counts"]?["Invoice"]?.decimal == 1)
        }
    }

    @Test func commitThenResetTheConnection() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.tenant).access
            // Two resets: libcurl silently re-sends a request once when a reused connection dies
            // before any byte of the answer, so the first reset alone is invisible to the caller.
            try await s.control(.post, "/_sim/faults", #"{"company":"xero:\#(SimSession.tenant)","kind":"reset","count":2,"method":"PUT"}"#)
            let error = await #expect(throws: HTTPClientError.self) {
                _ = try await s.xero(.put, "Contacts", token: token, body: #"{"Contacts":[{"Name":"Reset Ltd"}]}"#, key: "cc-r")
            }
            #expect(error?.requestMayHaveBeenSent == true)
            #expect(try await s.control(.get, "/_sim/faults")["faults"]?.array?.isEmpty == true)
            let found = try await s.xero(.get, "Contacts?where=" + #"Name=="Reset Ltd""#.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!, token: token)
            #expect(found.json?["Contacts"]?.array?.count == 1)
            let replay = try await s.xero(.put, "Contacts", token: token, body: #"{"Contacts":[{"Name":"Reset Ltd"}]}"#, key: "cc-r")
            #expect(replay.status == 200)
            #expect(try await s.documents()["counts"]?["Contact"]?.decimal == 1)
        }
    }

    @Test func injected429WithSecondsAndHTTPDate() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.tenant).access
            try await s.control(.post, "/_sim/faults", #"{"kind":"rate_limit","seconds":7,"count":1}"#)
            try await s.control(.post, "/_sim/faults", #"{"kind":"rate_limit","seconds":30,"http_date":true,"count":1}"#)
            let first = try await s.xero(.get, "Invoices", token: token)
            #expect(first.status == 429)
            #expect(first.header("Retry-After") == "7")
            #expect(first.header("X-Rate-Limit-Problem") == "minute")
            let second = try await s.xero(.get, "Invoices", token: token)
            #expect(second.status == 429)
            let date = try #require(second.header("Retry-After"))
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
            let when = try #require(formatter.date(from: date))
            #expect(abs(when.timeIntervalSinceNow - 30) < 5)
            #expect(try await s.xero(.get, "Invoices", token: token).status == 200)
        }
    }

    @Test func expiredTokenValidationAndSlowFaults() async throws {
        try await SimSession.with { s in
            let token = try await Self.prepare(s)
            try await s.control(.post, "/_sim/faults", #"{"kind":"expired_token","count":1}"#)
            try await s.control(.post, "/_sim/faults", #"{"kind":"validation","message":"Account is inactive","field":"DepositToAccountRef","count":1}"#)
            try await s.control(.post, "/_sim/faults", #"{"kind":"slow","delay_ms":600,"count":1}"#)
            let expired = try await s.qbo(.get, "invoice/1", token: token)
            #expect(expired.status == 401)
            #expect(expired.json?["fault"]?["error"]?.array?.first?["code"]?.string == "3200")
            let invalid = try await s.qbo(.get, "invoice/1", token: token)
            #expect(invalid.status == 400)
            #expect(invalid.json?["Fault"]?["Error"]?.array?.first?["element"]?.string == "DepositToAccountRef")
            let start = ContinuousClock.now
            let slow = try await s.qbo(.get, "query", token: token, query: "query=select%20*%20from%20Customer")
            #expect(slow.status == 200)
            #expect(ContinuousClock.now - start >= .milliseconds(550))
            try await s.control(.post, "/_sim/faults", #"{"kind":"validation","status":200,"message":"Business Validation Error","count":1,"method":"GET"}"#)
            let inside200 = try await s.qbo(.get, "invoice/1", token: token)
            #expect(inside200.status == 200)
            #expect(inside200.json?["Fault"]?["type"]?.string == "ValidationFault")
            #expect(try await s.documents()["counts"]?["Invoice"] == nil)
        }
    }
}

@Suite("Token endpoint faults", .timeLimit(.minutes(1)))
struct TokenFaultTests {
    /// A refresh whose answer is lost still rotated the token: presenting the old one again
    /// revokes the grant (what a worker must avoid by not retrying a refresh blindly). Note that
    /// libcurl itself re-sends once on a reused connection that dies before answering, so the
    /// reuse (and the revocation) may already happen inside the first `execute`.
    @Test func refreshCommittedThenResetLeavesOnlyTheRotatedToken() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.tenant)
            try await s.control(.post, "/_sim/faults", #"{"kind":"reset","target":"token","count":2}"#)
            let form = [("Content-Type", "application/x-www-form-urlencoded"),
                        ("Authorization", "Basic " + Data("ledgerline-sim:ledgerline-sim-secret".utf8).base64EncodedString())]
            await #expect(throws: HTTPClientError.self) {
                _ = try await s.send(.post, "/connect/token", headers: form, body: "grant_type=refresh_token&refresh_token=\(token.refresh)")
            }
            let retried = try await s.send(.post, "/connect/token", headers: form, body: "grant_type=refresh_token&refresh_token=\(token.refresh)")
            #expect(retried.status == 400)
            #expect(retried.json?["error"]?.string == "invalid_grant")
            #expect(try await s.control(.get, "/_sim/stats")["grants_revoked_for_reuse"]?.decimal == 1)
        }
    }

    @Test func tokenEndpoint503ChangesNothing() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.realm)
            try await s.control(.post, "/_sim/faults", #"{"kind":"error","status":503,"target":"token","count":1}"#)
            let form = [("Content-Type", "application/x-www-form-urlencoded")]
            let body = "grant_type=refresh_token&refresh_token=\(token.refresh)&client_id=ledgerline-sim&client_secret=ledgerline-sim-secret"
            #expect(try await s.send(.post, "/oauth2/v1/tokens/bearer", headers: form, body: body).status == 503)
            let ok = try await s.send(.post, "/oauth2/v1/tokens/bearer", headers: form, body: body)
            #expect(ok.status == 200)
        }
    }
}

@Suite("Rate limits", .timeLimit(.minutes(1)))
struct RateLimitTests {
    @Test func xeroMinuteLimitAnswers429WithRetryAfter() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.tenant).access
            try await s.control(.post, "/_sim/limits", #"{"company":"\#(SimSession.tenant)","per_minute":3}"#)
            for _ in 0..<3 { #expect(try await s.xero(.get, "Contacts", token: token).status == 200) }
            let refused = try await s.xero(.get, "Contacts", token: token)
            #expect(refused.status == 429)
            #expect(refused.header("X-Rate-Limit-Problem") == "minute")
            let retry = try #require(refused.header("Retry-After").flatMap(Int.init))
            #expect((55...60).contains(retry))
        }
    }

    @Test func xeroDefaultMinuteLimitIs60() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.tenant).access
            var statuses: [Int] = []
            for _ in 0..<61 { statuses.append(try await s.xero(.get, "Contacts", token: token).status) }
            #expect(statuses.prefix(60).allSatisfy { $0 == 200 })
            #expect(statuses.last == 429)
        }
    }

    @Test func concurrencyLimitRefusesTheExtraCall() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.tenant).access
            try await s.control(.post, "/_sim/limits", #"{"company":"\#(SimSession.tenant)","concurrent":1}"#)
            try await s.control(.post, "/_sim/faults", #"{"kind":"slow","delay_ms":800,"count":1}"#)
            async let slow = s.xero(.get, "Contacts", token: token)
            try await Task.sleep(for: .milliseconds(250))
            let second = try await s.xero(.get, "Contacts", token: token)
            #expect(second.status == 429)
            #expect(second.header("X-Rate-Limit-Problem") == "concurrent")
            #expect(try await slow.status == 200)
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await s.xero(.get, "Contacts", token: token).status == 200)
        }
    }

    @Test func quickBooksThrottleShape() async throws {
        try await SimSession.with { s in
            let token = try await s.grant(SimSession.realm).access
            try await s.control(.post, "/_sim/limits", #"{"company":"\#(SimSession.realm)","per_minute":1}"#)
            #expect(try await s.qbo(.get, "query", token: token, query: "query=select%20*%20from%20Customer").status == 200)
            let refused = try await s.qbo(.get, "query", token: token, query: "query=select%20*%20from%20Customer")
            #expect(refused.status == 429)
            #expect(refused.json?["fault"]?["error"]?.array?.first?["code"]?.string == "3001")
            #expect(refused.header("Retry-After") != nil)
        }
    }
}
