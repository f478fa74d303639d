/// A stable, machine-readable reason why a record was rejected, parked or not synced.
///
/// Reason codes are dotted lower-case strings (`category.name`, e.g. `arithmetic.total_mismatch`). They are
/// part of the public contract: shops branch on them, finance ops filter the sync log by them, and they are
/// stored in Postgres. A published code never changes meaning and is never reused.
///
/// The type is a struct rather than an enum so that later components can add their own codes without
/// touching this module:
///
/// ```swift
/// extension ReasonCode {
///     /// The ERP answered 429 and the retry horizon ran out.
///     public static let erpRateLimited = ReasonCode("erp.rate_limited")
/// }
/// ```
///
/// The codes this module produces are listed, with their default human summaries, in
/// ``ReasonCode/contractCatalogue`` and in `docs/event-contract/README.md`.
public struct ReasonCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    /// The code as written on the wire and in the database, e.g. `schema.missing_field`.
    public let rawValue: String

    /// Creates a code from its wire form.
    /// - Parameter rawValue: a dotted lower-case string such as `schema.missing_field`.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Creates a code from its wire form.
    /// - Parameter rawValue: a dotted lower-case string such as `schema.missing_field`.
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// Creates a code from a string literal.
    public init(stringLiteral value: String) { self.rawValue = value }

    /// The part before the first dot (`schema`, `limits`, `money`, `arithmetic`, …).
    public var category: String {
        rawValue.split(separator: ".", maxSplits: 1).first.map(String.init) ?? rawValue
    }

    /// The wire form.
    public var description: String { rawValue }

    /// Decodes the code from a single JSON string.
    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    /// Encodes the code as a single JSON string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

// MARK: - Codes produced by the event contract (schema, limits, money, arithmetic, …)

extension ReasonCode {
    // schema.*
    /// The body is not well-formed JSON in UTF-8 (syntax error, invalid UTF-8, lone surrogate, trailing data).
    public static let invalidJSON = ReasonCode("schema.invalid_json")
    /// A field has the wrong JSON type (e.g. an object where a string is expected, `"3"` for an integer).
    public static let wrongType = ReasonCode("schema.wrong_type")
    /// A required field is absent or `null`.
    public static let missingField = ReasonCode("schema.missing_field")
    /// A field that the contract does not define (often a typo).
    public static let unknownField = ReasonCode("schema.unknown_field")
    /// A contract field that is not allowed in this place (for this event type or line kind).
    public static let fieldNotAllowed = ReasonCode("schema.field_not_allowed")
    /// The same key appears twice in one JSON object.
    public static let duplicateKey = ReasonCode("schema.duplicate_key")
    /// `schema_version` names a version this service does not accept.
    public static let unsupportedVersion = ReasonCode("schema.unsupported_version")
    /// `event_type` is not one of the contract's event types.
    public static let unknownEventType = ReasonCode("schema.unknown_event_type")
    /// A field restricted to a fixed set of values has another value.
    public static let invalidEnumValue = ReasonCode("schema.invalid_enum_value")
    /// Text that does not match its field's format (identifier, date, timestamp, e-mail, country code).
    public static let invalidFormat = ReasonCode("schema.invalid_format")
    /// Free text that contains control characters (or a line break in a single-line field).
    public static let invalidCharacters = ReasonCode("schema.invalid_characters")
    /// A text field is the empty string.
    public static let emptyString = ReasonCode("schema.empty_string")
    /// A list that must have at least one item is empty.
    public static let emptyArray = ReasonCode("schema.empty_array")
    /// An integer is outside its field's range.
    public static let outOfRange = ReasonCode("schema.out_of_range")
    /// Two items in one list carry the same id (`line_id`, `payment_id`).
    public static let duplicateID = ReasonCode("schema.duplicate_id")

    // limits.*
    /// The body is larger than ``ValidationLimits/maxBodyBytes`` (or the batch limit).
    public static let bodyTooLarge = ReasonCode("limits.body_too_large")
    /// Arrays and objects are nested deeper than ``ValidationLimits/maxNestingDepth``.
    public static let nestingTooDeep = ReasonCode("limits.nesting_too_deep")
    /// The invoice has more lines than ``ValidationLimits/maxLinesPerInvoice``.
    public static let tooManyLines = ReasonCode("limits.too_many_lines")
    /// A list other than `lines` is longer than its limit (tax lines, payments).
    public static let tooManyItems = ReasonCode("limits.too_many_items")
    /// A batch holds more events than ``ValidationLimits/maxEventsPerBatch``.
    public static let tooManyEvents = ReasonCode("limits.too_many_events")
    /// A text field is longer than its field's maximum.
    public static let stringTooLong = ReasonCode("limits.string_too_long")
    /// More failures were found than ``ValidationLimits/maxReportedFailures``; the rest are not listed.
    public static let tooManyFailures = ReasonCode("limits.too_many_failures")

    // money.*  (every decimal field: amounts, prices, quantities, rates)
    /// A decimal field holds a JSON number; decimals must be JSON strings such as `"12.50"`.
    public static let floatNotAllowed = ReasonCode("money.float_not_allowed")
    /// A decimal field holds a string that is not a plain decimal (`-`? digits, optional `.` digits).
    public static let notADecimalString = ReasonCode("money.not_a_decimal_string")
    /// A decimal has more fraction digits than its field (or the invoice currency) allows.
    public static let tooManyDecimals = ReasonCode("money.too_many_decimals")
    /// A decimal has more integer digits than its field allows.
    public static let moneyOutOfRange = ReasonCode("money.out_of_range")

    // currency.*
    /// The currency is not an ISO 4217 code this service knows (codes are upper case).
    public static let unknownCurrency = ReasonCode("currency.unknown")

    // vehicle.*
    /// The VIN is not 17 characters of the VIN alphabet (5–17 for vehicles before 1981).
    public static let invalidVIN = ReasonCode("vehicle.invalid_vin")

    // dates.*
    /// The due date is before the issue date.
    public static let dueBeforeIssue = ReasonCode("dates.due_before_issue")

    // line.*
    /// A discount line whose unit price is positive or whose quantity is not positive.
    public static let discountNotNegative = ReasonCode("line.discount_not_negative")
    /// A non-discount line with a negative unit price (use a negative quantity for returns and credits).
    public static let negativeUnitPrice = ReasonCode("line.negative_unit_price")

    // tax.*
    /// A tax rate below 0 % or above 100 %.
    public static let taxRateOutOfRange = ReasonCode("tax.rate_out_of_range")
    /// The customer is tax exempt but a tax line has a non-zero amount.
    public static let exemptCustomerTaxed = ReasonCode("tax.exempt_customer_taxed")

    // arithmetic.*
    /// A line amount is not quantity × unit price rounded to the currency.
    public static let lineAmountMismatch = ReasonCode("arithmetic.line_amount_mismatch")
    /// A tax line's taxable amount is not the sum of the taxable lines it covers.
    public static let taxableBaseMismatch = ReasonCode("arithmetic.taxable_base_mismatch")
    /// A tax line's amount is further from taxable amount × rate than the rounding tolerance.
    public static let taxLineMismatch = ReasonCode("arithmetic.tax_line_mismatch")
    /// The subtotal is not the sum of the line amounts.
    public static let subtotalMismatch = ReasonCode("arithmetic.subtotal_mismatch")
    /// The discount total is not the sum of the discount line amounts.
    public static let discountTotalMismatch = ReasonCode("arithmetic.discount_total_mismatch")
    /// The tax total is not the sum of the tax line amounts.
    public static let taxTotalMismatch = ReasonCode("arithmetic.tax_total_mismatch")
    /// The total is not subtotal + tax total.
    public static let totalMismatch = ReasonCode("arithmetic.total_mismatch")
    /// The amount paid is not the sum of the payments.
    public static let amountPaidMismatch = ReasonCode("arithmetic.amount_paid_mismatch")
    /// The balance due is not total − amount paid.
    public static let balanceMismatch = ReasonCode("arithmetic.balance_mismatch")

    // payment.*
    /// A payment amount that is zero or negative.
    public static let paymentNotPositive = ReasonCode("payment.not_positive")
    /// Payments add up to more than the invoice total.
    public static let paymentExceedsBalance = ReasonCode("payment.exceeds_balance")

    // status.*
    /// The status contradicts the amounts (e.g. `paid` with a balance due).
    public static let statusInconsistent = ReasonCode("status.inconsistent")
    /// The status is not allowed for this event type (e.g. `voided` in `invoice.updated`).
    public static let statusInvalidForEvent = ReasonCode("status.invalid_for_event")
}

/// One entry of a reason-code catalogue: the code and the default human summary shown next to it.
public struct ReasonCodeInfo: Sendable, Hashable {
    /// The code.
    public let code: ReasonCode
    /// A one-sentence summary for people (the sync log's "Reason" column, documentation).
    public let summary: String

    /// Creates a catalogue entry.
    /// - Parameters:
    ///   - code: the reason code.
    ///   - summary: a one-sentence human summary.
    public init(_ code: ReasonCode, _ summary: String) {
        self.code = code
        self.summary = summary
    }
}

extension ReasonCode {
    /// Every code the event contract's decoder and validator can produce, with its summary, in the order
    /// of the catalogue table in `docs/event-contract/README.md` (a test keeps the two identical).
    public static let contractCatalogue: [ReasonCodeInfo] = [
        .init(.invalidJSON, "The body is not well-formed JSON in UTF-8."),
        .init(.wrongType, "The field has the wrong JSON type."),
        .init(.missingField, "A required field is missing or null."),
        .init(.unknownField, "The field is not part of the contract."),
        .init(.fieldNotAllowed, "The field is not allowed for this event type or line kind."),
        .init(.duplicateKey, "The same key appears twice in one JSON object."),
        .init(.unsupportedVersion, "The schema version is not supported."),
        .init(.unknownEventType, "The event type is not one of the contract's event types."),
        .init(.invalidEnumValue, "The value is not one of the field's allowed values."),
        .init(.invalidFormat, "The text does not match the field's format."),
        .init(.invalidCharacters, "The text contains control characters."),
        .init(.emptyString, "The text is empty."),
        .init(.emptyArray, "The list must contain at least one item."),
        .init(.outOfRange, "The number is outside the field's range."),
        .init(.duplicateID, "Two items in the same list have the same id."),
        .init(.bodyTooLarge, "The body is larger than the size limit."),
        .init(.nestingTooDeep, "Arrays and objects are nested too deeply."),
        .init(.tooManyLines, "The invoice has more lines than the limit."),
        .init(.tooManyItems, "The list has more items than the limit."),
        .init(.tooManyEvents, "The batch has more events than the limit."),
        .init(.stringTooLong, "The text is longer than the field allows."),
        .init(.tooManyFailures, "More failures were found than are listed."),
        .init(.floatNotAllowed, "A decimal field holds a JSON number; send a decimal string such as \"12.50\"."),
        .init(.notADecimalString, "The string is not a plain decimal number."),
        .init(.tooManyDecimals, "The number has more decimal places than the field or currency allows."),
        .init(.moneyOutOfRange, "The number has more integer digits than the field allows."),
        .init(.unknownCurrency, "The currency is not a known ISO 4217 code."),
        .init(.invalidVIN, "The VIN is not a valid vehicle identification number."),
        .init(.dueBeforeIssue, "The due date is before the issue date."),
        .init(.discountNotNegative, "A discount line needs a zero or negative unit price and a positive quantity."),
        .init(.negativeUnitPrice, "Only discount lines may have a negative unit price."),
        .init(.taxRateOutOfRange, "The tax rate must be between 0 and 100 percent."),
        .init(.exemptCustomerTaxed, "The customer is tax exempt but the invoice charges tax."),
        .init(.lineAmountMismatch, "The line amount is not quantity times unit price, rounded."),
        .init(.taxableBaseMismatch, "The taxable amount is not the sum of the taxable lines it covers."),
        .init(.taxLineMismatch, "The tax amount is not taxable amount times rate, rounded."),
        .init(.subtotalMismatch, "The subtotal is not the sum of the line amounts."),
        .init(.discountTotalMismatch, "The discount total is not the sum of the discount lines."),
        .init(.taxTotalMismatch, "The tax total is not the sum of the tax lines."),
        .init(.totalMismatch, "The total is not subtotal plus tax total."),
        .init(.amountPaidMismatch, "The amount paid is not the sum of the payments."),
        .init(.balanceMismatch, "The balance due is not total minus amount paid."),
        .init(.paymentNotPositive, "A payment amount must be greater than zero."),
        .init(.paymentExceedsBalance, "The payments add up to more than the invoice total."),
        .init(.statusInconsistent, "The invoice status contradicts its amounts."),
        .init(.statusInvalidForEvent, "The invoice status is not allowed for this event type."),
    ]

    /// The summary of a code from ``contractCatalogue``, or `nil` for a code defined elsewhere.
    public var contractSummary: String? {
        ReasonCode.contractCatalogue.first { $0.code == self }?.summary
    }
}
