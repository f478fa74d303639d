/// The franchise (tenant) an event belongs to, as agreed with the operator, e.g. `sparks-franchise`.
///
/// Contract format: 1–64 characters `[A-Za-z0-9._-]`, starting with a letter or digit. The type itself
/// does not check the format; ``InvoiceEventDecoder`` and ``InvoiceEventValidator`` do.
public struct TenantID: RawRepresentable, Sendable, Hashable, Comparable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    /// The identifier text.
    public let rawValue: String
    /// Wraps an identifier.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// Wraps an identifier.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    /// Wraps a literal identifier.
    public init(stringLiteral value: String) { self.rawValue = value }
    /// The identifier text.
    public var description: String { rawValue }
    /// Orders by text.
    public static func < (lhs: TenantID, rhs: TenantID) -> Bool { lhs.rawValue < rhs.rawValue }
    /// Decodes from a JSON string.
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    /// Encodes as a JSON string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A shop location of a tenant, e.g. `downtown-02`. Unique within its tenant.
///
/// Contract format: 1–64 characters `[A-Za-z0-9._-]`, starting with a letter or digit.
public struct LocationID: RawRepresentable, Sendable, Hashable, Comparable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    /// The identifier text.
    public let rawValue: String
    /// Wraps an identifier.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// Wraps an identifier.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    /// Wraps a literal identifier.
    public init(stringLiteral value: String) { self.rawValue = value }
    /// The identifier text.
    public var description: String { rawValue }
    /// Orders by text.
    public static func < (lhs: LocationID, rhs: LocationID) -> Bool { lhs.rawValue < rhs.rawValue }
    /// Decodes from a JSON string.
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    /// Encodes as a JSON string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
