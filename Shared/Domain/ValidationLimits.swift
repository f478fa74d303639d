/// Operational size limits applied before and during decoding of untrusted input.
///
/// Per-field text lengths are part of the contract itself (see `docs/event-contract/README.md`), not
/// settings; the limits here bound the work and memory one request can cost. The defaults are the values the
/// JSON Schema states (`maxItems`), so change them only together with the published contract.
///
/// | Limit | Default | Reason code when exceeded |
/// |---|---|---|
/// | ``maxBodyBytes`` | 1 MiB (1,048,576 bytes) | `limits.body_too_large` |
/// | ``maxBatchBodyBytes`` | 16 MiB | `limits.body_too_large` |
/// | ``maxEventsPerBatch`` | 1,000 | `limits.too_many_events` |
/// | ``maxLinesPerInvoice`` | 500 | `limits.too_many_lines` |
/// | ``maxTaxLinesPerInvoice`` | 50 | `limits.too_many_items` |
/// | ``maxPaymentsPerInvoice`` | 100 | `limits.too_many_items` |
/// | ``maxNestingDepth`` | 16 (an event needs 4, a batch 5) | `limits.nesting_too_deep` |
/// | ``maxReportedFailures`` | 100 | `limits.too_many_failures` (one entry, last) |
public struct ValidationLimits: Sendable, Hashable {
    /// The largest accepted body of a single event, in bytes. Default 1 MiB.
    public var maxBodyBytes: Int
    /// The largest accepted body of a batch (a JSON array of events), in bytes. Default 16 MiB.
    public var maxBatchBodyBytes: Int
    /// The most events accepted in one batch. Default 1,000.
    public var maxEventsPerBatch: Int
    /// The most lines one invoice may have. Default 500.
    public var maxLinesPerInvoice: Int
    /// The most tax lines one invoice may have. Default 50.
    public var maxTaxLinesPerInvoice: Int
    /// The most payments one invoice may list. Default 100.
    public var maxPaymentsPerInvoice: Int
    /// The deepest nesting of arrays and objects; the top-level object is depth 1. Default 16; values above
    /// 256 are treated as 256 (the scanner is recursive).
    public var maxNestingDepth: Int
    /// The most failures reported for one document; further failures are summarised in one
    /// `limits.too_many_failures` entry. Default 100.
    public var maxReportedFailures: Int

    /// Creates limits; every parameter defaults to the contract's default.
    public init(
        maxBodyBytes: Int = 1_048_576,
        maxBatchBodyBytes: Int = 16 * 1_048_576,
        maxEventsPerBatch: Int = 1_000,
        maxLinesPerInvoice: Int = 500,
        maxTaxLinesPerInvoice: Int = 50,
        maxPaymentsPerInvoice: Int = 100,
        maxNestingDepth: Int = 16,
        maxReportedFailures: Int = 100
    ) {
        self.maxBodyBytes = maxBodyBytes
        self.maxBatchBodyBytes = maxBatchBodyBytes
        self.maxEventsPerBatch = maxEventsPerBatch
        self.maxLinesPerInvoice = maxLinesPerInvoice
        self.maxTaxLinesPerInvoice = maxTaxLinesPerInvoice
        self.maxPaymentsPerInvoice = maxPaymentsPerInvoice
        self.maxNestingDepth = maxNestingDepth
        self.maxReportedFailures = maxReportedFailures
    }

    /// The contract's defaults.
    public static let `default` = ValidationLimits()

    /// The nesting limit actually applied (``maxNestingDepth`` clamped to 1...256).
    var effectiveNestingDepth: Int { min(max(maxNestingDepth, 1), 256) }
}
