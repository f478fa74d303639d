public import Domain
public import Foundation
public import HTTP

/// Classifies QuickBooks Online answers into the shared ``ConnectorFailure`` catalogue (pure functions).
///
/// Faults (`{"Fault": {"Error": [{"Message", "Detail", "code", "element"}], "type"}}`) arrive with HTTP 4xx
/// and also inside HTTP 200 answers (Intuit error-codes page), and per item inside batch answers. Intuit's
/// gateway answers 401 and 429 with lower-case `fault` / `error` keys; both spellings are read.
///
/// | Fault code / type / status | reason | disposition |
/// |---|---|---|
/// | 6240 Duplicate Name Exists | `erp.duplicate` (field `DisplayName`) | lookup then retry |
/// | 6140 Duplicate Document Number | `erp.duplicate` (field `DocNumber`) | lookup then retry |
/// | 5010 Stale Object | `erp.stale_version` | lookup then retry |
/// | 3200, 3201, `AuthenticationFault`, HTTP 401 | `erp.auth_lost` | reauthorize |
/// | 3100, 6190, `AuthorizationFault`, HTTP 403 | `erp.permission_denied` | park |
/// | 3001, 3003, HTTP 429 | `erp.rate_limited` | retry after `Retry-After`, else 60 s |
/// | 610 Object Not Found, HTTP 404 | `erp.not_found` | park |
/// | 6210 closed period, 6540 deposited transaction | `erp.not_editable` | park |
/// | 10000, `SystemFault`, HTTP 500, 502, 503 | `erp.transient` | retry |
/// | HTTP 504 on a write; unreadable 2xx on a write | `erp.outcome_unknown` | lookup then retry |
/// | any other `ValidationFault` (2010, 2020, 2050, 2500, 6000, …), other 4xx | `erp.rejected_data` | park |
/// | unreadable answer on a read | `erp.invalid_response` | retry |
public enum QuickBooksOnlineErrors {
    /// The response header with Intuit's request id.
    public static let requestIDHeader = "intuit_tid"

    /// Classifies an HTTP answer.
    /// - Parameters:
    ///   - response: the answer.
    ///   - operation: what was asked.
    ///   - now: the current time (for an HTTP-date `Retry-After`).
    /// - Returns: `nil` for a 2xx answer without a fault, else the failure.
    public static func failure(for response: HTTPResponse, operation: ConnectorOperation, now: Date = Date())
        -> ConnectorFailure?
    {
        let requestID = response.header(requestIDHeader)
        let envelope = try? ERPJSON.decode(QuickBooksOnlinePayloads.IntuitResponse.self, from: response.body)
        if let fault = envelope?.fault {
            var failure = self.failure(for: fault, status: response.status, operation: operation, requestID: requestID)
            if failure.reason == .erpRateLimited {
                let wait =
                    ConnectorHTTP.retryAfter(response.header("Retry-After"), now: now)
                    ?? QuickBooksOnlineConnector.capabilities.defaultRateLimitWait
                failure.disposition = .retryAfter(wait)
            }
            return failure
        }
        if (200..<300).contains(response.status) { return nil }
        let (reason, disposition) = classify(status: response.status, operation: operation)
        var failure = ConnectorFailure(
            reason: reason, disposition: disposition, erp: .quickbooksOnline, operation: operation,
            httpStatus: response.status, erpRequestID: requestID,
            detail: envelope == nil ? "the body is not a QuickBooks answer" : nil)
        if reason == .erpRateLimited {
            failure.disposition = .retryAfter(
                ConnectorHTTP.retryAfter(response.header("Retry-After"), now: now)
                    ?? QuickBooksOnlineConnector.capabilities.defaultRateLimitWait)
        }
        return failure
    }

    /// Classifies a fault (from an answer or a batch item).
    /// - Parameters:
    ///   - fault: the fault.
    ///   - status: the HTTP status, or `nil` for a batch item.
    ///   - operation: what was asked.
    ///   - requestID: Intuit's request id.
    public static func failure(
        for fault: QuickBooksOnlinePayloads.Fault, status: Int?, operation: ConnectorOperation, requestID: String?
    ) -> ConnectorFailure {
        let first = fault.errors.first
        let (reason, disposition) = classify(
            code: first?.code, faultType: fault.type, status: status, operation: operation)
        var field = first?.element.flatMap { $0.isEmpty ? nil : $0 }
        if field == nil, reason == .erpDuplicate {
            field = first?.code == "6240" ? "DisplayName" : "DocNumber"
        }
        let message = [first?.message, first?.detail].compactMap { $0 }.filter { !$0.isEmpty }
        return ConnectorFailure(
            reason: reason,
            disposition: reason == .erpRateLimited
                ? .retryAfter(QuickBooksOnlineConnector.capabilities.defaultRateLimitWait) : disposition,
            erp: .quickbooksOnline, operation: operation, httpStatus: status, erpCode: first?.code,
            erpMessage: message.isEmpty ? nil : uniqueJoined(message), field: field, erpRequestID: requestID,
            detail: fault.type.map { "fault type \($0)" })
    }

    /// The reason and disposition for a fault code, fault type and HTTP status, most specific first.
    public static func classify(
        code: String?, faultType: String?, status: Int?, operation: ConnectorOperation
    ) -> (ReasonCode, ConnectorFailure.Disposition) {
        switch code.map(normalizedCode) {
        case "6240", "6140": return (.erpDuplicate, .lookupThenRetry)
        case "5010": return (.erpStaleVersion, .lookupThenRetry)
        case "3200", "3201": return (.erpAuthLost, .reauthorize)
        case "3100", "6190": return (.erpPermissionDenied, .park)
        case "3001", "3003": return (.erpRateLimited, .retry)
        case "610": return (.erpNotFound, .park)
        case "6210", "6540": return (.erpNotEditable, .park)
        case "10000": return (.erpTransient, .retry)
        default: break
        }
        switch faultType?.lowercased() {
        case "validationfault": return (.erpRejectedData, .park)
        case "authenticationfault", "authentication": return (.erpAuthLost, .reauthorize)
        case "authorizationfault", "authorization": return (.erpPermissionDenied, .park)
        case "systemfault": return (.erpTransient, .retry)
        default: break
        }
        guard let status, !(200..<300).contains(status) else { return (.erpRejectedData, .park) }
        return classify(status: status, operation: operation)
    }

    /// The reason and disposition for an HTTP status without a readable fault.
    public static func classify(status: Int, operation: ConnectorOperation) -> (
        ReasonCode, ConnectorFailure.Disposition
    ) {
        switch status {
        case 200..<300:
            // A success status whose body could not be read: for a write, it probably took effect.
            return operation.isWrite ? (.erpOutcomeUnknown, .lookupThenRetry) : (.erpInvalidResponse, .retry)
        case 401: return (.erpAuthLost, .reauthorize)
        case 403: return (.erpPermissionDenied, .park)
        case 404: return (.erpNotFound, .park)
        case 408: return (.erpTransient, .retry)
        case 429: return (.erpRateLimited, .retry)
        case 504: return operation.isWrite ? (.erpOutcomeUnknown, .lookupThenRetry) : (.erpTransient, .retry)
        case 500...599: return (.erpTransient, .retry)
        default: return (.erpRejectedData, .park)
        }
    }

    /// `003200` → `3200` (the gateway pads codes inside its messages).
    static func normalizedCode(_ code: String) -> String {
        let trimmed = code.drop { $0 == "0" }
        return trimmed.isEmpty ? code : String(trimmed)
    }

    private static func uniqueJoined(_ parts: [String]) -> String {
        parts.count == 2 && parts[1].hasPrefix(parts[0]) ? parts[1] : parts.joined(separator: ": ")
    }
}
