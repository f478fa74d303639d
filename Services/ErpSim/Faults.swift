import Domain
import Foundation

/// A fault queued for one company (or any company) by the control API. It applies to the next
/// `count` API calls that match `method` and `pathContains`, then disappears.
struct FaultSpec: Sendable {
    enum Kind: String, Sendable, CaseIterable {
        /// Answer with a 5xx in the ERP's shape; nothing is written.
        case error
        /// Write the effect, then hold the answer for `seconds` (past the client's timeout).
        case hang
        /// Write the effect, then close the connection with a TCP reset without answering.
        case reset
        /// Answer 429 with `Retry-After` (`seconds`, or an HTTP date when `httpDate`); nothing is written.
        case rateLimit = "rate_limit"
        /// Answer 401 as for an expired access token; nothing is written.
        case expiredToken = "expired_token"
        /// Answer the ERP's validation error with `message`; nothing is written.
        case validation
        /// Process normally but answer after `delayMilliseconds`.
        case slow
    }

    var id: Int
    var kind: Kind
    /// `<erp>:<id>` or just the id; `nil` for every company.
    var company: String?
    var remaining: Int
    var method: String?
    var pathContains: String?
    var status: Int = 503
    var seconds: Int?
    var httpDate = false
    var message: String?
    var field: String?
    var delayMilliseconds: Int = 2000
    var applied = 0
    /// `api` (default): ERP API calls; `token`: the OAuth token endpoints (then `company` is ignored).
    var target = "api"

    func matches(_ company: SimCompany, _ request: SimRequest) -> Bool {
        guard target == "api" else { return false }
        if let wanted = self.company, wanted != company.id, wanted != company.description { return false }
        if let method, method.uppercased() != request.method { return false }
        if let pathContains, !request.path.lowercased().contains(pathContains.lowercased()) { return false }
        return remaining > 0
    }

    var json: JSONValue {
        var fields: [String: JSONValue] = [
            "id": .number(Decimal(id)), "kind": .string(kind.rawValue), "remaining": .number(Decimal(remaining)),
            "applied": .number(Decimal(applied)),
        ]
        if let company { fields["company"] = .string(company) }
        if let method { fields["method"] = .string(method) }
        fields["target"] = .string(target)
        if let pathContains { fields["path_contains"] = .string(pathContains) }
        return .object(fields)
    }

    static func parse(_ body: JSONValue, id: Int) throws(ControlError) -> FaultSpec {
        guard let kindText = body["kind"]?.string, let kind = Kind(rawValue: kindText) else {
            throw ControlError("kind must be one of \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var spec = FaultSpec(id: id, kind: kind, company: body["company"]?.string, remaining: 1)
        if let count = body["count"]?.decimal { spec.remaining = NSDecimalNumber(decimal: count).intValue }
        spec.method = body["method"]?.string
        spec.pathContains = body["path_contains"]?.string
        if let status = body["status"]?.decimal { spec.status = NSDecimalNumber(decimal: status).intValue }
        if let seconds = body["seconds"]?.decimal { spec.seconds = NSDecimalNumber(decimal: seconds).intValue }
        spec.httpDate = body["http_date"]?.bool ?? false
        spec.message = body["message"]?.string
        spec.field = body["field"]?.string
        if let delay = body["delay_ms"]?.decimal { spec.delayMilliseconds = NSDecimalNumber(decimal: delay).intValue }
        spec.target = body["target"]?.string ?? "api"
        guard ["api", "token"].contains(spec.target) else { throw ControlError("target must be api or token") }
        if spec.target == "token", [.expiredToken, .validation].contains(kind) {
            throw ControlError("\(kind.rawValue) faults apply to API calls only")
        }
        guard spec.remaining > 0 else { throw ControlError("count must be at least 1") }
        if kind == .error, !(500...599).contains(spec.status) { throw ControlError("status must be 5xx") }
        return spec
    }
}

/// A bad control API request.
struct ControlError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// One document the simulator created (the record tests read to assert "no duplicates").
struct DocumentRecord: Sendable {
    var company: SimCompany
    /// `Customer`, `Invoice`, `Payment`, `Contact`.
    var entity: String
    var id: String
    var number: String?
    /// The `requestid` / `Idempotency-Key` of the creating request.
    var requestKey: String?
    var created: Date

    var json: JSONValue {
        var fields: [String: JSONValue] = [
            "erp": .string(company.erp.rawValue), "company": .string(company.id), "entity": .string(entity),
            "id": .string(id), "created_at": .string(SimClock.iso8601(created)),
        ]
        if let number { fields["number"] = .string(number) }
        if let requestKey { fields["request_key"] = .string(requestKey) }
        return .object(fields)
    }
}
