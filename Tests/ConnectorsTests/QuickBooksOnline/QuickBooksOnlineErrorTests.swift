import Domain
import Foundation
import HTTP
import Testing

@testable import Connectors

/// One classification case: an answer (fixture body, status, headers) to an operation → the shared reason.
struct ErrorCase: Sendable, CustomTestStringConvertible {
    var name: String
    var status: Int
    var body: String?  // fixture path, or nil for an empty body
    var headers: [(String, String)] = []
    var operation: ConnectorOperation = .createInvoice
    var reason: ReasonCode
    var disposition: ConnectorFailure.Disposition
    var erpCode: String? = nil
    var field: String? = nil

    var testDescription: String { name }

    func response() throws -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders(headers), body: try body.map(Fixtures.bytes) ?? [])
    }
}

@Suite("QuickBooks Online errors")
struct QuickBooksOnlineErrorTests {
    static let folder = "QuickBooksOnline/errors/"

    static let cases: [ErrorCase] = [
        ErrorCase(
            name: "6140 duplicate DocNumber", status: 400, body: folder + "6140-duplicate-docnumber.json",
            reason: .erpDuplicate, disposition: .lookupThenRetry, erpCode: "6140", field: "DocNumber"),
        ErrorCase(
            name: "6240 duplicate name", status: 400, body: folder + "6240-duplicate-name.json",
            operation: .createCustomer, reason: .erpDuplicate, disposition: .lookupThenRetry, erpCode: "6240",
            field: "DisplayName"),
        ErrorCase(
            name: "5010 stale object", status: 400, body: folder + "5010-stale-object.json", operation: .updateInvoice,
            reason: .erpStaleVersion, disposition: .lookupThenRetry, erpCode: "5010"),
        ErrorCase(
            name: "2500 invalid reference", status: 400, body: folder + "2500-invalid-reference.json",
            reason: .erpRejectedData, disposition: .park, erpCode: "2500", field: "Line.SalesItemLineDetail.ItemRef"),
        ErrorCase(
            name: "6000 fault inside HTTP 200", status: 200, body: folder + "6000-business-validation-in-200.json",
            reason: .erpRejectedData, disposition: .park, erpCode: "6000"),
        ErrorCase(
            name: "3200 expired token (gateway casing)", status: 401, body: folder + "3200-token-expired.json",
            reason: .erpAuthLost, disposition: .reauthorize, erpCode: "3200"),
        ErrorCase(name: "401 without body", status: 401, body: nil, reason: .erpAuthLost, disposition: .reauthorize),
        ErrorCase(
            name: "3100 authorization", status: 403, body: folder + "3100-authorization.json",
            reason: .erpPermissionDenied, disposition: .park, erpCode: "3100"),
        ErrorCase(
            name: "3001 throttled, no Retry-After", status: 429, body: folder + "3001-throttled.json",
            reason: .erpRateLimited, disposition: .retryAfter(.seconds(60)), erpCode: "3001"),
        ErrorCase(
            name: "429 with Retry-After", status: 429, body: folder + "3001-throttled.json",
            headers: [("Retry-After", "17")], reason: .erpRateLimited, disposition: .retryAfter(.seconds(17)),
            erpCode: "3001"),
        ErrorCase(
            name: "610 object not found", status: 400, body: folder + "610-object-not-found.json",
            operation: .updateInvoice, reason: .erpNotFound, disposition: .park, erpCode: "610"),
        ErrorCase(
            name: "6210 closed period", status: 400, body: folder + "6210-closed-period.json",
            operation: .updateInvoice, reason: .erpNotEditable, disposition: .park, erpCode: "6210"),
        ErrorCase(
            name: "10000 system fault", status: 500, body: folder + "10000-system-failure.json", reason: .erpTransient,
            disposition: .retry, erpCode: "10000"),
        ErrorCase(
            name: "503 maintenance page", status: 503, body: folder + "503-maintenance.html", reason: .erpTransient,
            disposition: .retry),
        ErrorCase(name: "502 empty", status: 502, body: nil, reason: .erpTransient, disposition: .retry),
        ErrorCase(
            name: "504 on a write", status: 504, body: nil, reason: .erpOutcomeUnknown, disposition: .lookupThenRetry),
        ErrorCase(
            name: "504 on a read", status: 504, body: nil, operation: .findInvoice, reason: .erpTransient,
            disposition: .retry),
        ErrorCase(
            name: "404 HTML", status: 404, body: folder + "503-maintenance.html", operation: .findInvoice,
            reason: .erpNotFound, disposition: .park),
        ErrorCase(
            name: "413 too large", status: 413, body: nil, operation: .pushBatch, reason: .erpRejectedData,
            disposition: .park),
    ]

    @Test("answer → reason and disposition", arguments: cases)
    func classifies(_ testCase: ErrorCase) throws {
        let failure = try #require(
            QuickBooksOnlineErrors.failure(for: try testCase.response(), operation: testCase.operation))
        #expect(failure.reason == testCase.reason)
        #expect(failure.disposition == testCase.disposition)
        #expect(failure.erpCode == testCase.erpCode)
        #expect(failure.field == testCase.field)
        #expect(failure.erp == .quickbooksOnline)
        #expect(failure.operation == testCase.operation)
        #expect(failure.reason.connectorInfo != nil, "every reason is in the catalogue")
    }

    @Test func successWithoutFaultIsNotAFailure() throws {
        let response = HTTPResponse(
            status: 200, body: try Fixtures.bytes("QuickBooksOnline/responses/invoice-created.json"))
        #expect(QuickBooksOnlineErrors.failure(for: response, operation: .createInvoice) == nil)
    }

    @Test func requestIDAndMessageAreKept() throws {
        let response = HTTPResponse(
            status: 400, headers: ["intuit_tid": "1-67d4a0f3-5c3b2a1d0e9f8a7b6c5d4e3f"],
            body: try Fixtures.bytes("QuickBooksOnline/errors/6140-duplicate-docnumber.json"))
        let failure = try #require(QuickBooksOnlineErrors.failure(for: response, operation: .createInvoice))
        #expect(failure.erpRequestID == "1-67d4a0f3-5c3b2a1d0e9f8a7b6c5d4e3f")
        #expect(
            failure.erpMessage?.hasPrefix("Duplicate Document Number Error : You must specify a different number.")
                == true)
        #expect(
            failure.description
                == "ConnectorFailure(erp.duplicate, lookup_then_retry, quickbooks-online createInvoice, http: 400, code: 6140, request: 1-67d4a0f3-5c3b2a1d0e9f8a7b6c5d4e3f)"
        )
        #expect(!failure.description.contains("INV-10482"), "the ERP's message stays out of the loggable description")
    }

    @Test func httpDateRetryAfter() throws {
        let now = Date(timeIntervalSince1970: 1_749_902_400)  // Sat, 14 Jun 2025 12:00:00 GMT
        let response = HTTPResponse(status: 429, headers: ["Retry-After": "Sat, 14 Jun 2025 12:01:30 GMT"])
        #expect(
            QuickBooksOnlineErrors.failure(for: response, operation: .findInvoice, now: now)?.disposition
                == .retryAfter(.seconds(90)))
    }
}
