/// An audit-trail operation failed for a reason of its own (database errors are thrown as
/// `PostgresError`).
///
/// `description` names the code and the tenant only; `debugDescription` adds the detail.
public struct AuditTrailError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String {
            case invalidEvent, sessionNotFound, ambiguousSession, invalidArgument, chainBroken
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// An event cannot be stored (see ``AuditEventValidation``).
        public static let invalidEvent = Code(.invalidEvent)
        /// No session matches the given id or prefix.
        public static let sessionNotFound = Code(.sessionNotFound)
        /// A session id prefix matches more than one session.
        public static let ambiguousSession = Code(.ambiguousSession)
        /// A parameter is out of range or malformed.
        public static let invalidArgument = Code(.invalidArgument)
        /// A checkpoint was asked for a chain that does not verify.
        public static let chainBroken = Code(.chainBroken)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// The tenant concerned, if any.
    public var tenantID: String?
    /// What exactly; may name ids, never event payloads.
    public var detail: String

    public init(code: Code, tenantID: String? = nil, detail: String) {
        self.code = code
        self.tenantID = tenantID
        self.detail = detail
    }

    public var description: String {
        "AuditTrailError(\(code)\(tenantID.map { ", tenant: \($0)" } ?? ""))"
    }

    public var debugDescription: String { "\(description): \(detail)" }
}
