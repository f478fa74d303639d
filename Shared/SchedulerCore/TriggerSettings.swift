public import Foundation
public import Scheduling

/// One trigger of a connection as stored in `schedule_triggers`, with its connection's location and zone.
public struct TriggerSettings: Sendable, Hashable {
    /// The connection (`erp_connections.connection_id`), its tenant and location.
    public var connectionID: UUID
    public var tenantID: String
    public var locationID: String
    /// The ERP slug of the connection.
    public var erp: String
    /// Which trigger, and whether it fires.
    public var kind: TriggerKind
    public var enabled: Bool
    /// Interval sweeps and pulls.
    public var intervalSeconds: Int?
    /// End-of-day batches: the local time of day.
    public var endOfDayTime: LocalTimeOfDay?
    /// The location's IANA time zone (`locations.time_zone`).
    public var timeZone: String
    /// The planned fire time of the first window not fired yet (nil: not planned yet, or never again).
    public var nextFireAt: Date?
    /// The latest window fired and when.
    public var lastWindowKey: String?
    public var lastFiredAt: Date?
    /// Windows due before this are never caught up (creation or last change of the trigger).
    public var anchorAt: Date
    /// Whether interval and pull windows are spread by ``Schedule/spreadPhase(connection:interval:)`` (the
    /// default) or aligned to UTC multiples of the interval (`LEDGERLINE_SCHEDULER_SPREAD_INTERVALS=false`).
    public var spreadIntervals = true

    /// A trigger as read from the database.
    public init(
        connectionID: UUID, tenantID: String, locationID: String, erp: String, kind: TriggerKind, enabled: Bool,
        intervalSeconds: Int?, endOfDayTime: LocalTimeOfDay?, timeZone: String, nextFireAt: Date?,
        lastWindowKey: String?, lastFiredAt: Date?, anchorAt: Date
    ) {
        self.connectionID = connectionID
        self.tenantID = tenantID
        self.locationID = locationID
        self.erp = erp
        self.kind = kind
        self.enabled = enabled
        self.intervalSeconds = intervalSeconds
        self.endOfDayTime = endOfDayTime
        self.timeZone = timeZone
        self.nextFireAt = nextFireAt
        self.lastWindowKey = lastWindowKey
        self.lastFiredAt = lastFiredAt
        self.anchorAt = anchorAt
    }

    /// The zone of ``timeZone`` (UTC when the name is not a known IANA zone).
    public var zone: TimeZone { TimeZone(identifier: timeZone) ?? TimeZone(identifier: "UTC")! }

    /// When the trigger fires, or nil when its settings are incomplete.
    public var rule: TriggerRule? {
        switch kind {
        case .interval, .pull:
            intervalSeconds.map {
                TriggerRule.every(
                    seconds: $0,
                    phase: spreadIntervals ? Schedule.spreadPhase(connection: connectionID.uuidString, interval: $0) : 0)
            }
        case .endOfDay: endOfDayTime.map { TriggerRule.endOfDay(time: $0, timeZone: zone) }
        case .initial: .once(at: anchorAt)
        case .manual: nil
        }
    }

    /// The next fire time as the scheduler will see it: the planned one, else planned from the anchor.
    public var upcomingFire: Date? {
        guard enabled else { return nil }
        if let nextFireAt { return nextFireAt }
        guard let rule else { return nil }
        if case .once(let at) = rule { return lastWindowKey == nil ? at : nil }
        return Schedule.nextWindow(after: anchorAt, rule: rule)?.end
    }
}

/// A change to one trigger of a connection (`syncctl schedule set`).
public enum TriggerChange: Sendable, Hashable {
    /// Interval sweeps every `seconds`; nil switches them off.
    case interval(seconds: Int?)
    /// The end-of-day batch on or off; `time` (default: the current one, else 23:59) is the local time.
    case endOfDay(enabled: Bool, time: LocalTimeOfDay?)
    /// Pulls every `seconds`; nil switches them off.
    case pull(seconds: Int?)
    /// The initial full sync on or off (it fires once per connection).
    case initial(enabled: Bool)

    /// The trigger this change is about.
    public var kind: TriggerKind {
        switch self {
        case .interval: .interval
        case .endOfDay: .endOfDay
        case .pull: .pull
        case .initial: .initial
        }
    }
}

/// One fired window.
public struct FireRecord: Sendable, Hashable {
    /// The connection, its tenant and location.
    public var connectionID: UUID
    public var tenantID: String
    public var locationID: String
    /// The trigger and the window's key (see ``ScheduleWindow/key``).
    public var trigger: TriggerKind
    public var windowKey: String
    /// The window's fire time.
    public var scheduledFor: Date
    /// When it fired (the scheduler's clock).
    public var firedAt: Date
    /// The sync-log session (derived from connection, trigger and window).
    public var sessionID: UUID
    /// Jobs enqueued and invoices they cover.
    public var jobs: Int
    public var invoices: Int
    /// Fired late because no scheduler ran at its time.
    public var catchUp: Bool
}

/// What one pass over the due triggers did.
public struct PassReport: Sendable {
    /// Triggers looked at.
    public var triggers = 0
    /// Windows fired in this pass.
    public var fired: [FireRecord] = []
    /// Windows found already fired (another replica or an earlier leader fired them).
    public var alreadyFired = 0
    /// Missed windows not fired because of the catch-up policy.
    public var skipped = 0

    /// An empty report.
    public init() {}
}
