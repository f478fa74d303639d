/// The billed customer, as known to the shop (wire key `customer`).
public struct Customer: Sendable, Equatable, Codable {
    /// The shop software's id of the customer. 1–128 visible ASCII characters.
    public var customerID: String
    /// The customer's display name (person or business). 1–200 characters.
    public var name: String
    /// The company, for business customers.
    public var companyName: String?
    /// The billing e-mail address (`local@domain.tld`, up to 254 characters).
    public var email: String?
    /// A phone number as entered (up to 32 characters).
    public var phone: String?
    /// The billing address.
    public var billingAddress: Address?
    /// Whether the customer is exempt from sales tax (then the invoice may charge no tax).
    public var taxExempt: Bool
    /// Why the customer is exempt (certificate number, resale, government…); required when exempt.
    public var taxExemptReason: String?

    /// Creates a customer.
    public init(
        customerID: String, name: String, companyName: String? = nil, email: String? = nil, phone: String? = nil,
        billingAddress: Address? = nil, taxExempt: Bool = false, taxExemptReason: String? = nil
    ) {
        self.customerID = customerID
        self.name = name
        self.companyName = companyName
        self.email = email
        self.phone = phone
        self.billingAddress = billingAddress
        self.taxExempt = taxExempt
        self.taxExemptReason = taxExemptReason
    }

    enum CodingKeys: String, CodingKey {
        case customerID = "customer_id", name, companyName = "company_name", email, phone
        case billingAddress = "billing_address", taxExempt = "tax_exempt", taxExemptReason = "tax_exempt_reason"
    }

    /// Decodes the structure; see ``InvoiceEvent/init(from:)``.
    public init(from decoder: any Decoder) throws {
        self = try ContractCodable.decode(from: decoder) { mapper, json in mapper.customer(json, at: .root) }
    }

    /// Encodes the wire form (`tax_exempt` is always written).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(customerID, forKey: .customerID)
        try container.encode(name, forKey: .name)
        try container.encodeIfPresent(companyName, forKey: .companyName)
        try container.encodeIfPresent(email, forKey: .email)
        try container.encodeIfPresent(phone, forKey: .phone)
        try container.encodeIfPresent(billingAddress, forKey: .billingAddress)
        try container.encode(taxExempt, forKey: .taxExempt)
        try container.encodeIfPresent(taxExemptReason, forKey: .taxExemptReason)
    }
}

/// A postal address (wire key `billing_address`).
public struct Address: Sendable, Equatable, Codable {
    /// Street and number.
    public var line1: String
    /// Suite, unit, building.
    public var line2: String?
    /// City or locality.
    public var city: String
    /// State, province, county or region.
    public var region: String?
    /// Postal or ZIP code.
    public var postalCode: String?
    /// ISO 3166-1 alpha-2 country code, upper case (`US`, `AU`, `GB`).
    public var country: String

    /// Creates an address.
    public init(
        line1: String, line2: String? = nil, city: String, region: String? = nil, postalCode: String? = nil,
        country: String
    ) {
        self.line1 = line1
        self.line2 = line2
        self.city = city
        self.region = region
        self.postalCode = postalCode
        self.country = country
    }

    enum CodingKeys: String, CodingKey {
        case line1, line2, city, region, postalCode = "postal_code", country
    }

    /// Decodes the structure; see ``InvoiceEvent/init(from:)``.
    public init(from decoder: any Decoder) throws {
        self = try ContractCodable.decode(from: decoder) { mapper, json in mapper.address(json, at: .root) }
    }

    /// Encodes the wire form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(line1, forKey: .line1)
        try container.encodeIfPresent(line2, forKey: .line2)
        try container.encode(city, forKey: .city)
        try container.encodeIfPresent(region, forKey: .region)
        try container.encodeIfPresent(postalCode, forKey: .postalCode)
        try container.encode(country, forKey: .country)
    }
}
