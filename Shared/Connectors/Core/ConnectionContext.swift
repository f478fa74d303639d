public import Domain
public import Foundation
public import Logging

/// Where and as whom a connector talks to one ERP company: endpoints are configuration, so production, a
/// sandbox and a local simulator (`erp-sim`) are reached the same way, with the same paths and headers.
public struct ConnectorConfiguration: Sendable, Hashable {
    /// The API base URL without a trailing slash, e.g. `https://quickbooks.api.intuit.com`,
    /// `https://api.xero.com/api.xro/2.0` or `http://127.0.0.1:8085/xero/api.xro/2.0`. The connector appends
    /// the ERP's documented paths to it.
    public var baseURL: String
    /// The ERP's company id: QuickBooks Online `realmId`, Xero tenant id.
    public var companyID: String
    /// The per-request time limit (whole exchange); `nil` uses the HTTP client's default.
    public var requestTimeout: Duration?
    /// The `User-Agent` sent, e.g. `Ledgerline/1.0`.
    public var userAgent: String

    /// Creates a configuration.
    /// - Parameters:
    ///   - baseURL: the API base URL (`http` only for loopback simulators; see ``validate()``).
    ///   - companyID: the realm or tenant id.
    ///   - requestTimeout: the per-request time limit.
    ///   - userAgent: the `User-Agent` header.
    public init(
        baseURL: String, companyID: String, requestTimeout: Duration? = .seconds(60),
        userAgent: String = "Ledgerline/1.0"
    ) {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        self.baseURL = url
        self.companyID = companyID
        self.requestTimeout = requestTimeout
        self.userAgent = userAgent
    }

    /// Checks the configuration: an `https` URL (or `http` to a loopback host), no credentials, query or
    /// fragment in the URL, and a non-empty company id.
    /// - Returns: one message per problem; empty when usable.
    public func validate() -> [String] {
        var problems: [String] = []
        let lower = baseURL.lowercased()
        if lower.hasPrefix("https://") {
            // fine
        } else if lower.hasPrefix("http://") {
            let host = lower.dropFirst("http://".count).prefix { $0 != "/" && $0 != ":" }
            if !["127.0.0.1", "localhost", "[::1]"].contains(String(host)) {
                problems.append("baseURL: plain http is only allowed to a loopback host")
            }
        } else {
            problems.append("baseURL: must start with https://")
        }
        if baseURL.contains("@") { problems.append("baseURL: must not contain credentials") }
        if baseURL.contains("?") || baseURL.contains("#") {
            problems.append("baseURL: must not contain a query or fragment")
        }
        if companyID.isEmpty { problems.append("companyID: missing") }
        return problems
    }
}

/// A bearer access token. Its `description` never shows the value.
public struct AccessToken: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The token text, sent as `Authorization: Bearer <value>`.
    public let value: String
    /// When it expires, if known.
    public let expiresAt: Date?

    /// Wraps a token.
    public init(_ value: String, expiresAt: Date? = nil) {
        self.value = value
        self.expiresAt = expiresAt
    }

    /// `AccessToken(redacted)`
    public var description: String { "AccessToken(redacted)" }
    /// `AccessToken(redacted)`
    public var debugDescription: String { description }
}

/// Supplies the current access token of one connection. The worker runtime implements it over the
/// encrypted credential store, refreshing as a single flight under a row lock; connectors only ask.
public protocol AccessTokenProvider: Sendable {
    /// The token to use now (refreshed first if it is about to expire).
    /// - Parameter logger: for debug events; never log the token.
    /// - Throws: any error; connectors turn non-``ConnectorFailure`` errors into `erp.auth_lost`.
    func accessToken(logger: Logger) async throws -> AccessToken
}

/// A provider that always returns the same token (tests, tools, simulators).
public struct StaticAccessTokenProvider: AccessTokenProvider {
    /// The token returned.
    public let token: AccessToken

    /// Creates a provider for a fixed token.
    public init(_ token: AccessToken) { self.token = token }

    /// Returns ``token``.
    public func accessToken(logger: Logger) async throws -> AccessToken { token }
}

/// Everything a connector instance needs about one ERP connection.
public struct ConnectionContext: Sendable {
    /// The franchise that owns the connection.
    public var tenantID: TenantID
    /// The connection (`erp_connections.connection_id`).
    public var connectionID: UUID
    /// Endpoints and company id.
    public var configuration: ConnectorConfiguration
    /// Items, accounts, tax codes and dimensions to use.
    public var mapping: MappingConfiguration
    /// The access token source.
    public var credentials: any AccessTokenProvider

    /// Creates a context.
    public init(
        tenantID: TenantID, connectionID: UUID, configuration: ConnectorConfiguration, mapping: MappingConfiguration,
        credentials: any AccessTokenProvider
    ) {
        self.tenantID = tenantID
        self.connectionID = connectionID
        self.configuration = configuration
        self.mapping = mapping
        self.credentials = credentials
    }

    /// The idempotency scope of a document on this connection.
    /// - Parameters:
    ///   - document: the document.
    ///   - version: its version (the invoice version; 1 for customers and payments).
    public func scope(_ document: DocumentKey, version: Int64) -> IdempotencyScope {
        IdempotencyScope(tenantID: tenantID, connectionID: connectionID, document: document, version: version)
    }
}
