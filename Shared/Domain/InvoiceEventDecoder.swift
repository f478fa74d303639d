import Foundation

/// The entry point for untrusted input: raw bytes in, a validated ``InvoiceEvent`` or every failure out.
///
/// In order:
/// 1. size: more than ``ValidationLimits/maxBodyBytes`` → `limits.body_too_large` (nothing is parsed);
/// 2. JSON syntax and UTF-8, with nesting limited to ``ValidationLimits/maxNestingDepth`` →
///    `schema.invalid_json` / `limits.nesting_too_deep` (parsing stops); duplicate keys → `schema.duplicate_key`;
/// 3. `schema_version` (an unsupported version stops here);
/// 4. structure and values of every field, then each object's rules and the invoice arithmetic.
///
/// From step 3 on every failure is collected (up to ``ValidationLimits/maxReportedFailures``), in the order
/// of the contract's fields, each with a stable ``ReasonCode``, a JSON path and a message.
///
/// ```swift
/// switch InvoiceEventDecoder().decode(body) {
/// case .success(let event): store(event)
/// case .failure(let error): reply(400, error.failures)    // error.isPayloadTooLarge → 413
/// }
/// ```
///
/// The decoder is a value with no shared state; it is safe to use from any task.
public struct InvoiceEventDecoder: Sendable {
    /// The limits applied.
    public var limits: ValidationLimits

    /// Creates a decoder.
    /// - Parameter limits: the limits; defaults to ``ValidationLimits/default``.
    public init(limits: ValidationLimits = .default) { self.limits = limits }

    /// Decodes and validates one event.
    /// - Parameter body: the raw bytes (a `Data`, `[UInt8]`, …).
    /// - Returns: the event, or a ``ValidationError`` listing every failure.
    public func decode(_ body: some Collection<UInt8>) -> Result<InvoiceEvent, ValidationError> {
        guard body.count <= limits.maxBodyBytes else {
            return .failure(ValidationError(failures: [Self.tooLarge(body.count, limits.maxBodyBytes)]))
        }
        let sink = FailureSink(cap: limits.maxReportedFailures)
        var scanner = JSONScanner(bytes: Array(body), maxDepth: limits.effectiveNestingDepth)
        let json: JSONValue
        do {
            json = try scanner.parseDocument()
        } catch {
            return .failure(ValidationError(failures: [ValidationFailure(scan: error)]))
        }
        for warning in scanner.warnings { sink.add(warning.code, warning.path, warning.message) }
        let event = ContractMapper(sink: sink, limits: limits, runChecks: true).event(json)
        if let event, sink.isEmpty { return .success(event) }
        return .failure(ValidationError(failures: sink.finish()))
    }

    /// Decodes a batch: a JSON array of events, each decoded and validated on its own.
    ///
    /// The batch as a whole fails only for its size (``ValidationLimits/maxBatchBodyBytes``), JSON syntax,
    /// nesting, a top level that is not an array, or more than ``ValidationLimits/maxEventsPerBatch`` events.
    /// Otherwise each element has its own result; failure paths start with the element's index (`[3].invoice…`).
    /// - Parameter body: the raw bytes.
    /// - Returns: one result per element, in order, or the batch-level failure.
    public func decodeBatch(_ body: some Collection<UInt8>) -> Result<
        [Result<InvoiceEvent, ValidationError>], ValidationError
    > {
        guard body.count <= limits.maxBatchBodyBytes else {
            return .failure(ValidationError(failures: [Self.tooLarge(body.count, limits.maxBatchBodyBytes)]))
        }
        var scanner = JSONScanner(bytes: Array(body), maxDepth: limits.effectiveNestingDepth + 1)
        let json: JSONValue
        do {
            json = try scanner.parseDocument()
        } catch {
            return .failure(ValidationError(failures: [ValidationFailure(scan: error)]))
        }
        guard case .array(let items) = json else {
            return .failure(
                ValidationError(failures: [
                    ValidationFailure(
                        code: .wrongType, path: "",
                        message: "A batch must be a JSON array of events, not \(json.typeName).")
                ]))
        }
        guard items.count <= limits.maxEventsPerBatch else {
            return .failure(
                ValidationError(failures: [
                    ValidationFailure(
                        code: .tooManyEvents, path: "",
                        message: "The batch has \(items.count) events; the maximum is \(limits.maxEventsPerBatch).")
                ]))
        }
        var warningsByIndex: [Int: [JSONScanner.Failure]] = [:]
        for warning in scanner.warnings {
            guard case .index(let index)? = warning.path.components.first else { continue }
            let relative = JSONPath(Array(warning.path.components.dropFirst()))
            warningsByIndex[index, default: []].append(
                JSONScanner.Failure(code: warning.code, path: relative, message: warning.message))
        }
        let results = items.enumerated().map { index, item -> Result<InvoiceEvent, ValidationError> in
            let sink = FailureSink(cap: limits.maxReportedFailures)
            for warning in warningsByIndex[index] ?? [] { sink.add(warning.code, warning.path, warning.message) }
            let event = ContractMapper(sink: sink, limits: limits, runChecks: true).event(item)
            if let event, sink.isEmpty { return .success(event) }
            let failures = sink.finish().map { failure in
                var prefixed = failure
                prefixed.path = "[\(index)]" + (failure.path.isEmpty ? "" : "." + failure.path)
                return prefixed
            }
            return .failure(ValidationError(failures: failures))
        }
        return .success(results)
    }

    private static func tooLarge(_ size: Int, _ limit: Int) -> ValidationFailure {
        ValidationFailure(
            code: .bodyTooLarge, path: "", message: "The body is \(size) bytes; the limit is \(limit) bytes.")
    }
}

extension ValidationFailure {
    init(scan failure: JSONScanner.Failure) {
        self.init(code: failure.code, path: failure.path.description, message: failure.message)
    }
}
