/// Where and how to connect to Postgres.
///
/// The password is kept apart from the URL and never appears in `description`, logs or errors.
///
/// ```swift
/// let configuration = try PostgresConfiguration(
///     url: "postgres://ledgerline@127.0.0.1:5432/ledgerline", password: environment["PGPASSWORD"])
/// ```
///
/// Every connection also sets `client_min_messages=warning` (no NOTICE chatter), `DateStyle=ISO, MDY`,
/// `TimeZone=UTC`, `bytea_output=hex` and `client_encoding=UTF8`, which the row decoders rely on.
public struct PostgresConfiguration: Sendable, CustomStringConvertible {
    /// Host name or address, e.g. `127.0.0.1`.
    public var host: String
    /// TCP port. Default: 5432.
    public var port: Int
    /// Role to log in as.
    public var user: String
    /// Password, or nil for trust/peer authentication. Secret: never printed.
    public var password: String?
    /// Database name.
    public var database: String
    /// Shown in `pg_stat_activity.application_name`. Default: `ledgerline`.
    public var applicationName: String
    /// How long opening a connection may take (libpq counts whole seconds, at least 2). Default: 10 s.
    public var connectTimeout: Duration
    /// `statement_timeout` for every statement, or nil for the server's default (none).
    public var statementTimeout: Duration?
    /// libpq `sslmode` (`disable`, `prefer`, `require`, …). Default: `prefer`.
    public var sslMode: String
    /// How many named prepared statements each connection keeps; statements beyond it run unnamed.
    /// Default: 256. Zero disables the cache.
    public var statementCacheCapacity: Int

    /// Creates a configuration.
    public init(
        host: String, port: Int = 5432, user: String, password: String? = nil, database: String,
        applicationName: String = "ledgerline", connectTimeout: Duration = .seconds(10),
        statementTimeout: Duration? = nil, sslMode: String = "prefer", statementCacheCapacity: Int = 256
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.applicationName = applicationName
        self.connectTimeout = connectTimeout
        self.statementTimeout = statementTimeout
        self.sslMode = sslMode
        self.statementCacheCapacity = statementCacheCapacity
    }

    /// Parses `postgres://user@host:port/database` (or `postgresql://`).
    ///
    /// The user defaults to `postgres`, the port to 5432 and the database to the user. IPv6 hosts go
    /// in brackets. Percent-escapes are decoded. Query parameters `application_name`, `sslmode` and
    /// `connect_timeout` (seconds) are understood; any other parameter is an error. A password in the
    /// URL (`user:secret@`) is used only when `password` is nil.
    ///
    /// - Parameters:
    ///   - url: the connection URL; keep the password out of it and pass it as `password`.
    ///   - password: the password, or nil.
    /// - Throws: ``PostgresError`` with code ``PostgresError/Code/invalidURL``; its message never
    ///   repeats the URL, which might hold a password.
    public init(url: String, password: String?) throws {
        func invalid(_ reason: String) -> PostgresError { PostgresError(code: .invalidURL, reason: reason) }

        var rest = Substring(url)
        guard let schemeEnd = rest.firstRange(of: "://") else { throw invalid("expected postgres://user@host:port/database") }
        let scheme = rest[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw invalid("scheme must be postgres or postgresql")
        }
        rest = rest[schemeEnd.upperBound...]

        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var userInfo: Substring?
        if let at = rest.lastIndex(of: "@") {
            userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }

        // Host and port.
        var hostPart = rest
        var portPart: Substring?
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else { throw invalid("unterminated [IPv6] host") }
            let afterClose = hostPart.index(after: close)
            if afterClose < hostPart.endIndex {
                guard hostPart[afterClose] == ":" else { throw invalid("unexpected text after [IPv6] host") }
                portPart = hostPart[hostPart.index(after: afterClose)...]
            }
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
        } else if let colon = hostPart.lastIndex(of: ":") {
            portPart = hostPart[hostPart.index(after: colon)...]
            hostPart = hostPart[..<colon]
        }
        guard let host = Self.percentDecoded(hostPart), !host.isEmpty else { throw invalid("missing host") }
        var port = 5432
        if let portPart {
            guard let value = Int(portPart), (1...65535).contains(value) else {
                throw invalid("port is not a number in 1...65535")
            }
            port = value
        }

        // User and optional password.
        var user = "postgres"
        var urlPassword: String?
        if let userInfo {
            let pieces = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard let decodedUser = Self.percentDecoded(pieces[0]), !decodedUser.isEmpty else {
                throw invalid("empty or malformed user name")
            }
            user = decodedUser
            if pieces.count == 2 {
                guard let decoded = Self.percentDecoded(pieces[1]) else { throw invalid("malformed password escape") }
                urlPassword = decoded
            }
        }

        guard let database = Self.percentDecoded(path) else { throw invalid("malformed database name escape") }
        guard !database.contains("/") else { throw invalid("database name contains '/'") }

        self.init(host: host, port: port, user: user, password: password ?? urlPassword, database: database.isEmpty ? user : database)

        for item in query.split(separator: "&") where !item.isEmpty {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2, let value = Self.percentDecoded(pair[1]) else {
                throw invalid("query parameters must be key=value")
            }
            switch pair[0] {
            case "application_name": applicationName = value
            case "sslmode": sslMode = value
            case "connect_timeout":
                guard let seconds = Int(value), seconds > 0 else { throw invalid("connect_timeout must be whole seconds") }
                connectTimeout = .seconds(seconds)
            default: throw invalid("unsupported query parameter \"\(pair[0])\"")
            }
        }
    }

    /// `postgres://user@host:port/database`, without the password.
    public var description: String {
        let hostText = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(hostText):\(port)/\(database)"
    }

    /// `host:port`, as errors name it.
    var endpoint: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The key/value pairs handed to `PQconnectdbParams`; never joined into a conninfo string.
    var connectionParameters: [(String, String)] {
        let timeout = max(2, Int((connectTimeout.components.seconds) + (connectTimeout.components.attoseconds > 0 ? 1 : 0)))
        var options = "-c client_min_messages=warning -c DateStyle=ISO,MDY -c TimeZone=UTC -c bytea_output=hex"
        options += " -c extra_float_digits=3"
        if let statementTimeout {
            let milliseconds = statementTimeout.components.seconds * 1000 + statementTimeout.components.attoseconds / 1_000_000_000_000_000
            options += " -c statement_timeout=\(max(1, milliseconds))"
        }
        var parameters: [(String, String)] = [
            ("host", host), ("port", String(port)), ("user", user), ("dbname", database),
            ("application_name", applicationName), ("connect_timeout", String(timeout)),
            ("client_encoding", "UTF8"), ("sslmode", sslMode), ("options", options),
            ("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"), ("keepalives_count", "3"),
        ]
        if let password { parameters.append(("password", password)) }
        return parameters
    }

    private static func percentDecoded(_ text: Substring) -> String? {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
