import Connectors
import Domain
import Foundation
import HTTP
import Logging

/// How many objects an initial sync will read, for `syncctl`'s progress bar and ETA: one count request per
/// entity, through the connection's rate-limited transport (QuickBooks Online `select count(*) from <Entity>`,
/// Xero `?page=1&pageSize=1` → `pagination.itemCount`). Best effort: `nil` when the ERP does not say.
enum PullEstimate {
    static func total(
        entities: [ERPEntity], context: ConnectionContext, erp: ERP, transport: any HTTPTransport, logger: Logger
    ) async -> Int64? {
        guard let token = try? await context.credentials.accessToken(logger: logger) else { return nil }
        var total: Int64 = 0
        for entity in entities {
            var headers = HTTPHeaders()
            headers.add(name: "Authorization", value: "Bearer \(token.value)")
            headers.add(name: "Accept", value: "application/json")
            let url: String
            switch erp {
            case .quickbooksOnline:
                let name = ["customer": "Customer", "invoice": "Invoice", "payment": "Payment"][entity.rawValue] ?? "Invoice"
                let query = "select count(*) from \(name)".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
                url = "\(context.configuration.baseURL)/v3/company/\(context.configuration.companyID)/query?query=\(query)&minorversion=75"
            case .xero:
                headers.add(name: "Xero-tenant-id", value: context.configuration.companyID)
                let resource = ["customer": "Contacts", "invoice": "Invoices", "payment": "Payments"][entity.rawValue] ?? "Invoices"
                url = "\(context.configuration.baseURL)/\(resource)?page=1&pageSize=1"
            }
            guard
                let response = try? await transport.execute(
                    HTTPRequest(method: .get, url: url, headers: headers, body: nil), logger: logger),
                response.status == 200,
                let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
            else { return nil }
            let count: Int64?
            switch erp {
            case .quickbooksOnline:
                count = ((object["QueryResponse"] as? [String: Any])?["totalCount"] as? NSNumber)?.int64Value
            case .xero:
                count = ((object["pagination"] as? [String: Any])?["itemCount"] as? NSNumber)?.int64Value
            }
            guard let count else { return nil }
            total += count
        }
        return total
    }
}
