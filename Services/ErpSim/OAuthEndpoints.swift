import Domain
import Foundation

extension Simulator {
    /// `GET /connect/oauth2` (QuickBooks) and `GET /identity/connect/authorize` (Xero): approves at
    /// once for the configured test company and redirects to `redirect_uri` with `code` and `state`
    /// (QuickBooks adds `realmId`). The simulator-only parameter `sim_company` picks another company.
    func authorize(_ request: SimRequest, erp: ERP, now: Date) -> SimResponse {
        let query = request.query
        guard query["response_type"] == "code" else { return .text(400, "response_type must be code") }
        guard let clientID = query["client_id"], clientID == configuration.clientID else { return .text(400, "unknown client_id") }
        guard let redirect = query["redirect_uri"], let redirectURL = URLComponents(string: redirect), redirectURL.scheme != nil else {
            return .text(400, "redirect_uri is required")
        }
        guard let scope = query["scope"], !scope.isEmpty else { return .text(400, "scope is required") }
        var challenge: String?
        if let given = query["code_challenge"] {
            guard query["code_challenge_method"] == "S256" else { return .text(400, "code_challenge_method must be S256") }
            challenge = given
        }
        let wanted = query["sim_company"]
        guard let company = companies.first(where: { $0.erp == erp && (wanted == nil || $0.id == wanted) }) else {
            return .text(400, "no \(erp.rawValue) company configured")
        }
        let code = oauth.issueCode(company: company, redirectURI: redirect, codeChallenge: challenge, scope: scope, now: now)
        var target = redirectURL
        var items = target.queryItems ?? []
        items.append(URLQueryItem(name: "code", value: code))
        if let state = query["state"] { items.append(URLQueryItem(name: "state", value: state)) }
        if erp == .quickbooksOnline { items.append(URLQueryItem(name: "realmId", value: company.id)) }
        target.queryItems = items
        return SimResponse(status: 302, headers: [("Location", target.string ?? redirect)])
    }

    func accessLifetime(_ erp: ERP) -> Int {
        if let seconds = configuration.accessTokenLifetimeOverride { return seconds }
        return erp == .quickbooksOnline ? 3600 : 1800
    }

    /// `POST /oauth2/v1/tokens/bearer` (QuickBooks) and `POST /connect/token` (Xero), with the
    /// faults targeted at `token`: 5xx and 429 answer before anything happens; `hang`, `reset` and
    /// `slow` deliver after the exchange or rotation was committed.
    func token(_ request: SimRequest, erp: ERP, now: Date) -> SimResponse {
        var delivery = SimDelivery.normal
        if let index = faults.firstIndex(where: { $0.target == "token" && $0.remaining > 0 }) {
            faults[index].remaining -= 1
            faults[index].applied += 1
            let fault = faults[index]
            if faults[index].remaining == 0 { faults.remove(at: index) }
            switch fault.kind {
            case .error: return .json(fault.status, ["error": "temporarily_unavailable"])
            case .rateLimit:
                let seconds = fault.seconds ?? 60
                let value = fault.httpDate ? SimClock.httpDate(now.addingTimeInterval(TimeInterval(seconds))) : "\(seconds)"
                return .json(429, ["error": "rate_limit_exceeded"], headers: [("Retry-After", value)])
            case .slow: delivery = .delayed(.milliseconds(fault.delayMilliseconds))
            case .hang: delivery = .hang(fault.seconds.map { .seconds($0) } ?? configuration.hangDuration)
            case .reset: delivery = .reset
            case .expiredToken, .validation: break
            }
        }
        var response = tokenExchange(request, erp: erp, now: now)
        response.delivery = delivery
        return response
    }

    private func tokenExchange(_ request: SimRequest, erp: ERP, now: Date) -> SimResponse {
        let form = SimRequest.parseForm(request.bodyText)
        // Client authentication: HTTP Basic, or client_id (+ client_secret) in the form (PKCE public clients).
        var clientID = form["client_id"]
        var secret = form["client_secret"]
        if let authorization = request.header("authorization"), authorization.lowercased().hasPrefix("basic "),
           let decoded = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
           let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
        {
            clientID = String(text[..<colon])
            secret = String(text[text.index(after: colon)...])
        }
        guard clientID == configuration.clientID, secret == nil || secret == configuration.clientSecret else {
            return oauthError(401, "invalid_client")
        }
        let issued: OAuthStore.Issued
        do {
            switch form["grant_type"] {
            case "authorization_code":
                guard let code = form["code"] else { return oauthError(400, "invalid_request") }
                if secret == nil && form["code_verifier"] == nil { return oauthError(401, "invalid_client") }
                issued = try oauth.exchange(code: code, redirectURI: form["redirect_uri"], verifier: form["code_verifier"],
                                            lifetime: accessLifetime(erp), now: now)
            case "refresh_token":
                guard let refresh = form["refresh_token"] else { return oauthError(400, "invalid_request") }
                issued = try oauth.refresh(refresh, lifetime: accessLifetime(erp), now: now)
            default:
                return oauthError(400, "unsupported_grant_type")
            }
        } catch {
            return oauthError(400, "invalid_grant")
        }
        guard issued.company.erp == erp else { return oauthError(400, "invalid_grant") }
        return tokenResponse(issued)
    }

    func tokenResponse(_ issued: OAuthStore.Issued) -> SimResponse {
        var body: [String: JSONValue] = [
            "access_token": .string(issued.accessToken), "refresh_token": .string(issued.refreshToken),
            "expires_in": .number(Decimal(issued.lifetime)),
        ]
        switch issued.company.erp {
        case .quickbooksOnline:
            body["token_type"] = "bearer"
            body["x_refresh_token_expires_in"] = .number(Decimal(8_726_400))
        case .xero:
            body["token_type"] = "Bearer"
            body["scope"] = .string(issued.scope)
        }
        return .json(200, .object(body), headers: [("Cache-Control", "no-store"), ("Pragma", "no-cache")])
    }

    func oauthError(_ status: Int, _ code: String) -> SimResponse {
        .json(status, ["error": .string(code)], headers: [("Cache-Control", "no-store")])
    }

    /// `POST /oauth2/v1/tokens/revoke` (JSON `{"token": …}`) and `POST /connect/revocation` (form `token=…`).
    func revoke(_ request: SimRequest) -> SimResponse {
        let token = JSONValue.parse(request.body)?["token"]?.string ?? SimRequest.parseForm(request.bodyText)["token"]
        guard let token else { return oauthError(400, "invalid_request") }
        oauth.revoke(token: token)
        return SimResponse(status: 200)
    }

    /// Xero `GET /connections`: the tenants the access token may use.
    func xeroConnections(_ request: SimRequest, now: Date) -> SimResponse {
        var bearer: String?
        if let authorization = request.header("authorization"), authorization.lowercased().hasPrefix("bearer ") {
            bearer = String(authorization.dropFirst(7))
        }
        guard case .valid(let company) = oauth.check(bearer: bearer, now: now), company.erp == .xero else {
            return unauthorized(.xero, detail: "invalid token", now: now)
        }
        let connection: JSONValue = [
            "id": .string(UUID().uuidString.lowercased()), "tenantId": .string(company.id), "tenantType": "ORGANISATION",
            "tenantName": .string("erp-sim \(company.id.prefix(8))"),
            "createdDateUtc": .string(SimClock.iso8601(now)), "updatedDateUtc": .string(SimClock.iso8601(now)),
        ]
        return .json(200, [connection])
    }
}
