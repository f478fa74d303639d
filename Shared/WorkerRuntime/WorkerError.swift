/// A failure of the worker runtime itself (not of the ERP: those are `ConnectorFailure`).
///
/// `description` is safe to log: it names the code and a reason written by this module, never a token,
/// a bind value or an ERP message.
public struct WorkerError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong; extensible.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable { case leaseLost, stateConflict, documentMissing, invalidJob, rateLimitTimeout, configuration, credentials }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// Another worker took the document over (our lease expired).
        public static let leaseLost = Code(.leaseLost)
        /// The state row was not as expected.
        public static let stateConflict = Code(.stateConflict)
        /// The canonical document the job names does not exist.
        public static let documentMissing = Code(.documentMissing)
        /// The job message is unusable (kind not served, missing ids).
        public static let invalidJob = Code(.invalidJob)
        /// No rate-limit token or concurrency slot within the wait limit (kept for compatibility: the limiter now
        /// throws ``RateLimitWaitTimeout``).
        public static let rateLimitTimeout = Code(.rateLimitTimeout)
        /// The connection's settings are missing or invalid.
        public static let configuration = Code(.configuration)
        /// Credentials could not be read, decrypted or stored.
        public static let credentials = Code(.credentials)
        /// The code's name.
        public var description: String { base.rawValue }
    }

    /// The code.
    public var code: Code
    /// A reason written by this module (no secrets, no ERP text).
    public var reason: String
    /// The underlying error, for `debugDescription` only.
    public var underlying: (any Error)?

    /// Creates an error.
    public init(code: Code, reason: String, underlying: (any Error)? = nil) {
        self.code = code
        self.reason = reason
        self.underlying = underlying
    }

    /// `WorkerError(code): reason`.
    public var description: String { "WorkerError(\(code)): \(reason)" }
    /// The description plus the underlying error.
    public var debugDescription: String {
        underlying.map { "\(description) underlying: \(String(reflecting: $0))" } ?? description
    }
}
