import Domain
import Foundation
import HTTP
import Logging

/// The HTTP plumbing every connector shares: URL building, the bearer header, the one place where a
/// transport error becomes a ``ConnectorFailure``, and debug logging without secrets or payloads.
struct ConnectorHTTP: Sendable {
    let erp: ERP
    let context: ConnectionContext
    let transport: any HTTPTransport
    /// The response header carrying the ERP's request id (`intuit_tid`, `Xero-Correlation-Id`).
    let requestIDHeader: String

    /// Sends one request and returns whatever response arrives (4xx/5xx included).
    /// - Parameters:
    ///   - method: the HTTP method.
    ///   - path: the path after the base URL, starting with `/`, already percent-encoded.
    ///   - query: query parameters (encoded here).
    ///   - headers: extra headers (ERP-specific: tenant id, idempotency key).
    ///   - body: a JSON body.
    ///   - operation: the connector operation, for errors and logs.
    ///   - classify: the ERP's classifier: `nil` for a successful answer, else the failure.
    /// - Returns: a response the classifier accepted.
    /// - Throws: ``ConnectorFailure`` when no response arrived, no token could be obtained, or the classifier
    ///   found a failure (with the access token redacted from any text the ERP echoed); `CancellationError`
    ///   when cancelled.
    func send(
        _ method: HTTPMethod, path: String, query: [(String, String)] = [], headers: [(String, String)] = [],
        body: [UInt8]? = nil, operation: ConnectorOperation, logger: Logger,
        classify: (HTTPResponse) -> ConnectorFailure?
    ) async throws -> HTTPResponse {
        let token = try await accessToken(operation: operation, logger: logger)
        var request = HTTPRequest(
            method: method, url: ConnectorHTTP.url(base: context.configuration.baseURL, path: path, query: query),
            body: body, timeout: context.configuration.requestTimeout)
        request.headers.add(name: "Authorization", value: "Bearer \(token.value)")
        request.headers.add(name: "Accept", value: "application/json")
        if body != nil { request.headers.add(name: "Content-Type", value: "application/json") }
        request.headers.add(name: "User-Agent", value: context.configuration.userAgent)
        for (name, value) in headers { request.headers.add(name: name, value: value) }

        let started = ContinuousClock.now
        let response: HTTPResponse
        do {
            response = try await transport.execute(request, logger: logger)
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as HTTPClientError {
            let failure = ConnectorHTTP.failure(for: error, erp: erp, operation: operation)
            logger.debug(
                "ERP request failed without a response",
                metadata: [
                    "erp": "\(erp)", "erp.operation": "\(operation)", "error.type": "\(error.code)",
                    "erp.reason": "\(failure.reason)",
                ])
            throw failure
        } catch let error as any RequestNotSentError {
            // The transport refused before sending (e.g. the worker's rate limiter found no token in time): nothing
            // reached the ERP, so no lookup is needed and the failure says nothing about the ERP's health.
            throw ConnectorFailure(
                reason: .erpRateLimited, disposition: .retry, erp: erp, operation: operation,
                transportError: String(describing: type(of: error)), detail: "the request was not sent (\(error))")
        } catch {
            // A transport other than HTTPClient (e.g. a test stub) failed: same rules, without curl detail.
            throw ConnectorFailure(
                reason: operation.isWrite ? .erpOutcomeUnknown : .erpTransient,
                disposition: operation.isWrite ? .lookupThenRetry : .retry, erp: erp, operation: operation,
                transportError: String(describing: type(of: error)))
        }
        let elapsed = ContinuousClock.now - started
        logger.debug(
            "ERP request",
            metadata: [
                "erp": "\(erp)", "erp.operation": "\(operation)", "http.method": "\(method)",
                "http.status_code": "\(response.status)",
                "erp.request_id": "\(response.header(requestIDHeader) ?? "-")",
                "duration_ms":
                    "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
            ])
        if let failure = classify(response) { throw failure.redacting(token.value) }
        return response
    }

    /// The token, or an `erp.auth_lost` failure when the provider cannot give one.
    private func accessToken(operation: ConnectorOperation, logger: Logger) async throws -> AccessToken {
        do {
            return try await context.credentials.accessToken(logger: logger)
        } catch is CancellationError {
            throw CancellationError()
        } catch let failure as ConnectorFailure {
            throw failure.with(operation: operation)
        } catch {
            throw ConnectorFailure(
                reason: .erpAuthLost, disposition: .reauthorize, erp: erp, operation: operation,
                detail: "the access token provider failed (\(type(of: error)))")
        }
    }

    /// The one place where an ``HTTP/HTTPClientError`` becomes a ``ConnectorFailure``.
    ///
    /// | transport error | read | write |
    /// |---|---|---|
    /// | connect failed, shut down (nothing sent) | transient, retry | transient, retry |
    /// | timed out / reset, request may have been sent | transient, retry | outcome unknown, look up |
    /// | response too large | invalid response, retry | outcome unknown, look up |
    /// | invalid URL / request / configuration, redirect loop | configuration, park | configuration, park |
    /// | TLS failure | transient, retry | transient, retry |
    static func failure(for error: HTTPClientError, erp: ERP, operation: ConnectorOperation) -> ConnectorFailure {
        let maybeSent = error.requestMayHaveBeenSent && operation.isWrite
        let (reason, disposition): (ReasonCode, ConnectorFailure.Disposition)
        switch error.code {
        case .invalidURL, .invalidRequest, .invalidConfiguration, .tooManyRedirects:
            (reason, disposition) = (.erpConfiguration, .park)
        case .connectFailed, .shutDown, .tlsFailure:
            (reason, disposition) = (.erpTransient, .retry)
        case .responseTooLarge:
            (reason, disposition) =
                operation.isWrite ? (.erpOutcomeUnknown, .lookupThenRetry) : (.erpInvalidResponse, .retry)
        default:  // timedOut, transport (reset, protocol error) and codes added later
            (reason, disposition) = maybeSent ? (.erpOutcomeUnknown, .lookupThenRetry) : (.erpTransient, .retry)
        }
        return ConnectorFailure(
            reason: reason, disposition: disposition, erp: erp, operation: operation, transportError: error.description)
    }

    /// `base + path + ?query`, each query name and value percent-encoded (RFC 3986 unreserved kept).
    static func url(base: String, path: String, query: [(String, String)]) -> String {
        var url = base + path
        if !query.isEmpty {
            url += "?" + query.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
        }
        return url
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
    static func percentEncode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(contentsOf: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads `Retry-After` as delta-seconds or an HTTP-date (IMF-fixdate), relative to `now`.
    /// - Returns: the wait (never negative), or `nil` when absent or unreadable.
    static func retryAfter(_ value: String?, now: Date) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value), seconds >= 0 { return .seconds(seconds) }
        guard let date = parseHTTPDate(value) else { return nil }
        let seconds = Int((date.timeIntervalSince(now)).rounded(.up))
        return .seconds(max(0, seconds))
    }

    /// Parses an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func parseHTTPDate(_ text: String) -> Date? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), let year = Int(parts[3]) else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let monthIndex = months.firstIndex(of: String(parts[2])) else { return nil }
        let time = parts[4].split(separator: ":").compactMap { Int($0) }
        guard time.count == 3, let date = LocalDate(year: year, month: monthIndex + 1, day: day) else { return nil }
        let seconds = date.daysSinceEpoch * 86_400 + time[0] * 3600 + time[1] * 60 + time[2]
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }
}

/// An error an `HTTPTransport` throws when it refused a request **before sending any of it** — for example a
/// client-side rate limiter whose wait for a token timed out (the worker runtime's `RateLimitWaitTimeout`).
///
/// Connectors report it as `erp.rate_limited` with disposition `retry`, never as `erp.outcome_unknown`: the ERP
/// saw nothing, so no lookup is needed. Conforming types must have a `description` that is safe to log.
public protocol RequestNotSentError: Error, CustomStringConvertible {}
