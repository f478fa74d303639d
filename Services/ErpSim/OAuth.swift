import Domain
import Foundation

/// OAuth 2.0 state of the simulator: authorization codes (with state and PKCE `S256`), grants,
/// expiring access tokens and rotating refresh tokens. Presenting a refresh token that was already
/// rotated away revokes the whole grant (every access and refresh token of it), so the next
/// refresh answers `invalid_grant` — the strict behaviour of providers with reuse detection.
struct OAuthStore {
    struct AuthorizationCode {
        var company: SimCompany
        var redirectURI: String
        var codeChallenge: String?
        var expires: Date
        var scope: String
    }

    struct Grant {
        var id: String
        var company: SimCompany
        var scope: String
        var revoked = false
        var currentRefreshToken: String
        var refreshCount = 0
    }

    struct AccessToken {
        var grantID: String
        var expires: Date
    }

    var codes: [String: AuthorizationCode] = [:]
    var grants: [String: Grant] = [:]
    var accessTokens: [String: AccessToken] = [:]
    /// Every refresh token ever issued → its grant (rotated ones stay, to detect reuse).
    var refreshTokens: [String: String] = [:]

    // Counters exposed on `/_sim/stats`.
    var tokensIssued = 0
    var refreshes = 0
    var invalidGrants = 0
    var reuseRevocations = 0

    enum Failure: Error, Equatable {
        case invalidGrant(String)
        case invalidRequest(String)
        case invalidClient
        case unsupportedGrantType
    }

    struct Issued {
        var accessToken: String
        var refreshToken: String
        var lifetime: Int
        var company: SimCompany
        var scope: String
    }

    mutating func issueCode(company: SimCompany, redirectURI: String, codeChallenge: String?, scope: String, now: Date) -> String {
        let code = randomToken("code-", bytes: 16)
        codes[code] = AuthorizationCode(
            company: company, redirectURI: redirectURI, codeChallenge: codeChallenge,
            expires: now.addingTimeInterval(600), scope: scope)
        return code
    }

    mutating func exchange(code: String, redirectURI: String?, verifier: String?, lifetime: Int, now: Date) throws(Failure) -> Issued {
        guard let entry = codes.removeValue(forKey: code), entry.expires > now else {
            invalidGrants += 1
            throw .invalidGrant("unknown, used or expired authorization code")
        }
        if let redirectURI, redirectURI != entry.redirectURI {
            invalidGrants += 1
            throw .invalidGrant("redirect_uri does not match the authorization request")
        }
        if let challenge = entry.codeChallenge {
            guard let verifier, PKCE.s256Challenge(of: verifier) == challenge else {
                invalidGrants += 1
                throw .invalidGrant("code_verifier does not match the code_challenge")
            }
        }
        return newGrant(company: entry.company, scope: entry.scope, lifetime: lifetime, now: now)
    }

    mutating func newGrant(company: SimCompany, scope: String, lifetime: Int, now: Date) -> Issued {
        let refresh = randomToken("rt-")
        let grant = Grant(id: UUID().uuidString, company: company, scope: scope, currentRefreshToken: refresh)
        grants[grant.id] = grant
        refreshTokens[refresh] = grant.id
        let access = randomToken("at-", bytes: 32)
        accessTokens[access] = AccessToken(grantID: grant.id, expires: now.addingTimeInterval(TimeInterval(lifetime)))
        tokensIssued += 1
        return Issued(accessToken: access, refreshToken: refresh, lifetime: lifetime, company: company, scope: scope)
    }

    mutating func refresh(_ token: String, lifetime: Int, now: Date) throws(Failure) -> Issued {
        refreshes += 1
        guard let grantID = refreshTokens[token], var grant = grants[grantID] else {
            invalidGrants += 1
            throw .invalidGrant("unknown refresh token")
        }
        guard !grant.revoked else {
            invalidGrants += 1
            throw .invalidGrant("the grant was revoked")
        }
        guard grant.currentRefreshToken == token else {
            // Reuse of a rotated refresh token: revoke the whole grant.
            revoke(grantID: grantID)
            reuseRevocations += 1
            invalidGrants += 1
            throw .invalidGrant("refresh token reused after rotation; the grant is revoked")
        }
        let rotated = randomToken("rt-")
        grant.currentRefreshToken = rotated
        grant.refreshCount += 1
        grants[grantID] = grant
        refreshTokens[rotated] = grantID
        let access = randomToken("at-", bytes: 32)
        accessTokens[access] = AccessToken(grantID: grantID, expires: now.addingTimeInterval(TimeInterval(lifetime)))
        tokensIssued += 1
        return Issued(accessToken: access, refreshToken: rotated, lifetime: lifetime, company: grant.company, scope: grant.scope)
    }

    mutating func revoke(grantID: String) {
        grants[grantID]?.revoked = true
        accessTokens = accessTokens.filter { $0.value.grantID != grantID }
    }

    /// Revokes the grant a refresh or access token belongs to (`/revoke` endpoints).
    mutating func revoke(token: String) {
        if let grantID = refreshTokens[token] ?? accessTokens[token]?.grantID { revoke(grantID: grantID) }
    }

    enum Check: Equatable {
        case valid(SimCompany)
        case missing
        case invalid
        case expired(Date)
    }

    func check(bearer: String?, now: Date) -> Check {
        guard let bearer else { return .missing }
        guard let token = accessTokens[bearer], let grant = grants[token.grantID], !grant.revoked else { return .invalid }
        if token.expires <= now { return .expired(token.expires) }
        return .valid(grant.company)
    }

    /// Makes every access token of the company's grants expire now (the refresh tokens stay valid).
    mutating func expireAccessTokens(company: SimCompany?, now: Date) -> Int {
        var count = 0
        for (key, token) in accessTokens {
            guard let grant = grants[token.grantID], company == nil || grant.company == company else { continue }
            accessTokens[key]?.expires = now
            count += 1
        }
        return count
    }
}

/// Sliding-window rate limits and concurrency per company, plus the per-app minute limit.
struct RateLimiter {
    struct Window {
        var calls: [Date] = []
        var batchCalls: [Date] = []
        var inFlight = 0
    }

    enum Problem: String, Sendable {
        case second, minute, day, concurrent, appminute, batch
    }

    struct Refusal: Sendable {
        var problem: Problem
        var retryAfterSeconds: Int
    }

    var windows: [SimCompany: Window] = [:]
    var appCalls: [ERP: [Date]] = [:]
    var refusals = 0

    /// Admits one call or says which limit refused it. An admitted call counts as in flight until
    /// ``finish(_:)``.
    mutating func admit(_ company: SimCompany, limits: SimLimits, appPerMinute: Int?, isBatch: Bool, now: Date) -> Refusal? {
        var window = windows[company] ?? Window()
        window.calls.removeAll { now.timeIntervalSince($0) >= 86_400 }
        window.batchCalls.removeAll { now.timeIntervalSince($0) >= 60 }
        defer { windows[company] = window }
        func retry(after oldest: Date?, span: TimeInterval) -> Int {
            guard let oldest else { return 1 }
            return max(1, Int((span - now.timeIntervalSince(oldest)).rounded(.up)))
        }
        if let concurrent = limits.concurrent, window.inFlight >= concurrent {
            refusals += 1
            return Refusal(problem: .concurrent, retryAfterSeconds: 1)
        }
        if let perDay = limits.perDay, window.calls.count >= perDay {
            refusals += 1
            return Refusal(problem: .day, retryAfterSeconds: retry(after: window.calls.first, span: 86_400))
        }
        let lastMinute = window.calls.filter { now.timeIntervalSince($0) < 60 }
        if let perMinute = limits.perMinute, lastMinute.count >= perMinute {
            refusals += 1
            return Refusal(problem: .minute, retryAfterSeconds: retry(after: lastMinute.first, span: 60))
        }
        if let perSecond = limits.perSecond {
            let lastSecond = lastMinute.filter { now.timeIntervalSince($0) < 1 }
            if lastSecond.count >= perSecond {
                refusals += 1
                return Refusal(problem: .second, retryAfterSeconds: 1)
            }
        }
        if isBatch, let batchPerMinute = limits.batchPerMinute, window.batchCalls.count >= batchPerMinute {
            refusals += 1
            return Refusal(problem: .batch, retryAfterSeconds: retry(after: window.batchCalls.first, span: 60))
        }
        if let appPerMinute {
            var app = appCalls[company.erp, default: []]
            app.removeAll { now.timeIntervalSince($0) >= 60 }
            appCalls[company.erp] = app
            if app.count >= appPerMinute {
                refusals += 1
                return Refusal(problem: .appminute, retryAfterSeconds: retry(after: app.first, span: 60))
            }
            appCalls[company.erp, default: []].append(now)
        }
        window.calls.append(now)
        if isBatch { window.batchCalls.append(now) }
        window.inFlight += 1
        return nil
    }

    mutating func finish(_ company: SimCompany) {
        if let inFlight = windows[company]?.inFlight, inFlight > 0 { windows[company]?.inFlight = inFlight - 1 }
    }

    func remaining(_ company: SimCompany, limits: SimLimits, appPerMinute: Int?, now: Date) -> (minute: Int?, day: Int?, app: Int?) {
        let window = windows[company] ?? Window()
        let minute = limits.perMinute.map { $0 - window.calls.filter { now.timeIntervalSince($0) < 60 }.count }
        let day = limits.perDay.map { $0 - window.calls.count }
        let app = appPerMinute.map { $0 - (appCalls[company.erp] ?? []).filter { now.timeIntervalSince($0) < 60 }.count }
        return (minute.map { max(0, $0) }, day.map { max(0, $0) }, app.map { max(0, $0) })
    }
}
