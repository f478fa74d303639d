public import Foundation

/// The JSON settings of every message Ledgerline puts on the wire between its own services
/// (``SyncJob``, ``AuditEvent``): dates as ISO 8601 in UTC, keys sorted so equal values give equal bytes.
public enum WireFormat {
    /// An encoder for service-to-service messages.
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// A decoder for service-to-service messages.
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
