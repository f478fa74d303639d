import Domain
import Foundation
import HTTP
import Testing

@testable import Connectors

@Suite("Xero errors")
struct XeroErrorTests {
    static let folder = "Xero/errors/"

    static let cases: [ErrorCase] = [
        ErrorCase(
            name: "400 account code", status: 400, body: folder + "400-account-code.json", reason: .erpRejectedData,
            disposition: .park, erpCode: "10", field: "AccountCode"),
        ErrorCase(
            name: "400 invoice number taken", status: 400, body: folder + "400-invoice-number-taken.json",
            reason: .erpDuplicate, disposition: .lookupThenRetry, erpCode: "10", field: "InvoiceNumber"),
        ErrorCase(
            name: "400 contact name taken", status: 400, body: folder + "400-contact-name-taken.json",
            operation: .createCustomer, reason: .erpDuplicate, disposition: .lookupThenRetry, erpCode: "10",
            field: "Name"),
        ErrorCase(
            name: "400 paid invoice not editable", status: 400, body: folder + "400-not-editable.json",
            operation: .updateInvoice, reason: .erpNotEditable, disposition: .park, erpCode: "10"),
        ErrorCase(
            name: "400 tracking option", status: 400, body: folder + "400-tracking.json", reason: .erpRejectedData,
            disposition: .park, erpCode: "10", field: "Tracking"),
        ErrorCase(
            name: "400 post data invalid", status: 400, body: folder + "400-post-data-invalid.json",
            reason: .erpRejectedData, disposition: .park, erpCode: "14", field: "Amount"),
        ErrorCase(
            name: "401 unauthorized", status: 401, body: folder + "401-unauthorized.json", reason: .erpAuthLost,
            disposition: .reauthorize, erpCode: "AuthenticationUnsuccessful"),
        ErrorCase(
            name: "403 forbidden", status: 403, body: folder + "403-forbidden.json", reason: .erpPermissionDenied,
            disposition: .park, erpCode: "AuthorizationUnsuccessful"),
        ErrorCase(
            name: "404", status: 404, body: nil, operation: .findInvoice, reason: .erpNotFound, disposition: .park),
        ErrorCase(
            name: "429 minute limit", status: 429, body: nil,
            headers: [("Retry-After", "42"), ("X-Rate-Limit-Problem", "minute")], reason: .erpRateLimited,
            disposition: .retryAfter(.seconds(42))),
        ErrorCase(
            name: "429 daily limit", status: 429, body: nil,
            headers: [("Retry-After", "35000"), ("X-Rate-Limit-Problem", "day")], reason: .erpRateLimited,
            disposition: .retryAfter(.seconds(35000))),
        ErrorCase(
            name: "429 without Retry-After", status: 429, body: nil, reason: .erpRateLimited,
            disposition: .retryAfter(.seconds(60))),
        ErrorCase(name: "500", status: 500, body: nil, reason: .erpTransient, disposition: .retry),
        ErrorCase(
            name: "503 offline", status: 503, body: folder + "503-offline.txt", reason: .erpTransient,
            disposition: .retry),
        ErrorCase(
            name: "504 on a write", status: 504, body: nil, operation: .createPayment, reason: .erpOutcomeUnknown,
            disposition: .lookupThenRetry),
        ErrorCase(
            name: "504 on a read", status: 504, body: nil, operation: .pullChanges, reason: .erpTransient,
            disposition: .retry),
        ErrorCase(
            name: "413 too large", status: 413, body: nil, operation: .pushBatch, reason: .erpRejectedData,
            disposition: .park),
    ]

    @Test("answer → reason and disposition", arguments: cases)
    func classifies(_ testCase: ErrorCase) throws {
        let failure = try #require(XeroErrors.failure(for: try testCase.response(), operation: testCase.operation))
        #expect(failure.reason == testCase.reason)
        #expect(failure.disposition == testCase.disposition)
        #expect(failure.erpCode == testCase.erpCode)
        #expect(failure.field == testCase.field)
        #expect(failure.erp == .xero)
        #expect(failure.reason.connectorInfo != nil)
    }

    @Test func rateLimitProblemAndRequestIDAreKept() throws {
        let response = HTTPResponse(
            status: 429,
            headers: ["Retry-After": "42", "X-Rate-Limit-Problem": "day", "Xero-Correlation-Id": "7f8e9d0c-aaaa"])
        let failure = try #require(XeroErrors.failure(for: response, operation: .createInvoice))
        #expect(failure.rateLimitProblem == "day")
        #expect(failure.erpRequestID == "7f8e9d0c-aaaa")
        #expect(
            failure.description
                == "ConnectorFailure(erp.rate_limited, retry_after(42s), xero createInvoice, http: 429, limit: day, request: 7f8e9d0c-aaaa)"
        )
    }

    @Test func validationMessageIsKeptForTheSyncLog() throws {
        let response = HTTPResponse(status: 400, body: try Fixtures.bytes(Self.folder + "400-account-code.json"))
        let failure = try #require(XeroErrors.failure(for: response, operation: .createInvoice))
        #expect(failure.erpMessage == "Account code '999' is not a valid code for this document.")
        #expect(failure.summary == "Account code '999' is not a valid code for this document.")
        #expect(!failure.description.contains("999"))
    }

    @Test(
        "validation messages",
        arguments: [
            ("Invoice # must be unique.", ReasonCode.erpDuplicate, "InvoiceNumber"),
            (
                "TaxType code 'XYZ' does not exist or cannot be used for this type of transaction.", .erpRejectedData,
                "TaxType"
            ),
            ("Item code 'ALT' is not valid", .erpRejectedData, "ItemCode"),
            ("Invoice not of valid status for modification", .erpNotEditable, nil),
            ("Something new and unexpected", .erpRejectedData, nil),
        ] as [(String, ReasonCode, String?)])
    func validationMessages(message: String, reason: ReasonCode, field: String?) {
        let (code, _, blamed) = XeroErrors.classify(validationMessage: message)
        #expect(code == reason)
        #expect(blamed == field)
    }
}
