import Foundation

/// An ISO 4217 currency code that this system knows, with its number of minor-unit digits.
///
/// Only codes in ``CurrencyCode/all`` can be created, so a value of this type is always a known currency.
/// The table holds the active ISO 4217 currencies as published in 2025, with ISO's minor units (for example
/// `JPY` 0, `USD` 2, `KWD` 3; `HUF`, `TWD` and `ISK` follow ISO, i.e. 2, 2 and 0). Fund codes and units of
/// account (`BOV`, `CHE`, `CHW`, `CLF`, `COU`, `MXV`, `USN`, `UYI`, `UYW`, `XDR`, `XSU`, `XUA`), precious
/// metals (`XAU`, `XAG`, `XPD`, `XPT`) and the testing codes (`XTS`, `XXX`) are deliberately absent: no
/// repair-shop invoice is billed in them.
///
/// ```swift
/// let usd = CurrencyCode("USD")!      // minorUnits == 2
/// CurrencyCode("usd")                 // nil: codes are upper case
/// ```
public struct CurrencyCode: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The three-letter code, e.g. `USD`.
    public let code: String
    /// The number of digits after the decimal point in the currency's minor unit (0, 2 or 3).
    public let minorUnits: Int

    private init(uncheckedCode code: String, minorUnits: Int) {
        self.code = code
        self.minorUnits = minorUnits
    }

    /// Looks up a known currency.
    /// - Parameter code: an upper-case ISO 4217 alphabetic code.
    /// - Returns: `nil` when the code is not in ``all``.
    public init?(_ code: String) {
        guard let units = CurrencyCode.table[code] else { return nil }
        self.init(uncheckedCode: code, minorUnits: units)
    }

    /// The code, e.g. `USD`.
    public var description: String { code }

    /// The smallest positive amount of this currency (0.01 for USD, 1 for JPY, 0.001 for KWD).
    public var minorUnit: Money { Money(Decimal(sign: .plus, exponent: -minorUnits, significand: 1)) }

    /// Orders codes alphabetically.
    public static func < (lhs: CurrencyCode, rhs: CurrencyCode) -> Bool { lhs.code < rhs.code }

    /// Decodes a known code from a JSON string; throws `DecodingError.dataCorrupted` for an unknown one.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let value = CurrencyCode(raw) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "currency.unknown: not a known ISO 4217 code")
        }
        self = value
    }

    /// Encodes the code as a JSON string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(code)
    }

    /// Every known currency, sorted by code.
    public static let all: [CurrencyCode] = table.keys.sorted().map {
        CurrencyCode(uncheckedCode: $0, minorUnits: table[$0]!)
    }

    /// US dollar (2).
    public static let usd = CurrencyCode("USD")!
    /// Euro (2).
    public static let eur = CurrencyCode("EUR")!
    /// Pound sterling (2).
    public static let gbp = CurrencyCode("GBP")!
    /// Australian dollar (2).
    public static let aud = CurrencyCode("AUD")!
    /// New Zealand dollar (2).
    public static let nzd = CurrencyCode("NZD")!
    /// Canadian dollar (2).
    public static let cad = CurrencyCode("CAD")!
    /// Yen (0).
    public static let jpy = CurrencyCode("JPY")!
    /// Kuwaiti dinar (3).
    public static let kwd = CurrencyCode("KWD")!

    /// Code → minor units. Source: ISO 4217 list one (active codes), 2025.
    static let table: [String: Int] = {
        var table: [String: Int] = [:]
        let zero = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
        let three = "BHD IQD JOD KWD LYD OMR TND"
        let two = """
            AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD \
            CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD \
            GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD \
            MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP \
            PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS \
            TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG
            """
        for (codes, units) in [(zero, 0), (two, 2), (three, 3)] {
            for code in codes.split(separator: " ") { table[String(code)] = units }
        }
        return table
    }()
}
