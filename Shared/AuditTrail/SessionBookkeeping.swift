import Crypto
public import Domain
public import Foundation

/// Which counter of a sync session a record event adds to.
///
/// The mapping (documented in docs/audit-trail.md, "Sync log"):
///
/// - **Object group** from `record.object_type`: `customer` → customers, `invoice` → invoices,
///   `payment` → payments, anything else → others. An `event.rejected` (a shop event ingest refused)
///   counts as an invoice unless its record says customer or payment.
/// - **Result** from `outcome`: `skipped` → skipped; `failed`, `rejected`, `parked` → failed;
///   `deferred` → deferred (not failed yet); `succeeded` → created or updated, decided by
///   `details["operation"]` (`create`/`created` or `update`/`updated`) when present, else by the last
///   word of `action`: Created, Added, Applied, Imported, Pulled, Pushed, Recorded → created;
///   anything else (Updated, Voided, Cancelled, Deleted, Linked, …) → updated. Without an outcome,
///   the verb decides: Skipped → skipped, Failed/Rejected → failed, else as a success; an
///   `event.rejected` without an outcome counts as failed.
public struct SessionTally: Sendable, Hashable {
    /// The object group of a counter.
    public enum Group: String, Sendable, Hashable, CaseIterable {
        case customers, invoices, payments, others
    }

    /// The result of a counter.
    public enum Result: String, Sendable, Hashable, CaseIterable {
        case created, updated, skipped, failed, deferred
    }

    public var group: Group
    public var result: Result

    public init(group: Group, result: Result) {
        self.group = group
        self.result = result
    }

    /// Verbs whose success means a new record in the target system.
    static let creatingVerbs: Set<String> = ["created", "added", "applied", "imported", "pulled", "pushed", "recorded"]

    /// The counter `event` adds to, or nil for events that are not record events
    /// (`record.synced` and `event.rejected` count; the other kinds do not).
    public static func classify(_ event: AuditEvent) -> SessionTally? {
        guard event.kind == .recordSynced || event.kind == .eventRejected else { return nil }
        let group: Group
        switch event.record?.objectType {
        case .customer: group = .customers
        case .invoice: group = .invoices
        case .payment: group = .payments
        case .event where event.kind == .eventRejected, nil where event.kind == .eventRejected: group = .invoices
        default: group = .others
        }
        let verb = event.action?.split(separator: " ").last.map { $0.lowercased() } ?? ""
        let result: Result
        switch event.outcome {
        case .skipped: result = .skipped
        case .failed, .rejected, .parked: result = .failed
        case .deferred: result = .deferred
        case .succeeded: result = successResult(event, verb: verb)
        case nil:
            if event.kind == .eventRejected || verb == "failed" || verb == "rejected" {
                result = .failed
            } else if verb == "skipped" {
                result = .skipped
            } else {
                result = successResult(event, verb: verb)
            }
        }
        return SessionTally(group: group, result: result)
    }

    private static func successResult(_ event: AuditEvent, verb: String) -> Result {
        switch event.details?["operation"]?.lowercased() {
        case "create", "created": return .created
        case "update", "updated": return .updated
        default: return creatingVerbs.contains(verb) ? .created : .updated
        }
    }
}

/// How the writer assigns a record event to a sync session.
///
/// An event that names its session (`session_id`) belongs to it. A `record.synced` event without one
/// (a real-time push, for example) goes to the **real-time window** of its connection and UTC hour;
/// an `event.rejected` without one goes to the **ingest window** of its location and UTC hour. Window
/// session ids are derived from the window's key, so every writer (and every redelivery) picks the
/// same id without coordination.
public enum SessionAssignment: Sendable, Hashable {
    /// The producer's own session (a trigger run or batch).
    case explicit(UUID)
    /// An implicit window the writer opened.
    case window(id: UUID, kind: WindowKind, start: Int64, end: Int64)

    /// The kinds of implicit window.
    public enum WindowKind: String, Sendable, Hashable {
        /// Real-time record events of one connection (or location + ERP) in one hour.
        case realtime = "realtime_window"
        /// Shop events ingest rejected, per location and hour.
        case ingest = "ingest_window"
    }

    /// The length of an implicit window: one hour.
    public static let windowMicros: Int64 = 3_600_000_000

    /// The session id.
    public var sessionID: UUID {
        switch self {
        case .explicit(let id): id
        case .window(let id, _, _, _): id
        }
    }

    /// The session `event` belongs to, or nil when it belongs to none (an `event.received` or
    /// `connection.changed` without a session id, or session events without one).
    public static func assign(_ event: AuditEvent) -> SessionAssignment? {
        if let sessionID = event.sessionID { return .explicit(sessionID) }
        let kind: WindowKind
        switch event.kind {
        case .recordSynced: kind = .realtime
        case .eventRejected: kind = .ingest
        default: return nil
        }
        let occurred = AuditRow.micros(event.occurredAt)
        let start = occurred >= 0 ? occurred / windowMicros * windowMicros : ((occurred + 1) / windowMicros - 1) * windowMicros
        let scope: String
        switch kind {
        case .realtime:
            scope = event.connectionID.map { "connection=\($0.uuidString.lowercased())" }
                ?? "location=\(event.locationID?.rawValue ?? "")|erp=\(event.erp?.rawValue ?? "")"
        case .ingest:
            scope = "location=\(event.locationID?.rawValue ?? "")"
        }
        let key = "ledgerline.session-window|\(kind.rawValue)|\(event.tenantID.rawValue)|\(scope)|\(start)"
        return .window(id: derivedUUID(key), kind: kind, start: start, end: start + windowMicros)
    }

    /// A UUID (version 8, RFC 9562 "custom") from the first 16 bytes of SHA-256 of `key`.
    static func derivedUUID(_ key: String) -> UUID {
        var bytes = Array(SHA256.hash(data: Array(key.utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}

/// What one batch changes in one session row: set by `session.opened` / `session.closed`, widened
/// and counted by record events. Merged per session in memory, then upserted in one statement.
struct SessionDelta {
    var sessionID: UUID
    var kind: String
    var trigger: String?
    var locationID: String?
    var erp: String?
    var connectionID: UUID?
    var jobID: String?
    var source: String?
    var openedAt: Int64?
    var closedAt: Int64?
    var windowStart: Int64?
    var windowEnd: Int64?
    var firstEventAt: Int64?
    var lastEventAt: Int64?
    var closeOutcome: String?
    var closeReasonCode: String?
    var closeMessage: String?
    var reportedCounts: [String: String]?
    /// Indexed by ``SessionDelta/counterIndex(_:)``.
    var counts = [Int](repeating: 0, count: SessionDelta.counterColumns.count)
    var eventsRecorded = 0

    /// The count columns of `sync_sessions`, in the order of ``counts``.
    static let counterColumns: [String] = {
        var columns: [String] = []
        for group in SessionTally.Group.allCases {
            for result in [SessionTally.Result.created, .updated, .skipped, .failed] {
                columns.append("\(group.rawValue)_\(result.rawValue)")
            }
        }
        return columns + ["records_deferred"]
    }()

    static func counterIndex(_ tally: SessionTally) -> Int {
        if tally.result == .deferred { return counterColumns.count - 1 }
        let group = SessionTally.Group.allCases.firstIndex(of: tally.group)!
        let result = [SessionTally.Result.created, .updated, .skipped, .failed].firstIndex(of: tally.result)!
        return group * 4 + result
    }

    init(sessionID: UUID, kind: String) {
        self.sessionID = sessionID
        self.kind = kind
    }

    /// Folds `event` (already stored as a new row) into the delta.
    mutating func apply(_ event: AuditEvent, occurredMicros: Int64) {
        locationID = locationID ?? event.locationID?.rawValue
        erp = erp ?? event.erp?.rawValue
        connectionID = connectionID ?? event.connectionID
        source = source ?? event.source
        switch event.kind {
        case .sessionOpened:
            openedAt = min(openedAt ?? occurredMicros, occurredMicros)
            trigger = event.details?["trigger"] ?? trigger
            jobID = jobID ?? event.jobID
        case .sessionClosed:
            closedAt = max(closedAt ?? occurredMicros, occurredMicros)
            closeOutcome = event.outcome?.rawValue ?? closeOutcome
            closeReasonCode = event.reason?.rawValue ?? closeReasonCode
            closeMessage = event.message ?? closeMessage
            if let details = event.details, !details.isEmpty { reportedCounts = details }
            trigger = trigger ?? event.details?["trigger"]
        default:
            firstEventAt = min(firstEventAt ?? occurredMicros, occurredMicros)
            lastEventAt = max(lastEventAt ?? occurredMicros, occurredMicros)
            if let tally = SessionTally.classify(event) {
                counts[SessionDelta.counterIndex(tally)] += 1
            }
            eventsRecorded += 1
        }
    }
}
