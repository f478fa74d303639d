/// One reason an event was rejected: a stable code, where in the document, and a message for people.
///
/// `path` names the JSON field in dotted form with zero-based indices, e.g. `invoice.lines[2].unit_price`;
/// the empty string means the whole document (a body that is too large or is not JSON). For a batch the path
/// starts with the event's index, e.g. `[3].invoice.currency`.
///
/// `message` is written for the shop's staff and finance ops. It may quote amounts and field values of the
/// invoice (never credentials), so log ``description`` (code and path only) rather than the message.
public struct ValidationFailure: Sendable, Hashable, Codable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The stable reason code.
    public var code: ReasonCode
    /// The JSON field path, e.g. `invoice.lines[2].unit_price`; empty for the whole document.
    public var path: String
    /// A human-readable explanation of this particular failure.
    public var message: String

    /// Creates a failure.
    /// - Parameters:
    ///   - code: the stable reason code.
    ///   - path: the JSON field path (empty for the whole document).
    ///   - message: a human-readable explanation.
    public init(code: ReasonCode, path: String, message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    /// `code at path`: safe to log (no invoice values).
    public var description: String { path.isEmpty ? code.rawValue : "\(code.rawValue) at \(path)" }

    /// `code at path: message`.
    public var debugDescription: String { "\(description): \(message)" }
}

/// The error returned when an event (or a batch) is rejected: every failure found, in the order of the contract's fields.
public struct ValidationError: Error, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The failures; never empty.
    public var failures: [ValidationFailure]

    /// Creates an error from its failures.
    /// - Parameter failures: the failures found (should not be empty).
    public init(failures: [ValidationFailure]) { self.failures = failures }

    /// The distinct reason codes, in the order they first occur.
    public var codes: [ReasonCode] {
        var seen = Set<ReasonCode>()
        return failures.compactMap { seen.insert($0.code).inserted ? $0.code : nil }
    }

    /// Whether any failure has the given code.
    /// - Parameter code: the code to look for.
    public func contains(_ code: ReasonCode) -> Bool { failures.contains { $0.code == code } }

    /// Whether the document was rejected for its size alone (HTTP intake answers 413 for this).
    public var isPayloadTooLarge: Bool { failures.count == 1 && failures[0].code == .bodyTooLarge }

    /// Codes and paths only: safe to log.
    public var description: String {
        let shown = failures.prefix(10).map(\.description).joined(separator: ", ")
        let more = failures.count > 10 ? ", …" : ""
        return "ValidationError(\(failures.count) failure\(failures.count == 1 ? "" : "s"): \(shown)\(more))"
    }

    /// Every failure with its message (may contain invoice values).
    public var debugDescription: String {
        "ValidationError:\n" + failures.map { "  - \($0.debugDescription)" }.joined(separator: "\n")
    }
}
