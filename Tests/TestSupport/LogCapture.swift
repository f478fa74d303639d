public import Logging
import Synchronization

/// A log handler that keeps every record (level, message, metadata) in memory for assertions, so
/// tests can check what was logged (and that secrets were not) without global logging setup.
public final class LogCapture: Sendable {
    private let records = Mutex<[String]>([])

    public init() {}

    /// Every record so far, rendered as `level message key=value …`.
    public var lines: [String] { records.withLock { $0 } }

    /// A logger that writes into this capture.
    public func logger(level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: "capture") { _ in Handler(capture: self) }
        logger.logLevel = level
        return logger
    }

    fileprivate func append(_ line: String) { records.withLock { $0.append(line) } }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let rendered = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            capture.append("\(event.level) \(event.message) \(rendered)")
        }
    }
}
