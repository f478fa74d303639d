/// A payment against an invoice: an item of an invoice's `payments`, or the `payment` of a
/// `payment.received` event. The amount is in the invoice's currency and is greater than zero.
public struct Payment: Sendable, Equatable, Codable {
    /// How a payment was made.
    public enum Method: String, Sendable, Hashable, CaseIterable, Codable {
        /// Cash.
        case cash
        /// Cheque.
        case check
        /// Credit or debit card.
        case card
        /// Bank transfer, ACH, EFT, direct deposit.
        case bankTransfer = "bank_transfer"
        /// Store credit or gift card.
        case storeCredit = "store_credit"
        /// Third-party financing.
        case financing
        /// Anything else.
        case other
    }

    /// The source system's id of the payment, unique within the invoice. 1–128 visible ASCII characters.
    public var paymentID: String
    /// The amount paid, greater than zero, in the invoice's currency.
    public var amount: Money
    /// How it was paid.
    public var method: Method
    /// The date the payment was received (shop-local).
    public var paymentDate: LocalDate
    /// Cheque number, card authorisation, transfer reference… (up to 100 characters).
    public var reference: String?

    /// Creates a payment.
    public init(paymentID: String, amount: Money, method: Method, paymentDate: LocalDate, reference: String? = nil) {
        self.paymentID = paymentID
        self.amount = amount
        self.method = method
        self.paymentDate = paymentDate
        self.reference = reference
    }

    enum CodingKeys: String, CodingKey {
        case paymentID = "payment_id", amount, method, paymentDate = "payment_date", reference
    }

    /// Decodes the structure; see ``InvoiceEvent/init(from:)``.
    public init(from decoder: any Decoder) throws {
        self = try ContractCodable.decode(from: decoder) { mapper, json in
            mapper.payment(json, at: .root, currency: nil)
        }
    }

    /// Encodes the wire form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(paymentID, forKey: .paymentID)
        try container.encode(amount, forKey: .amount)
        try container.encode(method, forKey: .method)
        try container.encode(paymentDate, forKey: .paymentDate)
        try container.encodeIfPresent(reference, forKey: .reference)
    }
}
