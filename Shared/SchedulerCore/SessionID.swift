import Crypto
public import Foundation
public import Scheduling

/// Deterministic ids of scheduler fires.
public enum SessionID {
    /// The sync-log session of a fire: a UUID (version 8, RFC 9562 "custom") from the first 16 bytes of
    /// SHA-256 of `ledgerline.schedule-session|<connection id, lower case>|<trigger>|<window key>`. Every
    /// replica derives the same id for the same window.
    public static func of(connectionID: UUID, trigger: TriggerKind, windowKey: String) -> UUID {
        derived("ledgerline.schedule-session|\(connectionID.uuidString.lowercased())|\(trigger.rawValue)|\(windowKey)")
    }

    static func derived(_ key: String) -> UUID {
        var bytes = Array(SHA256.hash(data: Array(key.utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}
