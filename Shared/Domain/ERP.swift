/// An accounting system Ledgerline syncs to. The raw value is the slug used in queue names
/// (`erp.<slug>.jobs`), routing keys, executable names (`worker-<slug>`) and the database.
public enum ERP: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case quickbooksOnline = "quickbooks-online"
    case xero = "xero"

    /// The product's name as people know it.
    public var displayName: String {
        switch self {
        case .quickbooksOnline: "QuickBooks Online"
        case .xero: "Xero"
        }
    }

    /// The routing key of this ERP's jobs on the `ledgerline.jobs` exchange.
    public var jobRoutingKey: String { rawValue }

    /// The quorum queue this ERP's worker consumes.
    public var jobQueue: String { "erp.\(rawValue).jobs" }

    public var description: String { rawValue }
}
