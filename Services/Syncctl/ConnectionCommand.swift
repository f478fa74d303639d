import ArgumentParser
import Connectors
import Crypto
import Domain
import Foundation
import HTTP
import Hummingbird
import Logging
import Postgres
import Runtime
import WorkerRuntime

/// A user-facing error: printed as is, exit status 1 (argument-parser's validation error; `Domain` has its own).
typealias UsageError = ArgumentParser.ValidationError

/// `syncctl connection …`: list connections, point them at an ERP (production, sandbox or erp-sim), set and
/// validate their mapping, and authorize them with the ERP's OAuth 2.0 code flow.
struct ConnectionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connection",
        abstract: "List, configure, map and connect ERP connections.",
        subcommands: [List.self, Configure.self, Mapping.self, Connect.self] + connectionLifecycleSubcommands)

    // MARK: list

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List connections: status, company, token expiry, documents by state, reason for re-authorization.")

        @OptionGroup var common: CommonOptions
        @Option(help: "Only this tenant.") var tenant: String?

        func run() async throws {
            let connection = try await connectPostgres(common)
            defer { connection.close() }
            let rows = try await connection.query(
                """
                SELECT c.connection_id::text AS id, c.tenant_id, c.location_id, c.erp, c.status,
                       coalesce(s.company_id, '') AS company, s.reauth_reason, s.api_base_url,
                       k.access_expires_at,
                       (SELECT count(*) FROM sync_documents d WHERE d.connection_id = c.connection_id AND d.state = 'synced') AS synced,
                       (SELECT count(*) FROM sync_documents d WHERE d.connection_id = c.connection_id AND d.state = 'parked') AS parked,
                       (SELECT count(*) FROM sync_documents d WHERE d.connection_id = c.connection_id
                          AND d.state NOT IN ('synced', 'parked')) AS open
                FROM erp_connections c
                LEFT JOIN erp_connection_settings s ON s.connection_id = c.connection_id
                LEFT JOIN erp_connection_credentials k ON k.connection_id = c.connection_id
                WHERE \(tenant)::text IS NULL OR c.tenant_id = \(tenant)
                ORDER BY c.tenant_id, c.location_id, c.erp
                """, logger: common.logger)
            if rows.isEmpty { print("no connections (add one with: ingest admin connection-add)") }
            for row in rows {
                let status = try row.decode(String.self, "status")
                let company = try row.decode(String.self, "company")
                let expiry = try row.decode(Date?.self, "access_expires_at")
                print(
                    "\(try row.decode(String.self, "id"))  \(try row.decode(String.self, "tenant_id"))/\(try row.decode(String.self, "location_id"))  \(try row.decode(String.self, "erp"))  \(status)"
                )
                print(
                    "    company \(company.isEmpty ? "(not connected)" : company)  token \(expiry.map { "expires \(ISO8601DateFormatter().string(from: $0))" } ?? "none")  documents: \(try row.decode(Int64.self, "synced")) synced, \(try row.decode(Int64.self, "open")) open, \(try row.decode(Int64.self, "parked")) parked"
                )
                if status == "needs_reauth" {
                    print(
                        "    needs re-authorization (\(try row.decode(String?.self, "reauth_reason") ?? "token rejected")): run syncctl connection connect \(try row.decode(String.self, "id"))"
                    )
                }
            }
        }
    }

    // MARK: configure

    struct Configure: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Point a connection at its ERP: API base URL and OAuth URLs (production by default), and its mapping.",
            discussion: """
                Unset URLs keep their current value, or the ERP's production endpoints for a new connection. Use \
                the sandbox or erp-sim URLs to test (docs/erp-sim.md lists the simulator's).
                """)

        @OptionGroup var common: CommonOptions
        @Argument(help: "The connection id (syncctl connection list).") var connectionID: String
        @Option(help: "The API base URL.") var apiBaseURL: String?
        @Option(help: "The OAuth authorize URL.") var authorizeURL: String?
        @Option(help: "The OAuth token URL.") var tokenURL: String?
        @Option(help: "A mapping JSON file to set (validated first).") var mapping: String?

        func run() async throws {
            let connection = try await connectPostgres(common)
            defer { connection.close() }
            let target = try await ConnectionRow.load(connectionID, connection: connection, logger: common.logger)
            let profile = target.connector.authorization
            for url in [apiBaseURL, authorizeURL, tokenURL].compactMap({ $0 }) {
                guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                    throw UsageError("not an http(s) URL: \(url)")
                }
            }
            var mappingJSON: String?
            if let mapping {
                let (json, issues) = try MappingFile.read(mapping, for: target)
                guard issues.isEmpty else { throw MappingFile.incomplete(issues, file: mapping) }
                mappingJSON = json
            }
            try await connection.execute(
                """
                INSERT INTO erp_connection_settings (connection_id, tenant_id, api_base_url, company_id, authorize_url,
                                                     token_url, mapping)
                VALUES (\(target.id), \(target.tenant), \(apiBaseURL ?? profile.apiBaseURL), '',
                        \(authorizeURL), \(tokenURL), coalesce(\(mappingJSON)::jsonb, '{}'))
                ON CONFLICT (connection_id) DO UPDATE
                SET api_base_url = coalesce(\(apiBaseURL), erp_connection_settings.api_base_url),
                    authorize_url = coalesce(\(authorizeURL), erp_connection_settings.authorize_url),
                    token_url = coalesce(\(tokenURL), erp_connection_settings.token_url),
                    mapping = coalesce(\(mappingJSON)::jsonb, erp_connection_settings.mapping), updated_at = now()
                """, logger: common.logger)
            print("configured \(target.id.uuidString.lowercased()) (\(target.erp.rawValue))\(mappingJSON == nil ? "" : ", mapping complete")")
        }
    }

    // MARK: mapping

    struct Mapping: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a connection's mapping and what is missing, or set it from a JSON file (validated).",
            discussion: """
                The mapping names the ERP's items / accounts for parts, labor, fees, sublets, core charges and \
                discounts, tax codes, the class / department / tracking per location, the payment deposit \
                account and the customer matching policy (docs/connectors.md). Exit status 1 names every \
                missing entry by its path.
                """)

        @OptionGroup var common: CommonOptions
        @Argument(help: "The connection id.") var connectionID: String
        @Option(help: "Replace the mapping with this JSON file, after validating it.") var set: String?

        func run() async throws {
            let connection = try await connectPostgres(common)
            defer { connection.close() }
            let target = try await ConnectionRow.load(connectionID, connection: connection, logger: common.logger)
            if let set {
                let (json, issues) = try MappingFile.read(set, for: target)
                guard issues.isEmpty else { throw MappingFile.incomplete(issues, file: set) }
                let updated = try await connection.query(
                    """
                    UPDATE erp_connection_settings SET mapping = \(json)::jsonb, updated_at = now()
                    WHERE connection_id = \(target.id) RETURNING 1 AS ok
                    """, logger: common.logger)
                guard !updated.isEmpty else {
                    throw UsageError("the connection is not configured yet: run syncctl connection configure \(connectionID) first")
                }
                print("mapping set for \(target.id.uuidString.lowercased()): complete for \(target.erp.rawValue), location \(target.location)")
                return
            }
            let stored = try await connection.query(
                "SELECT mapping::text AS mapping FROM erp_connection_settings WHERE connection_id = \(target.id)",
                logger: common.logger
            ).first.map { try $0.decode(String.self, "mapping") } ?? "{}"
            print(stored)
            let issues = try MappingFile.validate(Array(stored.utf8), for: target)
            if issues.isEmpty {
                print("mapping complete")
            } else {
                throw MappingFile.incomplete(issues, file: nil)
            }
        }
    }

    // MARK: connect

    struct Connect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Authorize a connection with the ERP's OAuth 2.0 code flow (state, and PKCE where supported).",
            discussion: """
                Listens on http://127.0.0.1:<redirect-port>/callback, prints the authorize URL to open in a \
                browser (or runs --open-with <command> <url>), exchanges the code and stores the tokens sealed \
                with LEDGERLINE_SECRETS_KEY. The app's client id and secret come from --client-id / \
                LEDGERLINE_OAUTH_CLIENT_ID and LEDGERLINE_OAUTH_CLIENT_SECRET. A connection that was connected \
                to one company refuses another (its fingerprint: QuickBooks realm id, Xero tenant id).
                """)

        @OptionGroup var common: CommonOptions
        @Argument(help: "The connection id.") var connectionID: String
        @Option(help: "The OAuth client id (default LEDGERLINE_OAUTH_CLIENT_ID).") var clientID: String?
        @Option(help: "The local port of the redirect URI (it must be registered with the ERP app).") var redirectPort = 8765
        @Option(help: "A command run with the authorize URL as its last argument (e.g. xdg-open).") var openWith: String?
        @Option(help: "Which company to use when the token may use several (Xero tenant id).") var company: String?
        @Option(help: "How long to wait for the browser, in seconds.") var timeout: Double = 300

        func run() async throws {
            let settings = common.settings
            let logger = common.logger
            let vault = try CredentialVault(base64Key: try settings.requiredString("LEDGERLINE_SECRETS_KEY", isSecret: true))
            guard let clientID = clientID ?? settings.raw("LEDGERLINE_OAUTH_CLIENT_ID") else {
                throw UsageError("no OAuth client id: pass --client-id or set LEDGERLINE_OAUTH_CLIENT_ID")
            }
            let clientSecret = try settings.requiredString("LEDGERLINE_OAUTH_CLIENT_SECRET", isSecret: true)
            let connection = try await connectPostgres(common)
            defer { connection.close() }
            let target = try await ConnectionRow.load(connectionID, connection: connection, logger: logger)
            guard let endpoints = try await target.endpoints(connection: connection, logger: logger) else {
                throw UsageError("the connection is not configured yet: run syncctl connection configure \(connectionID) first")
            }
            let profile = target.connector.authorization

            let redirectURI = "http://127.0.0.1:\(redirectPort)/callback"
            let state = AuthorizationRequest.randomToken()
            let verifier = profile.supportsPKCE ? AuthorizationRequest.randomToken() : nil
            let url = AuthorizationRequest.url(
                endpoint: endpoints.authorizeURL ?? profile.authorizeURL, clientID: clientID, redirectURI: redirectURI,
                scopes: profile.scopes, state: state, codeVerifier: verifier)

            let callback = try await CallbackListener.waitForCallback(
                port: redirectPort, timeout: .milliseconds(Int64(timeout * 1000)), logger: logger
            ) {
                print("Open this URL to authorize \(target.erp.rawValue) for \(target.tenant)/\(target.location):\n  \(url)")
                if let openWith { try AuthorizationRequest.open(url, with: openWith) }
            }
            guard callback["state"] == state else {
                throw UsageError("the redirect's state does not match this request (a stale or forged redirect); nothing stored")
            }
            if let error = callback["error"] {
                throw UsageError("the ERP refused the authorization: \(error)\(callback["error_description"].map { " (\($0))" } ?? "")")
            }
            guard let code = callback["code"] else { throw UsageError("the redirect carried no code") }

            var httpConfiguration = HTTPClientConfiguration()
            httpConfiguration.followRedirects = .doNotFollow
            let http = try HTTPClient(configuration: httpConfiguration, logger: logger)
            defer { http.shutdown() }
            let tokens = try await OAuth2TokenRefresher(
                tokenURL: endpoints.tokenURL ?? profile.tokenURL, clientID: clientID, clientSecret: clientSecret,
                transport: http
            ).exchange(code: code, redirectURI: redirectURI, codeVerifier: verifier, logger: logger)

            let authorized: AuthorizedCompany
            switch profile.companyDiscovery {
            case .callbackParameter(let name):
                guard let id = callback[name] else { throw UsageError("the redirect carried no \(name)") }
                authorized = AuthorizedCompany(id: id)
            case .connectionsEndpoint:
                let companies = try await target.connector.authorizedCompanies(
                    apiBaseURL: endpoints.apiBaseURL, accessToken: tokens.accessToken, transport: http, logger: logger)
                if let company {
                    guard let match = companies.first(where: { $0.id == company }) else {
                        throw UsageError("the authorization does not include company \(company)")
                    }
                    authorized = match
                } else if let only = companies.first, companies.count == 1 || endpoints.companyID.isEmpty == false {
                    authorized = companies.first { $0.id == endpoints.companyID } ?? only
                } else {
                    throw UsageError(
                        "the authorization includes \(companies.count) companies; pick one with --company: "
                            + companies.map { "\($0.id) (\($0.name ?? "?"))" }.joined(separator: ", "))
                }
            }
            if !endpoints.companyID.isEmpty && endpoints.companyID != authorized.id {
                throw UsageError(
                    """
                    refused: connection \(connectionID) belongs to company \(endpoints.companyID), but this authorization \
                    is for company \(authorized.id). Connecting it to another company would mix two sets of books; \
                    nothing was stored. Authorize the original company, or migrate the location to a new connection.
                    """)
            }

            let pool = PostgresPool(
                configuration: try settings.postgres(applicationName: "syncctl"), maxConnections: 1, logger: logger)
            defer { pool.close() }
            let store = SyncStateStore(pool: pool, workerID: "syncctl")
            try await CredentialStore(store: store, vault: vault).save(
                tokens, tenantID: TenantID(target.tenant), connectionID: target.id, logger: logger)
            try await connection.execute(
                """
                UPDATE erp_connection_settings
                SET company_id = \(authorized.id), company_name = coalesce(\(authorized.name), company_name),
                    connected_at = now(), reauth_reason = NULL, reauth_at = NULL, updated_at = now()
                WHERE connection_id = \(target.id)
                """, logger: logger)
            // A connection that lost its authorization or was disconnected comes back: status active, and the
            // documents parked for that reason are due again (exactly once: claims and ERP keys decide).
            let status = try await connection.query(
                "SELECT status FROM erp_connections WHERE connection_id = \(target.id)", logger: logger
            ).first?.decode(String.self, "status")
            if status != "active" {
                let resumed = try await ConnectionLifecycle(store: store).reconnect(
                    tenantID: TenantID(target.tenant), connectionID: target.id, logger: logger)
                print("reconnected (was \(status ?? "?")): \(resumed) parked documents and pulls resume")
            }
            print("connected \(target.id.uuidString.lowercased()) to \(target.erp.rawValue) company \(authorized.id)\(authorized.name.map { " (\($0))" } ?? "")")
        }
    }
}

/// A connection as `syncctl` sees it.
struct ConnectionRow {
    var id: UUID
    var tenant: String
    var location: String
    var erp: ERP
    var connector: any ERPConnector.Type

    static func load(_ text: String, connection: PostgresConnection, logger: Logger) async throws -> ConnectionRow {
        guard let id = UUID(uuidString: text) else { throw UsageError("not a connection id: \(text)") }
        guard
            let row = try await connection.query(
                "SELECT tenant_id, location_id, erp FROM erp_connections WHERE connection_id = \(id)", logger: logger
            ).first
        else { throw UsageError("no connection \(text) (syncctl connection list shows them)") }
        let slug = try row.decode(String.self, "erp")
        guard let erp = ERP(rawValue: slug), let connector = Connectors.type(for: erp) else {
            throw UsageError("no connector serves ERP \(slug)")
        }
        return ConnectionRow(
            id: id, tenant: try row.decode(String.self, "tenant_id"), location: try row.decode(String.self, "location_id"),
            erp: erp, connector: connector)
    }

    /// The stored endpoints and company; nil when the connection was never configured.
    func endpoints(connection: PostgresConnection, logger: Logger) async throws
        -> (apiBaseURL: String, authorizeURL: String?, tokenURL: String?, companyID: String)?
    {
        try await connection.query(
            """
            SELECT api_base_url, authorize_url, token_url, company_id FROM erp_connection_settings
            WHERE connection_id = \(id)
            """, logger: logger
        ).first.map {
            (
                try $0.decode(String.self, "api_base_url"), try $0.decode(String?.self, "authorize_url"),
                try $0.decode(String?.self, "token_url"), try $0.decode(String.self, "company_id")
            )
        }
    }
}

/// Reading and validating mapping files.
enum MappingFile {
    /// The file's JSON (re-encoded) and what is missing for the connection's ERP and location.
    static func read(_ path: String, for target: ConnectionRow) throws -> (json: String, issues: [MappingIssue]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw UsageError("cannot read \(path)") }
        let issues = try validate(Array(data), for: target)
        return (String(decoding: data, as: UTF8.self), issues)
    }

    static func validate(_ bytes: [UInt8], for target: ConnectionRow) throws -> [MappingIssue] {
        let mapping: MappingConfiguration
        do {
            mapping = try JSONDecoder().decode(MappingConfiguration.self, from: Data(bytes))
        } catch let DecodingError.keyNotFound(key, context) {
            throw UsageError("mapping: \((context.codingPath + [key]).map(\.stringValue).joined(separator: ".")) is missing")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
            let DecodingError.dataCorrupted(context)
        {
            throw UsageError(
                "mapping: \(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)")
        }
        return mapping.validate(target.connector.mappingRequirements, location: LocationID(target.location))
    }

    static func incomplete(_ issues: [MappingIssue], file: String?) -> UsageError {
        UsageError(
            "mapping\(file.map { " in \($0)" } ?? "") is incomplete for this connection:\n"
                + issues.map { "  - \($0)" }.joined(separator: "\n"))
    }
}

/// The authorize URL, with state and PKCE.
enum AuthorizationRequest {
    /// 32 random bytes, base64url (43 characters: also a valid PKCE verifier).
    static func randomToken() -> String {
        base64URL(SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) })
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func url(
        endpoint: String, clientID: String, redirectURI: String, scopes: [String], state: String, codeVerifier: String?
    ) -> String {
        var items = [
            ("response_type", "code"), ("client_id", clientID), ("redirect_uri", redirectURI),
            ("scope", scopes.joined(separator: " ")), ("state", state),
        ]
        if let codeVerifier {
            items.append(("code_challenge", base64URL(Data(SHA256.hash(data: Data(codeVerifier.utf8))))))
            items.append(("code_challenge_method", "S256"))
        }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let query = items.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }
        return endpoint + (endpoint.contains("?") ? "&" : "?") + query.joined(separator: "&")
    }

    /// Runs `command url` (e.g. `xdg-open`), without a shell.
    static func open(_ url: String, with command: String) throws {
        let parts = command.split(separator: " ").map(String.init)
        guard let executable = parts.first else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + parts.dropFirst() + [url]
        try process.run()
    }
}

/// A one-shot HTTP listener for the OAuth redirect.
enum CallbackListener {
    /// Serves `GET /callback` on 127.0.0.1:`port`, runs `ready` once listening, and returns the first
    /// callback's query parameters.
    static func waitForCallback(
        port: Int, timeout: Duration, logger: Logger, ready: @escaping @Sendable () throws -> Void
    ) async throws -> [String: String] {
        let (stream, continuation) = AsyncStream.makeStream(of: [String: String].self)
        let router = Router()
        router.get("callback") { request, _ -> String in
            var parameters: [String: String] = [:]
            for (key, value) in request.uri.queryParameters { parameters[String(key)] = String(value) }
            continuation.yield(parameters)
            return parameters["error"] == nil
                ? "Ledgerline: authorization received. You can close this window.\n"
                : "Ledgerline: the authorization was refused (\(parameters["error"] ?? "")).\n"
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { _ in try? ready() }, logger: Logger(label: "ledgerline.syncctl.callback") { _ in SwiftLogNoOpLogHandler() })
        return try await withThrowingTaskGroup(of: [String: String]?.self) { group in
            group.addTask {
                try await app.runService(gracefulShutdownSignals: [])
                return nil
            }
            group.addTask {
                for await parameters in stream {
                    try? await Task.sleep(for: .milliseconds(200))  // let the browser's answer go out first
                    return parameters
                }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw UsageError("no redirect arrived within \(timeout) (was the authorize URL opened?)")
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let parameters = next { return parameters }
            }
            throw UsageError("the callback listener stopped")
        }
    }
}
