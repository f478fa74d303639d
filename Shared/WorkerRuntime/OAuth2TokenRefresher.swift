import Foundation
public import HTTP
public import Logging

/// The RFC 6749 refresh-token grant over an `HTTPTransport`: `POST <tokenURL>` with
/// `grant_type=refresh_token&refresh_token=…` (form-encoded) and the client authenticated with HTTP Basic, as
/// QuickBooks Online (`/oauth2/v1/tokens/bearer`), Xero (`/connect/token`) and erp-sim expect.
///
/// Every refresh request goes on a **fresh connection that is never reused** (`HTTPRequest.freshConnection`):
/// libcurl silently re-sends a request once when a reused keep-alive connection dies before the answer, and a
/// re-sent refresh grant presents the rotated-away refresh token, which revokes the whole grant.
///
/// The expiry is computed from `expires_in` and the time the request was sent (ours, conservative). A 400/401 with `error = invalid_grant` (or
/// `invalid_client`, `unauthorized_client`) is ``TokenRefreshRejected``; anything else (5xx, network, an unreadable
/// answer) is a transient ``WorkerError`` (`credentials`) whose description never contains a token or secret.
public struct OAuth2TokenRefresher: TokenRefresher {
    /// The token endpoint.
    public let tokenURL: String
    let clientID: String
    let clientSecret: String
    let transport: any HTTPTransport

    /// Creates a refresher.
    public init(tokenURL: String, clientID: String, clientSecret: String, transport: any HTTPTransport) {
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.transport = transport
    }

    /// Exchanges the refresh token.
    public func refresh(refreshToken: String, logger: Logger) async throws -> ConnectionSecrets {
        try await requestTokens(form: [("grant_type", "refresh_token"), ("refresh_token", refreshToken)], logger: logger)
    }

    /// Exchanges an authorization code (the OAuth 2.0 code flow's last step).
    /// - Parameters:
    ///   - code: the `code` of the redirect.
    ///   - redirectURI: the same redirect URI the authorization request named.
    ///   - codeVerifier: the PKCE verifier, when the request carried a challenge.
    /// - Throws: ``TokenRefreshRejected`` when the endpoint refuses the code (`invalid_grant`), ``WorkerError``
    ///   when it cannot be reached or answers without a token.
    public func exchange(
        code: String, redirectURI: String, codeVerifier: String?, logger: Logger
    ) async throws -> ConnectionSecrets {
        var form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI)]
        if let codeVerifier { form.append(("code_verifier", codeVerifier)) }
        return try await requestTokens(form: form, logger: logger)
    }

    /// One token-endpoint call with HTTP Basic client authentication, on a fresh connection that is never reused
    /// (a refresh token or an authorization code must never be presented twice by libcurl's silent re-send).
    private func requestTokens(form: [(String, String)], logger: Logger) async throws -> ConnectionSecrets {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "Authorization", value: "Basic " + Data("\(clientID):\(clientSecret)".utf8).base64EncodedString())
        let body = form.map { "\($0.0)=\(Self.formEncode($0.1))" }.joined(separator: "&")
        let sentAt = Date()
        let response: HTTPResponse
        do {
            response = try await transport.execute(
                HTTPRequest(
                    method: .post, url: tokenURL, headers: headers, body: Array(body.utf8), freshConnection: true),
                logger: logger)
        } catch {
            throw WorkerError(code: .credentials, reason: "the token endpoint could not be reached")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        if [400, 401].contains(response.status) {
            let code = object["error"] as? String ?? "invalid_grant"
            if ["invalid_grant", "invalid_client", "unauthorized_client"].contains(code) {
                throw TokenRefreshRejected(error: code)
            }
            throw WorkerError(code: .credentials, reason: "the token endpoint answered \(response.status)")
        }
        guard response.status == 200, let access = object["access_token"] as? String else {
            throw WorkerError(code: .credentials, reason: "the token endpoint answered \(response.status) without a token")
        }
        let expiresIn = (object["expires_in"] as? NSNumber)?.doubleValue
        return ConnectionSecrets(
            accessToken: access, refreshToken: object["refresh_token"] as? String,
            accessExpiresAt: expiresIn.map { sentAt.addingTimeInterval($0) })
    }

    static func formEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
