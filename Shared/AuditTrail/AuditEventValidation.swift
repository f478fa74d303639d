public import Domain

/// The checks an ``AuditEvent`` must pass before the log writer stores it. An event that fails
/// them can never be stored (retrying would not help), so the writer dead-letters it instead of
/// holding up the queue.
public enum AuditEventValidation {
    /// The largest text field accepted, in UTF-8 bytes (the ERP's message included).
    public static let maxFieldBytes = 8_192
    /// The most `details` entries accepted.
    public static let maxDetails = 64

    /// Why `event` cannot be stored, or nil when it can.
    ///
    /// Checks: the tenant id has the contract format (1–64 of `[A-Za-z0-9._-]`, starting with a
    /// letter or digit), `source` is not empty, no text holds a NUL character (Postgres text cannot)
    /// or exceeds ``maxFieldBytes``, and `details` has at most ``maxDetails`` entries.
    public static func problem(in event: AuditEvent) -> String? {
        let tenant = Array(event.tenantID.rawValue.utf8)
        guard (1...64).contains(tenant.count), isIdentifierStart(tenant[0]), tenant.allSatisfy(isIdentifierByte) else {
            return "tenant_id does not have the contract format"
        }
        if let location = event.locationID?.rawValue {
            let bytes = Array(location.utf8)
            guard (1...64).contains(bytes.count), isIdentifierStart(bytes[0]), bytes.allSatisfy(isIdentifierByte) else {
                return "location_id does not have the contract format"
            }
        }
        guard !event.source.isEmpty else { return "source is empty" }
        let texts: [(String, String?)] = [
            ("source", event.source), ("action", event.action), ("message", event.message),
            ("reason", event.reason?.rawValue), ("input_event_id", event.inputEventID),
            ("idempotency_key", event.idempotencyKey), ("job_id", event.jobID), ("erp_request_id", event.erpRequestID),
            ("record.shop_id", event.record?.shopID), ("record.number", event.record?.number),
            ("record.customer_name", event.record?.customerName), ("record.erp_id", event.record?.erpID),
        ]
        for (name, text) in texts {
            if let problem = textProblem(text) { return "\(name) \(problem)" }
        }
        if let details = event.details {
            guard details.count <= maxDetails else { return "details has more than \(maxDetails) entries" }
            for (key, value) in details {
                if let problem = textProblem(key) ?? textProblem(value) { return "details entry \(problem)" }
            }
        }
        return nil
    }

    private static func textProblem(_ text: String?) -> String? {
        guard let text else { return nil }
        var count = 0
        for byte in text.utf8 {
            if byte == 0 { return "contains a NUL character" }
            count += 1
        }
        return count > maxFieldBytes ? "is longer than \(maxFieldBytes) bytes" : nil
    }

    private static func isIdentifierStart(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isIdentifierByte(_ byte: UInt8) -> Bool {
        isIdentifierStart(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }
}
