public import Domain
public import Foundation
public import HTTP

/// Classifies Xero answers into the shared ``ConnectorFailure`` catalogue (pure functions).
///
/// Validation failures come as HTTP 400 `Error` bodies (`ValidationException`, `Elements[].ValidationErrors[]`)
/// or, with `summarizeErrors=false`, as HTTP 200 with `ValidationErrors` on each failed element; each
/// element is classified on its own. Xero's messages carry no error codes, so the first message is matched
/// against known phrases:
///
/// | answer | reason | disposition |
/// |---|---|---|
/// | "… must be unique" about the invoice number | `erp.duplicate` (field `InvoiceNumber`) | lookup then retry |
/// | "… already assigned to another contact" / contact name unique | `erp.duplicate` (field `Name`) | lookup then retry |
/// | "… cannot be edited …", "not of valid status for modification", payment allocated | `erp.not_editable` | park |
/// | any other validation message | `erp.rejected_data` (field guessed from the message: `AccountCode`, `TaxType`, …) | park |
/// | HTTP 401 | `erp.auth_lost` | reauthorize |
/// | HTTP 403 | `erp.permission_denied` | park |
/// | HTTP 404 | `erp.not_found` | park |
/// | HTTP 429 (`Retry-After`, `X-Rate-Limit-Problem`) | `erp.rate_limited` | retry after `Retry-After` (else 60 s) |
/// | HTTP 500, 502, 503 (organisation offline, maintenance) | `erp.transient` | retry |
/// | HTTP 504 on a write; unreadable 2xx on a write | `erp.outcome_unknown` | lookup then retry |
/// | HTTP 413, other 4xx | `erp.rejected_data` | park |
public enum XeroErrors {
    /// The response header with Xero's request id.
    public static let requestIDHeader = "Xero-Correlation-Id"
    /// The header naming the limit a 429 hit: `minute`, `day`, `appminute`, `concurrent` [doc].
    public static let rateLimitProblemHeader = "X-Rate-Limit-Problem"

    /// Classifies an HTTP answer as a whole.
    /// - Returns: `nil` for 2xx (per-element errors are read by ``failure(forValidationErrors:operation:requestID:)``).
    public static func failure(for response: HTTPResponse, operation: ConnectorOperation, now: Date = Date())
        -> ConnectorFailure?
    {
        if (200..<300).contains(response.status) { return nil }
        let requestID = response.header(requestIDHeader)
        if response.status == 400, let body = try? ERPJSON.decode(XeroPayloads.APIError.self, from: response.body),
            body.errorNumber != nil || body.type != nil
        {
            let messages = (body.elements ?? []).flatMap { $0.validationErrors ?? [] }.compactMap(\.message)
            var failure = failure(
                messages: messages, fallback: body.message, operation: operation, requestID: requestID)
            failure.httpStatus = 400
            failure.erpCode = body.errorNumber.map(String.init) ?? body.type
            failure.detail = body.type
            return failure
        }
        let (reason, disposition) = classify(status: response.status, operation: operation)
        var failure = ConnectorFailure(
            reason: reason, disposition: disposition, erp: .xero, operation: operation, httpStatus: response.status,
            erpRequestID: requestID)
        if let problem = try? ERPJSON.decode(XeroPayloads.Problem.self, from: response.body) {
            failure.erpCode = problem.detail
            failure.erpMessage = [problem.title, problem.detail].compactMap { $0 }.joined(separator: ": ")
        } else if let body = try? ERPJSON.decode(XeroPayloads.APIError.self, from: response.body) {
            failure.erpCode = body.errorNumber.map(String.init) ?? body.type
            failure.erpMessage = body.message
        }
        if reason == .erpRateLimited {
            failure.rateLimitProblem = response.header(rateLimitProblemHeader)
            failure.disposition = .retryAfter(
                ConnectorHTTP.retryAfter(response.header("Retry-After"), now: now)
                    ?? XeroConnector.capabilities.defaultRateLimitWait)
        }
        return failure
    }

    /// Classifies the validation errors of one element (an invoice, contact or payment of a 200 answer with
    /// `summarizeErrors=false`).
    public static func failure(
        forValidationErrors errors: [XeroPayloads.ValidationError], operation: ConnectorOperation, requestID: String?
    ) -> ConnectorFailure {
        failure(messages: errors.compactMap(\.message), fallback: nil, operation: operation, requestID: requestID)
    }

    /// The reason, disposition and field for validation messages (the first decides).
    static func failure(messages: [String], fallback: String?, operation: ConnectorOperation, requestID: String?)
        -> ConnectorFailure
    {
        let first = messages.first ?? fallback ?? ""
        let (reason, disposition, field) = classify(validationMessage: first)
        let text = messages.isEmpty ? fallback : messages.joined(separator: "; ")
        return ConnectorFailure(
            reason: reason, disposition: disposition, erp: .xero, operation: operation, erpMessage: text, field: field,
            erpRequestID: requestID)
    }

    /// The reason, disposition and blamed field for one validation message.
    public static func classify(validationMessage message: String) -> (
        ReasonCode, ConnectorFailure.Disposition, String?
    ) {
        let text = message.lowercased()
        if text.contains("must be unique") && (text.contains("invoice") || text.contains("number")) {
            return (.erpDuplicate, .lookupThenRetry, "InvoiceNumber")
        }
        if text.contains("already assigned to another contact")
            || (text.contains("contact name") && text.contains("unique"))
        {
            return (.erpDuplicate, .lookupThenRetry, "Name")
        }
        if text.contains("cannot be edited") || text.contains("not of valid status for modification")
            || text.contains("payment or credit note allocated") || text.contains("cannot be voided")
        {
            return (.erpNotEditable, .park, nil)
        }
        let fields: [(String, String)] = [
            ("account code", "AccountCode"), ("accountcode", "AccountCode"), ("tax type", "TaxType"),
            ("taxtype", "TaxType"), ("item code", "ItemCode"), ("itemcode", "ItemCode"), ("tracking", "Tracking"),
            ("due date", "DueDate"), ("duedate", "DueDate"), ("currency", "CurrencyCode"), ("contact", "Contact"),
            ("amount", "Amount"), ("date", "Date"),
        ]
        return (.erpRejectedData, .park, fields.first { text.contains($0.0) }?.1)
    }

    /// The reason and disposition for an HTTP status without a validation body.
    public static func classify(status: Int, operation: ConnectorOperation) -> (
        ReasonCode, ConnectorFailure.Disposition
    ) {
        switch status {
        case 200..<300:
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
}
