import Crypto
import Domain
import Foundation
import Hummingbird
import Logging
import NIOCore
import Runtime
import ServiceLifecycle

/// `POST /v1/events`: one event (a JSON object) or a batch (a JSON array), signed per tenant.
///
/// Headers: `Ledgerline-Tenant`, `Ledgerline-Timestamp` (unix seconds), `Ledgerline-Signature: v1=<hex>`
/// (HMAC-SHA256 over `"<timestamp>.<raw body>"` with the tenant's signing secret) and `Idempotency-Key`.
///
/// Answers (problems are `application/problem+json`, RFC 9457, with `errors: [{code, field, message}]`):
/// - 202 stored (`outcome` accepted, stale or parked; a batch lists each element);
/// - 200 the same request again (same key and body): the first answer's body, `Idempotent-Replayed: true`;
///   also a single event whose event key was stored before with the same content (`outcome: duplicate`);
/// - 400 malformed request (no or bad `Idempotency-Key`, body not JSON);
/// - 401 bad, missing, expired or replayed signature; 403 event for another tenant;
/// - 409 `Idempotency-Key` reused with another body, or the event's own key reused with another event;
/// - 413 body over 1 MiB (one event) or 16 MiB (batch); 415 not JSON; 422 the event breaks the contract;
/// - 503 with `Retry-After` while Postgres is unavailable.
struct HTTPIntake: Sendable {
    let configuration: IngestConfiguration
    let store: IntakeStore
    let secrets: SigningSecretStore
    let verifier: SignatureVerifier
    let logger: Logger
    var limits = ValidationLimits.default
    var now: @Sendable () -> Date = { Date() }

    static let tenantHeader = HTTPFields.Element.Name("Ledgerline-Tenant")!
    static let timestampHeader = HTTPFields.Element.Name("Ledgerline-Timestamp")!
    static let signatureHeader = HTTPFields.Element.Name("Ledgerline-Signature")!
    static let idempotencyHeader = HTTPFields.Element.Name("Idempotency-Key")!
    static let replayedHeader = HTTPFields.Element.Name("Idempotent-Replayed")!

    /// The Hummingbird application serving the intake (a `Service`).
    /// - Parameter onRunning: called with the bound port once the server listens.
    func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some Service {
        let router = Router()
        router.post("v1/events") { request, _ -> Response in
            await self.handle(request)
        }
        let logger = self.logger
        let host = configuration.httpHost
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: configuration.httpPort), serverName: "ledgerline-ingest"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("HTTP intake ready", metadata: ["http.address": "\(host):\(port)"])
                await onRunning(port)
            },
            logger: logger)
    }

    /// Runs the server until the task is cancelled or the service group shuts down (tests call this).
    func serve(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await application(onRunning: onRunning).run()
    }

    /// Handles one request; never throws (every failure is an answer).
    func handle(_ request: Request) async -> Response {
        let start = ContinuousClock.now
        let response = await answer(request)
        IngestMetrics.httpResponse(status: Int(response.status.code))
        if response.status.code == 202 || response.status.code == 200 {
            IngestMetrics.accepted(channel: .http, since: start)
        }
        return response
    }

    private func answer(_ request: Request) async -> Response {
        if let contentType = request.headers[.contentType],
            !contentType.lowercased().hasPrefix("application/json")
        {
            return Problem.response(
                status: 415, code: .unsupportedMediaType, field: "Content-Type",
                message: "Send the events as application/json.")
        }
        guard let tenant = request.headers[Self.tenantHeader], !tenant.isEmpty else {
            return authFailure(SignatureVerifier.Failure(
                code: .signatureMissing, message: "The Ledgerline-Tenant header is missing."), tenant: nil)
        }
        guard tenant.count <= 64, IntakeItem.ClaimedFields.isSlug(tenant) else {
            return authFailure(SignatureVerifier.Failure(
                code: .signatureMalformed, message: "Ledgerline-Tenant is not a tenant id."), tenant: nil)
        }
        // Headers first: a request that cannot be authenticated is refused before its body is read.
        if case .failure(let failure) = SignatureVerifier.parseTimestamp(request.headers[Self.timestampHeader]) {
            return authFailure(failure, tenant: tenant)
        }
        if case .failure(let failure) = SignatureVerifier.parseSignatures(request.headers[Self.signatureHeader]) {
            return authFailure(failure, tenant: tenant)
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limits.maxBatchBodyBytes {
            return tooLarge(size: length, limit: limits.maxBatchBodyBytes)
        }
        let body: [UInt8]
        do {
            var buffer = try await request.body.collect(upTo: limits.maxBatchBodyBytes)
            body = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch is NIOTooManyBytesError {
            return tooLarge(size: nil, limit: limits.maxBatchBodyBytes)
        } catch {
            return Problem.response(
                status: 400, code: .invalidJSON, field: "", message: "The request body could not be read.")
        }

        let tenantSecrets: [[UInt8]]
        do {
            tenantSecrets = try await secrets.secrets(for: tenant)
        } catch {
            return unavailable(error)
        }
        let verified: SignatureVerifier.Verified
        switch verifier.verify(
            timestamp: request.headers[Self.timestampHeader], signature: request.headers[Self.signatureHeader],
            body: body, secrets: tenantSecrets, now: now())
        {
        case .success(let value): verified = value
        case .failure(let failure): return authFailure(failure, tenant: tenant)
        }

        guard let key = request.headers[Self.idempotencyHeader], !key.isEmpty else {
            return Problem.response(
                status: 400, code: .idempotencyKeyMissing, field: "Idempotency-Key",
                message: "Send an Idempotency-Key header (1-255 visible ASCII characters); a retry sends the same key and body.")
        }
        guard key.count <= 255, key.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value <= 0x7e }) else {
            return Problem.response(
                status: 400, code: .idempotencyKeyInvalid, field: "Idempotency-Key",
                message: "Idempotency-Key must be 1-255 visible ASCII characters.")
        }

        let parsed = parse(body, tenant: TenantID(tenant), key: key)
        let requestSHA = Array(SHA256.hash(data: body))
        let outcome: IntakeStore.HTTPRequestOutcome
        do {
            outcome = try await store.processHTTP(
                tenant: tenant, signature: verified, idempotencyKey: key, requestSHA256: requestSHA,
                items: parsed.items, answer: parsed.answer)
        } catch {
            if IntakeStore.isUnavailable(error) { return unavailable(error) }
            logger.error("HTTP intake failed", metadata: ["tenant.id": "\(tenant)", "error": "\(error)"])
            return Problem.response(
                status: 500, code: .internalError, field: "",
                message: "The events were not stored because of an internal error; retry with the same Idempotency-Key.")
        }
        switch outcome {
        case .replayed:
            return authFailure(SignatureVerifier.Failure(
                code: .signatureReplayed,
                message: "This signed request was already received; sign a retry again with a new Ledgerline-Timestamp."),
                tenant: tenant)
        case .keyReused:
            return Problem.response(
                status: 409, code: .idempotencyKeyReused, field: "Idempotency-Key",
                message: "Idempotency-Key \(key) was already used with a different body; a retry must send the same body.")
        case .earlierAnswer(let status, let body):
            var response = Self.json(status: status == 202 ? 200 : status, body: body,
                                     problem: status >= 400)
            response.headers[Self.replayedHeader] = "true"
            return response
        case .processed(let status, let body, let results):
            for result in results {
                IngestMetrics.event(channel: .http, outcome: result.outcome)
                if case .rejected(let failures) = result.outcome {
                    logger.info("Event rejected", metadata: [
                        "tenant.id": "\(tenant)", "event.id": "\(result.eventID ?? "-")",
                        "ingest.reason_code": "\(failures.first?.code.rawValue ?? "-")",
                        "ingest.path": "\(failures.first?.path ?? "")",
                    ])
                }
            }
            return Self.json(status: status, body: body, problem: status >= 400)
        }
    }

    // MARK: - Parsing and answers

    /// The items of a request and how to answer once they are processed.
    struct Parsed: Sendable {
        var items: [IntakeItem]
        var answer: @Sendable ([IntakeResult]) -> (status: Int, body: [UInt8])
    }

    /// Decodes one event or a batch. A whole body that fails (not JSON, too large, not an array) is one
    /// rejected item.
    func parse(_ body: [UInt8], tenant: TenantID, key: String) -> Parsed {
        let decoder = InvoiceEventDecoder(limits: limits)
        let facts = IntakeItem.BodyFacts(body)
        let reference = "http:\(tenant.rawValue):\(key)"
        let isBatch = body.first(where: { ![0x20, 0x09, 0x0a, 0x0d].contains($0) }) == UInt8(ascii: "[")
        guard isBatch else {
            let decoded = decoder.decode(body)
            var claimed = IntakeItem.ClaimedFields()
            var json: String?
            switch decoded {
            case .failure: claimed = IntakeItem.ClaimedFields(body: body)
            case .success: json = String(decoding: body, as: UTF8.self)
            }
            let item = IntakeItem(
                decoded: decoded, channel: .http, rejectionRef: reference, body: facts, authenticatedTenant: tenant,
                claimed: claimed, eventJSON: json)
            return Parsed(items: [item]) { results in Self.singleAnswer(results[0]) }
        }
        switch decoder.decodeBatch(body) {
        case .failure(let error):
            let item = IntakeItem(
                decoded: .failure(error), channel: .http, rejectionRef: reference, body: facts,
                authenticatedTenant: tenant)
            return Parsed(items: [item]) { results in Self.singleAnswer(results[0]) }
        case .success(let elements):
            var claimedByIndex: [Int: IntakeItem.ClaimedFields] = [:]
            if elements.contains(where: { if case .failure = $0 { true } else { false } }) {
                let array = (try? JSONSerialization.jsonObject(with: Data(body))) as? [Any]
                for (index, element) in elements.enumerated() {
                    if case .failure = element, let array, index < array.count {
                        claimedByIndex[index] = IntakeItem.ClaimedFields(json: array[index])
                    }
                }
            }
            let slices = JSONArraySlicer.elements(of: body)
            let items = elements.enumerated().map { index, element in
                var json: String?
                if case .success = element, let slices, slices.count == elements.count {
                    json = String(decoding: slices[index], as: UTF8.self)
                }
                return IntakeItem(
                    decoded: element, channel: .http, rejectionRef: "\(reference):\(index)", body: facts,
                    authenticatedTenant: tenant, claimed: claimedByIndex[index] ?? IntakeItem.ClaimedFields(),
                    eventJSON: json)
            }
            return Parsed(items: items) { results in Self.batchAnswer(results) }
        }
    }

    /// The answer to a single event.
    static func singleAnswer(_ result: IntakeResult) -> (status: Int, body: [UInt8]) {
        switch result.outcome {
        case .rejected(let failures):
            let status = problemStatus(failures)
            return (status, Problem(status: status, failures: failures).encoded())
        case .duplicate(let original):
            return (200, EventAnswer(result, originalOutcome: original).encoded())
        case .applied, .stale, .parked:
            return (202, EventAnswer(result).encoded())
        }
    }

    /// The answer to a batch: 202 with each element's outcome, or 422 when every element was rejected.
    static func batchAnswer(_ results: [IntakeResult]) -> (status: Int, body: [UInt8]) {
        if !results.isEmpty, results.allSatisfy(\.outcome.isRejected) {
            let failures = results.enumerated().flatMap { index, result -> [ValidationFailure] in
                guard case .rejected(let failures) = result.outcome else { return [] }
                return failures.map { failure in
                    var prefixed = failure
                    if !failure.path.hasPrefix("[") {
                        prefixed.path = "[\(index)]" + (failure.path.isEmpty ? "" : "." + failure.path)
                    }
                    return prefixed
                }
            }
            return (422, Problem(status: 422, failures: failures, batch: true).encoded())
        }
        return (202, BatchAnswer(results).encoded())
    }

    /// 400 for a body that is not JSON, 403 for another tenant, 409 for a reused key, 413 for size, else 422.
    static func problemStatus(_ failures: [ValidationFailure]) -> Int {
        let codes = Set(failures.map(\.code))
        if codes.contains(.bodyTooLarge) { return 413 }
        if codes.contains(.invalidJSON) || codes.contains(.nestingTooDeep) { return 400 }
        if codes.contains(.tenantMismatch) { return 403 }
        if codes.contains(.idempotencyKeyReused) || codes.contains(.invoiceVoidHasPayments)
            || codes.contains(.invoiceAlreadyVoided)
        {
            return 409
        }
        return 422
    }

    private func authFailure(_ failure: SignatureVerifier.Failure, tenant: String?) -> Response {
        IngestMetrics.authFailure(reason: failure.code.rawValue)
        // A security event: who claimed to call and why it failed; never the signature or the body.
        logger.notice("HTTP intake authentication failed", metadata: [
            "tenant.claimed": "\(tenant ?? "-")", "ingest.reason_code": "\(failure.code.rawValue)",
        ])
        var response = Problem.response(status: 401, code: failure.code, field: "", message: failure.message)
        response.headers[.wwwAuthenticate] = "Ledgerline-HMAC-SHA256"
        return response
    }

    private func tooLarge(size: Int?, limit: Int) -> Response {
        Problem.response(
            status: 413, code: .bodyTooLarge, field: "",
            message: "The body is \(size.map { "\($0) bytes" } ?? "larger than the limit"); the limit is \(limit) bytes for a batch and \(limits.maxBodyBytes) bytes for one event.")
    }

    private func unavailable(_ error: any Error) -> Response {
        logger.warning("HTTP intake: Postgres unavailable", metadata: ["error": "\(error)"])
        var response = Problem.response(
            status: 503, code: .serviceUnavailable, field: "",
            message: "The event store is unavailable; nothing was stored. Retry after the Retry-After delay with the same Idempotency-Key.")
        response.headers[.retryAfter] = "5"
        return response
    }

    static func json(status: Int, body: [UInt8], problem: Bool) -> Response {
        Response(
            status: HTTPResponse.Status(code: status),
            headers: [.contentType: problem ? "application/problem+json" : "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

// MARK: - Answer bodies

/// The answer for one stored event.
struct EventAnswer: Codable, Sendable, Equatable {
    var outcome: String
    var eventID: String?
    var idempotencyKey: String?
    var invoiceID: String?
    var invoiceVersion: Int64?
    var reasonCode: String?
    var originalOutcome: String?
    var index: Int?
    var errors: [Problem.Item]?

    init(_ result: IntakeResult, originalOutcome: String? = nil, index: Int? = nil) {
        outcome = result.outcome.label
        eventID = result.eventID
        idempotencyKey = result.idempotencyKey
        invoiceID = result.invoiceID
        invoiceVersion = result.invoiceVersion
        reasonCode = result.outcome.reasonCode?.rawValue
        self.originalOutcome = originalOutcome
        self.index = index
        if case .rejected(let failures) = result.outcome { errors = failures.map(Problem.Item.init) }
    }

    enum CodingKeys: String, CodingKey {
        case outcome, eventID = "event_id", idempotencyKey = "idempotency_key", invoiceID = "invoice_id"
        case invoiceVersion = "invoice_version", reasonCode = "reason_code", originalOutcome = "original_outcome"
        case index, errors
    }

    func encoded() -> [UInt8] { Problem.encode(self) }
}

/// The answer for a batch.
struct BatchAnswer: Codable, Sendable, Equatable {
    var accepted = 0
    var stale = 0
    var parked = 0
    var duplicates = 0
    var rejected = 0
    var results: [EventAnswer] = []

    init(_ results: [IntakeResult]) {
        for (index, result) in results.enumerated() {
            switch result.outcome {
            case .applied: accepted += 1
            case .stale: stale += 1
            case .parked: parked += 1
            case .duplicate: duplicates += 1
            case .rejected: rejected += 1
            }
            var original: String?
            if case .duplicate(let value) = result.outcome { original = value }
            self.results.append(EventAnswer(result, originalOutcome: original, index: index))
        }
    }

    func encoded() -> [UInt8] { Problem.encode(self) }
}

/// An RFC 9457 problem: `type`, `title`, `status`, `detail`, plus `errors` naming each field and rule.
struct Problem: Codable, Sendable, Equatable {
    var type: String
    var title: String
    var status: Int
    var detail: String
    var errors: [Item]

    /// One failure: the reason code, the field (JSON path or header name) and a message for people.
    struct Item: Codable, Sendable, Equatable {
        var code: String
        var field: String
        var message: String

        init(code: String, field: String, message: String) {
            self.code = code
            self.field = field
            self.message = message
        }

        init(_ failure: ValidationFailure) {
            self.init(code: failure.code.rawValue, field: failure.path, message: failure.message)
        }
    }

    init(status: Int, failures: [ValidationFailure], batch: Bool = false) {
        self.status = status
        let first = failures.first
        (type, title) = Self.kind(status: status, code: first?.code)
        let count = failures.count
        detail = batch
            ? "Every event of the batch was rejected (\(count) problem\(count == 1 ? "" : "s")); see errors."
            : count == 1 ? (first?.message ?? "") : "\(count) problems were found; see errors."
        errors = failures.map(Item.init)
    }

    /// The problem `type` URI and title for a status.
    static func kind(status: Int, code: ReasonCode?) -> (String, String) {
        switch status {
        case 400: ("urn:ledgerline:problem:invalid-request", "The request is malformed")
        case 401: ("urn:ledgerline:problem:unauthorized", "The request is not authenticated")
        case 403: ("urn:ledgerline:problem:forbidden", "The event belongs to another tenant")
        case 409: ("urn:ledgerline:problem:conflict", "The request conflicts with what is stored")
        case 413: ("urn:ledgerline:problem:payload-too-large", "The body is too large")
        case 415: ("urn:ledgerline:problem:unsupported-media-type", "The body is not JSON")
        case 422: ("urn:ledgerline:problem:invalid-event", "The event does not follow the event contract")
        case 503: ("urn:ledgerline:problem:service-unavailable", "The service is unavailable")
        default: ("urn:ledgerline:problem:internal-error", "Internal error")
        }
    }

    static func response(status: Int, code: ReasonCode, field: String, message: String) -> Response {
        let problem = Problem(status: status, failures: [ValidationFailure(code: code, path: field, message: message)])
        return HTTPIntake.json(status: status, body: problem.encoded(), problem: true)
    }

    func encoded() -> [UInt8] { Self.encode(self) }

    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(value)) ?? Data("{}".utf8))
    }
}
