/// Where and how to connect to a RabbitMQ broker.
///
/// The password is kept apart from the URL and never appears in ``description``, ``debugDescription``
/// or a `dump`/mirror of the value.
///
/// ```swift
/// let configuration = try AMQPConfiguration(url: "amqp://app@127.0.0.1:5672/%2F", password: secret)
/// ```
public struct AMQPConfiguration: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Host name or IP address of the broker.
    public var host: String
    /// TCP port. Default 5672.
    public var port: Int
    /// Virtual host. Default `/`.
    public var virtualHost: String
    /// User name.
    public var user: String
    /// Password. Not part of any description of this value.
    public var password: String
    /// AMQP heartbeat interval negotiated with the broker; `.zero` disables heartbeats. Default 30 s.
    ///
    /// rabbitmq-c sends and checks heartbeats only inside library calls; the publisher and consumer
    /// threads call into the library at least every 200 ms, so heartbeats keep working while idle.
    public var heartbeat: Duration
    /// Time allowed for the TCP connect and, separately, for the AMQP handshake and login. Default 5 s.
    public var connectTimeout: Duration
    /// Time allowed for each synchronous AMQP method (declare, bind, channel open, close). Default 30 s.
    public var rpcTimeout: Duration
    /// Largest frame size offered to the broker, in bytes. Default 131,072.
    public var frameMax: Int
    /// First delay before reconnecting after a dropped connection. Default 100 ms.
    public var reconnectBackoffMin: Duration
    /// Longest delay between reconnect attempts. Default 5 s.
    public var reconnectBackoffMax: Duration

    /// Creates a configuration from its parts.
    public init(
        host: String = "127.0.0.1", port: Int = 5672, virtualHost: String = "/", user: String = "guest",
        password: String = "", heartbeat: Duration = .seconds(30), connectTimeout: Duration = .seconds(5),
        rpcTimeout: Duration = .seconds(30), frameMax: Int = 131_072,
        reconnectBackoffMin: Duration = .milliseconds(100), reconnectBackoffMax: Duration = .seconds(5)
    ) {
        self.host = host
        self.port = port
        self.virtualHost = virtualHost
        self.user = user
        self.password = password
        self.heartbeat = heartbeat
        self.connectTimeout = connectTimeout
        self.rpcTimeout = rpcTimeout
        self.frameMax = frameMax
        self.reconnectBackoffMin = reconnectBackoffMin
        self.reconnectBackoffMax = reconnectBackoffMax
    }

    /// Parses `amqp://user@host:port/vhost` and takes the password separately.
    ///
    /// - The user defaults to `guest`, the port to 5672 and the virtual host to `/`. The virtual host is
    ///   one percent-encoded path segment: `/%2F` and `/` both mean `/`, `/billing` means `billing`.
    /// - IPv6 hosts are written in brackets: `amqp://app@[::1]:5672/`.
    /// - Query parameters `heartbeat` (seconds), `connection_timeout` (milliseconds) and `frame_max`
    ///   (bytes) set the matching fields; any other parameter is rejected.
    /// - A password inside the URL (`user:secret@host`) is rejected: pass it as `password`, so that URLs
    ///   can be logged and stored in plain configuration.
    ///
    /// - Throws: ``AMQPError`` with code ``AMQPError/Code/invalidURL`` and a message naming the problem.
    ///   The message never repeats the URL's user-info part.
    public init(url: String, password: String?) throws {
        self.init(password: password ?? "")
        try parse(url)
    }

    private mutating func parse(_ url: String) throws {
        func invalid(_ reason: String) -> AMQPError { AMQPError(code: .invalidURL, detail: reason) }
        var rest = Substring(url)
        if rest.hasPrefix("amqps://") {
            throw invalid("amqps:// (TLS) is not supported by this client; use amqp:// on loopback or a TLS proxy")
        }
        guard rest.hasPrefix("amqp://") else { throw invalid("the URL must start with amqp://") }
        rest = rest.dropFirst("amqp://".count)

        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        if rest.contains("#") { throw invalid("the URL must not contain a fragment") }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var authority = rest
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if userInfo.contains(":") {
                throw invalid("the URL contains a password; pass the password separately")
            }
            guard let decoded = Self.percentDecode(userInfo), !decoded.isEmpty else {
                throw invalid("the user name is empty or badly percent-encoded")
            }
            user = decoded
        }
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw invalid("an IPv6 host lacks its closing ]") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            authority = authority[authority.index(after: close)...]
            if !authority.isEmpty {
                guard authority.hasPrefix(":") else { throw invalid("unexpected text after the IPv6 host") }
                port = try Self.parsePort(authority.dropFirst(), invalid)
            }
        } else if let colon = authority.firstIndex(of: ":") {
            host = String(authority[..<colon])
            port = try Self.parsePort(authority[authority.index(after: colon)...], invalid)
        } else {
            host = String(authority)
        }
        guard !host.isEmpty else { throw invalid("the host is missing") }
        guard host.allSatisfy({ $0.isLetter || $0.isNumber || ".-_:".contains($0) }) else {
            throw invalid("the host contains characters that are not allowed")
        }

        if path.contains("/") {
            throw invalid("the virtual host must be a single path segment (encode / as %2F)")
        }
        if path.isEmpty {
            virtualHost = "/"
        } else {
            guard let decoded = Self.percentDecode(path) else { throw invalid("the virtual host is badly percent-encoded") }
            virtualHost = decoded
        }

        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : ""
            guard let number = Int(value), number >= 0 else {
                throw invalid("query parameter \(key) needs a non-negative integer")
            }
            switch key {
            case "heartbeat": heartbeat = .seconds(number)
            case "connection_timeout": connectTimeout = .milliseconds(number)
            case "frame_max":
                guard number >= 4096 else { throw invalid("frame_max must be at least 4096") }
                frameMax = number
            default: throw invalid("unknown query parameter \(key)")
            }
        }
    }

    private static func parsePort(_ text: Substring, _ invalid: (String) -> AMQPError) throws -> Int {
        guard let port = Int(text), (1...65_535).contains(port) else {
            throw invalid("the port must be a number from 1 to 65535")
        }
        return port
    }

    /// Decodes `%XX` escapes; nil when an escape is malformed or the result is not UTF-8.
    static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// `host:port`, as used in errors and log metadata.
    public var endpoint: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// `amqp://user@host:port/vhost`: safe to log, no password.
    public var description: String {
        "amqp://\(user)@\(endpoint)/\(virtualHost == "/" ? "%2F" : virtualHost)"
    }

    public var debugDescription: String {
        "AMQPConfiguration(\(description), heartbeat: \(heartbeat), connectTimeout: \(connectTimeout), "
            + "frameMax: \(frameMax), password: <redacted>)"
    }

    /// A mirror without the password, so `dump(configuration)` cannot leak it.
    public var customMirror: Mirror {
        Mirror(self, children: [
            "host": host, "port": port, "virtualHost": virtualHost, "user": user, "password": "<redacted>",
            "heartbeat": heartbeat, "connectTimeout": connectTimeout, "rpcTimeout": rpcTimeout, "frameMax": frameMax,
            "reconnectBackoffMin": reconnectBackoffMin, "reconnectBackoffMax": reconnectBackoffMax,
        ])
    }
}

extension Duration {
    /// Whole milliseconds, rounded down, never negative.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
