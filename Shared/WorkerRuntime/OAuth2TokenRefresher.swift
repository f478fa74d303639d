import Foundation
public import HTTP
public import Logging

/// The RFC 6749 refresh-token grant over an `HTTPTransport`: `POST <tokenURL>` with
/// `grant_type=refresh_token&refresh_token=…` (form-encoded) and the client authenticated with HTTP Basic, as
/// QuickBooks Online (`/oauth2/v1/tokens/bearer`), Xero (`/connect/token`) and erp-sim expect.
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
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "Authorization", value: "Basic " + Data("\(clientID):\(clientSecret)".utf8).base64EncodedString())
        let body = "grant_type=refresh_token&refresh_token=\(Self.formEncode(refreshToken))"
        let sentAt = Date()
        let response: HTTPResponse
        do {
            response = try await transport.execute(
                HTTPRequest(method: .post, url: tokenURL, headers: headers, body: Array(body.utf8)), logger: logger)
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
