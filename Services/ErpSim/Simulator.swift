import Domain
import Foundation

/// The whole simulated world: OAuth, rate limits, faults, the document record and the state of
/// every company. All in memory; a restart forgets everything.
actor Simulator {
    let configuration: SimConfiguration
    var companies: [SimCompany] = []
    var limits: [SimCompany: SimLimits] = [:]
    var oauth = OAuthStore()
    var rateLimiter = RateLimiter()
    var faults: [FaultSpec] = []
    var nextFaultID = 1
    var documents: [DocumentRecord] = []
    var quickBooks: [String: QuickBooksCompany] = [:]
    var xero: [String: XeroCompany] = [:]
    /// Replay caches: `<company>|<key>` → (request fingerprint, answer).
    var replayCache: [String: (fingerprint: [UInt8], response: SimResponse)] = [:]
    var replays = 0
    var keyConflicts = 0
    var requestCount = 0
    var appMinuteEnabled = true

    init(configuration: SimConfiguration) {
        self.configuration = configuration
        var companies: [SimCompany] = []
        var limits: [SimCompany: SimLimits] = [:]
        for company in configuration.companies { Self.add(company, to: &companies, limits: &limits, configuration) }
        self.companies = companies
        self.limits = limits
        for company in companies {
            switch company.erp {
            case .quickbooksOnline: quickBooks[company.id] = QuickBooksCompany()
            case .xero: xero[company.id] = XeroCompany()
            }
        }
    }

    private static func add(_ company: SimCompany, to companies: inout [SimCompany], limits: inout [SimCompany: SimLimits], _ configuration: SimConfiguration) {
        guard !companies.contains(company) else { return }
        companies.append(company)
        limits[company] = configuration.rateLimitsEnabled ? SimLimits.defaults(for: company.erp) : .off
    }

    func company(_ erp: ERP, _ id: String) -> SimCompany? {
        companies.first { $0.erp == erp && $0.id == id }
    }

    // MARK: Entry point

    /// Answers one request. When the answer carries `admitted`, the caller must call
    /// ``finish(_:)`` once the answer was delivered (it ends the call's concurrency slot).
    func handle(_ request: SimRequest) -> (SimResponse, SimCompany?) {
        requestCount += 1
        let now = Date()
        let path = request.path
        if path.hasPrefix("/_sim/") || path == "/_sim" {
            return (control(request, now: now), nil)
        }
        switch (request.method, path) {
        case ("GET", "/connect/oauth2"): return (authorize(request, erp: .quickbooksOnline, now: now), nil)
        case ("GET", "/identity/connect/authorize"): return (authorize(request, erp: .xero, now: now), nil)
        case ("POST", "/oauth2/v1/tokens/bearer"): return (token(request, erp: .quickbooksOnline, now: now), nil)
        case ("POST", "/connect/token"): return (token(request, erp: .xero, now: now), nil)
        case ("POST", "/oauth2/v1/tokens/revoke"), ("POST", "/connect/revocation"):
            return (revoke(request), nil)
        case ("GET", "/connections"): return (xeroConnections(request, now: now), nil)
        default: break
        }
        let segments = path.split(separator: "/").map(String.init)
        if segments.count >= 4, segments[0] == "v3", segments[1] == "company" {
            return api(request, erp: .quickbooksOnline, companyID: segments[2], rest: Array(segments.dropFirst(3)), now: now)
        }
        if segments.count >= 3, segments[0] == "api.xro", segments[1] == "2.0" {
            return api(request, erp: .xero, companyID: request.header("xero-tenant-id"), rest: Array(segments.dropFirst(2)), now: now)
        }
        return (.text(404, "Not Found"), nil)
    }

    func finish(_ company: SimCompany) {
        rateLimiter.finish(company)
    }

    // MARK: API pipeline shared by the ERPs

    private func api(_ request: SimRequest, erp: ERP, companyID: String?, rest: [String], now: Date) -> (SimResponse, SimCompany?) {
        // 1. Bearer token.
        var bearer: String?
        if let authorization = request.header("authorization"), authorization.lowercased().hasPrefix("bearer ") {
            bearer = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        let tokenCompany: SimCompany
        switch oauth.check(bearer: bearer, now: now) {
        case .valid(let company): tokenCompany = company
        case .missing: return (unauthorized(erp, detail: "missing bearer token", now: now), nil)
        case .invalid: return (unauthorized(erp, detail: "invalid or revoked token", now: now), nil)
        case .expired(let at): return (unauthorized(erp, detail: "token expired at \(SimClock.iso8601(at))", now: now), nil)
        }
        // 2. The company the call addresses must be the one the grant is for.
        guard let companyID, !companyID.isEmpty, let company = company(erp, companyID), tokenCompany == company else {
            return (forbidden(erp, now: now), nil)
        }
        // 3. Faults that answer instead of the ERP.
        var delivery = SimDelivery.normal
        if let index = faults.firstIndex(where: { $0.matches(company, request) }) {
            faults[index].remaining -= 1
            faults[index].applied += 1
            let fault = faults[index]
            if faults[index].remaining == 0 { faults.remove(at: index) }
            switch fault.kind {
            case .error: return (serverError(erp, status: fault.status, now: now), nil)
            case .rateLimit:
                let seconds = fault.seconds ?? 60
                let value = fault.httpDate ? SimClock.httpDate(now.addingTimeInterval(TimeInterval(seconds))) : "\(seconds)"
                return (tooManyRequests(erp, retryAfter: value, problem: .minute, now: now), nil)
            case .expiredToken: return (unauthorized(erp, detail: "token expired at \(SimClock.iso8601(now))", now: now), nil)
            case .validation:
                var response = validationFault(erp, message: fault.message ?? "Injected validation error", field: fault.field, now: now)
                // QuickBooks also sends faults inside HTTP 200 (`"status": 200` asks for that).
                if erp == .quickbooksOnline && fault.status == 200 { response.status = 200 }
                return (response, nil)
            case .slow: delivery = .delayed(.milliseconds(fault.delayMilliseconds))
            case .hang: delivery = .hang(fault.seconds.map { .seconds($0) } ?? configuration.hangDuration)
            case .reset: delivery = .reset
            }
        }
        // 4. Rate limits.
        let companyLimits = limits[company] ?? .off
        let isBatch = erp == .quickbooksOnline && rest.first == "batch"
        let appLimit = erp == .xero && configuration.rateLimitsEnabled && appMinuteEnabled ? configuration.xeroAppPerMinute : nil
        if let refusal = rateLimiter.admit(company, limits: companyLimits, appPerMinute: appLimit, isBatch: isBatch, now: now) {
            return (tooManyRequests(erp, retryAfter: "\(refusal.retryAfterSeconds)", problem: refusal.problem, now: now), nil)
        }
        // 5. The ERP itself.
        var response: SimResponse
        switch erp {
        case .quickbooksOnline: response = quickBooksAPI(request, company: company, rest: rest, now: now)
        case .xero: response = xeroAPI(request, company: company, rest: rest, now: now)
        }
        if erp == .xero {
            let remaining = rateLimiter.remaining(company, limits: companyLimits, appPerMinute: appLimit, now: now)
            if let day = remaining.day { response.headers.append(("X-DayLimit-Remaining", "\(day)")) }
            if let minute = remaining.minute { response.headers.append(("X-MinLimit-Remaining", "\(minute)")) }
            if let app = remaining.app { response.headers.append(("X-AppMinLimit-Remaining", "\(app)")) }
        }
        if response.delivery == .normal { response.delivery = delivery }
        return (response, company)
    }

    // MARK: Error answers in each ERP's shape

    func unauthorized(_ erp: ERP, detail: String, now: Date) -> SimResponse {
        switch erp {
        case .quickbooksOnline:
            // The gateway answers 401 with its lower-case fault shape (type AUTHENTICATION).
            let body: JSONValue = [
                "warnings": .null, "intuitObject": .null,
                "fault": ["error": [["message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                                     "detail": .string("Token \(detail)"), "code": "3200", "element": .null]], "type": "AUTHENTICATION"],
                "report": .null, "queryResponse": .null, "batchItemResponse": [], "attachableResponse": [], "syncErrorResponse": .null,
                "requestId": .null, "time": .number(Decimal(Int64(now.timeIntervalSince1970 * 1000))), "status": .null, "cdcresponse": [],
            ]
            return .json(401, body, headers: [("intuit_tid", randomToken("1-", bytes: 12)),
                                              ("WWW-Authenticate", "Bearer realm=\"Intuit\", error=\"invalid_token\"")])
        case .xero:
            return xeroProblem(status: 401, title: "Unauthorized", detail: "TokenExpired: \(detail)",
                               headers: [("WWW-Authenticate", "Bearer error=\"invalid_token\"")])
        }
    }

    func forbidden(_ erp: ERP, now: Date) -> SimResponse {
        switch erp {
        case .quickbooksOnline:
            return quickBooksFault(
                status: 403, type: "AuthorizationFault",
                errors: [("message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403", "The token is not authorized for this company", "3100", nil)],
                now: now)
        case .xero:
            return xeroProblem(status: 403, title: "Forbidden", detail: "AuthenticationUnsuccessful")
        }
    }

    func serverError(_ erp: ERP, status: Int, now: Date) -> SimResponse {
        switch erp {
        case .quickbooksOnline:
            return quickBooksFault(
                status: status, type: "SystemFault",
                errors: [("An application error has occurred while processing your request", "System Failure Error: An unknown error occurred (simulated)", "10000", nil)],
                now: now)
        case .xero:
            return xeroProblem(status: status, title: "An error occurred",
                               detail: "An error occurred in Xero. Check the API Status page http://status.developer.xero.com for current service status.")
        }
    }

    func tooManyRequests(_ erp: ERP, retryAfter: String, problem: RateLimiter.Problem, now: Date) -> SimResponse {
        switch erp {
        case .quickbooksOnline:
            // The gateway answers throttling with its lower-case fault shape.
            let body: JSONValue = [
                "fault": ["error": [["message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                                     "detail": "The request limit was reached.", "code": "3001"]], "type": "SERVICE"],
                "batchItemResponse": [], "time": .string(SimClock.iso8601(now)),
            ]
            return .json(429, body, headers: [("Retry-After", retryAfter), ("intuit_tid", randomToken("1-", bytes: 12))])
        case .xero:
            let xeroProblem: String = switch problem {
            case .day: "day"
            case .concurrent: "concurrent"
            case .appminute: "appminute"
            default: "minute"
            }
            var response = self.xeroProblem(status: 429, title: "Too Many Requests", detail: "Rate limit exceeded: \(xeroProblem)")
            response.headers += [("Retry-After", retryAfter), ("X-Rate-Limit-Problem", xeroProblem)]
            return response
        }
    }

    func validationFault(_ erp: ERP, message: String, field: String?, now: Date) -> SimResponse {
        switch erp {
        case .quickbooksOnline:
            return quickBooksFault(status: 400, type: "ValidationFault", errors: [(message, message, "2010", field)], now: now)
        case .xero:
            return xeroValidation(elements: [["ValidationErrors": [["Message": .string(message)]]]])
        }
    }

    // MARK: Shared helpers for the ERP handlers

    func record(_ company: SimCompany, entity: String, id: String, number: String?, key: String?, now: Date) {
        documents.append(DocumentRecord(company: company, entity: entity, id: id, number: number, requestKey: key, created: now))
    }

    enum Replay {
        case miss
        case hit(SimResponse)
        /// The key was used before with a different request.
        case conflict(SimResponse)
    }

    /// Looks up an idempotency key: the first use misses; a replay with the same request gets the
    /// first answer; a replay with a different request is a conflict (the caller decides).
    func replay(_ company: SimCompany, key: String?, fingerprint: [UInt8]) -> Replay {
        guard let key, let cached = replayCache["\(company)|\(key)"] else { return .miss }
        if cached.fingerprint != fingerprint {
            keyConflicts += 1
            return .conflict(cached.response)
        }
        replays += 1
        return .hit(cached.response)
    }

    func remember(_ company: SimCompany, key: String?, fingerprint: [UInt8], response: SimResponse) {
        guard let key else { return }
        var stored = response
        stored.delivery = .normal
        replayCache["\(company)|\(key)"] = (fingerprint, stored)
    }
}
