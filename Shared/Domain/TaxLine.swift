/// One tax charged on an invoice (an item of `tax_lines`): a jurisdiction's rate applied to a taxable amount.
///
/// `taxable_amount` is the sum of the amounts of the taxable lines this tax covers: all taxable lines when
/// ``taxCode`` is absent, else the taxable lines with the same `tax_code`. `amount` is
/// `taxable_amount × rate_percent / 100` rounded to the currency (half away from zero), with a tolerance for
/// shops that round per line; see `docs/event-contract/README.md`.
public struct TaxLine: Sendable, Equatable, Codable {
    /// Who levies the tax, as printed, e.g. `CA State`, `Alameda County`, `GST`. 1–100 characters.
    public var jurisdiction: String
    /// Restricts the tax to lines with this tax code; absent means every taxable line.
    public var taxCode: String?
    /// The rate in percent (`"7.25"` is 7.25 %), 0...100, up to 6 fraction digits.
    public var ratePercent: Percentage
    /// The amount the rate applies to.
    public var taxableAmount: Money
    /// The tax charged.
    public var amount: Money

    /// Creates a tax line.
    public init(
        jurisdiction: String, taxCode: String? = nil, ratePercent: Percentage, taxableAmount: Money, amount: Money
    ) {
        self.jurisdiction = jurisdiction
        self.taxCode = taxCode
        self.ratePercent = ratePercent
        self.taxableAmount = taxableAmount
        self.amount = amount
    }

    enum CodingKeys: String, CodingKey {
        case jurisdiction, taxCode = "tax_code", ratePercent = "rate_percent", taxableAmount = "taxable_amount"
        case amount
    }

    /// Decodes the structure; see ``InvoiceEvent/init(from:)``.
    public init(from decoder: any Decoder) throws {
        self = try ContractCodable.decode(from: decoder) { mapper, json in
            mapper.taxLine(json, at: .root, currency: nil)
        }
    }

    /// Encodes the wire form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(jurisdiction, forKey: .jurisdiction)
        try container.encodeIfPresent(taxCode, forKey: .taxCode)
        try container.encode(ratePercent, forKey: .ratePercent)
        try container.encode(taxableAmount, forKey: .taxableAmount)
        try container.encode(amount, forKey: .amount)
    }
}
