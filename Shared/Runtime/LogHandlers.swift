import Foundation
import Logging
import Synchronization

/// The output format of service logs (`LEDGERLINE_LOG_FORMAT`).
public enum LogFormat: String, Sendable, CaseIterable {
    /// One JSON object per line: for log shippers.
    case json
    /// `time level label: message key=value …`: for people at a terminal.
    case text
}

/// A structured log handler that writes one line per record to standard error.
///
/// Metadata whose key suggests a secret (`password`, `secret`, `token`, `authorization`,
/// `apikey`, `credential`) is replaced by `[redacted]`, so a careless call site cannot leak it.
public struct StructuredLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: LogFormat
    private let sink: LogSink

    /// - Parameters:
    ///   - label: the logger label, e.g. `ledgerline.ingest`.
    ///   - level: the minimum level written.
    ///   - format: JSON lines or text.
    ///   - sink: where lines go (standard error unless a test captures them).
    public init(label: String, level: Logger.Level, format: LogFormat, sink: LogSink = .standardError) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let time = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        let line: String
        switch format {
        case .json:
            var fields: [(String, String)] = [
                ("time", time), ("level", event.level.rawValue), ("logger", label),
                ("message", event.message.description),
            ]
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
                fields.append((key, Self.redacted(key, value)))
            }
            line = "{" + fields.map { "\(Self.jsonString($0.0)):\(Self.jsonString($0.1))" }.joined(separator: ",") + "}"
        case .text:
            let pairs = merged.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\(Self.redacted($0.key, $0.value))" }
            line = ([time, event.level.rawValue, "\(label):", event.message.description] + pairs).joined(separator: " ")
        }
        sink.write(line)
    }

    /// True when a metadata key names something secret.
    public static func isSecretKey(_ key: String) -> Bool {
        let lowered = key.lowercased()
        return ["password", "secret", "token", "authorization", "apikey", "api_key", "credential"]
            .contains { lowered.contains($0) }
    }

    static func redacted(_ key: String, _ value: Logger.Metadata.Value) -> String {
        isSecretKey(key) ? "[redacted]" : "\(value)"
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Where ``StructuredLogHandler`` writes its lines.
public final class LogSink: Sendable {
    private let capturing: Bool
    private let lines = Mutex<[String]>([])

    /// Standard error, one write per line.
    public static let standardError = LogSink(capturing: false)

    private init(capturing: Bool) {
        self.capturing = capturing
    }

    /// A sink that keeps lines in memory, for tests.
    public convenience init() {
        self.init(capturing: true)
    }

    func write(_ line: String) {
        if capturing {
            lines.withLock { $0.append(line) }
        } else {
            // One write call per line, so lines from several threads do not interleave.
            lines.withLock { _ in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
    }

    /// The lines captured so far (in-memory sinks only).
    public var captured: [String] { lines.withLock { $0 } }
}
