public import Domain
public import HTTP

/// The list of every connector, one per ``Domain/ERP`` case (a test keeps them in step).
///
/// Adding an ERP: add its case to `ERP`, its folder under `Shared/Connectors/`, and its type here; see the
/// checklist in `docs/connectors.md`.
public enum Connectors {
    /// Every connector type.
    public static let all: [any ERPConnector.Type] = [
        QuickBooksOnlineConnector.self,
        XeroConnector.self,
    ]

    /// The connector type for an ERP.
    public static func type(for erp: ERP) -> (any ERPConnector.Type)? {
        all.first { $0.erp == erp }
    }

    /// Creates the connector of a connection's ERP.
    /// - Parameters:
    ///   - erp: the connection's ERP.
    ///   - context: the connection.
    ///   - transport: the HTTP transport.
    /// - Returns: the connector, or `nil` if no connector serves `erp`.
    public static func make(for erp: ERP, context: ConnectionContext, transport: any HTTPTransport) -> (
        any ERPConnector
    )? {
        type(for: erp).map { $0.init(context: context, transport: transport) }
    }
}
