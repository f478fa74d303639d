import Domain
import Foundation

/// One HTTP request as the simulator sees it, independent of the server library.
struct SimRequest: Sendable {
    var method: String
    /// The path without the query, e.g. `/v3/company/123/invoice`.
    var path: String
    /// Query parameters, percent-decoded; the first value wins for a repeated name.
    var query: [String: String]
    /// Header fields with lower-cased names.
    var headers: [String: String]
    var body: [UInt8]

    init(method: String, path: String, rawQuery: String?, headers: [String: String], body: [UInt8]) {
        self.method = method.uppercased()
        self.path = path
        self.query = SimRequest.parseForm(rawQuery ?? "")
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        self.body = body
    }

    func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// Parses `a=1&b=two+words` (also `application/x-www-form-urlencoded` bodies).
    static func parseForm(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in text.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (raw: Substring) -> String in
                let plus = raw.replacingOccurrences(of: "+", with: " ")
                return plus.removingPercentEncoding ?? plus
            }
            let name = decode(parts[0])
            if result[name] == nil { result[name] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        return result
    }

    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// What the server does with a ``SimResponse`` after the simulator produced it.
enum SimDelivery: Sendable, Equatable {
    /// Answer at once.
    case normal
    /// Wait, then answer (slow response).
    case delayed(Duration)
    /// The effect is committed; wait this long (past the client's timeout), then answer.
    case hang(Duration)
    /// The effect is committed; close the connection with a TCP reset and never answer.
    case reset
}

/// One answer of the simulator.
struct SimResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    var delivery: SimDelivery = .normal

    init(status: Int, headers: [(String, String)] = [], body: [UInt8] = [], delivery: SimDelivery = .normal) {
        self.status = status
        self.headers = headers
        self.body = body
        self.delivery = delivery
    }

    static func json(_ status: Int, _ value: JSONValue, headers: [(String, String)] = []) -> SimResponse {
        SimResponse(status: status, headers: [("Content-Type", "application/json;charset=UTF-8")] + headers, body: value.bytes)
    }

    static func text(_ status: Int, _ text: String) -> SimResponse {
        SimResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array(text.utf8))
    }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// One simulated accounting company: a QuickBooks realm or a Xero tenant.
struct SimCompany: Sendable, Hashable, CustomStringConvertible {
    var erp: ERP
    /// The QuickBooks `realmId` or the Xero tenant id.
    var id: String

    var description: String { "\(erp.rawValue):\(id)" }
}

/// The rate limits the simulator enforces for one company (per app, as there is one app).
struct SimLimits: Sendable, Equatable {
    var perSecond: Int?
    var perMinute: Int?
    var perDay: Int?
    var concurrent: Int?
    /// QuickBooks: batch requests per minute.
    var batchPerMinute: Int?

    static func defaults(for erp: ERP) -> SimLimits {
        switch erp {
        case .quickbooksOnline:
            SimLimits(perSecond: 10, perMinute: 500, perDay: nil, concurrent: 10, batchPerMinute: 40)
        case .xero:
            SimLimits(perSecond: nil, perMinute: 60, perDay: 5000, concurrent: 5, batchPerMinute: nil)
        }
    }

    static let off = SimLimits()
}

/// Settings of one simulator process.
struct SimConfiguration: Sendable {
    var companies: [SimCompany]
    var clientID: String = "ledgerline-sim"
    var clientSecret: String = "ledgerline-sim-secret"
    /// Access-token lifetime in seconds; `nil` = the ERP's (QuickBooks 3,600, Xero 1,800).
    var accessTokenLifetimeOverride: Int?
    var rateLimitsEnabled: Bool = true
    /// Xero: calls per minute per app across all tenants.
    var xeroAppPerMinute: Int = 10_000
    /// How long a "commit then hang" fault holds the answer.
    var hangDuration: Duration = .seconds(60)
    /// QuickBooks: refuse requests without `minorversion` (≥ 75).
    var requireMinorVersion: Bool = true

    static let defaultQuickBooksRealm = "9341453000000001"
    static let defaultXeroTenant = "3f5e8a3c-0d4b-4a57-9a3e-7d1c2b6f0001"

    init(companies: [SimCompany] = [
        SimCompany(erp: .quickbooksOnline, id: SimConfiguration.defaultQuickBooksRealm),
        SimCompany(erp: .xero, id: SimConfiguration.defaultXeroTenant),
    ]) {
        self.companies = companies
    }

    /// Parses `quickbooks-online:9341453000000001,xero:<uuid>`.
    static func parseCompanies(_ text: String) throws -> [SimCompany] {
        try text.split(separator: ",").map { item in
            let trimmed = item.trimmingCharacters(in: .whitespaces)
            let parts = trimmed.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let erp = ERP(rawValue: String(parts[0])), !parts[1].isEmpty else {
                throw SimConfigurationError(problem: "company '\(trimmed)' is not <erp>:<id> with erp quickbooks-online or xero")
            }
            return SimCompany(erp: erp, id: String(parts[1]))
        }
    }
}

struct SimConfigurationError: Error, CustomStringConvertible {
    var problem: String
    var description: String { "erp-sim configuration: \(problem)" }
}

/// Timestamps in the forms the ERPs use.
enum SimClock {
    static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }

    /// Xero's `/Date(1573755038314+0000)/`.
    static func xeroDate(_ date: Date) -> String {
        "/Date(\(Int64(date.timeIntervalSince1970 * 1000))+0000)/"
    }

    static func day(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: date)
    }
}

/// Random opaque strings for tokens and codes.
func randomToken(_ prefix: String, bytes: Int = 24) -> String {
    var generator = SystemRandomNumberGenerator()
    let hex = (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    return prefix + hex
}

extension SimClock {
    /// Parses `yyyy-MM-dd` (UTC midnight).
    static func parseDay(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.date(from: text)
    }
}
