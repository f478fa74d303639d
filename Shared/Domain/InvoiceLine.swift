/// One billed line of an invoice (an item of `lines`).
///
/// Every line has a quantity, a unit price and an amount; `amount` must equal
/// `quantity × unit_price` rounded to the currency's minor units, half away from zero. For labor lines the
/// quantity is the hours and the unit price is the hourly rate. Discount lines carry a negative unit price,
/// so their amount is negative; returns and core credits use a negative quantity.
///
/// On the wire the kind-specific fields sit flat beside the common ones (`"kind": "part", "part_number": …`);
/// in Swift they are the associated values of ``Detail``, and ``kind`` is derived from it.
public struct InvoiceLine: Sendable, Equatable, Codable {
    /// The source system's id of the line, unique within the invoice, if it has one.
    public var lineID: String?
    /// What was billed, as printed. 1–1,000 characters, line breaks allowed (labor narratives).
    public var description: String
    /// Units, or hours for labor. Up to 9 integer and 4 fraction digits; may be negative (returns).
    public var quantity: Quantity
    /// Price per unit (hourly rate for labor). Up to 15 integer and 6 fraction digits; negative only for
    /// discount lines.
    public var unitPrice: Money
    /// The line's extended amount: quantity × unit price, rounded to the currency.
    public var amount: Money
    /// Whether the line is subject to tax (it then counts towards matching tax lines' taxable amount).
    public var taxable: Bool
    /// The shop's tax code for the line (e.g. `TAX`, `NON`, `GST`), matched against tax lines' `tax_code`.
    public var taxCode: String?
    /// The kind of line with its kind-specific fields.
    public var detail: Detail

    /// The kinds of line an auto-electrical shop bills.
    public enum Kind: String, Sendable, Hashable, CaseIterable, Codable {
        /// A part sold.
        case part
        /// Labor (quantity = hours, unit price = rate).
        case labor
        /// A fee (shop supplies, diagnostics, environmental, disposal…).
        case fee
        /// Work sent out to another business and re-billed.
        case sublet
        /// A discount (negative unit price).
        case discount
        /// A core charge on a rebuildable part (or, with a negative quantity, a core credit).
        case coreCharge = "core_charge"
    }

    /// The kind of line with its kind-specific fields.
    public enum Detail: Sendable, Equatable {
        /// A part: `part_number` (required) and `manufacturer`.
        case part(partNumber: String, manufacturer: String?)
        /// Labor: `technician_id`, `technician_name`, `labor_code` (all optional).
        case labor(technicianID: String?, technicianName: String?, laborCode: String?)
        /// A fee: `fee_code` (optional).
        case fee(feeCode: String?)
        /// Sublet work: `vendor_name` (required) and `vendor_invoice_number`.
        case sublet(vendorName: String, vendorInvoiceNumber: String?)
        /// A discount: no extra fields.
        case discount
        /// A core charge: `part_number` of the core (optional).
        case coreCharge(partNumber: String?)

        /// The kind of this detail.
        public var kind: Kind {
            switch self {
            case .part: .part
            case .labor: .labor
            case .fee: .fee
            case .sublet: .sublet
            case .discount: .discount
            case .coreCharge: .coreCharge
            }
        }
    }

    /// Creates a line.
    public init(
        lineID: String? = nil, description: String, quantity: Quantity, unitPrice: Money, amount: Money,
        taxable: Bool, taxCode: String? = nil, detail: Detail
    ) {
        self.lineID = lineID
        self.description = description
        self.quantity = quantity
        self.unitPrice = unitPrice
        self.amount = amount
        self.taxable = taxable
        self.taxCode = taxCode
        self.detail = detail
    }

    /// The kind, derived from ``detail``.
    public var kind: Kind { detail.kind }

    /// For labor lines, the hours (the quantity); `nil` for other kinds.
    public var laborHours: Quantity? { kind == .labor ? quantity : nil }

    /// For labor lines, the hourly rate (the unit price); `nil` for other kinds.
    public var laborRate: Money? { kind == .labor ? unitPrice : nil }

    enum CodingKeys: String, CodingKey {
        case lineID = "line_id", kind, description, quantity, unitPrice = "unit_price", amount, taxable
        case taxCode = "tax_code", partNumber = "part_number", manufacturer, technicianID = "technician_id"
        case technicianName = "technician_name", laborCode = "labor_code", feeCode = "fee_code"
        case vendorName = "vendor_name", vendorInvoiceNumber = "vendor_invoice_number"
    }

    /// Decodes the structure; see ``InvoiceEvent/init(from:)``.
    public init(from decoder: any Decoder) throws {
        self = try ContractCodable.decode(from: decoder) { mapper, json in
            mapper.line(json, at: .root, currency: nil)
        }
    }

    /// Encodes the wire form with the kind-specific fields flat.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(lineID, forKey: .lineID)
        try container.encode(kind, forKey: .kind)
        try container.encode(description, forKey: .description)
        try container.encode(quantity, forKey: .quantity)
        try container.encode(unitPrice, forKey: .unitPrice)
        try container.encode(amount, forKey: .amount)
        try container.encode(taxable, forKey: .taxable)
        try container.encodeIfPresent(taxCode, forKey: .taxCode)
        switch detail {
        case .part(let partNumber, let manufacturer):
            try container.encode(partNumber, forKey: .partNumber)
            try container.encodeIfPresent(manufacturer, forKey: .manufacturer)
        case .labor(let technicianID, let technicianName, let laborCode):
            try container.encodeIfPresent(technicianID, forKey: .technicianID)
            try container.encodeIfPresent(technicianName, forKey: .technicianName)
            try container.encodeIfPresent(laborCode, forKey: .laborCode)
        case .fee(let feeCode):
            try container.encodeIfPresent(feeCode, forKey: .feeCode)
        case .sublet(let vendorName, let vendorInvoiceNumber):
            try container.encode(vendorName, forKey: .vendorName)
            try container.encodeIfPresent(vendorInvoiceNumber, forKey: .vendorInvoiceNumber)
        case .discount:
            break
        case .coreCharge(let partNumber):
            try container.encodeIfPresent(partNumber, forKey: .partNumber)
        }
    }
}
