/// The vehicle worked on (wire key `vehicle`).
public struct Vehicle: Sendable, Equatable, Codable {
    /// The vehicle identification number, upper case: 17 characters of `0-9 A-Z` without `I`, `O`, `Q`
    /// (5–17 characters of `0-9 A-Z` when ``year`` is before 1981, when VINs were not standardised).
    /// The check digit is not verified: it is mandatory only in North America.
    public var vin: String?
    /// The model year, 1886...2100.
    public var year: Int?
    /// The make, e.g. `Ford`.
    public var make: String?
    /// The model, e.g. `F-150`.
    public var model: String?
    /// The licence plate as written.
    public var licensePlate: String?
    /// The odometer reading when the vehicle came in.
    public var odometer: Odometer?

    /// Creates a vehicle.
    public init(
        vin: String? = nil, year: Int? = nil, make: String? = nil, model: String? = nil, licensePlate: String? = nil,
        odometer: Odometer? = nil
    ) {
        self.vin = vin
        self.year = year
        self.make = make
        self.model = model
        self.licensePlate = licensePlate
        self.odometer = odometer
    }

    enum CodingKeys: String, CodingKey {
        case vin, year, make, model, licensePlate = "license_plate", odometer
    }

    /// Decodes the structure; see ``InvoiceEvent/init(from:)``.
    public init(from decoder: any Decoder) throws {
        self = try ContractCodable.decode(from: decoder) { mapper, json in mapper.vehicle(json, at: .root) }
    }

    /// Encodes the wire form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(vin, forKey: .vin)
        try container.encodeIfPresent(year, forKey: .year)
        try container.encodeIfPresent(make, forKey: .make)
        try container.encodeIfPresent(model, forKey: .model)
        try container.encodeIfPresent(licensePlate, forKey: .licensePlate)
        try container.encodeIfPresent(odometer, forKey: .odometer)
    }
}

/// An odometer reading with its unit (wire key `odometer`).
public struct Odometer: Sendable, Hashable, Codable {
    /// The unit of an odometer reading.
    public enum Unit: String, Sendable, Hashable, CaseIterable, Codable {
        /// Miles.
        case miles = "mi"
        /// Kilometres.
        case kilometers = "km"
    }

    /// The reading, 0...9,999,999 (whole units).
    public var reading: Int
    /// Miles or kilometres.
    public var unit: Unit

    /// Creates a reading.
    /// - Parameters:
    ///   - reading: whole miles or kilometres.
    ///   - unit: the unit.
    public init(reading: Int, unit: Unit) {
        self.reading = reading
        self.unit = unit
    }

    enum CodingKeys: String, CodingKey { case reading, unit }

    /// Decodes the structure; see ``InvoiceEvent/init(from:)``.
    public init(from decoder: any Decoder) throws {
        self = try ContractCodable.decode(from: decoder) { mapper, json in mapper.odometer(json, at: .root) }
    }

    /// Encodes the wire form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(reading, forKey: .reading)
        try container.encode(unit, forKey: .unit)
    }
}
