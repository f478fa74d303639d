import Domain
import Foundation

/// The control API under `/_sim/` (not part of any ERP's contract; see docs/erp-sim.md).
extension Simulator {
    func control(_ request: SimRequest, now: Date) -> SimResponse {
        let body = JSONValue.parse(request.body) ?? .object([:])
        do {
            switch (request.method, request.path) {
            case ("GET", "/_sim/health"):
                return .json(200, ["status": "ok"])
            case ("GET", "/_sim/companies"):
                return .json(200, ["companies": .array(companies.map(companyJSON))])
            case ("POST", "/_sim/companies"):
                let company = try parseCompany(body, allowUnknown: true)
                if !companies.contains(company) {
                    companies.append(company)
                    limits[company] = configuration.rateLimitsEnabled ? SimLimits.defaults(for: company.erp) : .off
                    createStateIfMissing(company)
                }
                return .json(201, companyJSON(company))
            case ("POST", "/_sim/seed"):
                return seed(body, company: try parseCompany(body, allowUnknown: false), now: now)
            case ("POST", "/_sim/reset"):
                resetAll()
                return .json(200, ["status": "reset"])
            case ("POST", "/_sim/faults"):
                let spec = try FaultSpec.parse(body, id: nextFaultID)
                nextFaultID += 1
                faults.append(spec)
                return .json(201, spec.json)
            case ("GET", "/_sim/faults"):
                return .json(200, ["faults": .array(faults.map(\.json))])
            case ("DELETE", "/_sim/faults"):
                faults.removeAll()
                return .json(200, ["faults": []])
            case ("GET", "/_sim/documents"):
                return .json(200, documentsJSON(filter: request.query["company"]))
            case ("POST", "/_sim/limits"):
                let company = try parseCompany(body, allowUnknown: false)
                var updated = limits[company] ?? .off
                if body["enabled"]?.bool == false {
                    updated = .off
                } else if body["enabled"]?.bool == true {
                    updated = SimLimits.defaults(for: company.erp)
                }
                func value(_ key: String) -> Int?? {
                    guard let field = body[key] else { return .none }
                    if case .null = field { return .some(nil) }
                    return .some(field.decimal.map { NSDecimalNumber(decimal: $0).intValue })
                }
                if let v = value("per_second") { updated.perSecond = v }
                if let v = value("per_minute") { updated.perMinute = v }
                if let v = value("per_day") { updated.perDay = v }
                if let v = value("concurrent") { updated.concurrent = v }
                if let v = value("batch_per_minute") { updated.batchPerMinute = v }
                limits[company] = updated
                return .json(200, companyJSON(company))
            case ("POST", "/_sim/oauth/grants"):
                let company = try parseCompany(body, allowUnknown: false)
                let scope = body["scope"]?.string
                    ?? (company.erp == .xero ? "offline_access accounting.transactions accounting.contacts" : "com.intuit.quickbooks.accounting")
                let issued = oauth.newGrant(company: company, scope: scope, lifetime: accessLifetime(company.erp), now: now)
                return tokenResponse(issued)
            case ("POST", "/_sim/oauth/expire"):
                let company = body["company"] == nil ? nil : try parseCompany(body, allowUnknown: false)
                let count = oauth.expireAccessTokens(company: company, now: now)
                return .json(200, ["expired": .number(Decimal(count))])
            case ("GET", "/_sim/stats"):
                return .json(200, statsJSON())
            default:
                return .json(404, ["error": .string("unknown control route \(request.method) \(request.path)")])
            }
        } catch {
            return .json(400, ["error": .string(error.message)])
        }
    }

    private func createStateIfMissing(_ company: SimCompany) {
        switch company.erp {
        case .quickbooksOnline: if quickBooks[company.id] == nil { quickBooks[company.id] = QuickBooksCompany() }
        case .xero: if xero[company.id] == nil { xero[company.id] = XeroCompany() }
        }
    }

    /// Forgets documents, tokens, faults, replay caches and rate windows; keeps companies and limits.
    func resetAll() {
        oauth = OAuthStore()
        rateLimiter = RateLimiter()
        faults.removeAll()
        documents.removeAll()
        replayCache.removeAll()
        replays = 0
        keyConflicts = 0
        for company in companies {
            switch company.erp {
            case .quickbooksOnline: quickBooks[company.id] = QuickBooksCompany()
            case .xero: xero[company.id] = XeroCompany()
            }
        }
    }

    /// `{"company": "<id>"}` or `{"company": "<erp>:<id>"}` or `{"erp": …, "id": …}`.
    private func parseCompany(_ body: JSONValue, allowUnknown: Bool) throws(ControlError) -> SimCompany {
        var erp = body["erp"]?.string.flatMap(ERP.init(rawValue:))
        var id = body["id"]?.string
        if let text = body["company"]?.string {
            if let colon = text.firstIndex(of: ":"), let parsed = ERP(rawValue: String(text[..<colon])) {
                erp = parsed
                id = String(text[text.index(after: colon)...])
            } else {
                id = text
            }
        }
        guard let id, !id.isEmpty else { throw ControlError("company is required") }
        if let found = companies.first(where: { $0.id == id && (erp == nil || $0.erp == erp) }) { return found }
        guard allowUnknown, let erp else { throw ControlError("unknown company \(id)") }
        return SimCompany(erp: erp, id: id)
    }

    private func companyJSON(_ company: SimCompany) -> JSONValue {
        let limit = limits[company] ?? .off
        func number(_ value: Int?) -> JSONValue { value.map { .number(Decimal($0)) } ?? .null }
        return [
            "erp": .string(company.erp.rawValue), "id": .string(company.id),
            "limits": .object([
                "per_second": number(limit.perSecond), "per_minute": number(limit.perMinute), "per_day": number(limit.perDay),
                "concurrent": number(limit.concurrent), "batch_per_minute": number(limit.batchPerMinute),
            ]),
        ]
    }

    func documentsJSON(filter: String?) -> JSONValue {
        let selected = documents.filter { filter == nil || $0.company.id == filter || $0.company.description == filter }
        // Two documents of one entity with the same number in one company are duplicates.
        var groups: [String: [DocumentRecord]] = [:]
        for document in selected {
            guard let number = document.number, !number.isEmpty else { continue }
            groups["\(document.company)|\(document.entity)|\(number.lowercased())", default: []].append(document)
        }
        let duplicates = groups.values.filter { $0.count > 1 }.map { group -> JSONValue in
            [
                "company": .string(group[0].company.id), "entity": .string(group[0].entity),
                "number": .string(group[0].number ?? ""), "ids": .array(group.map { .string($0.id) }),
            ]
        }
        var counts: [String: JSONValue] = [:]
        for document in selected { counts[document.entity] = .number((counts[document.entity]?.decimal ?? 0) + 1) }
        return [
            "documents": .array(selected.map(\.json)), "counts": .object(counts), "duplicates": .array(duplicates),
        ]
    }

    func statsJSON() -> JSONValue {
        [
            "requests": .number(Decimal(requestCount)),
            "tokens_issued": .number(Decimal(oauth.tokensIssued)),
            "refresh_calls": .number(Decimal(oauth.refreshes)),
            "invalid_grant": .number(Decimal(oauth.invalidGrants)),
            "grants_revoked_for_reuse": .number(Decimal(oauth.reuseRevocations)),
            "rate_limited": .number(Decimal(rateLimiter.refusals)),
            "idempotent_replays": .number(Decimal(replays)),
            "idempotency_key_conflicts": .number(Decimal(keyConflicts)),
            "documents_created": .number(Decimal(documents.count)),
        ]
    }
}
