public import Foundation
public import HTTP
public import Logging

/// How a connection to an ERP is authorized: its OAuth 2.0 endpoints in production, the scopes to ask for,
/// and how the company (QuickBooks realm, Xero organisation) the user picked is learned.
///
/// The URLs here are the production defaults; a connection may point each of them elsewhere (a sandbox, or
/// `erp-sim`) with `syncctl connection configure`, and everything else behaves the same.
public struct AuthorizationProfile: Sendable, Hashable {
    /// Where the user is sent to approve access.
    public var authorizeURL: String
    /// The token endpoint (authorization-code exchange and refresh).
    public var tokenURL: String
    /// The API base URL.
    public var apiBaseURL: String
    /// The scopes to request.
    public var scopes: [String]
    /// Whether the ERP accepts PKCE (`code_challenge_method=S256`).
    public var supportsPKCE: Bool
    /// How the authorized company is found.
    public var companyDiscovery: CompanyDiscovery

    /// How the authorized company is found after the code exchange.
    public enum CompanyDiscovery: Sendable, Hashable {
        /// A query parameter of the redirect (QuickBooks: `realmId`).
        case callbackParameter(String)
        /// An API call with the new access token (Xero: `GET /connections`); see
        /// ``ERPConnector/authorizedCompanies(apiBaseURL:accessToken:transport:logger:)``.
        case connectionsEndpoint
    }

    /// Creates a profile.
    public init(
        authorizeURL: String, tokenURL: String, apiBaseURL: String, scopes: [String], supportsPKCE: Bool,
        companyDiscovery: CompanyDiscovery
    ) {
        self.authorizeURL = authorizeURL
        self.tokenURL = tokenURL
        self.apiBaseURL = apiBaseURL
        self.scopes = scopes
        self.supportsPKCE = supportsPKCE
        self.companyDiscovery = companyDiscovery
    }
}

/// A company an access token may use.
public struct AuthorizedCompany: Sendable, Hashable {
    /// The ERP's id: the company fingerprint of a connection (QuickBooks realm id, Xero tenant id).
    public var id: String
    /// Its display name, when the ERP tells.
    public var name: String?

    /// Creates a company.
    public init(id: String, name: String? = nil) {
        self.id = id
        self.name = name
    }
}

extension ERPConnector {
    /// Default: the ERP names the company on the redirect, so there is nothing to ask.
    public static func authorizedCompanies(
        apiBaseURL: String, accessToken: String, transport: any HTTPTransport, logger: Logger
    ) async throws -> [AuthorizedCompany] { [] }
}
