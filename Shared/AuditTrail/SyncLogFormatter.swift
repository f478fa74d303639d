import Foundation

/// Renders the sync log as plain-text tables for a terminal, or as JSON for scripts.
public enum SyncLogFormatter {
    /// The session table: one line per session with its counts, as the product's sync log shows it.
    public static func sessionsTable(_ sessions: [SyncSessionSummary]) -> String {
        let header = [
            "SESSION", "STARTED (UTC)", "ENDED (UTC)", "TRIGGER", "TENANT", "LOCATION", "ERP",
            "CUSTOMERS C/U/S/F", "INVOICES C/U/S/F", "PAYMENTS C/U/S/F", "RESULT",
        ]
        let rows = sessions.map { session in
            [
                String(session.sessionID.uuidString.lowercased().prefix(8)), time(session.startedAt),
                time(session.endedAt), session.trigger ?? "-", session.tenantID, session.locationID ?? "-",
                session.erp ?? "-", counts(session.customers), counts(session.invoices), counts(session.payments),
                session.result + (session.closeReasonCode.map { " (\($0))" } ?? ""),
            ]
        }
        return table(header, rows)
    }

    /// The event table of a session or a record: time, description, record, result and reason.
    public static func eventsTable(_ events: [SyncEventEntry]) -> String {
        let header = ["TIME (UTC)", "DESCRIPTION", "RECORD", "CUSTOMER", "ERP ID", "RESULT", "REASON"]
        let rows = events.map { event in
            [
                time(event.occurredAt), event.description, record(event), event.customerName ?? "-",
                event.erpID ?? "-", event.result ?? "-", reason(event),
            ]
        }
        return table(header, rows)
    }

    /// The trace columns of events (input event, job, attempt, ERP request), for `log record`.
    public static func traceTable(_ events: [SyncEventEntry]) -> String {
        let header = ["TIME (UTC)", "KIND", "SESSION", "INPUT EVENT", "JOB", "ATTEMPT", "ERP REQUEST", "AUDIT ID"]
        let rows = events.map { event in
            [
                time(event.occurredAt), event.kind, event.sessionID.map { String($0.uuidString.lowercased().prefix(8)) } ?? "-",
                event.inputEventID ?? "-", event.jobID ?? "-", event.attempt.map(String.init) ?? "-",
                event.erpRequestID ?? "-", event.auditID.uuidString.lowercased(),
            ]
        }
        return table(header, rows)
    }

    /// Pretty-printed JSON (ISO 8601 dates, sorted keys) of any of the sync-log values.
    public static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func record(_ event: SyncEventEntry) -> String {
        let type = event.objectType.map { $0.replacingOccurrences(of: "_", with: " ").capitalized } ?? "Record"
        if let number = event.number { return "\(type) #\(number)" }
        if let shopID = event.shopID { return "\(type) \(shopID)" }
        return type
    }

    static func reason(_ event: SyncEventEntry) -> String {
        var parts: [String] = []
        if let code = event.reasonCode { parts.append(code) }
        if let summary = event.reason { parts.append(summary) }
        if let message = event.erpMessage { parts.append("ERP: \(message)") }
        return parts.isEmpty ? "" : parts.joined(separator: " — ")
    }

    static func counts(_ counter: SyncCounter) -> String {
        "\(counter.created)/\(counter.updated)/\(counter.skipped)/\(counter.failed)"
    }

    static func time(_ date: Date?) -> String {
        guard let date else { return "-" }
        return date.formatted(
            Date.ISO8601FormatStyle(dateSeparator: .dash, dateTimeSeparator: .space, timeSeparator: .colon, timeZone: .gmt)
                .year().month().day().time(includingFractionalSeconds: false))
    }

    /// Left-aligned columns separated by two spaces; cells are made single-line and, except in the
    /// last column, cut at 60 characters.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let clean = ([header] + rows).map { row in
            row.enumerated().map { index, cell -> String in
                let text = String(cell.map { $0.isNewline || $0 == "\t" ? " " : $0 })
                return index < row.count - 1 && text.count > 60 ? String(text.prefix(59)) + "…" : text
            }
        }
        var widths = [Int](repeating: 0, count: header.count)
        for row in clean { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return clean.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
